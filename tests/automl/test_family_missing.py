"""Which families a search is asked for: one whose package is missing, or no list at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shipyard as sy
from shipyard.errors import InvalidInput

# catboost hidden (``sys.modules[name] = None``: find_spec answers None, import fails)
_SCRIPT = """
import sys

import pytest

import shipyard as sy
from shipyard.errors import InvalidInput
sys.modules["catboost"] = None
import pandas as pd
import shipyard as sy
from shipyard.automl._families import FAMILIES
from shipyard.errors import InvalidInput
print("default", "catboost" in FAMILIES)
frame = pd.DataFrame({"x": range(40), "y": [0, 1] * 20})
try:
    sy.automl(data=frame, target="y", families=["catboost"], n_trials=1)
except InvalidInput as exc:
    print("said", exc)
"""


def test_an_uninstalled_family_asked_for_says_what_to_install(home: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stdout.splitlines()
    assert "default False" in lines
    said = next(line for line in lines if line.startswith("said"))
    assert "family 'catboost' needs catboost installed: pip install catboost." in said


@pytest.mark.parametrize("families", ["linear", [], ()])
def test_families_not_a_list_of_names_is_one_line(home: object, families: object) -> None:
    with pytest.raises(InvalidInput, match="families must be a list of family names") as raised:
        sy.automl(dataset="nosuch@1", target="y", families=families)
    assert "\n" not in str(raised.value)
