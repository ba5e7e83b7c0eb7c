"""Bugs a review of the pipelines found, each pinned by a run on real worker processes: the
ordering of ``after=`` with the cache, what a cache key holds, parameters posing as stored
values, code hashes of code without source, deleted blobs, processes a killed step started,
pipelines run inside a body, NUL characters on PostgreSQL, deep chains, odd names."""

from __future__ import annotations

import collections
import enum
import importlib
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.errors import InvalidInput, NotFound


@pytest.fixture(autouse=True)
def _home(home: Path) -> Path:
    return home


# -- after= with a cached step later in the graph -----------------------------------------


@sy.step(after=["second"])
def first() -> int:
    return 1


@sy.step
def second() -> int:
    return 2


@sy.pipeline(name="review-after")
def waits_for_a_later_step():
    first()
    return second()


def test_a_step_after_a_later_step_served_from_the_cache_still_runs() -> None:
    assert waits_for_a_later_step().status == "succeeded"
    again = waits_for_a_later_step()
    # was: 'first' left pending (its wait ended in the pass that took 'second' from the
    # cache, after 'first' had been looked at) and the run said succeeded
    assert [(s.name, s.status) for s in again.steps] == [("first", "cached"), ("second", "cached")]


# -- an argument named "code" ------------------------------------------------------------


@sy.step
def shout(code: str) -> str:
    return "shout:" + code


@sy.step
def whisper(code: str) -> str:
    return "whisper:" + code


@sy.pipeline(name="review-shout")
def shouting():
    return shout("x")


@sy.pipeline(name="review-whisper")
def whispering():
    return whisper("x")


def test_an_argument_named_code_does_not_replace_the_code_in_the_cache_key() -> None:
    assert shouting().status == "succeeded"
    run = whispering()
    assert run.step("whisper").status == "succeeded"  # was: cached, from 'shout'
    assert sy.pipelines.output(run.id, "whisper") == "whisper:x"


# -- parameters posing as stored values --------------------------------------------------


@sy.step
def echo(x: object) -> str:
    return repr(x)[:40]


@sy.pipeline(name="review-echo")
def echoing(x: object = 1):
    return echo(x)


class _Marker:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (os.environ["SHIPYARD_HOME"] + "/unpickled",))


def test_a_parameter_posing_as_a_stored_value_is_refused(home: Path) -> None:
    data = pickle.dumps(_Marker())
    posing = {"$stored": {"kind": "pickle", "digest": "0" * 64, "size": len(data), "meta": {}}}
    posing["$stored"]["inline"] = data.decode("latin-1")
    sy.pipelines.register(echoing)
    with pytest.raises(InvalidInput, match=r"Parameter 'x' .*'\$stored'"):
        sy.pipelines.enqueue("review-echo", params={"x": posing})  # was: unpickled on run
    with pytest.raises(InvalidInput, match="reserved"):
        echoing(x=posing)
    with pytest.raises(InvalidInput, match="reserved"):
        sy.pipelines.register(echoing, params={"x": posing})
    assert not (home / "unpickled").exists()
    assert sy.pipelines.list_runs() == []


# -- code without source (exec'd, as a notebook does) -----------------------------------

_EXECED = """
import shipyard as sy
ns = {"__name__": "__main__"}
exec('''
import shipyard as sy
@sy.step
def squares(n):
    return [i * i for i in range(n)]
@sy.step
def cubes(n):
    return [pow(i, 3) for i in range(n)]
''', ns)
print(ns["squares"].code_hash, ns["cubes"].code_hash)
"""


