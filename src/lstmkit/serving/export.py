"""ONNX export of a saved forecaster, classifier or tagger: ``lstmkit export`` or
:func:`export_onnx`.

The graph holds everything between the arrays a program has and the answer it wants, so that
onnxruntime (from Python, C++, C#, Java or JavaScript) runs it without PyTorch or lstmkit:

- forecaster: inputs in the data's own units, float64, ``past_targets`` (B, lookback, C), and
  where the model has them ``past_covariates`` (B, lookback, Cp), ``future_covariates``
  (B, lookback + horizon, Cf: the known-future covariates over the lookback and the horizon)
  and ``static`` (B, S); outputs ``forecast`` (B, horizon, C) in the targets' units (float64)
  and, for the quantile loss, ``quantiles`` (B, horizon, C, Q), sorted and widened by the
  conformal margins as :meth:`~lstmkit.forecasting.Forecaster.predict` does. Scaling is in
  the graph, in float64 as ``predict`` scales (a series far from zero keeps its precision);
  the network between runs in float32.
- classifier: ``tokens`` (B, T) int64 word indices padded with the pad index and ``lengths``
  (B,) int64 -> ``probabilities`` (B, K) and ``label`` (B,) int64.
- tagger: ``words`` (B, T) and ``lengths`` (B,), and where the model has them ``chars``
  (B, T, C) with ``char_lengths`` (B, T) and ``casing`` (B, T), all int64 -> ``tags``
  (B, T) int64 (the CRF's Viterbi path, or each token's best tag; -1 past each sentence's
  length) and ``emissions`` (B, T, K). The Viterbi loops are ONNX ``Loop`` nodes, so any
  number of tokens is taken.

Tokenising (text) and reading, filling and windowing a table (forecasts) stay with the caller;
what the caller needs for them (vocabulary, tokeniser, column names, horizon, ...) is written
into the ONNX file's metadata as JSON under the key ``"lstmkit"``.

A plain LSTM becomes ONNX's ``LSTM`` operator; a variant (layer norm, peepholes, a
projection, ...) becomes an ONNX ``Loop`` over the reference equations
(:mod:`lstmkit.kernels.onnx_loop`). Either takes any number of steps, so a classifier's or
tagger's graph takes any number of tokens.

Each export is checked: onnxruntime runs the file on example inputs and its answers are
compared with PyTorch's (the report gives the largest difference); the file appears at its
path only when the check passes.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import stat
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.saving import check_not_model_file, check_outside_model, path_arg

OPSET = 17
CHECK_TOLERANCE = 1e-4
"""The largest difference between onnxruntime's and PyTorch's answers an export accepts: for
a forecast in units of the target's training standard deviation, for probabilities and
emissions relative to their largest absolute value (at least 1)."""


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: the ONNX file.
        kind: ``"forecaster"``, ``"classifier"`` or ``"tagger"``.
        inputs, outputs: each name with its shape (symbolic sizes as str: ``"batch"``,
            ``"tokens"``).
        max_abs_diff: the largest difference between onnxruntime's outputs and PyTorch's on
            the check's examples (for a forecast, in units of the target's training standard
            deviation).
        metadata: the JSON written under the ONNX metadata key ``"lstmkit"``.
    """

    path: Path
    kind: str
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    max_abs_diff: float
    metadata: dict[str, Any] = field(repr=False)

    def summary(self) -> str:
        def shapes(named: dict[str, list[int | str]]) -> str:
            return ", ".join(f"{k} ({', '.join(map(str, v))})" for k, v in named.items())

        unit = " standard deviations" if self.kind == "forecaster" else ""
        return (f"wrote {self.path} ({self.kind}): inputs {shapes(self.inputs)}; outputs "
                f"{shapes(self.outputs)}; onnxruntime matches PyTorch within "
                f"{self.max_abs_diff:.2g}{unit}")


