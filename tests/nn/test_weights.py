"""Weight layout converters: torch, Keras and ONNX, each round-tripped and checked numerically."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lstmkit import LSTM
from lstmkit.nn import weights

T, B, I, H = 4, 3, 5, 6


def test_torch_round_trip():
    ours = LSTM(I, H, num_layers=2, bidirectional=True, proj_size=3)
    theirs = weights.to_torch(ours)
    back = weights.from_torch(theirs)
    x = torch.randn(T, B, I)
    torch.testing.assert_close(theirs(x)[0], ours(x)[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(back(x)[0], ours(x)[0], atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"torch\.nn\.LSTM has no parameters for peephole=True"):
        weights.to_torch(LSTM(I, H, peephole=True))
    with pytest.raises(ValueError, match="coupled_gates=True has"):
        weights.from_torch(theirs, coupled_gates=True)
    zoned = weights.from_torch(theirs, zoneout=0.1)
    assert zoned.config.zoneout == (0.1, 0.1)
    # options that initialise weights would be overwritten by module's: refused, not ignored
    for options, given in [({"forget_bias": 1.0}, "forget_bias=1.0 initialises"),
                           ({"init": "chrono", "chrono_max_len": 10}, "init='chrono' init"),
                           ({"recurrent_init": "orthogonal"}, "recurrent_init='orthogonal'")]:
        with pytest.raises(ValueError, match=f"^{given}.*from_torch then replaces"):
            weights.from_torch(theirs, **options)
    assert weights.from_torch(theirs, forget_bias=None, init="default").config.init == "default"
    # a value that is none is the LSTM's own error
    with pytest.raises(ValueError, match=r"^init must be one of .*got 'xavier'"):
        weights.from_torch(theirs, init="xavier")
    with pytest.raises(TypeError, match=r"forget_bias must be a float or None"):
        weights.from_torch(theirs, forget_bias="1")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao
def test_a_plain_lstm_quantizes_dynamically_through_to_torch():
    # quantize_dynamic picks modules by type and passes over lstmkit.LSTM; the docs send a
    # plain LSTM through to_torch first
    torch.manual_seed(0)
    ours = LSTM(I, H, num_layers=2).eval()
    quantized = torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(weights.to_torch(ours)), {torch.nn.LSTM}, dtype=torch.qint8)[0]
    assert isinstance(quantized, torch.ao.nn.quantized.dynamic.LSTM)
    x = torch.randn(T, B, I)
    with torch.no_grad():
        got, want = quantized(x)[0], ours(x)[0]
    assert 0 < (got - want).abs().max() < 0.02  # int8 weights: close, not equal


def _keras_lstm(x: np.ndarray, kernel, recurrent_kernel, bias) -> np.ndarray:
    """Keras' LSTM equations with its own layout (I, 4H) and gate order i, f, c, o."""
    h = np.zeros((x.shape[1], recurrent_kernel.shape[0]))
    c = np.zeros_like(h)
    outputs = []
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for x_t in x:
        z = x_t @ kernel + h @ recurrent_kernel + bias
        i, f, cc, o = np.split(z, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(cc)
        h = sig(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs)


def test_keras_layout_computes_the_same_and_round_trips():
    ours = LSTM(I, H, num_layers=2).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    first = weights.to_keras(ours, layer=0)
    assert first["kernel"].shape == (I, 4 * H) and first["recurrent_kernel"].shape == (H, 4 * H)
    expected = _keras_lstm(x.numpy(), **first)
    single = LSTM(I, H).double()
    weights.load_keras_(single, first)
    np.testing.assert_allclose(single(x)[0].detach().numpy(), expected, atol=1e-12)
    again = weights.to_keras(single)
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    with pytest.raises(ValueError, match=r"weights\['kernel'\] must have shape \(5, 24\)"):
        weights.load_keras_(single, {**first, "kernel": first["kernel"].T})
    with pytest.raises(ValueError, match=r"layer must be in \[0, 1\], got 2"):
        weights.to_keras(ours, layer=2)


def _onnx_model(W, R, Bias, P, hidden, direction):
    from onnx import TensorProto, helper, numpy_helper

    inputs = ["X", "W", "R", "B", "", "", "", "P"]
    node = helper.make_node("LSTM", inputs, ["Y"], hidden_size=hidden, direction=direction)
    graph = helper.make_graph(
        [node], "lstm", [helper.make_tensor_value_info("X", TensorProto.DOUBLE, None)],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, None)],
        [numpy_helper.from_array(a, name) for name, a in (("W", W), ("R", R), ("B", Bias),
                                                           ("P", P))],
    )
    return helper.make_model(graph)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_onnx_layout_matches_the_onnx_reference_runtime(bidirectional):
    pytest.importorskip("onnx", reason="the onnx package (dev extra) runs the ONNX LSTM operator")
    from onnx.reference import ReferenceEvaluator

    ours = LSTM(I, H, peephole=True, bidirectional=bidirectional).double().eval()
    arrays = weights.to_onnx(ours)
    model = _onnx_model(arrays["W"], arrays["R"], arrays["B"], arrays["P"], H,
                        "bidirectional" if bidirectional else "forward")
    x = torch.randn(T, B, I, dtype=torch.float64)
    (y,) = ReferenceEvaluator(model).run(None, {"X": x.numpy()})  # (T, D, B, H)
    ours_out = ours(x)[0].detach().numpy().reshape(T, B, -1, H).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(ours_out, y, atol=1e-10)
    back = LSTM(I, H, peephole=True, bidirectional=bidirectional).double()
    weights.load_onnx_(back, **arrays)
    for name, value in ours.state_dict().items():
        torch.testing.assert_close(back.state_dict()[name], value, atol=0, rtol=0)


