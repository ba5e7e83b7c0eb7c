"""Where the store lives: SHIPYARD_HOME, else the nearest ``.shipyard`` here or above (as git
finds ``.git``), else ``./.shipyard``; messages name the store and why it is that one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.config import HOME_FOLDER, Settings, empty_store_message, find_home, reset_settings
from shipyard.errors import InvalidInput


def _no_store_above(folder: Path) -> None:
    found = find_home(folder)
    if found is not None:  # someone made one above the temporary folder: nothing to learn here
        pytest.skip(f"{found} exists above the test's folder")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/project/.shipyard and the working folder tmp/project/src/pkg, SHIPYARD_* unset."""
    _no_store_above(tmp_path)
    (tmp_path / "project" / HOME_FOLDER).mkdir(parents=True)
    work = tmp_path / "project" / "src" / "pkg"
    work.mkdir(parents=True)
    for var in ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(work)
    reset_settings()
    yield tmp_path
    reset_settings()


def test_the_nearest_shipyard_folder_above_is_the_home(tree: Path) -> None:
    store = (tree / "project" / HOME_FOLDER).resolve()
    settings = Settings.load()
    assert settings.home == store and settings.home_source == "found"
    assert settings.db_url == f"sqlite:///{store / 'shipyard.db'}"
    assert settings.artifacts_url == str(store / "artifacts")
    assert settings.where() == f"{store} (found above the working folder)"
    nearer = tree / "project" / "src" / HOME_FOLDER
    nearer.mkdir()
    assert Settings.load().home == nearer.resolve()  # the nearest wins, as with git
    assert find_home(tree / "project" / "src" / "pkg") == nearer.resolve()


def test_shipyard_home_wins_over_a_folder_found_above(tree: Path) -> None:
    elsewhere = tree / "elsewhere"
    settings = Settings.load({"SHIPYARD_HOME": str(elsewhere)})
    assert settings.home == elsewhere and settings.home_source == "env"
    assert settings.where() == f"{elsewhere} (SHIPYARD_HOME)"


def test_the_working_folders_own_store_stays_relative(tree: Path, monkeypatch) -> None:
    monkeypatch.chdir(tree / "project")
    settings = Settings.load({})
    assert settings.home == Path(HOME_FOLDER) and settings.home_source == "here"
    store = (tree / "project" / HOME_FOLDER).resolve()
    assert settings.where() == f"{store} (the working folder's)"


def test_without_a_store_anywhere_the_default_is_here(tmp_path: Path, monkeypatch) -> None:
    _no_store_above(tmp_path)
    monkeypatch.chdir(tmp_path)
    settings = Settings.load({})
    assert settings.home == Path(HOME_FOLDER) and settings.home_source == "default"
    assert find_home() is None and not settings.store_exists()
    assert settings.where() == (
        f"{tmp_path.resolve() / HOME_FOLDER} (no .shipyard here or above; SHIPYARD_HOME unset)"
    )


def test_a_config_file_may_move_the_home(tree: Path) -> None:
    config = tree / "shipyard.toml"
    config.write_text(f'home = "{tree / "team-store"}"\n')
    settings = Settings.load({"SHIPYARD_CONFIG": str(config)})
    assert settings.home == tree / "team-store" and settings.home_source == "config"
    assert settings.where() == f"{tree / 'team-store'} (home in the config file)"


def test_a_store_elsewhere_is_named_by_its_url_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://ml:s3cret@db.example.org:5432/shipyard"
    settings = Settings.load({"SHIPYARD_HOME": str(tmp_path), "SHIPYARD_DB_URL": url})
    hidden = "postgresql+psycopg://ml:***@db.example.org:5432/shipyard"
    assert settings.where() == f"{hidden} (SHIPYARD_DB_URL)"
    assert settings.store_exists()  # a server: asked, not guessed
    assert Settings.load({"SHIPYARD_DB_URL": "memory://"}).store_exists()


def test_an_empty_listing_names_the_store_it_read(home: Path) -> None:
    assert empty_store_message("models") == (
        f"No models in {home.resolve()} (SHIPYARD_HOME). Try: shipyard quickstart"
    )


def test_home_source_is_not_a_setting(tmp_path: Path) -> None:
    settings = Settings.load({"SHIPYARD_HOME": str(tmp_path), "SHIPYARD_HOME_SOURCE": "found"})
    assert settings.home_source == "env"
    config = tmp_path / "config.toml"
    config.write_text('home_source = "found"\n')
    with pytest.raises(ValueError, match="unknown key"):
        Settings.load({"SHIPYARD_HOME": str(tmp_path)})


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="handing a folder to another user needs root",
)
def test_a_store_another_user_owns_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    planted = tmp_path / HOME_FOLDER
    planted.mkdir()
    os.chown(planted, 65534, 65534)  # nobody's: as another user would plant /tmp/.shipyard
    (tmp_path / "work").mkdir()
    assert find_home(tmp_path / "work") is None
    assert "belongs to another user" in caplog.text and "SHIPYARD_HOME" in caplog.text
    os.chown(planted, os.getuid(), os.getgid())
    assert find_home(tmp_path / "work") == planted.resolve()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="handing a folder to another user needs root",
)
def test_a_store_another_user_owns_in_the_working_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The working folder's own ``.shipyard`` planted by another user is not the default
    ``./.shipyard`` either (it was ignored, then used as the default)."""
    planted = tmp_path / HOME_FOLDER
    planted.mkdir()
    os.chown(planted, 65534, 65534)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput, match=r"another user.*SHIPYARD_HOME"):
        Settings.load({})
    assert "Ignoring" not in caplog.text  # one line: the refusal, not a warning before it
    assert Settings.load({"SHIPYARD_HOME": str(planted)}).home == planted
