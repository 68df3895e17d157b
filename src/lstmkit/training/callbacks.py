"""Callbacks and the checkpoint writer that make training repeatable and restartable.

- :class:`AtomicCheckpointIO` writes a checkpoint to a temporary file in the same folder,
  flushes it to disk and renames it over the target, so a crash never leaves a half-written
  ``last.ckpt``.
- :class:`RNGState` stores the Python, NumPy and torch random states in every checkpoint and
  restores them on resume, so the data order and dropout masks after a resume are the ones the
  uninterrupted run would have drawn.
- :class:`BestWeights` keeps the weights of the best validation check in memory (and in the
  checkpoint) and loads them when training ends.
- :class:`WeightEMA` keeps an exponential moving average of the weights, which validation,
  checkpoints and the end of training use in place of the weights being trained.
- :class:`History` records the logged values of every epoch as a list of dicts.
- :class:`PlateauLR` runs ``ReduceLROnPlateau`` before the checkpoint of each epoch is
  written, so that a resumed run keeps its learning-rate schedule.
- :class:`ResumableEarlyStopping` is Lightning's ``EarlyStopping`` that also stops a resumed
  run whose patience had already run out.
"""

from __future__ import annotations

import copy
import functools
import glob
import itertools
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import EarlyStopping, WeightAveraging
from torch import nn


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to ``.<name>.tmp-<pid>``, fsync, then ``os.replace`` onto the target
    and fsync its folder. The temporary file of a process that died writing (killed, or the
    machine down) is removed at the next write of the same name."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(
                "AtomicCheckpointIO takes no storage_options, got "
                f"{type(storage_options).__name__}"
            )
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_folder(target.parent)
        finally:
            if tmp.exists():
                tmp.unlink()
        for left in target.parent.glob(f".{glob.escape(target.name)}.tmp-*"):
            pid = left.name.rsplit("-", 1)[1]
            if pid.isdigit() and not _alive(int(pid)):
                left.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where folders can be opened and synced)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # (some file systems refuse a folder's fsync)
        pass
    finally:
        os.close(handle)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


class TrainingClock(pl.Callback):
    """The seconds a run has trained, kept in each checkpoint, so that a resumed run counts
    the training before the resume (up to its checkpoint) too: :meth:`elapsed` is this
    call's time since the clock was made, without the time spent building or loading the
    fused kernel, and ``before`` the checkpoint's."""

    def __init__(self) -> None:
        from lstmkit.kernels.cpu.loader import load_seconds

        self.before = 0.0
        self._start, self._building = time.perf_counter(), load_seconds()

    def elapsed(self) -> float:
        from lstmkit.kernels.cpu.loader import load_seconds

        return time.perf_counter() - self._start - (load_seconds() - self._building)

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.before + self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.before = float(state_dict["seconds"])


class WriteOnFitStart(pl.Callback):
    """Write ``text`` to ``path`` (the first process only) when training starts: after a
    resume's checkpoint was checked against the run, so that a refused resume leaves the
    file as it was."""

    def __init__(self, path: str | Path, text: str) -> None:
        self.path, self.text = Path(path), text

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.path.write_text(self.text)


class RNGState(pl.Callback):
    """Save and restore the global random states with each checkpoint. In a distributed run
    (DDP) each process draws its own dropout masks: the checkpoint, which the first process
    writes, holds every process's states (``"processes"``, by rank), and each takes its own
    back on resume (with another number of processes, each takes the first one's)."""

    def state_dict(self) -> dict[str, Any]:
        state = _rng_state()
        _, world = process_group()
        if world > 1:  # (every process builds the checkpoint; the first one writes it)
            states: list[Any] = [None] * world
            torch.distributed.all_gather_object(states, state)
            state = {**states[0], "processes": states}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        processes = state_dict.get("processes")
        rank, world = process_group()
        if processes is not None and world > 1 and world == len(processes):
            state_dict = processes[rank]
        elif max(world, len(processes or [None])) > 1 and rank == 0:
            warnings.warn(
                f"the resumed checkpoint was written by {len(processes or [None])} "
                f"process(es) and this run has {world}: every process takes the first one's "
                "random state (dropout masks), so the run does not continue exactly as it "
                "would have; resume with that run's number of processes for that",
                UserWarning, stacklevel=2)
        _set_rng_state(state_dict)


