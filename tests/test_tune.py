"""``rcbench tune`` (bench.run.tune): equal trials per contender, validation only, records, tuned profile, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.lstm_eos import LSTMEndOfSequence
from baselines.training_loop import TrainingDiverged
from bench.cli import main
from bench.core.options import OptionError
from bench.core.records import METRIC_FIELDS
from bench.core.task_contract import TaskData
from bench.run.executors import ExecutorSettings
from bench.run.harness import plan_jobs
from bench.run.jobs import JobError, TaskCache, job_setup, run_jobs
from bench.run.profile import _resolve_extends, load_profile, parse_profile
from bench.run import tune as tuning
from bench.run.tune import (
    TRIAL_FIELDS,
    TUNE_INSTALL_HINT,
    TrialsFileError,
    best_trial,
    load_search,
    objective_value,
    read_trials,
    to_toml,
    tune,
)
from bench.tasks.toy_noise import ToyNoise

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

CPU = torch.device("cpu")

PROFILE = """
name = "toy-tune"
seeds = [0]
data_seed = 0
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "last-epoch"
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
[search]
trials = 3
[tasks.toy-noise.search.rc-lstm]
lr = { low = 1e-3, high = 3e-2, log = true }
hidden = { choices = [4, 8] }
[tasks.toy-noise.search.lstm-eos]
lr = { low = 1e-3, high = 3e-2, log = true }
dropout = { low = 0.0, high = 0.5 }
"""


def write_profile(folder: Path, text: str = PROFILE, name: str = "search.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def quiet(_line: str) -> None:
    pass


def by_study(records):
    studies = {}
    for record in records:
        studies.setdefault((record["task"], record["contender"]), []).append(record)
    return studies


def essentials(records):
    """What makes a search's result: each trial's identity, params and outcome (no timings)."""
    return sorted((r["task"], r["contender"], r["trial"], json.dumps(r["params"], sort_keys=True), r["state"],
                   r["objective_value"], r["val_accuracy"], r["val_decision_step_mean"], r["config_hash"])
                  for r in records)


# --- the search, end to end ------------------------------------------------------------------------------

@pytest.mark.slow
def test_tiny_search_gives_every_contender_the_same_trials_and_a_tuned_profile_of_the_best(tmp_path, capsys,
                                                                                           restore_threads):
    pytest.importorskip("optuna")
    profile_path = write_profile(tmp_path)
    out = tmp_path / "out"
    status = main(["tune", "--profile", str(profile_path), "--out", str(out), "--workers", "1", "--threads", "1",
                   "--device", "cpu"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    records = read_trials(out / "trials.jsonl")
    studies = by_study(records)
    assert set(studies) == {("toy-noise", "rc-lstm"), ("toy-noise", "lstm-eos")}
    for study in studies.values():
        assert sorted(r["trial"] for r in study) == [0, 1, 2]  # the same number of trials for each contender
    for record in records:
        assert set(TRIAL_FIELDS) <= set(record)
        assert record["state"] == "complete" and record["error"] is None
        assert 0 <= record["val_accuracy"] <= 1 and 1 <= record["val_decision_step_mean"] <= 40
        assert record["objective_value"] == record["val_accuracy"]  # objective "accuracy"
        assert record["val_size"] == 32 and record["seed"] == 0 and record["theta"] == 0.9
        assert record["training"]["forward_macs"] > 0 and record["training"]["train_seconds"] >= 0
        assert record["config"]["epochs"] == 1  # the protocol reaches every trial
        assert record["git_revision"] and record["command"] and record["versions"]["torch"]
        # no test metric: no field of a test-split record, nothing named after the test split
        assert not set(record) & set(METRIC_FIELDS)
        assert not [key for key in record if key.startswith("test") or "test_" in key]
    lr_values = {r["params"]["lr"] for r in records}
    assert len(lr_values) == 6 and all(1e-3 <= lr <= 3e-2 for lr in lr_values)
    assert {r["params"]["hidden"] for r in studies[("toy-noise", "rc-lstm")]} <= {4, 8}

    tuned = load_profile(str(out / "tuned.toml"))  # what `rcbench run --profile OUT/tuned.toml` reads
    assert tuned.name == "toy-tune-tuned"
    tasks = TaskCache(tuned, tmp_path)
    for (task, contender), study in studies.items():
        best = best_trial(study)
        values = tuned.contender_values(task, contender)
        for name, value in best["params"].items():
            assert values[name] == value
        # the tuned profile's run trains exactly the best trial's configuration
        [job] = plan_jobs(tuned, [task], [contender])
        assert job_setup(job, tuned, tasks).config_hash == best["config_hash"]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "Trials per contender: equal (3)." in summary and "| rc-lstm | 3 | 3 | 0 |" in summary
    assert "toy-noise rc-lstm: 3 trials; best #" in captured.out


class ForbiddenSplit:
    """A test split that raises on any use: len(), its examples, its labels, its batches."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was touched during tuning ({name})")

    def __len__(self):
        raise AssertionError("the test split was touched during tuning (len)")


