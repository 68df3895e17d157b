"""``fit`` and ``evaluate``: one call from (model, loss, data, config) to a trained model."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import os
import signal
import sys
import time
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import nn
from torch.utils.data import DataLoader

from lstmkit.nn.config import shown
from lstmkit.training.callbacks import (
    AtomicCheckpointIO,
    BestWeights,
    EpochLog,
    History,
    PlateauLR,
    ResumableEarlyStopping,
    RNGState,
    TrainingClock,
    WeightEMA,
    in_process_group,
    process_group,
)
from lstmkit.training.config import (
    MAX_SEED,
    SIZED_SCHEDULES,
    TrainConfig,
    check_lightning_names,
    train_config,
)
from lstmkit.training.logs import LogVersions, loggers
from lstmkit.training.task import (
    RESUME_SETTINGS,
    RUN_SETTINGS,
    BatchFn,
    LossFn,
    MetricFn,
    Task,
    check_metric_names,
)

LAST_CHECKPOINT = "last.ckpt"


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (best validation weights when ``restore_best`` and validation
            data were given), in eval mode.
        task: the Lightning module wrapping it.
        trainer: the Lightning trainer (for ``trainer.test`` and friends).
        history: one dict of logged values per epoch.
        best_score: best value of ``config.monitor`` (``None`` without validation).
        best_epoch: epoch (0-based) of the best validation check.
        epochs_run: epochs completed, counting those before a resume.
        wall_time_s: seconds spent training in this call (the fused kernel's build left
            out).
        total_time_s: seconds of training of the whole run: ``wall_time_s`` plus, after a
            resume, the training up to the checkpoint resumed from.
        last_checkpoint: path of ``last.ckpt`` when checkpointing, else ``None``.
    """

    model: nn.Module
    task: Task
    trainer: pl.Trainer
    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int | None = None
    epochs_run: int = 0
    wall_time_s: float = 0.0
    last_checkpoint: Path | None = None
    total_time_s: float = 0.0


def _no_tips(record: logging.LogRecord) -> bool:
    """Whether a Lightning log record is kept: not one of its tips advertising its cloud
    services (``"💡 Tip: For seamless cloud logging ..."``), printed at every run."""
    return not str(record.msg).startswith("💡 Tip")


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence Lightning's warnings that do not apply here (in-memory data, lstmkit's own
    ``.lock`` in the checkpoint folder, training without validation data, a deprecation
    inside Lightning) and its tips (:func:`_no_tips`), and, when ``enabled``, its start-up
    chatter."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    if enabled:
        logger.setLevel(logging.WARNING)
    # the logger Lightning's rank_zero_info logs on now, whose filter sees each record
    # ("lightning.pytorch.utilities.rank_zero", or pytorch_lightning's once that is imported)
    from lightning.pytorch.utilities.rank_zero import rank_zero_module

    tips = rank_zero_module.log
    tips.addFilter(_no_tips)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
            warnings.filterwarnings("ignore", message=".*but have no `val_dataloader`.*")
            # a run folder moved or copied: what it means for best.ckpt is documented
            warnings.filterwarnings("ignore", message="The dirpath has changed from")
            yield
    finally:
        logger.setLevel(level)
        tips.removeFilter(_no_tips)


