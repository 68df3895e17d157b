"""The Tagger end to end on tiny generated data: learn, evaluate, save/load, predict spans."""

from __future__ import annotations

import json
import math
import random
import re

import pytest
import torch

from lstmkit.tagging import LSTMCRFTagger, Sentence, Tagger, TaggerConfig, span_scores
from lstmkit.tagging.data import CASINGS, casing, collate
from lstmkit.tagging.schemes import convert
from lstmkit.tagging.tagger import SAVED_FILES
from lstmkit.training import TrainConfig

PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Erin"]
PLACES = ["Paris", "Oslo", "Lima", "Rome"]
FILL = ["met", "in", "the", "today", "and", "with", "visited", "quickly"]
FAST = TrainConfig(max_epochs=4, lr=0.03, progress_bar=False, seed=0)


def _toy(n: int, seed: int = 0) -> list[Sentence]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(3, 7)):
            r = rng.random()
            if r < 0.25:
                first, last = rng.choice(PEOPLE), rng.choice(PEOPLE) + "son"
                tokens += [first, last]
                tags += ["B-PER", "I-PER"]
            elif r < 0.4:
                tokens.append(rng.choice(PLACES))
                tags.append("B-LOC")
            else:
                tokens.append(rng.choice(FILL))
                tags.append("O")
        sentences.append(Sentence(tokens, tags))
    return sentences


def test_span_scores_match_hand_count_and_seqeval() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-PER", "O"]]
    scores = span_scores(gold, pred)
    # 3 gold, 2 predicted, 1 correct
    assert scores.precision == pytest.approx(1 / 2)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert scores.per_type["LOC"]["recall"] == 0.0
    assert scores.per_type["PER"]["f1"] == pytest.approx(2 / 3)  # p = 1/2, r = 1
    support = scores.per_type["LOC"]["support"]  # a count, as the classifier's (was 2.0)
    assert support == 2 and isinstance(support, int)
    # schemes do not change the score: the same entities in BIOES
    bioes = [["B-PER", "E-PER", "O", "S-LOC"], ["S-LOC", "O"]]
    assert span_scores(bioes, pred).f1 == pytest.approx(scores.f1)
    assert "overall" in scores.table()


def test_casing_feature() -> None:
    assert [CASINGS[casing(t)] for t in ("paris", "Paris", "NASA", "iPhone", "2017", "A4",
                                         "!!", "@bob", "#nyc", "http://t.co/x")] == [
        "lower", "initial", "upper", "mixed", "numeric", "has_digit", "punct", "mention",
        "hashtag", "url"]


@pytest.mark.parametrize("char_encoder", ["lstm", "cnn", "none"])
def test_network_shapes_and_padding_invariance(char_encoder: str) -> None:
    net = LSTMCRFTagger(30, 8, 5, pad_index=0, unk_index=1, num_chars=12,
                        char_encoder=char_encoder, char_dim=4, char_hidden=3,
                        num_casings=len(CASINGS), hidden_size=6, dropout=0.0).eval()
    words = torch.tensor([[4, 5, 6, 0]])
    chars = torch.randint(2, 12, (1, 4, 3))
    chars[0, 3] = 0
    char_lengths = torch.tensor([[3, 2, 3, 0]])
    casings = torch.tensor([[0, 1, 2, 0]])
    out = net(words, torch.tensor([3]), chars, char_lengths, casings)
    assert out.shape == (1, 4, 5)
    short = net(words[:, :3], torch.tensor([3]), chars[:, :3], char_lengths[:, :3],
                casings[:, :3])
    assert torch.allclose(out[:, :3], short, atol=1e-6)


def test_tagger_learns_saves_loads_and_predicts_spans(tmp_path) -> None:
    config = TaggerConfig(hidden_size=16, embedding_dim=16, char_dim=8, char_hidden=8,
                          batch_size=8, dropout=0.1)
    tagger = Tagger(config, FAST).fit(_toy(100), _toy(20, seed=1))
    assert "val_f1" in tagger.history[-1]
    evaluation = tagger.evaluate(_toy(60, seed=2))
    assert evaluation.scores.f1 > 0.9
    evaluation.write_conll(tmp_path / "pred.conll")
    first = (tmp_path / "pred.conll").read_text().splitlines()[0].split("\t")
    assert len(first) == 3
    # in another scheme on request: every single-token entity S- in BIOES, both columns
    evaluation.write_conll(tmp_path / "bioes.conll", output_scheme="BIOES")
    iob2 = [line.split("\t") for line in (tmp_path / "pred.conll").read_text().splitlines()]
    bioes = [line.split("\t") for line in (tmp_path / "bioes.conll").read_text().splitlines()]
    singles = [k for k, row in enumerate(iob2) if len(row) == 3 and row[1].startswith("B-")
               and not (k + 1 < len(iob2) and len(iob2[k + 1]) == 3
                        and iob2[k + 1][1].startswith("I-"))]
    assert singles and all(bioes[k][1].startswith("S-") for k in singles)

    tagger.save(tmp_path / "model")
    # what tag train checks against its inputs (tagger.SAVED_FILES) is what a save writes
    assert {p.name for p in (tmp_path / "model").iterdir()} <= set(SAVED_FILES)
    loaded = Tagger.load(tmp_path / "model")
    sentences = [s.tokens for s in _toy(5, seed=3)]
    assert loaded.tag_tokens(sentences) == tagger.tag_tokens(sentences)
    text = "Alice Bobson visited Paris today"
    entities = loaded.predict([text, ""])
    assert [(e.text, e.type, e.start, e.end) for e in entities[0]] == [
        ("Alice Bobson", "PER", 0, 12), ("Paris", "LOC", 21, 26)]
    assert entities[1] == []
    # a sentence longer than any in training (<= 14 tokens) is tagged all the same
    long_tokens = ["the"] * 300 + ["Carol", "Daveson"]
    assert loaded.tag_tokens([long_tokens])[0][-2:] == ["B-PER", "I-PER"]


