"""
One entry point for every environment the command line and the Hub tools accept: an Atari game name (built with the
Atari100k protocol) or any registered gymnasium id.
"""

from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from sb3_jedi.envs.atari import make_atari100k_env, resolve_atari_game

__all__ = ["atari_game_or_none", "make_env"]


def atari_game_or_none(env_id: str) -> str | None:
    """
    The ALE game name of ``env_id`` if it names an Atari game (``"Pong"``, ``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``),
    else ``None``.

    A registered non-ALE id (``"CartPole-v1"``) is never taken for a game, even when its name resembles one.

    :param env_id: game name or gymnasium id
    """
    if env_id in gym.registry and not env_id.startswith("ALE/") and "NoFrameskip" not in env_id:
        entry = gym.registry[env_id]
        if "ale_py" not in str(entry.entry_point):
            return None
    try:
        return resolve_atari_game(env_id)
    except ValueError:
        return None


def make_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    training: bool = True,
    render_mode: str | None = "rgb_array",
    monitor_dir: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    Build a vectorised env from a name: Atari games follow the Atari100k protocol
    (:func:`~sb3_jedi.envs.make_atari100k_env`, ``training`` selects life-loss termination); other ids go through
    SB3's ``make_vec_env`` with a ``Monitor``.

    :param env_id: Atari game name / ALE id, or a registered gymnasium id
    :param n_envs: number of parallel envs
    :param seed: seed of the envs
    :param training: Atari only: training protocol (life loss ends an episode) or evaluation protocol
    :param render_mode: render mode of non-Atari envs (``"rgb_array"`` lets videos be recorded)
    :param monitor_dir: where ``Monitor`` writes its CSV files (None: not written)
    :param env_kwargs: extra keyword arguments of ``gymnasium.make`` (non-Atari envs)
    :return: the vectorised env
    """
    game = atari_game_or_none(env_id)
    if game is not None:
        if env_kwargs:
            raise ValueError(
                f"env_kwargs={env_kwargs} are not supported for Atari games: the Atari100k protocol fixes the env settings "
                "(see make_atari100k_env for the options it takes)."
            )
        return make_atari100k_env(game, n_envs=n_envs, seed=seed, training=training, monitor_dir=monitor_dir)
    if env_id not in gym.registry:
        raise ValueError(
            f"Unknown environment {env_id!r}: pass an Atari game name (e.g. 'Pong') or a registered gymnasium id "
            "(e.g. 'CartPole-v1'); import the package that registers a custom env first."
        )
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs.setdefault("render_mode", render_mode)
    return make_vec_env(env_id, n_envs=n_envs, seed=seed, monitor_dir=monitor_dir, env_kwargs=kwargs)
