"""``lstmkit tag train|evaluate|predict``: sequence tagging (NER) from the command line.

Settings come from an optional YAML file with sections ``data``, ``model``
(:class:`~lstmkit.tagging.TaggerConfig`) and ``training`` (:class:`~lstmkit.training.TrainConfig`),
then from flags, then from ``--set SECTION.KEY=VALUE``. CoNLL-2003 in one command::

    lstmkit tag train --train eng.train --dev eng.testa --test eng.testb \\
        --tag-column 3 --scheme IOB1 --vectors glove-6b-50d --out runs/conll03
"""

from __future__ import annotations

import argparse
import re

SECTIONS = ("data", "model", "training")
FLAG_KEYS = {
    "train": ("data", "train"), "dev": ("data", "dev"), "test": ("data", "test"),
    "auxiliary": ("data", "auxiliary"), "auxiliary_scheme": ("data", "auxiliary_scheme"),
    "auxiliary_token_column": ("data", "auxiliary_token_column"),
    "auxiliary_tag_column": ("data", "auxiliary_tag_column"),
    "token_column": ("data", "token_column"), "tag_column": ("data", "tag_column"),
    "scheme": ("data", "scheme"), "encoding": ("data", "encoding"),
    "empty_tokens": ("data", "empty_tokens"), "output_scheme": ("data", "output_scheme"),
    "vectors": ("model", "vectors"), "char_encoder": ("model", "char_encoder"),
    "decoder": ("model", "decoder"), "hidden_size": ("model", "hidden_size"),
    "batch_size": ("model", "batch_size"),
    "epochs": ("training", "max_epochs"), "lr": ("training", "lr"),
    "seed": ("training", "seed"), "patience": ("training", "early_stopping_patience"),
    "progress": ("training", "progress_bar"),
}
# data key -> the type of its value (list: one path or a list of them)
DATA_KEYS = {"train": str, "dev": str, "test": str, "auxiliary": list, "token_column": int,
             "tag_column": int, "scheme": str, "encoding": str, "empty_tokens": str,
             "auxiliary_scheme": str, "auxiliary_token_column": int,
             "auxiliary_tag_column": int, "output_scheme": str}
REPORT_FILES = ("metrics.json", "predictions.conll")
"""What ``tag evaluate --out`` writes (and ``tag train --test`` into ``<out>/test``)."""
# how the auxiliary files are read where it differs from the main files (another corpus)
AUXILIARY_KEYS = ("scheme", "token_column", "tag_column")


