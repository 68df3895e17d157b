"""How fast does a trained tagger tag raw text? ``Tagger.predict`` on a large input, in tokens/s,
beside its reference path measured in the same run.

The tagger is a saved one (``--model DIR``: ``lstmkit tag train ... --out DIR`` or
``Tagger.save``), or one trained here (``--train-epochs N``: the defaults of
``lstmkit tag train --train wnut17train.conll --dev emerging.dev.conll --epochs N --seed S``,
on the WNUT-17 files under ``lstmkit.datasets.data_dir()``, with a progress bar; about 20 s
an epoch on one thread here). The input is a text file (one text a line, as
``lstmkit tag predict --input`` reads it) or by default one built from WNUT-17 (every
sentence of the train, dev and test files as a line of its tokens joined by spaces, the whole
repeated ``--repeat`` times: 101,857 tokens a copy, 105,627 as the regex tokenizer splits
them).

    python benchmarks/tag_predict_speed.py --model runs/wnut/model --out /tmp/tag_speed.json
    python benchmarks/tag_predict_speed.py --train-epochs 3 --threads 1 --out /tmp/t.json
    python benchmarks/tag_predict_speed.py --model DIR --input big.txt --reps 3 --threads 2

The committed result (benchmarks/results/tag_predict_speed.json) is of a model made by

    lstmkit tag train --train data/ner/wnut17/wnut17train.conll \\
        --dev data/ner/wnut17/emerging.dev.conll --epochs 3 --seed 0 --out MODEL

(the defaults otherwise: char-LSTM + word BiLSTM-CRF, hidden 100, BIOES; ``--train-epochs 3``
trains the same here, the same losses epoch by epoch), the JSON's ``model`` block describing
it, timed by ``--model MODEL --reps 3 --threads 1 --model-note "..."`` (niced, on the shared
2-core machine).

Two paths of ``predict`` are timed, interleaved (``--reps`` calls of each on the whole input,
the order swapped every rep, after an untimed warm-up on the first texts):

* ``fast``: ``predict`` as it is (each distinct token encoded once for the whole input,
  ``SentenceEncoder.encode_many``; the character LSTM run once over the distinct words, a
  word length at a time, ``CharLSTM.encode_words``; numpy Viterbi and a scaled numpy
  forward-backward for the entities' CRF marginals, only for sentences with an entity);
* ``reference``: ``predict`` with what it did before those, expressed through the kept
  reference code, patched in on the loaded tagger for the call only (no public switch):
  each sentence encoded on its own (``SentenceEncoder.encode``, ``collate``), each batch's
  distinct words run through the character LSTM padded to its longest, Viterbi as the torch
  loop (``CRF._decode_reference``) and the marginals in log space for every batch
  (``CRF._span_log_probs_reference``). The tokenizer is the same for both (its clitic regex
  change went in with the encoding one; it is not undone here, nor are the faster padding
  helpers both paths share). Checked once against the code before the speed-up (8e9b259^)
  on the WNUT-17 test sentences, one thread, processes alternated: 2.2 and 3.2 s a call
  there, 2.6 and 3.0 s for this path, the same entities and scores.

Both paths must find the same entities (text, type, character and token offsets) and scores
within ``--score-tol``: the script exits non-zero, writing nothing, when they do not. Each
path's median wall time is reported with the CPU time of each call (other load on a shared
machine slows both: the interleaving is what makes the ratio fair), and the speed-up, the
reference's median over the fast one's (and the same of the CPU times). Prints a table and
writes JSON (by default benchmarks/results/tag_predict_speed.json: give a quick run its own
--out); the model is recorded by its description (settings, sizes, training), its path only
as given.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import torch

from lstmkit.datasets import data_dir
from lstmkit.tagging import Tagger, TaggerConfig, read_conll
from lstmkit.tagging.data import collate
from lstmkit.tagging.model import CharLSTM
from lstmkit.tagging.schemes import convert, spans_from_tags
from lstmkit.tagging.tagger import _embedding_dim
from lstmkit.text.batching import inference_batches

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, float_in, int_at_least

RESULTS = Path(__file__).resolve().parent / "results"
WNUT_FILES = ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated")
PATHS = ("fast", "reference")
WARMUP_TEXTS = 256


def wnut_texts(repeat: int) -> list[str]:
    """Every WNUT-17 sentence (train, dev, test) as one line of space-joined tokens, the
    whole ``repeat`` times."""
    folder = data_dir() / "ner" / "wnut17"
    lines = [" ".join(s.tokens) for name in WNUT_FILES for s in read_conll(folder / name)]
    return lines * repeat


def train_wnut(epochs: int, seed: int) -> Tagger:
    """A tagger trained as ``lstmkit tag train --train wnut17train.conll --dev
    emerging.dev.conll --epochs EPOCHS --seed SEED`` trains it (default settings, the best
    dev entity F1 epoch kept), with a progress bar; checkpoints in a temporary folder."""
    from lstmkit.training import TrainConfig

    folder = data_dir() / "ner" / "wnut17"
    train = read_conll(folder / "wnut17train.conll")
    dev = read_conll(folder / "emerging.dev.conll")
    with tempfile.TemporaryDirectory(prefix="tag_predict_speed_") as scratch:
        training = TrainConfig(max_epochs=epochs, seed=seed, progress_bar=True, epoch_log=True,
                               checkpoint_dir=scratch)
        return Tagger(TaggerConfig(), training, dev_monitor=True).fit(train, dev)


def describe(tagger: Tagger, source: str) -> dict[str, Any]:
    """What the model is, for the JSON: its settings, sizes and training (no paths)."""
    words, tags, model, _ = tagger._ready()
    history = tagger.history
    monitor = tagger.training.monitor if tagger.training is not None else None
    best = None
    if history and monitor is not None and all(monitor in h for h in history):
        pick = max if tagger.training.monitor_mode == "max" else min
        best = pick(history, key=lambda h: h[monitor])
    training = None if tagger.training is None else {
        k: v for k, v in tagger.training.to_dict(written=True).items()
        if k in ("max_epochs", "lr", "optimizer", "scheduler", "seed", "monitor",
                 "early_stopping_patience", "ema_decay", "adversarial")}
    return {
        "source": source,
        "config": tagger.config.to_dict(),
        "embedding_dim": _embedding_dim(model),
        "vocabulary": {"words": len(words), "chars": len(tagger.chars), "tags": len(tags)},
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": training,
        "epochs_run": len(history),
        "best_epoch": None if best is None else {k: (round(v, 4) if isinstance(v, float) else v)
                                                 for k, v in best.items()},
        "train_time_s": None if tagger.train_time_s is None else round(tagger.train_time_s, 1),
    }


# -- the reference path ------------------------------------------------------------------------
def _padded_encode_words(module: CharLSTM, words: torch.Tensor,
                         lengths: torch.Tensor) -> torch.Tensor:
    """``CharLSTM.encode_words`` as the character LSTM ran before it: all the words at once,
    padded to the longest (what ``CharLSTM.forward`` did without gradients)."""
    _, (h_n, _) = module.lstm(module.embed(words), lengths=lengths)  # (2, U, hidden)
    return h_n.transpose(0, 1).reshape(words.shape[0], -1)  # (U, 2*hidden)


@torch.inference_mode()
def _reference_tag(tagger: Tagger, sentences: list[list[str]], batch_size: int,
                   scored: bool = False, progress: bool | None = False
                   ) -> tuple[list[list[str]], list[dict[tuple[int, int], float]]]:
    """``Tagger._tag`` as it was before the speed-up: a sentence encoded at a time, each batch
    through the network with its own characters (``collate``), every batch decoded by the
    torch Viterbi and, when ``scored``, every batch's forward-backward run in log space."""
    words, vocab, model, encoder = tagger._ready()
    model.eval()
    encoded = [encoder.encode(tokens) for tokens in sentences]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].words))
    out: list[list[str]] = [[] for _ in encoded]
    scores: list[dict[tuple[int, int], float]] = [{} for _ in encoded]
    for rows in inference_batches(order, batch_size, progress, "sentences"):
        inputs, _ = collate([encoded[i] for i in rows], words.pad_index)
        emissions = model(**inputs)  # (B, T, K)
        lengths = inputs["lengths"]
        if model.crf is not None:
            mask = model.crf._check(emissions, lengths)
            paths = model.crf._decode_reference(emissions, lengths, mask)
        else:
            paths = model.decode(emissions, lengths)
        for i, path in zip(rows, paths, strict=True):
            out[i] = convert(vocab.decode(path), tagger.config.tag_scheme, "IOB2", strict=False)
        if not scored:
            continue
        spans = [(b, span.start, span.end, paths[b][span.start:span.end])
                 for b, i in enumerate(rows) for span in spans_from_tags(out[i])]
        if model.crf is not None:
            logs = model.crf._span_log_probs_reference(emissions, mask, spans)
        else:
            log_probs = emissions.log_softmax(-1)
            logs = [float(log_probs[b, torch.arange(start, end), tags].sum())
                    for b, start, end, tags in spans]
        for (b, start, end, _), log in zip(spans, logs, strict=True):
            scores[rows[b]][start, end] = math.exp(log)
    return out, scores


