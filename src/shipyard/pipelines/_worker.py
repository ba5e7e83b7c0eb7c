"""A local pipeline worker: a fresh interpreter that runs steps sent over a connection.

The parent (:class:`~shipyard.pipelines._executors.LocalExecutor`) starts it with
``subprocess`` (not multiprocessing's ``spawn``, which re-imports the caller's
``__main__``: a script running a pipeline without an ``if __name__ == "__main__":`` guard
would run again in each worker), hands it one end of a socket pair and its own import path
on the command line, and sends it :class:`~shipyard.pipelines._task.Task` objects; each
answer is a :class:`~shipyard.pipelines._task.TaskResult`. The worker ends when the
connection closes. A step that hangs or runs past its timeout is ended by killing the
worker, which the parent then replaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
from multiprocessing.connection import Connection

from shipyard.pipelines._task import execute

__all__ = ["BOOT", "main"]

BOOT = (
    "import sys; sys.path[:0] = [p for p in sys.argv[2:] if p not in sys.path]; "
    "from shipyard.pipelines._worker import main; main(int(sys.argv[1]))"
)


def _die_with_parent() -> None:
    """On Linux, be killed when the process that started this one ends, however it ends
    (a SIGKILLed coordinator leaves no worker running its step on)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent was already gone
            os._exit(0)


_PR_SET_PDEATHSIG = 1


def main(fd: int) -> None:
    """Answer tasks on the connection at descriptor ``fd`` until it closes."""
    # Ctrl-C in the terminal reaches the whole process group: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    conn = Connection(fd)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            break
        task = pickle.loads(message)
        result = execute(task)
        try:
            conn.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            break
    os._exit(0)
