"""
Recurrent actor-critic network of JEDI, acting on world-model states (DIAMOND's actor-critic, JEDI paper).

The same network acts in the real environment (on encoded latents) and learns in imagination (on
sampled latents); both step its ``nn.LSTMCell`` one state at a time, and sequences of given states (replay, an imagined
trajectory's values) run through the same weights in one call. States are what the world
model diffuses: JEDI latents ``(16, 8, 8)``, pixels ``(3, 64, 64)`` for a pixel baseline, or flat
latents ``(D,)``: 3-D states use a convolutional trunk, 1-D states an MLP trunk.
"""

from collections.abc import Sequence

import torch as th
from torch import nn

from sb3_jedi.world_model.layers import NormMlp, ResBlock2d, SmallResBlock2d, group_norm_groups
from sb3_jedi.world_model.reward_end import check_state_shape, init_lstm

__all__ = ["ActorCriticNetwork"]

# Automatic downsampling stops once the feature map is this small, keeping the LSTM input at C * 4 * 4.
_MIN_SPATIAL = 4
# Feature maps at least this large (e.g. 32x32) run channels-last.
_CHANNELS_LAST_MIN_AREA = 1024


class ActorCriticNetwork(nn.Module):
    """
    Trunk -> ``nn.LSTMCell`` -> linear actor (logits) and critic (value) heads, both zero-initialised (DIAMOND).

    3-D states ``(C, H, W)``: a 3x3 input convolution, one residual block per entry of ``channels``,
    each optionally followed by a 2x max-pool, flattened into the LSTM cell. The blocks are DIAMOND's
    (:class:`~sb3_jedi.world_model.layers.SmallResBlock2d`: GroupNorm, SiLU, one 3x3 convolution);
    ``diamond_blocks=False`` builds the layout of models saved by sb3-jedi before this option (two-convolution
    residual blocks and a closing GroupNorm + SiLU).
    DIAMOND's pixel actor-critic is channels ``(32, 32, 64, 64)`` pooling at every stage:
    64x64 -> 4x4, LSTM input 64 * 4 * 4 = 1024. ``downsample=None`` pools after a stage while the map
    is larger than 4x4, which gives exactly that for 64x64 pixels, and for JEDI latents ``(16, 8, 8)``
    with channels ``(64, 64)``: 8x8 -> 4x4 after the first stage, LSTM input 1024.

    1-D states ``(D,)``: ``NormMlp`` with ``hidden_sizes`` (``Linear -> LayerNorm -> SiLU``).

    Zero heads make the initial policy uniform and the initial value 0, whatever the trunk computes.

    :param state_shape: shape of one state, ``(C, H, W)`` or ``(D,)``
    :param n_actions: number of discrete actions
    :param lstm_dim: LSTM units (JEDI paper, DIAMOND: 512)
    :param channels: channels of the conv stages (3-D states only)
    :param downsample: whether to 2x max-pool after each conv stage (3-D states only); ``None`` pools
        while the feature map is larger than 4x4
    :param hidden_sizes: widths of the MLP trunk (1-D states only)
    :param separate_critic: give the critic its own trunk and LSTM (DreamerV3; the default of ``MlpPolicy``) instead of
        sharing the actor's (DIAMOND, ``CnnPolicy``): the critic's regression errors then cannot move the actor's
        features. The recurrent state ``(h, c)`` holds both LSTMs' states side by side (width ``2 * lstm_dim``)
    :param diamond_blocks: DIAMOND's conv blocks (default; 3-D states only, see above)
    """

    feature_shape: tuple[int, ...]  # shape of the trunk's output: (C, H, W) feature map or (D,)

    def __init__(
        self,
        state_shape: tuple[int, ...],
        n_actions: int,
        lstm_dim: int = 512,
        channels: Sequence[int] = (64, 64),
        downsample: Sequence[bool] | None = None,
        hidden_sizes: Sequence[int] = (256,),
        separate_critic: bool = False,
        diamond_blocks: bool = True,
    ) -> None:
        super().__init__()
        self.diamond_blocks = diamond_blocks
        self.state_shape = check_state_shape(state_shape, "ActorCriticNetwork")
        if n_actions < 1 or lstm_dim < 1:
            raise ValueError(f"n_actions and lstm_dim must be positive, got {n_actions} and {lstm_dim}.")
        self.n_actions = n_actions
        self._lstm_dim = lstm_dim
        self.separate_critic = separate_critic

        if len(self.state_shape) == 3:
            self.trunk = self._make_conv_trunk(list(channels), downsample)
        else:
            mlp = NormMlp(self.state_shape[0], hidden_sizes)
            self.trunk = mlp
            self.feature_shape = (mlp.out_dim,)
        features_dim = 1
        for size in self.feature_shape:
            features_dim *= size

        self.lstm = nn.LSTMCell(features_dim, lstm_dim)
        init_lstm(self.lstm)
        self.actor = nn.Linear(lstm_dim, n_actions)
        self.critic = nn.Linear(lstm_dim, 1)
        self.critic_trunk: nn.Module | None = None
        self.critic_lstm: nn.LSTMCell | None = None
        if separate_critic:
            if len(self.state_shape) == 3:
                feature_shape = self.feature_shape
                self.critic_trunk = self._make_conv_trunk(list(channels), downsample)
                self.feature_shape = feature_shape
            else:
                self.critic_trunk = NormMlp(self.state_shape[0], hidden_sizes)
            self.critic_lstm = nn.LSTMCell(features_dim, lstm_dim)
            init_lstm(self.critic_lstm)
        for head in (self.actor, self.critic):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def _make_conv_trunk(self, channels: list[int], downsample: Sequence[bool] | None) -> nn.Sequential:
        n_channels, height, width = self.state_shape
        if len(channels) == 0 or min(channels) < 1:
            raise ValueError(
                f"ActorCriticNetwork needs at least one conv stage of positive channels, got channels={channels}."
            )
        if downsample is not None and len(downsample) != len(channels):
            raise ValueError(
                f"downsample={list(downsample)} must have one flag per conv stage ({len(channels)} stages), or be None."
            )
        layers: list[nn.Module] = [nn.Conv2d(n_channels, channels[0], 3, padding=1)]
        last = channels[0]
        for i, stage_width in enumerate(channels):
            layers.append(SmallResBlock2d(last, stage_width) if self.diamond_blocks else ResBlock2d(last, stage_width))
            last = stage_width
            pool = min(height, width) > _MIN_SPATIAL if downsample is None else bool(downsample[i])
            if pool:
                if min(height, width) < 2:
                    raise ValueError(
                        f"downsample={list(downsample or [])}: stage {i} would max-pool a {height}x{width} map; "
                        "pool fewer stages for this state size."
                    )
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
        if not self.diamond_blocks:
            layers += [nn.GroupNorm(group_norm_groups(last), last), nn.SiLU()]
        layers.append(nn.Flatten())
        self.feature_shape = (last, height, width)
        return nn.Sequential(*layers)

    @property
    def lstm_dim(self) -> int:
        """Width of the recurrent state ``h`` (and ``c``): the LSTM units, twice that with a separate critic."""
        return self._lstm_dim * (2 if self.separate_critic else 1)

    def initial_state(self, batch_size: int, device: th.device | str | None = None) -> tuple[th.Tensor, th.Tensor]:
        """
        Zero LSTM state, the state at the start of an episode.

        :param batch_size: number of parallel sequences
        :param device: device of the tensors (default: the network's)
        :return: ``(h, c)``, each ``(batch_size, lstm_dim)``
        """
        device = self.lstm.weight_hh.device if device is None else device
        zeros = th.zeros(batch_size, self.lstm_dim, device=device)
        return zeros, zeros.clone()

    def forward(
        self, states: th.Tensor, hidden: tuple[th.Tensor, th.Tensor] | None = None
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        One recurrent step.

        :param states: states ``(B, *state_shape)``
        :param hidden: LSTM state ``(h, c)``, each ``(B, lstm_dim)``; ``None`` starts from zeros
        :return: action logits ``(B, n_actions)``, values ``(B,)`` and the new LSTM state ``(h, c)``
        """
        self._check_states(states, 1)
        hidden = self._checked_hidden(hidden, states.shape[0], states.device)
        states = self._trunk_layout(states)
        if self.critic_trunk is None or self.critic_lstm is None:
            h, c = self.lstm(self.trunk(states), hidden)
            return self.actor(h), self.critic(h).squeeze(-1), (h, c)
        n = self._lstm_dim
        h, c = self.lstm(self.trunk(states), (hidden[0][:, :n], hidden[1][:, :n]))
        critic_h, critic_c = self.critic_lstm(self.critic_trunk(states), (hidden[0][:, n:], hidden[1][:, n:]))
        return self.actor(h), self.critic(critic_h).squeeze(-1), (th.cat([h, critic_h], 1), th.cat([c, critic_c], 1))

    def actor_step(
        self, states: th.Tensor, hidden: tuple[th.Tensor, th.Tensor] | None = None
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        One recurrent step of the actor alone. With a separate critic, the critic's half of the recurrent state is
        handed back unchanged (stale): use it where the values are computed afterwards, over the whole sequence of
        states, with :meth:`critic_sequence`. With a shared trunk this is :meth:`forward` without the value.

        :param states: states ``(B, *state_shape)``
        :param hidden: LSTM state ``(h, c)``, each ``(B, lstm_dim)``; ``None`` starts from zeros
        :return: action logits ``(B, n_actions)`` and the new LSTM state ``(h, c)``
        """
        if self.critic_trunk is None:
            logits, _, hidden = self(states, hidden)
            return logits, hidden
        self._check_states(states, 1)
        hidden = self._checked_hidden(hidden, states.shape[0], states.device)
        n = self._lstm_dim
        h, c = self.lstm(self.trunk(self._trunk_layout(states)), (hidden[0][:, :n], hidden[1][:, :n]))
        return self.actor(h), (th.cat([h, hidden[0][:, n:]], 1), th.cat([c, hidden[1][:, n:]], 1))

    def forward_sequence(
        self, states: th.Tensor, hidden: tuple[th.Tensor, th.Tensor] | None = None
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        :meth:`forward` over a whole sequence of given states (states that do not depend on the actions taken, such
        as real replay or an imagined trajectory already rolled out): the same result as stepping through them one
        at a time, computed with the trunk over all states at once and the LSTM in one fused call rather than one
        small operation per step.

        :param states: states ``(B, T, *state_shape)``
        :param hidden: LSTM state before the first state ``(h, c)``, each ``(B, lstm_dim)``; ``None``: zeros
        :return: action logits ``(B, T, n_actions)``, values ``(B, T)`` and the LSTM state after the last state
        """
        self._check_states(states, 2)
        hidden = self._checked_hidden(hidden, states.shape[0], states.device)
        if self.critic_trunk is None or self.critic_lstm is None:
            outputs, final = self._lstm_sequence(self.trunk, self.lstm, states, hidden)
            return self.actor(outputs), self.critic(outputs).squeeze(-1), final
        n = self._lstm_dim
        actor_out, (h, c) = self._lstm_sequence(self.trunk, self.lstm, states, (hidden[0][:, :n], hidden[1][:, :n]))
        critic_out, (critic_h, critic_c) = self._lstm_sequence(
            self.critic_trunk, self.critic_lstm, states, (hidden[0][:, n:], hidden[1][:, n:])
        )
        values = self.critic(critic_out).squeeze(-1)
        return self.actor(actor_out), values, (th.cat([h, critic_h], 1), th.cat([c, critic_c], 1))

    def critic_sequence(self, states: th.Tensor, hidden: tuple[th.Tensor, th.Tensor] | None = None) -> th.Tensor:
        """
        Values of a sequence of given states: with a separate critic only the critic's trunk and LSTM run (from the
        critic's half of ``hidden``); with a shared trunk, :meth:`forward_sequence`'s values.

        :param states: states ``(B, T, *state_shape)``
        :param hidden: LSTM state before the first state ``(h, c)``, each ``(B, lstm_dim)``; ``None``: zeros
        :return: values ``(B, T)``
        """
        if self.critic_trunk is None or self.critic_lstm is None:
            return self.forward_sequence(states, hidden)[1]
        self._check_states(states, 2)
        hidden = self._checked_hidden(hidden, states.shape[0], states.device)
        n = self._lstm_dim
        outputs, _ = self._lstm_sequence(self.critic_trunk, self.critic_lstm, states, (hidden[0][:, n:], hidden[1][:, n:]))
        return self.critic(outputs).squeeze(-1)

    def _lstm_sequence(
        self, trunk: nn.Module, cell: nn.LSTMCell, states: th.Tensor, hidden: tuple[th.Tensor, th.Tensor]
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        batch, steps = states.shape[:2]
        features = trunk(self._trunk_layout(states.reshape(batch * steps, *self.state_shape))).reshape(batch, steps, -1)
        # nn.LSTMCell and nn.LSTM share the gate layout (input, forget, cell, output), so the cell's weights run the
        # whole sequence in one fused call.
        outputs, h, c = th.lstm(
            features,
            (hidden[0][None].contiguous(), hidden[1][None].contiguous()),
            [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh],
            True,  # has_biases
            1,  # num_layers
            0.0,  # dropout
            self.training,
            False,  # bidirectional
            True,  # batch_first
        )
        return outputs, (h[0], c[0])

    def _check_states(self, states: th.Tensor, leading_dims: int) -> None:
        if states.ndim != leading_dims + len(self.state_shape) or tuple(states.shape[leading_dims:]) != self.state_shape:
            lead = "B" if leading_dims == 1 else "B, T"
            raise ValueError(
                f"ActorCriticNetwork expects states of shape ({lead}, *{self.state_shape}), got {tuple(states.shape)}."
            )

    def _checked_hidden(
        self, hidden: tuple[th.Tensor, th.Tensor] | None, batch_size: int, device: th.device
    ) -> tuple[th.Tensor, th.Tensor]:
        if hidden is None:
            return self.initial_state(batch_size, device)
        if hidden[0].shape != (batch_size, self.lstm_dim) or hidden[1].shape != hidden[0].shape:
            raise ValueError(
                f"ActorCriticNetwork: `hidden` must be (h, c), each ({batch_size}, {self.lstm_dim}), "
                f"got {tuple(hidden[0].shape)} and {tuple(hidden[1].shape)}."
            )
        return hidden

    @staticmethod
    def _trunk_layout(states: th.Tensor) -> th.Tensor:
        if states.ndim == 4 and states.shape[-2] * states.shape[-1] >= _CHANNELS_LAST_MIN_AREA:
            # Pixel states: max-pooling large maps is far faster channels-last on CPU (see CnnEncoder); on small latent
            # maps the layout change costs more than it saves.
            return states.contiguous(memory_format=th.channels_last)
        return states
