"""Pick the backend that computes an LSTM configuration, and say why.

Backends:

- ``"reference"``: :func:`lstmkit.nn.functional.lstm_scan`, the equations in plain PyTorch;
  serves every configuration. In an ONNX export its loop is
  :func:`lstmkit.kernels.onnx_loop.onnx_scan`, the same equations as one ONNX ``Loop``.
- ``"torch"``: torch's own fused LSTM op (oneDNN on CPU, cuDNN on GPU) for configurations that
  compute exactly what ``torch.nn.LSTM`` computes: no cell variant, no resets. Weight drop is
  served (it only changes the weights handed to the op); ``lengths`` are served by packing.
- ``"fused"``: the C++ CPU kernel (:mod:`lstmkit.kernels.cpu`), one layer-direction at a time;
  serves every configuration on CPU in float32/float64. It is compiled on first use, so it
  needs a C++ compiler and ninja.

``"auto"`` picks the fastest backend that serves the configuration: torch's op for plain
configurations without lengths; the fused kernel for everything else on CPU (with lengths it
skips padded steps as packing does, and is several times faster than torch's packed op on
CPU); the reference path where neither serves, with one warning when the reason is that the
kernel cannot be built (no compiler or ninja, or a build that failed). A backend
named explicitly that cannot serve raises a ``ValueError`` naming the condition that failed.

Nothing here imports the kernels at module import time: the reference path works everywhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lstmkit.nn.config import LSTMConfig, _caller_level, torch_backend_refusal
from lstmkit.nn.functional import ScanResult

ScanFn = Callable[..., ScanResult]
FUSED_DTYPES = (torch.float32, torch.float64)

_warned_no_fused = False


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


def fused_blockers(device: torch.device | None, dtype: torch.dtype | None) -> list[str]:
    """Conditions that keep the fused CPU kernel from running here (compiler included)."""
    blockers = []
    if torch.onnx.is_in_onnx_export():
        blockers.append("an ONNX export is running, and ONNX cannot express the fused kernel")
    if torch._C._are_functorch_transforms_active():
        blockers.append("a torch.func transform (grad, vjp, jacrev, vmap) is running, which "
                        "the fused kernel's C++ autograd does not support")
    if device is not None and device.type != "cpu":
        blockers.append(f"the input is on {device}, and the fused kernel is CPU-only")
    if dtype is not None and dtype not in FUSED_DTYPES:
        blockers.append(f"the input is {dtype}, and the fused kernel takes float32 or float64")
    if not blockers:
        reason = _fused_unavailable()
        if reason is not None:
            blockers.append(f"the fused kernel cannot be built ({reason})")
    return blockers


@torch.compiler.assume_constant_result
def _fused_unavailable() -> str | None:
    """Why the fused kernel cannot be built here, or None (building it on the first call).

    torch.compile and torch.export run this eagerly and keep its result as a constant: traced,
    its file system checks and build would end the graph."""
    from lstmkit.kernels.cpu.loader import unavailable_reason

    return unavailable_reason(build=True)


def fused_available() -> bool:
    """Whether the fused kernel is built here (building it on the first call; cheap after)."""
    return _fused_unavailable() is None


def choose_backend(
    config: LSTMConfig,
    *,
    has_reset: bool,
    has_lengths: bool = False,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    packed: bool = False,
) -> BackendChoice:
    """The backend for a call with this configuration on inputs of this device and dtype;
    ``packed``: the input is a PackedSequence (whose lengths are its batch sizes, on the CPU),
    else ``has_lengths`` are given as ``lengths=``."""
    requested = config.backend
    blockers = torch_blockers(config, has_reset)
    # torch's op packs a padded batch by the values of its lengths, which a meta tensor (shape
    # inference) has none of; the reference path runs on shapes alone
    meta_lengths = has_lengths and not packed and device is not None and device.type == "meta"
    if config.proj_size and requested != "fused" and torch.onnx.is_in_onnx_export():
        return BackendChoice("reference", "proj_size in an ONNX export: ONNX's LSTM operator "
                                          "has no projection")
    if requested == "reference":
        return BackendChoice("reference", "backend='reference' was requested")
    if requested == "torch":
        if blockers:  # reset= alone by now: the configuration was checked when it was made
            raise torch_backend_refusal(blockers)
        if has_lengths and torch._C._are_functorch_transforms_active():
            raise ValueError("backend='torch' runs lengths= on a packed batch, which a torch.func "
                             "transform (grad, vjp, jacrev, vmap) cannot run through; use "
                             "backend='auto' or 'reference'")
        if meta_lengths:
            raise ValueError("backend='torch' runs lengths= on a batch packed by their values, "
                             "which an input on the meta device has none of; use "
                             "backend='auto' or 'reference'")
        return BackendChoice("torch", "backend='torch' was requested")
    if requested == "fused":
        cannot = fused_blockers(device, dtype)
        if cannot:
            raise ValueError(
                f"backend='fused' cannot serve this call: {'; '.join(cannot)}; use "
                "backend='auto' or 'reference'"
            )
        return BackendChoice("fused", "backend='fused' was requested")
    if not blockers and not has_lengths:
        return BackendChoice("torch", "plain configuration: torch's own fused op computes it "
                                      "exactly and is the fastest path")
    cannot = fused_blockers(device, dtype)
    if not blockers:
        if torch._C._are_functorch_transforms_active():
            return BackendChoice("reference", "plain configuration with lengths under a "
                                              "torch.func transform, which neither the fused "
                                              "kernel nor torch's op on a packed batch supports")
        if meta_lengths:
            return BackendChoice("reference", "plain configuration with lengths on the meta "
                                              "device: torch's op packs the batch by the "
                                              "lengths' values, which meta tensors have none "
                                              "of, and the reference path runs on shapes alone")
        if cannot:
            return BackendChoice("torch", "plain configuration with lengths: torch's op on a "
                                          f"packed batch ({'; '.join(cannot)})")
        return BackendChoice("fused", "plain configuration with lengths: the fused kernel skips "
                                      "padded steps, faster than torch's op on a packed batch")
    if not cannot:
        return BackendChoice("fused", "torch's fused op computes only the plain LSTM (here: "
                                      f"{', '.join(blockers)}); the fused CPU kernel serves "
                                      "every variant")
    reason = (f"torch's fused op computes only the plain LSTM (here: {', '.join(blockers)}), "
              f"and {'; '.join(cannot)}, so the reference path runs")
    if any("cannot be built" in c for c in cannot):
        _warn_once(reason)
    return BackendChoice("reference", reason)


def _warn_once(reason: str) -> None:
    global _warned_no_fused
    if not _warned_no_fused:
        _warned_no_fused = True
        # (at the line that called the LSTM, through torch's Module call and lstmkit)
        warnings.warn(f"lstmkit backend='auto': {reason} (slower; this warning is shown once)",
                      RuntimeWarning, stacklevel=_caller_level(
                          ("lstmkit.nn", "lstmkit.kernels", "torch.nn.modules")))


def scan_function(choice: BackendChoice) -> ScanFn:
    """The per-layer-direction scan of a non-torch backend; imports the kernel only when chosen."""
    if choice.name == "fused":
        from lstmkit.kernels.cpu.scan import fused_scan

        return fused_scan
    if choice.name == "reference":
        if torch.onnx.is_in_onnx_export():
            from lstmkit.kernels.onnx_loop import onnx_scan

            return onnx_scan
        from lstmkit.nn.functional import lstm_scan

        return lstm_scan
    raise ValueError(f"backend {choice.name!r} runs the whole stack, not one scan per "
                     "layer-direction")