@pytest.fixture
def forbidden_test_split(monkeypatch):
    load = ToyNoise.load

    def guarded(self, options, seed, data_dir=None):
        data = load(self, options, seed, data_dir)
        return TaskData(data.spec, data.train, data.val, ForbiddenSplit(), data.source)

    monkeypatch.setattr(ToyNoise, "load", guarded)


@pytest.mark.slow
def test_tuning_never_touches_the_test_split(tmp_path, forbidden_test_split):
    pytest.importorskip("optuna")
    plan = load_search(str(write_profile(tmp_path)), trials=2)
    result = tune(plan, tmp_path / "out", CPU, progress=quiet)
    assert len(result.new) == 4 and all(r["state"] == "complete" for r in result.new)
    # the guard works: a benchmark run, which evaluates on the test split, trips it
    profile = load_profile(str(tmp_path / "out" / "tuned.toml"))
    with pytest.raises(JobError, match="the test split was touched"):
        run_jobs(plan_jobs(profile, ["toy-noise"], ["lstm-eos"]), profile, tmp_path / "run" / "results.jsonl", CPU,
                 progress=quiet)


@pytest.mark.slow
def test_resume_loses_only_the_trials_in_progress_and_ends_as_an_uninterrupted_search(tmp_path):
    pytest.importorskip("optuna")
    plan = load_search(str(write_profile(tmp_path)))
    whole = tune(plan, tmp_path / "whole", CPU, seed=7, progress=quiet)
    assert len(whole.new) == 6

    # an interrupted search: the trials that were in progress never reached trials.jsonl
    out = tmp_path / "interrupted"
    out.mkdir()
    lines = (tmp_path / "whole" / "trials.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["trial"] == 0 or
            (json.loads(line)["contender"] == "rc-lstm" and json.loads(line)["trial"] == 1)]
    assert len(kept) == 3
    (out / "trials.jsonl").write_text("".join(kept), encoding="utf-8")
    with pytest.raises(FileExistsError, match="--resume"):
        tune(plan, out, CPU, seed=7, progress=quiet)
    resumed = tune(plan, out, CPU, seed=7, resume=True, progress=quiet)
    assert len(resumed.new) == 3  # only the missing trials were trained
    assert {(r["contender"], r["trial"]) for r in resumed.new} == {("rc-lstm", 2), ("lstm-eos", 1), ("lstm-eos", 2)}
    assert essentials(resumed.trials) == essentials(whole.trials)  # deterministic given the seed
    assert (out / "tuned.toml").read_text(encoding="utf-8").split("extends")[1] == \
        (tmp_path / "whole" / "tuned.toml").read_text(encoding="utf-8").split("extends")[1]

    # a finished search resumed trains nothing; with more trials it adds them to every contender
    again = tune(plan, out, CPU, seed=7, resume=True, progress=quiet)
    assert again.new == [] and essentials(again.trials) == essentials(whole.trials)
    more = tune(load_search(str(write_profile(tmp_path)), trials=4), out, CPU, seed=7, resume=True, progress=quiet)
    assert sorted((r["contender"], r["trial"]) for r in more.new) == [("lstm-eos", 3), ("rc-lstm", 3)]

    # another seed is another search: resuming it over these trials is refused
    with pytest.raises(TrialsFileError, match="another search"):
        tune(plan, out, CPU, seed=8, resume=True, progress=quiet)
    other = tune(plan, tmp_path / "other-seed", CPU, seed=8, progress=quiet)
    assert essentials(other.trials) != essentials(whole.trials)


@pytest.mark.slow
def test_local_worker_processes_give_the_same_trials_as_this_process(tmp_path):
    pytest.importorskip("optuna")
    plan = load_search(str(write_profile(tmp_path)), trials=2)
    here = tune(plan, tmp_path / "here", CPU, batch_trials=2, progress=quiet)
    pool = tune(plan, tmp_path / "pool", CPU, batch_trials=2, executor=ExecutorSettings(workers=2, threads=1),
                progress=quiet)
    assert essentials(pool.trials) == essentials(here.trials)


