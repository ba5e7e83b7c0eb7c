"""Regressions found in review: bad steps, end races, forks, pid namespaces, param races,
NUL characters, purged runs, damaged blobs, autolog clashes, exit statuses, shared steps."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import shipyard as sy
from shipyard.errors import InvalidInput, NotFound
from shipyard.store import default_artifacts
from shipyard.tracking import tracking_store
from shipyard.tracking._process import ProcessInfo, is_alive


def test_a_step_beyond_64_bits_is_refused_and_blocks_nothing(home):
    with sy.start_run(experiment="steps") as run:
        with pytest.raises(InvalidInput, match="64 bits"):
            run.log_metric("bad", 1.0, step=2**63)
        for step in range(10):
            run.log_metric("loss", 1.0 / (step + 1))
    data = sy.get_run(run.id)
    assert data.info.status == "finished" and data.metrics["loss"].count == 10


def test_points_logged_while_a_run_ends_are_stored_or_refused(home):
    run = sy.start_run(experiment="race")
    stored_or_refused = {"ok": 0, "refused": 0}
    stop = threading.Event()

    def logger() -> None:
        while not stop.is_set():
            try:
                run.log_metric("x", 1.0)
                stored_or_refused["ok"] += 1
            except InvalidInput:
                stored_or_refused["refused"] += 1
                return

    thread = threading.Thread(target=logger)
    thread.start()
    time.sleep(0.05)
    run.end()
    stop.set()
    thread.join()
    assert sy.get_run(run.id).metrics["x"].count == stored_or_refused["ok"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_neither_ends_nor_duplicates_the_parents_run(home):
    with sy.start_run(experiment="fork") as run:
        run.log_metric("x", 1.0)
        run.log_metric("x", 2.0)
        pid = os.fork()
        if pid == 0:  # child: log one point of its own, flush it, exit through atexit
            try:
                run.log_metric("child", 5.0)
                run.flush()
                run.end()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert sy.get_run(run.id).info.status == "running"
        run.log_metric("x", 3.0)
    data = sy.get_run(run.id)
    assert data.info.status == "finished"
    assert data.metrics["x"].count == 3 and data.metrics["child"].count == 1


def test_a_pid_from_another_namespace_is_left_to_the_heartbeat(home):
    me = ProcessInfo.current()
    assert is_alive(999_999, f"123@{me.started.partition('@')[2]}") is False
    assert is_alive(999_999, "123@some-other-namespace") is True


def test_racing_writers_of_the_same_params_do_not_conflict(backend):
    run = sy.start_run(experiment="params")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(10):
                run.log_params({f"p{n}": n, "shared": "same"})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.end()
    assert errors == []
    assert len(sy.get_run(run.id).params) == 11


def test_nul_characters_are_refused_on_every_backend(backend):
    with sy.start_run(experiment="nul") as run:
        with pytest.raises(InvalidInput, match="NUL"):
            run.log_param("p", "a\x00b")
        with pytest.raises(InvalidInput, match="NUL"):
            run.set_tag("t", "a\x00b")


def test_flushing_a_purged_run_says_so(home):
    run = sy.start_run(experiment="purged")
    run.log_metric("x", 1.0)
    run.flush()
    tracking_store().delete_run(run.id, purge=True)
    run.log_metric("x", 2.0)
    with pytest.raises(NotFound, match="no longer exists"):
        run.flush()
    run.end()  # nothing left to end: a no-op, and the run is no longer active
    assert sy.active_run() is None
    other = sy.start_run(experiment="purged")
    run2_points = [other.log_metric("y", 1.0)]
    other.log_metric("y", 2.0)
    tracking_store().delete_run(other.id, purge=True)
    with pytest.raises(NotFound, match="no longer exists"):
        other.end()
    assert sy.active_run() is None and run2_points == [None]


def test_a_damaged_blob_is_repaired_by_storing_it_again(home):
    store = default_artifacts()
    blob = store.put_bytes(b"precious content")
    path = store.local_path(blob.digest)
    path.write_bytes(b"")
    store.put_bytes(b"precious content")
    assert store.get_bytes(blob.digest) == b"precious content"


def test_autolog_never_blocks_fit_and_logs_numpy_scalars_plainly(home):
    from sklearn.linear_model import Ridge

    sy.autolog()
    try:
        with sy.start_run(experiment="auto") as run:
            run.log_param("alpha", 0.25)
            model = Ridge(alpha=np.float32(0.5)).fit(np.eye(3), np.arange(3.0))
        assert hasattr(model, "coef_")
        with sy.start_run(experiment="auto2") as other:
            Ridge(alpha=np.float64(0.5)).fit(np.eye(3), np.arange(3.0))
        assert sy.get_run(other.id).params["alpha"] == "0.5"
    finally:
        sy.autolog(disable=True)


def test_ctrl_c_at_top_level_marks_an_open_run_killed(home, run_script):
    result = run_script(
        """
        import shipyard as sy
        run = sy.start_run(experiment="exit")
        print(run.id, flush=True)
        raise KeyboardInterrupt
        """,
        check=False,
    )
    run_id = result.stdout.split()[0]
    assert sy.get_run(run_id).info.status == "killed"


def test_log_metrics_logs_every_key_at_one_step(home):
    with sy.start_run(experiment="same-step") as run:
        run.log_metric("loss", 1.0)
        run.log_metric("loss", 0.5)
        run.log_metrics({"acc": 0.9, "loss": 0.4})
    data = sy.get_run(run.id)
    assert data.metrics["acc"].step == data.metrics["loss"].step == 2


def test_ordering_by_a_param_puts_numbers_in_numeric_order(backend):
    for epochs in ("9", "25", "2", "100", "10", "many"):
        with sy.start_run(experiment="order", name=f"e{epochs}") as run:
            run.log_param("epochs", epochs)
    found = sy.search_runs("order", order_by=["params.epochs desc"])
    assert list(found["params.epochs"]) == ["100", "25", "10", "9", "2", "many"]
    found = sy.search_runs("order", filter="params.epochs > 5", order_by=["params.epochs"])
    assert list(found["params.epochs"]) == ["9", "10", "25", "100"]
    seen, token = [], None
    while True:
        page = sy.search_runs("order", order_by=["params.epochs"], max_results=2, page_token=token)
        seen.extend(page["params.epochs"])
        token = page.attrs["next_page_token"]
        if token is None:
            break
    assert seen == ["2", "9", "10", "25", "100", "many"]