def test_softmax_decoder_trains_one_batch() -> None:
    config = TaggerConfig(hidden_size=4, embedding_dim=4, char_encoder="cnn", decoder="softmax",
                          lstm={"layer_norm": True})
    fast = TrainConfig(fast_dev_run=True, progress_bar=False)
    tagger = Tagger(config, fast).fit(_toy(20), _toy(8, seed=1))
    assert len(tagger.tag_tokens([["Alice", "met", "Bob"]])[0]) == 3


def test_fit_build_and_evaluate_read_a_generator_once() -> None:
    # "object of type 'generator' has no len()"; tag_tokens already took one
    fast = TrainConfig(max_epochs=1, progress_bar=False, seed=0)
    config = TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4)
    by_list = Tagger(config, fast).fit(_toy(12), _toy(6, seed=1))
    by_generator = Tagger(config, fast).fit((s for s in _toy(12)),
                                           (s for s in _toy(6, seed=1)))
    assert by_generator.evaluate(s for s in _toy(6, seed=2)).scores.f1 == \
        by_list.evaluate(_toy(6, seed=2)).scores.f1
    assert by_generator.tag_tokens([["Alice", "met"]]) == by_list.tag_tokens([["Alice", "met"]])
    assert Tagger(config).build(s for s in _toy(4)).tags is not None


def test_constrained_crf_never_predicts_invalid_sequences() -> None:
    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, tag_scheme="BIOES")
                    ).build(_toy(20))
    with torch.no_grad():
        tagger.model.emit.bias.normal_(0, 5)  # untrained, random preferences
    from lstmkit.tagging import validate

    for tags in tagger.tag_tokens([s.tokens for s in _toy(30, seed=4)]):
        validate(tags, "IOB2")


def test_unknown_entity_type_in_test_set_is_an_error() -> None:
    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4)).build(_toy(20))
    bad = [Sentence(["Acme", "rocks"], ["B-ORG", "O"], source="test.conll", line=7)]
    with pytest.raises(ValueError, match=r"test\.conll:7: unknown tag 'B-ORG' \(entity type "
                                         r"'ORG' never seen in training\)"):
        tagger.evaluate(bad)


def test_config_and_build_errors() -> None:
    with pytest.raises(ValueError, match="tag_scheme must be one of"):
        TaggerConfig(tag_scheme="XYZ")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="char_encoder must be one of"):
        TaggerConfig(char_encoder="gru")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="train holds no entities"):
        Tagger().build([Sentence(["a"], ["O"])])
    with pytest.raises(ValueError, match="train must hold at least one sentence"):
        Tagger().build([])


def test_char_lstm_runs_each_distinct_word_once_with_the_same_result() -> None:
    from lstmkit.tagging.model import CharLSTM, unique_words

    unique, lengths, inverse = unique_words(torch.tensor([[3, 4, 0, 0], [5, 0, 0, 0],
                                                          [3, 4, 0, 0]]))
    assert unique.tolist() == [[3, 4], [5, 0]] and lengths.tolist() == [2, 1]
    assert inverse.tolist() == [0, 1, 0]
    net = CharLSTM(10, 4, 3, pad_index=0).eval()
    chars = torch.tensor([[[3, 4, 0], [5, 0, 0], [3, 4, 0]]])
    char_lengths = torch.tensor([[2, 1, 2]])
    _, (h_n, _) = net.lstm(net.embed(chars[0]), lengths=char_lengths[0])  # every word
    expected = h_n.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(net(chars, char_lengths)[0], expected, atol=1e-6)


def test_hashtags_share_the_plain_word_and_long_words_are_cut() -> None:
    from lstmkit.tagging.data import word_key

    assert word_key("#NYC", lowercase=True) == "nyc" and word_key("#", True) == "#"
    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4)).build(_toy(5))
    assert tagger.encoder is not None
    assert len(tagger.encoder.encode(["x" * 50]).chars[0]) == 20


def _aux(n: int, seed: int = 0) -> list[Sentence]:
    """Another corpus over the same words with a different tag set (NAME only, IOB2)."""
    return [Sentence(s.tokens, [t.replace("PER", "NAME") if "PER" in t else "O"
                                for t in (s.tags or [])]) for s in _toy(n, seed)]


