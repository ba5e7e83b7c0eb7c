"""skops is imported without PyTorch, and still lists scikit-learn's estimators."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

_PROBE = """
import json, sys
from shipyard.models._skops import skops_io
sio = skops_io()
import skops.io._trusted_types as tt
torch_loaded = "torch" in sys.modules
import sklearn.externals.array_api_compat.torch as real
print(json.dumps({"torch": torch_loaded, "names": sorted(tt.SKLEARN_ESTIMATOR_TYPE_NAMES),
                  "real": hasattr(real, "__path__"), "same": sio is sys.modules["skops.io"]}))
"""


def _run(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_skops_without_torch_lists_the_same_estimators() -> None:
    probe = _run(_PROBE)
    assert isinstance(probe, dict)
    assert probe["torch"] is False
    assert probe["real"] is True  # the stand-in is gone: the real package imports after
    assert probe["same"] is True
    names = set(probe["names"])  # (the list with torch imported is the same: 208 names)
    assert len(names) > 150
    for estimator in ("LogisticRegression", "HistGradientBoostingClassifier", "Pipeline"):
        assert any(name.endswith("." + estimator) for name in names), estimator
