"""Fuzz both HTTP apps from their OpenAPI descriptions, randomized, with many examples.

The suite's fuzz tests (``tests/serving/test_fuzz.py``, ``tests/server/test_fuzz_api.py``)
run a few derandomized examples per operation; this script explores: ``--examples`` per
operation and generation mode (positive and negative), from ``--seed``, against
``shipyard serve`` (a deployment over two versions of a loans model) and ``shipyard server``
(a store with a monitor, an open alert and a deployment), each without and with auth (a key
with every scope; a third of the requests carry none). Every response goes through all of
schemathesis' checks. It prints, per app and operation, the statuses seen and each distinct
failure (the check's title, the status and the request, as curl), and exits 1 if any.

    python bench/fuzz.py                          # 1,000 examples, a random seed
    python bench/fuzz.py --examples 200 --seed 7  # quicker, reproducible
    python bench/fuzz.py --only api --auth off    # one app, one auth setting
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from _common import log, workspace

# what a schema-valid request may still be refused with: rules JSON Schema cannot state (a
# tensor's shape matches its data, at least one row, a filter's words) and the columns of
# the served model's signature answer a documented 400 or 422
ACCEPTED = ["2xx", "400", "401", "403", "404", "409", "422", "429"]
FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


def _rows() -> Any:
    """/predict bodies naming the signature's columns, in each body form, any JSON in the
    cells: they reach the type checks and the model, where schema-generated ones never do."""
    from hypothesis import strategies as st

    anything = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=4)
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=2),
        max_leaves=3,
    )  # fmt: skip
    amount = st.floats(0, 1e6, allow_nan=False)
    typed = {"age": st.integers(18, 90), "income": amount, "loan_amount": amount}
    typed |= {"term_months": st.integers(6, 72), "credit_score": st.integers(300, 850)}
    typed["region"] = st.sampled_from(["north", "south", "east", "west", "central"])
    cells = {c: typed[c] | anything for c in FEATURES}  # the column's type first
    record = st.fixed_dictionaries(cells)
    columns = st.integers(1, 3).flatmap(
        lambda n: st.fixed_dictionaries(
            {c: st.lists(cells[c], min_size=n, max_size=n) for c in FEATURES}
        )
    )
    return st.one_of(
        record,
        st.lists(record, min_size=1, max_size=3),
        st.fixed_dictionaries({"records": st.lists(record, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"columns": columns}),
    )


def _store() -> dict[str, Any]:
    """Models, a deployment, a monitor with an open alert and a key with every scope; the
    names a share of the generated requests use, and the key."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import shipyard as sy
    from shipyard import monitoring, serving
    from shipyard.data import make_loans

    frame = make_loans(2000, seed=0)
    X, y = frame[FEATURES], frame["default"]
    encode = [("num", StandardScaler(), FEATURES[:5]), ("cat", OneHotEncoder(), ["region"])]
    for c in (0.1, 1.0):
        model = Pipeline(
            [("pre", ColumnTransformer(encode)), ("model", LogisticRegression(C=c, max_iter=300))]
        )
        sy.models.register("fuzz-model", model.fit(X, y), X=X, y=y)
    serving.deployments.create(
        "fuzz", {"a": "fuzz-model@1", "b": "fuzz-model@2"}, split={"a": 50, "b": 50}
    )
    sy.datasets.register("applications", frame)
    monitoring.create_monitor(
        "drift", dataset="applications", reference="applications@1",
        detectors=["data_drift"], drift_share=0.1,
    )  # fmt: skip
    moved = make_loans(2000, seed=1)
    moved["income"] = moved["income"] * 1.8
    moved["credit_score"] = moved["credit_score"] - 80
    sy.datasets.register("applications", moved)
    monitoring.check("drift")
    alert = monitoring.list_alerts()[0].id
    known = {
        "serve": {"name": "fuzz", "version": "1"},
        "api": {"name": "drift", "alert_id": alert, "ref": "drift"},
    }
    key = serving.create_key("fuzzer", ["predict", "feedback", "admin"])
    from shipyard import server

    server.create_user("fuzzer", "admin")  # the platform server wants a user's token
    return {"known": known, "key": key, "token": server.create_token("fuzzer")}


