"""
Episodic replay buffer for the JEDI world-model agent.

Unlike SB3's transition buffers, a world model trains on *segments*: runs of consecutive steps of
one episode (DIAMOND, Alonso et al. 2024; JEDI, arXiv 2505.19698). This buffer therefore keeps
episodes intact, stores every observation once (uint8 frames stay uint8), including the true final
observation of an episode, and samples fixed-length segments as DIAMOND's batch sampler does: recency weights over
groups of episodes, padding outside an episode's stored rows.
"""

import os
import pathlib
import shutil
import uuid
import warnings
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.utils import get_device

__all__ = ["EpisodeReplayBuffer", "ReplayMemoryWarning", "SegmentBatch", "available_memory_bytes"]

# Bytes per row besides the observation: actions, rewards, the three flags, prev/next links, episode and env ids and
# the insertion index.
METADATA_BYTES_PER_ROW = 8 + 4 + 1 + 1 + 1 + 8 + 8 + 8 + 8 + 8


# The per-row arrays besides the observations, with the value of a row that holds nothing.
ROW_METADATA_FILL: dict[str, int | float | bool] = {
    "actions": 0,
    "rewards": 0.0,
    "terminated": False,
    "truncated": False,
    "has_action": False,
    "prev": -1,
    "next": -1,
    "episode_ids": -1,
    "env_ids": -1,
    "insertion_index": -1,
}


class ReplayMemoryWarning(UserWarning):
    """The replay buffer will not fit in the memory (or disk space) available."""


def available_memory_bytes() -> int | None:
    """
    Memory this process can still allocate, in bytes: the smaller of the system's available memory
    (``MemAvailable`` of ``/proc/meminfo``, or psutil where installed) and what is left under a cgroup v2 memory limit.

    :return: the number of bytes, or ``None`` where it cannot be told (the caller then does not warn)
    """
    candidates = []
    try:
        import psutil  # optional: not a dependency of sb3-jedi or SB3

        candidates.append(int(psutil.virtual_memory().available))
    except Exception:
        try:
            with open("/proc/meminfo") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        candidates.append(int(line.split()[1]) * 1024)
                        break
        except (OSError, ValueError, IndexError):
            pass
    try:
        # Containers often cap memory far below what the host reports as available.
        limit = pathlib.Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(pathlib.Path("/sys/fs/cgroup/memory.current").read_text().strip())
            candidates.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(candidates) if candidates else None


def _format_bytes(n_bytes: float) -> str:
    if n_bytes >= 1e8:
        return f"{n_bytes / 1e9:.2f} GB"
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.1f} kB"


