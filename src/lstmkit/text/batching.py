"""Padding with lengths (for the core LSTM's ``lengths=``) and length-bucketed batching."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence, Set
from itertools import chain
from typing import Any

import torch
from torch.utils.data import Sampler

from lstmkit.nn.config import exact_int, integer_dtype, is_int, plain_value, positive_int, shown

# what a row of indices, and a sentence of them, must be (for the messages)
INDICES = "a sequence of int indices >= 0"
WORDS = "a sequence of words, each " + INDICES


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_index: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad index sequences (of ints: a float or bool is a TypeError, and so is a
    sequence that is None, a str or not 1-d (a column (n, 1) of indices), or an item that is
    no int, each named by its position).

    Returns:
        ``(padded, lengths)``: a ``(B, T)`` long tensor, ``T`` the longest length, and the
        ``(B,)`` long tensor of lengths.
    """
    _not_a_row(sequences, "sequences", "a sequence of sequences, each " + INDICES)
    if len(sequences) == 0:
        raise ValueError("sequences must hold at least one sequence, got none")
    lengths = torch.tensor(_lengths(sequences, "sequences"), dtype=torch.long)  # (B,)
    # (first: an empty str is no sequence of indices, before it is an empty row)
    indices = _indices(sequences, "sequences")
    if int(lengths.min()) == 0:
        empty = int((lengths == 0).nonzero()[0])
        raise ValueError(f"sequences[{empty}] must hold at least one token, got an empty "
                         "sequence")
    padded = torch.full((len(sequences), int(lengths.max())), pad_index, dtype=torch.long)
    # all the indices at once, into the real positions (row by row took twice as long)
    padded[lengths_to_mask(lengths)] = indices
    return padded, lengths


def _indices(rows: Sequence[Sequence[Any]], name: str, depth: int = 1) -> torch.Tensor:
    """The indices of ``rows`` (nested ``depth`` levels below them), in order, as one long
    tensor; a TypeError naming the first row ``name[i]`` (``name[i][j]``) of floats or
    bools, which would be cut to whole numbers without a word, and a ValueError for a
    negative index or one past int64."""
    parts: Any = rows
    for _ in range(depth - 1):
        parts = chain.from_iterable(parts)
    parts = list(parts)  # (the rows, or the words of all the sentences)
    if all(isinstance(part, list | tuple | range) for part in parts):
        flat = list(chain.from_iterable(parts))
        if set(map(type, flat)) <= {int} and (
                not flat or -2**63 <= min(flat) <= max(flat) <= 2**63 - 1):
            # Python ints alone: all at once, fast
            return _not_negative(torch.tensor(flat, dtype=torch.long), name)
    tensors = []  # row by row (an array or tensor at once), naming a row that is no ints
    for i, row in enumerate(rows):
        for j, part in enumerate(row) if depth == 2 else [(None, row)]:
            where = f"{name}[{i}]" + ("" if j is None else f"[{j}]")
            # Python objects (a list, a deque, an object array), not an array of numbers
            objects = not isinstance(part, torch.Tensor) and (  # (a tensor quickly)
                isinstance(part, Sequence | range) or getattr(part, "dtype", None) in (None,
                                                                                       object))
            ints = [v for v in part if isinstance(v, int)] if objects else []
            if ints and not -2**63 <= min(ints) <= max(ints) <= 2**63 - 1:
                # (before torch's "Overflow when unpacking long long")
                bad = max(ints) if max(ints) > 2**63 - 1 else min(ints)
                raise ValueError(f"{where} must hold indices " + (
                    "below 2**63" if bad > 0 else ">= 0") + f", got {shown(bad, format)}")
            tensor = _row_tensor(part, where)
            if not integer_dtype(tensor.dtype):
                raise TypeError(f"{where} must hold int indices, got {tensor.dtype} values")
            if objects:  # (torch reads a bool among ints as 0 or 1)
                k = next((k for k, v in enumerate(part) if isinstance(v, bool)), None)
                if k is not None:
                    raise TypeError(f"{where}[{k}] must be an int index >= 0, got bool "
                                    f"{list(part)[k]}")
            if tensor.dtype == torch.uint64 and (big := max(tensor.tolist())) > 2**63 - 1:
                raise ValueError(f"{where} must hold indices below 2**63, got {big}")
            tensors.append(tensor.reshape(-1).long())
    return _not_negative(torch.cat(tensors), name)


