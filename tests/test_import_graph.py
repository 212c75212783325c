"""
The algorithms do not depend on the tools built on them: no module of ``sb3_jedi`` that holds an algorithm (the agent,
its policies, world model, buffers, callbacks, saved-file checks, ...) imports ``sb3_jedi.hub``, ``sb3_jedi.cli``,
``sb3_jedi.checkpoints`` or ``sb3_jedi.evaluation``: not at module level, not inside a function, not through another
module of the package.

The imports are read from the source with :mod:`ast` (nothing is imported), so an import that only runs when a method
is called counts as much as one at the top of the file.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import sb3_jedi

PACKAGE_DIR = Path(sb3_jedi.__file__).resolve().parent

#: The tool modules (with their submodules): the command line, the Hub, checkpointed runs, and the evaluation suite.
TOOL_MODULES = ("sb3_jedi.hub", "sb3_jedi.cli", "sb3_jedi.checkpoints", "sb3_jedi.evaluation")
#: Other front ends built on the algorithms, which may use the tool modules: the efficiency benchmarks and the
#: rl-baselines3-zoo route. Every other module is on the algorithm side.
OTHER_TOOLS = ("sb3_jedi.benchmarks", "sb3_jedi.zoo")


def _is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def package_modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name (a package by the name of its ``__init__``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of ``from <dots><module> import ...`` written in a module of ``package``."""
    if level == 0:
        return module or ""
    base = package.split(".")
    if level - 1 >= len(base):
        raise ValueError(f"relative import beyond the top-level package {package!r}")
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _dynamic_import(node: ast.Call) -> str | None:
    """The module of ``importlib.import_module("...")``, ``import_module("...")`` or ``__import__("...")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def imported_names(path: Path, module: str, is_package: bool) -> list[tuple[str, int]]:
    """
    The modules a source file imports, with the line of each import, wherever the statement is (module level,
    functions, methods, ``if TYPE_CHECKING:`` blocks): ``import a.b``, ``from a.b import c`` (both ``a.b`` and
    ``a.b.c``, since ``c`` may be a module), relative imports resolved against the file's package, and
    ``import_module`` / ``__import__`` calls with a literal name.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    names: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            names.append((base, node.lineno))
            names.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            target = _dynamic_import(node)
            if target is not None:
                dots = len(target) - len(target.lstrip("."))
                names.append((_absolute(target.lstrip(".") or None, dots, package) if dots else target, node.lineno))
    return names


def import_graph(package_dir: Path) -> dict[str, dict[str, int]]:
    """
    For each module of the package, the modules of the package it imports, each with the first line importing it.
    Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too, so the parent packages count as imported.
    """
    modules = package_modules(package_dir)
    graph = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(path, module, path.name == "__init__.py"):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in modules and prefix != module:
                    edges[prefix] = min(line, edges.get(prefix, line))
        graph[module] = edges
    return graph


def tool_imports(package_dir: Path) -> list[str]:
    """
    The imports of tool modules by algorithm-side modules, as ``"<module> imports <tool module> (line <n>)"``; empty
    when there is none.

    Importing an algorithm-side module that imports a tool is reported at that module, so checking the direct imports
    of every algorithm-side module also rules out indirect ones. For the same reason the other front ends
    (:data:`OTHER_TOOLS`) are forbidden too: through them an algorithm would reach the tools.
    """
    graph = import_graph(package_dir)
    forbidden = TOOL_MODULES + OTHER_TOOLS
    violations = []
    for module in sorted(graph):
        if _is_under(module, forbidden):
            continue
        # One report per import statement: the deepest tool module it names (``sb3_jedi.evaluation.protocol``).
        by_line: dict[int, str] = {}
        for imported, line in graph[module].items():
            if _is_under(imported, forbidden) and len(imported) > len(by_line.get(line, "")):
                by_line[line] = imported
        violations.extend(f"{module} imports {imported} (line {line})" for line, imported in sorted(by_line.items()))
    return violations


def test_algorithm_modules_do_not_import_tool_modules():
    violations = tool_imports(PACKAGE_DIR)
    assert not violations, (
        "Algorithm modules must not import the tool modules " + ", ".join(TOOL_MODULES) + " (not even inside a "
        "function): the tools are built on the algorithms, not the other way round. Move the code into the tool "
        "module, or list a new front-end module in OTHER_TOOLS. Found:\n" + "\n".join(violations)
    )


def test_the_graph_covers_the_package():
    graph = import_graph(PACKAGE_DIR)
    algorithm_side = {name for name in graph if not _is_under(name, TOOL_MODULES + OTHER_TOOLS)}
    # The modules the rule is about are checked, and every tool module exists (a renamed one would go unchecked).
    checked = {"sb3_jedi.jedi", "sb3_jedi.diamond", "sb3_jedi.policies", "sb3_jedi.buffers", "sb3_jedi.save_util"}
    checked |= {"sb3_jedi.world_model.world_model", "sb3_jedi.callbacks", "sb3_jedi.actor_critic", "sb3_jedi.imagination"}
    assert checked <= algorithm_side
    for tool in TOOL_MODULES:
        assert tool in graph, f"{tool} is not a module of sb3_jedi any more: update TOOL_MODULES"
    # The tools do import the algorithms: the graph sees real edges, at module level and inside functions.
    assert "sb3_jedi.save_util" in graph["sb3_jedi.hub"]
    assert "sb3_jedi.jedi" in graph["sb3_jedi"]
    assert "sb3_jedi.evaluation" in graph["sb3_jedi.hub"]  # imported inside push_to_hub


