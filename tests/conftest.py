"""Shared fixtures: small seeded tensors (B=3, T=4, I=5, H=6) as DESIGN.md asks."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def shuffle_seeds(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``record(module)``: patch ``module.make_loader`` to note the seed of every shuffled
    loader it makes, and return the list the seeds go into (text application tests)."""

    def record(module) -> list[int]:  # type: ignore[no-untyped-def]
        seeds: list[int] = []
        make_loader = module.make_loader

        def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs["shuffle"]:
                seeds.append(kwargs["seed"])
            return make_loader(*args, **kwargs)

        monkeypatch.setattr(module, "make_loader", recording)
        return seeds

    return record


@pytest.fixture
def run_cli():  # type: ignore[no-untyped-def]
    """``run(module, argv)``: parse ``argv`` with the parser that ``module`` (an
    ``lstmkit.cli`` subcommand) builds and run it in-process, its errors raised rather than
    printed as ``lstmkit``'s ``main`` does."""
    import argparse

    def run(module, argv: list[str]) -> int:  # type: ignore[no-untyped-def]
        parser = argparse.ArgumentParser()
        module.add_parser(parser)
        return module.run(parser.parse_args(argv))

    return run


@pytest.fixture
def run_ddp(tmp_path):  # type: ignore[no-untyped-def]
    """``run(*argv)``: run ``lstmkit argv`` with ``training.strategy=ddp`` on two CPU
    processes, in ``tmp_path``; returns the finished process (stdout and stderr as text),
    checked to have started the second process when it succeeded, and not to have aborted.
    Lightning's DDP launcher starts the second process by running the same command again, so
    it must be a script: the installed entry point."""
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(sys.executable).with_name("lstmkit"))

    def run(*argv: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [script, *argv, "--set", "training.strategy=ddp", "--set", "training.devices=2",
             "--set", "training.accelerator=cpu"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode != 0 or "GLOBAL_RANK: 1" in done.stdout + done.stderr
        assert "terminate called" not in done.stderr, done.stderr[-2000:]  # (an abort)
        return done

    return run


@pytest.fixture
def ddp_script(tmp_path):  # type: ignore[no-untyped-def]
    """``run(script)``: run the Python ``script`` in ``tmp_path`` (it trains with
    ``strategy="ddp", devices=2`` on the CPU and writes ``rank<LOCAL_RANK>.json``), check
    that neither process aborted, and return what the two processes wrote, first process
    first. Lightning's launcher starts the second process by running the script again."""
    import json
    import subprocess
    import sys

    def run(script: str) -> tuple[dict, dict]:
        (tmp_path / "run.py").write_text(script, encoding="utf-8")
        done = subprocess.run([sys.executable, "run.py"], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        # the second process's exit status is not the command's: an abort is seen in its
        # output only
        assert "terminate called" not in done.stderr, done.stderr[-2000:]
        first, second = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
        return first, second

    return run


@pytest.fixture
def pdf_backend():  # type: ignore[no-untyped-def]
    """matplotlib's backend set to ``pdf`` (a caller's choice that lstmkit's plots must leave
    alone), the one before restored afterwards."""
    import matplotlib

    previous = matplotlib.get_backend()
    matplotlib.use("pdf")
    yield
    matplotlib.use(previous)


@pytest.fixture
def two_gpus_fit_settings(monkeypatch: pytest.MonkeyPatch) -> list:
    """A machine with two GPUs whose ``lstmkit.training.fit`` records the ``TrainConfig`` it
    is handed, in the list returned, and stops there with a KeyboardInterrupt."""
    import lstmkit.training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    handed: list = []

    def fit(network, loss, train, dev, training, **kwargs):  # type: ignore[no-untyped-def]
        handed.append(training)
        raise KeyboardInterrupt  # enough: the settings training would run with

    monkeypatch.setattr(lstmkit.training, "fit", fit)
    return handed