def test_onnx_errors():
    with pytest.raises(ValueError, match="the ONNX LSTM operator has no parameters for "
                                         "layer_norm=True"):
        weights.to_onnx(LSTM(I, H, layer_norm=True))
    arrays = weights.to_onnx(LSTM(I, H))
    with pytest.raises(ValueError, match="P must be given exactly when peephole=True"):
        weights.load_onnx_(LSTM(I, H, peephole=True), **arrays)
    with pytest.raises(ValueError, match=r"W must have shape \(1, 24, 5\), got \(1, 24, 4\)"):
        weights.load_onnx_(LSTM(I, H), arrays["W"][..., :4], arrays["R"], arrays["B"])


@pytest.mark.parametrize("export", [weights.to_torch, weights.to_keras, weights.to_onnx])
def test_exports_refuse_zoneout_and_warn_of_training_only_regularisers(export):
    # evaluation blends zoneout's states: an export without it would compute other outputs
    with pytest.raises(ValueError, match=r"has no parameters for zoneout=\(0\.3, 0\.3\): "):
        export(LSTM(I, H, zoneout=0.3))
    with pytest.warns(UserWarning, match=r"has no recurrent_dropout=0\.2 or weight_drop=0\.5: "
                                         r"the weights are exported \(evaluation outputs are "
                                         r"the same\)"):
        export(LSTM(I, H, recurrent_dropout=0.2, weight_drop=0.5))


def test_to_torch_exports_the_effective_weights_of_a_parametrized_or_pruned_lstm():
    from torch.nn.utils import parametrizations, prune

    x = torch.randn(T, B, I)
    normed = LSTM(I, H, num_layers=2)
    parametrizations.weight_norm(normed, "weight_hh_l0")
    pruned = LSTM(I, H, proj_size=3)
    prune.l1_unstructured(pruned, "weight_ih_l0", 0.5)
    for ours in (normed, pruned):
        theirs = weights.to_torch(ours)
        torch.testing.assert_close(theirs(x)[0], ours(x)[0], atol=1e-6, rtol=0)
        assert all(not name.startswith("parametrizations") and not name.endswith("_orig")
                   for name in theirs.state_dict())


