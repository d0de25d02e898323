"""pytest-benchmark: one truncated RC training step against the naive one, same batch and model.

Run with ``tox -e bench`` (or ``pytest --benchmark-only tests/benchmarks``).
The model is the scaling benchmark's trigger LSTM (:func:`bench.measure.speed.trigger_case`,
128 units, 64 examples of 80 steps) in two decision patterns: every example
at T/4, and the same with 2% never crossing. ``rcbench speed`` prints the
comparison as ratios over a grid of sizes and patterns.
"""

from __future__ import annotations

import pytest
import torch

from bench.measure.speed import decision_steps, trigger_case
from rc.training import naive_rc_step, truncated_rc_step


@pytest.fixture(scope="module", params=["equal", "tail"])
def case(request):
    steps = decision_steps(request.param, 64, 80, torch.Generator().manual_seed(0))
    return request.param, *trigger_case(128, steps, 80)


@pytest.mark.parametrize("step", [truncated_rc_step, naive_rc_step], ids=["truncated", "naive"])
def test_rc_training_step(benchmark, case, step) -> None:
    pattern, model, x, y, rule = case

    def forward_backward():
        model.zero_grad(set_to_none=True)
        result = step(model, x, y, rule, 0.0)
        result.loss.backward()
        return result

    benchmark.group = f"rc training step, 64 x 80 steps, H = 128, decisions {pattern}"
    result = benchmark(forward_backward)
    benchmark.extra_info["forward_evaluations"] = result.forward_evaluations
    benchmark.extra_info["backward_evaluations"] = result.backward_evaluations
    benchmark.extra_info["steps_read_share"] = int(result.decision.steps_read.sum()) / (x.shape[0] * x.shape[1])
