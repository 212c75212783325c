"""Load the scripts of ``benchmarks/`` (not a package) as modules, for the tests that call their functions."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Execute ``benchmarks/<name>.py`` afresh and return it as a module named ``name``.

    The module is registered in ``sys.modules`` before it runs: dataclasses (and pickling) resolve a class's module
    by name, and a script that imports another one (``learning_results`` from ``baseline_curve``) finds it there.
    """
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"No benchmark script {BENCHMARKS / f'{name}.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
