import math

import pytest
import torch as th
from torch import nn

from sb3_jedi.world_model.denoiser import Conditioners, EDMDenoiser, SigmaDistribution
from sb3_jedi.world_model.diffusion_sampler import DiffusionSampler, build_sigmas

STATE_SHAPES = [(16, 8, 8), (16,), (3, 64, 64)]


def make_cond(batch_size: int, state_shape: tuple[int, ...], num_cond: int = 2, dtype: th.dtype = th.float32):
    cond_states = th.randn(batch_size, num_cond, *state_shape, dtype=dtype)
    cond_actions = th.randint(0, 4, (batch_size, num_cond))
    return cond_states, cond_actions


def edm_coefficients(sigma: float, sigma_data: float) -> tuple[float, float, float, float]:
    """EDM Table 1, written out with scalars: (c_in, c_out, c_skip, c_noise)."""
    c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
    c_out = sigma * sigma_data / math.sqrt(sigma**2 + sigma_data**2)
    c_in = 1 / math.sqrt(sigma**2 + sigma_data**2)
    c_noise = 0.25 * math.log(sigma)
    return c_in, c_out, c_skip, c_noise


def expand(values: th.Tensor, ndim: int) -> th.Tensor:
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


class ExactInner(nn.Module):
    """
    Inner network that makes the preconditioned output equal a chosen ``D(x; sigma)``.

    It reads the effective noise level back from ``c_noise = ln(s) / 4`` and the noisy state from
    ``c_in x``, then returns ``F = (D - c_skip x) / c_out``, inverting the preconditioning by hand.
    """

    def __init__(self, sigma_data: float, target_fn) -> None:
        super().__init__()
        self.sigma_data = sigma_data
        self.target_fn = target_fn
        self.calls = 0

    def forward(self, scaled_noisy, c_noise, scaled_cond, cond_actions):
        self.calls += 1
        s = th.exp(4 * c_noise)
        s = expand(s, scaled_noisy.ndim)
        total = s**2 + self.sigma_data**2
        x = scaled_noisy * total.sqrt()
        denoised = self.target_fn(x, s)
        c_skip = self.sigma_data**2 / total
        c_out = s * self.sigma_data / total.sqrt()
        return (denoised - c_skip * x) / c_out


