"""CSV and TensorBoard loggers whose logs a resumed run continues.

Lightning gives every run a new ``version_N`` folder, so a run killed and resumed would
leave its curve in two halves. Each checkpoint here records the version folders it was
logged in (:class:`LogVersions`), and :func:`loggers` given that checkpoint logs on in
them: the CSV keeps its rows from before the checkpoint's step and appends after them, and
TensorBoard hides the events from that step on (``purge_step``), which the resumed run
logs again.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment

LOG_VERSIONS = "lstmkit_log_versions"  # the checkpoint's key: {logger name: version}


class LogVersions(pl.Callback):
    """Write each logger's version number into every checkpoint."""

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[LOG_VERSIONS] = {logger.name: logger.version for logger in trainer.loggers
                                    if isinstance(logger.version, int)}


class _CSVWriter(ExperimentWriter):
    """Lightning's writer, which deletes an existing ``metrics.csv`` when it starts, except
    that with ``keep_before_step`` it keeps the rows logged before that step and appends."""

    def __init__(self, log_dir: str, keep_before_step: int | None) -> None:
        self._keep_before_step = keep_before_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # called by Lightning's __init__
        if self._keep_before_step is None or not self._fs.isfile(self.metrics_file_path):
            super()._check_log_dir_exists()
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            keys = list(reader.fieldnames or [])
            rows = [row for row in reader if _step(row) < self._keep_before_step]
        # (to a new file renamed over the old: one killed while it wrote lost every row)
        path = Path(self.metrics_file_path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=keys, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.metrics_keys = keys  # the header new rows are appended under


def _step(row: dict[str, Any]) -> float:
    """A metrics row's step; infinite (dropped) for a row without one, such as the partial
    last line of a run killed while writing it."""
    try:
        return float(row.get("step") or "inf")
    except ValueError:
        return float("inf")


class _CSVLogger(CSVLogger):
    def __init__(self, save_dir: str, name: str, version: int | None,
                 keep_before_step: int | None) -> None:
        super().__init__(save_dir, name=name, version=version)
        self._keep_before_step = keep_before_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _CSVWriter(self.log_dir, self._keep_before_step)
        return self._experiment


def loggers(log_dir: str | Path, checkpoint: Mapping[str, Any] | None = None) -> list[Logger]:
    """A CSV logger in ``<log_dir>/csv`` and a TensorBoard logger in ``<log_dir>/tb``, each
    in a new ``version_N`` folder, or, given the checkpoint a run resumes from, in the folder
    that checkpoint's run logged in when it is still there."""
    versions = checkpoint.get(LOG_VERSIONS, {}) if checkpoint is not None else {}
    step = checkpoint.get("global_step") if checkpoint is not None else None

    def resumed(name: str) -> int | None:
        version = versions.get(name)
        if step is None or version is None:
            return None
        return version if (Path(log_dir) / name / f"version_{version}").is_dir() else None

    csv_version, tb_version = resumed("csv"), resumed("tb")
    purge = {"purge_step": step} if tb_version is not None else {}
    made = [_CSVLogger(str(log_dir), "csv", csv_version,
                       step if csv_version is not None else None),
            TensorBoardLogger(str(log_dir), name="tb", version=tb_version,
                              default_hp_metric=False, **purge)]
    row = None if csv_version is None or checkpoint is None else _unlogged_epoch(
        checkpoint, Path(log_dir) / "csv" / f"version_{csv_version}" / "metrics.csv")
    if row is not None:
        for logger in made if tb_version is not None else made[:1]:
            logger.log_metrics(row, step=step - 1)  # (as Lightning logs an epoch's values)
            logger.save()
    return made


def _unlogged_epoch(checkpoint: Mapping[str, Any], metrics: Path) -> dict[str, float] | None:
    """The training values of the checkpoint's epoch (``train_loss``, ``lr``, ``epoch``)
    when ``metrics`` lacks them, else None. Lightning writes the epoch's checkpoint before it
    logs them, so a run killed in between would never log them: the resumed run starts at the
    next epoch. The run's :class:`~lstmkit.training.callbacks.History` in the checkpoint
    holds them."""
    epochs = checkpoint.get("callbacks", {}).get("History", {}).get("epochs") or []
    if not epochs or epochs[-1].get("epoch") != checkpoint.get("epoch"):
        return None
    row = {k: v for k, v in epochs[-1].items() if not k.startswith("val_")}
    step = checkpoint["global_step"] - 1
    if metrics.is_file():
        with open(metrics, newline="") as file:
            if any(_step(r) == step and all(r.get(k) for k in row) for r in csv.DictReader(file)):
                return None
    return row
