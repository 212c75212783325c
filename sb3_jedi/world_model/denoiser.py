"""
EDM denoiser of the world model: the preconditioning ``D(x; sigma) = c_skip x + c_out F(c_in x; c_noise, cond)``
around an inner network ``F``, the training noise levels and the denoising loss.

Follows Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models" (EDM), with the
changes DIAMOND (Alonso et al. 2024) makes for world modelling (offset noise, conditioning on past states and
actions) and the latent soft clamp of JEDI (arXiv 2505.19698). The inner networks live in ``inner_model.py``, the
sampler in ``diffusion_sampler.py`` (DIAMOND's ``src/models/diffusion`` layout).

Everything here is generic over the shape ``S`` of the diffused state: spatial latents ``(B, 16, 8, 8)``,
vector latents ``(B, 16)`` or pixels ``(B, 3, 64, 64)`` all work. Dimension 1 of a state is its channel
dimension (it matters only for the offset noise).
"""

from dataclasses import dataclass

import torch as th
from torch import nn

from sb3_jedi.world_model.layers import soft_clamp

__all__ = ["Conditioners", "EDMDenoiser", "SigmaDistribution"]


def _expand_to(values: th.Tensor, ndim: int) -> th.Tensor:
    """Append singleton dimensions to a per-sample tensor ``(B,)`` so it broadcasts against a ``ndim`` tensor."""
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


def _randn(
    shape: tuple[int, ...], like: th.Tensor, generator: th.Generator | None = None, device: th.device | str | None = None
) -> th.Tensor:
    """
    Standard normal draw of ``shape`` with the dtype of ``like``, on ``device`` (``like``'s device by default).

    The draw happens on the generator's own device, then moves: a CPU generator then gives the same numbers
    whatever device the tensors live on, and a mismatched generator does not raise deep inside torch.
    """
    target_device = like.device if device is None else th.device(device)
    draw_device = target_device if generator is None else generator.device
    return th.randn(shape, generator=generator, device=draw_device, dtype=like.dtype).to(target_device)


@dataclass(frozen=True)
class Conditioners:
    """
    EDM preconditioning coefficients (Karras et al. 2022, Table 1), each a tensor of shape ``(B,)``.

    :param c_in: input scaling, applied to the noisy state before the inner network
    :param c_out: output scaling of the inner network's prediction
    :param c_skip: weight of the skip connection carrying the noisy state to the output
    :param c_noise: noise-level input of the inner network, ``ln(sigma) / 4``
    """

    c_in: th.Tensor
    c_out: th.Tensor
    c_skip: th.Tensor
    c_noise: th.Tensor


@dataclass
class SigmaDistribution:
    """
    Log-normal distribution of training noise levels: ``sigma = exp(N(loc, scale^2))`` clipped to ``[sigma_min, sigma_max]``.

    EDM (Karras et al. 2022, Table 1) samples ``ln(sigma) ~ N(-1.2, 1.2^2)``; DIAMOND, and JEDI after it, use
    ``loc=-0.4``, ``scale=1.2`` and clip to ``[2e-3, 20]``, which are the defaults here.

    :param loc: mean of ``ln(sigma)`` before clipping (paper: -0.4)
    :param scale: standard deviation of ``ln(sigma)`` before clipping (paper: 1.2)
    :param sigma_min: lower clip (paper: 2e-3)
    :param sigma_max: upper clip (paper: 20)
    """

    loc: float = -0.4
    scale: float = 1.2
    sigma_min: float = 2e-3
    sigma_max: float = 20.0

    def __post_init__(self) -> None:
        if not self.scale >= 0:
            raise ValueError(f"SigmaDistribution needs scale >= 0 (the std of ln(sigma)), got {self.scale}.")
        if not self.sigma_min > 0:
            raise ValueError(f"SigmaDistribution needs sigma_min > 0, got {self.sigma_min}.")
        if not self.sigma_min < self.sigma_max:
            raise ValueError(
                f"SigmaDistribution needs sigma_min < sigma_max, got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}."
            )

    def sample(self, n: int, device: th.device | str = "cpu", generator: th.Generator | None = None) -> th.Tensor:
        """
        Draw ``n`` noise levels.

        :param n: number of noise levels (one per sample of the batch)
        :param device: device of the returned tensor
        :param generator: optional random generator, for reproducible draws
        :return: tensor of shape ``(n,)``
        """
        if n < 0:
            raise ValueError(f"SigmaDistribution.sample needs n >= 0, got {n}.")
        log_sigma = _randn((n,), th.empty(0), generator, device) * self.scale + self.loc
        return log_sigma.exp().clamp(self.sigma_min, self.sigma_max)