def test_a_step_without_source_keeps_its_code_hash_across_processes() -> None:
    hashes = [
        subprocess.run(
            [sys.executable, "-c", _EXECED], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert hashes[0] == hashes[1]  # was: a comprehension's code object hashed by its address
    assert hashes[0][0] != hashes[0][1]


# -- a cached output whose blob was deleted ----------------------------------------------


@sy.step
def many(n: int) -> list[int]:
    return list(range(n))


@sy.step
def total(xs: list[int]) -> int:
    return sum(xs)


@sy.pipeline(name="review-blob")
def blob(n: int = 3000):
    return total(many(n))


def test_a_cached_output_whose_blob_was_deleted_runs_again(home: Path) -> None:
    run = blob()
    digest = run.step("many").output_digest
    assert digest is not None and run.step("many").output_size > 4096
    blobs = [p for p in home.rglob(digest) if p.is_file()]
    assert blobs
    for path in blobs:
        path.unlink()
    again = blob()
    assert again.step("many").status == "succeeded"  # was: cached, and unreadable
    assert len(sy.pipelines.output(again.id, "many")) == 3000


# -- a killed step's children ------------------------------------------------------------


@sy.step(timeout=1)
def spawner(path: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    Path(path).write_text(str(child.pid))
    time.sleep(60)


@sy.pipeline(name="review-spawn")
def spawning(path: str = ""):
    return spawner(path)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_step_killed_for_its_timeout_takes_the_processes_it_started(tmp_path: Path) -> None:
    run = spawning(path=str(tmp_path / "child.pid"))
    assert "timed out after 1 s" in (run.step("spawner").error or "")
    pid = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(pid)
    if alive:
        os.kill(pid, 9)
    assert not alive  # was: left running, reparented to init


# -- a pipeline run inside a pipeline's body ---------------------------------------------


@sy.pipeline(name="review-inner")
def inner():
    return second()


@sy.pipeline(name="review-outer")
def outer():
    inner()
    return first()


def test_running_a_pipeline_inside_a_body_is_refused() -> None:
    with pytest.raises(InvalidInput, match="'review-inner' was run inside another pipeline"):
        outer.graph()  # was: 'review-inner' ran for real while the graph was only built
    assert sy.pipelines.list_runs() == []


# -- NUL characters in what a step writes ------------------------------------------------


@sy.step
def nul() -> None:
    print("a\x00b")
    raise ValueError("bad \x00 byte")


@sy.pipeline(name="review-nul")
def nuls():
    return nul()


def test_nul_characters_in_logs_and_errors_are_stored_on_every_backend(backend: str) -> None:
    run = nuls()
    assert run.status == "failed"
    # was on PostgreSQL: "the coordinator stopped: DataError(... cannot contain NUL ...)"
    assert "step 'nul' failed: attempt 1: ValueError: bad \ufffd byte" in (run.error or "")
    assert (run.step("nul").logs or "").startswith("a\ufffdb\n")


# -- a deep chain that fails at its top --------------------------------------------------


@sy.step
def boom() -> None:
    raise RuntimeError("no")


@sy.step
def link(x: object) -> object:
    return x


@sy.pipeline(name="review-chain")
def chain(depth: int = 1200):
    x = boom()
    for _ in range(depth):
        x = link(x)
    return x


def test_a_deep_chain_below_a_failed_step_is_skipped() -> None:
    run = chain()
    assert run.status == "failed"  # was: RecursionError in the coordinator
    assert "step 'boom' failed" in (run.error or "")
    assert {s.status for s in run.steps[1:]} == {"skipped"}
    assert run.step("link-1200").error == "skipped: 'boom' failed"


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["load\n", "données", "", "a b", "x" * 129])
def test_odd_step_and_pipeline_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="step name must be 1 to 128"):
        sy.step(name=name)(len)
    with pytest.raises(InvalidInput, match="pipeline name must be 1 to 128"):
        sy.pipeline(name=name)(len)


# -- cancelling a run whose coordinator died during a retry's back-off -------------------


@sy.step(retries=3, retry_delay=60)
def refuses(path: str) -> None:
    Path(path).write_text("tried")
    raise RuntimeError("not yet")


@sy.pipeline(name="review-backoff")
def backing_off(path: str = ""):
    return refuses(path)


_COORDINATOR = """
import sys
sys.path[:0] = {paths!r}
import test_pipeline_review as review
review.backing_off(path={path!r})
"""


def test_cancelling_a_run_whose_coordinator_died_in_a_back_off_ends_it(tmp_path: Path) -> None:
    marker = tmp_path / "tried"
    script = _COORDINATOR.format(paths=sys.path, path=str(marker))
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not _retrying() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    (run,) = sy.pipelines.list_runs()
    assert run.status == "running" and sy.pipelines.lost(run)
    cancelled = sy.pipelines.cancel(run.id)  # was: a flag nobody would ever read
    assert cancelled.status == "cancelled"
    assert cancelled.step("refuses").status == "cancelled"  # was: 'retrying' for ever


def _retrying() -> bool:
    runs = sy.pipelines.list_runs()
    return bool(runs) and sy.pipelines.get_run(runs[0].id).step("refuses").status == "retrying"


def test_bad_after_and_status_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match="after of step 'len' must be a list"):
        sy.step(after=None)(len)  # was: TypeError
    with pytest.raises(InvalidInput, match="status must be one of queued, running"):
        sy.pipelines.list_runs(status="bogus")  # was: [] as if there were none
    with pytest.raises(NotFound, match="No pipeline run 'nope'"):
        sy.pipelines.run_queued("nope")  # was: None, as if another claimer had taken it


