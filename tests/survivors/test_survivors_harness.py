"""Tests written for the mutants of ``bench/run/harness.py`` that survived the mutation run (issue 17).

The functions they test run the jobs and are in ``bench/run/jobs.py`` now.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from baselines.lstm_eos import LSTMEndOfSequence
from baselines.registry import CONTENDERS, TrainingReport, register_contender
from bench.core.task_contract import Split, TaskData, TaskSpec
from bench.run import harness, jobs
from bench.run.executors import RemoteFailure
from bench.run.profile import load_profile
from rc.crossing import Decision, SigmoidThreshold, decide


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


# ----------------------------------------------------------------------------- evaluate, task_step_ms, cell_record

STEPS, N_TEST = 4, 10
CORRECT_BY_STEP = [1, 4, 7, 10]  # examples predicted right at each step: accuracies 0.1, 0.4, 0.7, 1.0


class Scripted:
    """A contender whose inputs are its scores (two classes): it decides them with the sigmoid rule and records
    what it is asked to count."""

    rule = SigmoidThreshold(0.9)

    def __init__(self) -> None:
        self.counted: list[tuple[torch.Tensor, Decision]] = []
        self.config = ScriptedConfig()

    def decide(self, x):
        decision = decide(x, self.rule)
        return decision, int(decision.steps_read.sum())

    def step_scores(self, x):
        return x

    def operations_to_decision(self, x, decision):
        self.counted.append((x, decision))
        steps = float(decision.steps_read.double().mean())
        return {"dense_macs": 100 * steps, "effective_macs": 10 * steps, "effective_acs": 0.0}

    def learning_curve(self):
        return ()

    def training_operations(self, report):
        return {"forward_macs": 1, "backward_macs": 2}


@dataclasses.dataclass(frozen=True)
class ScriptedConfig:
    hidden: int = 3


def scripted_data() -> TaskData:
    """Every label is 0; at step t the first CORRECT_BY_STEP[t] examples score class 0 higher (no crossing)."""
    x = torch.tensor([0.0, 1.0]).repeat(N_TEST, STEPS, 1)
    for t, correct in enumerate(CORRECT_BY_STEP):
        x[:correct, t] = torch.tensor([1.0, 0.0])
    test = Split(x, torch.zeros(N_TEST, dtype=torch.long))
    spec = TaskSpec("fsdd", STEPS, 2, 2, "sigmoid")
    return TaskData(spec, test, test, test, source="scripted")


def test_evaluate_reads_first_and_last_step_accuracy_and_counts_the_full_sequence_on_the_first_examples() -> None:
    contender, data = Scripted(), scripted_data()
    result = harness.evaluate(contender, data)
    assert result["accuracy_by_step"] == [0.1, 0.4, 0.7, 1.0]
    assert (result["first_step_accuracy"], result["last_step_accuracy"]) == (0.1, 1.0)
    assert result["streaming"]["step_ms"] == 1.0 and result["streaming"]["step_ms_from"] == "task"
    (at_decisions, _), (x, decision) = contender.counted  # the count at the decisions, then the full sequence's
    assert torch.equal(at_decisions, data.test.x)
    assert torch.equal(x, data.test.x[:harness.FULL_SEQUENCE_COUNT_EXAMPLES])
    assert decision.step_index.tolist() == [STEPS - 1] * harness.FULL_SEQUENCE_COUNT_EXAMPLES
    assert result["ops_dense_macs_full_sequence"] == 100.0 * STEPS


PROFILE = """
name = "streams"
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "last-epoch"
[tasks.fsdd]
thresholds = [0.9]
[tasks.fsdd.data]
hop_ms = 16.0
[[tasks.fsdd.overrides]]
contender = "snn-ttfs"
setting = "data.hop_ms"
value = 20.0
reason = "a test: this contender reads frames of another hop"
[tasks.toy-noise]
thresholds = [0.9]
step_ms = 2.5
"""


def streams_profile(tmp_path: Path):
    path = tmp_path / "profile.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return load_profile(str(path))


def test_the_task_step_is_that_of_the_data_options_the_contender_reads(tmp_path) -> None:
    profile = streams_profile(tmp_path)
    assert harness.task_step_ms(profile, "fsdd", "rc-lstm") == (16.0, "task")
    assert harness.task_step_ms(profile, "fsdd", "snn-ttfs") == (20.0, "task")
    damaged = dataclasses.replace(profile, tasks={**profile.tasks, "fsdd": dataclasses.replace(
        profile.tasks["fsdd"], data={"hop_ms": "fast"})})
    with pytest.raises(ValueError, match=r"profile streams, task fsdd data"):
        harness.task_step_ms(damaged, "fsdd", "rc-lstm")


def report() -> TrainingReport:
    return TrainingReport(train_seconds=1.0, validation_seconds=0.5, examples_per_second=10.0, epochs=1,
                          selected_epoch=1, step_evaluations_forward=40, step_evaluations_backward=40,
                          final_train_loss=0.5, selected_val_accuracy=0.5)


def test_a_cell_record_takes_the_contenders_step_duration_protocol_and_an_aware_utc_time(tmp_path) -> None:
    profile = streams_profile(tmp_path)
    job = harness.TrainingJob("fsdd", "snn-ttfs", 0, "sigmoid", None, (0.9,))
    record = harness.cell_record(job, 0.9, profile, scripted_data(), Scripted(), report(), {"git": "x"})
    assert "config_hash" not in record and "data_options" not in record  # no setup given
    assert record["streaming"]["step_ms"] == 20.0 and record["streaming"]["step_ms_from"] == "task"
    assert [override["setting"] for override in record["protocol"]["overrides"]] == ["data.hop_ms"]
    assert record["created"].endswith("+00:00")
    setup = harness.JobSetup(ScriptedConfig(), {"hop_ms": 20.0}, "f" * 16)
    record = harness.cell_record(job, 0.9, profile, scripted_data(), Scripted(), report(), {}, setup)
    assert (record["config_hash"], record["data_options"]) == ("f" * 16, {"hop_ms": 20.0})


def test_a_cell_record_takes_the_step_duration_a_profile_sets(tmp_path) -> None:
    profile = streams_profile(tmp_path)
    job = harness.TrainingJob("toy-noise", "rc-lstm", 0, "sigmoid", 0.1, (0.9,))
    record = harness.cell_record(job, 0.9, profile, scripted_data(), Scripted(), report(), {})
    assert record["streaming"]["step_ms"] == 2.5 and record["streaming"]["step_ms_from"] == "profile"


# ----------------------------------------------------------------------------- plan_jobs, check_counting

COUNTING_PROFILE = """
name = "counting"
seeds = [0]
data_seed = 0
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "last-epoch"
[contenders.recording]
hidden = 8
[contenders.beta-eos]
hidden = 8
[tasks.toy-noise]
thresholds = [0.7, 0.8]
[tasks.toy-runs]
thresholds = [0.9]
"""


class Recording(LSTMEndOfSequence):
    """lstm-eos that records the arguments each of its instances is built with."""

    name = "recording"
    description = "lstm-eos recording how it is built"
    built: list[dict] = []

    def __init__(self, spec, rule, config, device, seed) -> None:
        Recording.built.append({"spec": spec, "rule": rule, "config": config, "device": device, "seed": seed})
        super().__init__(spec, rule, config, device, seed)


@dataclasses.dataclass(frozen=True)
class BetaConfig(LSTMEndOfSequence.Config):
    """lstm-eos's hyperparameters and an RC entropy weight."""

    beta: float = 0.25


