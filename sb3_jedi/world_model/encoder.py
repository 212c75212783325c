"""
Observation encoders E of the JEDI world model.

JEDI (arXiv 2505.19698) encodes each frame into a small latent that the diffusion world model
predicts. The encoder has no loss of its own: it is trained end to end by the denoising loss
(through the conditioning latents) and the reward/termination loss. Its output is soft-clamped
with ``tanh(z / 3) * 3`` (paper) so the latent scale cannot drift without bound.

- :class:`CnnEncoder`: images ``(B, 3, 64, 64)`` in [-1, 1] -> latents ``(B, 16, 8, 8)``.
- :class:`MlpEncoder`: vector observations ``(B, obs_dim)`` -> flat latents ``(B, latent_dim)``.
"""

from collections.abc import Sequence

import torch as th
from torch import nn

from sb3_jedi.world_model.layers import NormMlp, group_norm_groups, soft_clamp

__all__ = ["CnnEncoder", "MlpEncoder"]


class CnnEncoder(nn.Module):
    """
    Convolutional encoder: ``(B, C, H, W)`` images in [-1, 1] -> ``(B, channels[-1], H / 2**n, W / 2**n)`` latents.

    Layout (JEDI paper: 4 conv stages, channels [32, 32, 32, 16], downsampling after the first three): every stage
    but the last is a 3x3 convolution + GroupNorm + SiLU, the first ``n_downsamples`` stages followed by a 2x2 max
    pooling (keeps one-pixel sprites such as Pong's ball, which an average would dim); the last stage is a plain 3x3
    convolution to the latent channels, then the soft clamp. 64x64 RGB -> 16x8x8.

    Deliberately light (about 16M multiply-adds per 64x64 frame): the encoder runs on every frame the world model
    trains on and on every acting step, so it sets the cost of acting on a CPU. ``stem_stride=2`` makes the first
    convolution strided: every stage then works at half the resolution, for about a quarter of the cost (an option for
    CPU budgets; the paper's encoder, the default, has stride 1).

    :param in_channels: image channels
    :param image_size: ``(H, W)`` of the input images; both must be divisible by ``stem_stride * 2**n_downsamples``
    :param channels: channels of each stage; the last one is the number of latent channels
    :param n_downsamples: number of 2x downsamplings, after the first ``n_downsamples`` stages
        (at most ``len(channels) - 1`` so the last stage works at the latent resolution)
    :param stem_stride: stride of the first convolution, 1 (the paper), 2 or 4; the latents are
        ``stem_stride * 2**n_downsamples`` times smaller than the images
    :param latent_clamp: bound of the soft clamp ``tanh(z / b) * b`` (paper: 3); ``None`` disables it
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: tuple[int, int] = (64, 64),
        channels: Sequence[int] = (32, 32, 32, 16),
        n_downsamples: int = 3,
        latent_clamp: float | None = 3.0,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        channels = list(channels)
        if len(channels) == 0 or min(channels) < 1:
            raise ValueError(f"CnnEncoder needs at least one stage of positive channels, got channels={channels}.")
        if not 0 <= n_downsamples < len(channels):
            raise ValueError(
                f"n_downsamples={n_downsamples} must be in [0, {len(channels) - 1}] for {len(channels)} stages: "
                "the encoder downsamples after each stage but the last."
            )
        if len(image_size) != 2:
            raise ValueError(f"image_size must be (H, W), got {image_size}.")
        if stem_stride not in (1, 2, 4):
            raise ValueError(f"stem_stride must be 1, 2 or 4 (a power of two the decoder can mirror), got {stem_stride}.")
        self.stem_stride = stem_stride
        #: How many times smaller the latents are than the images, along each side.
        self.factor = stem_stride * 2**n_downsamples
        _check_image_size(tuple(image_size), self.factor)
        self.in_channels = in_channels
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.latent_clamp = latent_clamp

        layers: list[nn.Module] = []
        last = in_channels
        for i, width in enumerate(channels[:-1]):
            stride = stem_stride if i == 0 else 1
            layers += [
                nn.Conv2d(last, width, 3, stride=stride, padding=1),
                nn.GroupNorm(group_norm_groups(width), width),
                nn.SiLU(),
            ]
            if i < n_downsamples:
                layers.append(nn.MaxPool2d(2))
            last = width
        # The last stage is linear: latents are signed, and the soft clamp bounds them.
        layers.append(nn.Conv2d(last, channels[-1], 3, stride=stem_stride if len(channels) == 1 else 1, padding=1))
        self.stages = nn.Sequential(*layers)
        self._latent_shape = (channels[-1], self.image_size[0] // self.factor, self.image_size[1] // self.factor)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape ``(C, H, W)`` of one latent (without the batch dimension)."""
        return self._latent_shape

    def forward(self, obs: th.Tensor) -> th.Tensor:
        """
        :param obs: images ``(B, C, H, W)``, float in [-1, 1]
        :return: latents ``(B, *latent_shape)``, each entry in ``(-latent_clamp, latent_clamp)``
        """
        if obs.ndim != 4 or obs.shape[1] != self.in_channels:
            raise ValueError(
                f"CnnEncoder expects images of shape (B, {self.in_channels}, H, W) (channels first), got {tuple(obs.shape)}."
            )
        size = (obs.shape[2], obs.shape[3])
        _check_image_size(size, self.factor)
        if size != self.image_size:
            raise ValueError(
                f"CnnEncoder was built for {self.image_size[0]}x{self.image_size[1]} images, got "
                f"{size[0]}x{size[1]}: resize the observations or build it with image_size={size}."
            )
        # Channels-last: PyTorch's CPU max-pool is ~10x faster on NHWC maps, and convolutions are no slower.
        latents = self.stages(obs.contiguous(memory_format=th.channels_last))
        return soft_clamp(latents, self.latent_clamp).contiguous()


