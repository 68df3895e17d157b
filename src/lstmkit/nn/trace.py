"""Gate and cell tracing: what every gate did at every step, and a picture of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from lstmkit.nn.config import index_in
from lstmkit.saving import path_arg

FIELDS = ("i", "f", "g", "o", "c", "h")
NAMES = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate",
         "c": "cell state", "h": "hidden state"}


@dataclass(frozen=True)
class LSTMTrace:
    """Every step's gate activations and states, from :meth:`lstmkit.nn.LSTM.trace`.

    ``i, f, g, o, c`` are (L*D, T, B, H) and ``h`` is (L*D, T, B, R); index 0 of the first
    dimension is layer 0 forward, then layer 0 reverse (if bidirectional), layer 1, and so on.
    Positions past a sequence's length are zero; ``lengths`` (B,) are the lengths traced
    (None: every sequence has all T steps). ``c`` holds c(t) after zoneout, so without
    zoneout ``c[:, t] == f[:, t] * c[:, t-1] + i[:, t] * g[:, t]``.
    """

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor
    lengths: Tensor | None = None


def plot_trace(
    trace: LSTMTrace,
    path: str | Path,
    *,
    layer_direction: int = 0,
    batch_index: int = 0,
    fields: tuple[str, ...] = FIELDS,
    title: str | None = None,
    events: Sequence[int] | Tensor | np.ndarray | None = None,
) -> Path:
    """Draw one sequence's trace as heatmaps (one panel per field: units x time) into a PNG
    file at ``path`` (whatever its name ends with), and return ``path``.

    The forget-gate panel shows, unit by unit, when the cell keeps its memory (near 1, bright)
    and when it forgets (near 0, dark). ``events`` are time steps in [0, T) to mark with dashed
    lines (episode boundaries, marked inputs): whole numbers, as a list, a 1-D array or integer
    tensor, or the ``flags.nonzero()`` of a 1-D mask.
    """
    # a Figure of its own, not pyplot's: drawing needs no backend, and the caller's (a
    # notebook's inline one) stays as it is
    import matplotlib
    from matplotlib.figure import Figure

    path = path_arg("path", path)
    if isinstance(fields, str) or not fields:
        raise ValueError(f"fields must be a non-empty sequence of names among {FIELDS}, "
                         f"got {fields!r}")
    for name in fields:
        if name not in FIELDS:
            raise ValueError(f"fields must be among {FIELDS}, got {name!r}")
    if not isinstance(trace, LSTMTrace):
        raise TypeError(f"trace must be an LSTMTrace (what LSTM.trace(x) returns), got "
                        f"{type(trace).__name__}")
    n_ld, steps, n_batch = trace.i.shape[:3]
    events = _event_steps(events, steps)
    layer_direction = index_in("layer_direction", layer_direction, n_ld)
    batch_index = index_in("batch_index", batch_index, n_batch)
    fig = Figure(figsize=(10, 1.8 * len(fields)))
    axes = fig.subplots(len(fields), 1, sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], fields, strict=True):
        # (T, H), in float32: NumPy has no bfloat16
        values = getattr(trace, name)[layer_direction, :, batch_index].detach().cpu().float()
        if trace.lengths is not None:  # padding blank (grey), not a gate at 0
            values = values.clone()
            values[int(trace.lengths[batch_index]):] = float("nan")
        gate = name in ("i", "f", "o")
        # c and h on a scale centred on 0 (white), so that red is positive and blue negative
        reach = float(values.nan_to_num().abs().max()) or 1.0
        limits = (0.0, 1.0) if gate else (-1.0, 1.0) if name == "g" else (-reach, reach)
        cmap = matplotlib.colormaps["viridis" if gate else "RdBu_r"].with_extremes(
            bad="lightgrey")
        image = ax.imshow(values.t().numpy(), aspect="auto", origin="lower",
                          interpolation="nearest", cmap=cmap, vmin=limits[0], vmax=limits[1])
        for t in events:
            # (white on the gates' dark colours, black on the white-centred c, h and g)
            ax.axvline(t, color="white" if gate else "black", linestyle="--", linewidth=0.8)
        ax.set_ylabel(f"{name}: {NAMES[name]}\nunit", fontsize=8)
        fig.colorbar(image, ax=ax, pad=0.01)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title or f"LSTM gates and states (layer-direction {layer_direction}, "
                          f"sequence {batch_index})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    return path


def _event_steps(events: Any, steps: int) -> list[int]:
    """``events`` (None, or whole numbers in [0, ``steps``): a sequence, a 1-D array or
    integer tensor, or the (N, 1) indices ``nonzero()`` gives for a 1-D mask) as a list of
    ints, or the ValueError/TypeError naming ``events``."""
    if events is None:
        return []
    if isinstance(events, Tensor | np.ndarray):
        numpy = isinstance(events, np.ndarray)
        kind = "an array" if numpy else "a tensor"
        values = events if numpy else events.detach().cpu().numpy()
        whole = (values.dtype != np.bool_ and np.issubdtype(values.dtype, np.number)
                 and not np.iscomplexobj(values)
                 and bool(np.all(np.mod(values, 1) == 0)))  # (2.0 is step 2, as in a list)
        if not whole:
            how = "np.flatnonzero(mask)" if numpy else "mask.nonzero()"
            why = (f" (for a mask of steps, pass {how})" if values.dtype == np.bool_ else
                   "" if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values)
                   else f" holding {values[np.mod(values, 1) != 0].flat[0].item()!r}")
            raise TypeError(f"events must be whole time steps, got {kind} of {events.dtype}"
                            f"{why}")
        if events.ndim == 0:  # (one step)
            events = events.reshape(1)
        if events.ndim == 2 and events.shape[1] == 1:  # (nonzero() of a 1-D mask)
            events = events[:, 0]
        if events.ndim > 1:
            raise ValueError(f"events must be time steps, one a row, got {kind} of shape "
                             f"{tuple(events.shape)} (nonzero() of "
                             "a (T, B) mask gives (t, b) pairs: pass the steps of one "
                             "sequence, mask[:, b].nonzero())")
        events = [int(t) for t in events.tolist()]
    elif isinstance(events, str | Mapping) or not isinstance(events, Iterable):
        raise TypeError(f"events must be a sequence of time steps, got "
                        f"{type(events).__name__} {events!r}")
    out = []
    for t in events:
        if (t.numel() if isinstance(t, Tensor) else
                np.size(t) if isinstance(t, np.ndarray | np.generic) else 0) == 1:
            t = t.item()  # (a NumPy number, or a tensor of one step: list(mask.nonzero()))
        if isinstance(t, float) and t.is_integer():
            t = int(t)
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"events must be whole time steps, got {t!r}")
        out.append(t)
    outside = [t for t in out if not 0 <= t < steps]
    if outside:
        raise ValueError(f"events must be time steps in [0, {steps - 1}], got {outside}")
    return out
