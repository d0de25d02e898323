"""The Free Spoken Digit Dataset (FSDD): finding, checking and reading its recordings.

Layout (the official repository's ``recordings/`` folder, unchanged)::

    <data_dir>/fsdd/recordings/{digit}_{speaker}_{index}.wav

3,000 clips: 6 speakers x 10 digits x 50 repetitions, 8 kHz mono 16-bit PCM.
The data set's own split: index 0-4 is the test set (300 clips), 5-49 the
training set (2,700).

Verification: every file's bytes are hashed while they are read (they must
be read anyway), and the SHA-256 of the sorted lines
``"<sha256 of file>  <file name>\\n"`` is compared with the digest of the
official recordings at commit 26eb9aaf76e81b692f806f9140c2d2777410d7a1 of
Jakobovski/free-spoken-digit-dataset (:data:`OFFICIAL_DIGEST`, computed from
the shared data folder, which holds that commit's files). A folder that
differs (a subset, a later commit, test fixtures) still loads; the task's
``source`` says it is not the pinned official set.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.audio import decode_wav
from bench.datasets.paths import DATA_DIR_ENV

FOLDER = "fsdd/recordings"
REPOSITORY = "https://github.com/Jakobovski/free-spoken-digit-dataset"
OFFICIAL_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
OFFICIAL_COUNT = 3000
OFFICIAL_DIGEST = "1801eae019c063377d98f831d3f93574f259475df7332bb0e3d1b080fb5e6959"
SAMPLE_RATE = 8000
TEST_INDICES = range(0, 5)
"""Recordings with these indices form the official test split; all others are training clips."""

NAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[a-z]+)_(?P<index>[0-9]+)\.wav$")


class FsddError(ValueError):
    """The FSDD folder is missing or holds files that are not FSDD recordings; the message says which."""


@dataclass(frozen=True)
class Recording:
    """One parsed file name."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def is_test(self) -> bool:
        return self.index in TEST_INDICES


def recordings_folder(data_dir: Path) -> Path:
    """``<data_dir>/fsdd/recordings``."""
    return Path(data_dir) / FOLDER


def how_to_get(data_dir: Path) -> str:
    return (f"Get the recordings with `git clone {REPOSITORY}` (commit {OFFICIAL_COMMIT[:7]}) and copy its "
            f"recordings/ folder to {recordings_folder(data_dir)}, or point --data-dir (or the {DATA_DIR_ENV} "
            f"environment variable) at a folder whose fsdd/recordings/ subfolder holds the WAV files.")


def scan(data_dir: Path) -> list[Recording]:
    """The recordings in ``<data_dir>/fsdd/recordings``, sorted by name.

    Raises:
        FsddError: the folder is missing or empty, or holds a file (other than
            a hidden one) whose name is not ``{digit}_{speaker}_{index}.wav``.
    """
    folder = recordings_folder(data_dir)
    if not folder.is_dir():
        raise FsddError(f"FSDD folder {folder} not found. {how_to_get(data_dir)}")
    recordings, unexpected = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        match = NAME.match(path.name)
        if match is None or not path.is_file():
            unexpected.append(path.name)
            continue
        recordings.append(Recording(path, int(match["digit"]), match["speaker"], int(match["index"])))
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        raise FsddError(f"{folder} holds {len(unexpected)} file(s) not named {{digit}}_{{speaker}}_{{index}}.wav "
                        f"as FSDD recordings are: {shown}. Move them out of the folder.")
    if not recordings:
        raise FsddError(f"FSDD folder {folder} holds no recordings. {how_to_get(data_dir)}")
    return recordings


@dataclass(frozen=True)
class FsddClips:
    """Decoded recordings.

    Attributes:
        recordings: one per clip, sorted by file name.
        samples: each clip's samples, float32 in [-1, 1), at its own rate.
        rates: each clip's sample rate.
        digest: SHA-256 over the files (see the module docstring).
    """

    recordings: list[Recording]
    samples: list[np.ndarray]
    rates: list[int]
    digest: str

    @property
    def official(self) -> bool:
        return self.digest == OFFICIAL_DIGEST


def read_clips(data_dir: Path) -> FsddClips:
    """Read and hash every recording; a file that does not decode raises :class:`bench.audio.AudioFileError`."""
    recordings = scan(data_dir)
    samples, rates, lines = [], [], []
    for recording in recordings:
        data = recording.path.read_bytes()
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {recording.path.name}\n")
        clip, rate = decode_wav(data, recording.path)
        samples.append(clip)
        rates.append(rate)
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()
    return FsddClips(recordings, samples, rates, digest)
