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
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.audio import decode_wav
from bench.data.archives import Status, extract_tar, obtain, place_folder, remove, staging_folder
from bench.data.download import DownloadError, Progress, print_progress
from bench.data.paths import DATA_DIR_ENV

FOLDER = "fsdd/recordings"
REPOSITORY = "https://github.com/Jakobovski/free-spoken-digit-dataset"
OFFICIAL_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
OFFICIAL_COUNT = 3000
OFFICIAL_DIGEST = "1801eae019c063377d98f831d3f93574f259475df7332bb0e3d1b080fb5e6959"
SAMPLE_RATE = 8000
TEST_INDICES = range(0, 5)
"""Recordings with these indices form the official test split; all others are training clips."""

NAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[a-z]+)_(?P<index>[0-9]+)\.wav$")

ARCHIVE_TAG = "v1.0.10"
ARCHIVE_FILE = f"{ARCHIVE_TAG}.tar.gz"
ARCHIVE_URLS = (f"{REPOSITORY}/archive/refs/tags/{ARCHIVE_FILE}",
                f"{REPOSITORY}/archive/{OFFICIAL_COMMIT}.tar.gz")
"""GitHub's archives of the tag and of the pinned commit, tried in turn. GitHub builds these tarballs on
request, so their bytes (and any hash of them) are not stable: what is verified is the digest of the
recordings inside (:data:`OFFICIAL_DIGEST`), after extraction. The commit's archive is the fallback in
case the tag's recordings ever differ from the pinned commit's."""


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


def fetch_command(data_dir: Path) -> str:
    """The command that downloads the recordings into ``data_dir``."""
    return f"rcbench data fetch fsdd --data-dir {data_dir}"


def how_to_get(data_dir: Path) -> str:
    return (f"Get the recordings with `git clone {REPOSITORY}` (commit {OFFICIAL_COMMIT[:7]}) and copy its "
            f"recordings/ folder to {recordings_folder(data_dir)}, or point --data-dir (or the {DATA_DIR_ENV} "
            f"environment variable) at a folder whose fsdd/recordings/ subfolder holds the WAV files; "
            f"`{fetch_command(data_dir)}` downloads and verifies them.")


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
    """Read and hash every recording; a file that does not decode raises :class:`bench.data.audio.AudioFileError`."""
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


# ----------------------------------------------------------------------------- fetch and check


def recordings_digest(recordings: list[Recording]) -> str:
    """The digest :func:`read_clips` computes, from the files' bytes alone (without decoding them)."""
    lines = [f"{hashlib.sha256(r.path.read_bytes()).hexdigest()}  {r.path.name}\n" for r in recordings]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def check(data_dir: Path) -> Status:
    """Whether ``<data_dir>/fsdd/recordings`` holds exactly the official recordings (by digest)."""
    folder = recordings_folder(data_dir)
    if not folder.is_dir():
        return Status(folder, "missing", "no such folder")
    try:
        recordings = scan(data_dir)
    except FsddError as error:
        return Status(folder, "BAD", str(error))
    digest = recordings_digest(recordings)
    if digest == OFFICIAL_DIGEST:
        return Status(folder, "ok", f"{len(recordings)} recordings, digest {digest[:16]}..., the official "
                                    f"recordings of commit {OFFICIAL_COMMIT[:7]}")
    return Status(folder, "BAD", f"{len(recordings)} recordings whose digest {digest} is not that of the official "
                                 f"{OFFICIAL_COUNT} recordings ({OFFICIAL_DIGEST}); the fsdd task still loads them "
                                 f"and says so in its data source")


def _select_recording(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """``<top folder>/recordings/<name>.wav`` of GitHub's archive becomes ``<name>.wav``; nothing else is kept."""
    if len(parts) == 3 and parts[1] == "recordings" and NAME.match(parts[2]):
        return (parts[2],)
    return None


def fetch(data_dir: Path, mirrors: Sequence[str] | None = None, progress: Progress = print_progress) -> list[Path]:
    """Download the recordings into ``<data_dir>/fsdd/recordings``, verified by their digest.

    A folder that already holds exactly the official recordings is kept.
    Otherwise GitHub's archive of tag :data:`ARCHIVE_TAG` is downloaded (then,
    if need be, that of the pinned commit) to ``<data_dir>/fsdd/v1.0.10.tar.gz``
    (an archive already there is tried first); only its ``recordings/*.wav``
    members are extracted, into a staging folder, and their digest must equal
    :data:`OFFICIAL_DIGEST` before the folder replaces ``recordings/``. The
    archive is deleted afterwards.

    Args:
        data_dir: the data folder.
        mirrors: base URLs to use instead of GitHub; the archive's URL is ``base/v1.0.10.tar.gz``.
        progress: receives progress lines.

    Raises:
        DownloadError: no URL gave an archive whose recordings verify; the message lists each attempt.
    """
    folder = recordings_folder(data_dir)
    status = check(data_dir)
    if status.state == "ok":
        progress(f"{folder}: present and verified")
        return [folder]
    if status.state != "missing":
        progress(f"{folder} will be replaced: {status.detail}")
    urls = [f"{base.rstrip('/')}/{ARCHIVE_FILE}" for base in mirrors] if mirrors else list(ARCHIVE_URLS)
    archive = folder.parent / ARCHIVE_FILE
    staged: list[Path] = []

    def verify(candidate: Path) -> None:
        while staged:
            remove(staged.pop())
        staging = staging_folder(folder)
        try:
            count = extract_tar(candidate, staging, _select_recording)
            digest = recordings_digest(scan_folder(staging))
        except (tarfile.TarError, EOFError, zlib.error) as error:
            remove(staging)
            raise ValueError(f"not a readable .tar.gz archive ({error})") from None
        except BaseException:
            remove(staging)
            raise
        if digest != OFFICIAL_DIGEST:
            remove(staging)
            raise FsddError(f"its {count} recordings are not the official ones: digest {digest}, expected "
                            f"{OFFICIAL_DIGEST} ({OFFICIAL_COUNT} recordings of commit {OFFICIAL_COMMIT[:7]})")
        staged.append(staging)

    try:
        obtain(urls, archive, verify, progress)
    except BaseException as error:
        while staged:  # a copy staged before a later failure (say, renaming the archive into place)
            remove(staged.pop())
        if isinstance(error, DownloadError):
            raise DownloadError(f"{error}\nGet the recordings by hand instead: {how_to_get(data_dir)}") from None
        raise
    place_folder(staged.pop(), folder)  # verify() keeps only the copy of the last, verified archive
    archive.unlink(missing_ok=True)
    progress(f"  {OFFICIAL_COUNT} verified recordings in {folder}; removed {archive.name}")
    return [folder]


def scan_folder(folder: Path) -> list[Recording]:
    """:func:`scan` of a recordings folder given directly (for a staging folder)."""
    recordings = []
    for path in sorted(folder.iterdir()):
        match = NAME.match(path.name)
        if match is not None and path.is_file():
            recordings.append(Recording(path, int(match["digit"]), match["speaker"], int(match["index"])))
    return recordings
