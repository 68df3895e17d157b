"""``lstmkit demo``: train a small LSTM on a generated task and show what its gates did."""

from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="lstmkit-demo", help="folder for the gate plot")
    parser.add_argument("--steps", type=int, default=400, help="training steps (batches of 32)")
    parser.add_argument("--seq-len", type=int, default=30,
                        help="sequence length T, 2 to 10000 (memory grows with it)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:

    from lstmkit.demo import check_seq_len, run_demo
    from lstmkit.nn.config import shown
    from lstmkit.text.io import check_output_path
    from lstmkit.training.config import MAX_SEED

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {shown(args.steps, format)}")
    check_seq_len(args.seq_len, "--seq-len")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be in [0, {MAX_SEED}], got {shown(args.seed, format)}")
    check_output_path(args.out, "--out", directory=True)  # before training, not after
    print("Training an LSTM to output, at every step, the sum of the values since the last "
          "marked step...")
    r = run_demo(args.out, steps=args.steps, seq_len=args.seq_len, seed=args.seed)
    print(f"\ntrained {r.steps} steps in {r.seconds:.1f} s")
    print(f"test MSE {r.test_mse:.4f}  (predicting the mean: {r.baseline_mse:.4f})\n")
    print(f"what the gates did: the {len(r.reacting_units)} units whose forget gate reacts most "
          f"to a mark ({r.reacting_units}) have")
    print(f"  forget gate f = {r.forget_at_mark:.3f} at marked steps (so "
          f"{1 - r.forget_at_mark:.0%} of the memory thrown away)")
    print(f"  forget gate f = {r.forget_elsewhere:.3f} elsewhere (the share of c(t-1) kept at "
          "each step: 1 would keep the memory whole)")
    print(f"\nheatmaps over time of the forget, input and output gates, the candidate, the "
          f"cell and the hidden state: {r.plot}")
    return 0