def test_multitask_auxiliary_tag_set_trains_a_second_head_then_drops_it(tmp_path) -> None:
    from lstmkit.tagging.data import MixedBatches

    config = TaggerConfig(hidden_size=16, char_hidden=8, batch_size=8, dropout=0.1,
                          auxiliary_weight=0.5, auxiliary_ratio=0.5)
    tagger = Tagger(config, FAST)
    seen: list[bool] = []
    original = LSTMCRFTagger.loss

    def spy(self, emissions, target):  # type: ignore[no-untyped-def]
        seen.append(len(target) == 3)
        if len(target) == 3:
            assert emissions.shape[-1] == 5  # O + B/I/E/S-NAME
        return original(self, emissions, target)

    LSTMCRFTagger.loss = spy  # type: ignore[method-assign]
    try:
        tagger.fit(_toy(64), _toy(16, seed=1), auxiliary=_aux(40, seed=3))
    finally:
        LSTMCRFTagger.loss = original  # type: ignore[method-assign]
    assert any(seen) and not all(seen)  # both heads were trained
    assert tagger.model is not None and tagger.model.aux_emit is None
    assert tagger.evaluate(_toy(30, seed=2)).scores.f1 > 0.5
    tagger.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    sentences = [s.tokens for s in _toy(5, seed=4)]
    assert loaded.tag_tokens(sentences) == tagger.tag_tokens(sentences)
    main = Tagger(TaggerConfig(hidden_size=4, char_hidden=4), FAST).build(_toy(8))._loader(
        _toy(8), "train", shuffle=True)
    mixed = MixedBatches(main, main, ratio=2.0)
    assert len(mixed) == len(main) * 3 == len(list(mixed))


def test_multitask_batches_shared_out_keep_the_auxiliary_share() -> None:
    from torch.utils.data import DataLoader

    from lstmkit.tagging.data import MixedBatches
    from lstmkit.text.batching import BucketBatchSampler

    def loader(rank: int, world_size: int) -> DataLoader:
        sampler = BucketBatchSampler([3] * 40, 8, rank=rank, world_size=world_size)
        return DataLoader(list(range(40)), batch_sampler=sampler)

    # 5 main batches on one process and round(0.5 * 5) = 2 auxiliary ones; on two processes
    # 3 main batches each (one again), and 1 auxiliary each, 2 in all as on one (not 2 each)
    assert MixedBatches(loader(0, 1), loader(0, 1), ratio=0.5).num_auxiliary == 2
    shares = [MixedBatches(loader(r, 2), loader(r, 2), ratio=0.5) for r in (0, 1)]
    assert [(len(m.main), m.num_auxiliary, len(list(m))) for m in shares] == [(3, 1, 4)] * 2


def test_multitask_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="auxiliary_weight must be a finite number > 0, got 0"):
        TaggerConfig(auxiliary_weight=0)
    with pytest.raises(ValueError, match="auxiliary_ratio must be a finite number > 0, got -1"):
        TaggerConfig(auxiliary_ratio=-1)
    # (accepted, and training failed: round(inf * batches), float(10**400))
    with pytest.raises(ValueError, match=r"auxiliary_ratio must be a finite number > 0, got inf"):
        TaggerConfig(auxiliary_ratio=float("inf"))
    with pytest.raises(ValueError, match=r"auxiliary_weight must be a finite number > 0, got an "
                                         r"int of 401 digits"):
        TaggerConfig(auxiliary_weight=10**400)
    tagger = Tagger(TaggerConfig(hidden_size=4, char_hidden=4), FAST)
    with pytest.raises(ValueError, match="auxiliary holds no entities"):
        tagger.fit(_toy(8), auxiliary=[Sentence(["a", "b"], ["O", "O"])])
    with pytest.raises(ValueError, match="auxiliary sentences must carry tags"):
        tagger.fit(_toy(8), auxiliary=[Sentence(["a", "b"], None)])
    with pytest.raises(ValueError, match="auxiliary must hold at least one sentence"):
        tagger.fit(_toy(8), auxiliary=[])


def test_ensemble_pools_members_scores_exactly() -> None:
    from lstmkit.tagging import TaggerEnsemble, allowed_transitions

    tags = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    allowed, start, end = allowed_transitions(tags, "BIOES")
    torch.manual_seed(0)
    members = [LSTMCRFTagger(20, 6, 5, pad_index=0, unk_index=1, hidden_size=4, dropout=0.0,
                             allowed=allowed, allowed_start=start, allowed_end=end).eval()
               for _ in range(3)]
    for member in members:  # distinct CRFs, or the pooled one is trivially any member's
        assert member.crf is not None
        torch.nn.init.normal_(member.crf.transitions)
    pooled = TaggerEnsemble(members).eval()
    words, lengths = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]]), torch.tensor([4, 2])
    emissions = pooled(words=words, lengths=lengths)
    path = torch.tensor([[1, 2, 3, 0], [4, 0, 0, 0]])
    assert pooled.crf is not None
    mean_score = torch.stack([m.crf.score(m(words=words, lengths=lengths), path, lengths)
                              for m in members if m.crf is not None]).mean(dim=0)
    assert torch.allclose(pooled.crf.score(emissions, path, lengths), mean_score, atol=1e-5)
    # Viterbi over the pooled scores: no allowed path scores higher than the decoded one
    best = pooled.decode(emissions, lengths)
    best_score = pooled.crf.score(emissions, torch.tensor([best[0], best[1] + [0, 0]]),
                                  lengths)
    assert bool((best_score >= pooled.crf.score(emissions, path, lengths) - 1e-5).all())
    with pytest.raises(ValueError, match="members must hold at least one network"):
        TaggerEnsemble([])


