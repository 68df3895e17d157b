"""Every wrong argument a user can give the core raises an error naming it, expected and actual."""

from __future__ import annotations

import re

import pytest
import torch

from lstmkit import LSTM, LSTMCell

T, B, I, H = 4, 3, 5, 6


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"hidden_size": -3}, ValueError, "hidden_size must be an int >= 1, got -3"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size must be an int >= 1, got float 2.5"),
    ({"num_layers": 0}, ValueError, "num_layers must be an int >= 1, got 0"),
    ({"proj_size": 6}, ValueError, "proj_size must be smaller than hidden_size (6), got 6"),
    ({"proj_size": -1}, ValueError, "proj_size must be an int >= 0, got -1"),
    ({"dropout": 1.5, "num_layers": 2}, ValueError, "dropout must be a float in [0, 1], got 1.5"),
    ({"zoneout": 1.0}, ValueError, "zoneout must be a float in [0, 1), got 1.0"),
    ({"zoneout": -0.1}, ValueError, "zoneout must be a float in [0, 1), got -0.1"),
    ({"zoneout": (0.1, 1.2)}, ValueError,
     "zoneout[1] (hidden) must be a float in [0, 1), got 1.2"),
    ({"zoneout": (0.1, 0.2, 0.3)}, ValueError,
     "zoneout must be a float or a pair (z_c, z_h), got 3"),
    ({"recurrent_dropout": 1.5}, ValueError,
     "recurrent_dropout must be a float in [0, 1), got 1.5"),
    ({"weight_drop": "a"}, TypeError, "weight_drop must be a float in [0, 1), got str 'a'"),
    ({"peephole": 2}, TypeError, "peephole must be a bool (or 0 or 1), got int 2"),
    ({"bidirectional": "yes"}, TypeError,
     "bidirectional must be a bool (or 0 or 1), got str 'yes'"),
    ({"init": "xavier"}, ValueError, "init must be one of 'default', 'chrono', got 'xavier'"),
    ({"init": "chrono"}, ValueError, "init='chrono' needs chrono_max_len"),
    ({"chrono_max_len": 50}, ValueError, "chrono_max_len is used only with init='chrono'"),
    ({"init": "chrono", "chrono_max_len": 50, "forget_bias": 1.0}, ValueError,
     "forget_bias and init='chrono' cannot combine"),
    ({"forget_bias": 1.0, "bias": False}, ValueError,
     "forget_bias=1.0 sets the forget gate's biases and needs bias=True, got bias=False"),
    # ints past float's range: an OverflowError, and an init that failed as one
    ({"forget_bias": -10**400}, ValueError, "forget_bias must be finite, got a negative int "
     "of 401 digits"),
    ({"init": "chrono", "chrono_max_len": 10**400}, ValueError,
     "chrono_max_len must be an int below 2**63, got an int of 401 digits"),
    ({"init": "chrono", "chrono_max_len": 50, "bias": False}, ValueError,
     "init='chrono' sets gate biases and needs bias=True, got bias=False"),
    ({"backend": "cuda"}, ValueError,
     "backend must be one of 'auto', 'reference', 'torch', 'fused', got 'cuda'"),
    ({"dtype": torch.int64}, TypeError,  # (torch said only that ints take no gradients)
     "dtype must be a floating-point torch dtype (torch.float32, torch.float64, ...) or "
     "None, got torch.int64"),
    ({"layer_norm": True, "hidden_size": 1}, ValueError,  # (its h never read the memory)
     "layer_norm needs hidden_size >= 2: normalised over a single unit, the cell state is "
     "its norm's bias whatever it holds"),
    ({"backend": "torch", "peephole": True}, ValueError,
     "backend='torch' cannot serve this call: torch's fused op computes only the plain "
     "LSTM, but peephole"),
])
def test_constructor_errors(kwargs, error, message):
    args = {"input_size": I, "hidden_size": H, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        LSTM(**args)(torch.randn(T, B, I))


BIG = 10**400


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    # (each printed the 401 digits whole; a size past int64 failed in torch's "Overflow when
    # unpacking long long" when the parameters were made)
    ({"hidden_size": BIG}, ValueError, "hidden_size must be an int below 2**63, got an int of "
     "401 digits"),
    ({"hidden_size": -BIG}, ValueError, "hidden_size must be an int >= 1, got a negative int "
     "of 401 digits"),
    ({"input_size": BIG}, ValueError, "input_size must be an int below 2**63, got an int of "
     "401 digits"),
    ({"num_layers": BIG}, ValueError, "num_layers must be an int in [1, 10000], got an int of "
     "401 digits"),
    ({"proj_size": BIG}, ValueError, "proj_size must be an int below 2**63, got an int of 401 "
     "digits"),
    ({"dropout": BIG}, ValueError, "dropout must be a float in [0, 1], got an int of 401 "
     "digits"),
    ({"zoneout": BIG}, ValueError, "zoneout must be a float in [0, 1), got an int of 401 "
     "digits"),
    ({"zoneout": (0.1, -BIG)}, ValueError, "zoneout[1] (hidden) must be a float in [0, 1), "
     "got a negative int of 401 digits"),
    ({"recurrent_dropout": BIG}, ValueError, "recurrent_dropout must be a float in [0, 1), "
     "got an int of 401 digits"),
    ({"weight_drop": BIG}, ValueError, "weight_drop must be a float in [0, 1), got an int of "
     "401 digits"),
    ({"forget_bias": BIG}, ValueError, "forget_bias must be finite, got an int of 401 digits"),
    ({"chrono_max_len": BIG}, ValueError, "chrono_max_len is used only with init='chrono', "
     "got init='default' and chrono_max_len=an int of 401 digits"),
    ({"bias": BIG}, TypeError, "bias must be a bool (or 0 or 1), got an int of 401 digits"),
    ({"peephole": BIG}, TypeError, "peephole must be a bool (or 0 or 1), got an int of 401 "
     "digits"),
    ({"init": BIG}, ValueError, "init must be one of 'default', 'chrono', got an int of 401 "
     "digits"),
    ({"backend": BIG}, ValueError, "backend must be one of 'auto', 'reference', 'torch', "
     "'fused', got an int of 401 digits"),
    # (str() of an int of more than 4300 digits is itself a ValueError)
    ({"zoneout": 10**5000}, ValueError, "zoneout must be a float in [0, 1), got an int of "
     "5001 digits"),
])
def test_huge_int_options_are_named_by_their_number_of_digits(kwargs, error, message):
    args = {"input_size": I, "hidden_size": H, **kwargs}
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        LSTM(**args)


