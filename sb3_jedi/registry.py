"""
The algorithms of this library by name, and loading a saved model without knowing which one saved it.

Classes are imported lazily: ``"DIAMOND"`` (the pixel-diffusion baseline) costs nothing until asked for.
"""

import importlib
import io
import pathlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sb3_jedi.jedi import JEDI

__all__ = ["ALGORITHMS", "get_algorithm", "load_model"]

# Lower-case name -> "module:class".
ALGORITHMS: dict[str, str] = {
    "jedi": "sb3_jedi.jedi:JEDI",
    "diamond": "sb3_jedi.diamond:DIAMOND",
}


def get_algorithm(name: str) -> "type[JEDI]":
    """
    The algorithm class registered under ``name`` (case-insensitive): ``"JEDI"`` or ``"DIAMOND"``.

    :param name: algorithm name
    :return: the class
    """
    key = str(name).lower()
    if key not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}: choose one of {', '.join(n.upper() for n in ALGORITHMS)}.")
    module_name, _, class_name = ALGORITHMS[key].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_model(path: str | pathlib.Path | io.BufferedIOBase, env: Any = None, device: str = "auto", **kwargs: Any) -> Any:
    """
    Load a model saved by any algorithm of this library: the file is checked (without unpickling) and loaded with the
    class that saved it.

    :param path: the model zip (``.zip`` may be left out)
    :param env: environment to attach (optional)
    :param device: device to load the networks on
    :param kwargs: passed on to the class's ``load``
    :return: the model
    """
    from sb3_jedi.save_util import check_jedi_checkpoint

    info = check_jedi_checkpoint(path)
    return get_algorithm(info["algorithm_name"]).load(path, env=env, device=device, **kwargs)
