"""The text applications under DDP: two CPU processes share out one epoch's batches."""

from __future__ import annotations

SCRIPT = '''
import json, os, random, sys
from lstmkit.classification import Classifier, ClassifierConfig, Example
from lstmkit.text import batching
from lstmkit.training import TrainConfig

drawn = []
draw = batching.BucketBatchSampler.__iter__

def recording(self):
    batches = list(draw(self))
    if self.shuffle:
        drawn.append({"seed": self.seed, "batches": batches})
    yield from batches

batching.BucketBatchSampler.__iter__ = recording
rng = random.Random(0)
examples = [Example(" ".join(["the"] * rng.randint(1, 9) + [word]), str(label))
            for label, word in (rng.choice([(1, "good"), (0, "bad")]) for _ in range(101))]
clf = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=8),
                 TrainConfig(max_epochs=2, seed=None, strategy="ddp", devices=2,
                             accelerator="cpu", progress_bar=False)
                 ).fit(examples, examples[:20])
weights = [p.detach().flatten().tolist() for p in clf.model.parameters()]
rank = os.environ.get("LOCAL_RANK", "0")
with open(f"rank{rank}.json", "w") as file:
    json.dump({"drawn": drawn, "weights": weights}, file)
'''


def test_processes_draw_the_first_ones_batches_and_share_them_out(ddp_script) -> None:  # type: ignore[no-untyped-def]
    first, second = ddp_script(SCRIPT)
    assert len(first["drawn"]) == len(second["drawn"]) == 2  # epochs
    for mine, theirs in zip(first["drawn"], second["drawn"], strict=True):
        # without training.seed each process drew its own seed; the first one's serves both
        assert mine["seed"] == theirs["seed"]
        # 13 batches of 8 from 101 examples: 7 each, the 14th the first again
        assert len(mine["batches"]) == len(theirs["batches"]) == 7
        shared = [b for pair in zip(mine["batches"], theirs["batches"], strict=True)
                  for b in pair]
        assert shared[13] == shared[0]
        assert sorted(i for b in shared[:13] for i in b) == list(range(101))
    assert first["weights"] == second["weights"]
