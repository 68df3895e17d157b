"""How fast is lstmkit's LSTM against torch.nn.LSTM, a naive loop and the hardware? One command.

    python benchmarks/lstm_speed.py            # the full grid (a few minutes on 2 cores)
    python benchmarks/lstm_speed.py --quick    # a smoke run; writes under the temp dir
    python benchmarks/lstm_speed.py --threads 1 --output benchmarks/results/lstm_speed_1t.json

Measures, in one process, fp32, at (T, B, I, H) in GRID, forward+backward (training mode) and
inference (eval, no_grad): torch.nn.LSTM (plain), a naive per-step loop over nn.LSTMCell,
lstmkit plain and lstmkit with each variant (backend="auto"); lengths against padding at
LENGTHS_SHAPE; the streaming step against nn.LSTMCell. Repetitions are interleaved across the
configurations of a shape (so that a burst of load from other processes hits all of them),
short runs are repeated more (at least 0.4 s of each, up to 40 times), and the median is
reported with its ratio to nn.LSTM plain at the same shape and mode (its time divided by
nn.LSTM's: below 1 is faster). ``--quick`` asks for 2 repetitions instead of ``--reps``, but
the 0.4 s minimum (up to 40 repetitions) still applies, and times 200 streaming steps instead
of 1000; it writes to the system temp dir (``lstm_speed_quick.json``) unless ``--output``
is given, so that a smoke run leaves the committed results alone. The GEMM
ceiling (GFLOP/s of a large fp32 matmul) is printed beside each run's achieved GFLOP/s (GEMM
flops only: the input, recurrent and projection products, x3 for forward+backward).

Writes benchmarks/results/lstm_speed.json (without ``--quick``) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from lstmkit.nn import LSTM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, int_at_least

GRID = [(100, 32, 32, 64), (100, 64, 128, 128), (100, 64, 256, 256), (50, 64, 512, 512),
        (1000, 1, 16, 64)]
LENGTHS_SHAPE = (200, 64, 128, 128)
STEP_SIZES = (64, 128, 256)
VARIANTS: dict[str, dict] = {
    "peephole": {"peephole": True},
    "coupled_gates": {"coupled_gates": True},
    "layer_norm": {"layer_norm": True},
    "zoneout": {"zoneout": 0.1},
    "recurrent_dropout": {"recurrent_dropout": 0.25},
    "weight_drop": {"weight_drop": 0.25},
}
NAIVE_VARIANT_SHAPE = (1000, 1, 16, 64)
RESULTS = Path(__file__).parent / "results"
QUICK_OUTPUT = Path(tempfile.gettempdir()) / "lstm_speed_quick.json"


def load_average() -> str:
    try:
        return " ".join(f"{load:.2f}" for load in os.getloadavg())
    except (OSError, AttributeError):  # (unknown here; Windows has no os.getloadavg)
        return "unknown"


def gemm_ceiling(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def lstm_flops(T: int, B: int, I: int, H: int, gates: int = 4, backward: bool = True) -> float:
    forward = 2 * T * B * gates * H * (I + H)
    return forward * (3 if backward else 1)


class NaiveLoop(nn.Module):
    """The loop a PyTorch user writes: nn.LSTMCell over time."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(input_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[1], self.cell.hidden_size)
        c = torch.zeros_like(h)
        outputs = []
        for t in range(x.shape[0]):
            h, c = self.cell(x[t], (h, c))
            outputs.append(h)
        return torch.stack(outputs)  # (T, B, H)


def train_step(model: nn.Module, x: torch.Tensor, **call) -> Callable[[], None]:
    def run() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x, **call)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
    return run


def infer_step(model: nn.Module, x: torch.Tensor, **call) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            model(x, **call)
    return run


def interleaved_medians(fns: dict[str, Callable[[], None]], reps: int,
                        min_seconds: float = 0.4, max_reps: int = 40) -> dict[str, float]:
    """Median seconds of each function; repetition r of every function before r + 1 of any.

    Each function runs at least ``reps`` times, and more (up to ``max_reps``) until it has
    run for ``min_seconds`` in all: short runs are the noisiest on a busy machine.
    """
    counts = {}
    for name, fn in fns.items():
        fn()  # warm-up: allocation, first-call dispatch, the extension's build
        t0 = time.perf_counter()
        fn()
        once = time.perf_counter() - t0
        counts[name] = min(max_reps, max(reps, int(min_seconds / max(once, 1e-6))))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(max(counts.values())):
        for name, fn in fns.items():
            if r < counts[name]:
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def backend_of(model: nn.Module) -> str:
    choice = getattr(model, "last_backend", None)
    return choice.name if choice is not None else "torch.nn"


