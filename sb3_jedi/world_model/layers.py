"""Small building blocks shared by the world-model and actor-critic networks."""

import math
from collections.abc import Sequence

import torch as th
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AdaGroupNorm",
    "AdaLayerNorm",
    "Downsample2d",
    "FourierFeatures",
    "NormMlp",
    "ResBlock2d",
    "SelfAttention2d",
    "SmallResBlock2d",
    "Upsample2d",
    "group_norm_groups",
    "soft_clamp",
]

# Group size of GroupNorm: 32 channels a group, as in DIAMOND's blocks.
GN_GROUP_SIZE = 32
GN_EPS = 1e-5


def soft_clamp(x: th.Tensor, bound: float | None) -> th.Tensor:
    """
    Smoothly bound ``x`` to ``(-bound, bound)`` with ``tanh(x / bound) * bound`` (JEDI paper's latent clamp).

    Close to the identity for ``|x| << bound``, so it keeps gradients alive where a hard clamp would cut them.

    :param x: tensor to bound
    :param bound: the bound; ``None`` returns ``x`` unchanged
    :return: the bounded tensor
    """
    if bound is None:
        return x
    return th.tanh(x / bound) * bound


def group_norm_groups(channels: int) -> int:
    """Number of GroupNorm groups for ``channels`` channels (at least one group)."""
    groups = max(1, channels // GN_GROUP_SIZE)
    while channels % groups != 0:
        groups -= 1
    return groups


class FourierFeatures(nn.Module):
    """
    Random Fourier features of a scalar (the EDM noise level ``c_noise``).

    :param dim: output dimension (even)
    """

    weight: th.Tensor  # buffer (registered in __init__)

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2 != 0:
            raise ValueError(f"FourierFeatures needs an even dimension, got {dim}.")
        self.register_buffer("weight", th.randn(1, dim // 2))

    def forward(self, x: th.Tensor) -> th.Tensor:
        f = 2 * math.pi * x.reshape(-1, 1) @ self.weight
        return th.cat([f.cos(), f.sin()], dim=-1)


class AdaGroupNorm(nn.Module):
    """
    GroupNorm whose scale and shift are predicted from a conditioning vector (AdaGN).

    :param channels: number of channels normalised
    :param cond_dim: dimension of the conditioning vector
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.channels = channels
        self.groups = group_norm_groups(channels)
        self.linear = nn.Linear(cond_dim, 2 * channels)

    def forward(self, x: th.Tensor, cond: th.Tensor) -> th.Tensor:
        x = F.group_norm(x, self.groups, eps=GN_EPS)
        scale, shift = self.linear(cond)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + scale) + shift


class AdaLayerNorm(nn.Module):
    """
    LayerNorm whose scale and shift are predicted from a conditioning vector (adaptive norm for vectors).

    :param dim: feature dimension normalised
    :param cond_dim: dimension of the conditioning vector
    """

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(cond_dim, 2 * dim)

    def forward(self, x: th.Tensor, cond: th.Tensor) -> th.Tensor:
        x = F.layer_norm(x, (self.dim,))
        scale, shift = self.linear(cond).chunk(2, dim=-1)
        return x * (1 + scale) + shift


class ResBlock2d(nn.Module):
    """
    Pre-norm residual block ``x + conv(silu(norm(conv(silu(norm(x))))))`` with optional AdaGN conditioning.

    :param in_channels: input channels
    :param out_channels: output channels (a 1x1 convolution maps the skip path when they differ)
    :param cond_dim: conditioning dimension; ``None`` uses plain GroupNorm
    """

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int | None = None) -> None:
        super().__init__()
        self.conditional = cond_dim is not None
        if cond_dim is None:
            self.norm1: nn.Module = nn.GroupNorm(group_norm_groups(in_channels), in_channels, eps=GN_EPS)
            self.norm2: nn.Module = nn.GroupNorm(group_norm_groups(out_channels), out_channels, eps=GN_EPS)
        else:
            self.norm1 = AdaGroupNorm(in_channels, cond_dim)
            self.norm2 = AdaGroupNorm(out_channels, cond_dim)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        # Zero-init the last conv's weights (DIAMOND; its bias keeps torch's initialisation), so each block starts as
        # the identity plus a small constant: stable early training.
        nn.init.zeros_(self.conv2.weight)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def _norm(self, norm: nn.Module, x: th.Tensor, cond: th.Tensor | None) -> th.Tensor:
        return norm(x, cond) if self.conditional else norm(x)

    def forward(self, x: th.Tensor, cond: th.Tensor | None = None) -> th.Tensor:
        if self.conditional and cond is None:
            raise ValueError("This ResBlock2d is conditional: pass the conditioning vector `cond`.")
        h = self.conv1(F.silu(self._norm(self.norm1, x, cond)))
        h = self.conv2(F.silu(self._norm(self.norm2, h, cond)))
        return self.skip(x) + h


class SmallResBlock2d(nn.Module):
    """
    DIAMOND's actor-critic block: ``skip(x) + conv(silu(GroupNorm(x)))``, one 3x3 convolution (default
    initialisation) and a 1x1 convolution on the skip path when the channels change.

    :param in_channels: input channels
    :param out_channels: output channels
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(group_norm_groups(in_channels), in_channels, eps=GN_EPS)
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.skip: nn.Module = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.skip(x) + self.conv(F.silu(self.norm(x)))


class SelfAttention2d(nn.Module):
    """
    Residual multi-head self-attention over the ``H * W`` positions of a feature map (DIAMOND's U-Net attention).

    ``n + out(attention(qkv(n)))`` with ``n = GroupNorm(x)`` (DIAMOND's ``SelfAttention2d``, whose residual is the
    normalised input), 1x1 convolutions for the query/key/value and output projections and ``channels // head_dim``
    heads (DIAMOND: heads of 8 channels, GroupNorm of 32-channel groups). The output projection is zero-initialised
    (DIAMOND), so the block starts as the GroupNorm. ``normalized_residual=False`` adds to ``x`` itself instead
    (``x + out(...)``, an exact identity at initialisation; the layout of models saved by sb3-jedi before
    ``diamond_blocks``).

    :param channels: number of channels (unchanged)
    :param head_dim: channels per attention head (DIAMOND: 8); one head when ``channels < head_dim``
    :param normalized_residual: add the attention output to the normalised input (DIAMOND) rather than to the input
    """

    def __init__(self, channels: int, head_dim: int = 8, normalized_residual: bool = True) -> None:
        super().__init__()
        if channels < 1 or head_dim < 1:
            raise ValueError(f"SelfAttention2d needs positive channels and head_dim, got {channels} and {head_dim}.")
        self.n_heads = max(1, channels // head_dim)
        if channels % self.n_heads != 0:
            raise ValueError(
                f"SelfAttention2d: {channels} channels do not split into {self.n_heads} heads of {head_dim} channels;"
                " pick a head_dim that divides the channels."
            )
        self.normalized_residual = normalized_residual
        self.norm = nn.GroupNorm(group_norm_groups(channels), channels, eps=GN_EPS)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        assert self.out.bias is not None  # built with a bias (torch types it as optional)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: th.Tensor) -> th.Tensor:
        batch, channels, height, width = x.shape
        normalized = self.norm(x)
        qkv = self.qkv(normalized).reshape(batch, 3, self.n_heads, channels // self.n_heads, height * width)
        # (B, heads, head_dim, HW) -> (B, heads, HW, head_dim): one token per position.
        query, key, value = qkv.transpose(-1, -2).unbind(dim=1)
        attended = F.scaled_dot_product_attention(query, key, value)
        residual = normalized if self.normalized_residual else x
        return residual + self.out(attended.transpose(-1, -2).reshape(batch, channels, height, width))


class Downsample2d(nn.Module):
    """
    Halve the spatial size with a learned stride-2 3x3 convolution (DIAMOND's downsampling).

    A learned stride keeps what an average pool would blur (small Atari sprites); the orthogonal
    initialisation keeps the signal's scale at the start of training. Odd sizes round up.

    :param channels: number of channels (unchanged)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        nn.init.orthogonal_(self.conv.weight)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.conv(x)


class Upsample2d(nn.Module):
    """
    Double the spatial size: nearest-neighbour 2x then a 3x3 convolution (DIAMOND's upsampling).

    Interpolating before convolving avoids the checkerboard artefacts of transposed convolutions.

    :param channels: number of channels (unchanged)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class NormMlp(nn.Sequential):
    """
    MLP of ``Linear -> LayerNorm -> SiLU`` hidden layers, with an optional final plain ``Linear``.

    The LayerNorm keeps unnormalised vector observations (and drifting latents) from saturating the trunk.

    :param in_dim: input dimension
    :param hidden_sizes: widths of the hidden layers (may be empty)
    :param out_dim: width of a final linear layer without norm or activation; ``None`` ends on the last hidden layer
    """

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int], out_dim: int | None = None) -> None:
        layers: list[nn.Module] = []
        last = in_dim
        for size in hidden_sizes:
            layers += [nn.Linear(last, size), nn.LayerNorm(size), nn.SiLU()]
            last = size
        if out_dim is not None:
            layers.append(nn.Linear(last, out_dim))
            last = out_dim
        super().__init__(*layers)
        self.out_dim = last
