"""Tune a forecaster's configuration with Optuna on the validation part of the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from lstmkit.forecasting.config import ForecastConfig
from lstmkit.forecasting.forecaster import Forecaster
from lstmkit.training.tuning import PruneOnValidation, SpaceEntry, tune


def default_space(config: ForecastConfig) -> dict[str, SpaceEntry]:
    """The search space ``lstmkit forecast --tune`` uses without ``--tune-space``: learning
    rate, width, dropout, the linear highway, and the segment length among the divisors of
    the lookback (the lookback and horizon stay as the user set them)."""
    lookback = config.model.lookback
    segments = [s for s in (1, 4, 6, 8, 12, 16, 24, 32, 48, 64) if s < lookback
                and lookback % s == 0 and lookback // s <= 512]
    space: dict[str, SpaceEntry] = {
        "training.lr": ("log", 1e-4, 1e-2),
        "model.hidden_size": ("int", 32, 256, 32),
        "model.dropout": ("float", 0.0, 0.5),
        "model.highway": ("choice", [False, True]),
    }
    if len(segments) > 1:
        space["model.segment_len"] = ("choice", segments)
    return space


def tune_forecaster(config: ForecastConfig, data: pd.DataFrame | str | Path,
                    space: dict[str, SpaceEntry], *, n_trials: int = 20,
                    seed: int | None = 0, timeout_s: float | None = None,
                    storage: str | None = None, study_name: str | None = None
                    ) -> tuple[ForecastConfig, Any]:
    """Search ``space`` (dotted config keys, e.g. ``{"training.lr": ("log", 1e-4, 1e-2),
    "model.hidden_size": ("int", 32, 256, 32)}``) minimising the best validation loss.

    The test part is never looked at. Returns the best configuration and the Optuna study.
    """
    if config.data.val == 0:
        raise ValueError("tuning needs a validation part: data.val must not be 0")
    frame = data if isinstance(data, pd.DataFrame) else pd.read_csv(data)

    def objective(params: dict[str, Any], trial: Any) -> float:
        trial_config = config.with_overrides(params)
        forecaster = Forecaster(trial_config).fit(
            frame, callbacks=[PruneOnValidation(trial, trial_config.training.monitor)])
        assert forecaster.fit_result is not None
        score = forecaster.fit_result.best_score
        if score is None:
            raise ValueError("no validation score: the validation part has no window")
        return score

    study = tune(objective, space, n_trials=n_trials, direction="minimize", seed=seed,
                 timeout_s=timeout_s, storage=storage, study_name=study_name)
    return config.with_overrides(study.best_params), study
