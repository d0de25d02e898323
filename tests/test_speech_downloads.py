"""Tests of fetching and checking the spoken-word data sets: ``rcbench data fetch|check fsdd|gsc|shd``
(bench/data/{archives,fsdd,gsc,shd,catalog}.py).

Nothing here reaches the internet: tiny archives in each official layout are
generated into tmp_path, served by an HTTP server on 127.0.0.1, and the pinned
hashes (or the FSDD digest) are patched to the fixtures'.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bench.data.audio import write_wav
from bench.cli import main
from bench.data import fsdd, gsc, shd
from bench.data.archives import (
    UnsafeArchiveError,
    extract_tar,
    read_record,
    staging_folder,
    tree_digest,
)
from bench.data.download import DownloadError
import real_data

REAL_FSDD = real_data.data_folder_with("fsdd/recordings")


# ----------------------------------------------------------------------------- helpers (the local HTTP server: conftest.py)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary and staging names (``*.part``, ``*.old``) left in ``folder``."""
    if not folder.exists():
        return []
    return sorted(name for name in os.listdir(folder) if name.endswith((".part", ".old")))


def wav_bytes(seed: int, rate: int, seconds: float) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    import soundfile
    soundfile.write(buffer, (0.1 * rng.standard_normal(int(rate * seconds))).astype(np.float32), rate,
                    subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


# ----------------------------------------------------------------------------- gsc fixtures


def gsc_archive(path: Path, version: str = "v0.01", extra=()) -> dict[str, bytes]:
    """A tiny archive in the official layout (members ``./<word>/<hash>_nohash_<n>.wav``, the two lists,
    ``./_background_noise_/``, README); ``extra`` adds (name, bytes) or TarInfo members. Returns the files."""
    files: dict[str, bytes] = {}
    test, val = [], []
    for w, word in enumerate(gsc.WORDS[version]):
        for n in range(2):
            name = f"{word}/{w:04x}beef_nohash_{n}.wav"
            files[name] = wav_bytes(w * 2 + n, 16000, 0.05)
            if w % 2 == 0:  # even words: clip 0 is a test clip, clip 1 a validation clip; odd words: training
                (test if n == 0 else val).append(name)
    files["testing_list.txt"] = ("\n".join(test) + "\n").encode()
    files["validation_list.txt"] = ("\n".join(val) + "\n").encode()
    files["_background_noise_/white_noise.wav"] = wav_bytes(99, 16000, 0.2)
    files["README.md"] = b"Speech Commands fixture\n"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            add_file(tar, f"./{name}", data)
        for member in extra:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                add_file(tar, *member)
    return files


@pytest.fixture
def gsc_served(server, monkeypatch):
    """A v0.01 fixture archive under ``www/mirror/``, its hash pinned; yields (base URL, files, requests)."""
    root, base, requests = server
    (root / "mirror").mkdir()
    archive = root / "mirror" / "speech_commands_v0.01.tar.gz"
    files = gsc_archive(archive)
    monkeypatch.setitem(gsc.ARCHIVE_SHA256, "v0.01", sha256(archive))
    return f"{base}/mirror", files, requests


def test_gsc_fetch_downloads_verifies_and_extracts_the_official_layout(tmp_path, gsc_served):
    base, files, requests = gsc_served
    data_dir = tmp_path / "data"
    lines = []
    assert gsc.fetch(data_dir, "v0.01", [base], lines.append) == [data_dir / "speech_commands_v0.01"]
    folder = data_dir / "speech_commands_v0.01"
    for name, data in files.items():
        assert (folder / name).read_bytes() == data
    index = gsc.index(data_dir, "v0.01")
    assert len(index.clips) == 60 and index.listed_absent == {"val": 0, "test": 0}
    assert {c.split for c in index.clips} == {"train", "val", "test"}
    record = read_record(folder, folder=True)
    assert record["sha256"] == gsc.ARCHIVE_SHA256["v0.01"]
    assert record["source"] == f"{base}/speech_commands_v0.01.tar.gz"
    assert (record["digest"], record["files"]) == tree_digest(folder) and record["files"] == len(files)
    assert not (data_dir / "speech_commands_v0.01.tar.gz").exists() and leftovers(data_dir) == []
    assert any(line.startswith(f"downloading {base}/speech_commands_v0.01.tar.gz") for line in lines)
    status = gsc.check(data_dir, "v0.01")
    assert status.state == "ok" and "60 clips" in status.detail and "unchanged" in status.detail
    # a second fetch finds it verified and downloads nothing
    assert gsc.fetch(data_dir, "v0.01", [base], lines.append) == [folder]
    assert len(requests) == 1 and lines[-1] == f"{folder}: present and verified"


def test_gsc_hash_mismatch_is_an_error_naming_the_file_and_leaves_nothing(tmp_path, gsc_served, monkeypatch):
    base, _files, _requests = gsc_served
    monkeypatch.setitem(gsc.ARCHIVE_SHA256, "v0.01", "0" * 64)
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        gsc.fetch(data_dir, "v0.01", [base], lambda line: None)
    message = str(info.value)
    assert message.startswith("could not download speech_commands_v0.01.tar.gz; every mirror failed:\n  "
                              f"{base}/speech_commands_v0.01.tar.gz: not the official speech_commands_v0.01.tar.gz: "
                              f"SHA-256 ")
    assert f"expected {'0' * 64}" in message
    assert f"Download {gsc.URLS['v0.01']} by hand" in message
    assert os.listdir(data_dir) == []


@pytest.mark.parametrize("member", ["../evil.wav", "yes/../../evil.wav", "/tmp/evil.wav", "symlink", "hardlink"])
def test_gsc_archive_with_an_unsafe_member_is_refused(tmp_path, server, monkeypatch, member):
    root, base, _requests = server
    archive = root / "speech_commands_v0.01.tar.gz"
    if member in ("symlink", "hardlink"):
        info = tarfile.TarInfo("./yes/0000dead_nohash_0.wav")
        info.type = tarfile.SYMTYPE if member == "symlink" else tarfile.LNKTYPE
        info.linkname = "../../../../etc/passwd"
        extra, shown = [info], "./yes/0000dead_nohash_0.wav"
    else:
        extra, shown = [(member, b"evil")], member
    gsc_archive(archive, extra=extra)
    monkeypatch.setitem(gsc.ARCHIVE_SHA256, "v0.01", sha256(archive))
    data_dir = tmp_path / "deep" / "data"
    with pytest.raises(UnsafeArchiveError, match=rf"refusing member '{shown}'") as info:
        gsc.fetch(data_dir, "v0.01", [base], lambda line: None)
    assert str(data_dir / "speech_commands_v0.01.tar.gz") in str(info.value)
    assert not (tmp_path / "evil.wav").exists() and not (tmp_path / "deep" / "evil.wav").exists()
    assert not (data_dir / "speech_commands_v0.01").exists()
    assert os.listdir(data_dir) == []  # no staging folder, and the useless archive is removed


def test_gsc_check_finds_changes_after_the_fetch_and_fetch_repairs_them(tmp_path, gsc_served):
    base, _files, requests = gsc_served
    data_dir = tmp_path / "data"
    gsc.fetch(data_dir, "v0.01", [base], lambda line: None)
    folder = data_dir / "speech_commands_v0.01"
    next((folder / "yes").iterdir()).unlink()
    status = gsc.check(data_dir, "v0.01")
    assert status.state == "BAD" and "changed since the fetch" in status.detail
    lines = []
    gsc.fetch(data_dir, "v0.01", [base], lines.append)
    assert lines[0].startswith(f"{folder} will be replaced: ") and len(requests) == 2
    assert gsc.check(data_dir, "v0.01").state == "ok" and leftovers(data_dir) == []


def test_gsc_uses_an_archive_already_in_the_data_folder(tmp_path, gsc_served):
    base, _files, requests = gsc_served
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "speech_commands_v0.01.tar.gz").write_bytes(
        (tmp_path / "www" / "mirror" / "speech_commands_v0.01.tar.gz").read_bytes())
    lines = []
    gsc.fetch(data_dir, "v0.01", ["http://127.0.0.1:9/nothing-here"], lines.append)
    assert requests == [] and "present and verified; not downloading it again" in lines[0]
    assert gsc.check(data_dir, "v0.01").state == "ok"


