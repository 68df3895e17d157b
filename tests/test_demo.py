"""The built-in demo trains, reports gate behaviour it measured, and draws it."""

from __future__ import annotations

import pytest

from lstmkit.cli.main import main
from lstmkit.demo import run_demo


def test_demo_learns_and_its_forget_gates_react_to_marks(tmp_path):
    result = run_demo(tmp_path, steps=150, log_every=0)
    assert result.test_mse < 0.25 * result.baseline_mse
    assert result.forget_at_mark < result.forget_elsewhere
    assert result.plot.read_bytes()[:4] == b"\x89PNG"


def test_demo_cli_runs_and_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "3"]) == 0
    assert "forget gate f" in capsys.readouterr().out
    assert main(["demo", "--steps", "0"]) == 2
    assert "--steps must be >= 1, got 0" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["demo", "--out", str(afile)]) == 2  # before training
    assert "--out must be a folder for the plot" in capsys.readouterr().err


def test_cli_without_a_command_prints_help(capsys):
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["no-such-command"])
