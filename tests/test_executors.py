"""Executors of ``rcbench run`` (bench/run/executors.py): the same records in this process, in a
local pool of worker processes and on a local Ray instance; errors and failed cells in workers;
the options and their errors."""

from __future__ import annotations

import functools
import importlib
import sys
import time
from pathlib import Path

import pytest

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.registry import CONTENDERS
from bench.run import executors
from bench.cli import main
from bench.analysis.compare import VOLATILE_FIELDS, compare_records
from bench.run.executors import (
    ExecutorSettings,
    InProcessExecutor,
    ProcessPoolExecutor,
    RemoteFailure,
    WorkerError,
)
from bench.core.records import ERROR_FIELDS, METRIC_FIELDS, read_errors, read_records

PROFILE = """
name = "tiny-executors"
seeds = [0, 1]
data_seed = 0

[protocol]
epochs = 2
lr_schedule = "constant"
selection = "best-val-accuracy"
[contenders.rc-lstm]
hidden = 8
batch_size = 16
[contenders.lstm-eos]
hidden = 8
batch_size = 16

[tasks.toy-noise]
thresholds = [0.9, 0.95]
[tasks.toy-noise.data]
n_train = 64
n_val = 32
n_test = 32
"""

MISBEHAVING = """
[contenders.test-broken-fit]
hidden = 8
batch_size = 16
[contenders.test-nan]
hidden = 8
batch_size = 16
"""


pytestmark = pytest.mark.usefixtures("restore_threads")


@pytest.fixture
def test_contenders():
    """Register the misbehaving contenders of ``executor_contenders``; unregister them afterwards."""
    before = CONTENDERS.registered()
    importlib.import_module("executor_contenders")
    yield
    for name in CONTENDERS.registered() - before:
        CONTENDERS.unregister(name)
    sys.modules.pop("executor_contenders", None)


