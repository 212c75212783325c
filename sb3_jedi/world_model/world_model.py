"""
The world model as a component of the agent.

:class:`WorldModel` is what the agent, the imagination routine and the benchmarks need from a world model, whatever
space it diffuses in. :class:`LatentWorldModel` is JEDI's: an encoder maps frames to latents, an EDM denoiser predicts
the next latent from past latents and actions, and the encoder learns through that loss (self-consistency, no
reconstruction loss), through the conditioning path only.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from torch import nn
from torch.nn import functional as F

from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.world_model.denoiser import EDMDenoiser
from sb3_jedi.world_model.diffusion_sampler import DiffusionSampler
from sb3_jedi.world_model.reward_end import decode_sign_reward, sign_reward_loss

__all__ = ["LatentWorldModel", "WorldModel", "WorldModelLoss", "preprocess_observations", "reward_end_loss"]


def preprocess_observations(obs: th.Tensor, observation_space: spaces.Space) -> th.Tensor:
    """
    Convert raw observations to the network input: uint8 images to float in [-1, 1] (DIAMOND's pixel range),
    anything else to float32 unchanged.

    :param obs: observations as stored (any leading batch/time dimensions)
    :param observation_space: the (channel-first) observation space
    :return: float observations
    """
    if is_image_space(observation_space, check_channels=False, normalized_image=False):
        return obs.float().div(127.5).sub(1.0)
    return obs.float()


def reward_end_loss(reward_end_model: nn.Module, batch: SegmentBatch, states: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
    """
    Cross-entropy of the reward head (sign(reward) in {-1, 0, 1} as DIAMOND, or the symlog two-hot reward, see
    :class:`~sb3_jedi.world_model.reward_end.RewardEndModel`) and of termination over a segment's transitions (the same
    for latent and pixel states).

    :param reward_end_model: the reward/termination model; one without a ``reward_loss`` method is taken to predict
        sign classes
    :param batch: replay segments
    :param states: their states ``(B, L, *state_shape)``
    :return: the summed loss and its logs
    """
    reward_logits, end_logits, _ = reward_end_model(states[:, :-1], batch.actions[:, :-1], states[:, 1:])
    valid = batch.mask[:, :-1] & batch.mask[:, 1:]
    if not bool(valid.any()):
        zero = reward_logits.sum() * 0.0
        return zero, {"reward_loss": 0.0, "end_loss": 0.0}
    end_target = batch.terminated[:, :-1].long()[valid]
    reward_loss_fn = getattr(reward_end_model, "reward_loss", sign_reward_loss)
    reward_loss, reward_logs = reward_loss_fn(reward_logits[valid], batch.rewards[:, :-1][valid])
    end_loss = F.cross_entropy(end_logits[valid], end_target)
    with th.no_grad():
        end_pred = end_logits[valid].argmax(-1)
        logs = {
            "reward_loss": reward_loss.item(),
            "end_loss": end_loss.item(),
            **reward_logs,
            "end_accuracy": (end_pred == end_target).float().mean().item(),
        }
        if bool((end_target == 1).any()):
            logs["end_recall"] = (end_pred[end_target == 1] == 1).float().mean().item()
    return reward_loss + end_loss, logs


@dataclass
class WorldModelLoss:
    """Losses of one world-model update: ``total`` is optimised, the rest are logged."""

    total: th.Tensor
    logs: dict[str, float]


class WorldModel(nn.Module, ABC):
    """
    What an agent needs from a diffusion world model: map observations to the diffused *state*, predict the next
    state from the last ``n_cond_steps`` states and actions, predict reward and termination, and compute its own
    training loss on replay segments.

    The actor-critic acts on states, so a pixel-space model (state = the frame) and JEDI's latent model plug into the
    same imagination and training code.

    :param observation_space: channel-first observation space
    :param n_actions: number of discrete actions
    :param n_cond_steps: number of past states and actions the denoiser conditions on (paper: 4)
    """

    def __init__(self, observation_space: spaces.Box, n_actions: int, n_cond_steps: int) -> None:
        super().__init__()
        self.observation_space = observation_space
        self.n_actions = n_actions
        self.n_cond_steps = n_cond_steps

    @property
    @abstractmethod
    def state_shape(self) -> tuple[int, ...]:
        """Shape of one state (without batch dimension)."""

    @abstractmethod
    def encode(self, obs: th.Tensor) -> th.Tensor:
        """
        :param obs: raw observations (B, *obs_shape) or (B, T, *obs_shape) as stored in the buffer
        :return: states (B, *state_shape) or (B, T, *state_shape)
        """

    def encode_segments(self, batch: SegmentBatch) -> th.Tensor:
        """
        Encode replay segments; padding rows (before an episode's first stored frame) become zero states, not the
        encoding of a blank frame.

        :param batch: replay segments (B, L, *obs_shape)
        :return: states (B, L, *state_shape), with the encoder's graph
        """
        states = self.encode(batch.observations)
        mask = batch.mask.reshape(*batch.mask.shape, *([1] * len(self.state_shape))).to(states.dtype)
        return states * mask

    @abstractmethod
    def sample_next_state(self, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        """
        :param cond_states: (B, n_cond_steps, *state_shape)
        :param cond_actions: (B, n_cond_steps) the last entry is the action taken in the last state
        :return: the next state (B, *state_shape), without gradient
        """

    @abstractmethod
    def predict_reward_end(
        self,
        states: th.Tensor,
        actions: th.Tensor,
        next_states: th.Tensor,
        hidden: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        :return: reward logits (B, T, K) (K = 3 classes of sign(reward) in {-1, 0, 1}, or the bins of another head:
            read them with :meth:`decode_reward`), termination logits (B, T, 2), LSTM state
        """

    # The reward head: these use the reward/termination model's own methods when it has them (``reward_end_model``, a
    # RewardEndModel); a world model without them is taken to predict the 3 sign classes.

    def _reward_model_method(self, name: str) -> Callable[..., Any] | None:
        return getattr(getattr(self, "reward_end_model", None), name, None)

    @property
    def reward_head(self) -> str:
        """Kind of reward the reward model predicts: ``"sign"`` (DIAMOND) or ``"symlog_twohot"`` (the reward's size)."""
        return getattr(getattr(self, "reward_end_model", None), "reward_head", "sign")

    def decode_reward(self, reward_logits: th.Tensor, sample: bool = False) -> th.Tensor:
        """
        Rewards from the reward logits of :meth:`predict_reward_end`.

        :param reward_logits: (..., K) reward logits
        :param sample: draw a class or bin (DIAMOND's imagination) rather than take the expected reward
        :return: (...) rewards
        """
        decode = self._reward_model_method("decode_reward")
        return decode(reward_logits, sample) if decode is not None else decode_sign_reward(reward_logits, sample)

    def reward_target(self, rewards: th.Tensor) -> th.Tensor:
        """
        What the reward model learns to predict from real rewards: ``sign(r)`` for the sign head, ``r`` otherwise.

        :param rewards: real rewards, any shape
        :return: targets, same shape
        """
        target = self._reward_model_method("reward_target")
        return target(rewards) if target is not None else rewards.sign()

    def reward_sign_probs(self, reward_logits: th.Tensor) -> th.Tensor:
        """
        Predicted probabilities of a negative, zero and positive reward (classes ``sign(r) + 1``), whatever the head.

        :param reward_logits: (..., K) reward logits
        :return: (..., 3) probabilities
        """
        probs = self._reward_model_method("reward_sign_probs")
        return probs(reward_logits) if probs is not None else reward_logits.float().softmax(-1)

    @abstractmethod
    def compute_loss(self, denoiser_batch: SegmentBatch, reward_end_batch: SegmentBatch) -> WorldModelLoss:
        """Training loss of every part of the world model on two replay segment batches."""

    @abstractmethod
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by component (names used for learning-rate scales, gradient clipping and logs)."""


class LatentWorldModel(WorldModel):
    """
    JEDI's latent world model (arXiv 2505.19698).

    Training (:meth:`compute_loss`): encode every frame of a segment; the target is the stop-gradient latent of the
    next frame; the denoiser conditions on the *non*-detached latents of the previous ``n_cond_steps`` frames, so the
    encoder is trained by the denoising loss through the conditioning path (and by the reward/termination loss), never
    through the target. When unrolling several steps, with probability ``random_switching_prob`` the next step
    conditions on the denoised prediction instead of the encoded latent ("random switching"). The decoder, when
    present, reconstructs frames from stop-gradient latents for visualisation only: it never shapes the encoder.

    :param observation_space: channel-first observation space
    :param n_actions: number of discrete actions
    :param encoder: observations in network range -> latents
    :param denoiser: EDM-preconditioned latent denoiser
    :param reward_end_model: reward / termination model over latent sequences
    :param decoder: optional visualisation decoder (latent -> observation in network range)
    :param n_cond_steps: number of past latents and actions the denoiser conditions on (paper: 4)
    :param random_switching_prob: probability, per batch and unrolled step, of conditioning the next step on the
        denoised prediction rather than the encoded latent (paper: 0.5); only used when segments unroll several steps
    :param sampler_kwargs: keyword arguments of :class:`~sb3_jedi.world_model.diffusion_sampler.DiffusionSampler`
        (paper: Euler, 3 steps, sigma_min 2e-3, sigma_max 5, rho 7)
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        n_actions: int,
        encoder: nn.Module,
        denoiser: EDMDenoiser,
        reward_end_model: nn.Module,
        decoder: nn.Module | None = None,
        n_cond_steps: int = 4,
        random_switching_prob: float = 0.5,
        sampler_kwargs: dict | None = None,
    ) -> None:
        super().__init__(observation_space, n_actions, n_cond_steps)
        if not 0.0 <= random_switching_prob <= 1.0:
            raise ValueError(f"random_switching_prob must lie in [0, 1], got {random_switching_prob}.")
        self.encoder = encoder
        self.denoiser = denoiser
        self.reward_end_model = reward_end_model
        self.decoder = decoder
        self.random_switching_prob = random_switching_prob
        self.sampler_kwargs = dict(sampler_kwargs or {})
        self.sampler = DiffusionSampler(self.denoiser, **self.sampler_kwargs)

    @property
    def state_shape(self) -> tuple[int, ...]:
        # Any encoder module works that names its latent shape (CnnEncoder, MlpEncoder).
        return tuple(cast(tuple[int, ...], self.encoder.latent_shape))

    def preprocess(self, obs: th.Tensor) -> th.Tensor:
        return preprocess_observations(obs, self.observation_space)

    def encode(self, obs: th.Tensor) -> th.Tensor:
        obs_ndim = len(self.observation_space.shape)
        lead = obs.shape[: obs.ndim - obs_ndim]
        flat = self.preprocess(obs).reshape(-1, *self.observation_space.shape)
        return self.encoder(flat).reshape(*lead, *self.state_shape)

    def sample_next_state(self, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        return self.sampler.sample(cond_states, cond_actions)

    def predict_reward_end(
        self,
        states: th.Tensor,
        actions: th.Tensor,
        next_states: th.Tensor,
        hidden: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        return self.reward_end_model(states, actions, next_states, hidden)

    def decode(self, states: th.Tensor) -> th.Tensor:
        """Frames (network range) from latents, for visualisation. Raises if the model has no decoder."""
        if self.decoder is None:
            raise ValueError("This world model has no decoder: build it with `decoder=...` to visualise latents.")
        lead = states.shape[: states.ndim - len(self.state_shape)]
        out = self.decoder(states.reshape(-1, *self.state_shape))
        return out.reshape(*lead, *out.shape[1:])

    def denoising_loss(self, batch: SegmentBatch, states: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
        """
        EDM loss of the next latent, averaged over the unrolled steps of the segment.

        :param batch: replay segments of at least ``n_cond_steps + 1`` frames
        :param states: their encoded latents (B, L, *state_shape), with the encoder's graph
        """
        n = self.n_cond_steps
        n_steps = batch.observations.shape[1] - n
        if n_steps < 1:
            raise ValueError(f"Denoiser segments need at least n_cond_steps + 1 = {n + 1} frames, got {n + n_steps}.")
        # Conditioning latents keep their graph (the encoder learns through them); targets never do.
        cond_source = list(states.unbind(dim=1))
        loss = states.new_zeros(())
        switched = 0
        for i in range(n_steps):
            cond = th.stack(cond_source[i : i + n], dim=1)
            target = states[:, n + i].detach()
            # Every real target row counts, an episode's first frame too (its conditioning is padding), as in DIAMOND.
            step_loss, denoised = self.denoiser.loss(target, cond, batch.actions[:, i : i + n], mask=batch.mask[:, n + i])
            loss = loss + step_loss
            if i + 1 < n_steps and th.rand(()) < self.random_switching_prob:
                # Random switching (JEDI): the next step conditions on this step's prediction, as it will in imagination.
                cond_source[n + i] = denoised.detach()
                switched += 1
        loss = loss / n_steps
        logs = {"denoising_loss": loss.item()}
        if n_steps > 1:
            logs["switched_steps"] = switched / (n_steps - 1)
        return loss, logs

    def reward_end_loss(self, batch: SegmentBatch, states: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
        """Cross-entropy of the reward head and of termination, over the segment's transitions."""
        return reward_end_loss(self.reward_end_model, batch, states)

    def decoder_loss(self, batch: SegmentBatch, states: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
        """Reconstruction of the last frame from its *stop-gradient* latent: trains the decoder, never the encoder."""
        if self.decoder is None:
            return states.new_zeros(()), {}
        target = self.preprocess(batch.observations[:, -1])
        recon = self.decoder(states[:, -1].detach())
        valid = batch.mask[:, -1]
        loss = F.mse_loss(recon[valid], target[valid]) if bool(valid.any()) else recon.sum() * 0.0
        return loss, {"decoder_loss": loss.item()}

    def compute_loss(self, denoiser_batch: SegmentBatch, reward_end_batch: SegmentBatch) -> WorldModelLoss:
        denoiser_states = self.encode_segments(denoiser_batch)
        denoising, logs = self.denoising_loss(denoiser_batch, denoiser_states)
        reward_end, reward_end_logs = self.reward_end_loss(reward_end_batch, self.encode_segments(reward_end_batch))
        decoding, decoder_logs = self.decoder_loss(denoiser_batch, denoiser_states)
        logs.update(reward_end_logs)
        logs.update(decoder_logs)
        return WorldModelLoss(total=denoising + reward_end + decoding, logs=logs)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {
            "encoder": list(self.encoder.parameters()),
            "denoiser": list(self.denoiser.parameters()),
            "reward_end": list(self.reward_end_model.parameters()),
        }
        if self.decoder is not None:
            groups["decoder"] = list(self.decoder.parameters())
        return groups
