"""Tests of ``rcbench run --plan`` (bench/run/plan.py): jobs, cells and CPU-hours, nothing trained."""

from __future__ import annotations

import json

import pytest

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.registry import get_contender
from bench.cli import main
from bench.run.harness import plan_jobs
from bench.run.jobs import TaskCache, job_setup
from bench.run.plan import estimate_jobs
from bench.run.profile import load_profile
from helpers import make_record


def reference(tmp_path, records):
    folder = tmp_path / "ref" / "some-run"
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return tmp_path / "ref"


def test_an_estimate_comes_from_the_same_configuration_else_from_seconds_per_epoch(tmp_path):
    quick = load_profile("quick")
    jobs = plan_jobs(quick, ["toy-noise"], ["lstm-eos", "rc-lstm"], seeds=[0])
    tasks = TaskCache(quick, tmp_path)
    eos_hash = job_setup(jobs[0], quick, tasks).config_hash
    training = make_record()["training"]
    records = [make_record(contender="lstm-eos", config_hash=eos_hash, training={**training, "train_seconds": 30.0}),
               make_record(contender="lstm-eos", config_hash=eos_hash, training={**training, "train_seconds": 50.0}),
               make_record(contender="rc-lstm", config_hash="other", profile="quick",
                           training={**training, "train_seconds": 8.0, "epochs": 2})]
    estimates = {e.job.contender: e for e in estimate_jobs(jobs, quick, tasks, records)}
    assert (estimates["lstm-eos"].seconds, estimates["lstm-eos"].exact) == (40.0, True)
    assert (estimates["rc-lstm"].seconds, estimates["rc-lstm"].exact) == (4.0 * 10, False)  # 4 s/epoch x 10 epochs
    assert estimate_jobs(jobs, quick, tasks, [])[0].seconds is None


def test_plan_prints_the_jobs_and_trains_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = reference(tmp_path, [make_record(contender="lstm-eos", profile="quick")])
    code = main(["run", "--profile", "quick", "--tasks", "toy-noise", "--contenders", "lstm-eos,snn-ttfs",
                 "--plan", "--plan-from", str(folder)])
    out = capsys.readouterr().out
    assert code == 0
    assert "| toy-noise | lstm-eos | 1 | 1 | ~0.00 |" in out
    assert "| toy-noise | snn-ttfs | 1 | 1 | ? |" in out
    assert "2 training jobs, 2 cells" in out and "1 job(s) without an estimate" in out
    assert not (tmp_path / "runs").exists()


def test_plan_from_a_missing_folder_is_an_error(capsys):
    assert main(["run", "--profile", "quick", "--plan", "--plan-from", "/no/such/folder"]) == 2
    assert "--plan-from /no/such/folder: no such folder" in capsys.readouterr().err


def test_the_paper_plan_covers_every_cell():
    paper = load_profile("paper")
    jobs = plan_jobs(paper, list(paper.tasks), paper.named_contenders())
    assert len(jobs) > 0
    assert sum(len(job.thresholds) for job in jobs) == pytest.approx(
        sum(len(paper.seeds) * (len(plan.thresholds) if get_contender(name).own_rule() is None else 1)
            for plan in paper.tasks.values() for name in paper.named_contenders()))