@contextmanager
def reference_path(tagger: Tagger) -> Iterator[None]:
    """``tagger.predict`` on the reference path inside the block: ``_tag`` and each
    character LSTM's ``encode_words`` replaced on the instances, removed after."""
    patched = [m for m in tagger._ready()[2].modules() if isinstance(m, CharLSTM)]
    tagger._tag = partial(_reference_tag, tagger)  # type: ignore[method-assign]
    for module in patched:
        module.encode_words = partial(_padded_encode_words, module)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del tagger._tag
        for module in patched:
            del module.encode_words


# -- timing and checking -----------------------------------------------------------------------
def run_path(tagger: Tagger, name: str, texts: list[str], batch_size: int) -> list:
    if name == "reference":
        with reference_path(tagger):
            return tagger.predict(texts, batch_size=batch_size)
    return tagger.predict(texts, batch_size=batch_size)


def compare(expected: list, got: list, tolerance: float, what: str) -> float:
    """The largest score difference of ``got``'s entities from ``expected``'s; SystemExit
    when the entities differ or a score is further than ``tolerance``."""
    keys = [[(e.text, e.type, e.start, e.end, e.token_start, e.token_end) for e in row]
            for row in expected]
    differ = [n for n, row in enumerate(got)
              if [(e.text, e.type, e.start, e.end, e.token_start, e.token_end) for e in row]
              != keys[n]]
    if differ:
        lines = "\n".join(f"  text {n}: expected {keys[n]}, got "
                          f"{[(e.text, e.type, e.start, e.end) for e in got[n]]}"
                          for n in differ[:5])
        raise SystemExit(f"tag_predict_speed: {what}: the entities differ in {len(differ)} "
                         f"text(s), the first:\n{lines}")
    gap = max((abs(a.score - b.score) for x, y in zip(expected, got, strict=True)
               for a, b in zip(x, y, strict=True)), default=0.0)
    if not gap <= tolerance:
        raise SystemExit(f"tag_predict_speed: {what}: an entity's score differs by {gap:.3g}, "
                         f"over --score-tol {tolerance:g}")
    return gap


