"""The built-in example: weekly Mauna Loa CO2 (1958-2001), bundled with statsmodels.

``lstmkit forecast`` with no data trains on it: a real series with a trend, a yearly season
and 59 missing weeks (filled forward, ``data.fill: ffill``, with a warning that counts them).
"""

from __future__ import annotations

import pandas as pd

from lstmkit.forecasting.config import DataConfig, EvalConfig, ForecastConfig, ModelConfig
from lstmkit.training import TrainConfig

BUILTIN_PATH = "builtin:co2"
"""``data.path`` of the built-in example: a model trained on it records where its data came
from, and its evaluate, predict and backtest read the same data without ``--data``."""


def builtin_frame() -> pd.DataFrame:
    """Columns ``date`` and ``co2`` (ppm), weekly, 2,284 rows, 59 missing values."""
    try:
        from statsmodels.datasets import co2
    except ImportError as err:  # statsmodels is the `forecast` extra
        raise ImportError("the built-in example needs statsmodels: pip install "
                          "'lstmkit[forecast]'") from err
    frame = co2.load_pandas().data
    return frame.rename_axis("date").reset_index()[["date", "co2"]]


def builtin_config(progress_bar: bool = True) -> ForecastConfig:
    """Two years of history, one year ahead, 80% intervals from a quantile loss."""
    return ForecastConfig(
        data=DataConfig(target=("co2",), time_col="date", fill="ffill", val=0.15,
                        test=0.15, path=BUILTIN_PATH),
        model=ModelConfig(lookback=104, horizon=52, segment_len=13, hidden_size=64,
                          dropout=0.1, decoder="pmf", normalization="last", loss="quantile",
                          quantiles=(0.1, 0.5, 0.9)),
        training=TrainConfig(max_epochs=15, lr=3e-3, early_stopping_patience=3, seed=0,
                             grad_clip=1.0, progress_bar=progress_bar),
        evaluation=EvalConfig(baselines=("naive", "seasonal_naive", "ets", "arima"),
                              season_length=52),
        batch_size=64,
    )