class EDMDenoiser(nn.Module):
    """
    EDM preconditioning ``D(x; sigma) = c_skip x + c_out F(c_in x; c_noise, cond)`` around an inner network ``F``.

    The inner network is called as
    ``inner_model(scaled_noisy, c_noise, scaled_cond_states, cond_actions)`` with

    - ``scaled_noisy = c_in * noisy`` of shape ``(B, *S)``,
    - ``c_noise`` of shape ``(B,)``,
    - ``scaled_cond_states = cond_states / sigma_data`` of shape ``(B, T, *S)`` (DIAMOND's input scaling of the
      conditioning frames, so that they have roughly unit variance like ``scaled_noisy``),
    - ``cond_actions`` of shape ``(B, T)`` (integer actions),

    and must return a tensor of shape ``(B, *S)``.

    DIAMOND trains with *offset noise*: on top of ``sigma * N(0, I)``, each (sample, channel) gets one extra
    Gaussian shift of std ``sigma_offset_noise`` shared by all its positions, which teaches the model to
    correct global brightness / mean errors. The preconditioning then treats the total noise as having the
    effective std ``sqrt(sigma^2 + sigma_offset_noise^2)``.

    :param inner_model: the network ``F`` (a latent U-Net or MLP)
    :param sigma_data: assumed std of the clean states (EDM; paper: 0.5)
    :param sigma_offset_noise: std of the per-channel offset noise (DIAMOND; paper: 0.3). 0 gives plain EDM.
    :param output_clamp: bound of the soft clamp ``tanh(D / b) * b`` applied to the denoised output (JEDI
        paper: 3, the same bound as the encoder's latents). ``None`` disables it (plain EDM, or pixels).
    :param sigma_distribution: distribution of training noise levels; ``None`` uses
        :class:`SigmaDistribution`'s defaults (DIAMOND / JEDI: LogNormal(-0.4, 1.2) clipped to [2e-3, 20]).
    """

    def __init__(
        self,
        inner_model: nn.Module,
        sigma_data: float = 0.5,
        sigma_offset_noise: float = 0.3,
        output_clamp: float | None = 3.0,
        sigma_distribution: SigmaDistribution | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(inner_model, nn.Module):
            raise ValueError(f"EDMDenoiser needs an nn.Module as inner_model, got {type(inner_model).__name__}.")
        if not sigma_data > 0:
            raise ValueError(f"EDMDenoiser needs sigma_data > 0 (the std of clean states), got {sigma_data}.")
        if not sigma_offset_noise >= 0:
            raise ValueError(f"EDMDenoiser needs sigma_offset_noise >= 0 (0 disables it), got {sigma_offset_noise}.")
        if output_clamp is not None and not output_clamp > 0:
            raise ValueError(f"EDMDenoiser needs output_clamp > 0, or None to disable the clamp, got {output_clamp}.")
        if sigma_distribution is not None and not isinstance(sigma_distribution, SigmaDistribution):
            raise ValueError(
                f"EDMDenoiser needs a SigmaDistribution (or None for the defaults), got {type(sigma_distribution).__name__}."
            )
        self.inner_model = inner_model
        self.sigma_data = float(sigma_data)
        self.sigma_offset_noise = float(sigma_offset_noise)
        self.output_clamp = None if output_clamp is None else float(output_clamp)
        self.sigma_distribution = SigmaDistribution() if sigma_distribution is None else sigma_distribution

    def conditioners(self, sigma: th.Tensor) -> Conditioners:
        """
        Preconditioning coefficients of EDM (Karras et al. 2022, Table 1) for noise levels ``sigma``.

        ``sigma`` is first replaced by the effective noise std ``s = sqrt(sigma^2 + sigma_offset_noise^2)``
        (DIAMOND's handling of offset noise); then, with ``sd = sigma_data``:
        ``c_skip = sd^2 / (s^2 + sd^2)``, ``c_out = s sd / sqrt(s^2 + sd^2)``, ``c_in = 1 / sqrt(s^2 + sd^2)``,
        ``c_noise = ln(s) / 4``.

        :param sigma: noise levels, shape ``(B,)``
        :return: the coefficients, each of the same shape as ``sigma``
        """
        sigma_data2 = self.sigma_data**2
        sigma_eff2 = sigma**2 + self.sigma_offset_noise**2
        total = sigma_eff2 + sigma_data2
        sigma_eff = sigma_eff2.sqrt()
        return Conditioners(
            c_in=total.rsqrt(),
            c_out=sigma_eff * self.sigma_data * total.rsqrt(),
            c_skip=sigma_data2 / total,
            c_noise=sigma_eff.log() / 4,
        )

    def add_noise(self, clean: th.Tensor, sigma: th.Tensor, generator: th.Generator | None = None) -> th.Tensor:
        """
        Forward diffusion: ``clean + offset + sigma * N(0, I)``.

        ``offset`` has std ``sigma_offset_noise`` and is drawn once per (sample, channel), then broadcast over the
        remaining dimensions (DIAMOND). For vector states ``(B, D)`` every feature is its own channel.

        :param clean: clean states, shape ``(B, *S)``
        :param sigma: noise levels, shape ``(B,)``
        :param generator: optional random generator, for reproducible draws
        :return: noisy states, shape ``(B, *S)``
        """
        if clean.ndim < 2:
            raise ValueError(f"add_noise needs states of shape (B, *S) with at least one state dim, got {tuple(clean.shape)}.")
        sigma = self._check_sigma(sigma, clean.shape[0], "add_noise")
        offset_shape = tuple(clean.shape[:2]) + (1,) * (clean.ndim - 2)
        offset = _randn(offset_shape, clean, generator) * self.sigma_offset_noise
        noise = _randn(tuple(clean.shape), clean, generator)
        return clean + offset + noise * _expand_to(sigma, clean.ndim)

    def denoise(self, noisy: th.Tensor, sigma: th.Tensor, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        """
        The denoised estimate ``D(x; sigma)`` of the next state, soft-clamped to ``output_clamp`` (JEDI paper).

        Differentiable: the training loss and the random-switching unroll backpropagate through it. Wrap calls in
        ``th.no_grad()`` when only sampling (:class:`DiffusionSampler` does).

        :param noisy: noisy next states ``x``, shape ``(B, *S)``
        :param sigma: noise levels, shape ``(B,)`` (a scalar is broadcast to the batch)
        :param cond_states: the ``T`` previous clean states, shape ``(B, T, *S)``
        :param cond_actions: the ``T`` previous actions, shape ``(B, T)``
        :return: denoised states, shape ``(B, *S)``
        """
        batch_size = self._check_inputs(noisy, cond_states, cond_actions)
        sigma = self._check_sigma(sigma, batch_size, "denoise")
        cs = self.conditioners(sigma)
        scaled_noisy = _expand_to(cs.c_in, noisy.ndim) * noisy
        out = self.inner_model(scaled_noisy, cs.c_noise, cond_states / self.sigma_data, cond_actions)
        if not isinstance(out, th.Tensor) or out.shape != noisy.shape:
            got = tuple(out.shape) if isinstance(out, th.Tensor) else type(out).__name__
            raise ValueError(
                f"The inner model must return a tensor shaped like the noisy state {tuple(noisy.shape)}, got {got}."
            )
        denoised = _expand_to(cs.c_skip, noisy.ndim) * noisy + _expand_to(cs.c_out, noisy.ndim) * out
        return soft_clamp(denoised, self.output_clamp)

    def forward(self, noisy: th.Tensor, sigma: th.Tensor, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        """Same as :meth:`denoise`."""
        return self.denoise(noisy, sigma, cond_states, cond_actions)

    def loss(
        self,
        target: th.Tensor,
        cond_states: th.Tensor,
        cond_actions: th.Tensor,
        sigma: th.Tensor | None = None,
        mask: th.Tensor | None = None,
        generator: th.Generator | None = None,
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        EDM denoising loss for one prediction step.

        Noises ``target`` with :meth:`add_noise`, denoises it with :meth:`denoise` and returns the mean over kept
        samples of ``mean(((D - y) / c_out)^2)``. While the output clamp is inactive this is exactly EDM's
        weighted loss ``lambda(sigma) ||D - y||^2`` with ``lambda = 1 / c_out^2`` (Karras et al. 2022, Table 1),
        i.e. the plain MSE of the inner network against its effective target ``(y - c_skip x) / c_out``, which
        DIAMOND optimises. Computing it from the clamped ``D`` lets the loss see the clamp the sampler uses.

        The caller is responsible for the stop-gradient on ``target``: JEDI trains the encoder through the
        conditioning latents only, so pass ``target.detach()`` (``sg(z_{t+1})``). Gradients do flow to
        ``cond_states``.

        :param target: clean next states ``y``, shape ``(B, *S)``
        :param cond_states: previous states, shape ``(B, T, *S)``
        :param cond_actions: previous actions, shape ``(B, T)``
        :param sigma: training noise levels, shape ``(B,)``; ``None`` draws them from ``self.sigma_distribution``
        :param mask: boolean ``(B,)``; rows that are ``False`` (padding) are left out of the loss. ``None`` keeps all.
            With no row kept the loss is a zero that still has a ``grad_fn``.
        :param generator: optional random generator for the noise levels and the noise
        :return: the scalar loss and the denoised prediction ``D``, shape ``(B, *S)`` (for random switching)
        """
        batch_size = self._check_inputs(target, cond_states, cond_actions)
        if sigma is None:
            sigma = self.sigma_distribution.sample(batch_size, device=target.device, generator=generator).to(target.dtype)
        sigma = self._check_sigma(sigma, batch_size, "loss")
        if mask is not None:
            if not isinstance(mask, th.Tensor) or mask.dtype != th.bool or mask.shape != (batch_size,):
                got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, th.Tensor) else type(mask).__name__
                raise ValueError(
                    f"loss needs mask to be a bool tensor of shape ({batch_size},) (True = sample kept), got {got}."
                )
        noisy = self.add_noise(target, sigma, generator=generator)
        denoised = self.denoise(noisy, sigma, cond_states, cond_actions)
        c_out = _expand_to(self.conditioners(sigma).c_out, target.ndim)
        per_sample = ((denoised - target) / c_out).pow(2).flatten(1).mean(dim=1)
        if mask is None:
            return per_sample.mean(), denoised
        # `where` rather than multiplying by the mask: padded rows may hold anything, and 0 * inf is nan.
        kept = th.where(mask, per_sample, th.zeros_like(per_sample))
        return kept.sum() / mask.sum().clamp(min=1), denoised

    @staticmethod
    def _check_inputs(state: th.Tensor, cond_states: th.Tensor, cond_actions: th.Tensor) -> int:
        """Check the shapes of a state ``(B, *S)``, its conditioning states ``(B, T, *S)`` and actions ``(B, T)``."""
        if state.ndim < 2:
            raise ValueError(f"States must have shape (B, *S) with at least one state dim, got {tuple(state.shape)}.")
        batch_size, state_shape = state.shape[0], tuple(state.shape[1:])
        if (
            cond_states.ndim != state.ndim + 1
            or cond_states.shape[0] != batch_size
            or tuple(cond_states.shape[2:]) != state_shape
        ):
            raise ValueError(
                f"cond_states must have shape (B, T, *S) = ({batch_size}, T, {', '.join(map(str, state_shape))}) to match "
                f"the state {tuple(state.shape)}, got {tuple(cond_states.shape)}."
            )
        if cond_actions.ndim < 2 or tuple(cond_actions.shape[:2]) != tuple(cond_states.shape[:2]):
            raise ValueError(
                f"cond_actions must have shape (B, T) = {tuple(cond_states.shape[:2])} to match cond_states, "
                f"got {tuple(cond_actions.shape)}."
            )
        return batch_size

    @staticmethod
    def _check_sigma(sigma: th.Tensor, batch_size: int, where: str) -> th.Tensor:
        """Broadcast a scalar noise level to the batch and check the shape ``(B,)``."""
        if not isinstance(sigma, th.Tensor):
            raise ValueError(f"{where} needs sigma as a tensor of shape ({batch_size},), got {type(sigma).__name__}.")
        if sigma.ndim == 0:
            sigma = sigma.expand(batch_size)
        if sigma.shape != (batch_size,):
            raise ValueError(
                f"{where} needs sigma of shape ({batch_size},) (one noise level per sample), got {tuple(sigma.shape)}."
            )
        return sigma
