"""The shared minibatch training loop: selection, schedules, cost accounting, divergence."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.training_loop import BatchOutcome, TrainingDiverged, Validation, fit_minibatches
from bench.core.task_contract import Split


def tiny_problem(n: int = 32):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    split = Split(torch.randn(n, 3, 2), torch.randint(0, 2, (n,)))

    def step(x, y) -> BatchOutcome:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[:, -1])[:, 0], y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    return model, split, step


def scripted_validation(model, accuracies):
    """A validate() that returns the scripted accuracies and remembers the weights it saw."""
    seen = []

    def validate() -> Validation:
        seen.append(model.weight.detach().clone())
        return Validation(accuracies[len(seen) - 1], 3.0)

    return validate, seen


def fit(model, split, step, validate, **overrides):
    settings = dict(epochs=4, batch_size=8, lr=0.1, grad_clip=1.0, seed=0, device=torch.device("cpu"),
                    progress=lambda _line: None)
    settings.update(overrides)
    return fit_minibatches(model, step, validate, split, **settings)


def test_best_validation_accuracy_is_kept() -> None:
    model, split, step = tiny_problem()
    validate, seen = scripted_validation(model, [0.5, 0.9, 0.6, 0.7])
    report = fit(model, split, step, validate)
    assert report.selected_epoch == 2 and report.selected_val_accuracy == 0.9
    assert torch.equal(model.weight, seen[1])


def test_last_epoch_selection_keeps_final_weights() -> None:
    model, split, step = tiny_problem()
    validate, seen = scripted_validation(model, [0.5, 0.9, 0.6, 0.7])
    report = fit(model, split, step, validate, selection="last-epoch")
    assert report.selected_epoch == 4 and report.selected_val_accuracy == 0.7
    assert torch.equal(model.weight, seen[3])


def test_history_logs_every_epoch_cumulatively() -> None:
    model, split, step = tiny_problem(n=30)
    validate, _ = scripted_validation(model, [0.5, 0.9, 0.6])
    report = fit(model, split, step, validate, epochs=3, selection="last-epoch")
    assert [log.epoch for log in report.history] == [1, 2, 3]
    assert [log.val_accuracy for log in report.history] == [0.5, 0.9, 0.6]
    assert all(log.val_decision_step == 3.0 for log in report.history)
    assert [log.step_evaluations_forward for log in report.history] == [90, 180, 270]
    seconds = [log.train_seconds for log in report.history]
    assert 0 < seconds[0] <= seconds[1] <= seconds[2] == report.train_seconds
    assert report.history[-1].train_loss == report.final_train_loss


def test_step_evaluations_are_summed_over_every_minibatch() -> None:
    model, split, step = tiny_problem(n=30)
    validate, _ = scripted_validation(model, [0.5] * 2)
    report = fit(model, split, step, validate, epochs=2)
    assert report.step_evaluations_forward == 2 * 30 * 3
    assert report.step_evaluations_backward == 2 * 30
    assert report.examples_per_second == pytest.approx(2 * 30 / report.train_seconds)


def test_cosine_schedule_anneals_to_zero(monkeypatch) -> None:
    model, split, step = tiny_problem()
    validate, _ = scripted_validation(model, [0.5] * 4)
    rates = []
    original = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    fit(model, split, step, validate, lr_schedule="cosine")
    assert rates[0] == pytest.approx(0.1)
    assert rates[-1] < 0.01 and all(a >= b for a, b in zip(rates, rates[1:]))
    assert len(rates) == 4 * math.ceil(32 / 8)


def test_weight_decay_shrinks_weights_that_get_no_gradient() -> None:
    model, split, _step = tiny_problem()

    def no_gradient(x, y) -> BatchOutcome:  # a loss that does not depend on the weights
        return BatchOutcome((model.weight * 0).sum(), x.shape[0] * x.shape[1], x.shape[0])

    start = model.weight.detach().clone()
    validate, _ = scripted_validation(model, [0.5] * 4)
    fit(model, split, no_gradient, validate, weight_decay=0.5, selection="last-epoch")
    # AdamW's decoupled decay: w <- w (1 - lr * decay) once per minibatch (16 of them)
    assert torch.allclose(model.weight, start * (1 - 0.1 * 0.5) ** 16)
    decayed = model.weight.detach().clone()
    validate, _ = scripted_validation(model, [0.5] * 4)
    fit(model, split, no_gradient, validate, weight_decay=0.0, selection="last-epoch")
    assert torch.equal(model.weight, decayed)


@pytest.mark.parametrize("option,value,message", [
    ("lr_schedule", "step", "unknown lr_schedule 'step'"),
    ("selection", "best", "unknown selection 'best'"),
])
def test_unknown_schedule_or_selection_is_named(option, value, message) -> None:
    model, split, step = tiny_problem()
    validate, _ = scripted_validation(model, [0.5] * 4)
    with pytest.raises(ValueError, match=message):
        fit(model, split, step, validate, **{option: value})


def test_nan_loss_stops_training_with_a_clear_error() -> None:
    model, split, _step = tiny_problem()

    def nan_step(x, y) -> BatchOutcome:
        return BatchOutcome(model(x[:, -1]).sum() * float("nan"), 1, 1)

    validate, _ = scripted_validation(model, [0.5] * 4)
    with pytest.raises(TrainingDiverged, match="training loss became nan in epoch 1"):
        fit(model, split, nan_step, validate)


def test_progress_within_an_epoch_counts_examples_and_ends_with_the_epoch_line() -> None:
    model, split, step = tiny_problem(n=30)
    validate, _ = scripted_validation(model, [0.5, 0.6])
    lines: list[str] = []
    fit(model, split, step, validate, epochs=2, progress=lines.append, progress_every_s=0)
    # batches of 8 of 30 examples: a line after 8, 16 and 24, none after the last batch
    assert [line.split(",")[0] for line in lines[:3]] == [
        "epoch 1/2: 8/30 examples", "epoch 1/2: 16/30 examples", "epoch 1/2: 24/30 examples"]
    assert all(line.endswith("left in this epoch)") for line in lines[:3])
    assert lines[3].startswith("epoch 1/2 loss ") and lines[7].startswith("epoch 2/2 loss ")
    assert len(lines) == 8


def test_progress_interval_must_be_a_nonnegative_number() -> None:
    model, split, step = tiny_problem()
    validate, _ = scripted_validation(model, [0.5] * 4)
    with pytest.raises(ValueError, match="progress_every_s must be a number of seconds >= 0, got -1"):
        fit(model, split, step, validate, progress_every_s=-1)


def test_the_report_tallies_the_minibatches_each_step_implementation_trained() -> None:
    model, split, step = tiny_problem()  # 32 examples, batches of 8: 4 minibatches an epoch
    paths = iter(["fused", "compiled", "compiled", "compiled"] * 2)

    def reporting(x, y) -> BatchOutcome:
        outcome = step(x, y)
        return BatchOutcome(outcome.loss, outcome.step_evaluations_forward, outcome.step_evaluations_backward,
                            next(paths))

    validate, _seen = scripted_validation(model, [0.5, 0.6])
    assert fit(model, split, reporting, validate, epochs=2).step_paths == {"compiled": 6, "fused": 2}
    assert fit(model, split, step, scripted_validation(model, [0.5])[0], epochs=1).step_paths == {}
