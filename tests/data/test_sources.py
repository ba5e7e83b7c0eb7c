"""Registering from a URL whose fsspec driver is missing, or whose scheme nobody knows: one
line naming the package to install, nothing stored."""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.errors import InvalidInput, NotFound


@pytest.mark.parametrize(
    ("url", "package"),
    [("s3://bucket/loans.csv", "s3fs"), ("gcs://bucket/loans.csv", "gcsfs")],
)
def test_a_url_whose_driver_is_missing_names_the_package(
    home: Path, url: str, package: str
) -> None:
    if find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    with pytest.raises(InvalidInput, match=f"pip install {package}") as raised:
        sy.datasets.register("loans", url)
    assert "\n" not in str(raised.value)
    assert sy.datasets.list_datasets() == []


def test_an_unknown_scheme_and_an_unreachable_host_are_one_line(home: Path) -> None:
    with pytest.raises(InvalidInput, match="Protocol not known: foo"):
        sy.datasets.register("loans", "foo://bucket/loans.csv")
    with pytest.raises(NotFound, match=re.escape("http://127.0.0.1:9/loans.csv")):
        sy.datasets.register("loans", "http://127.0.0.1:9/loans.csv")
    assert sy.datasets.list_datasets() == []
