"""
Actions of the initial collection, before the first training epoch.

DIAMOND collects its first steps with its untrained actor, whose zero-initialised head makes it uniformly random: every
action drawn independently. On tasks where only a coordinated sequence of actions reaches the reward (Acrobot's
swing-up, MountainCar's climb), independent random actions almost never get there, and a world model that never saw
the goal cannot imagine it. :class:`RandomLinearPolicies` draws, for each episode, a random linear softmax policy over
standardised observations instead: actions that depend on the state, different in every episode. On Acrobot-v1 such
policies reach the goal in about one episode out of two over the first 1,000 steps, where independent random actions
reach it about once in 10,000 steps.
"""

import numpy as np
from gymnasium import spaces

__all__ = ["INITIAL_EXPLORATIONS", "RandomLinearPolicies"]

#: The initial collections :class:`~sb3_jedi.jedi.JEDI` knows: ``"uniform"`` (DIAMOND: independent uniformly random
#: actions) and ``"random_linear"`` (:class:`RandomLinearPolicies`, vector observations only).
INITIAL_EXPLORATIONS = ("uniform", "random_linear")

# Standardised observations are clipped: a rare extreme value would otherwise fix the action for the whole episode.
_CLIP = 5.0


class RandomLinearPolicies:
    """
    One random linear softmax policy per env and episode: ``logits = W z`` with ``W`` drawn from a standard normal at
    every episode start and ``z`` the observation standardised by the running mean and std of all observations seen so
    far (clipped to +-5), so that the policy reacts to every observation dimension whatever its units.

    :param observation_space: a ``Box`` of vector observations ``(D,)``
    :param action_space: a ``Discrete`` action space
    :param n_envs: number of parallel envs (each has its own policy)
    :param rng: the generator drawing the policies and the actions
    """

    def __init__(
        self, observation_space: spaces.Space, action_space: spaces.Space, n_envs: int, rng: np.random.Generator
    ) -> None:
        if not (
            isinstance(observation_space, spaces.Box)
            and len(observation_space.shape) == 1
            and isinstance(action_space, spaces.Discrete)
        ):
            raise ValueError(
                "initial_exploration='random_linear' needs vector (Box) observations and a Discrete action space, got "
                f"{observation_space} and {action_space}: use initial_exploration='uniform'."
            )
        self.obs_dim = int(np.prod(observation_space.shape))
        self.n_actions = int(action_space.n)
        self.n_envs = n_envs
        self.rng = rng
        self._count = 0
        self._mean = np.zeros(self.obs_dim)
        self._m2 = np.zeros(self.obs_dim)
        self.weights = self._draw(n_envs)

    def _draw(self, n: int) -> np.ndarray:
        return self.rng.standard_normal((n, self.n_actions, self.obs_dim))

    def _observe(self, obs: np.ndarray) -> None:
        # Welford's running mean and variance over every observation seen, one row at a time.
        for row in obs:
            self._count += 1
            delta = row - self._mean
            self._mean += delta / self._count
            self._m2 += delta * (row - self._mean)

    def standardise(self, obs: np.ndarray) -> np.ndarray:
        """Observations ``(n_envs, obs_dim)`` in units of the running std (0 where a dimension has not varied yet)."""
        std = np.sqrt(self._m2 / self._count) if self._count > 1 else np.zeros(self.obs_dim)
        z = np.divide(obs - self._mean, std, out=np.zeros_like(obs), where=std > 1e-8)
        return np.clip(z, -_CLIP, _CLIP)

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """
        Sample one action per env from its current policy, after adding the observations to the running statistics.

        :param obs: observations ``(n_envs, *obs_shape)``
        :return: actions ``(n_envs,)``
        """
        flat = np.asarray(obs, dtype=np.float64).reshape(self.n_envs, self.obs_dim)
        self._observe(flat)
        logits = np.einsum("nad,nd->na", self.weights, self.standardise(flat))
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return np.array([self.rng.choice(self.n_actions, p=p) for p in probs])

    def new_episodes(self, dones: np.ndarray) -> None:
        """Draw a new policy for each env whose episode ended."""
        ended = np.flatnonzero(np.asarray(dones, dtype=bool))
        if ended.size:
            self.weights[ended] = self._draw(ended.size)