def summary(times: list[float], cpu: list[float], tokens: int, texts: int) -> dict[str, Any]:
    median = statistics.median(times)
    return {"times_s": [round(t, 3) for t in times], "median_s": round(median, 3),
            "cpu_times_s": [round(t, 3) for t in cpu],
            "cpu_median_s": round(statistics.median(cpu), 3),
            "tokens_per_s": round(tokens / median), "texts_per_s": round(texts / median)}


def timed(call: Callable[[], list]) -> tuple[list, float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    found = call()
    return found, time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="saved tagger directory")
    model.add_argument("--train-epochs", type=int_at_least(1), metavar="N",
                       help="train a WNUT-17 tagger here for N epochs instead (as "
                       "lstmkit tag train's defaults; not saved)")
    parser.add_argument("--seed", type=int, default=0, help="--train-epochs' seed (default 0)")
    parser.add_argument("--model-note", default=None,
                        help="how the --model was made (its training command, say), recorded "
                        "in the JSON's model block")
    parser.add_argument("--input", help="text file, one text a line (default: WNUT-17 "
                        "sentences, --repeat times)")
    parser.add_argument("--repeat", type=int_at_least(1), default=3,
                        help="copies of the WNUT-17 sentences without --input (default 3)")
    parser.add_argument("--reps", type=int_at_least(1), default=3,
                        help="timed predict calls of each path; the medians are reported "
                        "(default 3)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=128)
    parser.add_argument("--threads", type=int_at_least(1), default=None)
    parser.add_argument("--score-tol", type=float_in(0.0), default=1e-6,
                        help="largest difference allowed between the two paths' entity "
                        "scores (default 1e-6)")
    parser.add_argument("--out", default=None,
                        help="JSON written here (default benchmarks/results/"
                        "tag_predict_speed.json)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.model is not None:
        tagger = Tagger.load(args.model)
        source = "loaded (--model)" + ("" if args.model_note is None else
                                       f": {args.model_note}")
    else:
        tagger = train_wnut(args.train_epochs, args.seed)
        source = (f"trained in this run (--train-epochs {args.train_epochs} --seed {args.seed}: "
                  "WNUT-17 train, best dev entity F1 epoch)")
    described = describe(tagger, source)
    if args.input is not None:
        texts = Path(args.input).read_text(encoding="utf-8").splitlines()
        source = args.input
    else:
        texts = wnut_texts(args.repeat)
        source = f"WNUT-17 train+dev+test sentences x {args.repeat}"
    tokens = sum(len(tagger.tokenizer.spans(t)) for t in texts)

    # untimed warm-up (one-time costs: allocations, the kernel's first calls), checked too
    warm = texts[:WARMUP_TEXTS]
    compare(run_path(tagger, "fast", warm, args.batch_size),
            run_path(tagger, "reference", warm, args.batch_size), args.score_tol, "warm-up")
    times: dict[str, list[float]] = {name: [] for name in PATHS}
    cpu: dict[str, list[float]] = {name: [] for name in PATHS}
    baseline, gap = None, 0.0
    for rep in range(args.reps):
        for name in PATHS if rep % 2 == 0 else PATHS[::-1]:
            found, wall, used = timed(partial(run_path, tagger, name, texts, args.batch_size))
            times[name].append(wall)
            cpu[name].append(used)
            print(f"rep {rep + 1}/{args.reps} {name:9} {wall:7.2f} s", file=sys.stderr)
            if baseline is None:
                baseline = found
            else:
                gap = max(gap, compare(baseline, found, args.score_tol, f"rep {rep + 1} {name}"))
    entities = sum(map(len, baseline))
    results = {name: summary(times[name], cpu[name], tokens, len(texts)) for name in PATHS}
    speed_up = statistics.median(times["reference"]) / statistics.median(times["fast"])
    cpu_speed_up = statistics.median(cpu["reference"]) / statistics.median(cpu["fast"])
    record = {"input": source, "texts": len(texts), "tokens": tokens, "entities": entities,
              **results, "speed_up": round(speed_up, 2), "cpu_speed_up": round(cpu_speed_up, 2),
              "check": {"same_entities": True, "max_score_diff": gap,
                        "score_tol": args.score_tol}}

    c = described["config"]
    size = described["vocabulary"]
    print(f"{'model':12} {c['char_encoder']} chars + word BiLSTM ({c['hidden_size']}) + "
          f"{c['decoder']}, {size['words']:,} words, {described['parameters']:,} parameters, "
          f"{described['epochs_run']} epochs ({described['source'].split(' (')[0]})")
    print(f"{'input':12} {source}")
    print(f"{'texts':12} {len(texts):,}")
    print(f"{'tokens':12} {tokens:,}")
    print(f"{'entities':12} {entities:,} (the same on both paths; scores within {gap:.1g})")
    print()
    print(f"{'path':10} {'median s':>9} {'CPU med s':>9} {'tokens/s':>9}  {'times (s)':20} "
          f"{'CPU (s)':20}")
    for name in PATHS:
        r = results[name]
        print(f"{name:10} {r['median_s']:9.2f} {r['cpu_median_s']:9.2f} {r['tokens_per_s']:9,}  "
              f"{', '.join(f'{t:.2f}' for t in times[name]):20} "
              f"{', '.join(f'{t:.2f}' for t in cpu[name]):20}")
    print(f"\nspeed-up (reference median / fast median): {speed_up:.2f}x wall time, "
          f"{cpu_speed_up:.2f}x CPU time")
    out = Path(args.out) if args.out is not None else RESULTS / "tag_predict_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": vars(args), "model": described,
                               "environment": environment(), "result": record},
                              indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
