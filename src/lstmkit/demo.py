"""A small demonstration: an LSTM learns a running sum that restarts at marked steps, and its
gates show how.

The task ("sum since the last reset"): each sequence holds values in [0, 1] and a flag channel
that marks about one step in seven. At every step the model outputs the sum of the values since
the last marked step (the marked one included). The textbook cell would add each value to its
memory (input gate open, forget gate at 1) and, at a mark, throw the memory away (forget gate
at 0). :func:`run_demo` trains, then measures from a trace what the trained gates do, and draws
it: the forget gates of the units that react most drop at each mark (to about 0.15 with the
defaults) but sit near one half between marks, so the network does not keep the sum in the cell
alone (the recurrent input rebuilds it at each step). The trace shows the model's own
computation, not the textbook's.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from lstmkit.nn import LSTM, plot_trace
from lstmkit.nn.config import positive_int, shown

TARGET_SCALE = 1 / 3  # keeps the sums (about 3 on average) near unit scale

MAX_SEQ_LEN = 10_000
"""The longest sequence the demo takes. It traces a batch of 256 sequences (six (T, 256, 16)
fields) and draws every step, so its memory grows with T, about 0.3 MB a step: measured peaks
(one training step, one CPU thread) of 0.4 GB at T=30, 0.6 GB at 1,000, 1.2 GB at 3,000 and
3.4 GB at 10,000, where tracing and drawing took 18 s and the default 400 training steps take
some 4 minutes (0.06 s a step at 1,000). 100,000 steps would need some 30 GB: the demo grew
until the system's out-of-memory killer ended it, after minutes, with no message."""


def check_seq_len(value: object, name: str = "seq_len") -> int:
    """``value`` as the demo's sequence length: an int in [2, :data:`MAX_SEQ_LEN`]; the
    errors name it ``name`` (``--seq-len`` on the command line)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) \
            and value > MAX_SEQ_LEN:  # (positive_int's words, and why)
        raise ValueError(f"{name} must be an int in [2, {MAX_SEQ_LEN}], got "
                         f"{shown(int(value), format)}: the demo traces 256 sequences of that many "
                         "steps and draws every step, about 0.3 MB a step (3.4 GB at "
                         f"{MAX_SEQ_LEN})")
    return positive_int(name, value, minimum=2, maximum=MAX_SEQ_LEN)


@dataclass(frozen=True)
class DemoResult:
    steps: int
    seconds: float
    test_mse: float
    baseline_mse: float  # predicting the mean target everywhere
    reacting_units: list[int]  # the units whose forget gate reacts most to a mark
    forget_at_mark: float  # mean forget gate of those units at marked steps
    forget_elsewhere: float
    plot: Path


def reset_sum_batch(batch: int, steps: int, generator: torch.Generator
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """x (T, B, 2) = [value, flag], target (T, B, 1), flags (T, B) bool."""
    values = torch.rand(steps, batch, generator=generator)  # (T, B)
    flags = torch.rand(steps, batch, generator=generator) < 0.15  # (T, B)
    total = torch.zeros(batch)
    targets = []
    for t in range(steps):
        total = torch.where(flags[t], 0.0, total) + values[t]
        targets.append(total)
    x = torch.stack([values, flags.float()], dim=-1)  # (T, B, 2)
    return x, torch.stack(targets).unsqueeze(-1) * TARGET_SCALE, flags


def run_demo(out_dir: str | Path = "lstmkit-demo", *, steps: int = 400, seq_len: int = 30,
             hidden_size: int = 16, seed: int = 0, log_every: int = 50) -> DemoResult:
    """Train on sum-since-reset (``steps`` batches of 32 sequences of ``seq_len`` steps, at
    most :data:`MAX_SEQ_LEN`), then trace the trained LSTM's gates; returns the figures.
    The arguments are checked before any work."""
    steps = positive_int("steps", steps)
    seq_len = check_seq_len(seq_len)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    lstm = LSTM(2, hidden_size)
    head = nn.Linear(hidden_size, 1)
    optimiser = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-2)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x, target, _ = reset_sum_batch(32, seq_len, generator)
        output, _ = lstm(x)  # (T, B, H)
        loss = nn.functional.mse_loss(head(output), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if log_every and step % log_every == 0:
            print(f"step {step:4d}/{steps}  train MSE {loss.item():.4f}", flush=True)
    seconds = time.perf_counter() - start

    lstm.eval()
    x, target, flags = reset_sum_batch(256, seq_len, generator)
    with torch.no_grad():
        test_mse = nn.functional.mse_loss(head(lstm(x)[0]), target).item()
    trace = lstm.trace(x)
    f = trace.f[0]  # (T, B, H)
    drop = f[~flags].mean(0) - f[flags].mean(0)  # (H,): how much each unit forgets at a mark
    units = drop.topk(min(4, hidden_size)).indices
    # every gate and state, the forget gate (the demo's subject) first
    plot = plot_trace(trace, Path(out_dir) / "gates.png", fields=("f", "i", "g", "o", "c", "h"),
                      title="sum since the last reset (marks dashed): forget gates drop there",
                      events=flags[:, 0].nonzero().flatten().tolist())
    return DemoResult(
        steps, seconds, test_mse, (target - target.mean()).pow(2).mean().item(),
        units.tolist(), f[flags][:, units].mean().item(), f[~flags][:, units].mean().item(),
        plot,
    )