class RandomInner(nn.Module):
    """Small shape-agnostic network with parameters that uses every input; records what it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(th.randn(4))
        self.calls = 0
        self.last: dict[str, th.Tensor] = {}

    def forward(self, scaled_noisy, c_noise, scaled_cond, cond_actions):
        self.calls += 1
        out = th.tanh(
            self.w[0] * scaled_noisy
            + self.w[1] * expand(c_noise, scaled_noisy.ndim)
            + self.w[2] * scaled_cond.mean(dim=1)
            + self.w[3] * expand(cond_actions.float().mean(dim=1), scaled_noisy.ndim)
        )
        out = out + 0.5 * scaled_noisy.sin()
        self.last = {"scaled_noisy": scaled_noisy, "c_noise": c_noise, "scaled_cond": scaled_cond, "out": out}
        return out


class ConstantInner(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, scaled_noisy, c_noise, scaled_cond, cond_actions):
        return th.full_like(scaled_noisy, self.value)


class WrongShapeInner(nn.Module):
    def forward(self, scaled_noisy, c_noise, scaled_cond, cond_actions):
        return scaled_noisy[:, :1]


# ---------------------------------------------------------------- conditioners


def test_conditioners_match_edm_table1_without_offset_noise():
    sigma_data = 0.5
    denoiser = EDMDenoiser(RandomInner(), sigma_data=sigma_data, sigma_offset_noise=0.0)
    sigmas = [2e-3, 0.1, 0.5, 1.0, 5.0, 20.0]
    cs = denoiser.conditioners(th.tensor(sigmas, dtype=th.float64))
    assert isinstance(cs, Conditioners)
    for name in ("c_in", "c_out", "c_skip", "c_noise"):
        assert getattr(cs, name).shape == (len(sigmas),)
    expected = th.tensor([edm_coefficients(s, sigma_data) for s in sigmas], dtype=th.float64)
    got = th.stack([cs.c_in, cs.c_out, cs.c_skip, cs.c_noise], dim=1)
    assert th.allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_conditioners_use_effective_sigma_with_offset_noise():
    sigma_data, offset = 0.5, 0.3
    denoiser = EDMDenoiser(RandomInner(), sigma_data=sigma_data, sigma_offset_noise=offset)
    sigmas = [0.0, 2e-3, 0.4, 3.0]
    cs = denoiser.conditioners(th.tensor(sigmas, dtype=th.float64))
    expected = th.tensor([edm_coefficients(math.hypot(s, offset), sigma_data) for s in sigmas], dtype=th.float64)
    got = th.stack([cs.c_in, cs.c_out, cs.c_skip, cs.c_noise], dim=1)
    assert th.allclose(got, expected, rtol=1e-12, atol=1e-12)
    # Offset noise matters most at low sigma: there the skip weight is well below 1.
    assert cs.c_skip[0] < 0.75


@pytest.mark.parametrize("offset", [0.0, 0.3])
def test_conditioners_give_unit_variance_inputs_and_targets(offset):
    """EDM's design rules (Karras et al. 2022, App. B.6), with s the effective noise std."""
    sigma_data = 0.5
    denoiser = EDMDenoiser(RandomInner(), sigma_data=sigma_data, sigma_offset_noise=offset)
    sigma = th.logspace(-3, math.log10(20), 25, dtype=th.float64)
    cs = denoiser.conditioners(sigma)
    s2 = sigma**2 + offset**2
    # Input x = y + n has variance sd^2 + s^2: c_in scales it to unit variance.
    assert th.allclose(cs.c_in**2 * (sigma_data**2 + s2), th.ones_like(sigma))
    # Effective target (y - c_skip x) / c_out = ((1 - c_skip) y - c_skip n) / c_out has unit variance.
    target_var = ((1 - cs.c_skip) ** 2 * sigma_data**2 + cs.c_skip**2 * s2) / cs.c_out**2
    assert th.allclose(target_var, th.ones_like(sigma))
    # c_skip is the choice that minimises c_out: d/dc [(1-c)^2 sd^2 + c^2 s^2] = 0.
    grad = -2 * (1 - cs.c_skip) * sigma_data**2 + 2 * cs.c_skip * s2
    assert th.allclose(grad, th.zeros_like(sigma), atol=1e-12)


def test_effective_target_has_unit_variance_empirically_with_offset_noise():
    """Monte-Carlo: y ~ N(0, sd^2) noised by add_noise (offset included) gives a unit-variance F target."""
    th.manual_seed(0)
    sigma_data = 0.5
    denoiser = EDMDenoiser(RandomInner(), sigma_data=sigma_data, sigma_offset_noise=0.3)
    for sigma_value in (0.01, 0.5, 4.0):
        y = th.randn(4000, 4, 3, 3) * sigma_data
        sigma = th.full((4000,), sigma_value)
        x = denoiser.add_noise(y, sigma)
        cs = denoiser.conditioners(sigma)
        target = (y - expand(cs.c_skip, 4) * x) / expand(cs.c_out, 4)
        assert abs(target.var().item() - 1.0) < 0.05
        assert abs((expand(cs.c_in, 4) * x).var().item() - 1.0) < 0.05


# ---------------------------------------------------------------- training noise levels


def test_sigma_distribution_is_lognormal_before_clipping():
    dist = SigmaDistribution(loc=0.3, scale=0.7, sigma_min=1e-12, sigma_max=1e12)
    generator = th.Generator().manual_seed(0)
    sigma = dist.sample(200_000, generator=generator)
    assert sigma.shape == (200_000,)
    log_sigma = sigma.log()
    # Standard errors: 0.7 / sqrt(2e5) ~ 0.0016 for the mean, about 0.0011 for the std.
    assert abs(log_sigma.mean().item() - 0.3) < 0.01
    assert abs(log_sigma.std().item() - 0.7) < 0.01
    # Reproducible with the same seed, different with another.
    again = dist.sample(200_000, generator=th.Generator().manual_seed(0))
    assert th.equal(again, sigma)
    assert not th.equal(dist.sample(200_000, generator=th.Generator().manual_seed(1)), again)