def process_group() -> tuple[int, int]:
    """``(rank, number of processes)`` of the distributed run this process is in, by its
    process group (``(0, 1)`` outside one, or before training has set one up)."""
    if in_process_group():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def in_process_group() -> bool:
    """Whether this process has a (default) process group, which a distributed run sets up."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized()


def _rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA) random states."""
    name, keys, pos, gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        # as plain values and a tensor: checkpoints load with weights_only=True
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Set the random states :func:`_rng_state` returned."""
    random.setstate(state["python"])
    name, keys, pos, gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _ema(decay: float, averaged: list[torch.Tensor], current: list[torch.Tensor],
         num_averaged: torch.Tensor) -> None:
    """One step of the average over tensors of one device and dtype: ``averaged += (1 - d)
    (current - averaged)``, where ``d`` is ``decay`` or, over the first steps, the smaller
    ``(1 + n) / (10 + n)`` (``n`` updates so far), so that the random starting weights do not
    linger in the average. Tensors that are not floating point (counters, masks) take the
    current value: they have no average."""
    if not averaged[0].is_floating_point():
        for average, value in zip(averaged, current, strict=True):
            average.copy_(value)
        return
    n = float(num_averaged)  # once per group of tensors, not once per tensor
    torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))


def _tensors(module: nn.Module) -> Iterator[torch.Tensor]:
    return itertools.chain(module.parameters(), module.buffers())


class WeightEMA(WeightAveraging):
    """An exponential moving average of the weights, updated after every optimisation step.

    Lightning's ``WeightAveraging`` does the bookkeeping: validation runs on the average,
    a checkpoint's ``state_dict`` holds the average (and ``current_model_state`` the weights
    being trained, so a resumed run continues both), and the model ends training with the
    average. The decay warms up as in TensorFlow's ``ExponentialMovingAverage``.
    """

    def __init__(self, decay: float) -> None:
        super().__init__(multi_avg_fn=functools.partial(_ema, decay))
        self.decay = decay

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "decay": self.decay}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # fit checks the settings a checkpoint records first; this check serves checkpoints
        # written before they were recorded
        saved = state_dict.get("decay", self.decay)
        if saved != self.decay:
            raise ValueError(f"the resume checkpoint was written with training.ema_decay="
                             f"{saved}, and this run has training.ema_decay={self.decay}; "
                             "resume with that run's training.ema_decay")
        super().load_state_dict(state_dict)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the average is copied from the module before the trainer moves the module to its
        # device and precision: it follows, so that swapping the two loses nothing
        if self._average_model is None:
            return
        for average, current in zip(_tensors(self._average_model.module), _tensors(pl_module),
                                    strict=True):
            average.data = average.data.to(device=current.device, dtype=current.dtype)
        self._average_model.n_averaged = self._average_model.n_averaged.to(pl_module.device)


def validated_state(trainer: pl.Trainer, module: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of ``module`` (the task or a network inside it) that validation scored:
    with a weight-averaging callback (:class:`WeightEMA`, or any Lightning
    ``WeightAveraging``) the averaged copy's, which that callback has swapped out again by
    the time ``on_validation_end`` runs; otherwise the module's own."""
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        average = getattr(callback, "_average_model", None)
        if isinstance(callback, WeightAveraging) and average is not None:
            task = trainer.lightning_module
            name = next((n for n, m in task.named_modules() if m is module), None)
            if name is None:
                raise ValueError(f"{type(module).__name__} is not part of the trained module, "
                                 "so its averaged weights cannot be found")
            return average.module.get_submodule(name).state_dict()
    return module.state_dict()


