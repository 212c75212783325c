"""
Checkpoints that let an interrupted run continue where it stopped.

A checkpoint is a directory ``checkpoint_<num_timesteps>`` holding the model zip (networks, both optimisers, the
hyper-parameters, the schedule and update counters, the replay sampler's generator), the pickled replay buffer, the
global random states (torch, numpy, python) and a ``manifest.json`` written last. Everything is first written to a
temporary directory, flushed to disk, then renamed into place: a run killed at any moment leaves either a complete
checkpoint or none (a stale temporary directory is removed by the next save and is never picked up by
:func:`latest_checkpoint`).

:class:`CheckpointCallback` saves between epochs, at the start of a collection, where the replay buffer holds exactly
``num_timesteps`` transitions and every training epoch they fed is done: resuming neither loses nor repeats a
transition or an update. Resume with::

    model = load_checkpoint(latest_checkpoint(save_dir), env=env)
    model.learn(total_timesteps - model.num_timesteps, callback=CheckpointCallback(save_dir, 10_000),
                reset_num_timesteps=False)
"""

import importlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import GymEnv

from sb3_jedi.version import __version__

if TYPE_CHECKING:
    from sb3_jedi.jedi import JEDI

__all__ = ["CheckpointCallback", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_PREFIX = "checkpoint_"
_TMP_PREFIX = ".tmp-"
MANIFEST = "manifest.json"
MODEL_FILE = "model.zip"
BUFFER_FILE = "replay_buffer.pkl"
RNG_FILE = "rng_state.pt"
_MANIFEST_FORMAT = 1

#: Test hook, not an API: if set, :func:`save_checkpoint` calls it with the temporary directory, complete and flushed,
#: just before renaming it into place (the tests kill a process there to check that a save interrupted at that moment
#: leaves the previous checkpoint the newest complete one).
_before_rename: Callable[[Path], None] | None = None


def _fsync_tree(directory: Path) -> None:
    """Flush every file of ``directory`` (and the directory entry itself) to disk before it is renamed into place."""
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _random_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": th.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if th.cuda.is_available():
        state["cuda"] = th.cuda.get_rng_state_all()
    return state


def _restore_random_state(state: dict[str, Any]) -> None:
    th.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and th.cuda.is_available() and len(state["cuda"]) == th.cuda.device_count():
        th.cuda.set_rng_state_all(state["cuda"])


def _checkpoint_steps(path: Path) -> int | None:
    if not path.name.startswith(CHECKPOINT_PREFIX):
        return None
    try:
        return int(path.name[len(CHECKPOINT_PREFIX) :])
    except ValueError:
        return None


def list_checkpoints(save_dir: str | os.PathLike) -> list[Path]:
    """
    Complete checkpoints of ``save_dir``, oldest first (directories with a manifest; temporary ones are ignored).

    :param save_dir: directory the checkpoints are written to
    :return: checkpoint directories sorted by ``num_timesteps``
    """
    root = Path(save_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        steps = _checkpoint_steps(path)
        if steps is not None and path.is_dir() and (path / MANIFEST).is_file():
            found.append((steps, path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(save_dir: str | os.PathLike) -> Path | None:
    """
    The newest complete checkpoint of ``save_dir``.

    :param save_dir: directory the checkpoints are written to
    :return: its path, or ``None`` when there is none yet
    """
    checkpoints = list_checkpoints(save_dir)
    return checkpoints[-1] if checkpoints else None


def _remove_stale_temporaries(root: Path) -> None:
    for path in root.iterdir():
        if path.name.startswith(_TMP_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(
    model: Any, save_dir: str | os.PathLike, keep_last: int | None = 2, save_replay_buffer: bool = True
) -> Path:
    """
    Write a complete, atomic checkpoint of ``model`` and keep only the ``keep_last`` newest ones.

    :param model: a :class:`~sb3_jedi.JEDI` model (or subclass)
    :param save_dir: directory of the checkpoints (created if needed)
    :param keep_last: number of checkpoints kept (older ones are deleted); ``None`` keeps all
    :param save_replay_buffer: also store the replay buffer (needed to resume without losing data)
    :return: the checkpoint directory
    """
    from sb3_jedi.jedi import JEDI

    if not isinstance(model, JEDI):
        raise TypeError(f"save_checkpoint needs a JEDI model (or subclass), got {type(model).__name__}.")
    if keep_last is not None and keep_last < 1:
        raise ValueError(f"keep_last must be >= 1 or None (keep all), got {keep_last}.")
    root = Path(save_dir)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(root)

    name = f"{CHECKPOINT_PREFIX}{model.num_timesteps:012d}"
    tmp = root / f"{_TMP_PREFIX}{name}-{os.getpid()}"
    final = root / name
    try:
        tmp.mkdir()
        model.save(tmp / MODEL_FILE)
        files = [MODEL_FILE]
        if save_replay_buffer:
            model.save_replay_buffer(tmp / BUFFER_FILE)
            files.append(BUFFER_FILE)
        th.save(_random_state(), tmp / RNG_FILE)
        files.append(RNG_FILE)
        cls = type(model)
        manifest = {
            "format": _MANIFEST_FORMAT,
            "algorithm": f"{cls.__module__}:{cls.__qualname__}",
            "num_timesteps": int(model.num_timesteps),
            "sb3_jedi_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": {file: (tmp / file).stat().st_size for file in files},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        _fsync_tree(tmp)
        if final.exists():  # same num_timesteps saved twice: replace it
            shutil.rmtree(final)
        if _before_rename is not None:
            _before_rename(tmp)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        # Interrupted or failed (KeyboardInterrupt included): leave no partial checkpoint behind.
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    if keep_last is not None:
        for old in list_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(
            f"{path} is not a complete sb3-jedi checkpoint (no {MANIFEST}): pass a directory written by save_checkpoint "
            "or CheckpointCallback, or use latest_checkpoint(save_dir) to find the newest complete one."
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"The manifest of checkpoint {path} is corrupt ({error}); use an older checkpoint.") from error
    if manifest.get("format") != _MANIFEST_FORMAT:
        raise ValueError(
            f"Checkpoint {path} has manifest format {manifest.get('format')!r}, this sb3-jedi ({__version__}) reads "
            f"format {_MANIFEST_FORMAT}: load it with the sb3-jedi version that wrote it "
            f"({manifest.get('sb3_jedi_version', 'unknown')})."
        )
    for file, size in manifest.get("files", {}).items():
        file_path = path / file
        if not file_path.is_file() or file_path.stat().st_size != size:
            raise ValueError(
                f"Checkpoint {path} is damaged: {file} is missing or has the wrong size (expected {size} bytes). "
                "Use an older checkpoint (list_checkpoints(save_dir))."
            )
    return manifest


def _algorithm_class(name: str) -> "type[JEDI]":
    from sb3_jedi.jedi import JEDI

    module_name, _, qualname = name.partition(":")
    # Only classes of this library are looked up: a manifest must not make us import arbitrary modules.
    if not module_name.startswith("sb3_jedi"):
        raise ValueError(f"Checkpoint names algorithm {name!r}, which is not an sb3-jedi algorithm.")
    try:
        cls = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"Checkpoint names algorithm {name!r}, which this sb3-jedi ({__version__}) does not have.") from error
    if not (isinstance(cls, type) and issubclass(cls, JEDI)):
        raise ValueError(f"Checkpoint names {name!r}, which is not a JEDI algorithm class.")
    return cls


def load_checkpoint(
    path: str | os.PathLike,
    env: GymEnv | None = None,
    device: th.device | str = "auto",
    restore_random_state: bool = True,
    **load_kwargs: Any,
) -> Any:
    """
    Load a checkpoint written by :func:`save_checkpoint`: the model of the class that saved it, its replay buffer and
    the global random states.

    Continue the same run with ``model.learn(total_timesteps - model.num_timesteps, reset_num_timesteps=False)``: the
    timestep count, schedules, update counters and TensorBoard run continue; the envs start new episodes.

    :param path: a checkpoint directory (see :func:`latest_checkpoint`)
    :param env: the environment to continue on (same spaces and number of envs as the saved run), or a registered
        env id
    :param device: device to load the model on
    :param restore_random_state: also restore torch's, numpy's and python's global random states
    :param load_kwargs: passed on to ``JEDI.load``
    :return: the loaded model
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"No checkpoint directory at {path}; use latest_checkpoint(save_dir) to find one.")
    manifest = _read_manifest(path)
    cls = _algorithm_class(manifest["algorithm"])
    if isinstance(env, str):
        env = maybe_make_env(env, verbose=0)
    model = cls.load(path / MODEL_FILE, env=env, device=device, **load_kwargs)
    if (path / BUFFER_FILE).is_file():
        model.load_replay_buffer(path / BUFFER_FILE)
    if restore_random_state and (path / RNG_FILE).is_file():
        _restore_random_state(th.load(path / RNG_FILE, weights_only=False))
    return model


class CheckpointCallback(BaseCallback):
    """
    Save a resumable checkpoint every ``save_freq`` env steps, between training epochs, keeping the newest
    ``keep_last``.

    :param save_dir: directory of the checkpoints
    :param save_freq: env steps (``num_timesteps``) between checkpoints
    :param keep_last: number of checkpoints kept; ``None`` keeps all
    :param save_replay_buffer: also store the replay buffer (needed to resume without losing data)
    :param save_on_end: also save when ``learn`` returns
    :param verbose: 1 prints a line per checkpoint
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_freq: int,
        keep_last: int | None = 2,
        save_replay_buffer: bool = True,
        save_on_end: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if save_freq < 1:
            raise ValueError(f"save_freq must be >= 1 env step, got {save_freq}.")
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last must be >= 1 or None (keep all), got {keep_last}.")
        self.save_dir = Path(save_dir)
        self.save_freq = save_freq
        self.keep_last = keep_last
        self.save_replay_buffer = save_replay_buffer
        self.save_on_end = save_on_end
        self.last_saved_timesteps: int | None = None
        # False while a collection is under way: a run stopped mid-collection is not at a consistent point.
        self._between_epochs = True

    def _init_callback(self) -> None:
        latest = latest_checkpoint(self.save_dir)
        self.last_saved_timesteps = _checkpoint_steps(latest) if latest is not None else self.num_timesteps

    def _save(self) -> None:
        path = save_checkpoint(self.model, self.save_dir, self.keep_last, self.save_replay_buffer)
        self.last_saved_timesteps = self.num_timesteps
        if self.verbose >= 1:
            print(f"Saved checkpoint {path}")

    def _on_rollout_start(self) -> None:
        # Between epochs: the buffer holds every counted transition and no update is pending.
        assert self.last_saved_timesteps is not None
        if self.num_timesteps - self.last_saved_timesteps >= self.save_freq:
            self._save()
        self._between_epochs = False

    def _on_rollout_end(self) -> None:
        self._between_epochs = True

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self.save_on_end and self._between_epochs and self.num_timesteps != self.last_saved_timesteps:
            self._save()
