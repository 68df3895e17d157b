"""ONNX export on real data: do the exported graphs answer as PyTorch does, and how fast?

Three models of the applications' default shapes are trained briefly on real data (the point
is the graph, not the score): the ETTh1 forecaster of the long-horizon recipe (horizon 96,
lookback 512, all 7 channels), the SST-2 BiLSTM classifier and the WNUT-17 character + word
BiLSTM-CRF tagger. Each is exported with :func:`lstmkit.serving.export_onnx` and both run
over its whole test split in the same batches:

- agreement: the test score of each (MSE, accuracy, entity F1) and the share of equal labels
  and tags in the table, and the largest difference in forecasts and probabilities in the
  JSON (``max_abs_diff``);
- speed: the network alone on the same padded batches, PyTorch (lstmkit's own path, as
  ``predict`` runs it, under ``inference_mode``) against onnxruntime, both on ``--threads``
  threads, one untimed pass each and then the best of ``--reps``; the ratio is PyTorch's time
  over onnxruntime's. (The forecaster's graph also scales its float64 inputs, which PyTorch
  is given scaled, as ``predict_windows`` gives them to the network.)

Prints a table and writes JSON (default benchmarks/results/export_onnx.json; give a quick run
its own --out):

    python benchmarks/export_onnx.py
    python benchmarks/export_onnx.py --max-epochs 1 --limit-train-batches 5 --reps 1 \
        --out /tmp/export_quick.json     # a quick check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmkit.datasets import data_dir
from lstmkit.serving import export_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import forecast_ett
from _common import batch_limit, environment, int_at_least

OUT = Path(__file__).resolve().parent / "results" / "export_onnx.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-epochs", type=int_at_least(1), default=4,
                        help="training epochs of each model (4: the forecasting recipe's)")
    parser.add_argument("--limit-train-batches", type=batch_limit, default=1.0,
                        help="batches per training epoch (a count, or a share in (0, 1])")
    parser.add_argument("--threads", type=int_at_least(1), default=2)
    parser.add_argument("--reps", type=int_at_least(1), default=3,
                        help="timed passes over the test split; the best is reported")
    parser.add_argument("--lstm", type=json.loads, default={},
                        help="options of every model's LSTM as JSON, e.g. '{\"layer_norm\": "
                             "true}': a variant's graph is an ONNX Loop over the reference "
                             "equations where a plain one is ONNX's LSTM operator")
    parser.add_argument("--out", default=str(OUT))
    return parser.parse_args()


def best_time(run: Callable[[], object], reps: int) -> float:
    """The best of ``reps`` timed calls of ``run``, after one untimed call (warm-up)."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def train_config(args: argparse.Namespace) -> Any:
    from lstmkit.training import TrainConfig

    return TrainConfig(max_epochs=args.max_epochs, lr=2e-3, optimizer="adam", grad_clip=5.0,
                       seed=0, progress_bar=False, accelerator="cpu", devices=1,
                       limit_train_batches=args.limit_train_batches)


def speed_row(name: str, unit: str, count: int, torch_s: float, onnx_s: float,
              extra: dict[str, Any]) -> dict[str, Any]:
    return {"model": name, "unit": unit, "count": count,
            "torch_per_s": count / torch_s, "onnx_per_s": count / onnx_s,
            "ratio_torch_over_onnx_time": torch_s / onnx_s, **extra}


# -- the three models ------------------------------------------------------------------------


