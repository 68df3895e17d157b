"""Tokenisers for the text applications.

Two kinds: ``"whitespace"`` for pre-tokenised data (the SST files, CoNLL columns) and
``"regex"`` for raw text. The regex tokeniser runs on the Rust ``tokenizers`` library (a
``Split`` pre-tokeniser), splits English clitics the Penn Treebank way (``can't`` -> ``ca
n't``, ``it's`` -> ``it 's``; with the typographic apostrophe ``don’t`` -> ``do n't``, the
clitic's text written with ``'``, its span still that of ``n’t`` in the text), keeps URLs,
@mentions, #hashtags and numbers with thousands separators (``30,000``, as the SST and
CoNLL files write them) whole and returns character offsets, so that predicted entities can
be shown as spans of the user's text. On text that is already PTB-tokenised it is close
to the identity, so a model trained on the SST files can be fed raw sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TokenizerName = Literal["whitespace", "regex"]
TOKENIZERS: tuple[str, ...] = ("whitespace", "regex")

# One piece of a word: a number with thousands separators (30,000; a comma not followed by
# three digits and a word end is not a separator) or a run of word characters.
_PIECE = r"(?:\d+(?:,\d{3})+(?!\w|,\d)|\w+)"
# Order matters: earlier alternatives win. Clitics are split before plain words.
TOKEN_PATTERN = (
    r"(?i)https?://\S+|www\.\S+"  # URLs
    r"|[@#]\w+"  # mentions and hashtags
    r"|-[lr][rcs]b-"  # PTB bracket tokens (-lrb-, -rrb-, ...)
    r"|\w+(?=n['’]t\b)|n['’]t\b"  # ca n't, do n't (also with the typographic ’)
    r"|['’](?:s|re|ve|ll|d|m)\b"  # it 's, we 're
    rf"|{_PIECE}(?:[-.]{_PIECE})*"  # words, 1,000-year, 10,000-15,000, 4,947,486.5, 3.5
    r"|\.{2,}"  # ellipses
    r"|[^\w\s]"  # any other symbol, one at a time
)
_WHITESPACE = re.compile(r"\S+")
# a clitic written with the typographic apostrophe, whose token text gets the ASCII one
_CURLY_CLITIC = re.compile(r"(?i)n’t|’(?:s|re|ve|ll|d|m)")


@dataclass(frozen=True)
class Token:
    """A token with its character span ``[start, end)`` in the original text."""

    text: str
    start: int
    end: int


class Tokenizer:
    """Splits text into tokens, optionally lower-cased.

    Args:
        name: ``"whitespace"`` (split on runs of whitespace) or ``"regex"`` (see module doc).
        lowercase: lower-case every token (the spans still point into the original text).
    """

    def __init__(self, name: TokenizerName = "regex", lowercase: bool = False) -> None:
        if name not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {name!r}")
        self.name = name
        self.lowercase = lowercase
        self._split = None
        if name == "regex":
            from tokenizers import Regex
            from tokenizers.pre_tokenizers import Split

            self._split = Split(Regex(TOKEN_PATTERN), behavior="isolated")

    def spans(self, text: str) -> list[Token]:
        """Tokens of ``text`` with their character offsets."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self._split is None:
            pieces = [(m.group(), (m.start(), m.end())) for m in _WHITESPACE.finditer(text)]
        else:
            pieces = self._split.pre_tokenize_str(text)
        tokens = []
        for piece, (start, end) in pieces:
            if piece.isspace() or not piece:
                continue
            if "’" in piece and _CURLY_CLITIC.fullmatch(piece):
                piece = piece.replace("’", "'")  # don’t -> do n't, as in the vocabulary
            tokens.append(Token(piece.lower() if self.lowercase else piece, start, end))
        return tokens

    def __call__(self, text: str) -> list[str]:
        """The token strings of ``text``."""
        return [token.text for token in self.spans(text)]

    def __repr__(self) -> str:
        return f"Tokenizer(name={self.name!r}, lowercase={self.lowercase})"