def test_gsc_check_of_a_folder_extracted_by_hand(tmp_path):
    data_dir = tmp_path / "data"
    archive = tmp_path / "a.tar.gz"
    gsc_archive(archive)
    (data_dir / "speech_commands_v0.01").mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(data_dir / "speech_commands_v0.01", filter="data")
    status = gsc.check(data_dir, "v0.01")
    assert status.state == "present" and not status.failed and "no fetch record" in status.detail
    (data_dir / "speech_commands_v0.01" / "banana").mkdir()
    status = gsc.check(data_dir, "v0.01")
    assert status.state == "BAD" and "banana" in status.detail


# ----------------------------------------------------------------------------- fsdd fixtures

TOP = "free-spoken-digit-dataset-1.0.10"


def fsdd_archive(path: Path, seed: int = 0, extra=()) -> dict[str, bytes]:
    """A GitHub-style archive: ``<top>/recordings/*.wav`` (2 speakers x 10 digits x 2), README, code;
    returns the WAVs by name."""
    recordings = {f"{d}_{speaker}_{i}.wav": wav_bytes(seed + 100 * d + 10 * s + i, 8000, 0.03)
                  for d in range(10) for s, speaker in enumerate(("ann", "bob")) for i in range(2)}
    # GitHub's tarballs start with a pax global header holding the commit
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": fsdd.OFFICIAL_COMMIT}) as tar:
        add_file(tar, f"{TOP}/README.md", b"FSDD fixture\n")
        add_file(tar, f"{TOP}/acquire_data/split_and_label_numbers.py", b"print('hi')\n")
        for name, data in recordings.items():
            add_file(tar, f"{TOP}/recordings/{name}", data)
        for member in extra:
            add_file(tar, *member)
    return recordings