class BestWeights(pl.Callback):
    """Track ``monitor`` after each validation; load the best weights at the end of fit.

    The weights kept are those validation scored (:func:`validated_state`). A tie in a
    monitored metric other than ``val_loss`` (an F1 of 0 while a tagger learns that most
    tokens are outside entities, an accuracy on a small dev set) goes to the lower
    ``val_loss``: the earliest check won it, which kept the first epoch's weights."""

    def __init__(self, monitor: str, mode: str = "min", restore: bool = True) -> None:
        self.monitor = monitor
        self.mode = mode
        self.restore = restore
        self.best_score: float | None = None
        self.best_loss: float | None = None  # val_loss of the best check, for ties
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def _better(self, score: float, loss: float | None) -> bool:
        if not math.isfinite(score):  # a diverged check is never the best
            return False
        if self.best_score is None:
            return True
        if score == self.best_score:  # an unknown loss counts as the highest
            return loss is not None and (self.best_loss is None or loss < self.best_loss)
        return score < self.best_score if self.mode == "min" else score > self.best_score

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if self.monitor not in trainer.callback_metrics:
            # a training value is logged at the end of the epoch, after its validation
            if self.monitor.startswith("val"):
                raise ValueError(f"training.monitor {self.monitor!r} is not among the values "
                                 f"logged in validation: {sorted(trainer.callback_metrics)}")
            return
        score = float(trainer.callback_metrics[self.monitor])
        loss = trainer.callback_metrics.get("val_loss")
        loss = None if loss is None or self.monitor == "val_loss" else float(loss)
        if loss is not None and not math.isfinite(loss):
            loss = None  # unknown, as in TopSnapshots: a later tie with a finite loss wins
        if self._better(score, loss):
            self.best_score = score
            self.best_loss = loss
            self.best_epoch = trainer.current_epoch
            self.best_state = {k: v.detach().clone()
                               for k, v in validated_state(trainer, pl_module).items()}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.restore and self.best_state is not None:
            pl_module.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict["best_score"]
        self.best_loss = state_dict.get("best_loss")  # absent from older checkpoints
        self.best_epoch = state_dict["best_epoch"]
        self.best_state = state_dict["best_state"]


