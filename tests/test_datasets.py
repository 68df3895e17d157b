"""Tests of the data-folder resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmkit.datasets import data_dir, data_path


def test_env_var_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMKIT_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    (tmp_path / "a.csv").write_text("x\n")
    assert data_path("a.csv") == tmp_path.resolve() / "a.csv"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data_path("missing.csv")


def test_env_var_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMKIT_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="LSTMKIT_DATA_DIR="):
        data_dir()


def test_not_found_names_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LSTMKIT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lstmkit.datasets.__file__", str(tmp_path / "pkg" / "datasets.py"))
    with pytest.raises(FileNotFoundError, match="LSTMKIT_DATA_DIR"):
        data_dir()