def add_parser(parser: argparse.ArgumentParser) -> None:
    from lstmkit.cli.common import add_tune_arguments

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = actions.add_parser("train", help="train a tagger and save it")
    train.add_argument("--config", help="YAML file with sections data, model, training")
    train.add_argument("--train", help="training CoNLL file")
    train.add_argument("--dev", help="validation CoNLL file: the best epoch's weights (dev "
                                     "entity F1 unless training.monitor is set) are kept; "
                                     "with --patience, training also stops early")
    train.add_argument("--test", help="test CoNLL file: scored after training")
    train.add_argument("--auxiliary", nargs="+", metavar="FILE",
                       help="CoNLL files with another tag set for multitask training (a "
                            "second head, dropped after training)")
    train.add_argument("--auxiliary-scheme",
                       help="the auxiliary files' tag scheme (default: --scheme's)")
    train.add_argument("--auxiliary-token-column", type=int,
                       help="the auxiliary files' token column (default: --token-column's)")
    train.add_argument("--auxiliary-tag-column", type=int,
                       help="the auxiliary files' tag column (default: --tag-column's)")
    train.add_argument("--out", required=True, help="directory for the saved model")
    _data_flags(train)
    train.add_argument("--vectors", help="'glove-6b-50d' or a word2vec/GloVe text file")
    train.add_argument("--char-encoder", choices=["lstm", "cnn", "none"])
    train.add_argument("--decoder", choices=["crf", "softmax"])
    train.add_argument("--hidden-size", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--patience", type=int, help="early-stopping patience (epochs)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override any setting, e.g. model.lstm.layer_norm=true")
    train.add_argument("--progress", action="store_true", default=None,
                       help="show a progress bar (training.progress_bar; off by default)")
    add_tune_arguments(train, "--dev (dev entity F1)",
                       "learning rate, width, dropout and word dropout")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its checkpoints "
                            "(training.checkpoint_dir, default <out>/checkpoints)")

    evaluate = actions.add_parser("evaluate", help="score a saved tagger on a CoNLL file")
    evaluate.add_argument("--model", required=True, help="saved model directory")
    evaluate.add_argument("--data", required=True, help="labelled CoNLL file")
    evaluate.add_argument("--out", help="write metrics.json and predictions.conll here")
    _data_flags(evaluate)

    predict = actions.add_parser("predict", help="find entities in raw text, one text a line")
    predict.add_argument("--model", required=True, help="saved model directory")
    predict.add_argument("--input", default="-", help="text file, one text a line; '-' for "
                                                      "stdin (default; --conll needs a file)")
    predict.add_argument("--encoding", default=None, help="input encoding (default utf-8)")
    predict.add_argument("--json", action="store_true", help="print one JSON object a line")
    predict.add_argument("--conll", action="store_true",
                         help="the input is pre-tokenised CoNLL (a token a line in its first "
                         "column, a blank line between sentences, other columns ignored): "
                         "tag those tokens, untouched by the tokenizer, and print "
                         "token<TAB>tag lines (with --json, tokens and tags a sentence); "
                         "it reads a file (--input FILE), not stdin")
    _output_scheme_flag(predict, "the tags --conll prints")


def _data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-column", type=int, help="token column index (default 0)")
    parser.add_argument("--tag-column", type=int, help="tag column index (default -1, the last)")
    parser.add_argument("--scheme", help="the file's tag scheme: IOB1, IOB2 (default), IOE1, "
                                         "IOE2, BIOES, BILOU")
    parser.add_argument("--encoding", help="input encoding (default utf-8)")
    parser.add_argument("--empty-tokens", choices=("error", "skip"),
                        help="rows whose token is empty: error (default) or skip them")
    _output_scheme_flag(parser, "predictions.conll's gold and predicted tags (evaluate, and "
                        "train with --test, which write it)")


def _output_scheme_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--output-scheme", metavar="NAME",
                        help=f"the tag scheme of {what}: IOB2 (default), IOB1, IOE1, IOE2, "
                             "BIOES, BILOU")


def _read(path: str, data: dict, auxiliary: bool = False) -> list:
    from lstmkit.tagging import read_conll

    flags = {}
    if auxiliary:  # the auxiliary_* settings given, the main files' for the others
        own = [k for k in AUXILIARY_KEYS if data.get(f"auxiliary_{k}") is not None]
        data = {**data, **{k: data[f"auxiliary_{k}"] for k in own}}
        flags = {k: "--auxiliary-" + k.replace("_", "-") for k in own}
    return read_conll(path, token_column=data.get("token_column", 0),
                      tag_column=data.get("tag_column", -1), scheme=data.get("scheme", "IOB2"),
                      encoding=data.get("encoding", "utf-8"),
                      empty_tokens=data.get("empty_tokens", "error"), flags=flags)


def run(args: argparse.Namespace) -> int:
    if args.action == "train":
        return _train(args)
    if args.action == "evaluate":
        return _evaluate(args)
    return _predict(args)


def _output_scheme(name: str | None, flag: str = "--output-scheme") -> str:
    """``--output-scheme`` (``data.output_scheme``) checked: a scheme's name (IOB2 when not
    given), BILOU kept as BILOU (written with ``L-``/``U-``)."""
    from lstmkit.tagging.schemes import check_scheme, is_bilou

    if name is None:
        return "IOB2"
    return "BILOU" if is_bilou(name) else check_scheme(name, flag)


