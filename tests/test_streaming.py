"""Streaming time to decision (bench/measure/streaming.py): its definitions, the task step durations
(defaults and the profile's ``step_ms``), the records' ``streaming`` field and its validation, the
report's table and the figure."""

from __future__ import annotations

import copy
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from bench.analysis.compare import compare_records
from bench.analysis.figures import FIGURES, streaming_time
from bench.analysis.report import report_text
from bench.analysis.summary import streaming_lines
from bench.core.records import RecordError, validate_record
from bench.measure.streaming import (COMPUTE_EXAMPLES, DEFAULT_STEP_MS, check_step_ms, default_step_ms, percentiles,
                                     step_compute_ms, streaming_fields, time_to_decision_ms)
from bench.run.profile import load_profile
from bench.tasks.registry import get_task
from helpers import make_record
from rc.crossing import Decision


# ----------------------------------------------------------------------------- definitions


def test_time_to_decision_is_arrival_plus_one_step_of_compute_while_compute_keeps_up() -> None:
    # c <= dt: step k has arrived at k dt, its compute ends c later
    assert time_to_decision_ms([1, 3, 20], 10.0, 0.5).tolist() == [10.5, 30.5, 200.5]
    # c > dt: every step waits for the one before: dt + k c
    assert time_to_decision_ms([1, 3], 1.0, 4.0).tolist() == [5.0, 13.0]
    # equal: both formulas agree
    assert time_to_decision_ms([2], 2.0, 2.0).tolist() == [6.0]


def test_time_to_decision_equals_a_simulated_stream() -> None:
    """F(k) from the recursion: compute of step k starts at max(its arrival, the end of step k-1)."""
    for step_ms, compute_ms in ((1.0, 0.3), (1.0, 2.5), (10.0, 10.0)):
        finished = 0.0
        for k in range(1, 30):
            finished = max(k * step_ms, finished) + compute_ms
            assert time_to_decision_ms([k], step_ms, compute_ms)[0] == pytest.approx(finished)


def test_percentiles_interpolate_linearly() -> None:
    values = list(range(1, 101))
    assert percentiles(values) == {"p50": 50.5, "p90": pytest.approx(90.1), "p99": pytest.approx(99.01)}
    assert percentiles([7, 7, 7]) == {"p50": 7.0, "p90": 7.0, "p99": 7.0}


def test_streaming_fields_of_early_exit_and_the_full_sequence() -> None:
    steps = torch.tensor([1, 1, 2, 3, 5, 20])
    fields = streaming_fields(steps, 20, 1.0, 0.25, "profile", 4)
    assert fields["step_ms"] == 1.0 and fields["step_ms_from"] == "profile" and fields["compute_examples"] == 4
    early, full = fields["early_exit"], fields["full_sequence"]
    assert early["steps_read"]["p50"] == 2.5
    assert early["time_to_decision_ms"]["p50"] == pytest.approx(2.5 * 1.0 + 0.25)
    assert full["steps_read"] == {"p50": 20.0, "p90": 20.0, "p99": 20.0}
    assert full["time_to_decision_ms"]["p99"] == pytest.approx(20.25)
    validate_record(make_record(n_steps=20, streaming=fields))
    with pytest.raises(ValueError, match="step_ms must be a finite number"):
        streaming_fields(steps, 20, 0.0, 0.25)


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, True, "1"])
def test_check_step_ms_refuses_what_is_not_a_positive_duration(bad) -> None:
    with pytest.raises(ValueError, match="step_ms must be a finite number of milliseconds > 0"):
        check_step_ms(bad)


class TimedContender:
    """Takes ``seconds_per_step`` per step it reads; every example decides at its step ``decide_at``."""

    def __init__(self, seconds_per_step: float, decide_at: int) -> None:
        self.seconds_per_step, self.decide_at = seconds_per_step, decide_at
        self.batch_sizes: list[int] = []

    def decide(self, x):
        self.batch_sizes.append(x.shape[0])
        time.sleep(self.seconds_per_step * self.decide_at * x.shape[0])
        steps = torch.full((x.shape[0],), self.decide_at - 1)
        return Decision(torch.zeros_like(steps), steps, torch.ones_like(steps, dtype=torch.bool)), \
            self.decide_at * x.shape[0]


def test_step_compute_is_measured_one_example_at_a_time_per_step_read() -> None:
    contender = TimedContender(0.002, decide_at=3)
    compute = step_compute_ms(contender, torch.zeros(20, 5, 2), examples=4, repeats=2)
    assert contender.batch_sizes == [1] * 12  # 4 examples, one warm-up round and two timed
    assert 2.0 <= compute < 6.0  # 2 ms per step, plus whatever the machine adds
    contender.batch_sizes.clear()
    step_compute_ms(contender, torch.zeros(2, 5, 2), repeats=1)  # fewer examples than asked for: all of them
    assert contender.batch_sizes == [1] * 4
    with pytest.raises(ValueError, match="examples and repeats must be >= 1"):
        step_compute_ms(contender, torch.zeros(2, 5, 2), examples=0)


