"""Who owns a run: the process (host, pid, start time), its source code and environment."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

#: Packages whose versions matter to whether a model trained here loads and behaves the same.
KEY_PACKAGES = (
    "shipyard",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "lightgbm",
    "xgboost",
    "torch",
    "onnx",
    "onnxruntime",
)


@dataclass(frozen=True)
class ProcessInfo:
    """Identity of a live process: host name, pid and (on Linux) its start time.

    The start time tells a reused pid apart from the process that logged the run.
    """

    host: str
    pid: int
    started: str | None

    @classmethod
    def current(cls) -> ProcessInfo:
        pid = os.getpid()
        known = _current.get(pid)
        if known is None:  # one entry per pid: a forked child gets its own
            known = _current[pid] = cls(_hostname(), pid, _start_time(pid))
        return known


_current: dict[int, ProcessInfo] = {}


@functools.lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()


def _start_time(pid: int) -> str | None:
    """``<starttime>@<pid namespace>`` of a process of ours: pids mean something only inside
    one PID namespace (containers sharing a host name have their own)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counts from the closing parenthesis of the command name.
    return f"{stat.rsplit(')', 1)[1].split()[19]}@{_pid_namespace()}"


@functools.lru_cache(maxsize=1)
def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "?"


def is_alive(pid: int, started: str | None) -> bool:
    """Whether the process that logged a run still runs on this host.

    True when it cannot be told from here (another PID namespace, no /proc entry visible
    under ``hidepid``): the heartbeat timeout decides those.
    """
    if pid == os.getpid():
        return True
    when, _, namespace = (started or "").partition("@")
    if namespace and namespace != _pid_namespace():
        return True  # a pid from another namespace: unknowable here
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()  # no /proc at all: unknown, else gone
    except OSError:  # no /proc (macOS): fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # zombie or dead
        return False
    return not when or fields[19] == when


@functools.lru_cache(maxsize=1)
def source_info() -> dict[str, Any]:
    """Entry point of this process and the git commit (and dirty flag) of its folder."""
    main = sys.modules.get("__main__")
    entry = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    folder = Path(entry).resolve().parent if entry and Path(entry).exists() else Path.cwd()
    info: dict[str, Any] = {"entry_point": entry or "<interactive>", "commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            info["commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=5,
            )
            info["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or not a repository: source stays unknown
    return info


@functools.lru_cache(maxsize=1)
def environment_info() -> dict[str, Any]:
    """Python, platform and the versions of the key packages installed."""
    packages: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages,
    }