class BetaEndOfSequence(LSTMEndOfSequence):
    """A contender with a beta whose training does not depend on theta (lstm-eos with a beta option)."""

    name = "beta-eos"
    description = "lstm-eos with a beta option"
    Config = BetaConfig
    threshold_in_training = False


@pytest.fixture
def counting_profile(tmp_path):
    register_contender(Recording)
    register_contender(BetaEndOfSequence)
    Recording.built.clear()
    path = tmp_path / "counting.toml"
    path.write_text(COUNTING_PROFILE, encoding="utf-8")
    yield load_profile(str(path))
    CONTENDERS.unregister(Recording.name)
    CONTENDERS.unregister(BetaEndOfSequence.name)
    Recording.built.clear()


@pytest.mark.parametrize("rule, theta, n_classes, built_theta", [("sigmoid", 0.7, 10, 0.7), ("sigmoid", None, 10, 0.9),
                                                                 ("two-sided", 0.6, 2, 0.6), ("two-sided", None, 2, 0.9)])
def test_the_counting_check_builds_the_contender_once_on_a_stand_in_task(counting_profile, rule, theta, n_classes,
                                                                         built_theta) -> None:
    """The counting check builds the contender once, on the CPU with seed 0 and its Config from the profile, for
    a stand-in task named after the real one: 4 steps of 28 x 28 frames, 2 classes under a two-sided rule and
    10 under any other, that rule as its default; the rule it gets has the threshold given, or 0.9 without one."""
    harness.check_counting(counting_profile, "toy-noise", Recording, rule, theta)
    (built,) = Recording.built
    assert built["spec"] == TaskSpec("toy-noise (counting check)", n_steps=4, n_features=784, n_classes=n_classes,
                                     default_rule=rule, frame_shape=(28, 28))
    assert built["rule"].name == rule and built["rule"].theta == built_theta
    assert built["config"].hidden == 8
    assert built["device"] == torch.device("cpu") and built["seed"] == 0


