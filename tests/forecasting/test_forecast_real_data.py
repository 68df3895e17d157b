"""Real data (ETTh1, exchange rate): window protocol checked against published numbers.

Skipped when the data folder (LSTMKIT_DATA_DIR or <repo>/../shared/data) is absent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
from lstmkit.forecasting.baselines import naive
from lstmkit.forecasting.windows import Scalers
from lstmkit.training import TrainConfig


def _path(*parts: str) -> Path:
    from lstmkit.datasets import data_path

    try:
        return data_path(*parts)
    except FileNotFoundError as err:
        pytest.skip(f"real data not available: {err}")


def _repeat_last_mse(frame: pd.DataFrame, target: list[str], val: int, test: int,
                     lookback: int, horizon: int) -> tuple[float, int]:
    config = ForecastConfig(data=DataConfig(target=tuple(target), val=val, test=test),
                            model=ModelConfig(lookback=lookback, horizon=horizon))
    forecaster = Forecaster(config)
    prepared = forecaster.prepare(frame)
    forecaster.scalers = Scalers.fit(prepared.series, [n for n, _, _ in prepared.sizes])
    windows = forecaster.windows(prepared, "test")
    _, actual = windows.__getitems__(range(len(windows)))
    repeat = naive(prepared.series[0].target, windows.local_origin.numpy(), horizon)
    z = forecaster.scalers.target.transform(repeat)
    return float(np.mean((z - actual.double().numpy()) ** 2)), len(windows)


def test_etth1_repeat_last_matches_published() -> None:
    frame = pd.read_csv(_path("timeseries", "ett", "ETTh1.csv")).iloc[:14400]
    target = [c for c in frame.columns if c != "date"]
    mse, n = _repeat_last_mse(frame, target, 2880, 2880, 336, 96)
    assert n == 2880 - 96 + 1
    assert mse == pytest.approx(1.295, abs=0.002)  # Zeng et al. 2023, "Repeat", ETTh1-96


def test_exchange_repeat_last_matches_published() -> None:
    frame = pd.read_csv(_path("timeseries", "exchange_rate", "exchange_rate.txt.gz"),
                        header=None)
    frame.columns = [f"c{i}" for i in frame.columns]
    n = len(frame)
    test = int(n * 0.2)
    val = n - int(n * 0.7) - test
    mse, _ = _repeat_last_mse(frame, list(frame.columns), val, test, 96, 96)
    assert mse == pytest.approx(0.081, abs=0.001)  # Zeng et al. 2023, "Repeat", Exchange-96


def test_etth1_tiny_training_run() -> None:
    frame = pd.read_csv(_path("timeseries", "ett", "ETTh1.csv")).iloc[:14400]
    config = ForecastConfig(
        data=DataConfig(target=("OT", "HUFL"), time_col="date", val=2880, test=2880),
        model=ModelConfig(lookback=48, horizon=24, segment_len=24, hidden_size=8),
        training=TrainConfig(max_epochs=1, limit_train_batches=3, limit_val_batches=2,
                             progress_bar=False, accelerator="cpu", devices=1),
        evaluation=dataclasses.replace(ForecastConfig(data=DataConfig(target="x")).evaluation,
                                       baselines=("naive", "seasonal_naive")),
        batch_size=32)
    forecaster = Forecaster(config).fit(frame)
    report = forecaster.evaluate(frame)
    assert len(report.windows) == 2880 - 24 + 1
    assert np.isfinite(report.table.to_numpy()).all()
    assert forecaster.freq == "h"
