"""Tests of learning-curve snapshots at fixed training compute (baselines/learning_curve.py) and of
their records (bench/core/records.py, bench/run/harness.py)."""

from __future__ import annotations

import math

import pytest
import torch

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.learning_curve import MAX_RANGE, POINTS_PER_DOUBLING, SnapshotSchedule, grid_index, grid_macs
from bench.core.records import RecordError, pack_bits, unpack_bits, validate_record
from bench.run.harness import plan_jobs
from bench.run.jobs import run_jobs
from bench.run.profile import parse_profile


def test_grid_points_are_shared_and_geometric():
    assert grid_macs(0) == 1.0
    assert grid_macs(POINTS_PER_DOUBLING) == 2.0
    assert grid_index(grid_macs(37)) == 37
    assert grid_index(grid_macs(37) * 1.1) == 37
    assert grid_index(grid_macs(38) * 0.999) == 37


def test_a_snapshot_is_taken_once_per_grid_point_crossed_with_the_exact_macs():
    schedule = SnapshotSchedule(forward_macs=3, backward_macs=5, upper_bound_macs=MAX_RANGE * 64.0)
    state = {"w": torch.zeros(2)}
    forward = backward = 0
    for batch in range(1, 200):
        forward, backward = forward + 2, backward + 1  # 11 MACs a minibatch
        state["w"] += 1
        schedule.after_minibatch(state, forward, backward, epoch=batch / 10, train_seconds=batch * 0.5)
    snaps = schedule.snapshots
    indices = [s.grid_index for s in snaps]
    assert indices == sorted(set(indices))
    assert indices[0] == grid_index(64.0)  # nothing below the upper bound / MAX_RANGE
    assert grid_index(199 * 11) == snaps[-1].grid_index
    for snap in snaps:
        batch = snap.training_macs // 11
        assert snap.training_macs >= grid_macs(snap.grid_index)
        assert (snap.training_macs - 11) < grid_macs(snap.grid_index) or snap is snaps[0]
        assert snap.state["w"].tolist() == [batch, batch]  # a copy, not the live tensor
        assert snap.epoch == pytest.approx(batch / 10)


def test_packed_bits_round_trip_and_are_checked():
    bits = [1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0]
    assert unpack_bits(pack_bits(bits), len(bits)) == bits
    with pytest.raises(RecordError, match="packed bits hold 16 values, not 20"):
        unpack_bits(pack_bits(bits), 20)


TINY = parse_profile({
    "protocol": {"epochs": 2, "lr_schedule": "constant", "selection": "last-epoch", "batch_size": 16},
    "contenders": {"rc-lstm": {"hidden": 8}, "lstm-eos": {"hidden": 8}},
    "tasks": {"toy-noise": {"thresholds": [0.9], "curve_examples": 20,
                            "data": {"n_train": 64, "n_val": 16, "n_test": 32}}},
}, "curve")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    torch.set_num_threads(1)
    jobs = plan_jobs(TINY, ["toy-noise"], ["rc-lstm", "lstm-eos"])
    out = tmp_path_factory.mktemp("curve") / "results.jsonl"
    return run_jobs(jobs, TINY, out, torch.device("cpu"), progress=lambda line: None).written


def test_records_carry_a_learning_curve_on_the_first_test_examples(records):
    for record in records:
        curve = record["learning_curve"]
        assert curve["examples"] == 20
        points = curve["points"]
        assert points, record["contender"]
        total = record["training"]["forward_macs"] + record["training"]["backward_macs"]
        assert points[-1]["training_macs"] <= total and grid_index(total) == points[-1]["grid_index"]
        assert all(a["grid_index"] < b["grid_index"] and a["training_macs"] < b["training_macs"]
                   for a, b in zip(points, points[1:]))
        assert points[-1]["epoch"] == pytest.approx(2.0)
        for point in points:
            assert sum(unpack_bits(point["correct"], 20)) / 20 == point["accuracy"]
            assert 1 <= point["decision_step_mean"] <= 40


def test_deciding_with_a_snapshot_restores_the_contender_afterwards():
    from baselines.registry import get_contender
    from bench.run.harness import contender_config
    from bench.tasks.registry import get_task
    from rc.crossing import make_rule

    torch.set_num_threads(1)
    task = get_task("toy-noise")
    data = task.load(task.options({"n_train": 64, "n_val": 16, "n_test": 32}, "test"), 0, None)
    cls = get_contender("lstm-eos")
    contender = cls(data.spec, make_rule("two-sided", 0.9), contender_config(TINY, "toy-noise", cls),
                    torch.device("cpu"), 0)
    contender.fit(data.train, data.val, lambda line: None)
    first = contender.learning_curve()[0]
    before = contender.step_scores(data.test.x)
    with contender.snapshot_weights(first):
        during = contender.step_scores(data.test.x)
    after = contender.step_scores(data.test.x)
    assert not torch.equal(before, during)  # the earliest snapshot is another model
    assert torch.equal(before, after)


def test_a_damaged_learning_curve_is_refused(records):
    record = dict(records[0])
    curve = record["learning_curve"]
    bad_accuracy = {**curve, "points": [{**curve["points"][0], "accuracy": 2.0}]}
    with pytest.raises(RecordError, match=r"accuracy 2.0 differs from the mean of its correct bits"):
        validate_record({**record, "learning_curve": bad_accuracy})
    unordered = {**curve, "points": [curve["points"][1], curve["points"][0]]}
    with pytest.raises(RecordError, match="grid_index must increase"):
        validate_record({**record, "learning_curve": unordered})
    with pytest.raises(RecordError, match="examples must be a positive integer"):
        validate_record({**record, "learning_curve": {**curve, "examples": 0}})


def test_grid_spacing_is_nineteen_percent():
    assert math.isclose(grid_macs(1) / grid_macs(0), 2 ** 0.25)