TOO_MANY = ("an LSTM must have fewer than 2**60 parameters (in float64 each tensor's bytes "
            "must fit torch's int64 sizes), got ")


@pytest.mark.parametrize(("module", "kwargs", "message"), [
    # (4 * hidden_size past int64 failed in torch's "Overflow when unpacking long long")
    (LSTM, {"input_size": 5, "hidden_size": 2**62}, TOO_MANY + "an int of 38 digits from "
     "input_size=5, hidden_size=4611686018427387904"),
    (LSTM, {"input_size": 2**62, "hidden_size": 6}, TOO_MANY + "an int of 21 digits from "
     "input_size=4611686018427387904, hidden_size=6"),
    # (torch's "Storage size calculation overflowed" in float64; a tensor of float32 made)
    (LSTM, {"input_size": 5, "hidden_size": 2**29}, TOO_MANY + "1152921519639232512 from "
     "input_size=5, hidden_size=536870912"),
    (LSTM, {"input_size": 5, "hidden_size": 2**28, "num_layers": 3, "bidirectional": True,
            "proj_size": 2**27},
     TOO_MANY + "2233785438798086144 from input_size=5, hidden_size=268435456, num_layers=3, "
     "proj_size=134217728, bidirectional=True"),
    (LSTMCell, {"input_size": 5, "hidden_size": 2**62}, TOO_MANY + "an int of 38 digits from "
     "input_size=5, hidden_size=4611686018427387904"),
    (LSTMCell, {"input_size": 2**59, "hidden_size": 2}, TOO_MANY + "4611686018427387936 from "
     "input_size=576460752303423488, hidden_size=2"),
    # (the layers were made one by one, on the meta device too, for hours)
    (LSTM, {"input_size": 5, "hidden_size": 6, "num_layers": 10_001},
     "num_layers must be an int in [1, 10000], got 10001"),
    (LSTM, {"input_size": 5, "hidden_size": 6, "num_layers": 2**40},
     "num_layers must be an int in [1, 10000], got 1099511627776"),
])
def test_sizes_past_what_torch_can_hold_are_refused_before_any_tensor(module, kwargs,
                                                                      message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        module(**kwargs, device="meta")


def test_large_but_possible_sizes_are_made():
    from lstmkit.nn.config import MAX_LAYERS, layer_count

    wide = LSTM(5, 8192, device="meta")
    assert wide.weight_hh_l0.shape == (4 * 8192, 8192)
    assert LSTM(5, 2**28, device="meta").config.parameter_count() < 2**60  # (2**58 and more)
    assert LSTMCell(5, 2**28, device="meta").weight_hh.shape == (2**30, 2**28)
    assert len(LSTM(2, 2, 100).all_weights) == 100
    assert layer_count("num_layers", MAX_LAYERS) == MAX_LAYERS == 10_000


@pytest.mark.parametrize("kwargs", [
    {}, {"num_layers": 3}, {"bias": False}, {"bidirectional": True, "num_layers": 2},
    {"proj_size": 4, "num_layers": 2, "bidirectional": True}, {"peephole": True},
    {"coupled_gates": True, "peephole": True}, {"layer_norm": True, "num_layers": 2},
    {"layer_norm": True, "coupled_gates": True, "proj_size": 3, "bidirectional": True},
])
def test_parameter_count_is_the_parameters_the_lstm_makes(kwargs):
    module = LSTM(I, H, **kwargs)
    assert module.config.parameter_count() == sum(p.numel() for p in module.parameters())
    cell_kwargs = {k: v for k, v in kwargs.items()
                   if k in ("bias", "peephole", "coupled_gates", "layer_norm")}
    cell = LSTMCell(I, H, **cell_kwargs)
    assert cell.config.parameter_count() == sum(p.numel() for p in cell.parameters())


def test_a_huge_int_set_on_a_built_lstm_is_named_by_its_number_of_digits():
    module = LSTM(I, H)
    with pytest.raises(AttributeError, match=re.escape("; build a new LSTM, got an int of 401 "
                                                       "digits")):
        module.hidden_size = BIG
    with pytest.raises(ValueError, match=re.escape("dropout must be a float in [0, 1], got an "
                                                   "int of 401 digits")):
        module.dropout = BIG


def test_a_huge_index_is_named_by_its_number_of_digits():
    from lstmkit.nn.weights import to_keras

    with pytest.raises(ValueError, match=re.escape("layer must be in [0, 0], got an int of 401 "
                                                   "digits")):
        to_keras(LSTM(I, H), layer=BIG)


def test_backend_torch_with_a_variant_is_refused_when_made():
    with pytest.raises(ValueError, match=re.escape(
            "backend='torch' cannot serve this call: torch's fused op computes only "
            "the plain LSTM, but peephole, zoneout=(0.1, 0.1); use backend='auto' or "
            "'reference'")):
        LSTM(I, H, backend="torch", peephole=True, zoneout=0.1)
    with pytest.raises(ValueError, match="but reset= is given"):
        LSTM(I, H, backend="torch")(torch.randn(T, B, I), reset=torch.zeros(T, B, dtype=bool))


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="dropout applies between layers") as caught:
        LSTM(I, H, dropout=0.5)
    # at the caller's line, set on a built LSTM too (that one named lstmkit's layer.py)
    module = LSTM(I, H)
    with pytest.warns(UserWarning, match="dropout applies between layers") as set_later:
        module.dropout = 0.5
    assert {w.filename for w in [*caught, *set_later]} == {__file__}
    # code run without a module name (exec with its own globals) builds it too (the frame
    # walk read the name as a str; Python's warnings themselves say nothing there)
    exec("LSTM(5, 6, dropout=0.5)", {"LSTM": LSTM, "__name__": None})


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda m: m(torch.randn(B, I, T, 2)), ValueError,
     "input must be 3-D (T, B, I) or 2-D (T, I) unbatched, got 4-D with shape (3, 5, 4, 2)"),
    (lambda m: m(torch.randn(T, B, 7)), ValueError,
     "input must have 5 features (input_size) in its last dimension, got 7"),
    (lambda m: m(torch.ones(T, B, I, dtype=torch.long)), TypeError,
     "input must be a floating-point tensor, got dtype torch.int64"),
    (lambda m: m([[1.0]]), TypeError, "input must be a Tensor or PackedSequence, got list"),
    (lambda m: m(torch.randn(0, B, I)), ValueError, "input must have at least one time step"),
    (lambda m: m(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(2, B, H))),
     ValueError, "hx c_0 must have shape (1, 3, 6), got (2, 3, 6)"),
    (lambda m: m(torch.randn(T, B, I), (torch.zeros(1, B, H, dtype=torch.float64),
                                        torch.zeros(1, B, H))),
     TypeError, "hx h_0 must have dtype torch.float32 (the input's), got torch.float64"),
    (lambda m: m(torch.randn(T, B, I), (torch.zeros(1, B, H),)), TypeError,
     "hx must be a tuple (h_0, c_0) of two tensors, got a tuple of 1"),
    (lambda m: m(torch.randn(T, B, I), torch.zeros(1, B, H)), TypeError,
     "hx must be a tuple (h_0, c_0) of two tensors, got Tensor"),
    (lambda m: m(torch.randn(T, B, I), lengths=[4, 2]), ValueError,
     "lengths must have shape (3,) (one per sequence), got (2,)"),
    (lambda m: m(torch.randn(T, I), lengths=[4, 2]), ValueError,
     "lengths must be one integer or have shape (1,) for an unbatched input, got (2,)"),
    (lambda m: m(torch.randn(T, B, I), lengths=[4, 5, 1]), ValueError,
     "lengths must be in [1, 4] (T), got values in [1, 5]"),
    (lambda m: m(torch.randn(T, B, I), lengths=[4, 0, 1]), ValueError,
     "lengths must be in [1, 4] (T), got values in [0, 4]"),
    (lambda m: m(torch.randn(T, B, I), lengths=torch.tensor([1.0, 2.0, 3.0])), TypeError,
     "lengths must hold integers, got dtype torch.float32"),
    (lambda m: m(torch.randn(T, B, I), lengths="32"), TypeError,
     "lengths must be a 1-D integer tensor or a sequence of ints (one per sequence), got "
     "str '32'"),
    (lambda m: m(torch.randn(T, B, I), lengths=[None, 2, 1]), TypeError,
     "lengths must be a 1-D integer tensor or a sequence of ints (one per sequence), got "
     "list [None, 2, 1]"),
    (lambda m: m(torch.randn(T, I), lengths="3"), TypeError,
     "lengths must be one integer for an unbatched input, got str '3'"),
    (lambda m: m(torch.randn(T, B, I), reset=torch.zeros(B, T, dtype=torch.bool)), ValueError,
     "reset must have shape (4, 3) (T, B), got (3, 4)"),
    (lambda m: m(torch.randn(T, B, I), reset=torch.zeros(T, B)), TypeError,
     "reset must be a bool Tensor, got torch.float32"),
    (lambda m: m(torch.randn(T, B, I, dtype=torch.float64)), TypeError,
     "input must have the dtype of the LSTM's parameters, torch.float32, got torch.float64"),
])
def test_call_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(LSTM(I, H))


