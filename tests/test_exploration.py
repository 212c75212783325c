"""The initial collection's actions: DIAMOND's uniform random actions, or per-episode random linear policies."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from tiny_settings import TINY
from toy_envs import FixedLengthEpisodes, RandomImages

from sb3_jedi import JEDI
from sb3_jedi.exploration import RandomLinearPolicies


def _goals_in_initial_collection(mode: str, seed: int, steps: int = 3_000) -> int:
    model = JEDI("MlpPolicy", "Acrobot-v1", seed=seed, initial_exploration=mode, learning_starts=steps, wm_log_interval=None)
    model.learn(steps)  # the initial collection only: training would start after `steps`
    buffer = model.replay_buffer
    assert model._world_model_updates == 0
    return int(buffer.terminated[: buffer.size()].sum())


def test_random_linear_policies_reach_acrobots_goal_far_more_often_than_uniform_actions():
    # Acrobot's swing-up needs actions that follow the pendulum's motion: independent random actions reach the goal
    # about once in 10,000 steps, a random state-dependent policy in about one episode of two.
    uniform = sum(_goals_in_initial_collection("uniform", seed) for seed in range(3))
    random_linear = sum(_goals_in_initial_collection("random_linear", seed) for seed in range(3))
    assert uniform <= 2
    assert random_linear >= 6


def test_each_episode_gets_a_new_policy_and_others_keep_theirs():
    rng = np.random.default_rng(0)
    explorer = RandomLinearPolicies(spaces.Box(-1, 1, (3,)), spaces.Discrete(4), n_envs=2, rng=rng)
    before = explorer.weights.copy()
    explorer.new_episodes(np.array([True, False]))
    assert not np.allclose(explorer.weights[0], before[0])
    np.testing.assert_array_equal(explorer.weights[1], before[1])


def test_actions_depend_on_the_state_in_any_units():
    # One dimension in thousands, one in thousandths: standardised, both move the action probabilities.
    rng = np.random.default_rng(1)
    explorer = RandomLinearPolicies(spaces.Box(-np.inf, np.inf, (2,)), spaces.Discrete(2), n_envs=1, rng=rng)
    for _ in range(200):
        explorer.actions(np.array([[rng.normal(0, 1000), rng.normal(0, 0.001)]]))
    z = explorer.standardise(np.array([[1000.0, 0.001]]))
    np.testing.assert_allclose(np.abs(z), 1.0, atol=0.25)
    assert np.all(np.abs(explorer.standardise(np.array([[1e9, -1e9]]))) <= 5.0)  # extreme values are clipped
    actions = [explorer.actions(np.array([[2000.0, 0.002]]))[0] for _ in range(200)]
    flipped = [explorer.actions(np.array([[-2000.0, -0.002]]))[0] for _ in range(200)]
    assert abs(np.mean(actions) - np.mean(flipped)) > 0.2  # opposite states, different action distributions


def test_cnn_policy_collects_uniformly_as_diamond_and_mlp_policy_with_random_linear_policies():
    assert JEDI("CnnPolicy", RandomImages((64, 64, 3)), _init_setup_model=False).initial_exploration == "uniform"
    mlp = JEDI("MlpPolicy", "CartPole-v1", _init_setup_model=False)
    assert mlp.initial_exploration == "random_linear" and mlp.exploration_episodes == 0.25


@pytest.mark.parametrize("mode", ["gaussian", "Uniform"])
def test_unknown_modes_are_refused(mode):
    with pytest.raises(ValueError, match="initial_exploration"):
        JEDI("MlpPolicy", "CartPole-v1", initial_exploration=mode)


def test_random_linear_refuses_images_with_the_fix():
    with pytest.raises(ValueError, match="initial_exploration='uniform'"):
        JEDI("CnnPolicy", RandomImages((64, 64, 3)), initial_exploration="random_linear", **TINY)


def test_random_linear_learns_end_to_end_and_saves():
    model = JEDI("MlpPolicy", gym.make("CartPole-v1"), seed=0, initial_exploration="random_linear", **TINY)
    model.learn(150)
    assert model.initial_exploration == "random_linear"
    assert model._initial_explorer is not None


def _explored_steps_after_the_initial_collection(fraction: float, initial: str = "random_linear") -> tuple[int, int]:
    model = JEDI(
        "MlpPolicy",
        FixedLengthEpisodes(spaces.Box(-1.0, 1.0, (3,), np.float32), n_actions=2, length=10, truncate=True),
        seed=0,
        initial_exploration=initial,
        exploration_episodes=fraction,
        **TINY,
    )
    explored = []
    original = model._exploration_actions

    def spy(n_envs):
        if model.num_timesteps >= model.learning_starts:
            explored.append(model.num_timesteps)
        return original(n_envs)

    model._exploration_actions = spy
    model.learn(1_100)
    return len(explored), 1_100 - model.learning_starts


def test_no_exploration_episodes_by_default_as_diamond():
    assert JEDI("CnnPolicy", RandomImages((64, 64, 3)), _init_setup_model=False).exploration_episodes == 0.0
    assert _explored_steps_after_the_initial_collection(0.0)[0] == 0


@pytest.mark.parametrize("initial", ["random_linear", "uniform"])
def test_exploration_episodes_take_their_share_of_whole_episodes(initial):
    everything, steps = _explored_steps_after_the_initial_collection(1.0, initial)
    assert everything == steps  # the initial collection ends on an episode boundary here
    half, _ = _explored_steps_after_the_initial_collection(0.5, initial)
    assert half % 10 == 0  # whole episodes of 10 steps
    assert 0.35 * steps <= half <= 0.65 * steps  # 100 episodes, each explored with probability 0.5


def test_exploration_episodes_out_of_range_are_refused():
    with pytest.raises(ValueError, match="exploration_episodes"):
        JEDI("MlpPolicy", "CartPole-v1", exploration_episodes=1.5)
