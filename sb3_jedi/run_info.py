"""What run records (run.json, Hub configs, benchmark and result files) say about the software and the settings."""

import importlib
import inspect
import platform
import subprocess
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable", "library_versions", "source_commit"]

_LIBRARIES = ("sb3_jedi", "stable_baselines3", "torch", "gymnasium", "ale_py", "numpy")


def library_versions() -> dict[str, str]:
    """
    Versions of Python, the platform and the libraries a run depends on, keyed by module name.

    :return: e.g. ``{"python": "3.11.7", "platform": ..., "sb3_jedi": "0.1.0", "torch": "2.13.0+cpu", ...}``
        (``"unknown"`` for a library that cannot be imported)
    """
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for module in _LIBRARIES:
        try:
            versions[module] = str(importlib.import_module(module).__version__)
        except (ImportError, AttributeError):
            versions[module] = "unknown"
    return versions


def source_commit(path: str | Path, results_dir: str = "benchmarks/results") -> str:
    """
    The git commit of the repository that holds ``path``, with ``-dirty`` appended when tracked files other than result
    files differ from it: the code a run records it ran on (read it before the run, while the tree may still change).

    :param path: a file or folder inside the repository
    :param results_dir: folder, relative to the repository's root, whose changes (results written by running jobs) do
        not count as changed code
    :return: the 40-digit hash, maybe with ``-dirty``, or ``"unknown"`` outside a git repository
    """
    folder = Path(path).resolve()
    folder = folder if folder.is_dir() else folder.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=folder)
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", f":(top,exclude){results_dir}"],
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if changed.stdout.strip() else "")


def jsonable(value: Any) -> Any:
    """
    A JSON value describing ``value``: containers converted, numpy values unwrapped, classes and functions by qualified
    name, anything else by its ``repr``.

    :param value: a hyper-parameter or setting
    :return: a value ``json.dumps`` accepts
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, type) or inspect.isfunction(value):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)
