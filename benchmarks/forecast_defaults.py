"""The CLI's default forecaster on eight real series, with one setting varied.

What a user gets from ``lstmkit forecast run --data F.csv --target Y --time-col T`` and
nothing else: ``ModelConfig()``, ``TrainConfig()`` and ``ForecastConfig``'s ``batch_size``
and ``min_epoch_batches`` as they are (only the lookback and horizon shortened for the 144
months of airline passengers), on eight series of ``../shared/data/timeseries/``. Each
``--vary KEY=VALUE`` (a ``model.`` or ``training.`` key, or ``batch_size`` or
``min_epoch_batches``) is trained beside the defaults on the same seeds. The table gives each
run's validation loss
(scaled units, what training minimises and what a choice between defaults may read) and,
for information, its test MSE in the data's units beside naive and seasonal naive on the
same windows. Prints the table and writes JSON (by default
benchmarks/results/forecast_defaults.json).

    python benchmarks/forecast_defaults.py --vary model.highway=false --seeds 0 1
    python benchmarks/forecast_defaults.py --datasets airline --seeds 0 \\
        --vary model.highway=true --out /tmp/forecast_defaults_quick.json   # a quick check
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from lstmkit.datasets import data_path
from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
from lstmkit.forecasting.builtin import builtin_frame
from lstmkit.training import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Distinct, environment, int_at_least

OUT = "benchmarks/results/forecast_defaults.json"


def _pollution() -> pd.DataFrame:
    frame = pd.read_csv(data_path("timeseries", "beijing_pm25", "pollution.csv"))
    frame["time"] = pd.to_datetime(frame[["year", "month", "day", "hour"]])
    return frame[["time", "pm2.5"]]


def _exchange() -> pd.DataFrame:
    frame = pd.read_csv(data_path("timeseries", "exchange_rate", "exchange_rate.txt.gz"),
                        header=None)
    return frame.set_axis([f"c{i}" for i in range(frame.shape[1])], axis=1)


# name: (the frame, DataConfig settings, ModelConfig settings other than the defaults)
DATASETS: dict[str, tuple[Callable[[], pd.DataFrame], dict[str, Any], dict[str, Any]]] = {
    "co2": (builtin_frame, {"target": ("co2",), "time_col": "date", "fill": "ffill"}, {}),
    "airline": (lambda: pd.read_csv(data_path("timeseries", "airline_passengers",
                                              "airline-passengers.csv")),
                {"target": ("Passengers",), "time_col": "Month"},
                {"lookback": 36, "horizon": 12}),
    "melbourne": (lambda: pd.read_csv(data_path("timeseries", "melbourne_daily_min_temp",
                                                "daily-min-temperatures.csv")),
                  {"target": ("Temp",), "time_col": "Date", "freq": "D", "fill": "ffill"}, {}),
    "seattle": (lambda: pd.read_csv(data_path("timeseries", "seattle_weather",
                                              "seattle-weather.csv")),
                {"target": ("temp_max",), "time_col": "date"}, {}),
    "msft": (lambda: pd.read_csv(data_path("timeseries", "msft_daily", "msft.csv")),
             {"target": ("Close",), "time_col": "Date", "freq": "B", "fill": "ffill"}, {}),
    "etth1_ot": (lambda: pd.read_csv(data_path("timeseries", "ett", "ETTh1.csv")),
                 {"target": ("OT",), "time_col": "date"}, {}),
    "exchange": (_exchange, {"target": tuple(f"c{i}" for i in range(8))}, {}),
    "pm25": (_pollution, {"target": ("pm2.5",), "time_col": "time", "fill": "ffill"}, {}),
}


TOP = ("batch_size", "min_epoch_batches")  # the settings outside the sections


def _setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or (key.split(".")[0] not in ("model", "training") and key not in TOP):
        raise argparse.ArgumentTypeError(
            f"expected model.KEY=VALUE, training.KEY=VALUE or one of {', '.join(TOP)}=VALUE, "
            f"got {text!r}")
    return key, yaml.safe_load(value)


def run(name: str, vary: dict[str, Any], seed: int, frame: pd.DataFrame) -> dict[str, Any]:
    _, data, model = DATASETS[name]
    model = {**model, **{k[6:]: v for k, v in vary.items() if k.startswith("model.")}}
    training = {k[9:]: v for k, v in vary.items() if k.startswith("training.")}
    config = ForecastConfig(data=DataConfig(**data), model=ModelConfig(**model),
                            training=TrainConfig(seed=seed, progress_bar=False,
                                                 accelerator="cpu", devices=1, **training),
                            **{k: v for k, v in vary.items() if k in TOP})
    start = time.perf_counter()
    forecaster = Forecaster(config).fit(frame)
    train_s = time.perf_counter() - start
    table = forecaster.evaluate(frame, baselines=("naive", "seasonal_naive")).table
    return {"dataset": name, "vary": vary, "seed": seed, "val_loss": forecaster.val_loss,
            "epochs": forecaster.fit_result.epochs_run if forecaster.fit_result else None,
            "test_mse": float(table.loc["lstmkit", "mse"]),
            # (NaN where a baseline could not run; without dates, as for the exchange
            # rates, the season is 1 and seasonal naive is naive)
            "naive_mse": float(table["mse"].get("naive", np.nan)),
            "seasonal_naive_mse": float(table["mse"].get("seasonal_naive", np.nan)),
            "train_wall_s": round(train_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), action=Distinct,
                        default=list(DATASETS))
    parser.add_argument("--vary", type=_setting, action="append", default=[],
                        metavar="KEY=VALUE", help="a setting trained beside the defaults "
                        "(repeatable: each is its own variant)")
    parser.add_argument("--seeds", type=int_at_least(0), nargs="+", default=[0],
                        action=Distinct)
    parser.add_argument("--threads", type=int_at_least(1), default=2)
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # (label, settings) per variant, the defaults first
    variants: list[tuple[str, dict[str, Any]]] = [("defaults", {})] + [
        (f"{key}={value}", {key: value}) for key, value in args.vary]
    runs = []
    for name in args.datasets:
        frame = DATASETS[name][0]()
        for _, vary in variants:
            for seed in args.seeds:
                runs.append(run(name, vary, seed, frame))
                print(json.dumps(runs[-1]), flush=True)
    means = {}  # (dataset, variant label) -> the means over the seeds
    for name in args.datasets:
        for label, vary in variants:
            mine = [r for r in runs if r["dataset"] == name and r["vary"] == vary]
            means[name, label] = {"dataset": name, "variant": label, **{
                key: float(np.mean([r[key] for r in mine])) for key in (
                    "val_loss", "test_mse", "naive_mse", "seasonal_naive_mse",
                    "epochs", "train_wall_s")}}
    summary = list(means.values())
    print(f"\nmean of seeds {args.seeds}: validation loss (scaled) / test MSE (data units)")
    print(f"{'dataset':10s} {'variant':34s} {'val loss':>9s} {'test MSE':>11s} "
          f"{'naive':>11s} {'s. naive':>11s} {'epochs':>6s} {'train s':>8s}")
    for s in summary:
        print(f"{s['dataset']:10s} {s['variant']:34s} {s['val_loss']:9.4f} "
              f"{s['test_mse']:11.4g} {s['naive_mse']:11.4g} {s['seasonal_naive_mse']:11.4g} "
              f"{s['epochs']:6.1f} {s['train_wall_s']:8.1f}")
    for label, vary in variants[1:]:
        lower = [n for n in args.datasets
                 if means[n, label]["val_loss"] < means[n, "defaults"]["val_loss"]]
        print(f"{label}: lower validation loss on {len(lower)} of {len(args.datasets)} "
              f"datasets ({', '.join(lower) or 'none'})")
        rise = {n: means[n, label]["val_loss"] / means[n, "defaults"]["val_loss"] - 1
                for n in args.datasets}
        epochs = [sum(r["epochs"] for r in runs if r["vary"] == setting)
                  for setting in ({}, vary)]
        print(f"{label}: validation loss at most {max(rise.values()):+.2%} against the "
              f"defaults ({max(rise, key=rise.get)}); epochs run {epochs[1]} against "
              f"{epochs[0]} ({epochs[1] / epochs[0] - 1:+.1%})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the defaults as they were in this run (a default may change: highway was off when
    # benchmarks/results/forecast_defaults.json was written)
    base = {"model": dataclasses.asdict(ModelConfig()), "training": TrainConfig().to_dict(),
            **{f.name: f.default for f in dataclasses.fields(ForecastConfig) if f.name in TOP}}
    out.write_text(json.dumps({"settings": vars(args), "defaults": base,
                               "environment": environment(),
                               "summary": summary, "runs": runs}, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
