"""Operation counting is checked when a run is planned, before any data is loaded or anything trained."""

from __future__ import annotations

import pytest
import torch

from baselines.lstm_eos import LSTMEndOfSequence
from baselines.registry import CONTENDERS, register_contender
from bench.cli import main
from bench.run.harness import plan_jobs
from bench.run.profile import load_profile
from bench.tasks.toy_noise import ToyNoise
from rc.operations import SELF_COUNTING_METHODS, OperationCountError

PROFILE = """
name = "counting"
seeds = [0, 1]
data_seed = 0
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "best-val-accuracy"
[contenders.lstm-eos]
hidden = 8
[contenders.no-counting]
hidden = 8
[tasks.toy-noise]
thresholds = [0.9]
"""


class PlainGRU(torch.nn.Module):
    """A network that runs but defines none of the counting methods."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(1, 8, batch_first=True)


class NoCounting(LSTMEndOfSequence):
    """lstm-eos with its network swapped for one that cannot count its operations."""

    name = "no-counting"
    description = "a contender whose network cannot count its operations"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model = PlainGRU()


@pytest.fixture
def no_counting():
    register_contender(NoCounting)
    yield
    CONTENDERS.unregister(NoCounting.name)


@pytest.fixture
def profile(tmp_path):
    path = tmp_path / "counting.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return path


def test_planning_fails_at_once_naming_the_methods_to_add(no_counting, profile):
    with pytest.raises(OperationCountError) as info:
        plan_jobs(load_profile(str(profile)), ["toy-noise"], ["lstm-eos", "no-counting"])
    message = str(info.value)
    assert message.startswith("contender 'no-counting' cannot count its operations, so it cannot be run "
                              "(checked before any training): no operation counts are defined for PlainGRU")
    assert f"give it the method(s) {', '.join(SELF_COUNTING_METHODS)}" in message


def test_a_counting_contender_plans_and_the_random_state_is_untouched(no_counting, profile):
    before = torch.random.get_rng_state()
    jobs = plan_jobs(load_profile(str(profile)), ["toy-noise"], ["lstm-eos"])
    assert [job.seed for job in jobs] == [0, 1]
    assert torch.equal(torch.random.get_rng_state(), before)


def test_rcbench_run_stops_before_loading_any_data(no_counting, profile, tmp_path, monkeypatch, capsys):
    def load(*args, **kwargs):
        raise AssertionError("data loaded before the counting check")
    monkeypatch.setattr(ToyNoise, "load", load)
    code = main(["run", "--profile", str(profile), "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--threads", "1", "--workers", "1"])
    err = capsys.readouterr().err
    assert code != 0 and "contender 'no-counting' cannot count its operations" in err
    assert "operations_per_step, dense_macs_per_step, backward_macs_per_step" in err
    assert not (tmp_path / "out" / "results.jsonl").exists()
