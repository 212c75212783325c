"""
Inner denoising networks F of the EDM diffusion world model (the preconditioning lives in ``denoiser.py``).

Both networks share one call signature::

    forward(noisy (B, *S), c_noise (B,), cond_states (B, T, *S), cond_actions (B, T) long) -> (B, *S)

where ``S`` is the state shape (a latent ``(16, 8, 8)`` or ``(D,)``, or pixels ``(3, 64, 64)`` for a
pixel-space baseline) and ``T`` the number of conditioning steps (4 in JEDI and DIAMOND).

- :class:`LatentUNet`: JEDI's latent U-Net (arXiv 2505.19698), DIAMOND's U-Net topology with one stage of
  160 channels and no downsampling: 2 down blocks, 2 middle blocks with self-attention, 3 up blocks, AdaGN
  conditioning on the noise level and the 4 past actions, the 4 past latents concatenated with the noisy
  latent along channels. With a sequence of channels it becomes a multi-stage U-Net with 2x down/up sampling
  between stages, e.g. DIAMOND's pixel U-Net (channels [64, 64, 64, 64], depths [2, 2, 2, 2]).
- :class:`MlpDenoiser`: our extension for flat latents: residual MLP blocks with adaptive LayerNorm.

Both zero-initialise the weights of their output layer (DIAMOND; the U-Net keeps its output bias, as DIAMOND's,
the MLP zeroes it too): at the start F predicts a constant (0 for the MLP), so the EDM denoiser starts as (close to)
the skip connection ``c_skip * noisy``.
"""

import math
from collections.abc import Sequence
from typing import cast

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_jedi.world_model.layers import (
    AdaLayerNorm,
    Downsample2d,
    FourierFeatures,
    ResBlock2d,
    SelfAttention2d,
    Upsample2d,
    group_norm_groups,
)

__all__ = ["LatentUNet", "MlpDenoiser", "NoiseActionConditioning"]


