"""Tests written for the mutants of ``bench/measure/metrics.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import hashlib
import math
import struct

import pytest
import torch

from bench.measure.metrics import (MetricError, accuracy_by_step, decision_lag, decision_step_stats, labels_digest,
                                   never_crossed_fraction, per_example)
from rc.crossing import Decision, SigmoidThreshold


def decision(step_index: list[int]) -> Decision:
    steps = torch.tensor(step_index)
    return Decision(torch.zeros_like(steps), steps, torch.ones_like(steps, dtype=torch.bool))


def test_decision_lag_is_the_mean_over_examples_with_an_ideal_step() -> None:
    # steps read 3, 1, 5, 2; ideal steps 2, none, 6, 1: lags 1, -1, 1
    assert decision_lag(decision([2, 0, 4, 1]), torch.tensor([2, 0, 6, 1])) == pytest.approx(1 / 3)


def test_decision_lag_names_ideal_steps_of_another_shape() -> None:
    with pytest.raises(MetricError, match=r"^ideal_step \(3,\) and decisions \(2,\) differ in shape$"):
        decision_lag(decision([0, 1]), torch.tensor([1, 1, 1]))


def test_decision_lag_needs_an_example_with_an_ideal_step() -> None:
    with pytest.raises(MetricError, match=r"^no example has an ideal decision step$"):
        decision_lag(decision([0, 1]), torch.tensor([0, -1]))


def test_an_infinite_ideal_step_is_refused_as_a_non_finite_lag_by_name() -> None:
    with pytest.raises(MetricError, match=r"^metric decision_lag_mean is not finite \(-inf\)$"):
        decision_lag(decision([0, 1]), torch.tensor([1.0, math.inf]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_accuracy_by_step_refuses_non_finite_scores_saying_what_it_means(bad) -> None:
    scores = torch.zeros(2, 3, 2)
    scores[1, 2, 0] = bad
    with pytest.raises(MetricError, match=r"^scores contain NaN or infinite values; the model diverged or its input "
                                          r"is corrupt$"):
        accuracy_by_step(scores, torch.tensor([0, 1]), SigmoidThreshold(0.9))


def test_never_crossed_fraction_needs_a_decision() -> None:
    assert never_crossed_fraction(Decision(torch.tensor([0, 1]), torch.tensor([3, 1]), torch.tensor([False, True]))) \
        == 0.5
    empty = torch.zeros(0, dtype=torch.long)
    with pytest.raises(MetricError, match=r"^no decisions to summarise$"):
        never_crossed_fraction(Decision(empty, empty, empty.bool()))


def test_per_example_decision_steps_are_ints_whatever_the_step_tensors_dtype() -> None:
    outcome = per_example(Decision(torch.tensor([1, 0]), torch.tensor([2.0, 0.0]), torch.tensor([True, False])),
                          torch.tensor([1, 1]))
    assert outcome["correct"] == [1, 0] and outcome["decision_step"] == [3, 1]
    assert all(type(step) is int for step in outcome["decision_step"])


def test_accuracy_by_step_of_one_step_sequences() -> None:
    scores = torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]], [[3.0, 0.0]]])
    assert accuracy_by_step(scores, torch.tensor([0, 1, 1]), SigmoidThreshold(0.9)) == [pytest.approx(2 / 3)]


def test_decision_step_stats_need_a_decision_and_name_a_non_finite_mean() -> None:
    assert decision_step_stats(decision([0, 1, 3, 3])) == {"decision_step_mean": 2.75, "decision_step_median": 3.0,
                                                          "decision_step_p90": 4.0}
    empty = torch.zeros(0, dtype=torch.long)
    with pytest.raises(MetricError, match=r"^no decisions to summarise$"):
        decision_step_stats(Decision(empty, empty, empty.bool()))
    infinite = Decision(torch.tensor([0, 1]), torch.tensor([1.0, math.inf]), torch.tensor([True, True]))
    with pytest.raises(MetricError, match=r"^metric decision_step_mean is not finite \(inf\)$"):
        decision_step_stats(infinite)


def int64_digest(values: list[int]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(values)}q", *values)).hexdigest()


def test_the_labels_digest_is_the_sha256_of_the_labels_as_little_endian_int64() -> None:
    assert labels_digest(torch.tensor([1, 0, 2, 1])) == int64_digest([1, 0, 2, 1])
    assert labels_digest(torch.tensor([0, 1])) != labels_digest(torch.tensor([1, 0]))  # the order counts
    assert labels_digest(torch.tensor([True, False, True])) == int64_digest([1, 0, 1])


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8, torch.float32, torch.float16,
                                   torch.bfloat16])
def test_integer_valued_labels_of_any_dtype_have_the_digest_of_their_int64_values(dtype) -> None:
    labels = torch.tensor([3, 0, 1, 2, 1, 0], dtype=dtype)
    assert labels_digest(labels) == int64_digest([3, 0, 1, 2, 1, 0])
    assert labels_digest(labels[::2]) == int64_digest([3, 1, 1])  # a strided view: its values, in order


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64])
def test_accuracy_refuses_predictions_that_are_not_integer_labels(dtype) -> None:
    """Float or complex predictions (scores, not class labels) raise a MetricError giving their dtype."""
    from bench.measure.metrics import accuracy

    assert accuracy(torch.tensor([1, 0, 2]), torch.tensor([1, 1, 2])) == 2 / 3
    with pytest.raises(MetricError, match=rf"^predictions must be integer class labels, got dtype {dtype}$"):
        accuracy(torch.tensor([1, 0, 2]).to(dtype), torch.tensor([1, 1, 2]))


def test_accuracy_of_no_examples_is_refused() -> None:
    """An empty batch has no accuracy: a MetricError says there are no examples to evaluate."""
    from bench.measure.metrics import accuracy

    with pytest.raises(MetricError, match=r"^no examples to evaluate$"):
        accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
