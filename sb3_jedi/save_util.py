"""
Checks of a saved model file before anything in it is unpickled.

Stable-Baselines3 saves a model as a zip archive holding a JSON ``data`` entry (hyper-parameters; values JSON cannot
hold are cloudpickled and stored as base64 strings inside that JSON), one ``.pth`` file per state dict and a few text
files. :func:`check_jedi_checkpoint` reads that archive with :mod:`zipfile` and :mod:`json` only, so a damaged file, a
model of another algorithm or a file written by an incompatible sb3-jedi is refused with a message saying what is wrong
and what to do, instead of an unpickling error deep inside SB3 (or, worse, arbitrary code run by a pickle).

Every JEDI model records three plain strings / integers in its ``data`` (attributes set in ``JEDI.__init__``):
``algorithm_name`` (the class, e.g. ``"JEDI"``), ``sb3_jedi_version`` and ``checkpoint_format_version``
(:data:`CHECKPOINT_FORMAT_VERSION`).
"""

import io
import json
import os
import pathlib
import re
import zipfile
from typing import IO, Any

from sb3_jedi.version import __version__

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "MIN_CHECKPOINT_FORMAT_VERSION",
    "CheckpointNotFoundError",
    "InvalidCheckpointError",
    "check_jedi_checkpoint",
]

# Version of the layout of what JEDI saves (the ``data`` keys and state dicts it needs). Raise it when a change makes
# older files unloadable, and raise MIN_CHECKPOINT_FORMAT_VERSION when the code stops reading older layouts.
# 2: optimisers hold separate groups for parameters without weight decay (DIAMOND's configure_opt).
CHECKPOINT_FORMAT_VERSION = 2
MIN_CHECKPOINT_FORMAT_VERSION = 2

# Entries every model zip written by JEDI.save holds.
REQUIRED_ENTRIES = ("data", "policy.pth")

# Algorithms of Stable-Baselines3 / sb3-contrib recognised from the module of their policy class.
_ALGORITHM_BY_POLICY_MODULE = {
    "stable_baselines3.dqn.policies": "DQN",
    "stable_baselines3.sac.policies": "SAC",
    "stable_baselines3.td3.policies": "TD3 (or DDPG)",
    "sb3_contrib.qrdqn.policies": "QR-DQN",
    "sb3_contrib.tqc.policies": "TQC",
    "sb3_contrib.crossq.policies": "CrossQ",
    "sb3_contrib.ars.policies": "ARS",
    "sb3_contrib.common.recurrent.policies": "RecurrentPPO",
    "sb3_contrib.common.maskable.policies": "MaskablePPO",
}


class InvalidCheckpointError(ValueError):
    """A model file that sb3-jedi cannot load; the message says why and what to do."""


class CheckpointNotFoundError(InvalidCheckpointError, FileNotFoundError):
    """No model file at the given path (also a ``FileNotFoundError``)."""


def _resolve_path(path: str | os.PathLike) -> pathlib.Path:
    """The file SB3's ``load`` would open: ``path`` itself, else ``path`` + ``.zip``."""
    path = pathlib.Path(path)
    if path.is_file():
        return path
    with_suffix = pathlib.Path(f"{path}.zip")
    if not path.exists() and with_suffix.is_file():
        return with_suffix
    if path.is_dir():
        raise InvalidCheckpointError(
            f"{path} is a directory, not a model file. Pass the .zip written by model.save(); for a checkpoint "
            "directory written by save_checkpoint() use sb3_jedi.checkpoints.load_checkpoint(path)."
        )
    raise CheckpointNotFoundError(
        f"No model file at {path} (nor {with_suffix}). Check the path; model.save('name') writes 'name.zip'."
    )


