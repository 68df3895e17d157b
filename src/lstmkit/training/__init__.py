"""Training engine shared by every application: Lightning underneath, no architecture inside.

A model is any ``nn.Module``; a loss is any ``loss(output, target) -> scalar tensor``;
windowing and batching live with the data (plain ``DataLoader``\\ s). This package composes
them, trains with the settings of one frozen :class:`TrainConfig`, and returns the model.

Quick start::

    from lstmkit.training import TrainConfig, fit, evaluate

    config = TrainConfig(max_epochs=20, lr=1e-3, scheduler="cosine", grad_clip=1.0,
                         early_stopping_patience=3, seed=0, progress_bar=False,
                         log_dir="runs/exp1", checkpoint_dir="runs/exp1/ckpt")
    result = fit(model, torch.nn.functional.mse_loss, train_loader, val_loader, config,
                 metrics={"mae": lambda out, y: (out - y).abs().mean()})
    result.model          # trained, best validation weights loaded, eval mode
    result.history        # [{"epoch": 0, "train_loss": ..., "val_loss": ..., ...}, ...]
    result.best_score     # best val_loss
    evaluate(result.model, loss, test_loader, config, metrics=...)  # {"test_loss": ...}

    # a killed run continues where it stopped (same result as an uninterrupted run); a run
    # stopped by SIGTERM exits with status 143:
    fit(model, loss, train_loader, val_loader, config, resume=True)

Public API:

- :class:`TrainConfig` — ``max_epochs``, ``lr``, ``optimizer`` (adam/adamw/sgd),
  ``weight_decay``, ``scheduler`` (none/cosine/onecycle/plateau/exponential), ``lr_gamma``,
  ``scheduler_patience``, ``grad_clip``, ``early_stopping_patience``, ``monitor``,
  ``monitor_mode``, ``restore_best``, ``seed``, ``deterministic``, ``accelerator``,
  ``devices``, ``strategy``, ``num_nodes``, ``precision`` (passed to Lightning; ``ddp``
  runs the program once per device, while strategies that train in child processes,
  ``ddp_spawn`` and friends, are refused: the callbacks' state would not come back),
  ``progress_bar``, ``log_dir`` (CSV + TensorBoard, the run's settings in each
  ``hparams.yaml``, and in TensorBoard's HParams tab with the best check's score,
  ``hp/best_<monitor>``; a resumed run logs on in the folders of the run it resumes),
  ``log_every_n_steps``,
  ``checkpoint_dir`` (atomic ``last.ckpt`` each epoch and ``best.ckpt``; a run holds
  its ``.lock`` while it trains, and a second run into it meanwhile is refused),
  ``limit_train_batches``, ``limit_val_batches``, ``fast_dev_run``.
  ``TrainConfig.from_dict(d)`` rejects unknown keys and lists the valid ones;
  ``config.replace(**changes)``; ``config.to_dict()``.
- :func:`fit` ``(model, loss, train_data, val_data=None, config=None, *, metrics=None,
  batch_fn=None, resume=False, callbacks=(), run_settings=None, run_defaults=None,
  log_settings=None, distributed_sampler=True) -> FitResult`` (``distributed_sampler=False``
  for loaders that share their batches out among DDP's processes themselves).
- ``TrainConfig.several_processes()``: whether the settings may train in several processes.
- :func:`evaluate` ``(model, loss, data, config=None, *, metrics=None, batch_fn=None)
  -> dict``.
- :class:`Task` — the ``LightningModule`` (model + loss + metrics + optimiser from config),
  for users who drive ``lightning.Trainer`` themselves; :func:`build_trainer` builds that
  trainer from a config.
- Batches: by default ``(inputs, target)``, the model called as ``model(inputs)``,
  ``model(*inputs)`` or ``model(**inputs)`` for a tensor, tuple or dict. Anything else:
  ``batch_fn(model, batch) -> (output, target)``. A model whose forward returns its own loss
  (a CRF) uses ``loss=lambda output, target: output``.
- Metrics: ``{"name": fn(output, target) -> scalar}`` (averaged over batches, weighted by
  batch size) or torchmetrics-style objects with ``update/compute/reset`` (accumulated over
  the epoch, for corpus-level scores such as span F1). Logged as ``val_<name>``; a name
  must be a non-empty str other than ``loss`` (whose ``val_loss`` the task logs itself).
- :func:`is_first_process`: false in the other processes of a DDP run, which train but should
  not write (``Forecaster.save``, ``Classifier.save``, ``Tagger.save`` and the CLI's
  reports check it).
- :func:`seed_everything`; callbacks :class:`AtomicCheckpointIO`, :class:`RNGState`,
  :class:`BestWeights`, :class:`History`.
- ``lstmkit.training.tuning`` (needs optuna; imported on demand): ``tune(objective, space,
  n_trials=..., direction=..., seed=..., storage=...)`` with ``objective(params, trial) ->
  score`` and ``space = {"training.lr": ("log", 1e-4, 1e-2), "model.hidden_size": ("int",
  32, 256, 32), "model.decoder": ("choice", [...])}``; ``PruneOnValidation(trial)`` is a
  callback for ``fit(..., callbacks=[...])`` that prunes hopeless trials.
"""

from lstmkit.training.callbacks import AtomicCheckpointIO, BestWeights, History, RNGState
from lstmkit.training.config import TrainConfig
from lstmkit.training.fit import (
    FitResult,
    build_trainer,
    evaluate,
    fit,
    is_first_process,
    seed_everything,
)
from lstmkit.training.task import Task, default_batch_fn

__all__ = [
    "AtomicCheckpointIO",
    "BestWeights",
    "FitResult",
    "History",
    "RNGState",
    "Task",
    "TrainConfig",
    "build_trainer",
    "default_batch_fn",
    "evaluate",
    "fit",
    "is_first_process",
    "seed_everything",
]