def test_hx_on_wrong_device_is_named():
    meta = torch.zeros(1, B, H, device="meta")
    with pytest.raises(ValueError, match=re.escape("hx h_0 must be on device cpu")):
        LSTM(I, H)(torch.randn(T, B, I), (meta, torch.zeros(1, B, H)))


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"backend": "reference"}])
def test_input_on_another_device_than_the_parameters_is_named(options):
    # (nn.LSTM's own message comes only on its plain path; the variants failed in a kernel)
    message = "input must be on the device of the LSTM's parameters, {}, got {}"
    with pytest.raises(ValueError, match=re.escape(message.format("cpu", "meta"))):
        LSTM(I, H, **options)(torch.randn(T, B, I, device="meta"))
    with pytest.raises(ValueError, match=re.escape(message.format("meta", "cpu"))):
        LSTM(I, H, device="meta", **options)(torch.randn(T, B, I), lengths=[4, 2, 1])
    with pytest.raises(ValueError, match=re.escape(message.format("cpu", "meta"))):
        LSTM(I, H, **options).trace(torch.randn(T, B, I, device="meta"))
    with pytest.raises(ValueError, match=re.escape(message.format("cpu", "meta").replace(
            "LSTM's", "LSTMCell's"))):
        LSTMCell(I, H)(torch.randn(B, I, device="meta"))
    with pytest.raises(ValueError, match=re.escape("x_t must be on the device of the LSTM's "
                                                   "parameters, cpu, got meta")):
        LSTM(I, H, **options).step(torch.randn(B, I, device="meta"))


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"backend": "reference"},
                                     {"bidirectional": True, "num_layers": 2}])
