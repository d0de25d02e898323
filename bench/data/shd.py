"""Spiking Heidelberg Digits (SHD): reading the official HDF5 files and binning their events with tonic.

Layout (the official files, decompressed from the ``.h5.gz`` downloads)::

    <data_dir>/shd/shd_train.h5     8,156 recordings
    <data_dir>/shd/shd_test.h5      2,264 recordings

Each file holds ``spikes/times`` (per recording, a variable-length float
array of spike times in seconds), ``spikes/units`` (the matching channel of
each spike, 0..699), ``labels`` (0..19: digits 0-9 in English and German)
and ``extra/keys``, ``extra/speaker``. The files are read with ``h5py``;
each recording's events become a ``tonic`` structured event array (times in
microseconds, truncated to integers exactly as ``tonic.datasets.SHD`` does)
and are binned by ``tonic.transforms.ToFrame`` into ``steps`` windows of
``duration_s / steps`` seconds from t = 0: bin ``floor(t_us / window_us)``;
spikes at or after ``duration_s`` are dropped. A bin's value is its spike
count per channel. tonic's own ``SHD`` dataset class is not used for the
reading because it downloads whenever the ``.zip`` archive it fetches itself
is absent, even if the HDF5 file is present; loaders here never download.

The binned sets are stored sparsely (:class:`BinnedEvents`): 10,420
recordings x 100 steps x 700 channels would take 2.9 GB as dense float32.
"""

from __future__ import annotations

import gzip
import os
import secrets
import shutil
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bench.data.archives import (
    CHUNK_BYTES,
    Status,
    file_hash,
    member_parts,
    obtain,
    read_record,
    write_record,
)
from bench.data.download import DownloadError, Progress, print_progress
from bench.data.paths import DATA_DIR_ENV

FOLDER = "shd"
FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
N_CHANNELS = 700
N_CLASSES = 20
URL = "https://zenkelab.org/datasets/"
KEYS = ("spikes/times", "spikes/units", "labels")


@dataclass(frozen=True)
class Archive:
    """One official download of an SHD file: its name at :data:`URL` and the MD5 published for it."""

    name: str
    md5: str


ARCHIVES = {
    "train": (Archive("shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb"),
              Archive("shd_train.h5.gz", "d47c9825dee33347913e8ce0f2be08b0")),
    "test": (Archive("shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f"),
             Archive("shd_test.h5.gz", "3062a80ec0c5719404d5b02e166543b1")),
}
"""Per split, the archives tried in turn. The ``.zip`` names and MD5s are tonic's (``tonic.datasets.SHD``,
``tonic/datasets/hsd.py`` in tonic 1.7.0; spikingjelly pins the same); the ``.gz`` MD5s are those the Zenke
lab's ``md5sums.txt`` lists, as two independent third-party loaders pin them. Only MD5s are published."""


class ShdError(ValueError):
    """An SHD file is missing or not in the official layout; the message names it."""


def shd_file(data_dir: Path, split: str) -> Path:
    return Path(data_dir) / FOLDER / FILES[split]


def fetch_command(data_dir: Path) -> str:
    """The command that downloads both files into ``data_dir``."""
    return f"rcbench data fetch shd --data-dir {data_dir}"


