"""Time-series forecasting with LSTMs: data and windows, scaling, the forecaster (direct or
autoregressive head, point or quantile losses, conformal intervals), baselines, metrics,
backtests, plots and the ETTh1 recipe.

Example::

    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig

    config = ForecastConfig(data=DataConfig(target=["OT"], time_col="date"),
                            model=ModelConfig(lookback=96, horizon=24))
    forecaster = Forecaster(config).fit("ETTh1.csv")
    print(forecaster.evaluate("ETTh1.csv").table)   # test metrics beside the baselines
    forecaster.predict("ETTh1.csv")                  # the next 24 hours
    forecaster.save("runs/etth1"); Forecaster.load("runs/etth1")
"""

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
