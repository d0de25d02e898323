"""Tests of bench/run/profile.py: the built-in profiles and the errors of a malformed profile."""

from __future__ import annotations

import re
from importlib import resources

import pytest

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.registry import CONTENDERS, get_contender
from bench.core.options import OptionError
from rc.crossing import CROSSING_RULES
from bench.run.profile import BUILTIN_PROFILES, Profile, load_profile, parse_profile
from bench.tasks.registry import TASKS, get_task


def builtin_available(name: str) -> bool:
    return resources.files("bench.run.profiles").joinpath(f"{name}.toml").is_file()


@pytest.fixture(params=BUILTIN_PROFILES)
def builtin(request) -> Profile:
    name = request.param
    if not builtin_available(name):
        pytest.skip(f"bench/run/profiles/{name}.toml is not written yet (named in BUILTIN_PROFILES)")
    return load_profile(name)


def test_quick_profile_is_present():
    assert "quick" in BUILTIN_PROFILES
    assert builtin_available("quick")


def test_builtin_profile_loads(builtin):
    assert builtin.name in BUILTIN_PROFILES
    assert builtin.seeds and all(isinstance(seed, int) for seed in builtin.seeds)
    assert builtin.tasks
    for plan in builtin.tasks.values():
        assert plan.thresholds and all(0 < theta < 1 for theta in plan.thresholds)


def test_builtin_profile_names_only_registered_tasks_and_their_data_options_build(builtin):
    for task_name, plan in builtin.tasks.items():
        assert task_name in TASKS, f"profile {builtin.name} names unregistered task {task_name}"
        task = get_task(task_name)
        options = task.options(plan.data, f"profile {builtin.name}, task {task_name} data")
        for key, value in plan.data.items():
            assert getattr(options, key) == value


def test_builtin_profile_contender_configs_build(builtin):
    named = set(builtin.contenders)
    for plan in builtin.tasks.values():
        named |= set(plan.contenders)
    assert named, "the profile configures no contender"
    for task_name, plan in builtin.tasks.items():
        for name in sorted(named | set(CONTENDERS)):
            contender = get_contender(name)  # every contender the profile names is registered
            values = builtin.contender_values(task_name, name)
            config = contender.make_config(values, f"profile {builtin.name}, task {task_name}, contender {name}")
            for key, value in values.items():
                assert getattr(config, key) == value


def test_quick_profile_overrides_per_task():
    quick = load_profile("quick")
    assert set(quick.tasks) == {"toy-noise", "toy-runs", "mnist-temporal", "fsdd", "gsc"}
    assert quick.tasks["mnist-temporal"].data["fallback"] is True
    # the README's main command needs no download: every task that needs files falls back or is skipped
    assert quick.tasks["fsdd"].skip_if_missing and quick.tasks["gsc"].skip_if_missing
    assert not quick.tasks["mnist-temporal"].skip_if_missing
    assert quick.tasks["fsdd"].data_values("snn-ttfs")["spikes"] is True
    assert "spikes" not in quick.tasks["fsdd"].data_values("rc-lstm")
    assert quick.contender_values("toy-runs", "rc-lstm")["hidden"] == 64
    assert quick.contender_values("toy-noise", "rc-lstm")["hidden"] == 32
    # the override does not leak into the shared table
    assert quick.contenders["rc-lstm"]["hidden"] == 32
    assert quick.tasks["toy-noise"].thresholds == (0.99,)
    assert quick.tasks["toy-noise"].betas is None and quick.tasks["toy-noise"].rule is None


# ----------------------------------------------------------------------------- profiles written to tmp_path


GOOD = """
name = "mine"
seeds = [0, 1]
data_seed = 3

[protocol]
epochs = 1
lr_schedule = "constant"
selection = "best-val-accuracy"

[contenders.rc-lstm]
hidden = 8

[tasks.toy-noise]
thresholds = [0.9, 0.95]
betas = [0.0, 0.5]
rule = "two-sided"
[tasks.toy-noise.data]
n_train = 64
[tasks.toy-noise.contenders.rc-lstm]
lr = 0.01
"""


def write(tmp_path, text: str):
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_profile_parses(tmp_path):
    profile = load_profile(str(write(tmp_path, GOOD)))
    assert (profile.name, profile.seeds, profile.data_seed) == ("mine", (0, 1), 3)
    plan = profile.tasks["toy-noise"]
    assert plan.thresholds == (0.9, 0.95) and plan.betas == (0.0, 0.5) and plan.rule == "two-sided"
    assert plan.data == {"n_train": 64}
    assert profile.contender_values("toy-noise", "rc-lstm") == {"hidden": 8, "lr": 0.01}
    assert profile.tasks["toy-noise"].protocol.settings == {"epochs": 1, "lr_schedule": "constant",
                                                            "selection": "best-val-accuracy"}
    assert profile.contender_values("toy-noise", "lstm-eos") == {}


