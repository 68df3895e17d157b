"""Ensemble members: each trains with its own seed and, with more than one member, its own
checkpoint and log folder. Shared by the forecaster, the classifier and the tagger."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def member_training(training: Any, member: int, members: int, seed: int | None) -> Any:
    """Settings for ensemble member ``member`` of ``members``: its seed, and with more than
    one member its own ``member<k>`` folder of ``checkpoint_dir`` and ``log_dir`` (so that
    members do not overwrite each other's ``last.ckpt`` and each resumes from its own)."""
    changes: dict[str, Any] = {"seed": seed}
    if members > 1:
        for name in ("checkpoint_dir", "log_dir"):
            folder = getattr(training, name)
            if folder is not None:
                changes[name] = Path(folder) / f"member{member}"
    return training.replace(**changes)


def member_seed(seed: int | None, member: int) -> int:
    """The seed of ensemble member ``member``'s initial weights and batch order:
    ``seed + member``, or with ``seed`` None (no seeding) one drawn from torch's global
    generator, so that an unseeded run shuffles differently each time unless the caller
    seeds torch (``torch.manual_seed``), which then reproduces it."""
    if seed is None:
        import torch

        return int(torch.randint(2**31 - 1, ()).item())
    return seed + member
