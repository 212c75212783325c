"""
Reward / termination model of the world model (JEDI paper, DIAMOND).

For each transition ``(s_t, a_t, s_{t+1})`` a trunk encodes ``concat(s_t, s_{t+1})`` conditioned on
``a_t``; an LSTM runs over time and a head predicts two categorical distributions:

- reward, by ``reward_head``: ``"sign"``, ``sign(r_t)`` in {-1, 0, 1} mapped to classes {0, 1, 2} (``sign(r) + 1``),
  DIAMOND's and the paper's choice; or ``"symlog_twohot"``, DreamerV3's categorical over 255 bins evenly spaced in
  symlog space (:mod:`sb3_jedi.world_model.twohot`), which keeps the size of the reward;
- end: {0: continue, 1: episode ended}.

States are whatever the world model diffuses: JEDI latents ``(16, 8, 8)``, pixels ``(3, 64, 64)``
for a pixel baseline, or flat latents ``(D,)``. 3-D states use a convolutional trunk with AdaGN
conditioning on an action embedding; 1-D states an MLP trunk over ``concat(s_t, s_{t+1}, emb(a_t))``.
"""

import warnings
from collections.abc import Sequence
from typing import cast

import torch as th
from torch import nn
from torch.distributions import Categorical
from torch.nn import functional as F

from sb3_jedi.world_model.layers import Downsample2d, NormMlp, ResBlock2d, SelfAttention2d, group_norm_groups
from sb3_jedi.world_model.twohot import decode_symlog_twohot, encode_symlog_twohot, symexp, symlog_bins

__all__ = [
    "N_END_CLASSES",
    "N_REWARD_CLASSES",
    "REWARD_HEADS",
    "SIGN_REWARD_VALUES",
    "RewardEndModel",
    "check_state_shape",
    "decode_sign_reward",
    "init_lstm",
    "sign_reward_loss",
]

# Classes of the sign head, sign(r) + 1, and the reward each one stands for.
N_REWARD_CLASSES = 3
SIGN_REWARD_VALUES = (-1.0, 0.0, 1.0)
N_END_CLASSES = 2
# "sign": 3 classes of sign(r) (DIAMOND, the paper); "symlog_twohot": DreamerV3's 255 bins over [-20, 20] in symlog space.
REWARD_HEADS = ("sign", "symlog_twohot")
# Stop downsampling once the feature map is this small: the LSTM input stays C * 4 * 4 or so.
_MIN_SPATIAL = 4
# Above this many LSTM inputs the LSTM alone holds >= 4 * 512 * 8192 ~ 17M weights: almost surely a mistake.
_LARGE_LSTM_INPUT = 8192


def init_lstm(lstm: nn.LSTM | nn.LSTMCell) -> None:
    """
    Initialise an LSTM as DIAMOND does: Xavier input weights, orthogonal recurrent weights, zero biases
    except a forget-gate bias of 1 (so the cell remembers by default at the start of training).

    :param lstm: the ``nn.LSTM`` or ``nn.LSTMCell`` to initialise in place
    """
    for name, param in lstm.named_parameters():
        if "weight_ih" in name:
            nn.init.xavier_uniform_(param)
        elif "weight_hh" in name:
            nn.init.orthogonal_(param)
        elif "bias" in name:
            nn.init.zeros_(param)
            if "bias_ih" in name:
                # Gate order (input, forget, cell, output): the forget gate is the second quarter.
                n = param.shape[0] // 4
                nn.init.ones_(param[n : 2 * n])


