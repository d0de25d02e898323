"""Tests written for the mutants of ``baselines/training_loop.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.training_loop import BatchOutcome, Validation, fit_minibatches
from bench.core.task_contract import Split


def five_examples() -> tuple[torch.nn.Linear, Split]:
    torch.manual_seed(0)
    return torch.nn.Linear(2, 1), Split(torch.randn(5, 3, 2), torch.tensor([0, 1, 0, 1, 1]))


def fit(model, split, step, **settings):
    def validate() -> Validation:
        return Validation(0.5, 3.0)

    return fit_minibatches(model, step, validate, split, batch_size=2, lr=0.1, grad_clip=0.0, seed=0,
                           device=torch.device("cpu"), progress=lambda _line: None, selection="last-epoch",
                           **settings)


def test_without_a_weight_decay_weights_that_get_no_gradient_do_not_move() -> None:
    """Kills fit_minibatches 5 (default weight_decay 1.0): the default is plain Adam, no decay."""
    model, split = five_examples()

    def no_gradient(x, y) -> BatchOutcome:  # a loss that does not depend on the weights
        return BatchOutcome((model.weight * 0).sum() + (model.bias * 0).sum(), x.shape[0] * x.shape[1], x.shape[0])

    start = [p.detach().clone() for p in model.parameters()]
    fit(model, split, no_gradient, epochs=2)
    assert all(torch.equal(p, s) for p, s in zip(model.parameters(), start))


def test_the_cosine_schedule_spans_every_minibatch_when_the_last_one_is_partial(monkeypatch) -> None:
    """Kills fit_minibatches 23 (len / batch_size: T_max 2.5 per epoch) and 24 (-(len // batch_size): T_max
    -2 per epoch, annealing over 2 minibatches an epoch instead of 3).

    5 examples in minibatches of 2 make 3 minibatches an epoch (the last of 1), so over 2 epochs the learning
    rate of minibatch k is lr (1 + cos(pi k / 6)) / 2."""
    model, split = five_examples()
    rates = []
    original = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    def step(x, y) -> BatchOutcome:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[:, -1])[:, 0], y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    fit(model, split, step, epochs=2, lr_schedule="cosine")
    assert rates == pytest.approx([0.1 * (1 + math.cos(math.pi * k / 6)) / 2 for k in range(6)], rel=1e-9, abs=1e-12)


def test_a_model_whose_state_cannot_be_copied_is_refused_before_any_training_step() -> None:
    """Kills fit_minibatches 39 (no copy of the initial weights: best_state None until the first epoch ends).

    The loop copies the model's state before training, so a state that cannot be deep-copied (here an extra
    state holding a lock) stops it before the first minibatch, not after an epoch of training."""
    import threading

    class WithLock(torch.nn.Linear):
        def get_extra_state(self):
            return threading.Lock()

        def set_extra_state(self, state) -> None:
            pass

    torch.manual_seed(0)
    model = WithLock(2, 1)
    split = Split(torch.randn(5, 3, 2), torch.tensor([0, 1, 0, 1, 1]))
    calls = []

    def step(x, y) -> BatchOutcome:
        calls.append(x.shape[0])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[:, -1])[:, 0], y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    start = model.weight.detach().clone()
    with pytest.raises(TypeError, match="lock"):
        fit(model, split, step, epochs=1)
    assert calls == []
    assert torch.equal(model.weight, start)