def test_sigma_distribution_clips_and_defaults_follow_the_paper():
    dist = SigmaDistribution()
    assert (dist.loc, dist.scale, dist.sigma_min, dist.sigma_max) == (-0.4, 1.2, 2e-3, 20.0)
    th.manual_seed(0)
    sigma = dist.sample(100_000)
    assert sigma.min() >= 2e-3 and sigma.max() <= 20.0
    # A tight clip: the mass below / above the bounds lands on them, as the normal CDF predicts.
    tight = SigmaDistribution(loc=0.0, scale=1.0, sigma_min=0.5, sigma_max=2.0)
    sigma = tight.sample(100_000)
    assert sigma.min() == 0.5 and sigma.max() == 2.0
    phi = 0.5 * (1 + math.erf(math.log(0.5) / math.sqrt(2)))  # P(ln sigma < ln 0.5) = P(ln sigma > ln 2)
    for fraction in ((sigma == 0.5).double().mean().item(), (sigma == 2.0).double().mean().item()):
        assert abs(fraction - phi) < 0.01


# ---------------------------------------------------------------- schedule


def test_build_sigmas_follows_rho_schedule():
    num_steps, sigma_min, sigma_max, rho = 6, 2e-3, 5.0, 7.0
    sigmas = build_sigmas(num_steps, sigma_min, sigma_max, rho)
    assert sigmas.shape == (num_steps + 1,)
    assert math.isclose(sigmas[0].item(), sigma_max, rel_tol=1e-6)
    assert math.isclose(sigmas[-2].item(), sigma_min, rel_tol=1e-5)
    assert sigmas[-1].item() == 0.0
    assert (sigmas[1:] < sigmas[:-1]).all()
    # Written as an interpolation in sigma^(1/rho) space between the two ends.
    for i in range(num_steps):
        t = i / (num_steps - 1)
        expected = ((1 - t) * sigma_max ** (1 / rho) + t * sigma_min ** (1 / rho)) ** rho
        assert math.isclose(sigmas[i].item(), expected, rel_tol=1e-5)
    # rho = 1 is a linear ramp; one step is just sigma_max.
    linear = build_sigmas(5, 1.0, 3.0, rho=1.0)
    assert th.allclose(linear, th.tensor([3.0, 2.5, 2.0, 1.5, 1.0, 0.0]))
    assert th.allclose(build_sigmas(1, sigma_min, sigma_max, rho), th.tensor([sigma_max, 0.0]))


# ---------------------------------------------------------------- denoiser and loss


@pytest.mark.parametrize("offset", [0.0, 0.3])
def test_loss_is_edm_weighted_loss_and_f_space_mse(offset):
    th.manual_seed(0)
    sigma_data = 0.5
    inner = RandomInner()
    denoiser = EDMDenoiser(inner, sigma_data=sigma_data, sigma_offset_noise=offset, output_clamp=None)
    batch_size = 6
    target = th.randn(batch_size, 16, 8, 8) * sigma_data
    cond_states, cond_actions = make_cond(batch_size, (16, 8, 8))
    sigma_values = [0.01, 0.1, 0.5, 1.0, 3.0, 15.0]
    sigma = th.tensor(sigma_values)
    loss, denoised = denoiser.loss(target, cond_states, cond_actions, sigma=sigma)
    assert loss.ndim == 0 and denoised.shape == target.shape

    s_eff = [math.hypot(s, offset) for s in sigma_values]
    weight = th.tensor([(s**2 + sigma_data**2) / (s * sigma_data) ** 2 for s in s_eff])  # lambda(sigma), EDM Table 1
    expected_weighted = (weight * (denoised - target).pow(2).flatten(1).mean(1)).mean()
    assert th.allclose(loss, expected_weighted, rtol=1e-4)

    # F-space: recover x from the inner network's input, form the effective target by hand.
    coeffs = th.tensor([edm_coefficients(s, sigma_data) for s in s_eff])
    c_in, c_out, c_skip = (expand(coeffs[:, k], 4) for k in range(3))
    x = inner.last["scaled_noisy"] / c_in
    f_target = (target - c_skip * x) / c_out
    assert th.allclose(loss, (inner.last["out"] - f_target).pow(2).mean(), rtol=1e-4)
    # The network saw c_noise = ln(s) / 4 and the conditioning scaled by 1 / sigma_data.
    assert th.allclose(inner.last["c_noise"], coeffs[:, 3])
    assert th.allclose(inner.last["scaled_cond"], cond_states / sigma_data)


