"""Zoneout's keep masks: the kernel's sampler draws the reference sampler's stream, at rate p."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit import LSTM
from lstmkit.nn.functional import keep_mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("size", [(1,), (7,), (4, 5, 7), (30, 3, 64), (0, 3), (2, 0),
                                  (70_001,)])  # the last spans several threads' chunks
def test_kernel_sampler_draws_the_reference_stream(fused_ext, size, dtype):
    for seed in (0, 1, 12345, (1 << 62) - 1, -(1 << 62)):
        for p in (0.0, 0.1, 0.5, 0.999, 1.0):
            s = torch.tensor(seed)
            ours = torch.ops.lstmkit.keep_mask(s, size, p, dtype)
            ref = keep_mask(s, size, p, dtype)
            assert ours.shape == ref.shape == torch.Size(size)
            assert ours.dtype == ref.dtype == dtype
            assert torch.equal(ours, ref), (seed, size, p)


def test_keep_mask_is_0_1_at_rate_p_with_independent_neighbours():
    """10^6 draws: the rate, and pairs from one word and from adjacent words, within 5 sigma."""
    n = 1_000_000
    for seed, p in ((3, 0.1), (4, 0.5), (5, 0.9)):
        m = keep_mask(torch.tensor(seed), (n,), p, torch.float64)
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        rate = m.mean().item()
        assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n), (p, rate)
        for a, b in ((m[0::2], m[1::2]), (m[1:-1:2], m[2::2])):  # same word, adjacent words
            both = (a * b).mean().item()
            sd = math.sqrt(p * p * (1 - p * p) / a.numel())
            assert abs(both - p * p) < 5 * sd, (p, both)
    assert keep_mask(torch.tensor(0), (1000,), 0.0, torch.float32).sum() == 0
    assert keep_mask(torch.tensor(0), (1000,), 1.0, torch.float32).sum() == 1000


def test_seeds_give_different_streams_and_the_same_seed_the_same():
    a, b = (keep_mask(torch.tensor(s), (4096,), 0.5, torch.float32) for s in (1, 2))
    assert not torch.equal(a, b)
    assert torch.equal(a, keep_mask(torch.tensor(1), (4096,), 0.5, torch.float32))


def test_kernel_sampler_checks_its_arguments_and_has_a_meta_kernel(fused_ext):
    with pytest.raises(RuntimeError, match="seed must be one int64, got Float"):
        torch.ops.lstmkit.keep_mask(torch.tensor(1.0), (3,), 0.5, torch.float32)
    with pytest.raises(RuntimeError, match=r"p must be in \[0, 1\], got 1.5"):
        torch.ops.lstmkit.keep_mask(torch.tensor(1), (3,), 1.5, torch.float32)
    meta = torch.ops.lstmkit.keep_mask(torch.tensor(1, device="meta"), (5, 2), 0.5, torch.float64)
    assert meta.device.type == "meta" and meta.shape == (5, 2) and meta.dtype == torch.float64


def test_zoneout_masks_follow_torch_seed_on_every_backend(fused_ext):
    """One torch seed, one set of masks: the fused and the reference stack train alike, and a
    new seed moves the masks."""
    torch.manual_seed(0)
    ref = LSTM(3, 6, zoneout=0.4, backend="reference").double().train()
    fused = LSTM(3, 6, zoneout=0.4, backend="fused").double().train()
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(12, 4, 3, dtype=torch.float64)
    outs = []
    for model, seed in ((ref, 7), (fused, 7), (fused, 8)):
        torch.manual_seed(seed)
        outs.append(model(x)[0])
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-12)
    assert not torch.allclose(outs[2], outs[1])


def test_a_unit_the_fused_kernel_zones_out_keeps_its_previous_value_exactly(fused_ext):
    """As the reference's torch.lerp keeps it (the blend h_new + z (h_prev - h_new), at z = 1,
    left a kept unit an ulp away from its previous value: 34% of h exactly kept, not 40%)."""
    torch.manual_seed(0)
    ref = LSTM(4, 50, zoneout=(0.0, 0.4), backend="reference").train()
    fused = LSTM(4, 50, zoneout=(0.0, 0.4), backend="fused").train()
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(60, 8, 4)
    outs = []
    for model in (ref, fused):
        torch.manual_seed(1)
        outs.append(model(x)[0])
    kept = outs[0][1:] == outs[0][:-1]
    assert abs(kept.float().mean().item() - 0.4) < 0.02
    assert (outs[1][1:] == outs[1][:-1])[kept].all()


def test_compiled_reference_sampler_draws_the_eager_stream():
    # its int64 products wrap in eager torch; inlined into inductor's C++ they overflowed
    # (undefined behaviour), and element 1216 of 1221 differed, or the process aborted
    compiled = torch.compile(keep_mask, fullgraph=True)
    for n in (1221, 611):
        s = torch.tensor(5)
        assert torch.equal(compiled(s, (n,), 0.3, torch.float32),
                           keep_mask(s, (n,), 0.3, torch.float32))


def _seed_whose_first_number_is_zero() -> int:
    """Invert SplitMix64's output function: the seed whose word 0 is 2**32 (element 0 reads
    the low half, 0)."""
    mask = (1 << 64) - 1
    x = 1 << 32
    x ^= (x >> 31) ^ (x >> 62)
    x = (x * pow(0x94D049BB133111EB, -1, 1 << 64)) & mask
    x ^= (x >> 27) ^ (x >> 54)
    x = (x * pow(0xBF58476D1CE4E5B9, -1, 1 << 64)) & mask
    x ^= (x >> 30) ^ (x >> 60)
    seed = (x - 0x9E3779B97F4A7C15) & mask
    return seed - (1 << 64) if seed >= 1 << 63 else seed


def test_thresholds_round_half_up_in_both_samplers(fused_ext):
    # p * 2**32 = 1/2: Python's round() went to 0 (half to even), C++'s llround to 1
    s = torch.tensor(_seed_whose_first_number_is_zero())
    assert keep_mask(s, (2,), 0.0, torch.float32).tolist() == [0.0, 0.0]
    for p in (2.0**-33, 2.0**-32):
        ours = torch.ops.lstmkit.keep_mask(s, (2,), p, torch.float32)
        assert torch.equal(keep_mask(s, (2,), p, torch.float32), ours)
        assert ours[0] == 1.0  # the number 0 is below a threshold of 1