def _report(evaluation, out, scheme: str) -> None:  # type: ignore[no-untyped-def]
    import json
    from pathlib import Path

    print(evaluation.scores.table())
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        metrics_json, predictions = (out / name for name in REPORT_FILES)
        metrics_json.write_text(json.dumps(evaluation.scores.to_dict(), indent=2))
        evaluation.write_conll(predictions, output_scheme=scheme)
        print(f"wrote {metrics_json} and {predictions}")


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lstmkit.tagging import Tagger, TaggerConfig
    from lstmkit.tagging.tagger import SAVED_FILES, check_gold, entity_types
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
    output_scheme = _output_scheme(data.get("output_scheme"),  # before training, not after
                                   "--output-scheme (data.output_scheme)")
    if data.get("output_scheme") is not None and not data.get("test"):
        raise ValueError("--output-scheme (data.output_scheme) is the scheme of the test "
                         "predictions that --test writes (<out>/test/predictions.conll), but no "
                         "--test is given: give one, or drop --output-scheme")
    model_config = TaggerConfig.from_dict(settings["model"])
    # checkpoints under --out (where --resume looks) unless training.checkpoint_dir
    folders = {"checkpoint_dir": str(Path(args.out) / "checkpoints")}
    # the command line's defaults; the file, flags (--progress) and --set override them
    train_config = TrainConfig.from_dict({"progress_bar": False, "epoch_log": True, **folders,
                                          **settings["training"]})
    space = None if args.tune is None else space_of_args(  # before the data are read
        args, Tagger, model_config, train_config, command_line_keys(args, FLAG_KEYS),
        from_file)
    auxiliary_files = data.get("auxiliary") or []
    if isinstance(auxiliary_files, str):
        auxiliary_files = [auxiliary_files]
    check_inputs_kept(args.out, (*SAVED_FILES, *(f"test/{name}" for name in REPORT_FILES),
                                 *TUNING_FILES), {
        "--config": args.config, "--tune-space": args.tune_space,
        **input_names(args, {**data, "auxiliary": auxiliary_files},
                      ("train", "dev", "test", "auxiliary")),
        input_name(args, "vectors", "model.vectors"): model_config.vectors})
    if data.get("test"):  # (the report's folder: a file there failed after training)
        check_output_path(Path(args.out) / "test", "--out's test/", directory=True)
    train = _read(data["train"], data)
    dev = _read(data["dev"], data) if data.get("dev") else None
    test = _read(data["test"], data) if data.get("test") else None  # its errors before training
    if test is not None:  # entity types the trained model will not know
        known = entity_types(train)
        for n, sentence in enumerate(test):
            check_gold(sentence, n, data["test"], known)
    auxiliary = [s for path in auxiliary_files for s in _read(path, data, auxiliary=True)
                 ] or None
    # dev entity F1 is monitored unless training.monitor is set
    dev_monitor = "monitor" not in settings["training"]
    if space is not None:
        model_config, train_config = tune_from_args(
            args, Tagger, model_config, train_config, train, dev, space,
            dev_monitor=dev_monitor, fit_kwargs={"auxiliary": auxiliary})
    tagger = Tagger(model_config, train_config, dev_monitor=dev_monitor
                    ).fit(train, dev, auxiliary=auxiliary, resume=args.resume)
    if space is None and not args.resume:  # (once trained: a refused run leaves them)
        remove_stale_tuning(args.out)
    out = tagger.save(args.out)
    if not is_first_process():
        return 0  # under DDP, the first process alone writes the model and the report
    print(f"trained in {tagger.train_time_s:.1f} s; saved to {out}")
    if test is not None:
        evaluation = tagger.evaluate(test, source=data["test"], progress=None)
        _report(evaluation, Path(out) / "test", output_scheme)
    else:  # a previous run's test scores in --out would pass for this model's
        folder = Path(out) / "test"
        for name in REPORT_FILES:
            (folder / name).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lstmkit.tagging import Tagger
    from lstmkit.text.io import check_inputs_kept, check_output_path

    if args.out is not None:
        check_output_path(args.out, "--out", directory=True)
        check_inputs_kept(args.out, REPORT_FILES, {"--data": args.data})  # (_report's files)
    scheme = _output_scheme(args.output_scheme)
    if args.output_scheme is not None and args.out is None:
        raise ValueError("--output-scheme is the scheme of the predictions.conll that --out "
                         "writes, but no --out is given: give one, or drop --output-scheme")
    data = {k: v for k, v in {"token_column": args.token_column, "tag_column": args.tag_column,
                              "scheme": args.scheme, "encoding": args.encoding,
                              "empty_tokens": args.empty_tokens}.items()
            if v is not None}
    tagger = Tagger.load(args.model)
    evaluation = tagger.evaluate(_read(args.data, data), source=args.data, progress=None)
    _report(evaluation, args.out, scheme)
    return 0


