"""pytest-benchmark: one truncated RC training step against the naive one, same batch and model.

Run with ``tox -e bench`` (or ``pytest --benchmark-only tests/benchmarks``).
The model is an rc-lstm briefly trained on toy-noise; theta is calibrated so
that the mean decision falls at a quarter of the sequence. ``rcbench speed``
prints the same comparison as ratios over several decision times.
"""

from __future__ import annotations

import pytest
import torch

from bench.measure.speed import calibrate_theta, train_reference_model
from rc.crossing import TwoSidedBinary
from rc.training import naive_rc_step, truncated_rc_step


@pytest.fixture(scope="module")
def early_case():
    model, x, y = train_reference_model(hidden=128, epochs=3, device=torch.device("cpu"))
    x, y = x[:256], y[:256]
    rule = TwoSidedBinary(calibrate_theta(model, x, target_steps=x.shape[1] / 4))
    return model, x, y, rule


@pytest.mark.parametrize("step", [truncated_rc_step, naive_rc_step], ids=["truncated", "naive"])
def test_rc_training_step(benchmark, early_case, step) -> None:
    model, x, y, rule = early_case

    def forward_backward() -> int:
        model.zero_grad(set_to_none=True)
        result = step(model, x, y, rule, 0.0)
        result.loss.backward()
        return result.step_evaluations

    benchmark.group = "rc training step, mean decision at T/4"
    evaluations = benchmark(forward_backward)
    benchmark.extra_info["step_evaluations"] = evaluations
    benchmark.extra_info["evaluations_per_example_step"] = evaluations / (x.shape[0] * x.shape[1])