def test_a_meta_input_takes_lengths_and_reset_checked_by_shape_alone(options):
    # (the value checks raised torch's bare "Tensor.item() cannot be called on meta tensors",
    # and the plain LSTM's packing "Cannot copy out of meta tensor; no data!")
    from torch.nn.utils.rnn import pack_padded_sequence

    lstm = LSTM(I, H, device="meta", **options)
    cfg = lstm.config
    x = torch.empty(T, B, I, device="meta")
    lengths = torch.tensor([4, 2, 1], device="meta")
    reset = torch.zeros(T, B, dtype=torch.bool, device="meta")
    for kwargs in ({"lengths": lengths}, {"lengths": [4, 2, 1]}, {"reset": reset},
                   {"lengths": lengths, "reset": reset}):
        out, (h, c) = lstm(x, **kwargs)
        assert out.is_meta and out.shape == (T, B, cfg.num_directions * H)
        assert h.shape == c.shape == (cfg.num_layers * cfg.num_directions, B, H)
    out, _ = lstm(x[:, 0], lengths=torch.tensor(T, device="meta"))  # unbatched
    assert out.shape == (T, cfg.num_directions * H)
    trace = lstm.trace(x, lengths=lengths)
    assert trace.h.shape == (cfg.num_layers * cfg.num_directions, T, B, H)
    packed = pack_padded_sequence(x, torch.tensor([4, 2, 1]))
    out, _ = lstm(packed)
    assert out.data.is_meta and out.data.shape == (7, cfg.num_directions * H)
    # the shapes are still checked, and lengths that hold values their values
    with pytest.raises(ValueError, match=re.escape("lengths must have shape (3,) (one per "
                                                   "sequence), got (2,)")):
        lstm(x, lengths=lengths[:2])
    with pytest.raises(TypeError, match=re.escape("lengths must hold integers, got dtype "
                                                  "torch.float32")):
        lstm(x, lengths=lengths.float())
    with pytest.raises(ValueError, match=re.escape("reset must have shape (4, 3) (T, B), got "
                                                   "(3, 4)")):
        lstm(x, reset=reset.t())
    with pytest.raises(ValueError, match=re.escape("lengths must be in [1, 4] (T), got values "
                                                   "in [1, 5]")):
        lstm(x, lengths=[4, 5, 1])