def digest_of(recordings: dict[str, bytes]) -> str:
    lines = [f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(recordings.items())]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_fsdd_fetch_extracts_only_the_recordings_verified_by_digest(tmp_path, server, monkeypatch):
    root, base, requests = server
    (root / "bad").mkdir()
    (root / "good").mkdir()
    fsdd_archive(root / "bad" / "v1.0.10.tar.gz", seed=1)  # other recordings: the digest differs
    recordings = fsdd_archive(root / "good" / "v1.0.10.tar.gz")
    monkeypatch.setattr(fsdd, "OFFICIAL_DIGEST", digest_of(recordings))
    data_dir = tmp_path / "data"
    lines = []
    assert fsdd.fetch(data_dir, [f"{base}/bad", f"{base}/good"], lines.append) == [data_dir / "fsdd" / "recordings"]
    folder = data_dir / "fsdd" / "recordings"
    assert sorted(os.listdir(folder)) == sorted(recordings)
    assert all((folder / name).read_bytes() == data for name, data in recordings.items())
    assert sorted(os.listdir(data_dir / "fsdd")) == ["recordings"]  # no archive, no staging folder
    assert any("its 40 recordings are not the official ones: digest " in line for line in lines)
    assert fsdd.check(data_dir).state == "ok"
    assert fsdd.read_clips(data_dir).official
    fsdd.fetch(data_dir, [f"{base}/good"], lines.append)
    assert len(requests) == 2 and lines[-1] == f"{folder}: present and verified"


def test_fsdd_default_urls_are_the_tag_then_the_pinned_commit():
    repository = "https://github.com/Jakobovski/free-spoken-digit-dataset"
    assert fsdd.ARCHIVE_URLS == (f"{repository}/archive/refs/tags/v1.0.10.tar.gz",
                                 f"{repository}/archive/26eb9aaf76e81b692f806f9140c2d2777410d7a1.tar.gz")


