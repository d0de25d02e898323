"""Tests of the ``rcbench`` command line (bench/cli.py) and the harness's job plan (bench/run/harness.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.step_contender import StepModelContender
from baselines.registry import CONTENDERS, get_contender
from bench.cli import main
from bench.run.harness import TrainingJob, plan_jobs
from bench.run.profile import BUILTIN_PROFILES, load_profile, parse_profile
from bench.core.records import REQUIRED_FIELDS, read_records
from bench.measure.metrics import labels_digest
from bench.tasks.registry import TASKS, get_task
from rc.crossing import make_rule


class TrainingStarted(Exception):
    """Raised by the patched ``fit``: a command trained although it should have failed first."""


@pytest.fixture
def no_training(monkeypatch):
    """Make any training attempt fail loudly (and fast) instead of training for minutes."""
    def fit(self, train, val, progress):
        raise TrainingStarted(f"{self.name} started training")
    monkeypatch.setattr(StepModelContender, "fit", fit)


def run(capsys, *argv):
    code = main(["run", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("rcbench: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_list_prints_every_task_and_contender(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert {"toy-noise", "toy-runs"} <= set(TASKS)
    assert {"rc-lstm", "lstm-eos", "lstm-allsteps"} <= set(CONTENDERS)
    task_part, contender_part = out.split("contenders:")
    for name, task in TASKS.items():
        assert f"  {name}" in task_part and task.description in task_part
    for name, contender in CONTENDERS.items():
        assert f"  {name}" in contender_part and contender.description in contender_part
    assert f"profiles: {', '.join(BUILTIN_PROFILES)} (or a path" in out and "quick" in BUILTIN_PROFILES


def test_run_unknown_task(capsys, tmp_path, no_training):
    code, _out, err = run(capsys, "--tasks", "toy-noise,nope", "--out", str(tmp_path / "out"))
    assert code == 2
    assert error_line(err) == "rcbench: error: unknown task 'nope'; known tasks: " + ", ".join(sorted(TASKS))
    assert not (tmp_path / "out").exists()


def test_run_unknown_contender(capsys, tmp_path, no_training):
    code, _out, err = run(capsys, "--contenders", "rc-lstm,snn", "--out", str(tmp_path / "out"))
    assert code == 2
    assert error_line(err) == ("rcbench: error: unknown contender 'snn'; known contenders: "
                               + ", ".join(sorted(CONTENDERS)))
    assert not (tmp_path / "out").exists()


def test_run_threshold_out_of_range(capsys, tmp_path, no_training):
    code, _out, err = run(capsys, "--thresholds", "1.5", "--device", "cpu", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "theta must lie in" in error_line(err) and "got 1.5" in error_line(err)
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_run_negative_beta(capsys, tmp_path, no_training):
    code, _out, err = run(capsys, "--betas", "-1", "--tasks", "toy-noise", "--contenders", "rc-lstm",
                          "--device", "cpu", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "entropy weight beta must be finite and >= 0, got -1.0" in error_line(err)
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_run_negative_beta_fails_before_any_training(capsys, tmp_path, no_training):
    code, _out, err = run(capsys, "--betas", "-1", "--device", "cpu", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "beta" in error_line(err)


def test_run_unknown_profile(capsys, tmp_path, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "--profile", "nope", "--out", str(tmp_path / "out"))
    assert code == 2
    assert error_line(err).startswith("rcbench: error: unknown profile 'nope'")


def test_run_profile_with_unregistered_task(capsys, tmp_path, no_training):
    path = tmp_path / "p.toml"
    path.write_text("[tasks.nope]\nthresholds = [0.9]\n", encoding="utf-8")
    code, _out, err = run(capsys, "--profile", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "nope" in error_line(err)


def test_run_refuses_existing_results_without_resume(capsys, tmp_path, no_training):
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "results.jsonl"
    existing.write_text('{"schema_version": 1}\n', encoding="utf-8")
    code, _out, err = run(capsys, "--out", str(out), "--device", "cpu")
    assert code == 2
    line = error_line(err)
    assert "--resume" in line and "already holds results" in line and str(existing) in line
    assert existing.read_text(encoding="utf-8") == '{"schema_version": 1}\n'


def test_run_rejects_malformed_numbers(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--thresholds", "0.9,high"])
    assert info.value.code == 2
    assert "expected comma-separated floats, got '0.9,high'" in capsys.readouterr().err


TINY_PROFILE = """
name = "tiny"
description = "test profile"
seeds = [0]
data_seed = 0