def test_loss_mask_excludes_padding_and_all_false_mask_keeps_graph():
    th.manual_seed(0)
    sigma_data = 0.5
    denoiser = EDMDenoiser(RandomInner(), sigma_data=sigma_data, sigma_offset_noise=0.0, output_clamp=None)
    target = th.randn(5, 16)
    cond_states, cond_actions = make_cond(5, (16,))
    sigma = th.tensor([0.2, 0.5, 1.0, 2.0, 4.0])
    mask = th.tensor([True, False, True, False, True])
    loss, denoised = denoiser.loss(target, cond_states, cond_actions, sigma=sigma, mask=mask)
    c_out = th.tensor([edm_coefficients(s, sigma_data)[1] for s in sigma.tolist()])
    per_sample = ((denoised - target) / c_out[:, None]).pow(2).mean(1)
    assert th.allclose(loss, per_sample[mask].mean())
    assert not th.allclose(loss, per_sample.mean())
    # Garbage in padded rows must not leak into the loss.
    target_inf = target.clone()
    target_inf[1] = float("inf")
    loss_inf, _ = denoiser.loss(target_inf, cond_states, cond_actions, sigma=sigma, mask=mask)
    assert th.isfinite(loss_inf)

    empty, _ = denoiser.loss(target, cond_states, cond_actions, sigma=sigma, mask=th.zeros(5, dtype=th.bool))
    assert empty.item() == 0.0 and empty.grad_fn is not None
    empty.backward()
    assert th.equal(denoiser.inner_model.w.grad, th.zeros(4))


def test_loss_draws_sigma_from_distribution_when_not_given():
    th.manual_seed(0)
    sigma_value, offset = 0.7, 0.3
    inner = RandomInner()
    dist = SigmaDistribution(sigma_min=sigma_value, sigma_max=sigma_value + 1e-6)
    denoiser = EDMDenoiser(inner, sigma_offset_noise=offset, sigma_distribution=dist)
    target = th.randn(4, 16, 8, 8)
    cond_states, cond_actions = make_cond(4, (16, 8, 8))
    loss_a, _ = denoiser.loss(target, cond_states, cond_actions, generator=th.Generator().manual_seed(3))
    expected = 0.25 * math.log(math.hypot(sigma_value, offset))
    assert th.allclose(inner.last["c_noise"], th.full((4,), expected), atol=1e-5)
    loss_b, _ = denoiser.loss(target, cond_states, cond_actions, generator=th.Generator().manual_seed(3))
    assert th.equal(loss_a, loss_b)
    assert EDMDenoiser(RandomInner()).sigma_distribution == SigmaDistribution()


def test_denoised_output_is_soft_clamped():
    th.manual_seed(0)
    noisy = th.randn(3, 16, 8, 8)
    cond_states, cond_actions = make_cond(3, (16, 8, 8))
    sigma = th.tensor([0.1, 1.0, 5.0])
    for value in (1e6, -1e6):
        out = EDMDenoiser(ConstantInner(value), output_clamp=3.0).denoise(noisy, sigma, cond_states, cond_actions)
        # tanh saturates to exactly 1 in float32 for huge inputs, so the bound is reached but never passed.
        assert out.abs().max() <= 3.0 and th.isfinite(out).all()
    # Large but not saturating: strictly inside and equal to 3 tanh(D / 3) of the unclamped output.
    unclamped = EDMDenoiser(ConstantInner(20.0), output_clamp=None).denoise(noisy, sigma, cond_states, cond_actions)
    assert unclamped.abs().max() > 3.0
    clamped = EDMDenoiser(ConstantInner(20.0), output_clamp=3.0).denoise(noisy, sigma, cond_states, cond_actions)
    assert clamped.abs().max() < 3.0
    assert th.allclose(clamped, 3.0 * th.tanh(unclamped / 3.0))


