"""Tests written for the mutants of ``bench/run/harness.py`` that survived the mutation run (issue 17).

The functions they test run the jobs and are in ``bench/run/jobs.py`` now.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.run import jobs
from bench.run.executors import RemoteFailure
from bench.run.profile import load_profile


def test_job_error_keeps_the_label_the_error_type_the_traceback_and_the_result() -> None:
    failure = RemoteFailure("ZeroDivisionError", "division by zero", "Traceback ...\nZeroDivisionError")
    result = jobs.RunResult.__new__(jobs.RunResult)
    error = jobs.JobError("job 3/4 (toy-noise, rc-lstm, seed 0)", failure, result)
    assert error.label == "job 3/4 (toy-noise, rc-lstm, seed 0)"
    assert error.error_type == "ZeroDivisionError"
    assert error.traceback == "Traceback ...\nZeroDivisionError"
    assert error.result is result
    assert str(error) == "training job job 3/4 (toy-noise, rc-lstm, seed 0) failed: ZeroDivisionError: division by zero"


def test_a_process_keeps_one_task_cache_per_profile_and_data_dir(tmp_path: Path) -> None:
    quick, paper = load_profile("quick"), load_profile("paper")
    first = jobs.process_task_cache(quick, tmp_path / "a")
    assert isinstance(first, jobs.TaskCache)
    assert first.profile is quick and first.data_dir == tmp_path / "a"
    assert jobs.process_task_cache(quick, tmp_path / "a") is first
    other_dir = jobs.process_task_cache(quick, tmp_path / "b")
    assert other_dir is not first and other_dir.data_dir == tmp_path / "b"
    other_profile = jobs.process_task_cache(paper, tmp_path / "b")
    assert other_profile is not other_dir and other_profile.profile is paper
    # it keeps one run's data only: going back builds a fresh cache
    assert jobs.process_task_cache(quick, tmp_path / "a") is not first


def test_a_process_computes_its_provenance_once_per_device_threads_and_command(monkeypatch) -> None:
    calls = []

    def fake(device, command):
        calls.append((device, command))
        return {"device": str(device), "command": command, "n": len(calls)}

    monkeypatch.setattr(jobs, "run_provenance", fake)
    monkeypatch.setattr(jobs, "_PROCESS_PROVENANCE", {})
    cpu = torch.device("cpu")
    first = jobs._process_provenance(cpu, "rcbench run a")
    assert first == {"device": "cpu", "command": "rcbench run a", "n": 1}
    assert jobs._process_provenance(cpu, "rcbench run a") is first
    assert calls == [(cpu, "rcbench run a")]
    second = jobs._process_provenance(cpu, "rcbench run b")
    assert second["command"] == "rcbench run b" and len(calls) == 2
    meta = jobs._process_provenance(torch.device("meta"), "rcbench run a")
    assert meta["device"] == "meta" and len(calls) == 3
