"""Split hygiene, for every registered task: no test example reaches training, validation or selection.

Driven by the task registry (:data:`bench.tasks.registry.TASKS`): each task needs a tiny data
set in :data:`FIXTURES` (generated, or files in the official layout written to a temporary
folder; nothing is downloaded), so a task without one fails.

Two checks per task:

- the task's own splits: no test example equals a training or validation example, with the
  validation and test splits of the same size (a test split drawn with the validation split's
  generator would then repeat it);
- the harness: a run of a spy contender, which records every input row it is given, must train
  on training rows only, validate (select) on exactly the validation rows, and be evaluated on
  exactly the test rows. Rows are told apart by their values, so the first check is what makes
  the second one exact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.lstm_eos import LSTMEndOfSequence
from baselines.registry import CONTENDERS, register_contender
from bench.core.task_contract import Sequences, TaskData
from bench.data.mnist import FASHION_MNIST, MNIST
from bench.run.harness import plan_jobs
from bench.run.jobs import run_jobs
from bench.run.profile import parse_profile
from bench.tasks.registry import TASKS, get_task
from bench.tasks import speech
from test_datasets_mnist import build_fixture
from test_speech_tasks import build_fsdd, build_gsc, build_shd

SEED = 0
"""The data seed of every load here."""


def generated(options: dict[str, Any]) -> Callable[[Path, pytest.MonkeyPatch], tuple[Path, dict[str, Any]]]:
    def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
        return tmp_path / "no-data-needed", options
    return make


def image_files(dataset) -> Callable[[Path, pytest.MonkeyPatch], tuple[Path, dict[str, Any]]]:
    def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
        fixture = build_fixture(tmp_path, monkeypatch, dataset, n_train=30, n_test=12)
        return fixture.data_dir, {"n_val": 6, "n_test": 6, "steps": 6}
    return make


def fsdd_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    build_fsdd(tmp_path / "data", speakers=("ann",), indices=range(0, 10))  # test: index 0-4, pool: 5-9
    return tmp_path / "data", {"n_val": 10, "frames": 8, "bands": 6}


def gsc_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    build_gsc(tmp_path / "data", "v0.01", per_word=3)  # per word: one test, one validation, one training clip
    return tmp_path / "data", {"version": "v0.01", "frames": 8, "bands": 6}


def shd_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    pytest.importorskip("tonic")
    build_shd(tmp_path / "data", n_train=12, n_test=4)
    return tmp_path / "data", {"n_val": 4, "steps": 10}


FIXTURES: dict[str, Callable[[Path, pytest.MonkeyPatch], tuple[Path, dict[str, Any]]]] = {
    "toy-noise": generated({"n_train": 24, "n_val": 10, "n_test": 10, "length": 8}),
    "toy-runs": generated({"n_train": 24, "n_val": 10, "n_test": 10}),
    "mnist-temporal": image_files(MNIST),
    "fmnist-temporal": image_files(FASHION_MNIST),
    "fsdd": fsdd_files,
    "gsc": gsc_files,
    "shd": shd_files,
}
"""Each task's tiny data set: ``(tmp_path, monkeypatch) -> (data folder, task options)``."""