def export_onnx(model: Any, path: str | Path) -> ExportReport:
    """Write ``model`` (a saved model's folder, or a fitted
    :class:`~lstmkit.forecasting.Forecaster`, :class:`~lstmkit.classification.Classifier` or
    :class:`~lstmkit.tagging.Tagger`) as an ONNX file at ``path``, check it with onnxruntime,
    and say what it takes and gives.

    Raises:
        ImportError: ``onnx`` or ``onnxruntime`` is not installed (``pip install
            'lstmkit[export]'``).
        ValueError: ``path`` a folder (or a str that names one: ``'out/'``), inside a saved
            forecaster's folder or one of a saved classifier's or tagger's own files, or a
            graph whose answers differ from PyTorch's (nothing is written then).
    """
    onnx, ort = _export_libraries()
    if isinstance(path, str) and not path.strip():  # (Path("") is ".", the folder)
        raise ValueError(f"path (--out) must name the ONNX file to write (model.onnx), got "
                         f"{path!r}")
    from lstmkit.text.io import check_file_name

    check_file_name(path, "path (--out)", "model.onnx")
    path = path_arg("path (--out)", path)
    target = _resolved(path)
    if target.exists() and not target.is_file():  # (the move onto it would replace it)
        raise ValueError(f"path (--out) must be a file to write (model.onnx), got "
                         f"{str(path)!r}, {_file_kind(target)}")
    if isinstance(model, str | Path):
        from lstmkit.serving.http import load_saved

        folder = model
        kind, model = load_saved(folder)  # (a folder that is no model is said first)
        if kind == "forecaster":  # (whose save replaces its whole folder)
            check_outside_model(path, folder, "path (--out)", "the ONNX file")
        else:  # a text model's own files alone (clf/model.onnx is the user's, as
            # classify predict's clf/predictions.tsv is)
            check_not_model_file(path, folder, _saved_files(kind), "path (--out)",
                                 "the ONNX file")
    else:
        kind = _kind_of(model)
    if kind == "forecaster":
        graph, examples, metadata = _forecaster_graph(model)
    elif kind == "classifier":
        graph, examples, metadata = _classifier_graph(model)
    else:
        graph, examples, metadata = _tagger_graph(model)
    # written and checked beside the file the path names (a link's target), then moved onto
    # it: a refused or failed export leaves no file and no folder, and the file there before
    # stays
    made: list[Path] = []  # the folders this call creates, outermost first
    tmp: Path | None = None  # the temporary file, once this call has created it
    name: Path | None = None
    try:
        try:
            for folder in reversed([target.parent, *target.parent.parents]):
                if not folder.is_dir():
                    try:
                        folder.mkdir()
                        made.append(folder)
                    except FileExistsError:  # made by someone else meanwhile, or a file
                        if not folder.is_dir():
                            raise
            # a new name (never another export's), created with the mode a new file gets
            name = target.parent / f".lstmkit-{uuid.uuid4().hex[:12]}.onnx.tmp"
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            tmp = name
            # the backend is how a call runs, not what it computes: an export takes auto's
            # paths (ONNX's LSTM operator, or the reference equations as a Loop)
            with _on_auto_backends(graph):
                diff = _write(graph, examples, metadata, tmp, onnx, ort, kind)
            if target.exists():  # the file replaced keeps its mode
                shutil.copymode(target, tmp)
            os.replace(tmp, target)
        except OSError as err:  # (a full disk, a folder that cannot be written, ...)
            raise _write_error(err, path, name) from err
    except BaseException:  # (the cleanup never hides what went wrong)
        if tmp is not None:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
        for folder in reversed(made):  # innermost first, and only if still empty
            with suppress(OSError):
                folder.rmdir()
        raise
    return ExportReport(path=path, kind=kind, inputs=metadata["inputs"],
                        outputs=metadata["outputs"], max_abs_diff=diff, metadata=metadata)


