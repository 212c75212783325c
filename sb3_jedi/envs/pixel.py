"""
Pixel versions of gymnasium envs that render themselves (classic control: CartPole, Acrobot, MountainCar, ...), for
``CnnPolicy``.

The observation is the env's own ``render_mode="rgb_array"`` frame, resized to ``size x size`` RGB uint8 with area
interpolation (gymnasium's ``AddRenderObservation`` and ``ResizeObservation``); the env's state vector is dropped, so
velocities must be read from the frame history, as JEDI does from its 4 conditioning frames. The frames are drawn on
off-screen surfaces: no display is needed.

Wrapper stack of one env, innermost first::

    gymnasium.make(env_id, render_mode="rgb_array") -> AddRenderObservation(render_only=True)
    -> ResizeObservation((size, size)) -> Monitor
"""

import os
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AddRenderObservation, ResizeObservation
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

__all__ = ["make_pixel_env"]


def _check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 16 or size % 8 != 0:
        raise ValueError(
            f"`size` must be an integer multiple of 8, at least 16 (CnnPolicy's encoder downsamples frames by 8), got "
            f"{size!r}. 64 is the size of the Atari100k protocol."
        )
    return int(size)


def _no_frames_message(env_id: str, render_modes: Any) -> str:
    return (
        f"{env_id} cannot render frames: make_pixel_env needs an env that supports render_mode='rgb_array' (its render "
        f"modes are {list(render_modes)}). Classic-control envs such as 'CartPole-v1', 'Acrobot-v1' or 'MountainCar-v0' do."
    )


def _make_pixel_single_env(env_id: str, size: int, env_kwargs: dict[str, Any]) -> gym.Env:
    """One pixel env, without ``Monitor`` (``make_vec_env`` adds it)."""
    # The classic-control envs call pygame.init(), which also opens the audio device: on a machine without a sound card
    # that prints a screen of ALSA errors. They never play sound.
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        with warnings.catch_warnings():
            # gymnasium only warns about an unsupported render mode; the check below raises instead.
            warnings.filterwarnings("ignore", message=".*not in the possible render_modes")
            env = gym.make(env_id, render_mode="rgb_array", **env_kwargs)
    except TypeError as error:
        if "render_mode" not in str(error):
            raise
        raise ValueError(_no_frames_message(env_id, [])) from error
    render_modes = env.metadata.get("render_modes", [])
    if "rgb_array" not in render_modes:
        env.close()
        raise ValueError(_no_frames_message(env_id, render_modes))
    env = AddRenderObservation(env, render_only=True)
    frame_shape = env.observation_space.shape
    if frame_shape is None or len(frame_shape) != 3 or frame_shape[-1] != 3:
        env.close()
        raise ValueError(f"{env_id} renders frames of shape {frame_shape}; make_pixel_env needs RGB frames (H, W, 3).")
    return ResizeObservation(env, (size, size))


def make_pixel_env(
    env_id: str,
    size: int = 64,
    n_envs: int = 1,
    seed: int | None = None,
    monitor_dir: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: Callable[..., VecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    Vectorised env whose observations are the env's rendered frames, resized to ``size x size`` RGB uint8
    (see the module docstring): ``make_pixel_env("CartPole-v1")`` is CartPole from pixels, for ``CnnPolicy``.

    The frames replace the env's own observation, so speeds are only visible across frames. Episodes end as the env
    ends them (CartPole-v1: at most 500 steps). ``Monitor`` sits on each sub-env, so ``info["episode"]`` reports the
    returns. No display is needed (the frames are drawn off-screen); the classic-control envs need pygame
    (``pip install "gymnasium[classic-control]"``).

    :param env_id: a registered gymnasium id whose env supports ``render_mode="rgb_array"`` (e.g. ``"CartPole-v1"``,
        ``"Acrobot-v1"``, ``"MountainCar-v0"``); Atari games have their own protocol,
        :func:`~sb3_jedi.envs.make_atari100k_env`
    :param size: side of the square frames, a multiple of 8 and at least 16 (``CnnPolicy``'s encoder downsamples 8x)
    :param n_envs: number of sub-envs
    :param seed: sub-env ``i`` (and its action space) is seeded with ``seed + i``; the same seed gives the same frames;
        None for random seeds
    :param monitor_dir: folder of the ``Monitor`` CSV logs (one file per sub-env); None to log nothing to disk
    :param env_kwargs: extra keyword arguments of ``gymnasium.make`` (e.g. ``{"max_episode_steps": 200}``)
    :param vec_env_cls: VecEnv class, ``DummyVecEnv`` by default
    :param vec_env_kwargs: keyword arguments of ``vec_env_cls``
    :return: the VecEnv: observations ``(n_envs, size, size, 3)`` uint8, the env's action space
    """
    from sb3_jedi.envs.factory import atari_game_or_none  # factory imports this module

    size = _check_size(size)
    if isinstance(n_envs, bool) or not isinstance(n_envs, int | np.integer) or n_envs < 1:
        raise ValueError(f"`n_envs` must be an integer >= 1, got {n_envs!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise ValueError(f"`seed` must be an integer >= 0 or None, got {seed!r}.")
    if not isinstance(env_id, str) or env_id not in gym.registry:
        hint = ""
        if isinstance(env_id, str) and atari_game_or_none(env_id) is not None:
            hint = " Atari games have their own pixel protocol: use sb3_jedi.envs.make_atari100k_env."
        raise ValueError(
            f"Unknown environment {env_id!r}: pass a registered gymnasium id that renders frames (e.g. 'CartPole-v1').{hint}"
        )
    if atari_game_or_none(env_id) is not None:
        raise ValueError(
            f"{env_id} is an Atari game: use sb3_jedi.envs.make_atari100k_env, which builds it with the Atari100k "
            "protocol (frame skip, max-pooling, no-op resets) that CnnPolicy's defaults are made for."
        )
    env_kwargs = dict(env_kwargs or {})
    if env_kwargs.pop("render_mode", "rgb_array") != "rgb_array":
        raise ValueError("make_pixel_env renders the frames itself with render_mode='rgb_array': leave render_mode out.")
    return make_vec_env(
        _make_pixel_single_env,
        n_envs=n_envs,
        seed=None if seed is None else int(seed),
        monitor_dir=monitor_dir,
        env_kwargs={"env_id": env_id, "size": size, "env_kwargs": env_kwargs},
        # make_vec_env calls vec_env_cls(env_fns, **vec_env_kwargs): any such factory works, not only the two classes
        # its signature names.
        vec_env_cls=vec_env_cls,  # type: ignore[arg-type]
        vec_env_kwargs=vec_env_kwargs,
    )
