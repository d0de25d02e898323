"""Robustness of runs: atomic record writes, kill-and-resume, resume keys with the configuration,
failed cells (NaN loss, out of memory), third-party contenders through entry points, and
reproducibility of a seed on the CPU."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.core.jsonl as jsonl_module
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.lstm_eos import LSTMEndOfSequence
from baselines.registry import CONTENDERS, ENTRY_POINT_GROUP, ContenderPluginError, get_contender
from baselines.training_loop import BatchOutcome
from bench.cli import main
from bench.run.harness import contender_config, plan_jobs
from bench.run.jobs import JobError, run_jobs
from bench.run.profile import load_profile, parse_profile
from bench.analysis.compare import compare_records
from bench.core.records import (
    ERROR_FIELDS,
    METRIC_FIELDS,
    RecordError,
    append_record,
    config_hash,
    read_errors,
    read_records,
    record_key,
    remove_stale_temporaries,
    stale_temporaries,
)
from helpers import make_record

CPU = torch.device("cpu")


def tiny_profile(rc_epochs: int = 1, eos_hidden: int = 8, gru: bool = False) -> str:
    gru_table = "[contenders.gru-eos]\nhidden = 8\nbatch_size = 16\n" if gru else ""
    longer = ("" if rc_epochs == 1 else f'[[tasks.toy-noise.overrides]]\ncontender = "rc-lstm"\nsetting = "epochs"\n'
              f'value = {rc_epochs}\nreason = "test: a longer training job"\n')
    return f"""
name = "tiny"
seeds = [0]
data_seed = 0