# ----------------------------------------------------------------------------- step durations


@pytest.mark.parametrize("task, options, expected", [
    ("mnist-temporal", {}, DEFAULT_STEP_MS),
    ("fmnist-temporal", {}, DEFAULT_STEP_MS),
    ("toy-noise", {}, DEFAULT_STEP_MS),
    ("toy-runs", {}, DEFAULT_STEP_MS),
    ("fsdd", {}, 10.0),
    ("fsdd", {"hop_ms": 20.0}, 20.0),
    ("gsc", {}, 10.0),
    ("shd", {}, 10.0),
    ("shd", {"steps": 250}, 4.0),
])
def test_each_task_has_a_default_step_duration(task, options, expected) -> None:
    parsed = get_task(task).options(options, "test")
    assert default_step_ms(parsed) == pytest.approx(expected)
    assert DEFAULT_STEP_MS == 1.0


def test_a_profile_may_set_step_ms_per_task(tmp_path) -> None:
    from bench.run.harness import task_step_ms

    path = tmp_path / "profile.toml"
    path.write_text("""
name = "streams"
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "last-epoch"
[tasks.toy-noise]
thresholds = [0.9]
step_ms = 2.5
[tasks.fsdd]
thresholds = [0.9]
[tasks.fsdd.data]
hop_ms = 16.0
""", encoding="utf-8")
    profile = load_profile(str(path))
    assert profile.tasks["toy-noise"].step_ms == 2.5 and profile.tasks["fsdd"].step_ms is None
    assert task_step_ms(profile, "toy-noise", "rc-lstm") == (2.5, "profile")
    assert task_step_ms(profile, "fsdd", "rc-lstm") == (16.0, "task")  # the hop of the data options


@pytest.mark.parametrize("value", ["0", "-1.0", '"fast"', "true", "inf"])
def test_a_bad_step_ms_in_a_profile_is_refused(tmp_path, value) -> None:
    from bench.core.options import OptionError

    path = tmp_path / "profile.toml"
    path.write_text(f"""
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "last-epoch"
[tasks.toy-noise]
thresholds = [0.9]
step_ms = {value}
""", encoding="utf-8")
    with pytest.raises(OptionError, match=r"\[tasks\.toy-noise\] step_ms must be a finite number of milliseconds"):
        load_profile(str(path))


def test_builtin_profiles_parse_without_step_ms() -> None:
    for name in ("quick", "paper"):
        assert all(plan.step_ms is None for plan in load_profile(name).tasks.values())


# ----------------------------------------------------------------------------- the harness


@pytest.mark.slow
def test_evaluate_records_the_streaming_time_to_decision(restore_threads) -> None:
    from bench.measure.latency import train_contender
    from bench.run.harness import evaluate

    torch.set_num_threads(1)
    contender, _test = train_contender("rc-lstm", "toy-runs", None, {"n_train": 64, "n_val": 32, "n_test": 40},
                                       {"hidden": 8, "epochs": 1}, 0.6, torch.device("cpu"))
    task = get_task("toy-runs")
    data = task.load(task.options({"n_train": 64, "n_val": 32, "n_test": 40}, "test"), 0)
    result = evaluate(contender, data, step_ms=3.0, step_ms_from="profile")
    streaming = result["streaming"]
    assert streaming["step_ms"] == 3.0 and streaming["step_ms_from"] == "profile"
    assert streaming["step_compute_ms"] > 0 and streaming["compute_examples"] == COMPUTE_EXAMPLES
    steps = np.asarray(result["per_example"]["decision_step"], dtype=float)
    assert streaming["early_exit"]["steps_read"]["p90"] == pytest.approx(float(np.percentile(steps, 90)))
    assert streaming["full_sequence"]["steps_read"]["p50"] == data.spec.n_steps
    record = make_record(**{key: value for key, value in result.items()
                            if key not in ("decision_lag_mean",)}, n_steps=data.spec.n_steps, test_size=40)
    validate_record(record)


# ----------------------------------------------------------------------------- records


