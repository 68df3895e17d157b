"""``data.short_series``: a series too short for its part of the work is refused, or left out
with a warning that names it."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import make_config, make_frame

from lstmkit.forecasting import Forecaster


def _long(lengths: dict[str, int]) -> pd.DataFrame:
    """Series of the given lengths, all ending at the same time (a store opened late)."""
    parts = []
    for k, (sid, n) in enumerate(lengths.items()):
        frame = make_frame(n=240, seed=k).tail(n)
        parts.append(frame.assign(store=sid))
    return pd.concat(parts, ignore_index=True)


def _config(short_series: str = "skip", **data: object) -> object:
    base = make_config()
    return dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="store", short_series=short_series, **data))


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_a_series_too_short_to_train_on_is_refused_or_left_out() -> None:
    table = _long({"x": 240, "y": 240, "s": 40})  # s: 24 training rows, under 24 + 12
    # (the way to leave it out named: the error spoke only of shorter windows and splits)
    with pytest.raises(ValueError, match=r"^the training part of series 's' has 24 rows, "
                                         r"fewer than lookback \(24\) \+ horizon \(12\).*; "
                                         r"or set data.short_series to 'skip' \(--set "
                                         r"data.short_series=skip\) to leave such series out$"):
        Forecaster(_config("error")).fit(table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipped = Forecaster(_config()).fit(table)
    said = [m for m in _messages(caught) if "short_series" in m]
    assert said == ["data.short_series='skip': 1 of 3 series is too short to train on and "
                    "left out: series 's'; because the training part of series 's' "
                    "has 24 rows, fewer than lookback (24) + horizon (12) = 36: no training "
                    "window; reduce model.lookback, model.horizon, data.val or data.test"]
    # left out of everything training does: the scaling, the windows, the weights
    without = Forecaster(_config()).fit(table[table["store"] != "s"])
    assert skipped.scalers.to_dict() == without.scalers.to_dict()
    assert set(skipped.seen_until) == {"x", "y"}
    history = table[table["store"] != "s"]
    pd.testing.assert_frame_equal(skipped.predict(history), without.predict(history))
    # the model still forecasts the short series from its own history, as any other
    assert set(skipped.predict(table)["store"]) == {"x", "y", "s"}


def test_every_series_too_short_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^data.short_series='skip' leaves out every series "
                                         r"of the table, as too short: series 's', 't'; the "
                                         r"first because the training part of series 's'"):
        Forecaster(_config()).fit(_long({"s": 40, "t": 30}))
    # a split none of them can take
    with pytest.raises(ValueError, match=r"every series of the table, as too short: series "
                                         r"'s', 't'; the first because data.test=50 is a "
                                         r"number of rows, more than the 40 rows of series 's'"):
        Forecaster(_config(test=50)).fit(_long({"s": 40, "t": 30}))


def test_a_validation_part_shorter_than_a_horizon_gives_no_window() -> None:
    table = _long({"x": 240, "s": 120})
    config = _config(val=0.08)  # x: 19 validation rows, s: 9, under the horizon of 12
    with pytest.raises(ValueError, match=r"^the validation part of series 's' has 9 rows, "
                                         r"fewer than horizon \(12\).*; or set "
                                         r"data.short_series to 'skip'"):
        Forecaster(_config("error", val=0.08)).fit(table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Forecaster(config).fit(table)
    assert ("data.short_series='skip': series 's' has a validation part shorter than horizon "
            "(12), so no validation window") in _messages(caught)
    assert set(model.seen_until) == {"x", "s"}  # trained on all the same


def test_a_series_the_split_refuses_is_left_out_of_training_and_scoring() -> None:
    table = _long({"x": 240, "y": 240, "s": 40})
    with pytest.raises(ValueError, match=r"^data.test=50 is a number of rows, more than the "
                                         r"40 rows of series 's'.*; or set data.short_series "
                                         r"to 'skip'"):
        Forecaster(_config("error", test=50)).fit(table)
    with pytest.warns(UserWarning, match=r"1 of 3 series is too short to train on and left "
                                         r"out: series 's'; because data.test=50 is "
                                         r"a number of rows"):
        model = Forecaster(_config(test=50)).fit(table)
    assert set(model.seen_until) == {"x", "y"}
    with pytest.warns(UserWarning, match=r"series 's' is too short for the split and not "
                                         r"scored; because data.test=50"):
        report = model.evaluate(table)
    assert set(report.windows["series"]) == {"x", "y"}
    assert any("series 's' is too short for the split" in note for note in report.notes)
    # a backtest, refitting or not, leaves it out as well (the refits read the table too)
    for refit in (False, True):
        with pytest.warns(UserWarning, match="series 's' is too short for the split") as said:
            report = model.backtest(table, refit=refit, folds=2 if refit else None)
        assert set(report.windows["series"]) == {"x", "y"}
        # the warning points at the caller's line
        assert [w.filename for w in said if "too short" in str(w.message)] == [__file__]


def test_predict_leaves_out_a_series_shorter_than_the_lookback() -> None:
    table = _long({"x": 240, "y": 240})
    model = Forecaster(_config()).fit(table)
    history = pd.concat([table, make_frame(n=20, seed=5).assign(store="s")],
                        ignore_index=True)
    with pytest.warns(UserWarning, match=r"^data.short_series='skip': 1 of 3 series is too "
                                         r"short to forecast and left out: series 's'; "
                                         r"because series 's' has 20 rows, fewer than "
                                         r"lookback \(24\) needed to forecast$"):
        out = model.predict(history)
    pd.testing.assert_frame_equal(out, model.predict(table))
    with pytest.raises(ValueError, match=r"leaves out every series of the table, as too "
                                         r"short: series 's'"):
        model.predict(history[history["store"] == "s"])
    model.config = _config("error")
    with pytest.raises(ValueError, match=r"^series 's' has 20 rows, fewer than lookback "
                                         r"\(24\) needed to forecast; or set "
                                         r"data.short_series to 'skip' .* to leave such series "
                                         r"out$"):
        model.predict(history)


def test_future_rows_of_a_series_left_out_are_not_called_unknown() -> None:
    table = _long({"x": 240, "y": 240})
    config = _config(future_covariates=("hour",))
    model = Forecaster(config).fit(table)
    history = pd.concat([table, make_frame(n=20, seed=5).assign(store="s")],
                        ignore_index=True)
    later = pd.concat([make_frame(n=252, seed=k).tail(12).assign(store=sid)
                       for k, sid in enumerate(["x", "y"])]
                      + [make_frame(n=32, seed=5).tail(12).assign(store="s")],
                      ignore_index=True)[["date", "store", "hour"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.predict(history, future=later)
    said = _messages(caught)
    assert len(said) == 1 and "too short to forecast" in said[0]  # no "not in the data"
    assert set(out["store"]) == {"x", "y"}


def test_the_server_passes_predict_s_warnings_to_the_client(tmp_path: Path) -> None:
    from lstmkit.serving import ModelService

    table = _long({"x": 240, "y": 240})
    Forecaster(_config()).fit(table).save(tmp_path / "model")
    service = ModelService(tmp_path / "model")
    assert service.info()["short_series"] == "skip"
    rows = pd.concat([table, make_frame(n=20, seed=5).assign(store="s")])[
        ["date", "store", "a", "b"]].assign(date=lambda f: f["date"].astype(str))
    with warnings.catch_warnings(record=True) as caught:  # (the server logs them itself)
        warnings.simplefilter("always")
        answer = service.predict({"data": rows.to_dict(orient="records")})
    assert caught == []
    assert answer["warnings"] == [
        "data.short_series='skip': 1 of 3 series is too short to forecast and left out: "
        "series 's'; because series 's' has 20 rows, fewer than lookback (24) "
        "needed to forecast"]
    assert {row["store"] for row in answer["forecast"]} == {"x", "y"}
    # an answer with nothing to warn of holds none
    clean = service.predict({"data": rows[rows["store"] != "s"].to_dict(orient="records")})
    assert "warnings" not in clean and len(clean["forecast"]) == 2 * 12 * 2


def test_the_server_logs_a_warning_line_at_every_request_that_gives_one(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # (Python's warnings filters showed it at the first request only)
    import json
    import threading
    import urllib.request

    from lstmkit.serving import make_server

    table = _long({"x": 240, "y": 240})
    Forecaster(_config()).fit(table).save(tmp_path / "model")
    rows = pd.concat([table, make_frame(n=20, seed=5).assign(store="s")])[
        ["date", "store", "a", "b"]].assign(date=lambda f: f["date"].astype(str))
    server = make_server(tmp_path / "model", port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    body = json.dumps({"data": rows.to_dict(orient="records")}).encode()
    try:
        capfd.readouterr()
        for _ in range(3):
            with urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{server.server_address[1]}/predict", data=body)) as got:
                assert len(json.loads(got.read())["warnings"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    lines = [line for line in capfd.readouterr().err.splitlines() if "warning:" in line]
    assert len(lines) == 3 and all(line.startswith("127.0.0.1 - - [") and
                                   "too short to forecast and left out: series 's'" in line
                                   for line in lines), lines


def test_a_trained_model_is_given_the_setting_on_the_command_line(tmp_path: Path) -> None:
    import argparse

    from lstmkit.cli import forecast

    table = _long({"x": 240, "y": 240})
    Forecaster(_config("error")).fit(table).save(tmp_path / "model")
    csv = tmp_path / "history.csv"
    pd.concat([table, make_frame(n=20, seed=5).assign(store="s")]).to_csv(csv, index=False)

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        forecast.add_parser(parser)
        return forecast.run(parser.parse_args(list(argv)))

    out = tmp_path / "out"
    with pytest.raises(ValueError, match="series 's' has 20 rows, fewer than lookback"):
        run("predict", "--model", str(tmp_path / "model"), "--data", str(csv), "--out",
            str(out), "--no-progress")
    with pytest.warns(UserWarning, match="too short to forecast and left out: series 's'"):
        assert run("predict", "--model", str(tmp_path / "model"), "--data", str(csv),
                   "--out", str(out), "--no-progress", "--set", "data.short_series=skip") == 0
    assert set(pd.read_csv(out / "forecast.csv")["store"].astype(str)) == {"x", "y"}


def test_data_of_one_series_gets_the_plain_message() -> None:
    # without data.series_col there is one series, which messages call "the series", not
    # by the id "0" the user never gave it
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data,
                                                                short_series="skip"))
    with pytest.raises(ValueError, match=r"^the training part of the series has 24 rows, "
                                         r"fewer than lookback"):
        Forecaster(config).fit(make_frame(n=40))
    with pytest.raises(ValueError, match=r"^the series has 20 rows, fewer than lookback "
                                         r"\(24\) needed to forecast$"):
        Forecaster(config).fit(make_frame()).predict(make_frame(n=20))


def test_the_server_s_warnings_are_its_request_s_alone(tmp_path: Path) -> None:
    # another thread's warning while predict runs is not the client's, and the process'
    # warnings state is left as it was
    import threading

    from lstmkit.forecasting import forecaster as module
    from lstmkit.forecasting.data import warn
    from lstmkit.serving import ModelService

    table = _long({"x": 240, "y": 240})
    Forecaster(_config()).fit(table).save(tmp_path / "model")
    service = ModelService(tmp_path / "model")
    predict = module.Forecaster.predict

    def predict_beside_another_thread(self: Forecaster, *args: object, **kwargs: object):
        other = threading.Thread(target=lambda: (warn("another thread's"),
                                                 warnings.warn("another thread's too",
                                                               stacklevel=1)))
        other.start()
        other.join()
        return predict(self, *args, **kwargs)

    rows = pd.concat([table, make_frame(n=20, seed=5).assign(store="s")])[
        ["date", "store", "a", "b"]].assign(date=lambda f: f["date"].astype(str))
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch.setattr(module.Forecaster, "predict", predict_beside_another_thread)
        answer = service.predict({"data": rows.to_dict(orient="records")})
        again = service.predict({"data": rows.to_dict(orient="records")})
    assert len(answer["warnings"]) == 1 and "too short to forecast" in answer["warnings"][0]
    assert again["warnings"] == answer["warnings"]  # each time, whatever the filters show


def test_the_plot_of_a_series_left_out_is_said_before_the_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from lstmkit.cli import forecast

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        forecast.add_parser(parser)
        return forecast.run(parser.parse_args(list(argv)))

    table = _long({"x": 240, "y": 240, "s": 40})
    csv = tmp_path / "data.csv"
    table.to_csv(csv, index=False)
    flags = ["--data", str(csv), "--target", "a", "b", "--time-col", "date", "--series-col",
             "store", "--lookback", "24", "--horizon", "12", "--epochs", "1", "--no-progress",
             "--baselines", "naive", "--set", "data.short_series=skip", "--set",
             "data.test=50", "--set", "model.segment_len=6", "--set", "model.hidden_size=8"]
    with pytest.raises(ValueError, match=r"^--plot-series 's' is left out as too short "
                                         r"\(data.short_series='skip'\): "
                                         r"data.test=50 is a number of rows"):
        run("run", *flags, "--out", str(tmp_path / "run"), "--plot-series", "s")
    assert not (tmp_path / "run" / "model").exists()
    # as is a series the split keeps but with no training window
    short = tmp_path / "short.csv"
    _long({"x": 240, "y": 240, "s": 30}).to_csv(short, index=False)
    with pytest.raises(ValueError, match=r"^--plot-series 's' is left out as too short "
                                         r"\(data.short_series='skip'\): "
                                         r"series 's' has 30 rows, but lookback \(24\)"):
        run("run", "--data", str(short), *flags[2:flags.index("data.test=50") - 1],
            *flags[flags.index("data.test=50") + 1:], "--out", str(tmp_path / "run"),
            "--plot-series", "s")
    assert not (tmp_path / "run" / "model").exists()
    assert run("run", *flags, "--out", str(tmp_path / "run")) == 0
    # a trained model's evaluate learns of it only once the work is done: the metrics are
    # written, and the picture shows a series scored
    capsys.readouterr()
    assert run("evaluate", "--model", str(tmp_path / "run" / "model"), "--data", str(csv),
               "--out", str(tmp_path / "eval"), "--plot-series", "s", "--no-progress") == 0
    assert ("note: --plot-series 's' has no window scored, so forecast.png shows the last "
            "series that has") in capsys.readouterr().out
    assert (tmp_path / "eval" / "metrics.json").is_file()
    assert (tmp_path / "eval" / "forecast.png").is_file()


def test_the_setting_is_checked() -> None:
    with pytest.raises(ValueError, match=r"data.short_series must be one of \['error', "
                                         r"'skip'\], got 'drop'"):
        _config("drop")


def test_a_date_val_that_leaves_a_series_no_validation_rows_is_said() -> None:
    # the test parts (the last 20%) start at 2021-01-09 00:00 in x, 2021-01-10 00:00 in s: a
    # validation part from 2021-01-09 12:00 gives s 12 rows and x none (it said nothing)
    table = _long({"x": 240, "s": 120})
    split = {"val": "2021-01-09 12:00", "test": 0.2}
    message = ("data.val='2021-01-09 12:00' leaves series 'x' no validation rows (the other "
               "series have some): it is later than every row before its test part "
               "(data.test=0.2), so no validation window; it trains without validation (give "
               "an earlier date to validate it)")
    for mode in ("error", "skip"):  # (a series may end before the date: it is kept)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = Forecaster(_config(mode, **split)).fit(table)
        assert message in _messages(caught)
    assert set(model.seen_until) == {"x", "s"}  # trained on both all the same
    # a date that gives every series some validation rows says nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Forecaster(_config("error", val="2021-01-08 12:00", test=0.2)).fit(table)
    assert not [m for m in _messages(caught) if "validation" in m]


def test_one_series_too_short_is_not_told_to_skip_itself() -> None:
    with pytest.raises(ValueError, match=r"^the training part of series 's' has 24 rows, "
                                         r".*data.test$"):
        Forecaster(_config("error")).fit(_long({"s": 40}))


def test_a_series_whose_windows_are_all_filled_is_said_not_scored() -> None:
    # its windows were counted in the report's header, its scores empty, and nothing said so
    table = _long({"x": 240, "y": 240})
    rows = table.index[(table["store"] == "y")][-48:]  # y's test part, both targets
    table.loc[rows, ["a", "b"]] = np.nan
    model = Forecaster(_config(fill="ffill")).fit(table)
    with pytest.warns(UserWarning, match=r"^no observed target value in the windows of "
                                         r"series 'y' \(37 windows\): every value there was "
                                         r"filled by data.fill='ffill', so those windows are "
                                         r"counted but not scored$"):
        report = model.evaluate(table, baselines=())
    assert any(note.startswith("no observed target value in the windows of series 'y'")
               for note in report.notes)
    with warnings.catch_warnings(record=True) as caught:  # x alone: nothing said
        warnings.simplefilter("always")
        model.evaluate(table[table["store"] == "x"], baselines=())
    assert not [m for m in _messages(caught) if "no observed" in m]
