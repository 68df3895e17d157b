"""Intervals past the horizon: sampled paths against the median appended, by coverage.

``Forecaster.predict(..., steps=N)`` forecasts N steps past a model's horizon recursively.
A quantile model either samples paths (the default, ``paths=500``: each path appends a
value drawn from each horizon's quantiles) or appends its median (``paths=0``), whose
intervals past the first horizon are each horizon's given the forecasts before it as if
they were observed. This script trains one quantile model per data set and, from the same
origins, forecasts four horizons both ways, and prints the share of actual values inside the
80% interval (q0.1 to q0.9) and the interval's mean width, per horizon block:

- random walks (40 generated series of steps of 1): the truth is known, an 80% interval at
  step k is 2 * 1.2816 * sqrt(k) wide;
- MSFT daily close (``timeseries/msft_daily``, trading days as steps): origins every
  horizon through the test part (the last 20%), the model as ``forecast_other.py``'s.

Writes ``benchmarks/results/forecast_paths.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lstmkit.datasets import data_path
from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
from lstmkit.training import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, int_at_least

LEVELS = (0.1, 0.5, 0.9)
BLOCKS = 4  # horizons forecast from each origin


def _config(target: str, series_col: str | None, lookback: int, horizon: int,
            segment_len: int, epochs: int) -> ForecastConfig:
    return ForecastConfig(
        data=DataConfig(target=target, series_col=series_col, val=0.1, test=0.2),
        # (highway off, as measured: the default was off then)
        model=ModelConfig(lookback=lookback, horizon=horizon, segment_len=segment_len,
                          hidden_size=64, dropout=0.2, loss="quantile", quantiles=LEVELS,
                          highway=False),
        training=TrainConfig(max_epochs=epochs, lr=1e-3, early_stopping_patience=3,
                             progress_bar=False, accelerator="cpu", devices=1, seed=0),
        batch_size=64, min_epoch_batches=0)  # (one pass per epoch, as measured)


def _score(forecasts: list[pd.DataFrame], actuals: list[np.ndarray], horizon: int
           ) -> list[dict[str, float]]:
    """Coverage and mean width of the 80% interval per horizon block, over the origins."""
    inside: list[list[bool]] = [[] for _ in range(BLOCKS)]
    width: list[list[float]] = [[] for _ in range(BLOCKS)]
    for forecast, actual in zip(forecasts, actuals, strict=True):
        low, high = forecast["q0.1"].to_numpy(), forecast["q0.9"].to_numpy()
        for b in range(BLOCKS):
            part = slice(b * horizon, (b + 1) * horizon)
            inside[b].extend(((actual[part] >= low[part]) & (actual[part] <= high[part]))
                             .tolist())
            width[b].extend((high[part] - low[part]).tolist())
    return [{"coverage": float(np.mean(i)), "width": float(np.mean(w))}
            for i, w in zip(inside, width, strict=True)]


def _both(forecaster: Forecaster, histories: list[pd.DataFrame], actuals: list[np.ndarray],
          paths: int) -> dict[str, object]:
    horizon = forecaster.config.model.horizon
    rows: dict[str, object] = {}
    for name, n in (("median appended (paths=0)", 0), (f"sampled (paths={paths})", paths)):
        start = time.perf_counter()
        forecasts = [forecaster.predict(h, steps=BLOCKS * horizon, paths=n) for h in histories]
        rows[name] = {"blocks": _score(forecasts, actuals, horizon),
                      "predict_s": round(time.perf_counter() - start, 2)}
    return rows


def random_walks(epochs: int, paths: int) -> dict[str, object]:
    rng = np.random.default_rng(1)
    series, rows, horizon = 40, 400, 8
    walks = np.cumsum(rng.standard_normal((series, rows + BLOCKS * horizon)), axis=1)
    frame = pd.DataFrame({"sid": np.repeat(np.arange(series), rows),
                          "y": walks[:, :rows].ravel()})
    start = time.perf_counter()
    forecaster = Forecaster(_config("y", "sid", 32, horizon, 8, epochs)).fit(frame)
    fit_s = round(time.perf_counter() - start, 1)
    histories = [frame[frame["sid"] == s] for s in range(series)]
    actuals = [walks[s, rows:] for s in range(series)]
    truth = [2 * 1.2816 * float(np.sqrt(np.arange(b * horizon + 1, (b + 1) * horizon + 1))
                                .mean()) for b in range(BLOCKS)]
    return {"horizon": horizon, "origins": series, "fit_s": fit_s, "true_width": truth,
            **_both(forecaster, histories, actuals, paths)}


def msft(epochs: int, paths: int) -> dict[str, object]:
    frame = pd.read_csv(data_path("timeseries", "msft_daily", "msft.csv"))[["Close"]]
    horizon = 20
    start = time.perf_counter()
    forecaster = Forecaster(_config("Close", None, 60, horizon, 5, epochs)).fit(frame)
    fit_s = round(time.perf_counter() - start, 1)
    close = frame["Close"].to_numpy()
    first = len(frame) - int(len(frame) * 0.2)  # the test part's first row (as split)
    origins = range(first, len(frame) - BLOCKS * horizon + 1, horizon)
    histories = [frame.iloc[:o] for o in origins]
    actuals = [close[o:o + BLOCKS * horizon] for o in origins]
    return {"horizon": horizon, "origins": len(histories), "fit_s": fit_s,
            **_both(forecaster, histories, actuals, paths)}


def _print(name: str, result: dict[str, object]) -> None:
    horizon = result["horizon"]
    print(f"\n{name}: horizon {horizon}, {result['origins']} origins, {BLOCKS} horizons "
          f"each; 80% interval coverage / mean width (fit {result['fit_s']} s)")
    heads = [f"steps {b * horizon + 1}-{(b + 1) * horizon}" for b in range(BLOCKS)]
    print(f"{'':30s}" + "".join(f"{h:>18s}" for h in heads) + f"{'predict s':>11s}")
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{key:30s}" + "".join(f"{b['coverage']:.2f} / {b['width']:.3g}".rjust(18)
                                         for b in value["blocks"])
                  + f"{value['predict_s']:>11.2f}")
    if "true_width" in result:
        print(f"{'truth':30s}" + "".join(f"0.80 / {w:.3g}".rjust(18)
                                         for w in result["true_width"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int_at_least(1), default=20)
    parser.add_argument("--paths", type=int_at_least(1), default=500)
    parser.add_argument("--threads", type=int_at_least(1), default=2)
    parser.add_argument("--out", default="benchmarks/results/forecast_paths.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"random_walks": random_walks(args.epochs, args.paths),
               "msft": msft(args.epochs, args.paths)}
    _print("Random walks (steps of 1)", results["random_walks"])
    _print("MSFT daily close (USD), test part", results["msft"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": vars(args), "environment": environment(),
                               **results}, indent=2, allow_nan=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