@pytest.mark.parametrize("change, message", [
    (lambda s: s["early_exit"]["steps_read"].update(p50=5.0), "p50 <= p90 <= p99"),
    (lambda s: s["early_exit"]["time_to_decision_ms"].update(p99=1.0), "p50 <= p90 <= p99"),
    (lambda s: s.update(step_ms=0.0), r"step_ms must be a finite number > 0"),
    (lambda s: s.update(step_compute_ms=-0.1), r"step_compute_ms must be a finite number > 0"),
    (lambda s: s.update(step_compute_ms=math.inf), r"step_compute_ms must be a finite number > 0"),
    (lambda s: s["early_exit"]["steps_read"].update(p50=math.nan), r"p50 must be a finite number > 0"),
    (lambda s: s["early_exit"]["steps_read"].update(p50="2"), r"p50 must be a finite number > 0"),
    (lambda s: s.update(step_ms_from="guess"), "step_ms_from must be 'task' or 'profile'"),
    (lambda s: s.update(compute_examples=0), "compute_examples must be a positive integer"),
    (lambda s: s.pop("full_sequence"), "must be a table with exactly"),
    (lambda s: s["early_exit"].pop("steps_read"), "must be a table with exactly steps_read and"),
    (lambda s: s["early_exit"]["steps_read"].pop("p90"), "must be a table with exactly p50, p90, p99"),
    (lambda s: s["early_exit"]["steps_read"].update(p90=5.0, p99=5.0), r"must lie in \[1, n_steps=4\]"),
    (lambda s: s["full_sequence"]["steps_read"].update(p50=3.0), "must be n_steps=4 throughout"),
    (lambda s: s["early_exit"]["time_to_decision_ms"].update(p50=2.5), r"not 2\.05"),
])
def test_a_damaged_streaming_field_is_refused(change, message) -> None:
    record = make_record()
    validate_record(record)
    change(record["streaming"])
    with pytest.raises(RecordError, match=message):
        validate_record(record)


def test_records_without_the_field_still_read() -> None:
    record = make_record()
    del record["streaming"]
    validate_record(record)


def test_the_timed_values_are_left_out_of_record_comparisons() -> None:
    first = make_record()
    second = copy.deepcopy(first)
    second["streaming"].update(step_compute_ms=0.5)
    for mode in ("early_exit", "full_sequence"):
        second["streaming"][mode]["time_to_decision_ms"] = {p: v + 1 for p, v in
                                                             second["streaming"][mode]["time_to_decision_ms"].items()}
    assert compare_records([first], [second]).identical
    second["streaming"]["early_exit"]["steps_read"]["p50"] = 3.0
    assert not compare_records([first], [second]).identical


# ----------------------------------------------------------------------------- report and figure


def test_the_report_shows_a_streaming_table_per_task(tmp_path) -> None:
    records = [make_record(seed=seed) for seed in (0, 1)]
    records[1]["streaming"]["step_compute_ms"] = 0.15
    for mode in ("early_exit", "full_sequence"):
        points = records[1]["streaming"][mode]
        points["time_to_decision_ms"] = {p: k + 0.15 for p, k in points["steps_read"].items()}
    lines = streaming_lines(records)
    assert lines[0].startswith("Streaming time to decision")
    row = lines[-2]
    # means over the two seeds: compute 0.1, p50 time (2.05 + 2.15) / 2, full (4.05 + 4.15) / 2
    assert row.startswith("| rc-lstm θ=0.9 β=0 | 2 | 1 | 0.1000 | 2.0 / 4.0 / 4.0 | 2.10 / 4.10 / 4.10 | "
                          "4.10 / 4.10 / 4.10 | 1.95 |")
    text = report_text(records, {}, tmp_path, [tmp_path / "results.jsonl"])
    assert "| configuration | seeds | step ms | compute ms/step |" in text
    for record in records:
        del record["streaming"]
    assert streaming_lines(records) == []
    assert "Streaming time to decision" not in report_text(records, {}, tmp_path, [tmp_path / "results.jsonl"])


def test_the_figure_draws_the_distribution_from_per_example_steps_or_percentiles() -> None:
    assert FIGURES["streaming-time"] is streaming_time
    plain = make_record()
    assert streaming_time([], "toy-noise") is None
    without = copy.deepcopy(plain)
    del without["streaming"]
    assert streaming_time([without], "toy-noise") is None
    figure = streaming_time([plain], "toy-noise")  # percentiles only
    assert "percentiles only" in figure.axes[0].get_legend_handles_labels()[1][0]
    plt.close(figure)
    steps = [1] * 50 + [2] * 30 + [4] * 20
    detailed = make_record(test_size=100, accuracy=0.5, decision_step_mean=sum(steps) / 100,
                                per_example={"correct": [1, 0] * 50, "decision_step": steps,
                                             "labels_sha256": "0" * 64})
    validate_record(detailed)
    figure = streaming_time([detailed], "toy-noise")
    axes = figure.axes[0]
    (line, *_rest) = axes.get_lines()
    assert line.get_xdata()[0] == pytest.approx(1.05) and line.get_ydata()[-1] == pytest.approx(1.0)
    assert axes.get_xlabel().endswith("one input step per 1 ms")
    plt.close(figure)
