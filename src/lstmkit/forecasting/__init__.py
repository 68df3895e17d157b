"""Time-series forecasting with LSTMs (filled in below)."""

from lstmkit.forecasting import recipes
from lstmkit.forecasting.config import (
    DataConfig,
    EvalConfig,
    ForecastConfig,
    ModelConfig,
    load_config,
)
from lstmkit.forecasting.forecaster import Forecaster

__all__ = ["DataConfig", "EvalConfig", "ForecastConfig", "Forecaster", "ModelConfig",
           "load_config", "recipes"]