def test_imports_write_through_a_parametrization_and_refuse_a_pruned_weight():
    from torch.nn.utils import parametrizations, prune

    x = torch.randn(T, B, I)
    source = LSTM(I, H, bidirectional=True, peephole=True)
    keras_source = LSTM(I, H)
    for load, model, arrays in (
            (weights.load_onnx_, source, weights.to_onnx(source)),
            (weights.load_keras_, keras_source, weights.to_keras(keras_source))):
        target = LSTM(I, H, bidirectional=model.bidirectional, peephole=model.config.peephole)
        parametrizations.weight_norm(target, "weight_ih_l0")
        if model.bidirectional:
            parametrizations.weight_norm(target, "weight_hh_l0_reverse")
        load(target, **arrays) if load is weights.load_onnx_ else load(target, arrays)
        # (a write into the parametrized weight's computed copy was lost, without an error)
        torch.testing.assert_close(target(x)[0], model(x)[0], atol=1e-6, rtol=0)
        pruned = LSTM(I, H, bidirectional=model.bidirectional, peephole=model.config.peephole)
        last = "weight_hh_l0_reverse" if model.bidirectional else "weight_hh_l0"
        prune.l1_unstructured(pruned, last, 0.0)
        before = {k: v.clone() for k, v in pruned.state_dict().items()}
        name = load.__name__
        with pytest.raises(ValueError, match=rf"^{name}: lstm's {last} is pruned \(torch\.nn\."
                                             r"utils\.prune\).*prune\.remove"):
            load(pruned, **arrays) if load is weights.load_onnx_ else load(pruned, arrays)
        # refused before any was written (the forward direction was, before the reverse's
        # refusal)
        assert all(torch.equal(v, before[k]) for k, v in pruned.state_dict().items())

        class Doubled(torch.nn.Module):  # no right_inverse to write a value through
            def forward(self, w: torch.Tensor) -> torch.Tensor:
                return 2 * w

        hooked = LSTM(I, H, bidirectional=model.bidirectional, peephole=model.config.peephole)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # (torch deprecates the hook)
            torch.nn.utils.weight_norm(hooked, "weight_hh_l0")
        with pytest.raises(ValueError, match=rf"^{name}: lstm's weight_hh_l0 is rebuilt before "
                                             r"each call by a hook"):
            load(hooked, **arrays) if load is weights.load_onnx_ else load(hooked, arrays)
        hooked = LSTM(I, H, bidirectional=model.bidirectional, peephole=model.config.peephole)
        torch.nn.utils.spectral_norm(hooked, "weight_ih_l0")
        with pytest.raises(ValueError, match=rf"^{name}: lstm's weight_ih_l0 is rebuilt before "
                                             r"each call by a hook \(torch\.nn\.utils\."
                                             r"weight_norm's or spectral_norm's\)"):
            load(hooked, **arrays) if load is weights.load_onnx_ else load(hooked, arrays)
        doubled = LSTM(I, H, bidirectional=model.bidirectional, peephole=model.config.peephole)
        torch.nn.utils.parametrize.register_parametrization(doubled, "weight_ih_l0", Doubled())
        with pytest.raises(ValueError, match=rf"^{name} cannot write lstm's weight_ih_l0: its "
                                             r"parametrization \['Doubled'\] has no "
                                             r"right_inverse .*load before registering"):
            load(doubled, **arrays) if load is weights.load_onnx_ else load(doubled, arrays)


def test_keras_converters_check_the_direction():
    with pytest.raises(ValueError, match=r"direction must be in \[0, 0\] "
                                         r"\(bidirectional=False\), got 1"):
        weights.to_keras(LSTM(I, H), direction=1)
    both = LSTM(I, H, bidirectional=True)
    arrays = weights.to_keras(both, direction=1)
    for direction in (-1, 2):
        with pytest.raises(ValueError, match=rf"direction must be in \[0, 1\] "
                                             rf"\(bidirectional=True\), got {direction}"):
            weights.to_keras(both, direction=direction)
        with pytest.raises(ValueError, match="direction must be in"):
            weights.load_keras_(both, arrays, direction=direction)


def test_converters_name_a_torch_lstm_and_an_index_of_the_wrong_type():
    # a torch.nn.LSTM failed with "'LSTM' object has no attribute 'config'"
    for convert, name in ((weights.to_keras, "to_keras"), (weights.to_onnx, "to_onnx"),
                          (weights.to_torch, "to_torch")):
        with pytest.raises(TypeError, match=rf"{name}: lstm must be a lstmkit\.nn\.LSTM, got "
                                            r"LSTM \(convert a torch\.nn\.LSTM with "
                                            r"lstmkit\.nn\.from_torch\(module\) first\)"):
            convert(torch.nn.LSTM(I, H))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"load_onnx_: lstm must be a lstmkit\.nn\.LSTM, got "
                                        r"str$"):
        weights.load_onnx_("lstm", np.zeros(1), np.zeros(1))  # type: ignore[arg-type]
    both = LSTM(I, H, num_layers=2, bidirectional=True)
    # a bool, a float or a str index was taken as 1, or failed with "not supported between"
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError, match=rf"direction must be an int in \[0, 1\], got "
                                            rf"{type(bad).__name__} {bad!r}"):
            weights.to_keras(both, direction=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=rf"layer must be an int in \[0, 1\], got "
                                            rf"{type(bad).__name__} {bad!r}"):
            weights.to_onnx(both, layer=bad)  # type: ignore[arg-type]
    # numpy integers index as ints do
    np.testing.assert_array_equal(weights.to_keras(both, np.int64(1), np.int64(1))["kernel"],
                                  weights.to_keras(both, 1, 1)["kernel"])


