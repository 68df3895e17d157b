"""CRF against brute-force enumeration; tag schemes against their definitions."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from lstmkit.tagging import (
    CRF,
    SCHEMES,
    Span,
    allowed_transitions,
    convert,
    spans_from_tags,
    tag_set,
    tags_from_spans,
    validate,
)


def _brute_force(crf: CRF, emissions: torch.Tensor, n: int) -> dict[tuple[int, ...], float]:
    K = emissions.shape[-1]
    scores = {}
    for path in itertools.product(range(K), repeat=n):
        tags = torch.tensor(list(path) + [0] * (emissions.shape[1] - n))[None]  # (1, T)
        scores[path] = crf.score(emissions, tags, torch.tensor([n])).item()
    return scores


@pytest.mark.parametrize("constrained", [False, True])
def test_crf_log_partition_and_viterbi_match_brute_force(constrained: bool) -> None:
    torch.manual_seed(1)
    K, T = 3, 4
    kwargs = {}
    if constrained:
        kwargs = {"allowed": [[1, 1, 0], [1, 1, 1], [1, 0, 1]],
                  "allowed_start": [1, 0, 1], "allowed_end": [1, 1, 0]}
    crf = CRF(K, **kwargs).double()
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    emissions = torch.randn(3, T, K, dtype=torch.double)
    lengths = torch.tensor([4, 2, 1])
    log_z = crf.log_partition(emissions, lengths)
    paths = crf.decode(emissions, lengths)
    for b in range(3):
        n = int(lengths[b])
        scores = _brute_force(crf, emissions[b : b + 1], n)
        expected = math.log(sum(math.exp(s) for s in scores.values()))
        assert log_z[b].item() == pytest.approx(expected, rel=1e-10)
        best = max(scores, key=scores.get)
        assert tuple(paths[b]) == best
        if constrained:  # forbidden moves are never chosen
            assert kwargs["allowed_start"][best[0]] and kwargs["allowed_end"][best[-1]]
            assert all(kwargs["allowed"][a][c] for a, c in itertools.pairwise(best))


def test_crf_span_probabilities_are_the_marginals_of_brute_force() -> None:
    # an entity's score: the probability of its tokens' tags, summed over every path
    torch.manual_seed(2)
    K, T = 3, 4
    crf = CRF(K, allowed=[[1, 1, 0], [1, 1, 1], [1, 0, 1]], allowed_end=[1, 1, 0]).double()
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    emissions = torch.randn(2, T, K, dtype=torch.double)
    lengths = torch.tensor([4, 3])
    spans, expected = [], []
    for b in range(2):
        n = int(lengths[b])
        scores = _brute_force(crf, emissions[b : b + 1], n)
        total = sum(math.exp(v) for v in scores.values())
        for start, end in ((0, 1), (1, 3), (0, n), (n - 1, n)):
            for tags in itertools.product(range(K), repeat=end - start):
                mass = sum(math.exp(v) for path, v in scores.items()
                           if path[start:end] == tags)
                if mass > 0:  # (a stretch no allowed path has is -inf)
                    spans.append((b, start, end, list(tags)))
                    expected.append(mass / total)
    got = [math.exp(v) for v in crf.span_log_probs(emissions, lengths, spans)]
    assert got == pytest.approx(expected, rel=1e-9)
    # a long sentence, in float32 as the tagger runs: still a probability (it exceeded 1,
    # log Z growing with the length as float32 rounded the small differences away)
    long = CRF(9)
    emissions = 20 * torch.randn(1, 2000, 9)
    path = long.decode(emissions, torch.tensor([2000]))[0]
    logs = long.span_log_probs(emissions, torch.tensor([2000]),
                               [(0, t, t + 1, [path[t]]) for t in range(0, 2000, 7)])
    reference = long.double().span_log_probs(emissions.double(), torch.tensor([2000]),
                                             [(0, t, t + 1, [path[t]]) for t in
                                              range(0, 2000, 7)])
    assert max(logs) <= 0.0 and logs == pytest.approx(reference, abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_crf_fast_decode_and_span_scores_match_the_step_by_step_reference(
        dtype: torch.dtype) -> None:
    # decode and span_log_probs run in numpy (Viterbi traced back for all rows at once, a
    # scaled forward-backward, only the rows that hold a span); the torch loops they replace
    # are kept as the reference: the same paths (ties too: first tag wins) and the same scores
    from lstmkit.text.batching import lengths_to_mask

    gen = torch.Generator().manual_seed(5)
    tags = tag_set(["PER", "LOC"], "BIOES")
    checked = 0
    for trial in range(40):
        constrained = trial % 2 == 0
        K = len(tags) if constrained else 1 + trial % 5
        crf = CRF(K, *allowed_transitions(tags, "BIOES")) if constrained else CRF(K)
        with torch.no_grad():
            crf.transitions.normal_(0, [0.1, 1.0, 4.0][trial % 3], generator=gen)
            crf.start.normal_(generator=gen)
            crf.end.normal_(generator=gen)
        B, T = 1 + trial % 7, 1 + (3 * trial) % 23
        lengths = torch.randint(1, T + 1, (B,), generator=gen)
        lengths[trial % B] = T
        emissions = ([1, 5, 20][trial % 3] * torch.randn(B, T, K, generator=gen)).to(dtype)
        if trial % 4 == 1:  # whole numbers: ties between paths, broken the same way
            emissions = emissions.round()
        mask = lengths_to_mask(lengths, T)
        paths = crf.decode(emissions, lengths)
        assert paths == crf._decode_reference(emissions, lengths, mask)
        assert [len(p) for p in paths] == lengths.tolist()
        spans = [(b, s, e, paths[b][s:e]) for b in range(B) if b % 3 != 1  # rows without
                 for s in range(int(lengths[b])) for e in {s + 1, int(lengths[b])}]  # spans
        got = crf.span_log_probs(emissions, lengths, spans)
        expected = crf._span_log_probs_reference(emissions.detach(), mask, spans)
        assert got == pytest.approx(expected, abs=1e-9)
        checked += len(spans)
    assert checked > 500
    assert crf.span_log_probs(emissions, lengths, []) == []


def test_crf_span_scores_fall_back_to_log_space_out_of_range() -> None:
    # emissions thousands apart leave float64's range in probability space: the scores are
    # then those of the log-space computation, not NaN or 0
    from lstmkit.tagging.crf import _span_log_probs_scaled

    crf = CRF(3)
    emissions = torch.tensor([[[0.0, -3000.0, 10.0], [-2000.0, 0.0, 5.0], [1.0, 2.0, -900.0]]])
    lengths = torch.tensor([3])
    path = crf.decode(emissions, lengths)[0]
    spans = [(0, 0, 3, path), (0, 1, 2, [0]), (0, 0, 1, [2])]
    trans, start, end = (x.detach().double().numpy() for x in crf.scores())
    assert _span_log_probs_scaled(emissions.double().numpy(), lengths.numpy(), trans, start,
                                  end, spans) is None
    got = crf.span_log_probs(emissions, lengths, spans)
    assert got == crf._span_log_probs_reference(emissions, torch.ones(1, 3, dtype=torch.bool),
                                                spans)
    assert -1 < got[0] < 0 and got[1] < -1000


def test_crf_nll_is_minus_log_probability_and_trains() -> None:
    torch.manual_seed(0)
    crf = CRF(4)
    emissions = torch.randn(2, 5, 4, requires_grad=True)
    tags = torch.randint(0, 4, (2, 5))
    lengths = torch.tensor([5, 3])
    nll = crf.nll(emissions, tags, lengths)
    expected = (crf.log_partition(emissions, lengths) - crf.score(emissions, tags, lengths))
    assert nll.item() == pytest.approx(expected.mean().item())
    assert nll.item() > 0
    optimizer = torch.optim.Adam([*crf.parameters(), emissions], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        crf.nll(emissions, tags, lengths).backward()
        optimizer.step()
    decoded = crf.decode(emissions, lengths)
    assert decoded[0] == tags[0].tolist() and decoded[1] == tags[1, :3].tolist()


def test_crf_gradcheck() -> None:
    crf = CRF(3).double()
    emissions = torch.randn(2, 3, 3, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([3, 2])
    assert torch.autograd.gradcheck(lambda e: crf.log_partition(e, lengths), (emissions,))


def test_crf_errors() -> None:
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"emissions must have shape \(B, T, 3\), got \(2, 4\)"):
        crf.log_partition(torch.zeros(2, 4), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\) with values in"):
        crf.log_partition(torch.zeros(2, 4, 3), torch.tensor([5, 1]))
    with pytest.raises(ValueError, match=r"allowed must have shape \(3, 3\), got \(2, 2\)"):
        CRF(3, allowed=[[True, True], [True, True]])


IOB2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
SPANS = [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 6, "LOC"), Span(7, 8, "ORG")]
ENCODED = {
    "IOB1": ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "O", "I-ORG"],
    "IOB2": IOB2,
    "IOE1": ["I-PER", "I-PER", "O", "E-LOC", "I-LOC", "I-LOC", "O", "I-ORG"],
    "IOE2": ["I-PER", "E-PER", "O", "E-LOC", "I-LOC", "E-LOC", "O", "E-ORG"],
    "BIOES": ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"],
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_encodes_and_decodes_the_same_spans(scheme: str) -> None:
    assert tags_from_spans(SPANS, 8, scheme) == ENCODED[scheme]  # type: ignore[arg-type]
    assert spans_from_tags(ENCODED[scheme]) == SPANS
    validate(ENCODED[scheme], scheme)  # type: ignore[arg-type]
    for target in SCHEMES:
        assert convert(ENCODED[scheme], scheme, target) == ENCODED[target]  # type: ignore


@pytest.mark.parametrize(("tags", "scheme", "message"), [
    (["O", "I-PER"], "IOB2", r"at token 2: 'I-PER' between 'O' and 'the sentence end' "
                             r"\(expected 'B-PER'\)"),
    (["B-PER", "I-LOC"], "IOB2", r"at token 2: 'I-LOC'"),
    (["B-PER", "O"], "BIOES", r"at token 1: 'B-PER' .*\(expected 'S-PER'\)"),
    (["O", "B-PER"], "IOB1", r"at token 2: 'B-PER'"),
    (["I-PER", "O"], "IOE2", r"at token 1"),
    (["S-PER"], "IOB2", r"tag 'S-PER' at token 1 is not valid in IOB2"),
])
def test_invalid_sequences_are_rejected_with_position(tags, scheme, message) -> None:
    with pytest.raises(ValueError, match=message):
        validate(tags, scheme, where="f.conll:3")
    with pytest.raises(ValueError, match=r"f\.conll:3: "):
        validate(tags, scheme, where="f.conll:3")


def test_malformed_tags_and_unknown_scheme() -> None:
    message = re.escape("tag must be 'O' or '<B|I|E|S>-<type>', got 'PER'")
    with pytest.raises(ValueError, match=message):
        spans_from_tags(["PER"])
    with pytest.raises(ValueError, match=r"scheme must be one of \['IOB1'"):
        validate(["O"], "IOX")  # type: ignore[arg-type]
    assert convert(["B-X"], "BIO", "IOBES") == ["S-X"]  # type: ignore[arg-type]
    # IOB and IOE each name two schemes (IOB meant IOB2 here, CoNLL-2003's files are IOB1)
    for name, choices in (("iob", r"IOB1 \(CoNLL-2003's.* or IOB2"), ("IOE", r"IOE1 .* or IOE2")):
        with pytest.raises(ValueError, match=rf"scheme '{name}' names two schemes, {choices}"):
            validate(["O"], name)  # type: ignore[arg-type]


def test_lenient_decoding_follows_conlleval() -> None:
    # predictions that break IOB2 are read as conlleval reads them
    assert spans_from_tags(["O", "I-PER", "I-LOC"]) == [Span(1, 2, "PER"), Span(2, 3, "LOC")]
    assert spans_from_tags(["B-creative-work", "I-creative-work"]) == [
        Span(0, 2, "creative-work")]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_allowed_transitions_agree_with_validation_by_enumeration(scheme: str) -> None:
    tags = tag_set(["X", "Y"], scheme)  # type: ignore[arg-type]
    allowed, start, end = allowed_transitions(tags, scheme)  # type: ignore[arg-type]
    assert not all(all(row) for row in allowed)  # something is forbidden in every scheme
    for n in (1, 2, 3):
        for path in itertools.product(range(len(tags)), repeat=n):
            sequence = [tags[i] for i in path]
            try:
                validate(sequence, scheme)  # type: ignore[arg-type]
                valid = True
            except ValueError:
                valid = False
            chain = start[path[0]] and end[path[-1]] and all(
                allowed[a][b] for a, b in itertools.pairwise(path))
            assert chain == valid, (scheme, sequence)


def test_scheme_helpers_and_span_scores_name_input_of_the_wrong_shape() -> None:
    from lstmkit.tagging import span_scores
    from lstmkit.tagging.schemes import spans_from_tags, tag_set, tags_from_spans

    # a str was split into characters: types 'E', 'P', 'R'
    with pytest.raises(TypeError, match=r"types must be a collection of str entity types, "
                                        r"got str 'PER' \(one type: pass \['PER'\]\)"):
        tag_set("PER", "IOB2")
    assert tag_set(("PER",), "IOB2") == ["O", "B-PER", "I-PER"]
    # an empty type is a bad value, not a wrong type: it raised TypeError
    with pytest.raises(ValueError, match=r"types must hold non-empty str entity types, got "
                                         r"str ''$"):
        tag_set(["PER", ""], "IOB2")
    with pytest.raises(TypeError, match=r"types must hold non-empty str entity types, got "
                                        r"int 1$"):
        tag_set(["PER", 1], "IOB2")  # type: ignore[list-item]
    # -1 gave no tags and True one
    with pytest.raises(ValueError, match=r"length must be an int >= 0 \(the number of "
                                         r"tokens\), got int -1"):
        tags_from_spans([], -1, "IOB2")
    with pytest.raises(TypeError, match=r"length must be an int >= 0 .*, got bool True"):
        tags_from_spans([], True, "IOB2")  # type: ignore[arg-type]
    # None: "Value after * must be an iterable"; [1]: "'int' object has no attribute"
    with pytest.raises(TypeError, match=r"tags must be a sequence of str tags \(a list\), got "
                                        r"NoneType None"):
        spans_from_tags(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tags\[1\] must be a str, got int 1"):
        spans_from_tags(["O", 1])  # type: ignore[list-item]
    # [] raised seqeval's "Found input variables without list of list"
    with pytest.raises(ValueError, match="gold and predicted must hold at least one sentence"):
        span_scores([], [])
    # a flat list was read as sentences of characters: "gold has 5 tags and predicted 1"
    with pytest.raises(TypeError, match=r"gold\[0\] must be a sequence of str tags \(a list\), "
                                        r"got a single str 'B-PER'; for one, pass it in a list"):
        span_scores(["B-PER"], [["O"]])
    with pytest.raises(TypeError, match=r"predicted must be a sequence of tag sequences, one "
                                        r"per sentence, got NoneType"):
        span_scores([["O"]], None)  # type: ignore[arg-type]
    assert span_scores((("B-PER", "O"),), [["B-PER", "O"]]).f1 == 1.0
