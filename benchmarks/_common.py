"""What the benchmark scripts share: the environment block of their JSON and argument types.

Imported by the scripts beside it (``sys.path`` holds this folder, as for
``forecast_ett_ablation.py``'s ``import forecast_ett``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import lstmkit


def git_commit() -> str | None:
    """The commit checked out where this file lives, or None where git cannot tell."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return done.stdout.strip()


def environment() -> dict[str, object]:
    """Versions and machine, for a result's JSON (``torch_threads`` as set when called)."""
    return {
        "lstmkit": lstmkit.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
    }


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an int >= ``low``, refused at parse time with the value given."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
        return value

    return parse


def float_in(low: float, high: float | None = None, *, low_open: bool = False,
             high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a float in the interval from ``low`` to ``high`` (None: no bound)."""
    interval = (("(" if low_open else "[") + f"{low:g}, "
                + ("inf)" if high is None else f"{high:g}" + (")" if high_open else "]")))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got "
                                             f"{text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {value}")
        return value

    return parse


def batch_limit(text: str) -> int | float:
    """An argparse type for ``limit_train_batches``: a count of batches (an int >= 1, ``2``)
    or a fraction of them (a float in (0, 1], ``0.25``; ``1.0`` is all)."""
    try:
        count = int(text)
    except ValueError:
        pass
    else:
        if count < 1:
            raise argparse.ArgumentTypeError(f"expected a count of batches (an int >= 1) or a "
                                             f"fraction in (0, 1], got {count}")
        return count
    try:
        fraction = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count of batches (an int >= 1) or a "
                                         f"fraction in (0, 1], got {text!r}") from None
    if not 0.0 < fraction <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a count of batches (an int >= 1) or a "
                                         f"fraction in (0, 1], got {fraction}")
    return fraction


class Distinct(argparse.Action):
    """An argparse action for a list option whose values must differ (a seed or horizon given
    twice would run twice and count twice in the means); a repeat is refused at parse time."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            parser.error(f"{option_string}: give each value once, got {repeated} more than once")
        setattr(namespace, self.dest, values)
