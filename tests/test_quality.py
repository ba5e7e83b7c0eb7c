"""Lint and architecture checks that CI runs with the tests."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Container
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(reason=f"{name} is not installed (pip install '.[dev]')")
    return found


def test_ruff_is_clean() -> None:
    folders = [d for d in ("src", "tests", "bench", "examples") if (ROOT / d).is_dir()]
    result = subprocess.run(
        [_tool("ruff"), "check", *folders], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = subprocess.run(
        [_tool("ruff"), "format", "--check", *folders], cwd=ROOT, capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_layers_point_one_way() -> None:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip(reason="not running from a source checkout")
    result = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_check_strictly() -> None:
    if not (ROOT / "src").is_dir():
        pytest.skip(reason="not running from a source checkout")
    result = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_file_names_are_unique() -> None:
    # pytest imports test files by basename (no __init__.py): two alike break collection.
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


# --- Structure: no import cycles, small modules and functions, no private imports across ---

SRC = ROOT / "src" / "shipyard"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _sources() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (migrations excluded)."""
    if not SRC.is_dir():
        pytest.skip(reason="not running from a source checkout")
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.relative_to(SRC).parts:
            continue
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: Container[str]) -> set[str]:
    """Every module ``name`` imports, at module level or inside functions; ``from pkg import
    sub`` counts as importing the submodule ``pkg.sub`` when there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found


def _import_graph() -> dict[str, set[str]]:
    """Edges between sibling modules of one package (a subpackage counts as one module)."""
    modules = _sources()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in _imported(name, path, modules):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target == package:
                sibling = package
            elif target.startswith(package + "."):
                sibling = f"{package}.{target[len(package) + 1 :].split('.')[0]}"
            else:
                continue
            if sibling != name:
                graph[name].add(sibling)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.get(step, ())))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_inside_a_package() -> None:
    cycles = [c for c in _cycles(_import_graph())]
    assert cycles == [], (
        "Modules of one package import each other (imports inside functions count too): "
        f"{cycles}. Move what both need into a third module both import, or pass it in; "
        "see docs/ARCHITECTURE.md."
    )


def test_the_cycle_check_sees_function_level_and_submodule_imports(tmp_path: Path) -> None:
    source = tmp_path / "a.py"
    source.write_text(
        "import p.c\n"
        "def f():\n"
        "    from p import b, name\n"
        "    from . import d\n"
        "    from .e import thing\n"
    )
    modules = {"p", "p.a", "p.b", "p.c", "p.d", "p.e"}
    assert _imported("p.a", source, modules) == {"p", "p.b", "p.c", "p.d", "p.e"}
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_modules_stay_under_500_lines() -> None:
    long = {
        name: n
        for name, path in _sources().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, (
        f"Modules over {MAX_MODULE_LINES} lines: {long}. Split each by job (one module per "
        "job, named for it); see docs/ARCHITECTURE.md."
    )


def test_functions_stay_under_80_lines() -> None:
    long = {}
    for name, path in _sources().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                key = f"{name}:{node.name}"
                if size > MAX_FUNCTION_LINES:
                    long[key] = size
    assert long == {}, (
        f"Functions over {MAX_FUNCTION_LINES} lines: {long}. Split each into named steps, "
        "one helper per job; see docs/ARCHITECTURE.md."
    )


def _private_imports(path: Path) -> list[str]:
    """Private (``_``-prefixed) modules or names ``path`` imports from a package other than the
    one its folder mirrors (tests/serving mirrors shipyard.serving, tests/ mirrors shipyard)."""
    folder = path.relative_to(ROOT / "tests").parent.parts
    own = ".".join(["shipyard", *folder])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for full in names:
            parts = full.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.endswith("__")]
            if parts[0] == "shipyard" and private and ".".join(parts[: private[0]]) != own:
                found.append(full)
    return found


def test_tests_import_no_private_name_of_another_package() -> None:
    offences = {
        f"tests/{path.relative_to(ROOT / 'tests').as_posix()}: {name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for name in _private_imports(path)
    }
    assert sorted(offences) == [], (
        "Tests import private names of another package; import the public name from the "
        "package's __init__ instead (or make it public there); see docs/ARCHITECTURE.md."
    )
