"""Hyperparameter search with Optuna, kept generic: a search space of dotted keys, an
objective that builds and trains anything, and a pruning callback for :func:`fit`.

Example::

    from lstmkit.training.tuning import tune, PruneOnValidation

    space = {"training.lr": ("log", 1e-4, 1e-2), "model.hidden_size": ("int", 32, 256, 32),
             "model.decoder": ("choice", ["pmf", "direct"])}

    def objective(params, trial):
        config = base_config.with_overrides(params)       # any config with dotted keys
        result = fit(..., callbacks=[PruneOnValidation(trial)])
        return result.best_score

    study = tune(objective, space, n_trials=20, direction="minimize", seed=0)
    study.best_params

Space entries: ``("float", low, high)``, ``("log", low, high)`` (log-uniform float),
``("int", low, high[, step])``, ``("choice", [options])``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl

SpaceEntry = tuple[Any, ...]
KINDS = ("float", "log", "int", "choice")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as err:
        raise ImportError("tuning needs optuna: pip install 'lstmkit[tune]'") from err
    return optuna


def check_space(space: Mapping[str, SpaceEntry]) -> None:
    """Validate a search space; errors name the key and the expected form."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space must be a non-empty mapping of key -> entry, got {space!r}")
    for key, entry in space.items():
        if not isinstance(entry, tuple | list) or not entry or entry[0] not in KINDS:
            raise ValueError(f"space[{key!r}] must start with one of {list(KINDS)}, got "
                             f"{entry!r}")
        kind = entry[0]
        if kind == "choice":
            if len(entry) != 2 or not isinstance(entry[1], Sequence) or not entry[1]:
                raise ValueError(f"space[{key!r}] must be ('choice', [options]), got {entry!r}")
        elif len(entry) not in ((3, 4) if kind == "int" else (3,)) or entry[1] >= entry[2]:
            raise ValueError(f"space[{key!r}] must be ({kind!r}, low, high"
                             f"{'[, step]' if kind == 'int' else ''}) with low < high, got "
                             f"{entry!r}")
        if kind == "log" and entry[1] <= 0:
            raise ValueError(f"space[{key!r}] is log-uniform, so low must be > 0, got "
                             f"{entry[1]!r}")


def suggest(trial: Any, space: Mapping[str, SpaceEntry]) -> dict[str, Any]:
    """Draw one value per key of ``space`` from an Optuna trial."""
    params: dict[str, Any] = {}
    for key, entry in space.items():
        kind = entry[0]
        if kind == "float":
            params[key] = trial.suggest_float(key, entry[1], entry[2])
        elif kind == "log":
            params[key] = trial.suggest_float(key, entry[1], entry[2], log=True)
        elif kind == "int":
            step = entry[3] if len(entry) == 4 else 1
            params[key] = trial.suggest_int(key, entry[1], entry[2], step=step)
        else:
            params[key] = trial.suggest_categorical(key, list(entry[1]))
    return params


class PruneOnValidation(pl.Callback):
    """Report ``monitor`` to the trial after each validation; stop hopeless trials."""

    def __init__(self, trial: Any, monitor: str = "val_loss") -> None:
        self.trial = trial
        self.monitor = monitor

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.trial.report(value, step=trainer.current_epoch)
        if self.trial.should_prune():
            raise _optuna().TrialPruned(f"pruned at epoch {trainer.current_epoch} with "
                                        f"{self.monitor}={value:.4g}")


def tune(
    objective: Callable[[dict[str, Any], Any], float],
    space: Mapping[str, SpaceEntry],
    *,
    n_trials: int = 20,
    direction: str = "minimize",
    seed: int | None = 0,
    timeout_s: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: Any | None = None,
) -> Any:
    """Run an Optuna study; ``objective(params, trial) -> score``. Returns the study.

    ``storage`` (e.g. ``"sqlite:///tune.db"``) with ``study_name`` makes a search resumable:
    running it again continues the same study.
    """
    optuna = _optuna()
    check_space(space)
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be an int >= 1, got {n_trials!r}")
    study = optuna.create_study(
        direction=direction, sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner if pruner is not None else optuna.pruners.MedianPruner(n_warmup_steps=1),
        storage=storage, study_name=study_name, load_if_exists=storage is not None)

    def run_trial(trial: Any) -> float:
        return float(objective(suggest(trial, space), trial))

    study.optimize(run_trial, n_trials=n_trials, timeout=timeout_s)
    return study