def _limit(batches: int | float) -> int | float | None:
    """A ``limit_*_batches`` setting for Lightning: None for all batches (1.0), which is
    the same without Lightning's note that 1.0 means all of them; 1 (an int) is one batch."""
    return None if isinstance(batches, float) and batches == 1.0 else batches


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and torch (and dataloader workers) with ``seed``, an int in
    [0, 2**32 - 1]; ``None`` does nothing."""
    if seed is None:
        return
    # (Lightning takes True as 1 and 1.5 as 1, and replaces a seed out of bounds with 0)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}] (2**32 - 1, the largest seed NumPy "
                         f"takes) or None, got {shown(seed, format)}")
    pl.seed_everything(int(seed), workers=True, verbose=False)


def build_trainer(
    config: TrainConfig,
    *,
    has_validation: bool,
    callbacks: Sequence[pl.Callback] = (),
    resume_from: Mapping[str, Any] | None = None,
    distributed_sampler: bool = True,
) -> tuple[pl.Trainer, BestWeights, History]:
    """A Lightning ``Trainer`` configured from ``config``.

    Adds early stopping (when ``early_stopping_patience`` is set and there is validation),
    a moving average of the weights (``ema_decay``), best-weight tracking, history,
    RNG-state checkpointing, atomic checkpoints in ``checkpoint_dir`` and CSV + TensorBoard
    loggers in ``log_dir``. ``resume_from``, the loaded checkpoint a run resumes from, makes
    the loggers continue the logs of the run that wrote it (see :mod:`.logs`).
    ``distributed_sampler``: see :func:`fit`.
    Returns ``(trainer, best_weights_callback, history_callback)``.
    """
    if config.early_stopping_patience is not None and not has_validation:
        raise ValueError(
            f"training.early_stopping_patience={config.early_stopping_patience} stops on "
            "validation data, but none was given (a dev set, val_data); give some or set "
            "training.early_stopping_patience to null"
        )
    if isinstance(config.strategy, str) and any(
            word in config.strategy for word in ("spawn", "fork", "notebook")):
        raise ValueError(
            f"training.strategy={config.strategy!r} trains in child processes, and the best "
            "weights, history and early-stopping state kept by lstmkit's callbacks do not come "
            "back from them; use 'ddp', which runs this same program once per device")
    if config.scheduler == "plateau" and not has_validation and config.monitor.startswith("val"):
        raise ValueError(
            f"scheduler='plateau' monitors {config.monitor!r}, which needs validation data; "
            "got val_data=None"
        )
    ema = WeightEMA(config.ema_decay) if config.ema_decay is not None else None
    best = BestWeights(config.monitor, config.monitor_mode,
                       restore=config.restore_best and has_validation)
    history = History()
    log = ([EpochLog(best, config.max_epochs, restore=config.restore_best and has_validation)]
           if config.epoch_log else [])
    all_callbacks: list[pl.Callback] = [RNGState(), *([ema] if ema else []), best, history,
                                        *log, *callbacks]
    if config.scheduler == "plateau":
        all_callbacks.append(PlateauLR(config.monitor, config.monitor_mode, config.lr_gamma,
                                       config.scheduler_patience, has_validation))
    if config.early_stopping_patience is not None:
        all_callbacks.append(ResumableEarlyStopping(
            monitor=config.monitor, mode=config.monitor_mode,
            patience=config.early_stopping_patience, best=best))
    if config.checkpoint_dir is not None:
        folder = str(config.checkpoint_dir)
        if has_validation:
            # best.ckpt when the monitored value improves; last.ckpt after every epoch (one
            # checkpoint with save_last would rewrite it only when best.ckpt is rewritten)
            all_callbacks.append(ModelCheckpoint(
                dirpath=folder, filename="best", monitor=config.monitor,
                mode=config.monitor_mode, save_top_k=1, enable_version_counter=False))
            all_callbacks.append(ModelCheckpoint(
                dirpath=folder, filename=Path(LAST_CHECKPOINT).stem, monitor=None,
                save_top_k=1, enable_version_counter=False))
        else:  # nothing to rank: best.ckpt and last.ckpt are both the latest epoch
            all_callbacks.append(ModelCheckpoint(
                dirpath=folder, filename="best", monitor=None, save_top_k=1, save_last=True,
                enable_version_counter=False))
    run_loggers = []
    if config.log_dir is not None:
        run_loggers = loggers(config.log_dir, resume_from)
        all_callbacks.append(LogVersions())
    trainer = pl.Trainer(
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,  # type: ignore[arg-type]
        gradient_clip_val=config.grad_clip,
        deterministic=config.deterministic,
        callbacks=all_callbacks,
        logger=run_loggers if run_loggers else False,
        enable_checkpointing=config.checkpoint_dir is not None,
        enable_progress_bar=config.progress_bar,
        enable_model_summary=config.progress_bar,
        log_every_n_steps=config.log_every_n_steps,
        limit_train_batches=_limit(config.limit_train_batches),
        limit_val_batches=_limit(config.limit_val_batches),
        fast_dev_run=config.fast_dev_run,
        num_sanity_val_steps=0,
        default_root_dir=str(config.log_dir or config.checkpoint_dir or Path.cwd()),
        plugins=[AtomicCheckpointIO()] if config.checkpoint_dir is not None else None,
        use_distributed_sampler=distributed_sampler,
    )
    return trainer, best, history


def check_resume(resume: object) -> None:
    """A TypeError unless ``resume`` is True, False or a checkpoint path (for callers that
    check it before any work of their own)."""
    if not isinstance(resume, bool | str | Path):
        raise TypeError(f"resume must be True, False or a checkpoint path, got "
                        f"{type(resume).__name__} {resume!r}")


LOCK_FILE = ".lock"
"""The file in ``training.checkpoint_dir`` that a run holds locked while it trains."""


@contextlib.contextmanager
def hold_folder(folder: str | Path | None) -> Iterator[None]:
    """Hold the checkpoint folder ``folder`` (made if missing) for this run, so that a second
    run into it meanwhile is refused rather than overwriting its checkpoints: an advisory
    ``flock`` on ``folder/.lock``, which the system releases if the process dies, taken by
    the first process of a distributed run (nothing is held where the file system or the
    platform has no such lock). Also says at once, in the setting's name, a folder that
    cannot be written (found after the first epoch otherwise)."""
    if folder is None or not is_first_process():
        yield
        return
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_FILE, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as err:  # (its own kind, a PermissionError say, with these words)
        raise type(err)(f"training.checkpoint_dir {str(folder)!r} cannot be written: "
                        f"{err.strerror or err}") from None
    with handle:
        fcntl = _lock(handle, folder)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _lock(handle: Any, folder: Path) -> Any:
    """Lock ``handle`` (``folder``'s lock file) without waiting and write this process into
    it: the ``fcntl`` module when held, None where no lock can be had (no ``fcntl``: Windows;
    ENOLCK or EOPNOTSUPP: some network file systems); a lock held by another run is an error
    naming it."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise BlockingIOError(
            f"training.checkpoint_dir {str(folder)!r} is in use by another run that is "
            f"training ({holder}): two runs in one folder would overwrite each other's "
            "checkpoints; wait for that run to end, or give this one another folder "
            "(--out)") from None
    except OSError:
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()}\n")
    handle.flush()
    return fcntl