def read_events(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """``(times in seconds, units, labels)`` of every recording in the SHD file ``path``."""
    import h5py

    if not path.is_file():
        raise ShdError(f"SHD file {path} not found. Download {URL}{path.name}.gz, decompress it (gunzip) into "
                       f"{path.parent}, or point --data-dir (or the {DATA_DIR_ENV} environment variable) at a "
                       f"folder whose {FOLDER}/ subfolder holds {' and '.join(FILES.values())}; "
                       f"`{fetch_command(path.parent.parent)}` downloads and verifies both.")
    try:
        with h5py.File(path, "r") as file:
            missing = [key for key in KEYS if key not in file]
            if missing:
                raise ShdError(f"{path} is not an SHD file: it has no {', '.join(missing)}")
            times = [np.asarray(t, dtype=np.float64) for t in file["spikes/times"][()]]
            units = [np.asarray(u, dtype=np.int64) for u in file["spikes/units"][()]]
            labels = np.asarray(file["labels"][()], dtype=np.int64)
    except OSError as error:
        raise ShdError(f"{path}: not a readable HDF5 file ({error})") from None
    if not len(times) == len(units) == len(labels):
        raise ShdError(f"{path}: {len(times)} spike-time arrays, {len(units)} unit arrays, {len(labels)} labels")
    for i, (t, u) in enumerate(zip(times, units)):
        if len(t) != len(u):
            raise ShdError(f"{path}: recording {i} has {len(t)} spike times but {len(u)} units")
        if len(u) and (u.min() < 0 or u.max() >= N_CHANNELS):
            raise ShdError(f"{path}: recording {i} has a unit outside 0..{N_CHANNELS - 1}")
    if len(labels) and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ShdError(f"{path}: labels must lie in 0..{N_CLASSES - 1}")
    return times, units, labels


def bin_events(times: np.ndarray, units: np.ndarray, steps: int, duration_s: float) -> np.ndarray:
    """``(steps, 700)`` spike counts of one recording, binned by ``tonic.transforms.ToFrame``."""
    import tonic.transforms
    from tonic.io import make_structured_array

    if len(times) == 0:
        return np.zeros((steps, N_CHANNELS), dtype=np.int16)
    dtype = np.dtype([("t", int), ("x", int), ("p", int)])
    events = make_structured_array(times * 1e6, units, 1, dtype=dtype)
    end = duration_s * 1e6
    events = events[events["t"] < end]
    if len(events) == 0:
        return np.zeros((steps, N_CHANNELS), dtype=np.int16)
    frames = tonic.transforms.ToFrame(sensor_size=(N_CHANNELS, 1, 1), time_window=end / steps,
                                      start_time=0, end_time=end)(events)
    out = np.zeros((steps, N_CHANNELS), dtype=np.int16)
    out[:min(steps, len(frames))] = frames[:steps, 0, :]
    return out


class BinnedEvents:
    """Binned spike counts stored sparsely, read densely: a :class:`bench.core.task_contract.Sequences`.

    Holds, per recording, the nonzero ``(step, channel, count)`` triples;
    indexing returns ``(k, steps, 700)`` float32 counts (clamped to 1 when
    ``binary``).
    """

    def __init__(self, frames: list[np.ndarray], steps: int, binary: bool) -> None:
        self.steps, self.binary = steps, binary
        entries = [np.nonzero(f) for f in frames]
        self.offsets = torch.tensor(np.cumsum([0] + [len(e[0]) for e in entries]), dtype=torch.long)
        self.step = torch.from_numpy(np.concatenate([e[0] for e in entries] or [np.zeros(0)]).astype(np.int64))
        self.channel = torch.from_numpy(np.concatenate([e[1] for e in entries] or [np.zeros(0)]).astype(np.int64))
        self.count = torch.from_numpy(np.concatenate([f[e] for f, e in zip(frames, entries)] or [np.zeros(0)])
                                      .astype(np.float32))

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.steps, N_CHANNELS))

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def __getitem__(self, index: Tensor | slice | int) -> Tensor:
        single = isinstance(index, int)
        rows = torch.arange(len(self))[index].reshape(-1)
        out = torch.zeros(len(rows), self.steps, N_CHANNELS)
        for k, row in enumerate(rows.tolist()):
            a, b = int(self.offsets[row]), int(self.offsets[row + 1])
            out[k, self.step[a:b], self.channel[a:b]] = self.count[a:b]
        if self.binary:
            out.clamp_(max=1.0)
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"BinnedEvents(n={len(self)}, steps={self.steps}, channels={N_CHANNELS})"


# ----------------------------------------------------------------------------- fetch and check


def check_layout(path: Path) -> int:
    """The number of recordings in the SHD file ``path``, after a quick check of its layout.

    Reads only the HDF5 structure and the labels (not the spikes): the
    datasets of :data:`KEYS` exist, have one entry per recording, and the
    labels lie in 0..19.

    Raises:
        ShdError: the file is not a readable HDF5 file in the SHD layout.
    """
    import h5py

    try:
        with h5py.File(path, "r") as file:
            missing = [key for key in KEYS if key not in file]
            if missing:
                raise ShdError(f"{path} is not an SHD file: it has no {', '.join(missing)}")
            lengths = {key: len(file[key]) for key in KEYS}
            labels = np.asarray(file["labels"][()])
    except OSError as error:
        raise ShdError(f"{path}: not a readable HDF5 file ({error})") from None
    if len(set(lengths.values())) != 1 or lengths["labels"] == 0:
        raise ShdError(f"{path}: entries per dataset differ or are zero: {lengths}")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ShdError(f"{path}: labels must lie in 0..{N_CLASSES - 1}")
    return lengths["labels"]


def check(data_dir: Path) -> list[Status]:
    """Each SHD file: present, in the SHD layout, and unchanged since ``rcbench data fetch shd`` verified it."""
    statuses = []
    for split in FILES:
        path = shd_file(data_dir, split)
        if not path.is_file():
            statuses.append(Status(path, "missing", "no such file"))
            continue
        try:
            count = check_layout(path)
        except ShdError as error:
            statuses.append(Status(path, "BAD", str(error)))
            continue
        record = read_record(path, folder=False)
        if record is None:
            statuses.append(Status(path, "present", f"{count} recordings; no fetch record (not fetched by rcbench), "
                                                    f"so not checked against the official archive"))
            continue
        pinned = {archive.name: archive.md5 for archive in ARCHIVES[split]}
        if pinned.get(record.get("archive")) != record.get("md5"):
            statuses.append(Status(path, "BAD", f"extracted from {record.get('archive')} with MD5 "
                                                f"{record.get('md5')}, not an official archive"))
            continue
        actual = file_hash(path)
        if actual != record.get("sha256"):
            statuses.append(Status(path, "BAD", f"SHA-256 {actual} is not that of the file extracted from the "
                                                f"verified {record.get('archive')} ({record.get('sha256')}): "
                                                f"changed since the fetch"))
            continue
        statuses.append(Status(path, "ok", f"{count} recordings; extracted from {record['archive']} (MD5 "
                                           f"{record['md5']}), unchanged (SHA-256 {actual[:16]}...)"))
    return statuses


