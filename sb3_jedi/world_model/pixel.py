"""
DIAMOND's pixel-space diffusion world model (Alonso et al., NeurIPS 2024), the baseline JEDI is measured against.

The diffused states are the frames themselves: :meth:`PixelWorldModel.encode` only maps uint8 pixels to [-1, 1] (no
encoder, no parameters). An EDM denoiser over pixels predicts the next frame from the last 4 frames and actions and is
trained with the plain EDM denoising loss; the sampler's output is quantised to the 256 levels a uint8 frame can take,
as DIAMOND does, so imagined frames look like real ones to the actor-critic and the reward/termination model.

It implements the :class:`~sb3_jedi.world_model.world_model.WorldModel` interface, so the agent's imagination and
training code run unchanged on it (:class:`sb3_jedi.diamond.DIAMOND`).
"""

from functools import partial

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from torch import nn

from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.world_model.denoiser import EDMDenoiser
from sb3_jedi.world_model.diffusion_sampler import DiffusionSampler
from sb3_jedi.world_model.reward_end import RewardEndModel
from sb3_jedi.world_model.world_model import WorldModel, WorldModelLoss, preprocess_observations, reward_end_loss

__all__ = ["PixelWorldModel", "quantize_pixels"]


def quantize_pixels(frames: th.Tensor, n_levels: int = 256, rounding: str = "nearest") -> th.Tensor:
    """
    Clamp frames to [-1, 1] and map them onto ``n_levels`` evenly spaced values. With 256 levels the grid is exactly
    that of preprocessed uint8 frames, ``k / 127.5 - 1``.

    ``rounding="floor"`` takes the level below, as DIAMOND's ``wrap_model_output`` does with its uint8 cast on every
    denoised estimate (each sampler step, and the prediction the next unrolled training step conditions on);
    ``"nearest"`` snaps to the nearest level, which leaves values already on the grid where they are whatever their
    float rounding error (the sampler's last Euler step returns its last quantised estimate up to such an error).

    :param frames: frames in network range (any shape)
    :param n_levels: number of levels (256 for 8-bit frames)
    :param rounding: ``"floor"`` (DIAMOND's cast) or ``"nearest"``
    :return: the quantised frames, same shape and dtype
    """
    if n_levels < 2:
        raise ValueError(f"quantize_pixels needs at least 2 levels, got n_levels={n_levels}.")
    if rounding not in ("floor", "nearest"):
        raise ValueError(f"quantize_pixels: rounding must be 'floor' (DIAMOND) or 'nearest', got {rounding!r}.")
    steps = n_levels - 1
    clamped = frames.clamp(-1.0, 1.0)
    if rounding == "floor":
        # DIAMOND's operations in its order, so that float rounding drops the same values to the level below.
        return clamped.add(1.0).div(2.0).mul(steps).floor().div(steps).mul(2.0).sub(1.0)
    # Same operations as preprocess_observations (k / 127.5 - 1): quantised frames are bit-identical to real ones.
    return clamped.add(1.0).mul(steps / 2).round().div(steps / 2).sub(1.0)


