"""
Sampler of the EDM diffusion world model: the noise-level schedule and the probability-flow ODE solver that
generates the next state from the :class:`~sb3_jedi.world_model.denoiser.EDMDenoiser`.

Follows Karras et al. 2022 (EDM, eq. 5 and Algorithm 2) with DIAMOND's choices (Alonso et al. 2024): a few Euler
steps, starting from unit noise. Everything here is generic over the shape ``S`` of the diffused state.
"""

import math
from collections.abc import Callable
from itertools import pairwise

import torch as th

from sb3_jedi.world_model.denoiser import EDMDenoiser, _randn

__all__ = ["DiffusionSampler", "build_sigmas"]


def build_sigmas(
    num_steps: int,
    sigma_min: float = 2e-3,
    sigma_max: float = 5.0,
    rho: float = 7.0,
    device: th.device | str = "cpu",
) -> th.Tensor:
    """
    Noise levels of the sampler: EDM's rho schedule (Karras et al. 2022, eq. 5) followed by a final 0.

    ``sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho`` for
    ``i = 0..N-1``, then ``sigma_N = 0``. With ``N = 1`` the single level is ``sigma_max``. Larger ``rho``
    spends more steps at low noise (EDM and the JEDI paper: 7).

    :param num_steps: number of denoising steps ``N`` (JEDI paper: 3)
    :param sigma_min: smallest non-zero noise level (paper: 2e-3)
    :param sigma_max: largest noise level, where sampling starts (paper: 5)
    :param rho: schedule exponent (paper: 7)
    :param device: device of the returned tensor
    :return: descending noise levels, shape ``(num_steps + 1,)``, last entry 0
    """
    return _rho_schedule(num_steps, sigma_min, sigma_max, rho).to(device=device, dtype=th.get_default_dtype())


def _rho_schedule(num_steps: int, sigma_min: float, sigma_max: float, rho: float) -> th.Tensor:
    """:func:`build_sigmas` in float64 on the CPU."""
    _check_schedule(num_steps, sigma_min, sigma_max, rho)
    ramp = th.linspace(0, 1, num_steps, dtype=th.float64)
    inv_max, inv_min = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    sigmas = (inv_max + ramp * (inv_min - inv_max)) ** rho
    return th.cat([sigmas, sigmas.new_zeros(1)])


def _check_schedule(num_steps: int, sigma_min: float, sigma_max: float, rho: float) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1 (JEDI paper: 3), got {num_steps!r}.")
    if not sigma_min > 0:
        raise ValueError(f"sigma_min must be > 0 (JEDI paper: 2e-3), got {sigma_min}.")
    if not sigma_min < sigma_max:
        raise ValueError(f"sigma_min must be < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}.")
    if not rho > 0:
        raise ValueError(f"rho must be > 0 (EDM and JEDI paper: 7), got {rho}.")


