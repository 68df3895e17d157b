"""Ensemble members: each trains with its own seed, its own callbacks and, with more than one
member, its own checkpoint and log folder. Shared by the forecaster, the classifier and the
tagger."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lstmkit.training.config import MAX_SEED


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


def hold_members(training: Any, members: int) -> contextlib.AbstractContextManager[None]:
    """Hold ``training.checkpoint_dir`` while an ensemble's members train, each in its own
    ``member<k>`` folder (which each member's ``fit`` holds): a second run into the folder is
    refused at its start, not when it reaches a member still training. One member trains in
    the folder itself, which its ``fit`` holds."""
    from lstmkit.training.fit import hold_folder

    return hold_folder(training.checkpoint_dir if members > 1 else None)


def check_member_seeds(seed: int | None, members: int) -> None:
    """Refuse, before any member trains, a ``training.seed`` whose last member's seed
    (``seed + members - 1``) passes ``MAX_SEED``."""
    if seed is not None and seed + members - 1 > MAX_SEED:
        raise ValueError(f"training.seed={seed} with model.ensemble={members} gives member "
                         f"{members - 1} the seed {seed + members - 1}, past {MAX_SEED} "
                         f"(2**32 - 1, the largest seed NumPy takes); use training.seed <= "
                         f"{MAX_SEED - members + 1}")


def member_seed(seed: int | None, member: int) -> int:
    """The seed of ensemble member ``member``'s initial weights and batch order:
    ``seed + member``, or with ``seed`` None (no seeding) one drawn from torch's global
    generator, so that an unseeded run shuffles differently each time unless the caller
    seeds torch (``torch.manual_seed``), which then reproduces it."""
    if seed is None:
        import torch

        return int(torch.randint(2**31 - 1, ()).item())
    return seed + member


def member_callbacks(callbacks: Sequence[Any] | Callable[[int], Sequence[Any]],
                     members: int) -> Callable[[int], list[Any]]:
    """Member index -> that member's callbacks: ``callbacks(m)`` for a function; for a
    sequence, itself for member 0 and, for each later member, a deep copy made before any
    training (so that no member starts from another's state)."""
    if callable(callbacks):
        return lambda m: list(callbacks(m))
    if isinstance(callbacks, str | bytes) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a sequence of Lightning callbacks or a function "
                        f"of the member index, got {type(callbacks).__name__}")
    if members == 1 or not callbacks:
        return lambda m: list(callbacks)
    try:
        copies = [list(callbacks)] + [copy.deepcopy(list(callbacks))
                                      for _ in range(members - 1)]
    except Exception as err:  # any object that refuses copying
        raise TypeError(f"model.ensemble={members} gives each member its own copy of the "
                        f"callbacks, but they cannot be copied ({type(err).__name__}: {err}); "
                        "pass callbacks=lambda member: [...] to build them per member") from None
    return lambda m: copies[m]
