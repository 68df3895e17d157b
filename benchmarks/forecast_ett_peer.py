"""ETTh1: lstmkit's recipe against two ``torch.nn.LSTM`` scripts, all in one run.

The peers are the two scripts issue 4 describes, written as a user would:

- ``plain``: an ``nn.LSTM`` over the last 96 steps of all 7 channels, its last state to a
  linear head for every channel and step, as a user would first write it;
- ``segrnn``: Lin et al. 2023's SegRNN idea on plain ``nn.LSTM``: channel-independent, each
  window minus its last value, the lookback of 336 cut into segments of 24 embedded linearly,
  the last state to a linear head.

Each is trained with Adam at 1e-3 on MSE for about ``--peer-minutes``, the best epoch on
validation kept. All see the standard protocol of ``forecast_ett.py`` (the first 14,400 rows
split 8,640 / 2,880 / 2,880, z-scored with training statistics, every test window) and the
table gives their test MSE and MAE and each peer's over lstmkit's.

    python benchmarks/forecast_ett_peer.py --horizons 96 192 336 720   # the table
    python benchmarks/forecast_ett_peer.py --horizons 96 --peer-minutes 0.05 --max-epochs 1 \
        --limit-train-batches 2 --out /tmp/forecast_ett_peer_quick.json   # a quick check

``--limit-train-batches`` applies to the peers' epochs too; a peer's time budget is checked
after each epoch (and its validation), so a peer may run over it by one epoch.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import forecast_ett
from _common import Distinct, environment, float_in, int_at_least

TRAIN, VAL = 8640, 2880


class SegmentLSTM(nn.Module):
    """SegRNN-style: segments of each channel embedded, an nn.LSTM over them, a linear head."""

    def __init__(self, lookback: int, horizon: int, segment: int, width: int) -> None:
        super().__init__()
        self.segment = segment
        self.embed = nn.Sequential(nn.Linear(segment, width), nn.ReLU())
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.head = nn.Linear(width, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, L, C) -> (B, H, C)
        batch, lookback, channels = x.shape
        last = x[:, -1:, :]
        series = (x - last).permute(0, 2, 1).reshape(batch * channels, lookback)
        segments = series.reshape(batch * channels, lookback // self.segment, self.segment)
        _, (h, _) = self.lstm(self.embed(segments))
        out = self.head(h[-1]).reshape(batch, channels, -1).permute(0, 2, 1)
        return out + last


class PlainLSTM(nn.Module):
    """The first script a user writes: an nn.LSTM over the window, its last state to a
    linear head for every step and channel."""

    def __init__(self, channels: int, horizon: int, width: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, width, batch_first=True)
        self.head = nn.Linear(width, horizon * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, L, C) -> (B, H, C)
        _, (h, _) = self.lstm(x)
        return self.head(h[-1]).reshape(x.shape[0], -1, x.shape[2])


def windows(data: torch.Tensor, starts: range, lookback: int, horizon: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (W, L, C) and targets (W, H, C) of the windows whose lookback starts at
    ``starts``."""
    index = torch.tensor(list(starts))
    x = data[index[:, None] + torch.arange(lookback)]
    y = data[index[:, None] + lookback + torch.arange(horizon)]
    return x, y