@pytest.mark.parametrize("damage", ["digest", "truncated", "traversal"])
def test_fsdd_bad_archives_are_refused_naming_the_file(tmp_path, server, monkeypatch, damage):
    root, base, _requests = server
    archive = root / "v1.0.10.tar.gz"
    extra = [(f"{TOP}/recordings/../../../evil.wav", b"evil")] if damage == "traversal" else []
    recordings = fsdd_archive(archive, extra=extra)
    monkeypatch.setattr(fsdd, "OFFICIAL_DIGEST", digest_of(recordings) if damage != "digest" else "0" * 64)
    if damage == "truncated":
        archive.write_bytes(archive.read_bytes()[:-200])
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        fsdd.fetch(data_dir, [base], lambda line: None)
    message = str(info.value)
    assert message.startswith(f"could not download v1.0.10.tar.gz; every mirror failed:\n  {base}/v1.0.10.tar.gz: ")
    assert {"digest": f"its 40 recordings are not the official ones: digest {digest_of(recordings)}, expected "
                      f"{'0' * 64}",
            "truncated": "not a readable .tar.gz archive",
            "traversal": f"refusing member '{TOP}/recordings/../../../evil.wav'"}[damage] in message
    assert "Get the recordings by hand instead: Get the recordings with `git clone" in message
    assert not (tmp_path / "evil.wav").exists() and not (data_dir / "evil.wav").exists()
    assert os.listdir(data_dir / "fsdd") == []


def test_recordings_digest_is_read_clips_digest(tmp_path):
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for d in range(3):
        write_wav(folder / f"{d}_ann_0.wav", np.zeros(100, dtype=np.float32) + 0.01 * d, 8000)
    assert fsdd.recordings_digest(fsdd.scan(tmp_path)) == fsdd.read_clips(tmp_path).digest
    assert tree_digest(folder)[0] == fsdd.read_clips(tmp_path).digest


@pytest.mark.skipif(REAL_FSDD is None, reason=real_data.where_to_put("fsdd/recordings"))
def test_real_fsdd_checks_as_the_official_recordings():
    status = fsdd.check(REAL_FSDD)
    assert status.state == "ok" and status.detail.startswith("3000 recordings, digest 1801eae019c06337")


# ----------------------------------------------------------------------------- shd fixtures


