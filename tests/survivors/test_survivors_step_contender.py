"""Tests written for the mutants of ``baselines/step_contender.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest

from contender_cases import build


@pytest.mark.parametrize("name", ["rc-lstm", "snn-conv"])
def test_a_contender_not_trained_yet_has_no_learning_curve(name) -> None:
    assert build(name).learning_curve() == ()


def test_operations_to_decision_counts_each_evaluation_batch_on_the_contenders_device(monkeypatch) -> None:
    """The examples are counted in evaluation batches (eval_batch_size 2: examples 0-1, 2-3, 4), each moved to the
    contender's device (meta stands in for cuda) with its own slice of the decision (predictions, steps and
    crossings), and the per-example means of the counts are returned. The counting itself is recorded here."""
    import torch

    from baselines import step_contender
    from baselines.snn_ttfs import FirstSpike, SNNConfig, SpikingTTFS
    from bench.core.task_contract import TaskSpec
    from rc.crossing import Decision

    seen = []

    class Counts:
        def __init__(self, n):
            self.dense_macs = torch.full((n,), 10.0)
            self.effective_macs = torch.full((n,), 4.0)
            self.effective_acs = torch.arange(n, dtype=torch.float64)

    def record(model, x, decision):
        seen.append((x.device.type, x.shape[0], decision.prediction.tolist(), decision.step_index.tolist(),
                     decision.crossed.tolist()))
        return Counts(x.shape[0])

    monkeypatch.setattr(step_contender, "operations_to_decision", record)
    contender = SpikingTTFS(TaskSpec("toy", 4, 6, 3, "sigmoid", None), FirstSpike(),
                            SNNConfig(hidden=5, eval_batch_size=2), torch.device("meta"), 0)
    decision = Decision(torch.tensor([2, 1, 0, 2, 1]), torch.tensor([3, 0, 1, 2, 3]),
                        torch.tensor([False, True, True, True, False]))
    totals = contender.operations_to_decision(torch.rand(5, 4, 6), decision)
    assert seen == [("meta", 2, [2, 1], [3, 0], [False, True]), ("meta", 2, [0, 2], [1, 2], [True, True]),
                    ("meta", 1, [1], [3], [False])]
    assert totals == {"dense_macs": 10.0, "effective_macs": 4.0, "effective_acs": (0 + 1 + 0 + 1 + 0) / 5}


class _Stop(Exception):
    """Raised by a recording objective to end training after its first minibatch."""


def test_training_minibatches_reach_the_objective_on_the_contenders_device() -> None:
    """Kills fit 53 (fit_minibatches given device None: the batches stay on the CPU). A contender on meta (standing
    in for cuda) gets each minibatch moved to meta before its objective sees it."""
    import torch

    from baselines.lstm_allsteps import LSTMAllSteps
    from contender_cases import SPEC, config_values, noop, tiny_splits
    from rc.crossing import make_rule

    config = LSTMAllSteps.make_config(config_values(LSTMAllSteps), "test")
    contender = LSTMAllSteps(SPEC, make_rule(SPEC.default_rule, 0.9), config, torch.device("meta"), 0)
    seen = []

    def objective(x, y):
        seen.append((x.device.type, y.device.type, tuple(x.shape)))
        raise _Stop

    contender.objective = objective
    train, val = tiny_splits()
    with pytest.raises(_Stop):
        contender.fit(train, val, noop)
    assert seen == [("meta", "meta", (16, 5, 4))]


def test_evaluation_chunks_are_moved_to_the_contenders_device() -> None:
    """Kills _chunks 2 (.to(None): the chunks stay on the CPU): eval_batch_size pieces, each on the device."""
    import torch

    from baselines.lstm_allsteps import LSTMAllSteps
    from contender_cases import SPEC, config_values
    from rc.crossing import make_rule

    config = LSTMAllSteps.make_config(config_values(LSTMAllSteps, eval_batch_size=2), "test")
    contender = LSTMAllSteps(SPEC, make_rule(SPEC.default_rule, 0.9), config, torch.device("meta"), 0)
    x = torch.rand(5, 5, 4)
    chunks = contender._chunks(x)
    assert [(chunk.device.type, chunk.shape[0]) for chunk in chunks] == [("meta", 2), ("meta", 2), ("meta", 1)]


def test_the_snapshot_schedule_is_bounded_by_every_step_of_every_example_forward_and_backward(monkeypatch) -> None:
    """Kills fit 39, 40, 41 (a / for one of the *): the upper bound of the training MACs given to the snapshot
    schedule is epochs x examples x steps x (forward + backward MACs of one step evaluation)."""
    from baselines import step_contender
    from contender_cases import build, noop, tiny_splits
    from rc.operations import backward_macs_per_step, dense_macs_per_step

    bounds = []

    class RecordingSchedule(step_contender.SnapshotSchedule):
        def __init__(self, forward_macs, backward_macs, upper_bound_macs):
            bounds.append((forward_macs, backward_macs, upper_bound_macs))
            super().__init__(forward_macs, backward_macs, upper_bound_macs)

    monkeypatch.setattr(step_contender, "SnapshotSchedule", RecordingSchedule)
    contender = build("lstm-allsteps", epochs=3)
    forward, backward = dense_macs_per_step(contender.model), backward_macs_per_step(contender.model)
    assert forward > 0 and backward > 0
    train, val = tiny_splits()
    contender.fit(train, val, noop)
    assert bounds == [(forward, backward, 3 * 16 * 5 * (forward + backward))]
    assert type(contender._snapshots) is RecordingSchedule and contender.learning_curve()


@pytest.mark.parametrize("values, message", [
    ({"epochs": 0}, r"^epochs must be > 0, got 0$"),
    ({"batch_size": 0}, r"^batch_size must be > 0, got 0$"),
    ({"lr": 0.0}, r"^lr must be > 0, got 0\.0$"),
    ({"eval_batch_size": 0}, r"^eval_batch_size must be > 0, got 0$"),
    ({"lr": 1.5}, r"^lr must lie in \(0, 1\] \(an Adam step size\), got 1\.5$"),
    ({"grad_clip": -0.5}, r"^grad_clip must be a finite number >= 0, got -0\.5$"),
    ({"grad_clip": float("inf")}, r"^grad_clip must be a finite number >= 0, got inf$"),
    ({"weight_decay": -1.0}, r"^weight_decay must be a finite number >= 0, got -1\.0$"),
    ({"weight_decay": float("inf")}, r"^weight_decay must be a finite number >= 0, got inf$"),
    ({"lr_schedule": "step"}, r"^unknown lr_schedule 'step'; known: constant, cosine$"),
    ({"selection": "best"}, r"^unknown selection 'best'; known: best-val-accuracy, last-epoch$"),
    ({"augment_shift": -1}, r"^augment_shift must be an integer >= 0, got -1$"),
    ({"augment_shift": True}, r"^augment_shift must be an integer >= 0, got True$"),
    ({"augment_shift": 1.5}, r"^augment_shift must be an integer >= 0, got 1\.5$"),
])
def test_a_training_config_refuses_each_bad_setting_naming_it(values, message) -> None:
    """Kills TrainingConfig.__post_init__ 5-8 (a size or lr not checked), 9, 11 (the lr bound), 12-15, 23-28 (grad_clip
    and weight_decay checks and message), 33, 34, 38 (augment_shift: a bool or a float let through, message)."""
    from baselines.step_contender import TrainingConfig

    with pytest.raises(ValueError, match=message):
        TrainingConfig(**values)


def test_a_training_config_accepts_the_ends_of_its_ranges() -> None:
    """Kills TrainingConfig.__post_init__ 10 (lr < 1: 1 refused) and 17 (grad_clip >= 1: 0.5 refused); 0 for
    grad_clip, weight_decay and augment_shift are accepted too."""
    from baselines.step_contender import TrainingConfig

    config = TrainingConfig(lr=1.0, grad_clip=0.5, weight_decay=0.0, augment_shift=0)
    assert (config.lr, config.grad_clip, config.weight_decay, config.augment_shift) == (1.0, 0.5, 0.0, 0)
    assert TrainingConfig(grad_clip=0.0, weight_decay=0.25, augment_shift=3).augment_shift == 3