def test_gradient_reaches_cond_states_but_not_detached_target():
    th.manual_seed(0)
    encoder = nn.Linear(8, 16)
    denoiser = EDMDenoiser(RandomInner())
    obs = th.randn(4, 3, 8)  # two conditioning observations and the next one
    latents = encoder(obs)
    cond_states, target_latent = latents[:, :2], latents[:, 2]
    loss, _ = denoiser.loss(target_latent.detach(), cond_states, th.zeros(4, 2, dtype=th.long))
    grad_cond, grad_target = th.autograd.grad(loss, [cond_states, target_latent], allow_unused=True)
    assert grad_target is None
    assert grad_cond is not None and grad_cond.abs().sum() > 0
    # Without the stop-gradient the target would receive gradient: the detach is what cuts it.
    loss_no_sg, _ = denoiser.loss(target_latent, cond_states, th.zeros(4, 2, dtype=th.long))
    (grad_target_no_sg,) = th.autograd.grad(loss_no_sg, [target_latent])
    assert grad_target_no_sg.abs().sum() > 0


@pytest.mark.parametrize("state_shape", STATE_SHAPES)
def test_shapes_and_offset_noise_structure(state_shape):
    th.manual_seed(0)
    batch_size = 2
    denoiser = EDMDenoiser(RandomInner())
    target = th.randn(batch_size, *state_shape)
    cond_states, cond_actions = make_cond(batch_size, state_shape, num_cond=4)
    loss, denoised = denoiser.loss(target, cond_states, cond_actions)
    assert loss.ndim == 0 and th.isfinite(loss) and denoised.shape == target.shape
    sample = DiffusionSampler(denoiser).sample(cond_states, cond_actions)
    assert sample.shape == target.shape and th.isfinite(sample).all()
    # sigma = 0 leaves only the offset noise: one value per (sample, channel), constant over the other dims.
    offset = denoiser.add_noise(target, th.zeros(batch_size)) - target
    flat = offset.reshape(batch_size, state_shape[0], -1)
    assert th.allclose(flat, flat[:, :, :1].expand_as(flat))
    assert flat[:, :, 0].std() > 0


def test_offset_noise_has_configured_std():
    th.manual_seed(0)
    clean = th.zeros(2000, 8, 4, 4)
    offset = EDMDenoiser(RandomInner(), sigma_offset_noise=0.3).add_noise(clean, th.zeros(2000))
    assert abs(offset[:, :, 0, 0].std().item() - 0.3) < 0.01
    noisy = EDMDenoiser(RandomInner(), sigma_offset_noise=0.0).add_noise(clean, th.full((2000,), 2.0))
    assert abs(noisy.std().item() - 2.0) < 0.02


# ---------------------------------------------------------------- sampler


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("s_churn", [0.0, 5.0])
def test_sampler_recovers_fixed_denoised_target_exactly(order, s_churn):
    th.manual_seed(0)
    sigma_data = 0.5
    goal = th.randn(3, 16, 8, 8, dtype=th.float64)
    inner = ExactInner(sigma_data, lambda x, s: goal.expand_as(x))
    denoiser = EDMDenoiser(inner, sigma_data=sigma_data, output_clamp=None)
    cond_states, cond_actions = make_cond(3, (16, 8, 8), dtype=th.float64)
    sample = DiffusionSampler(denoiser, num_steps=4, order=order, s_churn=s_churn).sample(cond_states, cond_actions)
    assert sample.dtype == th.float64
    assert th.allclose(sample, goal, atol=1e-9)


def test_sampler_matches_gaussian_data_distribution():
    """With the exact denoiser of N(mu, s^2 I) data, Heun sampling reproduces the data's mean and std."""
    th.manual_seed(0)
    sigma_data, mu, s = 0.5, th.tensor([0.7, -0.4, 0.0, 1.2], dtype=th.float64), 0.4

    def exact_denoiser(x, sigma):
        return mu + s**2 / (s**2 + sigma**2) * (x - mu)

    inner = ExactInner(sigma_data, exact_denoiser)
    denoiser = EDMDenoiser(inner, sigma_data=sigma_data, sigma_offset_noise=0.0, output_clamp=None)
    sampler = DiffusionSampler(denoiser, num_steps=32, order=2, sigma_max=80.0, initial_noise_std=None)
    cond_states, cond_actions = make_cond(20_000, (4,), num_cond=1, dtype=th.float64)
    samples = sampler.sample(cond_states, cond_actions, generator=th.Generator().manual_seed(0))
    # Standard errors ~0.003 (mean) and ~0.002 (std); starting from N(0, 80^2) instead of N(mu, s^2 + 80^2)
    # biases the mean by mu * s / 80 <= 0.006.
    assert th.allclose(samples.mean(0), mu, atol=0.02)
    assert th.allclose(samples.std(0), th.full((4,), s, dtype=th.float64), atol=0.02)


