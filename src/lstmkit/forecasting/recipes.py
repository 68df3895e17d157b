"""Ready-made settings.

``long_horizon`` is the built-in recipe for long-horizon benchmarks (ETT and friends): a
SegRNN-style network (Lin et al. 2023) on :class:`lstmkit.nn.LSTM`: channel-independent,
last-value instance normalisation with a learned pull toward the training mean, the lookback
of 512 cut into 8 segments of 64 steps embedded linearly, an LSTM over the segments and the
parallel multi-step (PMF) decoder with position and channel embeddings, plus LSTNet's linear
highway (Lai et al. 2018) from the lookback to the horizon. On one CPU core, ETTh1 trains in
about one minute at horizon 96 and seven at 720 (whose LSTM is twice as wide).
"""

from __future__ import annotations

from typing import Any

from lstmkit.forecasting.config import Loss, ModelConfig, Normalization
from lstmkit.nn.config import positive_int
from lstmkit.training import TrainConfig


def long_horizon(horizon: int, *, lookback: int = 512, segment_len: int = 64,
                 hidden_size: int | None = None, dropout: float = 0.5, highway: bool = True,
                 normalization: Normalization = "last", mean_reversion: bool = True,
                 ensemble: int = 1, lstm: dict[str, Any] | None = None,
                 loss: Loss = "mse") -> ModelConfig:
    """The model half of the recipe for forecasting ``horizon`` steps.

    ``hidden_size`` None picks the LSTM width by horizon: 256 from 720 steps on, else 128
    (on ETTh1 the mean validation loss of three seeds preferred 256 at 720, 1.381 against
    1.402, and 128 at 192 and 336). ``mean_reversion`` is on because the mean validation loss
    of three seeds preferred it at every ETTh1 horizon (1.353 against 1.385 at 720; on test
    it was no better, and worse at 720: docs/forecasting.md). ``loss`` is the training loss
    (``model.loss``).
    """
    horizon = positive_int("horizon", horizon)  # ('96' failed in the comparison below)
    if hidden_size is None:
        hidden_size = 256 if horizon >= 720 else 128
    return ModelConfig(lookback=lookback, horizon=horizon, segment_len=segment_len,
                       hidden_size=hidden_size, num_layers=1, dropout=dropout, decoder="pmf",
                       channel_independent=True, normalization=normalization,
                       loss=loss, highway=highway, mean_reversion=mean_reversion,
                       ensemble=ensemble, lstm=dict(lstm or {}))


def long_horizon_training(horizon: int | None = None, **overrides: Any) -> TrainConfig:
    """The training half: Adam at 5e-4 halved every epoch, four epochs, best validation
    weights kept. Use with ``batch_size=64``.

    For horizons from 192 to 336 the weights are a moving average (``ema_decay=0.999``): on
    ETTh1 the mean validation loss of three seeds preferred it there (0.8913 against 0.8916
    at 192, 1.1327 against 1.1347 at 336) and not at 96 (0.6401 against 0.6398) or 720
    (1.3530 against 1.3527). The differences are small beside the spread of seeds; the rule
    was fixed before the runs (docs/forecasting.md). ``horizon`` None leaves it out.
    """
    if horizon is not None:
        horizon = positive_int("horizon", horizon)
    values: dict[str, Any] = {"max_epochs": 4, "lr": 5e-4, "optimizer": "adam",
                              "scheduler": "exponential", "lr_gamma": 0.5,
                              "early_stopping_patience": 2, "seed": 0}
    if horizon is not None and 192 <= horizon <= 336:
        values["ema_decay"] = 0.999
    values.update(overrides)
    return TrainConfig(**values)
