"""What the text applications share: the monitor they train on, seeds, argument checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lstmkit.classification import ClassifierConfig
from lstmkit.tagging import TaggerConfig
from lstmkit.text.fitting import effective_training
from lstmkit.training import TrainConfig


@pytest.mark.parametrize("metric", ["accuracy", "f1"])
@pytest.mark.parametrize("dev_monitor", [None, True, False])
def test_a_higher_is_better_dev_metric_is_monitored_in_max_mode(metric: str,
                                                                dev_monitor: bool | None
                                                                ) -> None:
    named = TrainConfig(monitor=f"val_{metric}")  # monitor_mode left at its default "min"
    for has_dev in (True, False):
        used = effective_training(named, has_dev=has_dev, dev_monitor=dev_monitor,
                                  metric=metric)
        assert (used.monitor, used.monitor_mode) == (f"val_{metric}", "max")
    # the default monitor, substituted with dev data
    used = effective_training(TrainConfig(), has_dev=True, dev_monitor=None, metric=metric)
    assert (used.monitor, used.monitor_mode) == (f"val_{metric}", "max")
    # val_loss kept as given, in its own mode
    kept = effective_training(TrainConfig(), has_dev=True, dev_monitor=False, metric=metric)
    assert (kept.monitor, kept.monitor_mode) == ("val_loss", "min")


def test_member_seeds_follow_the_seed_or_are_fresh_without_one() -> None:
    from lstmkit.training.members import member_seed

    assert [member_seed(5, m) for m in range(3)] == [5, 6, 7]
    fresh = {member_seed(None, 0) for _ in range(5)}
    assert len(fresh) > 1 and all(isinstance(s, int) and s >= 0 for s in fresh)


def test_a_drawn_member_seed_follows_torchs_global_seed() -> None:
    import torch

    from lstmkit.training.members import member_seed

    torch.manual_seed(3)
    first = [member_seed(None, m) for m in range(2)]
    torch.manual_seed(3)
    assert [member_seed(None, m) for m in range(2)] == first


@pytest.mark.parametrize("config_class", [ClassifierConfig, TaggerConfig])
def test_numpy_lstm_options_are_stored_as_python_values_that_save(config_class) -> None:
    import json

    import numpy as np

    # a value the LSTM refuses is an error when the configuration is made, named as the
    # config file and --set write it
    with pytest.raises(TypeError, match=r"^model.lstm: peephole must be a bool \(or 0 or 1\), "
                                        r"got str 'yes'"):
        config_class(lstm={"peephole": "yes"})
    # (forget_bias and chrono init do not combine: an error since the values are checked)
    config = config_class(lstm={"recurrent_dropout": np.float32(0.5), "init": "chrono",
                                "chrono_max_len": np.int64(8), "peephole": np.bool_(True),
                                "zoneout": [np.float64(0.25), 0.0]})
    assert config.lstm == {"recurrent_dropout": 0.5, "init": "chrono", "chrono_max_len": 8,
                           "peephole": True, "zoneout": [0.25, 0.0]}
    assert type(config.lstm["chrono_max_len"]) is int
    assert type(config.lstm["recurrent_dropout"]) is float and config.lstm["peephole"] is True
    assert config_class.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("config_class", [ClassifierConfig, TaggerConfig])
def test_sizes_past_the_lstms_bounds_are_refused_when_the_config_is_made(config_class
                                                                          ) -> None:
    # (accepted, and the LSTM refused it only when the model was made)
    with pytest.raises(ValueError, match=r"^num_layers must be an int in \[1, 10000\], got "
                                         r"10001$"):
        config_class(num_layers=10_001)
    assert config_class(num_layers=10_000).num_layers == 10_000
    # (accepted; the LSTM failed inside torch when the model was made)
    with pytest.raises(ValueError, match=r"^model.hidden_size is too large: an LSTM must have "
                                         r"fewer than 2\*\*60 parameters .* from input_size=1, "
                                         r"hidden_size=4611686018427387904$"):
        config_class(hidden_size=2**62)


def test_a_character_lstm_past_the_bounds_is_refused_when_the_config_is_made() -> None:
    # (accepted, and the LSTM refused it only when the model was made)
    with pytest.raises(ValueError, match=r"^char_dim=25, char_hidden=4611686018427387904 \(the "
                                         r"character LSTM's input_size, hidden_size\) are too "
                                         r"large: an LSTM must have fewer than 2\*\*60 "
                                         r"parameters .* from input_size=25, "
                                         r"hidden_size=4611686018427387904, bidirectional=True$"):
        TaggerConfig(char_hidden=2**62)
    with pytest.raises(ValueError, match=r"^char_dim=4611686018427387904, char_hidden=25 "):
        TaggerConfig(char_dim=2**62)
    assert TaggerConfig(char_encoder="cnn", char_hidden=2**40).char_hidden == 2**40


def test_text_list_reads_any_iterable_once_by_position() -> None:
    import pandas as pd

    from lstmkit.text.inputs import text_list

    assert text_list(t for t in ["a", "b"]) == ["a", "b"]
    series = pd.Series(["x", "y", "z"], index=[3, 1, 2])
    assert text_list(series) == ["x", "y", "z"]
    with pytest.raises(TypeError, match=r"texts must be a sequence of str \(a list\), got a single "
                                        r"str 'abc'; for one, pass it in a list"):
        text_list("abc")
    with pytest.raises(TypeError, match=r"texts must be a sequence of str \(a list\), got int 3"):
        text_list(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got float nan"):
        text_list(["a", float("nan")])  # type: ignore[list-item]


@pytest.mark.parametrize(("config", "name"), [
    (ClassifierConfig, "lowercase"), (ClassifierConfig, "freeze_embeddings"),
    (ClassifierConfig, "bidirectional"), (TaggerConfig, "lowercase"),
    (TaggerConfig, "freeze_embeddings"), (TaggerConfig, "casing"),
    (TaggerConfig, "bidirectional"),
])
def test_boolean_model_options_must_be_true_or_false(config: type, name: str) -> None:
    # (a TypeError, as a wrong kind of value is elsewhere: a search space's check finds it)
    for bad in ("false", "no", 0, None):
        with pytest.raises(TypeError, match=rf"{name} must be true or false, got "
                                            rf"{type(bad).__name__} {bad!r}"):
            config(**{name: bad, "vectors": "v.txt"})
    assert getattr(config(**{name: False, "vectors": "v.txt"}), name) is False
    with pytest.raises(TypeError, match=rf"{name} must be true or false"):
        config.from_dict({name: "false"})


@pytest.mark.parametrize("config", [ClassifierConfig, TaggerConfig])
def test_freezing_embeddings_needs_vectors(config: type) -> None:
    with pytest.raises(ValueError, match=r"freeze_embeddings=True needs vectors \(it keeps "
                                         r"pretrained embeddings fixed; random ones would never "
                                         r"train\), got vectors=None"):
        config(freeze_embeddings=True)
    assert config(freeze_embeddings=True, vectors="v.txt").freeze_embeddings is True


def test_docs_give_each_application_its_word_dropout_default() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "text.md").read_text(encoding="utf-8")
    assert "`word_dropout` (default 0.1)" not in docs  # shared text, but the tagger's is 0.05
    assert (f"`word_dropout` (default {ClassifierConfig().word_dropout} for the classifier, "
            f"{TaggerConfig().word_dropout} for the tagger)") in docs.replace("\n", " ")



def test_a_seed_whose_last_ensemble_member_passes_the_limit_is_refused_before_training(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import lstmkit.training
    from lstmkit.classification import Classifier, Example
    from lstmkit.tagging import Sentence, Tagger
    from lstmkit.training.config import MAX_SEED
    from lstmkit.training.members import check_member_seeds

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member trained")

    monkeypatch.setattr(lstmkit.training, "fit", no_training)
    seed = MAX_SEED - 1  # member 1's seed is the limit itself, member 2's is past it
    why = (rf"training.seed={seed} with model.ensemble=3 gives member 2 the seed {MAX_SEED + 1}"
           rf", past {MAX_SEED} .*use training.seed <= {MAX_SEED - 2}")
    training = TrainConfig(max_epochs=1, progress_bar=False, seed=seed)
    texts = [Example(f"w{i % 3} x", str(i % 2)) for i in range(8)]
    with pytest.raises(ValueError, match=why):
        Classifier(ClassifierConfig(ensemble=3), training).fit(texts)
    sentences = [Sentence(["w", "x"], ["O", "B-PER"]) for _ in range(8)]
    with pytest.raises(ValueError, match=why):
        Tagger(TaggerConfig(ensemble=3), training).fit(sentences)
    check_member_seeds(MAX_SEED - 2, 3)  # the limit itself is the last member's seed
    check_member_seeds(MAX_SEED, 1)
    check_member_seeds(None, 3)


def test_two_saves_into_one_folder_take_turns(tmp_path: Path) -> None:
    import json
    import threading
    import time

    from lstmkit.text.saving import write_saved

    started = threading.Event()

    def writer(tag: str, pause: float) -> object:
        def write(path: Path) -> None:
            path.write_text(tag)
            started.set()
            time.sleep(pause)
        return write

    def save(tag: str, pause: float) -> None:
        write_saved(tmp_path, {name: writer(tag, pause) for name in ("a", "b", "c")},
                    {"kind": tag})

    failed: list[BaseException] = []

    def save_first() -> None:
        try:
            save("first", 0.2)
        except BaseException as err:
            failed.append(err)

    slow = threading.Thread(target=save_first)
    slow.start()
    started.wait(10)
    # a second save while the first writes: unguarded, the two wrote over each other's
    # files as they went (here the first failed, its file moved away under it)
    save("second", 0.0)
    slow.join(10)
    assert not failed, failed
    written = {name: (tmp_path / name).read_text() for name in ("a", "b", "c")}
    kind = json.loads((tmp_path / "meta.json").read_text())["kind"]
    assert set(written.values()) == {kind}, (written, kind)
    assert kind == "second"  # it waited for the first save, then wrote all of its files
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_a_save_into_a_folder_it_is_saving_into_is_an_error_not_a_wait(tmp_path: Path) -> None:
    from lstmkit.text.saving import json_file, write_saved

    def nested(path: Path) -> None:
        path.write_text("x")
        write_saved(tmp_path, {"b": json_file(2)}, {"kind": "inner"})

    import threading

    raised: list[BaseException] = []

    def save() -> None:
        try:
            write_saved(tmp_path, {"a": nested}, {"kind": "outer"})
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=save, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the lock waited for itself"
    with pytest.raises(RuntimeError, match=r"a save into .* is already under way in this "
                                           r"thread"):
        raise raised[0]
    write_saved(tmp_path, {"a": json_file(1)}, {"kind": "after"})  # the lock was let go


def test_a_save_goes_on_unlocked_where_no_lock_can_be_had(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import fcntl
    import json
    import os

    from lstmkit.text import saving

    def no_locks(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)

    def fails(path: Path) -> None:
        raise ValueError("the model could not be written")

    with pytest.raises(ValueError, match="could not be written") as caught:
        saving.write_saved(tmp_path, {"a": fails}, {"kind": "x"})
    assert caught.value.__context__ is None  # (it read as raised while handling ENOLCK)
    monkeypatch.undo()
    # a lock file another user made, which this one may not write: locked through a read
    opened = os.open

    def read_only(path: object, flags: int, *args: object) -> int:
        if flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return opened(path, flags, *args)  # type: ignore[arg-type]

    (tmp_path / saving.SAVE_LOCK).touch()
    monkeypatch.setattr(os, "open", read_only)
    saving.write_saved(tmp_path, {"a": saving.json_file(1)}, {"kind": "y"})
    monkeypatch.undo()
    assert json.loads((tmp_path / "meta.json").read_text()) == {"kind": "y"}


def test_a_value_json_cannot_write_fails_before_the_save_removes_anything(
        tmp_path: Path) -> None:
    import json

    import torch
    from lightning.pytorch.strategies import SingleDeviceStrategy

    from lstmkit.text.saving import json_file, write_saved

    write_saved(tmp_path, {"a": json_file(1)}, {"kind": "first"})
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_saved(tmp_path, {"a": json_file({"x": object()})}, {"kind": "second"})
    assert json.loads((tmp_path / "meta.json").read_text()) == {"kind": "first"}
    # a Lightning object is saved as its class's name (its save failed so, and took the model
    # saved there before with it)
    strategy = SingleDeviceStrategy(device=torch.device("cpu"))
    config = TrainConfig(strategy=strategy, accelerator="cpu", devices=1)
    assert config.to_dict(written=True)["strategy"] == "SingleDeviceStrategy"
    # kept as an object where the settings are not written: a forecaster's --set and tuning
    # rebuild the config from them, and the class's name failed the run
    from lstmkit.forecasting import DataConfig, ForecastConfig

    forecast = ForecastConfig(data=DataConfig(target="y"), training=config)
    assert isinstance(forecast.with_overrides({"training.lr": 0.01}).training.strategy,
                      SingleDeviceStrategy)


def test_a_save_interrupted_while_it_waits_for_the_lock_leaves_no_descriptor_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl
    import os

    from lstmkit.text.saving import json_file, write_saved

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(fcntl, "flock", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_saved(tmp_path, {"a": json_file(1)}, {"kind": "x"})
    monkeypatch.undo()
    # (left open, it would have held the lock for as long as the process ran)
    assert set(os.listdir("/proc/self/fd")) <= before


@pytest.mark.parametrize("config_class", ["ClassifierConfig", "TaggerConfig"])
def test_a_text_config_takes_numpy_numbers_as_the_python_values_they_stand_for(
        config_class: str) -> None:
    import json

    import numpy as np

    import lstmkit.classification
    import lstmkit.tagging

    make = getattr(lstmkit.classification, config_class, None) or getattr(lstmkit.tagging,
                                                                          config_class)
    # (np.int64(128) was refused, "hidden_size must be an int >= 1", where the forecaster's
    # config and nn.LSTM take it; a sweep over np.arange draws such values)
    config = make(hidden_size=np.int64(128), num_layers=np.int32(2), dropout=np.float32(0.25),
                  lowercase=np.bool_(True))
    assert (config.hidden_size, config.num_layers, config.lowercase) == (128, 2, True)
    assert type(config.hidden_size) is int and type(config.lowercase) is bool
    assert json.loads(json.dumps(config.to_dict()))["hidden_size"] == 128  # (it saves)


@pytest.mark.parametrize(("make", "name"), [
    ("ClassifierConfig", "batch_size"), ("TaggerConfig", "char_hidden"),
    ("ModelConfig", "model.horizon"), ("EvalConfig", "evaluation.stride")])
def test_every_configs_ints_are_bounded_and_huge_ones_named_by_their_digits(
        make: str, name: str) -> None:
    import lstmkit.classification
    import lstmkit.forecasting
    import lstmkit.tagging

    kind = next(getattr(m, make) for m in (lstmkit.classification, lstmkit.tagging,
                                           lstmkit.forecasting) if hasattr(m, make))
    # (accepted, or printed whole: one check, nn.config.positive_int, for every config)
    with pytest.raises(ValueError, match=rf"^{re.escape(name)} must be an int below 2\*\*63, "
                                         r"got an int of 401 digits$"):
        kind(**{name.split(".")[-1]: 10**400})