@pytest.mark.parametrize("initial_noise_std", [1.0, 2.5, None])
def test_sampler_scales_given_noise_by_initial_std(initial_noise_std):
    """One Euler step lands on D(x0; sigma_max) with x0 = noise * initial std (sigma_max when None)."""
    sigma_data, sigma_max, mu, s = 0.5, 5.0, 0.3, 0.2
    inner = ExactInner(sigma_data, lambda x, sigma: mu + s**2 / (s**2 + sigma**2) * (x - mu))
    denoiser = EDMDenoiser(inner, sigma_data=sigma_data, sigma_offset_noise=0.0, output_clamp=None)
    sampler = DiffusionSampler(denoiser, num_steps=1, sigma_max=sigma_max, initial_noise_std=initial_noise_std)
    noise = th.randn(8, 16, generator=th.Generator().manual_seed(0), dtype=th.float64)
    cond_states, cond_actions = make_cond(8, (16,), dtype=th.float64)
    x0 = noise * (sigma_max if initial_noise_std is None else initial_noise_std)
    expected = mu + s**2 / (s**2 + sigma_max**2) * (x0 - mu)
    assert th.allclose(sampler.sample(cond_states, cond_actions, noise=noise), expected, atol=1e-9)


def test_sampler_is_reproducible_with_generator():
    th.manual_seed(0)
    denoiser = EDMDenoiser(RandomInner())
    cond_states, cond_actions = make_cond(3, (16, 8, 8))
    sampler = DiffusionSampler(denoiser, s_churn=1.0, order=2)
    a = sampler.sample(cond_states, cond_actions, generator=th.Generator().manual_seed(7))
    b = sampler.sample(cond_states, cond_actions, generator=th.Generator().manual_seed(7))
    c = sampler.sample(cond_states, cond_actions, generator=th.Generator().manual_seed(8))
    assert th.equal(a, b) and not th.allclose(a, c)


def test_churn_runs_stays_finite_and_respects_its_range():
    th.manual_seed(0)
    denoiser = EDMDenoiser(RandomInner())
    cond_states, cond_actions = make_cond(4, (16, 8, 8))
    noise = th.randn(4, 16, 8, 8)

    def run(**kwargs) -> th.Tensor:
        sampler = DiffusionSampler(denoiser, num_steps=5, order=2, **kwargs)
        return sampler.sample(cond_states, cond_actions, noise=noise, generator=th.Generator().manual_seed(0))

    plain = run()
    churned = run(s_churn=40.0)
    assert th.isfinite(churned).all()
    assert not th.allclose(plain, churned)
    # No noise level falls inside [s_tmin, s_tmax]: churn is off and the result is the deterministic one.
    assert th.equal(run(s_churn=40.0, s_tmin=10.0, s_tmax=20.0), plain)
    # s_noise = 0 raises the labelled noise level without adding noise: a different but deterministic path.
    no_noise = run(s_churn=40.0, s_noise=0.0)
    assert not th.allclose(no_noise, plain) and not th.allclose(no_noise, churned)
    assert th.equal(no_noise, run(s_churn=40.0, s_noise=0.0))


@pytest.mark.parametrize("num_steps", [1, 3, 6])
def test_heun_uses_more_network_evaluations(num_steps):
    th.manual_seed(0)
    cond_states, cond_actions = make_cond(2, (16,))
    calls = {}
    for order in (1, 2):
        inner = RandomInner()
        sampler = DiffusionSampler(EDMDenoiser(inner), num_steps=num_steps, order=order)
        sampler.sample(cond_states, cond_actions)
        calls[order] = inner.calls
        assert sampler.last_num_evaluations == inner.calls
    # EDM Algorithm 2: one evaluation per step, plus a correction on every step that does not end at sigma = 0.
    assert calls[1] == num_steps
    assert calls[2] == 2 * num_steps - 1