# -- many ready steps waiting for a slot -------------------------------------------------


@sy.step
def plus(x: int, i: int) -> int:
    return x + i


@sy.pipeline(name="review-wide")
def wide(n: int = 150):
    return total([plus(0, i) for i in range(n)])


def test_a_ready_step_waiting_for_a_slot_looks_the_cache_up_once() -> None:
    from sqlalchemy import event

    from shipyard.store import default_database

    lookups: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "pipeline_step_runs.cache_key = " in statement:
            lookups.append(statement)

    engine = default_database().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        run = sy.pipelines.run(wide, workers=1)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert run.status == "succeeded"
    assert len(lookups) <= 151  # was: every ready step again on each pass (~11,000 here)


# -- values that look like JSON but are not plain -----------------------------------------


class Colour(enum.IntEnum):
    RED = 1


@sy.step
def counts() -> collections.defaultdict[str, list[int]]:
    return collections.defaultdict(list, {"a": [1]})


@sy.step
def append_new(d: collections.defaultdict[str, list[int]]) -> str:
    d["new"].append(1)
    return type(d).__name__


@sy.step
def colour() -> Colour:
    return Colour.RED


@sy.step
def show(value: object) -> str:
    return repr(value)


@sy.pipeline(name="review-subclasses")
def subclasses():
    return [append_new(counts()), show(colour())]


def test_subclasses_of_json_types_keep_their_type_between_steps() -> None:
    run = subclasses()
    assert run.status == "succeeded", run.error  # was: KeyError 'new' (a plain dict came)
    assert sy.pipelines.output(run.id, "append_new") == "defaultdict"
    assert sy.pipelines.output(run.id, "show") == "<Colour.RED: 1>"  # was: '1'


# -- resume after an upstream step's code changed ----------------------------------------

_STALE = """
import os
import shipyard as sy

@sy.step
def base() -> int:
    return {value}

@sy.step
def tenfold(x: int) -> int:
    return x * 10

@sy.step
def last(y: int, flag: str) -> int:
    if os.path.exists(flag):
        raise RuntimeError("flagged")
    return y + 1

@sy.pipeline(name="review-stale")
def stale(flag: str = ""):
    return last(tenfold(base()), flag)
"""