def _remove_file(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class SegmentBatch(NamedTuple):
    """
    A batch of ``B`` segments of ``L`` consecutive rows of one episode each (torch tensors on the buffer's device).

    Row ``t`` of a segment holds an observation and, when ``has_action[t]``, the action taken on it, the reward
    received after it and whether that action ended the episode. Segments are padded (``mask`` False, zeros) before
    the episode's first stored row and, for reward/termination segments, after its last one.

    :ivar observations: (B, L, *obs_shape), stored dtype (uint8 frames stay uint8; the model preprocesses them)
    :ivar actions: (B, L) long, 0 where there is no action
    :ivar rewards: (B, L) float32, reward received after the row's action
    :ivar terminated: (B, L) float32 in {0, 1}, the row's action terminated the episode
    :ivar truncated: (B, L) float32 in {0, 1}, the episode was truncated after the row's action
    :ivar mask: (B, L) bool, real row (True) or padding outside the episode's stored rows (False)
    :ivar has_action: (B, L) bool, False for padding, an episode's final row and a still-open episode's last row
    """

    observations: th.Tensor
    actions: th.Tensor
    rewards: th.Tensor
    terminated: th.Tensor
    truncated: th.Tensor
    mask: th.Tensor
    has_action: th.Tensor


class _EpisodeIndex(NamedTuple):
    """Stored episodes with at least one transition, oldest first: episode ``e`` is ``rows[starts[e]:][:n_rows[e]]``."""

    rows: np.ndarray
    starts: np.ndarray
    n_rows: np.ndarray
    terminal_episodes: np.ndarray
    terminal_positions: np.ndarray


class EpisodeReplayBuffer:
    """
    Replay buffer storing whole episodes of every env, sampled as fixed-length segments for world-model training.

    Storage is a set of flat arrays of rows used as a ring that keeps ``buffer_size`` transitions: it starts with
    ``buffer_size`` rows and grows (by a tenth at a time) while it holds fewer transitions than that, because every
    finished episode also takes a row for its final observation; once ``buffer_size`` transitions are stored, the
    oldest rows are overwritten. A run of ``buffer_size`` env steps (per env) is therefore kept whole, as DIAMOND
    keeps every transition. A row is one observation of one episode; an episode with ``T`` transitions takes
    ``T + 1`` rows, the last one being its final observation (no action). Rows of different envs interleave, so each
    row links to the previous (``prev``) and next (``next``) row of its episode; segments never mix episodes.
    When the ring overwrites a row, the next row of that episode becomes the episode's first stored row.

    Segments are drawn as DIAMOND's batch sampler draws them: the stored episodes, ordered by age, are cut into
    ``len(sample_weights)`` equal groups (the newest group takes the remainder), group ``k`` is drawn with probability
    ``sample_weights[k]`` (normalised), an episode uniformly inside it, then a position in the episode (with fewer
    episodes than groups, or no weights, an episode is drawn in proportion to its transitions).

    :param buffer_size: Number of transitions kept (the rows of episodes' final observations come on top), at
        least ``2 * n_envs``
    :param observation_space: Observation space, a ``spaces.Box`` (images are stored as uint8, anything else as float32)
    :param action_space: Action space, a ``spaces.Discrete`` with ``start=0`` (JEDI supports discrete actions only)
    :param device: PyTorch device of the sampled tensors; ``"auto"`` picks CUDA when available
    :param n_envs: Number of parallel environments feeding :meth:`add`
    :param sample_weights: Recency weights over age-ordered groups of episodes, oldest first
        (DIAMOND: ``(0.1, 0.1, 0.1, 0.7)``); ``None`` samples transitions uniformly
    :param storage_dir: Directory in which to keep the observations in a memory-mapped ``.npy`` file instead of RAM
        (for buffers larger than the memory); ``None`` keeps everything in memory. The file is scratch space, deleted
        when the buffer is garbage-collected; pickling the buffer (``save_replay_buffer``) copies the frames into the
        pickle, and unpickling writes them to a new file in the same directory

    Before allocating, the buffer compares its size with the memory available (and, with ``storage_dir``, the free
    disk space) and emits a :class:`ReplayMemoryWarning` with the numbers when it will not fit.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        sample_weights: Sequence[float] | None = (0.1, 0.1, 0.1, 0.7),
        storage_dir: str | os.PathLike | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"Unsupported action space {action_space}: JEDI supports Discrete action spaces only "
                "(the world model is conditioned on embedded discrete actions); use an env with a spaces.Discrete "
                "action space."
            )
        if int(action_space.start) != 0:
            raise ValueError(
                f"Unsupported action space {action_space}: Discrete spaces with start != 0 are not supported "
                "(as in Stable-Baselines3); wrap the env so that actions are 0..n-1."
            )
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(
                f"Unsupported observation space {observation_space}: EpisodeReplayBuffer needs a spaces.Box "
                "(an image or a vector); flatten Dict/Tuple observations, e.g. with gymnasium.wrappers.FlattenObservation."
            )
        if int(n_envs) < 1:
            raise ValueError(f"n_envs must be at least 1, got {n_envs}.")
        n_envs = int(n_envs)
        # One add() writes at most 2 rows per env (a new episode's first row and the next observation). With at least
        # 2 * n_envs rows, an env's open row (written by the previous add) is never overwritten before its successor
        # is linked to it, so open episodes stay consistent.
        if int(buffer_size) < 2 * n_envs:
            raise ValueError(
                f"buffer_size={buffer_size} is too small for n_envs={n_envs}: it must be at least 2 * n_envs = {2 * n_envs} "
                "(in practice far larger, e.g. the number of env steps you train on)."
            )

        self.buffer_size = int(buffer_size)
        self.observation_space = observation_space
        self.action_space = action_space
        self.n_envs = n_envs
        self.obs_shape: tuple[int, ...] = tuple(observation_space.shape)
        self.n_actions = int(action_space.n)
        self.device = get_device(device)
        self.sample_weights = self._check_weights(sample_weights)

        # Frames are kept as uint8 (4x smaller than float32); the model normalises them when it encodes them
        obs_dtype = np.uint8 if is_image_space(observation_space, check_channels=False) else np.float32
        n = self.buffer_size
        self.storage_dir = None if storage_dir is None else pathlib.Path(storage_dir)
        self.storage_path: pathlib.Path | None = None
        self._check_resources(np.dtype(obs_dtype))
        self.observations = self._allocate_observations(np.dtype(obs_dtype))
        self.actions = np.zeros(n, dtype=np.int64)
        self.rewards = np.zeros(n, dtype=np.float32)
        self.terminated = np.zeros(n, dtype=bool)
        self.truncated = np.zeros(n, dtype=bool)
        self.has_action = np.zeros(n, dtype=bool)
        self.prev = np.full(n, -1, dtype=np.int64)
        self.next = np.full(n, -1, dtype=np.int64)
        self.episode_ids = np.full(n, -1, dtype=np.int64)
        self.env_ids = np.full(n, -1, dtype=np.int64)
        # Global insertion number of each row: its age (the ring is FIFO, so this is also the write order)
        self.insertion_index = np.full(n, -1, dtype=np.int64)

        self.pos = 0
        self.full = False
        # Transitions stored now, and how many rewards of each sign (-1, 0, +1) were ever added (DIAMOND's counts)
        self.n_stored_transitions = 0
        self.reward_sign_counts = np.zeros(3, dtype=np.int64)
        self.n_inserted = 0
        self.n_started_episodes = 0
        # Per env: row index of the open episode's last row (-1: no open episode) and that episode's id
        self.open_rows = np.full(n_envs, -1, dtype=np.int64)
        self.open_episode_ids = np.full(n_envs, -1, dtype=np.int64)

    def _check_resources(self, obs_dtype: np.dtype) -> None:
        """Warn when the arrays will not fit in the available memory (or the frames on the free disk space)."""
        obs_bytes = self.buffer_size * int(np.prod(self.obs_shape, dtype=np.int64)) * obs_dtype.itemsize
        metadata_bytes = self.buffer_size * METADATA_BYTES_PER_ROW
        what = f"EpisodeReplayBuffer(buffer_size={self.buffer_size}) of {self.obs_shape} {obs_dtype} observations"
        if self.storage_dir is None:
            available = available_memory_bytes()
            needed = obs_bytes + metadata_bytes
            if available is not None and needed > available:
                warnings.warn(
                    f"{what} needs {_format_bytes(needed)} of memory ({_format_bytes(obs_bytes)} of frames) but only "
                    f"{_format_bytes(available)} is available: the process may be killed as the buffer fills. Lower "
                    "buffer_size, or keep the frames on disk with storage_dir=... (JEDI(..., replay_buffer_kwargs="
                    '{"storage_dir": "/path/with/space"})).',
                    ReplayMemoryWarning,
                    stacklevel=3,
                )
            return
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.storage_dir).free
        if obs_bytes > free:
            warnings.warn(
                f"{what} needs {_format_bytes(obs_bytes)} in storage_dir={str(self.storage_dir)!r} but only "
                f"{_format_bytes(free)} is free there: writes will fail as the buffer fills. Pick a directory on a disk "
                "with more space, or lower buffer_size.",
                ReplayMemoryWarning,
                stacklevel=3,
            )

    def _allocate_observations(self, obs_dtype: np.dtype, n_rows: int | None = None) -> np.ndarray:
        shape = (self.buffer_size if n_rows is None else n_rows, *self.obs_shape)
        if self.storage_dir is None:
            return np.zeros(shape, dtype=obs_dtype)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        path = self.storage_dir / f"replay-observations-{uuid.uuid4().hex[:12]}.npy"
        # A sparse file of zeros: disk blocks are used as rows are written.
        observations = np.lib.format.open_memmap(path, mode="w+", dtype=obs_dtype, shape=shape)
        self.storage_path = path
        # The file is scratch space of this buffer only: remove it with the buffer (or at interpreter exit).
        self._storage_finalizer = weakref.finalize(self, _remove_file, str(path))
        return observations

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_storage_finalizer", None)
        state.pop("_index_cache", None)
        # Frames on disk are copied into the pickle (a plain array), so the pickle stands alone: it stays valid after
        # the scratch file is deleted, and loads on another machine.
        state["observations"] = np.asarray(self.observations)
        state["storage_path"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("storage_dir", None)
        self.__dict__.setdefault("storage_path", None)
        if "reward_sign_counts" not in self.__dict__:  # buffers pickled by sb3-jedi 0.1
            stored = self.has_action[: self.size()]
            signs = np.sign(self.rewards[: self.size()][stored]).astype(np.int64) + 1
            self.reward_sign_counts = np.bincount(signs, minlength=3).astype(np.int64)
            self.n_stored_transitions = int(stored.sum())
        if self.storage_dir is not None:
            frames = self.observations
            try:
                self.observations = self._allocate_observations(frames.dtype, len(frames))
            except OSError as error:
                warnings.warn(
                    f"Could not write the replay frames to storage_dir={str(self.storage_dir)!r} ({error}); they stay "
                    "in memory. Set buffer.storage_dir to a writable directory before pickling to keep them on disk.",
                    ReplayMemoryWarning,
                    stacklevel=2,
                )
                self.storage_dir = None
                return
            chunk = 4096  # copy a few thousand rows at a time
            for start in range(0, len(frames), chunk):
                self.observations[start : start + chunk] = frames[start : start + chunk]

    @staticmethod
    def _check_weights(sample_weights: Sequence[float] | None) -> np.ndarray | None:
        if sample_weights is None:
            return None
        weights = np.asarray(sample_weights, dtype=np.float64)
        valid = weights.ndim == 1 and len(weights) > 0 and np.all(np.isfinite(weights)) and np.all(weights >= 0)
        if not valid or weights.sum() <= 0:
            raise ValueError(
                f"Invalid sample_weights {sample_weights}: expected a non-empty sequence of finite, non-negative weights "
                "with a positive sum, e.g. (0.1, 0.1, 0.1, 0.7), or None for uniform sampling."
            )
        return weights / weights.sum()

    # ------------------------------------------------------------------ sizes

    def size(self) -> int:
        """:return: Number of stored rows (observations)."""
        return len(self.actions) if self.full else self.pos

    @property
    def n_rows_allocated(self) -> int:
        """Rows the arrays hold now (``buffer_size`` at first, more once episodes' final observations need room)."""
        return len(self.actions)

    def _grow(self) -> None:
        """Add rows at the end of the (not yet wrapped) arrays: a tenth more, at least ``2 * n_envs``."""
        old = len(self.actions)
        extra = max(old // 10, 2 * self.n_envs)
        for name, fill in ROW_METADATA_FILL.items():
            array = getattr(self, name)
            setattr(self, name, np.concatenate((array, np.full(extra, fill, dtype=array.dtype))))
        frames = self.observations
        if self.storage_dir is None:
            grown = np.zeros((old + extra, *self.obs_shape), dtype=frames.dtype)
            grown[:old] = frames
            self.observations = grown
        else:
            old_finalizer = self._storage_finalizer
            self.observations = self._allocate_observations(frames.dtype, old + extra)
            chunk = 4096
            for start in range(0, old, chunk):
                stop = min(start + chunk, old)
                self.observations[start:stop] = frames[start:stop]
            del frames
            old_finalizer()

    def __len__(self) -> int:
        return self.size()

    @property
    def n_transitions(self) -> int:
        """Number of stored rows that carry an action (i.e. stored transitions)."""
        return int(self.has_action[: self.size()].sum())

    @property
    def n_episodes(self) -> int:
        """
        Number of finished episodes with at least one stored row (episodes forgotten by
        :meth:`reset_open_episodes` count as finished; still-open episodes do not).
        """
        # The ring is FIFO, so an episode's last row is the last of its rows to be overwritten: each stored episode
        # has exactly one stored row without a successor.
        n_last_rows = int((self.next[: self.size()] < 0).sum())
        return n_last_rows - int((self.open_rows >= 0).sum())

    @property
    def nbytes(self) -> int:
        """Size of the stored arrays, in bytes (the observations included when they are kept on disk)."""
        arrays = (
            self.observations,
            *(getattr(self, name) for name in ROW_METADATA_FILL),
            self.open_rows,
            self.open_episode_ids,
        )
        return int(sum(a.nbytes for a in arrays))

    # ------------------------------------------------------------------ adding

    def reset_open_episodes(self) -> None:
        """
        Forget the open episode of every env (e.g. after resetting the envs outside the training loop):
        the next :meth:`add` starts new episodes. The rows already stored stay.
        """
        self.open_rows[:] = -1
        self.open_episode_ids[:] = -1

    def _check_array(self, name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        array = np.asarray(value)
        if array.shape != shape:
            raise ValueError(f"Wrong shape for {name}: expected {shape} (n_envs={self.n_envs}), got {array.shape}.")
        return array

    def _write_row(self, obs: np.ndarray, env: int, episode_id: int, prev: int) -> int:
        """Write a new row (no action yet) at the ring position, unlinking the row it overwrites."""
        row = self.pos
        if self.full:
            # The overwritten row's predecessor is older, hence already gone; its successor becomes the first stored
            # row of that episode so that no segment reaches into overwritten data.
            successor = self.next[row]
            if successor >= 0:
                self.prev[successor] = -1
            self.n_stored_transitions -= int(self.has_action[row])
        self.observations[row] = obs
        self.actions[row] = 0
        self.rewards[row] = 0.0
        self.terminated[row] = False
        self.truncated[row] = False
        self.has_action[row] = False
        self.prev[row] = prev
        self.next[row] = -1
        if prev >= 0:
            self.next[prev] = row
        self.episode_ids[row] = episode_id
        self.env_ids[row] = env
        self.insertion_index[row] = self.n_inserted
        self.n_inserted += 1
        self.pos += 1
        if self.pos == len(self.actions):
            if self.n_stored_transitions < self.buffer_size:
                self._grow()
            else:
                self.full = True
                self.pos = 0
        return row

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray,
    ) -> None:
        """
        Store one vectorised env step of all ``n_envs`` envs.

        For an env without an open episode, a new episode starts with a row for ``obs``; otherwise ``obs`` must equal
        the open episode's last observation (it is not stored twice). That row gets the action, reward and flags, and
        a new row for ``next_obs`` is appended; if the episode terminated or was truncated, that row is its final row
        and the episode closes.

        :param obs: (n_envs, *obs_shape) observations the agent acted on
        :param action: (n_envs,) or (n_envs, 1) discrete actions taken
        :param reward: (n_envs,) rewards received
        :param terminated: (n_envs,) whether the episode terminated (MDP end) after this step
        :param truncated: (n_envs,) whether the episode was truncated (time limit) after this step
        :param next_obs: (n_envs, *obs_shape) true next observations; for a finished episode, the terminal
            observation (``infos[i]["terminal_observation"]`` with SB3 VecEnvs), not the reset observation
        """
        n_envs = self.n_envs
        obs_shape = (n_envs, *self.obs_shape)
        obs = self._check_array("obs", obs, obs_shape)
        next_obs = self._check_array("next_obs", next_obs, obs_shape)
        action = np.asarray(action)
        if action.shape == (n_envs, 1):
            action = action.reshape(n_envs)
        action = self._check_array("action", action, (n_envs,))
        reward = self._check_array("reward", reward, (n_envs,)).astype(np.float32)
        terminated = self._check_array("terminated", terminated, (n_envs,)).astype(bool)
        truncated = self._check_array("truncated", truncated, (n_envs,)).astype(bool)

        action_int = action.astype(np.int64)
        if not np.array_equal(action_int, action) or np.any(action_int < 0) or np.any(action_int >= self.n_actions):
            raise ValueError(
                f"Invalid actions {action.tolist()}: expected integers in [0, {self.n_actions}) for {self.action_space}."
            )

        # Compare in the stored dtype so that e.g. float64 observations match their float32 copies
        obs_stored = obs.astype(self.observations.dtype, copy=False)
        next_obs_stored = next_obs.astype(self.observations.dtype, copy=False)
        for env in range(n_envs):
            row = int(self.open_rows[env])
            if row >= 0 and not np.array_equal(self.observations[row], obs_stored[env], equal_nan=True):
                raise ValueError(
                    f"obs[{env}] differs from the last observation of env {env}'s open episode: pass the observation "
                    "the agent acted on (the previous next_obs, or the reset observation after an episode ended), "
                    "and call reset_open_episodes() after resetting the envs outside the collection loop."
                )

        for env in range(n_envs):
            row = int(self.open_rows[env])
            if row < 0:
                episode_id = self.n_started_episodes
                self.n_started_episodes += 1
                row = self._write_row(obs_stored[env], env, episode_id, prev=-1)
            else:
                episode_id = int(self.open_episode_ids[env])
            self.actions[row] = action_int[env]
            self.rewards[row] = reward[env]
            self.terminated[row] = terminated[env]
            self.truncated[row] = truncated[env]
            self.has_action[row] = True
            self.n_stored_transitions += 1
            self.reward_sign_counts[int(np.sign(reward[env])) + 1] += 1
            new_row = self._write_row(next_obs_stored[env], env, episode_id, prev=row)
            if terminated[env] or truncated[env]:
                self.open_rows[env] = -1
                self.open_episode_ids[env] = -1
            else:
                self.open_rows[env] = new_row
                self.open_episode_ids[env] = episode_id

    # ------------------------------------------------------------------ sampling

    def _episode_index(self) -> "_EpisodeIndex":
        """
        The stored rows grouped by episode, oldest episode first, each episode's rows in order (rebuilt after adds).
        """
        key = (self.n_inserted, len(self.actions))
        cached = self.__dict__.get("_index_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        size = self.size()
        # Episode ids grow with the episodes' start order, and an episode's rows are written in order: sorting by
        # (episode id, insertion index) lists every episode's stored rows in order, oldest episode first.
        rows = np.lexsort((self.insertion_index[:size], self.episode_ids[:size]))
        episode_of_row = self.episode_ids[rows]
        if size:
            first = np.flatnonzero(np.r_[True, episode_of_row[1:] != episode_of_row[:-1]])
        else:
            first = np.zeros(0, dtype=np.int64)
        n_rows = np.diff(np.r_[first, size]).astype(np.int64)
        # Every stored row but an episode's last one carries an action: an episode with n rows holds n - 1 transitions.
        keep = n_rows >= 2
        offsets, n_rows = first[keep], n_rows[keep]
        starts = (np.cumsum(n_rows) - n_rows).astype(np.int64)
        total = int(n_rows.sum())
        episode_number = np.repeat(np.arange(len(n_rows)), n_rows)
        positions = np.arange(total, dtype=np.int64) - np.repeat(starts, n_rows)
        kept_rows = rows[np.repeat(offsets, n_rows) + positions]
        # Terminating transitions, as (episode number among the kept ones, position in the episode)
        terminal = self.terminated[kept_rows] & self.has_action[kept_rows]
        index = _EpisodeIndex(
            rows=kept_rows,
            starts=starts,
            n_rows=n_rows,
            terminal_episodes=episode_number[terminal],
            terminal_positions=positions[terminal],
        )
        self._index_cache = (key, index)
        return index

    def _episode_probabilities(self, n_transitions: np.ndarray) -> np.ndarray:
        """DIAMOND's batch sampler: recency weights over groups of episodes, uniform over the episodes of a group."""
        n_episodes = len(n_transitions)
        weights = self.sample_weights
        if weights is None or n_episodes < len(weights):
            # Uniform over transitions (DIAMOND: episode lengths / number of steps)
            return n_transitions / n_transitions.sum()
        n_groups = len(weights)
        # Equal groups of episodes, oldest first; the newest group takes the remainder (as DIAMOND)
        sizes = np.full(n_groups, n_episodes // n_groups, dtype=np.int64)
        sizes[-1] += n_episodes % n_groups
        probabilities = np.repeat(weights / sizes, sizes)
        return probabilities / probabilities.sum()

    def sample_segment_indices(
        self,
        batch_size: int,
        sequence_length: int,
        generator: np.random.Generator | None = None,
        terminal_fraction: float = 0.0,
        beyond_end: bool = False,
        transitions_only: bool = False,
    ) -> np.ndarray:
        """
        Draw segments as DIAMOND's batch sampler does: an episode (recency weights over groups of episodes), a
        position in it, then where the segment lies around that position.

        - default (denoiser segments): a row ``t`` of the episode, then the segment ends ``0..L-1`` rows after it,
          at most at the episode's last stored row; padded before the episode's first row where needed. The last row
          of a finished episode is its true final observation, so the final transition is learnt too;
        - ``beyond_end=True`` (reward/termination segments, DIAMOND's ``can_sample_beyond_end``): a transition ``t``,
          then the segment starts ``0..L-1`` rows before it and may run past the episode's end (padded after it), so
          an episode's last transition is drawn about half as often as a mid-episode one (instead of ``1 / (L - 1)``
          as often when segments must end inside the episode);
        - ``transitions_only=True`` (imagination starting points): as the default, but only rows that carry an
          action, so a segment never ends on an episode's final observation.

        :param batch_size: Number of segments ``B``
        :param sequence_length: Number of rows per segment ``L``
        :param generator: Random generator; ``None`` uses NumPy's global generator (seeded by SB3's ``set_random_seed``)
        :param terminal_fraction: fraction of the segments placed around a terminating transition drawn uniformly
            among the stored ones (``beyond_end`` segments only; 0: no oversampling, as DIAMOND). Once a policy is
            good, terminations become rare in recent data; oversampling keeps a termination model from forgetting them
        :param beyond_end: let segments run past the episode's end (reward/termination segments)
        :param transitions_only: keep segments inside the rows that carry an action (imagination burn-in)
        :return: (B, L) row indices, oldest first, -1 where the segment is padded
        """
        if not 0.0 <= terminal_fraction <= 1.0:
            raise ValueError(f"terminal_fraction must lie in [0, 1], got {terminal_fraction}.")
        if int(batch_size) < 1 or int(sequence_length) < 1:
            raise ValueError(
                f"batch_size and sequence_length must be positive integers, got {batch_size} and {sequence_length}."
            )
        if beyond_end and transitions_only:
            raise ValueError("beyond_end and transitions_only exclude each other.")
        batch_size, length = int(batch_size), int(sequence_length)
        index = self._episode_index()
        if len(index.n_rows) == 0:
            raise ValueError(
                "Cannot sample segments: the buffer holds no transition yet; collect more env steps "
                "(e.g. increase learning_starts) before training."
            )
        rng = np.random if generator is None else generator
        n_transitions = index.n_rows - 1

        def uniform_below(high: np.ndarray | int) -> np.ndarray:
            # Integers in [0, high) from rng.random(): the same draws for NumPy's global and Generator APIs
            return np.minimum(np.floor(rng.random(batch_size) * high).astype(np.int64), np.asarray(high) - 1)

        episodes = rng.choice(len(n_transitions), size=batch_size, p=self._episode_probabilities(n_transitions))
        n_episode_transitions = n_transitions[episodes]
        if beyond_end:
            position = uniform_below(n_episode_transitions)
            first = position - uniform_below(length)
            limit = n_episode_transitions + 1
            n_terminal = round(terminal_fraction * batch_size) if length >= 2 else 0
            if n_terminal > 0 and len(index.terminal_episodes) > 0:
                chosen = uniform_below(len(index.terminal_episodes))[:n_terminal]
                episodes[:n_terminal] = index.terminal_episodes[chosen]
                limit[:n_terminal] = index.n_rows[episodes[:n_terminal]]
                # The terminating transition and its final observation both lie inside the segment
                first[:n_terminal] = index.terminal_positions[chosen] - uniform_below(length - 1)[:n_terminal]
        else:
            limit = n_episode_transitions if transitions_only else n_episode_transitions + 1
            position = uniform_below(limit)
            stop = np.minimum(limit, position + 1 + uniform_below(length))
            first = stop - length
        positions = first[:, None] + np.arange(length)[None, :]
        valid = (positions >= 0) & (positions < limit[:, None])
        flat = index.starts[episodes][:, None] + np.clip(positions, 0, (index.n_rows[episodes] - 1)[:, None])
        return np.where(valid, index.rows[flat], -1)

    def get_segments(self, indices: np.ndarray) -> SegmentBatch:
        """
        Gather the rows of segments given by their indices.

        :param indices: (B, L) row indices as returned by :meth:`sample_segment_indices`, -1 for padding
        :return: The segments as torch tensors on the buffer's device, zeros where padded
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 2:
            raise ValueError(f"indices must have shape (batch_size, sequence_length), got {indices.shape}.")
        mask = indices >= 0
        safe = np.where(mask, indices, 0)
        observations = self.observations[safe]
        observations[~mask] = 0
        has_action = self.has_action[safe] & mask

        def to_tensor(array: np.ndarray) -> th.Tensor:
            return th.as_tensor(array, device=self.device)

        return SegmentBatch(
            observations=to_tensor(observations),
            actions=to_tensor(np.where(has_action, self.actions[safe], 0)),
            rewards=to_tensor(np.where(has_action, self.rewards[safe], 0.0).astype(np.float32)),
            terminated=to_tensor((self.terminated[safe] & has_action).astype(np.float32)),
            truncated=to_tensor((self.truncated[safe] & has_action).astype(np.float32)),
            mask=to_tensor(mask),
            has_action=to_tensor(has_action),
        )

    def sample_segments(
        self,
        batch_size: int,
        sequence_length: int,
        generator: np.random.Generator | None = None,
        terminal_fraction: float = 0.0,
        beyond_end: bool = False,
        transitions_only: bool = False,
    ) -> SegmentBatch:
        """
        Sample segments of consecutive rows of one episode each, drawn as DIAMOND's batch sampler draws them (see
        :meth:`sample_segment_indices` for where segments lie and how episodes are weighted). Rows outside the
        episode's stored rows are padding (``mask`` False, zeros).

        :param batch_size: Number of segments ``B``
        :param sequence_length: Number of rows per segment ``L`` (JEDI: 4 conditioning frames + 2 unrolled targets = 6)
        :param generator: Random generator; ``None`` uses NumPy's global generator (seeded by SB3's ``set_random_seed``)
        :param terminal_fraction: fraction of segments placed around a terminating transition (``beyond_end`` only)
        :param beyond_end: let segments run past the episode's end (reward/termination segments)
        :param transitions_only: keep segments inside the rows that carry an action (imagination burn-in)
        :return: The sampled segments
        """
        indices = self.sample_segment_indices(
            batch_size, sequence_length, generator, terminal_fraction, beyond_end=beyond_end, transitions_only=transitions_only
        )
        return self.get_segments(indices)
