"""``lstmkit forecast``: train, evaluate, predict and backtest LSTM forecasters.

    lstmkit forecast                                  # built-in example (statsmodels CO2)
    lstmkit forecast train --config fc.yaml --data my.csv --out runs/my
    lstmkit forecast train --config fc.yaml --data my.csv --tune 20     # Optuna first
    lstmkit forecast evaluate --model runs/my/model --data my.csv --out runs/my
    lstmkit forecast predict --model runs/my/model --data my.csv [--future future.csv] [--steps 48]
    lstmkit forecast backtest --model runs/my/model --data my.csv [--stride 24] [--refit]

Flags override the YAML file; ``--set section.key=value`` overrides any key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ACTIONS = ("run", "train", "evaluate", "predict", "backtest")


def add_parser(parser: argparse.ArgumentParser) -> None:
    from lstmkit.cli.common import add_tune_arguments

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n")[1] if __doc__ else None
    parser.add_argument("action", nargs="?", default="run", choices=ACTIONS,
                        help="run (default: train, evaluate, plot, save), train, evaluate, "
                             "predict or backtest")
    parser.add_argument("--config", help="YAML file with data/model/training/evaluation")
    parser.add_argument("--data", help="CSV file; omitted: the built-in CO2 example")
    parser.add_argument("--future", help="CSV of known-future covariates for predict (only "
                        "for a model with data.future_covariates)")
    parser.add_argument("--model", help="saved model directory (evaluate/predict/backtest)")
    parser.add_argument("--steps", type=int, help="predict: steps to forecast (default: the "
                        "horizon; more are forecast recursively, horizon by horizon, at most "
                        "1000 horizons or 2000 steps)")
    parser.add_argument("--paths", type=int, help="predict: paths a quantile forecast past "
                        "the horizon is sampled over (default: 500, at most 100,000; 0 appends the "
                        "median)")
    parser.add_argument("--out", default="forecast_run", help="output folder (default: "
                        "forecast_run, in the current folder, for every action)")
    parser.add_argument("--target", nargs="+", help="target column(s)")
    parser.add_argument("--time-col", help="timestamp column")
    parser.add_argument("--series-col", help="series id column (long format)")
    trains = "(run, train; an error with --model, whose settings stay, --refit too)"
    parser.add_argument("--lookback", type=int, help=f"past steps the model sees {trains}")
    parser.add_argument("--horizon", type=int, help=f"future steps to forecast {trains}")
    parser.add_argument("--epochs", type=int, help=f"training.max_epochs {trains}")
    parser.add_argument("--lr", type=float, help=f"training.lr {trains}")
    parser.add_argument("--batch-size", type=int, help=f"training batch size {trains}")
    parser.add_argument("--loss", choices=("mse", "mae", "huber", "quantile"),
                        help=f"model.loss {trains}")
    parser.add_argument("--decoder", choices=("pmf", "direct", "autoregressive"),
                        help=f"model.decoder {trains}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set model.hidden_size=128 "
                             "(value parsed as YAML; one starting with %% is text: "
                             "data.time_format=%%d/%%m/%%Y); repeatable")
    parser.add_argument("--stride", type=int, help="steps between forecast origins (run and "
                        "evaluate: evaluation.stride; backtest: the horizon)")
    parser.add_argument("--start", help="backtest start: a row (2000), a fraction (0.8) or a date "
                        "(2023-01-01; digits alone, such as 2023, are a row)")
    parser.add_argument("--refit", action="store_true", help="backtest: refit per fold, "
                        "with the saved model's settings")
    parser.add_argument("--folds", type=int, help="backtest folds with --refit (default 3)")
    parser.add_argument("--plot-series", metavar="ID",
                        help="series whose last scored window forecast.png shows (run, "
                        "evaluate, backtest; default: the last window scored)")
    parser.add_argument("--baselines", nargs="*",
                        help="baselines to report (naive seasonal_naive ets arima)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_tune_arguments(parser, "the validation part (train/run)",
                       "learning rate, width, dropout, highway and segment length")
    parser.add_argument("--resume", action="store_true",
                        help="continue training from <out>/checkpoints/last.ckpt (with "
                        "model.ensemble, each member from <out>/checkpoints/member<k>/)")


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    from lstmkit import yamlio

    flags = {
        "data.target": args.target, "data.time_col": args.time_col,
        "data.series_col": args.series_col, "model.lookback": args.lookback,
        "model.horizon": args.horizon, "training.max_epochs": args.epochs,
        "training.lr": args.lr, "batch_size": args.batch_size, "model.loss": args.loss,
        "model.decoder": args.decoder,
    }
    out: dict[str, object] = {k: v for k, v in flags.items() if v is not None}
    if args.baselines is not None:
        out["evaluation.baselines"] = list(args.baselines)
    if args.no_progress:
        out["training.progress_bar"] = False
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yamlio.load_value(value)
    return out


def _config(args: argparse.Namespace) -> object:
    from lstmkit.forecasting import ForecastConfig, load_config
    from lstmkit.forecasting.builtin import builtin_config

    if args.config:
        config = load_config(args.config)
    elif args.data:
        if not args.target:
            raise ValueError("--data needs --target (or a --config naming data.target)")
        config = ForecastConfig.from_dict({"data": {"target": args.target}})
    else:
        config = builtin_config()
    overrides = _overrides(args)
    if args.data:  # the saved model names the data it was trained on, as evaluate reads it
        overrides["data.path"] = str(args.data)
    return config.with_overrides(overrides)


def _frame(args: argparse.Namespace, config: object) -> object:
    from lstmkit.forecasting.builtin import BUILTIN_PATH, builtin_frame
    from lstmkit.forecasting.data import read_frame

    path = args.data or config.data.path  # type: ignore[attr-defined]
    if path == BUILTIN_PATH:
        print("using the built-in example, weekly Mauna Loa CO2 1958-2001 (bundled with "
              f"statsmodels; data.path {BUILTIN_PATH!r})")
        return builtin_frame()
    if path and not args.data and not Path(path).is_file():  # relative to where this runs
        saved = "saved with the model" if args.model else "in the config"
        folder = "" if args.model else ", not from the config file's folder"
        raise FileNotFoundError(f"data file {path!r} (data.path {saved}) does not exist "
                                f"from {str(Path.cwd())!r} (a relative path is read from where "
                                f"the command runs{folder}); pass --data")
    if path:
        return read_frame(path, config.data.series_col)  # type: ignore[attr-defined]
    raise ValueError(f"forecast {args.action} needs --data <csv> (or data.path in the "
                     "config)")


def _origins(windows: Any) -> str:
    """The span of the windows' first forecast steps, said beside their count (so that a
    ``--start 1999`` meant as a year reads as the row it is)."""
    import pandas as pd

    if len(windows) == 0:
        return ""
    times = windows["origin_time"]
    if pd.api.types.is_datetime64_any_dtype(times):
        first, last = times.min(), times.max()
        dated = (first.normalize() == first) and (last.normalize() == last)
        span = [str(t.date()) if dated else str(t) for t in (first, last)]
        # (the windows' first steps, their origins: the last window forecasts past the last)
        return f", first forecast steps from {span[0]} to {span[1]}"
    return (f", first forecast steps from row {windows['origin'].min()} to row "
            f"{windows['origin'].max()}")


def _check_plot_series(args: argparse.Namespace, ids: list[str],
                       left_out: dict[str, str] | None = None) -> None:
    """--plot-series that names none of the data's series ``ids``, or one ``left_out`` (id
    -> why) as too short: said before any work."""
    from lstmkit.forecasting.data import series_id

    if args.plot_series is None:
        return
    if series_id(args.plot_series) not in ids:
        raise ValueError(f"--plot-series {args.plot_series!r} is not a series of the data "
                         f"(nothing was run); its series: {ids[:10]}"
                         f"{' ...' if len(ids) > 10 else ''}")
    why = (left_out or {}).get(series_id(args.plot_series))
    if why is not None:
        raise ValueError(f"--plot-series {args.plot_series!r} is left out as too short "
                         f"(data.short_series='skip'): {why}")


def _report(report: Any, out: Path, title: str, args: argparse.Namespace) -> None:
    """Print and save ``report``; its notes in ``args._warned`` were printed as warnings
    already; forecast.png shows the last window of ``--plot-series`` (or the last one)."""
    import pandas as pd

    from lstmkit.forecasting.data import series_id

    warned = getattr(args, "_warned", ())
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(f"\n{title}: {len(report.windows)} windows{_origins(report.windows)}")
        print(table_text(report.table))
        if report.by_target is not None:
            print("\nper target:")
            print(table_text(report.by_target))
    for note in report.notes:
        if note not in warned:
            print(f"note: {note}")
    plot_series = args.plot_series
    if plot_series is not None and series_id(plot_series) not in set(report.windows["series"]):
        # (left out as too short, or no window in the part scored: the notes said why)
        print(f"note: --plot-series {plot_series!r} has no window scored, so forecast.png "
              "shows the last series that has")
        plot_series = None
    png = report.plot(out / "forecast.png", series=plot_series)  # (an unknown id: no
    written = report.save(out)  # metrics written beside an old picture)
    print(f"wrote {', '.join(map(str, written))} and {png}")


def table_text(table: Any) -> str:
    """A table of scores as printed: four significant digits, so that errors of small-scale
    data (exchange rates: MSE 6.9e-05 against 7.1e-05) do not all print as 0.0001."""
    return table.to_string(float_format=lambda value: f"{value:.4g}")


PRINTED_ROWS = 30
"""predict prints a forecast of this many rows or fewer whole (of more, the first ones)."""


# flags that mean something to some actions only; elsewhere they are an error, not ignored
ONLY_FOR = {"config": ("run", "train"), "resume": ("run", "train"), "tune": ("run", "train"),
            "tune_space": ("run", "train"), "tune_timeout": ("run", "train"),
            "model": ("evaluate", "predict", "backtest"), "future": ("predict",),
            "steps": ("predict",), "paths": ("predict",),
            "stride": ("run", "evaluate", "backtest"), "start": ("backtest",),
            "refit": ("backtest",), "folds": ("backtest",),
            "plot_series": ("run", "evaluate", "backtest"),
            # a trained model keeps them for its evaluate and backtest; predict scores nothing
            "baselines": ("run", "train", "evaluate", "backtest")}


def _check_flags(args: argparse.Namespace) -> None:
    for name, actions in ONLY_FOR.items():
        value = getattr(args, name)  # (0 is a value given: --steps 0)
        if value is not None and value is not False and args.action not in actions:
            flag = "--" + name.replace("_", "-")
            where = " and ".join(filter(None, (", ".join(actions[:-1]), actions[-1])))
            raise ValueError(f"{flag} applies to forecast {where}, not to "
                             f"forecast {args.action}")
    if args.folds is not None and not args.refit:  # said before any work, as the above
        raise ValueError("--folds applies to a refit backtest: add --refit (a backtest "
                         "without it scores the trained model once)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from lstmkit.forecasting import Forecaster
    from lstmkit.forecasting.data import format_times, series_id
    from lstmkit.forecasting.forecaster import check_save_path
    from lstmkit.saving import check_outside_model
    from lstmkit.training import is_first_process
    from lstmkit.training.callbacks import WriteOnFitStart
    from lstmkit.training.tuning import check_tune_flags, remove_stale_tuning

    _check_flags(args)
    if args.action in ("run", "train"):
        check_tune_flags(args)  # before the data are read
    out = Path(args.out)
    if (out / "meta.json").is_file():  # config.yaml, checkpoints/ ... would go into a model
        raise ValueError(
            f"--out {str(out)!r} is a saved model's folder (it holds meta.json): forecast "
            f"{args.action} writes its results, checkpoints and logs into --out (and a trained "
            "model into --out/model), which would change that model; pass the run's folder "
            f"({str(out.parent)!r}?) or a new one")
    # training (and a backtest's refits) checkpoint and log under --out
    folders = {"checkpoint_dir": out / "checkpoints", "log_dir": out / "logs"}
    if args.action in ("run", "train"):
        check_save_path(out / "model", instead="the command line saves to --out's subfolder "
                        "'model': choose another --out")  # said now, not after training
        config = _config(args)
        _check_inputs_kept(args, out, config)
        space = None if args.tune is None else _space(args, config)  # before the data
        frame = _frame(args, config)
        config = dataclasses.replace(config, training=config.training.replace(**folders))
        forecaster = Forecaster(config)
        prepared = forecaster.prepare(frame)  # read once: trained on, and scored by 'run'
        _check_plot_series(args, [s.id for s in prepared.series] + list(prepared.left_out),
                           {**prepared.left_out, **forecaster.without_training_window(prepared)}
                           if config.data.short_series == "skip" else {})
        if args.action == "run" and not any(  # said before training, not after
                n_test for *_, n_test in prepared.sizes):
            raise ValueError(f"forecast run scores the test part, but "
                             f"data.test={config.data.test!r} leaves none; set data.test or "
                             "use 'forecast train'")
        out.mkdir(parents=True, exist_ok=True)
        if space is not None:
            config = _tune(args, config, frame, out, space)
            forecaster = Forecaster(config)
            prepared = forecaster.prepare(frame)
        # the run's settings, once training starts (a refused --resume leaves the file)
        forecaster.fit(prepared, resume=args.resume,
                       callbacks=[WriteOnFitStart(out / "config.yaml", _yaml(config))])
        if space is None and not args.resume:  # (once trained: a refused run leaves them)
            remove_stale_tuning(out)
        if not is_first_process():
            return 0  # under DDP, the first process alone writes the model and the report
        best = "n/a" if forecaster.val_loss is None else f"{forecaster.val_loss:.4f}"
        fit = forecaster.fit_result
        assert fit is not None
        trained = (f"{fit.epochs_run} epochs" if len(forecaster.fit_results) == 1 else
                   f"{len(forecaster.fit_results)} networks ("
                   + " + ".join(str(r.epochs_run) for r in forecaster.fit_results)
                   + " epochs)")
        # training alone (the kernel's build left out), before a resume too
        seconds = sum(r.total_time_s for r in forecaster.fit_results)
        print(f"trained {trained} in {seconds:.1f} s; "
              f"validation {config.model.loss} loss (scaled units) {best}")
        model_dir = forecaster.save(out / "model")
        print(f"saved model to {model_dir}")
        if args.action == "train":
            return 0
    else:
        if not args.model:
            raise ValueError(f"forecast {args.action} needs --model <saved model directory>")
        forecaster = Forecaster.load(args.model)
        # (its checkpoints and logs too; a folder that holds no model is said to be none first)
        check_outside_model(out, args.model, "--out", f"forecast {args.action}'s results")
        _check_inputs_kept(args, out, forecaster.config)
        # a bar unless --no-progress, whatever the training run chose (it was saved with it)
        overrides = {"training.progress_bar": True, **_overrides(args)}
        if args.action == "backtest" and "evaluation.stride" in overrides:  # (not read there)
            raise ValueError("evaluation.stride spaces evaluate's origins; a backtest's are "
                             "one horizon apart unless --stride says otherwise: give --stride "
                             f"{overrides['evaluation.stride']} instead")
        # how the data are read may change (data.fill: a history with a gap; data.time_format:
        # a file that writes its dates another way), and where the work runs (a model trained
        # on a GPU or under DDP is used on a laptop), the model not
        fixed = sorted(k for k in overrides if not k.startswith("evaluation.")
                       and k not in RUN_SETTINGS)
        if fixed:
            raise ValueError(f"{fixed} cannot change a trained model; retrain with "
                             "'lstmkit forecast train'")
        config = forecaster.config.with_overrides(overrides)
        forecaster.config = dataclasses.replace(
            config, training=config.training.replace(**folders))
        if args.action == "predict":  # (before the data are read, as predict checks them)
            forecaster.check_paths(args.paths, forecaster.check_steps(args.steps)
                                   if args.steps is not None else None)
        frame = _frame(args, forecaster.config)
        series_col = forecaster.config.data.series_col
        _check_plot_series(args, ["0"] if series_col is None or series_col not in frame else
                           [series_id(k) for k in frame[series_col].drop_duplicates()])
    if args.action == "predict":
        # the Forecaster checks --future (future=); out is made once there is a forecast
        forecast = forecaster.predict(frame, future=args.future, steps=args.steps,
                                      paths=args.paths)
        dc = forecaster.config.data
        if dc.time_col is not None:  # written as the data are (ISO 8601 without a format)
            forecast[dc.time_col] = format_times(forecast[dc.time_col], dc.time_format)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "forecast.csv"
        forecast.to_csv(path, index=False)
        shown = forecast.head(PRINTED_ROWS)
        print(shown.to_string(index=False))
        more = f"; the first {len(shown)} printed above" if len(shown) < len(forecast) else ""
        print(f"wrote {path} ({len(forecast)} rows{more})")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if args.action == "backtest":
        # a refit trains under the model's strategy: under DDP every process refits, and the
        # first alone reports
        report = forecaster.backtest(frame, start=_start(args.start), stride=args.stride,
                                     refit=args.refit, folds=args.folds)
        if is_first_process():
            _report(report, out, "backtest", args)
        return 0
    report = forecaster.evaluate(prepared if args.action == "run" else frame,
                                 stride=args.stride)
    _report(report, out, "test", args)
    return 0


def _check_inputs_kept(args: argparse.Namespace, out: Path, config: Any) -> None:
    """A ValueError when a file the action writes into ``out`` is a file it reads: ``--data``
    (or the ``data.path`` of the config or of the saved model, read where no --data is
    given), ``--future``, ``--config`` or ``--tune-space``; said before any work, since the
    data are read before they are written."""
    from lstmkit.forecasting.builtin import BUILTIN_PATH
    from lstmkit.forecasting.evaluation import REPORT_FILES
    from lstmkit.text.io import check_inputs_kept
    from lstmkit.training.tuning import TUNING_FILES

    report = (*REPORT_FILES, "forecast.png")
    training = ("config.yaml", *TUNING_FILES)  # (the run's settings; --tune's)
    writes = {"predict": ("forecast.csv",), "evaluate": report, "backtest": report,
              "run": (*training, *report), "train": training}[args.action]
    data = args.data or config.data.path
    # (--config: a run's config.yaml given back as it, with the folder as --out, lost its
    # comments and took the run's settings; pass a copy)
    inputs = {"--data" if args.data else "data.path": None if data == BUILTIN_PATH else data,
              "--future": args.future, "--config": args.config,
              "--tune-space": args.tune_space}
    check_inputs_kept(out, writes, inputs)


RUN_SETTINGS = frozenset({
    "data.fill", "data.time_format", "data.short_series", "data.target_bounds",
    "training.progress_bar", "training.accelerator", "training.devices", "training.strategy",
    "training.num_nodes", "training.precision", "training.deterministic"})
"""Settings a trained model's evaluate, predict and backtest take: how the data are read,
what its forecasts are clipped to, and where the work runs (a refit backtest trains there),
not what the model is."""


def _start(text: str | None) -> int | float | str | None:
    """--start as a row (an int), a fraction (a float) or a date (any other text)."""
    for kind in (int, float):
        try:
            return kind(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
    return text


def _space(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """``--tune``'s search space: ``--tune-space`` (its keys checked) or the default space
    less the keys given on the command line."""
    from functools import partial

    from lstmkit import yamlio
    from lstmkit.forecasting.tuning import check_space_keys, default_space
    from lstmkit.training.tuning import dotted_keys, space_from_args

    # (the file was read and checked by _config: a regular file, so it reads again)
    from_file = dotted_keys(yamlio.load(Path(args.config).read_text())) if args.config else ()
    return space_from_args(args, default_space(config), _overrides(args),
                           partial(check_space_keys, config), from_file)


def _tune(args: argparse.Namespace, config: object, frame: object, out: object,
          space: dict[str, Any]) -> object:
    """Run the Optuna search over ``space``, write ``tuning.csv`` and return the best
    configuration."""
    from lstmkit.forecasting.tuning import tune_forecaster
    from lstmkit.training import is_first_process
    from lstmkit.training.tuning import (
        TUNING_FILES,
        check_tuning_processes,
        print_tuning_end,
        say_drawn,
    )

    check_tuning_processes(config.training, seed=config.training.seed,  # type: ignore[attr-defined]
                           timeout_s=args.tune_timeout, storage=None)  # (before the line below)
    if is_first_process():
        print(f"tuning: {args.tune} trials over {sorted(space)} on the validation part")
    # trials write no checkpoints or logs; the best configuration keeps this run's folders;
    # tuning.csv is rewritten as each trial ends, so an interrupted search keeps them
    trials, picture = (out / name for name in TUNING_FILES)  # type: ignore[operator]
    best, study = tune_forecaster(config, frame, space,  # type: ignore[arg-type]
                                  n_trials=args.tune, timeout_s=args.tune_timeout,
                                  seed=config.training.seed,  # type: ignore[attr-defined]
                                  trials_csv=trials)
    if not is_first_process():  # under DDP every process ran the trials (together)
        return best
    print_tuning_end(study, args, f"best validation loss {study.best_value:.4f}", trials)
    say_drawn(study, picture, "validation loss")
    return best


def _yaml(config: object) -> str:
    import yaml

    return yaml.safe_dump(config.to_dict(written=True), sort_keys=False)  # type: ignore[attr-defined]