def _unpack(archive: Path, inner: str, destination: Path) -> None:
    """Write the file ``inner`` of ``archive`` (a zip, or a gzip stream of it) to ``destination``."""
    with open(archive, "rb") as stream:
        magic = stream.read(2)
    if magic == b"PK":
        with zipfile.ZipFile(archive) as bundle:
            names = {member_parts(info.filename, archive): info for info in bundle.infolist()}
            if (inner,) not in names:
                raise ShdError(f"{archive} holds no member {inner} (it holds "
                               f"{', '.join(info.filename for info in bundle.infolist()) or 'nothing'})")
            with bundle.open(names[(inner,)]) as source, open(destination, "xb") as target:
                shutil.copyfileobj(source, target, CHUNK_BYTES)
    elif magic == b"\x1f\x8b":
        with gzip.open(archive, "rb") as source, open(destination, "xb") as target:
            shutil.copyfileobj(source, target, CHUNK_BYTES)
    else:
        raise ShdError(f"{archive} is neither a zip archive nor gzip-compressed")


def fetch(data_dir: Path, mirrors: Sequence[str] | None = None, progress: Progress = print_progress) -> list[Path]:
    """Download, verify and decompress ``shd_train.h5`` and ``shd_test.h5`` into ``<data_dir>/shd/``.

    A file that verifies against its fetch record is kept. For each other
    file, the archives of :data:`ARCHIVES` are tried in turn (an archive
    already in ``<data_dir>/shd/`` first): downloaded to a temporary file,
    checked against the published MD5, renamed into place; the HDF5 file is
    then decompressed to a temporary file, its layout checked
    (:func:`check_layout`), renamed to its official name, and recorded with
    its SHA-256 (so ``rcbench data check shd`` can tell later damage). The
    archive is deleted.

    Args:
        data_dir: the data folder.
        mirrors: base URLs to use instead of :data:`URL`; a file's URL is ``base/<archive name>``.
        progress: receives progress lines.

    Raises:
        DownloadError: no archive of a file could be downloaded and verified; the message lists each attempt.
        ShdError: a verified archive does not hold an SHD file.
    """
    data_dir = Path(data_dir)
    bases = list(mirrors) if mirrors else [URL]
    paths = []
    for split, status in zip(FILES, check(data_dir)):
        path = shd_file(data_dir, split)
        paths.append(path)
        if status.state == "ok":
            progress(f"{path}: present and verified")
            continue
        if status.state != "missing":
            progress(f"{path} will be replaced: {status.detail}")
        failures = []
        for archive in ARCHIVES[split]:
            def verify(candidate: Path, archive: Archive = archive) -> None:
                actual = file_hash(candidate, "md5")
                if actual != archive.md5:
                    raise ShdError(f"not the official {archive.name}: MD5 {actual}, expected {archive.md5}")

            local = path.parent / archive.name
            try:
                source = obtain([f"{base.rstrip('/')}/{archive.name}" for base in bases], local, verify, progress)
                break
            except DownloadError as error:
                failures.append(str(error))
        else:
            raise DownloadError("\n".join(failures) + f"\nDownload {URL}{ARCHIVES[split][0].name} by hand (MD5 "
                                f"{ARCHIVES[split][0].md5}) into {path.parent}: `{fetch_command(data_dir)}` then "
                                f"verifies and decompresses it.")
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        progress(f"decompressing {local} to {path}")
        try:
            _unpack(local, path.name, temporary)
            count = check_layout(temporary)
            digest = file_hash(temporary)
            os.replace(temporary, path)
        except (zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile) as error:
            raise ShdError(f"{local} passed its MD5 check but does not decompress ({error})") from None
        except ValueError as error:  # ShdError, UnsafeArchiveError
            local.unlink(missing_ok=True)
            raise type(error)(f"{error}; removed {local}") from None
        finally:
            temporary.unlink(missing_ok=True)
        write_record(path, False, {"dataset": "shd", "archive": archive.name, "source": source, "md5": archive.md5,
                                   "sha256": digest, "recordings": count})
        local.unlink(missing_ok=True)
        progress(f"  {count} recordings in {path}; removed {local.name}")
    return paths
