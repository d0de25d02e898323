"""The speed and latency measurements: what they compare is the same work, and their ratios are consistent."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from bench.analysis.speed_figure import FIGURE_NAME, write_speed_figure
from bench.cli import main
from bench.measure.latency import (CALL_COUNT_EXAMPLES, compare_inference, format_latency, operator_calls_per_example,
                           train_contender, write_latency)
from bench.measure import speed
from bench.measure.speed import (NEVER, Grid, check_targets, decision_steps, format_scaling, measure_cell,
                                 trigger_case, write_scaling)
from rc import compiled as compiled_path
from rc.crossing import Decision, decide

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


def test_scaling_cell_counts_the_ideal_share_of_evaluations_and_memory(tmp_path, one_thread) -> None:
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


@pytest.fixture
def one_thread():
    """One torch thread for the timed cells (on a busy machine, more threads wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("batch", [1, 4])
def test_scaling_cell_times_early_exit_against_the_fused_full_pass(batch: int, one_thread) -> None:
    row = measure_cell(8, 4, batch, "equal", repeats=1)
    assert row.decisions_identical
    assert row.early_ms > 0 and row.full_ms > 0 and row.inference_calls >= 1
    assert 0 < row.inference_ratio_low <= row.inference_ratio <= row.inference_ratio_high
    assert row.inference_over_r == pytest.approx(row.inference_ratio / row.ideal_ratio)
    if compiled_path.NUMBA_AVAILABLE:  # timed at every batch size: one call per example or per batch
        assert row.compiled_note is None and row.compiled_ms is not None and row.compiled_ms > 0
        assert 0 < row.compiled_ratio_low <= row.compiled_ratio <= row.compiled_ratio_high
        assert row.compiled_over_r == pytest.approx(row.compiled_ratio / row.ideal_ratio)
    else:
        assert row.compiled_ms is None and row.compiled_ratio is None and row.compiled_over_r is None
        assert "numba" in row.compiled_note
    assert format_scaling([row]).count("   8     4") == 2  # a line in the training and the inference table


def test_scaling_cell_without_numba_says_why_at_batch_1(monkeypatch, one_thread) -> None:
    monkeypatch.setattr(compiled_path, "NUMBA_AVAILABLE", False)
    row = measure_cell(8, 4, 1, "spread", repeats=1)
    assert row.compiled_ms is None and "numba" in row.compiled_note
    assert "no compiled timing: numba" in format_scaling([row])


def test_scaling_cell_fails_loudly_when_early_exit_decides_otherwise(monkeypatch, one_thread) -> None:
    def wrong(model, x, rule):
        batch = x.shape[0]
        return Decision(torch.zeros(batch, dtype=torch.long), torch.zeros(batch, dtype=torch.long),
                        torch.ones(batch, dtype=torch.bool)), batch

    monkeypatch.setattr(speed, "early_exit_decide", wrong)
    with pytest.raises(RuntimeError, match="early inference does not give the fused full pass's decisions"):
        measure_cell(8, 4, 4, "equal", repeats=1)


def test_inference_targets_are_checked(one_thread) -> None:
    row = measure_cell(8, 4, 1, "equal", repeats=1)
    base = dataclasses.replace(row, time_steps=20, hidden=8, wall_ratio=row.ideal_ratio)  # training on target
    slow_compiled = dataclasses.replace(base, compiled_ratio=1.1 * row.ideal_ratio, compiled_ratio_low=0.1,
                                        compiled_ratio_high=2.0)
    assert check_targets([dataclasses.replace(base, compiled_ratio=0.9 * row.ideal_ratio)]) == []
    assert check_targets([slow_compiled]) == [
        "T=20 H=8 batch=1 equal: compiled early exit 1.10 r > 1.0 r of the fused full pass"]
    large = dataclasses.replace(base, batch=64, compiled_ratio=None, inference_ratio=1.29 * row.ideal_ratio)
    assert check_targets([large]) == []
    assert check_targets([dataclasses.replace(large, inference_ratio=1.31 * row.ideal_ratio)]) == [
        "T=20 H=8 batch=64 equal: early exit 1.31 r > 1.3 r of the fused full pass (eager 1.31 r, compiled - r)"]
    # at batch 64 the faster path counts: a compiled path within 1.3 r meets the target for a slow eager one
    slow_eager = dataclasses.replace(large, inference_ratio=2.0 * row.ideal_ratio)
    assert check_targets([dataclasses.replace(slow_eager, compiled_ratio=1.2 * row.ideal_ratio)]) == []
    assert check_targets([dataclasses.replace(slow_eager, compiled_ratio=1.4 * row.ideal_ratio)]) == [
        "T=20 H=8 batch=64 equal: early exit 1.40 r > 1.3 r of the fused full pass (eager 2.00 r, compiled 1.40 r)"]
    # eager early exit at batch 1 has no target
    assert check_targets([dataclasses.replace(base, compiled_ratio=None, inference_ratio=5.0)]) == []


def test_speed_figure_is_written(tmp_path, one_thread) -> None:
    measured = [measure_cell(8, 4, 1, "equal", repeats=1), measure_cell(8, 4, 4, "tail", repeats=1)]
    rows = [dataclasses.replace(row, time_steps=time_steps, hidden=hidden) for row in measured
            for time_steps in (8, 16) for hidden in (4, 8)]
    path = write_speed_figure(rows, tmp_path)
    assert path == tmp_path / FIGURE_NAME
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_speed_command_writes_table_json_and_figure(tmp_path, capsys) -> None:
    out = tmp_path / "speed"
    assert main(["speed", "--time-steps", "8", "--hidden", "4", "--batch", "1,4", "--patterns", "equal,tail",
                 "--repeats", "1", "--threads", "1", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Inference: early exit / fused full pass" in printed and "speed.png" in printed
    assert sorted(path.name for path in out.iterdir()) == ["speed.json", "speed.md", "speed.png"]
    payload = json.loads((out / "speed.json").read_text(encoding="utf-8"))
    assert {"versions", "hardware", "git_revision", "command", "created"} <= set(payload)
    assert [(row["batch"], row["pattern"]) for row in payload["rows"]] == [(1, "equal"), (4, "equal"), (4, "tail")]
    for row in payload["rows"]:
        assert row["decisions_identical"] is True
        assert row["inference_ratio"] > 0 and row["inference_over_r"] > 0 and row["wall_over_r"] > 0
    markdown = (out / "speed.md").read_text(encoding="utf-8")
    assert "early/full [low, high]" in markdown and "git revision" in markdown
    assert payload["settings"]["flush_denormal"] is True
    assert main(["speed", "--time-steps", "8", "--hidden", "4", "--repeats", "0"]) == 2
    kept = tmp_path / "kept"
    assert main(["speed", "--time-steps", "8", "--hidden", "4", "--batch", "1", "--patterns", "equal", "--repeats", "1",
                 "--threads", "1", "--device", "cpu", "--keep-denormals", "--out", str(kept)]) == 0
    assert json.loads((kept / "speed.json").read_text(encoding="utf-8"))["settings"]["flush_denormal"] is False


def test_denormals_are_flushed_in_the_block_for_torch_and_the_compiled_kernels_and_kept_after_it() -> None:
    denormal = torch.tensor([1e-39])  # below float32's smallest normal value, 1.18e-38
    assert denormal.item() > 0
    with speed.flushed_denormals():
        if not torch.set_flush_denormal(True):
            pytest.skip("this CPU cannot flush denormals")
        assert (denormal * 1.0).item() == 0.0
        if compiled_path.NUMBA_AVAILABLE:
            assert scaled(denormal.numpy(), np.float32(1.0))[0] == 0.0  # the same thread's numba code too
    assert (denormal * 1.0).item() > 0
    with speed.flushed_denormals(False):
        assert (denormal * 1.0).item() > 0


def scaled(values: np.ndarray, factor: np.float32) -> np.ndarray:
    """``values * factor``, through a numba function (compiled on first use)."""
    import numba

    return numba.njit(lambda v, f: v * f)(values, factor)


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


def test_each_round_times_training_steps_steps_of_each_way_in_a_row(monkeypatch, one_thread) -> None:
    """A short training step is repeated within a round (as inference calls are): the truncated step runs
    once to warm up, ``training_steps`` times in each round, and once more for its memory count."""
    calls = []
    real = speed.truncated_rc_step

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(speed, "truncated_rc_step", counted)
    monkeypatch.setattr(speed, "MIN_TRAINING_SECONDS", 1.0)  # far above a tiny step: MAX_TRAINING_STEPS steps
    monkeypatch.setattr(speed, "MAX_TRAINING_STEPS", 7)
    row = speed.measure_cell(8, 4, 1, "equal", repeats=2)
    assert row.training_steps == 7
    assert len(calls) == 1 + 2 * 7 + 1
    assert 0 < row.truncated_ms < 1e3 and row.wall_ratio_low <= row.wall_ratio <= row.wall_ratio_high
