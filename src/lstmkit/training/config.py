"""The training configuration: one frozen dataclass, validated on construction."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from lstmkit.nn.config import MAX_INT, is_int, plain_fields, shown

Optimizer = Literal["adam", "adamw", "sgd"]
RESUME_FIXED = ("lr", "optimizer", "weight_decay", "scheduler", "lr_gamma", "scheduler_patience",
                "grad_clip", "ema_decay", "adversarial", "early_stopping_patience", "monitor",
                "monitor_mode", "restore_best", "limit_train_batches", "limit_val_batches")
"""TrainConfig fields a resumed run keeps from its checkpoint (see resume_settings). Not the
seed of ``fit``'s config: the random states themselves are restored (and an ensemble member's
seed drawn anew for ``seed=None`` differs from run to run); the applications pass the seed
they were given among ``fit``'s ``run_settings`` (``training.seed``), which their saved
settings record."""
MAX_SEED = 2**32 - 1
"""The largest seed: NumPy's generator takes none larger."""
SIZED_SCHEDULES = ("cosine", "onecycle")
"""Schedules whose length is max_epochs: a resume cannot change it."""
Scheduler = Literal["none", "cosine", "onecycle", "plateau", "exponential"]
Mode = Literal["min", "max"]
# the values Lightning 2.x accepts for ``Trainer(precision=...)`` (its ``_PRECISION_INPUT``)
PRECISIONS: tuple[int | str, ...] = (
    64, 32, 16, "64", "32", "16", "bf16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
    "32-true", "64-true", "transformer-engine", "transformer-engine-float16",
)


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
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if not integer and isinstance(value, int) and abs(value) > sys.float_info.max:
        raise ValueError(f"{name} must be a number within float's range, got "
                         f"{shown(value)}")  # (10**400)
    if integer and abs(value) > MAX_INT:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be an int below 2**63, got {shown(value)}")
    bad = value <= low if low_open else value < low  # type: ignore[operator]
    if bad:
        relation = ">" if low_open else ">="
        raise ValueError(f"{name} must be {relation} {low}, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def _check_devices(value: object) -> None:
    if isinstance(value, str):
        ok = value == "auto"
    elif is_int(value):
        ok = value >= 1 or value == -1  # type: ignore[operator]
    elif isinstance(value, list):
        ok = bool(value) and all(is_int(i) and i >= 0 for i in value) \
            and len(set(value)) == len(value)  # ([0, 0]: Lightning's own words on CPU)
    else:
        ok = False
    if not ok:
        raise ValueError(f"devices must be an int >= 1, -1 (all devices), 'auto' or a non-empty "
                         f"list of distinct device indices >= 0, got {type(value).__name__} "
                         f"{value!r}")


def _check_lightning_kinds(accelerator: object, strategy: object) -> None:
    """``accelerator`` and ``strategy`` are a name or one of Lightning's objects (the names are
    checked against Lightning's registries when a run starts, :func:`check_lightning_names`,
    so that a saved model trained with a plugin's accelerator loads where it is missing)."""
    from lightning.pytorch.accelerators import Accelerator
    from lightning.pytorch.strategies import Strategy

    for name, value, kind, examples in (("accelerator", accelerator, Accelerator,
                                         "'auto', 'cpu' or 'gpu'"),
                                        ("strategy", strategy, Strategy, "'auto' or 'ddp'")):
        if not isinstance(value, str | kind):
            raise TypeError(f"{name} must be a name such as {examples} (or a Lightning "
                            f"{kind.__name__}), got {type(value).__name__} {value!r}")


def check_lightning_names(config: TrainConfig) -> None:
    """A ValueError, before a run starts, for a ``training.accelerator`` or
    ``training.strategy`` name that Lightning's registries do not hold (Lightning says so only
    once its Trainer is made)."""
    from lightning.pytorch.accelerators import AcceleratorRegistry
    from lightning.pytorch.strategies import StrategyRegistry

    for name, value, registry, registered in (
            ("accelerator", config.accelerator, AcceleratorRegistry,
             ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]),
            ("strategy", config.strategy, StrategyRegistry,
             ["auto", *StrategyRegistry.available_strategies()])):
        if isinstance(value, str) and value not in registered:
            # a saved run given a Lightning object wrote its class's name (to_dict(written=True))
            names = [key for key, entry in registry.items()
                     if entry[name].__name__.lower() == value.lower()]
            if names:
                raise ValueError(f"training.{name} {value!r} is the class of a Lightning "
                                 "object (a saved run records such an object by its class): "
                                 f"set one of the names Lightning registers it under, {names}, "
                                 "or pass the object")
            raise ValueError(f"training.{name} must be one of the names Lightning takes, "
                             f"{registered}, got {value!r}")


