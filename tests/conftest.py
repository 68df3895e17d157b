"""Shared fixtures: small seeded tensors (B=3, T=4, I=5, H=6) as DESIGN.md asks."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
