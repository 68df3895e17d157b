"""``lstmkit forecast`` in-process: train, evaluate, predict, backtest, config errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from forecast_helpers import make_frame

from lstmkit.cli import forecast


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    forecast.add_parser(parser)
    return forecast.run(parser.parse_args(list(argv)))


@pytest.fixture
def csv_and_config(tmp_path: Path) -> tuple[Path, Path]:
    csv = tmp_path / "data.csv"
    make_frame(n=200).to_csv(csv, index=False)
    config = {"data": {"target": ["a"], "time_col": "date", "past_covariates": ["temp"]},
              "model": {"lookback": 24, "horizon": 12, "segment_len": 6, "hidden_size": 8},
              "training": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu",
                           "devices": 1},
              "evaluation": {"baselines": ["naive"]},
              "min_epoch_batches": 0}  # (one pass per epoch over a few windows)
    path = tmp_path / "fc.yaml"
    path.write_text(yaml.safe_dump(config))
    return csv, path


def test_train_evaluate_predict_backtest(csv_and_config: tuple[Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    csv, config = csv_and_config
    out = tmp_path / "run"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                "--set", "model.hidden_size=12", "--set", "training.lr=1e-2") == 0
    saved = yaml.safe_load((out / "model" / "config.yaml").read_text())
    assert saved["model"]["hidden_size"] == 12 and saved["training"]["lr"] == 0.01
    # the data it was trained on, which evaluate and predict read without --data
    assert saved["data"]["path"] == str(csv)
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert list((out / "logs").rglob("metrics.csv"))
    model = str(out / "model")
    assert _run("evaluate", "--model", model, "--data", str(csv), "--out", str(out)) == 0
    metrics = pd.read_csv(out / "metrics.csv", index_col=0)
    assert list(metrics.index) == ["lstmkit", "naive"]
    printed = capsys.readouterr().out
    assert "test: 29 windows" in printed  # 40 test rows, horizon 12
    assert f"wrote {out / 'metrics.csv'}, {out / 'per_origin.csv'}, {out / 'metrics.json'} " \
           f"and {out / 'forecast.png'}" in printed  # every file written
    assert _run("evaluate", "--model", model, "--data", str(csv), "--out", str(out),
                "--stride", "7") == 0
    assert "test: 5 windows" in capsys.readouterr().out  # every 7th, anchored on the last
    assert (out / "forecast.png").is_file()
    with pytest.raises(ValueError, match=r"--plot-series 'x' is not a series of the data "
                                         r"\(nothing was run\); its series: \['0'\]"):
        _run("evaluate", "--model", model, "--data", str(csv), "--out", str(out),
             "--plot-series", "x")
    with pytest.raises(ValueError, match=r"--plot-series 'x' is not a series of the data "
                                         r"\(nothing was run\); its series: \['0'\]"):
        _run("run", "--config", str(config), "--data", str(csv), "--out", str(tmp_path / "x"),
             "--plot-series", "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match=r"--plot-series applies to forecast run, evaluate "
                                         r"and backtest, not to forecast predict"):
        _run("predict", "--model", model, "--data", str(csv), "--out", str(out),
             "--plot-series", "0")
    assert _run("predict", "--model", model, "--data", str(csv), "--out", str(out)) == 0
    predicted = pd.read_csv(out / "forecast.csv")
    assert len(predicted) == 12 and set(predicted["target"]) == {"a"}
    capsys.readouterr()
    assert _run("predict", "--model", model, "--data", str(csv), "--out", str(out),
                "--steps", "5") == 0
    assert pd.read_csv(out / "forecast.csv").equals(predicted.iloc[:5])
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 + 5 + 1 and printed.endswith("forecast.csv (5 rows)\n")
    monkeypatch.setattr(forecast, "PRINTED_ROWS", 4)  # a longer forecast: its first rows
    assert _run("predict", "--model", model, "--data", str(csv), "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 + 4 + 1 and printed.endswith(
        "forecast.csv (12 rows; the first 4 printed above)\n")
    with pytest.raises(ValueError, match=r"steps=13 is past the model's horizon \(12\)"):
        _run("predict", "--model", model, "--data", str(csv), "--out", str(out),
             "--steps", "13")  # (the model reads a past-only covariate, temp)
    with pytest.raises(ValueError, match=r"paths \(--paths\) sample a quantile forecast "
                                         r"past the horizon, but the model's loss is 'mse'"):
        _run("predict", "--model", model, "--data", str(csv), "--out", str(out),
             "--paths", "100")
    with pytest.raises(ValueError, match=r"--paths applies to forecast predict, not to "
                                         r"forecast evaluate"):
        _run("evaluate", "--model", model, "--data", str(csv), "--out", str(out),
             "--paths", "100")
    for steps in ("5", "0"):  # (0 passed for a flag not given)
        with pytest.raises(ValueError, match=r"--steps applies to forecast predict, not to "
                                             r"forecast evaluate"):
            _run("evaluate", "--model", model, "--data", str(csv), "--out", str(out),
                 "--steps", steps)
    # a history with a gap: the model trained without data.fill, predict may fill it
    gappy = tmp_path / "gappy.csv"
    frame = pd.read_csv(csv)
    frame.loc[190, "a"] = None
    frame.to_csv(gappy, index=False)
    with pytest.raises(ValueError, match=r"missing value\(s\) in column 'a'.*set data.fill"):
        _run("predict", "--model", model, "--data", str(gappy), "--out", str(out))
    with pytest.warns(UserWarning, match="filled missing values"):
        assert _run("predict", "--model", model, "--data", str(gappy), "--out", str(out),
                    "--set", "data.fill=ffill") == 0
    # bounds only clip what the model forecasts: a trained model may be given them
    assert _run("predict", "--model", model, "--data", str(csv), "--out", str(out),
                "--set", "data.target_bounds=[-1.2, 1.2]") == 0
    assert pd.read_csv(out / "forecast.csv")["forecast"].abs().max() <= 1.2
    with pytest.raises(ValueError, match=r"\['model.hidden_size'\] cannot change a trained "
                                         r"model"):
        _run("predict", "--model", model, "--data", str(csv), "--out", str(out),
             "--set", "model.hidden_size=3")
    # a model trained on a GPU is refitted here with the hardware settings set for this run
    import shutil
    gpu_model = tmp_path / "gpu_model"
    shutil.copytree(model, gpu_model)
    trained_on = yaml.safe_load((gpu_model / "config.yaml").read_text())
    trained_on["training"].update(accelerator="gpu", devices=4, precision="bf16-mixed")
    (gpu_model / "config.yaml").write_text(yaml.safe_dump(trained_on))
    assert _run("backtest", "--model", str(gpu_model), "--data", str(csv), "--out",
                str(tmp_path / "refit_here"), "--refit", "--folds", "1", "--stride", "12",
                "--set", "training.accelerator=cpu", "--set", "training.devices=1",
                "--set", "training.precision=32") == 0
    with pytest.warns(UserWarning, match="in-sample"):
        assert _run("backtest", "--model", model, "--data", str(csv), "--out", str(out),
                    "--stride", "12", "--start", "0.5") == 0
    # origins every 12 rows from row 100 to the last before the last full window (row 188):
    # 184; said as times
    assert ("backtest: 8 windows, first forecast steps from 2021-01-05 04:00:00 to "
            "2021-01-08 16:00:00") in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"start \(--start\) must be a row >= 0, a fraction in "
                                         r"\(0, 1\) or a date \(text, a pd\.Timestamp, "
                                         r"datetime or np\.datetime64\), got int -20"):
        _run("backtest", "--model", model, "--data", str(csv), "--out", str(out),
             "--start", "-20")
    with pytest.raises(ValueError, match=r"start \(--start\)='soon' is not a row, a fraction "
                                         r"or a date"):
        _run("backtest", "--model", model, "--data", str(csv), "--out", str(out),
             "--start", "soon")
    with pytest.raises(ValueError, match=r"start \(--start\) '2030-01' starts after the last "
                                         r"row of every series \(the latest at 2021-01-09 "
                                         r"07:00:00\): nothing is left to backtest"):
        _run("backtest", "--model", model, "--data", str(csv), "--out", str(out),
             "--start", "2030-01")
    with pytest.raises(ValueError, match=r"start \(--start\)='2021-01-05 00:00\+00:00' and "
                                         r"the time "
                                         r"column .* must both have a time zone or both"):
        _run("backtest", "--model", model, "--data", str(csv), "--out", str(out),
             "--start", "2021-01-05 00:00+00:00")
    # evaluate's stride, which a backtest does not read (it was taken and ignored)
    with pytest.raises(ValueError, match=r"evaluation.stride spaces evaluate's origins; a "
                                         r"backtest's are one horizon apart unless --stride "
                                         r"says otherwise: give --stride 3 instead"):
        _run("backtest", "--model", model, "--data", str(csv), "--out", str(out),
             "--set", "evaluation.stride=3")
    # the refits checkpoint and log under the backtest's --out, not the training run's
    refit = tmp_path / "refit"
    capsys.readouterr()
    assert _run("backtest", "--model", model, "--data", str(csv), "--out", str(refit),
                "--stride", "12", "--start", "0.6", "--refit", "--folds", "2") == 0
    # the model was trained without a bar (training.progress_bar: false, saved with it); a
    # backtest shows one unless --no-progress says otherwise
    assert "backtest refit: fold 2 of 2" in capsys.readouterr().err
    assert _run("backtest", "--model", model, "--data", str(csv), "--out", str(refit),
                "--stride", "12", "--start", "0.6", "--refit", "--folds", "1",
                "--no-progress") == 0
    assert "backtest refit" not in capsys.readouterr().err
    assert {p.name for p in (refit / "checkpoints").iterdir()} == {".lock", "fold0", "fold1"}
    assert {p.name for p in (refit / "logs").iterdir()} == {"fold0", "fold1"}
    assert not (out / "checkpoints" / "fold0").exists()


def test_set_takes_a_date_format(csv_and_config: tuple[Path, Path], tmp_path: Path) -> None:
    csv, config = csv_and_config
    frame = pd.read_csv(csv)
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%d/%m/%Y %H:%M")
    frame.to_csv(csv, index=False)
    assert _run("train", "--config", str(config), "--data", str(csv), "--out",
                str(tmp_path / "run"), "--set", "data.time_format=%d/%m/%Y %H:%M") == 0
    saved = yaml.safe_load((tmp_path / "run" / "model" / "config.yaml").read_text())
    assert saved["data"]["time_format"] == "%d/%m/%Y %H:%M"
    # a new file that writes its dates another way: how it is read is not the model
    iso = tmp_path / "iso.csv"
    make_frame(n=200).to_csv(iso, index=False)
    assert _run("predict", "--model", str(tmp_path / "run" / "model"), "--data", str(iso),
                "--out", str(tmp_path / "pred"), "--set", "data.time_format=ISO8601") == 0
    # ISO8601 (pandas reads it, no strftime format) and no format both write ISO 8601
    written = pd.read_csv(tmp_path / "pred" / "forecast.csv", dtype=str)["date"]
    assert written.iloc[0] == "2021-01-09 08:00:00"  # (200 hourly rows from 2021-01-01)
    # forecast.csv writes its times as the data wrote them, for the tools that read it back
    assert _run("predict", "--model", str(tmp_path / "run" / "model"), "--data", str(csv),
                "--out", str(tmp_path / "pred2")) == 0
    written = pd.read_csv(tmp_path / "pred2" / "forecast.csv", dtype=str)["date"]
    assert written.tolist() == [f"09/01/2021 {h:02d}:00" for h in range(8, 20)]


def test_forecast_csv_times_are_iso_with_a_warning_where_the_format_would_change_them(
        csv_and_config: tuple[Path, Path], tmp_path: Path) -> None:
    csv, config = csv_and_config
    # daily dates written with their UTC offset (as to_csv writes a tz-aware index) are read
    # as local dates, without a zone, for which %z writes nothing: they would not read back
    frame = make_frame(n=200, freq="D")
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d") + "+0100"
    frame.to_csv(csv, index=False)
    assert _run("train", "--config", str(config), "--data", str(csv), "--out",
                str(tmp_path / "run"), "--set", "data.time_format=%Y-%m-%d%z") == 0
    with pytest.warns(UserWarning, match=r"^times written in ISO 8601, not as "
                                         r"data.time_format='%Y-%m-%d%z': it writes "
                                         r"2021-07-20 00:00:00 as '2021-07-20', which does not "
                                         r"read back with it \(12 of 12 times would change\)"):
        assert _run("predict", "--model", str(tmp_path / "run" / "model"), "--data", str(csv),
                    "--out", str(tmp_path / "pred")) == 0
    written = pd.read_csv(tmp_path / "pred" / "forecast.csv", dtype=str)["date"]
    assert written.iloc[0] == "2021-07-20"


def test_a_model_trained_on_the_built_in_example_is_used_without_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmkit.forecasting import builtin

    small = builtin.builtin_config(progress_bar=False)
    small = small.with_overrides({"model.lookback": 24, "model.horizon": 12,
                                  "model.segment_len": 6, "model.hidden_size": 8,
                                  "training.max_epochs": 1, "evaluation.baselines": ["naive"]})
    weekly = make_frame(n=200).rename(columns={"a": "co2"})[["date", "co2"]]
    weekly["date"] = pd.date_range("1990-01-07", periods=200, freq="W-SUN")
    monkeypatch.setattr(builtin, "builtin_config", lambda progress_bar=True: small)
    monkeypatch.setattr(builtin, "builtin_frame", lambda: weekly)
    assert _run("train", "--out", str(tmp_path / "run")) == 0
    saved = yaml.safe_load((tmp_path / "run" / "model" / "config.yaml").read_text())
    assert saved["data"]["path"] == builtin.BUILTIN_PATH
    # the saved model says where its data came from: "needs --data" before
    for action in ("evaluate", "predict", "backtest"):
        assert _run(action, "--model", str(tmp_path / "run" / "model"), "--out",
                    str(tmp_path / action)) == 0
    assert (tmp_path / "predict" / "forecast.csv").is_file()
    # --paths samples past the horizon (12): within it, it did nothing, without a word
    model = str(tmp_path / "run" / "model")
    for steps in ((), ("--steps", "12")):
        with pytest.raises(ValueError, match=r"paths \(--paths\) sample the forecast past the "
                                             r"model's horizon \(12 steps\), and (no steps "
                                             r"\(--steps\) were given|steps \(--steps\) 12 are "
                                             r"within it): they apply with steps above 12"):
            _run("predict", "--model", model, "--out", str(tmp_path / "p"), "--paths", "10",
                 *steps)
    for given, message in [(("--paths", "10", "--steps", "0"), r"steps \(--steps\) must be "
                            r"an int >= 1, got 0"),
                           (("--paths", "-1"), r"paths \(--paths\) must be an int >= 0, got "
                            r"-1"),  # (what they must be, first)
                           (("--steps", str(10**12)), r"steps \(--steps\) must be at most "
                            r"12000 \(1000 horizons of 12\), got 1000000000000: steps past"),
                           # (checked before the data are read: the CSV was read whole first)
                           (("--steps", str(10**12), "--data", str(tmp_path / "unread.csv")),
                            r"steps \(--steps\) must be at most 12000 "),
                           (("--paths", "-1", "--steps", "13", "--data",
                             str(tmp_path / "unread.csv")), r"paths \(--paths\) must be an int "
                            r">= 0, got -1")]:
        with pytest.raises(ValueError, match=message):
            _run("predict", "--model", model, "--out", str(tmp_path / "p"), *given)
    assert _run("predict", "--model", model, "--out", str(tmp_path / "p"), "--paths", "10",
                "--steps", "13") == 0
    assert len(pd.read_csv(tmp_path / "p" / "forecast.csv")) == 13


def test_cli_errors(csv_and_config: tuple[Path, Path], tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    csv, config = csv_and_config
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"unknown config key 'model.lookbak'; valid keys"):
        _run("train", "--config", str(config), "--data", str(csv), "--set", "model.lookbak=3")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {target: a}\nmodel: {hidden: 3}\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['hidden'\] in config section "
                                         r"'model'; valid keys"):
        _run("train", "--config", str(bad), "--data", str(csv))
    with pytest.raises(ValueError, match="forecast predict needs --model"):
        _run("predict", "--data", str(csv))
    with pytest.raises(ValueError, match="--data needs --target"):
        _run("train", "--data", str(csv))
    with pytest.raises(ValueError, match="--set expects KEY=VALUE"):
        _run("train", "--config", str(config), "--data", str(csv), "--set", "lr")
    for test, shown in (("0", "0"), ("2030-01-01", "'2030-01-01'")):  # before training
        with pytest.raises(ValueError, match=rf"forecast run scores the test part, but "
                                             rf"data\.test={shown} leaves none"):
            _run("run", "--config", str(config), "--data", str(csv), "--set",
                 f"data.test={test}")
    with pytest.raises(ValueError, match="--refit applies to forecast backtest, not to "
                                         "forecast evaluate"):
        _run("evaluate", "--model", "m", "--data", str(csv), "--refit")
    with pytest.raises(ValueError, match="--config applies to forecast run and train, not "
                                         "to forecast predict"):
        _run("predict", "--model", "m", "--data", str(csv), "--config", str(config))
    with pytest.raises(ValueError, match="--stride applies to forecast run, evaluate and "
                                         "backtest, not to forecast predict"):
        _run("predict", "--model", "m", "--data", str(csv), "--stride", "3")
    with pytest.raises(ValueError, match="--baselines applies to forecast run, train, evaluate "
                                         "and backtest, not to forecast predict"):
        _run("predict", "--model", "m", "--data", str(csv), "--baselines", "naive")
    known = tmp_path / "known"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(known),
                "--set", "data.future_covariates=[hour]") == 0
    with pytest.raises(ValueError, match=r"future covariates \['hour'\] must cover the 12 "
                                         r"steps after the data: pass future=<table> "
                                         r"\(--future <csv>\)"):
        _run("predict", "--model", str(known / "model"), "--data", str(csv),
             "--out", str(tmp_path / "predicted"))
    assert not (tmp_path / "predicted").exists()  # no empty output folder left behind
    # a command that fails its checks leaves no output folder behind
    assert not (tmp_path / "forecast_run").exists()
    with pytest.raises(ValueError, match="--folds applies to a refit backtest: add --refit"):
        _run("backtest", "--model", str(known / "model"), "--data", str(csv), "--folds", "2")
    assert not (tmp_path / "forecast_run").exists()
    # a relative data.path saved with the model is read from where the command runs
    assert _run("train", "--config", str(config), "--data", csv.name, "--out",
                str(tmp_path / "relative")) == 0
    monkeypatch.chdir(known)
    with pytest.raises(FileNotFoundError, match=r"data file 'data.csv' \(data.path saved with "
                                                r"the model\) does not exist from '.*known' "
                                                r"\(a relative path is read from where the "
                                                r"command runs\); pass --data"):
        _run("evaluate", "--model", str(tmp_path / "relative" / "model"))
    in_config = tmp_path / "sub" / "config.yaml"
    in_config.parent.mkdir()
    settings = yaml.safe_load(config.read_text())
    settings["data"]["path"] = "data.csv"  # beside the config file, not where this runs
    in_config.write_text(yaml.safe_dump(settings))
    (in_config.parent / "data.csv").write_text(csv.read_text())
    with pytest.raises(FileNotFoundError, match=r"data file 'data.csv' \(data.path in the "
                                                r"config\) does not exist from '.*known' \(a "
                                                r"relative path is read from where the command "
                                                r"runs, not from the config file's folder\)"):
        _run("train", "--config", str(in_config), "--out", str(tmp_path / "o"))


def test_train_refuses_a_model_folder_it_cannot_save_to_before_training(
        csv_and_config: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmkit.forecasting import Forecaster

    csv, config = csv_and_config

    def no_fit(self: Forecaster, *args: object, **kwargs: object) -> Forecaster:
        raise AssertionError("the model was trained")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    out = tmp_path / "run"
    (out / "model").mkdir(parents=True)
    (out / "model" / "notes.txt").write_text("mine")
    for action in ("train", "run"):
        with pytest.raises(FileExistsError, match=r"^cannot save the model to '.*model': it "
                                                  r"exists and is not a saved model or an "
                                                  r"empty folder, .*; the command line saves "
                                                  r"to --out's subfolder 'model': choose "
                                                  r"another --out$"):
            _run(action, "--config", str(config), "--data", str(csv), "--out", str(out))
    assert [p.name for p in out.rglob("*")] == ["model", "notes.txt"]


def test_a_refused_resume_leaves_the_run_s_config_yaml(csv_and_config: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    # it was rewritten with the refused settings before the checkpoint was compared, so that
    # it no longer said how the run's checkpoints and model were trained
    csv, config = csv_and_config
    out = tmp_path / "run"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out)) == 0
    written = (out / "config.yaml").read_text()
    assert yaml.safe_load(written)["training"]["lr"] == 1e-3
    with pytest.raises(ValueError, match=r"training.lr: 0.001 there, 0.05 here"):
        _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
             "--resume", "--lr", "0.05")
    assert (out / "config.yaml").read_text() == written
    # a resume that trains writes the settings it runs with (more epochs are allowed)
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                "--resume", "--epochs", "2") == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["training"]["max_epochs"] == 2


def test_out_that_is_a_saved_model_is_refused(csv_and_config: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    # train --out run/model wrote config.yaml, checkpoints/ and logs/ into the saved model:
    # it then failed to load ("does not hold together") and could not be saved over
    csv, config = csv_and_config
    out = tmp_path / "run"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out)) == 0
    saved = sorted(p.name for p in (out / "model").iterdir())
    for action in ("train", "run", "evaluate", "predict", "backtest"):
        given = (["--config", str(config)] if action in ("train", "run") else
                 ["--model", str(out / "model")])
        with pytest.raises(ValueError, match=rf"^--out '.*model' is a saved model's folder \(it "
                                             rf"holds meta.json\): forecast {action} writes"):
            _run(action, *given, "--data", str(csv), "--out", str(out / "model"))
    assert sorted(p.name for p in (out / "model").iterdir()) == saved


def test_out_inside_the_model_folder_is_refused(csv_and_config: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    # evaluate --out run/model/eval wrote into the model's folder, which a new save of the
    # model (train --out run) then refused to replace: it held more than a saved model
    csv, config = csv_and_config
    out = tmp_path / "run"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out)) == 0
    saved = sorted(p.name for p in (out / "model").rglob("*"))
    for action in ("evaluate", "predict", "backtest"):
        with pytest.raises(ValueError, match=rf"^--out '.*model/eval' is inside the model "
                                             rf"folder '.*model', which holds the saved model's "
                                             rf"files .*: write forecast {action}'s results "
                                             rf"elsewhere$"):
            _run(action, "--model", str(out / "model"), "--data", str(csv), "--out",
                 str(out / "model" / "eval"))
    assert sorted(p.name for p in (out / "model").rglob("*")) == saved


def test_out_files_that_are_the_data_are_refused(csv_and_config: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    csv, config = csv_and_config
    model = tmp_path / "trained"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(model)) == 0
    out = tmp_path / "run"
    out.mkdir()
    for action, name, flag in [("predict", "forecast.csv", "--data"),
                               ("predict", "forecast.csv", "--future"),
                               ("evaluate", "metrics.csv", "--data"),
                               ("backtest", "per_origin.csv", "--data"),
                               ("run", "metrics_by_series.csv", "--data"),
                               ("train", "config.yaml", "--data"),
                               ("train", "tuning.csv", "--data"),
                               # (a run's config.yaml given back: it lost its comments)
                               ("run", "config.yaml", "--config")]:
        data = out / name
        data.write_bytes((config if flag == "--config" else csv).read_bytes())
        given = {"--data": str(csv), flag: str(data)}
        where = ([] if flag == "--config" else ["--config", str(config)]
                 if action in ("run", "train") else ["--model", str(model / "model")])
        with pytest.raises(ValueError, match=rf"^--out's {name} '.*run/{name}' is the file "
                                             rf"{flag} reads \('.*{name}'\): writing it would "
                                             r"replace the input; give --out another folder, "
                                             rf"or let {flag} read a copy of it$"):
            _run(action, *where, "--out", str(out),
                 *[item for pair in given.items() for item in pair])
        assert data.read_bytes() == (config if flag == "--config" else csv).read_bytes()
        data.unlink()
    # the data read without --data: the config's data.path, the saved model's (the report
    # overwrote it, and a later run read a CSV of scores as its data)
    data = out / "metrics.csv"
    data.write_bytes(csv.read_bytes())
    for file in (config, model / "model" / "config.yaml"):
        settings = yaml.safe_load(file.read_text())
        settings["data"]["path"] = str(data)
        file.write_text(yaml.safe_dump(settings))
    for where in (["run", "--config", str(config)], ["evaluate", "--model", str(model / "model")]):
        with pytest.raises(ValueError, match=r"^--out's metrics.csv '.*run/metrics.csv' is the "
                                             r"file data.path reads"):
            _run(*where, "--out", str(out))
    assert data.read_bytes() == csv.read_bytes()


def test_train_with_tuning(csv_and_config: tuple[Path, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    csv, config = csv_and_config
    space = tmp_path / "space.yaml"
    space.write_text("training.lr: [log, 1.0e-3, 1.0e-2]\nmodel.highway: [choice, [false, true]]\n")
    out = tmp_path / "tuned"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                "--tune", "2", "--tune-space", str(space)) == 0
    trials = pd.read_csv(out / "tuning.csv")
    assert len(trials) == 2 and "params_training.lr" in trials.columns
    best = trials.loc[trials["value"].idxmin()]
    saved = yaml.safe_load((out / "model" / "config.yaml").read_text())
    # the final model is trained with the best trial's settings
    assert saved["training"]["lr"] == pytest.approx(best["params_training.lr"])
    assert saved["model"]["highway"] == bool(best["params_model.highway"])
    assert (out / "checkpoints" / "last.ckpt").is_file()
    said = capsys.readouterr().out
    assert "best validation loss" in said and f"tuning: drawn in {out / 'tuning.png'}" in said
    assert (out / "tuning.png").read_bytes()[:4] == b"\x89PNG"
    # a new run without --tune has no search: the earlier one's files beside its model
    # would read as its own (a resume, which takes the best settings, keeps them); a run
    # refused before it trains leaves them with the model they belong to
    if not torch.cuda.is_available():
        with pytest.raises((ValueError, RuntimeError), match="gpu"):
            _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                 "--set", "training.accelerator=gpu")
        assert (out / "tuning.csv").is_file() and (out / "tuning.png").is_file()
    capsys.readouterr()
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out)) == 0
    assert not (out / "tuning.csv").exists() and not (out / "tuning.png").exists()
    assert (f"removed tuning.csv and tuning.png from {out}: an earlier --tune run's search, "
            "not this run's") in capsys.readouterr().out
    # the default space leaves out what the command line gives (--lr was replaced silently)
    out = tmp_path / "tuned_default"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                "--tune", "1", "--lr", "0.004", "--set", "model.highway=true") == 0
    said = capsys.readouterr().out
    assert "tuning: ['model.highway', 'training.lr'] stay as given on the command line" in said
    # fc.yaml gives model.hidden_size and segment_len: searched, and said to be
    assert ("tuning: the search varies ['model.hidden_size', 'model.segment_len'], which "
            "--config gives: its values are replaced by the best found" in said)
    trials = pd.read_csv(out / "tuning.csv")
    assert "params_training.lr" not in trials.columns and "params_model.dropout" in trials
    saved = yaml.safe_load((out / "model" / "config.yaml").read_text())
    assert saved["training"]["lr"] == 0.004 and saved["model"]["highway"] is True
    # a space file that varies a key the command line gives searches it, and says so
    out = tmp_path / "tuned_over_lr"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                "--tune", "1", "--tune-space", str(space), "--lr", "0.05") == 0
    assert (f"tuning: --tune-space {space} varies ['training.lr'], given on the command line "
            "too: the search replaces the value given") in capsys.readouterr().out


def test_tune_errors(csv_and_config: tuple[Path, Path], tmp_path: Path) -> None:
    from lstmkit.forecasting import ForecastConfig
    from lstmkit.forecasting.tuning import default_space

    csv, config = csv_and_config
    with pytest.raises(ValueError, match="--tune must be a number of trials >= 1, got 0"):
        _run("train", "--config", str(config), "--data", str(csv), "--out",
             str(tmp_path / "t"), "--tune", "0")
    bad = tmp_path / "bad_space.yaml"
    bad.write_text("training.lr: [uniform, 0.1, 1.0]\n")
    with pytest.raises(ValueError, match=r"space\['training.lr'\] must start with one of"):
        _run("train", "--config", str(config), "--data", str(csv), "--out",
             str(tmp_path / "t"), "--tune", "1", "--tune-space", str(bad))
    # a missing space file is named by its flag, before the data are read (--data is missing)
    with pytest.raises(FileNotFoundError, match=r"^--tune-space '.*nosuch.yaml': no such file"):
        _run("train", "--config", str(config), "--data", str(tmp_path / "absent.csv"),
             "--out", str(tmp_path / "t"), "--tune", "1", "--tune-space",
             str(tmp_path / "nosuch.yaml"))
    # a space's keys, and its folder given for the file, are said before the data are read too
    typo = tmp_path / "typo_space.yaml"
    typo.write_text("training.lrate: [log, 1.0e-3, 1.0e-2]\n")
    with pytest.raises(ValueError, match=r"^--tune-space .*typo_space.yaml: unknown key\(s\) "
                                         r"\['training.lrate'\] in the search space"):
        _run("train", "--config", str(config), "--data", str(tmp_path / "absent.csv"),
             "--out", str(tmp_path / "t"), "--tune", "1", "--tune-space", str(typo))
    with pytest.raises(IsADirectoryError, match=r"^--tune-space '.*' is a folder; give the "
                                                r"YAML file of the search space"):
        _run("train", "--config", str(config), "--data", str(csv), "--out",
             str(tmp_path / "t"), "--tune", "1", "--tune-space", str(tmp_path))
    # where the trials go is checked before the first trial trains
    (tmp_path / "blocked" / "tuning.csv").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"trials_csv '.*tuning.csv', where the trials "
                                                r"are written, is a folder: move it away"):
        _run("train", "--config", str(config), "--data", str(csv), "--out",
             str(tmp_path / "blocked"), "--tune", "1")
    assert not (tmp_path / "blocked" / "config.yaml").exists()
    # a resumed run continues its own settings; a search would change them under it
    with pytest.raises(ValueError, match="--tune searches new settings and --resume continues"):
        _run("train", "--config", str(config), "--data", str(csv), "--out",
             str(tmp_path / "t"), "--tune", "1", "--resume")
    with pytest.raises(ValueError, match="--tune applies to forecast run and train, not to "
                                         "forecast evaluate"):
        _run("evaluate", "--model", "x", "--data", str(csv), "--tune", "3")
    space = default_space(ForecastConfig.from_dict(
        {"data": {"target": ["a"]}, "model": {"lookback": 24, "horizon": 12}}))
    assert space["model.segment_len"] == ("choice", [1, 2, 3, 6, 8, 12])
    assert {"training.lr", "model.hidden_size", "model.dropout", "model.highway"} <= set(space)


@pytest.mark.parametrize(("lookback", "segment_len", "choices"), [
    (56, 7, [1, 2, 4, 7, 8, 14, 28]),  # every divisor below 56, the configured 7 among them
    (24, 6, [1, 2, 3, 6, 8, 12]),
    (512, 64, [1, 4, 8, 32, 64, 256]),
    (12, 12, [1, 2, 3, 4, 6, 12]),  # the configured length is always offered
    (1024, 8, [2, 8, 16, 64, 128, 512]),  # none gives the LSTM more than 512 steps
])
def test_default_segment_lengths_are_divisors_of_the_lookback(
        lookback: int, segment_len: int, choices: list[int]) -> None:
    from lstmkit.forecasting import ForecastConfig
    from lstmkit.forecasting.tuning import default_space

    space = default_space(ForecastConfig.from_dict(
        {"data": {"target": ["a"]},
         "model": {"lookback": lookback, "horizon": 12, "segment_len": segment_len}}))
    assert space["model.segment_len"] == ("choice", choices)


def test_predict_refuses_future_for_a_model_without_future_covariates(
        csv_and_config: tuple[Path, Path], tmp_path: Path) -> None:
    csv, config = csv_and_config
    out = tmp_path / "run"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out)) == 0
    with pytest.raises(ValueError, match=r"future= \(--future\) was given, but the model has "
                                         r"no data.future_covariates"):
        _run("predict", "--model", str(out / "model"), "--data", str(csv), "--future",
             str(tmp_path / "future.csv"), "--out", str(tmp_path / "predicted"))
    assert not (tmp_path / "predicted").exists()  # no empty output folder left behind


def test_evaluate_notes_the_series_without_a_test_window(
        csv_and_config: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, config = csv_and_config
    csv = tmp_path / "two.csv"
    # series B ends before the test date: trained on, never scored
    pd.concat([make_frame(n=200).assign(sid="A"), make_frame(n=120, seed=1).assign(sid="B")]
              ).to_csv(csv, index=False)
    out = tmp_path / "run"
    assert _run("train", "--config", str(config), "--data", str(csv), "--out", str(out),
                "--series-col", "sid", "--set", "data.val=2021-01-07 00:00",
                "--set", "data.test=2021-01-07 12:00") == 0
    capsys.readouterr()
    with pytest.warns(UserWarning, match="series 'B' has no test window"):
        assert _run("evaluate", "--model", str(out / "model"), "--data", str(csv),
                    "--out", str(out)) == 0
    assert "note: series 'B' has no test window and is not scored" in capsys.readouterr().out


def test_ddp_run_writes_its_outputs_once(csv_and_config: tuple[Path, Path],
                                         tmp_path: Path) -> None:
    import subprocess
    import sys

    csv, config = csv_and_config
    out = tmp_path / "ddp"
    # Lightning's DDP launcher starts the second process by running the same command again,
    # so it must be a script: the installed entry point
    script = str(Path(sys.executable).with_name("lstmkit"))
    done = subprocess.run(
        [script, "forecast", "--config", str(config), "--data", str(csv), "--out", str(out),
         "--set", "training.strategy=ddp", "--set", "training.devices=2"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GLOBAL_RANK: 1" in done.stdout + done.stderr  # two processes trained
    # train_loss is the mean over both processes (Lightning warned that it was rank 0's)
    assert "sync_dist" not in done.stdout + done.stderr
    assert done.stdout.count("saved model") == 1 and done.stdout.count("wrote") == 1
    assert (out / "model" / "model.pt").is_file() and (out / "metrics.csv").is_file()
    # a refit backtest trains under DDP too, and the first process alone reports (the report
    # had been printed and written by both)
    done = subprocess.run(
        [script, "forecast", "backtest", "--model", str(out / "model"), "--data", str(csv),
         "--out", str(tmp_path / "refit"), "--refit", "--folds", "1", "--stride", "12"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GLOBAL_RANK: 1" in done.stdout + done.stderr
    assert done.stdout.count("backtest:") == 1 and done.stdout.count("wrote") == 1


def test_warnings_are_one_line_and_not_repeated_as_notes(
        csv_and_config: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from lstmkit.cli.main import main

    csv, config = csv_and_config
    frame = pd.read_csv(csv)
    frame.loc[[5, 6], "a"] = None
    frame.to_csv(csv, index=False)
    assert main(["forecast", "run", "--config", str(config), "--data", str(csv), "--out",
                 str(tmp_path / "run"), "--set", "data.fill=ffill",
                 "--set", "data.time_col=null"]) == 0
    out, err = capsys.readouterr()
    # once, though training, the check before it and scoring each read the data
    assert err.count("lstmkit forecast: warning: the series: filled missing values {'a': 2}") == 1
    season = "lstmkit forecast: warning: season: 1, as the data have no time column"
    assert err.count(season) == 1
    # not the file, line and source of the warning, and not again among the report's notes
    assert "UserWarning" not in err and "warnings.warn" not in err
    assert "note: season" not in out
    # run as a module too (its own copy of the module's globals: the notes came twice)
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "lstmkit.cli.main", "forecast", "run", "--config", str(config),
         "--data", str(csv), "--out", str(tmp_path / "module"), "--set", "data.fill=ffill",
         "--set", "data.time_col=null"], capture_output=True, text=True, check=True)
    assert done.stderr.count(season) == 1 and "note: season" not in done.stdout


def test_user_mistakes_are_one_line_without_a_traceback(
        csv_and_config: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmkit.cli.main import main

    monkeypatch.chdir(tmp_path)  # a run without --out writes forecast_run/ here, not in the repo

    csv, config = csv_and_config
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: {target: [a}\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for argv, message in (
            (["--config", str(broken)], "while parsing a flow"),
            (["--config", str(config), "--out", str(afile)], "File exists"),
            (["--config", str(config), "--set", "training.accelerator=gpu"], "gpu")):
        assert main(["forecast", "train", "--data", str(csv), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("lstmkit forecast: error: ") and message in err
        assert "Traceback" not in err


def test_the_report_says_where_its_forecasts_start() -> None:
    from lstmkit.cli.forecast import _origins

    dated = pd.DataFrame({"origin": [5, 9],
                          "origin_time": pd.to_datetime(["1996-05-04", "2000-01-01"])})
    assert _origins(dated) == ", first forecast steps from 1996-05-04 to 2000-01-01"
    rows = pd.DataFrame({"origin": [1999, 2010], "origin_time": [1999, 2010]})  # no time column
    assert _origins(rows) == ", first forecast steps from row 1999 to row 2010"


def test_printed_scores_keep_four_significant_digits() -> None:
    # rounded to 4 decimals, the errors of exchange rates all printed as 0.0001 or 0.0
    import pandas as pd

    from lstmkit.cli.forecast import table_text

    table = pd.DataFrame({"mse": [6.88e-05, 7.12e-05], "mape": [12.3456, 0.5]},
                         index=["lstmkit", "naive"])
    text = table_text(table)
    assert "6.88e-05" in text and "7.12e-05" in text and "12.35" in text