[protocol]
epochs = 1
lr_schedule = "constant"
selection = "best-val-accuracy"
[contenders.rc-lstm]
hidden = 8
batch_size = 16
lr = 0.02
[contenders.lstm-eos]
hidden = 8
batch_size = 16
lr = 0.02
[contenders.lstm-allsteps]
hidden = 8
batch_size = 16
lr = 0.02
[contenders.snn-ttfs]
hidden = 8

# an easy toy-noise (k = 0.3) and a low theta: after one epoch the LSTMs are right and decide at many
# different steps, so the records' metrics are values that can be checked, not just ranges
[tasks.toy-noise]
thresholds = [0.53]
[tasks.toy-noise.data]
n_train = 64
n_val = 32
n_test = 32
k = 0.3

[tasks.toy-runs]
thresholds = [0.53]
[tasks.toy-runs.data]
n_train = 64
n_val = 32
n_test = 32
"""


def assert_record_is_what_its_contender_decides(record: dict, data_dir) -> None:
    """The record's metrics are those of its contender retrained here with the record's configuration,
    rule and seeds (training is deterministic on the CPU), deciding on the task's test split."""
    task = get_task(record["task"])
    data = task.load(task.options(record["data_options"], "test"), record["data_seed"], data_dir)
    cls = get_contender(record["contender"])
    rule = cls.own_rule() or make_rule(record["rule"], record["theta"])
    contender = cls(data.spec, rule, cls.make_config(record["config"], "test"), torch.device("cpu"), record["seed"])
    report = contender.fit(data.train, data.val, lambda _line: None)
    decision, evaluations = contender.decide(data.test.x)
    correct = (decision.prediction == data.test.y).long().tolist()
    steps = decision.steps_read.tolist()
    assert record["per_example"]["labels_sha256"] == labels_digest(data.test.y)
    assert record["per_example"]["correct"] == correct and record["per_example"]["decision_step"] == steps
    assert record["accuracy"] == sum(correct) / len(correct)
    assert record["inference_step_evaluations"] == evaluations == sum(steps)
    assert record["decision_step_mean"] == pytest.approx(sum(steps) / len(steps))
    assert record["decision_step_median"] == pytest.approx(float(np.median(steps)))
    assert record["never_crossed_fraction"] == pytest.approx(float((~decision.crossed).float().mean()))
    by_step = (rule.predict(contender.step_scores(data.test.x)) == data.test.y[:, None]).double().mean(dim=0)
    assert record["accuracy_by_step"] == pytest.approx(by_step.tolist())
    if data.test.ideal_step is not None:
        known = data.test.ideal_step >= 1
        lag = (decision.steps_read[known] - data.test.ideal_step[known]).double().mean()
        assert record["decision_lag_mean"] == pytest.approx(float(lag))
    training = record["training"]
    assert training["selected_epoch"] == report.selected_epoch
    assert training["selected_val_accuracy"] == report.selected_val_accuracy
    assert training["final_train_loss"] == pytest.approx(report.final_train_loss)
    assert [(log["val_accuracy"], log["val_decision_step"]) for log in training["history"]] == [
        (log.val_accuracy, log.val_decision_step) for log in report.history]
    assert training["step_evaluations_forward"] == report.step_evaluations_forward


