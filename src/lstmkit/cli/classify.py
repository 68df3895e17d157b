"""``lstmkit classify train|evaluate|predict``: text classification from the command line.

Settings come from an optional YAML file with sections ``data``, ``model``
(:class:`~lstmkit.classification.ClassifierConfig`) and ``training``
(:class:`~lstmkit.training.TrainConfig`), then from flags, then from ``--set
SECTION.KEY=VALUE`` (e.g. ``--set model.lstm.layer_norm=true``), later ones winning.
"""

from __future__ import annotations

import argparse

SECTIONS = ("data", "model", "training")
# flag dest -> (section, key)
FLAG_KEYS = {
    "train": ("data", "train"), "dev": ("data", "dev"), "test": ("data", "test"),
    "format": ("data", "format"), "text_column": ("data", "text_column"),
    "label_column": ("data", "label_column"), "encoding": ("data", "encoding"),
    "vectors": ("model", "vectors"), "pooling": ("model", "pooling"),
    "hidden_size": ("model", "hidden_size"), "batch_size": ("model", "batch_size"),
    "epochs": ("training", "max_epochs"), "lr": ("training", "lr"),
    "seed": ("training", "seed"), "patience": ("training", "early_stopping_patience"),
    "progress": ("training", "progress_bar"),
}
REPORT_FILES = ("test_confusion.png", "test_metrics.json")
"""What ``classify train --test`` writes into ``--out`` beside the model."""
# data key -> the type of its value
DATA_KEYS = {"train": str, "dev": str, "test": str, "format": str, "text_column": str,
             "label_column": str, "encoding": str}


def add_parser(parser: argparse.ArgumentParser) -> None:
    from lstmkit.cli.common import add_tune_arguments

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = actions.add_parser("train", help="train a classifier and save it")
    train.add_argument("--config", help="YAML file with sections data, model, training")
    train.add_argument("--train", help="training data (lines 'label text', .csv/.tsv, or a "
                                       "folder per class)")
    train.add_argument("--dev", help="validation data: the best epoch's weights (dev accuracy "
                                     "unless training.monitor is set) are kept; with "
                                     "--patience, training also stops early")
    train.add_argument("--test", help="test data: scored after training")
    train.add_argument("--out", required=True, help="directory for the saved model")
    _data_flags(train)
    train.add_argument("--vectors", help="'glove-6b-50d' or a word2vec/GloVe text file")
    train.add_argument("--pooling", choices=["last", "max", "mean", "attention"])
    train.add_argument("--hidden-size", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--patience", type=int, help="early-stopping patience (epochs)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override any setting, e.g. model.lstm.zoneout=0.1")
    train.add_argument("--progress", action="store_true", default=None,
                       help="show a progress bar (training.progress_bar; off by default)")
    add_tune_arguments(train, "--dev (dev accuracy)",
                       "learning rate, width, dropout and embedding dropout")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its checkpoints "
                            "(training.checkpoint_dir, default <out>/checkpoints)")

    evaluate = actions.add_parser("evaluate", help="score a saved classifier on labelled data")
    evaluate.add_argument("--model", required=True, help="saved model directory")
    evaluate.add_argument("--data", required=True, help="labelled data")
    evaluate.add_argument("--out", help="write metrics.json, confusion.png and "
                                        "predictions.tsv here")
    _data_flags(evaluate)

    predict = actions.add_parser("predict", help="classify raw texts, one a line, or a "
                                                 "CSV/TSV file's text column")
    predict.add_argument("--model", required=True, help="saved model directory")
    predict.add_argument("--input", default="-", help="text file, one text a line, or a "
                                                      ".csv/.tsv file with a header; '-' for "
                                                      "stdin (default), one text a line")
    predict.add_argument("--text-column", help="the text column of a .csv/.tsv --input "
                                               "(default 'text'; other columns are left out)")
    predict.add_argument("--output", help="write a TSV here instead of printing")
    predict.add_argument("--encoding", default=None, help="input encoding (default utf-8)")


def _data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["auto", "lines", "csv", "tsv", "folders"])
    parser.add_argument("--text-column", help="CSV/TSV text column (default 'text')")
    parser.add_argument("--label-column", help="CSV/TSV label column (default 'label')")
    parser.add_argument("--encoding", help="input encoding (default utf-8)")


