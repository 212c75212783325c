"""JEDI's self-consistency training and imagination: where gradients flow, and where they must not."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.utils import ConstantSchedule

from sb3_jedi.buffers import EpisodeReplayBuffer, SegmentBatch
from sb3_jedi.imagination import ImaginationLoop, imagine, replay_values
from sb3_jedi.policies import CnnPolicy, MlpPolicy

N_ACTIONS = 3


def mlp_policy(**kwargs) -> MlpPolicy:
    th.manual_seed(0)
    return MlpPolicy(spaces.Box(-1, 1, (5,), np.float32), spaces.Discrete(N_ACTIONS), ConstantSchedule(1e-3), **kwargs)


def segment_batch(batch_size: int, length: int, obs_shape=(5,), dtype=th.float32, pad_first: int = 0) -> SegmentBatch:
    g = th.Generator().manual_seed(1)
    if dtype == th.uint8:
        obs = th.randint(0, 256, (batch_size, length, *obs_shape), generator=g, dtype=th.uint8)
    else:
        obs = th.randn(batch_size, length, *obs_shape, generator=g)
    mask = th.ones(batch_size, length, dtype=th.bool)
    mask[:, :pad_first] = False
    obs[~mask] = 0
    ends = th.zeros(batch_size, length)
    ends[0, -2] = 1.0
    return SegmentBatch(
        observations=obs,
        actions=th.randint(0, N_ACTIONS, (batch_size, length), generator=g),
        rewards=th.randn(batch_size, length, generator=g),
        terminated=ends,
        truncated=th.zeros(batch_size, length),
        mask=mask,
        has_action=mask.clone(),
    )


def state_gradients(policy, batch: SegmentBatch) -> th.Tensor:
    world_model = policy.world_model
    # The denoiser's output layer starts at zero (no input gradient at all): move every weight off its initial value.
    with th.no_grad():
        for param in world_model.denoiser.parameters():
            param.add_(0.05 * th.randn_like(param))
    states = world_model.encode(batch.observations).detach().requires_grad_(True)
    loss, _ = world_model.denoising_loss(batch, states)
    (grad,) = th.autograd.grad(loss, states)
    return grad.flatten(2).abs().sum(-1)  # (B, L) gradient mass per frame


def test_encoder_learns_through_conditioning_never_through_the_target():
    policy = mlp_policy(random_switching_prob=0.0)
    grad = state_gradients(policy, segment_batch(6, 5))
    assert (grad[:, :4] > 0).all()  # the 4 conditioning latents
    assert (grad[:, 4] == 0).all()  # the stop-gradient target


def test_random_switching_conditions_on_the_denoised_prediction():
    batch = segment_batch(6, 6)  # 4 conditioning frames, 2 unrolled steps
    # Without switching, frame 4 conditions step 2 (gradient) while being step 1's target.
    assert (state_gradients(mlp_policy(random_switching_prob=0.0), batch)[:, 4] > 0).all()
    # Always switching: step 2 conditions on step 1's (detached) prediction instead, so frame 4 gets no gradient.
    grad = state_gradients(mlp_policy(random_switching_prob=1.0), batch)
    assert (grad[:, 4] == 0).all() and (grad[:, 5] == 0).all()
    assert (grad[:, 1:4] > 0).all()


def test_compute_loss_trains_encoder_and_decoder_never_shapes_it():
    policy = mlp_policy()
    world_model = policy.world_model
    batch = segment_batch(4, 8)
    loss = world_model.compute_loss(segment_batch(4, 5), batch)
    loss.total.backward()
    assert all(p.grad is not None for p in world_model.encoder.parameters())
    assert {"denoising_loss", "reward_loss", "end_loss", "decoder_loss"} <= loss.logs.keys()

    world_model.zero_grad(set_to_none=True)
    states = world_model.encode_segments(batch)
    decoder_loss, _ = world_model.decoder_loss(batch, states)
    decoder_loss.backward()
    assert all(p.grad is None for p in world_model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in world_model.decoder.parameters())

    world_model.zero_grad(set_to_none=True)
    reward_end_loss, _ = world_model.reward_end_loss(batch, world_model.encode_segments(batch))
    reward_end_loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in world_model.encoder.parameters())


def test_padding_frames_are_zero_latents_and_excluded():
    policy = mlp_policy(random_switching_prob=0.0)
    batch = segment_batch(4, 5, pad_first=2)
    states = policy.world_model.encode_segments(batch)
    assert (states[:, :2] == 0).all() and (states[:, 2:].abs().sum(-1) > 0).all()
    # A padded target contributes nothing (mask), without NaNs ...
    all_padding = segment_batch(4, 5, pad_first=5)
    loss, _ = policy.world_model.denoising_loss(all_padding, policy.world_model.encode_segments(all_padding))
    assert th.isfinite(loss) and loss.item() == 0.0
    # ... while an episode's first frame is a target like any other, conditioned on padding (DIAMOND's rule)
    first_frame = segment_batch(4, 5, pad_first=4)
    loss, _ = policy.world_model.denoising_loss(first_frame, policy.world_model.encode_segments(first_frame))
    assert th.isfinite(loss) and loss.item() > 0.0


def test_encoder_learning_rate_is_scaled():
    policy = mlp_policy(encoder_lr_scale=0.3)
    lrs = {g["name"]: g["lr"] for g in policy.world_model_optimizer.param_groups}
    assert lrs["encoder"] == pytest.approx(0.3 * lrs["denoiser"])
    assert lrs["denoiser"] == pytest.approx(1e-3)


def test_imagination_shapes_and_gradients():
    policy = mlp_policy()
    batch = segment_batch(5, 4)
    trajectory = imagine(policy.world_model, policy.actor_critic, batch, horizon=6)
    latent = policy.world_model.state_shape
    assert trajectory.states.shape == (5, 7, *latent)
    assert trajectory.actions.shape == trajectory.rewards.shape == trajectory.ends.shape == (5, 6)
    assert trajectory.values.shape == (5, 6) and trajectory.last_value.shape == (5,)
    # MlpPolicy's symlog two-hot head imagines its expected reward even when sampling: 0 for an untrained head, never
    # a bin from the thin tails (up to symexp(20) ~ 5e8).
    assert trajectory.rewards.abs().max() < 1e-3
    assert trajectory.states.abs().max() <= 3.0  # latents stay inside the soft clamp
    (trajectory.log_probs.sum() + trajectory.values.sum()).backward()
    assert all(p.grad is None for p in policy.world_model.parameters())
    assert any(p.grad is not None for p in policy.actor_critic.parameters())
    # Replaying the imagined states through the same network reproduces its values.
    replayed = replay_values(policy.actor_critic, trajectory)
    th.testing.assert_close(replayed[:, :-1], trajectory.values.detach())
    th.testing.assert_close(replayed[:, -1], trajectory.last_value.detach())


@pytest.mark.parametrize("separate_critic", [True, False])
def test_imagined_values_and_log_probs_are_those_of_stepping_the_actor_critic(separate_critic):
    # The separate critic's values are computed over the finished trajectory in one call: they must be the values the
    # network gives stepping through the same states one at a time, and the actor's log-probs those of its steps.
    policy = mlp_policy(actor_critic_kwargs={"lstm_dim": 16, "hidden_sizes": (16,), "separate_critic": separate_critic})
    assert policy.actor_critic.separate_critic is separate_critic
    with th.no_grad():
        for param in policy.actor_critic.parameters():
            param.add_(0.1 * th.randn_like(param))
    trajectory = imagine(policy.world_model, policy.actor_critic, segment_batch(5, 4), horizon=6)
    hidden, values, log_probs = trajectory.start_hidden, [], []
    with th.no_grad():
        for t in range(trajectory.states.shape[1]):
            logits, value, hidden = policy.actor_critic(trajectory.states[:, t], hidden)
            values.append(value)
            if t < trajectory.actions.shape[1]:
                log_probs.append(th.log_softmax(logits, -1).gather(-1, trajectory.actions[:, t, None])[:, 0])
    th.testing.assert_close(trajectory.values.detach(), th.stack(values[:-1], 1), rtol=1e-4, atol=1e-5)
    th.testing.assert_close(trajectory.last_value.detach(), values[-1], rtol=1e-4, atol=1e-5)
    th.testing.assert_close(trajectory.log_probs.detach(), th.stack(log_probs, 1), rtol=1e-4, atol=1e-5)
    assert trajectory.values.requires_grad and trajectory.values.abs().sum() > 0


def test_cnn_world_model_on_frames_from_a_buffer():
    th.manual_seed(0)
    obs_space = spaces.Box(0, 255, (3, 64, 64), np.uint8)
    policy = CnnPolicy(
        obs_space,
        spaces.Discrete(N_ACTIONS),
        ConstantSchedule(1e-4),
        denoiser_kwargs={"channels": 32, "cond_dim": 32},
        reward_end_kwargs={"lstm_dim": 32, "channels": (16, 16)},
        actor_critic_kwargs={"lstm_dim": 32, "channels": (16, 16)},
    )
    buffer = EpisodeReplayBuffer(200, obs_space, spaces.Discrete(N_ACTIONS), device="cpu")
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (1, 3, 64, 64), dtype=np.uint8)
    for t in range(30):
        next_obs = rng.integers(0, 256, (1, 3, 64, 64), dtype=np.uint8)
        done = np.array([t % 12 == 11])
        buffer.add(obs, np.array([t % N_ACTIONS]), np.array([1.0]), done, np.array([False]), next_obs)
        obs = rng.integers(0, 256, (1, 3, 64, 64), dtype=np.uint8) if done[0] else next_obs
    world_model = policy.world_model
    assert world_model.state_shape == (16, 8, 8)
    loss = world_model.compute_loss(buffer.sample_segments(2, 5), buffer.sample_segments(2, 8))
    assert th.isfinite(loss.total)
    trajectory = imagine(world_model, policy.actor_critic, buffer.sample_segments(2, 4), horizon=2)
    assert trajectory.states.shape == (2, 3, 16, 8, 8)
    assert world_model.decode(trajectory.states).shape == (2, 3, 3, 64, 64)


def _loop_with_scripted_ends(end_at: dict[int, list[int]]):
    """An MlpPolicy world model whose reward/end model ends the listed rows at the listed calls (0-based), never else."""
    policy = mlp_policy()
    with th.no_grad():  # a critic whose values differ from state to state (its head starts at zero)
        for param in policy.actor_critic.parameters():
            param.add_(0.1 * th.randn_like(param))
    world_model = policy.world_model
    original = world_model.predict_reward_end
    calls = []

    def scripted(states, actions, next_states, hidden=None):
        reward_logits, end_logits, hidden = original(states, actions, next_states, hidden)
        if states.shape[1] == 1:  # an imagined step (burn-ins pass several transitions)
            end_logits = th.zeros_like(end_logits)
            end_logits[..., 1] = -1e4
            for row in end_at.get(len(calls), []):
                end_logits[row, :, 1] = 1e4
            calls.append(len(calls))
        return reward_logits, end_logits, hidden

    world_model.predict_reward_end = scripted
    draws = []

    def draw_starts(n: int) -> SegmentBatch:
        draws.append(n)
        return segment_batch(n, 4)

    return policy, ImaginationLoop(world_model, policy.actor_critic, horizon=4), draw_starts, draws


def test_the_imagination_loop_truncates_at_the_horizon_and_carries_episodes_across_windows():
    policy, loop, draw_starts, draws = _loop_with_scripted_ends({})
    first = loop.rollout(draw_starts, batch_size=3, n_steps=3)
    assert draws == [3] and loop.episode_steps.tolist() == [3, 3, 3] and first.restarts == 0
    assert not first.truncations.any() and not first.ends.any()
    # The next window goes on with the same episodes: they reach the horizon (4 steps) at its first step and restart.
    second = loop.rollout(draw_starts, batch_size=3, n_steps=3)
    assert second.truncations[:, 0].tolist() == [1.0, 1.0, 1.0] and not second.truncations[:, 1:].any()
    assert draws == [3, 3] and second.restarts == 3 and loop.episode_steps.tolist() == [2, 2, 2]
    # Where no episode finished, a step is bootstrapped by the value of the next state the actor-critic saw.
    th.testing.assert_close(second.next_values[:, 1], second.values[:, 2].detach())
    (second.log_probs.sum() + second.values.sum()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.actor_critic.parameters())
    assert all(p.grad is None for p in policy.world_model.parameters())


def test_the_imagination_loop_restarts_an_ended_episode_at_once():
    # Row 1 ends at the second imagined step (call 1); the others run on.
    _, loop, draw_starts, draws = _loop_with_scripted_ends({1: [1]})
    steps = loop.rollout(draw_starts, batch_size=3, n_steps=3)
    assert steps.ends[:, 1].tolist() == [0.0, 1.0, 0.0] and not steps.truncations.any()
    assert draws == [3, 1] and steps.restarts == 1
    # The restarted episode has run one step of its own, the others three.
    assert loop.episode_steps.tolist() == [3, 1, 3]
    # Its ended step is bootstrapped from its own last state, not from the new episode's first state.
    assert steps.next_values[1, 1] != steps.values[1, 2].detach()
    th.testing.assert_close(steps.next_values[[0, 2], 1], steps.values[[0, 2], 2].detach())
