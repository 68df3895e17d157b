"""A forecaster under DDP: two CPU processes score the whole validation part."""

from __future__ import annotations

SCRIPT = '''
import json, os
import numpy as np, pandas as pd
from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
from lstmkit.training import TrainConfig

n = 304  # an odd number of validation windows: shared out, one would be scored twice
frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="h"),
                      "y": np.sin(np.arange(n) / 4.0)
                      + 0.1 * np.random.default_rng(0).standard_normal(n)})
config = ForecastConfig(
    data=DataConfig(target=("y",), time_col="date", val=0.3, test=0.1),
    model=ModelConfig(lookback=12, horizon=3, segment_len=6, hidden_size=8,
                      normalization="none"),
    training=TrainConfig(max_epochs=2, progress_bar=False, strategy="ddp", devices=2,
                         accelerator="cpu"),
    batch_size=16, min_epoch_batches=0)
forecaster = Forecaster(config).fit(frame)
with open(f"rank{os.environ.get('LOCAL_RANK', '0')}.json", "w") as file:
    json.dump({"best": forecaster.fit_result.best_score, "whole": forecaster.val_loss,
               "history": forecaster.fit_result.history}, file)
'''


def test_the_validation_loss_under_ddp_is_the_whole_parts(ddp_script) -> None:  # type: ignore[no-untyped-def]
    first, second = ddp_script(SCRIPT)
    assert first == second
    # the best epoch's logged validation loss is the loss of its weights on every window
    # (Lightning's own sharing scored 0.004 off: one window twice, the shares' means averaged)
    assert abs(first["best"] - first["whole"]) < 1e-5