@contextmanager
def _apps(only: str, auths: list[bool]) -> Iterator[list[tuple[str, bool, dict, str]]]:
    """The apps to fuzz, served on 127.0.0.1: (label, auth, OpenAPI document, URL)."""
    from shipyard import server, serving

    with ExitStack() as stack:
        found = []
        for auth in auths:
            if only in ("all", "serve"):
                app = serving.create_app(deployment="fuzz", poll=0, log_sample=0, auth=auth)
                found.append(
                    ("serve", auth, app.openapi(), stack.enter_context(serving.background(app)))
                )
            if only in ("all", "api"):
                app = server.create_app(auth=auth)
                found.append(
                    ("api", auth, app.openapi(), stack.enter_context(serving.background(app)))
                )
        yield found


def fuzz(raw: dict, url: str, key: str | None, known: dict, examples: int, seed: int) -> dict:
    """Every operation fuzzed; per operation label: statuses seen and distinct failures."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.config import PositiveDataAcceptanceConfig
    from schemathesis.core.failures import FailureGroup

    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=url)
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=ACCEPTED
    )
    results: dict[str, dict[str, Any]] = {}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            found = results.setdefault(operation.label, {"statuses": set(), "failures": {}})
            names = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                cases = operation.as_strategy(mode)
                if names:
                    cases = cases | operation.as_strategy(mode, path_parameters=names)
                if operation.label == "POST /predict" and mode is GenerationMode.POSITIVE:
                    cases = cases | _rows().flatmap(lambda rows: operation.as_strategy(body=rows))  # noqa: B023
                keyed = st.sampled_from([True, True, False]) if key else st.just(False)

                @with_seed(seed)
                @given(case=cases, with_key=keyed)
                @settings(
                    max_examples=examples,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    phases=["generate"],  # every failure is recorded, none is shrunk
                )
                def explore(case: Any, with_key: bool) -> None:
                    headers = {"Authorization": f"Bearer {key}"} if with_key else None
                    try:
                        response = case.call_and_validate(session=session, headers=headers)
                        found["statuses"].add(response.status_code)  # noqa: B023
                    except FailureGroup as failed:
                        for failure in failed.exceptions:
                            first = (
                                failure.message.strip().splitlines()[0] if failure.message else ""
                            )
                            title = f"{failure.title}: {first} [{mode.value}]"  # noqa: B023
                            found["failures"].setdefault(  # noqa: B023
                                title, case.as_curl_command(headers=headers)
                            )
                    except requests.RequestException as exc:
                        found["failures"].setdefault(f"transport: {exc}", case.as_curl_command())  # noqa: B023

                with suppress(Unsatisfiable):  # no input of it can be made invalid
                    explore()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--only", choices=["all", "serve", "api"], default="all")
    parser.add_argument("--auth", choices=["both", "on", "off"], default="both")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    auths = {"both": [False, True], "on": [True], "off": [False]}[args.auth]
    log(f"seed {seed}, {args.examples} examples per operation and mode")
    failures = 0
    with workspace("shipyard-fuzz-", args.keep) as space:
        space.shipyard()
        made = _store()
        with _apps(args.only, auths) as apps:
            for label, auth, raw, url in apps:
                started = time.perf_counter()
                key = (made["key"] if label == "serve" else made["token"]) if auth else None
                results = fuzz(raw, url, key, made["known"][label], args.examples, seed)
                took = time.perf_counter() - started
                print(f"\n{label} (auth {'on' if auth else 'off'}), {took:.0f} s")
                for operation, found in sorted(results.items()):
                    statuses = " ".join(str(s) for s in sorted(found["statuses"]))
                    print(f"  {operation:60} {statuses}")
                    for title, curl in found["failures"].items():
                        failures += 1
                        print(f"    FAIL {title}\n         {curl}")
    print(f"\n{failures} distinct failure(s); seed {seed}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
