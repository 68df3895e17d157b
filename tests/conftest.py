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
