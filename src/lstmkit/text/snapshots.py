"""Snapshots of one training run: the weights of its best validation checks.

A snapshot ensemble (Huang et al. 2017, here without the cyclic schedule) averages the
predictions of several checkpoints of a single run; it costs no extra training, only inference
time. :class:`TopSnapshots` keeps the ``k`` best checkpoints by the monitored validation score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import lightning.pytorch as pl
import torch
from torch import nn

from lstmkit.training.callbacks import validated_state

M = TypeVar("M", bound=nn.Module)


class TopSnapshots(pl.Callback):
    """Keep copies of ``module``'s weights at the ``k`` best validation checks of ``monitor``.

    Args:
        module: the network whose ``state_dict`` is copied (the model inside the task).
        k: how many snapshots to keep (>= 1).
        monitor: a logged validation quantity, such as ``"val_accuracy"``.
        mode: ``"max"`` or ``"min"``.

    After training, :attr:`states` holds the kept weights best first (ties: the lower
    ``val_loss`` first, then the earlier) and :attr:`epochs` / :attr:`scores` their epochs and
    scores.
    """

    def __init__(self, module: nn.Module, k: int, monitor: str, mode: str = "max") -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be one of ['max', 'min'], got {mode!r}")
        self.module = module
        self.k = k
        self.monitor = monitor
        self.mode = mode
        self._kept: list[tuple[float, int, dict[str, torch.Tensor]]] = []
        self._losses: dict[int, float] = {}  # val_loss by epoch, to break ties

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        # the weights validation scored (a moving average's, with training.ema_decay)
        state = {k: v.detach().clone()
                 for k, v in validated_state(trainer, self.module).items()}
        self._kept.append((score, trainer.current_epoch, state))
        loss = trainer.callback_metrics.get("val_loss")
        if loss is not None and math.isfinite(float(loss)):
            self._losses[trainer.current_epoch] = float(loss)
        sign = -1.0 if self.mode == "max" else 1.0
        self._kept.sort(key=lambda item: (sign * item[0], self._losses.get(item[1], math.inf),
                                          item[1]))
        del self._kept[self.k :]

    @property
    def states(self) -> list[dict[str, torch.Tensor]]:
        return [state for _, _, state in self._kept]

    @property
    def epochs(self) -> list[int]:
        return [epoch for _, epoch, _ in self._kept]

    @property
    def scores(self) -> list[float]:
        return [score for score, _, _ in self._kept]

    def networks(self, trained: M, build: Callable[[], M],
                 drop_prefix: str | None = None) -> list[M]:
        """The kept snapshots as networks in eval mode: each is a fresh ``build()`` loaded with
        one snapshot's weights, leaving out those whose name starts with ``drop_prefix`` (a
        head used only in training). With fewer than two snapshots: ``[trained]``."""
        if len(self._kept) < 2:
            return [trained.eval()]
        members = []
        for state in self.states:
            member = build()
            member.load_state_dict({k: v for k, v in state.items()
                                    if drop_prefix is None or not k.startswith(drop_prefix)})
            members.append(member.eval())
        return members

    def state_dict(self) -> dict[str, Any]:
        return {"kept": self._kept, "losses": self._losses}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._kept = list(state_dict["kept"])
        self._losses = dict(state_dict.get("losses", {}))  # absent from older checkpoints
