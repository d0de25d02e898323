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
    """Kills fit_minibatches 39, 40 (no copy of the initial weights: best_state None until the first epoch ends)
    and 41 (a shallow copy, which only refers to the lock).

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


def test_training_and_validation_time_are_parts_of_the_calls_own_time() -> None:
    """Kills fit_minibatches 45 (both clocks starting at 1.0 s), 133, 134, 140, 141 (a clock's time subtracted,
    or the start time added), 176 (validation time None): the two are disjoint parts of the call, so together
    no longer than it and each >= 0, and the last epoch's training time is the report's."""
    import time

    model, split = five_examples()

    def step(x, y) -> BatchOutcome:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[:, -1])[:, 0], y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    started = time.perf_counter()
    report = fit(model, split, step, epochs=2)
    elapsed = time.perf_counter() - started
    assert 0 < report.train_seconds and 0 <= report.validation_seconds
    assert report.train_seconds + report.validation_seconds <= elapsed
    assert report.history[-1].train_seconds == report.train_seconds


def test_no_epochs_is_refused_as_no_measurable_training_time() -> None:
    """Kills fit_minibatches 45 (clocks starting at 1.0 s), 169 (0 s let through) and 171-173 (the message):
    0 epochs train for 0 s, which is refused."""
    model, split = five_examples()

    def step(x, y) -> BatchOutcome:
        raise AssertionError("no minibatch is trained in 0 epochs")

    with pytest.raises(RuntimeError, match=r"^training took no measurable time; the clock or the training split "
                                           r"is broken$"):
        fit(model, split, step, epochs=0)


def test_the_epoch_loss_is_the_example_weighted_mean_of_the_minibatch_losses() -> None:
    """Kills fit_minibatches 58 (the running loss starting at 1.0) and 93-99 (the running loss or example count
    replaced, subtracted, divided or read from y's second dimension): minibatches of 2, 2 and 1 examples with
    losses 0.25, 0.5 and 1.0 (in that order) give an epoch loss of (0.5 + 1.0 + 1.0) / 5 = 0.5."""
    model, split = five_examples()
    losses = iter([0.25, 0.5, 1.0, 0.25, 0.5, 1.0])

    def step(x, y) -> BatchOutcome:
        loss = (model.weight * 0).sum() + next(losses)
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    report = fit(model, split, step, epochs=2)
    assert [log.train_loss for log in report.history] == [0.5, 0.5]
    assert report.final_train_loss == 0.5


def test_minibatches_reach_the_training_step_on_the_device_given() -> None:
    """Kills fit_minibatches 68, 69 (x or y moved to None: left on the CPU): both x and y of a minibatch are on the
    device given (meta standing in for cuda) when the training step sees them."""
    model, split = five_examples()
    seen = []

    class Stop(Exception):
        pass

    def step(x, y) -> BatchOutcome:
        seen.append((x.device.type, y.device.type, tuple(x.shape)))
        raise Stop

    with pytest.raises(Stop):
        fit_minibatches(model, step, lambda: Validation(0.5, 3.0), split, epochs=1, batch_size=2, lr=0.1,
                        grad_clip=0.0, seed=0, device=torch.device("meta"), progress=lambda _line: None)
    assert seen == [("meta", "meta", (2, 3, 2))]


class StepClock:
    """A stand-in for ``time``: ``perf_counter`` reads a time that only the test's callbacks advance."""

    def __init__(self, start: float) -> None:
        self.now = start

    def perf_counter(self) -> float:
        return self.now


def test_progress_lines_snapshots_and_times_follow_the_clock_exactly(monkeypatch) -> None:
    """With a clock that each minibatch moves on 1 s and each validation 0.25 s, and a progress line due every
    1 s, every number the loop reports is known: kills fit_minibatches 119 (a line only after, not at, its due
    time), 122-125 (the time left), 127 (the loss so far), 128, 129 (the training time so far), 132 (the
    training time of the last epoch only), 139 (likewise for validation), 105, 112-115 (a snapshot's epoch),
    106, 116, 117 (its training time) and 102 (its weights).

    5 examples in minibatches of 2, 2 and 1 with losses 0.25, 0.5 and 1.0: a line after 2 and after 4 examples
    of each epoch (1 s and 2 s in), none after the last minibatch, then the epoch line."""
    from baselines import training_loop
    from baselines.learning_curve import SnapshotSchedule

    clock = StepClock(100.0)
    monkeypatch.setattr(training_loop, "time", clock)
    model, split = five_examples()
    losses = iter([0.25, 0.5, 1.0] * 2)

    def step(x, y) -> BatchOutcome:
        clock.now += 1.0
        return BatchOutcome((model.weight * 0).sum() + next(losses), x.shape[0] * x.shape[1], x.shape[0])

    def validate() -> Validation:
        clock.now += 0.25
        return Validation(0.5, 3.0)

    lines: list[str] = []
    snapshots = SnapshotSchedule(1, 1, upper_bound_macs=40.0)
    report = fit_minibatches(model, step, validate, split, epochs=2, batch_size=2, lr=0.1, grad_clip=0.0, seed=0,
                             device=torch.device("cpu"), progress=lines.append, progress_every_s=1.0,
                             snapshots=snapshots)
    assert lines == [
        "epoch 1/2: 2/5 examples, loss 0.2500 (1.0s; about 2s left in this epoch)",
        "epoch 1/2: 4/5 examples, loss 0.3750 (2.0s; about 0s left in this epoch)",
        "epoch 1/2 loss 0.5000 val acc 0.5000 steps 3.00 (3.0s)",
        "epoch 2/2: 2/5 examples, loss 0.2500 (4.0s; about 2s left in this epoch)",
        "epoch 2/2: 4/5 examples, loss 0.3750 (5.0s; about 0s left in this epoch)",
        "epoch 2/2 loss 0.5000 val acc 0.5000 steps 3.00 (6.0s)",
    ]
    assert (report.train_seconds, report.validation_seconds) == (6.0, 0.5)
    assert [log.train_seconds for log in report.history] == [3.0, 6.0]
    assert report.examples_per_second == 10 / 6.0
    # every minibatch crosses a grid point here (the first one at 1/4096 of 40 MACs)
    assert [(s.training_macs, s.epoch, s.train_seconds) for s in snapshots.snapshots] == [
        (8, 0.4, 1.0), (16, 0.8, 2.0), (20, 1.0, 3.0), (28, 1.4, 4.0), (36, 1.8, 5.0), (40, 2.0, 6.0)]
    for snapshot in snapshots.snapshots:  # copies of the weights (which a loss without gradient leaves as they are)
        assert torch.equal(snapshot.state["weight"], model.weight) and snapshot.state["weight"] is not model.weight


def test_a_progress_line_is_due_progress_every_s_after_the_last_one(monkeypatch) -> None:
    """Kills fit_minibatches 131 (the next line due progress_every_s before, not after, the last one): with
    minibatches of 1 example taking 1 s each and a line due every 2 s, the lines come after 2 and 4 examples."""
    from baselines import training_loop

    clock = StepClock(100.0)
    monkeypatch.setattr(training_loop, "time", clock)
    model, split = five_examples()

    def step(x, y) -> BatchOutcome:
        clock.now += 1.0
        return BatchOutcome((model.weight * 0).sum() + 0.5, x.shape[0] * x.shape[1], x.shape[0])

    lines: list[str] = []
    fit_minibatches(model, step, lambda: Validation(0.5, 3.0), split, epochs=1, batch_size=1, lr=0.1,
                    grad_clip=0.0, seed=0, device=torch.device("cpu"), progress=lines.append, progress_every_s=2.0)
    assert [line.split(",")[0] for line in lines] == [
        "epoch 1/1: 2/5 examples", "epoch 1/1: 4/5 examples", "epoch 1/1 loss 0.5000 val acc 0.5000 steps 3.00 (5.0s)"]


def test_a_weight_without_gradient_in_a_minibatch_is_not_moved_by_the_optimiser() -> None:
    """Kills fit_minibatches 80, 81 (zero_grad(set_to_none=None/False)): the gradients are set to None before
    each minibatch, so a weight the loss does not use then has no gradient and AdamW leaves it alone; zeroed
    gradients would let Adam's momentum from the first minibatch keep moving it."""
    model, split = five_examples()
    calls = []

    def step(x, y) -> BatchOutcome:
        calls.append(model.weight.detach().clone())
        out = model(x[:, -1])[:, 0] if len(calls) == 1 else model.bias.expand(x.shape[0])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    fit(model, split, step, epochs=1)
    assert len(calls) == 3
    assert not torch.equal(calls[1], calls[0])  # the first minibatch trained the weight
    assert torch.equal(model.weight, calls[1])  # and nothing moved it after


@pytest.mark.parametrize("grad_clip", [0.0, 1.0, 2.5])
def test_gradients_are_clipped_to_grad_clip_and_not_at_all_with_0(grad_clip) -> None:
    """Kills fit_minibatches 82 (grad_clip >= 0: 0 clips every gradient to nothing) and 83 (grad_clip > 1: a
    clip of 1 left out). The gradient of the last minibatch stays on the weights after training: its norm is
    grad_clip when clipped, and large (about 100 x) with 0."""
    model, split = five_examples()

    def step(x, y) -> BatchOutcome:
        loss = 100.0 * model(x[:, -1]).abs().sum()
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    fit_minibatches(model, step, lambda: Validation(0.5, 3.0), split, epochs=1, batch_size=2, lr=0.1,
                    grad_clip=grad_clip, seed=0, device=torch.device("cpu"), progress=lambda _line: None)
    norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])))
    if grad_clip == 0.0:
        assert norm > 50.0
    else:
        assert norm == pytest.approx(grad_clip, rel=1e-5)