class NoiseActionConditioning(nn.Module):
    """
    Conditioning vector ``MLP(FourierFeatures(c_noise) + action_embedding(a_{t-T+1..t}))`` (DIAMOND, JEDI paper).

    The action embedding is a linear map of the ``T`` concatenated one-hot actions, written as an
    embedding table indexed by ``(step, action)`` and summed over steps: it tells the steps apart
    (order matters) without requiring ``cond_dim`` to be divisible by ``T``.

    :param n_actions: number of discrete actions
    :param n_cond_steps: number ``T`` of past actions conditioned on
    :param cond_dim: dimension of the conditioning vector (even)
    """

    offsets: th.Tensor  # buffer (registered in __init__)

    def __init__(self, n_actions: int, n_cond_steps: int, cond_dim: int) -> None:
        super().__init__()
        if n_actions < 1 or n_cond_steps < 1:
            raise ValueError(f"n_actions and n_cond_steps must be positive, got {n_actions} and {n_cond_steps}.")
        if cond_dim < 2 or cond_dim % 2 != 0:
            raise ValueError(f"cond_dim must be a positive even number (Fourier features), got {cond_dim}.")
        self.n_actions = n_actions
        self.n_cond_steps = n_cond_steps
        self.noise_emb = FourierFeatures(cond_dim)
        self.action_emb = nn.Embedding(n_cond_steps * n_actions, cond_dim)
        # The sum over T steps of N(0, 1/T) rows has unit variance, like one standard embedding.
        nn.init.normal_(self.action_emb.weight, std=1.0 / math.sqrt(n_cond_steps))
        self.register_buffer("offsets", th.arange(n_cond_steps) * n_actions, persistent=False)
        self.proj = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))

    def forward(self, c_noise: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """
        :param c_noise: EDM noise conditioning ``(B,)``
        :param actions: past actions ``(B, T)``, integers in ``[0, n_actions)``
        :return: conditioning vectors ``(B, cond_dim)``
        """
        actions_emb = self.action_emb(actions + self.offsets).sum(dim=1)
        return self.proj(self.noise_emb(c_noise) + actions_emb)


def _check_inputs(
    name: str,
    noisy: th.Tensor,
    c_noise: th.Tensor,
    cond_states: th.Tensor,
    cond_actions: th.Tensor,
    state_ndim: int,
    n_cond_steps: int,
) -> None:
    """Check the shapes shared by both denoisers (cheap: no device synchronisation)."""
    if noisy.ndim != 1 + state_ndim:
        raise ValueError(
            f"{name}: `noisy` must have shape (B, *state_shape) with a {state_ndim}-D state, got {tuple(noisy.shape)}."
        )
    batch = noisy.shape[0]
    if c_noise.shape != (batch,):
        raise ValueError(
            f"{name}: `c_noise` must have shape ({batch},) (one noise level per sample), got {tuple(c_noise.shape)}."
        )
    expected = (batch, n_cond_steps, *noisy.shape[1:])
    if tuple(cond_states.shape) != expected:
        raise ValueError(
            f"{name}: `cond_states` must have shape {expected} (B, T, *state_shape), got {tuple(cond_states.shape)}."
        )
    if tuple(cond_actions.shape) != (batch, n_cond_steps):
        raise ValueError(
            f"{name}: `cond_actions` must have shape ({batch}, {n_cond_steps}) (B, T), got {tuple(cond_actions.shape)}."
        )
    if cond_actions.is_floating_point() or cond_actions.is_complex():
        raise ValueError(
            f"{name}: `cond_actions` must hold integer action indices (e.g. `.long()`), got {cond_actions.dtype}."
        )


class _UNetBlock(nn.Module):
    """AdaGN residual block, optionally followed by self-attention (DIAMOND's U-Net block)."""

    def __init__(
        self, in_channels: int, out_channels: int, cond_dim: int, attention: bool, head_dim: int, normalized_residual: bool
    ) -> None:
        super().__init__()
        self.res = ResBlock2d(in_channels, out_channels, cond_dim)
        self.attn = SelfAttention2d(out_channels, head_dim, normalized_residual) if attention else nn.Identity()

    def forward(self, x: th.Tensor, cond: th.Tensor) -> th.Tensor:
        return self.attn(self.res(x, cond))


class LatentUNet(nn.Module):
    """
    U-Net inner model F over spatial states: latents ``(C, H, W)`` (JEDI) or pixels (DIAMOND baseline).

    Input: the ``T`` past states concatenated with the noisy state along channels, ``(B, (T + 1) C, H, W)``
    (paper). Every residual block uses AdaGN conditioned on :class:`NoiseActionConditioning`.

    DIAMOND's U-Net topology (which JEDI reuses): a 3x3 input convolution, then for each stage ``i`` (every stage
    after the first starts with a stride-2 downsampling) ``depths[i]`` down blocks. The stage input and every
    down-block output are kept as skips, so the up path of stage ``i`` has ``depths[i] + 1`` blocks, each consuming
    one skip (channel concatenation, deepest first); its last block, fed the stage input, maps back to the channels
    of the previous stage. Between the paths, ``mid_depth`` blocks at the deepest resolution (DIAMOND: 2, with
    self-attention). Each stage but the deepest ends its up path with a 2x upsampling into the next shallower stage.
    GroupNorm + SiLU + a 3x3 output convolution with zero-initialised weights close the network. H and W are zero-padded to a
    multiple of ``2**(n_stages - 1)`` and cropped back, so any size works.

    JEDI (channels 160, depth 2): 2 down blocks, 2 middle blocks with attention, 3 up blocks at 8x8.
    DIAMOND's pixel U-Net (channels [64, 64, 64, 64], depths [2, 2, 2, 2], cond_dim 256): 4.41M parameters, as in
    DIAMOND's code, up to the action embedding (see :class:`NoiseActionConditioning`).

    :param state_channels: channels ``C`` of a state (16 for JEDI latents, 3 for pixels)
    :param n_cond_steps: number ``T`` of past states and actions conditioned on (paper: 4)
    :param n_actions: number of discrete actions
    :param channels: channels of the single stage (int; paper: 160) or of each stage (sequence;
        DIAMOND pixels: [64, 64, 64, 64])
    :param depth: down blocks per stage when ``depths`` is not given (paper: 2; the up path has one more)
    :param cond_dim: dimension of the conditioning vector (DIAMOND: 256)
    :param depths: down blocks of each stage (DIAMOND pixels: [2, 2, 2, 2]); defaults to ``depth`` for every stage
    :param mid_depth: residual blocks between the down and up paths at the deepest resolution (DIAMOND, JEDI: 2)
    :param mid_attention: follow every middle block with self-attention (DIAMOND, JEDI: True)
    :param attention: self-attention after every block of a stage, one flag per stage or one for all
        (DIAMOND's ``attn_depths``: none by default)
    :param attention_head_dim: channels per attention head (DIAMOND: 8)
    :param diamond_blocks: self-attention adds its output to the normalised input, as DIAMOND's does (default);
        ``False``: to the input itself, the layout of models saved by sb3-jedi before this option
        (:class:`~sb3_jedi.world_model.layers.SelfAttention2d`)
    """

    def __init__(
        self,
        state_channels: int = 16,
        n_cond_steps: int = 4,
        *,
        n_actions: int,
        channels: int | Sequence[int] = 160,
        depth: int = 2,
        cond_dim: int = 256,
        depths: Sequence[int] | None = None,
        mid_depth: int = 2,
        mid_attention: bool = True,
        attention: bool | Sequence[bool] = False,
        attention_head_dim: int = 8,
        diamond_blocks: bool = True,
    ) -> None:
        super().__init__()
        stage_channels = [channels] if isinstance(channels, int) else list(channels)
        stage_depths = [depth] * len(stage_channels) if depths is None else list(depths)
        stage_attention = [attention] * len(stage_channels) if isinstance(attention, bool) else list(attention)
        if len(stage_channels) == 0 or min(stage_channels) < 1:
            raise ValueError(f"LatentUNet needs at least one stage of positive channels, got channels={channels}.")
        if len(stage_depths) != len(stage_channels) or min(stage_depths) < 1:
            raise ValueError(
                f"depths={stage_depths} must give a positive number of blocks for each of the {len(stage_channels)} stages."
            )
        if len(stage_attention) != len(stage_channels):
            raise ValueError(
                f"attention={attention} must be one bool or one flag for each of the {len(stage_channels)} stages."
            )
        if state_channels < 1 or mid_depth < 0:
            raise ValueError(f"state_channels must be positive and mid_depth >= 0, got {state_channels} and {mid_depth}.")
        self.state_channels = state_channels
        self.n_cond_steps = n_cond_steps
        self.n_actions = n_actions
        self.stage_channels = stage_channels
        self.stage_depths = stage_depths

        def block(in_channels: int, out_channels: int, attn: bool) -> _UNetBlock:
            return _UNetBlock(in_channels, out_channels, cond_dim, attn, attention_head_dim, diamond_blocks)

        self.cond = NoiseActionConditioning(n_actions, n_cond_steps, cond_dim)
        self.conv_in = nn.Conv2d((n_cond_steps + 1) * state_channels, stage_channels[0], 3, padding=1)

        # Both paths are stored shallow-to-deep (index i = stage i); the up path runs deep-to-shallow.
        # Stage i is entered with the previous stage's channels (the first stage with its own).
        entry_channels = [stage_channels[0], *stage_channels[:-1]]
        self.downsamples = nn.ModuleList()
        self.down_blocks = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i, (width, n_blocks, attn) in enumerate(zip(stage_channels, stage_depths, stage_attention, strict=True)):
            entry = entry_channels[i]
            self.downsamples.append(nn.Identity() if i == 0 else Downsample2d(entry))
            self.down_blocks.append(nn.ModuleList([block(entry if j == 0 else width, width, attn) for j in range(n_blocks)]))
            # Skips of stage i, consumed deepest first: n_blocks outputs of `width` channels, then the stage input.
            up = [block(2 * width, width, attn) for _ in range(n_blocks)]
            self.up_blocks.append(nn.ModuleList([*up, block(width + entry, entry, attn)]))
            # Stage i's up path ends with `entry` channels, upsampled into stage i - 1.
            self.upsamples.append(nn.Identity() if i == 0 else Upsample2d(entry))
        deepest = stage_channels[-1]
        self.mid_blocks = nn.ModuleList([block(deepest, deepest, mid_attention) for _ in range(mid_depth)])

        self.norm_out = nn.GroupNorm(group_norm_groups(stage_channels[0]), stage_channels[0])
        self.conv_out = nn.Conv2d(stage_channels[0], state_channels, 3, padding=1)
        # DIAMOND zero-initialises the output weights (not the bias): F starts by predicting its small bias, so the EDM
        # denoiser starts close to its skip connection.
        nn.init.zeros_(self.conv_out.weight)

    def forward(
        self,
        noisy: th.Tensor,
        c_noise: th.Tensor,
        cond_states: th.Tensor,
        cond_actions: th.Tensor,
    ) -> th.Tensor:
        """
        :param noisy: noisy next states ``(B, C, H, W)`` (already scaled by ``c_in``)
        :param c_noise: EDM noise conditioning ``(B,)``
        :param cond_states: past states ``(B, T, C, H, W)``, oldest first
        :param cond_actions: past actions ``(B, T)``, integer indices, oldest first
        :return: the network output ``(B, C, H, W)``
        """
        _check_inputs("LatentUNet", noisy, c_noise, cond_states, cond_actions, 3, self.n_cond_steps)
        if noisy.shape[1] != self.state_channels:
            raise ValueError(f"LatentUNet was built for {self.state_channels}-channel states, got {noisy.shape[1]} channels.")
        cond = self.cond(c_noise, cond_actions)
        height, width = noisy.shape[-2:]
        x = th.cat([cond_states.flatten(1, 2), noisy], dim=1)
        # Pad to a multiple of the total downsampling so the up path lands back on the skips' sizes.
        factor = 2 ** (len(self.stage_channels) - 1)
        pad_h, pad_w = -height % factor, -width % factor
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))

        x = self.conv_in(x)
        skips: list[th.Tensor] = []
        for downsample, blocks in zip(self.downsamples, self.down_blocks, strict=True):
            x = downsample(x)
            skips.append(x)
            for down_block in cast(nn.ModuleList, blocks):
                x = down_block(x, cond)
                skips.append(x)
        for mid_block in self.mid_blocks:
            x = mid_block(x, cond)
        for blocks, upsample in zip(reversed(self.up_blocks), reversed(self.upsamples), strict=True):
            for up_block in cast(nn.ModuleList, blocks):
                x = up_block(th.cat([x, skips.pop()], dim=1), cond)
            x = upsample(x)

        x = self.conv_out(F.silu(self.norm_out(x)))
        return x[..., :height, :width]


