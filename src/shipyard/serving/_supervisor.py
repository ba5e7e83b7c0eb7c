"""The supervisor of ``serve(workers=N)``'s processes, run as ``python -m
shipyard.serving._supervisor PLAN`` by ``_workers.run_workers`` (never imported otherwise).

It is the ``__main__`` of its interpreter, so the workers uvicorn spawns from here import
this module again (as ``__mp_main__``, doing nothing) rather than the caller's script.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from shipyard.serving._workers import APP


def _stop_when_orphaned() -> None:
    """Stop this supervisor (as Ctrl-C would) once its caller is gone: stdin closes."""
    while os.read(0, 4096):  # the raw descriptor: no buffer lock held at exit
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    """uvicorn's supervisor, its ``workers`` processes importing ``_workers.APP``; ``PLAN``
    (JSON): host, port, workers, log level and the caller's ``sys.path``."""
    import uvicorn

    plan = json.loads(sys.argv[1])
    sys.path[:] = [*plan["path"], *(p for p in sys.path if p not in plan["path"])]
    threading.Thread(target=_stop_when_orphaned, name="orphaned", daemon=True).start()
    uvicorn.run(
        APP,
        factory=True,
        host=plan["host"],
        port=plan["port"],
        workers=plan["workers"],
        log_level=plan["log_level"],
        access_log=False,
    )


if __name__ == "__main__":
    main()