def test_snapshots_and_ensemble_train_save_and_load(tmp_path) -> None:
    config = TaggerConfig(hidden_size=16, embedding_dim=16, char_dim=8, char_hidden=8,
                          batch_size=8, dropout=0.1, snapshots=2, ensemble=2)
    tagger = Tagger(config, FAST).fit(_toy(80), _toy(20, seed=1), auxiliary=_aux(30, seed=3))
    from lstmkit.tagging import TaggerEnsemble

    assert isinstance(tagger.model, TaggerEnsemble) and len(tagger.model.members) == 4
    assert len(tagger.snapshot_epochs) == 4
    assert {row["member"] for row in tagger.history} == {0.0, 1.0}
    # members differ (two seeds, two epochs each)
    first, second = (m.emit.weight for m in tagger.model.members[::2])
    assert not torch.equal(first, second)
    assert tagger.evaluate(_toy(40, seed=2)).scores.f1 > 0.8
    tagger.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    sentences = [s.tokens for s in _toy(6, seed=4)]
    assert loaded.tag_tokens(sentences) == tagger.tag_tokens(sentences)
    assert loaded.snapshot_epochs == tagger.snapshot_epochs
    with pytest.raises(ValueError, match="snapshots=2 picks checkpoints on dev data, got "
                                         "dev=None"):
        Tagger(config, FAST).fit(_toy(8))
    with pytest.raises(ValueError, match="ensemble must be"):
        TaggerConfig(ensemble=0)


def test_a_seeded_run_does_not_depend_on_earlier_random_draws() -> None:
    config = TaggerConfig(hidden_size=8, embedding_dim=8, char_dim=4, char_hidden=4)
    short = FAST.replace(max_epochs=1)
    torch.manual_seed(123)
    first = Tagger(config, short).fit(_toy(24), _toy(8, seed=1), auxiliary=_aux(8))
    torch.rand(1000)  # what ran before in the process must not matter
    second = Tagger(config, short).fit(_toy(24), _toy(8, seed=1), auxiliary=_aux(8))
    assert first.model is not None and second.model is not None
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[name]), name


def test_adversarial_training_perturbs_the_word_embeddings() -> None:
    config = TaggerConfig(hidden_size=16, embedding_dim=16, char_dim=8, char_hidden=8,
                          batch_size=8, dropout=0.1)
    tagger = Tagger(config, FAST.replace(adversarial=0.5)).fit(_toy(100), _toy(20, seed=1))
    assert tagger.model.adversarial_inputs() == [tagger.model.embed]  # type: ignore[union-attr]
    last = tagger.history[-1]
    assert last["train_adversarial_loss"] > last["train_loss"]
    assert tagger.evaluate(_toy(60, seed=2)).scores.f1 > 0.9


