"""The speed and latency measurements: what they compare is the same work, and their ratios are consistent."""

from __future__ import annotations

import json

import pytest
import torch

from bench.measure.latency import (CALL_COUNT_EXAMPLES, compare_inference, format_latency, operator_calls_per_example,
                           train_contender, write_latency)
from bench.measure.speed import (NEVER, Grid, check_targets, decision_steps, format_scaling, measure_cell,
                                 trigger_case, write_scaling)
from rc.crossing import decide

TINY = {"n_train": 64, "n_val": 32, "n_test": 48}


@pytest.mark.parametrize("pattern", ["equal", "spread", "tail"])
def test_trigger_model_decides_at_the_pattern_steps(pattern: str) -> None:
    steps = decision_steps(pattern, 50, 16, torch.Generator().manual_seed(3))
    if pattern == "equal":
        assert steps.tolist() == [3] * 50
    elif pattern == "spread":
        assert 0 <= int(steps.min()) and int(steps.max()) <= 7 and len(set(steps.tolist())) > 4
    else:
        assert int((steps == NEVER).sum()) == 1 and set(steps.tolist()) == {3, NEVER}
    for layers in (1, 2):
        model, x, _y, rule = trigger_case(8, steps, 16, seed=1, layers=layers)
        with torch.no_grad():
            decision = decide(model(x), rule)
        assert decision.step_index.tolist() == torch.where(steps == NEVER, 15, steps).tolist()
        assert decision.crossed.tolist() == (steps != NEVER).tolist()


def test_scaling_cell_counts_the_ideal_share_of_evaluations_and_memory(tmp_path) -> None:
    row = measure_cell(16, 8, 50, "tail", repeats=2)
    assert row.ideal_ratio == pytest.approx((49 * 4 + 16) / (50 * 16))
    assert row.backward_evaluations_ratio == pytest.approx(row.ideal_ratio)
    assert row.forward_evaluations_ratio >= row.backward_evaluations_ratio
    assert row.truncated_ms > 0 and row.naive_ms > 0
    assert row.wall_ratio_low <= row.wall_ratio <= row.wall_ratio_high
    assert 0 < row.truncated_bytes < row.naive_bytes
    assert row.memory_over_r == pytest.approx(row.truncated_bytes / row.naive_bytes / row.ideal_ratio)
    path = write_scaling([row], tmp_path, {"repeats": 2}, torch.device("cpu"))
    assert format_scaling([row]).splitlines()[1] in path.read_text(encoding="utf-8")
    payload = json.loads((tmp_path / "speed.json").read_text(encoding="utf-8"))
    assert payload["rows"][0]["backward_evaluations_ratio"] == row.backward_evaluations_ratio
    assert {"versions", "hardware", "git_revision", "command", "created"} <= set(payload)
    assert isinstance(check_targets([row]), list)


def test_scaling_grid_skips_the_tail_of_a_single_example() -> None:
    grid = Grid(time_steps=(20,), hidden=(16,), batch=(1, 64), patterns=("equal", "tail"))
    assert grid.cells() == [(20, 16, 1, "equal"), (20, 16, 64, "equal"), (20, 16, 64, "tail")]
    with pytest.raises(ValueError, match="patterns must be among"):
        Grid(patterns=("sometimes",))
    with pytest.raises(ValueError, match="time_steps must be >= 4"):
        Grid(time_steps=(2,))


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
