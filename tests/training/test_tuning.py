"""Tests of the Optuna search (lstmkit.training.tuning) and the forecaster's tuning on tiny data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
from lstmkit.forecasting import tuning as forecast_tuning
from lstmkit.training import TrainConfig
from lstmkit.training.tuning import check_space, tune

optuna = pytest.importorskip("optuna")


def _states(study: Any) -> list[str]:
    return [t.state.name for t in study.trials]


def test_an_invalid_trial_fails_with_its_reason_and_the_study_goes_on() -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        if params["x"] == 50:
            raise ValueError("lookback 50 is not a multiple of segment_len 8")
        return float(params["x"])

    study = tune(objective, {"x": ("choice", [56, 50])}, n_trials=8, seed=0)
    assert set(_states(study)) == {"COMPLETE", "FAIL"}
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert all(t.params["x"] == 50 for t in failed)
    assert failed[0].user_attrs["fail_reason"] == (
        "ValueError: lookback 50 is not a multiple of segment_len 8")
    assert study.best_params == {"x": 56}


def test_a_caught_failure_is_logged_in_one_line_without_its_traceback() -> None:
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    def objective(params: dict[str, Any], trial: Any) -> float:
        if params["x"] == 50:
            raise ValueError("lookback 50 is not a multiple of segment_len 8")
        if params["x"] == 60:
            raise KeyError("a bug")  # not caught: the study stops with its traceback
        return float(params["x"])

    handler = Keep()
    optuna_logger = logging.getLogger("optuna")
    optuna_logger.addHandler(handler)
    try:
        tune(objective, {"x": ("choice", [56, 50])}, n_trials=6, seed=0)
        failed = [r for r in records if "failed with parameters" in r.getMessage()]
        assert failed and "lookback 50 is not a multiple" in failed[0].getMessage()
        assert all(r.exc_info is None for r in failed)
        records.clear()
        with pytest.raises(KeyError, match="a bug"):
            tune(objective, {"x": ("choice", [60])}, n_trials=1, seed=0)
        assert [r.exc_info is not None for r in records
                if "failed with parameters" in r.getMessage()] == [True]
    finally:
        optuna_logger.removeHandler(handler)
    assert not logging.getLogger("optuna.study._optimize").filters  # removed after the study


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_score_fails_the_trial(value: float) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        return value if params["x"] == 2 else float(params["x"])

    study = tune(objective, {"x": ("choice", [1, 2])}, n_trials=6, seed=0)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed and all(t.params["x"] == 2 for t in failed)
    assert failed[0].user_attrs["fail_reason"] == f"the objective returned {value}"
    assert study.best_value == 1.0


def test_no_completed_trial_is_an_error_listing_the_reasons() -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        if params["x"] == 1:
            raise TypeError("bad type")
        raise ValueError("bad value")

    with pytest.raises(ValueError, match=r"no trial completed \(6 failed, 0 pruned\); reasons: "
                                         r"\['TypeError: bad type', 'ValueError: bad value'\]"):
        tune(objective, {"x": ("choice", [1, 2])}, n_trials=6, seed=0)


def test_other_exceptions_still_stop_the_study() -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        raise RuntimeError("a real bug")

    with pytest.raises(RuntimeError, match="a real bug"):
        tune(objective, {"x": ("choice", [1, 2])}, n_trials=3)


@pytest.mark.parametrize(("entry", "message"), [
    (("int", 8, 16, 0), r"step must be an int in \[1, high - low\] = \[1, 8\], got 0"),
    (("int", 8, 16, 32), r"step must be an int in \[1, high - low\] = \[1, 8\], got 32"),
    (("int", 8, 16, 2.0), r"step must be an int .* got 2.0"),
    (("int", 8.5, 16), r"low and high of an 'int' entry must be ints, got 8.5 and 16"),
    (("int", 8, "16"), r"must be ints, got 8 and '16'"),
    (("choice", "pmf"), r"must be \('choice', \[options\]\) with a non-empty list"),
    (("choice", []), r"must be \('choice', \[options\]\) with a non-empty list"),
    (("log", "1e-4", "fast"), r"space\['k'\] = .*: low and high of a 'log' entry must be "
                              r"numbers \(or numeric strings such as '1e-4'\), got '1e-4' and "
                              r"'fast'"),
    (("float", None, 1.0), r"must be numbers .* got None and 1.0"),
    (("float", 0.0, math.nan), r"low and high must be finite with low < high"),
    (("log", "1e-2", "1e-4"), r"low < high, got 0.01 and 0.0001"),
    (("log", 0.0, 1.0), r"low must be > 0"),
    # Optuna cut [32, 100] step 32 to [32, 96] with a warning: 100 was never tried
    (("int", 32, 100, 32), r"high - low = 68 is not a multiple of step 32, so 100 could never "
                           r"be tried; use high = 96 or 128"),
    (("choice", ["pmf", "direct", "pmf"]), r"the option 'pmf' is there more than once"),
])
def test_check_space_rejects(entry: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_space({"k": entry})


def test_check_space_converts_numeric_strings_of_float_entries() -> None:
    # YAML 1.1 (PyYAML) reads 1e-4 as the string '1e-4'
    space = check_space({"lr": ["log", "1e-4", "1e-2"], "p": ("float", 0, "0.5"),
                         "n": ("int", 8, 16), "c": ("choice", ("a", "b"))})
    assert space == {"lr": ("log", 1e-4, 1e-2), "p": ("float", 0.0, 0.5),
                     "n": ("int", 8, 16, 1), "c": ("choice", ["a", "b"])}
    study = tune(lambda params, trial: params["lr"], {"lr": ("log", "1e-4", "1e-2")},
                 n_trials=2)
    assert 1e-4 <= study.best_value <= 1e-2


# the forecaster's tuning ----------------------------------------------------------------------

def _frame(n: int = 160) -> pd.DataFrame:
    t = np.arange(n)
    rng = np.random.default_rng(0)
    return pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="h"),
                         "a": np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(n)})


def _config(**training: Any) -> ForecastConfig:
    return ForecastConfig(
        data=DataConfig(target=("a",), time_col="date", val=0.25, test=0.2),
        model=ModelConfig(lookback=24, horizon=6, segment_len=6, hidden_size=8),
        training=TrainConfig(**{"max_epochs": 1, "progress_bar": False, "accelerator": "cpu",
                                "devices": 1, **training}),
        batch_size=32, min_epoch_batches=0)


class _Recording(Forecaster):
    """A Forecaster that records the configuration of every trial."""

    configs: ClassVar[list[ForecastConfig]] = []

    def __init__(self, config: ForecastConfig) -> None:
        _Recording.configs.append(config)
        super().__init__(config)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[ForecastConfig]:
    _Recording.configs = []
    monkeypatch.setattr(forecast_tuning, "Forecaster", _Recording)
    return _Recording.configs


def test_tune_forecaster_goes_on_after_an_invalid_lookback(
        recording: list[ForecastConfig]) -> None:
    space = {"model.lookback": ("choice", [24, 20])}  # 20 is no multiple of segment_len 6
    best, study = forecast_tuning.tune_forecaster(_config(), _frame(), space, n_trials=4, seed=0)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed and all(t.params["model.lookback"] == 20 for t in failed)
    assert "segment_len" in failed[0].user_attrs["fail_reason"]
    assert "COMPLETE" in _states(study)
    assert best.model.lookback == 24


def test_tune_forecaster_checks_the_keys_before_any_trial(
        recording: list[ForecastConfig]) -> None:
    space = {"model.hidden": ("int", 8, 16), "training.lr": ("log", 1e-3, 1e-2)}
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['model.hidden'\] in the search "
                                         r"space; valid keys: \[.*'model.hidden_size'.*\]"):
        forecast_tuning.tune_forecaster(_config(), _frame(), space, n_trials=1)
    assert recording == []
    forecast_tuning.check_space_keys(_config(), {"model.lstm.zoneout": ("float", 0.0, 0.2),
                                                 "batch_size": ("int", 8, 32, 8)})
    # a misspelt LSTM option too, before any trial trains
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['model.lstm.zonout'\] .* an "
                                         r"option of \[.*'zoneout'"):
        forecast_tuning.tune_forecaster(_config(), _frame(),
                                        {"model.lstm.zonout": ("float", 0.0, 0.2)}, n_trials=1)
    assert recording == []


def test_keys_that_do_not_change_what_a_trial_learns_are_not_tuned() -> None:
    # folders and devices: the trials wrote into them and the final run kept them, outside
    # --out; evaluation.*: no validation loss depends on it
    # (and fast_dev_run: a test run of one batch, whose scores say nothing)
    for key in ("training.checkpoint_dir", "training.devices", "training.fast_dev_run"):
        with pytest.raises(ValueError, match=r"the search space varies \['" + key + r"'\], "
                                             r"which say where or how a run goes"):
            forecast_tuning.check_space_keys(_config(), {key: ("choice", ["a", "b"])})
    with pytest.raises(ValueError, match=r"varies evaluation.stride, which scores the test part "
                                         r"after training"):
        forecast_tuning.check_space_keys(_config(), {"evaluation.stride": ("int", 1, 4)})
    # the keys listed as valid are those a search may vary
    with pytest.raises(ValueError, match=r"unknown key\(s\)") as caught:
        forecast_tuning.check_space_keys(_config(), {"model.hidden": ("int", 8, 16)})
    listed = str(caught.value)
    assert "'training.lr'" in listed and "'model.hidden_size'" in listed
    assert not any(f"'{key}" in listed for key in ("data.", "evaluation.", "model.loss",
                                                    "training.log_dir", "training.devices"))


def test_trials_failing_alike_stop_the_search_early(tmp_path: Path) -> None:
    calls = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        calls.append(params["x"])
        raise ValueError("training.limit_val_batches=0 leaves no validation score")

    csv = tmp_path / "tuning.csv"
    with pytest.raises(ValueError, match=r"^3 trials failed for one reason and none completed, "
                                         r"although each key of the space that can vary took "
                                         r"more than one value among them, .*: ValueError: "
                                         r"training.limit_val_batches=0 .*; fix it before "
                                         r"tuning"):
        tune(objective, {"x": ("int", 1, 100)}, n_trials=50, seed=0, trials_csv=csv)
    assert len(calls) == 3 and len(pd.read_csv(csv)) == 3
    # a key that cannot vary does not keep the search going
    calls.clear()
    with pytest.raises(ValueError, match=r"^3 trials failed for one reason"):
        tune(objective, {"x": ("int", 1, 100), "decoder": ("choice", ["pmf"])}, n_trials=50,
             seed=0)
    assert len(calls) == 3

    # one reason, but a value of a key common to the failures may cause it (a choice the
    # configuration refuses, with a fixed message): the search goes on and finds the rest
    def refused(params: dict[str, Any], trial: Any) -> float:
        if params["normalization"] == "none":
            raise ValueError("model.mean_reversion needs a per-window level")
        return params["lr"]

    space = {"normalization": ("choice", ["none", "last"]), "lr": ("log", 1e-4, 1e-2)}
    for seed in range(8):  # some seeds begin with three 'none' trials
        study = tune(refused, space, n_trials=12, seed=seed)
        assert len(study.trials) == 12

    def varied(params: dict[str, Any], trial: Any) -> float:  # failures of their values
        raise ValueError(f"x={params['x']} is too small")

    with pytest.raises(ValueError, match=r"^no trial completed \(6 failed"):  # all 6 ran
        tune(varied, {"x": ("int", 1, 100)}, n_trials=6, seed=0)


def test_the_trials_are_written_as_each_ends_and_an_interruption_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "tuning.csv"

    def objective(params: dict[str, Any], trial: Any) -> float:
        if trial.number == 2:
            raise KeyboardInterrupt
        return float(params["x"])

    with pytest.raises(KeyboardInterrupt):
        tune(objective, {"x": ("int", 1, 9)}, n_trials=5, seed=0, trials_csv=csv)
    assert pd.read_csv(csv)["state"].tolist() == ["COMPLETE", "COMPLETE"]
    import logging

    with pytest.raises(FileNotFoundError, match=r"trials_csv '.*nowhere.*': its folder does "
                                                r"not exist"):
        tune(objective, {"x": ("int", 1, 9)}, n_trials=5, trials_csv=tmp_path / "nowhere" / "t")
    assert not logging.getLogger("optuna.study._optimize").filters  # none left behind
    assert capsys.readouterr().err.startswith(
        f"tuning interrupted after 2 finished trial(s) of 5 (in {csv})")


def test_under_ddp_one_process_says_a_search_was_interrupted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import lstmkit.training.tuning as tuning

    def objective(params: dict[str, Any], trial: Any) -> float:
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "is_first_process", lambda: False)  # another process
    verbosity = optuna.logging.get_verbosity()  # (which such a process lowers)
    try:
        with pytest.raises(KeyboardInterrupt):
            tune(objective, {"x": ("int", 1, 9)}, n_trials=5, seed=0)
    finally:
        optuna.logging.set_verbosity(verbosity)
    assert "tuning interrupted" not in capsys.readouterr().err


def test_the_tuners_seed_their_sampler_with_training_seed_by_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the Python tuners drew with seed 0 whatever training.seed said (the command line
    # passed training.seed)
    import lstmkit.text.tuning as text_tuning
    from lstmkit.classification import Classifier, ClassifierConfig, Example

    seeds: list[Any] = []

    def recorded(objective: Any, space: Any, **kwargs: Any) -> None:
        seeds.append(kwargs["seed"])
        raise KeyboardInterrupt  # (no trial is needed)

    for module in (forecast_tuning, text_tuning):
        monkeypatch.setattr(module, "tune", recorded)
    space = {"training.lr": ("log", 1e-3, 1e-2)}
    for kwargs in ({}, {"seed": 3}, {"seed": None}):
        with pytest.raises(KeyboardInterrupt):
            forecast_tuning.tune_forecaster(_config(seed=7), _frame(), space, **kwargs)
        with pytest.raises(KeyboardInterrupt):
            text_tuning.tune_text(Classifier, ClassifierConfig(), TrainConfig(seed=11),
                                  [Example("a", "x")], [Example("b", "y")], space, **kwargs)
    assert seeds == [7, 11, 3, 3, None, None]
    monkeypatch.undo()  # (a seed not checked would run a search, not stop the session)
    with pytest.raises(TypeError, match=r"seed must be an int or None, got 'seven'"):
        tune(lambda params, trial: 0.0, space, seed="seven")  # type: ignore[arg-type]
    # -1 failed inside Optuna's sampler, 2**32 in NumPy: "Seed must be between 0 and 2**32 - 1"
    for seed in (-1, 2**32):
        with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*32 - 1\] or None, "
                                             rf"got {seed}$"):
            tune(lambda params, trial: 0.0, space, seed=seed, n_trials=1)
    with pytest.raises(ValueError, match=r"or None, got a negative int of 401 digits$"):
        tune(lambda params, trial: 0.0, space, seed=-10**400, n_trials=1)
    # an objective that is no function failed every trial with "object is not callable"
    with pytest.raises(TypeError, match=r"objective must be a function objective\(params, "
                                        r"trial\) -> score, got int 5"):
        tune(5, space, n_trials=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"seed must be an int, None or 'training.seed' \(the "
                                        r"default\), got 'training_seed'"):
        forecast_tuning.tune_forecaster(_config(), _frame(), space, seed="training_seed")


def test_the_end_of_a_search_stopped_by_its_timeout_is_said(
        capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from lstmkit.training.tuning import print_tuning_end

    study = SimpleNamespace(trials=[1, 2], best_params={"x": 3})
    print_tuning_end(study, SimpleNamespace(tune=10, tune_timeout=60.0), "best loss 0.1",
                     Path("out/tuning.csv"))
    assert capsys.readouterr().out.splitlines() == [
        "tuning: --tune-timeout 60 s stopped the search after 2 of 10 trials",
        "best loss 0.1 with {'x': 3}; all trials in out/tuning.csv"]


def test_the_default_space_keeps_what_the_command_line_gives(
        capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from lstmkit.text.io import command_line_keys
    from lstmkit.training.tuning import without_given

    space = {"training.lr": ("log", 1e-4, 1e-2), "model.hidden_size": ("int", 32, 256, 32)}
    # --lr 0.01 --tune 20: the search replaced the given rate, silently
    args = SimpleNamespace(lr=0.01, hidden_size=None, set=["model.dropout=0.3"])
    given = command_line_keys(args, {"lr": ("training", "lr"),
                                     "hidden_size": ("model", "hidden_size")})
    assert given == {"training.lr", "model.dropout"}
    assert without_given(space, given) == {"model.hidden_size": ("int", 32, 256, 32)}
    assert capsys.readouterr().out == "tuning: ['training.lr'] stay as given on the command line\n"
    # a key of the --config file the search varies is said (it was replaced silently)
    without_given(space, given, {"model.hidden_size", "model", "data.train"})
    assert capsys.readouterr().out == (
        "tuning: ['training.lr'] stay as given on the command line\n"
        "tuning: the search varies ['model.hidden_size'], which --config gives: its values are "
        "replaced by the best found (give a value with a flag or --set to keep it)\n")
    with pytest.raises(ValueError, match=r"every key of the default search space, "
                                         r"\['model.hidden_size', 'training.lr'\], is given"):
        without_given(space, {"training.lr", "model.hidden_size"})


def test_tune_forecaster_trials_write_no_checkpoints_or_logs(
        tmp_path: Path, recording: list[ForecastConfig]) -> None:
    config = _config(checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs",
                     progress_bar=True)
    best, study = forecast_tuning.tune_forecaster(
        config, _frame(), {"training.lr": ("log", 1e-3, 1e-2)}, n_trials=2)
    assert len(recording) == 2
    assert all(c.training.checkpoint_dir is None and c.training.log_dir is None
               and c.training.progress_bar is False for c in recording)
    assert list(tmp_path.iterdir()) == []
    assert best.training.checkpoint_dir == str(tmp_path / "ckpt")
    assert best.training.log_dir == str(tmp_path / "logs")
    assert best.training.progress_bar is True
    assert best.training.lr == study.best_params["training.lr"]


def test_tuning_in_several_processes_is_seeded_and_counted_in_trials(tmp_path: Path) -> None:
    from lstmkit.training.tuning import check_tuning_processes

    one = TrainConfig(accelerator="cpu")
    check_tuning_processes(one, seed=None, timeout_s=5.0, storage="sqlite:///x.db")
    several = TrainConfig(strategy="ddp", devices=2, accelerator="cpu")
    check_tuning_processes(several, seed=0, timeout_s=None, storage=None)
    where = r"tuning in several processes \(training\.strategy='ddp', training\.devices=2"
    with pytest.raises(ValueError, match=where + r".*needs a seeded search.*got None"):
        check_tuning_processes(several, seed=None, timeout_s=None, storage=None)
    with pytest.raises(ValueError, match=r"takes no time limit \(--tune-timeout, "
                                         r"timeout_s=5\.0\)"):
        check_tuning_processes(several, seed=0, timeout_s=5.0, storage=None)
    with pytest.raises(ValueError, match=r"takes no storage \('sqlite:///x\.db'\)"):
        check_tuning_processes(several, seed=0, timeout_s=None, storage="sqlite:///x.db")
    # said by the applications' searches before any trial
    with pytest.raises(ValueError, match="needs a seeded search"):
        forecast_tuning.tune_forecaster(_config(strategy="ddp", devices=2), _frame(),
                                        {"training.lr": ("log", 1e-4, 1e-2)}, seed=None)


def test_a_stored_study_is_continued_only_the_way_it_was_created(tmp_path: Path) -> None:
    import warnings

    store = f"sqlite:///{tmp_path / 'study.db'}"
    space = {"a": ("float", 0.0, 1.0)}
    tune(lambda p, t: p["a"], space, n_trials=2, storage=store, study_name="s")
    # Optuna loaded the minimising study and went on minimising, without a word
    with pytest.raises(ValueError, match=r"the stored study 's' was created to minimize its "
                                         r"score, but direction='maximize' was asked"):
        tune(lambda p, t: p["a"], space, n_trials=1, direction="maximize", storage=store,
             study_name="s")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same space: nothing said, whatever else the
        # objective draws itself
        study = tune(lambda p, t: p["a"] + t.suggest_float("b", 0.0, 1.0), space, n_trials=1,
                     storage=store, study_name="s")
        study = tune(lambda p, t: p["a"], space, n_trials=1, storage=store, study_name="s")
    assert len(study.trials) == 4
    with pytest.warns(UserWarning, match=r"the stored study 's' has trials drawn from another "
                                         r"search space for \['a'\]"):
        tune(lambda p, t: p["a"], {"a": ("float", 0.0, 2.0)}, n_trials=1, storage=store,
             study_name="s")


def test_a_seeded_stored_study_continued_draws_new_trials(tmp_path: Path) -> None:
    # its sampler was seeded as the first session's: it drew the same trials again
    store = f"sqlite:///{tmp_path / 'study.db'}"
    space = {"a": ("float", 0.0, 1.0), "b": ("int", 1, 1000)}

    def drawn(path: str) -> list[tuple[float, int]]:
        study = tune(lambda p, t: p["a"], space, n_trials=3, seed=0, storage=path,
                     study_name="s")
        return [(t.params["a"], t.params["b"]) for t in study.trials]

    first = drawn(store)
    both = drawn(store)
    assert both[:3] == first and not set(both[3:]) & set(first)
    # the same study continued from the same trials draws the same
    again = f"sqlite:///{tmp_path / 'again.db'}"
    drawn(again)
    assert drawn(again) == both


def test_a_pruned_trial_says_the_epoch_counted_from_one() -> None:
    import types

    import optuna
    import torch

    from lstmkit.training.tuning import PruneOnValidation

    reported: list[tuple[float, int]] = []
    trial = types.SimpleNamespace(report=lambda v, step: reported.append((v, step)),
                                  should_prune=lambda: True)
    trainer = types.SimpleNamespace(sanity_checking=False, current_epoch=1, max_epochs=3,
                                    callback_metrics={"val_loss": torch.tensor(0.5)})
    with pytest.raises(optuna.TrialPruned, match=r"pruned after epoch 2 with val_loss=0.5"):
        PruneOnValidation(trial).on_validation_end(trainer, None)  # type: ignore[arg-type]
    assert reported == [(0.5, 1)]  # Optuna's steps stay the trainer's epochs
    # the last epoch's check is reported, not pruned: the trial is done, and pruned, its
    # finished result was left out of the choice of the best
    trainer.current_epoch = 2
    trainer.callback_metrics = {"val_loss": torch.tensor(0.35)}
    PruneOnValidation(trial).on_validation_end(trainer, None)  # type: ignore[arg-type]
    assert reported[-1] == (0.35, 2)  # float32's 0.35 as such, not 0.3499999940395355

    class OnDevice:  # a GPU's metric, which NumPy cannot read (it is still on the device)
        dtype = torch.float32

        def item(self) -> float:
            return float(torch.tensor(0.25, dtype=torch.float32))

        def __array__(self, *args: object, **kwargs: object) -> None:
            raise TypeError("can't convert cuda:0 device type tensor to numpy")

    trainer.callback_metrics = {"val_loss": OnDevice()}
    PruneOnValidation(trial).on_validation_end(trainer, None)  # type: ignore[arg-type]
    assert reported[-1] == (0.25, 2)


def test_list_and_mapping_options_are_stored_without_optunas_warning_on_every_trial(
        tmp_path: Path) -> None:
    import warnings

    store = f"sqlite:///{tmp_path / 'study.db'}"
    space = {"model.lstm.zoneout": ("choice", [[0.1, 0.0], [0.0, 0.1]]),
             "model.lstm": ("choice", [{}, {"peephole": True}])}

    def objective(params: dict[str, Any], trial: Any) -> float:
        return params["model.lstm.zoneout"][0] + len(params["model.lstm"])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warned dozens of times per trial
        tune(objective, space, n_trials=2, storage=store, study_name="s")
        study = tune(objective, space, n_trials=1, storage=store, study_name="s")  # read back
    assert len(study.trials) == 3 and study.best_params in [
        {"model.lstm.zoneout": z, "model.lstm": lstm}
        for z in ([0.1, 0.0], [0.0, 0.1]) for lstm in ({}, {"peephole": True})]
    with pytest.raises(ValueError, match=r"space\['k'\]: the option <object .*> is not JSON "
                                         r"data .* which a study kept in storage cannot hold"):
        tune(lambda p, t: 1.0, {"k": ("choice", [object(), 1])}, n_trials=1, storage=store,
             study_name="t")


def test_a_search_is_drawn_with_its_best_so_far(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import optuna

    from lstmkit.training.tuning import best_so_far, plot_trials

    nan = math.nan
    assert best_so_far([0.5, nan, 0.7, 0.2], "maximize")[2:] == [0.7, 0.7]
    assert best_so_far([nan, 0.5, 0.7, 0.2], "minimize")[1:] == [0.5, 0.5, 0.2]
    assert math.isnan(best_so_far([nan], "minimize")[0])

    def objective(params: dict[str, Any], trial: Any) -> float:
        trial.report(params["x"], step=0)
        if trial.number == 1:
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise ValueError("an invalid combination")  # failed, counted in the title
        return params["x"]

    study = tune(objective, {"x": ("float", 0.0, 1.0)}, n_trials=5, direction="maximize")
    path = plot_trials(study, tmp_path / "tuning.png", "dev accuracy")
    assert path == tmp_path / "tuning.png" and path.read_bytes()[:4] == b"\x89PNG"
    # a picture that cannot be written is said; the run goes on to train the best
    from lstmkit.training.tuning import say_drawn

    (tmp_path / "blocked.png").mkdir()
    capsys.readouterr()
    say_drawn(study, tmp_path / "blocked.png", "dev accuracy")
    assert "tuning: the search could not be drawn in" in capsys.readouterr().err


def test_a_stored_study_takes_only_options_that_read_back_the_same(tmp_path: Path) -> None:
    # a tuple came back a list, a number key text: the objective's value was not the stored
    store = f"sqlite:///{tmp_path / 'study.db'}"
    for option in [(0.1, 0.0), {1: "a"}]:
        with pytest.raises(ValueError, match=r"is not JSON data that reads back the same"):
            tune(lambda p, t: 1.0, {"k": ("choice", [option, [0.0]])}, n_trials=1,
                 storage=store, study_name="s")


def test_log_trials_false_keeps_optunas_trial_lines_out_of_the_call(
        caplog: pytest.LogCaptureFixture) -> None:
    # --no-progress left Optuna's "[I ...] Trial 0 finished" lines on stderr
    def objective(params: dict[str, Any], trial: Any) -> float:
        return float(params["x"])

    def said() -> bool:
        return any("Trial 0 finished" in r.getMessage() for r in caplog.records)

    space = {"x": ("int", 0, 9)}
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        with caplog.at_level("INFO", logger="optuna"):
            tune(objective, space, n_trials=2, log_trials=False)
            assert not said()
            assert optuna.logging.get_verbosity() == optuna.logging.INFO  # (restored after)
            tune(objective, space, n_trials=2)
            assert said()
    finally:
        optuna.logging.set_verbosity(before)
