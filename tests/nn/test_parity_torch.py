"""A plain lstmkit.LSTM against torch.nn.LSTM: same state dict, same outputs, same gradients."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from lstmkit import LSTM, LSTMCell

T, B, I, H, P = 4, 3, 5, 6, 3
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
LENGTHS = [4, 2, 3]

GRID = list(itertools.product([1, 2], [False, True], [0, P], [False, True], [False, True]))


def _grads(module, inputs):
    return [p.grad.clone() for p in module.parameters()] + [t.grad.clone() for t in inputs]


def _run(module, x, hx, packed, batch_first):
    inputs = [x, *hx]
    for t in inputs:
        t.grad = None
    module.zero_grad()
    if packed:
        x_in = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, (h_n, c_n) = module(x_in, hx)
        out = out.data
    else:
        out, (h_n, c_n) = module(x, hx)
    # weight every output differently so permuted gradients cannot cancel
    loss = sum((t * torch.linspace(-1, 2, t.numel(), dtype=t.dtype).view_as(t)).sum()
               for t in (out, h_n, c_n))
    loss.backward()
    return [out, h_n, c_n], _grads(module, inputs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend", ["reference", "torch"])
@pytest.mark.parametrize(("layers", "bidirectional", "proj", "batch_first", "packed"), GRID)
def test_plain_lstm_matches_torch(dtype, backend, layers, bidirectional, proj, batch_first,
                                  packed):
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, proj_size=proj,
                  batch_first=batch_first)
    theirs = torch.nn.LSTM(I, H, **kwargs).to(dtype)
    ours = LSTM(I, H, backend=backend, **kwargs).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    d = 2 if bidirectional else 1
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    h0 = torch.randn(layers * d, B, proj or H, dtype=dtype, requires_grad=True)
    c0 = torch.randn(layers * d, B, H, dtype=dtype, requires_grad=True)
    out_t, grads_t = _run(theirs, x, (h0, c0), packed, batch_first)
    out_o, grads_o = _run(ours, x, (h0, c0), packed, batch_first)
    assert ours.last_backend.name == backend
    for a, b in zip(out_t + grads_t, out_o + grads_o, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("backend", ["reference", "torch"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_match_packed_torch(backend, bidirectional):
    """lengths= gives what nn.LSTM gives on the packed batch: zero padding, own-end states."""
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=bidirectional).double()
    ours = LSTM(I, H, num_layers=2, bidirectional=bidirectional, backend=backend).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    packed_out, (h_t, c_t) = theirs(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    padded_t, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, total_length=T)
    out, (h_n, c_n) = ours(x, lengths=torch.tensor(LENGTHS))
    for a, b in ((padded_t, out), (h_t, h_n), (c_t, c_n)):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)
    assert out[2:, 1].abs().max() == 0  # past the end of sequence 1 (length 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cell_matches_torch_cell(dtype):
    theirs = torch.nn.LSTMCell(I, H).to(dtype)
    ours = LSTMCell(I, H).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(B, I, dtype=dtype, requires_grad=True)
    hx = (torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype))
    results = []
    for module in (theirs, ours):
        x.grad = None
        module.zero_grad()
        h, c = module(x, hx)
        (h.sum() * 2 + (c * c).sum()).backward()
        results.append([h, c, x.grad.clone(), *[p.grad.clone() for p in module.parameters()]])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, atol=TOLERANCE[dtype], rtol=0)
    # unbatched
    torch.testing.assert_close(ours(x[0])[0], theirs(x[0])[0], atol=TOLERANCE[dtype], rtol=0)


def test_unbatched_input_matches_torch():
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True).double()
    for backend in ("reference", "torch"):
        ours = LSTM(I, H, num_layers=2, bidirectional=True, backend=backend).double()
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(T, I, dtype=torch.float64)
        hx = (torch.randn(4, H, dtype=torch.float64), torch.randn(4, H, dtype=torch.float64))
        out_t, (h_t, c_t) = theirs(x, hx)
        out_o, (h_o, c_o) = ours(x, hx)
        assert out_o.shape == (T, 2 * H) and h_o.shape == (4, H)
        for a, b in ((out_t, out_o), (h_t, h_o), (c_t, c_o)):
            torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


def test_all_weights_and_flatten_parameters_like_torch():
    ours = LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P)
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P)
    ours.flatten_parameters()  # code written for nn.LSTM calls it
    assert [[tuple(p.shape) for p in cell] for cell in ours.all_weights] == \
        [[tuple(p.shape) for p in cell] for cell in theirs.all_weights]
    assert ours.all_weights[3][1] is ours.weight_hh_l1_reverse
    for module in (ours, theirs):  # a wrapped weight is listed as its effective tensor
        torch.nn.utils.parametrizations.weight_norm(module, "weight_hh_l0")
    assert [[tuple(p.shape) for p in cell] for cell in ours.all_weights] == \
        [[tuple(p.shape) for p in cell] for cell in theirs.all_weights]


@pytest.mark.parametrize("options", [{"bias": False}, {"proj_size": P}])
def test_mode_and_flat_weights_like_torch(options: dict):
    # code that handles any torch RNN reads them
    ours = LSTM(I, H, num_layers=2, bidirectional=True, **options)
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, **options)
    assert ours.mode == theirs.mode == "LSTM"
    assert ours._flat_weights_names == theirs._flat_weights_names
    assert ours._all_weights == theirs._all_weights
    assert all(a is getattr(ours, n) for a, n in zip(ours._flat_weights,
                                                      ours._flat_weights_names, strict=True))
    torch.nn.utils.parametrizations.weight_norm(ours, "weight_hh_l1")
    effective = ours._flat_weights[ours._flat_weights_names.index("weight_hh_l1")]
    torch.testing.assert_close(effective, ours.weight_hh_l1)
    assert effective.grad_fn is not None  # computed by the parametrization
    peephole = LSTM(I, H, peephole=True)
    assert peephole._flat_weights_names == [*torch.nn.LSTM(I, H)._flat_weights_names,
                                            "weight_peephole_l0"]


def test_constructor_takes_what_torch_takes():
    np = pytest.importorskip("numpy")
    args = (I, H, np.int64(2), True, False, np.float32(0.5), 1, np.int64(2), "cpu",
            torch.float64)
    ours = LSTM(*args)
    assert torch.nn.LSTM(*args).weight_hr_l0.dtype == torch.float64  # nn takes them too
    assert ours.weight_hr_l0.dtype == torch.float64 and ours.bidirectional is True
    assert repr(ours) == repr(torch.nn.LSTM(I, H, 2, dropout=0.5, bidirectional=True, proj_size=2))
    assert type(ours.config.num_layers) is int and ours.dropout == 0.5
    assert LSTM(I, H, num_layers=2, dropout=1).dropout == 1.0  # nn's range is [0, 1]


def test_cell_constructor_takes_what_torch_takes():
    args = (I, H, False, "cpu", torch.float64)
    ours, theirs = LSTMCell(*args), torch.nn.LSTMCell(*args)
    assert ours.weight_ih.dtype == theirs.weight_ih.dtype == torch.float64
    assert repr(ours) == repr(theirs) == f"LSTMCell({I}, {H}, bias=False)"
    assert repr(LSTMCell(I, H, peephole=True)) == f"LSTMCell({I}, {H}, peephole=True)"


def test_dropout_and_batch_first_can_be_set_as_on_torch():
    torch.manual_seed(0)
    ours = LSTM(I, H, num_layers=2, dropout=0.9).train()
    x = torch.randn(T, B, I)
    ours.dropout = 0.0  # code written for nn.LSTM switches it off this way
    torch.testing.assert_close(ours(x)[0], ours(x)[0])
    ours.batch_first = True
    assert ours(x.transpose(0, 1))[0].shape == (B, T, H)
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\], got 2"):
        ours.dropout = 2
    with pytest.raises(AttributeError, match="hidden_size cannot change once the LSTM is built"):
        ours.hidden_size = 8


def test_state_dict_round_trip_to_torch():
    ours = LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P)
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(theirs(x)[0], ours(x)[0], atol=1e-6, rtol=0)