def _predict(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from lstmkit.classification.classifier import tsv_escape
    from lstmkit.tagging import Tagger
    from lstmkit.text.io import read_raw_texts

    if args.conll:
        return _predict_conll(args)
    if args.output_scheme is not None:
        raise ValueError("--output-scheme applies to --conll's tags; without --conll, predict "
                         "prints entities (spans), in no scheme: drop --output-scheme")
    tagger = Tagger.load(args.model)  # (before stdin is read to its end)
    texts = read_raw_texts(args.input, args.encoding or "utf-8")
    _refuse_conll_lines(texts, args.input)
    for text, entities in zip(texts, tagger.predict(texts, progress=None), strict=True):
        if args.json:
            print(json.dumps({"text": text, "entities": [asdict(e) for e in entities]},
                             ensure_ascii=False))
            continue
        print(tsv_escape(text))
        for e in entities:
            print(f"  {e.start}:{e.end}\t{tsv_escape(e.type)}\t{tsv_escape(e.text)}\t"
                  f"{e.score:.4f}")
    return 0


_TAG = re.compile(r"O|[BIESLU]-\S+")


def _refuse_conll_lines(texts: list[str], source: str) -> None:
    """A ValueError when the texts are the columns of a CoNLL file given without ``--conll``
    (which would tag each ``token tag`` line as a text of two words): every line has the same
    number of fields, two or more, the last a tag, and some line's tag is ``O``. Texts vary in
    length, and few end in a lone ``O`` ("Delays on I-95" and "Traffic on I-80" are texts)."""
    lines = [t.split("\t") if "\t" in t else t.split() for t in texts
             if t.strip() and not t.startswith("-DOCSTART-")]
    if (len(lines) >= 2 and len({len(f) for f in lines}) == 1 and len(lines[0]) >= 2
            and all(_TAG.fullmatch(f[-1]) for f in lines) and any(f[-1] == "O" for f in lines)):
        where = "stdin" if source == "-" else source
        raise ValueError(
            f"{where}: every line is a token and a tag ({' '.join(lines[0])!r}, ...): a CoNLL "
            "file, which `tag predict` would read as texts of one line each; pass --conll "
            "--input FILE to tag its tokens")


def _predict_conll(args: argparse.Namespace) -> int:
    """``tag predict --conll``: the tags of a pre-tokenised CoNLL file's tokens."""
    import json

    from lstmkit.tagging import Tagger, read_conll
    from lstmkit.tagging.schemes import encode_tags

    if args.input == "-":
        raise ValueError("--conll reads a file: give it with --input FILE (not stdin)")
    scheme = _output_scheme(args.output_scheme)
    sentences = read_conll(args.input, tag_column=None, encoding=args.encoding or "utf-8")
    tagger = Tagger.load(args.model)
    for sentence, tags in zip(sentences, tagger.tag_tokens(
            (s.tokens for s in sentences), progress=None),
                              strict=True):
        tags = encode_tags(tags, "IOB2", scheme)
        if args.json:
            print(json.dumps({"tokens": sentence.tokens, "tags": tags}, ensure_ascii=False))
            continue
        print("\n".join(f"{token}\t{tag}" for token, tag in
                        zip(sentence.tokens, tags, strict=True)) + "\n")
    return 0
