"""The Lightning task: a model, a loss and metrics composed, with the optimiser from a config.

The task builds no architecture and knows nothing about the data beyond how a batch splits into
model inputs and a target (see :func:`default_batch_fn`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from lstmkit.training.config import TrainConfig, train_config

LossFn = Callable[[Any, Any], Tensor]
BatchFn = Callable[[nn.Module, Any], tuple[Any, Any]]


@runtime_checkable
class StatefulMetric(Protocol):
    """A metric that accumulates over an epoch (the torchmetrics protocol)."""

    def update(self, output: Any, target: Any) -> None: ...
    def compute(self) -> Any: ...
    def reset(self) -> None: ...


MetricFn = Callable[[Any, Any], Tensor] | StatefulMetric


def default_batch_fn(model: nn.Module, batch: Any) -> tuple[Any, Any]:
    """Split ``batch = (inputs, target)`` and call the model on the inputs.

    ``inputs`` may be a tensor (``model(inputs)``), a tuple or list (``model(*inputs)``) or a
    mapping (``model(**inputs)``). Returns ``(output, target)``.
    """
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        raise TypeError(
            "batch must be a pair (inputs, target) for the default batch_fn, got "
            f"{type(batch).__name__}" + (f" of length {len(batch)}" if hasattr(batch, "__len__")
                                         else "")
            + "; pass batch_fn=... to unpack other batch layouts"
        )
    inputs, target = batch
    if isinstance(inputs, Mapping):
        return model(**inputs), target
    if isinstance(inputs, tuple | list):
        return model(*inputs), target
    return model(inputs), target


def batch_weight(target: Any) -> float:
    """What a validation or test batch weighs in its epoch's mean: its size, or where a
    float target holds NaN (values not observed, which the losses leave out) its observed
    values in items' worth."""
    if isinstance(target, Tensor) and target.dim() > 0 and target.is_floating_point():
        missing = int(torch.isnan(target).sum())
        if missing:
            return (target.numel() - missing) / target[0].numel()
    return _batch_size(target)


def _batch_size(target: Any) -> int:
    if isinstance(target, Tensor) and target.dim() > 0:
        return int(target.shape[0])
    if isinstance(target, tuple | list) and target:
        return _batch_size(target[0])
    if isinstance(target, Mapping) and target:
        return _batch_size(next(iter(target.values())))
    return 1


LOGGED = ("train_loss", "train_adversarial_loss", "train_loss_step", "val_loss", "test_loss",
          "lr", "lr_step")  # what a Task logs itself, beside its metrics


def check_metric_names(metrics: Mapping[str, Any] | None) -> None:
    """Refuse ``metrics`` that is not a mapping (None: no metrics; an ``nn.ModuleDict``, such
    as torchmetrics' ``MetricCollection``, is one), a metric name that is not a non-empty
    str, or one whose ``val_<name>`` or ``test_<name>`` is a value the task logs itself
    (``loss``: it would replace the loss)."""
    if metrics is None:
        return
    if not isinstance(metrics, Mapping | nn.ModuleDict):
        hint = (f" {metrics!r:.80} (for (name, metric) pairs, pass dict(pairs))"
                if isinstance(metrics, list | tuple) else "")
        raise TypeError(f"metrics must be a mapping of name -> metric, got "
                        f"{type(metrics).__name__}{hint}")
    for name in metrics:
        if not isinstance(name, str):
            raise TypeError(f"metric names must be non-empty str, got {type(name).__name__} "
                            f"{name!r}")
        if not name:
            raise ValueError(f"metric names must be non-empty str, got {name!r}")
        taken = [key for key in (f"val_{name}", f"test_{name}") if key in LOGGED]
        if taken:
            raise ValueError(f"metric name {name!r} is reserved: the metric would be logged "
                             f"as {taken[0]!r}, which the task logs itself (it logs "
                             f"{', '.join(LOGGED)}); rename the metric")


RESUME_SETTINGS = "lstmkit_training"  # the checkpoint's key: TrainConfig.resume_settings()
RUN_SETTINGS = "lstmkit_run"  # the checkpoint's key: fit's run_settings (the application's)