def _check_batch_limit(name: str, value: object) -> None:
    if is_int(value):
        if value < 1:  # type: ignore[operator]
            raise ValueError(f"{name} must be an int >= 1 (a count of batches) or a float in "
                             f"(0, 1] (a fraction), got {value!r}")
    elif isinstance(value, float):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be a float in (0, 1] (a fraction of the batches) or "
                             f"an int >= 1 (a count), got {value!r}")
    else:
        raise TypeError(f"{name} must be a float in (0, 1] or an int >= 1, got "
                        f"{type(value).__name__} {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimisation, stopping, logging, checkpoints and hardware.

    Every field has a default that trains on the CPU with Adam. Hardware fields are handed to
    ``lightning.pytorch.Trainer`` unchanged, so the same configuration runs on a GPU
    (``accelerator="gpu"``) or across machines (``strategy="ddp"``, ``num_nodes``).
    A NumPy number or bool (``np.float64(1e-3)``, ``np.int64(10)``) is stored as the Python
    value it stands for, so that the configuration saves as YAML or JSON.

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
        ema_decay: keep an exponential moving average of the weights with this decay per
            optimisation step (in (0, 1), e.g. 0.999: an average over about the last 1,000
            steps; the first steps use a smaller decay, ``(1 + n) / (10 + n)``); validation,
            early stopping, best weights, checkpoints and the trained model all use the
            average. ``None`` (the default) trains without one.
        adversarial: adversarial training (Miyato et al. 2017): each training batch also
            trains on its embeddings moved by this L2 norm per example, in the direction that
            raises the loss most; 0 turns it off. The norm is in the embeddings' own units
            (GloVe 6B 50d word vectors have norm about 5). Needs a model with an
            ``adversarial_inputs()`` method (see :class:`~lstmkit.training.Task`); one
            training step then costs about two.
        early_stopping_patience: stop after this many validation checks without improvement
            of ``monitor``; ``None`` turns early stopping off. Needs validation data.
        monitor: the logged quantity that early stopping, ``plateau`` and best-weight
            tracking watch (``"val_loss"`` or ``"val_<metric>"`` for one of the metrics given
            to :func:`~lstmkit.training.fit`, which refuses another name before training; a
            value a callback logs is not a monitor). Best-weight tracking breaks a tie in a
            metric by the lower ``val_loss``.
        monitor_mode: ``"min"`` or ``"max"``.
        restore_best: at the end of training load the weights of the best validation check.
        seed: seeds Python, NumPy and torch (and dataloader workers); an int in [0, 2**32 - 1],
            or ``None`` for no seeding.
        deterministic: ask torch for deterministic algorithms (slower on some GPUs).
        accelerator, devices, strategy, num_nodes, precision: passed to the Lightning Trainer.
            ``accelerator`` is a name (``"auto"``, ``"cpu"``, ``"gpu"``, ...); ``devices`` an
            int >= 1, -1 (all), ``"auto"`` or a list of distinct device indices; ``precision``
            ``None`` or one of :data:`PRECISIONS` (e.g. ``"bf16-mixed"``).
        progress_bar: show a progress bar and Lightning's start-up messages.
        epoch_log: print one line per finished epoch to stderr (the losses, the monitored
            value, the best check so far) and, at the end, the check whose weights are kept:
            progress without a bar (the text commands' default).
        log_dir: write CSV and TensorBoard logs here (``<log_dir>/csv``, ``<log_dir>/tb``);
            ``None`` for no logs. A ``Path`` is stored as a string (so is ``checkpoint_dir``).
        log_every_n_steps: every this many optimisation steps the step's training loss and
            learning rate are logged (``train_loss_step``, ``lr_step``), the curve within
            epochs; the epoch's values (``train_loss``, ``val_loss``, ``lr``, ...) are logged
            once an epoch.
        checkpoint_dir: write ``last.ckpt`` every epoch (and ``best.ckpt``) here, atomically;
            ``None`` for no checkpoints.
        limit_train_batches, limit_val_batches: fraction (float) or count (int) of batches per
            epoch: a float in (0, 1] or an int >= 1; ``1.0`` for all. (To train without
            validation pass no validation data rather than ``limit_val_batches=0``.)
        fast_dev_run: run one batch of training and validation only (for tests); an int
            ``n`` runs ``n`` batches.
    """

    max_epochs: int = 10
    lr: float = 1e-3
    optimizer: Optimizer = "adam"
    weight_decay: float = 0.0
    scheduler: Scheduler = "none"
    lr_gamma: float = 0.5
    scheduler_patience: int = 2
    grad_clip: float | None = None
    ema_decay: float | None = None
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
    epoch_log: bool = False
    log_dir: str | Path | None = None
    log_every_n_steps: int = 50
    checkpoint_dir: str | Path | None = None
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    fast_dev_run: bool | int = False

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy scalars (np.float64(1e-3), np.int64(10)) as Python ones
        try:
            self._check()
        except (TypeError, ValueError) as err:  # named as a config file and --set write it
            raise type(err)(f"training.{err}") from None

    def _check(self) -> None:
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
        _check_number("ema_decay", self.ema_decay, low=0.0, low_open=True, allow_none=True)
        if self.ema_decay is not None and self.ema_decay >= 1.0:
            raise ValueError(f"ema_decay must be < 1 (or None for no average), got "
                             f"{self.ema_decay!r}")
        if self.ema_decay is not None and str(self.precision) in (
                "16-true", "bf16-true", "transformer-engine", "transformer-engine-float16"):
            raise ValueError(f"ema_decay={self.ema_decay} needs the average kept in at least "
                             f"float32, but precision={self.precision!r} keeps the weights in "
                             "16 bits, where its small steps round away; use a mixed precision "
                             "('16-mixed', 'bf16-mixed') or ema_decay=None")
        _check_number("adversarial", self.adversarial, low=0.0)
        _check_number("early_stopping_patience", self.early_stopping_patience, low=1,
                      integer=True, allow_none=True)
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ValueError(f"monitor must be a non-empty logged name, got {self.monitor!r}")
        _check_choice("monitor_mode", self.monitor_mode, Mode)
        _check_number("seed", self.seed, low=0, integer=True, allow_none=True)
        if self.seed is not None and self.seed > MAX_SEED:
            raise ValueError(f"seed must be <= {MAX_SEED} (2**32 - 1, the largest seed NumPy "
                             f"takes), got {self.seed}")
        _check_number("num_nodes", self.num_nodes, low=1, integer=True)
        _check_number("log_every_n_steps", self.log_every_n_steps, low=1, integer=True)
        for name in ("limit_train_batches", "limit_val_batches"):
            _check_batch_limit(name, getattr(self, name))
        for name in ("restore_best", "deterministic", "progress_bar", "epoch_log"):
            _check_bool(name, getattr(self, name))
        if not isinstance(self.fast_dev_run, bool):
            _check_number("fast_dev_run (True, False or a number of batches)",
                          self.fast_dev_run, low=0, integer=True)
        if isinstance(self.strategy, str):  # Lightning reads 'DDP' as 'ddp'; so do the checks
            object.__setattr__(self, "strategy", self.strategy.lower())
        _check_lightning_kinds(self.accelerator, self.strategy)
        _check_devices(self.devices)
        if self.precision is not None and (isinstance(self.precision, bool) or not isinstance(
                self.precision, int | str) or self.precision not in PRECISIONS):
            raise ValueError(f"precision must be None or one of {list(PRECISIONS)}, got "
                             f"{type(self.precision).__name__} {self.precision!r}")
        for name in ("log_dir", "checkpoint_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise TypeError(f"{name} must be a path or None, got {type(value).__name__}")
            if isinstance(value, Path):
                # stored as text, as a saved config reads back, so that the two compare equal
                object.__setattr__(self, name, str(value))

    def resume_settings(self) -> dict[str, Any]:
        """The settings a checkpoint records and a run resuming from it must share: what the
        restored optimiser, schedule, early stopping and random states were built from
        (:data:`RESUME_FIXED`), and ``max_epochs`` where the schedule's length is set by it.
        A resume may change the rest: more epochs, the hardware, the folders, the logs."""
        fixed = RESUME_FIXED + (("max_epochs",) if self.scheduler in SIZED_SCHEDULES else ())
        return {name: getattr(self, name) for name in fixed}

    def several_processes(self) -> bool:
        """Whether these settings may train in several processes: a distributed strategy
        (``ddp``, ``fsdp``, ``deepspeed``), or ``auto`` on more than one device or machine
        (``devices="auto"`` or ``-1`` where torch finds several GPUs)."""
        import torch

        strategy = str(self.strategy)
        if any(word in strategy for word in ("ddp", "fsdp", "deepspeed")):
            return True
        devices = self.devices
        if devices in ("auto", -1):
            gpu = self.accelerator in ("auto", "gpu", "cuda")
            count = torch.cuda.device_count() if gpu else 1
        else:
            count = len(devices) if isinstance(devices, list) else int(devices)
        return strategy == "auto" and (count > 1 or self.num_nodes > 1)

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

    def to_dict(self, *, written: bool = False) -> dict[str, Any]:
        """The settings as a dict (paths are strings already); a Lightning Accelerator or
        Strategy object is copied. ``written=True``, for saving next to a model: plain values,
        such an object as its class's name, which says what the run used (a run from the
        saved settings names one Lightning takes instead)."""
        values = dataclasses.asdict(self)
        if written:
            for name in ("accelerator", "strategy"):
                if not isinstance(values[name], str):
                    values[name] = type(values[name]).__name__
        return values


def defaults_of(section: str, kind: type) -> dict[str, Any]:
    """A dataclass config class's field defaults as ``{"<section>.<field>": default}`` (for
    ``fit``'s ``run_defaults``); fields without a default are left out."""
    defaults = {}
    for f in dataclasses.fields(kind):
        if f.default is not dataclasses.MISSING:
            defaults[f"{section}.{f.name}"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f"{section}.{f.name}"] = f.default_factory()
    return defaults


def settings_of(section: str, config: Any, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass config's fields as ``{"<section>.<field>": value}`` (for ``fit``'s
    ``run_settings``), without the fields in ``leave_out``."""
    return {f"{section}.{f.name}": getattr(config, f.name) for f in dataclasses.fields(config)
            if f.name not in leave_out}


def train_config(config: object) -> TrainConfig:
    """``config``, or ``TrainConfig()`` for None; a TypeError for anything else (a dict of
    settings, say: ``TrainConfig(**settings)`` makes one)."""
    if config is None:
        return TrainConfig()
    if not isinstance(config, TrainConfig):
        hint = "; make one with TrainConfig(**settings)" if isinstance(config, Mapping) else ""
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}{hint}")
    return config
