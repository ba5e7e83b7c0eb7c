"""A local pipeline worker: a fresh interpreter that runs steps sent over a connection.

The parent (:class:`~shipyard.pipelines._executors.LocalExecutor`) starts it with
``subprocess`` (not multiprocessing's ``spawn``, which re-imports the caller's
``__main__``: a script running a pipeline without an ``if __name__ == "__main__":`` guard
would run again in each worker), hands it one end of a socket pair and its own import path
on the command line, and sends it :class:`~shipyard.pipelines._task.Task` objects; each
answer is a :class:`~shipyard.pipelines._task.TaskResult`. The worker ends when the
connection closes (or its parent process does). A step that hangs or runs past its timeout
is ended by killing the worker, which the parent then replaces. Between runs, idle workers
wait in the parent's pool for the next run with the same settings.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from multiprocessing.connection import Connection

from shipyard.pipelines._task import execute

__all__ = ["BOOT", "PARENT_ENV", "main"]

#: The coordinator's pid, given to its workers (they end when it does).
PARENT_ENV = "SHIPYARD_PIPELINE_PARENT"

BOOT = (
    "import sys; sys.path[:0] = [p for p in sys.argv[2:] if p not in sys.path]; "
    "from shipyard.pipelines._worker import main; main(int(sys.argv[1]))"
)


def _die_with_parent(parent: int) -> None:
    """End this worker when the process that started it ends, however it ends (a SIGKILLed
    coordinator leaves no worker running a step on): a thread watches the parent's pid.
    (Not ``PR_SET_PDEATHSIG``: it fires when the parent's *thread* ends, and workers outlive
    the run, and the thread, that started them.)"""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="shipyard-parent-watch", daemon=True).start()


def main(fd: int) -> None:
    """Answer tasks on the connection at descriptor ``fd`` until it closes."""
    # Ctrl-C in the terminal reaches the whole process group: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(int(os.environ.get(PARENT_ENV, "0")) or os.getppid())
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