def _last_checkpoint(config: TrainConfig) -> Path | None:
    """``<checkpoint_dir>/last.ckpt`` when it exists, else ``None``."""
    if config.checkpoint_dir is None:
        return None
    last = Path(config.checkpoint_dir) / LAST_CHECKPOINT
    return last if last.exists() else None


def _resolve_resume(resume: bool | str | Path, config: TrainConfig) -> str | None:
    check_resume(resume)
    if resume is False:
        return None
    if resume is True:
        if config.checkpoint_dir is None:
            raise ValueError("resume=True needs config.checkpoint_dir, got "
                             "training.checkpoint_dir=None; set it to the folder of the "
                             "interrupted run")
        last = _last_checkpoint(config)
        if last is None:
            warnings.warn(f"resume=True (--resume): no {LAST_CHECKPOINT} in "
                          f"{str(config.checkpoint_dir)!r} yet, so training starts from its "
                          "first epoch", UserWarning,
                          stacklevel=4)
            return None
        return str(last)
    path = Path(resume)
    if path.is_dir():
        raise IsADirectoryError(f"resume checkpoint {str(path)!r} is a folder, not a checkpoint "
                                f"file: give the file ({str(path / LAST_CHECKPOINT)!r}), or "
                                "resume=True with training.checkpoint_dir set to the folder")
    if not path.is_file():
        raise FileNotFoundError(f"resume checkpoint {str(path)!r} does not exist")
    return str(path)