def task_fixture(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    if name not in FIXTURES:
        pytest.fail(f"task {name!r} is registered but has no tiny data set for the split-hygiene tests: add one "
                    f"to FIXTURES in {__file__}")
    return FIXTURES[name](tmp_path, monkeypatch)


def dense(x: Sequences | Tensor) -> Tensor:
    return x[torch.arange(x.shape[0])] if not isinstance(x, Tensor) else x


def row_keys(x: Sequences | Tensor) -> list[bytes]:
    """One key per example: its values, exactly."""
    values = dense(x).detach().cpu().to(torch.float32).contiguous()
    return [row.numpy().tobytes() for row in values]


def load(name: str, data_dir: Path, options: dict[str, Any]) -> TaskData:
    task = get_task(name)
    return task.load(task.options(options, "split hygiene"), SEED, data_dir)


@pytest.fixture(autouse=True)
def empty_feature_cache():
    speech.FEATURE_CACHE.clear()
    yield
    speech.FEATURE_CACHE.clear()


TASK_NAMES = sorted(TASKS)


def test_every_registered_task_has_a_fixture() -> None:
    missing = sorted(set(TASK_NAMES) - set(FIXTURES))
    assert not missing, f"registered tasks without a tiny data set in FIXTURES: {missing}"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_no_test_example_is_also_a_training_or_validation_example(name, tmp_path, monkeypatch) -> None:
    data_dir, options = task_fixture(name, tmp_path, monkeypatch)
    data = load(name, data_dir, options)
    train, val, test = (row_keys(split.x) for split in (data.train, data.val, data.test))
    assert len(set(test)) == len(test) > 0 and len(val) > 0 and len(train) > 0
    for first, second in (("test", "training"), ("test", "validation"), ("validation", "training")):
        keys = {"test": set(test), "validation": set(val), "training": set(train)}
        shared = len(keys[first] & keys[second])
        assert shared == 0, f"{shared} {first} examples are also {second} examples"


@pytest.mark.parametrize("name", ["toy-noise", "toy-runs"])
def test_generated_splits_come_from_three_generators(name) -> None:
    """Validation and test splits of the same size and seed are still different examples."""
    for n in (2, 10):
        data = load(name, Path("unused"), {"n_train": n, "n_val": n, "n_test": n})
        keys = {split: set(row_keys(getattr(data, split).x)) for split in ("train", "val", "test")}
        assert not keys["test"] & keys["val"] and not keys["test"] & keys["train"]
        assert not keys["val"] & keys["train"]


# ----------------------------------------------------------------------------- the harness


SEEN: dict[str, list[Tensor]] = {"train": [], "validation": [], "evaluation": []}
"""What the spy contender was given, by where it was used."""


class SplitSpy(LSTMEndOfSequence):
    """``lstm-eos`` that records every input it trains on, validates on and is evaluated on."""

    name = "test-split-spy"
    description = "test only: records the inputs of training, validation and evaluation"

    def fit(self, train, val, progress):
        self._in_fit = True
        try:
            return super().fit(train, val, progress)
        finally:
            self._in_fit = False

    def _record(self, x) -> None:
        SEEN["validation" if getattr(self, "_in_fit", False) else "evaluation"].append(dense(x).detach().cpu().clone())

    def objective(self, x, y):
        SEEN["train"].append(x.detach().cpu().clone())
        return super().objective(x, y)

    def decide(self, x):
        self._record(x)
        return super().decide(x)

    def step_scores(self, x):
        self._record(x)
        return super().step_scores(x)

    def operations_to_decision(self, x, decision):
        self._record(x)
        return super().operations_to_decision(x, decision)


@pytest.fixture
def spy():
    """Register :class:`SplitSpy` for one test; unregister it and forget what it saw afterwards."""
    for rows in SEEN.values():
        rows.clear()
    register_contender(SplitSpy)
    yield SEEN
    CONTENDERS.unregister(SplitSpy.name)
    for rows in SEEN.values():
        rows.clear()


def spy_profile(name: str, options: dict[str, Any]):
    return parse_profile({
        "name": "split-hygiene", "seeds": [0], "data_seed": SEED,
        "protocol": {"epochs": 2, "lr_schedule": "constant", "selection": "best-val-accuracy"},
        "contenders": {SplitSpy.name: {"hidden": 4, "batch_size": 8, "eval_batch_size": 5}},
        "tasks": {name: {"thresholds": [0.9], "data": options}},
    }, "split-hygiene")


@pytest.mark.parametrize("name", TASK_NAMES)
def test_harness_trains_and_selects_without_the_test_split(name, tmp_path, monkeypatch, spy) -> None:
    data_dir, options = task_fixture(name, tmp_path, monkeypatch)
    data = load(name, data_dir, options)
    train, val, test = (set(row_keys(split.x)) for split in (data.train, data.val, data.test))
    assert not test & train and not test & val  # so that a row's values tell its split

    profile = spy_profile(name, options)
    result = run_jobs(plan_jobs(profile, [name], [SplitSpy.name]), profile, tmp_path / "out" / "results.jsonl",
                      torch.device("cpu"), progress=lambda _line: None, data_dir=data_dir)
    assert len(result.written) == 1 and not result.failures
    assert result.written[0]["test_size"] == len(data.test)

    trained = [key for batch in spy["train"] for key in row_keys(batch)]
    validated = [row_keys(batch) for batch in spy["validation"]]
    evaluated = [key for batch in spy["evaluation"] for key in row_keys(batch)]
    assert trained and validated and evaluated
    leaked = len(set(trained) & test)
    assert leaked == 0, f"{leaked} test examples reached training"
    assert set(trained) == train, "training did not read exactly the training split"
    assert len(trained) == 2 * len(train)  # two epochs, each example once
    assert len(validated) == 2  # one validation per epoch, for the selection
    for keys in validated:
        leaked = len(set(keys) & test)
        assert leaked == 0, f"{leaked} test examples reached validation (model selection)"
        assert keys == row_keys(data.val.x), "validation did not read exactly the validation split"
    assert set(evaluated) == test, "evaluation did not read exactly the test split"