def _lengths(rows: Sequence[Any], name: str, what: str = INDICES) -> list[int]:
    """The length of each of ``rows``; a TypeError naming the first ``name[i]`` that has
    none (None, a number), which should be ``what``."""
    try:
        return [len(row) for row in rows]
    except TypeError:  # (len of None, of a 0-d tensor: named below)
        for i, row in enumerate(rows):
            _not_a_row(row, f"{name}[{i}]", what)
        raise


def _not_a_row(row: object, where: str, what: str = INDICES) -> None:
    """A TypeError naming ``where`` when ``row`` is no sequence: None, a number, a str (which
    would be read as its characters), a mapping or a set (which has no order)."""
    if isinstance(row, list | tuple | range) or (
            isinstance(row, torch.Tensor) and row.dim() > 0):  # (the usual rows, quickly)
        return
    if isinstance(row, str | bytes | Mapping | Set) or not hasattr(row, "__len__") or (
            getattr(row, "ndim", 1) == 0):
        raise TypeError(f"{where} must be {what}, got {type(row).__name__} {row!r:.60}")


def _row_tensor(part: Any, where: str) -> torch.Tensor:
    """The indices of ``part`` as a 1-d tensor (of whatever dtype: the caller checks it); a
    TypeError naming ``where`` when it is no sequence, or ``where[k]`` for its first item that
    is no int (None, a str, a list), which torch refuses in words of its own."""
    _not_a_row(part, where)
    if not len(part):
        return torch.zeros(0, dtype=torch.long)
    try:
        tensor = torch.as_tensor(part)
    except (TypeError, RuntimeError, ValueError):
        tensor = None
    if tensor is not None and tensor.dim() == 1:
        return tensor
    if tensor is not None and tensor.dim() > 1 and not isinstance(part, list | tuple):
        # (an array or tensor: a column (n, 1) of indices, say; a list's item is named below)
        raise TypeError(f"{where} must be a 1-d sequence of int indices >= 0, got "
                        f"{type(part).__name__} of shape {tuple(tensor.shape)}"
                        + (" (a column: pass it flattened)" if tensor.shape[-1] == 1 else ""))
    for k, value in enumerate(part):  # (None, a str, a nested list: not an int of its own)
        if exact_int(value) is None:
            raise TypeError(f"{where}[{k}] must be an int index >= 0, got "
                            f"{type(value).__name__} {value!r:.60}")
    raise TypeError(f"{where} must be a 1-d sequence of int indices >= 0, got "
                    f"{type(part).__name__} {part!r:.60}")


def _not_negative(values: torch.Tensor, name: str) -> torch.Tensor:
    if len(values) and int(values.min()) < 0:  # (an embedding would fail on it later)
        raise ValueError(f"{name} must hold indices >= 0, got {int(values.min())}")
    return values


