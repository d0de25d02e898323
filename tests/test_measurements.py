"""The speed and latency measurements: what they compare is the same work, and their ratios are consistent."""

from __future__ import annotations

import json

import pytest
import torch

from bench.measure.latency import (CALL_COUNT_EXAMPLES, compare_inference, format_latency, operator_calls_per_example,
                           train_contender, write_latency)
from bench.measure.speed import calibrate_theta, compare_at_theta, format_comparison, write_comparison
from rc.crossing import TwoSidedBinary, decide
from rc.model import LSTMClassifier

TINY = {"n_train": 64, "n_val": 32, "n_test": 48}


def test_calibrated_theta_hits_the_target_mean_decision() -> None:
    torch.manual_seed(0)
    model = LSTMClassifier(1, 8, 1)
    with torch.no_grad():
        model.readout.weight.mul_(30.0)
    x = torch.randn(128, 20, 1).cumsum(dim=1)
    theta = calibrate_theta(model, x, target_steps=8.0)
    with torch.no_grad():
        steps = decide(model(x), TwoSidedBinary(theta)).steps_read.double().mean().item()
    assert abs(steps - 8.0) < 1.0


def test_training_step_comparison_counts_the_ideal_share_of_evaluations(tmp_path) -> None:
    torch.manual_seed(1)
    model = LSTMClassifier(1, 8, 1)
    with torch.no_grad():
        model.readout.weight.mul_(30.0)
    x = torch.randn(64, 20, 1).cumsum(dim=1)
    y = torch.randint(0, 2, (64,))
    row = compare_at_theta(model, x, y, calibrate_theta(model, x, 6.0), repeats=1)
    assert row.evaluations_ratio == pytest.approx(row.ideal_ratio)
    assert row.ideal_ratio == pytest.approx(row.mean_steps_read / 20)
    assert row.truncated_seconds > 0 and row.naive_seconds > 0
    path = write_comparison([row], tmp_path, {"batch": 64}, torch.device("cpu"))
    assert format_comparison([row]).splitlines()[1].strip() in path.read_text(encoding="utf-8")
    payload = json.loads((tmp_path / "speed.json").read_text(encoding="utf-8"))
    assert payload["rows"][0]["evaluations_ratio"] == row.evaluations_ratio
    assert {"versions", "hardware", "git_revision", "command", "created"} <= set(payload)


@pytest.mark.parametrize("contender_name", ["rc-lstm", "snn-ttfs"])
def test_latency_rows_compare_identical_decisions(tmp_path, contender_name) -> None:
    contender, test = train_contender(contender_name, "toy-runs", None, TINY, {"hidden": 8, "epochs": 1}, 0.9,
                                      torch.device("cpu"))
    rows = [compare_inference(contender, test.x, test.y, batch_size, repeats=1) for batch_size in (1, 16)]
    for row in rows:
        assert row.examples == 48 and row.time_steps == 25
        # dense MACs per step are constant, so the operations ratio is the ideal ratio
        assert row.operations_ratio == pytest.approx(row.ideal_ratio)
        assert row.early_exit_ms > 0 and row.full_sequence_ms > 0 and row.full_step_loop_ms > 0
        assert row.step_loop_ratio == pytest.approx(row.early_exit_ms / row.full_step_loop_ms)
        assert row.early_exit_throughput == pytest.approx(1e3 / row.early_exit_ms)
        assert row.disagreements == 0
        assert 0.0 <= row.accuracy <= 1.0
        assert row.full_sequence_calls > 0
    # at batch size 1, every step read makes at least one call of its own
    assert rows[0].early_exit_calls > rows[0].mean_steps_read
    assert rows[0].mean_steps_read == rows[1].mean_steps_read
    write_latency(rows, tmp_path, {"task": "toy-runs"}, torch.device("cpu"))
    assert format_latency(rows).splitlines()[0] in (tmp_path / "latency.md").read_text(encoding="utf-8")


def test_operator_calls_are_counted_per_example_at_the_top_level_only() -> None:
    weight = torch.ones(4, 3)
    chunks = [torch.ones(2, 3)] * (CALL_COUNT_EXAMPLES // 2 + 10)
    seen = []

    def infer(chunk: torch.Tensor) -> None:
        seen.append(chunk)
        torch.nn.functional.linear(chunk, weight)  # one call; its matrix product inside is not counted again
        chunk.sum()
        chunk.mul(2.0)

    assert operator_calls_per_example(infer, chunks) == pytest.approx(3 / 2)
    assert len(seen) == CALL_COUNT_EXAMPLES // 2


def test_latency_rejects_a_zero_batch() -> None:
    contender, test = train_contender("rc-lstm", "toy-runs", None, TINY, {"hidden": 4, "epochs": 1}, 0.9,
                                      torch.device("cpu"))
    with pytest.raises(ValueError, match="batch_size and repeats must be >= 1"):
        compare_inference(contender, test.x, test.y, 0, 1)