class Task(pl.LightningModule):
    """Train ``model`` to minimise ``loss(output, target)``; report ``metrics`` per epoch.

    Args:
        model: any ``nn.Module``.
        loss: ``loss(output, target) -> scalar tensor``.
        config: the optimiser and scheduler settings are read from it.
        metrics: name -> metric. A plain callable ``metric(output, target) -> scalar`` is
            averaged over batches weighted by batch size; an object with ``update``,
            ``compute`` and ``reset`` (a torchmetrics metric) accumulates over the epoch.
            Logged as ``val_<name>`` and ``test_<name>``; a name must be a non-empty str,
            and not ``loss`` (whose ``val_loss`` and ``test_loss`` the task logs itself).
        batch_fn: ``batch_fn(model, batch) -> (output, target)``; defaults to
            :func:`default_batch_fn`.

    Parameters whose names the model returns from an optional ``no_weight_decay()`` method
    get no weight decay. With ``config.adversarial`` > 0 the model must have an
    ``adversarial_inputs()`` method returning the modules whose outputs (batch first, such as
    word embeddings) adversarial training perturbs; see :meth:`adversarial_loss`.

    Logged: ``train_loss`` (per epoch; with ``adversarial`` the clean loss, and
    ``train_adversarial_loss`` beside it), ``val_loss``, ``val_<metric>``, ``test_loss``,
    ``test_<metric>``, ``lr``.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: LossFn,
        config: TrainConfig | None = None,
        metrics: Mapping[str, MetricFn] | None = None,
        batch_fn: BatchFn | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        self.model = model
        self.loss_fn = loss
        self.config = train_config(config)
        check_metric_names(metrics)
        self.metrics = dict(metrics or {})
        for name, metric in self.metrics.items():
            if not (callable(metric) or isinstance(metric, StatefulMetric)):
                raise TypeError(f"metrics[{name!r}] must be callable or a stateful metric")
        # stateful metrics that are modules must move with the model
        self._metric_modules = nn.ModuleDict(
            {k: m for k, m in self.metrics.items() if isinstance(m, nn.Module)}
        )
        self.batch_fn = batch_fn or default_batch_fn
        self.run_settings: dict[str, Any] = {}  # set by fit
        self.run_defaults: dict[str, Any] = {}  # set by fit
        if self.config.adversarial > 0 and not callable(getattr(model, "adversarial_inputs",
                                                                  None)):
            raise TypeError(
                f"adversarial={self.config.adversarial} needs a model with an "
                "adversarial_inputs() method returning the modules to perturb (its "
                f"embeddings), got {type(model).__name__} without one; set adversarial=0")
        self._sums: dict[str, float] = {}
        self._count = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    # -- steps -----------------------------------------------------------------------------
    def _loss(self, batch: Any) -> tuple[Tensor, Any]:
        output, target = self.batch_fn(self.model, batch)
        loss = self.loss_fn(output, target)
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise TypeError("loss must return a scalar tensor, got "
                            f"{type(loss).__name__} of shape {getattr(loss, 'shape', None)}")
        return loss, target

    def _hooked_loss(self, batch: Any, modules: list[nn.Module],
                     hook: Callable[..., Any]) -> tuple[Tensor, Any]:
        """:meth:`_loss` with ``hook`` as a forward hook of each of ``modules``, for this call
        only."""
        handles = [m.register_forward_hook(hook) for m in modules]
        try:
            return self._loss(batch)
        finally:
            for handle in handles:
                handle.remove()

    def adversarial_loss(self, batch: Any, norm: float) -> tuple[Tensor, Tensor, Any]:
        """``(clean loss, adversarial loss, target)`` of one batch (Miyato et al. 2017).

        The outputs ``x`` of the modules in ``model.adversarial_inputs()`` are kept from the
        clean pass; the adversarial pass replaces them by ``x + r`` with
        ``r = norm * g / ||g||``, ``g`` the gradient of the clean loss with respect to ``x``
        (a constant, as in the paper) and ``||g||`` the L2 norm of each example's gradients
        over every perturbed output together. Dropout inside those modules thus keeps its
        mask; dropout after them draws a new one.
        """
        modules = list(self.model.adversarial_inputs())  # type: ignore[operator]
        kept: list[Tensor] = []

        def keep(module: nn.Module, args: Any, output: Tensor) -> Tensor:
            if not output.requires_grad:  # frozen embeddings: perturb them all the same
                output = output.detach().requires_grad_()
            kept.append(output)
            return output

        loss, target = self._hooked_loss(batch, modules, keep)
        if not kept:
            raise RuntimeError("adversarial training: the model's adversarial_inputs() "
                               "modules were not called in its forward pass")
        grads = torch.autograd.grad(loss, kept, retain_graph=True, allow_unused=True)
        grads = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, kept,
                                                                                 strict=True))
        size = torch.stack([g.detach().pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()
        moved = iter([x + norm * g.detach() / (size.view(-1, *[1] * (g.dim() - 1)) + 1e-12)
                      for x, g in zip(kept, grads, strict=True)])

        def replace(module: nn.Module, args: Any, output: Tensor) -> Tensor:
            return next(moved)

        adversarial, _ = self._hooked_loss(batch, modules, replace)
        return loss, adversarial, target

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        if self.config.adversarial > 0:
            loss, adversarial, target = self.adversarial_loss(batch, self.config.adversarial)
            self.log("train_adversarial_loss", adversarial, on_step=False, on_epoch=True,
                     batch_size=_batch_size(target), sync_dist=True)
            total = loss + adversarial
        else:
            loss, target = self._loss(batch)
            total = loss
        # (sync_dist: under DDP the epoch's mean over every process, reduced once an epoch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=_batch_size(target), sync_dist=True)
        self._step_loss = loss.detach()
        return total

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Every ``log_every_n_steps`` optimisation steps, the step's training loss and
        learning rate (``train_loss_step``, ``lr_step``) into the logs, at that step: the
        curve within epochs. Written to the loggers (the first process's), not with
        ``self.log``, whose values each epoch's line and history would show."""
        done = self.trainer.global_step  # optimisation steps done, this one included
        if not self.trainer.loggers or done % self.config.log_every_n_steps:
            return
        values = {"train_loss_step": float(self._step_loss)}
        optimizer = self.optimizers()
        if not isinstance(optimizer, list):
            values["lr_step"] = float(optimizer.param_groups[0]["lr"])
        for logger in self.trainer.loggers:  # at the step's index, as Lightning logs an
            logger.log_metrics(values, step=done - 1)  # epoch's (a resume keeps rows below)

    def _eval_step(self, batch: Any, stage: str) -> None:
        output, target = self.batch_fn(self.model, batch)
        n = batch_weight(target)
        loss = self.loss_fn(output, target)
        self._sums[f"{stage}_loss"] = self._sums.get(f"{stage}_loss", 0.0) + float(loss) * n
        for name, metric in self.metrics.items():
            if isinstance(metric, StatefulMetric):
                metric.update(output, target)
            else:
                key = f"{stage}_{name}"
                self._sums[key] = self._sums.get(key, 0.0) + float(metric(output, target)) * n
        self._count += n

    def _eval_epoch_end(self, stage: str) -> None:
        if self._count == 0:
            return
        values = {k: v / self._count for k, v in self._sums.items()}
        for name, metric in self.metrics.items():
            if isinstance(metric, StatefulMetric):
                values[f"{stage}_{name}"] = float(metric.compute())
                metric.reset()
        for key, value in values.items():
            self.log(key, value, prog_bar=key == f"{stage}_loss", sync_dist=True)
        self._sums, self._count = {}, 0

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        output, _ = self.batch_fn(self.model, batch)
        return output

    def on_train_epoch_start(self) -> None:
        optimizer = self.optimizers()
        if not isinstance(optimizer, list):
            self.log("lr", optimizer.param_groups[0]["lr"], on_step=False, on_epoch=True,
                     sync_dist=True)  # (the same in every process; said, so Lightning is quiet)

    # -- optimisation ----------------------------------------------------------------------
    def _parameter_groups(self) -> list[Any]:
        """Trainable parameters; those the model names in ``no_weight_decay()`` get none."""
        names = getattr(self.model, "no_weight_decay", None)
        skip = set(names()) if callable(names) else set()
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                (no_decay if name in skip else decay).append(param)
        if not no_decay:
            return decay
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # what a resume must share with this run (checked by fit before it resumes)
        checkpoint[RESUME_SETTINGS] = self.config.resume_settings()
        checkpoint[RUN_SETTINGS] = self.run_settings

    def configure_optimizers(self) -> Any:
        cfg = self.config
        params = self._parameter_groups()
        if cfg.optimizer == "adam":
            optimizer: torch.optim.Optimizer = torch.optim.Adam(
                params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9,
                                        weight_decay=cfg.weight_decay)
        if cfg.scheduler in ("none", "plateau"):  # plateau: the PlateauLR callback
            return optimizer
        if cfg.scheduler == "cosine":
            scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=cfg.max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        if cfg.scheduler == "exponential":
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_gamma)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        # onecycle, stepped per batch
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=max(total, 1), pct_start=0.3)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