def _read(path: str, data: dict) -> list:
    from lstmkit.classification import read_examples
    from lstmkit.classification.readers import resolve_format

    format = resolve_format(path, data.get("format", "auto"))
    given = [f"--{key.replace('_', '-')}" for key in ("text_column", "label_column")
             if key in data]
    if given and format not in ("csv", "tsv"):
        raise ValueError(f"{' and '.join(given)} (data.text_column / data.label_column) name "
                         f"CSV/TSV columns, but {path!r} is read as {format!r}, which has no "
                         "columns; drop them or pass a .csv/.tsv file (or --format csv/tsv)")
    return read_examples(path, format,
                         text_column=data.get("text_column", "text"),
                         label_column=data.get("label_column", "label"),
                         encoding=data.get("encoding", "utf-8"))


def run(args: argparse.Namespace) -> int:
    if args.action == "train":
        return _train(args)
    if args.action == "evaluate":
        return _evaluate(args)
    return _predict(args)


def _train(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from lstmkit.classification import Classifier, ClassifierConfig
    from lstmkit.classification.classifier import SAVED_FILES, check_class_weight, label_vocabulary
    from lstmkit.classification.data import check_texts, encode_labels
    from lstmkit.text.io import (
        check_data_settings,
        check_inputs_kept,
        check_output_path,
        command_line_keys,
        input_name,
        input_names,
        settings_from_args,
    )
    from lstmkit.text.tuning import space_of_args, tune_from_args
    from lstmkit.training import TrainConfig, is_first_process
    from lstmkit.training.tuning import TUNING_FILES, check_tune_flags, remove_stale_tuning

    check_output_path(args.out, "--out", directory=True)  # before training, not after
    check_tune_flags(args)  # before the data are read
    settings, from_file = settings_from_args(args, SECTIONS, FLAG_KEYS)
    data = settings["data"]
    check_data_settings(data, DATA_KEYS)
    if not data.get("train"):
        raise ValueError("training data is required: pass --train or data.train in --config")
    model_config = ClassifierConfig.from_dict(settings["model"])
    # the command line's defaults; the file, flags (--progress) and --set override them
    training = {"progress_bar": False, "epoch_log": True, **_checkpoints(args.out),
                **settings["training"]}
    train_config = TrainConfig.from_dict(training)
    space = None if args.tune is None else space_of_args(  # before the data are read
        args, Classifier, model_config, train_config, command_line_keys(args, FLAG_KEYS),
        from_file)
    check_inputs_kept(args.out, (*SAVED_FILES, *REPORT_FILES, *TUNING_FILES), {
        "--config": args.config, "--tune-space": args.tune_space,
        **input_names(args, data, ("train", "dev", "test")),
        input_name(args, "vectors", "model.vectors"): model_config.vectors})
    train = _read(data["train"], data)
    dev = _read(data["dev"], data) if data.get("dev") else None
    test = _read(data["test"], data) if data.get("test") else None  # its errors before training
    if model_config.class_weight is not None:
        check_texts(train, data["train"])
        check_class_weight(model_config.class_weight, label_vocabulary(train))
    if test is not None:  # labels the trained model will not know
        check_texts(test, data["test"])
        encode_labels(test, label_vocabulary(train), data["test"])
    # dev accuracy is monitored unless training.monitor is set
    dev_monitor = "monitor" not in settings["training"]
    if space is not None:
        model_config, train_config = tune_from_args(
            args, Classifier, model_config, train_config, train, dev, space,
            dev_monitor=dev_monitor)
    clf = Classifier(model_config, train_config, dev_monitor=dev_monitor
                     ).fit(train, dev, resume=args.resume)
    if space is None and not args.resume:  # (once trained: a refused run leaves them)
        remove_stale_tuning(args.out)
    out = clf.save(args.out)
    if not is_first_process():
        return 0  # under DDP, the first process alone writes the model and the report
    print(f"trained in {clf.train_time_s:.1f} s; saved to {out}")
    if test is not None:
        evaluation = clf.evaluate(test, source=data["test"], progress=None)
        print(evaluation.report())
        confusion_png, metrics_json = (Path(out) / name for name in REPORT_FILES)
        evaluation.plot_confusion(confusion_png)
        metrics_json.write_text(json.dumps(evaluation.to_dict(), indent=2))
    else:  # a previous run's test scores in --out would pass for this model's
        for name in REPORT_FILES:
            (Path(out) / name).unlink(missing_ok=True)
    return 0


def _checkpoints(out: str) -> dict[str, str]:
    """Checkpoints go under ``<out>/checkpoints`` (where ``--resume`` looks) unless
    training.checkpoint_dir says otherwise."""
    from pathlib import Path

    return {"checkpoint_dir": str(Path(out) / "checkpoints")}


def _evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from lstmkit.classification import Classifier
    from lstmkit.text.io import check_inputs_kept, check_output_path

    if args.out:
        check_output_path(args.out, "--out", directory=True)
        check_inputs_kept(args.out, ("metrics.json", "confusion.png", "predictions.tsv"),
                          {"--data": args.data})  # (the files written below)
    data = {k: v for k, v in {"format": args.format, "text_column": args.text_column,
                              "label_column": args.label_column,
                              "encoding": args.encoding}.items() if v is not None}
    clf = Classifier.load(args.model)
    evaluation = clf.evaluate(_read(args.data, data), source=args.data, progress=None)
    print(evaluation.report())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(evaluation.to_dict(), indent=2))
        evaluation.plot_confusion(out / "confusion.png")
        evaluation.write_predictions(out / "predictions.tsv")
        print(f"wrote {out / 'metrics.json'}, {out / 'confusion.png'}, "
              f"{out / 'predictions.tsv'}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from lstmkit.classification import Classifier, write_predictions
    from lstmkit.classification.classifier import SAVED_FILES, tsv_escape
    from lstmkit.saving import check_not_model_file
    from lstmkit.text.io import check_not_an_input, check_output_path

    if args.output:
        check_output_path(args.output, "--output", directory=False)
        check_not_an_input(args.output, "--output", {"--input": args.input})
    clf = Classifier.load(args.model)
    if args.output:  # (a folder that holds no model is said to be none first)
        check_not_model_file(args.output, args.model, SAVED_FILES, "--output",
                             "the predictions")
    texts = _texts_to_predict(args.input, args.text_column, args.encoding or "utf-8")
    predictions = clf.predict(texts, progress=None)  # (a bar on a terminal)
    if args.output:
        write_predictions(args.output, predictions, clf.label_names)
        print(f"wrote {len(predictions)} predictions to {args.output}")
        return 0
    for p in predictions:
        probs = " ".join(f"{tsv_escape(k)}:{v:.3f}" for k, v in p.probabilities.items())
        print(f"{tsv_escape(p.label)}\t{probs}\t{tsv_escape(p.text)}")
    return 0


def _texts_to_predict(path: str, text_column: str | None, encoding: str) -> list[str]:
    """The texts of ``--input``: the ``text_column`` (default 'text') of a .csv/.tsv file, or
    the lines of any other file or of stdin; a file of another format (.jsonl, .conll, ...)
    is refused, as training refuses it, rather than read line by line as texts."""
    from pathlib import Path

    from lstmkit.classification import read_raw_texts
    from lstmkit.classification.readers import (
        CONLL_SUFFIXES,
        UNSUPPORTED_SUFFIXES,
        read_csv_format,
    )

    suffix = "" if path == "-" else Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return [e.text for e in read_csv_format(
            path, text_column=text_column or "text", label_column=None,
            delimiter="," if suffix == ".csv" else "\t", encoding=encoding)]
    if suffix in CONLL_SUFFIXES:
        raise ValueError(f"--input {path}: a {suffix} file holds a tag per token (sequence "
                         "tagging), not texts to classify: tag it with `lstmkit tag predict "
                         "--conll`")
    if suffix in UNSUPPORTED_SUFFIXES:
        raise ValueError(f"--input {path}: {suffix} files cannot be read; give a .csv/.tsv "
                         "file with a header (its 'text' column, or --text-column), or raw "
                         "texts, one a line")
    if text_column is not None:
        raise ValueError(f"--text-column {text_column!r} names a column of a .csv/.tsv "
                         f"--input, but {'stdin' if path == '-' else path!r} is read as raw "
                         "texts, one a line, which have none; drop it or give a .csv/.tsv "
                         "file")
    return read_raw_texts(path, encoding)