@pytest.mark.parametrize("option, value, message", [
    ("lr_schedule", "step", r"^unknown lr_schedule 'step'; known: constant, cosine$"),
    ("selection", "best", r"^unknown selection 'best'; known: best-val-accuracy, last-epoch$"),
])
def test_an_unknown_schedule_or_selection_is_named_with_the_known_ones(option, value, message) -> None:
    """Kills check_schedule_and_selection 4 and 8 (the known names joined by 'XX, XX')."""
    from baselines.training_loop import check_schedule_and_selection

    settings = {"lr_schedule": "constant", "selection": "last-epoch", option: value}
    with pytest.raises(ValueError, match=message):
        check_schedule_and_selection(**settings)


def test_equal_validation_accuracy_goes_to_fewer_steps_and_a_full_tie_to_the_earlier_epoch() -> None:
    """Kills fit_minibatches 156 (+mean steps: more steps preferred) and 163 (>=: a tie goes to the later epoch).

    Accuracies 0.5, 0.9, 0.9, 0.9 at 3, 3, 2, 2 mean steps: epoch 3 reads fewer steps than epoch 2, and epoch 4
    only ties with it, so epoch 3 is kept, with its weights."""
    model, split = five_examples()
    scripted = [(0.5, 3.0), (0.9, 3.0), (0.9, 2.0), (0.9, 2.0)]
    seen = []

    def validate() -> Validation:
        seen.append(model.weight.detach().clone())
        return Validation(*scripted[len(seen) - 1])

    def step(x, y) -> BatchOutcome:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[:, -1])[:, 0], y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    report = fit_minibatches(model, step, validate, split, epochs=4, batch_size=2, lr=0.1, grad_clip=0.0, seed=0,
                             device=torch.device("cpu"), progress=lambda _line: None)
    assert (report.selected_epoch, report.selected_val_accuracy) == (3, 0.9)
    assert not torch.equal(seen[2], seen[1]) and not torch.equal(seen[2], seen[3])
    assert torch.equal(model.weight, seen[2])


@pytest.mark.parametrize("epochs", [1, 3])
def test_the_report_names_the_epochs_trained(epochs) -> None:
    """Kills fit_minibatches 178 (the report's epochs None): the report says how many epochs ran, one history
    entry each."""
    model, split = five_examples()

    def step(x, y) -> BatchOutcome:
        return BatchOutcome((model.weight ** 2).sum() + model.bias.sum() * 0, x.shape[0] * x.shape[1], x.shape[0])

    report = fit(model, split, step, epochs=epochs)
    assert report.epochs == epochs and len(report.history) == epochs