class DiffusionSampler:
    """
    Deterministic (or stochastic, with churn) sampler of EDM (Karras et al. 2022, Algorithm 2).

    Integrates the probability-flow ODE ``dx/dsigma = (x - D(x; sigma)) / sigma`` from ``sigma_max`` down to 0
    along :func:`build_sigmas`. The JEDI paper (after DIAMOND) uses Euler with 3 steps, sigma_min 2e-3,
    sigma_max 5, rho 7 and no churn: few steps suffice because the next state is nearly determined by the
    conditioning.

    :param denoiser: the preconditioned denoiser
    :param num_steps: number of noise levels ``N`` (paper: 3)
    :param sigma_min: smallest non-zero noise level (paper: 2e-3)
    :param sigma_max: largest noise level (paper: 5)
    :param rho: schedule exponent (paper: 7)
    :param order: 1 for Euler (paper), 2 for Heun's second-order correction (EDM); Heun costs ``2N - 1``
        network evaluations instead of ``N`` (the step to ``sigma = 0`` is always Euler)
    :param s_churn: EDM's stochasticity: each step within ``[s_tmin, s_tmax]`` first raises the noise level by a
        factor ``1 + min(s_churn / N, sqrt(2) - 1)`` with fresh noise. 0 (paper) is the deterministic ODE.
    :param s_tmin: lowest noise level where churn applies
    :param s_tmax: highest noise level where churn applies
    :param s_noise: std multiplier of the churn noise (EDM; 1 is exact)
    :param initial_noise_std: std of the starting noise. 1.0 is DIAMOND's choice (which JEDI inherits): it starts
        from unit noise although the first step is labelled ``sigma_max``, which biases samples towards the
        conditioning. ``None`` uses ``sigma_max``, as in EDM.
    :param denoised_transform: applied to every denoised estimate ``D(x; sigma)`` before the step uses it (DIAMOND's
        pixel sampler quantises each to 8 bits, :func:`~sb3_jedi.world_model.pixel.quantize_pixels`); ``None``: none
    """

    def __init__(
        self,
        denoiser: EDMDenoiser,
        num_steps: int = 3,
        sigma_min: float = 2e-3,
        sigma_max: float = 5.0,
        rho: float = 7.0,
        order: int = 1,
        s_churn: float = 0.0,
        s_tmin: float = 0.0,
        s_tmax: float = float("inf"),
        s_noise: float = 1.0,
        initial_noise_std: float | None = 1.0,
        denoised_transform: Callable[[th.Tensor], th.Tensor] | None = None,
    ) -> None:
        if not isinstance(denoiser, EDMDenoiser):
            raise ValueError(f"DiffusionSampler needs an EDMDenoiser, got {type(denoiser).__name__}.")
        # Python floats in float64, kept on the CPU: the denoiser may move between devices after the sampler is built.
        self.sigmas: list[float] = _rho_schedule(num_steps, sigma_min, sigma_max, rho).tolist()
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (Euler, JEDI paper) or 2 (Heun), got {order!r}.")
        if not s_churn >= 0:
            raise ValueError(f"s_churn must be >= 0 (0 = deterministic sampling), got {s_churn}.")
        if not s_tmin <= s_tmax:
            raise ValueError(f"s_tmin must be <= s_tmax, got s_tmin={s_tmin}, s_tmax={s_tmax}.")
        if not s_noise >= 0:
            raise ValueError(f"s_noise must be >= 0 (EDM default 1), got {s_noise}.")
        if initial_noise_std is not None and not initial_noise_std > 0:
            raise ValueError(
                f"initial_noise_std must be > 0 (DIAMOND: 1.0), or None to start at sigma_max, got {initial_noise_std}."
            )
        self.denoiser = denoiser
        self.num_steps = num_steps
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.rho = float(rho)
        self.order = order
        self.s_churn = float(s_churn)
        self.s_tmin = float(s_tmin)
        self.s_tmax = float(s_tmax)
        self.s_noise = float(s_noise)
        self.initial_noise_std = None if initial_noise_std is None else float(initial_noise_std)
        self.denoised_transform = denoised_transform
        # Network evaluations of the last `sample` call (Euler: N, Heun: 2N - 1), for logging compute.
        self.last_num_evaluations = 0

    @th.no_grad()
    def sample(
        self,
        cond_states: th.Tensor,
        cond_actions: th.Tensor,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
    ) -> th.Tensor:
        """
        Sample the next state given the previous states and actions.

        :param cond_states: the ``T`` previous states, shape ``(B, T, *S)``
        :param cond_actions: the ``T`` previous actions, shape ``(B, T)``
        :param noise: optional standard-normal starting noise of shape ``(B, *S)``; it is scaled by
            ``initial_noise_std`` (or ``sigma_max``). ``None`` draws it from ``generator``.
        :param generator: optional random generator for the starting noise and the churn noise
        :return: the sampled next states, shape ``(B, *S)``
        """
        if cond_states.ndim < 3:
            raise ValueError(
                f"cond_states must have shape (B, T, *S) with at least one state dim, got {tuple(cond_states.shape)}."
            )
        state_shape = (cond_states.shape[0], *cond_states.shape[2:])
        if noise is None:
            noise = _randn(state_shape, cond_states, generator)
        elif tuple(noise.shape) != state_shape:
            raise ValueError(f"noise must have the shape of one next state {state_shape}, got {tuple(noise.shape)}.")
        batch_size = state_shape[0]
        start_std = self.sigma_max if self.initial_noise_std is None else self.initial_noise_std
        x = noise.to(device=cond_states.device, dtype=cond_states.dtype) * start_std

        def level(value: float) -> th.Tensor:
            return th.full((batch_size,), value, device=x.device, dtype=x.dtype)

        def denoise(state: th.Tensor, sigma: float) -> th.Tensor:
            self.last_num_evaluations += 1
            denoised = self.denoiser.denoise(state, level(sigma), cond_states, cond_actions)
            return denoised if self.denoised_transform is None else self.denoised_transform(denoised)

        self.last_num_evaluations = 0
        gamma_churn = min(self.s_churn / self.num_steps, math.sqrt(2) - 1)
        for sigma, next_sigma in pairwise(self.sigmas):
            gamma = gamma_churn if self.s_tmin <= sigma <= self.s_tmax else 0.0
            sigma_hat = sigma * (1 + gamma)
            if gamma > 0:
                eps = _randn(state_shape, x, generator) * self.s_noise
                x = x + eps * math.sqrt(sigma_hat**2 - sigma**2)
            # EDM evaluates the raised level sigma_hat here (DIAMOND passes sigma, which only differs with churn).
            slope = (x - denoise(x, sigma_hat)) / sigma_hat
            step = next_sigma - sigma_hat
            x_next = x + slope * step
            if self.order == 2 and next_sigma > 0:
                # Heun: average the slopes at both ends of the step (EDM Algorithm 2, lines 9-11).
                slope_next = (x_next - denoise(x_next, next_sigma)) / next_sigma
                x_next = x + (slope + slope_next) / 2 * step
            x = x_next
        return x