def bench_shape(shape: tuple[int, int, int, int], reps: int) -> list[dict]:
    T, B, I, H = shape
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    models: dict[str, nn.Module] = {
        "nn.LSTM plain": nn.LSTM(I, H),
        "naive loop (nn.LSTMCell)": NaiveLoop(I, H),
        "lstmkit plain": LSTM(I, H),
    }
    models.update({f"lstmkit {name}": LSTM(I, H, **kw) for name, kw in VARIANTS.items()})
    if shape == NAIVE_VARIANT_SHAPE:  # each variant's own naive loop: the reference path
        models.update({f"naive loop {name}": LSTM(I, H, backend="reference", **kw)
                       for name, kw in VARIANTS.items()})
    rows = []
    for mode in ("train", "infer"):
        for m in models.values():
            m.train(mode == "train")
        make = train_step if mode == "train" else infer_step
        medians = interleaved_medians({k: make(m, x) for k, m in models.items()}, reps)
        base = medians["nn.LSTM plain"]
        for name, seconds in medians.items():
            gates = 3 if "coupled" in name else 4
            flops = lstm_flops(T, B, I, H, gates, backward=mode == "train")
            rows.append({
                "shape": list(shape), "mode": mode, "name": name,
                "backend": backend_of(models[name]), "median_ms": seconds * 1e3,
                "ratio_to_nn_lstm": seconds / base, "gflops": flops / seconds / 1e9,
            })
    return rows