# Every way of writing an import, in a small package laid out as sb3_jedi is.
IMPORT_FORMS = {
    "module level, import": "import sb3_jedi.hub\n",
    "module level, import as": "import sb3_jedi.evaluation.protocol as protocol\n",
    "module level, from": "from sb3_jedi.cli import main\n",
    "from the package": "from sb3_jedi import checkpoints\n",
    "relative module": "from . import hub\n",
    "relative from": "from .evaluation import evaluate_atari100k\n",
    "inside a function": "def load(repo_id):\n    from sb3_jedi.hub import load_from_hub\n    return load_from_hub(repo_id)\n",
    "inside a method": "class A:\n    def push(self):\n        import sb3_jedi.hub as hub\n        return hub\n",
    "type checking only": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sb3_jedi.hub import push_to_hub\n",
    "import_module": "import importlib\n\ndef f():\n    return importlib.import_module('sb3_jedi.cli')\n",
}


def _write_package(root: Path, algorithm_source: str, nested_source: str = "", helper_source: str = "") -> Path:
    package = root / "sb3_jedi"
    for name in ("evaluation", "world_model"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    files = {
        "__init__.py": "",
        "jedi.py": algorithm_source,
        "hub.py": "from sb3_jedi.jedi import JEDI\n",
        "cli.py": "from sb3_jedi import hub\n",
        "checkpoints.py": "",
        "helper.py": helper_source,
        "evaluation/protocol.py": "",
        "world_model/model.py": nested_source,
    }
    for name, source in files.items():
        (package / name).write_text(textwrap.dedent(source))
    return package


@pytest.mark.parametrize("form", sorted(IMPORT_FORMS))
def test_every_import_form_is_caught(tmp_path, form):
    package = _write_package(tmp_path, IMPORT_FORMS[form])
    (violation,) = tool_imports(package)
    assert violation.startswith("sb3_jedi.jedi imports sb3_jedi."), violation


def test_a_helper_module_is_on_the_algorithm_side(tmp_path):
    # An algorithm cannot reach a tool through a helper module: the helper's import is caught.
    helper = "def f():\n    from sb3_jedi.checkpoints import load_checkpoint\n"
    package = _write_package(tmp_path, "from sb3_jedi import helper\n", helper_source=helper)
    assert tool_imports(package) == ["sb3_jedi.helper imports sb3_jedi.checkpoints (line 2)"]


def test_an_algorithm_cannot_import_another_front_end(tmp_path):
    package = _write_package(tmp_path, "from sb3_jedi.zoo import main\n")
    (package / "zoo.py").write_text("from sb3_jedi.cli import main\n")
    assert tool_imports(package) == ["sb3_jedi.jedi imports sb3_jedi.zoo (line 1)"]


def test_relative_import_from_a_subpackage_is_caught(tmp_path):
    package = _write_package(tmp_path, "", nested_source="def f():\n    from ..hub import push_to_hub\n")
    assert tool_imports(package) == ["sb3_jedi.world_model.model imports sb3_jedi.hub (line 2)"]


def test_clean_package_passes(tmp_path):
    # Tools importing algorithms, and each other, is the allowed direction; so are names that only start alike.
    package = _write_package(tmp_path, "import sb3_jedi.world_model\nfrom sb3_jedi import helper_free\n")
    (package / "helper_free.py").write_text("import sb3_jedi_hub_client\nfrom sb3_jedi.world_model import model\n")
    assert tool_imports(package) == []


def test_hub_methods_on_the_algorithm_class_are_caught(tmp_path):
    """Hub methods on the algorithm class, importing sb3_jedi.hub lazily inside the methods, break the rule."""
    old_methods = '''
        class JEDI:
            @classmethod
            def load_from_hub(cls, repo_id, filename=None, revision=None, trust_remote_code=False, **load_kwargs):
                from sb3_jedi.hub import load_from_hub  # here: sb3_jedi.hub imports this module

                return load_from_hub(repo_id, filename, revision, trust_remote_code, **load_kwargs)

            def push_to_hub(self, repo_id, env_id, **kwargs):
                from sb3_jedi.hub import push_to_hub

                return push_to_hub(self, repo_id, env_id, **kwargs)
    '''
    package = _write_package(tmp_path, old_methods)
    # Reported once, at the first line importing the tool module.
    assert tool_imports(package) == ["sb3_jedi.jedi imports sb3_jedi.hub (line 5)"]