def test_load_checks_the_format_version_and_a_damaged_model_file(tmp_path) -> None:
    from lstmkit import __version__

    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4)).build(_toy(20))
    saved = tagger.save(tmp_path / "m")
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["format_version"] == 1 and meta["lstmkit_version"] == __version__
    del meta["lstmkit_version"]  # as written before the version was recorded
    (saved / "meta.json").write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(ValueError, match=rf"saved tagger '{re.escape(str(saved))}' has "
                                         r"format_version 2 \(written by lstmkit an unrecorded "
                                         rf"version\), but this lstmkit \({re.escape(__version__)}"
                                         r"\) reads format_version 1"):
        Tagger.load(saved)
    damaged = tagger.save(tmp_path / "d")
    good = (damaged / "model.pt").read_bytes()
    (damaged / "model.pt").write_bytes(good[: len(good) // 3])
    with pytest.raises(ValueError, match=rf"saved tagger '{re.escape(str(damaged))}': "
                                         "model.pt cannot be read"):
        Tagger.load(damaged)


def test_resumed_ensemble_tags_like_an_uninterrupted_one(tmp_path, monkeypatch) -> None:
    import lightning.pytorch as pl

    import lstmkit.training

    class Killed(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: object) -> None:
            if trainer.current_epoch == 1:
                raise RuntimeError("killed")

    real, calls = lstmkit.training.fit, []

    def killed_second_member(*args, callbacks=(), **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        extra = [Killed()] if len(calls) == 2 else []
        return real(*args, callbacks=[*callbacks, *extra], **kwargs)

    config = TaggerConfig(hidden_size=8, embedding_dim=8, char_dim=4, char_hidden=4,
                          batch_size=8, ensemble=2, snapshots=2)
    train, dev = _toy(24), _toy(8, seed=1)

    def training(name: str) -> TrainConfig:
        return FAST.replace(max_epochs=3, checkpoint_dir=tmp_path / name)

    whole = Tagger(config, training("whole")).fit(train, dev)
    with monkeypatch.context() as patch:
        patch.setattr(lstmkit.training, "fit", killed_second_member)
        with pytest.raises(RuntimeError, match="killed"):
            Tagger(config, training("cut")).fit(train, dev)
    resumed = Tagger(config, training("cut")).fit(train, dev, resume=True)
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == [".lock", "member0", "member1"]
    assert resumed.history == whole.history
    for a, b in zip(resumed.model.members, whole.model.members, strict=True):
        for key, value in a.state_dict().items():
            torch.testing.assert_close(value, b.state_dict()[key])
    assert resumed.training.monitor == "val_f1"  # the monitor used, as saved
    with pytest.raises(ValueError, match="resume=True cannot continue multitask training"):
        Tagger(config, training("aux")).fit(train, dev, auxiliary=_aux(8), resume=True)


def test_an_explicit_val_loss_monitor_is_kept() -> None:
    config = TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4, batch_size=8)
    tagger = Tagger(config, FAST.replace(max_epochs=1), dev_monitor=False)
    tagger.fit(_toy(8), _toy(4, seed=1))
    assert (tagger.training.monitor, tagger.training.monitor_mode) == ("val_loss", "min")
    default = Tagger(config, FAST.replace(max_epochs=1)).fit(_toy(8), _toy(4, seed=1))
    assert default.training.monitor == "val_f1"


def test_vectors_that_hold_none_of_the_training_words_warn(tmp_path) -> None:
    vec = tmp_path / "de.txt"
    vec.write_text("gut 1 0 0 0\nschlecht 0 1 0 0\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"vectors '.*de\.txt' hold 0 of the \d+ training words "
                                         r"\(0\.0%\)"):
        tagger = Tagger(TaggerConfig(vectors=str(vec), hidden_size=4, char_hidden=4),
                        FAST.replace(max_epochs=1)).fit(_toy(8))
    # the coverage is kept with the model, not only in the warning
    assert tagger.vectors_coverage == 0.0
    assert Tagger.load(tagger.save(tmp_path / "m")).vectors_coverage == 0.0


def test_devices_auto_trains_on_one_of_several_gpus(two_gpus_fit_settings) -> None:
    handed = two_gpus_fit_settings
    config = TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4)
    with pytest.raises(KeyboardInterrupt):
        Tagger(config, FAST.replace(devices="auto", accelerator="auto")).fit(_toy(8))
    assert handed[0].devices == 1
    # more devices when asked for, and multitask batches, which train one head each, under
    # DDP that lets a step leave parameters unused
    for devices, strategy, auxiliary, used in [
            (2, "auto", None, "auto"), (2, "auto", _aux(8), "ddp_find_unused_parameters_true"),
            (1, "ddp", _aux(8), "ddp_find_unused_parameters_true"), (1, "auto", _aux(8), "auto"),
            (2, "fsdp", _aux(8), "fsdp")]:
        with pytest.raises(KeyboardInterrupt):
            Tagger(config, FAST.replace(devices=devices, strategy=strategy)).fit(
                _toy(8), auxiliary=auxiliary)
        assert (handed[-1].devices, handed[-1].strategy) == (devices, used)


def _built() -> Tagger:
    """An untrained tagger (enough for the inference checks)."""
    return Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4)).build(_toy(8))