def test_resume_runs_again_what_is_below_a_step_whose_code_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "review_stale.py").write_text(_STALE.format(value="1"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import review_stale  # type: ignore[import-not-found]

    flag = tmp_path / "flag"
    flag.touch()
    failed = review_stale.stale(flag=str(flag))
    assert [s.status for s in failed.steps] == ["succeeded", "succeeded", "failed"]
    (tmp_path / "review_stale.py").write_text(_STALE.format(value="2  # fixed"))
    importlib.reload(review_stale)
    flag.unlink()
    resumed = sy.pipelines.resume(failed.id)
    assert resumed.status == "succeeded", resumed.error
    assert [s.status for s in resumed.steps] == ["succeeded", "succeeded", "succeeded"]
    assert sy.pipelines.output(resumed.id, "last") == 21  # was: 11, 'tenfold' reused stale


# -- steps with *args, **kwargs and positional-only parameters ---------------------------


@sy.step
def gathered(*xs: int, scale: int = 1, **named: int) -> int:
    return (sum(xs) + sum(named.values())) * scale


@sy.step
def minus(a: int, /, b: int) -> int:
    return a - b


@sy.pipeline(name="review-signatures")
def signatures():
    return [gathered(second(), 3, scale=10, extra=first()), minus(5, first())]


def test_steps_with_var_and_positional_only_parameters_run() -> None:
    run = signatures()
    assert run.status == "succeeded", run.error  # was: called with every argument by name
    assert sy.pipelines.output(run.id, "gathered") == 60
    assert sy.pipelines.output(run.id, "minus") == 4


# -- a step that changes its process's directory or environment --------------------------


@sy.step
def wander(path: str) -> int:
    os.chdir(path)
    os.environ["REVIEW_LEAK"] = "1"
    return 1


@sy.step
def where(_: int) -> list[str | None]:
    return [os.getcwd(), os.environ.get("REVIEW_LEAK")]


@sy.pipeline(name="review-leak")
def leaking(path: str = "/"):
    return where(wander(path))


def test_a_step_does_not_move_the_next_step_in_its_worker(tmp_path: Path) -> None:
    run = sy.pipelines.run(leaking, params={"path": str(tmp_path)}, workers=1)
    # was: [tmp_path, "1"] (the worker ran the next step where the last one left it)
    assert sy.pipelines.output(run.id, "where") == [os.getcwd(), None]


@sy.step
def locked(lock: object) -> int:
    return 1


@sy.pipeline(name="review-lock")
def with_a_lock():
    return locked(threading.Lock())


def test_an_unstorable_constant_argument_is_named() -> None:
    with pytest.raises(InvalidInput, match="Cannot store argument 'lock' of step 'locked'"):
        with_a_lock()  # was: "Cannot store a constant argument"
    (run,) = sy.pipelines.list_runs()
    assert run.status == "failed"


# -- the coordinator during a back-off ---------------------------------------------------


@sy.step(retries=1, retry_delay=1.5)
def fails_once(path: str) -> int:
    if not os.path.exists(path):
        Path(path).touch()
        raise RuntimeError("first")
    return 1


@sy.pipeline(name="review-backs-off")
def backs_off(path: str = ""):
    return fails_once(path)


def test_the_coordinator_sleeps_through_a_back_off(tmp_path: Path) -> None:
    cpu = time.process_time()
    run = backs_off(path=str(tmp_path / "tried"))
    assert run.status == "succeeded" and run.step("fails_once").attempts == 2
    assert time.process_time() - cpu < 1.0  # was: ~1.5 s, the whole back-off spun


# -- an output put in a string while the graph is built ----------------------------------


@sy.pipeline(name="review-format")
def formats(root: str = "/data"):
    return echo(f"{root}/{first()}.csv")


def test_an_output_formatted_into_a_string_in_the_body_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"output of step 'first' .* cannot be put in a str"):
        formats.graph()  # was: the constant "/data/<output of first>.csv" passed silently


# -- a dict's order ----------------------------------------------------------------------


@sy.step
def ranked() -> dict[str, float]:
    return {"zeta": 0.9, "alpha": 0.5, "mu": 0.1}


@sy.step
def names(scores: dict[str, float]) -> list[str]:
    return list(scores)


@sy.pipeline(name="review-order")
def ordering():
    return names(ranked())


def test_a_dict_keeps_its_key_order_between_steps() -> None:
    run = ordering()
    assert sy.pipelines.output(run.id, "names") == ["zeta", "alpha", "mu"]  # was: sorted
    assert list(sy.pipelines.output(run.id, "ranked")) == ["zeta", "alpha", "mu"]


# -- a step's file edited while the process that runs it lives on ------------------------

_EDITED = """
import shipyard as sy

@sy.step
def bump(x: int) -> int:
    return x + {add}

@sy.pipeline(name="review-edited")
def edited(x: int = 1):
    return bump(x)
"""


def test_a_step_edited_on_disk_is_hashed_as_the_code_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "review_edited.py"
    module.write_text(_EDITED.format(add="1"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import review_edited  # type: ignore[import-not-found]

    module.write_text(_EDITED.format(add="100  # edited, not reloaded"))
    ran = review_edited.edited(x=1)  # the function in memory runs (shipped by value)
    assert sy.pipelines.output(ran.id, "bump") == 2
    importlib.reload(review_edited)
    again = review_edited.edited(x=1)
    assert again.step("bump").status == "succeeded"  # was: cached, 2 under the new hash
    assert sy.pipelines.output(again.id, "bump") == 101