def fit(
    model: nn.Module,
    loss: LossFn,
    train_data: DataLoader,
    val_data: DataLoader | None = None,
    config: TrainConfig | None = None,
    *,
    metrics: Mapping[str, MetricFn] | None = None,
    batch_fn: BatchFn | None = None,
    resume: bool | str | Path = False,
    callbacks: Sequence[pl.Callback] = (),
    run_settings: Mapping[str, Any] | None = None,
    run_defaults: Mapping[str, Any] | None = None,
    log_settings: Mapping[str, Any] | None = None,
    distributed_sampler: bool = True,
) -> FitResult:
    """Train ``model`` on ``train_data`` and return a :class:`FitResult`.

    Args:
        model: any ``nn.Module``; trained in place, and given back in the dtype it came
            in (a ``"64"`` or ``"bf16-true"`` precision converts it while training).
        loss: ``loss(output, target) -> scalar``.
        train_data, val_data: dataloaders of batches that ``batch_fn`` understands
            (by default ``(inputs, target)`` pairs).
        config: a :class:`TrainConfig`; defaults to ``TrainConfig()``.
        metrics: see :class:`Task`.
        batch_fn: see :class:`Task`.
        resume: ``True`` continues from ``<checkpoint_dir>/last.ckpt`` when it exists (and
            starts fresh otherwise, with a warning), a path continues from that checkpoint,
            ``False`` starts fresh. Model, optimiser, scheduler, epoch, early-stopping state,
            best weights and random states are all restored, so the result equals an
            uninterrupted run.
        callbacks: extra Lightning callbacks.
        run_settings: the application's own settings that decide what training computes
            (``{"model.loss": "mae", ...}``): every checkpoint records them, and a resume
            whose settings differ from its checkpoint's is refused, naming them, as it is
            for the training settings.
        run_defaults: the defaults of ``run_settings``: a setting that a checkpoint lacks
            (one added since it was written) is compared as its default, the value its run
            had without it; a setting without one is not compared.
        log_settings: the application's other settings (which a resume does not compare:
            where the data are read from, say), written beside the logs with
            ``run_settings``, so that ``hparams.yaml`` holds the whole run.
        distributed_sampler: under DDP, whether Lightning shares ``train_data``'s examples
            out among the processes (with a ``DistributedSampler``, the default). ``False``
            leaves it as it is: for a loader whose batch sampler shares its batches out
            itself (the text applications'
            :class:`~lstmkit.text.batching.BucketBatchSampler`).

    Under DDP every process goes through the whole of ``val_data`` (Lightning would share it
    out too, repeating examples to even the shares, and average the shares' means), so that
    the validation scores, and what early stopping and the best weights follow, are those of
    one process on the whole set.
    """
    config = train_config(config)
    check_metric_names(metrics)  # before the monitor is looked for among their names
    if not config.monitor.startswith("val_"):
        # checked here, not in TrainConfig, so that a model saved with such a setting loads:
        # a training quantity is logged after the epoch's checkpoint callbacks run, and the
        # best weights kept would be one epoch off the score reported
        raise ValueError(f"training.monitor must be a validation quantity, 'val_loss' or "
                         f"'val_<metric>', got {config.monitor!r}")
    logged = ["val_loss", *(f"val_{name}" for name in metrics or {})]
    if config.monitor not in logged:
        # Task logs exactly these in validation; said now rather than after the first epoch
        # (and without validation data too: a name no validation could log is a mistake)
        raise ValueError(f"training.monitor {config.monitor!r} is not among the values "
                         f"logged in validation: {logged}")
    _check_hardware(config)
    ckpt_path = _resolve_resume(resume, config)
    clock = TrainingClock()
    with hold_folder(config.checkpoint_dir), _quiet(not config.progress_bar):
        seed_everything(config.seed)
        task = Task(model, loss, config, metrics=metrics, batch_fn=batch_fn)
        task.run_settings = dict(run_settings or {})
        task.run_defaults = dict(run_defaults or {})
        checkpoint = None
        if ckpt_path is not None:
            checkpoint = _read_checkpoint(ckpt_path)
            _check_checkpoint_fits(checkpoint, ckpt_path, task, config)
        trainer, best, history = build_trainer(
            config, has_validation=val_data is not None, callbacks=[*callbacks, clock],
            resume_from=checkpoint, distributed_sampler=distributed_sampler)
        # the run's settings beside its curves: hparams.yaml in each log folder (written by
        # the first process only): training.* and the application's settings
        settings = {**{f"training.{k}": v for k, v in config.to_dict(written=True).items()},
                    **dict(sorted({**(log_settings or {}), **task.run_settings}.items()))}
        # as plain YAML (lists for tuples, text for paths), which yaml.safe_load reads
        settings = json.loads(json.dumps(settings, default=str))
        for logger in trainer.loggers:
            logger.log_hyperparams(settings)
            if isinstance(logger, TensorBoardLogger) and rank_zero_only.rank == 0:
                # (its hparams.yaml is written only when missing: a resumed run's would keep
                # the settings of the run it resumes; on the process Lightning logs from)
                Path(logger.log_dir).mkdir(parents=True, exist_ok=True)
                save_hparams_to_yaml(Path(logger.log_dir) / "hparams.yaml", settings)
        # Lightning keeps the mode a module arrives in; one left in eval mode (after scoring
        # it, say) would train with dropout off
        model.train()
        dtype = _float_dtype(model)
        if val_data is not None and config.several_processes():
            val_data = _Whole(val_data)
        try:
            with _noting_group():
                trainer.fit(task, train_dataloaders=train_data, val_dataloaders=val_data,
                            ckpt_path=ckpt_path)
        except SystemExit as stop:
            # SIGTERM: Lightning's SIGTERMException is a SystemExit without a code (status 0);
            # Ctrl-C: Lightning shuts down and exits with 1, saying so only at INFO level
            terminated = isinstance(stop, SIGTERMException)
            if not (terminated or trainer.interrupted):
                raise
            last = _last_checkpoint(config)
            where = ("" if config.checkpoint_dir is None else
                     f"; {last} holds the last finished epoch, continue with resume=True "
                     "(--resume)"
                     if last is not None
                     else "; no finished epoch was checkpointed yet (last.ckpt), so "
                     "there is nothing to resume")
            cause = "stopped by SIGTERM" if terminated else "interrupted"
            # (counted from 1, as the epoch log counts them)
            print(f"training {cause} in epoch {trainer.current_epoch + 1}/{config.max_epochs}"
                  f"{where}", file=sys.stderr)
            raise SystemExit(128 + signal.SIGTERM if terminated else 130) from None
    _restore_dtype(model, dtype)
    model.eval()
    stopping = next((c for c in trainer.callbacks if isinstance(c, ResumableEarlyStopping)),
                    None)
    if stopping is not None and stopping.ended_before is not None and trainer.is_global_zero:
        warnings.warn(f"the run resumed had stopped early after epoch {stopping.ended_before} "
                      f"({stopping.patience} validation checks without a better "
                      f"{stopping.monitor}, training.early_stopping_patience), so it trains no "
                      "further, as it would not have without the interruption; to train "
                      "longer, start a new run with a larger patience", UserWarning,
                      stacklevel=2)
    if best.best_score is not None and trainer.is_global_zero:
        # TensorBoard's HParams tab pairs the settings with a result: the best check's
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                # at the run's last step, not 0: a resume purges the logs from its
                # checkpoint's step on, this score too, which it logs again
                logger.log_hyperparams(settings, {f"hp/best_{config.monitor}":
                                                  float(best.best_score)},
                                       step=trainer.global_step)
                logger.experiment.close()  # (written now; the run's writer had closed)
    if val_data is not None and best.best_score is None and config.monitor.startswith("val"):
        warnings.warn(f"no validation check gave a finite {config.monitor}: training "
                      "diverged (try a lower training.lr or training.grad_clip)", UserWarning,
                      stacklevel=2)
    elif (best.best_score == 0.0 and config.monitor != "val_loss"
          and config.monitor_mode == "max"):
        kept = ("the weights kept (the check with the lowest val_loss among them)"
                if config.restore_best else "every epoch's weights, the last one's kept,")
        warnings.warn(f"{config.monitor} was 0 at every validation check: {kept} score "
                      "nothing on the validation data; train longer or check that data (an "
                      "entity F1 is 0 on a dev set without entities)", UserWarning,
                      stacklevel=2)
    wall = clock.elapsed()
    return FitResult(
        model=model, task=task, trainer=trainer, history=history.epochs,
        best_score=best.best_score, best_epoch=best.best_epoch,
        epochs_run=trainer.current_epoch,
        wall_time_s=wall,  # the fused kernel's first build (about a minute) left out
        last_checkpoint=_last_checkpoint(config),
        total_time_s=clock.before + wall,
    )


