"""Pick the backend that computes an LSTM configuration, and say why.

Backends:

- ``"reference"``: :func:`lstmkit.nn.functional.lstm_scan`, the equations in plain PyTorch;
  serves every configuration.
- ``"torch"``: torch's own fused LSTM op (oneDNN on CPU, cuDNN on GPU) for configurations that
  compute exactly what ``torch.nn.LSTM`` computes: no cell variant, no resets. Weight drop is
  served (it only changes the weights handed to the op); ``lengths`` are served by packing.

``"auto"`` picks the fastest backend that serves the configuration. A backend named explicitly
that cannot serve raises a ``ValueError`` naming the condition that failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from lstmkit.nn.config import LSTMConfig


@dataclass(frozen=True)
class BackendChoice:
    """The backend an LSTM call runs on (``name``) and why it was picked (``reason``)."""

    name: str
    reason: str


def torch_blockers(config: LSTMConfig, has_reset: bool) -> list[str]:
    """Conditions that keep torch's fused op from computing this configuration exactly."""
    blockers = config.cell_variants()
    if has_reset:
        blockers.append("reset= is given")
    return blockers


def choose_backend(config: LSTMConfig, *, has_reset: bool) -> BackendChoice:
    requested = config.backend
    blockers = torch_blockers(config, has_reset)
    if requested == "reference":
        return BackendChoice("reference", "backend='reference' was requested")
    if requested == "torch":
        if blockers:
            raise ValueError(
                "backend='torch' cannot serve this configuration: torch's fused op computes "
                f"only the plain LSTM, but {', '.join(blockers)}; use backend='auto' or "
                "'reference'"
            )
        return BackendChoice("torch", "backend='torch' was requested")
    if requested == "fused":
        raise ValueError(
            "backend='fused' cannot serve this configuration: the fused CPU kernel is not part "
            "of this build; use backend='auto' or 'reference'"
        )
    if not blockers:
        return BackendChoice("torch", "plain configuration: torch's own fused op computes it "
                                      "exactly and is the fastest path")
    return BackendChoice("reference", f"torch's fused op cannot serve {', '.join(blockers)}; "
                                      "no fused kernel in this build, so the reference path runs")