def pad_characters(
    words: Sequence[Sequence[Sequence[int]]], pad_index: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad character indices of each word of each sentence (ints: a float or bool is a
    TypeError, and so is a sentence or word that is None or a str, or an item that is no
    int, each named by its position).

    Returns:
        ``(chars, char_lengths)``: ``(B, T, C)`` and ``(B, T)``; padding words have length 0.
    """
    _not_a_row(words, "words", "a sequence of sentences, each " + WORDS)
    B = len(words)
    if B == 0:
        raise ValueError("words must hold at least one sentence, got none")
    T = max(_lengths(words, "words", WORDS))
    char_lengths = torch.zeros((B, T), dtype=torch.long)
    for b, sentence in enumerate(words):
        # (a sentence of str words would be read as its characters; an empty str, as none)
        _not_a_row(sentence, f"words[{b}]", WORDS)
        char_lengths[b, : len(sentence)] = torch.tensor(_lengths(sentence, f"words[{b}]"),
                                                        dtype=torch.long)
    C = int(char_lengths.max()) if char_lengths.numel() else 0
    chars = torch.full((B, T, C), pad_index, dtype=torch.long)
    # (also without characters: a word that is an empty str is no sequence of indices)
    indices = _indices(words, "words", depth=2)
    mask = torch.arange(C)[None, None, :] < char_lengths[:, :, None]  # (B, T, C)
    chars[mask] = indices
    return chars, char_lengths


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, T)`` bool mask, True at real positions."""
    T = int(lengths.max()) if max_len is None else max_len
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]  # (B, T)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of examples of similar length, so that little compute goes to padding.

    Examples are shuffled, cut into pools of ``pool_batches`` batches, each pool sorted by
    length and cut into batches; the batch order is shuffled again. With ``shuffle=False`` the
    batches are the examples sorted by length (deterministic; for evaluation).

    In a distributed run (DDP: ``torch.distributed`` initialised when the batches are drawn)
    the shuffled batches are shared out: every process draws the same batches, so its
    sampler must have the same ``seed`` (the text applications give every process the
    first one's), and takes every ``world_size``-th of them from its rank on, the first few
    repeated so that every process gets as many (as ``DistributedSampler`` does).
    An epoch then holds the same batches as on one process, split among the processes. The
    unshuffled batches (evaluation) are not shared out: every process goes through all of
    them, so that a score over the whole set (an entity F1) is computed whole in each.
    ``rank`` and ``world_size`` given explicitly take the place of the process group's.
    The int settings take numpy integers too, and ``shuffle`` an ``np.bool_``; a bool or a
    float is refused where an int is expected.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        pool_batches: int = 50,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        # numpy scalars (np.int64, np.bool_) as the Python values they stand for
        batch_size, pool_batches, seed, shuffle, rank, world_size = map(
            plain_value, (batch_size, pool_batches, seed, shuffle, rank, world_size))
        batch_size = positive_int("batch_size", batch_size)
        pool_batches = positive_int("pool_batches", pool_batches)
        if not is_int(seed):
            raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False, got {type(shuffle).__name__} "
                            f"{shuffle!r}")
        if (rank is None) != (world_size is None):
            raise ValueError(f"rank and world_size must be given together, got rank={rank!r} "
                             f"and world_size={world_size!r}")
        if world_size is not None and not (is_int(world_size) and world_size >= 1
                                           and is_int(rank) and 0 <= rank < world_size):
            raise ValueError(f"rank must be an int in [0, world_size) and world_size an int "
                             f">= 1, got rank={rank!r} and world_size={world_size!r}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pool_batches = pool_batches
        self.seed = seed
        self.epoch = 0
        self._given = None if world_size is None else (rank, world_size)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle the next pass as epoch ``epoch`` (Lightning calls this before each epoch,
        so a resumed run batches its epochs like an uninterrupted one)."""
        epoch = plain_value(epoch)
        if not is_int(epoch):
            raise TypeError(f"epoch must be an int, got {type(epoch).__name__} {epoch!r}")
        self.epoch = epoch

    def _shares(self) -> tuple[int, int]:
        """``(rank, world_size)`` the shuffled batches are shared out by."""
        if not self.shuffle:
            return 0, 1
        if self._given is not None:
            return self._given
        from lstmkit.training.callbacks import process_group

        return process_group()

    def shared_by(self) -> int:
        """The number of processes the batches are shared out among (1 outside a
        distributed run, and for unshuffled batches)."""
        return self._shares()[1]

    @property
    def whole_len(self) -> int:
        """The batches of an epoch on one process, before they are shared out."""
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(range(len(self.lengths)))
        if not self.shuffle:
            indices.sort(key=lambda i: self.lengths[i])
            yield from (
                indices[s : s + self.batch_size] for s in range(0, len(indices), self.batch_size)
            )
            return
        rank, world_size = self._shares()
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        rng.shuffle(indices)
        pool = self.batch_size * self.pool_batches
        batches = []
        for p in range(0, len(indices), pool):
            chunk = sorted(indices[p : p + pool], key=lambda i: self.lengths[i])
            step = self.batch_size
            batches += [chunk[s : s + step] for s in range(0, len(chunk), step)]
        rng.shuffle(batches)
        if world_size > 1:  # (every process as many: the first ones again, cyclically)
            whole = -(-len(batches) // world_size) * world_size
            batches = [batches[k % len(batches)] for k in range(whole)][rank::world_size]
        yield from batches

    def __len__(self) -> int:
        return -(-self.whole_len // self.shared_by())


def inference_batches(order: Sequence[int], batch_size: int, progress: bool | None,
                      what: str) -> Iterator[Sequence[int]]:
    """``order`` in batches of ``batch_size``, for a prediction over them: with
    ``progress`` a bar on stderr counting the ``what`` done (``None``: only when stderr is a
    terminal, as on the command line), drawn when there is more than one batch and cleared
    at the end."""
    from tqdm import tqdm

    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    # (tqdm's disable=None: shown only on a terminal)
    disable = True if len(order) <= batch_size else None if progress is None else not progress
    with tqdm(total=len(order), unit=what, leave=False, disable=disable) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            yield rows
            bar.update(len(rows))
