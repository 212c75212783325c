"""Small gymnasium envs shared by the tests."""

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class MovingBar(gym.Env):
    """A white column on 16x16 frames, moved left, not at all or right by the action; 15-step episodes, reward for 1."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}
    observation_space = spaces.Box(0, 255, (16, 16, 3), np.uint8)
    action_space = spaces.Discrete(3)

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.t, self.x = 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, int(self.np_random.integers(16))
        return self.render(), {}

    def render(self):
        frame = np.zeros((16, 16, 3), dtype=np.uint8)
        frame[:, self.x] = 255
        return frame

    def step(self, action):
        self.t += 1
        self.x = (self.x + int(action) - 1) % 16
        return self.render(), float(action == 1), self.t >= 15, False, {}


class RandomImages(gym.Env):
    """Uniformly random uint8 images of the given shape, reward 0, episodes that never end."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.observation_space = spaces.Box(0, 255, shape, np.uint8)
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


class FixedLengthEpisodes(gym.Env):
    """
    Observations sampled from ``observation_space``, episodes of exactly ``length`` steps that end terminated (or
    truncated), and a reward from ``reward(np_random, action)`` (0 by default).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        n_actions: int,
        length: int,
        truncate: bool = False,
        reward: Callable[[np.random.Generator, int], float] | None = None,
    ) -> None:
        self.observation_space = observation_space
        self.action_space = spaces.Discrete(n_actions)
        self.length, self.truncate, self.reward = length, truncate, reward
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        reward = 0.0 if self.reward is None else self.reward(self.np_random, action)
        end = self.t >= self.length
        return self.observation_space.sample(), reward, end and not self.truncate, end and self.truncate, {}
