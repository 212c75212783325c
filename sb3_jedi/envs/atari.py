"""Atari100k environment protocol, as DIAMOND (Alonso et al., NeurIPS 2024) runs it and JEDI inherits it.

One agent step of the wrapped env is ``frame_skip`` (4) emulator frames of the same action, rewards summed. The
observation is the maximum over the step's last two raw frames (against sprite flicker), resized to
``frame_size x frame_size`` (64x64) RGB with area interpolation, channels last (SB3 transposes it for CNNs itself).
Each reset plays a random number of no-op frames (at most ``noop_max``, 30). Sticky actions are off
(``repeat_action_probability=0``) and the minimal action set is used. A game lasts at most 108,000 frames
(30 minutes of play), after which it is truncated.

While training, losing a life ends the agent's episode (``terminated=True``) but the game goes on from where it was on
the next ``reset()``; only game over (or the frame cap) really resets the emulator. SB3's ``Monitor`` sits below that
wrapper, so ``info["episode"]`` always reports the whole game's score and length (in agent steps).

Wrapper stack of one env, innermost first::

    AtariEnv (ALE, frameskip=1, no sticky actions, frame cap) -> Atari100kPreprocessing -> Monitor
    -> TerminateOnLifeLoss (training only)
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, SupportsFloat, cast

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

if TYPE_CHECKING:
    from ale_py.env import AtariEnv

__all__ = [
    "ATARI100K_GAMES",
    "Atari100kPreprocessing",
    "TerminateOnLifeLoss",
    "make_atari100k_env",
    "make_atari100k_single_env",
    "resolve_atari_game",
]

#: The 26 games of the Atari100k benchmark (Kaiser et al., 2020), named as ALE names them (``ALE/<name>-v5``).
ATARI100K_GAMES: tuple[str, ...] = (
    "Alien",
    "Amidar",
    "Assault",
    "Asterix",
    "BankHeist",
    "BattleZone",
    "Boxing",
    "Breakout",
    "ChopperCommand",
    "CrazyClimber",
    "DemonAttack",
    "Freeway",
    "Frostbite",
    "Gopher",
    "Hero",
    "Jamesbond",
    "Kangaroo",
    "Krull",
    "KungFuMaster",
    "MsPacman",
    "Pong",
    "PrivateEye",
    "Qbert",
    "RoadRunner",
    "Seaquest",
    "UpNDown",
)


def _name_key(name: str) -> str:
    """Case-, underscore- and hyphen-insensitive key of a game name ("MsPacman", "ms_pacman" -> "mspacman")."""
    return re.sub(r"[\s_\-]", "", name).lower()


def _ale_games() -> dict[str, str]:
    """Map of name key -> ALE game name, for every ``ALE/<name>-v5`` id that ale-py registered."""
    # Importing ale_py registers the ALE ids with gymnasium (and makes the bundled ROMs available).
    import ale_py  # noqa: F401

    games = {}
    for env_id in gym.registry:
        match = re.fullmatch(r"ALE/(\w+)-v5", env_id)
        if match is not None:
            games[_name_key(match.group(1))] = match.group(1)
    return games


def resolve_atari_game(game: str) -> str:
    """
    Normalise a game name to the ALE game name (e.g. ``"Pong"``).

    Accepted spellings: ``"Pong"``, ``"pong"``, ``"PongNoFrameskip-v4"``, ``"ALE/Pong-v5"``, ``"ms_pacman"``.
    Whatever the spelling (and whatever frame skip or sticky actions the id implies), the env is built with the
    protocol's settings.

    :param game: game name or gymnasium id of an ALE game
    :return: the ALE game name, such that ``ALE/<name>-v5`` is a registered id
    """
    if not isinstance(game, str) or not game.strip():
        raise ValueError(f"`game` must be a non-empty string such as 'Pong' or 'ALE/Pong-v5', got {game!r}.")
    name = game.strip()
    # Strip the namespace ("ALE/"), the version ("-v5", "-v4", "-v0") and the legacy frame-skip suffixes.
    name = re.sub(r"^ale/", "", name, flags=re.IGNORECASE)
    name = re.sub(r"-v\d+$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"(noframeskip|deterministic)$", "", name, flags=re.IGNORECASE)
    games = _ale_games()
    key = _name_key(name)
    if key in games:
        return games[key]
    close = difflib.get_close_matches(key, games.keys(), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(games[k]) for k in close)}?" if close else ""
    raise ValueError(
        f"Unknown Atari game {game!r}.{hint} The 26 Atari100k games are: {', '.join(ATARI100K_GAMES)}. Any other ALE "
        "game also works; list them with `[i for i in gymnasium.registry if i.startswith('ALE/')]` after `import ale_py`."
    )


def _check_int(name: str, value: Any, minimum: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.{hint}")
    return int(value)


class Atari100kPreprocessing(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    DIAMOND's Atari preprocessing: no-op reset, frame skip with max-pooling, area-resized RGB frames.

    - ``reset()``: resets the game, then plays ``k`` no-op frames, ``k`` uniform in ``[1, noop_max]`` (0 when
      ``noop_max=0``), drawn from the env's seeded RNG. The no-ops are raw emulator frames, not agent steps (as DIAMOND,
      gymnasium's ``AtariPreprocessing`` and SB3's ``NoopResetEnv`` under ``MaxAndSkipEnv`` do).
    - ``step(action)``: repeats ``action`` for ``frame_skip`` frames (stopping early at game over or truncation), sums
      the rewards, returns the pixel-wise maximum of the step's last two frames resized with ``cv2.INTER_AREA``.
    - ``info["life_loss"]``: whether the lives counter dropped below the lowest count of the game so far during the
      step (DIAMOND's counter, which does not follow bonus lives; ``info["lives"]`` comes from ALE).

    :param env: an ALE env without frame skip (``frameskip=1``)
    :param frame_size: side of the square observation, in pixels (64 in DIAMOND and JEDI)
    :param frame_skip: emulator frames per agent step (4)
    :param noop_max: most no-op frames played on reset (30)
    :param seed: seed of the first ``reset()`` called without a seed, so that a freshly built env is reproducible
        (later resets continue the seeded RNG, as in gymnasium)
    """

    def __init__(
        self,
        env: gym.Env,
        frame_size: int = 64,
        frame_skip: int = 4,
        noop_max: int = 30,
        seed: int | None = None,
    ) -> None:
        super().__init__(env)
        self.frame_size = _check_int("frame_size", frame_size, 8)
        self.frame_skip = _check_int("frame_skip", frame_skip, 1)
        self.noop_max = _check_int("noop_max", noop_max, 0)
        if getattr(env.unwrapped, "_frameskip", None) != 1:
            raise ValueError(
                "The ALE env already skips frames; build it with `frameskip=1` (e.g. `ALE/Pong-v5` with frameskip=1 "
                "or `PongNoFrameskip-v4`) so that this wrapper's frame skip is the only one."
            )
        if self.noop_max > 0 and cast("AtariEnv", env.unwrapped).get_action_meanings()[0] != "NOOP":
            raise ValueError("Action 0 of this game is not NOOP: use `noop_max=0`.")
        raw_space = env.observation_space
        if not isinstance(raw_space, spaces.Box) or len(raw_space.shape) != 3 or raw_space.shape[-1] != 3:
            raise ValueError(f"Expected RGB frames (obs_type='rgb') from the ALE env, got observation space {raw_space}.")
        self.observation_space = spaces.Box(low=0, high=255, shape=(self.frame_size, self.frame_size, 3), dtype=np.uint8)
        self._pending_seed = seed
        self._lives = 0

    @property
    def ale(self) -> Any:
        """The emulator (``ale_py.ALEInterface``) of the wrapped env."""
        return cast("AtariEnv", self.env.unwrapped).ale

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        # INTER_AREA averages the source pixels under each target pixel (no aliasing when shrinking 210x160 -> 64x64).
        return cv2.resize(frame, (self.frame_size, self.frame_size), interpolation=cv2.INTER_AREA)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        else:
            self._pending_seed = None
        frame, info = self.env.reset(seed=seed, options=options)
        # Drawn after the reset so that a seeded reset makes the count reproducible; same range as DIAMOND ([1, noop_max]).
        n_noops = int(self.env.unwrapped.np_random.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0
        for _ in range(n_noops):
            frame, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                # A game that ends during the no-ops (only with tiny frame caps) is simply started again.
                frame, info = self.env.reset(options=options)
        self._lives = self.ale.lives()
        info = dict(info, life_loss=False)
        return self._resize(frame), info

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        total_reward = 0.0
        terminated = truncated = life_loss = False
        info: dict[str, Any] = {}
        previous = frame = None
        for _ in range(self.frame_skip):
            previous = frame
            frame, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            lives = self.ale.lives()
            # DIAMOND's counter follows decreases only: after a bonus life, the first loss back to the count it held
            # is not a life loss.
            if lives < self._lives:
                life_loss = True
                self._lives = lives
            if terminated or truncated:
                break
        # Max over the last two frames of the step; a step that ran a single frame (frame_skip=1, or the game ended on
        # its first frame) returns that frame.
        assert frame is not None  # frame_skip >= 1: at least one frame was played
        pooled = frame if previous is None else np.maximum(previous, frame)
        info = dict(info, life_loss=life_loss)
        return self._resize(pooled), total_reward, bool(terminated), bool(truncated), info


class TerminateOnLifeLoss(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    End the agent's episode on life loss, without resetting the game (DIAMOND's ``done_on_life_loss`` for training).

    A step that loses a life (but not the game) returns ``terminated=True``; the following ``reset()`` does not touch
    the emulator: it returns that step's observation and play goes on with the remaining lives (no no-ops, no extra
    frame), as in DIAMOND whose vectorised env never sees these ends. The game is really reset only after game over or
    truncation, or when ``reset`` is given a seed.

    Put it above ``Monitor`` so that ``info["episode"]`` holds whole-game scores.

    :param env: env whose step infos carry ``life_loss`` (see :class:`Atari100kPreprocessing`)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._game_over = True
        self._last_obs: np.ndarray | None = None
        self._last_info: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if self._game_over or seed is not None or self._last_obs is None:
            obs, info = self.env.reset(seed=seed, options=options)
            self._game_over = False
        else:
            obs = self._last_obs
            # Keep the ALE counters (lives, frame numbers) of the step that lost the life.
            info = {
                key: value
                for key, value in self._last_info.items()
                if key in ("lives", "episode_frame_number", "frame_number")
            }
            info["life_loss"] = False
        self._last_obs = obs
        return obs, info

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = bool(terminated or truncated)
        if info.get("life_loss", False) and not self._game_over:
            terminated = True
        self._last_obs, self._last_info = obs, info
        return obs, reward, terminated, truncated, info


