"""Tiny generated series shared by the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmkit.forecasting import DataConfig, ForecastConfig, ModelConfig
from lstmkit.training import TrainConfig


def make_frame(n: int = 240, seed: int = 0, freq: str = "h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({
        "date": pd.date_range("2021-01-01", periods=n, freq=freq),
        "a": np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(n),
        "b": 0.5 * np.cos(2 * np.pi * t / 12) + 2.0 + 0.05 * rng.standard_normal(n),
        "temp": rng.standard_normal(n),
        "hour": (t % 12).astype(float),
    })


def make_config(**model: object) -> ForecastConfig:
    params: dict[str, object] = {"lookback": 24, "horizon": 12, "segment_len": 6,
                                 "hidden_size": 16}
    params.update(model)
    return ForecastConfig(
        data=DataConfig(target=("a", "b"), time_col="date", val=0.2, test=0.2),
        model=ModelConfig(**params),  # type: ignore[arg-type]
        training=TrainConfig(max_epochs=1, progress_bar=False, accelerator="cpu", devices=1),
        batch_size=32,
        min_epoch_batches=0,  # (one pass per epoch: tests train on a few windows)
    )
