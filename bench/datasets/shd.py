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

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bench.datasets.paths import DATA_DIR_ENV

FOLDER = "shd"
FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
N_CHANNELS = 700
N_CLASSES = 20
URL = "https://zenkelab.org/datasets/"
KEYS = ("spikes/times", "spikes/units", "labels")


class ShdError(ValueError):
    """An SHD file is missing or not in the official layout; the message names it."""


def shd_file(data_dir: Path, split: str) -> Path:
    return Path(data_dir) / FOLDER / FILES[split]


def read_events(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """``(times in seconds, units, labels)`` of every recording in the SHD file ``path``."""
    import h5py

    if not path.is_file():
        raise ShdError(f"SHD file {path} not found. Download {URL}{path.name}.gz, decompress it (gunzip) into "
                       f"{path.parent}, or point --data-dir (or the {DATA_DIR_ENV} environment variable) at a "
                       f"folder whose {FOLDER}/ subfolder holds {' and '.join(FILES.values())}.")
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
    """Binned spike counts stored sparsely, read densely: a :class:`bench.tasks.base.Sequences`.

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
