"""Adversarial training (TrainConfig.adversarial): the perturbation and its errors. The
classifier and tagger train with it in their own tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lstmkit.training import Task, TrainConfig


class BagOfWords(nn.Module):
    """Embeddings -> mean over tokens -> linear: no dropout, so both passes are exact."""

    def __init__(self, freeze: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.embed.weight.requires_grad_(not freeze)
        self.head = nn.Linear(4, 3)

    def adversarial_inputs(self) -> list[nn.Module]:
        return [self.embed]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens).mean(dim=1))  # (B, K)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 10, (5, 6), generator=g), torch.randint(0, 3, (5,), generator=g)


def test_perturbation_is_the_normalised_loss_gradient_per_example() -> None:
    torch.manual_seed(0)
    model = BagOfWords()
    tokens, target = _batch()
    task = Task(model, F.cross_entropy, TrainConfig(adversarial=0.7))
    clean, adversarial, returned = task.adversarial_loss((tokens, target), 0.7)

    x = model.embed(tokens)  # (B, T, E)
    loss = F.cross_entropy(model.head(x.mean(dim=1)), target)
    (g,) = torch.autograd.grad(loss, x)
    r = 0.7 * g / g.flatten(1).norm(dim=1)[:, None, None]  # (B, T, E), norm 0.7 per example
    expected = F.cross_entropy(model.head((x + r).mean(dim=1)), target)
    torch.testing.assert_close(clean, loss)
    torch.testing.assert_close(adversarial, expected)
    assert torch.equal(returned, target)
    # cross-entropy is convex in the embeddings here, so a step up the gradient raises it
    assert adversarial > clean
    # a larger step raises it more
    _, larger, _ = task.adversarial_loss((tokens, target), 2.0)
    assert larger > adversarial


def test_gradients_reach_the_embeddings_through_both_passes_and_hooks_are_removed() -> None:
    model = BagOfWords()
    tokens, target = _batch()
    task = Task(model, F.cross_entropy, TrainConfig(adversarial=0.5))
    clean, adversarial, _ = task.adversarial_loss((tokens, target), 0.5)
    (clean + adversarial).backward()
    assert model.embed.weight.grad is not None and model.embed.weight.grad.abs().sum() > 0
    assert not model.embed._forward_hooks
    # the model is left as it was: a plain call gives the clean output
    torch.testing.assert_close(F.cross_entropy(model(tokens), target), clean)


def test_frozen_embeddings_are_perturbed_all_the_same() -> None:
    model = BagOfWords(freeze=True)
    tokens, target = _batch()
    task = Task(model, F.cross_entropy, TrainConfig(adversarial=0.5))
    clean, adversarial, _ = task.adversarial_loss((tokens, target), 0.5)
    assert adversarial > clean
    (clean + adversarial).backward()
    assert model.embed.weight.grad is None and model.head.weight.grad is not None


def test_training_step_returns_clean_plus_adversarial_loss() -> None:
    model = BagOfWords()
    tokens, target = _batch()
    task = Task(model, F.cross_entropy, TrainConfig(adversarial=0.5))
    task.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
    clean, adversarial, _ = task.adversarial_loss((tokens, target), 0.5)
    torch.testing.assert_close(task.training_step((tokens, target), 0), clean + adversarial)
    plain = Task(model, F.cross_entropy, TrainConfig())
    plain.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
    torch.testing.assert_close(plain.training_step((tokens, target), 0), clean)


def test_errors_name_the_setting() -> None:
    with pytest.raises(ValueError, match=r"adversarial must be >= 0\.0, got -1"):
        TrainConfig(adversarial=-1.0)
    plain = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(24, 3))
    with pytest.raises(TypeError, match=r"adversarial=0.5 needs a model with an "
                                        r"adversarial_inputs\(\) method.*got Sequential"):
        Task(plain, F.cross_entropy, TrainConfig(adversarial=0.5))

    class Unused(BagOfWords):
        def adversarial_inputs(self) -> list[nn.Module]:
            return [nn.Embedding(10, 4)]  # never called in forward

    tokens, target = _batch()
    task = Task(Unused(), F.cross_entropy, TrainConfig(adversarial=0.5))
    with pytest.raises(RuntimeError, match="were not called in its forward pass"):
        task.adversarial_loss((tokens, target), 0.5)