class PixelWorldModel(WorldModel):
    """
    DIAMOND's world model: EDM diffusion directly over frames, with a reward/termination model on frames.

    Training (:meth:`compute_loss`): frames of a segment are mapped to [-1, 1]; the denoiser predicts frame ``t + 1``
    from frames ``t - 3 .. t`` and actions with the plain EDM loss (DIAMOND). When a segment unrolls several steps the
    next step conditions on the quantised, detached prediction (DIAMOND's autoregressive training). As in DIAMOND a
    target counts in the loss whenever it is a real frame, even if some conditioning frames are padding (zeros, i.e.
    grey), so the model also learns the first frames of an episode.

    :param observation_space: channel-first uint8 image space, e.g. ``Box(0, 255, (3, 64, 64), uint8)``
    :param n_actions: number of discrete actions
    :param denoiser: EDM-preconditioned denoiser over frames (DIAMOND: pixel U-Net channels [64, 64, 64, 64],
        depths [2, 2, 2, 2], conditioning dim 256, sigma_data 0.5, offset noise 0.3), without output clamp
    :param reward_end_model: reward / termination model over frame sequences (DIAMOND: CNN [32, 32, 32, 32] + LSTM 512)
    :param n_cond_steps: number of past frames and actions the denoiser conditions on (DIAMOND: 4)
    :param sampler_kwargs: keyword arguments of :class:`~sb3_jedi.world_model.diffusion_sampler.DiffusionSampler`
        (DIAMOND: Euler, 3 steps, sigma_min 2e-3, sigma_max 5, rho 7)
    :param n_levels: levels the sampled frames are quantised to (256: 8-bit frames)
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        n_actions: int,
        denoiser: EDMDenoiser,
        reward_end_model: RewardEndModel,
        n_cond_steps: int = 4,
        sampler_kwargs: dict | None = None,
        n_levels: int = 256,
    ) -> None:
        if not (
            isinstance(observation_space, spaces.Box)
            and len(observation_space.shape) == 3
            and is_image_space(observation_space, check_channels=False, normalized_image=False)
        ):
            raise ValueError(
                f"PixelWorldModel diffuses frames: it needs a channel-first uint8 image space (C, H, W) with values in "
                f"[0, 255], got {observation_space}. Use sb3_jedi.envs.make_atari100k_env (3x64x64 frames) or wrap the env "
                "(e.g. VecTransposeImage for channel-last frames)."
            )
        if denoiser.output_clamp is not None:
            raise ValueError(
                f"PixelWorldModel needs a denoiser without soft clamp (output_clamp=None), got output_clamp="
                f"{denoiser.output_clamp}: the clamp is JEDI's latent bound; frames are clamped to [-1, 1] and quantised "
                "when sampled."
            )
        super().__init__(observation_space, n_actions, n_cond_steps)
        self.denoiser = denoiser
        self.reward_end_model = reward_end_model
        self.n_levels = n_levels
        self.sampler_kwargs = dict(sampler_kwargs or {})
        # DIAMOND quantises every denoised estimate of the sampler to 8 bits (wrap_model_output), not only its output.
        self.sampler = DiffusionSampler(
            self.denoiser,
            denoised_transform=partial(quantize_pixels, n_levels=n_levels, rounding="floor"),
            **self.sampler_kwargs,
        )
        quantize_pixels(th.zeros(1), n_levels)  # checks n_levels now rather than at the first sample

    @property
    def state_shape(self) -> tuple[int, ...]:
        return tuple(self.observation_space.shape)

    def encode(self, obs: th.Tensor) -> th.Tensor:
        """The states are the frames: uint8 pixels to [-1, 1], nothing learned."""
        if obs.ndim < 4 or tuple(obs.shape[-3:]) != self.state_shape:
            raise ValueError(
                f"PixelWorldModel.encode expects frames of shape (B, *{self.state_shape}) or (B, T, *{self.state_shape}) "
                f"(channel first), got {tuple(obs.shape)}."
            )
        return preprocess_observations(obs, self.observation_space)

    def decode(self, states: th.Tensor) -> th.Tensor:
        """Frames (network range) from states: the states are frames, so this is the identity."""
        return states

    def sample_next_state(self, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        return quantize_pixels(self.sampler.sample(cond_states, cond_actions), self.n_levels)

    def predict_reward_end(
        self,
        states: th.Tensor,
        actions: th.Tensor,
        next_states: th.Tensor,
        hidden: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        return self.reward_end_model(states, actions, next_states, hidden)

    def denoising_loss(self, batch: SegmentBatch, states: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
        """
        EDM loss of the next frame, averaged over the unrolled steps of the segment (DIAMOND).

        :param batch: replay segments of at least ``n_cond_steps + 1`` frames
        :param states: their frames in [-1, 1] (B, L, *state_shape)
        """
        n = self.n_cond_steps
        n_steps = batch.observations.shape[1] - n
        if n_steps < 1:
            raise ValueError(f"Denoiser segments need at least n_cond_steps + 1 = {n + 1} frames, got {n + n_steps}.")
        frames = list(states.unbind(dim=1))
        loss = states.new_zeros(())
        for i in range(n_steps):
            cond = th.stack(frames[i : i + n], dim=1)
            step_loss, denoised = self.denoiser.loss(
                frames[n + i], cond, batch.actions[:, i : i + n], mask=batch.mask[:, n + i]
            )
            loss = loss + step_loss
            if i + 1 < n_steps:
                # DIAMOND conditions the next unrolled step on its own prediction, quantised as its sampler's.
                frames[n + i] = quantize_pixels(denoised.detach(), self.n_levels, rounding="floor")
        loss = loss / n_steps
        return loss, {"denoising_loss": loss.item()}

    # The reward/termination loss does not depend on what the states are: the latent model's, applied to frames.
    def reward_end_loss(self, batch: SegmentBatch, states: th.Tensor) -> tuple[th.Tensor, dict[str, float]]:
        """Cross-entropy of the reward head and of termination over the segment's transitions (as the latent model)."""
        return reward_end_loss(self.reward_end_model, batch, states)

    def compute_loss(self, denoiser_batch: SegmentBatch, reward_end_batch: SegmentBatch) -> WorldModelLoss:
        denoising, logs = self.denoising_loss(denoiser_batch, self.encode_segments(denoiser_batch))
        reward_end, reward_end_logs = self.reward_end_loss(reward_end_batch, self.encode_segments(reward_end_batch))
        logs.update(reward_end_logs)
        return WorldModelLoss(total=denoising + reward_end, logs=logs)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "denoiser": list(self.denoiser.parameters()),
            "reward_end": list(self.reward_end_model.parameters()),
        }