def test_converters_take_a_0d_integer_tensor_or_array_as_an_index():
    # torch.tensor(1) and np.array(1) were refused as "must be an int"
    both = LSTM(I, H, num_layers=2, bidirectional=True)
    want = weights.to_keras(both, 1, 1)
    for index in (torch.tensor(1), np.array(1), torch.tensor(1, dtype=torch.uint8)):
        got = weights.to_keras(both, layer=index, direction=index)  # type: ignore[arg-type]
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        np.testing.assert_array_equal(weights.to_onnx(both, layer=index)["W"],  # type: ignore[arg-type]
                                      weights.to_onnx(both, layer=1)["W"])
    fresh = LSTM(I, H, num_layers=2, bidirectional=True)
    weights.load_keras_(fresh, want, layer=torch.tensor(1), direction=np.array(1))  # type: ignore[arg-type]
    np.testing.assert_allclose(weights.to_keras(fresh, 1, 1)["kernel"], want["kernel"])
    # a bool, a float or a 1-element tensor is still refused, with the value in the message
    for bad in (torch.tensor(True), torch.tensor(1.0), np.array(1.0), torch.tensor([1])):
        with pytest.raises(TypeError, match=r"layer must be an int in \[0, 1\], got "
                                            rf"{type(bad).__name__} "):
            weights.to_keras(both, layer=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"layer must be in \[0, 1\], got 2"):
        weights.to_keras(both, layer=torch.tensor(2))  # type: ignore[arg-type]


def test_loads_refuse_arrays_that_are_not_finite_real_numbers():
    lstm = LSTM(I, H)
    keras = weights.to_keras(lstm)
    onnx = weights.to_onnx(lstm)
    before = [p.detach().clone() for p in lstm.parameters()]
    for value, error, message in (
            (np.full_like(keras["bias"], np.nan), ValueError,
             r"weights\['bias'\] must hold finite numbers, got 24 NaN or infinite entries"),
            (keras["bias"] > 0, TypeError,
             r"weights\['bias'\] must be an array of real numbers, got dtype bool"),
            (keras["bias"] + 0j, TypeError,
             r"weights\['bias'\] must be an array of real numbers, got dtype complex64"),
            (np.array(["1"] * 24), TypeError,
             r"weights\['bias'\] must be an array of real numbers, got dtype <U1"),
            (None, TypeError, r"weights\['bias'\] must be an array of real numbers, got "
                              r"NoneType")):
        with pytest.raises(error, match=message):
            weights.load_keras_(lstm, {**keras, "bias": value})
    with pytest.raises(TypeError, match=r"weights must be a dict of arrays with keys "
                                        r"\['bias', 'kernel', 'recurrent_kernel'\], got list"):
        weights.load_keras_(lstm, list(keras.values()))  # type: ignore[arg-type]
    onnx_r = onnx["R"].copy()
    onnx_r[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="R must hold finite numbers, got 1 NaN or infinite"):
        weights.load_onnx_(lstm, onnx["W"], onnx_r, onnx["B"])
    for p, q in zip(lstm.parameters(), before, strict=True):  # nothing was written
        torch.testing.assert_close(p, q, atol=0, rtol=0)
    # lists, tensors and float64 arrays load as arrays do: into fresh LSTMs of another seed
    # (into lstm, which held these weights already, a load that wrote nothing passed)
    x = torch.randn(T, B, I)
    torch.manual_seed(1)
    from_keras, from_onnx = LSTM(I, H), LSTM(I, H)
    for fresh in (from_keras, from_onnx):
        assert not torch.allclose(fresh(x)[0], lstm(x)[0])
    weights.load_keras_(from_keras, {k: v.astype(np.float64).tolist() for k, v in keras.items()})
    weights.load_onnx_(from_onnx, torch.as_tensor(onnx["W"]), onnx["R"], onnx["B"])
    for fresh in (from_keras, from_onnx):
        torch.testing.assert_close(fresh(x)[0], lstm(x)[0])
    for key, value in weights.to_keras(from_keras).items():  # (Keras sums the two biases)
        np.testing.assert_array_equal(value, keras[key])
    for name, value in lstm.state_dict().items():
        torch.testing.assert_close(from_onnx.state_dict()[name], value, atol=0, rtol=0)
