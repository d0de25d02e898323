"""Tests of the comparison protocol (bench/run/protocol.py) as profiles state it and the harness applies it."""

from __future__ import annotations

from pathlib import Path

import pytest

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.registry import CONTENDERS, get_contender
from bench.core.options import OptionError
from bench.run.harness import contender_config, plan_jobs
from bench.run.profile import BUILTIN_PROFILES, load_profile
from bench.run.protocol import REQUIRED_SETTINGS

BASE = """
name = "p"
[protocol]
epochs = 4
lr_schedule = "cosine"
selection = "last-epoch"
[contenders.rc-lstm]
hidden = 8
[tasks.toy-noise]
thresholds = [0.9]
[tasks.toy-noise.protocol]
batch_size = 16
"""


def write(folder: Path, text: str, name: str = "profile.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config(profile, contender: str, task: str = "toy-noise"):
    return contender_config(profile, task, get_contender(contender))


def test_the_protocol_reaches_every_registered_contender(tmp_path):
    profile = load_profile(str(write(tmp_path, BASE)))
    for name in CONTENDERS:
        got = config(profile, name)
        assert (got.epochs, got.lr_schedule, got.selection, got.batch_size) == (4, "cosine", "last-epoch", 16), name


@pytest.mark.parametrize("setting, value", [("epochs", 2), ("lr_schedule", '"constant"'),
                                            ("selection", '"best-val-accuracy"'), ("batch_size", 32)])
def test_a_different_budget_without_a_reason_is_refused(tmp_path, setting, value):
    text = BASE + f"[tasks.toy-noise.contenders.lstm-eos]\n{setting} = {value}\n"
    profile = load_profile(str(write(tmp_path, text)))
    with pytest.raises(OptionError, match=rf"task toy-noise: lstm-eos sets {setting} = .* but the protocol gives "
                                          rf"every contender {setting} = .*declare an override with a reason"):
        plan_jobs(profile, ["toy-noise"], ["rc-lstm", "lstm-eos"])


def test_a_contender_default_table_cannot_change_the_budget_either(tmp_path):
    profile = load_profile(str(write(tmp_path, BASE.replace("hidden = 8", "hidden = 8\nepochs = 9"))))
    with pytest.raises(OptionError, match="rc-lstm sets epochs = 9 but the protocol gives every contender epochs = 4"):
        plan_jobs(profile, ["toy-noise"], ["rc-lstm"])


def test_an_override_with_a_reason_gives_one_contender_its_own_value(tmp_path):
    text = BASE + ('[[tasks.toy-noise.overrides]]\ncontender = "lstm-eos"\nsetting = "epochs"\nvalue = 9\n'
                   'reason = "it needs longer"\n')
    profile = load_profile(str(write(tmp_path, text)))
    assert config(profile, "lstm-eos").epochs == 9
    assert config(profile, "rc-lstm").epochs == 4
    assert profile.tasks["toy-noise"].protocol.record("lstm-eos") == {
        "settings": {"epochs": 4, "lr_schedule": "cosine", "selection": "last-epoch", "batch_size": 16},
        "overrides": [{"setting": "epochs", "value": 9, "reason": "it needs longer"}]}
    assert profile.tasks["toy-noise"].protocol.record("rc-lstm")["overrides"] == []


@pytest.mark.parametrize("reason", ['""', '"  "', '3', None])
def test_an_override_without_a_reason_is_refused(tmp_path, reason):
    line = "" if reason is None else f"reason = {reason}\n"
    text = BASE + f'[[tasks.toy-noise.overrides]]\ncontender = "lstm-eos"\nsetting = "epochs"\nvalue = 9\n{line}'
    with pytest.raises(OptionError, match=r"overrides #1 \(lstm-eos, epochs\): an override needs a reason"):
        load_profile(str(write(tmp_path, text)))


def test_an_override_of_a_setting_outside_the_protocol_is_refused(tmp_path):
    text = BASE + '[[tasks.toy-noise.overrides]]\ncontender = "lstm-eos"\nsetting = "hidden"\nvalue = 9\nreason = "r"\n'
    with pytest.raises(OptionError, match=r"'hidden' is not a protocol setting of this task \(batch_size, epochs, "
                                          r"lr_schedule, selection\)"):
        load_profile(str(write(tmp_path, text)))


def test_a_protocol_setting_a_contender_lacks_needs_a_declared_reason(tmp_path):
    text = BASE.replace("batch_size = 16", "batch_size = 16\nencoder = \"none\"")
    profile = load_profile(str(write(tmp_path, text)))
    assert config(profile, "lstm-eos").encoder == "none"
    with pytest.raises(OptionError, match=r"the protocol sets encoder = 'none' for every contender, but snn-ttfs has "
                                          r"no setting 'encoder'; add \[\[overrides\]\]"):
        plan_jobs(profile, ["toy-noise"], ["snn-ttfs"])
    declared = text + '[[tasks.toy-noise.overrides]]\ncontender = "snn-ttfs"\nsetting = "encoder"\nreason = "dense"\n'
    profile = load_profile(str(write(tmp_path, declared)))
    assert plan_jobs(profile, ["toy-noise"], ["snn-ttfs"])
    assert profile.tasks["toy-noise"].protocol.record("snn-ttfs")["overrides"] == [
        {"setting": "encoder", "value": None, "reason": "dense"}]


@pytest.mark.parametrize("missing", REQUIRED_SETTINGS)
def test_every_task_must_state_the_training_budget(tmp_path, missing):
    text = "\n".join(line for line in BASE.splitlines() if not line.startswith(missing))
    with pytest.raises(OptionError, match=rf"\[tasks\.toy-noise\] protocol: the protocol must give every contender "
                                          rf"the same training budget; set {missing}"):
        load_profile(str(write(tmp_path, text)))


def test_a_profile_extends_a_builtin_one_and_keeps_its_protocol(tmp_path):
    text = ('extends = "paper"\nname = "mine"\n[tasks.mnist-temporal.contenders.rc-lstm]\nhidden = 64\n'
            '[[tasks.mnist-temporal.overrides]]\ncontender = "lstm-eos"\nsetting = "augment_shift"\nvalue = 0\n'
            'reason = "ablation"\n')
    mine = load_profile(str(write(tmp_path, text)))
    paper = load_profile("paper")
    assert mine.name == "mine" and set(mine.tasks) == set(paper.tasks)
    assert mine.tasks["mnist-temporal"].protocol.settings == paper.tasks["mnist-temporal"].protocol.settings
    overrides = mine.tasks["mnist-temporal"].protocol.overrides
    assert len(overrides) == len(paper.tasks["mnist-temporal"].protocol.overrides) + 1  # appended, not replaced
    assert config(mine, "rc-lstm", "mnist-temporal").hidden == 64
    assert config(mine, "lstm-eos", "mnist-temporal").augment_shift == 0
    assert config(mine, "lstm-allsteps", "mnist-temporal").augment_shift == 2


def test_extends_names_a_missing_profile_or_a_cycle(tmp_path):
    with pytest.raises(OptionError, match="unknown profile 'nope'"):
        load_profile(str(write(tmp_path, 'extends = "nope"\n')))
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(OptionError, match="extends itself"):
        load_profile(str(tmp_path / "a.toml"))


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_builtin_profiles_give_every_contender_of_a_task_the_same_budget_or_a_reason(name):
    profile = load_profile(name)
    for task, plan in profile.tasks.items():
        budgets = {}
        for contender in CONTENDERS:
            if contender.startswith("test-"):
                continue
            got = config(profile, contender, task)
            declared = {o.setting for o in plan.protocol.overrides_for(contender)}
            budgets[contender] = tuple(getattr(got, s) for s in REQUIRED_SETTINGS if s not in declared)
        assert len(set(budgets.values())) == 1, (name, task, budgets)