def test_meta_lengths_reset_or_packing_that_cannot_serve_are_named():
    x = torch.randn(T, B, I)
    for name, kwargs in (("lengths", {"lengths": torch.tensor([4, 2, 1], device="meta")}),
                         ("reset", {"reset": torch.zeros(T, B, dtype=torch.bool,
                                                         device="meta")})):
        # (torch's bare "Cannot copy out of meta tensor; no data!")
        with pytest.raises(ValueError, match=re.escape(
                f"{name} must hold values, got a tensor on the meta device (which holds "
                f"none) for an input on cpu; give {name} on cpu")):
            LSTM(I, H, peephole=True)(x, **kwargs)
    meta = torch.empty(T, B, I, device="meta")
    with pytest.raises(ValueError, match=re.escape(
            "backend='torch' runs lengths= on a batch packed by their values, which an input "
            "on the meta device has none of; use backend='auto' or 'reference'")):
        LSTM(I, H, backend="torch", device="meta")(meta, lengths=[4, 2, 1])
    from torch.nn.utils.rnn import pack_padded_sequence

    unsorted = pack_padded_sequence(meta, torch.tensor([2, 4, 1]), enforce_sorted=False)
    with pytest.raises(ValueError, match=re.escape(
            "input must be a PackedSequence of sorted sequences (enforce_sorted=True) on the "
            "meta device here, got one with unsorted_indices")):
        LSTM(I, H, peephole=True, device="meta")(unsorted)
    assert LSTM(I, H, device="meta")(unsorted)[0].data.shape == (7, H)  # (torch's op takes it)


def test_a_reset_of_the_wrong_shape_names_the_layout():
    x = torch.randn(B, T, I)
    with pytest.raises(ValueError, match=re.escape("reset must have shape (3, 4) (B, T), as "
                                                   "batch_first, got (4, 3)")):
        LSTM(I, H, batch_first=True)(x, reset=torch.zeros(T, B, dtype=torch.bool))
    with pytest.raises(ValueError, match=re.escape("reset must have shape (4,) (T,), got (4, 1)")):
        LSTM(I, H)(x[0], reset=torch.zeros(T, 1, dtype=torch.bool))


def test_an_unbatched_inputs_state_of_three_dimensions_is_explained():
    message = ("hx h_0 must have shape (1, 6), got (1, 1, 6) (the state of an unbatched 2-D "
               "input is 2-D too)")
    with pytest.raises(ValueError, match=re.escape(message)):
        LSTM(I, H)(torch.randn(T, I), (torch.zeros(1, 1, H),) * 2)


