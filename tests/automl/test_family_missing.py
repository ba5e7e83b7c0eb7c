"""A family whose optional package is not installed: left out by default, named when asked."""

from __future__ import annotations

import subprocess
import sys

# catboost hidden (``sys.modules[name] = None``: find_spec answers None, import fails)
_SCRIPT = """
import sys
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
