"""``lstmkit tag`` in-process: train, evaluate, predict, YAML + flags."""

from __future__ import annotations

import json
import random

import pytest

from lstmkit.cli import tag


def test_tag_train_evaluate_predict(tmp_path, capsys, run_cli) -> None:
    rows = []
    rng = random.Random(0)
    for _ in range(40):
        name = rng.choice(["Alice", "Bob"])
        rows += [f"{name}\tB-PER", "Smith\tI-PER", "visited\tO", f"{rng.choice(['Oslo', 'Rome'])}"
                 "\tB-LOC", "\t"]
    train = tmp_path / "train.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "tagger"
    assert run_cli(tag, ["train", "--train", str(train), "--dev", str(train), "--out", str(out),
                      "--epochs", "1", "--hidden-size", "8", "--char-encoder", "cnn",
                      "--set", "model.embedding_dim=8", "--set", "training.lr=0.02"]) == 0
    assert json.loads((out / "config.json").read_text())["char_encoder"] == "cnn"
    assert run_cli(tag, ["evaluate", "--model", str(out), "--data", str(train), "--out",
                      str(tmp_path / "ev")]) == 0
    assert "overall" in capsys.readouterr().out
    assert (tmp_path / "ev" / "predictions.conll").is_file()
    texts = tmp_path / "raw.txt"
    texts.write_text("Alice Smith visited Oslo\n\nBob\n", encoding="utf-8")
    assert run_cli(tag, ["predict", "--model", str(out), "--input", str(texts), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # one record per input line, the blank one included (no entities)
    assert [r["text"] for r in records] == ["Alice Smith visited Oslo", "", "Bob"]
    assert isinstance(records[0]["entities"], list) and records[1]["entities"] == []
    # printed, a text's tab is escaped: its entity lines keep three tab-separated cells
    texts.write_text("Alice\tSmith visited Oslo\n", encoding="utf-8")
    assert run_cli(tag, ["predict", "--model", str(out), "--input", str(texts)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "Alice\\tSmith visited Oslo"
    assert all(line.count("\t") == 3 for line in printed[1:])  # span, type, text, score
    assert all(0.0 < float(line.split("\t")[3]) <= 1.0 for line in printed[1:])
    # pre-tokenised: the tokens as the file gives them (the tokenizer would split U.S.), a tag
    # each, a blank line after each sentence
    conll = tmp_path / "raw.conll"
    conll.write_text("Alice\tB-PER\nU.S.\tO\n\nBob\tO\n", encoding="utf-8")  # gold: unread
    assert run_cli(tag, ["predict", "--model", str(out), "--input", str(conll), "--conll"]) == 0
    rows = capsys.readouterr().out.split("\n")
    assert [r.split("\t")[0] for r in rows] == ["Alice", "U.S.", "", "Bob", "", ""]
    assert all(r.split("\t")[1] in ("O", "B-PER", "I-PER", "B-LOC", "I-LOC") for r in rows if r)
    assert run_cli(tag, ["predict", "--model", str(out), "--input", str(conll), "--conll",
                      "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tokens"] for r in records] == [["Alice", "U.S."], ["Bob"]]
    assert [len(r["tags"]) for r in records] == [2, 1]
    with pytest.raises(ValueError, match=r"--conll reads a file: give it with --input FILE"):
        run_cli(tag, ["predict", "--model", str(out), "--conll"])
    # without --conll, each 'token<TAB>tag' line was tagged as a text of two words
    with pytest.raises(ValueError, match=r"raw\.conll: every line is a token and a tag "
                                         r"\('Alice B-PER', \.\.\.\): a CoNLL file.* pass "
                                         r"--conll --input FILE"):
        run_cli(tag, ["predict", "--model", str(out), "--input", str(conll)])
    conll03 = tmp_path / "eng.testb"  # CoNLL-2003's four columns, no telling suffix
    conll03.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n",
                       encoding="utf-8")
    with pytest.raises(ValueError, match=r"eng\.testb: every line is a token and a tag"):
        run_cli(tag, ["predict", "--model", str(out), "--input", str(conll03)])
    # texts whose words happen to look like tags are texts
    for lines in ("Call me O\nAlice visited Oslo\n", "Delays on I-95\nTraffic on I-80\n",
                  "He flew a B-52\nShe flew a U-2\n", "Call me O\nOr call Bob O\n"):
        texts.write_text(lines, encoding="utf-8")
        assert run_cli(tag, ["predict", "--model", str(out), "--input", str(texts)]) == 0
        assert capsys.readouterr().out.startswith(lines.split("\n")[0] + "\n")


def test_tag_output_paths_are_checked_before_any_work(tmp_path, run_cli) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x\n", encoding="utf-8")
    missing = str(tmp_path / "missing.conll")  # data and model that would fail later
    with pytest.raises(ValueError, match=r"--out must be a directory to write into, got "
                                         r"'.*a_file', an existing file"):
        run_cli(tag, ["train", "--train", missing, "--out", str(a_file)])
    with pytest.raises(ValueError, match=r"--out must be a directory to write into"):
        run_cli(tag, ["evaluate", "--model", missing, "--data", missing, "--out", str(a_file)])


def test_tag_train_never_writes_over_what_it_reads(tmp_path, run_cli) -> None:
    out = tmp_path / "run"
    (out / "test").mkdir(parents=True)
    for flag, name in [("--train", "tuning.csv"), ("--auxiliary", "chars.json"),
                       ("--test", "test/predictions.conll"), ("--dev", "test/metrics.json")]:
        data = out / name
        data.write_text("Bob\tB-PER\n", encoding="utf-8")
        given = {"--train": str(tmp_path / "missing.conll"), flag: str(data)}
        with pytest.raises(ValueError, match=rf"^--out's {name} '.*run/{name}' is the file "
                                             rf"{flag} reads"):
            run_cli(tag, ["train", "--out", str(out),
                          *[item for pair in given.items() for item in pair]])
        assert data.read_text(encoding="utf-8") == "Bob\tB-PER\n"
        data.unlink()
    # a file where the test report's folder goes (it failed after training, no report)
    (out / "test").rmdir()
    (out / "test").write_text("Bob\tB-PER\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^--out's test/ must be a directory to write into, "
                                         r"got '.*run/test', an existing file"):
        run_cli(tag, ["train", "--train", str(tmp_path / "missing.conll"), "--test",
                      str(out / "test"), "--out", str(out)])


def test_tag_evaluate_never_writes_over_its_data(tmp_path, run_cli) -> None:
    out = tmp_path / "ev"
    out.mkdir()
    data = out / "predictions.conll"  # an earlier evaluation's predictions, scored again
    data.write_text("Bob\tB-PER\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^--out's predictions\.conll "
                                         r"'.*ev/predictions\.conll' is the file --data reads "
                                         r"\('.*'\): writing it would replace the input"):
        run_cli(tag, ["evaluate", "--model", str(tmp_path / "missing"), "--data", str(data),
                      "--out", str(out)])
    assert data.read_text(encoding="utf-8") == "Bob\tB-PER\n"


def test_tag_column_and_scheme_errors_name_the_flags(tmp_path, run_cli) -> None:
    data = tmp_path / "d.conll"
    data.write_text("Bob\tB-PER\n", encoding="utf-8")
    train = ["train", "--train", str(data), "--out", str(tmp_path / "m")]
    with pytest.raises(ValueError, match=r"d\.conll:1: tag_column \(--tag-column\) must index "
                                         r"one of the 2 columns, got 5$"):
        run_cli(tag, [*train, "--tag-column", "5"])
    with pytest.raises(ValueError, match=r"d\.conll:1: token_column \(--token-column\) must "
                                         r"index one of the 2 columns, got -3$"):
        run_cli(tag, [*train, "--token-column", "-3"])
    with pytest.raises(ValueError, match=r"^scheme \(--scheme\) must be one of \['IOB1'.*got "
                                         r"'IOX'$"):
        run_cli(tag, [*train, "--scheme", "IOX"])
    with pytest.raises(ValueError, match=r"^empty_tokens \(--empty-tokens\) must be 'error' or "
                                         r"'skip', got 'drop'$"):
        run_cli(tag, [*train, "--set", "data.empty_tokens=drop"])


def test_tag_bad_conll_reports_file_and_line(tmp_path, run_cli) -> None:
    bad = tmp_path / "bad.conll"
    bad.write_text("a\tO\nb\tO\textra\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.conll:2: expected 2 columns"):
        run_cli(tag, ["train", "--train", str(bad), "--out", str(tmp_path / "m")])


def test_tag_empty_tokens_flag(tmp_path, run_cli) -> None:
    data = tmp_path / "btc.conll"
    data.write_text("\n".join(["Alice\tB-PER", "\tO", "ran\tO", ""] * 6) + "\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"btc\.conll:2: .*pass empty_tokens='skip'"):
        run_cli(tag, ["train", "--train", str(data), "--out", str(tmp_path / "m")])
    out = tmp_path / "m2"
    assert run_cli(tag, ["train", "--train", str(data), "--out", str(out), "--empty-tokens",
                      "skip", "--epochs", "1", "--hidden-size", "8",
                      "--set", "model.embedding_dim=8"]) == 0
    assert (out / "config.json").is_file()


def test_tag_train_with_an_auxiliary_corpus(tmp_path, run_cli) -> None:
    rows = ["Alice\tB-PER", "Smith\tI-PER", "visited\tO", "Oslo\tB-LOC", ""] * 10
    train = tmp_path / "train.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    aux = tmp_path / "aux.conll"
    aux.write_text("\n".join(["Bob\tB-NAME", "ran\tO", ""] * 10) + "\n", encoding="utf-8")
    out = tmp_path / "tagger"
    assert run_cli(tag, ["train", "--train", str(train), "--auxiliary", str(aux), "--out",
                      str(out), "--epochs", "1", "--hidden-size", "8",
                      "--set", "model.embedding_dim=8",
                      "--set", "model.auxiliary_ratio=0.5"]) == 0
    assert json.loads((out / "config.json").read_text())["auxiliary_ratio"] == 0.5
    bad = tmp_path / "bad.conll"
    bad.write_text("a\tO\nb\tO\textra\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.conll:2: expected 2 columns"):
        run_cli(tag, ["train", "--train", str(train), "--auxiliary", str(bad), "--out",
                   str(tmp_path / "m")])


def test_tag_train_with_an_auxiliary_corpus_under_ddp(tmp_path, run_ddp) -> None:
    rows = ["Alice\tB-PER", "Smith\tI-PER", "visited\tO", "Oslo\tB-LOC", ""] * 12
    (tmp_path / "train.conll").write_text("\n".join(rows) + "\n", encoding="utf-8")
    aux = ["Bob\tB-NAME", "ran\tO", ""] * 12
    (tmp_path / "aux.conll").write_text("\n".join(aux) + "\n", encoding="utf-8")
    # a multitask batch trains one head: DDP must allow the other's parameters unused; the
    # batches drawn without a seed are the first process's in both
    done = run_ddp("tag", "train", "--train", "train.conll", "--dev", "train.conll",
                   "--auxiliary", "aux.conll", "--out", "m", "--epochs", "2",
                   "--hidden-size", "8", "--set", "model.embedding_dim=8",
                   "--set", "model.batch_size=4", "--set", "training.seed=null")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("saved to m") == 1
    saved = json.loads((tmp_path / "m" / "training.json").read_text())
    assert saved["strategy"] == "ddp_find_unused_parameters_true" and saved["devices"] == 2


def test_tag_auxiliary_files_take_their_own_scheme_and_columns(tmp_path, run_cli) -> None:
    # another corpus, another layout (the tag in column 1 then a POS tag, in IOB1) where the
    # main file is token and tag in IOB2: the auxiliary files were read with the main settings
    rows = ["Alice\tB-PER", "Smith\tI-PER", "visited\tO", "Oslo\tB-LOC", ""] * 10
    train = tmp_path / "train.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    aux = tmp_path / "other.txt"
    aux.write_text("\n".join(["Bob I-PER NNP", "ran O VBD", ""] * 10) + "\n", encoding="utf-8")
    base = ["train", "--train", str(train), "--auxiliary", str(aux), "--epochs", "1",
            "--hidden-size", "8", "--set", "model.embedding_dim=8"]
    with pytest.raises(ValueError, match=r"other\.txt:1: .*'NNP'"):
        run_cli(tag, [*base, "--out", str(tmp_path / "m1")])
    with pytest.raises(ValueError, match=r"other\.txt:1: tag sequence invalid for scheme IOB2"):
        run_cli(tag, [*base, "--out", str(tmp_path / "m2"), "--auxiliary-tag-column", "1"])
    # their own flags named, the main ones' where the main settings apply
    for flags, named in [(["--auxiliary-tag-column", "5"],
                          r"tag_column \(--auxiliary-tag-column\)"),
                         (["--tag-column", "-1", "--auxiliary-token-column", "7"],
                          r"token_column \(--auxiliary-token-column\)"),
                         (["--auxiliary-token-column", "-1"],
                          r"token_column=-1 \(--auxiliary-token-column\) and tag_column=-1 "
                          r"\(--tag-column\) name the same column"),
                         (["--auxiliary-scheme", "IOX"], r"scheme \(--auxiliary-scheme\)")]:
        with pytest.raises(ValueError, match=named):
            run_cli(tag, [*base, "--out", str(tmp_path / "m3"), *flags])
    out = tmp_path / "tagger"
    assert run_cli(tag, [*base, "--out", str(out), "--auxiliary-scheme", "IOB1",
                         "--auxiliary-tag-column", "1", "--auxiliary-token-column", "0"]) == 0
    assert (out / "config.json").is_file()


def test_tag_train_keeps_an_explicit_monitor_and_resumes(tmp_path, run_cli) -> None:
    rows = []
    for name in ["Alice", "Bob"] * 4:
        rows += [f"{name}\tB-PER", "visited\tO", "Oslo\tB-LOC", "\t"]
    train = tmp_path / "train.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "tagger"
    argv = ["train", "--train", str(train), "--dev", str(train), "--out", str(out),
            "--epochs", "1", "--hidden-size", "4", "--set", "model.embedding_dim=4",
            "--set", "training.monitor=val_loss"]
    assert run_cli(tag, argv) == 0
    saved = json.loads((out / "training.json").read_text())
    assert (saved["monitor"], saved["monitor_mode"]) == ("val_loss", "min")
    assert (out / "checkpoints" / "last.ckpt").is_file()
    history = json.loads((out / "meta.json").read_text())["history"]
    assert run_cli(tag, [*argv, "--resume"]) == 0  # finished: resumes to its end at once
    assert json.loads((out / "meta.json").read_text())["history"] == history


def test_tag_train_reads_the_test_file_before_training(tmp_path, monkeypatch, run_cli) -> None:
    from lstmkit.tagging import Tagger

    def no_training(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("trained before reading --test")

    monkeypatch.setattr(Tagger, "fit", no_training)
    (tmp_path / "train.conll").write_text("Paris\tB-LOC\nis\tO\n", encoding="utf-8")
    (tmp_path / "test.conll").write_text("Paris\tB-LOC\nis\tO\tO\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test.conll:2: expected 2 columns"):
        run_cli(tag, ["train", "--train", str(tmp_path / "train.conll"), "--test",
                   str(tmp_path / "test.conll"), "--out", str(tmp_path / "m")])
    # an entity type the training data never tag, named as the file writes it
    (tmp_path / "test.conll").write_text("Paris\tB-LOC\n\nin\tO\nAcme\tB-ORG\n",
                                         encoding="utf-8")
    # the tag's own line, not the line its sentence starts on
    with pytest.raises(ValueError, match=r"test.conll:4: unknown tag 'B-ORG' \(entity type "
                                         r"'ORG' never seen in training\); known types: "
                                         r"\['LOC'\]"):
        run_cli(tag, ["train", "--train", str(tmp_path / "train.conll"), "--test",
                   str(tmp_path / "test.conll"), "--out", str(tmp_path / "m")])


def _tiny_conll(tmp_path):  # type: ignore[no-untyped-def]
    rows = []
    for name in ["Alice", "Bob"] * 4:
        rows += [f"{name}\tB-PER", "visited\tO", "Oslo\tB-LOC", "\t"]
    train = tmp_path / "train.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return train


def test_tag_train_naming_dev_f1_as_the_monitor_saves_max_mode(tmp_path, run_cli) -> None:
    train, out = _tiny_conll(tmp_path), tmp_path / "tagger"
    assert run_cli(tag, ["train", "--train", str(train), "--dev", str(train), "--out", str(out),
                      "--epochs", "1", "--hidden-size", "4", "--set", "model.embedding_dim=4",
                      "--set", "training.monitor=val_f1"]) == 0
    saved = json.loads((out / "training.json").read_text())
    assert (saved["monitor"], saved["monitor_mode"]) == ("val_f1", "max")


def test_tag_progress_flag_overrides_the_config_file(tmp_path, monkeypatch, run_cli) -> None:
    from lstmkit.tagging import Tagger

    class StopError(Exception):
        pass

    seen = []

    def no_training(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(self.training)
        raise StopError

    monkeypatch.setattr(Tagger, "fit", no_training)
    config = tmp_path / "off.yaml"
    config.write_text("training: {progress_bar: false}\n", encoding="utf-8")
    base = ["train", "--train", str(_tiny_conll(tmp_path)), "--out", str(tmp_path / "m")]
    for argv in ([*base, "--config", str(config), "--progress"], base):
        with pytest.raises(StopError):
            run_cli(tag, argv)
    assert [t.progress_bar for t in seen] == [True, False]


def test_tag_dev_help_says_early_stopping_needs_patience(capsys, run_cli) -> None:
    with pytest.raises(SystemExit):
        run_cli(tag, ["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "are kept; with --patience, training also stops early" in text


def test_tag_token_column_that_is_the_tag_column_is_an_error(tmp_path, run_cli) -> None:
    data = tmp_path / "train.conll"
    data.write_text("Alice\tB-PER\nran\tO\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"token_column=1 \(--token-column\) and tag_column=-1 "
                                         r"\(--tag-column\) name the same column"):
        run_cli(tag, ["train", "--train", str(data), "--token-column", "1",
                      "--out", str(tmp_path / "m")])


def test_tag_data_settings_of_another_type_name_the_key(tmp_path, run_cli) -> None:
    data = tmp_path / "train.conll"
    data.write_text("Alice\tB-PER\nran\tO\n", encoding="utf-8")
    train = ["train", "--train", str(data), "--out", str(tmp_path / "m")]
    cases = [("data.token_column=x", "data.token_column must be an int, got str 'x'"),
             ("data.tag_column=true", "data.tag_column must be an int, got bool True"),
             ("data.auxiliary=[a, 5]",
              r"data.auxiliary must be a str or a list of str, got list \['a', 5\]"),
             ("data.encoding=null", "data.encoding must be a str, got NoneType None")]
    for setting, message in cases:
        with pytest.raises(TypeError, match=message):
            run_cli(tag, [*train, "--set", setting])


def test_tag_training_without_test_data_removes_an_older_runs_test_scores(tmp_path,
                                                                         run_cli) -> None:
    data = tmp_path / "train.conll"
    data.write_text("Alice\tB-PER\nran\tO\n\nBob\tB-PER\nsat\tO\n", encoding="utf-8")
    model = tmp_path / "m"
    train = ["train", "--train", str(data), "--out", str(model), "--epochs", "1",
             "--hidden-size", "4", "--set", "model.embedding_dim=4"]
    assert run_cli(tag, [*train, "--test", str(data)]) == 0
    assert (model / "test" / "metrics.json").is_file()
    assert run_cli(tag, train) == 0  # the same --out, no --test
    assert not (model / "test").exists()
    assert run_cli(tag, [*train, "--test", str(data)]) == 0
    (model / "test" / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert run_cli(tag, train) == 0
    assert sorted(p.name for p in (model / "test").iterdir()) == ["notes.txt"]


def test_tag_output_scheme_writes_predictions_in_the_scheme_asked(tmp_path, capsys,
                                                                   run_cli) -> None:
    rows = []
    for name in ["Alice", "Bob"] * 10:  # one-token and two-token entities
        rows += [f"{name}\tB-PER", "Smith\tI-PER", "visited\tO", "Oslo\tB-LOC", "\t"]
    train = tmp_path / "train.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "tagger"
    with pytest.raises(ValueError, match=r"--output-scheme \(data\.output_scheme\) must be one "
                                         r"of .*got 'BIO2'"):
        run_cli(tag, ["train", "--train", str(train), "--out", str(out),
                      "--output-scheme", "BIO2"])
    assert not out.exists()  # refused before training
    with pytest.raises(ValueError, match=r"--output-scheme \(data\.output_scheme\) is the "
                                         r"scheme of the test predictions that --test writes"):
        run_cli(tag, ["train", "--train", str(train), "--out", str(out),
                      "--output-scheme", "BIOES"])  # (it was dropped without a word)
    assert not out.exists()
    assert run_cli(tag, ["train", "--train", str(train), "--test", str(train), "--out", str(out),
                         "--epochs", "4", "--hidden-size", "8", "--output-scheme", "BIOES",
                         "--set", "model.embedding_dim=8", "--set", "training.lr=0.05"]) == 0
    gold = [line.split("\t")[1] for line in
            (out / "test" / "predictions.conll").read_text().splitlines() if line][:4]
    assert gold == ["B-PER", "E-PER", "O", "S-LOC"]
    capsys.readouterr()
    for scheme, expected in (("BILOU", ["B-PER", "L-PER", "O", "U-LOC"]),
                             ("IOE2", ["I-PER", "E-PER", "O", "E-LOC"]),
                             (None, ["B-PER", "I-PER", "O", "B-LOC"])):
        ev = tmp_path / f"ev_{scheme}"
        flags = [] if scheme is None else ["--output-scheme", scheme]
        assert run_cli(tag, ["evaluate", "--model", str(out), "--data", str(train), "--out",
                             str(ev), *flags]) == 0
        lines = [line.split("\t") for line in
                 (ev / "predictions.conll").read_text().splitlines() if line]
        assert [cells[1] for cells in lines[:4]] == expected  # gold, in the scheme asked
        predicted = {cells[2].partition("-")[0] for cells in lines}
        allowed = {"BILOU": set("BILUO"), "IOE2": set("IEO"), None: set("BIO")}[scheme]
        assert predicted <= allowed, (scheme, predicted)
    with pytest.raises(ValueError, match=r"--output-scheme is the scheme of the "
                                         r"predictions\.conll that --out writes, but no --out"):
        run_cli(tag, ["evaluate", "--model", str(out), "--data", str(train),
                      "--output-scheme", "BIOES"])
    with pytest.raises(ValueError, match=r"--output-scheme must be one of .*got 'IOB3'"):
        run_cli(tag, ["evaluate", "--model", str(out), "--data", str(train),
                      "--output-scheme", "IOB3"])
    conll = tmp_path / "raw.conll"
    conll.write_text("Alice\nSmith\nvisited\nOslo\n", encoding="utf-8")
    printed = {}
    for scheme in ("IOB2", "BILOU"):
        capsys.readouterr()
        assert run_cli(tag, ["predict", "--model", str(out), "--input", str(conll), "--conll",
                             "--output-scheme", scheme]) == 0
        printed[scheme] = [r.split("\t")[1] for r in capsys.readouterr().out.splitlines() if r]
    assert printed["IOB2"] == ["B-PER", "I-PER", "O", "B-LOC"]  # (trained enough to tag it)
    assert printed["BILOU"] == ["B-PER", "L-PER", "O", "U-LOC"]
    with pytest.raises(ValueError, match=r"--output-scheme applies to --conll's tags"):
        run_cli(tag, ["predict", "--model", str(out), "--input", str(conll),
                      "--output-scheme", "BIOES"])