def _policy_class_fields(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """Module and name of the saved policy class, from the readable fields SB3 writes beside its pickle."""
    policy_class = data.get("policy_class")
    if not isinstance(policy_class, dict):
        return None, None
    module = policy_class.get("__module__")
    name = None
    # SB3 stores the string form of the class's methods, e.g. "<function ActorCriticPolicy.__init__ at 0x...>".
    for value in policy_class.values():
        match = re.match(r"<function (\w+)\.\w+ at ", value) if isinstance(value, str) else None
        if match:
            name = match.group(1)
            break
    return (module if isinstance(module, str) else None), name


def _guess_algorithm(data: dict[str, Any]) -> str | None:
    """Best guess of the algorithm that saved ``data`` (None when nothing points to one)."""
    module, _ = _policy_class_fields(data)
    if module in _ALGORITHM_BY_POLICY_MODULE:
        return _ALGORITHM_BY_POLICY_MODULE[module]
    if module == "stable_baselines3.common.policies":
        # PPO and A2C share ActorCriticPolicy; only PPO has a clipping range.
        if "clip_range" in data:
            return "PPO"
        if "n_steps" in data and "vf_coef" in data:
            return "A2C"
    return None


def _describe_other_model(data: dict[str, Any], where: str) -> str:
    module, name = _policy_class_fields(data)
    algorithm = _guess_algorithm(data)
    policy = f"policy class {name or '?'} from {module}" if module else "no readable policy class"
    if module is not None and module.split(".")[0] == "sb3_jedi":
        return (
            f"{where} was saved by an sb3-jedi version that did not yet record its checkpoint format ({policy}). "
            f"This sb3-jedi ({__version__}) reads checkpoint formats {MIN_CHECKPOINT_FORMAT_VERSION} to "
            f"{CHECKPOINT_FORMAT_VERSION}: load it with the sb3-jedi version that wrote it, or train the model again."
        )
    if algorithm is not None:
        return (
            f"{where} is not a JEDI model: it was saved by {algorithm} ({policy}). Load it with that algorithm's class, "
            f"e.g. {algorithm.split()[0]}.load(path), not with sb3-jedi."
        )
    return (
        f"{where} is not a JEDI model: it carries no sb3-jedi marker ({policy}). Load it with the algorithm that "
        "saved it; JEDI.load only reads files written by JEDI.save (or its subclasses' save)."
    )


def check_jedi_checkpoint(
    path_or_file: str | os.PathLike | IO[bytes] | io.BufferedIOBase,
    *,
    expected_algorithm: str | None = None,
) -> dict[str, Any]:
    """
    Check that a model file was written by a compatible sb3-jedi, without unpickling anything.

    Raises :class:`InvalidCheckpointError` (a ``ValueError``) naming the problem and the fix when the file is not a
    file or not a zip archive, is truncated or corrupt (CRC check of every entry), lacks ``data`` or ``policy.pth``,
    was saved by another algorithm (named when it can be told, e.g. PPO or DQN), by another sb3-jedi algorithm than
    ``expected_algorithm``, or by an sb3-jedi whose checkpoint format this version cannot read. A missing file raises
    :class:`CheckpointNotFoundError` (both a ``ValueError`` and a ``FileNotFoundError``).

    :param path_or_file: path of the zip (as for ``JEDI.load``, ``.zip`` may be left out) or a readable binary file
        object; a file object's position is restored afterwards
    :param expected_algorithm: the class name the file must have been saved by (e.g. ``"JEDI"``); ``None`` accepts
        any sb3-jedi algorithm
    :return: what the file says about itself: ``algorithm_name``, ``sb3_jedi_version``,
        ``checkpoint_format_version``, ``sb3_version`` (``None`` if absent), ``num_timesteps`` (``None`` if absent),
        ``files`` (the archive's entry names) and ``data`` (the parsed JSON, pickled values left as base64 strings)
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        path = _resolve_path(path_or_file)
        where = str(path)
        with open(path, "rb") as file:
            return _check_open_file(file, where, expected_algorithm)
    if not hasattr(path_or_file, "read") or not hasattr(path_or_file, "seek"):
        raise InvalidCheckpointError(f"Expected a path or a seekable binary file object, got {type(path_or_file).__name__}.")
    where = getattr(path_or_file, "name", None) or f"the {type(path_or_file).__name__} passed in"
    start = path_or_file.tell()
    try:
        return _check_open_file(path_or_file, str(where), expected_algorithm)
    finally:
        path_or_file.seek(start)


def _check_open_file(file: IO[bytes] | io.BufferedIOBase, where: str, expected_algorithm: str | None) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            try:
                bad_entry = archive.testzip()  # reads every entry and checks its CRC
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                raise InvalidCheckpointError(
                    f"{where} is a damaged zip archive ({error}): the file was truncated or corrupted, e.g. by an "
                    "interrupted copy or download. Copy it again, or use an older checkpoint."
                ) from error
            if bad_entry is not None:
                raise InvalidCheckpointError(
                    f"{where} is corrupt: entry {bad_entry!r} fails its CRC check (the bytes changed after saving). "
                    "Copy the file again, or use an older checkpoint."
                )
            missing = [name for name in REQUIRED_ENTRIES if name not in names]
            if "data" in missing:
                raise InvalidCheckpointError(
                    f"{where} is a zip archive but not a Stable-Baselines3 model: it has no 'data' entry (entries: "
                    f"{names[:10]}). Pass the .zip written by model.save()."
                )
            raw = archive.read("data")
            sb3_version = None
            if "_stable_baselines3_version" in names:
                sb3_version = archive.read("_stable_baselines3_version").decode(errors="replace").strip()
    except zipfile.BadZipFile as error:
        raise InvalidCheckpointError(
            f"{where} is not a readable zip archive ({error}). A model saved with model.save() is a zip file; this "
            "one is truncated, corrupted or some other kind of file. Copy it again or pass the right file."
        ) from error

    try:
        data = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidCheckpointError(
            f"{where}: its 'data' entry is not valid JSON ({error}); the file is corrupt or was not written by "
            "Stable-Baselines3. Use another copy or an older checkpoint."
        ) from error
    if not isinstance(data, dict):
        raise InvalidCheckpointError(f"{where}: its 'data' entry is not a JSON object; the file is not an SB3 model.")

    algorithm = data.get("algorithm_name")
    format_version = data.get("checkpoint_format_version")
    saved_by = data.get("sb3_jedi_version")
    if not isinstance(algorithm, str) or not isinstance(format_version, int) or isinstance(format_version, bool):
        raise InvalidCheckpointError(_describe_other_model(data, where))
    if format_version > CHECKPOINT_FORMAT_VERSION:
        raise InvalidCheckpointError(
            f"{where} was saved by sb3-jedi {saved_by} in checkpoint format {format_version}, newer than this "
            f"sb3-jedi ({__version__}) can read (formats {MIN_CHECKPOINT_FORMAT_VERSION} to {CHECKPOINT_FORMAT_VERSION}). "
            "Upgrade sb3-jedi (pip install -U sb3-jedi) to load it."
        )
    if format_version < MIN_CHECKPOINT_FORMAT_VERSION:
        raise InvalidCheckpointError(
            f"{where} was saved by sb3-jedi {saved_by} in checkpoint format {format_version}, which this sb3-jedi "
            f"({__version__}) no longer reads (formats {MIN_CHECKPOINT_FORMAT_VERSION} to {CHECKPOINT_FORMAT_VERSION}). "
            f"Load it with sb3-jedi {saved_by}, or train the model again."
        )
    if "policy.pth" in missing:
        raise InvalidCheckpointError(
            f"{where} has no 'policy.pth' entry: the network weights are missing (a partial or hand-edited file). "
            "Use a complete file written by model.save()."
        )
    if expected_algorithm is not None and algorithm != expected_algorithm:
        raise InvalidCheckpointError(
            f"{where} holds a {algorithm} model, not a {expected_algorithm} one: load it with {algorithm}.load(path) "
            f"(from sb3_jedi), or sb3_jedi.checkpoints.load_checkpoint for a checkpoint directory."
        )
    return {
        "algorithm_name": algorithm,
        "sb3_jedi_version": saved_by,
        "checkpoint_format_version": format_version,
        "sb3_version": sb3_version,
        "num_timesteps": data.get("num_timesteps"),
        "files": names,
        "data": data,
    }
