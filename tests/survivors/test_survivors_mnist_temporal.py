"""Tests written for the mutants of ``bench/tasks/mnist_temporal.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import bench.tasks  # noqa: F401  (registers the built-in tasks)
from bench.core.task_contract import TaskSpec
from bench.tasks.mnist_temporal import MnistTemporal, MnistTemporalOptions, check_sizes
from bench.tasks.registry import get_task


def packaged_subset(n: int):
    generator = np.random.default_rng(3)
    images = generator.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return lambda: (images, (np.arange(n) % 10).astype(np.uint8))


def load(data_dir, **values):
    task = get_task("mnist-temporal")
    return task.load(task.options({"fallback": True, **values}, "test"), 0, data_dir)


def test_the_fallback_data_has_the_tasks_spec(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(40)))
    data = load(tmp_path / "empty", n_val=5, n_test=10, n_train=8, steps=12)
    assert data.spec == TaskSpec("mnist-temporal", 12, 784, 10, "sigmoid", (28, 28))


def test_fallback_sizes_are_checked_against_the_images_left_after_the_test_split(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(40)))
    # 40 images, 10 for test: 30 left, so 25 + 6 do not fit
    with pytest.raises(ValueError, match=r"^n_val \(6\) \+ n_train \(25\) exceeds the 30 training images in "
                                         r"the packaged fallback subset \(task mnist-temporal\)$"):
        load(tmp_path / "empty", n_val=6, n_test=10, n_train=25)
    data = load(tmp_path / "empty", n_val=5, n_test=10, n_train=25)
    assert (len(data.train), len(data.val), len(data.test)) == (25, 5, 10)


def test_a_task_without_a_fallback_names_the_fetch_command_for_its_data_dir(tmp_path) -> None:
    task = get_task("fmnist-temporal")
    with pytest.raises(ValueError, match=rf"fmnist-temporal has no packaged fallback; rcbench data fetch fmnist "
                                         rf"--data-dir {tmp_path / 'empty'}$"):
        task.load(task.options({"fallback": True}, "test"), 0, tmp_path / "empty")


def test_without_n_train_the_validation_split_may_leave_exactly_one_training_image() -> None:
    """n_train None takes every training image not used for validation: at least 1 must be left."""
    check_sizes(MnistTemporalOptions(n_val=29), 30, 10, "here")
    with pytest.raises(ValueError, match=r"^n_val \(30\) \+ n_train \(at least 1\) exceeds the 30 training images "
                                         r"in here$"):
        check_sizes(MnistTemporalOptions(n_val=30), 30, 10, "here")


class FlushRecorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())
        super().flush()


def test_the_fallback_notice_is_flushed_to_stderr_at_once(tmp_path, monkeypatch) -> None:
    """Whatever stderr is (a file, a pipe to a log), the notice that the data is the fallback is out before
    the run goes on."""
    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(40)))
    stderr = FlushRecorder()
    monkeypatch.setattr(sys, "stderr", stderr)
    data = load(tmp_path / "empty", n_val=5, n_test=10, n_train=8, steps=12)
    notice = f"rcbench: mnist-temporal: {data.source}\n"
    assert stderr.getvalue() == notice
    assert stderr.flushed == [notice]


def test_a_split_of_one_image_is_a_valid_size() -> None:
    options = MnistTemporalOptions(n_train=1, n_val=1, n_test=1)
    assert (options.n_train, options.n_val, options.n_test) == (1, 1, 1)
    with pytest.raises(ValueError, match=r"^n_train must be an integer >= 1 \(or left out for all\), got 0$"):
        MnistTemporalOptions(n_train=0)
    with pytest.raises(ValueError, match=r"^n_val must be an integer >= 1, got None$"):
        MnistTemporalOptions(n_val=None)