@pytest.mark.slow
def test_a_diverged_trial_is_kept_as_failed_and_counts_as_a_trial(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    fit = LSTMEndOfSequence.fit

    def diverging(self, train, val, progress):
        if self.config.dropout > 0.25:
            raise TrainingDiverged("loss is nan at epoch 1")
        return fit(self, train, val, progress)

    monkeypatch.setattr(LSTMEndOfSequence, "fit", diverging)
    plan = load_search(str(write_profile(tmp_path)), contenders=["lstm-eos"], trials=4)
    result = tune(plan, tmp_path / "out", CPU, progress=quiet)
    failed = [r for r in result.trials if r["state"] == "failed"]
    assert len(result.trials) == 4 and failed
    for record in failed:
        assert record["objective_value"] is None and record["error"]["kind"] == "training-diverged"
    best = result.best[("toy-noise", "lstm-eos")]
    assert best is None or best["params"]["dropout"] <= 0.25


# --- bad input: an error naming the problem, before anything is trained ------------------------------

BAD_SEARCHES = [
    ("[tasks.toy-noise.search.rc-lstm]\nwidth = { low = 1, high = 4 }", "unknown hyperparameter 'width'"),
    ("[tasks.toy-noise.search.rc-lstm]\nlr = { low = 1e-2, high = 1e-3 }", "empty search range"),
    ("[tasks.toy-noise.search.rc-lstm]\nlr = { low = 1e-2, high = 1e-2 }", "empty search range"),
    ("[tasks.toy-noise.search.rc-lstm]\nhidden = { choices = [] }", "empty search space"),
    ("[tasks.toy-noise.search.rc-lstm]\nepochs = { low = 1, high = 5 }", "epochs is a protocol setting"),
    ("[tasks.toy-noise.search.rc-lstm]\nlr_schedule = { choices = [\"constant\", \"cosine\"] }",
     "lr_schedule is a protocol setting"),
    ("[tasks.toy-noise.search.rc-lstm]\ntrials = 5\nlr = { low = 1e-3, high = 1e-2 }", "never per contender"),
    ("[tasks.toy-noise.search.rc-lstm]\nlr = { low = 0.0, high = 1e-2, log = true }", "a log range needs low > 0"),
    ("[tasks.toy-noise.search.rc-lstm]\nhidden = { low = 4.5, high = 16 }", "hidden is an integer setting"),
    ("[tasks.toy-noise.search.rc-lstm]\ndropout = { low = 0.0, high = 1.0 }", "refuses a value of the search space"),
    ("[tasks.toy-noise.search.rc-lstm]\nhidden = { choices = [8, 8] }", "choices repeat a value"),
    ("[tasks.toy-noise.search.rc-lstm]\nlr = { low = 1e-3 }", "a range needs low and high"),
    ("[tasks.toy-noise.search.rc-lstm]\nlr = 0.01", "must be a range"),
    ("[tasks.toy-noise.search.rc-lstm]\nencoder = { low = 1, high = 2 }", "not a number setting"),
    ("[tasks.toy-noise.search.no-such]\nlr = { low = 1e-3, high = 1e-2 }", "unknown contender 'no-such'"),
]


def bad_profile(tmp_path: Path, search: str, trials: str = "trials = 3", extra: str = "") -> Path:
    head = PROFILE.split("[search]")[0].replace("thresholds = [0.9]", f"thresholds = [0.9]\n{extra}")
    return write_profile(tmp_path, f"{head}\n[search]\n{trials}\n{search}\n")


@pytest.mark.parametrize("search, message", BAD_SEARCHES)
def test_a_bad_search_space_is_an_error_naming_it(tmp_path, search, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace("[", r"\[")) as error:
        load_search(str(bad_profile(tmp_path, search)))
    assert "[tasks.toy-noise.search." in str(error.value) or "contender" in str(error.value)


@pytest.mark.parametrize("trials", ["trials = 0", "trials = -2", "trials = 1.5", "trials = true"])
def test_fewer_than_one_trial_is_an_error(tmp_path, trials):
    with pytest.raises(OptionError, match="trials must be an integer >= 1"):
        load_search(str(bad_profile(tmp_path, "[tasks.toy-noise.search.rc-lstm]\nlr = { low = 1e-3, high = 1e-2 }",
                                    trials)))
    with pytest.raises(OptionError, match="--trials: trials must be an integer >= 1"):
        load_search(str(write_profile(tmp_path)), trials=0)


def test_other_bad_searches_are_errors(tmp_path):
    space = "[tasks.toy-noise.search.rc-lstm]\nlr = { low = 1e-3, high = 1e-2 }"
    with pytest.raises(OptionError, match="no trial count"):
        load_search(str(bad_profile(tmp_path, space, trials="")))
    with pytest.raises(OptionError, match="unknown objective 'fast'"):
        load_search(str(bad_profile(tmp_path, space, trials='trials = 2\nobjective = "fast"')))
    with pytest.raises(OptionError, match="needs speed_weight"):
        load_search(str(bad_profile(tmp_path, space, trials='trials = 2\nobjective = "speed-accuracy"')))
    with pytest.raises(OptionError, match="beta is swept by the task's betas"):
        load_search(str(bad_profile(tmp_path, "[tasks.toy-noise.search.rc-lstm]\nbeta = { low = 0.0, high = 0.5 }",
                                    extra="betas = [0.0, 0.1]")))
    with pytest.raises(OptionError, match="lstm-allsteps has no search space on toy-noise"):
        load_search(str(write_profile(tmp_path)), contenders=["rc-lstm", "lstm-allsteps"])
    with pytest.raises(OptionError, match="no search space"):
        load_search("quick")


def test_a_search_checks_before_training_and_the_command_says_what_is_wrong(tmp_path, capsys, monkeypatch):
    pytest.importorskip("optuna")
    monkeypatch.setattr(tuning, "tune", lambda *a, **k: pytest.fail("a bad search must not reach training"))
    path = bad_profile(tmp_path, "[tasks.toy-noise.search.rc-lstm]\nepochs = { low = 1, high = 5 }")
    assert main(["tune", "--profile", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "epochs is a protocol setting" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_without_optuna_the_command_names_the_install_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    with pytest.raises(OptionError, match="pip install"):
        tuning.import_optuna()
    assert main(["tune", "--profile", str(write_profile(tmp_path))]) == 2
    assert TUNE_INSTALL_HINT in capsys.readouterr().err


def test_a_search_profile_the_run_command_reads_as_the_profile_without_its_search(tmp_path):
    plan = load_search(str(write_profile(tmp_path)))
    assert list(plan.tasks) == ["toy-noise"]
    search = plan.tasks["toy-noise"]
    assert search.trials == 3 and search.objective == "accuracy" and search.theta == 0.9
    assert list(search.spaces) == ["rc-lstm", "lstm-eos"]
    assert search.spaces["rc-lstm"]["lr"].log and search.spaces["rc-lstm"]["hidden"].choices == (4, 8)
    assert "search" not in plan.raw and "search" not in plan.raw["tasks"]["toy-noise"]
    assert plan.profile.contender_values("toy-noise", "rc-lstm") == {"hidden": 8}


def test_per_task_search_settings_replace_the_profile_ones(tmp_path):
    head = PROFILE.split("[search]")[0].replace("thresholds = [0.9]", "thresholds = [0.9, 0.95, 0.99]")
    path = write_profile(tmp_path, head + "[search]\ntrials = 5\n[tasks.toy-noise.search]\ntrials = 2\n"
                                          "objective = \"speed-accuracy\"\nspeed_weight = 0.2\n"
                                          "[tasks.toy-noise.search.lstm-eos]\nlr = { low = 1e-3, high = 1e-2 }\n")
    search = load_search(str(path)).tasks["toy-noise"]
    assert (search.trials, search.objective, search.speed_weight) == (2, "speed-accuracy", 0.2)
    assert search.theta == 0.95  # the middle threshold of the task
    assert search.untuned == ("rc-lstm",)
    assert load_search(str(path), trials=7).tasks["toy-noise"].trials == 7


# --- pieces ----------------------------------------------------------------------------------------------

def test_objectives():
    assert objective_value("accuracy", 0.0, 0.8, 20.0, 40) == 0.8
    assert objective_value("speed-accuracy", 0.1, 0.8, 20.0, 40) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unknown objective"):
        objective_value("loss", 0.0, 0.8, 20.0, 40)


def test_best_trial_is_the_highest_objective_first_on_a_tie_and_ignores_failures():
    def trial(number, value, state="complete"):
        return {"trial": number, "objective_value": value, "state": state}

    assert best_trial([trial(0, 0.5), trial(1, 0.7), trial(2, 0.7), trial(3, None, "failed")])["trial"] == 1
    assert best_trial([trial(0, None, "failed")]) is None


@pytest.mark.parametrize("name", ["quick", "paper", "authors"])
def test_profiles_written_as_toml_read_back_the_same(name):
    data, _ = _resolve_extends(name, None, ())
    text = to_toml(data)
    assert tomllib.loads(text) == data
    parse_profile(tomllib.loads(text), name)