def test_torch_backend_refuses_resets():
    with pytest.raises(ValueError, match=re.escape("but reset= is given")):
        LSTM(I, H, backend="torch")(torch.randn(T, B, I), reset=torch.zeros(T, B, dtype=bool))


def test_step_errors():
    with pytest.raises(ValueError, match="step needs a unidirectional LSTM"):
        LSTM(I, H, bidirectional=True).step(torch.randn(B, I))
    with pytest.raises(ValueError, match=re.escape("x_t must have 5 features (input_size), got 4")):
        LSTM(I, H).step(torch.randn(B, 4))
    with pytest.raises(ValueError, match=re.escape("state c_0 must have shape (1, 3, 6)")):
        LSTM(I, H).step(torch.randn(B, I), (torch.zeros(1, B, H), torch.zeros(2, B, H)))
    message = "state h_0 must have shape (1, 6), got (1, 3, 6)"  # an unbatched x_t
    with pytest.raises(ValueError, match=re.escape(message)):
        LSTM(I, H).step(torch.randn(I), (torch.zeros(1, B, H), torch.zeros(1, B, H)))
    for grad in (False, True):  # the fused step and the reference cell
        with torch.set_grad_enabled(grad), pytest.raises(TypeError, match=re.escape(
                "x_t must have the dtype of the LSTM's parameters, torch.float32, got "
                "torch.float64")):
            LSTM(I, H, peephole=True).step(torch.randn(B, I, dtype=torch.float64))
        with torch.set_grad_enabled(grad), pytest.raises(TypeError, match=re.escape(
                "x_t must be a floating-point tensor, got dtype torch.int64")):
            LSTM(I, H).step(torch.ones(B, I, dtype=torch.long))


def test_an_empty_batch_passes_through_like_nn_lstm():
    x = torch.randn(T, 0, I)
    for backend in ("auto", "reference"):
        out, (h, c) = LSTM(I, H, backend=backend)(x, lengths=torch.zeros(0, dtype=torch.long))
        assert out.shape == (T, 0, H) and h.shape == c.shape == (1, 0, H)


def test_cell_errors():
    cell = LSTMCell(I, H)
    message = "input must have 5 features (input_size), got 2"
    with pytest.raises(ValueError, match=re.escape(message)):
        cell(torch.randn(B, 2))
    with pytest.raises(ValueError, match=re.escape("hx h_0 must have shape (3, 6), got (3, 5)")):
        cell(torch.randn(B, I), (torch.zeros(B, 5), torch.zeros(B, H)))
    with pytest.raises(TypeError, match=re.escape(  # (it said the LSTM's, lstm.to(dtype))
            "input must have the dtype of the LSTMCell's parameters, torch.float32, got "
            "torch.float64; convert one of them (.to(dtype) / lstmcell.to(dtype))")):
        cell(torch.randn(B, I, dtype=torch.float64))
    with pytest.raises(TypeError, match=re.escape("dtype must be a floating-point torch "
                                                  "dtype")):
        LSTMCell(I, H, dtype=torch.int32)


def test_the_functional_scan_checks_its_weights_against_its_options():
    # peephole options with weights without peepholes failed inside: 'NoneType' object is
    # not subscriptable
    from lstmkit.nn.functional import CellOptions, lstm_scan

    plain = LSTM(I, H).cell_weights(0, 0)
    x, h0 = torch.randn(T, B, I), torch.zeros(B, H)
    with pytest.raises(ValueError, match=re.escape(
            "options.peephole needs weight_peephole of shape (3, 6), got None")):
        lstm_scan(x, h0, h0, plain, CellOptions(peephole=True))
    with pytest.raises(ValueError, match=re.escape(
            "weight_ih and weight_hh must have 3 * hidden_size = 18 rows for coupled gates "
            "of 6 units (options.coupled_gates=True, c0 of 6), got 24 and 24")):
        lstm_scan(x, h0, h0, plain, CellOptions(coupled_gates=True))
    peephole = LSTM(I, H, peephole=True).cell_weights(0, 0)
    with pytest.raises(ValueError, match=r"weight_peephole is given but options.peephole is "
                                         r"False"):
        lstm_scan(x, h0, h0, peephole, CellOptions())


def test_positive_int_says_its_whole_range() -> None:
    from lstmkit.nn.config import positive_int

    with pytest.raises(TypeError, match=r"^x must be an int in \[1, 10\], got float 1.5$"):
        positive_int("x", 1.5, maximum=10)
    with pytest.raises(TypeError, match=r"^x must be an int >= 0, got str '1'$"):
        positive_int("x", "1", minimum=0)