@contextlib.contextmanager
def _noting_group() -> Iterator[None]:
    """Note the process group that the Lightning run inside makes (for a distributed run),
    which :func:`end_process_group` destroys at exit."""
    global _MADE_GROUP
    before = in_process_group()
    try:
        yield
    finally:
        if not before and in_process_group():
            _MADE_GROUP = torch.distributed.group.WORLD


_MADE_GROUP: Any = None  # the process group a run here made


def end_process_group() -> None:
    """At Python's exit, before it shuts down, destroy the process group that training or
    evaluation made (Lightning, for a distributed run), unless it is gone; a group the
    program made itself is left to it. ``import lstmkit`` registers it, so that it runs after
    the exit handlers the program registers (which may still use the group).

    Lightning does so for an NCCL group only. A gloo group (DDP on the CPU) otherwise
    outlives the program: its worker thread drops its last collective (Lightning's
    all-reduce of a logged value) just after the program's thread goes on, and must take the
    interpreter's lock to free that collective's tensors; a program that ends within the
    few milliseconds before it has the lock leaves it to an interpreter shutting down, and
    the process aborts ("terminate called without an active exception", signal 6).
    Destroying the group joins its workers with the lock released, where nothing else holds
    the group (a run's trainer, kept by the program, holds it); a short sleep then lets a
    worker still waiting for the lock take it and finish."""
    if (_MADE_GROUP is not None and in_process_group()
            and torch.distributed.group.WORLD is _MADE_GROUP):
        torch.distributed.destroy_process_group()
        time.sleep(0.05)


