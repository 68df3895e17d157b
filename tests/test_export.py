"""``lstmkit export``: saved models as ONNX graphs that onnxruntime runs as PyTorch does."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export needs the export extra (onnx, onnxruntime)")
ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra")

from lstmkit.serving import export_onnx, read_metadata  # noqa: E402
from lstmkit.training import TrainConfig  # noqa: E402

TRAIN = TrainConfig(max_epochs=2, progress_bar=False, accelerator="cpu", devices=1)


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _run(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, inputs)


# -- forecaster ----------------------------------------------------------------------------


def _frame(n: int = 200, seed: int = 0, series: str | None = None,
           level: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame = pd.DataFrame({
        "date": pd.date_range("2021-01-01", periods=n, freq="h"),
        "a": level + 10 + np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(n),
        "b": 0.5 * np.cos(2 * np.pi * t / 12) - 3.0 + 0.05 * rng.standard_normal(n),
        "temp": 20 + 5 * rng.standard_normal(n),
        "hour": (t % 12).astype(float),
    })
    return frame if series is None else frame.assign(store=series, size=float(seed + 2))


def _forecaster(data: dict[str, Any], model: dict[str, Any], level: float = 0.0) -> Any:
    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig

    params = {"lookback": 24, "horizon": 12, "segment_len": 6, "hidden_size": 8, **model}
    config = ForecastConfig(
        data=DataConfig(**{"target": ("a", "b"), "time_col": "date", "val": 0.2,
                           "test": 0.2, **data}),
        model=ModelConfig(**params), training=TRAIN, batch_size=32, min_epoch_batches=0)
    frame = pd.concat([_frame(seed=0, series="s1"), _frame(seed=1, series="s2")],
                      ignore_index=True) if "series_col" in data else _frame(level=level)
    return Forecaster(config).fit(frame), frame


FORECASTERS = {
    "plain, no highway": ({}, {"highway": False}),
    "quantiles, covariates of three kinds (past ones normalised), two series, direct": (
        {"series_col": "store", "past_covariates": ("temp",), "future_covariates": ("hour",),
         "static_covariates": ("size",)},
        {"loss": "quantile", "decoder": "direct", "past_covariate_normalization": "last"}),
    "autoregressive, layer norm, channel-independent, highway, mean reversion": (
        {"future_covariates": ("hour",)},
        {"decoder": "autoregressive", "lstm": {"layer_norm": True}, "highway": True,
         "channel_independent": True, "mean_reversion": True}),
    "future context, ensemble, conformal quantiles, bounds": (
        {"future_covariates": ("hour",),  # (the outer levels pass the data's extremes)
         "target_bounds": {"a": [None, float(_frame()["a"].max())],
                           "b": [float(_frame()["b"].min()), None]}},
        {"future_context": 2, "ensemble": 2, "loss": "quantile", "conformal": True,
         "quantiles": (0.1, 0.25, 0.5, 0.75, 0.9)}),
}


@pytest.mark.parametrize("name", list(FORECASTERS))
def test_an_exported_forecaster_forecasts_what_predict_does(name: str, tmp_path: Path) -> None:
    data, model = FORECASTERS[name]
    forecaster, frame = _forecaster(data, model)
    report = export_onnx(forecaster, tmp_path / "f.onnx")
    assert report.max_abs_diff < 1e-4
    meta = read_metadata(tmp_path / "f.onnx")
    assert meta == report.metadata and meta["kind"] == "forecaster"
    # the graph's own signature gives the metadata's shapes (the horizon, targets and
    # quantiles after the quantiles' sort were open, under generated names)
    session = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    assert {o.name: o.shape for o in session.get_outputs()} == meta["outputs"]
    assert {i.name: i.shape for i in session.get_inputs()} == meta["inputs"]
    L, Hz = 24, 12
    sids = ["s1", "s2"] if "series_col" in data else [None]
    inputs: dict[str, list[np.ndarray]] = {name: [] for name in meta["inputs"]}
    futures, histories = [], []
    for sid in sids:  # each series' history up to row 150, forecast from there
        rows = frame if sid is None else frame[frame["store"] == sid]
        history, future = rows.iloc[:150], rows.iloc[150:150 + Hz]
        histories.append(history)
        futures.append(future[["date", "hour"] + (["store"] if sid else [])])
        inputs["past_targets"].append(history[["a", "b"]].to_numpy()[-L:])
        if "past_covariates" in inputs:
            inputs["past_covariates"].append(history[["temp"]].to_numpy()[-L:])
        if "future_covariates" in inputs:
            inputs["future_covariates"].append(rows[["hour"]].to_numpy()[150 - L:150 + Hz])
        if "static" in inputs:
            inputs["static"].append(history[["size"]].to_numpy()[0])
    arrays = {k: np.stack(v).astype(np.float64) for k, v in inputs.items()}
    outputs = dict(zip(meta["outputs"], _run(tmp_path / "f.onnx", arrays), strict=True))
    expected = forecaster.predict(pd.concat(histories),
                                  future=pd.concat(futures) if data.get("future_covariates")
                                  else None)
    levels = [f"q{q:g}" for q in meta["quantiles"] or []]
    for i, sid in enumerate(sids):
        rows = expected if sid is None else expected[expected["store"] == sid]
        for c, target in enumerate(["a", "b"]):
            want = rows[rows["target"] == target]
            np.testing.assert_allclose(outputs["forecast"][i, :, c], want["forecast"],
                                       rtol=1e-5, atol=1e-5)
            if levels:
                np.testing.assert_allclose(outputs["quantiles"][i, :, c], want[levels],
                                           rtol=1e-5, atol=1e-5)
    # a value missing from any input: that window's outputs are NaN, the others' unchanged
    # (onnxruntime's LSTM operator gave numbers, where PyTorch gives NaN)
    for name in arrays:
        holed = {**arrays, name: arrays[name].copy()}
        holed[name][0].flat[0] = np.nan
        for given, got in zip(outputs.values(), _run(tmp_path / "f.onnx", holed), strict=True):
            assert np.isnan(got[0]).all(), name
            np.testing.assert_array_equal(got[1:], given[1:])
    if model.get("conformal"):  # the margins are in the graph, not only in predict
        assert forecaster.margins is not None and np.abs(forecaster.margins).max() > 0
    assert meta["target_bounds"] == data.get("target_bounds")  # (said, as the graph clips)
    if data.get("target_bounds"):  # the bounds too: the graph's outer levels meet them
        quantiles = outputs["quantiles"]
        assert (quantiles[..., 0, -1] == data["target_bounds"]["a"][1]).any()
        assert (quantiles[..., 1, 0] == data["target_bounds"]["b"][0]).any()


# -- classifier ----------------------------------------------------------------------------


def _classifier(**config: Any) -> Any:
    from lstmkit.classification import Classifier, ClassifierConfig, Example

    examples = [Example(text, label) for text, label in [
        ("a good film", "pos"), ("awful", "neg"), ("great fun", "pos"), ("bad", "neg"),
        ("not good at all", "neg"), ("loved it", "pos")]]
    return Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4, **config),
                      TRAIN).fit(examples)


def _padded(rows: list[list[int]], pad: int) -> np.ndarray:
    out = np.full((len(rows), max(map(len, rows))), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@pytest.mark.parametrize("config", [
    {"pooling": "max"},
    {"pooling": "attention", "lstm": {"layer_norm": True}},
    {"pooling": "last", "lstm": {"peephole": True}, "bidirectional": False},
])
def test_an_exported_classifier_gives_predict_probas(config: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """Any number of tokens, a variant's graph too (an ONNX Loop; it was unrolled over a
    fixed number): the longest text here is longer than the 8 tokens the export traces."""
    classifier = _classifier(**config)
    report = export_onnx(classifier, tmp_path / "c.onnx")
    meta = report.metadata
    assert meta["labels"] == classifier.label_names
    assert meta["inputs"]["tokens"] == ["batch", "tokens"]
    texts = ["a good film", "awful", "not good",
             "great great great fun , loved it , a good film , not awful at all"]
    ids = [[meta["vocabulary"].index(w) if w in meta["vocabulary"] else meta["unk_index"]
            for w in classifier.encoder.tokens(t)] for t in texts]  # as a caller would
    assert ids == [classifier.encoder.encode(t) for t in texts]
    probabilities, label = _run(tmp_path / "c.onnx", {
        "tokens": _padded(ids, meta["pad_index"]),
        "lengths": np.array([len(i) for i in ids], dtype=np.int64)})
    np.testing.assert_allclose(probabilities, classifier.predict_proba(texts), atol=1e-6)
    assert label.tolist() == probabilities.argmax(-1).tolist()


# -- tagger --------------------------------------------------------------------------------


def _tagger(**config: Any) -> Any:
    from lstmkit.tagging import Sentence, Tagger, TaggerConfig

    sentences = [Sentence(["Alice", "visited", "Oslo"], ["B-PER", "O", "B-LOC"]),
                 Sentence(["Bob", "Smith", "is", "in", "New", "York", "!"],
                          ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"])] * 3
    return Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4, **config),
                  TRAIN).fit(sentences)


@pytest.mark.parametrize("config", [
    {},  # CRF, character LSTM, casing
    {"char_encoder": "cnn", "decoder": "softmax"},
    {"lstm": {"layer_norm": True}, "casing": False},
])
def test_an_exported_tagger_tags_as_tag_tokens(config: dict[str, Any], tmp_path: Path) -> None:
    """Any number of tokens, a variant's graph too: the export traces 6, the longest
    sentence here has 8."""
    from lstmkit.tagging.data import collate
    from lstmkit.tagging.schemes import convert

    tagger = _tagger(**config)
    report = export_onnx(tagger, tmp_path / "t.onnx")
    meta = report.metadata
    sentences = [["Alice", "visited", "New", "York"], ["Bob"],
                 ["Smith", "is", "in", "Copenhagen", "!", "Bob", "Smith", "@x"]]
    batch, _ = collate([tagger.encoder.encode(s) for s in sentences], tagger.words.pad_index)
    inputs = {name: batch[name].numpy() for name in meta["inputs"]}
    tags, emissions = _run(tmp_path / "t.onnx", inputs)
    assert emissions.shape == (3, 8, len(meta["tags"]))
    assert (tags[1, 1:] == -1).all()  # past the sentence's length
    got = [convert([meta["tags"][k] for k in row if k >= 0], meta["tag_scheme"], "IOB2",
                   strict=False) for row in tags]
    assert got == tagger.tag_tokens(sentences)


@pytest.mark.parametrize("ties", [False, True])
def test_the_graphs_viterbi_finds_crf_decodes_paths(ties: bool, tmp_path: Path) -> None:
    """The exported Viterbi loops take any number of tokens and sentences (one token
    included), with forbidden moves, and break ties as CRF.decode does."""
    from lstmkit.serving.export import viterbi_decode
    from lstmkit.tagging.crf import CRF

    K = 5
    generator = torch.Generator().manual_seed(3)
    allowed = (torch.rand(K, K, generator=generator) > 0.3).tolist()
    crf = CRF(K, allowed, [True, False, True, True, True], [True, True, True, False, True])
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (0 if ties else 3))

    class Decode(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.crf = crf

        def forward(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return viterbi_decode(emissions, lengths, *self.crf.scores())

    path = tmp_path / "viterbi.onnx"
    torch.onnx.export(Decode(), (torch.randn(2, 4, K), torch.tensor([4, 2])), str(path),
                      dynamo=False, input_names=["emissions", "lengths"],
                      output_names=["tags"], dynamic_axes={"emissions": {0: "B", 1: "T"},
                                                           "lengths": {0: "B"},
                                                           "tags": {0: "B", 1: "T"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for B in (1, 3, 7):
        for T in (1, 2, 5, 13):
            emissions = torch.randn(B, T, K, generator=generator)
            if ties:
                emissions = emissions.round()
            lengths = torch.randint(1, T + 1, (B,), generator=generator)
            lengths[0] = T
            lengths[-1] = 1 if B > 1 else T
            (tags,) = session.run(None, {"emissions": emissions.numpy(),
                                         "lengths": lengths.numpy()})
            expected = crf.decode(emissions, lengths)
            for b in range(B):
                n = int(lengths[b])
                assert tags[b, :n].tolist() == expected[b], (B, T, b)
                assert (tags[b, n:] == -1).all()


# -- the command, errors -------------------------------------------------------------------


def test_lstmkit_export_writes_a_saved_model(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from lstmkit.cli.main import main

    _classifier().save(tmp_path / "model")
    assert main(["export", "--model", str(tmp_path / "model"), "--out",
                 str(tmp_path / "out" / "c.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "out" / "c.onnx").is_file()


def test_bad_exports_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variant = _classifier(lstm={"layer_norm": True})
    with pytest.raises(ValueError, match=r"^path \(--out\) must be a file to write "
                                         r"\(model\.onnx\), got '.*', a folder$"):
        export_onnx(variant, tmp_path)
    for empty in ("", " "):  # (it said "got '.', a folder")
        with pytest.raises(ValueError, match=r"^path \(--out\) must name the ONNX file to "
                                             rf"write \(model\.onnx\), got '{empty}'$"):
            export_onnx(variant, empty)
    with pytest.raises(TypeError, match="a Forecaster, a Classifier or a Tagger, got int"):
        export_onnx(42, tmp_path / "n.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"onnxruntime is missing\): pip install "
                                          r"'lstmkit\[export\]'"):
        export_onnx(variant, tmp_path / "f.onnx")


def test_an_out_that_is_no_regular_file_is_refused_and_kept(tmp_path: Path) -> None:
    # the file written beside it was moved onto it: --out /dev/null replaced the device
    from lstmkit.cli.main import main

    forecaster, _ = _forecaster({}, {})
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    (tmp_path / "link.onnx").symlink_to(fifo)
    for out in (fifo, tmp_path / "link.onnx"):  # (a link: what it names)
        with pytest.raises(ValueError, match=rf"^path \(--out\) must be a file to write "
                                             rf"\(model\.onnx\), got '{out}', a FIFO \(named "
                                             rf"pipe\)$"):
            export_onnx(forecaster, out)
    forecaster.save(tmp_path / "model")
    assert main(["export", "--model", str(tmp_path / "model"), "--out", str(fifo)]) == 2
    assert stat.S_ISFIFO(fifo.stat().st_mode) and not list(tmp_path.glob(".lstmkit-*"))


@pytest.mark.parametrize("level", [0.0, 1e5])
def test_the_export_check_catches_a_graph_that_computes_otherwise(
        level: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph written from other weights than the model's is refused, not returned, and
    leaves no file; the one at the path before stays. Forecasts are compared in the target's
    standard deviations, so a series far from zero is held to the same standard."""
    import copy

    forecaster, _ = _forecaster({}, {}, level=level)
    path = tmp_path / "f.onnx"
    path.write_bytes(b"an earlier export")
    real_export = torch.onnx.export

    def off_by_a_little(graph: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        other = copy.deepcopy(graph)
        with torch.no_grad():
            other.net.head.bias += 0.01
        return real_export(other, *args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", off_by_a_little)
    with pytest.raises(ValueError, match=r"forecast differs from PyTorch's by 0.01 standard "
                                         r"deviations of the target on the check's examples "
                                         r"\(tolerance 0.0001\): the export is wrong"):
        export_onnx(forecaster, path)
    assert path.read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx"]


def test_read_metadata_refuses_another_onnx_file(tmp_path: Path) -> None:
    torch.onnx.export(torch.nn.Linear(2, 1), (torch.zeros(1, 2),), str(tmp_path / "l.onnx"),
                      dynamo=False)
    with pytest.raises(ValueError, match="holds no lstmkit metadata"):
        read_metadata(tmp_path / "l.onnx")
    # a file that is no ONNX model, or one cut short, is said so by its path (it was
    # protobuf's DecodeError or ParseError, naming neither)
    (tmp_path / "junk.onnx").write_text("hello\n")
    (tmp_path / "cut.onnx").write_bytes((tmp_path / "l.onnx").read_bytes()[:40])
    (tmp_path / "meta.json").write_text('{"format_version": 1}')
    (tmp_path / "empty.onnx").write_bytes(b"")  # (it read as a model without metadata)
    with pytest.raises(ValueError, match=r"is not an ONNX file: it is empty$"):
        read_metadata(tmp_path / "empty.onnx")
    for name in ("junk.onnx", "cut.onnx", "meta.json"):
        with pytest.raises(ValueError, match=rf"^{re.escape(repr(str(tmp_path / name)))} is "
                                             r"not an ONNX file \(onnx cannot read it: "):
            read_metadata(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        read_metadata(tmp_path / "missing.onnx")


def test_future_context_windows_are_each_steps_neighbours() -> None:
    """The covariates of steps t - r .. t + r for each forecast step t (shifted slices, which
    an export takes at any batch size)."""
    from lstmkit.forecasting.config import ModelConfig
    from lstmkit.forecasting.model import ForecastNet

    cfg = dataclasses.replace(ModelConfig(lookback=6, horizon=4, segment_len=2, hidden_size=4),
                              future_context=1)
    net = ForecastNet(cfg, n_targets=1, n_past=0, n_future=2, n_static=0)
    x_past = torch.arange(2 * 6 * 2, dtype=torch.float32).reshape(2, 6, 2)
    x_future = 100 + torch.arange(2 * 4 * 2, dtype=torch.float32).reshape(2, 4, 2)
    got = net._future_context(x_past, x_future).reshape(2, 4, 2, 3)  # (B, Hz, Cf, 2r + 1)
    whole = torch.cat([x_past, x_future, torch.zeros(2, 1, 2)], dim=1)  # rows -6 .. 4
    for t in range(4):
        for k, row in enumerate((6 + t - 1, 6 + t, 6 + t + 1)):
            assert torch.equal(got[:, t, :, k], whole[:, row])


def test_a_series_far_from_zero_keeps_its_precision(tmp_path: Path) -> None:
    """The graph scales in float64, as predict does: a level of a million with a spread of
    about one is forecast as predict forecasts it (in float32 the scaling was off by a
    hundredth of a standard deviation)."""
    forecaster, frame = _forecaster({}, {}, level=1e6)
    export_onnx(forecaster, tmp_path / "f.onnx")
    history = frame.iloc[:150]
    (forecast,) = _run(tmp_path / "f.onnx", {
        "past_targets": history[["a", "b"]].to_numpy()[-24:][None]})
    expected = forecaster.predict(history)
    std = forecaster.scalers.target.std
    for c, target in enumerate(["a", "b"]):
        diff = np.abs(forecast[0, :, c] - expected[expected["target"] == target]["forecast"])
        assert (diff / std[c]).max() < 1e-5


@pytest.mark.parametrize("lstm", [{"backend": "reference"}, {"backend": "fused"},
                                  {"proj_size": 2}])
def test_backends_and_projections_export(lstm: dict[str, Any], tmp_path: Path) -> None:
    """The backend a model was saved with is how it ran, not what it computes: the export
    takes auto's paths. A projection, which ONNX's LSTM operator lacks, is a Loop."""
    classifier = _classifier(lstm=lstm)
    classifier.save(tmp_path / "model")
    report = export_onnx(tmp_path / "model", tmp_path / "c.onnx")
    texts = ["a good film", "loved it , great fun , a good film , loved it"]
    ids = [classifier.encoder.encode(t) for t in texts]
    (probabilities, _) = _run(tmp_path / "c.onnx", {
        "tokens": _padded(ids, report.metadata["pad_index"]),
        "lengths": np.array([len(i) for i in ids], dtype=np.int64)})
    np.testing.assert_allclose(probabilities, classifier.predict_proba(texts), atol=1e-6)
    forecaster, _ = _forecaster({}, {"lstm": lstm})
    assert export_onnx(forecaster, tmp_path / "f.onnx").max_abs_diff < 1e-4


def test_a_tagger_graph_takes_empty_tokens(tmp_path: Path) -> None:
    """A batch whose tokens have no characters has a chars input of width 0."""
    from lstmkit.tagging.data import collate
    from lstmkit.tagging.schemes import convert

    for encoder in ("lstm", "cnn"):
        tagger = _tagger(char_encoder=encoder)
        report = export_onnx(tagger, tmp_path / "t.onnx")
        sentences = [[""], ["", ""]]
        batch, _ = collate([tagger.encoder.encode(s) for s in sentences],
                           tagger.words.pad_index)
        assert batch["chars"].shape[2] == 0
        tags, _ = _run(tmp_path / "t.onnx", {k: batch[k].numpy() for k in report.inputs})
        names = [convert([report.metadata["tags"][k] for k in row if k >= 0], "BIOES", "IOB2",
                         strict=False) for row in tags]
        assert names == tagger.tag_tokens(sentences)


def test_out_that_is_a_file_of_the_model_is_refused(tmp_path: Path) -> None:
    _classifier().save(tmp_path / "model")
    before = (tmp_path / "model" / "model.pt").read_bytes()
    with pytest.raises(ValueError, match=r"is the file model.pt of the saved model .* write the "
                                         r"ONNX file elsewhere"):
        export_onnx(tmp_path / "model", tmp_path / "model" / "model.pt")
    assert (tmp_path / "model" / "model.pt").read_bytes() == before
    # a new file beside a text model's is the user's, as classify predict's output there is
    export_onnx(tmp_path / "model", tmp_path / "model" / "model.onnx")
    assert (tmp_path / "model" / "model.onnx").is_file()
    # a forecaster's save replaces its whole folder: nothing of the user's goes there
    forecaster, _ = _forecaster({}, {})
    forecaster.save(tmp_path / "fc")
    with pytest.raises(ValueError, match=r"is inside the model folder .* write the ONNX file "
                                         r"elsewhere"):
        export_onnx(tmp_path / "fc", tmp_path / "fc" / "model.onnx")
    # a folder that holds no model is said to be none (it was "inside the model folder")
    (tmp_path / "notes").mkdir()
    with pytest.raises(FileNotFoundError, match=r"notes' is not a saved model: it has no "
                                                r"meta.json"):
        export_onnx(tmp_path / "notes", tmp_path / "notes" / "x.onnx")


def test_out_that_names_a_folder_is_refused(tmp_path: Path) -> None:
    # Path() drops the trailing separator: 'new/sub/' was written as a file named 'sub'
    _classifier().save(tmp_path / "model")
    for out in (f"{tmp_path}/new/sub/", f"{tmp_path}/new/sub/."):
        with pytest.raises(ValueError, match=rf"^path \(--out\) must be a file to write, got "
                                             rf"'{out}', which names a folder: give the path of "
                                             r"the file to write in it, e\.g\. "
                                             r"'.*new/sub/model\.onnx'$"):
            export_onnx(str(tmp_path / "model"), out)
    assert not (tmp_path / "new").exists()


def test_the_metadata_says_how_to_tokenise_and_look_up(tmp_path: Path) -> None:
    """A program that follows the metadata alone (here with Python's re) encodes a text as
    the classifier does; the tagger's casing rules name every casing class once."""
    import re

    classifier = _classifier(tokenizer="regex", lowercase=True)
    meta = export_onnx(classifier, tmp_path / "c.onnx").metadata
    tok = meta["tokenizer"]
    clitics = {"n’t", "’s", "’re", "’ve", "’ll", "’d", "’m"}
    text = ("I can’t believe it’s GOOD!!! see http://x.io/a?b=1 #Fun @bob 3.5 well-made... "
            "x\x1cy")
    tokens = [m.group() for m in re.finditer(tok["pattern"], text)]
    tokens = [t for t in tokens if not t.isspace()]
    tokens = [t.replace("’", "'") if t.lower() in clitics else t for t in tokens]
    tokens = [t.lower() for t in tokens] if tok["lowercase"] else tokens
    assert tokens == classifier.encoder.tokens(text)
    index = {w: i for i, w in enumerate(meta["vocabulary"])}
    assert [index.get(t, meta["unk_index"]) for t in tokens] == classifier.encoder.encode(text)
    from lstmkit.tagging.data import CASINGS

    tagger_meta = export_onnx(_tagger(), tmp_path / "t.onnx").metadata
    assert tagger_meta["casings"] == list(CASINGS)
    assert sorted(c for c, _ in tagger_meta["casing_rules"]) == sorted(CASINGS)
    assert tagger_meta["characters"][tagger_meta["char_unk_index"]] == "<unk>"


def test_a_tagger_graph_leaves_a_text_without_tokens_untagged(tmp_path: Path) -> None:
    """A row of length 0 (a text without tokens, which Tagger.predict leaves out) gets no
    tag, with the CRF's Viterbi as with the softmax decoder."""
    from lstmkit.tagging.data import collate

    for decoder in ("crf", "softmax"):
        tagger = _tagger(decoder=decoder)
        report = export_onnx(tagger, tmp_path / "t.onnx")
        batch, _ = collate([tagger.encoder.encode(s) for s in [["Bob", "Smith"], ["x"]]],
                           tagger.words.pad_index)
        feed = {k: batch[k].numpy() for k in report.inputs}
        feed["lengths"][1] = 0
        feed["char_lengths"][1] = 0
        tags, _ = _run(tmp_path / "t.onnx", feed)
        assert (tags[1] == -1).all() and (tags[0] >= 0).all()


def test_a_pruned_model_exports_and_keeps_its_backend(tmp_path: Path) -> None:
    """Pruning's weight is computed before the next forward pass (no copy of it can be
    made); the export runs the model on auto's paths and gives its own backend back."""
    from torch.nn.utils import prune

    classifier = _classifier(lstm={"backend": "reference"})
    prune.l1_unstructured(classifier.model.lstm, "weight_ih_l0", amount=0.5)
    last = classifier.model.lstm.last_backend
    report = export_onnx(classifier, tmp_path / "c.onnx")
    assert classifier.model.lstm.config.backend == "reference"
    assert classifier.model.lstm.last_backend == last
    texts = ["a good film", "awful"]
    ids = [classifier.encoder.encode(t) for t in texts]
    (probabilities, _) = _run(tmp_path / "c.onnx", {
        "tokens": _padded(ids, report.metadata["pad_index"]),
        "lengths": np.array([len(i) for i in ids], dtype=np.int64)})
    np.testing.assert_allclose(probabilities, classifier.predict_proba(texts), atol=1e-6)


def test_the_written_file_is_the_one_the_path_names(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A link is written through (the link stays), a replaced file keeps its mode, a name
    as long as the system takes works, and a refused export leaves no folder it made."""
    forecaster, _ = _forecaster({}, {})
    (tmp_path / "releases").mkdir()
    target = tmp_path / "releases" / "v3.onnx"
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "current.onnx"
    link.symlink_to(target)
    export_onnx(forecaster, link)
    assert link.is_symlink() and read_metadata(target)["kind"] == "forecaster"
    assert target.stat().st_mode & 0o777 == 0o600
    long_name = tmp_path / ("f" * 250 + ".onnx")
    export_onnx(forecaster, long_name)
    assert long_name.is_file()
    assert not [p for p in tmp_path.rglob(".lstmkit-*")]

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the exporter failed")

    with pytest.raises(OSError, match=r"cannot write the ONNX file .*m.onnx' \(--out\): "
                                      r"File name too long"):
        export_onnx(forecaster, tmp_path / "made" / ("x" * 300) / "m.onnx")
    assert not (tmp_path / "made").exists()
    with pytest.raises(OSError, match=r"\(--out\): File name too long"):
        export_onnx(forecaster, tmp_path / ("y" * 300 + ".onnx"))  # under a folder that exists
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(OSError, match=r"cannot write the ONNX file .*loop' \(--out\): "
                                      r"Symlink loop"):
        export_onnx(forecaster, tmp_path / "loop")
    import onnx

    def disk_full(proto: Any, name: str) -> None:
        raise OSError(28, "No space left on device", name)

    with monkeypatch.context() as patch:
        patch.setattr(onnx, "save", disk_full)
        with pytest.raises(OSError, match=r"cannot write the ONNX file .*full.onnx' "
                                          r"\(--out\): No space left on device$"):
            export_onnx(forecaster, tmp_path / "full.onnx")
    assert not [p for p in tmp_path.rglob(".lstmkit-*")]
    real_open = os.open

    def no_new_file(name: Any, *args: Any) -> int:
        if str(name).endswith(".onnx.tmp"):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args)

    with monkeypatch.context() as patch:  # a folder that cannot be written: it named the
        patch.setattr(os, "open", no_new_file)  # temporary file, not --out
        with pytest.raises(PermissionError, match=r"cannot write the ONNX file .*locked.onnx' "
                                                  r"\(--out\): Permission denied$"):
            export_onnx(forecaster, tmp_path / "locked.onnx")
    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(RuntimeError, match="the exporter failed"):
        export_onnx(forecaster, tmp_path / "new" / "deeper" / "f.onnx")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("kind", ["tagger", "classifier"])
def test_an_export_shows_no_warning_of_the_exporters_own(kind: str, tmp_path: Path) -> None:
    # a tagger's export showed torch's "Constant folding - Only steps=1 can be constant
    # folded" three times, which concern the exporter's optimisation, not the graph
    model = _tagger() if kind == "tagger" else _classifier()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_onnx(model, tmp_path / "m.onnx")
    # (torch's DeprecationWarnings, of its TorchScript exporter, Python shows only to
    # __main__'s code)
    assert [str(w.message) for w in caught if w.category is not DeprecationWarning] == []
