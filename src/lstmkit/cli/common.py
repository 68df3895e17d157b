"""Flags that more than one subcommand takes (argparse only: no heavy imports here)."""

from __future__ import annotations

import argparse


def add_tune_arguments(parser: argparse.ArgumentParser, scored_on: str,
                       default_space: str) -> None:
    """``--tune``, ``--tune-space`` and ``--tune-timeout`` (checked by
    :func:`lstmkit.training.tuning.check_tune_flags`)."""
    parser.add_argument("--tune", type=int, metavar="TRIALS",
                        help=f"search the settings with this many Optuna trials on "
                             f"{scored_on} first, then train the best")
    parser.add_argument("--tune-space", metavar="YAML",
                        help="search space for --tune: key: [kind, ...] per line, e.g. "
                             f"'training.lr: [log, 1.0e-4, 1.0e-2]'; default: {default_space}")
    parser.add_argument("--tune-timeout", type=float, metavar="SECONDS",
                        help="stop starting --tune trials after this many seconds")