def check_state_shape(state_shape: Sequence[int], owner: str) -> tuple[int, ...]:
    """Validate a state shape: ``(C, H, W)`` or ``(D,)`` with positive sizes."""
    shape = tuple(int(s) for s in state_shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ValueError(
            f"{owner} takes states of shape (C, H, W) (latents or images) or (D,) (vectors), got state_shape={shape}."
        )
    return shape


def decode_sign_reward(logits: th.Tensor, sample: bool = False) -> th.Tensor:
    """
    Rewards from logits over the sign classes ``sign(r) + 1``.

    :param logits: ``(..., 3)`` logits of the classes -1, 0, 1
    :param sample: sample a class (DIAMOND) rather than take the expected reward
    :return: ``(...)`` rewards in [-1, 1]; in {-1, 0, 1} when sampled
    """
    values = th.tensor(SIGN_REWARD_VALUES, device=logits.device)
    if sample:
        return values[Categorical(logits=logits).sample()]
    return logits.float().softmax(-1) @ values


def sign_reward_loss(logits: th.Tensor, rewards: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
    """
    Cross-entropy of ``sign(reward)`` in {-1, 0, 1} (classes ``sign(r) + 1``, DIAMOND).

    :param logits: ``(N, 3)`` logits
    :param rewards: ``(N,)`` real rewards
    :return: the loss and its logs (``reward_accuracy``)
    """
    target = rewards.sign().long().add(1)
    loss = F.cross_entropy(logits, target)
    with th.no_grad():
        accuracy = (logits.argmax(-1) == target).float().mean().item()
    return loss, {"reward_accuracy": accuracy}


class RewardEndModel(nn.Module):
    """
    Recurrent reward / termination predictor over state transitions (DIAMOND's reward/end model, JEDI paper).

    3-D states: a 3x3 input convolution over ``concat(s_t, s_{t+1})`` (``2C`` channels), then one stage
    per entry of ``channels``, each of ``depth`` residual blocks with AdaGN conditioned on an embedding
    of ``a_t``; every stage after the first starts with a stride-2 downsampling while the feature map is
    larger than 4x4. Then, as DIAMOND's ``RewEndEncoder``, two more residual blocks at the last size, each followed
    by self-attention, and the map is flattened into the LSTM as it is (``diamond_blocks=False``: no closing blocks
    but a closing GroupNorm + SiLU, the layout of models saved by sb3-jedi before this option). Sizes:

    - JEDI latents ``(16, 8, 8)``, channels ``(64, 64)``: 8x8 then 4x4 -> LSTM input 64 * 4 * 4 = 1024;
    - pixels ``(3, 64, 64)``, channels ``(32, 32, 32, 32)`` (DIAMOND): 64, 32, 16, 8 -> 32 * 8 * 8 = 2048.
      With only two stages pixels would give 64 * 32 * 32: pass more stages for large images (a warning says so).

    1-D states: ``NormMlp`` over ``concat(s_t, s_{t+1}, emb(a_t))`` with two hidden layers of ``hidden_dim``.

    Then ``nn.LSTM(batch_first=True)`` of ``lstm_dim`` units over time and a head
    ``Linear(lstm_dim, hidden_dim) -> SiLU -> Linear(hidden_dim, n_reward + 2)`` (with 3-D states and
    ``diamond_blocks``, DIAMOND's: the last layer has no bias).

    Reward heads (``reward_head``):

    - ``"sign"`` (``n_reward = 3``): the classes of ``sign(r)``, DIAMOND's and the paper's choice for Atari, where
      rewards are clipped to their sign. Rewards of other sizes are learnt as -1, 0 or +1: the agent then maximises
      the number of rewarded steps, not the return;
    - ``"symlog_twohot"`` (``n_reward = n_reward_bins``, 255): DreamerV3's categorical over bins evenly spaced in symlog
      space over [-20, 20], trained with cross-entropy against the two-hot encoding of ``symlog(r)`` and decoded as
      ``symexp(sum_i p_i b_i)``; it keeps the reward's size (rewards from about 1e-2 to 1e8, not rescaled). As in
      DreamerV3 the reward outputs start at zero, so the first predictions are 0.

    :param state_shape: shape of one state, ``(C, H, W)`` or ``(D,)``
    :param n_actions: number of discrete actions
    :param lstm_dim: LSTM units (DIAMOND: 512)
    :param channels: channels of the conv stages (3-D states only)
    :param hidden_dim: width of the head's hidden layer and of the MLP trunk (1-D states)
    :param cond_dim: dimension of the action embedding (DIAMOND: 128)
    :param depth: residual blocks per conv stage (DIAMOND: 2)
    :param reward_head: ``"sign"`` (3 classes of ``sign(r)``, DIAMOND) or ``"symlog_twohot"`` (DreamerV3's symlog
        two-hot categorical, keeps the reward's size)
    :param n_reward_bins: bins of the ``"symlog_twohot"`` head (DreamerV3: 255); unused by the sign head
    :param diamond_blocks: 3-D states: DIAMOND's closing attention blocks, no closing norm and no output bias
        (default); ``False``: the layout of models saved by sb3-jedi before this option. 1-D states: unused
    """

    # Buffers (registered in __init__; reward_bins by the symlog two-hot head only).
    reward_values: th.Tensor
    reward_bins: th.Tensor

    def __init__(
        self,
        state_shape: tuple[int, ...],
        n_actions: int,
        lstm_dim: int = 512,
        channels: Sequence[int] = (64, 64),
        hidden_dim: int = 256,
        cond_dim: int = 128,
        depth: int = 2,
        reward_head: str = "sign",
        n_reward_bins: int = 255,
        diamond_blocks: bool = True,
    ) -> None:
        super().__init__()
        self.state_shape = check_state_shape(state_shape, "RewardEndModel")
        if reward_head not in REWARD_HEADS:
            raise ValueError(
                f"Unknown reward_head {reward_head!r}: use one of {list(REWARD_HEADS)} ('sign' predicts sign(r) as DIAMOND, "
                "'symlog_twohot' the reward's size as DreamerV3)."
            )
        self.reward_head = reward_head
        if reward_head == "sign":
            self.n_reward_outputs = N_REWARD_CLASSES
            # Not saved in the state dict: fixed values, and checkpoints of the sign head keep their keys.
            self.register_buffer("reward_values", th.tensor(SIGN_REWARD_VALUES), persistent=False)
        else:
            if n_reward_bins < 2:
                raise ValueError(f"The symlog_twohot reward head needs n_reward_bins >= 2, got {n_reward_bins}.")
            self.n_reward_outputs = n_reward_bins
            # Bin positions in symlog space; a sampled bin b stands for the reward symexp(b).
            self.register_buffer("reward_bins", symlog_bins(n_reward_bins), persistent=False)
            self.register_buffer("reward_values", symexp(self.reward_bins), persistent=False)
        if n_actions < 1:
            raise ValueError(f"n_actions must be positive, got {n_actions}.")
        self.n_actions = n_actions
        self._lstm_dim = lstm_dim
        self.action_emb = nn.Embedding(n_actions, cond_dim)

        if len(self.state_shape) == 3:
            channels = list(channels)
            if len(channels) == 0 or min(channels) < 1 or depth < 1:
                raise ValueError(f"RewardEndModel needs >= 1 conv stage of positive channels and depth >= 1, got {channels}.")
            n_channels, height, width = self.state_shape
            self.conv_in: nn.Module = nn.Conv2d(2 * n_channels, channels[0], 3, padding=1)
            self.downsamples = nn.ModuleList()
            self.stages = nn.ModuleList()
            last = channels[0]
            for i, stage_width in enumerate(channels):
                if i > 0 and min(height, width) > _MIN_SPATIAL:
                    self.downsamples.append(Downsample2d(last))
                    height, width = (height + 1) // 2, (width + 1) // 2
                else:
                    self.downsamples.append(nn.Identity())
                self.stages.append(
                    nn.ModuleList([ResBlock2d(last if j == 0 else stage_width, stage_width, cond_dim) for j in range(depth)])
                )
                last = stage_width
            # DIAMOND's RewEndEncoder closes with two attention blocks at the last size and flattens unnormalised.
            self.closing_blocks = nn.ModuleList()
            self.norm_out: nn.Module | None = None
            if diamond_blocks:
                for _ in range(2):
                    self.closing_blocks.extend([ResBlock2d(last, last, cond_dim), SelfAttention2d(last)])
            else:
                self.norm_out = nn.GroupNorm(group_norm_groups(last), last)
            self.feature_shape: tuple[int, ...] = (last, height, width)
            features_dim = last * height * width
        else:
            self.mlp = NormMlp(2 * self.state_shape[0] + cond_dim, (hidden_dim, hidden_dim))
            self.feature_shape = (hidden_dim,)
            features_dim = hidden_dim
        if features_dim > _LARGE_LSTM_INPUT:
            warnings.warn(
                f"RewardEndModel: the LSTM input has {features_dim} features (feature map {self.feature_shape}), "
                f"so the LSTM alone holds {4 * lstm_dim * (features_dim + lstm_dim):,} weights. For large images "
                "pass more conv stages (each downsamples 2x), e.g. channels=(32, 32, 32, 32) for 64x64 pixels."
            )

        self.lstm = nn.LSTM(features_dim, lstm_dim, batch_first=True)
        init_lstm(self.lstm)
        hidden = nn.Linear(lstm_dim, hidden_dim)
        output = nn.Linear(
            hidden_dim, self.n_reward_outputs + N_END_CLASSES, bias=not (diamond_blocks and len(self.state_shape) == 3)
        )
        self.head = nn.Sequential(hidden, nn.SiLU(), output)
        if reward_head == "symlog_twohot":
            # DreamerV3 zero-initialises the reward outputs: a uniform distribution over symmetric bins decodes to 0, so
            # an untrained model imagines no reward rather than a random one of any size.
            with th.no_grad():
                output.weight[: self.n_reward_outputs].zero_()
                if output.bias is not None:
                    output.bias[: self.n_reward_outputs].zero_()

    @property
    def lstm_dim(self) -> int:
        """Number of LSTM units."""
        return self._lstm_dim

    def reward_target(self, rewards: th.Tensor) -> th.Tensor:
        """
        What the reward head learns to predict: ``sign(r)`` for the sign head, ``r`` itself for the symlog two-hot head.

        :param rewards: real rewards, any shape
        :return: the targets, same shape
        """
        return rewards.sign() if self.reward_head == "sign" else rewards

    def reward_loss(self, logits: th.Tensor, rewards: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
        """
        Cross-entropy of the reward head: over ``sign(r)`` classes, or against the two-hot encoding of ``symlog(r)``.

        :param logits: ``(N, n_reward_outputs)`` reward logits of real transitions
        :param rewards: ``(N,)`` their real rewards
        :return: the loss and its logs (``reward_accuracy`` for the sign head, ``reward_abs_error`` of the decoded
            expected reward for the symlog two-hot head)
        """
        if self.reward_head == "sign":
            return sign_reward_loss(logits, rewards)
        target = encode_symlog_twohot(rewards, self.reward_bins)
        loss = F.cross_entropy(logits.float(), target)
        with th.no_grad():
            error = (decode_symlog_twohot(logits, self.reward_bins) - rewards.float()).abs().mean().item()
        return loss, {"reward_abs_error": error}

    def decode_reward(self, logits: th.Tensor, sample: bool = False) -> th.Tensor:
        """
        Rewards from reward logits. The sign head: with ``sample``, a class drawn from the categorical (DIAMOND's
        imagination), otherwise the expected sign. The symlog two-hot head: always the expected reward, DreamerV3's
        ``symexp(sum_i p_i b_i)``, even with ``sample``: a sampled bin can come from the distribution's thin tails, which
        stand for rewards far larger than any seen (up to ``symexp(20)``, about 5e8, from an untrained model), and one
        such reward would wreck the critic.

        :param logits: ``(..., n_reward_outputs)`` reward logits
        :param sample: draw the sign head's class rather than take its expectation (no effect on the two-hot head)
        :return: ``(...)`` rewards
        """
        if self.reward_head == "sign":
            return decode_sign_reward(logits, sample)
        return decode_symlog_twohot(logits, self.reward_bins)

    def reward_sign_probs(self, logits: th.Tensor) -> th.Tensor:
        """
        Probabilities of a negative, zero and positive reward (the sign classes ``sign(r) + 1``), whatever the head.

        :param logits: ``(..., n_reward_outputs)`` reward logits
        :return: ``(..., 3)`` probabilities
        """
        probs = logits.float().softmax(-1)
        if self.reward_head == "sign":
            return probs
        signs = self.reward_values.sign()
        return th.stack([probs[..., signs < 0].sum(-1), probs[..., signs == 0].sum(-1), probs[..., signs > 0].sum(-1)], -1)

    def initial_state(self, batch_size: int, device: th.device | str | None = None) -> tuple[th.Tensor, th.Tensor]:
        """
        Zero LSTM state, the state at the start of a sequence.

        :param batch_size: number of sequences
        :param device: device of the tensors (default: the model's)
        :return: ``(h, c)``, each ``(1, batch_size, lstm_dim)`` (``nn.LSTM``'s layout, one layer)
        """
        device = next(self.lstm.parameters()).device if device is None else device
        zeros = th.zeros(1, batch_size, self._lstm_dim, device=device)
        return zeros, zeros.clone()

    def _features(self, states: th.Tensor, actions: th.Tensor, next_states: th.Tensor) -> th.Tensor:
        """Per-transition features ``(N, features_dim)`` of flat batches ``(N, *S)``, ``(N,)``, ``(N, *S)``."""
        action_emb = self.action_emb(actions)
        if len(self.state_shape) == 1:
            return self.mlp(th.cat([states, next_states, action_emb], dim=1))
        x = self.conv_in(th.cat([states, next_states], dim=1))
        for downsample, blocks in zip(self.downsamples, self.stages, strict=True):
            x = downsample(x)
            for block in cast(nn.ModuleList, blocks):
                x = block(x, action_emb)
        for module in self.closing_blocks:
            x = module(x, action_emb) if isinstance(module, ResBlock2d) else module(x)
        if self.norm_out is not None:
            x = F.silu(self.norm_out(x))
        return x.flatten(1)

    def forward(
        self,
        states: th.Tensor,
        actions: th.Tensor,
        next_states: th.Tensor,
        hidden: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        :param states: states ``s_t`` of shape ``(B, T, *state_shape)``
        :param actions: actions ``a_t`` of shape ``(B, T)``, integer indices
        :param next_states: next states ``s_{t+1}`` of shape ``(B, T, *state_shape)``
        :param hidden: LSTM state ``(h, c)``, each ``(1, B, lstm_dim)``, from a previous call; ``None`` starts from zeros
        :return: reward logits ``(B, T, n_reward_outputs)`` (sign head: 3 classes ``sign(r) + 1``; symlog two-hot
            head: one per bin, see :meth:`decode_reward`), end logits ``(B, T, 2)`` (0: continue, 1: end) and the LSTM
            state after the last step
        """
        expected = self.state_shape
        if states.ndim != 2 + len(expected) or tuple(states.shape[2:]) != expected:
            raise ValueError(f"RewardEndModel: `states` must have shape (B, T, *{expected}), got {tuple(states.shape)}.")
        if next_states.shape != states.shape:
            raise ValueError(
                f"RewardEndModel: `next_states` must have the shape of `states` {tuple(states.shape)}, "
                f"got {tuple(next_states.shape)}."
            )
        batch, steps = states.shape[:2]
        if tuple(actions.shape) != (batch, steps):
            raise ValueError(
                f"RewardEndModel: `actions` must have shape ({batch}, {steps}) (B, T), got {tuple(actions.shape)}."
            )
        if actions.is_floating_point() or actions.is_complex():
            raise ValueError(
                f"RewardEndModel: `actions` must hold integer action indices (e.g. `.long()`), got {actions.dtype}."
            )

        x = self._features(states.flatten(0, 1), actions.flatten(), next_states.flatten(0, 1))
        x, hidden = self.lstm(x.reshape(batch, steps, -1), hidden)
        logits = self.head(x)
        return logits[..., : self.n_reward_outputs], logits[..., self.n_reward_outputs :], hidden