def _check_image_size(size: tuple[int, ...], factor: int) -> None:
    bad = [s for s in size if s < factor or s % factor != 0]
    if bad:
        nearest = sorted({max(factor, factor * (bad[0] // factor)), factor * (bad[0] // factor + 1)})
        raise ValueError(
            f"Image size {size[0]}x{size[1]} cannot be encoded: H and W must be positive multiples of {factor} "
            f"(stem_stride * 2**n_downsamples), e.g. {' or '.join(map(str, nearest))} instead of {bad[0]}; "
            "resize the observations (DIAMOND protocol: 64x64) or change n_downsamples."
        )


class MlpEncoder(nn.Module):
    """
    MLP encoder for vector observations: ``(B, obs_dim)`` -> ``(B, latent_dim)``, soft-clamped.

    Our extension for ``MlpPolicy`` (the JEDI paper only treats images): hidden layers
    ``Linear -> LayerNorm -> SiLU``, a linear output, then the paper's soft clamp.

    :param obs_dim: observation dimension
    :param latent_dim: latent dimension
    :param hidden_sizes: widths of the hidden layers
    :param latent_clamp: bound of the soft clamp ``tanh(z / b) * b`` (paper: 3); ``None`` disables it
    """

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int = 16,
        hidden_sizes: Sequence[int] = (128, 128),
        latent_clamp: float | None = 3.0,
    ) -> None:
        super().__init__()
        if obs_dim < 1 or latent_dim < 1:
            raise ValueError(f"obs_dim and latent_dim must be positive, got {obs_dim} and {latent_dim}.")
        self.obs_dim = obs_dim
        self.latent_dim = latent_dim
        self.latent_clamp = latent_clamp
        self.net = NormMlp(obs_dim, hidden_sizes, latent_dim)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape ``(latent_dim,)`` of one latent (without the batch dimension)."""
        return (self.latent_dim,)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        """
        :param obs: observations ``(B, obs_dim)``
        :return: latents ``(B, latent_dim)``, each entry in ``(-latent_clamp, latent_clamp)``
        """
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"MlpEncoder expects observations of shape (B, {self.obs_dim}), got {tuple(obs.shape)}.")
        return soft_clamp(self.net(obs), self.latent_clamp)
