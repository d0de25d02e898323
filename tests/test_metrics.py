"""Tests of bench/measure/metrics.py on hand-built scores and decisions with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.measure import metrics
from bench.measure.metrics import MetricError
from rc.crossing import Decision, decide, make_rule

# Logits whose sigmoid clearly crosses (or not) theta = 0.9: sigmoid(3) = 0.953, sigmoid(1) = 0.731.
HIGH, LOW = 3.0, 1.0


def two_sided_scores() -> torch.Tensor:
    """(4, 4, 1) logits for the two-sided rule at theta 0.9, with known crossings and predictions.

    example 0: crosses at step index 0, says 1
    example 1: crosses at step index 2, says 1 (said 0 before)
    example 2: never crosses (fallback to index 3), says 0 at the end
    example 3: crosses below 1 - theta at step index 1, says 0
    """
    return torch.tensor([
        [HIGH, HIGH, -HIGH, -HIGH],
        [-LOW, -LOW, HIGH, HIGH],
        [LOW, LOW, LOW, -LOW],
        [LOW, -HIGH, LOW, LOW],
    ]).unsqueeze(-1)


def test_accuracy_counts_equal_predictions():
    assert metrics.accuracy(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0])) == 0.75
    assert metrics.accuracy(torch.tensor([2, 2, 2]), torch.tensor([2, 2, 2])) == 1.0
    assert metrics.accuracy(torch.tensor([1, 0]), torch.tensor([0, 1])) == 0.0
    assert metrics.accuracy(torch.tensor([1, 0, 2]), torch.tensor([1, 1, 1])) == pytest.approx(1 / 3)


def test_accuracy_errors():
    with pytest.raises(MetricError, match="no examples to evaluate"):
        metrics.accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(MetricError, match=r"predictions \(3,\) and labels \(2,\) differ in shape"):
        metrics.accuracy(torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long))


def test_accuracy_by_step_two_sided():
    rule = make_rule("two-sided", 0.9)
    scores = two_sided_scores()
    labels = torch.tensor([1, 1, 0, 0])
    # predictions per step (logit > 0): columns are steps
    predicted = (scores[..., 0] > 0).long()
    assert predicted.tolist() == [[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 0], [1, 0, 1, 1]]
    expected = [sum(int(predicted[i, t] == labels[i]) for i in range(4)) / 4 for t in range(4)]
    assert expected == [0.25, 0.5, 0.25, 0.5]
    by_step = metrics.accuracy_by_step(scores, labels, rule)
    assert by_step == pytest.approx(expected)
    assert len(by_step) == scores.shape[1]


def test_accuracy_by_step_multiclass_uses_argmax_whatever_the_threshold():
    # 3 examples, 3 steps, 3 classes; rows are the argmax class at each step
    argmax = torch.tensor([[0, 2, 2], [1, 1, 0], [2, 0, 1]])
    scores = torch.nn.functional.one_hot(argmax, 3).float() * 0.5  # never crosses 0.9 under sigmoid
    labels = torch.tensor([2, 1, 1])
    expected = [1 / 3, 2 / 3, 2 / 3]
    for name in ("sigmoid", "softmax"):
        assert metrics.accuracy_by_step(scores, labels, make_rule(name, 0.9)) == pytest.approx(expected)


def test_accuracy_by_step_errors():
    rule = make_rule("two-sided", 0.9)
    with pytest.raises(MetricError, match="no examples to evaluate"):
        metrics.accuracy_by_step(torch.zeros(0, 5, 1), torch.zeros(0, dtype=torch.long), rule)
    with pytest.raises(MetricError, match=r"predictions \(4,\) and labels \(3,\) differ in shape"):
        metrics.accuracy_by_step(two_sided_scores(), torch.zeros(3, dtype=torch.long), rule)
    with pytest.raises(ValueError, match=r"scores must be shaped \(batch, time, classes\)"):
        metrics.accuracy_by_step(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long), rule)
    with pytest.raises(ValueError, match="exactly 1 output unit"):
        metrics.accuracy_by_step(torch.zeros(4, 5, 2), torch.zeros(4, dtype=torch.long), rule)


@pytest.mark.parametrize("rule_name, outputs", [("two-sided", 1), ("sigmoid", 2)])
def test_accuracy_by_step_rejects_nan_scores(rule_name, outputs):
    scores = torch.full((2, 3, outputs), float("nan"))
    with pytest.raises(MetricError):
        metrics.accuracy_by_step(scores, torch.tensor([0, 1]), make_rule(rule_name, 0.9))


def test_decision_from_hand_built_scores():
    decision = decide(two_sided_scores(), make_rule("two-sided", 0.9))
    assert decision.step_index.tolist() == [0, 2, 3, 1]
    assert decision.steps_read.tolist() == [1, 3, 4, 2]
    assert decision.crossed.tolist() == [True, True, False, True]
    assert decision.prediction.tolist() == [1, 1, 0, 0]


def test_decision_step_stats_on_known_steps():
    decision = decide(two_sided_scores(), make_rule("two-sided", 0.9))
    stats = metrics.decision_step_stats(decision)
    steps = np.array([1, 3, 4, 2], dtype=float)
    assert set(stats) == {"decision_step_mean", "decision_step_median", "decision_step_p90"}
    assert stats["decision_step_mean"] == pytest.approx(2.5)
    assert stats["decision_step_median"] == pytest.approx(2.5)
    assert stats["decision_step_p90"] == pytest.approx(float(np.percentile(steps, 90)))
    assert stats["decision_step_p90"] == pytest.approx(3.7)


def make_decision(step_index, crossed=None) -> Decision:
    step_index = torch.tensor(step_index, dtype=torch.long)
    if crossed is None:
        crossed = [True] * len(step_index)
    return Decision(torch.zeros_like(step_index), step_index, torch.tensor(crossed, dtype=torch.bool))


def test_decision_step_stats_are_one_based_with_linear_percentiles():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 40, size=101)
    stats = metrics.decision_step_stats(make_decision(index.tolist()))
    steps = index + 1.0
    assert stats["decision_step_mean"] == pytest.approx(steps.mean())
    assert stats["decision_step_median"] == pytest.approx(np.median(steps))
    assert stats["decision_step_p90"] == pytest.approx(np.percentile(steps, 90))
    ten = metrics.decision_step_stats(make_decision(list(range(10))))  # steps read 1..10
    assert (ten["decision_step_mean"], ten["decision_step_median"]) == pytest.approx((5.5, 5.5))
    assert ten["decision_step_p90"] == pytest.approx(9.1)


def test_never_crossed_fraction():
    decision = decide(two_sided_scores(), make_rule("two-sided", 0.9))
    assert metrics.never_crossed_fraction(decision) == 0.25
    assert metrics.never_crossed_fraction(make_decision([3, 3, 3], [False, False, False])) == 1.0
    assert metrics.never_crossed_fraction(make_decision([0, 1], [True, True])) == 0.0


def test_decision_lag_counts_only_examples_with_an_ideal_step():
    decision = decide(two_sided_scores(), make_rule("two-sided", 0.9))  # steps read [1, 3, 4, 2]
    # only examples 0 and 2 have an ideal step: lags 1-1 = 0 and 4-2 = 2
    assert metrics.decision_lag(decision, torch.tensor([1, -1, 2, -1])) == pytest.approx(1.0)
    # an ideal step of 0 is not >= 1 either
    assert metrics.decision_lag(decision, torch.tensor([1, 0, 2, 0])) == pytest.approx(1.0)
    # negative lag: decided before the ideal step
    assert metrics.decision_lag(decision, torch.tensor([-1, 5, -1, -1])) == pytest.approx(-2.0)
    assert metrics.decision_lag(decision, torch.tensor([2, 3, 4, 5])) == pytest.approx((-1 + 0 + 0 - 3) / 4)


def test_metrics_raise_on_empty_or_inapplicable_input():
    empty = make_decision([])
    with pytest.raises(MetricError, match="no decisions to summarise"):
        metrics.decision_step_stats(empty)
    with pytest.raises(MetricError, match="no decisions to summarise"):
        metrics.never_crossed_fraction(empty)
    with pytest.raises(MetricError, match="no example has an ideal decision step"):
        metrics.decision_lag(empty, torch.zeros(0, dtype=torch.long))
    with pytest.raises(MetricError, match="no example has an ideal decision step"):
        metrics.decision_lag(make_decision([0, 1, 2]), torch.tensor([-1, -1, 0]))


def test_metric_error_is_a_value_error():
    assert issubclass(MetricError, ValueError)