@pytest.fixture
def profile(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return path


@pytest.fixture
def misbehaving_profile(tmp_path, test_contenders) -> Path:
    """The profile, with settings for the misbehaving contenders too."""
    path = tmp_path / "misbehaving.toml"
    path.write_text(PROFILE + MISBEHAVING, encoding="utf-8")
    return path


def run(capfd, profile: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    """``rcbench run`` on toy-noise; ``capfd`` also catches what worker processes print."""
    code = main(["run", "--profile", str(profile), "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--tasks", "toy-noise", *extra])
    captured = capfd.readouterr()
    return code, captured.out, captured.err


def assert_same_records(first: Path, second: Path) -> None:
    """Equal cell by cell, timings aside (and the git revision: a commit may land between two runs)."""
    comparison = compare_records(read_records(first / "results.jsonl"), read_records(second / "results.jsonl"),
                                 (*VOLATILE_FIELDS, "git_revision"))
    assert comparison.identical, comparison.different or (comparison.only_a, comparison.only_b)
    assert comparison.same


# ----------------------------------------------------------------------------- same records


def test_a_pool_of_two_workers_gives_the_same_records_as_one_worker_in_process(capfd, tmp_path, profile):
    argv = ["--contenders", "rc-lstm,lstm-eos", "--seeds", "0"]
    code, _stdout, err = run(capfd, profile, tmp_path / "one", *argv, "--workers", "1")
    assert code == 0, err
    assert "executor:" not in err  # one worker: no pool, the jobs run in this process
    code, stdout, err = run(capfd, profile, tmp_path / "two", *argv, "--workers", "2")
    assert code == 0, err
    assert "executor: local, 2 worker processes x 1 torch thread(s) (spawn)" in err
    # the workers' progress lines reach this process's standard error, with their job's label
    assert "[2/3] toy-noise rc-lstm seed=0 beta=0 theta=0.95: epoch 2/2" in err
    assert "[3/3] toy-noise lstm-eos seed=0 theta=0.9,0.95: 2 record(s) written" in err
    assert "4 new records" in stdout and (tmp_path / "two" / "summary.md").exists()
    assert_same_records(tmp_path / "one", tmp_path / "two")
    for record in read_records(tmp_path / "two" / "results.jsonl"):
        assert record["hardware"]["torch_threads"] == 1  # as in each worker: --threads


def test_error_in_a_worker_stops_the_run_names_the_cell_and_keeps_finished_cells(capfd, tmp_path,
                                                                                misbehaving_profile):
    out = tmp_path / "out"
    code, _stdout, err = run(capfd, misbehaving_profile, out, "--contenders", "lstm-eos,test-broken-fit", "--seeds", "0",
                             "--workers", "2")
    assert code == 1
    assert ("rcbench: error: training job [2/2] toy-noise test-broken-fit seed=0 theta=0.9,0.95 failed: "
            "KeyError: 'a bug in fit'") in err
    # the traceback comes from the worker process
    assert 'raise KeyError("a bug in fit")' in err and "executor_contenders.py" in err
    assert "the run stopped; 2 new records were written" in err and "rerun with --resume" in err
    # the job that was running beside it finished and its cells are kept; no error record for a bug
    records = read_records(out / "results.jsonl")
    assert sorted((r["contender"], r["theta"]) for r in records) == [("lstm-eos", 0.9), ("lstm-eos", 0.95)]
    assert not (out / "errors.jsonl").exists()


def test_nan_cell_in_a_pool_writes_its_error_records_and_the_other_cells(capfd, tmp_path, misbehaving_profile):
    out = tmp_path / "out"
    code, stdout, err = run(capfd, misbehaving_profile, out, "--contenders", "test-nan,rc-lstm", "--seeds", "0",
                            "--workers", "2")
    assert code == 1
    records = read_records(out / "results.jsonl")
    assert sorted((r["contender"], r["theta"]) for r in records) == [("rc-lstm", 0.9), ("rc-lstm", 0.95)]
    errors = read_errors(out / "errors.jsonl")
    assert sorted((e["contender"], e["theta"]) for e in errors) == [("test-nan", 0.9), ("test-nan", 0.95)]
    for error in errors:
        assert set(ERROR_FIELDS) <= set(error) and not set(METRIC_FIELDS) & set(error)
        assert error["error_kind"] == "training-diverged" and error["error_type"] == "TrainingDiverged"
        assert error["hardware"]["torch_threads"] == 1
    assert "[1/3] toy-noise test-nan seed=0 theta=0.9,0.95: FAILED at theta=0.9: training diverged" in err
    assert "[1/3] toy-noise test-nan seed=0 theta=0.9,0.95: 0 record(s) written, 2 failed cell(s)" in err
    assert "rcbench: 2 cell(s) failed and have no record" in err
    assert "2 new records" in stdout


# ----------------------------------------------------------------------------- Ray


def test_ray_local_instance_gives_the_same_records_as_the_local_executor(capfd, tmp_path, profile):
    ray = pytest.importorskip("ray")
    argv = ["--contenders", "rc-lstm,lstm-eos", "--seeds", "0"]
    code, _stdout, err = run(capfd, profile, tmp_path / "local", *argv, "--workers", "1")
    assert code == 0, err
    code, stdout, err = run(capfd, profile, tmp_path / "ray", *argv, "--executor", "ray", "--workers", "2")
    assert code == 0, err
    assert "executor: ray, a local instance, up to 2 jobs at once x 1 torch thread(s)" in err
    assert "4 new records" in stdout
    assert not ray.is_initialized()  # the instance started for the run is shut down
    assert_same_records(tmp_path / "local", tmp_path / "ray")


def test_ray_executor_without_ray_says_how_to_install_it(capfd, tmp_path, profile, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, _stdout, err = run(capfd, profile, tmp_path / "out", "--executor", "ray")
    assert code == 2
    assert "rcbench: error: --executor ray needs Ray, which is not installed here" in err
    assert "install it with: pip install -e '.[ray]' in the rcbench checkout" in err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers must be >= 1, got 0"),
    (["--workers", "-3"], "--workers must be >= 1, got -3"),
    (["--address", "auto"], "--address names a Ray cluster; it needs --executor ray"),
    (["--executor", "local", "--address", "10.0.0.1:6379"], "--address names a Ray cluster; it needs --executor ray"),
])
def test_nonsense_executor_options_are_errors(capfd, tmp_path, profile, argv, message):
    code, _stdout, err = run(capfd, profile, tmp_path / "out", *argv)
    assert code == 2
    assert f"rcbench: error: {message}" in err
    assert not (tmp_path / "out").exists()


def test_unknown_executor_is_refused_by_the_parser(capfd):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--executor", "dask"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'dask'" in capfd.readouterr().err


def test_local_worker_count(monkeypatch):
    monkeypatch.setattr(executors, "available_cpus", lambda: 8)
    assert ExecutorSettings(threads=1).local_workers(jobs=20, device_type="cpu") == 8
    assert ExecutorSettings(threads=2).local_workers(jobs=20, device_type="cpu") == 4
    assert ExecutorSettings(threads=3).local_workers(jobs=20, device_type="cpu") == 2
    assert ExecutorSettings(threads=16).local_workers(jobs=20, device_type="cpu") == 1
    assert ExecutorSettings(threads=1).local_workers(jobs=3, device_type="cpu") == 3  # no idle workers
    assert ExecutorSettings(threads=1).local_workers(jobs=20, device_type="cuda") == 1
    assert ExecutorSettings(threads=1, workers=3).local_workers(jobs=20, device_type="cuda") == 3
    assert ExecutorSettings(threads=1, workers=5).local_workers(jobs=2, device_type="cpu") == 2
    assert isinstance(ExecutorSettings(threads=1).create(jobs=1, device_type="cpu"), InProcessExecutor)
    pool = ExecutorSettings(threads=2).create(jobs=10, device_type="cpu")
    assert isinstance(pool, ProcessPoolExecutor) and (pool.workers, pool.threads) == (4, 2)


# ----------------------------------------------------------------------------- the executors alone


def slow_int(text: str) -> int:
    """``int(text)``, after 0.5 s unless it fails (a worker process imports it from this module)."""
    value = int(text)
    time.sleep(0.5)
    return value


def test_pool_yields_every_result_and_stops_at_an_error():
    with ProcessPoolExecutor(workers=2, threads=1) as pool:
        assert sorted(pool.map_unordered(functools.partial(pow, 2), [1, 2, 3, 4])) == [(0, 2), (1, 4), (2, 8), (3, 16)]
        finished = []
        with pytest.raises(WorkerError) as caught:
            finished.extend(pool.map_unordered(slow_int, ["x", "1", "2", "3"]))
        assert sorted(pool.map_unordered(abs, [-1, -2])) == [(0, 1), (1, 2)]  # the pool still serves
    assert caught.value.index == 0 and caught.value.failure.error_type == "ValueError"
    assert "invalid literal for int() with base 10: 'x'" in caught.value.failure.message
    assert 'Traceback' in caught.value.failure.traceback and "in slow_int" in caught.value.failure.traceback
    # items 0 and 1 start together; item 0 fails at once, so no other item starts, and item 1,
    # still running, finishes and is yielded
    assert finished == [(1, 1)]


def test_in_process_executor_keeps_the_original_error():
    items = ["1", "x", "3"]
    finished = []
    with pytest.raises(WorkerError) as caught:
        finished.extend(InProcessExecutor().map_unordered(int, items))
    assert finished == [(0, 1)] and caught.value.index == 1
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.failure == RemoteFailure("ValueError", "invalid literal for int() with base 10: 'x'",
                                                 caught.value.failure.traceback)
