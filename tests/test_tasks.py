"""Tests of the generated tasks (bench/tasks): toy-runs, toy-noise, seeding, registry, Split, TaskSpec."""

from __future__ import annotations

import math
import random

import pytest
import torch

import bench.tasks  # noqa: F401  (registers the built-in tasks)
from bench.core.options import OptionError
from bench.core.task_contract import Split, TaskSpec
from bench.tasks.registry import TASKS, get_task
from bench.tasks.seeding import balanced_labels, split_generator
from bench.tasks.toy_noise import make_toy_noise
from bench.tasks.toy_runs import first_run_end, make_toy_runs


def brute_first_run_end(bits: list[int], run: int) -> int:
    """1-based step at which the first run of ``run`` equal bits ends, -1 if none (pure Python)."""
    for end in range(run, len(bits) + 1):
        window = bits[end - run:end]
        if all(b == window[0] for b in window):
            return end
    return -1


def rows(x: torch.Tensor) -> list[list[int]]:
    return [[int(v) for v in row] for row in x.tolist()]


# ----------------------------------------------------------------------------- first_run_end


@pytest.mark.parametrize("run", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("length", [1, 6, 25])
def test_first_run_end_matches_brute_force_on_random_bits(run, length):
    rng = random.Random(1000 * run + length)
    strings = [[rng.randint(0, 1) for _ in range(length)] for _ in range(300)]
    got = first_run_end(torch.tensor(strings), run)
    assert got.dtype == torch.long and got.shape == (300,)
    assert got.tolist() == [brute_first_run_end(s, run) for s in strings]


def test_first_run_end_random_bits_hit_every_outcome():
    # The random check above is only meaningful if it sees runs at many positions and misses too.
    rng = random.Random(7)
    strings = [[rng.randint(0, 1) for _ in range(25)] for _ in range(2000)]
    got = first_run_end(torch.tensor(strings), 5).tolist()
    assert got == [brute_first_run_end(s, 5) for s in strings]
    assert -1 in got
    assert {5, 25} <= set(got)
    assert len(set(got)) >= 15


@pytest.mark.parametrize(
    "bits, run, expected",
    [
        ([1, 1, 1, 0, 1, 0, 1, 0], 3, 3),          # run at the very start
        ([0, 0, 0, 0, 0, 1, 1, 1], 3, 3),          # a longer run still ends its first window at 3
        ([0, 1, 0, 1, 0, 1, 1, 1], 3, 8),          # run at the very end
        ([0, 1, 0, 1, 0, 1, 0, 1], 2, -1),         # none
        ([0, 1, 0, 1, 0, 1, 0, 1], 1, 1),          # run length 1: every first bit
        ([1, 1, 0, 0, 1, 1, 0, 0], 3, -1),         # runs of 2 only
        ([1, 0, 0, 1, 1, 1, 0, 0], 2, 3),          # first run of zeros, then a longer run of ones
        ([0, 1, 1, 1, 1, 1], 6, -1),               # run equal to the length, not all equal
        ([1, 1, 1, 1, 1, 1], 6, 6),                # run equal to the length, all equal
        ([1, 1, 1], 4, -1),                        # run longer than the sequence
    ],
)
def test_first_run_end_edge_cases(bits, run, expected):
    assert brute_first_run_end(bits, run) == expected  # the oracle agrees with the hand value
    assert first_run_end(torch.tensor([bits]), run).tolist() == [expected]


def test_first_run_end_rejects_run_below_one():
    with pytest.raises(ValueError, match="run must be >= 1, got 0"):
        first_run_end(torch.zeros(2, 5, dtype=torch.long), 0)


# ----------------------------------------------------------------------------- make_toy_runs


@pytest.mark.parametrize("n, length, run", [(200, 25, 5), (101, 10, 3), (64, 12, 4)])
def test_make_toy_runs_labels_and_ideal_steps_match_brute_force(n, length, run):
    split = make_toy_runs(n, torch.Generator().manual_seed(n + length), length=length, run=run)
    assert split.x.shape == (n, length, 1)
    assert split.x.dtype == torch.float32
    assert set(split.x.unique().tolist()) <= {0.0, 1.0}
    assert split.y.dtype == torch.long and split.y.shape == (n,)
    assert split.ideal_step is not None and split.ideal_step.shape == (n,)
    # exactly balanced: n // 2 zeros, the rest ones
    assert int((split.y == 0).sum()) == n // 2
    assert int((split.y == 1).sum()) == n - n // 2
    for bits, label, ideal in zip(rows(split.x[..., 0]), split.y.tolist(), split.ideal_step.tolist()):
        end = brute_first_run_end(bits, run)
        assert label == (1 if end > 0 else 0)
        assert ideal == (end if label == 1 else -1)
        if label == 1:
            assert run <= ideal <= length


def test_make_toy_runs_rejects_tiny_sets():
    with pytest.raises(ValueError, match="at least 2 examples, got 1"):
        make_toy_runs(1, torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------- make_toy_noise


def test_make_toy_noise_shape_and_balance():
    split = make_toy_noise(101, torch.Generator().manual_seed(3))
    assert split.x.shape == (101, 40, 1)
    assert split.x.dtype == torch.float32
    assert split.y.shape == (101,)
    assert int((split.y == 0).sum()) == 50 and int((split.y == 1).sum()) == 51
    assert split.ideal_step is None
    assert bool(torch.isfinite(split.x).all())


def test_make_toy_noise_class_means_are_plus_minus_k():
    # Each element is sign*K + N(0, s^2) with s ~ U(0.05, 0.25), so its variance is
    # E[s^2] = (0.05^2 + 0.05*0.25 + 0.25^2) / 3 = 0.02583. The mean over the 2000 examples of
    # one class and their 40 steps (80 000 values) has sd sqrt(0.02583 / 80000) = 5.7e-4, so a
    # tolerance of 0.003 (over 5 sd) cannot fail by chance, yet is 33x smaller than the 0.1
    # separation between the classes' means.
    n, k = 4000, 0.05
    split = make_toy_noise(n, torch.Generator().manual_seed(11))
    x = split.x[..., 0].double()
    expected_sd = math.sqrt((0.05**2 + 0.05 * 0.25 + 0.25**2) / 3 / (n // 2 * 40))
    assert expected_sd < 6e-4
    assert x[split.y == 1].mean().item() == pytest.approx(+k, abs=0.003)
    assert x[split.y == 0].mean().item() == pytest.approx(-k, abs=0.003)
    # and the per-sequence mean has the label's sign more often than chance
    agree = ((x.mean(dim=1) > 0).long() == split.y).double().mean().item()
    assert agree > 0.8


def test_make_toy_noise_per_sequence_std_lies_in_range():
    # With 4000 steps a sequence's sample std has relative sd 1/sqrt(2*4000) = 1.1%, so the
    # bounds [0.05, 0.25] are checked with a 6% (over 5 sd) margin; the per-sequence mean has sd
    # at most 0.25/sqrt(4000) = 0.004, far below K = 0.05, so its sign always matches the label.
    n, length, k = 200, 4000, 0.05
    split = make_toy_noise(n, torch.Generator().manual_seed(5), length=length)
    assert split.x.shape == (n, length, 1)
    x = split.x[..., 0].double()
    std = x.std(dim=1)
    assert float(std.min()) >= 0.05 * 0.94
    assert float(std.max()) <= 0.25 * 1.06
    # std is drawn per sequence from U(0.05, 0.25): it spans the range (200 draws) ...
    assert float(std.min()) < 0.07 and float(std.max()) > 0.23
    # ... with mean 0.15 (sd of the mean of 200 uniforms: 0.2/sqrt(12*200) = 0.004)
    assert float(std.mean()) == pytest.approx(0.15, abs=0.02)
    # the constant is +K for label 1 and -K for label 0, in every sequence
    means = x.mean(dim=1)
    assert torch.equal((means > 0).long(), split.y)
    assert float((means - (split.y * 2 - 1) * k).abs().max()) < 0.025


def test_make_toy_noise_honours_k_and_std_range():
    split = make_toy_noise(400, torch.Generator().manual_seed(2), length=2000, k=1.0, std_low=0.1, std_high=0.1)
    x = split.x[..., 0].double()
    std = x.std(dim=1)
    assert float(std.min()) > 0.09 and float(std.max()) < 0.11
    assert x[split.y == 1].mean().item() == pytest.approx(1.0, abs=0.01)
    assert x[split.y == 0].mean().item() == pytest.approx(-1.0, abs=0.01)


# ----------------------------------------------------------------------------- seeding and reproducibility


@pytest.mark.parametrize("make", [make_toy_runs, make_toy_noise])
def test_generators_are_reproducible_from_the_seed(make):
    a = make(50, torch.Generator().manual_seed(42))
    b = make(50, torch.Generator().manual_seed(42))
    c = make(50, torch.Generator().manual_seed(43))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    if a.ideal_step is not None:
        assert torch.equal(a.ideal_step, b.ideal_step)
    assert not torch.equal(a.x, c.x)


def small_options(name: str):
    return get_task(name).options({"n_train": 40, "n_val": 20, "n_test": 30}, "test")


@pytest.mark.parametrize("name", ["toy-runs", "toy-noise"])
def test_task_load_is_reproducible_and_splits_differ(name):
    task = get_task(name)
    options = small_options(name)
    a, b, c = task.load(options, 0), task.load(options, 0), task.load(options, 1)
    assert (len(a.train), len(a.val), len(a.test)) == (40, 20, 30)
    for split in ("train", "val", "test"):
        sa, sb, sc = getattr(a, split), getattr(b, split), getattr(c, split)
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y)
        assert not torch.equal(sa.x, sc.x)
    # train, val and test are drawn from different generators: compare equal-sized prefixes
    prefixes = [a.train.x[:20], a.val.x[:20], a.test.x[:20]]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not torch.equal(prefixes[i], prefixes[j])
    assert a.spec == TaskSpec(name, 40 if name == "toy-noise" else 25, 1, 2, "two-sided")
    assert "data seed 0" in a.source and "data seed 1" in c.source
    if name == "toy-runs":
        assert a.test.ideal_step is not None
    else:
        assert a.test.ideal_step is None


def test_task_options_are_used_by_load():
    task = get_task("toy-runs")
    data = task.load(task.options({"n_train": 10, "n_val": 4, "n_test": 6, "length": 12, "run": 4}, "t"), 3)
    assert data.train.x.shape == (10, 12, 1) and data.test.x.shape == (6, 12, 1)
    assert data.spec.n_steps == 12
    for bits, ideal in zip(rows(data.test.x[..., 0]), data.test.ideal_step.tolist()):
        assert ideal == brute_first_run_end(bits, 4)


def test_split_generator_and_balanced_labels():
    assert torch.equal(torch.rand(5, generator=split_generator(3, "val")),
                       torch.rand(5, generator=split_generator(3, "val")))
    assert not torch.equal(torch.rand(5, generator=split_generator(3, "val")),
                           torch.rand(5, generator=split_generator(3, "test")))
    with pytest.raises(ValueError, match="unknown split 'dev'.*train, val, test"):
        split_generator(0, "dev")
    labels = balanced_labels(7, torch.Generator().manual_seed(0))
    assert labels.dtype == torch.long and sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="at least 2 examples, got 1"):
        balanced_labels(1, torch.Generator())


# ----------------------------------------------------------------------------- options errors


@pytest.mark.parametrize("name", ["toy-runs", "toy-noise"])
def test_task_options_reject_unknown_key(name):
    with pytest.raises(OptionError, match=r"^my profile: unknown option\(s\) n_trian; known options: .*n_train"):
        get_task(name).options({"n_trian": 10}, "my profile")


@pytest.mark.parametrize("name", ["toy-runs", "toy-noise"])
@pytest.mark.parametrize("field", ["n_train", "n_val", "n_test"])
def test_task_options_reject_tiny_splits(name, field):
    with pytest.raises(OptionError, match=rf"^where: {field} must be >= 2, got 1$"):
        get_task(name).options({field: 1}, "where")


def test_task_options_reject_wrong_type():
    with pytest.raises(OptionError, match=r"where: option 'n_train' must be int, got '10'"):
        get_task("toy-noise").options({"n_train": "10"}, "where")
    with pytest.raises(OptionError, match=r"where: option 'length' must be int, got True"):
        get_task("toy-runs").options({"length": True}, "where")


def test_toy_noise_options_reject_std_low_above_std_high():
    with pytest.raises(OptionError, match=r"^where: std_low \(0\.3\) must not exceed std_high \(0\.2\)$"):
        get_task("toy-noise").options({"std_low": 0.3, "std_high": 0.2}, "where")


def test_toy_noise_options_reject_non_positive_values():
    with pytest.raises(OptionError, match=r"where: k must be > 0, got 0\.0"):
        get_task("toy-noise").options({"k": 0.0}, "where")
    with pytest.raises(OptionError, match=r"where: std_low must be > 0, got -0\.1"):
        get_task("toy-noise").options({"std_low": -0.1}, "where")


def test_toy_runs_options_reject_run_longer_than_length():
    with pytest.raises(OptionError, match=r"^where: run must lie in \[2, length=10\), got 11$"):
        get_task("toy-runs").options({"length": 10, "run": 11}, "where")
    with pytest.raises(OptionError, match=r"run must lie in \[2, length=25\), got 1"):
        get_task("toy-runs").options({"run": 1}, "where")
    with pytest.raises(OptionError, match=r"run must lie in \[2, length=25\), got 25"):
        get_task("toy-runs").options({"run": 25}, "where")


def test_task_options_defaults():
    noise = get_task("toy-noise").options({}, "where")
    assert (noise.n_train, noise.length, noise.k, noise.std_low, noise.std_high) == (4000, 40, 0.05, 0.05, 0.25)
    runs = get_task("toy-runs").options({}, "where")
    assert (runs.length, runs.run) == (25, 5)
    # an int is accepted for a float option
    assert get_task("toy-noise").options({"k": 1}, "where").k == 1.0


# ----------------------------------------------------------------------------- registry, Split, TaskSpec


def test_get_task_unknown_names_known_tasks():
    with pytest.raises(ValueError, match=r"unknown task 'nope'; known tasks: .*toy-noise.*toy-runs") as info:
        get_task("nope")
    for name in TASKS:
        assert name in str(info.value)


def test_registry_holds_the_toy_tasks():
    assert {"toy-noise", "toy-runs"} <= set(TASKS)
    assert get_task("toy-noise").name == "toy-noise"
    assert get_task("toy-runs").default_rule == "two-sided"


def test_split_rejects_mismatched_shapes():
    x = torch.zeros(3, 5, 1)
    with pytest.raises(ValueError, match=r"x must be shaped \(n, time, features\), got \(3, 5\)"):
        Split(torch.zeros(3, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must be shaped \(3,\), got \(4,\)"):
        Split(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must be shaped \(3,\), got \(3, 1\)"):
        Split(x, torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ideal_step must be shaped \(3,\), got \(2,\)"):
        Split(x, torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    assert len(Split(x, torch.zeros(3, dtype=torch.long), torch.ones(3, dtype=torch.long))) == 3


def test_split_batches_cover_every_example_once():
    x = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1)
    split = Split(x, torch.arange(10))
    ordered = list(split.batches(4))
    assert [b[1].tolist() for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled = list(split.batches(3, torch.Generator().manual_seed(0)))
    seen = torch.cat([y for _x, y in shuffled]).tolist()
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    for bx, by in shuffled:
        assert torch.equal(bx[:, 0, 0].long(), by)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        next(split.batches(0))


def test_task_spec_n_outputs():
    binary = TaskSpec("b", 10, 1, 2, "two-sided")
    assert binary.n_outputs("two-sided") == 1
    assert binary.n_outputs("sigmoid") == 2
    assert binary.n_outputs("softmax") == 2
    multi = TaskSpec("m", 10, 4, 5, "sigmoid")
    assert multi.n_outputs("sigmoid") == 5
    with pytest.raises(ValueError, match=r"rule 'two-sided' needs a binary task, but 'm' has 5 classes"):
        multi.n_outputs("two-sided")
