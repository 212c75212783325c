"""
Decoders from latents back to observations, for visualisation only.

JEDI (arXiv 2505.19698) has no reconstruction loss shaping its latent: these decoders are trained
elsewhere on stop-gradient latents ``sg(z)`` with an MSE loss, and only serve to look at imagined
rollouts (TensorBoard videos, playing inside the world model). They must never send gradients to
the encoder.

- :class:`CnnDecoder`: latents ``(B, 16, 8, 8)`` -> images ``(B, 3, 64, 64)`` in [-1, 1].
- :class:`MlpDecoder`: flat latents ``(B, latent_dim)`` -> vector observations ``(B, obs_dim)``.
"""

from collections.abc import Sequence

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_jedi.world_model.layers import NormMlp, ResBlock2d, Upsample2d, group_norm_groups

__all__ = ["CnnDecoder", "MlpDecoder"]


class CnnDecoder(nn.Module):
    """
    Convolutional decoder: ``(B, C, h, w)`` latents -> ``(B, out_channels, h * 2**n, w * 2**n)`` images in [-1, 1].

    Mirror of :class:`~sb3_jedi.world_model.encoder.CnnEncoder`: a 3x3 input convolution, one residual
    block per stage, each of the first ``n_upsamples`` stages followed by a 2x nearest-neighbour
    upsampling + 3x3 convolution, then GroupNorm + SiLU + 3x3 convolution and ``tanh`` (observations
    are preprocessed to [-1, 1]). 16x8x8 -> 3x64x64 with the defaults.

    :param latent_shape: shape ``(C, h, w)`` of one latent
    :param out_channels: image channels
    :param channels: channels of each stage
    :param n_upsamples: number of 2x upsamplings, after the first ``n_upsamples`` stages
    """

    def __init__(
        self,
        latent_shape: tuple[int, ...] = (16, 8, 8),
        out_channels: int = 3,
        channels: Sequence[int] = (64, 64, 32, 32),
        n_upsamples: int = 3,
    ) -> None:
        super().__init__()
        channels = list(channels)
        if len(latent_shape) != 3 or min(latent_shape) < 1:
            raise ValueError(f"CnnDecoder takes latents of shape (C, H, W), got latent_shape={tuple(latent_shape)}.")
        if len(channels) == 0 or min(channels) < 1:
            raise ValueError(f"CnnDecoder needs at least one stage of positive channels, got channels={channels}.")
        if not 0 <= n_upsamples <= len(channels):
            raise ValueError(f"n_upsamples={n_upsamples} must be in [0, {len(channels)}] (at most one per stage).")
        self.latent_shape = tuple(int(s) for s in latent_shape)
        factor = 2**n_upsamples
        self.output_shape = (out_channels, self.latent_shape[1] * factor, self.latent_shape[2] * factor)

        self.conv_in = nn.Conv2d(self.latent_shape[0], channels[0], 3, padding=1)
        stages: list[nn.Module] = []
        last = channels[0]
        for i, width in enumerate(channels):
            stages.append(ResBlock2d(last, width))
            if i < n_upsamples:
                stages.append(Upsample2d(width))
            last = width
        self.stages = nn.Sequential(*stages)
        self.norm_out = nn.GroupNorm(group_norm_groups(last), last)
        self.conv_out = nn.Conv2d(last, out_channels, 3, padding=1)

    def forward(self, latents: th.Tensor) -> th.Tensor:
        """
        :param latents: latents ``(B, *latent_shape)`` (detach them first: the decoder must not shape the encoder)
        :return: images ``(B, *output_shape)`` in [-1, 1]
        """
        if latents.ndim != 4 or tuple(latents.shape[1:]) != self.latent_shape:
            raise ValueError(f"CnnDecoder expects latents of shape (B, *{self.latent_shape}), got {tuple(latents.shape)}.")
        x = self.stages(self.conv_in(latents))
        return th.tanh(self.conv_out(F.silu(self.norm_out(x))))


class MlpDecoder(nn.Module):
    """
    MLP decoder: ``(B, latent_dim)`` -> ``(B, obs_dim)`` (our extension for ``MlpPolicy``).

    Hidden layers ``Linear -> LayerNorm -> SiLU`` and a plain linear output: vector observations are
    not bounded, so there is no output squashing.

    :param latent_dim: latent dimension
    :param obs_dim: observation dimension
    :param hidden_sizes: widths of the hidden layers
    """

    def __init__(self, latent_dim: int, obs_dim: int, hidden_sizes: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        if latent_dim < 1 or obs_dim < 1:
            raise ValueError(f"latent_dim and obs_dim must be positive, got {latent_dim} and {obs_dim}.")
        self.latent_dim = latent_dim
        self.obs_dim = obs_dim
        self.net = NormMlp(latent_dim, hidden_sizes, obs_dim)

    def forward(self, latents: th.Tensor) -> th.Tensor:
        """
        :param latents: latents ``(B, latent_dim)`` (detached)
        :return: reconstructed observations ``(B, obs_dim)``
        """
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(f"MlpDecoder expects latents of shape (B, {self.latent_dim}), got {tuple(latents.shape)}.")
        return self.net(latents)