def _file_kind(path: Path) -> str:
    """What ``path``, which exists and is no regular file, is (links followed)."""
    mode = path.stat().st_mode
    for test, kind in [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")]:
        if test(mode):
            return kind
    return "not a regular file"


def _resolved(path: Path) -> Path:
    """``path`` with links followed, or an OSError naming it (``--out``)."""
    try:
        target = path.resolve()
        target.is_dir()  # (a name too long fails here, not where the file is written)
    except RuntimeError as err:  # a loop of links, on Python 3.11
        raise OSError(errno.ELOOP, f"cannot write the ONNX file {str(path)!r} (--out): "
                                   f"{err}") from None
    except OSError as err:
        raise _write_error(err, path) from None
    return target


def _write_error(err: OSError, path: Path, tmp: Path | None = None) -> OSError:
    """``err`` (its class and errno) naming the path given, not the temporary file."""
    where = "" if err.filename in (None, str(tmp)) else f": {err.filename!r}"
    return type(err)(err.errno, f"cannot write the ONNX file {str(path)!r} (--out): "
                                f"{err.strerror}{where}")


def _write(graph: nn.Module, examples: dict[str, Tensor], metadata: dict[str, Any],
           path: Path, onnx: Any, ort: Any, kind: str) -> float:
    """Export ``graph`` to ``path`` with ``metadata``, check it, and return the difference."""
    names = list(examples)
    output_names = list(metadata["outputs"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # (the check below runs the graph at another batch size)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        # (the exporter's own optimisation leaves a slice unfolded: the graph is the same)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(graph, tuple(examples.values()), str(path), dynamo=False,
                          opset_version=OPSET, input_names=names, output_names=output_names,
                          dynamic_axes=_dynamic_axes(metadata))
    proto = onnx.load(str(path))
    _declare_shapes(proto, metadata)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "lstmkit", json.dumps(metadata)
    onnx.save(proto, str(path))
    return _check(graph, path, ort, kind, metadata)


def _declare_shapes(proto: Any, metadata: dict[str, Any]) -> None:
    """Declare the inputs' and outputs' shapes in ``proto``'s graph as the metadata gives
    them: a size in numbers, an open one by its name (``"batch"``). The exporter's shape
    inference leaves some fixed sizes open under generated names (a forecaster's horizon,
    targets and quantiles after the sort of its quantiles), and tools that read the graph's
    own signature take them from there."""
    named = {**metadata["inputs"], **metadata["outputs"]}
    for value in [*proto.graph.input, *proto.graph.output]:
        if value.name not in named:
            continue
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in named[value.name]:
            dim = dims.add()
            if isinstance(size, str):
                dim.dim_param = size
            else:
                dim.dim_value = size


def _dynamic_axes(metadata: dict[str, Any]) -> dict[str, dict[int, str]]:
    """The sizes the graph leaves open: those named by a str in the shapes of its inputs and
    outputs (``"batch"``, ``"tokens"``, ``"characters"``)."""
    named = {**metadata["inputs"], **metadata["outputs"]}
    return {name: {axis: size for axis, size in enumerate(shape) if isinstance(size, str)}
            for name, shape in named.items()}


@contextmanager
def _on_auto_backends(graph: nn.Module) -> Iterator[None]:
    """``graph``'s LSTMs on backend ``"auto"`` inside the block; their own backend and
    :attr:`~lstmkit.nn.LSTM.last_backend` after it (in place: a copy of a pruned weight,
    which is computed, cannot be made)."""
    from lstmkit.nn import LSTM

    saved = [(m, m.config, m.last_backend) for m in graph.modules() if isinstance(m, LSTM)]
    try:
        for module, config, _ in saved:
            if config.backend != "auto":
                module.config = dataclasses.replace(config, backend="auto")
        yield
    finally:
        for module, config, last in saved:
            module.config, module.last_backend = config, last


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON :func:`export_onnx` wrote into the ONNX file at ``path`` (key ``"lstmkit"``)."""
    onnx, _ = _export_libraries()
    path = path_arg("path", path)
    if path.is_file() and path.stat().st_size == 0:  # (it reads as an empty model)
        raise ValueError(f"{str(path)!r} is not an ONNX file: it is empty")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except OSError:
        raise
    except Exception as err:  # protobuf's DecodeError, or ParseError for a .json name
        text = " ".join(str(err).split())
        raise ValueError(f"{str(path)!r} is not an ONNX file (onnx cannot read it: "
                         f"{type(err).__name__}: {text})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if "lstmkit" not in props:
        raise ValueError(f"{str(path)!r} holds no lstmkit metadata: not written by "
                         "lstmkit's export")
    return json.loads(props["lstmkit"])


# -- loading -------------------------------------------------------------------------------


def _export_libraries() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"ONNX export needs onnx and onnxruntime ({err.name} is missing): "
                          "pip install 'lstmkit[export]'") from None
    return onnx, onnxruntime


def _saved_files(kind: str) -> tuple[str, ...]:
    """The own files of a saved text model of ``kind`` (``classifier``, ``tagger``)."""
    if kind == "classifier":
        from lstmkit.classification.classifier import SAVED_FILES
    else:
        from lstmkit.tagging.tagger import SAVED_FILES
    return SAVED_FILES


def _kind_of(model: Any) -> str:
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster
    from lstmkit.tagging import Tagger

    for cls, kind in ((Forecaster, "forecaster"), (Classifier, "classifier"),
                      (Tagger, "tagger")):
        if isinstance(model, cls):
            return kind
    raise TypeError(f"model must be a saved model's folder, a Forecaster, a Classifier or a "
                    f"Tagger, got {type(model).__name__}")


def _header(kind: str) -> dict[str, Any]:
    from lstmkit import __version__

    return {"kind": kind, "lstmkit_version": __version__, "opset": OPSET}


# -- forecaster ----------------------------------------------------------------------------

INPUT_ROLES = {"past_targets": "target", "past_covariates": "past",
               "future_covariates": "future", "static": "static"}
"""Each input of a forecaster's graph and the scaler (of :class:`Scalers`) it is scaled by."""



class ForecastGraph(nn.Module):
    """A fitted forecaster from unscaled arrays to unscaled forecasts (see the module doc).

    ``forward(*inputs)`` takes the inputs named in :attr:`input_names`, in that order.
    """

    def __init__(self, forecaster: Any) -> None:
        super().__init__()
        self.net = forecaster._net()
        cfg = forecaster.config
        self.lookback, self.horizon = cfg.model.lookback, cfg.model.horizon
        self.quantiles = list(cfg.model.quantiles) if cfg.model.loss == "quantile" else None
        self.median_index = cfg.model.median_index if self.quantiles else 0
        scalers = forecaster.scalers
        for role in ("target", "past", "future", "static"):  # float64, as predict scales
            scaler = getattr(scalers, role)
            self.register_buffer(f"{role}_mean", torch.as_tensor(scaler.mean, dtype=torch.float64))
            self.register_buffer(f"{role}_std", torch.as_tensor(scaler.std, dtype=torch.float64))
        dc = cfg.data
        self.n_past, self.n_future = len(dc.past_covariates), len(dc.future_covariates)
        self.n_static = len(dc.static_covariates)
        self.input_names = ["past_targets"] + [
            name for name, n in (("past_covariates", self.n_past),
                                 ("future_covariates", self.n_future),
                                 ("static", self.n_static)) if n]
        margins = forecaster.margins
        self.register_buffer("margins", None if margins is None
                             else torch.as_tensor(margins, dtype=torch.float64))  # (P, Hz, C)
        scale = forecaster.margin_scale  # (the margins in units of each window's scale)
        self.register_buffer("margin_scale", None if scale is None
                             else torch.as_tensor(scale, dtype=torch.float64))  # (C,)
        from lstmkit.forecasting.data import bounds_arrays

        bounds = bounds_arrays(dc)  # (data.target_bounds: the outputs clipped, as predict)
        for name, values in zip(("low", "high"), bounds or (None, None), strict=True):
            self.register_buffer(name, None if values is None
                                 else torch.as_tensor(values, dtype=torch.float64))  # (C,)

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        given = dict(zip(self.input_names, inputs, strict=True))
        y = given["past_targets"]  # (B, L, C), float64 as every input
        B, L = y.shape[0], self.lookback

        def scaled(name: str, shape: tuple[int, ...]) -> Tensor:
            if name not in given:
                return y.new_zeros(shape, dtype=torch.float32)
            role = INPUT_ROLES[name]
            mean, std = getattr(self, f"{role}_mean"), getattr(self, f"{role}_std")
            return ((given[name] - mean) / std).float()

        y_past = scaled("past_targets", ())
        past = scaled("past_covariates", (B, L, 0))  # (B, L, Cp)
        future = scaled("future_covariates", (B, L + self.horizon, 0))  # (B, L+Hz, Cf)
        static = scaled("static", (B, 0))  # (B, S)
        x_past = torch.cat([past, future[:, :L]], dim=-1)  # (B, L, Cp + Cf)
        out = self.net(y_past, x_past, future[:, L:], static).double()  # (B, Hz, C[, Q])
        # onnxruntime's LSTM operator turns a NaN input into numbers: a value missing from
        # any input makes its window's outputs NaN, as the network in PyTorch gives them
        # (0 times each value before the sum, which a sum of large values cannot overflow)
        missing = sum((x.reshape(B, -1) * 0).sum(dim=1) for x in given.values())  # (B,)
        if self.quantiles is None:
            return (self._clip(out * self.target_std + self.target_mean, per=())
                    + missing[:, None, None],)
        out = out * self.target_std[:, None] + self.target_mean[:, None]  # (B, Hz, C, Q)
        out = torch.sort(out, dim=-1).values  # as predict: crossing quantiles rearranged
        if self.margins is not None:
            out = self._widen(out, y)
        out = self._clip(out, per=(None,)) + missing[:, None, None, None]
        return out[..., self.median_index], out

    def _clip(self, out: Tensor, per: tuple[None, ...]) -> Tensor:
        """``out`` clipped into the targets' bounds (``low``, ``high``: (C,), indexed with
        ``per`` to meet ``out``'s last axes)."""
        if self.low is None:
            return out
        return torch.minimum(torch.maximum(out, self.low[(..., *per)]),
                             self.high[(..., *per)])

    def _widen(self, out: Tensor, y: Tensor) -> Tensor:
        """:func:`lstmkit.forecasting.conformal.widen` on (B, Hz, C, Q), level by level, with
        the margins times each window's scale (``window_scale`` of the past targets ``y``)."""
        from lstmkit.forecasting.conformal import _pairs

        margins = self.margins  # (P, Hz, C)
        if self.margin_scale is not None:
            change = (y[:, 1:] - y[:, :-1]).abs().mean(dim=1)  # (B, C); NaN for one step
            scale = torch.where(change > 0, change, self.margin_scale)
            margins = margins[:, None] * scale[None, :, None, :]  # (P, B, Hz, C)
        levels = [out[..., k] for k in range(out.shape[-1])]
        for p, (lo, hi) in enumerate(_pairs(self.quantiles)):
            levels[lo] = levels[lo] - margins[p]
            levels[hi] = levels[hi] + margins[p]
        mid = len(levels) // 2
        for k in range(mid - 1, -1, -1):
            levels[k] = torch.minimum(levels[k], levels[k + 1])
        for k in range(mid + 1, len(levels)):
            levels[k] = torch.maximum(levels[k], levels[k - 1])
        return torch.stack(levels, dim=-1)


def _forecaster_graph(forecaster: Any) -> tuple[nn.Module, dict[str, Tensor], dict[str, Any]]:
    from lstmkit.forecasting.data import plain_bounds

    graph = ForecastGraph(forecaster).eval()
    cfg = forecaster.config
    dc, m = cfg.data, cfg.model
    L, Hz, C = m.lookback, m.horizon, len(dc.target)
    shapes: dict[str, list[int | str]] = {"past_targets": ["batch", L, C]}
    if graph.n_past:
        shapes["past_covariates"] = ["batch", L, graph.n_past]
    if graph.n_future:
        shapes["future_covariates"] = ["batch", L + Hz, graph.n_future]
    if graph.n_static:
        shapes["static"] = ["batch", graph.n_static]
    examples = {name: torch.from_numpy(value) for name, value
                in _typical_inputs(graph, shapes, batch=2, seed=0).items()}
    outputs: dict[str, list[int | str]] = {"forecast": ["batch", Hz, C]}
    if m.loss == "quantile":
        outputs["quantiles"] = ["batch", Hz, C, len(m.quantiles)]
    metadata = {
        **_header("forecaster"), "inputs": shapes, "outputs": outputs,
        "lookback": L, "horizon": Hz, "freq": forecaster.freq, "fill": dc.fill,
        "time_col": dc.time_col, "series_col": dc.series_col,
        "columns": {"past_targets": list(dc.target),
                    "past_covariates": list(dc.past_covariates),
                    "future_covariates": list(dc.future_covariates),
                    "static": list(dc.static_covariates)},
        "quantiles": list(m.quantiles) if m.loss == "quantile" else None,
        # (data.target_bounds, which the outputs are clipped into; null: unbounded)
        "target_bounds": plain_bounds(dc),
        "note": ("inputs float64 in the data's units, rows in time order, one a step of "
                 "freq, missing rows and values filled as fill says (data.fill); "
                 "future_covariates span the lookback and the horizon; outputs in the "
                 "targets' units"),
    }
    return graph, examples, metadata


def _typical_inputs(graph: ForecastGraph, shapes: dict[str, list[int | str]], batch: int,
                    seed: int) -> dict[str, np.ndarray]:
    """Inputs of the graph's ``shapes`` with ``batch`` windows, float64 of the training data's
    mean and spread: the traced examples, and the check's."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, shape in shapes.items():
        role = INPUT_ROLES[name]
        std = getattr(graph, f"{role}_std").numpy()
        mean = getattr(graph, f"{role}_mean").numpy()
        inputs[name] = rng.standard_normal([batch, *[int(s) for s in shape[1:]]]) * std + mean
    return inputs


# -- classifier ----------------------------------------------------------------------------


class ClassifierGraph(nn.Module):
    """A classifier network from padded word indices to class probabilities and label."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        probabilities = torch.softmax(self.network(tokens, lengths), dim=-1)  # (B, K)
        return probabilities, probabilities.argmax(dim=-1)


def _tokenizer(name: str, lowercase: bool) -> dict[str, Any]:
    """How :class:`lstmkit.text.tokenize.Tokenizer` splits a text, for a program in another
    language to do the same."""
    from lstmkit.text.tokenize import TOKEN_PATTERN

    if name == "whitespace":
        return {"name": name, "lowercase": lowercase, "pattern": r"\S+",
                "rule": ("every run of characters that are not whitespace by Python's "
                         "str.isspace (Unicode White_Space, and U+001C..U+001F) is a token")}
    return {"name": name, "lowercase": lowercase, "pattern": TOKEN_PATTERN,
            "rule": ("every match of pattern, left to right, is a token: Oniguruma regular "
                     "expressions (the Rust tokenizers library's Regex; \\w and \\d are "
                     "Unicode, the leading (?i) applies to the whole pattern); the text "
                     "between matches, and a match that is all whitespace by Python's "
                     "str.isspace (Unicode White_Space, and U+001C..U+001F), is dropped. A "
                     "token that is exactly one "
                     "of n’t ’s ’re ’ve ’ll ’d ’m (any case, with U+2019) is written with "
                     "' in its place. Lower-cased (Unicode) after that when lowercase is "
                     "true")}


CASING_RULES = [
    ["url", "starts with http://, https:// or www. (any case)"],
    ["mention", "more than one character, the first @"],
    ["hashtag", "more than one character, the first #"],
    ["numeric", "Python's str.isdigit: every character of Unicode Numeric_Type Digit or "
                "Decimal (so also ² and ①)"],
    ["has_digit", "some character of Numeric_Type Digit or Decimal"],
    ["punct", "no character that is Python's str.isalnum (a letter, or any Numeric_Type, "
              "so also ½)"],
    ["lower", "Python's str.islower: some cased character (Unicode derived property Cased) "
              "and every cased character Lowercase (derived property: Ll and "
              "Other_Lowercase)"],
    ["upper", "Python's str.isupper: some cased character and every cased character "
              "Uppercase (derived property: Lu and Other_Uppercase)"],
    ["initial", "the first character str.isupper (so also Ⓐ or Ⅻ), the rest str.islower"],
    ["mixed", "some character that is Python's str.isalpha (a letter)"],
    ["other", "anything else"],
]
"""The casing classes of :func:`lstmkit.tagging.data.casing` with their rules, in the order
they are tried (the first that holds is the class)."""


def _classifier_graph(classifier: Any) -> tuple[nn.Module, dict[str, Tensor], dict[str, Any]]:
    words, labels, network, _ = classifier._ready()
    graph = ClassifierGraph(network).eval()
    T = 8
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, len(words), (3, T), generator=generator)
    lengths = torch.tensor([T, max(1, T // 2), 1])
    tokens[torch.arange(T)[None] >= lengths[:, None]] = words.pad_index
    config = classifier.config
    metadata = {
        **_header("classifier"),
        "inputs": {"tokens": ["batch", "tokens"], "lengths": ["batch"]},
        "outputs": {"probabilities": ["batch", len(labels)], "label": ["batch"]},
        "labels": list(labels.itos),
        "tokenizer": _tokenizer(config.tokenizer, config.lowercase),
        "max_length": config.max_length,
        "vocabulary": list(words.itos), "pad_index": words.pad_index,
        "unk_index": words.unk_index,
        "note": ("tokens: each text's tokens (tokenizer), the first max_length of them when "
                 "it is set, as vocabulary indices (unknown ones unk_index), padded with "
                 "pad_index to the longest text; a text without "
                 "tokens is the one token unk_index; lengths: tokens per text, at least 1 "
                 "(a length of 0 gives NaN probabilities)"),
    }
    return graph, {"tokens": tokens, "lengths": lengths}, metadata


# -- tagger ---------------------------------------------------------------------------------


def viterbi_decode(emissions: Tensor, lengths: Tensor, transitions: Tensor, start: Tensor,
                   end: Tensor) -> Tensor:
    """:meth:`lstmkit.tagging.crf.CRF.decode` as tensors, for a graph: the best tag path of
    each sentence, ``PAD_TAG`` (-1) past its length (never a tag index). Compiled with
    ``torch.jit.script``, its two loops over the tokens become ONNX ``Loop`` nodes, so the
    graph takes any number of tokens. The same arithmetic in the same order as ``decode``, so
    ties go the same way (to the first tag).

    Shape:
        emissions (B, T, K), lengths (B,) int64 in [1, T], transitions (K_from, K_to), start
        (K,), end (K,) -> tags (B, T) int64
    """
    return _scripted_viterbi()(emissions, lengths, transitions, start, end)


PAD_TAG = -1


def _viterbi(emissions: Tensor, lengths: Tensor, transitions: Tensor, start: Tensor,
             end: Tensor) -> Tensor:
    T = emissions.size(1)
    delta = start + emissions[:, 0]  # (B, K)
    # history[t][b, k]: the best previous tag of tag k at token t (entry 0 a placeholder, so
    # that history[t] is token t's and the list is never empty)
    history = [torch.zeros_like(delta, dtype=torch.long)]
    for t in range(1, T):
        best, arg = (delta.unsqueeze(2) + transitions).max(dim=1)  # (B, K) over K_from
        delta = torch.where((lengths > t).unsqueeze(1), best + emissions[:, t], delta)
        history.append(arg)
    pointers = torch.stack(history)  # (T, B, K)
    tag = (delta + end).argmax(dim=1)  # (B,) the best last tag
    pad = torch.full_like(tag, -1)
    backwards = []  # token T-1 first
    for i in range(T - 1):
        t = T - 1 - i
        real = lengths > t  # (B,)
        backwards.append(torch.where(real, tag, pad))
        previous = pointers[t].gather(1, tag.unsqueeze(1)).squeeze(1)  # (B,)
        tag = torch.where(real, previous, tag)  # the best last tag until inside the sentence
    backwards.append(tag)  # token 0: every sentence has one
    return torch.stack(backwards, dim=1).flip([1])  # (B, T)


_SCRIPTED: list[Any] = []


def _scripted_viterbi() -> Any:
    if not _SCRIPTED:
        _SCRIPTED.append(torch.jit.script(_viterbi))
    return _SCRIPTED[0]


class TaggerGraph(nn.Module):
    """A tagger network from word, character and casing indices to tag indices (Viterbi over
    the CRF's scores, or each token's best tag for the softmax decoder), -1 on padding."""

    def __init__(self, network: nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.network = network
        self.input_names = input_names

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        given = dict(zip(self.input_names, inputs, strict=True))
        emissions = self.network(**given)  # (B, T, K)
        lengths = given["lengths"]
        T = emissions.shape[1]
        real = torch.arange(T, device=lengths.device)[None] < lengths[:, None]  # (B, T)
        pad = torch.full_like(lengths[:, None], PAD_TAG)  # (B, 1)
        crf = self.network.crf
        if crf is not None:
            transitions, start, end = crf.scores()
            best = viterbi_decode(emissions, lengths, transitions, start, end)  # (B, T)
        else:
            best = emissions.argmax(dim=-1)  # (B, T)
        # (the mask also empties a row of length 0, a text without tokens, which Viterbi
        # would give its first tag)
        return torch.where(real, best, pad), emissions


def _tagger_graph(tagger: Any) -> tuple[nn.Module, dict[str, Tensor], dict[str, Any]]:
    from lstmkit.tagging.data import CASINGS, collate

    words, tags, network, encoder = tagger._ready()
    first = network.members[0] if hasattr(network, "members") else network
    names = ["words", "lengths"]
    if first.chars is not None:
        names += ["chars", "char_lengths"]
    if first.casing is not None:
        names.append("casing")
    graph = TaggerGraph(network, names).eval()
    T = 6
    sample = ["Alice", "visited", "Oslo", "in", "2021", "!", "@bob", "#NYC", "x1", "WHO"]
    sentences = [[sample[(i + k) % len(sample)] for i in range(n)]
                 for k, n in enumerate([T, max(1, T // 2), 1])]
    batch, _ = collate([encoder.encode(s) for s in sentences], words.pad_index)
    examples = {name: batch[name] for name in names}
    token_axis = "tokens"
    shapes: dict[str, list[int | str]] = {"words": ["batch", token_axis], "lengths": ["batch"]}
    if "chars" in names:
        shapes["chars"] = ["batch", token_axis, "characters"]
        shapes["char_lengths"] = ["batch", token_axis]
    if "casing" in names:
        shapes["casing"] = ["batch", token_axis]
    config = tagger.config
    metadata = {
        **_header("tagger"), "inputs": shapes,
        "outputs": {"tags": ["batch", token_axis],
                    "emissions": ["batch", token_axis, len(tags)]},
        "tags": list(tags.itos), "tag_scheme": config.tag_scheme,
        "decoder": config.decoder,
        "tokenizer": _tokenizer(config.tokenizer, False),  # for raw text (Tagger.predict)
        "lowercase": config.lowercase,
        "vocabulary": list(words.itos), "pad_index": words.pad_index,
        "unk_index": words.unk_index,
        "characters": list(tagger.chars.itos) if "chars" in names else None,
        "char_unk_index": tagger.chars.unk_index if "chars" in names else None,
        "max_word_chars": encoder.max_word_chars,
        "casings": list(CASINGS) if "casing" in names else None,
        "casing_rules": CASING_RULES if "casing" in names else None,
        "note": ("words: each token (as written: the tokenizer keeps its case) looked up "
                 "in vocabulary, lower-cased first when lowercase is true and, when it is "
                 "longer than one character and starts with '#', without the '#'; unknown "
                 "ones unk_index; padded with pad_index; chars: the token's first "
                 "max_word_chars characters (Unicode code points, case kept) as indices in "
                 "characters, unknown ones char_unk_index, padded with 0 (at least one "
                 "column), char_lengths their number (0 on padding); casing: the index in "
                 "casings of the first class in casing_rules whose rule holds for the token; "
                 "a text without tokens is left out (it has no tags); tags: indices "
                 "in tags (in tag_scheme), -1 past each sentence's length"),
    }
    return graph, examples, metadata


# -- the check -----------------------------------------------------------------------------


def _check_inputs(graph: nn.Module, kind: str, metadata: dict[str, Any]
                  ) -> dict[str, np.ndarray]:
    """Examples other than the traced ones: another batch size and, where it may differ,
    another number of tokens and characters."""
    if kind == "forecaster":
        return _typical_inputs(graph, metadata["inputs"], batch=5, seed=1)
    rng = np.random.default_rng(1)
    T = 11
    lengths = np.array([T, 1, max(1, T - 3), max(1, T // 3), min(2, T)], dtype=np.int64)
    padding = np.arange(T)[None] >= lengths[:, None]  # (B, T)
    words = rng.integers(0, len(metadata["vocabulary"]), (len(lengths), T))
    words[padding] = metadata["pad_index"]
    name = "tokens" if kind == "classifier" else "words"
    inputs = {name: words.astype(np.int64), "lengths": lengths}
    if "chars" in metadata["inputs"]:
        C = metadata["max_word_chars"]  # longer words than the traced ones
        char_lengths = rng.integers(1, C + 1, (len(lengths), T))
        char_lengths[padding] = 0
        chars = rng.integers(1, len(metadata["characters"]), (len(lengths), T, C))
        chars[np.arange(C)[None, None] >= char_lengths[..., None]] = 0
        inputs["chars"], inputs["char_lengths"] = chars, char_lengths
    if "casing" in metadata["inputs"]:
        casing = rng.integers(0, len(metadata["casings"]), (len(lengths), T))
        casing[padding] = 0
        inputs["casing"] = casing
    return {k: v.astype(np.int64) for k, v in inputs.items()}


def _check(graph: nn.Module, path: Path, ort: Any, kind: str, metadata: dict[str, Any]
           ) -> float:
    """The largest difference between onnxruntime's and PyTorch's scores on examples; a
    ValueError when it is over the tolerance or a decision (label, tags) is not the one the
    scores onnxruntime computed give."""
    inputs = _check_inputs(graph, kind, metadata)
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = dict(zip(metadata["outputs"], session.run(None, inputs), strict=True))
    except Exception as err:  # onnxruntime's own errors (its Fail, InvalidArgument, ...)
        raise ValueError(f"onnxruntime cannot run the exported graph on the check's examples "
                         f"({type(err).__name__}: {' '.join(str(err).split())}): the export "
                         "is wrong; please report it") from None
    with torch.no_grad():
        expected = graph(*(torch.from_numpy(v) for v in inputs.values()))
    expected = dict(zip(metadata["outputs"], (e.numpy() for e in expected), strict=True))
    worst = 0.0
    for name, want in expected.items():
        have = got[name]
        if have.shape != want.shape:
            raise ValueError(f"the exported graph's {name} has shape {have.shape} where "
                             f"PyTorch's has {want.shape}: the export is wrong; please report it")
        if have.dtype.kind in "iu":
            continue  # decisions: checked against the graph's own scores below
        if kind == "forecaster":  # in the target's standard deviations (axis 2: the channel)
            std = graph.target_std.numpy().reshape(-1, *[1] * (have.ndim - 3))
            diff = float((np.abs(have - want) / std).max()) if have.size else 0.0
            tolerance, unit = CHECK_TOLERANCE, " standard deviations of the target"
        else:
            diff = float(np.abs(have - want).max()) if have.size else 0.0
            tolerance = CHECK_TOLERANCE * max(1.0, float(np.abs(want).max()) if want.size
                                              else 1.0)
            unit = ""
        if not diff <= tolerance:
            raise ValueError(f"the exported graph's {name} differs from PyTorch's by {diff:.3g}"
                             f"{unit} on the check's examples (tolerance {tolerance:.3g}): the "
                             "export is wrong; please report it")
        worst = max(worst, diff)
    # a decision between scores closer than float32's rounding may go either way, so it is
    # checked against the decision PyTorch makes from onnxruntime's own scores
    if kind == "classifier":
        decided = got["probabilities"].argmax(axis=-1)
        what = "label"
    elif kind == "tagger":
        decided = _reference_tags(graph, got["emissions"], inputs["lengths"])
        what = "tags"
    else:
        return worst
    if not np.array_equal(got[what], decided):
        raise ValueError(f"the exported graph's {what} are not those its scores give on the "
                         "check's examples: the export is wrong; please report it")
    return worst


def _reference_tags(graph: nn.Module, emissions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The tags ``Tagger`` decodes from ``emissions`` (B, T, K), -1 past each length."""
    paths = graph.network.decode(torch.from_numpy(emissions), torch.from_numpy(lengths))
    tags = np.full(emissions.shape[:2], PAD_TAG, dtype=np.int64)
    for b, path in enumerate(paths):
        tags[b, : len(path)] = path
    return tags
