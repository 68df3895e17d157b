"""SST-2 with GloVe: does Optuna's search (``--tune``) beat hand-picked settings?

Protocol: the search (``lstmkit.text.tuning.tune_text``, the default space: learning rate,
width, dropout, embedding dropout) runs ``--trials`` trials of ``--epochs`` epochs each, every
trial scored by dev accuracy with the training seed ``--search-seed``. Then both the settings
it found and the peer, the hand-picked settings of ``benchmarks/sentiment_sst.py`` (found over
earlier sessions by comparing dev accuracy, with 20 epochs and early stopping), train with
the same epochs and the seeds ``--seeds``, which must not include the search's seed (the
tuned row would otherwise replay its best trial, picked for its dev score); their dev and
test accuracy are reported, as means and as the ratio tuned / hand-picked. Test plays no part
in the search. Prints a table and writes JSON (by default benchmarks/results/tune_sst2.json:
give a quick run its own --out).

    python benchmarks/tune_sst.py                         # 8 trials, seeds 0 1 2
    python benchmarks/tune_sst.py --trials 2 --epochs 1 --seeds 0 \
        --out /tmp/tune_sst_quick.json                   # a quick check
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
from lstmkit.text.tuning import apply_params, default_space, dev_score, tune_text
from lstmkit.training import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Distinct, environment, int_at_least

RESULTS = Path(__file__).resolve().parent / "results"
# benchmarks/sentiment_sst.py's defaults for SST-2 with GloVe (adversarial training off)
HAND_PICKED = {"training.lr": 2e-3, "model.hidden_size": 150, "model.dropout": 0.5,
               "model.embedding_dropout": 0.5}


def base(epochs: int, seed: int) -> tuple[ClassifierConfig, TrainConfig]:
    config = ClassifierConfig(tokenizer="whitespace", lowercase=True, vectors="glove-6b-50d",
                              vectors_vocab=100000, hidden_size=150, pooling="max",
                              dropout=0.5, embedding_dropout=0.5, word_dropout=0.2,
                              batch_size=32)
    training = TrainConfig(max_epochs=epochs, lr=2e-3, grad_clip=5.0, seed=seed,
                           progress_bar=False, accelerator="cpu", devices=1)
    return config, training


def train_and_score(params: dict, epochs: int, seed: int, train: list, dev: list,
                    test: list) -> dict:
    config, training = apply_params(*base(epochs, seed), params)
    start = time.perf_counter()
    clf = Classifier(config, training).fit(train, dev)
    return {"seed": seed, "dev_accuracy": 100 * dev_score(clf, dev),
            "test_accuracy": 100 * clf.evaluate(test, source="test").accuracy,
            "train_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int_at_least(1), default=8)
    parser.add_argument("--epochs", type=int_at_least(1), default=4)
    parser.add_argument("--seeds", type=int_at_least(0), nargs="+", default=[0, 1, 2],
                        action=Distinct)
    parser.add_argument("--search-seed", type=int_at_least(0), default=1000,
                        help="the training seed of every trial (not one of --seeds)")
    parser.add_argument("--threads", type=int_at_least(1), default=2)
    parser.add_argument("--out", default=str(RESULTS / "tune_sst2.json"),
                        help="the JSON to write (default benchmarks/results/tune_sst2.json; "
                        "give a quick run its own)")
    args = parser.parse_args()
    if args.search_seed in args.seeds:
        parser.error(f"--seeds {args.seeds} must not include --search-seed "
                     f"{args.search_seed}: the tuned row would replay its best trial")
    torch.set_num_threads(args.threads)
    folder = data_dir() / "sentiment" / "sst"
    train, dev, test = (read_examples(folder / f"stsa.binary.{split}")
                        for split in ("train", "dev", "test"))
    config, training = base(args.epochs, args.search_seed)
    start = time.perf_counter()
    _, _, study = tune_text(Classifier, config, training, train, dev,
                            default_space(Classifier), n_trials=args.trials, seed=0)
    search_s = time.perf_counter() - start
    tuned = dict(study.best_params)
    rows = {"hand-picked": HAND_PICKED, "tuned": tuned}
    runs = {name: [train_and_score(params, args.epochs, seed, train, dev, test)
                   for seed in args.seeds] for name, params in rows.items()}
    summary = {name: {metric: statistics.mean(r[metric] for r in rs)
                      for metric in ("dev_accuracy", "test_accuracy", "train_s")}
               for name, rs in runs.items()}
    print(f"\nSST-2 (GloVe 6B 50d), {args.epochs} epochs, seeds {args.seeds}; search: "
          f"{args.trials} trials in {search_s:.0f} s, best trial dev "
          f"{100 * study.best_value:.2f}")
    print(f"{'settings':12s} {'dev acc':>8s} {'test acc':>9s} {'train s':>8s}  values")
    for name, params in rows.items():
        s = summary[name]
        values = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float)
                           else f"{k.split('.')[-1]}={v!r}" for k, v in params.items())
        print(f"{name:12s} {s['dev_accuracy']:8.2f} {s['test_accuracy']:9.2f} "
              f"{s['train_s']:8.0f}  {values}")
    ratio = {m: summary["tuned"][m] / summary["hand-picked"][m]
             for m in ("dev_accuracy", "test_accuracy")}
    print(f"tuned / hand-picked: dev {ratio['dev_accuracy']:.4f}, test "
          f"{ratio['test_accuracy']:.4f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "settings": vars(args), "environment": environment(), "search_s": search_s,
        "best_trial_dev": study.best_value,
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                    "params": t.params} for t in study.trials],
        "params": rows, "runs": runs, "summary": summary, "ratio": ratio}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