def make_atari100k_single_env(
    game: str,
    seed: int | None = None,
    training: bool = True,
    frame_size: int = 64,
    frame_skip: int = 4,
    noop_max: int = 30,
    max_episode_frames: int | None = 108_000,
    monitor_file: str | None = None,
    render_mode: str | None = "rgb_array",
) -> gym.Env:
    """
    One Atari env under the Atari100k protocol of DIAMOND / JEDI (see the module docstring), ``Monitor`` included.

    :param game: game name or id: ``"Pong"``, ``"pong"``, ``"PongNoFrameskip-v4"``, ``"ALE/Pong-v5"``. Always built as
        ``ALE/<game>-v5`` with ``frameskip=1``, ``repeat_action_probability=0`` and the minimal action set.
    :param seed: seeds the first ``reset()`` (emulator and no-op RNG) and the action space; same seed, same frames
    :param training: if True, losing a life ends the agent's episode (the game goes on at the next reset);
        if False (evaluation), only game over or the frame cap end it
    :param frame_size: side of the square RGB observation (64)
    :param frame_skip: emulator frames per agent step, action repeated, rewards summed (4)
    :param noop_max: most no-op frames played on reset (30)
    :param max_episode_frames: emulator frames after which a game is truncated, no-op frames included
        (108,000 = 27,000 agent steps at frame skip 4); None for no cap
    :param monitor_file: path prefix of the ``Monitor`` CSV log; None to keep the statistics in memory only
    :param render_mode: ALE render mode (``"rgb_array"`` for video recorders, ``"human"``, or None)
    :return: the wrapped env: observations ``(frame_size, frame_size, 3)`` uint8, ``Discrete`` actions
    """
    ale_game = resolve_atari_game(game)
    frame_size = _check_int("frame_size", frame_size, 8, " DIAMOND and JEDI use 64.")
    frame_skip = _check_int("frame_skip", frame_skip, 1, " DIAMOND and JEDI use 4.")
    noop_max = _check_int("noop_max", noop_max, 0, " Use 0 to disable no-op resets; DIAMOND uses 30.")
    if max_episode_frames is not None:
        max_episode_frames = _check_int(
            "max_episode_frames", max_episode_frames, 1, " Use None for no cap; the Atari100k protocol uses 108_000."
        )
    if seed is not None:
        seed = _check_int("seed", seed, 0)

    env = gym.make(
        f"ALE/{ale_game}-v5",
        frameskip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        # The ALE truncates the game itself, counting every emulator frame since its reset (no-ops included), as the
        # NoFrameskip-v4 ids DIAMOND uses do (their cap is 108,000 frames too).
        max_num_frames_per_episode=max_episode_frames,
        render_mode=render_mode,
    )
    if seed is not None:
        env.action_space.seed(seed)
    env = Atari100kPreprocessing(env, frame_size=frame_size, frame_skip=frame_skip, noop_max=noop_max, seed=seed)
    # Monitor below the life-loss wrapper: it sees whole games, so `ep_info_buffer` and `evaluate_policy` get game scores.
    if monitor_file is not None:
        monitor_dir = os.path.dirname(monitor_file)
        if monitor_dir:
            os.makedirs(monitor_dir, exist_ok=True)
    env = Monitor(env, filename=monitor_file)
    if training:
        env = TerminateOnLifeLoss(env)
    return env


