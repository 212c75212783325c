"""Both world models: shapes and value ranges of samples, training on a fixed batch, and DIAMOND's pixel specifics."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.utils import ConstantSchedule

from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.diamond import DIAMONDPolicy
from sb3_jedi.imagination import imagine
from sb3_jedi.policies import CnnPolicy
from sb3_jedi.world_model import LatentUNet, PixelWorldModel, RewardEndModel, quantize_pixels
from sb3_jedi.world_model.denoiser import EDMDenoiser
from sb3_jedi.world_model.world_model import preprocess_observations

N_ACTIONS = 3
FRAME = (3, 16, 16)  # channel-first 16x16 RGB: the smallest frames CnnPolicy accepts, fast
SPACE = spaces.Box(0, 255, FRAME, np.uint8)

TINY_PIXEL = {
    "denoiser_kwargs": {"channels": (16, 16), "depths": (1, 1), "mid_depth": 1, "cond_dim": 32},
    "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
    "actor_critic_kwargs": {"channels": (8, 8), "lstm_dim": 16},
}
TINY_LATENT = {
    "encoder_kwargs": {"channels": (8, 8, 8, 4)},
    "denoiser_kwargs": {"channels": 32, "depth": 1, "cond_dim": 32},
    "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
    "actor_critic_kwargs": {"channels": (8,), "lstm_dim": 16},
    "use_decoder": False,
}


def make_policy(kind: str, lr: float = 1e-3):
    th.manual_seed(0)
    if kind == "pixel":
        return DIAMONDPolicy(SPACE, spaces.Discrete(N_ACTIONS), ConstantSchedule(lr), **TINY_PIXEL)
    return CnnPolicy(SPACE, spaces.Discrete(N_ACTIONS), ConstantSchedule(lr), **TINY_LATENT)


def frame_batch(batch_size: int, length: int, static: bool = False, seed: int = 1) -> SegmentBatch:
    """Segments of random uint8 frames; ``static``: every frame of a segment is the same (the next frame is predictable)."""
    g = th.Generator().manual_seed(seed)
    if static:
        frames = th.randint(0, 256, (batch_size, 1, *FRAME), generator=g, dtype=th.uint8).expand(-1, length, -1, -1, -1)
        frames = frames.contiguous()
    else:
        frames = th.randint(0, 256, (batch_size, length, *FRAME), generator=g, dtype=th.uint8)
    terminated = th.zeros(batch_size, length)
    terminated[0, -2] = 1.0
    mask = th.ones(batch_size, length, dtype=th.bool)
    return SegmentBatch(
        observations=frames,
        actions=th.randint(0, N_ACTIONS, (batch_size, length), generator=g),
        rewards=th.randint(-1, 2, (batch_size, length), generator=g).float(),
        terminated=terminated,
        truncated=th.zeros(batch_size, length),
        mask=mask,
        has_action=mask.clone(),
    )


def on_256_grid(frames: th.Tensor) -> bool:
    levels = (frames + 1) * 127.5
    return bool(th.allclose(levels, levels.round(), atol=1e-3))


def blow_up_denoiser(world_model) -> None:
    """Large random weights (and a non-zero output layer), so that raw denoiser outputs overshoot any bound."""
    with th.no_grad():
        for param in world_model.denoiser.parameters():
            param.add_(3.0 * th.randn_like(param))


# Quantisation ---------------------------------------------------------------------------------------------------


def test_quantize_pixels_is_the_uint8_grid_of_real_frames():
    every_level = th.arange(256, dtype=th.uint8)
    real = preprocess_observations(every_level, SPACE)
    assert th.equal(quantize_pixels(real), real)  # bit-identical: imagined frames are exactly real-frame values
    # Rounds to the nearest level, clamps outside [-1, 1].
    step = 2 / 255
    values = th.tensor([-3.0, -1.0, -1.0 + 0.4 * step, -1.0 + 0.6 * step, 0.0, 1.0 - 0.4 * step, 7.0])
    expected = th.tensor([-1.0, -1.0, -1.0, -1.0 + step, 1 / 255, 1.0, 1.0])
    th.testing.assert_close(quantize_pixels(values), expected)
    assert on_256_grid(quantize_pixels(th.randn(1000)))
    four = quantize_pixels(th.linspace(-1, 1, 101), n_levels=4)
    th.testing.assert_close(four.unique(), th.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))
    with pytest.raises(ValueError, match="at least 2 levels"):
        quantize_pixels(th.zeros(2), n_levels=1)
    # DIAMOND's wrap_model_output casts to uint8: the level below.
    floored = quantize_pixels(values, rounding="floor")
    th.testing.assert_close(floored, th.tensor([-1.0, -1.0, -1.0, -1.0, -1 / 255, 1.0 - step, 1.0]))
    for frames in (th.randn(1000), real):
        diamond = frames.clamp(-1, 1).add(1).div(2).mul(255).byte().div(255).mul(2).sub(1)
        assert th.equal(quantize_pixels(frames, rounding="floor"), diamond)
    with pytest.raises(ValueError, match="rounding"):
        quantize_pixels(values, rounding="up")


def test_the_pixel_sampler_quantises_every_denoised_estimate_as_diamond():
    world_model = make_policy("pixel").world_model
    blow_up_denoiser(world_model)
    estimates = []
    original = world_model.denoiser.denoise

    def recording_denoise(*args):
        estimates.append(original(*args))
        return estimates[-1]

    world_model.denoiser.denoise = recording_denoise
    frames = world_model.encode(frame_batch(2, 4).observations)
    sampled = world_model.sample_next_state(frames, th.zeros(2, 4, dtype=th.long))
    assert len(estimates) == world_model.sampler.num_steps == 3
    # The last Euler step (to sigma 0) returns the last estimate, quantised to the level below.
    th.testing.assert_close(sampled, quantize_pixels(estimates[-1], rounding="floor"), rtol=0, atol=1e-6)
    assert on_256_grid(sampled)
    transform = world_model.sampler.denoised_transform
    th.testing.assert_close(transform(estimates[0]), quantize_pixels(estimates[0], rounding="floor"))


# Shapes and ranges of both world models ---------------------------------------------------------------------------


def test_pixel_states_are_the_frames_and_nothing_is_learned_to_encode_them():
    world_model = make_policy("pixel").world_model
    assert isinstance(world_model, PixelWorldModel)
    assert world_model.state_shape == FRAME
    batch = frame_batch(2, 5)
    states = world_model.encode(batch.observations)
    assert states.shape == (2, 5, *FRAME)
    th.testing.assert_close(states, batch.observations.float() / 127.5 - 1.0)
    assert set(world_model.parameter_groups()) == {"denoiser", "reward_end"}
    assert th.equal(world_model.decode(states), states)
    with pytest.raises(ValueError, match="channel first"):
        world_model.encode(batch.observations.permute(0, 1, 3, 4, 2))


@pytest.mark.parametrize("kind", ["pixel", "latent"])
def test_sampled_next_states_have_the_state_shape_and_stay_in_range(kind):
    policy = make_policy(kind)
    world_model = policy.world_model
    blow_up_denoiser(world_model)
    batch = frame_batch(4, 4)
    states = world_model.encode_segments(batch)
    th.manual_seed(2)
    sample = world_model.sample_next_state(states, batch.actions)
    assert sample.shape == (4, *world_model.state_shape)
    assert th.isfinite(sample).all()
    if kind == "pixel":
        # Clamped to [-1, 1] and quantised to 256 levels (DIAMOND); the blown-up model pushes many to the bounds.
        assert sample.min() >= -1.0 and sample.max() <= 1.0
        assert on_256_grid(sample)
        assert (sample.abs() == 1.0).float().mean() > 0.1
    else:
        # JEDI's soft clamp tanh(z / 3) * 3 on the denoised latent; without it the outputs would overshoot.
        bound = world_model.denoiser.output_clamp
        assert bound == 3.0 and world_model.state_shape == (4, 2, 2)
        assert 0.8 * bound < sample.abs().max() <= bound + 1e-5  # (tanh saturates to the bound in float32)
        assert not on_256_grid(sample)


@pytest.mark.parametrize("kind", ["pixel", "latent"])
def test_reward_end_predictions_have_the_right_shapes(kind):
    world_model = make_policy(kind).world_model
    batch = frame_batch(3, 6)
    states = world_model.encode_segments(batch)
    reward_logits, end_logits, (h, c) = world_model.predict_reward_end(states[:, :-1], batch.actions[:, :-1], states[:, 1:])
    assert reward_logits.shape == (3, 5, 3) and end_logits.shape == (3, 5, 2)
    assert h.shape == c.shape == (1, 3, world_model.reward_end_model.lstm_dim)


@pytest.mark.parametrize("kind", ["pixel", "latent"])
def test_a_few_training_steps_lower_the_loss_on_a_fixed_batch(kind):
    policy = make_policy(kind, lr=3e-3)
    world_model, optimizer = policy.world_model, policy.world_model_optimizer
    denoiser_batch, reward_end_batch = frame_batch(8, 5, static=True), frame_batch(8, 8, static=True, seed=3)

    def fixed_draw_loss() -> tuple[float, float]:
        th.manual_seed(123)  # the same noise levels and noise before and after training
        with th.no_grad():
            loss = world_model.compute_loss(denoiser_batch, reward_end_batch)
        return loss.logs["denoising_loss"], loss.total.item()

    denoising_before, total_before = fixed_draw_loss()
    for _ in range(15):
        loss = world_model.compute_loss(denoiser_batch, reward_end_batch)
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()
    denoising_after, total_after = fixed_draw_loss()
    assert denoising_after < 0.8 * denoising_before
    assert total_after < total_before


# DIAMOND's pixel specifics --------------------------------------------------------------------------------------


def test_unrolled_steps_condition_on_the_quantised_prediction():
    world_model = make_policy("pixel").world_model
    blow_up_denoiser(world_model)
    calls = []
    original = world_model.denoiser.loss

    def recording_loss(target, cond_states, cond_actions, **kwargs):
        loss, denoised = original(target, cond_states, cond_actions, **kwargs)
        calls.append((cond_states.clone(), denoised.detach().clone()))
        return loss, denoised

    world_model.denoiser.loss = recording_loss
    batch = frame_batch(2, 6)  # 4 conditioning frames, 2 unrolled steps
    frames = world_model.encode(batch.observations)
    world_model.denoising_loss(batch, frames)
    assert len(calls) == 2
    (first_cond, first_denoised), (second_cond, _) = calls
    th.testing.assert_close(first_cond, frames[:, :4])
    th.testing.assert_close(second_cond[:, :3], frames[:, 1:4])
    # The second step sees the first step's prediction, quantised, not the real frame 4.
    th.testing.assert_close(second_cond[:, 3], quantize_pixels(first_denoised, rounding="floor"))
    assert not th.allclose(second_cond[:, 3], frames[:, 4])


def test_padded_targets_are_left_out_and_padded_conditioning_is_kept():
    world_model = make_policy("pixel").world_model
    batch = frame_batch(2, 5)
    padded_target = batch._replace(mask=th.zeros_like(batch.mask))
    loss, _ = world_model.denoising_loss(padded_target, world_model.encode_segments(padded_target))
    assert loss.item() == 0.0
    # DIAMOND learns the first frames of episodes: a real target after padding frames counts.
    first_frames = batch._replace(mask=th.tensor([[False, False, False, True, True]] * 2))
    loss, _ = world_model.denoising_loss(first_frames, world_model.encode_segments(first_frames))
    assert loss.item() > 0.0


def test_pixel_world_model_rejects_what_it_cannot_diffuse():
    inner = LatentUNet(3, 4, n_actions=N_ACTIONS, channels=(8,), depth=1, cond_dim=8)
    reward_end = RewardEndModel(FRAME, N_ACTIONS, lstm_dim=8, channels=(8, 8), hidden_dim=8, cond_dim=8, depth=1)
    with pytest.raises(ValueError, match="output_clamp=None"):
        PixelWorldModel(SPACE, N_ACTIONS, EDMDenoiser(inner), reward_end)
    vector_space = spaces.Box(-1.0, 1.0, (12,), np.float32)
    with pytest.raises(ValueError, match="uint8 image space"):
        PixelWorldModel(vector_space, N_ACTIONS, EDMDenoiser(inner, output_clamp=None), reward_end)


def test_imagination_runs_unchanged_on_the_pixel_world_model():
    policy = make_policy("pixel")
    batch = frame_batch(3, 4)
    trajectory = imagine(policy.world_model, policy.actor_critic, batch, horizon=2)
    assert trajectory.states.shape == (3, 3, *FRAME)
    imagined = trajectory.states[:, 1:]
    assert imagined.min() >= -1.0 and imagined.max() <= 1.0 and on_256_grid(imagined)
    assert trajectory.rewards.shape == trajectory.ends.shape == (3, 2)
    (trajectory.values.sum() + trajectory.log_probs.sum()).backward()
    assert any(p.grad is not None for p in policy.actor_critic.parameters())
    assert all(p.grad is None for p in policy.world_model.parameters())


def test_default_denoisers_have_diamond_unet_topology():
    # Parameters of DIAMOND's InnerModel built from its repository (github.com/eloialonso/diamond, default agent config,
    # 3-channel frames, 4 conditioning frames, channels [64]*4, depths [2]*4, cond 256), counted with sum(p.numel()):
    # 4,406,851 for 18 actions, 1,152 of them in the action embedding, which is built differently here (left out).
    # The same InnerModel with 16 channels, channels [160], depths [2] (JEDI's latent U-Net): 5,949,392.
    diamond_pixel, diamond_latent = 4_406_851 - 1_152, 5_949_392 - 1_152
    frames = spaces.Box(0, 255, (3, 64, 64), np.uint8)
    for policy_class, expected in [(DIAMONDPolicy, diamond_pixel), (CnnPolicy, diamond_latent)]:
        inner = policy_class(frames, spaces.Discrete(N_ACTIONS), ConstantSchedule(1e-4)).world_model.denoiser.inner_model
        assert isinstance(inner, LatentUNet)
        count = sum(p.numel() for p in inner.parameters()) - inner.cond.action_emb.weight.numel()
        assert count == expected, policy_class.__name__
        assert len(inner.mid_blocks) == 2 and all(not isinstance(block.attn, th.nn.Identity) for block in inner.mid_blocks)