def test_end_to_end_tiny_run_and_resume(capsys, tmp_path, monkeypatch, restore_threads):
    profile = tmp_path / "tiny.toml"
    profile.write_text(TINY_PROFILE, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["--profile", str(profile), "--out", str(out), "--device", "cpu", "--threads", "1"]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    records = read_records(out / "results.jsonl")
    cells = {(r["task"], r["contender"], r["seed"], r["theta"], r["rule"]) for r in records}
    expected = {(task, contender, 0, 0.53, "two-sided") for task in ("toy-noise", "toy-runs")
                for contender in ("rc-lstm", "lstm-eos", "lstm-allsteps")}
    expected |= {(task, "snn-ttfs", 0, None, "first-spike") for task in ("toy-noise", "toy-runs")}
    assert len(records) == 8 and cells == expected
    for record in records:
        assert set(REQUIRED_FIELDS) <= set(record)
        assert record["profile"] == "tiny"
        assert record["test_size"] == 32
        assert record["n_steps"] == (40 if record["task"] == "toy-noise" else 25)
        assert len(record["accuracy_by_step"]) == record["n_steps"]
        assert record["first_step_accuracy"] == record["accuracy_by_step"][0]
        assert record["last_step_accuracy"] == record["accuracy_by_step"][-1]
        assert 0.0 <= record["accuracy"] <= 1.0
        assert 1 <= record["decision_step_mean"] <= record["n_steps"]
        assert record["training"]["epochs"] == 1 and record["config"]["hidden"] == 8
        assert record["training"]["shared_across_thresholds"] == 1
        assert record["beta"] == (0.0 if record["contender"] == "rc-lstm" else None)
        assert ("decision_lag_mean" in record) == (record["task"] == "toy-runs")
        # inference cost: the early-exit step evaluations are the decision steps read
        assert record["inference_step_evaluations"] == pytest.approx(record["decision_step_mean"] * 32)
        # dense MACs per step are constant, so the operations to the decision scale with the steps read
        assert record["ops_dense_macs"] == pytest.approx(
            record["ops_dense_macs_full_sequence"] * record["decision_step_mean"] / record["n_steps"])
        assert 0 < record["ops_effective_macs"] + record["ops_effective_acs"]
        assert record["ops_effective_macs"] <= record["ops_dense_macs"]
        assert record["training"]["forward_macs"] > 0 and record["training"]["backward_macs"] > 0
    for record in records:
        assert_record_is_what_its_contender_decides(record, tmp_path)
    noise = {r["contender"]: r for r in records if r["task"] == "toy-noise"}
    for name in ("rc-lstm", "lstm-eos", "lstm-allsteps"):  # the checks above saw trained models deciding early
        assert noise[name]["accuracy"] >= 0.9 and noise[name]["decision_step_mean"] < 30
        assert len(set(noise[name]["per_example"]["decision_step"])) >= 5
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Provenance" in summary and "from 8 records" in summary
    assert "| toy-runs | rc-lstm | 0.53 | 0.0 | 1 |" in summary
    assert "| toy-runs | snn-ttfs | - | - | 1 |" in summary
    assert "8 new records" in stdout

    # --resume: every cell is recorded, nothing is trained and nothing is added
    def fit(self, *args, **kwargs):
        raise TrainingStarted("resume retrained a recorded cell")
    monkeypatch.setattr(StepModelContender, "fit", fit)
    code, stdout, err = run(capsys, *argv, "--resume")
    assert code == 0, err
    assert read_records(out / "results.jsonl") == records
    assert "0 new records" in stdout
    assert "resuming: 8 of 8 training jobs already recorded" in err


def test_plan_jobs_shares_training_across_thresholds_only_when_theta_is_not_trained():
    profile = parse_profile({
        "seeds": [0],
        "protocol": {"epochs": 1, "lr_schedule": "constant", "selection": "best-val-accuracy"},
        "contenders": {"rc-lstm": {"beta": 0.25}},
        "tasks": {"toy-noise": {"thresholds": [0.9, 0.95]}},
    }, "test")
    jobs = plan_jobs(profile, ["toy-noise"], ["lstm-eos", "rc-lstm", "lstm-allsteps", "snn-ttfs"])
    assert jobs == [
        TrainingJob("toy-noise", "lstm-eos", 0, "two-sided", None, (0.9, 0.95)),
        TrainingJob("toy-noise", "rc-lstm", 0, "two-sided", 0.25, (0.9,)),
        TrainingJob("toy-noise", "rc-lstm", 0, "two-sided", 0.25, (0.95,)),
        TrainingJob("toy-noise", "lstm-allsteps", 0, "two-sided", None, (0.9, 0.95)),
        TrainingJob("toy-noise", "snn-ttfs", 0, "first-spike", None, (None,)),
    ]
    assert jobs[0].cell_keys("test", "abc") == [("toy-noise", "lstm-eos", 0, 0.9, None, "test", "two-sided", "abc"),
                                                ("toy-noise", "lstm-eos", 0, 0.95, None, "test", "two-sided", "abc")]


def test_plan_jobs_overrides_seeds_thresholds_and_betas():
    profile = load_profile("quick")
    jobs = plan_jobs(profile, ["toy-runs"], ["rc-lstm", "lstm-eos"], seeds=[1, 2], thresholds=[0.8, 0.9],
                     betas=[0.0, 0.1])
    rc = [(j.seed, j.beta, j.thresholds) for j in jobs if j.contender == "rc-lstm"]
    eos = [(j.seed, j.beta, j.thresholds) for j in jobs if j.contender == "lstm-eos"]
    assert rc == [(seed, beta, (theta,)) for seed in (1, 2) for beta in (0.0, 0.1) for theta in (0.8, 0.9)]
    assert eos == [(1, None, (0.8, 0.9)), (2, None, (0.8, 0.9))]
    with pytest.raises(ValueError, match=r"profile 'quick' has no settings for task 'toy-runs'; it covers: toy-noise$"):
        plan_jobs(parse_profile({"protocol": {"epochs": 1, "lr_schedule": "constant", "selection": "last-epoch"},
                                 "tasks": {"toy-noise": {"thresholds": [0.9]}}}, "quick"), ["toy-runs"], ["rc-lstm"])


DATA_PROFILE = """
name = "data"
seeds = [0]
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "best-val-accuracy"
[contenders.rc-lstm]
hidden = 8
[contenders.lstm-eos]
hidden = 8
[tasks.toy-noise]
thresholds = [0.9]
[tasks.toy-noise.data]
n_train = 64
n_val = 32
n_test = 32
[[tasks.toy-noise.overrides]]
contender = "lstm-eos"
setting = "data.n_test"
value = 48
reason = "test: another data option for one contender"
[tasks.fsdd]
thresholds = [0.9]
"""


def test_missing_data_fails_the_run_before_training(capsys, tmp_path, no_training):
    profile = tmp_path / "data.toml"
    profile.write_text(DATA_PROFILE, encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _out, err = run(capsys, "--profile", str(profile), "--out", str(tmp_path / "out"), "--device", "cpu",
                          "--data-dir", str(empty))
    assert code == 2
    line = error_line(err)
    assert f"the data folder {empty} is empty" in line and "nothing was trained" in line
    assert "fsdd: FSDD folder" in line and "rcbench data fetch fsdd" in line
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_skip_if_missing_and_contender_data(capsys, tmp_path, restore_threads):
    profile = tmp_path / "data.toml"
    profile.write_text(DATA_PROFILE.replace("[tasks.fsdd]\n", "[tasks.fsdd]\nskip_if_missing = true\n"),
                       encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".results.jsonl.k1ll3d.tmp"
    stale.write_text("half a rec", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    code, _stdout, err = run(capsys, "--profile", str(profile), "--out", str(out), "--device", "cpu",
                             "--threads", "1", "--data-dir", str(tmp_path / "empty"),
                             "--contenders", "rc-lstm,lstm-eos")
    assert code == 0, err
    assert "skipping task fsdd (skip_if_missing in profile data): FSDD folder" in err
    assert f"removed {stale}" in err and not stale.exists()
    records = {r["contender"]: r for r in read_records(out / "results.jsonl")}
    assert sorted(records) == ["lstm-eos", "rc-lstm"] and {r["task"] for r in records.values()} == {"toy-noise"}
    # lstm-eos reads toy-noise with its own data options; rc-lstm with the task's
    assert records["lstm-eos"]["test_size"] == 48 and records["lstm-eos"]["data_options"]["n_test"] == 48
    assert records["rc-lstm"]["test_size"] == 32 and records["rc-lstm"]["data_options"]["n_test"] == 32


def test_version_and_an_unknown_flag_of_a_verb(capsys):
    from bench import DISTRIBUTION, package_version
    from importlib import metadata

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"rcbench {metadata.version(DISTRIBUTION)}" == f"rcbench {package_version()}"
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--bogus", "1"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rcbench run ") and "rcbench run: error: unrecognized arguments: --bogus 1" in err


def test_verb_help_names_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "auto, cpu, cuda or cuda:N (default: auto)" in out
    assert "built-in profile" in out and "(default: quick)" in out


def test_a_run_says_what_its_profile_is_in_the_summary(capsys, tmp_path, restore_threads):
    profile = tmp_path / "tiny.toml"
    profile.write_text(TINY_PROFILE, encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "--profile", str(profile), "--out", str(out), "--device", "cpu", "--threads", "1",
                            "--tasks", "toy-noise", "--contenders", "lstm-eos")
    assert code == 0, err
    assert "profile tiny: test profile" in stdout
    assert "\ntest profile\n" in (out / "summary.md").read_text(encoding="utf-8")


def test_the_quick_profile_says_it_is_a_small_run_and_where_the_paper_results_are():
    description = load_profile("quick").description
    assert "small run" in description and "results/" in description and "Speech Commands" in description