def make_atari100k_env(
    game: str,
    n_envs: int = 1,
    seed: int | None = None,
    training: bool = True,
    frame_size: int = 64,
    frame_skip: int = 4,
    noop_max: int = 30,
    max_episode_frames: int | None = 108_000,
    monitor_dir: str | None = None,
    vec_env_cls: Callable[..., VecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    Vectorised Atari env under the Atari100k protocol of DIAMOND / JEDI (see :func:`make_atari100k_single_env`).

    Observations are ``(frame_size, frame_size, 3)`` uint8 (64x64 RGB), one agent step is ``frame_skip`` (4) frames,
    and ``info["episode"]`` reports whole-game scores even when ``training=True`` ends episodes on life loss.

    :param game: game name or id: ``"Pong"``, ``"pong"``, ``"PongNoFrameskip-v4"``, ``"ALE/Pong-v5"``
        (see ``ATARI100K_GAMES`` for the benchmark's 26 games)
    :param n_envs: number of sub-envs
    :param seed: sub-env ``i`` (and its action space) is seeded with ``seed + i``; None for random seeds
    :param training: True: life loss ends episodes (DIAMOND's training env); False: evaluation env
    :param frame_size: side of the square RGB observation (64)
    :param frame_skip: emulator frames per agent step (4)
    :param noop_max: most no-op frames played on reset (30)
    :param max_episode_frames: emulator frames after which a game is truncated (108,000); None for no cap
    :param monitor_dir: folder of the ``Monitor`` CSV logs (one file per sub-env); None to log nothing to disk
    :param vec_env_cls: VecEnv class, ``DummyVecEnv`` by default (``SubprocVecEnv`` for parallel emulation)
    :param vec_env_kwargs: keyword arguments of ``vec_env_cls``
    :return: the VecEnv
    """
    n_envs = _check_int("n_envs", n_envs, 1)
    if seed is not None:
        seed = _check_int("seed", seed, 0)
    # Check every argument once here, rather than n_envs times (maybe in sub-processes) inside the env factories.
    resolve_atari_game(game)
    _check_int("frame_size", frame_size, 8, " DIAMOND and JEDI use 64.")
    _check_int("frame_skip", frame_skip, 1, " DIAMOND and JEDI use 4.")
    _check_int("noop_max", noop_max, 0, " Use 0 to disable no-op resets; DIAMOND uses 30.")
    if max_episode_frames is not None:
        _check_int("max_episode_frames", max_episode_frames, 1, " Use None for no cap; the protocol uses 108_000.")

    env_fns: list[Callable[[], gym.Env]] = [
        functools.partial(
            make_atari100k_single_env,
            game,
            seed=None if seed is None else seed + rank,
            training=training,
            frame_size=frame_size,
            frame_skip=frame_skip,
            noop_max=noop_max,
            max_episode_frames=max_episode_frames,
            monitor_file=None if monitor_dir is None else os.path.join(monitor_dir, str(rank)),
        )
        for rank in range(n_envs)
    ]
    if vec_env_cls is None:
        vec_env_cls = DummyVecEnv
    return vec_env_cls(env_fns, **(vec_env_kwargs or {}))
