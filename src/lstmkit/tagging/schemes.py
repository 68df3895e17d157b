"""Tag schemes for spans: IOB1, IOB2, IOE1, IOE2 and BIOES (also read and written as BILOU).

Spans are decoded with the conlleval rules (which read every scheme), so predictions that break
a scheme still decode the way conlleval and seqeval read them. :func:`validate` is strict: a
sequence is valid for a scheme exactly when re-encoding its spans in that scheme gives the same
tags back, and the error points at the first token where they differ.

Tags are ``O`` or ``<prefix>-<type>`` (the type may itself hold ``-``: ``B-creative-work``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from lstmkit.text.inputs import text_list

Scheme = Literal["IOB1", "IOB2", "IOE1", "IOE2", "BIOES"]
SCHEMES: tuple[str, ...] = ("IOB1", "IOB2", "IOE1", "IOE2", "BIOES")
ALIASES = {"BIO": "IOB2", "IOBES": "BIOES", "BILOU": "BIOES"}
AMBIGUOUS = {
    "IOB": "IOB1 (CoNLL-2003's files: B- only where an entity follows one of its type) or IOB2 "
           "(B- starts every entity; also called BIO)",
    "IOE": "IOE1 (E- only where an entity precedes one of its type) or IOE2 (E- ends every "
           "entity)",
}
"""Names used for two schemes, which ``check_scheme`` refuses instead of guessing."""
PREFIXES = {
    "IOB1": {"I", "B"},
    "IOB2": {"B", "I"},
    "IOE1": {"I", "E"},
    "IOE2": {"I", "E"},
    "BIOES": {"B", "I", "E", "S"},
}
OUTSIDE = "O"


@dataclass(frozen=True, order=True)
class Span:
    """An entity of ``type`` over tokens ``[start, end)``."""

    start: int
    end: int
    type: str


def check_scheme(scheme: str, name: str = "scheme") -> str:
    """The canonical name of ``scheme`` (aliases BIO, IOBES, BILOU accepted; IOB and IOE,
    which name two schemes each, refused)."""
    if str(scheme).upper() in AMBIGUOUS:
        raise ValueError(f"{name} {scheme!r} names two schemes, "
                         f"{AMBIGUOUS[str(scheme).upper()]}; pass one of them")
    canonical = ALIASES.get(str(scheme).upper(), str(scheme).upper())
    if canonical not in SCHEMES:
        raise ValueError(
            f"{name} must be one of {list(SCHEMES)} (or {sorted(ALIASES)}), got {scheme!r}"
        )
    return canonical


BILOU_TO_BIOES = {"L": "E", "U": "S"}


def is_bilou(scheme: str | None) -> bool:
    """Whether ``scheme`` names BILOU: BIOES with ``L`` (last) for ``E`` and ``U`` (unit) for
    ``S``, read and written with those letters."""
    return str(scheme).upper() == "BILOU"


def from_bilou(tags: Sequence[str]) -> list[str]:
    """BILOU tags written as BIOES: ``L-X`` -> ``E-X``, ``U-X`` -> ``S-X``."""
    return [_swap_prefix(tag, BILOU_TO_BIOES) for tag in tags]


def to_bilou(tags: Sequence[str]) -> list[str]:
    """BIOES tags written as BILOU: ``E-X`` -> ``L-X``, ``S-X`` -> ``U-X``."""
    return [_swap_prefix(tag, {v: k for k, v in BILOU_TO_BIOES.items()}) for tag in tags]


def encode_tags(tags: Sequence[str], source: Scheme, target: str) -> list[str]:
    """``tags`` (valid in ``source``) in ``target``: a scheme, or ``"BILOU"`` (BIOES written
    with ``L-``/``U-``)."""
    if is_bilou(target):
        return to_bilou(convert(tags, source, "BIOES", strict=False))
    return convert(tags, source, check_scheme(target), strict=False)


def _swap_prefix(tag: str, prefixes: dict[str, str]) -> str:
    prefix, sep, kind = tag.partition("-")
    return f"{prefixes[prefix]}-{kind}" if sep and prefix in prefixes else tag


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, kind = tag.partition("-")
    if not sep or not kind or prefix not in {"B", "I", "E", "S"}:
        bilou = ("; L- and U- are BILOU's prefixes: read a BILOU file with scheme='BILOU', "
                 "which gives its tags in BIOES (E- and S-)"
                 if sep and kind and prefix in ("L", "U") else "")
        raise ValueError(f"tag must be 'O' or '<B|I|E|S>-<type>', got {tag!r}{bilou}")
    return prefix, kind


def _ends(prev: str, tag: str, prev_type: str, kind: str) -> bool:
    # conlleval's endOfChunk
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != kind


def _starts(prev: str, tag: str, prev_type: str, kind: str) -> bool:
    # conlleval's startOfChunk
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and prev_type != kind


def tag_list(tags: object, name: str) -> list[str]:
    """``tags`` (one sentence's tags: a sequence of str, not one str) as a list, or a
    TypeError naming ``name`` or ``name[j]`` (:func:`lstmkit.text.inputs.text_list`)."""
    return text_list(tags, name, "str tags")


def spans_from_tags(tags: Sequence[str]) -> list[Span]:
    """Spans of a tag sequence in any scheme, read leniently as conlleval does."""
    tags = tag_list(tags, "tags")
    spans: list[Span] = []
    prev, prev_type, start = OUTSIDE, "", None
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, kind = split_tag(tag)
        if start is not None and _ends(prev, prefix, prev_type, kind):
            spans.append(Span(start, i, prev_type))
            start = None
        if _starts(prev, prefix, prev_type, kind):
            start = i
        prev, prev_type = prefix, kind
    return spans


def tags_from_spans(spans: Iterable[Span], length: int, scheme: Scheme) -> list[str]:
    """Encode non-overlapping ``spans`` over ``length`` tokens in ``scheme``."""
    scheme = check_scheme(scheme)  # type: ignore[assignment]
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise (ValueError if isinstance(length, numbers.Integral) and not isinstance(
            length, bool) else TypeError)(
            f"length must be an int >= 0 (the number of tokens), got "
            f"{type(length).__name__} {length!r}")
    tags = [OUTSIDE] * length
    ordered = sorted(spans)
    for n, span in enumerate(ordered):
        if not 0 <= span.start < span.end <= length:
            raise ValueError(f"span must lie within [0, {length}), got {span}")
        if any(t != OUTSIDE for t in tags[span.start : span.end]):
            raise ValueError(f"spans must not overlap, got {span} over another span")
        width = span.end - span.start
        touches_prev = n > 0 and ordered[n - 1].end == span.start and \
            ordered[n - 1].type == span.type
        touches_next = n + 1 < len(ordered) and ordered[n + 1].start == span.end and \
            ordered[n + 1].type == span.type
        body = ["I"] * width
        if scheme == "IOB2" or (scheme == "IOB1" and touches_prev):
            body[0] = "B"
        elif scheme == "IOE2" or (scheme == "IOE1" and touches_next):
            body[-1] = "E"
        elif scheme == "BIOES":
            body = ["S"] if width == 1 else ["B"] + ["I"] * (width - 2) + ["E"]
        tags[span.start : span.end] = [f"{p}-{span.type}" for p in body]
    return tags


def validate(tags: Sequence[str], scheme: Scheme, where: str = "") -> None:
    """Raise ValueError unless ``tags`` is a valid sequence in ``scheme``; the message names
    ``where`` (e.g. ``"train.conll:120"``), the token position, the tag and the expected tag."""
    scheme = check_scheme(scheme)  # type: ignore[assignment]
    at = f"{where}: " if where else ""
    for i, tag in enumerate(tags):
        prefix, _ = split_tag(tag)
        if prefix != OUTSIDE and prefix not in PREFIXES[scheme]:
            raise ValueError(
                f"{at}tag {tag!r} at token {i + 1} is not valid in {scheme} (prefixes "
                f"{sorted(PREFIXES[scheme])}); pass the file's scheme (e.g. scheme='BIOES')"
            )
    expected = tags_from_spans(spans_from_tags(tags), len(tags), scheme)
    for i, (got, want) in enumerate(zip(tags, expected, strict=True)):
        if got != want:
            before = tags[i - 1] if i > 0 else "the sentence start"
            after = tags[i + 1] if i + 1 < len(tags) else "the sentence end"
            raise ValueError(
                f"{at}tag sequence invalid for scheme {scheme} at token {i + 1}: {got!r} "
                f"between {before!r} and {after!r} (expected {want!r}); fix the data, or "
                "read it with the scheme it was written in"
            )


def convert(tags: Sequence[str], source: Scheme, target: Scheme, *, strict: bool = True,
            where: str = "") -> list[str]:
    """Re-encode ``tags`` from ``source`` to ``target`` (validating first when ``strict``)."""
    if strict:
        validate(tags, source, where)
    return tags_from_spans(spans_from_tags(tags), len(tags), target)


def tag_set(types: Iterable[str], scheme: Scheme) -> list[str]:
    """All tags of ``scheme`` over entity ``types``: ``O`` first, then by type."""
    scheme = check_scheme(scheme)  # type: ignore[assignment]
    if isinstance(types, str | bytes) or not isinstance(types, Iterable):
        hint = f" (one type: pass [{types!r}])" if isinstance(types, str) else ""
        raise TypeError(f"types must be a collection of str entity types, got "
                        f"{type(types).__name__} {types!r}{hint}")
    types = list(types)
    for kind in types:
        if not isinstance(kind, str) or not kind:
            raise (ValueError if isinstance(kind, str) else TypeError)(
                f"types must hold non-empty str entity types, got {type(kind).__name__} "
                f"{kind!r}")
    order = "BIES"
    prefixes = [p for p in order if p in PREFIXES[scheme]]
    return [OUTSIDE] + [f"{p}-{t}" for t in sorted(set(types)) for p in prefixes]


def allowed_transitions(
    tags: Sequence[str], scheme: Scheme
) -> tuple[list[list[bool]], list[bool], list[bool]]:
    """Which tag may follow which in ``scheme``, which may start and which may end a sentence.

    Returns ``(allowed[from][to], start[tag], end[tag])``, for a CRF to forbid the rest.
    """
    scheme = check_scheme(scheme)  # type: ignore[assignment]
    parts = [split_tag(t) for t in tags]

    def ok(a: tuple[str, str], b: tuple[str, str]) -> bool:
        (pa, ta), (pb, tb) = a, b
        same = ta == tb
        if scheme == "IOB2":
            return pb != "I" or (pa in ("B", "I") and same)
        if scheme == "IOB1":
            return pb != "B" or (pa in ("B", "I") and same)
        if scheme == "IOE2":
            return pa != "I" or (pb in ("I", "E") and same)
        if scheme == "IOE1":
            return pa != "E" or (pb in ("I", "E") and same)
        # BIOES
        if pa in ("B", "I"):
            return pb in ("I", "E") and same
        return pb not in ("I", "E")

    allowed = [[ok(a, b) for b in parts] for a in parts]
    outside = (OUTSIDE, "")
    start = [ok(outside, b) for b in parts]
    end = [ok(a, outside) for a in parts]
    return allowed, start, end
