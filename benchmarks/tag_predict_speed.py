"""How fast does a trained tagger tag raw text? ``Tagger.predict`` on a large input, in tokens/s.

Trains nothing: give a saved tagger (``lstmkit tag train ... --out DIR`` or
``Tagger.save``) and either a text file (one text a line, as ``lstmkit tag predict --input``
reads it) or nothing, for an input built from WNUT-17 (every sentence of the train, dev and
test files as a line of its tokens joined by spaces, the whole repeated ``--repeat`` times:
101,857 tokens a copy, 105,671 as the regex tokenizer splits them).

    python benchmarks/tag_predict_speed.py --model runs/wnut/model --out /tmp/tag_speed.json
    python benchmarks/tag_predict_speed.py --model DIR --input big.txt --reps 3 --threads 2

Times ``--reps`` calls of ``predict`` on the whole input (tokenisation, encoding, network,
Viterbi and the entities' CRF marginals: everything ``predict`` does; not the reading of the
file or the model) and reports the median wall time, with the process's CPU time of each
call (other load on a shared machine slows both: compare runs made together, interleaved),
the tokens (by the model's own tokenizer), texts and entities found. Prints a table and
writes JSON (by default benchmarks/results/tag_predict_speed.json: give a quick run its own
--out).
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
from lstmkit.tagging import Tagger, read_conll

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, int_at_least

RESULTS = Path(__file__).resolve().parent / "results"
WNUT_FILES = ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated")


def wnut_texts(repeat: int) -> list[str]:
    """Every WNUT-17 sentence (train, dev, test) as one line of space-joined tokens, the
    whole ``repeat`` times."""
    folder = data_dir() / "ner" / "wnut17"
    lines = [" ".join(s.tokens) for name in WNUT_FILES for s in read_conll(folder / name)]
    return lines * repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="saved tagger directory")
    parser.add_argument("--input", help="text file, one text a line (default: WNUT-17 "
                        "sentences, --repeat times)")
    parser.add_argument("--repeat", type=int_at_least(1), default=3,
                        help="copies of the WNUT-17 sentences without --input (default 3)")
    parser.add_argument("--reps", type=int_at_least(1), default=3,
                        help="timed predict calls; the median is reported (default 3)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=128)
    parser.add_argument("--threads", type=int_at_least(1), default=None)
    parser.add_argument("--out", default=str(RESULTS / "tag_predict_speed.json"),
                        help="JSON written here (default under benchmarks/results/)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    tagger = Tagger.load(args.model)
    if args.input is not None:
        texts = Path(args.input).read_text(encoding="utf-8").splitlines()
        source = args.input
    else:
        texts = wnut_texts(args.repeat)
        source = f"WNUT-17 train+dev+test sentences x {args.repeat}"
    tokens = sum(len(tagger.tokenizer.spans(t)) for t in texts)
    times, cpu, entities = [], [], 0
    for _ in range(args.reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        found = tagger.predict(texts, batch_size=args.batch_size)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        entities = sum(map(len, found))
    median = statistics.median(times)
    record = {"input": source, "texts": len(texts), "tokens": tokens, "entities": entities,
              "times_s": [round(t, 3) for t in times], "median_s": round(median, 3),
              "cpu_times_s": [round(t, 3) for t in cpu],
              "tokens_per_s": round(tokens / median), "texts_per_s": round(len(texts) / median)}
    print(f"{'input':12} {source}")
    print(f"{'texts':12} {len(texts):,}")
    print(f"{'tokens':12} {tokens:,}")
    print(f"{'entities':12} {entities:,}")
    print(f"{'times (s)':12} {', '.join(f'{t:.2f}' for t in times)} (median {median:.2f})")
    print(f"{'CPU (s)':12} {', '.join(f'{t:.2f}' for t in cpu)} (all threads)")
    print(f"{'tokens/s':12} {tokens / median:,.0f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "environment": environment(),
                                          "result": record}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