def test_the_counting_check_never_touches_a_cuda_generator(counting_profile, monkeypatch) -> None:
    """On a machine with a GPU, the counting check (which builds on the CPU) forks only the CPU generator: it
    neither reads nor restores a CUDA generator's state, which would initialize CUDA in the planning process.
    A stand-in torch.cuda reports one device and records any use of its generator."""
    used = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": used.append(("get", device)))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": used.append(("set", device)))
    before = torch.random.get_rng_state()
    harness.check_counting(counting_profile, "toy-noise", Recording, "sigmoid", 0.9)
    assert len(Recording.built) == 1 and used == []
    assert torch.equal(torch.random.get_rng_state(), before)


def test_planning_checks_counting_with_the_first_threshold_of_the_run(counting_profile) -> None:
    """The counting check at planning builds the contender with the task's rule (toy-noise's two-sided) at the
    run's first threshold (0.7 of the profile's 0.7 and 0.8; 0.6 when the command line gives 0.6 and 0.95), not a default one."""
    planned = harness.plan_jobs(counting_profile, ["toy-noise"], ["recording"])
    assert [(job.contender, job.thresholds) for job in planned] == [("recording", (0.7, 0.8))]
    planned = harness.plan_jobs(counting_profile, ["toy-noise"], ["recording"], thresholds=[0.6, 0.95])
    assert [job.thresholds for job in planned] == [(0.6, 0.95)]
    assert [(built["rule"].name, built["rule"].theta) for built in Recording.built] == [("two-sided", 0.7),
                                                                                       ("two-sided", 0.6)]


def test_planning_a_task_the_profile_does_not_cover_names_the_ones_it_does(counting_profile) -> None:
    """A registered task the profile has no settings for stops the planning with a ValueError that lists the
    tasks the profile covers, sorted and separated by a comma and a space."""
    message = "profile 'counting' has no settings for task 'mnist-temporal'; it covers: toy-noise, toy-runs"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        harness.plan_jobs(counting_profile, ["mnist-temporal"], ["recording"])


def test_a_contender_with_a_beta_trained_once_for_every_theta_keeps_its_beta(counting_profile) -> None:
    """A contender with a beta whose training does not depend on theta gets one job per seed and beta, each
    evaluated at every threshold and carrying its beta: the config's own (0.25) without a sweep, else each of the
    swept ones (a repeated one once)."""
    planned = harness.plan_jobs(counting_profile, ["toy-noise"], ["beta-eos"], seeds=[0, 1])
    assert planned == [harness.TrainingJob("toy-noise", "beta-eos", seed, "two-sided", 0.25, (0.7, 0.8))
                       for seed in (0, 1)]
    planned = harness.plan_jobs(counting_profile, ["toy-noise"], ["beta-eos"], betas=[0.1, 0.3, 0.1])
    assert planned == [harness.TrainingJob("toy-noise", "beta-eos", 0, "two-sided", beta, (0.7, 0.8))
                       for beta in (0.1, 0.3)]
