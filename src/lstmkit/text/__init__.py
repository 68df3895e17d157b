"""Text layer shared by the language applications: tokenisation, vocabularies, padding with
lengths, length bucketing, pretrained vectors and careful file reading.

>>> from lstmkit.text import Tokenizer, Vocabulary, pad_sequences
>>> tok = Tokenizer("regex", lowercase=True)
>>> tok("It's great!")
['it', "'s", 'great', '!']
"""

from lstmkit.text.batching import (
    BucketBatchSampler,
    lengths_to_mask,
    pad_characters,
    pad_sequences,
)
from lstmkit.text.io import read_lines, read_text
from lstmkit.text.tokenize import Token, Tokenizer
from lstmkit.text.vectors import (
    GLOVE_PACKAGE,
    WordVectors,
    embedding_matrix,
    load_glove_package,
    load_text_vectors,
    load_vectors,
)
from lstmkit.text.vocab import PAD, UNK, Vocabulary, char_vocabulary

__all__ = [
    "GLOVE_PACKAGE",
    "PAD",
    "UNK",
    "BucketBatchSampler",
    "Token",
    "Tokenizer",
    "Vocabulary",
    "WordVectors",
    "char_vocabulary",
    "embedding_matrix",
    "lengths_to_mask",
    "load_glove_package",
    "load_text_vectors",
    "load_vectors",
    "pad_characters",
    "pad_sequences",
    "read_lines",
    "read_text",
]
