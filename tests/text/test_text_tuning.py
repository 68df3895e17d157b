"""Optuna tuning of the classifier and the tagger on tiny generated data, in Python and from
the command line."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from lstmkit.classification import Classifier, ClassifierConfig, Example
from lstmkit.cli import classify, tag
from lstmkit.tagging import Sentence, Tagger, TaggerConfig
from lstmkit.text.tuning import apply_params, dev_score, tune_text
from lstmkit.training import TrainConfig

pytest.importorskip("optuna")

QUICK = TrainConfig(max_epochs=2, lr=0.03, progress_bar=False, seed=0)


def _reviews(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        positive = rng.random() < 0.5
        cue = rng.choice(["good", "great"] if positive else ["bad", "awful"])
        noise = [rng.choice(["the", "film", "plot", "was", "long"]) for _ in range(4)]
        noise.insert(rng.randint(0, 4), cue)
        examples.append(Example(" ".join(noise), "pos" if positive else "neg"))
    return examples


def _sentences(n: int, seed: int) -> list[Sentence]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(3, 6)):
            if rng.random() < 0.3:
                tokens.append(rng.choice(["Alice", "Bob", "Carol"]))
                tags.append("B-PER")
            else:
                tokens.append(rng.choice(["met", "in", "the", "today"]))
                tags.append("O")
        sentences.append(Sentence(tokens, tags))
    return sentences


def test_tuning_the_classifier_scores_trials_by_dev_accuracy() -> None:
    train, dev = _reviews(60, 0), _reviews(30, 1)
    config = ClassifierConfig(hidden_size=8, embedding_dim=8)
    training = QUICK.replace(checkpoint_dir="kept/here")
    space = {"training.lr": ("log", 1e-3, 1e-1), "model.hidden_size": ("choice", [4, 8]),
             "model.lstm.forget_bias": ("choice", [0.0, 1.0])}
    best_config, best_training, study = tune_text(Classifier, config, training, train, dev,
                                                  space, n_trials=3, seed=0)
    assert len(study.trials) == 3
    params = study.best_params
    assert best_config.hidden_size == params["model.hidden_size"]
    assert best_config.lstm == {"forget_bias": params["model.lstm.forget_bias"]}
    assert best_training.lr == params["training.lr"]
    assert best_training.checkpoint_dir == "kept/here"  # trials wrote none
    # the study's score is the dev accuracy of the model trained with those settings
    refit = Classifier(best_config, best_training.replace(checkpoint_dir=None)).fit(train, dev)
    assert study.best_value == pytest.approx(dev_score(refit, dev))
    assert study.best_value == max(t.value for t in study.trials)
    # each epoch's dev accuracy reached the pruner
    assert all(set(t.intermediate_values) == {0, 1} for t in study.trials)


def test_tuning_the_tagger_scores_trials_by_dev_entity_f1() -> None:
    train, dev = _sentences(40, 0), _sentences(20, 1)
    config = TaggerConfig(hidden_size=8, char_dim=4, char_hidden=4)
    space = {"training.lr": ("log", 1e-3, 1e-1)}
    best_config, best_training, study = tune_text(Tagger, config, QUICK, train, dev, space,
                                                  n_trials=2, seed=0)
    assert best_config == config
    refit = Tagger(best_config, best_training).fit(train, dev)
    assert study.best_value == pytest.approx(dev_score(refit, dev))
    assert study.best_value == pytest.approx(refit.evaluate(dev).scores.f1)


def test_trials_train_quietly_under_the_command_lines_epoch_log(
        capsys: pytest.CaptureFixture[str]) -> None:
    # the command line turns epoch_log on; every trial printed its epochs, with no trial number
    train, dev = _sentences(40, 0), _sentences(20, 1)
    config = TaggerConfig(hidden_size=8, char_dim=4, char_hidden=4)
    _, best_training, _ = tune_text(Tagger, config, QUICK.replace(epoch_log=True), train, dev,
                                    {"training.lr": ("log", 1e-3, 1e-1)}, n_trials=2, seed=0)
    assert "epoch 1/2" not in capsys.readouterr().err
    assert best_training.epoch_log  # the refit is the user's run: it logs


def test_a_trial_with_invalid_values_fails_with_its_reason_and_the_search_goes_on() -> None:
    train, dev = _reviews(40, 0), _reviews(20, 1)
    config = ClassifierConfig(hidden_size=8, embedding_dim=8)
    # a dropout of 1 or more is refused by the configuration
    space = {"model.dropout": ("choice", [0.1, 1.5])}
    _, _, study = tune_text(Classifier, config, QUICK, train, dev, space, n_trials=4, seed=1)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert failed and done
    assert all(t.params["model.dropout"] == 1.5 for t in failed)
    assert "dropout must be a float in [0, 1), got 1.5" in failed[0].user_attrs["fail_reason"]
    with pytest.raises(ValueError, match="no trial completed"):
        tune_text(Classifier, config, QUICK, train, dev,
                  {"model.dropout": ("float", 1.0, 2.0)}, n_trials=2)


def test_tuning_errors_name_what_is_wrong() -> None:
    train, dev = _reviews(10, 0), _reviews(5, 1)
    config = ClassifierConfig()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['model.hiden_size'\] in the "
                                         r"search space; valid keys: \[.*'model.hidden_size'"):
        tune_text(Classifier, config, QUICK, train, dev, {"model.hiden_size": ("int", 1, 4)})
    with pytest.raises(ValueError, match="tuning scores each trial on dev data"):
        tune_text(Classifier, config, QUICK, train, [], {"training.lr": ("log", 1e-3, 1e-2)})
    with pytest.raises(TypeError, match="app must be Classifier or Tagger"):
        tune_text(dict, config, QUICK, train, dev, {"training.lr": ("log", 1e-3, 1e-2)})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['data.train'\]"):
        apply_params(config, QUICK, {"data.train": "x"})
    # a misspelt LSTM option is caught before any trial trains
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['model.lstm.zonout'\] .* an "
                                         r"option of \[.*'zoneout'"):
        tune_text(Classifier, config, QUICK, train, dev, {"model.lstm.zonout": ("float", 0, 1)})
    with pytest.raises(ValueError, match="timeout_s must be None or a number of seconds > 0, "
                                         "got 0"):
        tune_text(Classifier, config, QUICK, train, dev, {"training.lr": ("log", 1e-3, 1e-2)},
                  timeout_s=0)


def test_a_subclass_of_an_application_is_tuned_as_the_application() -> None:
    class Mine(Classifier):
        pass

    train, dev = _reviews(30, 0), _reviews(10, 1)
    _, _, study = tune_text(Mine, ClassifierConfig(hidden_size=4, embedding_dim=4),
                            QUICK.replace(max_epochs=1), train, dev,
                            {"training.lr": ("log", 1e-3, 1e-2)}, n_trials=1)
    assert 0.0 <= study.best_value <= 1.0


def test_classify_train_tune_searches_then_trains_the_best(tmp_path, capsys, run_cli) -> None:
    for name, n, seed in (("train", 60, 0), ("dev", 30, 1)):
        (tmp_path / f"{name}.txt").write_text(
            "".join(f"{e.label} {e.text}\n" for e in _reviews(n, seed)), encoding="utf-8")
    space = tmp_path / "space.yaml"
    space.write_text("model.hidden_size: [choice, [4, 8]]\ntraining.lr: [log, 1.0e-3, 1.0e-1]\n",
                     encoding="utf-8")
    out = tmp_path / "model"
    assert run_cli(classify, ["train", "--train", str(tmp_path / "train.txt"),
                           "--dev", str(tmp_path / "dev.txt"), "--out", str(out),
                           "--epochs", "2", "--set", "model.embedding_dim=8",
                           "--tune", "2", "--tune-space", str(space)]) == 0
    printed = capsys.readouterr().out
    assert "tuning: 2 trials over ['model.hidden_size', 'training.lr'] on dev accuracy" \
        in printed
    trials = pd.read_csv(out / "tuning.csv")
    assert len(trials) == 2
    best = trials.loc[trials["value"].idxmax()]
    saved = json.loads((out / "config.json").read_text())
    assert saved["hidden_size"] == best["params_model.hidden_size"]
    # a new run without --tune into the folder: the earlier search's files are not its own
    assert run_cli(classify, ["train", "--train", str(tmp_path / "train.txt"),
                              "--out", str(out), "--epochs", "1",
                              "--set", "model.embedding_dim=8"]) == 0
    assert not (out / "tuning.csv").exists() and not (out / "tuning.png").exists()
    # a space's unknown key is said before the data are read (the training file is absent)
    space.write_text("model.hidden: [choice, [4, 8]]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^--tune-space .*space.yaml: unknown key\(s\) "
                                         r"\['model.hidden'\] in the search space"):
        run_cli(classify, ["train", "--train", str(tmp_path / "absent.txt"),
                           "--dev", str(tmp_path / "dev.txt"), "--out", str(out),
                           "--tune", "2", "--tune-space", str(space)])


def test_tag_train_tune_and_its_errors(tmp_path, capsys, run_cli) -> None:
    for name, n, seed in (("train", 40, 0), ("dev", 20, 1)):
        text = "\n\n".join("\n".join(f"{t} {g}" for t, g in zip(s.tokens, s.tags, strict=True))
                           for s in _sentences(n, seed))
        (tmp_path / f"{name}.conll").write_text(text + "\n", encoding="utf-8")
    common = ["train", "--train", str(tmp_path / "train.conll"), "--out", str(tmp_path / "m"),
              "--epochs", "1", "--set", "model.hidden_size=8"]
    dev = ["--dev", str(tmp_path / "dev.conll")]
    assert run_cli(tag, [*common, *dev, "--tune", "1"]) == 0
    assert "on dev entity F1" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "m" / "tuning.csv")) == 1
    # a value the --config file gives that the search varies is said to be replaced (it was
    # replaced silently); read once, from a pipe too
    import subprocess

    reader = subprocess.Popen(["printf", "model:\\n  dropout: 0.1\\n"],
                              stdout=subprocess.PIPE)
    try:
        assert run_cli(tag, [*common, *dev, "--tune", "1", "--config",
                             f"/dev/fd/{reader.stdout.fileno()}"]) == 0  # type: ignore[union-attr]
    finally:
        reader.wait()
        reader.stdout.close()  # type: ignore[union-attr]
    said = capsys.readouterr().out
    assert "tuning: ['model.hidden_size'] stay as given on the command line" in said
    assert ("tuning: the search varies ['model.dropout'], which --config gives: its values "
            "are replaced by the best found (give a value with a flag or --set to keep it)"
            in said)
    assert "params_model.dropout" in pd.read_csv(tmp_path / "m" / "tuning.csv")
    with pytest.raises(ValueError, match=r"--tune scores each trial on dev data: pass --dev"):
        run_cli(tag, [*common, "--tune", "1"])
    assert (tmp_path / "m" / "tuning.csv").is_file()  # (a refused run leaves the search)
    # a new run without --tune into the folder: the earlier search's files are not its own
    assert run_cli(tag, [*common, *dev]) == 0
    assert not (tmp_path / "m" / "tuning.csv").exists()
    assert not (tmp_path / "m" / "tuning.png").exists()
    with pytest.raises(ValueError, match="--tune must be a number of trials >= 1, got 0"):
        run_cli(tag, [*common, *dev, "--tune", "0"])
    with pytest.raises(ValueError, match="--tune searches new settings and --resume continues"):
        run_cli(tag, [*common, *dev, "--tune", "2", "--resume"])
    with pytest.raises(ValueError, match="--tune-timeout must be a number of seconds > 0, got 0"):
        run_cli(tag, [*common, *dev, "--tune", "2", "--tune-timeout", "0"])
    with pytest.raises(ValueError, match=r"--tune-space and --tune-timeout shape\(s\) the search "
                                         r"that --tune N runs, but --tune is not given"):
        run_cli(tag, [*common, *dev, "--tune-space", "s.yaml", "--tune-timeout", "5"])


@pytest.mark.parametrize(("progress_bar", "epoch_log", "shown"),
                         [(False, False, False), (False, True, True), (True, False, True)])
def test_optunas_line_per_trial_follows_the_runs_progress(
        monkeypatch, progress_bar: bool, epoch_log: bool, shown: bool) -> None:
    # it was always shown: a quiet run (no bar, no epoch lines) had no way to leave it out
    import lstmkit.text.tuning as text_tuning

    asked: dict[str, object] = {}

    def tune(*args: object, **kwargs: object) -> None:
        asked.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(text_tuning, "tune", tune)
    training = QUICK.replace(progress_bar=progress_bar, epoch_log=epoch_log)
    with pytest.raises(KeyboardInterrupt):
        tune_text(Classifier, ClassifierConfig(hidden_size=4, embedding_dim=4), training,
                  _reviews(8, 0), _reviews(4, 1), {"training.lr": ("log", 1e-3, 1e-1)})
    assert asked["log_trials"] is shown


def test_a_space_drawing_a_kind_its_key_does_not_take_is_refused_before_any_trial(
        monkeypatch) -> None:
    # the text configurations said a wrong kind with a ValueError, which the check lets pass
    # (a value refused beside others), so every trial drawing it failed
    import lstmkit.text.tuning as text_tuning

    def tune(*args: object, **kwargs: object) -> None:
        raise AssertionError("a search ran")

    monkeypatch.setattr(text_tuning, "tune", tune)
    config = ClassifierConfig(hidden_size=4, embedding_dim=4)
    for space, message in (({"model.hidden_size": ("float", 16, 64)},
                            r"model.hidden_size draws 16.0, a kind of value the configuration "
                            r"refuses: hidden_size must be an int >= 1, got float 16.0"),
                           ({"model.lowercase": ("choice", [True, "no"])},
                            r"model.lowercase draws 'no'")):
        with pytest.raises(TypeError, match=r"the search space's " + message):
            tune_text(Classifier, config, QUICK, _reviews(8, 0), _reviews(4, 1), space)