class _Whole:
    """``loader`` as an iterable that Lightning does not share out among the processes of
    a distributed run (it shares out DataLoaders only): each process goes through all of it."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[Any]:
        # a generator: Lightning's check that this is iterable calls iter() and starts
        # nothing, where a DataLoader's iterator draws its seed from the random state (which
        # a resumed run has restored by then)
        yield from self.loader

    def __len__(self) -> int:
        return len(self.loader)


def _check_hardware(config: TrainConfig) -> None:
    """Before a run: the accelerator and strategy names (:func:`check_lightning_names`), and a
    GPU asked for where torch finds none, in the setting's terms (Lightning's words are 'No
    supported gpu backend found!')."""
    check_lightning_names(config)
    accelerator = config.accelerator
    if not isinstance(accelerator, str):  # (a Lightning Accelerator)
        return
    name = accelerator.lower()
    cuda = torch.cuda.is_available()
    gpu = cuda or torch.backends.mps.is_available()  # Lightning's "gpu" takes either
    if (name == "cuda" and not cuda) or (name == "gpu" and not gpu):
        build = " (a CPU-only build)" if torch.version.cuda is None else ""
        raise ValueError(f"training.accelerator={accelerator!r}, but torch {torch.__version__}"
                         f"{build} finds no GPU here; use 'cpu' or 'auto' (--set "
                         "training.accelerator=cpu)")


