"""Compatibility claims of docs/can-i-use.md that other test files do not cover."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_jedi import JEDI

TINY = {
    "learning_starts": 60,
    "train_freq": 20,
    "gradient_steps": 1,
    "actor_critic_gradient_steps": 1,
    "first_epoch_gradient_steps": 1,
    "first_epoch_actor_critic_gradient_steps": 1,
    "batch_size": 4,
    "imagination_horizon": 3,
}


class CounterEnv(gym.Env):
    """Observations (t, 1000 + t): raw values that VecNormalize would squash to a few units."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return np.array([self.t, 1000 + self.t], dtype=np.float32)

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, False, self.t >= 20, {}


def test_vec_normalize_buffer_stores_raw_observations_and_rewards():
    env = VecNormalize(DummyVecEnv([CounterEnv]), norm_obs=True, norm_reward=True)
    model = JEDI("MlpPolicy", env, seed=0, **TINY).learn(120)
    buffer = model.replay_buffer
    stored = buffer.observations[: buffer.size()]
    # Raw counters, not normalised values: integers, the second coordinate 1000 + the first.
    np.testing.assert_array_equal(stored, np.round(stored))
    np.testing.assert_array_equal(stored[:, 1], stored[:, 0] + 1000)
    assert stored[:, 0].max() == 20
    rewards = buffer.rewards[: buffer.size()][buffer.has_action[: buffer.size()]]
    np.testing.assert_array_equal(rewards, 1.0)  # the original reward, not the normalised one


def test_vec_normalize_the_agent_acts_on_the_raw_observations_it_learns_from():
    env = VecNormalize(DummyVecEnv([CounterEnv]), norm_obs=True, norm_reward=True)
    model = JEDI("MlpPolicy", env, seed=0, **TINY)
    seen = []
    act = model.policy.act

    def recording_act(obs, hidden, deterministic=False):
        seen.append(obs.cpu().numpy().copy())
        return act(obs, hidden, deterministic)

    model.policy.act = recording_act
    model.learn(120)
    acted_on = np.concatenate(seen)
    # While collecting, the actor gets the raw counters (t, 1000 + t), never VecNormalize's squashed values.
    assert len(acted_on) > 0
    np.testing.assert_array_equal(acted_on[:, 1], acted_on[:, 0] + 1000)
    # predict is given what the VecNormalize env returns (SB3's convention) and maps it back to the raw observation.
    raw = np.array([[7.0, 1007.0]], dtype=np.float32)
    normalised = env.normalize_obs(raw)
    assert np.abs(normalised).max() < 50  # really normalised: far from the raw 1007
    seen.clear()
    model.predict(normalised, deterministic=True)
    np.testing.assert_allclose(seen[-1], raw, rtol=1e-4)


def test_the_package_ships_its_type_hints():
    # PEP 561: type checkers read sb3_jedi's hints in users' code only when the package carries py.typed.
    from importlib.resources import files

    assert files("sb3_jedi").joinpath("py.typed").is_file()