def _every_token_an_entity(tagger: Tagger, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Make ``tagger`` tag every token as a one-token entity, so that each entity's text
    shows which input text it was cut from."""
    monkeypatch.setattr(tagger, "_tag", lambda sentences, batch_size, scored=False, **_: (
        [["B-PER"] * len(tokens) for tokens in sentences],
        [{(t, t + 1): 1.0 for t in range(len(tokens))} for tokens in sentences]))


def test_predict_cuts_entities_from_the_text_at_the_same_position(monkeypatch) -> None:
    import pandas as pd

    tagger = _built()
    _every_token_an_entity(tagger, monkeypatch)
    texts = ["Alice met Bob", "Oslo today", "", "visited Rome"]
    expected = [t.split() for t in texts]
    for index in ([3, 1, 2, 0], [1, 2, 3, 4]):  # a shuffled or filtered DataFrame column
        entities = tagger.predict(pd.Series(texts, index=index))
        assert [[e.text for e in row] for row in entities] == expected
    assert [[e.text for e in row] for row in tagger.predict(t for t in texts)] == expected


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_each_entity_has_the_probability_of_its_tags(decoder: str) -> None:
    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4,
                                 decoder=decoder)).build(_toy(8))
    torch.manual_seed(0)
    with torch.no_grad():  # an untrained network tags entities too
        for p in tagger._ready()[2].parameters():
            p.normal_()
    texts = ["Alice met Bob in Oslo", "Rome", "Bob and Alice visited Rome and Oslo"]
    rows = tagger.predict(texts)
    entities = [e for row in rows for e in row]
    assert entities and all(0.0 < e.score <= 1.0 for e in entities)
    if decoder == "softmax":  # the product of its tokens' probabilities
        text, e = next((t, row[0]) for t, row in zip(texts, rows, strict=True) if row)
        words, _, model, encoder = tagger._ready()
        inputs, _ = collate([encoder.encode(text.split())], words.pad_index)
        with torch.no_grad():
            probs = model(**inputs)[0].softmax(-1)
        path = model.decode(model(**inputs), inputs["lengths"])[0]
        expected = math.prod(float(probs[t, path[t]]) for t in
                             range(e.token_start, e.token_end))
        assert e.score == pytest.approx(expected, rel=1e-5)


def _predict_reference(tagger: Tagger, texts: list[str]) -> list[list[tuple]]:
    """``predict`` computed plainly, a text at a time: its own character LSTM run over the
    padded words (the training path, with gradients), Viterbi and the span marginals as the
    torch loops (``_decode_reference``, ``_span_log_probs_reference``)."""
    from lstmkit.tagging import spans_from_tags

    words, vocab, model, encoder = tagger._ready()
    assert isinstance(model, LSTMCRFTagger) and model.crf is not None
    model.eval()  # (no dropout)
    out = []
    for text in texts:
        tokens = tagger.tokenizer.spans(text)
        inputs, _ = collate([encoder.encode([t.text for t in tokens])], words.pad_index)
        with torch.enable_grad():
            emissions = model(**inputs).detach()  # (1, T, K)
        mask = torch.ones(inputs["words"].shape, dtype=torch.bool)
        path = model.crf._decode_reference(emissions, inputs["lengths"], mask)[0]
        tags = convert([vocab.itos[k] for k in path], tagger.config.tag_scheme, "IOB2",
                       strict=False)
        spans = spans_from_tags(tags)
        logs = model.crf._span_log_probs_reference(
            emissions, mask, [(0, s.start, s.end, path[s.start:s.end]) for s in spans])
        out.append([(text[tokens[s.start].start:tokens[s.end - 1].end], s.type, s.start,
                     s.end, math.exp(log)) for s, log in zip(spans, logs, strict=True)])
    return out


def test_predict_in_batches_matches_a_text_at_a_time_reference() -> None:
    # predict's fast paths (each distinct word's characters encoded once for all the
    # batches, words of one length together; the numpy Viterbi and forward-backward; no
    # span search in a sentence tagged all O) give the entities and scores of the plain
    # computation
    tagger = Tagger(TaggerConfig(hidden_size=8, embedding_dim=8, char_hidden=5)).build(
        _toy(30))
    torch.manual_seed(3)
    with torch.no_grad():  # an untrained network tags entities too
        for p in tagger._ready()[2].parameters():
            p.normal_()
    rng = random.Random(4)
    vocabulary = [*PEOPLE, *PLACES, *FILL, "Zürich", "x" * 30, "@bob", "#Oslo", "42", "?!"]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 25)))
             for _ in range(40)] + vocabulary  # (and texts of one word)
    expected = _predict_reference(tagger, texts)
    assert sum(map(len, expected)) > 40  # (entities to score)
    assert sum(not row for row in expected) >= 1  # (a text without one)
    # (a text whose only entity is one token: one tag not O)
    assert any(len(row) == 1 and row[0][3] - row[0][2] == 1 for row in expected)
    for batch_size in (1, 7, 128):
        got = [[(e.text, e.type, e.token_start, e.token_end, e.score) for e in row]
               for row in tagger.predict(texts, batch_size=batch_size)]
        assert [[e[:4] for e in row] for row in got] == \
            [[e[:4] for e in row] for row in expected]
        assert [e[4] for row in got for e in row] == pytest.approx(
            [e[4] for row in expected for e in row], abs=1e-6)


def test_encode_many_encodes_as_encode_each_distinct_token_once() -> None:
    tagger = _built()
    encoder = tagger.encoder
    assert encoder is not None
    sentences = [["Alice", "met", "Bob"], ["Bob", "x" * 30, "Zürich", ""], ["met"]]
    encoded, char_ids, distinct = encoder.encode_many(sentences)
    assert encoded == [encoder.encode(s) for s in sentences]
    assert distinct[0] == [] and len(distinct) == len({tuple(c) for c in distinct})
    assert [[distinct[k] for k in row] for row in char_ids] == [e.chars for e in encoded]
    assert char_ids[1][3] == 0  # (the empty token: no characters)
    with pytest.raises(ValueError, match="at least one token"):
        encoder.encode_many([["a"], []])


def test_predict_tag_tokens_and_evaluate_show_progress_on_request(capsys) -> None:
    tagger = _built()
    sentences = _toy(5)
    texts = [" ".join(s.tokens) for s in sentences]
    expected = tagger.tag_tokens([s.tokens for s in sentences])
    assert capsys.readouterr().err == ""  # (off by default)
    assert tagger.tag_tokens([s.tokens for s in sentences], batch_size=2,
                             progress=True) == expected
    bar = capsys.readouterr().err
    assert "0/5" in bar and "sentences/s" in bar, bar
    tagger.predict(texts, batch_size=2, progress=True)
    assert "0/5" in capsys.readouterr().err
    tagger.predict(texts, batch_size=2, progress=None)  # a terminal only (stderr is not one)
    tagger.evaluate(sentences, progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match=r"progress must be True, False or None, got 1"):
        tagger.tag_tokens([s.tokens for s in sentences], progress=1)  # type: ignore[arg-type]


def test_predict_and_tag_tokens_take_generators() -> None:
    tagger = _built()
    assert len(tagger.predict(t for t in ["Alice met Bob", "Oslo"])) == 2
    tags = tagger.tag_tokens(s for s in [["Alice", "met", "Bob"], ("Oslo",)])
    assert [len(t) for t in tags] == [3, 1]
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got float nan"):
        tagger.predict(t for t in ["Alice", float("nan")])  # type: ignore[misc]


@pytest.mark.parametrize("char_encoder", ["lstm", "cnn", "none"])
def test_empty_tokens_are_tagged_even_when_a_batch_holds_no_character(char_encoder: str
                                                                      ) -> None:
    # an empty token has a zero character vector; a batch of only empty tokens raised
    # torch's "Number of zero sized dimensions" (lstm) or a convolution error (cnn)
    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_encoder=char_encoder)
                    ).build(_toy(20))
    tags = tagger.tag_tokens([[""], ["Alice", ""], ["", ""]], batch_size=1)
    assert [len(t) for t in tags] == [1, 2, 2]


def test_tag_tokens_checks_the_nesting_and_names_the_sentence_and_token() -> None:
    tagger = _built()
    with pytest.raises(TypeError, match=r"sentences\[0\] must be a sequence of str tokens "
                                        r"\(a list\), got str 'Alice' \(one sentence is a list "
                                        r"of tokens"):
        tagger.tag_tokens(["Alice", "met", "Bob"])  # one sentence, not wrapped in a list
    with pytest.raises(TypeError, match=r"sentences must be a sequence of sentences, each a "
                                        r"list of str tokens, got str 'Alice met'"):
        tagger.tag_tokens("Alice met")
    with pytest.raises(TypeError, match=r"sentences\[1\]\[1\] must be a str token, got float "
                                        r"\(nan\)"):
        tagger.tag_tokens([["Alice"], ["Bob", float("nan")]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"sentences\[0\] must be a sequence of str tokens "
                                        r"\(a list\), got set"):
        tagger.tag_tokens([{"Alice"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"sentences\[1\] must hold at least one token, got "
                                         r"an empty sentence"):
        tagger.tag_tokens([["Alice"], []])
    with pytest.raises(ValueError, match=r"data sentence 2: tokens must hold at least one "
                                         r"token, got an empty sentence"):
        tagger.evaluate([Sentence(["Alice"], ["B-PER"]), Sentence([], [])])
    with pytest.raises(ValueError, match=r"train sentence 5: tokens must hold at least one "
                                         r"token"):
        Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4), FAST).fit(
            [*_toy(4), Sentence([], [])])


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, False])
def test_tagging_batch_size_must_be_a_positive_int(batch_size: object) -> None:
    tagger = _built()
    error = ValueError if type(batch_size) is int else TypeError  # (a wrong kind)
    message = (rf"batch_size must be an int >= 1, got {batch_size}$" if error is ValueError
               else rf"batch_size must be an int >= 1, got {type(batch_size).__name__} "
                    rf"{re.escape(repr(batch_size))}$")
    with pytest.raises(error, match=message):
        tagger.tag_tokens([["Alice", "met", "Bob"]], batch_size=batch_size)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        tagger.predict(["Alice met Bob"], batch_size=batch_size)  # type: ignore[arg-type]
    assert [len(t) for t in tagger.tag_tokens([["a", "b"], ["c"]], batch_size=1)] == [2, 1]


def test_naming_dev_f1_as_the_monitor_keeps_the_best_epoch() -> None:
    config = TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4, batch_size=8)
    named = FAST.replace(max_epochs=1, monitor="val_f1")  # monitor_mode left at "min"
    tagger = Tagger(config, named, dev_monitor=False).fit(_toy(8), _toy(4, seed=1))
    assert (tagger.training.monitor, tagger.training.monitor_mode) == ("val_f1", "max")


def test_without_a_seed_the_batch_order_is_drawn_afresh(shuffle_seeds) -> None:
    from lstmkit.tagging import tagger as module

    seeds = shuffle_seeds(module)
    config = TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4, batch_size=8)
    unseeded = FAST.replace(max_epochs=1, seed=None)
    Tagger(config, unseeded).fit(_toy(8))
    Tagger(config, unseeded).fit(_toy(8))
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    seeds.clear()
    Tagger(config, FAST.replace(max_epochs=1, seed=3)).fit(_toy(8))
    assert seeds == [3]


def test_tag_tokens_takes_a_sentence_as_any_ordered_iterable_of_tokens() -> None:
    import numpy as np
    import pandas as pd

    tagger = _built()
    tokens = ["Alice", "met", "Bob"]
    expected = tagger.tag_tokens([tokens, ["Oslo"]])
    for sentence in (np.array(tokens), pd.Series(tokens, index=[5, 2, 9]), tuple(tokens),
                     (t for t in tokens)):
        assert tagger.tag_tokens([sentence, ["Oslo"]]) == expected
    with pytest.raises(TypeError, match=r"sentences\[1\]\[1\] must be a str token, got "
                                        r"NoneType \(None\)"):
        tagger.tag_tokens([tokens, np.array(["Oslo", None], dtype=object)])
    with pytest.raises(TypeError, match=r"sentences\[0\] must be a sequence of str tokens "
                                        r"\(a list\), got dict"):
        tagger.tag_tokens([{"Alice": 0}])  # type: ignore[list-item]


def test_a_model_saved_with_freeze_embeddings_and_no_vectors_loads_with_a_warning(
        tmp_path) -> None:
    tagger = Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4)).build(_toy(8))
    saved = tagger.save(tmp_path / "m")
    config = json.loads((saved / "config.json").read_text())
    config["freeze_embeddings"] = True  # as versions before the vectors check saved it
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match=r"config.json: freeze_embeddings=True without vectors "
                                         r"is read as False"):
        loaded = Tagger.load(saved)
    assert loaded.config == tagger.config
    sentences = [s.tokens for s in _toy(4, seed=3)]
    assert loaded.tag_tokens(sentences) == tagger.tag_tokens(sentences)
    with pytest.raises(ValueError, match=r"freeze_embeddings=True needs vectors"):
        TaggerConfig.from_dict(config)  # a new configuration with it is still an error


def test_a_moving_average_of_the_weights_trains_the_tagger() -> None:
    # the CRF's transition masks are bool buffers: the average must leave them as they are
    train, dev = _toy(30, 0), _toy(10, 1)
    tagger = Tagger(TaggerConfig(hidden_size=8, char_dim=4, char_hidden=4),
                    FAST.replace(max_epochs=2, ema_decay=0.9)).fit(train, dev)
    crf = tagger.model.crf
    assert crf.allowed.dtype == torch.bool and not bool(crf.allowed.all())
    assert tagger.evaluate(dev).scores.f1 == pytest.approx(max(r["val_f1"] for r in tagger.history))


def test_malformed_sentences_are_refused_before_training_naming_where() -> None:
    good = _toy(8)
    tagger = Tagger(TaggerConfig(hidden_size=8, embedding_dim=8), training=FAST)
    # tags not one per token: they were padded with O or used beyond the sentence, silently
    short = Sentence(["John", "lives", "in", "Paris"], ["B-PER", "O"])
    with pytest.raises(ValueError, match=r"^train sentence 9: 4 tokens and 2 tags; a sentence "
                                         r"has one tag per token"):
        tagger.fit([*good, short], good)
    with pytest.raises(ValueError, match=r"^dev sentence 2: 4 tokens and 2 tags"):
        tagger.fit(good, [good[0], short])
    with pytest.raises(ValueError, match=r"^train sentence 1: tag must be 'O' or "
                                         r"'<B\|I\|E\|S>-<type>', got 'b-PER'"):
        tagger.fit([Sentence(["Bob"], ["b-PER"]), *good])
    with pytest.raises(TypeError, match=r"^train\[0\] must be a lstmkit.tagging.Sentence\("
                                        r"tokens, tags\), got tuple"):
        tagger.fit([(["Bob"], ["B-PER"]), *good])
    tagger.fit(good)
    with pytest.raises(ValueError, match=r"^test sentence 1: 1 tokens and 3 tags"):
        tagger.evaluate([Sentence(["John"], ["B-PER", "O", "B-LOC"])], source="test")


def test_a_resume_on_other_training_data_is_refused(tmp_path) -> None:
    # its vocabularies differ: the checkpoint's embedding rows belong to other words
    config = TaggerConfig(hidden_size=8, embedding_dim=8)
    training = FAST.replace(max_epochs=1, checkpoint_dir=tmp_path / "ckpt")
    train = _toy(12)
    Tagger(config, training).fit(train)
    other = [Sentence(["Kyiv" if t in PLACES else t for t in s.tokens], s.tags)
             for s in train]
    with pytest.raises(ValueError, match=r"other settings \(.*vocabulary.words: '\d+ entries "
                                         r"from the training data, sha256 \w+' there"):
        Tagger(config, training.replace(max_epochs=2)).fit(other, resume=True)
    # the same words and tags, other examples: a place of the first sentence that has one
    # tagged O
    first = next(k for k, s in enumerate(train) if "B-LOC" in s.tags)
    tags = list(train[first].tags)
    tags[tags.index("B-LOC")] = "O"
    moved = [*train[:first], Sentence(train[first].tokens, tags), *train[first + 1:]]
    assert {t for s in moved for t in s.tags} == {t for s in train for t in s.tags}
    with pytest.raises(ValueError, match=r"other settings \(training and dev examples: "
                                         r"'12 training and no dev examples, sha256 \w{12}' "
                                         r"there, '12 training and no dev examples, sha256 "
                                         r"\w{12}' here\)"):
        Tagger(config, training.replace(max_epochs=2)).fit(moved, resume=True)
    # the same entities written in another scheme are the same examples to the model
    iob1 = [Sentence(s.tokens, convert(s.tags, "IOB2", "IOB1")) for s in train]
    assert iob1 != train
    resumed = Tagger(config, training.replace(max_epochs=2)).fit(iob1, resume=True)
    assert len(resumed.history) == 2
