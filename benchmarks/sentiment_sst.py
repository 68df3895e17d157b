"""SST-2 and SST-5 sentence-level sentiment with lstmkit's BiLSTM classifier.

Protocol: the sentence-level splits of Kim (2014) / Tai et al. (2015) (``stsa.binary`` 6,920 /
872 / 1,821, ``stsa.fine`` 8,544 / 1,101 / 2,210), trained on sentences only (no phrase
labels), early stopping and best weights on dev accuracy, test accuracy reported once per run.
Training wall time and inference speed (sentences per second over the test set, batch 256) are
measured on this machine. Prints a table beside the published numbers and writes JSON (by
default benchmarks/results/sentiment_sst.json: give a quick run its own --out) and, beside
it, a confusion-matrix PNG per run.

    python benchmarks/sentiment_sst.py                        # the three runs
    python benchmarks/sentiment_sst.py --runs sst2-glove --seeds 0 1 2 \
        --out benchmarks/results/sentiment_sst2_glove_seeds0-2.json
    python benchmarks/sentiment_sst.py --max-epochs 1 --out /tmp/sst_quick.json  # a quick check
    python benchmarks/sentiment_sst.py --runs sst2-glove --seeds 0 3 6 --adversarial 1.0 \
        --ensemble 3 --max-epochs 15 --patience 4 --threads 2 \
        --out benchmarks/results/sentiment_sst2_glove_adv1_ens3.json   # the SST-2 GloVe setting

The defaults are the best settings found (word dropout 0.2, embedding dropout 0.5, lr 2e-3);
the reported random-init SST-2 run used ``--max-epochs 30 --patience 5``. Results of every
run are in benchmarks/results/sentiment_*.json with their settings.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from lstmkit.classification import Classifier, ClassifierConfig, read_examples
from lstmkit.datasets import data_dir
from lstmkit.training import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Distinct, environment, int_at_least

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = {
    # name: (file prefix, vectors, target accuracy)
    "sst2-random": ("stsa.binary", None, 82.0),
    "sst2-glove": ("stsa.binary", "glove-6b-50d", 85.0),
    "sst5-glove": ("stsa.fine", "glove-6b-50d", 45.0),
}
PUBLISHED = {  # Tai et al. 2015 (GloVe 300d, trained on all labelled phrases)
    "sst2-random": "LSTM 84.9 / BiLSTM 87.5 (GloVe 300d, phrases)",
    "sst2-glove": "LSTM 84.9 / BiLSTM 87.5 / 2-layer LSTM 86.3",
    "sst5-glove": "LSTM 46.4 / BiLSTM 49.1",
}


def model_config(vectors: str | None, args: argparse.Namespace) -> ClassifierConfig:
    return ClassifierConfig(
        tokenizer="whitespace", lowercase=True, vectors=vectors,
        vectors_vocab=args.vectors_vocab if vectors else 0,
        freeze_embeddings=args.freeze_embeddings,
        embedding_dim=None if vectors else args.embedding_dim,
        hidden_size=args.hidden, num_layers=args.num_layers, bidirectional=True,
        pooling=args.pooling, dropout=args.dropout, embedding_dropout=args.embedding_dropout,
        word_dropout=args.word_dropout, batch_size=args.batch_size,
        snapshots=args.snapshots, ensemble=args.ensemble,
        label_smoothing=args.label_smoothing,
    )


def training_config(args: argparse.Namespace, seed: int) -> TrainConfig:
    return TrainConfig(max_epochs=args.max_epochs, lr=args.lr, optimizer="adam",
                       weight_decay=args.weight_decay, grad_clip=5.0,
                       adversarial=args.adversarial, early_stopping_patience=args.patience,
                       seed=seed, progress_bar=False, accelerator="cpu", devices=1)


def run_one(name: str, seed: int, args: argparse.Namespace) -> dict:
    prefix, vectors, _ = RUNS[name]
    folder = data_dir() / "sentiment" / "sst"
    train, dev, test = (read_examples(folder / f"{prefix}.{split}")
                        for split in ("train", "dev", "test"))
    start, cpu_start = time.perf_counter(), time.process_time()
    clf = Classifier(model_config(vectors, args), training_config(args, seed)).fit(train, dev)
    train_time = time.perf_counter() - start
    train_cpu = time.process_time() - cpu_start
    start = time.perf_counter()
    evaluation = clf.evaluate(test, source="test")
    infer_time = time.perf_counter() - start
    dev_acc = clf.evaluate(dev, source="dev").accuracy
    folder = Path(args.out).parent  # beside the JSON
    folder.mkdir(parents=True, exist_ok=True)
    evaluation.plot_confusion(folder / f"sentiment_{name}_seed{seed}_confusion.png",
                              title=f"{name} test, accuracy {evaluation.accuracy:.3f}")
    return {
        "run": name, "seed": seed, "vectors": vectors,
        "test_accuracy": 100 * evaluation.accuracy, "test_macro_f1": 100 * evaluation.macro_f1,
        "dev_accuracy": 100 * dev_acc, "epochs": len(clf.history),
        "snapshot_epochs": clf.snapshot_epochs,
        "dev_accuracy_per_epoch": [100 * row["val_accuracy"] for row in clf.history],
        "train_time_s": train_time, "train_cpu_s": train_cpu,
        "threads": torch.get_num_threads(), "inference_sent_per_s": len(test) / infer_time,
        "confusion": evaluation.confusion.tolist(), "labels": evaluation.labels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS),
                        action=Distinct)
    parser.add_argument("--seeds", nargs="+", type=int_at_least(0), default=[0],
                        action=Distinct)
    parser.add_argument("--max-epochs", type=int_at_least(1), default=20)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--hidden", type=int, default=150)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--snapshots", type=int, default=1,
                        help="average the probabilities of the N best dev checkpoints")
    parser.add_argument("--ensemble", type=int, default=1,
                        help="train N differently seeded networks and average them")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--adversarial", type=float, default=0.0,
                        help="adversarial training: L2 norm of the embedding perturbation "
                             "per sentence (TrainConfig.adversarial); 0 is off")
    parser.add_argument("--pooling", default="max")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--embedding-dropout", type=float, default=0.5)
    parser.add_argument("--word-dropout", type=float, default=0.2)
    parser.add_argument("--embedding-dim", type=int, default=100)
    parser.add_argument("--vectors-vocab", type=int, default=100000)
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="keep the pretrained vectors fixed during training")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int_at_least(1), default=None)
    parser.add_argument("--out", default=str(RESULTS / "sentiment_sst.json"),
                        help="the JSON to write, the confusion PNGs beside it (default "
                        "benchmarks/results/sentiment_sst.json; give a quick run its own)")
    args = parser.parse_args()
    try:  # every setting checked now, not in the first run's setup (with a traceback)
        for name in args.runs:
            model_config(RUNS[name][1], args)
        training_config(args, args.seeds[0])
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    for name in args.runs:
        for seed in args.seeds:
            record = run_one(name, seed, args)
            records.append(record)
            print(f"{name} seed {seed}: test acc {record['test_accuracy']:.2f} "
                  f"(dev {record['dev_accuracy']:.2f}), {record['epochs']} epochs, "
                  f"{record['train_time_s']:.0f} s wall ({record['train_cpu_s']:.0f} s CPU), "
                  f"{record['inference_sent_per_s']:.0f} sent/s",
                  flush=True)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"settings": vars(args),
                                                  "environment": environment(),
                                                  "runs": records}, indent=2))
    print()
    print(f"{'run':12} {'test acc (mean ± sd)':>20} {'runs':>5} {'target':>7} {'train s':>8} "
          f"{'CPU s':>6} {'sent/s':>7}  published (Tai et al. 2015)")
    for name in args.runs:
        rows = [r for r in records if r["run"] == name]
        accs = [r["test_accuracy"] for r in rows]
        mean = f"{statistics.mean(accs):.2f}"
        if len(accs) > 1:
            mean += f" ±{statistics.stdev(accs):.2f}"
        print(f"{name:12} {mean:>20} {len(rows):5d} "
              f"{RUNS[name][2]:7.1f} {statistics.mean(r['train_time_s'] for r in rows):8.0f} "
              f"{statistics.mean(r['train_cpu_s'] for r in rows):6.0f} "
              f"{statistics.mean(r['inference_sent_per_s'] for r in rows):7.0f}  "
              f"{PUBLISHED[name]}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