def is_first_process() -> bool:
    """Whether this process is the first (global rank 0) of a distributed run, or the only one.

    Under DDP every process runs the whole program (Lightning's launcher starts the others
    with the same command) and trains together; the work after training, writing a model or a
    report, is for the first process alone. Once training has set up the run's process group,
    the group says; before that, the rank is read as Lightning reads it (``RANK``,
    ``LOCAL_RANK``, ``SLURM_PROCID``) where ``WORLD_SIZE`` (set by Lightning's launcher and
    torchrun) or ``SLURM_NTASKS`` says the run has several processes: a rank variable alone,
    left by a scheduler around a one-process run, does not make this process another's."""
    import os

    from lightning.fabric.utilities.rank_zero import rank_zero_only

    rank, processes = process_group()
    if processes > 1:
        return rank == 0
    world = os.environ.get("WORLD_SIZE") or os.environ.get("SLURM_NTASKS") or "1"
    if not world.isdigit() or int(world) <= 1:
        return True
    return getattr(rank_zero_only, "rank", 0) == 0


def evaluate(
    model: nn.Module,
    loss: LossFn,
    data: DataLoader,
    config: TrainConfig | None = None,
    *,
    metrics: Mapping[str, MetricFn] | None = None,
    batch_fn: BatchFn | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` over ``data`` (keys ``test_loss``, ``test_<metric>``)."""
    config = train_config(config)
    _check_hardware(config)
    with _quiet(not config.progress_bar):
        task = Task(model, loss, config, metrics=metrics, batch_fn=batch_fn)
        trainer = pl.Trainer(accelerator=config.accelerator, devices=config.devices,
                             strategy=config.strategy, num_nodes=config.num_nodes,
                             precision=config.precision,  # type: ignore[arg-type]
                             logger=False, enable_checkpointing=False,
                             enable_progress_bar=config.progress_bar,
                             enable_model_summary=False)
        dtype = _float_dtype(model)
        with _noting_group():
            out = trainer.test(task, dataloaders=data, verbose=False)
    _restore_dtype(model, dtype)
    model.eval()
    return {k: float(v) for k, v in out[0].items()}


def _read_checkpoint(path: str) -> dict[str, Any]:
    """The checkpoint at ``path``, memory-mapped, so that only what is looked at is read (the
    trainer loads it itself); a file in torch's legacy format cannot be mapped and is read
    whole. The records of a zip checkpoint (torch's format) are checked against their CRCs
    first: damage in a tensor's bytes, which the mapping does not read, was found only in
    the trainer's own load, after the logs had been cut back for the resumed run."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"record {bad!r} fails its CRC check")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except Exception:  # legacy format, or damaged: read whole to tell
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # what a damaged file raises varies
        raise ValueError(
            f"resume checkpoint {path!r} cannot be read ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:200]}): it is damaged or was not written "
            "whole; delete it to train afresh, or put another checkpoint in its place "
            "(best.ckpt beside it holds the best epoch: training then goes on from that "
            "epoch, not from the last)") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"resume checkpoint {path!r} is no Lightning checkpoint (it holds "
                         f"{type(checkpoint).__name__}, without a state_dict); delete it to "
                         "train afresh, or resume from another checkpoint")
    return checkpoint


def _check_checkpoint_fits(checkpoint: Mapping[str, Any], path: str, task: Task,
                           config: TrainConfig) -> None:
    """A ValueError unless the checkpoint (read from ``path``) holds weights of this model's
    names and shapes, written with a moving average of the weights exactly when ``config``
    keeps one."""
    finished = int(checkpoint.get("epoch", -1)) + 1
    if finished > config.max_epochs:  # (Lightning trains nothing, or fails in its own words)
        raise ValueError(f"resume checkpoint {path!r} has {finished} finished epochs, more than "
                         f"training.max_epochs={config.max_epochs} (--epochs): resume with "
                         f"max_epochs of at least {finished} to train on, or use the trained "
                         "model as it is")
    if finished == config.max_epochs:  # (Lightning trains nothing, silently)
        # (a run that ran out of patience at its last epoch would train no further either)
        stopped = any(isinstance(state, dict) and "wait_count" in state
                      and state["wait_count"] >= state.get("patience", math.inf)
                      for state in checkpoint.get("callbacks", {}).values())
        more = ("it had also run out of patience (training.early_stopping_patience): to train "
                "longer, start a new run with a larger patience" if stopped else
                f"its schedule (training.scheduler={config.scheduler!r}) ends there, so a "
                "longer run is a new one" if config.scheduler in SIZED_SCHEDULES else
                "resume with a larger training.max_epochs (--epochs) to train on")
        warnings.warn(f"resume checkpoint {path!r} has all {finished} epochs of "
                      f"training.max_epochs={config.max_epochs} finished: the run had ended, "
                      f"so it trains no further; {more}", UserWarning, stacklevel=3)
    averaged = "current_model_state" in checkpoint
    recorded = checkpoint.get(RESUME_SETTINGS)
    if averaged != (config.ema_decay is not None):
        written = "with" if averaged else "without"
        values = (f"training.ema_decay: {recorded['ema_decay']!r} there, "
                  f"{config.ema_decay!r} here" if recorded and "ema_decay" in recorded
                  else f"this run has training.ema_decay={config.ema_decay}")
        raise ValueError(f"resume checkpoint {path!r} was written {written} a moving average "
                         f"of the weights ({values}); resume with that run's "
                         "training.ema_decay")
    if recorded is not None:  # (checkpoints before lstmkit recorded them have none)
        current = config.resume_settings()
        changed = [f"training.{k}: {recorded[k]!r} there, {current[k]!r} here"
                   for k in sorted(current) if k in recorded and recorded[k] != current[k]]
        # compared as values: 0 == 0.0, dicts unordered; one the checkpoint lacks as its default
        run = {**task.run_defaults, **checkpoint.get(RUN_SETTINGS, {})}
        changed += [f"{k}: {run[k]!r} there, {v!r} here"
                    for k, v in sorted(task.run_settings.items()) if k in run and run[k] != v]
        if changed:
            raise ValueError(
                f"resume checkpoint {path!r} was trained with other settings "
                f"({'; '.join(changed)}); the optimiser, schedule and early stopping "
                "continue from the checkpoint, so resume with that run's settings and data, "
                "or train afresh without resume (or with another checkpoint folder)")
    saved = checkpoint.get("state_dict", {})
    own = task.state_dict()
    missing = sorted(set(own) - set(saved))
    extra = sorted(set(saved) - set(own))
    shapes = [f"{k} {tuple(saved[k].shape)} there, {tuple(own[k].shape)} here"
              for k in sorted(set(own) & set(saved)) if saved[k].shape != own[k].shape]
    problems = ([f"missing {missing[:3]}"] if missing else []) + \
        ([f"unexpected {extra[:3]}"] if extra else []) + shapes[:3]
    if problems:
        raise ValueError(f"resume checkpoint {path!r} was written by a different model "
                         f"({'; '.join(problems)}); resume with that run's settings, or train "
                         "afresh without resume (or with another checkpoint folder)")


def _float_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's floating-point parameters (None when they differ)."""
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else None


def _restore_dtype(model: nn.Module, dtype: torch.dtype | None) -> None:
    """A "64", "16-true" or "bf16-true" precision converts the model itself; it comes back
    in the dtype it was given in, so that code that used it before can use it again."""
    if dtype is not None:
        model.to(dtype)
