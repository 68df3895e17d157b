"""The sequence tagger as a user meets it: train, evaluate, tag raw text, save and load.

>>> from lstmkit.tagging import Tagger, TaggerConfig, read_conll
>>> train = read_conll("wnut17train.conll", scheme="IOB2")
>>> tagger = Tagger(TaggerConfig(vectors="glove-6b-50d")).fit(train,
...                                                         read_conll("emerging.dev.conll"))
>>> tagger.evaluate(read_conll("emerging.test.annotated")).scores.f1
>>> tagger.predict(["Empire State Building is in New York"])[0]
[Entity(text='Empire State Building', type='location', start=0, end=21, ...), ...]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch

from lstmkit.nn.config import positive_int
from lstmkit.saving import path_arg
from lstmkit.tagging.config import TaggerConfig
from lstmkit.tagging.conll import Sentence, write_conll
from lstmkit.tagging.data import (
    CASINGS,
    EncodedSentence,
    MixedBatches,
    SentenceEncoder,
    check_tokens,
    collate,
    make_loader,
    sentence_list,
    word_key,
)
from lstmkit.tagging.metrics import SpanF1, SpanScores, span_scores
from lstmkit.tagging.model import CharLSTM, LSTMCRFTagger, TaggerEnsemble
from lstmkit.tagging.schemes import (
    Scheme,
    allowed_transitions,
    convert,
    spans_from_tags,
    split_tag,
    tag_set,
)
from lstmkit.text.batching import inference_batches, pad_characters, pad_sequences
from lstmkit.text.config import saved_vector_options
from lstmkit.text.fitting import (
    check_dev_monitor,
    effective_training,
    examples_read,
    model_settings,
    text_devices,
    train_members,
)
from lstmkit.text.inputs import predict_inputs, read_once
from lstmkit.text.saving import (
    SAVE_LOCK,
    json_file,
    load_weights,
    meta_header,
    read_json,
    read_meta,
    write_saved,
)
from lstmkit.text.tokenize import Tokenizer
from lstmkit.text.vectors import (
    check_coverage,
    embedding_matrix,
    load_vectors,
    vocabulary_words,
)
from lstmkit.text.vocab import Vocabulary, char_vocabulary
from lstmkit.training.config import check_lightning_names, settings_of
from lstmkit.training.members import (
    check_member_seeds,
    member_callbacks,
)

FORMAT_VERSION = 1
SAVED_FILES = ("meta.json", "config.json", "training.json", "words.json", "chars.json",
               "tags.json", "model.pt", SAVE_LOCK, "checkpoints/")
"""A saved tagger's own files in its folder (and ``checkpoints/``, where ``tag train``
keeps checkpoints); a save leaves all else there alone."""
BATCH_SIZE = 128  # sentences per forward pass at inference, unless the caller says


def entity_types(sentences: Iterable[Sentence]) -> set[str]:
    """The entity types tagged in ``sentences``: those a tagger trained on them knows."""
    return {span.type for s in sentences for span in spans_from_tags(s.tags or [])}


def check_sentences(sentences: Sequence[Sentence], source: str) -> None:
    """A TypeError or ValueError naming where (see :func:`check_sentence`) for the first
    sentence of ``sentences`` that is malformed."""
    for n, sentence in enumerate(sentences):
        check_sentence(sentence, n, source)


def check_sentence(sentence: Sentence, n: int, source: str) -> str:
    """Where sentence ``n`` (from 0) of ``source`` is (``file:line``, or ``source sentence
    n + 1``); a TypeError when it is no :class:`Sentence` or a token or tag is no str, a
    ValueError when it has no tokens, tags that are not one per token, or a tag that is not
    ``O`` or ``<B|I|E|S>-<type>`` (at the tag's own line when read from a file)."""
    if not isinstance(sentence, Sentence):
        raise TypeError(f"{source}[{n}] must be a lstmkit.tagging.Sentence(tokens, tags), got "
                        f"{type(sentence).__name__} {sentence!r:.80}")
    where = (f"{sentence.source}:{sentence.line}" if sentence.source
             else f"{source} sentence {n + 1}")
    check_tokens(sentence.tokens, f"{where}: tokens")
    if sentence.tags is None:
        return where
    tags = sentence.tags
    if isinstance(tags, str) or len(tags) != len(sentence.tokens):
        raise ValueError(f"{where}: {len(sentence.tokens)} tokens and "
                         f"{'a str' if isinstance(tags, str) else len(tags)} tags; a sentence "
                         "has one tag per token (tags=[...])")
    for i, tag in enumerate(tags):
        at = where  # the tag's own line where the sentence was read from a file
        if sentence.source and len(sentence.lines) == len(tags):
            at = f"{sentence.source}:{sentence.lines[i]}"
        if not isinstance(tag, str):
            raise TypeError(f"{at}: tag {i} must be a str, got {type(tag).__name__} ({tag!r})")
        try:
            split_tag(tag)
        except ValueError as err:
            raise ValueError(f"{at}: {err}") from None
    return where


def check_gold(sentence: Sentence, n: int, source: str, known: set[str]) -> str:
    """Where sentence ``n`` (from 0) of ``source`` is (``file:line``); a ValueError when it
    is malformed (:func:`check_sentence`), has no tags, or a tag whose entity type is not
    ``known`` (never seen in training), named as the file writes it, at its own line."""
    where = check_sentence(sentence, n, source)
    if sentence.tags is None:
        raise ValueError(f"{source}: sentence {n + 1} has no tags")
    for i, tag in enumerate(sentence.tags):
        if tag != "O" and split_tag(tag)[1] not in known:
            at = where  # the tag's own line where the sentence was read from a file
            if sentence.source and len(sentence.lines) == len(sentence.tags):
                at = f"{sentence.source}:{sentence.lines[i]}"
            raise ValueError(f"{at}: unknown tag {tag!r} (entity type {split_tag(tag)[1]!r} "
                             f"never seen in training); known types: {sorted(known)}")
    return where

@dataclass(frozen=True)
class Entity:
    """A predicted entity: its text, type, character span ``[start, end)`` in the input
    text, token span ``[token_start, token_end)`` and ``score``, the probability the model
    gives its tokens' tags (with a CRF, their marginal over every tag path; in the model's
    ``tag_scheme``, which with BIOES, the default, closes the entity at its last token)."""

    text: str
    type: str
    start: int
    end: int
    token_start: int
    token_end: int
    score: float | None = None


@dataclass
class TagEvaluation:
    """Scores of a tagger on labelled sentences, and its predictions (IOB2)."""

    scores: SpanScores
    sentences: list[Sentence] = field(repr=False)
    predictions: list[list[str]] = field(repr=False)

    def write_conll(self, path: str | Path, output_scheme: Scheme = "IOB2") -> None:
        """``token gold predicted`` lines, as conlleval reads them, in ``output_scheme``
        (IOB2 by default, whatever scheme the data was read in)."""
        gold_iob2 = [Sentence(s.tokens, convert(s.tags or [], "IOB2", "IOB2", strict=False)
                              if s.tags else None) for s in self.sentences]
        write_conll(path, gold_iob2, self.predictions, tags_scheme="IOB2",
                    output_scheme=output_scheme)


class Tagger:
    """A sequence tagger: configuration, vocabularies and network together.

    ``Tagger(config, training).fit(train, dev)`` builds the vocabularies from ``train`` only,
    trains with ``lstmkit.training.fit`` (best weights, and early stopping with
    ``training.early_stopping_patience``, on dev entity F1 when ``dev`` is given) and returns
    the tagger, ready to ``predict``, ``evaluate`` and ``save``;
    ``Tagger.load(directory)`` gives it back.
    """

    dev_metric: ClassVar[str] = "f1"
    """What tuning (``lstmkit.text.tuning``) scores on dev: the entity F1,
    ``evaluate(...).scores.f1``."""

    def __init__(self, config: TaggerConfig | None = None, training: Any = None, *,
                 dev_monitor: bool | None = None) -> None:
        from lstmkit.training import TrainConfig

        config = config if config is not None else TaggerConfig()
        training = training if training is not None else TrainConfig()
        if not isinstance(config, TaggerConfig):
            raise TypeError(f"config must be a TaggerConfig, got {type(config).__name__}")
        if not isinstance(training, TrainConfig):
            raise TypeError(f"training must be a TrainConfig, got {type(training).__name__}")
        check_dev_monitor(dev_monitor)
        self.config = config
        self.training = training
        # True: monitor dev entity F1 when dev data is given; False: training.monitor as given;
        # None: dev F1 when training.monitor is left at its default 'val_loss'
        self.dev_monitor = dev_monitor
        self.tokenizer = Tokenizer(config.tokenizer)
        self.words: Vocabulary | None = None
        self.chars: Vocabulary | None = None
        self.tags: Vocabulary | None = None
        self.model: LSTMCRFTagger | TaggerEnsemble | None = None
        self.encoder: SentenceEncoder | None = None
        self.history: list[dict[str, float]] = []
        self.snapshot_epochs: list[int] = []
        self.train_time_s: float | None = None
        # share of the training words found in config.vectors (None without vectors)
        self.vectors_coverage: float | None = None

    def _set(self, words: Vocabulary, chars: Vocabulary, tags: Vocabulary,
             model: LSTMCRFTagger | TaggerEnsemble) -> None:
        self.words, self.chars, self.tags, self.model = words, chars, tags, model
        self.encoder = SentenceEncoder(words, chars, tags, self.config.lowercase)

    def _ready(self) -> tuple[Vocabulary, Vocabulary, LSTMCRFTagger | TaggerEnsemble,
                              SentenceEncoder]:
        """``(words, tags, model, encoder)``, or a ValueError before fit/load."""
        if self.model is None or self.words is None or self.tags is None \
                or self.encoder is None:
            raise ValueError("the tagger has no model yet: call fit(train, dev) or "
                             "Tagger.load(directory) first")
        return self.words, self.tags, self.model, self.encoder

    # -- construction ------------------------------------------------------------------------
    def build(self, train: Sequence[Sentence]) -> Tagger:
        """Vocabularies from ``train`` (tags in any scheme) and an untrained network."""
        train = read_once(train)  # type: ignore[assignment]
        config = self.config
        if len(train) == 0:
            raise ValueError("train must hold at least one sentence, got none")
        check_sentences(train, "train")
        if any(s.tags is None for s in train):
            raise ValueError("train sentences must carry tags, got an unlabelled sentence")
        keys = ([word_key(t, config.lowercase) for t in s.tokens] for s in train)
        words = Vocabulary.build(keys, min_freq=config.min_freq, max_size=config.max_vocab)
        chars = char_vocabulary(s.tokens for s in train)
        types = entity_types(train)
        if not types:
            raise ValueError("train holds no entities (every tag is 'O')")
        tags = Vocabulary(tag_set(types, config.tag_scheme), pad=None, unk=None)
        weights = None
        embedding_dim = config.embedding_dim or 100
        if config.vectors is not None:
            vectors = load_vectors(config.vectors)
            if config.embedding_dim is not None and config.embedding_dim != vectors.dim:
                raise ValueError(f"embedding_dim must equal the vectors' size {vectors.dim} "
                                 f"(or be None), got {config.embedding_dim}")
            self.vectors_coverage = check_coverage(  # training words only
                words, vectors, lowercase=config.lowercase)
            for word in vocabulary_words(vectors, config.vectors_vocab, config.lowercase):
                words.add(word)
            embedding_dim = vectors.dim
            weights, _ = embedding_matrix(words, vectors, lowercase=config.lowercase)
        self._set(words, chars, tags, _network(config, words, chars, tags, embedding_dim,
                                               weights))
        return self

    def fit(self, train: Sequence[Sentence], dev: Sequence[Sentence] | None = None, *,
            auxiliary: Sequence[Sentence] | None = None, resume: bool = False,
            callbacks: Sequence[Any] | Callable[[int], Sequence[Any]] = ()) -> Tagger:
        """Build from ``train`` and train; returns ``self``.

        ``auxiliary``: sentences tagged with another tag set (say PER/LOC/ORG of another
        corpus) for multitask training (Aguilar et al. 2017; Søgaard & Goldberg 2016): a second
        output layer and CRF on the shared encoder learns them, with loss weight
        ``config.auxiliary_weight`` and ``config.auxiliary_ratio`` auxiliary batches per main
        batch. Vocabularies still come from ``train`` only; the auxiliary head is dropped after
        training, so the saved model is an ordinary tagger.

        With ``config.ensemble`` > 1 each network checkpoints and logs in its own
        ``member<m>`` folder of ``training.checkpoint_dir`` / ``training.log_dir``.
        ``resume=True`` continues an interrupted run from ``training.checkpoint_dir`` (each
        network from its last checkpoint; one that has none starts fresh); not with
        ``auxiliary``. ``self.training`` becomes the settings actually used.

        ``callbacks`` are extra Lightning callbacks (a pruning callback when tuning): a
        sequence serves network 0 and each later network gets its own deep copy, or a
        function ``member -> callbacks`` builds each network's.
        """
        train, dev = read_once(train), read_once(dev)  # type: ignore[assignment]
        auxiliary = read_once(auxiliary)  # type: ignore[assignment]
        from lstmkit.training import seed_everything

        config = self.config
        train_config = effective_training(self.training, has_dev=dev is not None,
                                          dev_monitor=self.dev_monitor, metric="f1")
        train_config = text_devices(train_config)
        if auxiliary is not None:
            train_config = _unused_parameters_allowed(train_config)
        check_member_seeds(train_config.seed, config.ensemble)
        check_lightning_names(train_config)  # (before the vocabulary and vectors are read)
        callbacks_of = member_callbacks(callbacks, config.ensemble)
        if resume and auxiliary is not None:
            raise ValueError("resume=True cannot continue multitask training (auxiliary "
                             "data): the position in the auxiliary batches is not in the "
                             "checkpoint; train again without resume")
        if config.snapshots > 1 and dev is None:
            raise ValueError(f"snapshots={config.snapshots} picks checkpoints on dev "
                             "data, got dev=None; pass dev or set snapshots=1")
        seed_everything(train_config.seed)  # the first network's initial weights too
        self.build(train)
        words, tags, first, _ = self._ready()
        assert isinstance(first, LSTMCRFTagger) and self.chars is not None
        dim = _embedding_dim(first)

        def train_loader(network: LSTMCRFTagger, seed: int) -> Any:
            loader = self._loader(train, "train", shuffle=True, seed=seed)
            if auxiliary is None:
                return loader
            return self._mix_auxiliary(network, loader, auxiliary, seed)

        trained = train_members(
            first, lambda: _network(config, words, self.chars, tags, dim),
            count=config.ensemble, snapshots=config.snapshots, training=train_config,
            train_loader=train_loader,
            dev_loader=self._loader(dev, "dev", shuffle=False) if dev is not None else None,
            loss=lambda network: network.loss,
            metrics=lambda network: {"f1": SpanF1(network.decode, tags.itos)},
            run_settings={**model_settings(config, words=words, chars=self.chars, tags=tags),
                          "training and dev examples": examples_read(
                              # (the tags in the model's scheme, as it trains on them)
                              train, dev, lambda s: "\t".join(s.tokens) + "\0" + "\t".join(
                                  convert(s.tags or [], "IOB2", config.tag_scheme,
                                          strict=False)))},
            log_settings=settings_of("model", config), callbacks=callbacks_of, resume=resume,
            after=LSTMCRFTagger.remove_auxiliary_head, drop_prefix="aux_")
        members = trained.networks
        self.history, self.snapshot_epochs = trained.history, trained.snapshot_epochs
        self.train_time_s = trained.train_time_s
        self.model = (members[0] if len(members) == 1 else TaggerEnsemble(members)).eval()
        self.training = train_config
        return self

    def _mix_auxiliary(self, model: LSTMCRFTagger, main: Any, auxiliary: Sequence[Sentence],
                       seed: int) -> MixedBatches:
        """Add the auxiliary head for ``auxiliary``'s tag set to ``model``; main and auxiliary
        batches."""
        words, _, _, _ = self._ready()
        assert self.chars is not None
        if len(auxiliary) == 0:
            raise ValueError("auxiliary must hold at least one sentence, got none")
        check_sentences(auxiliary, "auxiliary")
        if any(s.tags is None for s in auxiliary):
            raise ValueError("auxiliary sentences must carry tags, got an unlabelled sentence")
        types = entity_types(auxiliary)
        if not types:
            raise ValueError("auxiliary holds no entities (every tag is 'O')")
        scheme = self.config.tag_scheme
        aux_tags = Vocabulary(tag_set(types, scheme), pad=None, unk=None)
        allowed, start, end = allowed_transitions(aux_tags.itos, scheme)
        model.add_auxiliary_head(len(aux_tags), allowed, start, end,
                                 weight=self.config.auxiliary_weight)
        encoder = SentenceEncoder(words, self.chars, aux_tags, self.config.lowercase)
        items = [encoder.encode(s.tokens, convert(s.tags or [], "IOB2", scheme, strict=False))
                 for s in auxiliary]
        aux_loader = make_loader(items, batch_size=self.config.batch_size,
                                 pad_index=words.pad_index, shuffle=True, seed=seed,
                                 auxiliary=True)
        return MixedBatches(main, aux_loader, self.config.auxiliary_ratio, seed=seed)

    def _checked(self, s: Sentence, n: int, source: str) -> tuple[list[str], list[str]]:
        """Sentence ``s`` (number ``n`` of ``source``, from 0) as its checked tokens and its
        tags in the model's scheme; a ValueError or TypeError naming where it is when it has
        no tags, no tokens, a token that is no str or a tag never seen in training."""
        check_gold(s, n, source, self.entity_types)  # its tokens checked too
        assert s.tags is not None
        return list(s.tokens), convert(s.tags, "IOB2", self.config.tag_scheme, strict=False)

    def _loader(self, sentences: Sequence[Sentence], source: str, *, shuffle: bool,
                seed: int = 0) -> Any:
        if len(sentences) == 0:
            raise ValueError(f"{source} must hold at least one sentence, got none")
        words, _, _, encoder = self._ready()
        items = [encoder.encode(*self._checked(s, n, source)) for n, s in enumerate(sentences)]
        return make_loader(items, batch_size=self.config.batch_size,
                           pad_index=words.pad_index, shuffle=shuffle, seed=seed)

    @property
    def entity_types(self) -> set[str]:
        return {split_tag(t)[1] for t in self._ready()[1].itos if t != "O"}

    # -- inference ---------------------------------------------------------------------------
    def tag_tokens(self, sentences: Iterable[Iterable[str]], batch_size: int = BATCH_SIZE, *,
                   progress: bool | None = False) -> list[list[str]]:
        """Predicted tags (IOB2) for pre-tokenised sentences: an iterable (a list, a
        generator) of sentences, each an ordered iterable (a list, a tuple, a numpy array, a
        pandas Series; not a str or a set) of at least one str token. Sentences of any length
        work, including longer than any seen in training. ``batch_size``: sentences per
        forward pass, an int >= 1. ``progress``: a bar on stderr over the sentences
        (``None``: only when stderr is a terminal)."""
        sentences = sentence_list(sentences)
        positive_int("batch_size", batch_size)
        return self._tag(sentences, batch_size, progress=progress)[0]

    @torch.inference_mode()
    def _tag(self, sentences: list[list[str]], batch_size: int, scored: bool = False,
             progress: bool | None = False
             ) -> tuple[list[list[str]], list[dict[tuple[int, int], float]]]:
        """:meth:`tag_tokens` of checked ``sentences`` and ``batch_size``, and per sentence
        (when ``scored``; empty otherwise) the probability of each entity's tags, by its
        token span ``(start, end)``: with a CRF, the marginal probability that its tokens bear
        the tags predicted for them; with softmax, the product of its tokens'
        probabilities."""
        words, vocab, model, encoder = self._ready()
        model.eval()
        encoded, char_ids, distinct = encoder.encode_many(sentences)
        # a single network's character LSTM runs once over the distinct words of all the
        # batches (each batch ran its own, mostly the same words again)
        table = _char_table(model, distinct)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].words))
        outside = vocab.stoi.get("O", -1)  # (a path all of it: no entity)
        out: list[list[str]] = [[] for _ in encoded]
        scores: list[dict[tuple[int, int], float]] = [{} for _ in encoded]
        for rows in inference_batches(order, batch_size, progress, "sentences"):
            if table is None:
                inputs, _ = collate([encoded[i] for i in rows], words.pad_index)
            else:
                inputs = _inputs_with_chars([encoded[i] for i in rows], words.pad_index,
                                            table, [char_ids[i] for i in rows])
            emissions = model(**inputs)  # (B, T, K)
            paths = model.decode(emissions, inputs["lengths"])
            tagged = []  # (the rows with an entity: most sentences have none)
            for b, (i, path) in enumerate(zip(rows, paths, strict=True)):
                if path.count(outside) == len(path):
                    out[i] = ["O"] * len(path)
                else:
                    out[i] = convert(vocab.decode(path), self.config.tag_scheme, "IOB2",
                                     strict=False)
                    tagged.append((b, i))
            if not scored:
                continue
            spans = [(b, span.start, span.end, paths[b][span.start:span.end])
                     for b, i in tagged for span in spans_from_tags(out[i])]
            if model.crf is not None:
                logs = model.crf.span_log_probs(emissions, inputs["lengths"], spans)
            else:
                log_probs = emissions.log_softmax(-1)
                logs = [float(log_probs[b, torch.arange(start, end), tags].sum())
                        for b, start, end, tags in spans]
            for (b, start, end, _), log in zip(spans, logs, strict=True):
                scores[rows[b]][start, end] = math.exp(log)
        return out, scores

    def predict(self, texts: Iterable[str], batch_size: int = BATCH_SIZE, *,
                progress: bool | None = False) -> list[list[Entity]]:
        """Entities in raw texts, tokenised with the configured tokenizer. ``texts``: any
        iterable of str (a list, a generator, a pandas Series: taken in order, by position);
        ``batch_size`` and ``progress`` as for :meth:`tag_tokens`."""
        texts = predict_inputs(texts, batch_size)
        tokenized = [self.tokenizer.spans(t) for t in texts]
        keep = [n for n, toks in enumerate(tokenized) if toks]
        tagged, scores = self._tag([[t.text for t in tokenized[n]] for n in keep], batch_size,
                                   scored=True, progress=progress)
        result: list[list[Entity]] = [[] for _ in texts]
        for n, tags, score in zip(keep, tagged, scores, strict=True):
            if not score:  # (no entity)
                continue
            tokens = tokenized[n]
            for span in spans_from_tags(tags):
                start, end = tokens[span.start].start, tokens[span.end - 1].end
                result[n].append(Entity(texts[n][start:end], span.type, start, end,
                                        span.start, span.end, score[span.start, span.end]))
        return result

    def evaluate(self, sentences: Sequence[Sentence], source: str = "data", *,
                 progress: bool | None = False) -> TagEvaluation:
        """Entity-level scores (conlleval / seqeval default mode) and the predictions.
        ``progress`` as for :meth:`tag_tokens`."""
        sentences = read_once(sentences)  # type: ignore[assignment]
        if len(sentences) == 0:
            raise ValueError(f"{source} must hold at least one sentence, got none")
        tokens = [self._checked(s, n, source)[0] for n, s in enumerate(sentences)]
        gold = [s.tags for s in sentences]
        predictions = self._tag(tokens, BATCH_SIZE, progress=progress)[0]
        return TagEvaluation(span_scores(gold, predictions), list(sentences), predictions)

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``words.json``, ``chars.json``, ``tags.json``, ``model.pt``
        and ``meta.json`` into ``directory``, ``meta.json`` last: a save that stops part way
        leaves a folder that :meth:`load` refuses (see :func:`lstmkit.text.saving.write_saved`)."""
        words, tags, model, _ = self._ready()
        assert self.chars is not None
        meta = {**meta_header("tagger", FORMAT_VERSION),
                "embedding_dim": _embedding_dim(model),
                "members": len(model.members) if isinstance(model, TaggerEnsemble) else 1,
                "snapshot_epochs": self.snapshot_epochs,
                "history": self.history, "train_time_s": self.train_time_s,
                "vectors_coverage": self.vectors_coverage}
        return write_saved(directory, {
            "config.json": json_file(self.config.to_dict()),
            "training.json": json_file(self.training.to_dict(written=True)),
            "words.json": words.save, "chars.json": self.chars.save, "tags.json": tags.save,
            "model.pt": partial(torch.save, model.state_dict())}, meta)

    @classmethod
    def load(cls, directory: str | Path) -> Tagger:
        directory = path_arg("directory", directory)
        meta = read_meta(directory, "tagger", FORMAT_VERSION)
        config = TaggerConfig.from_dict(saved_vector_options(
            read_json(directory, "config.json", "tagger"), str(directory / "config.json")))
        words = Vocabulary.from_dict(read_json(directory, "words.json", "tagger"))
        chars = Vocabulary.from_dict(read_json(directory, "chars.json", "tagger"))
        tags = Vocabulary.from_dict(read_json(directory, "tags.json", "tagger"))
        model: LSTMCRFTagger | TaggerEnsemble = _network(config, words, chars, tags,
                                                          meta["embedding_dim"])
        if meta.get("members", 1) > 1:
            model = TaggerEnsemble([model] + [_network(config, words, chars, tags,
                                                       meta["embedding_dim"])
                                              for _ in range(meta["members"] - 1)])
        load_weights(model, directory, "tagger")
        model.eval()
        training = None
        if (directory / "training.json").is_file():
            from lstmkit.training import TrainConfig

            training = TrainConfig.from_dict(read_json(directory, "training.json", "tagger"))
        tagger = cls(config, training)
        tagger._set(words, chars, tags, model)
        tagger.history = meta.get("history", [])
        tagger.snapshot_epochs = meta.get("snapshot_epochs", [])
        tagger.train_time_s = meta.get("train_time_s")
        tagger.vectors_coverage = meta.get("vectors_coverage")
        return tagger


def _unused_parameters_allowed(training: Any) -> Any:
    """``training`` with DDP's ``find_unused_parameters`` on when it may train in several
    processes with strategy ``ddp`` or ``auto``: a multitask batch trains one head of the
    two, and DDP with the option off fails on the other head's parameters, which had no
    gradient."""
    if training.strategy in ("ddp", "auto") and training.several_processes():
        return training.replace(strategy="ddp_find_unused_parameters_true")
    return training


def _network(config: TaggerConfig, words: Vocabulary, chars: Vocabulary, tags: Vocabulary,
             embedding_dim: int, weights: torch.Tensor | None = None) -> LSTMCRFTagger:
    allowed, start, end = allowed_transitions(tags.itos, config.tag_scheme)
    return LSTMCRFTagger(
        len(words), embedding_dim, len(tags),
        pad_index=words.pad_index, unk_index=words.unk_index,
        num_chars=len(chars), char_encoder=config.char_encoder, char_dim=config.char_dim,
        char_hidden=config.char_hidden, num_casings=len(CASINGS) if config.casing else 0,
        hidden_size=config.hidden_size, num_layers=config.num_layers,
        bidirectional=config.bidirectional, lstm_options=config.lstm,
        decoder=config.decoder, dropout=config.dropout, word_dropout=config.word_dropout,
        embedding_weights=weights, freeze=config.freeze_embeddings,
        allowed=allowed, allowed_start=start, allowed_end=end,
    )


def _char_table(model: LSTMCRFTagger | TaggerEnsemble, distinct: list[list[int]]
                ) -> torch.Tensor | None:
    """The character LSTM's vector of each of the ``distinct`` character sequences
    (:meth:`SentenceEncoder.encode_many`), ``(V, Fc)``, the first (no characters) zeros,
    as the LSTM gives padding; None for another model (an ensemble, a CNN or no character
    encoder), which encodes the characters of each batch itself."""
    if not (isinstance(model, LSTMCRFTagger) and isinstance(model.chars, CharLSTM)):
        return None
    chars, lengths = pad_characters([distinct], 0)  # (1, V, C), (1, V)
    chars, lengths = chars[0], lengths[0]
    table = model.chars.embed.weight.new_zeros(len(distinct), model.chars.output_size)
    real = lengths > 0
    if real.any():
        vectors = model.chars.encode_words(chars[real], lengths[real])
        table = table.to(vectors.dtype)
        table[real] = vectors
    return table


def _inputs_with_chars(items: list[EncodedSentence], pad_index: int, table: torch.Tensor,
                       char_ids: list[list[int]]) -> dict[str, Any]:
    """:func:`collate`'s inputs with the character vectors looked up in ``table`` (by each
    token's ``char_ids``) in place of the characters."""
    words, lengths = pad_sequences([s.words for s in items], pad_index)  # (B, T), (B,)
    casing_ids, _ = pad_sequences([s.casing for s in items], 0)  # (B, T)
    ids, _ = pad_sequences(char_ids, 0)  # (B, T): 0, no characters, at padding
    return {"words": words, "lengths": lengths, "casing": casing_ids,
            "char_vectors": table[ids]}


def _embedding_dim(model: LSTMCRFTagger | TaggerEnsemble) -> int:
    first = model.members[0] if isinstance(model, TaggerEnsemble) else model
    return int(first.embed.embedding.embedding_dim)  # type: ignore[union-attr]