def forecaster_row(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, recipes

    frame = forecast_ett._ett_frame("ETTh1")  # the standard protocol's rows, as forecast_ett
    config = ForecastConfig(
        data=DataConfig(target=forecast_ett.CHANNELS, time_col="date", val=2880, test=2880),
        model=recipes.long_horizon(96, lstm=args.lstm),
        training=recipes.long_horizon_training(
            96, max_epochs=args.max_epochs, seed=0, progress_bar=False, accelerator="cpu",
            devices=1, limit_train_batches=args.limit_train_batches),
        batch_size=64)
    forecaster = Forecaster(config).fit(frame)
    report = export_onnx(forecaster, folder / "etth1.onnx")
    windows = forecaster.windows(forecaster.prepare(frame), "test")
    inputs, target = windows.__getitems__(range(len(windows)))
    scalers = forecaster.scalers
    # the graph's input: the lookback in the data's units (the window set holds it scaled)
    past = scalers.target.inverse(inputs["y_past"].double().numpy(), axis=2)  # float64
    sess = session(report.path, args.threads)
    batch = 1024
    batches = [past[s: s + batch] for s in range(0, len(past), batch)]
    onnx_out = np.concatenate([sess.run(None, {"past_targets": b})[0] for b in batches])
    torch_out = forecaster.predict_windows(windows)  # (W, Hz, C), the data's units
    actual = target.double().numpy()
    mse = {name: float(np.mean((scalers.target.transform(out) - actual) ** 2))
           for name, out in (("torch", torch_out), ("onnx", onnx_out))}
    net = forecaster.net
    torch_inputs = [{k: v[s: s + batch] for k, v in inputs.items()}
                    for s in range(0, len(past), batch)]

    def run_torch() -> None:
        with torch.inference_mode():
            for b in torch_inputs:
                net(**b)

    torch_s = best_time(run_torch, args.reps)
    onnx_s = best_time(lambda: [sess.run(None, {"past_targets": b}) for b in batches],
                       args.reps)
    return speed_row("ETTh1 forecaster (horizon 96, lookback 512)", "windows", len(past),
                     torch_s, onnx_s, {
                         "test_mse_torch": mse["torch"], "test_mse_onnx": mse["onnx"],
                         "max_abs_diff": float(np.abs(onnx_out - torch_out).max()),
                         "export_check_diff": report.max_abs_diff, "batch": batch})


def classifier_row(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from lstmkit.classification import Classifier, ClassifierConfig, read_examples
    from lstmkit.text.batching import pad_sequences

    sst = data_dir() / "sentiment" / "sst"
    train, dev, test = (read_examples(sst / f"stsa.binary.{split}")
                        for split in ("train", "dev", "test"))
    classifier = Classifier(ClassifierConfig(tokenizer="whitespace", lowercase=True,
                                             embedding_dim=100, hidden_size=150,
                                             pooling="max", lstm=args.lstm),
                            train_config(args)).fit(train, dev)
    report = export_onnx(classifier, folder / "sst2.onnx")
    texts = [e.text for e in test]
    ids = [classifier.encoder.encode(t) for t in texts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # as predict batches them
    batch = 256
    batches = []
    for s in range(0, len(order), batch):
        tokens, lengths = pad_sequences([ids[i] for i in order[s: s + batch]],
                                        classifier.words.pad_index)
        batches.append((tokens, lengths))
    sess = session(report.path, args.threads)
    onnx_p = np.zeros((len(ids), len(classifier.label_names)), np.float32)
    for s, (tokens, lengths) in zip(range(0, len(order), batch), batches, strict=True):
        onnx_p[order[s: s + batch]] = sess.run(None, {"tokens": tokens.numpy(),
                                                      "lengths": lengths.numpy()})[0]
    torch_p = classifier.predict_proba(texts)
    gold = np.array([classifier.label_names.index(e.label) for e in test])
    network = classifier.model

    def run_torch() -> None:
        with torch.inference_mode():
            for tokens, lengths in batches:
                torch.softmax(network(tokens, lengths), dim=-1)

    feeds = [{"tokens": t.numpy(), "lengths": n.numpy()} for t, n in batches]
    torch_s = best_time(run_torch, args.reps)
    onnx_s = best_time(lambda: [sess.run(None, f) for f in feeds], args.reps)
    return speed_row("SST-2 classifier (BiLSTM 150, max pooling)", "sentences", len(ids),
                     torch_s, onnx_s, {
                         "test_accuracy_torch": float((torch_p.argmax(1) == gold).mean()),
                         "test_accuracy_onnx": float((onnx_p.argmax(1) == gold).mean()),
                         "max_abs_diff": float(np.abs(onnx_p - torch_p).max()),
                         "same_labels": float((onnx_p.argmax(1) == torch_p.argmax(1)).mean()),
                         "export_check_diff": report.max_abs_diff, "batch": batch})


def tagger_row(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from lstmkit.tagging import Tagger, TaggerConfig, read_conll
    from lstmkit.tagging.data import collate
    from lstmkit.tagging.metrics import span_scores
    from lstmkit.tagging.schemes import convert

    wnut = data_dir() / "ner" / "wnut17"
    train = read_conll(wnut / "wnut17train.conll")
    dev = read_conll(wnut / "emerging.dev.conll")
    test = read_conll(wnut / "emerging.test.annotated")
    tagger = Tagger(TaggerConfig(tag_scheme="BIOES", lowercase=True, char_encoder="lstm",
                                 casing=True, hidden_size=100, embedding_dim=100,
                                 decoder="crf", lstm=args.lstm),
                    train_config(args)).fit(train, dev)
    report = export_onnx(tagger, folder / "wnut17.onnx")
    names = list(report.inputs)
    encoded = [tagger.encoder.encode(s.tokens) for s in test]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].words))
    batch = 128
    batches = [collate([encoded[i] for i in order[s: s + batch]], tagger.words.pad_index)[0]
               for s in range(0, len(order), batch)]
    feeds = [{k: b[k].numpy() for k in names} for b in batches]
    sess = session(report.path, args.threads)
    tag_names = report.metadata["tags"]
    onnx_tags: list[list[str]] = [[] for _ in encoded]
    for s, feed in zip(range(0, len(order), batch), feeds, strict=True):
        tags = sess.run(None, feed)[0]
        for i, row in zip(order[s: s + batch], tags, strict=True):
            onnx_tags[i] = convert([tag_names[k] for k in row if k >= 0],
                                   report.metadata["tag_scheme"], "IOB2", strict=False)
    torch_tags = tagger.tag_tokens([s.tokens for s in test])
    gold = [s.tags for s in test]
    network = tagger.model

    def run_torch() -> None:
        with torch.inference_mode():
            for b in batches:
                network.decode(network(**{k: b[k] for k in names}), b["lengths"])

    torch_s = best_time(run_torch, args.reps)
    onnx_s = best_time(lambda: [sess.run(None, f) for f in feeds], args.reps)
    same = np.mean([a == b for a, b in zip(onnx_tags, torch_tags, strict=True)])
    return speed_row("WNUT-17 tagger (char LSTM + BiLSTM 100 + CRF)", "sentences",
                     len(encoded), torch_s, onnx_s, {
                         "test_f1_torch": span_scores(gold, torch_tags).f1,
                         "test_f1_onnx": span_scores(gold, onnx_tags).f1,
                         "same_sentences": float(same),
                         "export_check_diff": report.max_abs_diff, "batch": batch})


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for make in (forecaster_row, classifier_row, tagger_row):
            start = time.perf_counter()
            row = make(args, Path(scratch))
            row["wall_s"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            print(f"done: {row['model']} ({row['wall_s']} s)", flush=True)
    print(f"\n{'model':48s} {'unit':>9s} {'torch/s':>9s} {'onnx/s':>9s} {'ratio':>6s}  "
          "agreement (torch | onnx)")
    for r in rows:
        score = next(k for k in r if k.startswith("test_") and k.endswith("_torch"))
        metric = score[len("test_"):-len("_torch")]
        agree = (f"{metric} {r[score]:.4f} | {r[score.replace('_torch', '_onnx')]:.4f}")
        print(f"{r['model']:48s} {r['unit']:>9s} {r['torch_per_s']:9.0f} {r['onnx_per_s']:9.0f} "
              f"{r['ratio_torch_over_onnx_time']:6.2f}  {agree}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": environment(), "arguments": vars(args),
                               "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