def test_profile_defaults(tmp_path):
    path = write(tmp_path, '[protocol]\nepochs = 2\nlr_schedule = "cosine"\nselection = "last-epoch"\n'
                           '[tasks.toy-runs]\nthresholds = [0.8]\n')
    profile = load_profile(str(path))
    assert profile.name == str(path) and profile.seeds == (0,) and profile.data_seed == 0
    assert profile.contenders == {} and profile.tasks["toy-runs"].betas is None


@pytest.mark.parametrize(
    "text, message",
    [
        ('bogus = 1\n' + GOOD, r"profile .*profile\.toml: unknown key\(s\) bogus; allowed: contenders, data_seed"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nthreshold = [0.9]'),
         r"\[tasks\.toy-noise\]: unknown key\(s\) threshold; allowed: betas, contenders, curve_examples, data, lineup, overrides, protocol, "
         r"rule, search, skip_if_missing, step_ms, thresholds"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nskip_if_missing = "yes"'),
         r"\[tasks\.toy-noise\] skip_if_missing must be true or false, got 'yes'"),
        (GOOD + '[tasks.toy-noise.contender_data.rc-lstm]\nn_train = 3\n',
         r"\[tasks\.toy-noise\]: contender_data is replaced by overrides that give a reason"),
        (GOOD.replace("thresholds = [0.9, 0.95]", "thresholds = [0.9, 1.5]"),
         r"\[tasks\.toy-noise\]: threshold theta must lie in \(0, 1\), got 1\.5"),
        (GOOD.replace("thresholds = [0.9, 0.95]", "thresholds = [0.0]"),
         r"\[tasks\.toy-noise\]: threshold theta must lie in \(0, 1\), got 0\.0"),
        (GOOD.replace("thresholds = [0.9, 0.95]", "thresholds = [1]"),
         r"threshold theta must lie in \(0, 1\), got 1\.0"),
        (GOOD.replace("thresholds = [0.9, 0.95]", "thresholds = []"),
         r"\[tasks\.toy-noise\] thresholds must be a non-empty list of numbers, got \[\]"),
        (GOOD.replace("thresholds = [0.9, 0.95]", 'thresholds = ["0.9"]'),
         r"\[tasks\.toy-noise\] thresholds must hold numbers, got '0\.9'"),
        (GOOD.replace("thresholds = [0.9, 0.95]\n", ""),
         r"\[tasks\.toy-noise\] thresholds must be a non-empty list of numbers, got None"),
        (GOOD.replace("betas = [0.0, 0.5]", "betas = [0.0, -0.5]"),
         r"\[tasks\.toy-noise\]: entropy weight beta must be finite and >= 0, got -0\.5"),
        (GOOD.replace("betas = [0.0, 0.5]", "betas = [nan]"),
         r"\[tasks\.toy-noise\]: entropy weight beta must be finite and >= 0, got nan"),
        (GOOD.replace('rule = "two-sided"', 'rule = "sigmoidal"'),
         r"\[tasks\.toy-noise\]: unknown rule 'sigmoidal'; known rules: sigmoid, sigmoid-notebook, softmax, "
         r"two-sided, two-sided-notebook"),
        (GOOD.replace("seeds = [0, 1]", "seeds = []"), r"seeds must be a non-empty list of integers, got \[\]"),
        (GOOD.replace("seeds = [0, 1]", "seeds = [0.5]"), r"seeds must be a non-empty list of integers, got \[0\.5\]"),
        (GOOD.replace("seeds = [0, 1]", "seeds = 0"), r"seeds must be a non-empty list of integers, got 0"),
        ('name = "empty"\nseeds = [0]\n', r"profile .*profile\.toml: no \[tasks\.\*\] tables"),
        ('tasks = 3\n', r"profile .*: tasks must be a table, got 3"),
        ("[tasks.toy-noise\nthresholds = [0.9]\n", r"profile .*profile\.toml is not valid TOML"),
        ('name = "x"\nname = "y"\n', r"is not valid TOML"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nlineup = []'),
         r"\[tasks\.toy-noise\] lineup must be a non-empty list of contender names, got \[\]"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nlineup = "rc-lstm"'),
         r"\[tasks\.toy-noise\] lineup must be a non-empty list of contender names, got 'rc-lstm'"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nlineup = ["rc-lstm", "lstm-eos", "rc-lstm"]'),
         r"\[tasks\.toy-noise\] lineup names rc-lstm more than once"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nlineup = ["rc-lstm", "lstm-eoss"]'),
         r"\[tasks\.toy-noise\] lineup names unknown contender 'lstm-eoss'"),
        (GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nlineup = ["lstm-eos"]'),
         r"\[tasks\.toy-noise\] configures rc-lstm \(contenders table or overrides\), not in its lineup "
         r"\['lstm-eos'\]"),
    ],
    ids=["top-level key", "task key", "skip_if_missing not a bool", "contender_data", "theta 1.5", "theta 0", "theta 1", "no thresholds", "string theta",
         "missing thresholds", "negative beta", "nan beta", "unknown rule", "empty seeds", "float seed",
         "seeds not a list", "no tasks", "tasks not a table", "invalid TOML", "duplicate key",
         "empty lineup", "lineup not a list", "lineup repeats", "lineup unknown contender",
         "settings outside the lineup"],
)
def test_bad_profile_raises_option_error_naming_the_problem(tmp_path, text, message):
    with pytest.raises(OptionError, match=message):
        load_profile(str(write(tmp_path, text)))


