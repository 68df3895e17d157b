"""WNUT-17 emerging-entity NER with lstmkit's char+word BiLSTM-CRF.

Protocol: the shared-task splits (``wnut17train.conll`` 3,394 / ``emerging.dev.conll`` 1,009 /
``emerging.test.annotated`` 1,287 sentences), IOB2 in the files, BIOES inside the model,
early stopping and best weights on dev entity F1, entity-level F1 on test computed as
conlleval does (seqeval, default mode, on IOB2). Training wall time and inference speed
(sentences per second over the test set, Viterbi included) are measured on this machine.
Prints a table beside the published numbers and writes JSON (by default
benchmarks/results/ner_wnut17_multitask_btc_snap3.json: give a quick run its own --out).

    python benchmarks/ner_wnut17.py                     # the defaults: the best setting within
    python benchmarks/ner_wnut17.py --seeds 0 1 2       # 20 minutes of training (41.40 on test)
    python benchmarks/ner_wnut17.py --max-epochs 1 --out /tmp/ner_wnut17_quick.json  # a quick check
    python benchmarks/ner_wnut17.py --auxiliary none --snapshots 1 --max-epochs 25  # WNUT alone

``--auxiliary btc`` (the default) trains a second CRF head on the Broad Twitter Corpus sections
a, b, e, f and g (7,338 tweets, PER/LOC/ORG) on the shared encoder
(``Tagger.fit(auxiliary=...)``); f is read with ``empty_tokens="skip"`` for its rows with an
empty token. Section h has tokens with spaces inside, which a space-or-TAB separated reader
cannot take apart. ``--snapshots 3`` tags with the pooled CRF scores of the three best dev
epochs of each run (``TaggerConfig.snapshots``), ``--ensemble N`` trains N networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from lstmkit.datasets import data_dir
from lstmkit.tagging import Tagger, TaggerConfig, read_conll
from lstmkit.training import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Distinct, environment, int_at_least

RESULTS = Path(__file__).resolve().parent / "results"
BTC_SECTIONS = ("a", "b", "e", "f", "g")
TARGET = 41.0
PUBLISHED = [
    ("2017 shared-task systems (SpinningBytes 2nd / Aguilar 1st)", "40.78 / ~41.9"),
    ("Aguilar et al. 2018, multitask BiLSTM-CNN-CRF", "45.55"),
    ("Akbik et al. 2019, BiLSTM-CRF + pooled Flair embeddings", "49.59"),
]


def tagger_config(args: argparse.Namespace) -> TaggerConfig:
    return TaggerConfig(
        tag_scheme="BIOES", lowercase=True, vectors=args.vectors,
        vectors_vocab=args.vectors_vocab if args.vectors else 0,
        freeze_embeddings=args.freeze_embeddings,
        char_encoder=args.char_encoder, char_dim=25, char_hidden=args.char_hidden,
        casing=True, hidden_size=args.hidden, num_layers=1, decoder="crf",
        dropout=args.dropout, word_dropout=args.word_dropout, batch_size=args.batch_size,
        auxiliary_weight=args.auxiliary_weight, auxiliary_ratio=args.auxiliary_ratio,
        snapshots=args.snapshots, ensemble=args.ensemble,
    )


def training_config(args: argparse.Namespace, seed: int) -> TrainConfig:
    return TrainConfig(max_epochs=args.max_epochs, lr=args.lr, optimizer="adam",
                       grad_clip=5.0, adversarial=args.adversarial,
                       early_stopping_patience=args.patience, seed=seed,
                       progress_bar=False, accelerator="cpu", devices=1)


def run_one(seed: int, args: argparse.Namespace) -> dict:
    folder = data_dir() / "ner" / "wnut17"
    train = read_conll(folder / "wnut17train.conll")
    dev = read_conll(folder / "emerging.dev.conll")
    test = read_conll(folder / "emerging.test.annotated")
    auxiliary = None
    if args.auxiliary == "btc":
        auxiliary = [s for section in args.btc_sections
                     for s in read_conll(data_dir() / "ner" / "btc" / f"{section}.conll",
                                         empty_tokens="skip")]
    start, cpu_start = time.perf_counter(), time.process_time()
    tagger = Tagger(tagger_config(args), training_config(args, seed)).fit(
        train, dev, auxiliary=auxiliary)
    train_time = time.perf_counter() - start
    train_cpu = time.process_time() - cpu_start
    start = time.perf_counter()
    evaluation = tagger.evaluate(test, source="test")
    infer_time = time.perf_counter() - start
    dev_scores = tagger.evaluate(dev, source="dev").scores
    print(evaluation.scores.table(), flush=True)
    return {
        "seed": seed, "test_f1": 100 * evaluation.scores.f1,
        "test_precision": 100 * evaluation.scores.precision,
        "test_recall": 100 * evaluation.scores.recall, "dev_f1": 100 * dev_scores.f1,
        "per_type": evaluation.scores.per_type, "epochs": len(tagger.history),
        "snapshot_epochs": tagger.snapshot_epochs,
        "train_time_s": train_time, "train_cpu_s": train_cpu,
        "threads": torch.get_num_threads(), "inference_sent_per_s": len(test) / infer_time,
        "history": tagger.history,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int_at_least(0), default=[0],
                        action=Distinct)
    parser.add_argument("--max-epochs", type=int_at_least(1), default=15)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--char-encoder", default="lstm", choices=["lstm", "cnn", "none"])
    parser.add_argument("--char-hidden", type=int, default=25)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--word-dropout", type=float, default=0.25)
    parser.add_argument("--vectors", default="glove-6b-50d")
    parser.add_argument("--vectors-vocab", type=int, default=100000)
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="keep the pretrained vectors fixed")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--auxiliary", default="btc", choices=["none", "btc"],
                        help="multitask: a second head on the BTC corpus (PER/LOC/ORG)")
    parser.add_argument("--btc-sections", nargs="+", default=list(BTC_SECTIONS), action=Distinct,
                        choices=["a", "b", "e", "f", "g"],
                        help="BTC sections for --auxiliary btc (h has tokens with spaces)")
    parser.add_argument("--auxiliary-weight", type=float, default=1.0)
    parser.add_argument("--auxiliary-ratio", type=float, default=1.0,
                        help="auxiliary batches per WNUT batch in each epoch")
    parser.add_argument("--adversarial", type=float, default=0.0,
                        help="adversarial training: L2 norm of the word-embedding "
                             "perturbation per sentence (TrainConfig.adversarial); 0 is off")
    parser.add_argument("--snapshots", type=int, default=3,
                        help="tag with the pooled scores of the N best dev epochs of a run")
    parser.add_argument("--ensemble", type=int, default=1,
                        help="train N networks (seeds seed..seed+N-1) and pool their scores")
    parser.add_argument("--threads", type=int_at_least(1), default=None)
    parser.add_argument("--out", default=str(RESULTS / "ner_wnut17_multitask_btc_snap3.json"),
                        help="the JSON to write (default benchmarks/results/"
                        "ner_wnut17_multitask_btc_snap3.json; give a quick run its own)")
    args = parser.parse_args()
    try:  # every setting checked now, not in the first run's setup (with a traceback)
        tagger_config(args)
        training_config(args, args.seeds[0])
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    for seed in args.seeds:
        record = run_one(seed, args)
        records.append(record)
        print(f"seed {seed}: test F1 {record['test_f1']:.2f} (P {record['test_precision']:.2f}"
              f" R {record['test_recall']:.2f}; dev {record['dev_f1']:.2f}), "
              f"{record['epochs']} epochs, {record['train_time_s']:.0f} s wall "
              f"({record['train_cpu_s']:.0f} s CPU), "
              f"{record['inference_sent_per_s']:.0f} sent/s", flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"settings": vars(args),
                                              "environment": environment(), "runs": records},
                                             indent=2))
    f1s = [r["test_f1"] for r in records]
    spread = f" ± {statistics.stdev(f1s):.2f}" if len(f1s) > 1 else ""
    print(f"\nWNUT-17 test entity F1: {statistics.mean(f1s):.2f}{spread} over {len(f1s)} run(s)"
          f" (target >= {TARGET}); train "
          f"{statistics.mean(r['train_time_s'] for r in records):.0f} s, inference "
          f"{statistics.mean(r['inference_sent_per_s'] for r in records):.0f} sentences/s")
    print(f"{'published':60} F1")
    for name, value in PUBLISHED:
        print(f"{name:60} {value}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
