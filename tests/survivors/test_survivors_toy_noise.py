"""Tests written for the mutants of ``bench/tasks/toy_noise.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch

import bench.tasks  # noqa: F401  (registers the built-in tasks)
from bench.tasks.registry import get_task
from bench.tasks.seeding import split_generator
from bench.tasks.toy_noise import ToyNoiseOptions, make_toy_noise


def test_the_toy_noise_task_draws_each_split_with_every_option_it_is_given() -> None:
    """length, k and both ends of the noise range reach the generator (std_high above its default of 0.25)."""
    task = get_task("toy-noise")
    options = task.options({"n_train": 12, "n_val": 6, "n_test": 8, "length": 7, "k": 0.5,
                            "std_low": 0.75, "std_high": 1.5}, "test")
    data = task.load(options, 3)
    for name, n in (("train", 12), ("val", 6), ("test", 8)):
        split = getattr(data, name)
        expected = make_toy_noise(n, split_generator(3, name), length=7, k=0.5, std_low=0.75, std_high=1.5)
        assert torch.equal(split.x, expected.x) and torch.equal(split.y, expected.y)


def test_a_toy_noise_task_with_one_noise_level_has_that_noise_in_every_sequence() -> None:
    task = get_task("toy-noise")
    options = task.options({"n_train": 64, "n_val": 2, "n_test": 2, "length": 4000, "k": 1.0,
                            "std_low": 2.0, "std_high": 2.0}, "test")
    train = task.load(options, 0).train
    noise = train.x[..., 0].double() - (train.y * 2 - 1)[:, None].double()
    std = noise.std(dim=1)
    assert float(std.min()) > 1.9 and float(std.max()) < 2.1


@pytest.mark.parametrize("field, value", [("length", 0), ("length", -3), ("k", 0.0), ("std_low", -0.1)])
def test_toy_noise_options_refuse_a_length_k_or_lowest_noise_that_is_not_positive(field, value) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be > 0, got {value!r}$"):
        ToyNoiseOptions(**{field: value})


def test_toy_noise_options_refuse_a_noise_range_whose_low_end_exceeds_its_high_end() -> None:
    with pytest.raises(ValueError, match=r"^std_low \(0\.3\) must not exceed std_high \(0\.2\)$"):
        ToyNoiseOptions(std_low=0.3, std_high=0.2)
    assert ToyNoiseOptions(std_low=0.2, std_high=0.2).std_high == 0.2  # one noise level is a range
