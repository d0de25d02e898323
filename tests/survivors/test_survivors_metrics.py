"""Tests written for the mutants of ``bench/measure/metrics.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import math

import pytest
import torch

from bench.measure.metrics import MetricError, decision_lag
from rc.crossing import Decision


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
