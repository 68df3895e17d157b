"""``lstmkit classify`` in-process: train, evaluate, predict, YAML + flags."""

from __future__ import annotations

import io
import json
import random

import pytest

from lstmkit.cli import classify


def _sst_like(path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        positive = rng.random() < 0.5
        cue = rng.choice(["good", "great"] if positive else ["bad", "awful"])
        lines.append(f"{int(positive)} the film was {cue} and long")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_classify_train_evaluate_predict(tmp_path, monkeypatch, capsys, run_cli) -> None:
    _sst_like(tmp_path / "train.txt", 80, 0)
    _sst_like(tmp_path / "dev.txt", 20, 1)
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  hidden_size: 8\n  embedding_dim: 8\n  lstm:\n"
                      "    forget_bias: 1.0\ntraining:\n  max_epochs: 3\n  lr: 0.02\n",
                      encoding="utf-8")
    out = tmp_path / "model"
    assert run_cli(classify, ["train", "--config", str(config), "--train",
                           str(tmp_path / "train.txt"), "--dev", str(tmp_path / "dev.txt"),
                           "--test", str(tmp_path / "dev.txt"), "--out", str(out),
                           "--pooling", "mean", "--set", "training.max_epochs=2"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["pooling"] == "mean" and saved["hidden_size"] == 8
    assert saved["lstm"] == {"forget_bias": 1.0}
    assert len(json.loads((out / "meta.json").read_text())["history"]) == 2
    assert (out / "test_confusion.png").is_file()
    assert run_cli(classify, ["evaluate", "--model", str(out), "--data", str(tmp_path / "dev.txt"),
                           "--out", str(tmp_path / "eval")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["labels"] == ["0", "1"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"a good film\n\nawful\n")))
    assert run_cli(classify, ["predict", "--model", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # one row per input line, the blank one included (an empty text)
    assert len(lines) == 3 and lines[0].endswith("\ta good film")
    assert lines[1].endswith("\t") and lines[2].endswith("\tawful")
    raw = tmp_path / "raw.txt"
    raw.write_text("awful\n\n\ngood\n", encoding="utf-8")
    assert run_cli(classify, ["predict", "--model", str(out), "--input", str(raw), "--output",
                           str(tmp_path / "pred.tsv")]) == 0
    rows = (tmp_path / "pred.tsv").read_text(encoding="utf-8").split("\n")[1:-1]
    assert [row.split("\t")[-1] for row in rows] == ["awful", "", "", "good"]
    # a table's text column, not its raw lines (the header and the gold labels were texts)
    table = tmp_path / "reviews.csv"
    table.write_text('label,text\n0,awful\n1,"good, and long"\n', encoding="utf-8")
    (tmp_path / "texts.txt").write_text("awful\ngood, and long\n", encoding="utf-8")
    capsys.readouterr()
    printed = []
    for argv in (["--input", str(table)], ["--input", str(tmp_path / "texts.txt")]):
        assert run_cli(classify, ["predict", "--model", str(out), *argv]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] and len(printed[0].splitlines()) == 2
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("id\treview\n7\tawful\n8\tgood, and long\n", encoding="utf-8")
    assert run_cli(classify, ["predict", "--model", str(out), "--input", str(tsv),
                              "--text-column", "review"]) == 0
    assert capsys.readouterr().out == printed[0]
    with pytest.raises(ValueError, match=r"reviews.tsv: text_column \(--text-column\) must "
                                         r"name a column of the header \['id', 'review'\], got "
                                         r"'text'"):
        run_cli(classify, ["predict", "--model", str(out), "--input", str(tsv)])
    for name, message in [("x.jsonl", r"\.jsonl files cannot be read; give a \.csv/\.tsv"),
                          ("x.conll", r"holds a tag per token .* `lstmkit tag predict"),
                          ("x.txt", r"--text-column 'review' names a column of a \.csv/\.tsv "
                                    r"--input, but '.*x.txt' is read as raw texts")]:
        (tmp_path / name).write_text('{"text": "awful"}\n', encoding="utf-8")
        extra = ["--text-column", "review"] if name == "x.txt" else []
        with pytest.raises(ValueError, match=message):
            run_cli(classify, ["predict", "--model", str(out), "--input",
                               str(tmp_path / name), *extra])


def test_classify_errors(tmp_path, run_cli) -> None:
    with pytest.raises(ValueError, match="training data is required"):
        run_cli(classify, ["train", "--out", str(tmp_path / "m")])
    bad = tmp_path / "c.yaml"
    bad.write_text("modle:\n  hidden_size: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['modle'\]"):
        run_cli(classify, ["train", "--config", str(bad), "--out", str(tmp_path / "m")])
    with pytest.raises(ValueError, match=r"--set must look like SECTION\.KEY=VALUE"):
        run_cli(classify, ["train", "--train", "x", "--out", "m", "--set", "hidden=3"])
    with pytest.raises(ValueError, match=r"--set 'model.hidden_size.x=1': model.hidden_size "
                                         r"is 8, which has no keys \(set model.hidden_size="
                                         r"VALUE\)"):
        run_cli(classify, ["train", "--train", "x", "--out", "m", "--set",
                           "model.hidden_size=8", "--set", "model.hidden_size.x=1"])


def test_output_paths_are_checked_before_any_work(tmp_path, run_cli) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x\n", encoding="utf-8")
    missing = str(tmp_path / "missing")  # data and model that would fail later
    with pytest.raises(ValueError, match=r"--out must be a directory to write into, got "
                                         r"'.*a_file', an existing file"):
        run_cli(classify, ["train", "--train", missing, "--out", str(a_file)])
    with pytest.raises(ValueError, match=r"--out cannot be created: '.*a_file/m' lies under "
                                         r"'.*a_file', which is a file"):
        run_cli(classify, ["train", "--train", missing, "--out", str(a_file / "m")])
    with pytest.raises(ValueError, match=r"--out must be a directory to write into"):
        run_cli(classify, ["evaluate", "--model", missing, "--data", missing, "--out",
                        str(a_file)])
    with pytest.raises(ValueError, match=r"--output must be a file to write, got '.*', an "
                                         r"existing directory"):
        run_cli(classify, ["predict", "--model", missing, "--output", str(tmp_path)])


def _tiny_train(tmp_path, *extra: str) -> list[str]:  # type: ignore[no-untyped-def]
    _sst_like(tmp_path / "train.txt", 24, 0)
    _sst_like(tmp_path / "dev.txt", 8, 1)
    return ["train", "--train", str(tmp_path / "train.txt"), "--dev", str(tmp_path / "dev.txt"),
            "--out", str(tmp_path / "model"), "--set", "model.hidden_size=4",
            "--set", "model.embedding_dim=4", "--epochs", "1", *extra]


def test_an_explicit_monitor_is_kept_and_saved(tmp_path, run_cli) -> None:
    assert run_cli(classify, _tiny_train(tmp_path, "--set", "training.monitor=val_loss")) == 0
    saved = json.loads((tmp_path / "model" / "training.json").read_text())
    assert (saved["monitor"], saved["monitor_mode"]) == ("val_loss", "min")
    assert run_cli(classify, _tiny_train(tmp_path)) == 0  # the default: dev accuracy
    saved = json.loads((tmp_path / "model" / "training.json").read_text())
    assert (saved["monitor"], saved["monitor_mode"]) == ("val_accuracy", "max")


def test_train_checkpoints_under_out_and_resumes(tmp_path, capsys, run_cli) -> None:
    assert run_cli(classify, _tiny_train(tmp_path)) == 0
    assert (tmp_path / "model" / "checkpoints" / "last.ckpt").is_file()
    capsys.readouterr()
    # a finished run resumes to its end at once, with the same history
    history = json.loads((tmp_path / "model" / "meta.json").read_text())["history"]
    assert run_cli(classify, _tiny_train(tmp_path, "--resume")) == 0
    assert json.loads((tmp_path / "model" / "meta.json").read_text())["history"] == history


def test_evaluate_out_saves_the_per_class_scores(tmp_path, run_cli) -> None:
    assert run_cli(classify, _tiny_train(tmp_path)) == 0
    out = tmp_path / "eval"
    assert run_cli(classify, ["evaluate", "--model", str(tmp_path / "model"), "--data",
                           str(tmp_path / "dev.txt"), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["per_class"]) == ["0", "1"]
    support = sum(row["support"] for row in metrics["per_class"].values())
    assert support == 8 and set(metrics["per_class"]["1"]) == {"precision", "recall", "f1",
                                                               "support"}


def test_predict_never_writes_its_input_or_into_the_model(tmp_path, run_cli) -> None:
    assert run_cli(classify, _tiny_train(tmp_path)) == 0
    model = tmp_path / "model"
    saved = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    data = tmp_path / "d.txt"
    data.write_text("a good film\nawful\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(data)
    predict = ["predict", "--model", str(model), "--input", str(data)]
    # the input itself (overwritten with the predictions), also under another name
    for output in (str(data), f"{tmp_path}/./d.txt", str(tmp_path / "link.txt")):
        with pytest.raises(ValueError, match=r"^--output '.*' is the file --input reads "
                                             r"\('.*d\.txt'\): writing it would replace the "
                                             r"input; give another file to write$"):
            run_cli(classify, [*predict, "--output", output])
    assert data.read_text(encoding="utf-8") == "a good film\nawful\n"
    # a file of the model (meta.json overwritten: the model was gone), also under a link
    (tmp_path / "alias").symlink_to(model)
    for output in (model / "meta.json", model / "model.pt", tmp_path / "alias" / "words.json"):
        with pytest.raises(ValueError, match=rf"^--output '{output}' is the file "
                                             rf"{output.name} of the saved model '{model}': "
                                             r"writing it would replace the model's own file; "
                                             r"write the predictions elsewhere$"):
            run_cli(classify, [*predict, "--output", str(output)])
    with pytest.raises(ValueError, match=r"is inside the folder checkpoints/ of the saved model"):
        run_cli(classify, [*predict, "--output", str(model / "checkpoints" / "last.ckpt")])
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == saved
    # a new file beside them is the user's (a save leaves it alone), as evaluate's outputs are
    assert run_cli(classify, [*predict, "--output", str(model / "predictions.tsv")]) == 0
    assert (model / "predictions.tsv").read_text().count("\n") == 3  # (a header, two rows)
    assert {p.name: p.read_bytes() for p in model.iterdir()
            if p.is_file() and p.name != "predictions.tsv"} == saved
    # a folder's name (it was written as a file named 'sub')
    with pytest.raises(ValueError, match=r"^--output must be a file to write, got "
                                         r"'.*new/sub/', which names a folder: give the path of "
                                         r"the file to write in it, e\.g\. "
                                         r"'.*new/sub/predictions\.tsv'$"):
        run_cli(classify, [*predict, "--output", f"{tmp_path}/new/sub/"])
    assert not (tmp_path / "new").exists()
    assert run_cli(classify, [*predict, "--output", str(tmp_path / "p.tsv")]) == 0


def test_evaluate_never_writes_over_its_data(tmp_path, run_cli) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    data = out / "predictions.tsv"  # an earlier evaluation's predictions, scored again
    data.write_text("label\ttext\n1\tgood\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^--out's predictions\.tsv '.*eval/predictions\.tsv' "
                                         r"is the file --data reads"):
        run_cli(classify, ["evaluate", "--model", str(tmp_path / "missing"), "--data",
                           str(data), "--out", str(out)])
    assert data.read_text(encoding="utf-8") == "label\ttext\n1\tgood\n"


def test_train_never_writes_over_what_it_reads(tmp_path, run_cli) -> None:
    # --out run with --train run/tuning.csv: --tune replaced the training data with the
    # trials' table (nor were the model's files or the test report checked)
    out = tmp_path / "run"
    out.mkdir()
    rows = "label,text\n1,good\n0,bad\n"
    for flag, name in [("--train", "tuning.csv"), ("--dev", "words.json"),
                       ("--test", "test_metrics.json"), ("--train", "test_confusion.png")]:
        data = out / name
        data.write_text(rows, encoding="utf-8")
        given = {"--train": str(tmp_path / "missing.csv"), flag: str(data)}
        with pytest.raises(ValueError, match=rf"^--out's {name} '.*run/{name}' is the file "
                                             rf"{flag} reads"):
            run_cli(classify, ["train", "--out", str(out),
                               *[item for pair in given.items() for item in pair]])
        assert data.read_text(encoding="utf-8") == rows
        data.unlink()
    # named by the config's setting where the config gave the file
    data = out / "tuning.csv"
    data.write_text(rows, encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  train: {data}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^--out's tuning.csv '.*run/tuning.csv' is the file "
                                         r"data.train reads"):
        run_cli(classify, ["train", "--config", str(config), "--out", str(out)])
    assert data.read_text(encoding="utf-8") == rows


def test_column_errors_name_the_flags(tmp_path, run_cli) -> None:
    # they named the Python keyword (text_column), which the command line has no use for
    table = tmp_path / "q.csv"
    table.write_text("review,stars\ngood,1\nbad,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q\.csv: text_column \(--text-column\) must name a "
                                         r"column of the header \['review', 'stars'\], got "
                                         r"'text'$"):
        classify._texts_to_predict(str(table), None, "utf-8")
    with pytest.raises(ValueError, match=r"q\.csv: label_column \(--label-column\) must name "
                                         r"a column of the header \['review', 'stars'\], got "
                                         r"'label'$"):
        run_cli(classify, ["train", "--train", str(table), "--format", "csv", "--text-column",
                           "review", "--out", str(tmp_path / "m")])


def test_unknown_data_key_lists_the_valid_ones(tmp_path, run_cli) -> None:
    with pytest.raises(ValueError, match=r"unknown data key\(s\) \['foo'\]; valid keys: "
                                         r"\['dev', 'encoding', 'format'"):
        run_cli(classify, _tiny_train(tmp_path, "--set", "data.foo=1"))


def test_training_without_test_data_removes_an_older_runs_test_scores(tmp_path,
                                                                     run_cli) -> None:
    model = tmp_path / "model"
    assert run_cli(classify, _tiny_train(tmp_path, "--test", str(tmp_path / "dev.txt"))) == 0
    assert (model / "test_metrics.json").is_file() and (model / "test_confusion.png").is_file()
    (model / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert run_cli(classify, _tiny_train(tmp_path)) == 0  # the same --out, no --test
    assert not (model / "test_metrics.json").exists()
    assert not (model / "test_confusion.png").exists()
    assert (model / "notes.txt").is_file()  # only the files a test run writes


def test_data_settings_of_another_type_name_the_key(tmp_path, run_cli) -> None:
    # --set and the YAML file give any type; the error names the setting, not a stdlib call
    with pytest.raises(TypeError, match=r"data\.train must be a str, got list \['a', 'b'\]"):
        run_cli(classify, _tiny_train(tmp_path, "--set", "data.train=[a,b]"))
    with pytest.raises(TypeError, match=r"data\.encoding must be a str, got int 5"):
        run_cli(classify, _tiny_train(tmp_path, "--set", "data.encoding=5"))
    with pytest.raises(TypeError, match=r"data\.dev must be a str, got int 5"):
        run_cli(classify, _tiny_train(tmp_path, "--set", "data.dev=5"))


def test_column_flags_need_a_csv_or_tsv_file(tmp_path, run_cli) -> None:
    with pytest.raises(ValueError, match=r"--text-column and --label-column .* 'lines', which "
                                         r"has no columns"):
        run_cli(classify, _tiny_train(tmp_path, "--text-column", "foo", "--label-column", "bar"))
    (tmp_path / "d.csv").write_text("review,stars\ngood,1\nbad,0\n", encoding="utf-8")
    examples = classify._read(str(tmp_path / "d.csv"), {"text_column": "review",
                                                        "label_column": "stars"})
    assert [e.label for e in examples] == ["1", "0"]


def test_ddp_trains_in_two_processes_that_share_the_batches(tmp_path, run_ddp) -> None:
    _sst_like(tmp_path / "train.txt", 40, 0)
    _sst_like(tmp_path / "dev.txt", 12, 1)
    # texts of several lengths: each process's batches then draw dropout masks of their own
    # sizes, so that the two processes' random states differ (and a resume must restore each)
    rng = random.Random(2)
    lines = (tmp_path / "train.txt").read_text().splitlines()
    (tmp_path / "train.txt").write_text(
        "".join(f"{line}{' very' * rng.randint(0, 6)}\n" for line in lines))
    common = ["classify", "train", "--train", "train.txt", "--dev", "dev.txt",
              "--set", "model.hidden_size=4", "--set", "model.embedding_dim=4",
              "--set", "model.batch_size=8"]
    # a search, the best run and its test report, said and written by the first process
    done = run_ddp(*common, "--out", "tuned", "--epochs", "1", "--tune", "2",
                   "--test", "dev.txt")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("tuning: 2 trials") == 1 and done.stdout.count("best dev") == 1
    assert done.stdout.count("stay as given") == 1
    assert done.stderr.count("Trial 1 finished") == 1  # Optuna's line, once
    assert done.stdout.count("saved to tuned") == 1 and done.stdout.count("macro F1") == 1
    assert done.stdout.count("tuning: drawn in") == 1
    assert (tmp_path / "tuned" / "test_metrics.json").is_file()
    assert (tmp_path / "tuned" / "tuning.png").is_file()
    assert json.loads((tmp_path / "tuned" / "training.json").read_text())["devices"] == 2
    done = run_ddp(*common, "--out", "x", "--tune", "2", "--set", "training.seed=null")
    assert done.returncode == 2 and "needs a seeded search" in done.stderr
    # the shared batches resume exactly: 2 epochs, then 2 more, is 4 in one go
    assert run_ddp(*common, "--out", "whole", "--epochs", "4").returncode == 0
    assert run_ddp(*common, "--out", "cut", "--epochs", "2").returncode == 0
    assert run_ddp(*common, "--out", "cut", "--epochs", "4", "--resume").returncode == 0
    history = [json.loads((tmp_path / run / "meta.json").read_text())["history"]
               for run in ("whole", "cut")]
    assert history[0] == history[1] and len(history[0]) == 4
    import torch

    whole, cut = (torch.load(tmp_path / run / "model.pt") for run in ("whole", "cut"))
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


def test_train_reads_the_test_file_before_training(tmp_path, monkeypatch, run_cli) -> None:
    from lstmkit.classification import Classifier

    def no_training(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("trained before reading --test")

    monkeypatch.setattr(Classifier, "fit", no_training)
    _sst_like(tmp_path / "train.txt", 10, 0)
    (tmp_path / "test.txt").write_text("1 good\nbroken\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test.txt:2: expected '<label> <text>'"):
        run_cli(classify, ["train", "--train", str(tmp_path / "train.txt"), "--test",
                        str(tmp_path / "test.txt"), "--out", str(tmp_path / "m")])
    # a label the training data do not hold
    (tmp_path / "test.txt").write_text("1 good\n2 a neutral one\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test.txt: example 2 .*unknown label '2': expected "
                                         r"one of the 2 seen in training \('0', '1'\)"):
        run_cli(classify, ["train", "--train", str(tmp_path / "train.txt"), "--test",
                        str(tmp_path / "test.txt"), "--out", str(tmp_path / "m")])


def test_naming_dev_accuracy_as_the_monitor_saves_max_mode(tmp_path, run_cli) -> None:
    assert run_cli(classify, _tiny_train(tmp_path, "--set", "training.monitor=val_accuracy")) == 0
    saved = json.loads((tmp_path / "model" / "training.json").read_text())
    assert (saved["monitor"], saved["monitor_mode"]) == ("val_accuracy", "max")


class _StopError(Exception):
    pass


def _training_used(run_cli, monkeypatch, argv: list[str]):  # type: ignore[no-untyped-def]
    """The TrainConfig that ``classify train argv`` hands to the classifier (not trained)."""
    from lstmkit.classification import Classifier

    seen = []

    def no_training(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(self.training)
        raise _StopError

    monkeypatch.setattr(Classifier, "fit", no_training)
    with pytest.raises(_StopError):
        run_cli(classify, argv)
    return seen[0]


def test_progress_flag_overrides_the_config_file(tmp_path, monkeypatch, run_cli) -> None:
    _sst_like(tmp_path / "train.txt", 8, 0)
    base = ["train", "--train", str(tmp_path / "train.txt"), "--out", str(tmp_path / "m")]
    off = tmp_path / "off.yaml"
    off.write_text("training: {progress_bar: false}\n", encoding="utf-8")
    on = tmp_path / "on.yaml"
    on.write_text("training: {progress_bar: true}\n", encoding="utf-8")
    assert _training_used(run_cli, monkeypatch,
                          [*base, "--config", str(off), "--progress"]).progress_bar
    assert _training_used(run_cli, monkeypatch, [*base, "--config", str(on)]).progress_bar
    assert not _training_used(run_cli, monkeypatch, base).progress_bar  # off on the command line
    assert not _training_used(run_cli, monkeypatch, [*base, "--progress", "--set",
                                                     "training.progress_bar=false"]).progress_bar


def test_dev_help_says_early_stopping_needs_patience(capsys, run_cli) -> None:
    with pytest.raises(SystemExit):
        run_cli(classify, ["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "are kept; with --patience, training also stops early" in text


def test_predict_into_a_pipe_closed_early_stops_quietly(tmp_path, run_cli) -> None:
    # `lstmkit classify predict ... | head -1`: the reader goes away while rows are printed
    import os
    import subprocess
    import sys

    # stdout block-buffered, as it is in a pipe unless PYTHONUNBUFFERED says otherwise
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    assert run_cli(classify, _tiny_train(tmp_path)) == 0
    many = tmp_path / "many.txt"
    many.write_text("a good film\n" * 20_000, encoding="utf-8")  # rows past a pipe's buffer
    child = subprocess.Popen([sys.executable, "-m", "lstmkit.cli.main", "classify", "predict",
                              "--model", str(tmp_path / "model"), "--input", str(many)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline().endswith(b"\ta good film\n")
    child.stdout.close()
    stderr = child.stderr.read()
    assert child.wait(timeout=300) == 141, stderr  # as a process that SIGPIPE ends
    assert stderr == b""
    # a reader gone before the first row (the child is still importing torch): the rows, under
    # a buffer's worth, meet the closed pipe when they are flushed
    one = tmp_path / "one.txt"
    one.write_text("a good film\n", encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-m", "lstmkit.cli.main", "classify", "predict",
                              "--model", str(tmp_path / "model"), "--input", str(one)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    stderr = child.stderr.read()
    assert child.wait(timeout=300) == 141, stderr
    assert stderr == b""


def test_evaluate_and_predict_draw_a_bar_on_a_terminal(tmp_path, monkeypatch, capsys,
                                                        run_cli) -> None:
    import sys

    assert run_cli(classify, _tiny_train(tmp_path)) == 0
    _sst_like(tmp_path / "big.txt", 300, 2)  # more than one batch of 256
    capsys.readouterr()
    for argv in (["evaluate", "--data", str(tmp_path / "big.txt")],
                 ["predict", "--input", str(tmp_path / "big.txt")]):
        for terminal in (False, True):
            monkeypatch.setattr(sys.stderr, "isatty", lambda t=terminal: t)
            assert run_cli(classify, [*argv, "--model", str(tmp_path / "model")]) == 0
            bar = "/300 [" in capsys.readouterr().err
            assert bar == terminal, (argv[0], terminal)