def bench_lengths(reps: int) -> list[dict]:
    T, B, I, H = LENGTHS_SHAPE
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    lengths = torch.randint(T // 2, T + 1, (B,))
    ref = nn.LSTM(I, H)
    ours = LSTM(I, H)
    ours_packed = LSTM(I, H, backend="torch")

    def packed_nn() -> None:
        ref.zero_grad(set_to_none=True)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, _ = ref(packed)
        nn.utils.rnn.pad_packed_sequence(out, total_length=T)[0].sum().backward()

    fns = {
        "nn.LSTM padded (no lengths)": train_step(ref, x),
        "nn.LSTM PackedSequence": packed_nn,
        "lstmkit lengths= (auto)": train_step(ours, x, lengths=lengths),
        "lstmkit lengths= (backend=torch, packed)": train_step(ours_packed, x, lengths=lengths),
    }
    medians = interleaved_medians(fns, reps)
    base = medians["nn.LSTM padded (no lengths)"]
    backends = {"lstmkit lengths= (auto)": backend_of(ours),
                "lstmkit lengths= (backend=torch, packed)": backend_of(ours_packed)}
    return [{"shape": list(LENGTHS_SHAPE), "mode": "train", "name": name,
             "backend": backends.get(name, "torch.nn"), "median_ms": s * 1e3,
             "ratio_to_nn_lstm": s / base,
             "gflops": lstm_flops(T, B, I, H) / s / 1e9} for name, s in medians.items()]


def bench_step(reps: int, calls: int) -> list[dict]:
    rows = []
    for H in STEP_SIZES:
        torch.manual_seed(0)
        cell = nn.LSTMCell(H, H).eval()
        seq = nn.LSTM(H, H).eval()
        ours = LSTM(H, H).eval()
        ours_variant = LSTM(H, H, peephole=True, layer_norm=True).eval()
        x = torch.randn(1, H)
        hc = (torch.zeros(1, H), torch.zeros(1, H))
        hc3 = (torch.zeros(1, 1, H), torch.zeros(1, 1, H))
        state = ours.step(x)[1]
        state_v = ours_variant.step(x)[1]

        def loop(fn: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                with torch.no_grad():
                    for _ in range(calls):
                        fn()
            return run

        fns = {
            "nn.LSTMCell": loop(lambda: cell(x, hc)),  # noqa: B023
            "nn.LSTM, T=1": loop(lambda: seq(x.unsqueeze(0), hc3)),  # noqa: B023
            "lstmkit LSTM.step": loop(lambda: ours.step(x, state)),  # noqa: B023
            "lstmkit LSTM.step peephole+layer_norm":
                loop(lambda: ours_variant.step(x, state_v)),  # noqa: B023
        }
        medians = interleaved_medians(fns, reps)
        base = medians["nn.LSTMCell"]
        rows += [{"hidden": H, "batch": 1, "name": name, "us_per_step": s / calls * 1e6,
                  "ratio_to_lstmcell": s / base} for name, s in medians.items()]
    return rows


def print_tables(report: dict) -> None:
    print(f"\nGEMM ceiling: {report['gemm_ceiling_gflops']:.1f} GFLOP/s "
          f"(fp32 2048x2048 matmul, {report['threads']} threads)")
    print(f"load average before: {report['load_before']}, after: {report['load_after']}\n")
    print("time / nn.LSTM: the run's median time divided by nn.LSTM plain's at the same shape "
          "and mode (below 1 is faster)\n")
    print("| shape (T, B, I, H) | run | backend | fwd+bwd ms | time / nn.LSTM | GFLOP/s "
          "| inference ms | time / nn.LSTM | GFLOP/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    by_key: dict[tuple, dict] = {}
    for row in report["grid"]:
        by_key[(tuple(row["shape"]), row["name"], row["mode"])] = row
    for shape in GRID:
        names = dict.fromkeys(r["name"] for r in report["grid"] if tuple(r["shape"]) == shape)
        for name in names:
            tr, inf = by_key[(shape, name, "train")], by_key[(shape, name, "infer")]
            print(f"| {shape} | {name} | {tr['backend']} | {tr['median_ms']:.2f} | "
                  f"{tr['ratio_to_nn_lstm']:.2f} | {tr['gflops']:.1f} | {inf['median_ms']:.2f} | "
                  f"{inf['ratio_to_nn_lstm']:.2f} | {inf['gflops']:.1f} |")
    print("\nLengths uniform in [T/2, T] vs padding, forward+backward, "
          f"(T, B, I, H) = {LENGTHS_SHAPE}:\n")
    print("| run | backend | ms | time / nn.LSTM padded's |")
    print("|---|---|---:|---:|")
    for row in report["lengths"]:
        print(f"| {row['name']} | {row['backend']} | {row['median_ms']:.2f} | "
              f"{row['ratio_to_nn_lstm']:.2f} |")
    print("\nStreaming step, B = 1, I = H, inference:\n")
    print("| H | run | us per step | time / nn.LSTMCell's |")
    print("|---:|---|---:|---:|")
    for row in report["step"]:
        print(f"| {row['hidden']} | {row['name']} | {row['us_per_step']:.1f} | "
              f"{row['ratio_to_lstmcell']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int_at_least(1), default=5,
                        help="repetitions per configuration, at least (short runs repeat "
                        "until 0.4 s of each have run, up to 40 times)")
    parser.add_argument("--threads", type=int_at_least(1), default=None,
                        help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: at least 2 repetitions instead of --reps (the 0.4 s "
                        "minimum, up to 40 repetitions, still applies), 200 streaming-step "
                        "calls instead of 1000, and --output by default under the system "
                        "temp dir")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"the JSON to write (default {RESULTS / 'lstm_speed.json'}; with "
                        f"--quick, {QUICK_OUTPUT})")
    args = parser.parse_args()
    if args.output is None:
        args.output = QUICK_OUTPUT if args.quick else RESULTS / "lstm_speed.json"
    reps = 2 if args.quick else args.reps
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    calls = 200 if args.quick else 1000

    load_before = load_average()
    started = time.perf_counter()
    report: dict = {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "reps": reps, "quick": args.quick, "load_before": load_before,
        "gemm_ceiling_gflops": gemm_ceiling(),
    }
    report["grid"] = []
    for shape in GRID:
        report["grid"] += bench_shape(shape, reps)
        print(f"done {shape} ({time.perf_counter() - started:.0f} s)", flush=True)
    report["lengths"] = bench_lengths(reps)
    report["step"] = bench_step(reps, calls)
    report["load_after"] = load_average()
    # (a one-minute load average past the cores: other work shared them with this run)
    report["loaded"] = any(load.split()[0] != "unknown" and float(load.split()[0]) >
                           (os.cpu_count() or 1) for load in (load_before, report["load_after"]))
    report["seconds"] = time.perf_counter() - started
    report["environment"] = environment()
    print_tables(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.output}" + (" (a --quick run: not the committed results)"
                                      if args.quick else ""))
    if report["loaded"]:
        print(f"warning: the load average ({load_before} before, {report['load_after']} "
              f"after) passed the {os.cpu_count()} cores: other processes shared them, so "
              "these times and ratios are not usable; rerun on quiet cores")


if __name__ == "__main__":
    main()