def test_sampler_defaults_follow_the_paper_and_output_is_clamped():
    th.manual_seed(0)
    denoiser = EDMDenoiser(ConstantInner(1e6))
    sampler = DiffusionSampler(denoiser)
    assert (sampler.num_steps, sampler.order, sampler.sigma_min, sampler.sigma_max, sampler.rho) == (3, 1, 2e-3, 5.0, 7.0)
    assert sampler.initial_noise_std == 1.0 and sampler.s_churn == 0.0
    assert (denoiser.sigma_data, denoiser.sigma_offset_noise, denoiser.output_clamp) == (0.5, 0.3, 3.0)
    cond_states, cond_actions = make_cond(2, (16, 8, 8))
    # The last Euler step returns the clamped denoised state itself.
    assert sampler.sample(cond_states, cond_actions).abs().max() <= 3.0
    with th.enable_grad():
        cond_states.requires_grad_(True)
        assert not DiffusionSampler(EDMDenoiser(RandomInner())).sample(cond_states, cond_actions).requires_grad


# ---------------------------------------------------------------- validation


def test_bad_arguments_raise_value_error():
    inner = RandomInner()
    denoiser = EDMDenoiser(inner)
    target = th.randn(2, 16)
    cond_states, cond_actions = make_cond(2, (16,))
    bad = [
        (lambda: EDMDenoiser(inner, sigma_data=0.0), "sigma_data"),
        (lambda: EDMDenoiser(inner, sigma_offset_noise=-0.1), "sigma_offset_noise"),
        (lambda: EDMDenoiser(inner, output_clamp=0.0), "output_clamp"),
        (lambda: EDMDenoiser(lambda *a: a), "nn.Module"),
        (lambda: EDMDenoiser(inner, sigma_distribution={"loc": 0.0}), "SigmaDistribution"),
        (lambda: SigmaDistribution(scale=-1.0), "scale"),
        (lambda: SigmaDistribution(sigma_min=0.0), "sigma_min"),
        (lambda: SigmaDistribution(sigma_min=5.0, sigma_max=1.0), "sigma_min < sigma_max"),
        (lambda: SigmaDistribution().sample(-1), "n >= 0"),
        (lambda: build_sigmas(0), "num_steps"),
        (lambda: build_sigmas(2.5), "num_steps"),
        (lambda: build_sigmas(3, sigma_min=1.0, sigma_max=1.0), "sigma_min must be < sigma_max"),
        (lambda: build_sigmas(3, sigma_min=-1.0), "sigma_min must be > 0"),
        (lambda: build_sigmas(3, rho=0.0), "rho"),
        (lambda: DiffusionSampler(denoiser, order=3), "order"),
        (lambda: DiffusionSampler(denoiser, num_steps=0), "num_steps"),
        (lambda: DiffusionSampler(denoiser, s_churn=-1.0), "s_churn"),
        (lambda: DiffusionSampler(denoiser, s_tmin=2.0, s_tmax=1.0), "s_tmin"),
        (lambda: DiffusionSampler(denoiser, s_noise=-1.0), "s_noise"),
        (lambda: DiffusionSampler(denoiser, initial_noise_std=0.0), "initial_noise_std"),
        (lambda: DiffusionSampler(inner), "EDMDenoiser"),
        (lambda: denoiser.loss(target, cond_states[:, :, :8], cond_actions), "cond_states"),
        (lambda: denoiser.loss(target, cond_states[:1], cond_actions), "cond_states"),
        (lambda: denoiser.loss(target, cond_states, cond_actions[:, :1]), "cond_actions"),
        (lambda: denoiser.loss(target, cond_states, cond_actions, sigma=th.ones(3)), "sigma"),
        (lambda: denoiser.loss(target, cond_states, cond_actions, mask=th.ones(2)), "mask"),
        (lambda: denoiser.loss(target, cond_states, cond_actions, mask=th.ones(3, dtype=th.bool)), "mask"),
        (lambda: denoiser.add_noise(th.randn(2), th.ones(2)), "at least one state dim"),
        (lambda: EDMDenoiser(WrongShapeInner()).denoise(target, th.ones(2), cond_states, cond_actions), "inner model"),
        (lambda: DiffusionSampler(denoiser).sample(cond_states, cond_actions, noise=th.randn(2, 8)), "noise"),
        (lambda: DiffusionSampler(denoiser).sample(target, cond_actions), "cond_states"),
    ]
    for fn, match in bad:
        with pytest.raises(ValueError, match=match):
            fn()
