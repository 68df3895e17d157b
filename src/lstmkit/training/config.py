"""The training configuration: one frozen dataclass, validated on construction."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

Optimizer = Literal["adam", "adamw", "sgd"]
Scheduler = Literal["none", "cosine", "onecycle", "plateau", "exponential"]
Mode = Literal["min", "max"]


def _check_choice(name: str, value: object, literal: Any) -> None:
    choices = get_args(literal)
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _check_number(name: str, value: object, *, low: float, low_open: bool = False,
                  integer: bool = False, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = "an int" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad = value <= low if low_open else value < low  # type: ignore[operator]
    if bad:
        relation = ">" if low_open else ">="
        raise ValueError(f"{name} must be {relation} {low}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimisation, stopping, logging, checkpoints and hardware.

    Every field has a default that trains on the CPU with Adam. Hardware fields are handed to
    ``lightning.pytorch.Trainer`` unchanged, so the same configuration runs on a GPU
    (``accelerator="gpu"``) or across machines (``strategy="ddp"``, ``num_nodes``).

    Attributes:
        max_epochs: upper bound on passes over the training data.
        lr: peak learning rate.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: L2 penalty (decoupled for ``adamw``).
        scheduler: ``"none"``; ``"cosine"`` (per epoch, to zero at ``max_epochs``);
            ``"onecycle"`` (per step); ``"plateau"`` (multiply by ``lr_gamma`` after
            ``scheduler_patience`` epochs without improvement of ``monitor``);
            ``"exponential"`` (multiply by ``lr_gamma`` every epoch).
        lr_gamma: decay factor for ``plateau`` and ``exponential``.
        scheduler_patience: epochs without improvement before ``plateau`` decays.
        grad_clip: clip the global gradient norm to this value; ``None`` for no clipping.
        adversarial: adversarial training (Miyato et al. 2017): each training batch also
            trains on its embeddings moved by this L2 norm per example, in the direction that
            raises the loss most; 0 turns it off. The norm is in the embeddings' own units
            (GloVe 6B 50d word vectors have norm about 5). Needs a model with an
            ``adversarial_inputs()`` method (see :class:`~lstmkit.training.Task`); one
            training step then costs about two.
        early_stopping_patience: stop after this many validation checks without improvement
            of ``monitor``; ``None`` turns early stopping off. Needs validation data.
        monitor: the logged quantity that early stopping, ``plateau`` and best-weight
            tracking watch (``"val_loss"`` or ``"val_<metric>"``).
        monitor_mode: ``"min"`` or ``"max"``.
        restore_best: at the end of training load the weights of the best validation check.
        seed: seeds Python, NumPy and torch (and dataloader workers); ``None`` for no seeding.
        deterministic: ask torch for deterministic algorithms (slower on some GPUs).
        accelerator, devices, strategy, num_nodes, precision: passed to the Lightning Trainer.
        progress_bar: show a progress bar and Lightning's start-up messages.
        log_dir: write CSV and TensorBoard logs here (``<log_dir>/csv``, ``<log_dir>/tb``);
            ``None`` for no logs.
        log_every_n_steps: logging interval in optimisation steps.
        checkpoint_dir: write ``last.ckpt`` every epoch (and ``best.ckpt``) here, atomically;
            ``None`` for no checkpoints.
        limit_train_batches, limit_val_batches: fraction (float) or count (int) of batches per
            epoch; ``1.0`` for all.
        fast_dev_run: run one batch of training and validation only (for tests).
    """

    max_epochs: int = 10
    lr: float = 1e-3
    optimizer: Optimizer = "adam"
    weight_decay: float = 0.0
    scheduler: Scheduler = "none"
    lr_gamma: float = 0.5
    scheduler_patience: int = 2
    grad_clip: float | None = None
    adversarial: float = 0.0
    early_stopping_patience: int | None = None
    monitor: str = "val_loss"
    monitor_mode: Mode = "min"
    restore_best: bool = True
    seed: int | None = 0
    deterministic: bool = False
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str | int | None = None
    progress_bar: bool = True
    log_dir: str | Path | None = None
    log_every_n_steps: int = 50
    checkpoint_dir: str | Path | None = None
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    fast_dev_run: bool = False

    def __post_init__(self) -> None:
        _check_number("max_epochs", self.max_epochs, low=1, integer=True)
        _check_number("lr", self.lr, low=0.0, low_open=True)
        _check_choice("optimizer", self.optimizer, Optimizer)
        _check_number("weight_decay", self.weight_decay, low=0.0)
        _check_choice("scheduler", self.scheduler, Scheduler)
        _check_number("lr_gamma", self.lr_gamma, low=0.0, low_open=True)
        if self.lr_gamma > 1.0:
            raise ValueError(f"lr_gamma must be <= 1, got {self.lr_gamma!r}")
        _check_number("scheduler_patience", self.scheduler_patience, low=0, integer=True)
        _check_number("grad_clip", self.grad_clip, low=0.0, low_open=True, allow_none=True)
        _check_number("adversarial", self.adversarial, low=0.0)
        _check_number("early_stopping_patience", self.early_stopping_patience, low=1,
                      integer=True, allow_none=True)
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ValueError(f"monitor must be a non-empty logged name, got {self.monitor!r}")
        _check_choice("monitor_mode", self.monitor_mode, Mode)
        _check_number("seed", self.seed, low=0, integer=True, allow_none=True)
        _check_number("num_nodes", self.num_nodes, low=1, integer=True)
        _check_number("log_every_n_steps", self.log_every_n_steps, low=1, integer=True)
        for name in ("limit_train_batches", "limit_val_batches"):
            _check_number(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("log_dir", "checkpoint_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise TypeError(f"{name} must be a path or None, got {type(value).__name__}")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ValueError(
                f"unknown TrainConfig field(s) {unknown}; valid fields: {sorted(valid)}"
            )
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a plain mapping (a YAML section); unknown keys are an error listing the
        valid ones."""
        if not isinstance(values, dict):
            raise TypeError(f"training config must be a mapping, got {type(values).__name__}")
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(
                f"unknown training config key(s) {unknown}; valid keys: {sorted(valid)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings), for saving next to a model."""
        out = dataclasses.asdict(self)
        for name in ("log_dir", "checkpoint_dir"):
            if out[name] is not None:
                out[name] = str(out[name])
        return out
