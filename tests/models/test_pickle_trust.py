"""Pickled versions load only when trusted (issue 17): unpickling runs the registrant's
code, so ``sy.models.load`` and ``shipyard serve`` refuse a pickle registered by someone
else (Forbidden, nothing unpickled) unless ``trusted=True`` / ``--trust`` or the registrant
is named in SHIPYARD_TRUSTED_REGISTRANTS. A process loads what it registered itself, and
formats that build no arbitrary objects (skops) need no trust."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.errors import Forbidden
from shipyard.models import PythonModel, _trust

MODULE = '''
import os
from pathlib import Path

import numpy as np
import shipyard as sy


def _ran(marker):
    Path(marker).write_text("ran")
    return Planted(marker)


class Planted(sy.models.PythonModel):
    """Leaves a file behind whenever it is unpickled: its code ran on the loading side."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_ran, (self.marker,))

    def predict(self, df):
        return np.zeros(len(df))
'''

REGISTER = """
import sys
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
import shipyard as sy
from planted import Planted

X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
y = np.array([0, 0, 1, 1])
sy.models.register("planted", Planted(sys.argv[1]), X=X)
sy.models.register("pickled-lr", LogisticRegression().fit(X, y), X=X, y=y,
                   serialization="pickle")
sy.models.register("skops-lr", LogisticRegression().fit(X, y), X=X, y=y)
"""


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Versions registered by another process as 'mallory', once per module: the store's
    home (copied into each test's own), the folder of the planted module's code, and the
    marker file the planted model writes when unpickled (its path is in the pickle)."""
    root = tmp_path_factory.mktemp("foreign")
    home, code, marker = root / "shipyard-home", root / "code", root / "marker"
    code.mkdir()
    (code / "planted.py").write_text(MODULE)
    (code / "register.py").write_text(textwrap.dedent(REGISTER))
    path = os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(PYTHONPATH=path, SHIPYARD_HOME=str(home), SHIPYARD_USER="mallory")
    subprocess.run(
        [sys.executable, str(code / "register.py"), str(marker)], env=env, check=True, timeout=120
    )
    assert not marker.exists()
    return home, code, marker


@pytest.fixture
def foreign(
    home: Path, registered: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Versions registered by another process as 'mallory' (a copy of the module's store);
    the marker file the planted model writes when unpickled (absent until then)."""
    template, code, marker = registered
    shutil.copytree(template, home)
    marker.unlink(missing_ok=True)  # an earlier test's unpickling
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.delenv("SHIPYARD_TRUSTED_REGISTRANTS", raising=False)
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    # every test's copy holds the same version ids: what an earlier test trusted by hand
    # (trust_version, process-wide) is forgotten, as a fresh registration's ids would be
    monkeypatch.setattr(_trust, "_handed", set())
    sy.models.clear_cache()
    yield marker
    sy.models.clear_cache()
    marker.unlink(missing_ok=True)


def test_a_pickle_registered_by_someone_else_is_refused_before_unpickling(foreign):
    for ref in ("planted@1", "pickled-lr@1"):
        with pytest.raises(Forbidden, match=rf"{ref} is a pickle registered by 'mallory'") as info:
            sy.models.load(ref)
        assert "trusted=True" in str(info.value) and "--trust" in str(info.value)
        assert "SHIPYARD_TRUSTED_REGISTRANTS" in str(info.value)
        assert "\n" not in str(info.value)
    assert not foreign.exists()
    assert sy.models.load("skops-lr@1").predict({"x": 3.0}).tolist() == [1]  # no code runs


def test_trusted_true_loads_it(foreign):
    model = sy.models.load("planted@1", trusted=True)
    assert foreign.read_text() == "ran"
    assert model.predict({"x": 1.0}).tolist() == [0.0]
    assert sy.models.load("pickled-lr@1", trusted=True).predict({"x": 0.0}).tolist() == [0]


def test_a_version_handed_over_is_trusted_with_its_artifact_only(foreign):
    # what serve(workers=N) hands its workers: the exact versions the caller trusted
    planted, pickled = sy.models.get("planted@1"), sy.models.get("pickled-lr@1")
    assert not sy.models.is_trusted(planted) and sy.models.is_trusted(sy.models.get("skops-lr@1"))
    sy.models.trust_version(planted.id, "0" * 64)  # another artifact than the stored one
    with pytest.raises(Forbidden):
        sy.models.load("planted@1")
    sy.models.trust_version(planted.id, planted.digest)
    assert sy.models.is_trusted(planted) and not sy.models.is_trusted(pickled)
    sy.models.load("planted@1")
    assert foreign.exists()
    with pytest.raises(Forbidden):  # another version of the same registrant
        sy.models.load("pickled-lr@1")


NAMED = [("mallory", True), ("bob, mallory", True), ("*", True), ("alice,bob", False)]
NAMED += [("", False)]


@pytest.mark.parametrize(("names", "loads"), NAMED)
def test_naming_the_registrant_trusts_its_versions(foreign, monkeypatch, names, loads):
    monkeypatch.setenv("SHIPYARD_TRUSTED_REGISTRANTS", names)
    if loads:
        sy.models.load("planted@1")
        assert foreign.exists()
    else:
        with pytest.raises(Forbidden):
            sy.models.load("planted@1")
        assert not foreign.exists()


class Doubler(PythonModel):
    def predict(self, df):
        return df["x"].to_numpy() * 2


def test_a_process_loads_back_what_it_registered(home, monkeypatch):
    monkeypatch.delenv("SHIPYARD_TRUSTED_REGISTRANTS", raising=False)
    X = pd.DataFrame({"x": [1.0, 2.0]})
    version = sy.models.register("mine", Doubler(), X=X)
    sy.models.clear_cache()
    assert sy.models.load(version.ref).predict({"x": 4.0}).tolist() == [8.0]
    fitted = LogisticRegression().fit(X, np.array([0, 1]))
    pickled = sy.models.register("mine-lr", fitted, X=X, y=[0, 1], serialization="pickle")
    assert sy.models.load(pickled.ref).predict({"x": 2.0}).tolist() == [1]
