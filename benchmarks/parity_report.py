"""Parity figures: max abs error of lstmkit.LSTM against torch.nn.LSTM, per configuration.

For every combination of layers (1, 2), directions (1, 2), projection (0, 3), batch_first and
packed input, on each backend that serves plain configurations (reference, torch and the
fused C++ kernel, built on first use), in float32 and float64: the largest absolute difference
over outputs, h_n, c_n and the gradients of the input, h_0, c_0 and every parameter. Prints a
table and writes JSON, ``{"environment": ..., "rows": [...]}`` (by default
benchmarks/results/parity.json, which the docs cite).

    python benchmarks/parity_report.py                         # writes parity.json
    python benchmarks/parity_report.py --out /tmp/parity.json  # a check that leaves it alone
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from lstmkit import LSTM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment

BACKENDS = ("reference", "torch", "fused")

T, B, I, H, P = 6, 4, 5, 8, 3
LENGTHS = [6, 2, 5, 3]


def run(module, x, hx, packed, batch_first):
    for t in (x, *hx):
        t.grad = None
    module.zero_grad()
    if packed:
        out, (h_n, c_n) = module(pack_padded_sequence(x, LENGTHS, batch_first=batch_first,
                                                      enforce_sorted=False), hx)
        out = out.data
    else:
        out, (h_n, c_n) = module(x, hx)
    weights = [torch.linspace(-1, 2, t.numel(), dtype=t.dtype).view_as(t) for t in (out, h_n, c_n)]
    sum((t * w).sum() for t, w in zip((out, h_n, c_n), weights, strict=True)).backward()
    grads = [p.grad for p in module.parameters()] + [t.grad for t in (x, *hx)]
    return [out, h_n, c_n], grads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "parity.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    grid = itertools.product([1, 2], [False, True], [0, P], [False, True], [False, True],
                             BACKENDS, [torch.float32, torch.float64])
    for layers, bidir, proj, batch_first, packed, backend, dtype in grid:
        kwargs = dict(num_layers=layers, bidirectional=bidir, proj_size=proj,
                      batch_first=batch_first)
        theirs = torch.nn.LSTM(I, H, **kwargs).to(dtype)
        ours = LSTM(I, H, backend=backend, **kwargs).to(dtype)
        ours.load_state_dict(theirs.state_dict())
        d = 2 if bidir else 1
        x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=dtype, requires_grad=True)
        hx = (torch.randn(layers * d, B, proj or H, dtype=dtype, requires_grad=True),
              torch.randn(layers * d, B, H, dtype=dtype, requires_grad=True))
        out_t, grad_t = run(theirs, x, hx, packed, batch_first)
        out_o, grad_o = run(ours, x, hx, packed, batch_first)
        out_err = max((a - b).abs().max().item() for a, b in zip(out_t, out_o, strict=True))
        grad_err = max((a - b).abs().max().item() for a, b in zip(grad_t, grad_o, strict=True))
        rows.append({"layers": layers, "directions": d, "proj_size": proj,
                     "batch_first": batch_first, "packed": packed, "backend": backend,
                     "dtype": str(dtype).removeprefix("torch."), "max_abs_err_outputs": out_err,
                     "max_abs_err_grads": grad_err})
    header = f"{'L':>2} {'D':>2} {'P':>2} {'bf':>3} {'pack':>5} {'backend':>10} {'dtype':>8} " \
             f"{'outputs':>10} {'grads':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['layers']:>2} {r['directions']:>2} {r['proj_size']:>2} "
              f"{'y' if r['batch_first'] else 'n':>3} {'y' if r['packed'] else 'n':>5} "
              f"{r['backend']:>10} {r['dtype']:>8} {r['max_abs_err_outputs']:>10.2e} "
              f"{r['max_abs_err_grads']:>10.2e}")
    for dtype in ("float32", "float64"):
        worst = [r for r in rows if r["dtype"] == dtype]
        print(f"worst {dtype}: outputs {max(r['max_abs_err_outputs'] for r in worst):.2e}, "
              f"gradients {max(r['max_abs_err_grads'] for r in worst):.2e}")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