class _AdaResMlpBlock(nn.Module):
    """Pre-norm residual MLP block ``x + fc2(silu(adaLN(fc1(silu(adaLN(x))))))``, identity at initialisation."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1 = AdaLayerNorm(dim, cond_dim)
        self.fc1 = nn.Linear(dim, dim)
        self.norm2 = AdaLayerNorm(dim, cond_dim)
        self.fc2 = nn.Linear(dim, dim)
        # Same reason as ResBlock2d: each block starts as the identity.
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: th.Tensor, cond: th.Tensor) -> th.Tensor:
        h = self.fc1(F.silu(self.norm1(x, cond)))
        h = self.fc2(F.silu(self.norm2(h, cond)))
        return x + h


class MlpDenoiser(nn.Module):
    """
    MLP inner model F over flat states ``(D,)`` (our extension for ``MlpPolicy``).

    Input ``concat(noisy, flattened past states)`` -> linear -> ``n_layers`` residual blocks with
    adaptive LayerNorm conditioned on the noise level and the past actions (the vector analogue of
    the U-Net's AdaGN) -> LayerNorm + SiLU + zero-initialised linear output.

    :param state_dim: state dimension ``D``
    :param n_cond_steps: number ``T`` of past states and actions conditioned on
    :param n_actions: number of discrete actions
    :param hidden_dim: width of the residual stream
    :param n_layers: number of residual blocks
    :param cond_dim: dimension of the conditioning vector
    """

    def __init__(
        self,
        state_dim: int,
        n_cond_steps: int = 4,
        *,
        n_actions: int,
        hidden_dim: int = 256,
        n_layers: int = 3,
        cond_dim: int = 128,
    ) -> None:
        super().__init__()
        if state_dim < 1 or hidden_dim < 1 or n_layers < 0:
            raise ValueError(
                f"state_dim and hidden_dim must be positive and n_layers >= 0, got {state_dim}, {hidden_dim}, {n_layers}."
            )
        self.state_dim = state_dim
        self.n_cond_steps = n_cond_steps
        self.n_actions = n_actions
        self.cond = NoiseActionConditioning(n_actions, n_cond_steps, cond_dim)
        self.fc_in = nn.Linear((n_cond_steps + 1) * state_dim, hidden_dim)
        self.blocks = nn.ModuleList([_AdaResMlpBlock(hidden_dim, cond_dim) for _ in range(n_layers)])
        self.norm_out = nn.LayerNorm(hidden_dim)
        self.fc_out = nn.Linear(hidden_dim, state_dim)
        # DIAMOND: F starts by predicting 0.
        nn.init.zeros_(self.fc_out.weight)
        nn.init.zeros_(self.fc_out.bias)

    def forward(
        self,
        noisy: th.Tensor,
        c_noise: th.Tensor,
        cond_states: th.Tensor,
        cond_actions: th.Tensor,
    ) -> th.Tensor:
        """
        :param noisy: noisy next states ``(B, D)`` (already scaled by ``c_in``)
        :param c_noise: EDM noise conditioning ``(B,)``
        :param cond_states: past states ``(B, T, D)``, oldest first
        :param cond_actions: past actions ``(B, T)``, integer indices, oldest first
        :return: the network output ``(B, D)``
        """
        _check_inputs("MlpDenoiser", noisy, c_noise, cond_states, cond_actions, 1, self.n_cond_steps)
        if noisy.shape[1] != self.state_dim:
            raise ValueError(f"MlpDenoiser was built for {self.state_dim}-dim states, got {noisy.shape[1]}.")
        cond = self.cond(c_noise, cond_actions)
        x = self.fc_in(th.cat([cond_states.flatten(1), noisy], dim=1))
        for block in self.blocks:
            x = block(x, cond)
        return self.fc_out(F.silu(self.norm_out(x)))