[protocol]
epochs = 1
lr_schedule = "constant"
selection = "best-val-accuracy"
[contenders.rc-lstm]
hidden = 8
batch_size = 16
[contenders.lstm-eos]
hidden = {eos_hidden}
batch_size = 16
{gru_table}
[tasks.toy-noise]
thresholds = [0.9, 0.95]
[tasks.toy-noise.data]
n_train = 64
n_val = 32
n_test = 32
{longer}"""


pytestmark = pytest.mark.usefixtures("restore_threads")


def write_profile(folder: Path, text: str) -> Path:
    path = folder / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, profile: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    """``rcbench run`` in this process (``--workers 1``: the tests' monkeypatches reach no worker process)."""
    code = main(["run", "--profile", str(profile), "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--workers", "1", "--tasks", "toy-noise", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------------------- atomic writes


def test_an_append_adds_a_line_without_rewriting_the_file(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    append_record(path, make_record())
    inode, before = path.stat().st_ino, path.read_bytes()
    append_record(path, make_record(seed=1))
    assert path.stat().st_ino == inode and path.read_bytes().startswith(before)
    assert [r["seed"] for r in read_records(path)] == [0, 1]


def test_a_crash_in_the_middle_of_a_line_keeps_every_finished_record(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    append_record(path, make_record())
    before = path.read_bytes()
    real_open = open

    class HalfWriter:
        """A file whose process dies after writing half of what it is given."""

        def __init__(self, *args):
            self.handle = real_open(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def write(self, data):
            self.handle.write(data[:len(data) // 2])
            self.handle.flush()
            raise OSError("simulated crash mid-write")

    monkeypatch.setattr(jsonl_module, "open", HalfWriter, raising=False)
    with pytest.raises(OSError, match="simulated crash"):
        append_record(path, make_record(seed=1))
    monkeypatch.undo()
    assert path.read_bytes().startswith(before) and len(path.read_bytes()) > len(before)  # a torn tail
    assert [r["seed"] for r in read_records(path)] == [0]
    append_record(path, make_record(seed=2))
    assert [r["seed"] for r in read_records(path)] == [0, 2]


def test_stale_temporaries_of_a_killed_writer_are_found_and_removed(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, make_record(seed=0))
    left = [tmp_path / ".results.jsonl.abc123.tmp", tmp_path / "errors.jsonl", tmp_path / ".errors.jsonl.x.tmp"]
    for extra in left:
        extra.write_text("half a line", encoding="utf-8")
    assert stale_temporaries(path) == [left[0]]
    assert remove_stale_temporaries(path) == [left[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".errors.jsonl.x.tmp", "errors.jsonl", "results.jsonl"]
    assert [r["seed"] for r in read_records(path)] == [0]
    assert stale_temporaries(tmp_path / "absent" / "results.jsonl") == []


def test_append_keeps_the_file_mode_and_every_line(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, make_record())
    os.chmod(path, 0o640)
    append_record(path, make_record(seed=1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [r["seed"] for r in read_records(path)] == [0, 1]


def test_a_torn_last_line_is_left_out_and_cut_off_by_the_next_append(tmp_path):
    """The rule (bench/core/jsonl.py): a last line without its newline that is not valid JSON is a write
    cut short; readers leave it out, the next append cuts it off. Anywhere else it is an error."""
    path = tmp_path / "results.jsonl"
    good = json.dumps(make_record())
    path.write_text(good + "\n" + good[:40], encoding="utf-8")
    assert read_records(path) == [make_record()]
    append_record(path, make_record(seed=1))
    assert path.read_text(encoding="utf-8") == good + "\n" + json.dumps(make_record(seed=1), sort_keys=True) + "\n"
    path.write_text(good + "\n" + good[:40] + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"results.jsonl:2: not valid JSON"):
        read_records(path)


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps(make_record())
    path.write_text(good, encoding="utf-8")  # edited by hand, no final newline
    assert read_records(path) == [make_record()]
    append_record(path, make_record(seed=1))
    assert [r["seed"] for r in read_records(path)] == [0, 1]


# ----------------------------------------------------------------------------- resume keys


def test_config_hash_is_stable_and_covers_config_data_and_seed():
    config, data = {"hidden": 8, "lr": 0.003, "beta": 0.0}, {"n_train": 64, "n_val": 32}
    digest = config_hash(config, data, 0)
    # the first 16 hex digits of the SHA-256 of the canonical JSON of all three (sorted keys, no spaces)
    canonical = '{"config":{"beta":0.0,"hidden":8,"lr":0.003},"data_options":{"n_train":64,"n_val":32},"data_seed":0}'
    assert digest == hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    assert len(digest) == 16 and set(digest) <= set("0123456789abcdef")
    assert config_hash(dict(reversed(list(config.items()))), dict(data), 0) == digest  # key order does not matter
    assert config_hash({**config, "lr": 0.001}, data, 0) != digest
    assert config_hash(config, {**data, "n_train": 65}, 0) != digest
    assert config_hash(config, data, 1) != digest


def test_resume_reruns_cells_whose_configuration_changed(capsys, tmp_path):
    out = tmp_path / "out"
    code, _out, err = run_cli(capsys, write_profile(tmp_path, tiny_profile()), out, "--contenders", "lstm-eos")
    assert code == 0, err
    first = read_records(out / "results.jsonl")
    assert len(first) == 2
    for record in first:  # the hash can be recomputed from the record alone
        assert record["config_hash"] == config_hash(record["config"], record["data_options"], record["data_seed"])
    # unchanged: nothing is trained again
    code, stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile()), out, "--contenders", "lstm-eos",
                                "--resume")
    assert code == 0, err
    assert "0 new records" in stdout and "resuming: 1 of 1 training jobs already recorded" in err
    # a changed hyperparameter is not silently skipped
    code, stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile(eos_hidden=9)), out,
                                "--contenders", "lstm-eos", "--resume")
    assert code == 0, err
    assert "2 recorded cell(s) have another configuration" in err and "2 new records" in stdout
    records = read_records(out / "results.jsonl")
    assert [r["config"]["hidden"] for r in records] == [8, 8, 9, 9]
    assert len({r["config_hash"] for r in records}) == 2


def children(pid: int) -> list[int] | None:
    """The child processes of ``pid`` (Linux /proc), or None where that cannot be read."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Whether process ``pid`` still exists and is not a zombie (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_resume_after_sigkill_gives_the_same_records_as_an_uninterrupted_run(capsys, tmp_path, workers):
    """Killed with one worker (in the process) or two worker processes (which die with it)."""
    profile = write_profile(tmp_path, tiny_profile(rc_epochs=10))
    argv = ["--contenders", "lstm-eos,rc-lstm"]
    killed = tmp_path / "killed"
    records_path = killed / "results.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--profile", str(profile), "--out", str(killed), "--device", "cpu",
         "--threads", "1", "--workers", workers, "--tasks", "toy-noise", *argv],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (records_path.exists() and records_path.read_bytes().count(b"\n") >= 1):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no record appeared"
            time.sleep(0.01)
        workers_before_kill = children(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    if workers == "2" and workers_before_kill is not None:  # the workers die with the run, training nothing more
        assert workers_before_kill, "no worker process"
        deadline = time.monotonic() + 10
        while any(map(alive, workers_before_kill)):
            assert time.monotonic() < deadline, f"worker processes outlived the killed run: {workers_before_kill}"
            time.sleep(0.05)
    before = read_records(records_path)  # every line whole
    assert 1 <= len(before) < 4, "the run finished before it was killed"

    code, stdout, err = run_cli(capsys, profile, killed, *argv, "--resume")
    assert code == 0, err
    assert f"{4 - len(before)} new records" in stdout
    resumed = read_records(records_path)
    assert resumed[:len(before)] == before and len(resumed) == 4

    reference = tmp_path / "reference"
    code, _stdout, err = run_cli(capsys, profile, reference, *argv)
    assert code == 0, err
    comparison = compare_records(resumed, read_records(reference / "results.jsonl"))  # timings left out
    assert comparison.identical, comparison.different


# ----------------------------------------------------------------------------- failed cells


def nan_on_second_batch(monkeypatch):
    original = LSTMEndOfSequence.objective

    def objective(self, x, y):
        self.batches_seen = getattr(self, "batches_seen", 0) + 1
        outcome = original(self, x, y)
        if self.batches_seen == 2:
            return BatchOutcome(outcome.loss * float("nan"), outcome.step_evaluations_forward,
                                outcome.step_evaluations_backward)
        return outcome
    monkeypatch.setattr(LSTMEndOfSequence, "objective", objective)


def test_nan_loss_fails_only_its_cells_and_the_run_exits_non_zero(capsys, tmp_path, monkeypatch):
    nan_on_second_batch(monkeypatch)
    out = tmp_path / "out"
    profile = write_profile(tmp_path, tiny_profile())
    code, stdout, err = run_cli(capsys, profile, out, "--contenders", "lstm-eos,rc-lstm")
    assert code == 1
    records = read_records(out / "results.jsonl")
    assert sorted((r["contender"], r["theta"]) for r in records) == [("rc-lstm", 0.9), ("rc-lstm", 0.95)]
    errors = read_errors(out / "errors.jsonl")
    assert sorted((e["contender"], e["theta"]) for e in errors) == [("lstm-eos", 0.9), ("lstm-eos", 0.95)]
    for error in errors:
        assert set(ERROR_FIELDS) <= set(error)
        assert not set(METRIC_FIELDS) & set(error)  # a failed cell has no metric, not even 0
        assert error["error_kind"] == "training-diverged" and error["phase"] == "training"
        assert error["error_type"] == "TrainingDiverged"
        assert "training loss became nan in epoch 1" in error["message"]
        assert error["config"]["hidden"] == 8 and error["task"] == "toy-noise" and error["seed"] == 0
    assert "FAILED at theta=0.9: training diverged: training loss became nan" in err
    assert "rcbench: 2 cell(s) failed and have no record" in err
    assert "toy-noise lstm-eos seed=0 theta=0.95: training-diverged: training diverged" in err
    assert "2 new records" in stdout and (out / "summary.md").exists()

    # fixed: --resume runs exactly the failed cells
    monkeypatch.undo()
    code, stdout, err = run_cli(capsys, profile, out, "--contenders", "lstm-eos,rc-lstm", "--resume")
    assert code == 0, err
    assert "2 new records" in stdout
    assert len(read_records(out / "results.jsonl")) == 4


def test_out_of_memory_in_training_names_batch_size(capsys, tmp_path, monkeypatch):
    def objective(self, x, y):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    monkeypatch.setattr(LSTMEndOfSequence, "objective", objective)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile()), out, "--contenders", "lstm-eos")
    assert code == 1
    assert "no records" in stdout and not (out / "results.jsonl").exists()
    errors = read_errors(out / "errors.jsonl")
    assert [e["error_kind"] for e in errors] == ["out-of-memory"] * 2
    message = errors[0]["message"]
    assert message.startswith("out of memory during training: CUDA out of memory. Tried to allocate 20.00 GiB; ")
    assert ("lower batch_size (now 16) for lstm-eos in the profile ([contenders.lstm-eos] or "
            "[tasks.toy-noise.contenders.lstm-eos])") in message
    assert message in err and "2 cell(s) failed" in err


def test_out_of_memory_in_evaluation_names_eval_batch_size(capsys, tmp_path, monkeypatch):
    def step_scores(self, x):
        raise RuntimeError("CUDA out of memory. Tried to allocate 8.00 GiB (GPU 0; 80 GiB total capacity)")
    monkeypatch.setattr(LSTMEndOfSequence, "step_scores", step_scores)
    out = tmp_path / "out"
    code, _stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile()), out,
                                 "--contenders", "lstm-eos,rc-lstm")
    assert code == 1
    assert {r["contender"] for r in read_records(out / "results.jsonl")} == {"rc-lstm"}
    errors = read_errors(out / "errors.jsonl")
    assert [(e["contender"], e["theta"], e["phase"]) for e in errors] == [("lstm-eos", 0.9, "evaluation"),
                                                                           ("lstm-eos", 0.95, "evaluation")]
    assert "lower eval_batch_size (now 1024) for lstm-eos" in errors[0]["message"]


def test_other_errors_still_stop_the_run(tmp_path, monkeypatch):
    def objective(self, x, y):
        raise KeyError("a bug")
    monkeypatch.setattr(LSTMEndOfSequence, "objective", objective)
    profile = parse_profile({"protocol": {"epochs": 1, "lr_schedule": "constant", "selection": "best-val-accuracy"},
                             "contenders": {"lstm-eos": {"hidden": 8}},
                             "tasks": {"toy-noise": {"thresholds": [0.9],
                                                     "data": {"n_train": 32, "n_val": 16, "n_test": 16}}}}, "t")
    jobs = plan_jobs(profile, ["toy-noise"], ["lstm-eos"])
    with pytest.raises(JobError, match=r"^training job \[1/1\] toy-noise lstm-eos seed=0 theta=0.9 failed: "
                                       r"KeyError: 'a bug'$") as caught:
        run_jobs(jobs, profile, tmp_path / "results.jsonl", CPU, progress=lambda line: None)
    assert isinstance(caught.value.__cause__, KeyError)  # in this process: the original error, for a debugger
    assert "in objective" in caught.value.traceback
    assert not (tmp_path / "errors.jsonl").exists()


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_the_same_metrics_on_cpu(tmp_path):
    torch.set_num_threads(1)
    profile = parse_profile({
        "protocol": {"epochs": 2, "lr_schedule": "constant", "selection": "best-val-accuracy"},
        "contenders": {name: {"hidden": 8, "batch_size": 16} for name in ("rc-lstm", "lstm-eos")},
        "tasks": {"toy-runs": {"thresholds": [0.9], "data": {"n_train": 64, "n_val": 32, "n_test": 32}}},
    }, "repro")
    jobs = plan_jobs(profile, ["toy-runs"], ["rc-lstm", "lstm-eos"])
    runs = [run_jobs(jobs, profile, tmp_path / f"run{i}" / "results.jsonl", CPU, progress=lambda line: None).written
            for i in range(2)]
    assert len(runs[0]) == len(runs[1]) == 2
    for first, second in zip(*runs):
        assert record_key(first) == record_key(second)
        for name in (*METRIC_FIELDS, "decision_lag_mean"):
            assert first[name] == second[name], name
        for name in ("final_train_loss", "selected_val_accuracy", "selected_epoch", "step_evaluations_forward"):
            assert first["training"][name] == second["training"][name], name


# ----------------------------------------------------------------------------- entry points

GRU_PLUGIN = '''
"""``gru-eos``: a GRU trained on the last step, read out with rcbench's early-exit rule."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from baselines.registry import register_contender
from baselines.step_contender import StepModelContender, TrainingConfig
from baselines.training_loop import BatchOutcome
from rc.operations import OperationCounts, connection_operations
from rc.loss import classification_loss


class GRUClassifier(nn.Module):
    """A one-layer GRU with a linear readout at every step; a StepModel that counts its operations."""

    def __init__(self, n_features: int, hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.n_features, self.hidden = n_features, hidden
        self.cell = nn.GRUCell(n_features, hidden)
        self.readout = nn.Linear(hidden, n_outputs)

    # the StepModel interface (rc.model.StepModel): truncated training and real early exit use it
    def init_state(self, batch_size: int, device=None) -> Tensor:
        return torch.zeros(batch_size, self.hidden, device=device, dtype=self.readout.weight.dtype)

    def step(self, x_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h = self.cell(x_t, h)
        return self.readout(h), h

    def select_state(self, h: Tensor, index: Tensor) -> Tensor:
        return h[index]

    def forward(self, x: Tensor) -> Tensor:
        h, scores = self.init_state(x.shape[0], x.device), []
        for t in range(x.shape[1]):
            score, h = self.step(x[:, t], h)
            scores.append(score)
        return torch.stack(scores, dim=1)

    # operation counts (definitions of rc.operations)
    def dense_macs_per_step(self) -> int:
        synaptic = self.cell.weight_ih.numel() + self.cell.weight_hh.numel() + self.readout.weight.numel()
        return synaptic + 3 * self.hidden  # + the products r*(W_hn h), (1-z)*n and z*h

    def backward_macs_per_step(self) -> int:
        return 2 * self.dense_macs_per_step()

    @torch.no_grad()
    def operations_per_step(self, x: Tensor) -> OperationCounts:
        h, parts = self.init_state(x.shape[0], x.device), []
        for t in range(x.shape[1]):
            in_macs, in_acs = connection_operations(x[:, t], self.cell.weight_ih)
            rec_macs, rec_acs = connection_operations(h, self.cell.weight_hh)
            _, h = self.step(x[:, t], h)
            out_macs, out_acs = connection_operations(h, self.readout.weight)
            parts.append((in_macs + rec_macs + out_macs, in_acs + rec_acs + out_acs))
        synaptic_macs = torch.stack([p[0] for p in parts], dim=1).cpu()
        synaptic_acs = torch.stack([p[1] for p in parts], dim=1).cpu()
        shape = synaptic_macs.shape
        neuron = 3 * self.hidden
        return OperationCounts(
            dense_synaptic_macs=torch.full(shape, self.dense_macs_per_step() - neuron, dtype=torch.int64),
            dense_neuron_macs=torch.full(shape, neuron, dtype=torch.int64),
            synaptic_macs=synaptic_macs, synaptic_acs=synaptic_acs,
            neuron_macs=torch.full(shape, neuron, dtype=torch.int64),
            neuron_acs=torch.zeros(shape, dtype=torch.int64),
        )


@dataclass(frozen=True)
class GRUConfig(TrainingConfig):
    """Training settings (epochs, batch_size, lr, ...) plus the GRU's size; profiles set them."""

    hidden: int = 32


@register_contender
class GRUEndOfSequence(StepModelContender):
    name = "gru-eos"
    description = "a GRU trained on the last step, read out with the same early-exit rule"
    Config = GRUConfig
    threshold_in_training = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        self.model = GRUClassifier(self.spec.n_features, self.config.hidden,
                                   self.spec.n_outputs(self.rule.name)).to(self.device)

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        scores = self.model(x)
        evaluations = x.shape[0] * x.shape[1]
        return BatchOutcome(classification_loss(scores[:, -1], y).mean(), evaluations, evaluations)
'''
"""The worked example of a third-party contender module (the README shows it with its pyproject.toml)."""


@pytest.fixture
def entry_points(monkeypatch, tmp_path):
    """Install fake entry points of ``rcbench.contenders``: call the fixture with EntryPoint objects.

    The module ``rcbench_gru`` (:data:`GRU_PLUGIN`) is importable from ``tmp_path``; the registry
    forgets the entry points and whatever they registered afterwards."""
    (tmp_path / "rcbench_gru.py").write_text(GRU_PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    original = importlib.metadata.entry_points
    before = CONTENDERS.registered()

    def install(*points):
        def fake(**params):
            if params.get("group") == ENTRY_POINT_GROUP:
                return list(points)
            return original(**params)
        monkeypatch.setattr(importlib.metadata, "entry_points", fake)
        monkeypatch.setattr(CONTENDERS, "_entry_points_loaded", False)
        monkeypatch.setattr(CONTENDERS, "broken", {})
        monkeypatch.setattr(CONTENDERS, "distributions", {})
    yield install
    for name in CONTENDERS.registered() - before:
        CONTENDERS.unregister(name)
    sys.modules.pop("rcbench_gru", None)


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_entry_point_contender_is_listed_and_runs(capsys, tmp_path, entry_points):
    entry_points(entry_point("gru-eos", "rcbench_gru:GRUEndOfSequence"))
    assert main(["list"]) == 0
    assert "  gru-eos          a GRU trained on the last step" in capsys.readouterr().out
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile(gru=True)), out, "--contenders", "gru-eos")
    assert code == 0, err
    records = read_records(out / "results.jsonl")
    assert [(r["contender"], r["theta"]) for r in records] == [("gru-eos", 0.9), ("gru-eos", 0.95)]
    record = records[0]
    assert record["config"]["hidden"] == 8 and record["training"]["shared_across_thresholds"] == 2
    # the GRU counts itself: 3 H (F + H) + H C synaptic plus 3 H neuron MACs per step
    per_step = 3 * 8 * (1 + 8) + 8 * 1 + 3 * 8
    assert record["ops_dense_macs_full_sequence"] == per_step * 40
    assert record["ops_dense_macs"] == pytest.approx(per_step * record["decision_step_mean"])
    assert "| toy-noise | gru-eos |" in stdout


def test_the_readme_plugin_gets_the_paper_protocol_not_its_own_defaults(entry_points):
    entry_points(entry_point("gru-eos", "rcbench_gru:GRUEndOfSequence"))
    gru = get_contender("gru-eos")
    assert (gru.Config().epochs, gru.Config().lr_schedule) == (10, "constant")  # its own defaults differ
    paper = load_profile("paper")
    jobs = plan_jobs(paper, ["toy-noise"], ["gru-eos"])
    assert [job.thresholds for job in jobs] == [tuple(paper.tasks["toy-noise"].thresholds)] * len(paper.seeds)
    config = contender_config(paper, "toy-noise", gru)
    shared = paper.tasks["toy-noise"].protocol.settings
    assert {name: getattr(config, name) for name in shared} == shared
    assert shared["epochs"] == 20 and shared["lr_schedule"] == "cosine"


def test_an_installed_plugin_joins_a_run_only_when_the_profile_names_it(capsys, tmp_path, entry_points):
    entry_points(entry_point("gru-eos", "rcbench_gru:GRUEndOfSequence"))
    code, _stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile()), tmp_path / "plain")
    assert code == 0, err
    assert {r["contender"] for r in read_records(tmp_path / "plain" / "results.jsonl")} == {"rc-lstm", "lstm-eos"}
    code, _stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile(gru=True)), tmp_path / "named")
    assert code == 0, err
    assert {r["contender"] for r in read_records(tmp_path / "named" / "results.jsonl")} == {
        "rc-lstm", "lstm-eos", "gru-eos"}


def test_broken_entry_point_is_named_and_the_rest_still_works(capsys, tmp_path, entry_points):
    entry_points(entry_point("broken", "rcbench_no_such_module:Thing"),
                 entry_point("gru-eos", "rcbench_gru:GRUEndOfSequence"))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "  gru-eos          a GRU trained on the last step" in out and "  rc-lstm" in out
    assert ("  broken           BROKEN: contender entry point 'broken' (rcbench_no_such_module:Thing) in group "
            "'rcbench.contenders' failed to load: ModuleNotFoundError: No module named 'rcbench_no_such_module'") in out
    assert "broken" not in sorted(CONTENDERS)
    with pytest.raises(ContenderPluginError, match="entry point 'broken'"):
        get_contender("broken")  # asked for by name: its own error
    # a run of other contenders goes on
    code, _stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile()), tmp_path / "out",
                                 "--contenders", "lstm-eos")
    assert code == 0, err


@pytest.mark.parametrize("name, value, message", [
    ("dumps", "json:dumps", r"gives <function dumps .*>, not a subclass of baselines.registry.Contender"),
    ("gru", "rcbench_gru:GRUEndOfSequence", r"gives a contender named 'gru-eos'; the entry point must carry"),
])
def test_entry_point_of_a_wrong_object_is_named(entry_points, name, value, message):
    entry_points(entry_point(name, value))
    with pytest.raises(ContenderPluginError, match=rf"^contender entry point '{name}' \({value}\) .*{message}"):
        get_contender(name)


def test_entry_point_of_an_installed_distribution(capsys, tmp_path, monkeypatch):
    """A real (unpacked) distribution on sys.path, found by importlib.metadata itself."""
    site = tmp_path / "site"
    dist_info = site / "rcbench_gru-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: rcbench-gru\nVersion: 0.1.0\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text(
        "[rcbench.contenders]\ngru-eos = rcbench_gru:GRUEndOfSequence\n", encoding="utf-8")
    (site / "rcbench_gru.py").write_text(GRU_PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(CONTENDERS, "_entry_points_loaded", False)
    monkeypatch.setattr(CONTENDERS, "distributions", {})
    try:
        assert main(["list"]) == 0
        assert ("  gru-eos          a GRU trained on the last step, read out with the same early-exit rule "
                "(plug-in: rcbench-gru 0.1.0)") in capsys.readouterr().out
        assert get_contender("gru-eos").__module__ == "rcbench_gru"
        out = tmp_path / "out"
        code, _stdout, err = run_cli(capsys, write_profile(tmp_path, tiny_profile(gru=True)), out,
                                     "--contenders", "gru-eos")
        assert code == 0, err
        record = read_records(out / "results.jsonl")[0]
        assert record["contender_distribution"] == {"name": "rcbench-gru", "version": "0.1.0"}
    finally:
        CONTENDERS.unregister("gru-eos")
        sys.modules.pop("rcbench_gru", None)
