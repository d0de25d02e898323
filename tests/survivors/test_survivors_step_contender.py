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
