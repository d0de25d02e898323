"""Tests of the rank-coded image tasks ``mnist-temporal`` and ``fmnist-temporal`` (bench/tasks/mnist_temporal.py).

They read fixture folders in the official layout (see tests/test_datasets_mnist.py); nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bench.tasks  # noqa: F401  (registers the built-in tasks)
from bench.cli import main
from bench.data.mnist import FASHION_MNIST, MNIST, DataFileError
from bench.data.encoding import LatencyCoded, encode
from bench.core.options import OptionError
from bench.core.task_contract import TaskSpec
from bench.tasks.mnist_temporal import MnistTemporalOptions, carve_train_val, pick_test
from bench.tasks.registry import TASKS, get_task
from test_datasets_mnist import REAL, build_fixture, needs_real_mnist

SMALL = {"n_val": 6, "n_test": 5}


def load(name: str, data_dir, seed: int = 0, **values):
    task = get_task(name)
    return task.load(task.options({**SMALL, **values}, "test"), seed, data_dir)


def rows_of(images: np.ndarray, x: LatencyCoded) -> list[int]:
    """Which row of ``images`` each row of ``x`` encodes (by comparing the stored spike indices)."""
    lookup = {row.tobytes(): i for i, row in enumerate(encode(images.reshape(len(images), -1), "authors", 20))}
    return [lookup[row.tobytes()] for row in x.steps.numpy()]


# ----------------------------------------------------------------------------- registration and options


def test_both_tasks_are_registered_as_downloads_with_the_sigmoid_rule():
    for name in ("mnist-temporal", "fmnist-temporal"):
        task = get_task(name)
        assert name in TASKS and task.needs_download and task.default_rule == "sigmoid"
    assert get_task("mnist-temporal").dataset is MNIST and get_task("fmnist-temporal").dataset is FASHION_MNIST


def test_rcbench_list_marks_them_as_needing_a_download(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, key in (("mnist-temporal", "mnist"), ("fmnist-temporal", "fmnist")):
        line = next(line for line in lines if line.startswith(f"  {name} "))
        assert line.endswith(f"(needs a download: rcbench data fetch {key})")


def test_options_defaults():
    options = get_task("mnist-temporal").options({}, "where")
    assert options == MnistTemporalOptions(n_train=None, n_val=5000, n_test=None, steps=20, encoding="authors",
                                           fallback=False)


@pytest.mark.parametrize("values, message", [
    ({"encoding": "rank"}, r"^where: unknown encoding 'rank'; known encodings: authors, authors-notebook, "
     r"normalized, normalized-notebook$"),
    ({"n_val": 0}, r"^where: n_val must be an integer >= 1, got 0$"),
    ({"n_train": 0}, r"^where: n_train must be an integer >= 1 \(or left out for all\), got 0$"),
    ({"n_train": "10"}, r"^where: n_train must be an integer >= 1 \(or left out for all\), got '10'$"),
    ({"n_test": True}, r"^where: n_test must be an integer >= 1 \(or left out for all\), got True$"),
    ({"steps": 0}, r"^where: steps must be an integer in \[1, 255\], got 0$"),
    ({"steps": 256}, r"^where: steps must be an integer in \[1, 255\], got 256$"),
    ({"encoding": 3}, r"^where: option 'encoding' must be str, got 3$"),
    ({"n_tset": 3}, r"^where: unknown option\(s\) n_tset; known options: encoding, fallback, n_test, n_train, n_val, steps$"),
])
def test_options_errors(values, message):
    with pytest.raises(OptionError, match=message):
        get_task("mnist-temporal").options(values, "where")


# ----------------------------------------------------------------------------- loading fixture folders


def test_load_shapes_labels_and_spec(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    data = load("mnist-temporal", fixture.data_dir)
    assert data.spec == TaskSpec("mnist-temporal", 20, 784, 10, "sigmoid", (28, 28))
    assert (len(data.train), len(data.val), len(data.test)) == (24, 6, 5)
    for split in (data.train, data.val, data.test):
        assert isinstance(split.x, LatencyCoded) and split.x.shape[1:] == (20, 784)
        assert split.y.dtype == torch.long
        batch = split.x[torch.arange(len(split))]
        assert batch.dtype == torch.float32 and torch.all(batch.sum(dim=1) <= 1)
    train_rows = rows_of(fixture.arrays["train_images"], data.train.x)
    assert data.train.y.tolist() == fixture.arrays["train_labels"][train_rows].tolist()


def test_validation_is_carved_from_the_training_set_and_test_is_the_test_set(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    data = load("mnist-temporal", fixture.data_dir, n_test=12)
    train_rows = rows_of(fixture.arrays["train_images"], data.train.x)
    val_rows = rows_of(fixture.arrays["train_images"], data.val.x)
    assert sorted(train_rows + val_rows) == list(range(30))
    assert train_rows == sorted(train_rows) and val_rows == sorted(val_rows)
    assert rows_of(fixture.arrays["test_images"], data.test.x) == list(range(12))
    assert data.val.y.tolist() == fixture.arrays["train_labels"][val_rows].tolist()
    assert data.test.y.tolist() == fixture.arrays["test_labels"].tolist()


def test_defaults_take_every_remaining_training_image_and_the_whole_test_set(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    task = get_task("mnist-temporal")
    data = task.load(task.options({"n_val": 10}, "test"), 0, fixture.data_dir)
    assert (len(data.train), len(data.val), len(data.test)) == (20, 10, 12)


def test_subsets_are_deterministic_in_the_seed(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    a, b = load("mnist-temporal", fixture.data_dir, 4), load("mnist-temporal", fixture.data_dir, 4)
    c = load("mnist-temporal", fixture.data_dir, 5)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).x.steps, getattr(b, split).x.steps)
        assert torch.equal(getattr(a, split).y, getattr(b, split).y)
    assert not torch.equal(a.val.x.steps, c.val.x.steps)
    assert not torch.equal(a.test.x.steps, c.test.x.steps)


def test_n_train_takes_a_subset_of_the_remaining_images(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    full = load("mnist-temporal", fixture.data_dir)
    part = load("mnist-temporal", fixture.data_dir, n_train=7)
    assert len(part.train) == 7 and torch.equal(part.val.x.steps, full.val.x.steps)
    images = fixture.arrays["train_images"]
    assert set(rows_of(images, part.train.x)) <= set(rows_of(images, full.train.x))


def test_carve_and_pick_indices():
    train, val = carve_train_val(100, None, 10, seed=3)
    assert len(val) == 10 and len(train) == 90
    assert sorted(train.tolist() + val.tolist()) == list(range(100))
    train_part, val_again = carve_train_val(100, 25, 10, seed=3)
    assert torch.equal(val, val_again) and set(train_part.tolist()) <= set(train.tolist())
    assert torch.equal(pick_test(50, None, seed=3), torch.arange(50))
    test = pick_test(50, 20, seed=3)
    assert len(test) == 20 and len(set(test.tolist())) == 20 and test.tolist() == sorted(test.tolist())


def test_encoding_and_steps_options_are_used(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    authors = load("mnist-temporal", fixture.data_dir)
    normalized = load("mnist-temporal", fixture.data_dir, encoding="normalized")
    short = load("mnist-temporal", fixture.data_dir, steps=5)
    assert torch.equal(authors.val.y, normalized.val.y)
    assert (normalized.val.x.steps == 0).sum() > (authors.val.x.steps == 0).sum()
    assert short.spec.n_steps == 5 and short.train.x.shape == (24, 5, 784)
    assert "encoding 'normalized', 20 steps" in normalized.source


def test_source_names_folder_encoding_and_sizes(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch, FASHION_MNIST)
    data = load("fmnist-temporal", fixture.data_dir, seed=7)
    assert data.source == (
        f"Fashion-MNIST files in {fixture.data_dir / 'fashion-mnist'}; rank-order encoding 'authors', 20 steps; "
        f"train 24 and val 6 of the 30 training images (split by data seed 7); test 5 of the 12 test images")


def test_minibatches_of_a_lazy_split_are_dense(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    data = load("mnist-temporal", fixture.data_dir)
    batches = list(data.train.batches(10, torch.Generator().manual_seed(0)))
    assert [tuple(x.shape) for x, _ in batches] == [(10, 20, 784), (10, 20, 784), (4, 20, 784)]
    assert sum(int(y.numel()) for _, y in batches) == 24


@pytest.mark.parametrize("values, message", [
    ({"n_val": 30}, r"n_val \(30\) \+ n_train \(at least 1\) exceeds the 30 training images in .*mnist \(task "
                    r"mnist-temporal\)"),
    ({"n_train": 25}, r"n_val \(6\) \+ n_train \(25\) exceeds the 30 training images"),
    ({"n_test": 13}, r"n_test \(13\) exceeds the 12 test images in "),
])
def test_sizes_beyond_the_files_are_errors(tmp_path, monkeypatch, values, message):
    fixture = build_fixture(tmp_path, monkeypatch)
    with pytest.raises(ValueError, match=message):
        load("mnist-temporal", fixture.data_dir, **values)


def test_missing_data_is_reported_before_loading(tmp_path, monkeypatch):
    task = get_task("mnist-temporal")
    fixture = build_fixture(tmp_path, monkeypatch)
    assert task.missing_data(task.options({}, "test"), fixture.data_dir) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    message = task.missing_data(task.options({}, "test"), empty)
    assert "MNIST file train-images-idx3-ubyte" in message and "rcbench data fetch mnist" in message
    assert task.missing_data(task.options({"fallback": True}, "test"), empty) is None  # the packaged subset
    next((fixture.data_dir / "mnist").glob("t10k-labels*")).unlink()
    message = task.missing_data(task.options({"fallback": True}, "test"), fixture.data_dir)
    assert "t10k-labels-idx1-ubyte" in message  # a partial folder is never a reason to fall back


def test_missing_files_say_how_to_fetch_them(tmp_path):
    with pytest.raises(DataFileError, match=r"Fashion-MNIST file train-images-idx3-ubyte .* not found in "
                                            r".*fashion-mnist. Download it with `rcbench data fetch fmnist "):
        load("fmnist-temporal", tmp_path)


def packaged_subset(n: int = 60):
    """A stand-in for the packaged fallback images: ``n`` distinct images, labels 0..9."""
    generator = np.random.default_rng(7)
    images = generator.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return lambda: (images, (np.arange(n) % 10).astype(np.uint8))


def test_fallback_carves_every_split_from_the_packaged_subset(tmp_path, monkeypatch, capsys):
    from bench.tasks.mnist_temporal import MnistTemporal

    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(60)))
    data = load("mnist-temporal", tmp_path / "empty", n_val=10, n_test=15, n_train=20, fallback=True)
    assert (len(data.train), len(data.val), len(data.test)) == (20, 10, 15)
    assert data.source.startswith("FALLBACK (no MNIST files in")
    assert "FALLBACK" in capsys.readouterr().err
    images, _labels = MnistTemporal.fallback_images()
    rows = [set(rows_of(images, split.x)) for split in (data.train, data.val, data.test)]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    again = load("mnist-temporal", tmp_path / "empty", n_val=10, n_test=15, n_train=20, fallback=True)
    assert torch.equal(again.test.y, data.test.y)


def test_fallback_is_not_used_without_the_option_or_over_damaged_files(tmp_path, monkeypatch):
    from bench.tasks.mnist_temporal import MnistTemporal

    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(60)))
    with pytest.raises(DataFileError, match="rcbench data fetch mnist"):
        load("mnist-temporal", tmp_path / "empty")
    fixture = build_fixture(tmp_path, monkeypatch)
    labels = fixture.data_dir / MNIST.folder / MNIST.files["test_labels"].name
    damaged = next(labels.parent.glob(labels.name + "*"))
    damaged.write_bytes(damaged.read_bytes()[:-3])
    with pytest.raises(ValueError, match=str(damaged.name)):
        load("mnist-temporal", fixture.data_dir, fallback=True)


def test_fashion_mnist_has_no_fallback(tmp_path):
    with pytest.raises(ValueError, match="fmnist-temporal has no packaged fallback; .*rcbench data fetch fmnist"):
        load("fmnist-temporal", tmp_path / "empty", fallback=True)


def test_data_dir_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    monkeypatch.setenv("RCBENCH_DATA_DIR", str(fixture.data_dir))
    task = get_task("mnist-temporal")
    assert len(task.load(task.options(SMALL, "test"), 0).test) == 5


# ----------------------------------------------------------------------------- the real MNIST files


@needs_real_mnist
def test_real_mnist_task_loads_the_official_sets():
    data = get_task("mnist-temporal").load(get_task("mnist-temporal").options({}, "real"), 0, REAL)
    assert (len(data.train), len(data.val), len(data.test)) == (55000, 5000, 10000)
    assert data.spec == TaskSpec("mnist-temporal", 20, 784, 10, "sigmoid", (28, 28))
    assert str(REAL / "mnist") in data.source
    first_step = (data.test.x.steps[:1000] == 0).sum(dim=1).float().mean().item()
    assert 55 < first_step < 65
