"""pytest-benchmark: one truncated RC training step against the naive one, same batch and model.

Run with ``tox -e bench`` (or ``pytest --benchmark-only tests/benchmarks``).
The model is the scaling benchmark's trigger LSTM (:func:`bench.measure.speed.trigger_case`,
128 units, 64 examples of 80 steps) in two decision patterns: every example
at T/4, and the same with 2% never crossing. ``rcbench speed`` prints the
comparison as ratios over a grid of sizes and patterns. ``truncated`` builds the loss's
autograd graph; ``truncated, loss by hand`` is the step as ``rc-lstm`` trains with it
(``autograd=False``: at this size the compiled path then takes the loss and its gradients
in one compiled call, without autograd).
"""

from __future__ import annotations

import pytest
import torch

from bench.measure.speed import NEVER, decision_steps, trigger_case
from rc.training import naive_rc_step, truncated_rc_step


@pytest.fixture(scope="module", params=["equal", "tail"])
def case(request):
    steps = decision_steps(request.param, 64, 80, torch.Generator().manual_seed(0))
    return request.param, steps, *trigger_case(128, steps, 80)


def truncated_by_hand(*args):
    return truncated_rc_step(*args, autograd=False)


@pytest.mark.parametrize("step", [truncated_rc_step, truncated_by_hand, naive_rc_step],
                         ids=["truncated", "truncated, loss by hand", "naive"])
def test_rc_training_step(benchmark, case, step) -> None:
    pattern, steps, model, x, y, rule = case

    def forward_backward():
        model.zero_grad(set_to_none=True)
        result = step(model, x, y, rule, 0.0)
        result.backward()
        return result

    benchmark.group = f"rc training step, 64 x 80 steps, H = 128, decisions {pattern}"
    result = benchmark(forward_backward)
    benchmark.extra_info["forward_evaluations"] = result.forward_evaluations
    benchmark.extra_info["backward_evaluations"] = result.backward_evaluations
    benchmark.extra_info["steps_read_share"] = int(result.decision.steps_read.sum()) / (x.shape[0] * x.shape[1])
    # what was timed is the step asked for: decisions at the pattern's steps, the loss and gradients of the
    # naive reference, and a backward pass through each example's steps up to its decision (truncated) or all
    expected = torch.where(steps == NEVER, x.shape[1] - 1, steps)
    assert torch.equal(result.decision.step_index, expected)
    gradients = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    reference = naive_rc_step(model, x, y, rule, 0.0)
    reference.loss.backward()
    torch.testing.assert_close(result.loss, reference.loss, rtol=1e-5, atol=1e-6)
    for mine, wanted in zip(gradients, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(mine, wanted, rtol=1e-4, atol=1e-6)
    full = x.shape[0] * x.shape[1]
    read = int((expected + 1).sum())
    assert result.backward_evaluations == (full if step is naive_rc_step else read)
    assert read < full / 3
