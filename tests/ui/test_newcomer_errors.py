"""What a newcomer's browser gets for a mistake in a page's address: an HTML page naming
the problem with a 4xx status, never a 500 and never the API's JSON; and an AutoML search
whose leaderboard holds an ensemble (a row with no run of its own) still shows its page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard as sy


@pytest.fixture
def site(home: Path) -> Iterator[str]:
    """A platform server (thread, auth off) over an empty store; its URL."""
    with sy.serving.background(sy.server.create_app()) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/runs?page=abc", 422, "page"),
        ("/runs?page=0", 422, "page"),
        ("/runs?page_size=0", 422, "page_size"),
        ("/deployments/nope", 404, "nope"),
        ("/deployments/nope?minutes=abc", 422, "minutes"),
        ("/monitors/nope", 404, "nope"),
        ("/monitors/nope/checks/abc", 422, "check_id"),
        ("/monitors/nope/checks/1", 404, "nope"),
        ("/alerts?status=bogus", 422, "status"),
        ("/alerts?monitor=nope", 404, "nope"),
        ("/pipelines/nope", 404, "nope"),
        ("/pipelines/runs/nope", 404, "nope"),
        ("/nope", 404, "/nope"),
        ("/runs/abc/def/ghi", 404, "/runs/abc/def/ghi"),
    ],
)
def test_a_bad_address_answers_a_page_naming_it(
    site: str, path: str, status: int, words: str
) -> None:
    answer = httpx.get(site + path, headers={"accept": "text/html"}, timeout=60)
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html"), answer.text[:300]
    assert words in answer.text
    assert '<nav aria-label="Sections">' in answer.text  # in the UI's frame


def test_the_api_still_answers_json_for_the_same_mistakes(site: str) -> None:
    for path in ("/api/deployments/nope", "/api/monitors/nope", "/api/pipelines/nope"):
        answer = httpx.get(site + path, headers={"accept": "text/html"}, timeout=60)
        assert answer.status_code == 404
        assert "nope" in answer.json()["error"]


def test_an_automl_leaderboard_with_an_ensemble_row_shows(site: str) -> None:
    board = pd.DataFrame(
        {
            "trial": [-1, 0, 1],
            "family": ["ensemble", "linear", "linear"],
            "auc": [0.81, 0.80, np.nan],
            "state": ["complete", "complete", "pruned"],
            "started": [np.nan, 0.0, 0.5],
            "seconds": [np.nan, 0.4, 0.1],
            "run_id": [np.nan, "a" * 32, "b" * 32],  # the ensemble has no run of its own
            "params": ["linear-0 0.5, linear-1 0.5", "C=1", "C=10"],
        }
    )
    with sy.start_run(experiment="search", name="automl") as run:
        sy.log_param("metric", "auc")
        sy.log_artifact(board, name="leaderboard.parquet")
    answer = httpx.get(f"{site}/runs/{run.id}/automl", timeout=120)
    assert answer.status_code == 200, answer.text[-500:]
    assert "ensemble" in answer.text
    assert answer.text.count('href="/runs/' + "a" * 32) == 1


def test_an_unknown_path_is_json_for_the_api_and_for_clients_not_asking_for_html(
    site: str,
) -> None:
    for path, accept in (("/api/nope", "text/html"), ("/nope", "application/json"), ("/nope", "")):
        answer = httpx.get(site + path, headers={"accept": accept}, timeout=60)
        assert answer.status_code == 404
        assert answer.json() == {"error": "Not Found"}
    refused = httpx.delete(site + "/runs", headers={"accept": "text/html"}, timeout=60)
    assert refused.status_code == 405 and "GET" in refused.headers["allow"]


def test_a_versions_first_rows_are_bounded_like_the_apis(
    site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pd.DataFrame({"id": np.arange(5), "text": ["y" * 2_000] * 5})
    sy.datasets.register("wide", frame)
    shown = httpx.get(f"{site}/datasets/wide/1", timeout=60)
    assert shown.status_code == 200 and ">5 of 5<" in shown.text
    # the same bound the rows API keeps (32 MB decoded), made small: the page still shows
    monkeypatch.setattr("shipyard.data._preview.MAX_PAGE_BYTES", 1_000)
    bounded = httpx.get(f"{site}/datasets/wide/1", timeout=60)
    assert bounded.status_code == 200, bounded.text[:300]
    assert ">0 of 5<" in bounded.text and "ask for fewer rows" in bounded.text
    assert "Schema" in bounded.text
