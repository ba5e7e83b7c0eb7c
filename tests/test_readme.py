"""The README's Python blocks run as written: top to bottom, in one namespace (as a notebook
runs its cells), on a fresh store after the quick start. A block headed with a file name
(```` ```python serve.py ````) is a script of its own: it runs in a namespace of its own, and
not as ``__main__`` (its guarded server does not start). A block that fails names its line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```\s*(\S*)\s*(\S*)")

# Runs the blocks of a README given as JSON [path, [[line, code, script], ...]]: the session's
# in one module, which cloudpickle ships by value as it does a script's or a notebook's
# ``__main__`` (pipeline steps travel to worker processes so); a script's (``script`` names its
# file) in a namespace of its own named after it. No block runs as "__main__", so a guarded
# ``serving.serve(...)`` does not start. Each block is compiled under the README's path at its
# own line numbers: tracebacks and ``inspect.getsource`` point into the README itself.
RUNNER = """
import json, sys, time, traceback, types
import cloudpickle
path, blocks = json.loads(open(sys.argv[1]).read())
module = sys.modules["readme"] = types.ModuleType("readme")
cloudpickle.register_pickle_by_value(module)
session = module.__dict__
for line, code, script in blocks:
    print(f"{path}:{line}: running the python block " + script, flush=True)
    namespace = {"__name__": script[:-3]} if script else session
    started = time.perf_counter()
    try:
        exec(compile("\\n" * (line - 1) + code, path, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"{path}: the python block at line {line} failed", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"{path}:{line}: done in {time.perf_counter() - started:.1f} s", flush=True)
print(f"{len(blocks)} python blocks ran", flush=True)
"""


def python_blocks(text: str) -> list[tuple[int, str, str]]:
    """Each ```python block of ``text``: the line number of its first line of code, its code,
    and the file name after ``python`` on its fence ("" for a block of the session)."""
    blocks: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    start: int | None = None
    language = script = ""
    for number, line in enumerate(lines, start=1):
        match = FENCE.match(line)
        if match is None:
            continue
        if start is None:
            start, language, script = number + 1, match.group(1), match.group(2)
        else:
            if language == "python":
                code = "\n".join(lines[start - 1 : number - 1]) + "\n"
                blocks.append((start, code, script))
            start = None
    assert start is None, f"README.md: the block opened at line {start - 1} is never closed"
    return blocks


def run_blocks(
    readme: Path, blocks: list[tuple[int, str, str]], cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    spec = cwd / "readme-blocks.json"
    spec.write_text(json.dumps([str(readme), blocks]))
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(spec)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fresh_store_env(home: Path) -> dict[str, str]:
    """This environment with a fresh SHIPYARD_HOME and nothing else pointing at a store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def test_every_python_block_of_the_readme_is_extracted() -> None:
    text = README.read_text()
    blocks = python_blocks(text)
    openings = [
        m.group(1) for m in map(FENCE.match, text.splitlines()) if m and m.group(1) != ""
    ]  # every fence that names a language opens a block
    pythonish = [lang for lang in openings if lang.lower() in ("py", "python", "python3", "pycon")]
    assert len(blocks) == pythonish.count("python") == len(pythonish) == text.count("```python")
    assert len(blocks) >= 8
    assert all(code.strip() for _, code, _ in blocks)
    assert blocks[0][1].startswith("import shipyard as sy")
    scripts = [(code, script) for _, code, script in blocks if script]
    assert [script for _, script in scripts] == ["serve.py"]
    for code, _ in scripts:  # a script that serves guards it: its workers import it again
        assert re.search(r'^if __name__ == "__main__":.*\n    serving\.serve\(', code, re.M)


def test_a_failing_block_names_its_line(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Demo\n\n```python\nx = 1\n```\n\ntext\n\n```bash\necho no\n```\n\n"
        "```python own.py\nassert __name__ == 'own' and 'x' not in dir()\n```\n\n"
        "```python\ny = x + 1\nassert y == 3, 'y is not 3'\n```\n"
    )
    blocks = python_blocks(readme.read_text())
    assert blocks == [
        (4, "x = 1\n", ""),
        (14, "assert __name__ == 'own' and 'x' not in dir()\n", "own.py"),
        (18, "y = x + 1\nassert y == 3, 'y is not 3'\n", ""),
    ]
    done = run_blocks(readme, blocks, tmp_path, fresh_store_env(tmp_path / "home"), 60)
    assert done.returncode == 1
    assert f"{readme}: the python block at line 18 failed" in done.stderr
    assert f'File "{readme}", line 19' in done.stderr  # the traceback points into the README
    assert "AssertionError: y is not 3" in done.stderr
    assert f"{readme}:4: running" in done.stdout and "python blocks ran" not in done.stdout


@pytest.mark.slow
def test_the_readme_runs_as_written_after_the_quick_start(
    tmp_path: Path, quickstart_store: tuple[Path, str]
) -> None:
    env = fresh_store_env(tmp_path / ".shipyard")
    # the store of ``shipyard quickstart`` at a third of its default size (the same names, a
    # third of the time), run once for the session and copied here
    shutil.copytree(quickstart_store[0], tmp_path / ".shipyard")
    blocks = python_blocks(README.read_text())
    done = run_blocks(README, blocks, tmp_path, env, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert f"{len(blocks)} python blocks ran" in done.stdout
    assert (tmp_path / "search.html").is_file() and (tmp_path / "drift.html").is_file()