def peer(name: str, data: torch.Tensor, horizon: int, args: object) -> dict[str, float]:
    """Train the peer ``name`` on ``data`` (z-scored, (14400, C)) and score it on every test
    window."""
    torch.manual_seed(0)
    if name == "plain":
        lookback = args.plain_lookback  # type: ignore[attr-defined]
        model: nn.Module = PlainLSTM(data.shape[1], horizon, args.plain_width)  # type: ignore
    else:
        lookback = args.peer_lookback  # type: ignore[attr-defined]
        model = SegmentLSTM(lookback, horizon, args.peer_segment,  # type: ignore[attr-defined]
                            args.peer_width)  # type: ignore[attr-defined]
    train_x, train_y = windows(data, range(0, TRAIN - lookback - horizon + 1), lookback,
                               horizon)
    val_x, val_y = windows(data, range(TRAIN - lookback, TRAIN + VAL - lookback - horizon + 1),
                           lookback, horizon)
    test_x, test_y = windows(data, range(TRAIN + VAL - lookback, len(data) - lookback - horizon
                                         + 1), lookback, horizon)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start, best, best_state, epochs = time.perf_counter(), float("inf"), None, 0
    while time.perf_counter() - start < 60 * args.peer_minutes:  # type: ignore[attr-defined]
        model.train()
        batches = torch.randperm(len(train_x)).split(64)
        for batch in batches[: _batches_an_epoch(len(batches), args)]:
            loss = nn.functional.mse_loss(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epochs += 1
        val = _score(model, val_x, val_y)[0]
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    assert best_state is not None
    model.load_state_dict(best_state)
    mse, mae = _score(model, test_x, test_y)
    return {"horizon": horizon, "lookback": lookback, "mse": mse, "mae": mae,
            "test_windows": len(test_x),
            "epochs": epochs, "best_val_mse": best,
            "wall_s": round(time.perf_counter() - start, 1)}


def _batches_an_epoch(total: int, args: object) -> int:
    """``--limit-train-batches`` for a peer as Lightning takes it for the recipe: a count, or
    a share of ``total`` rounded down."""
    limit = args.limit_train_batches  # type: ignore[attr-defined]
    return min(total, limit) if isinstance(limit, int) else max(1, int(total * limit))


@torch.no_grad()
def _score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    forecast = torch.cat([model(part) for part in x.split(512)])
    return float(((forecast - y) ** 2).mean()), float((forecast - y).abs().mean())


def main() -> None:
    parser, args = forecast_ett.parse_args(__doc__.splitlines()[0], jobs=False,
                                           out="benchmarks/results/forecast_ett_peer.json",
                                           horizons=(96,), extra=_peer_flags)
    if "segrnn" in args.peers and args.peer_lookback % args.peer_segment:
        parser.error(f"--peer-lookback must be a multiple of --peer-segment "
                     f"({args.peer_segment}), got {args.peer_lookback}")
    torch.set_num_threads(args.threads)
    frame = forecast_ett._ett_frame(args.dataset)
    values = frame[forecast_ett.CHANNELS].to_numpy()
    mean, std = values[:TRAIN].mean(0), values[:TRAIN].std(0)
    data = torch.tensor((values - mean) / std, dtype=torch.float32)
    rows = []
    for horizon in args.horizons:
        row = {"horizon": horizon, "lstmkit": forecast_ett.run(horizon, frame, args,
                                                               args.seeds[0])}
        for name in args.peers:
            row[name] = peer(name, data, horizon, args)
            row[f"{name}_mse_over_lstmkit"] = row[name]["mse"] / row["lstmkit"]["mse"]
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.dataset}, test MSE / MAE (z-scored) over every test window, one run each; "
          "peer MSE over lstmkit's in brackets")
    titles = {"plain": "plain nn.LSTM", "segrnn": "SegRNN-style nn.LSTM"}
    print(f"{'horizon':>7}  {'lstmkit recipe':>15}  "
          + "  ".join(f"{titles[n]:>24}" for n in args.peers) + "  wall s (lstmkit / "
          + " / ".join(args.peers) + ")")
    for row in rows:
        ours = row["lstmkit"]
        cells = [f"{row[n]['mse']:.3f} / {row[n]['mae']:.3f} ({row[f'{n}_mse_over_lstmkit']:.2f})"
                 for n in args.peers]
        walls = " / ".join(f"{row[n]['wall_s']:.0f}" for n in args.peers)
        print(f"{row['horizon']:>7}  {ours['mse']:.3f} / {ours['mae']:.3f}  "
              + "  ".join(f"{c:>24}" for c in cells) + f"  {ours['total_wall_s']:.0f} / {walls}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "environment": environment(),
                                          "rows": rows}, indent=2))
    print(f"wrote {args.out}")


def _peer_flags(parser: object) -> None:
    add = parser.add_argument  # type: ignore[attr-defined]
    add("--peers", nargs="+", choices=("plain", "segrnn"), default=["plain", "segrnn"],
        action=Distinct,
        help="the nn.LSTM scripts to run beside the recipe")
    add("--peer-minutes", type=float_in(0.0, low_open=True), default=3.0,
        help="each peer's training time per horizon (the best epoch on validation is kept)")
    add("--plain-lookback", type=int_at_least(1), default=96)
    add("--plain-width", type=int_at_least(1), default=128)
    add("--peer-lookback", type=int_at_least(1), default=336)
    add("--peer-segment", type=int_at_least(1), default=24)
    add("--peer-width", type=int_at_least(1), default=256)


if __name__ == "__main__":
    main()
