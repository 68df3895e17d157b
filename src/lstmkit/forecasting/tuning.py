"""Tune a forecaster's configuration with Optuna on the validation part of the data."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lstmkit.forecasting.config import ForecastConfig
from lstmkit.forecasting.data import read_frame
from lstmkit.forecasting.forecaster import Forecaster
from lstmkit.training.tuning import (
    FROM_TRAINING,
    PruneOnValidation,
    SpaceEntry,
    check_known_keys,
    check_space,
    check_space_kinds,
    check_tuning_processes,
    sampler_seed,
    tune,
)

# at most this many segment lengths besides the configured one in the default space
SEGMENT_CHOICES = 6


def segment_choices(lookback: int, segment_len: int) -> list[int]:
    """The segment lengths :func:`default_space` offers: up to :data:`SEGMENT_CHOICES`
    divisors of ``lookback`` spread evenly (by rank) from the smallest to the largest below
    it, leaving out those that give the LSTM more than 512 steps, plus ``segment_len``."""
    divisors = [s for s in range(1, lookback) if lookback % s == 0 and lookback // s <= 512]
    if len(divisors) > SEGMENT_CHOICES:
        last = len(divisors) - 1
        divisors = [divisors[round(i * last / (SEGMENT_CHOICES - 1))]
                    for i in range(SEGMENT_CHOICES)]
    return sorted({*divisors, segment_len})


def default_space(config: ForecastConfig) -> dict[str, SpaceEntry]:
    """The search space ``lstmkit forecast --tune`` uses without ``--tune-space``: learning
    rate, width, dropout, the linear highway, and the segment length among the divisors of
    the lookback (:func:`segment_choices`; the lookback and horizon stay as the user set
    them)."""
    segments = segment_choices(config.model.lookback, config.model.segment_len)
    space: dict[str, SpaceEntry] = {
        "training.lr": ("log", 1e-4, 1e-2),
        "model.hidden_size": ("int", 32, 256, 32),
        "model.dropout": ("float", 0.0, 0.5),
        "model.highway": ("choice", [False, True]),
    }
    if len(segments) > 1:
        space["model.segment_len"] = ("choice", segments)
    return space


def override_keys(config: ForecastConfig) -> list[str]:
    """The dotted keys :meth:`ForecastConfig.with_overrides` accepts (besides the free-form
    ``model.lstm.<option>``), sorted."""
    keys: list[str] = []
    for name, value in config.to_dict().items():
        keys += [f"{name}.{key}" for key in value] if isinstance(value, dict) else [name]
    return sorted(keys)


# keys that change what a trial's score, the validation loss, measures: its units (the loss),
# the windows it is taken over (the data and its splits, the horizon) or the score itself
INCOMPARABLE = ("model.loss", "model.quantiles", "model.horizon", "training.monitor",
                "training.monitor_mode")


def check_space_keys(config: ForecastConfig, space: Mapping[str, SpaceEntry]) -> None:
    """Raise a ValueError listing the valid keys if a key of ``space`` is not a dotted key of
    ``config`` (as :meth:`ForecastConfig.with_overrides` takes them), or naming a key whose
    values would make the trials' scores incomparable."""
    for key in space:
        if key in INCOMPARABLE or key.startswith("data."):
            raise ValueError(f"the search space varies {key}, which changes what a trial's "
                             "score, the validation loss, measures (its units or the windows "
                             "it is taken over), so trials could not be compared; set it in "
                             "the config and tune the other keys")
        if key.startswith("evaluation."):
            raise ValueError(f"the search space varies {key}, which scores the test part after "
                             "training: no trial's validation loss depends on it; set it in "
                             "the config and tune the other keys")
    check_known_keys(space, [key for key in override_keys(config) if key not in INCOMPARABLE
                             and not key.startswith(("data.", "evaluation."))])


def tune_forecaster(config: ForecastConfig, data: pd.DataFrame | str | Path,
                    space: dict[str, SpaceEntry], *, n_trials: int = 20,
                    seed: int | str | None = FROM_TRAINING, timeout_s: float | None = None,
                    storage: str | None = None, study_name: str | None = None,
                    trials_csv: str | Path | None = None) -> tuple[ForecastConfig, Any]:
    """Search ``space`` (dotted config keys, e.g. ``{"training.lr": ("log", 1e-4, 1e-2),
    "model.hidden_size": ("int", 32, 256, 32)}``) minimising the validation loss
    (:attr:`Forecaster.val_loss`: ``model.loss`` of the trained forecast, for
    ``model.ensemble`` the members' mean, on the validation windows). Trials are pruned on
    ``training.monitor`` after each epoch (of the first member of an ensemble).

    The test part is never looked at. Trials write no checkpoints or logs and show no
    progress bar; the best configuration returned keeps ``config``'s own ``checkpoint_dir``,
    ``log_dir`` and ``progress_bar``. A trial whose values make an invalid configuration
    (a ValueError or TypeError from the configuration or the forecaster's checks) or whose
    validation loss is not finite fails with its reason (``trial.user_attrs["fail_reason"]``)
    and the search goes on; a ValueError lists the reasons if no trial completes.
    ``trials_csv`` is rewritten with the trials so far as each ends (see
    :func:`lstmkit.training.tuning.tune`). ``seed`` seeds the sampler: by default
    ``config.training.seed``, as ``--tune`` does. Returns the best configuration and the
    Optuna study.
    """
    seed = sampler_seed(seed, config.training)
    check_space(space)
    check_space_keys(config, space)
    check_tuning_processes(config.training, seed=seed, timeout_s=timeout_s, storage=storage)
    if config.data.val == 0:
        raise ValueError("tuning needs a validation part: data.val must not be 0")
    frame = read_frame(data, config.data.series_col)  # ids such as 007 stay text
    quiet = dataclasses.replace(config, training=config.training.replace(
        checkpoint_dir=None, log_dir=None, progress_bar=False, epoch_log=False))
    check_space_kinds(space, quiet.with_overrides)

    def objective(params: dict[str, Any], trial: Any) -> float:
        trial_config = quiet.with_overrides(params)
        # with model.ensemble, the first member's curve decides pruning (the later members
        # would report the same epochs again)
        forecaster = Forecaster(trial_config).fit(
            frame, callbacks=lambda member: [PruneOnValidation(
                trial, trial_config.training.monitor)] if member == 0 else [])
        score = forecaster.val_loss
        if score is None:
            raise ValueError("no validation score: the validation part has no window")
        return score

    study = tune(objective, space, n_trials=n_trials, direction="minimize", seed=seed,
                 timeout_s=timeout_s, storage=storage, study_name=study_name,
                 trials_csv=trials_csv, log_trials=config.training.progress_bar)
    return config.with_overrides(study.best_params), study