def test_parse_profile_names_its_source():
    with pytest.raises(OptionError, match=r"^profile my-source: unknown key\(s\) extra"):
        parse_profile({"extra": 1, "tasks": {"toy-noise": {"thresholds": [0.9]}}}, "my-source")


@pytest.mark.parametrize("name", ["nonexistent", "quick.toml", "Quick"])
def test_load_unknown_profile(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so that no file of that name can exist
    listed = re.escape(", ".join(BUILTIN_PROFILES))
    with pytest.raises(OptionError, match=rf"unknown profile '{name}': not a built-in profile \({listed}\) and no such file"):
        load_profile(name)


def test_load_profile_from_a_folder_is_an_error(tmp_path):
    with pytest.raises(OptionError, match="unknown profile"):
        load_profile(str(tmp_path))





def test_a_data_override_changes_the_task_data_for_that_contender_only(tmp_path):
    text = GOOD + ('[[tasks.toy-noise.overrides]]\ncontender = "snn-ttfs"\nsetting = "data.n_train"\nvalue = 7\n'
                   'reason = "fewer examples"\n')
    plan = load_profile(str(write(tmp_path, text))).tasks["toy-noise"]
    assert plan.data_values("snn-ttfs")["n_train"] == 7
    assert plan.data_values("rc-lstm") == plan.data
    assert plan.skip_if_missing is False
    with pytest.raises(OptionError, match=r"\[\[tasks\.toy-noise\.overrides\]\] \(data\.n_train\) names unknown "
                                          r"contender 'snn-tfs'"):
        load_profile(str(write(tmp_path, text.replace('"snn-ttfs"', '"snn-tfs"'))))


def test_unknown_contender_table_is_an_error(tmp_path):
    with pytest.raises(OptionError, match="rc-lstmm"):
        load_profile(str(write(tmp_path, GOOD.replace("[contenders.rc-lstm]", "[contenders.rc-lstmm]"))))


def test_a_lineup_decides_which_contenders_run_on_its_task_and_contenders_replaces_it(tmp_path):
    from bench.run.harness import plan_jobs

    text = GOOD.replace('rule = "two-sided"', 'rule = "two-sided"\nlineup = ["rc-lstm", "lstm-eos"]') + (
        '[tasks.toy-runs]\nthresholds = [0.9]\n[tasks.toy-runs.contenders.snn-ttfs]\nhidden = 4\n')
    profile = load_profile(str(write(tmp_path, text)))
    assert profile.lineup("toy-noise") == ["rc-lstm", "lstm-eos"]
    assert profile.lineup("toy-runs") == profile.named_contenders() == ["lstm-eos", "rc-lstm", "snn-ttfs"]

    def pairs(contenders=None):
        return {(job.task, job.contender) for job in plan_jobs(profile, ["toy-noise", "toy-runs"], contenders)}

    assert pairs() == {("toy-noise", "rc-lstm"), ("toy-noise", "lstm-eos"),
                       ("toy-runs", "rc-lstm"), ("toy-runs", "lstm-eos"), ("toy-runs", "snn-ttfs")}
    assert pairs(["snn-ttfs"]) == {("toy-noise", "snn-ttfs"), ("toy-runs", "snn-ttfs")}


def test_paper_lineups_run_the_convolutional_spiking_member_on_images_only():
    paper = load_profile("paper")
    for task in paper.tasks:
        lineup = paper.lineup(task)
        assert {"rc-lstm", "lstm-eos", "lstm-allsteps", "snn-ttfs"} <= set(lineup), task
        assert ("snn-conv" in lineup) == (task in {"fsdd", "mnist-temporal", "fmnist-temporal"}), task