def write_shd(path: Path, n: int, seed: int) -> None:
    """An HDF5 file in the official SHD layout with ``n`` recordings."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as file:
        t = file.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        u = file.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            t[i] = np.sort(rng.uniform(0, 1, 20)).astype(np.float16)
            u[i] = rng.integers(0, 700, 20).astype(np.uint16)
        file.create_dataset("labels", data=(np.arange(n) % 20).astype(np.uint16))
        file.create_dataset("extra/keys", data=np.array([b"zero"] * 20))
        file.create_dataset("extra/speaker", data=np.zeros(n, dtype=np.uint16))


def shd_archives(folder: Path, kind: str = "zip", member: str | None = None) -> dict[str, bytes]:
    """``shd_{train,test}.h5.zip`` (or ``.gz``) in ``folder``; returns the HDF5 bytes by split. ``member``
    names the HDF5 file inside the training zip (by default its official name, at the zip's root)."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {}
    for split, n in (("train", 12), ("test", 5)):
        h5 = folder / f"shd_{split}.h5"
        write_shd(h5, n, seed=n)
        contents[split] = h5.read_bytes()
        if kind == "zip":
            with zipfile.ZipFile(folder / f"shd_{split}.h5.zip", "w") as bundle:
                name = member if member and split == "train" else h5.name
                bundle.writestr(zipfile.ZipInfo(name), contents[split])  # ZipInfo keeps a leading "/"
        else:
            (folder / f"shd_{split}.h5.gz").write_bytes(gzip.compress(contents[split], mtime=0))
        h5.unlink()
    return contents


def pin_shd(monkeypatch, folder: Path) -> None:
    """Pin the MD5s of the archives in ``folder`` (zip and gz, where present)."""
    for split in ("train", "test"):
        archives = []
        for archive in shd.ARCHIVES[split]:
            path = folder / archive.name
            archives.append(shd.Archive(archive.name, md5(path) if path.exists() else archive.md5))
        monkeypatch.setitem(shd.ARCHIVES, split, tuple(archives))


def test_shd_fetch_downloads_unzips_verifies_and_loads(tmp_path, server, monkeypatch):
    pytest.importorskip("tonic")
    root, base, _requests = server
    contents = shd_archives(root)
    pin_shd(monkeypatch, root)
    data_dir = tmp_path / "data"
    lines = []
    paths = shd.fetch(data_dir, [base], lines.append)
    assert paths == [data_dir / "shd" / "shd_train.h5", data_dir / "shd" / "shd_test.h5"]
    assert [p.read_bytes() for p in paths] == [contents["train"], contents["test"]]
    assert sorted(os.listdir(data_dir / "shd")) == [".shd_test.h5.rcbench-fetch.json",
                                                    ".shd_train.h5.rcbench-fetch.json", "shd_test.h5", "shd_train.h5"]
    assert [s.state for s in shd.check(data_dir)] == ["ok", "ok"]
    from bench.tasks.registry import get_task
    task = get_task("shd")
    data = task.load(task.options({"n_val": 2, "steps": 10}, "test"), 0, data_dir)
    assert (len(data.train), len(data.val), len(data.test)) == (10, 2, 5)
    # damage after the fetch is found, and a second fetch repairs only that file
    damaged = bytearray(paths[1].read_bytes())
    damaged[-1] ^= 0xFF
    paths[1].write_bytes(bytes(damaged))
    assert [s.state for s in shd.check(data_dir)] == ["ok", "BAD"]
    lines.clear()
    shd.fetch(data_dir, [base], lines.append)
    assert lines[0] == f"{paths[0]}: present and verified" and lines[1].startswith(f"{paths[1]} will be replaced")
    assert paths[1].read_bytes() == contents["test"]


def test_shd_falls_back_to_the_gz_archive(tmp_path, server, monkeypatch):
    root, base, requests = server
    contents = shd_archives(root, kind="gz")
    pin_shd(monkeypatch, root)
    data_dir = tmp_path / "data"
    shd.fetch(data_dir, [base], lambda line: None)
    assert requests == ["/shd_train.h5.zip", "/shd_train.h5.gz", "/shd_test.h5.zip", "/shd_test.h5.gz"]
    assert (data_dir / "shd" / "shd_train.h5").read_bytes() == contents["train"]
    assert read_record(data_dir / "shd" / "shd_train.h5", folder=False)["archive"] == "shd_train.h5.gz"


def test_shd_md5_mismatch_is_an_error_naming_the_file(tmp_path, server, monkeypatch):
    root, base, _requests = server
    shd_archives(root)
    pin_shd(monkeypatch, root)
    train = shd.ARCHIVES["train"]
    monkeypatch.setitem(shd.ARCHIVES, "train", (shd.Archive(train[0].name, "f" * 32), train[1]))
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        shd.fetch(data_dir, [base], lambda line: None)
    message = str(info.value)
    assert message.startswith(f"could not download shd_train.h5.zip; every mirror failed:\n  {base}/shd_train.h5.zip: "
                              f"not the official shd_train.h5.zip: MD5 {md5(root / 'shd_train.h5.zip')}, "
                              f"expected {'f' * 32}")
    assert "could not download shd_train.h5.gz" in message and "HTTP Error 404" in message
    assert "Download https://zenkelab.org/datasets/shd_train.h5.zip by hand" in message
    assert os.listdir(data_dir / "shd") == []


@pytest.mark.parametrize("member", ["../shd_train.h5", "/shd_train.h5", "data/shd_train.h5"])
def test_shd_zip_without_the_file_at_its_root_is_refused(tmp_path, server, monkeypatch, member):
    root, base, _requests = server
    shd_archives(root, member=member)
    pin_shd(monkeypatch, root)
    data_dir = tmp_path / "data"
    expected = UnsafeArchiveError if member != "data/shd_train.h5" else shd.ShdError
    with pytest.raises(expected, match=r"refusing member '(\.\./|/)shd_train\.h5'|"
                                       r"holds no member shd_train\.h5 \(it holds data/shd_train\.h5\)") as info:
        shd.fetch(data_dir, [base], lambda line: None)
    assert str(data_dir / "shd" / "shd_train.h5.zip") in str(info.value)
    assert not (tmp_path / "shd_train.h5").exists() and not (data_dir / "shd_train.h5").exists()
    assert os.listdir(data_dir / "shd") == []


def test_shd_check_reports_missing_bad_and_unrecorded_files(tmp_path):
    folder = tmp_path / "shd"
    folder.mkdir()
    write_shd(folder / "shd_train.h5", 3, seed=0)
    (folder / "shd_test.h5").write_bytes(b"garbage")
    train, test = shd.check(tmp_path)
    assert train.state == "present" and train.detail.startswith("3 recordings; no fetch record")
    assert test.state == "BAD" and "not a readable HDF5 file" in test.detail
    (folder / "shd_test.h5").unlink()
    assert shd.check(tmp_path)[1].state == "missing"


# ----------------------------------------------------------------------------- archives


def test_extract_tar_selects_and_renames_members(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "top/keep/a.txt", b"a")
        add_file(tar, "top/skip/b.txt", b"b")
    staging = staging_folder(tmp_path / "out")
    assert extract_tar(archive, staging, lambda parts: parts[2:] if parts[1] == "keep" else None) == 1
    assert os.listdir(staging) == ["a.txt"] and (staging / "a.txt").read_bytes() == b"a"
    assert staging.name.startswith(".out.") and staging.name.endswith(".part")


# ----------------------------------------------------------------------------- the command line


def test_cli_fetch_and_check_gsc(tmp_path, gsc_served, capsys):
    base, _files, _requests = gsc_served
    data_dir = str(tmp_path / "data")
    assert main(["data", "fetch", "gsc", "--version", "v0.01", "--data-dir", data_dir, "--mirror", base]) == 0
    captured = capsys.readouterr()
    assert f"gsc v0.01: verified, in {tmp_path / 'data' / 'speech_commands_v0.01'}" in captured.out
    assert "downloading " in captured.err and "extracting " in captured.err
    assert main(["data", "check", "gsc", "--version", "v0.01", "--data-dir", data_dir]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Google Speech Commands v0.01 (gsc):\n  ok       ")
    assert main(["data", "check", "gsc", "--data-dir", data_dir]) == 1  # v0.02 by default: missing
    out = capsys.readouterr().out
    assert "  missing  " in out and f"fix with `rcbench data fetch gsc --version v0.02 --data-dir {data_dir}`" in out


def test_cli_fetch_errors(tmp_path, capsys):
    assert main(["data", "fetch", "fsdd", "--version", "v0.01", "--data-dir", str(tmp_path)]) == 2
    assert "--version v0.01 does not apply to fsdd" in capsys.readouterr().err
    assert main(["data", "fetch", "mnist", "--version", "v0.02", "--data-dir", str(tmp_path)]) == 2
    assert "--version does not apply to mnist (only to gsc)" in capsys.readouterr().err
    assert main(["data", "fetch", "shd", "--data-dir", str(tmp_path / "d"), "--mirror", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "rcbench: error: could not download shd_train.h5.zip" in err and "shd_train.h5.gz" in err
    assert main(["data", "check", "gsc", "speech"]) == 2
    assert "unknown data set 'speech'; known: mnist, fmnist, fsdd, gsc, shd" in capsys.readouterr().err


def test_rcbench_list_names_the_fetch_commands(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("fsdd", "gsc", "shd"):
        line = next(line for line in lines if line.startswith(f"  {name} "))
        assert line.endswith(f"(needs a download: rcbench data fetch {name})")


def test_the_pinned_archive_hashes():
    assert gsc.ARCHIVE_SHA256 == {"v0.01": "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
                                  "v0.02": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"}
    assert [(a.name, a.md5) for a in shd.ARCHIVES["train"]] == [("shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb"),
                                                                ("shd_train.h5.gz", "d47c9825dee33347913e8ce0f2be08b0")]
    assert [(a.name, a.md5) for a in shd.ARCHIVES["test"]] == [("shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f"),
                                                               ("shd_test.h5.gz", "3062a80ec0c5719404d5b02e166543b1")]