class History(pl.Callback):
    """One dict of logged values per finished training epoch (``epoch`` included)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": trainer.current_epoch}  # (an int in JSON)
        for key, value in trainer.callback_metrics.items():
            row[key] = float(value)
        self.epochs.append(row)

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": copy.deepcopy(self.epochs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # (a checkpoint of an earlier version holds the epochs as floats: 0.0, 1.0)
        self.epochs = [{**row, "epoch": int(row["epoch"])} for row in state_dict["epochs"]]


class EpochLog(pl.Callback):
    """One line per finished training epoch on stderr, and the kept check at the end.

    ``best`` is the run's :class:`BestWeights`, which has seen the epoch's validation by the
    end of the training epoch (Lightning validates first)."""

    def __init__(self, best: BestWeights, max_epochs: int, restore: bool) -> None:
        self.best = best
        self.max_epochs = max_epochs
        self.restore = restore

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        values = ", ".join(f"{k} {float(v):.4g}"
                           for k, v in sorted(trainer.callback_metrics.items()))
        mark = " (best)" if self.best.best_epoch == epoch else ""
        print(f"epoch {epoch + 1}/{self.max_epochs}: {values}{mark}", file=sys.stderr,
              flush=True)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        stopping = next((c for c in trainer.callbacks if isinstance(c, ResumableEarlyStopping)),
                        None)
        # (the log ends sooner than its epochs said; a resumed run that had stopped is
        # warned of by fit)
        if (stopping is not None and stopping.stopped_by is not None
                and stopping.stopped_epoch + 1 < self.max_epochs):  # (not at the last epoch)
            print(f"stopped early after epoch {stopping.stopped_epoch + 1}/{self.max_epochs}: "
                  f"{stopping.stopped_by}", file=sys.stderr, flush=True)
        if self.best.best_epoch is None:
            return
        what = "weights kept" if self.restore else "the last epoch's weights kept"
        print(f"best check: epoch {self.best.best_epoch + 1}, {self.best.monitor} "
              f"{self.best.best_score:.4g} ({what})", file=sys.stderr, flush=True)


class PlateauLR(pl.Callback):
    """``ReduceLROnPlateau`` on ``monitor``, stepped where the epoch's checkpoint sees it.

    Lightning steps a plateau scheduler after the epoch's checkpoint is written and skips that
    step when it restarts from the checkpoint, so a resumed run would lose one decay. Here the
    step comes at the end of validation (at the end of the training epoch without validation),
    before the checkpoint callback, which Lightning always runs last, and the scheduler's state
    travels in the checkpoint with the callback.
    """

    def __init__(self, monitor: str, mode: str, factor: float, patience: int,
                 has_validation: bool) -> None:
        self.monitor = monitor
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.has_validation = has_validation
        self.scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._loaded: dict[str, Any] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the optimiser exists (and has its resumed state) from here on
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            trainer.optimizers[0], mode=self.mode,  # type: ignore[arg-type]
            factor=self.factor, patience=self.patience)
        if self._loaded is not None:
            self.scheduler.load_state_dict(self._loaded)

    def _step(self, trainer: pl.Trainer) -> None:
        if self.scheduler is None or trainer.sanity_checking:
            return
        if self.monitor not in trainer.callback_metrics:
            raise ValueError(f"scheduler='plateau' monitors {self.monitor!r}, which was not "
                             f"logged; logged: {sorted(trainer.callback_metrics)}")
        self.scheduler.step(float(trainer.callback_metrics[self.monitor]))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.has_validation:
            self._step(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.has_validation:
            self._step(trainer)

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict or None


class ResumableEarlyStopping(EarlyStopping):
    """``EarlyStopping`` whose decision to stop survives a restart.

    The checkpoint holds the patience counter but not the trainer's stop flag, so a run
    resumed after the epoch that ran out of patience (killed while it finished, or resumed
    once more after it ended) would train on. Here a restored counter that has reached the
    patience stops the run before its first epoch, so it ends where the uninterrupted run did.
    """

    ended_before: int | None = None
    """The epochs of the run resumed, when it had ended by early stopping."""

    def __init__(self, *args: Any, best: BestWeights | None = None, **kwargs: Any) -> None:
        """``best``: the run's :class:`BestWeights`, whose rule for a tie in the monitored
        value (the lower ``val_loss`` wins) patience follows, so that a check the epoch log
        marks "(best)" is an improvement here too, not a check without one."""
        super().__init__(*args, **kwargs)
        self.best = best
        self._epoch: int | None = None
        self.stopped_by: str | None = None
        """Why this run stopped early (a resumed run that had stopped: see ended_before)."""

    def _run_early_stopping_check(self, trainer: pl.Trainer) -> None:
        self._epoch = trainer.current_epoch  # (for the criteria, which are given no trainer)
        super()._run_early_stopping_check(trainer)

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> tuple[bool, str | None]:
        should_stop, reason = super()._evaluate_stopping_criteria(current)
        if (self.best is not None and self.best.best_epoch == self._epoch
                and bool(torch.isfinite(current)) and self.wait_count > 0):
            # a tie the best weights broke by val_loss: this check's weights are kept
            self.wait_count = 0
            if hasattr(self, "stopping_reason"):  # (Lightning 2.5.3 on; saved in checkpoints)
                self.stopping_reason = type(self.stopping_reason)(0)  # NOT_STOPPED
            return False, None
        if should_stop:
            self.stopped_by = (f"{self.monitor} was not finite"
                               if not bool(torch.isfinite(current)) else
                               f"{self.patience} validation check(s) without a better "
                               f"{self.monitor} (training.early_stopping_patience)")
        return should_stop, reason

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self.wait_count >= self.patience:
            trainer.should_stop = True
            self.ended_before = trainer.current_epoch  # (fit says so)
