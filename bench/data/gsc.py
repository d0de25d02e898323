"""Google Speech Commands (v0.01 and v0.02): finding, checking and reading the official layout.

Layout (the official archive, extracted unchanged)::

    <data_dir>/<folder>/<word>/<speaker>_nohash_<n>.wav
    <data_dir>/<folder>/validation_list.txt     lines "<word>/<file>.wav"
    <data_dir>/<folder>/testing_list.txt
    <data_dir>/<folder>/_background_noise_/*.wav  (long noise recordings; optional here)

``<folder>`` defaults to ``speech_commands_v0.01`` or ``speech_commands_v0.02``.
Clips are 16 kHz mono 16-bit PCM, at most 1 s long. The official split: a
clip named in ``testing_list.txt`` is a test clip, one named in
``validation_list.txt`` a validation clip, every other clip a training clip.
List lines that name clips not in the folder (a subset of the release) are
counted and otherwise ignored.

Every word folder must be one of the version's official words
(:data:`WORDS`); anything else is an error naming it (a folder of another
version, or a stray folder, would silently change the classes).
"""

from __future__ import annotations

import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.audio import read_wav
from bench.data.archives import (
    Status,
    UnsafeArchiveError,
    extract_tar,
    file_hash,
    obtain,
    place_folder,
    read_record,
    remove,
    staging_folder,
    tree_digest,
    write_record,
)
from bench.data.download import DownloadError, Progress, print_progress
from bench.data.paths import DATA_DIR_ENV

WORDS_V001 = ("bed", "bird", "cat", "dog", "down", "eight", "five", "four", "go", "happy", "house", "left",
              "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop", "three",
              "tree", "two", "up", "wow", "yes", "zero")
WORDS_V002 = tuple(sorted(WORDS_V001 + ("backward", "follow", "forward", "learn", "visual")))
WORDS = {"v0.01": WORDS_V001, "v0.02": WORDS_V002}
"""The official words of each release (30 and 35)."""

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The ten command words of the standard 12-class setup (with _unknown_ and _silence_)."""

URLS = {"v0.01": "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "v0.02": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"}
MIRRORS = ("http://download.tensorflow.org/data/", "https://storage.googleapis.com/download.tensorflow.org/data/")
"""The official host, then the same bucket over HTTPS (older torchaudio releases and TFDS download from it)."""
ARCHIVE_SHA256 = {"v0.01": "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
                  "v0.02": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"}
"""SHA-256 of the official archives, as torchaudio pins them (``_CHECKSUMS`` in
``torchaudio/datasets/speechcommands.py``, which earlier pinned the MD5s 3cd23799... and 6b74f390...).
Third-party projects cite the same v0.02 value, with a size of 2,428,923,189 bytes, from TensorFlow
Datasets' ``speech_commands/checksums.tsv``."""
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
NOISE_FOLDER = "_background_noise_"
SAMPLE_RATE = 16000
NAME = re.compile(r"^[0-9a-f]+_nohash_[0-9]+\.wav$")


class GscError(ValueError):
    """The Speech Commands folder is missing or not in the official layout; the message says what is wrong."""


def default_folder(version: str) -> str:
    return f"speech_commands_{version}"


def archive_name(version: str) -> str:
    return f"speech_commands_{version}.tar.gz"


def fetch_command(version: str, data_dir: Path) -> str:
    """The command that downloads ``version`` into ``data_dir``."""
    return f"rcbench data fetch gsc --version {version} --data-dir {data_dir}"


def how_to_get(version: str, folder: Path) -> str:
    return (f"Download {URLS[version]} and extract it into {folder}, or point --data-dir (or the "
            f"{DATA_DIR_ENV} environment variable) at the folder that holds {folder.name}/; "
            f"`{fetch_command(version, folder.parent)}` downloads, verifies and extracts it.")


@dataclass(frozen=True)
class Clip:
    """One clip: its path, its word and its official split ('train', 'val' or 'test')."""

    path: Path
    word: str
    split: str

    @property
    def key(self) -> str:
        return f"{self.word}/{self.path.name}"


@dataclass(frozen=True)
class GscIndex:
    """The clips of a folder and its split lists.

    Attributes:
        folder: the data set's folder.
        version: 'v0.01' or 'v0.02'.
        clips: every clip, sorted by ``word/file``.
        listed_absent: per list ('val', 'test'), lines naming clips not in the folder.
        noise_files: the ``_background_noise_`` WAVs (empty if there is no such folder).
        has_noise_folder: whether ``_background_noise_`` exists.
    """

    folder: Path
    version: str
    clips: list[Clip]
    listed_absent: dict[str, int]
    noise_files: list[Path]
    has_noise_folder: bool


def read_list(path: Path, version: str) -> set[str]:
    if not path.is_file():
        raise GscError(f"Speech Commands split list {path} not found: the official split needs both "
                       f"{LISTS['val']} and {LISTS['test']}. {how_to_get(version, path.parent)}")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def index(data_dir: Path, version: str, folder_name: str | None = None) -> GscIndex:
    """Scan ``<data_dir>/<folder_name>`` and assign each clip its official split.

    Raises:
        GscError: the folder or a list file is missing, a folder is not an
            official word of ``version``, a word folder holds a file not
            named ``<hash>_nohash_<n>.wav``, or the folder holds no clips.
    """
    if version not in WORDS:
        raise GscError(f"unknown Speech Commands version {version!r}; known: {', '.join(WORDS)}")
    folder = Path(data_dir) / (folder_name or default_folder(version))
    if not folder.is_dir():
        raise GscError(f"Speech Commands {version} folder {folder} not found. {how_to_get(version, folder)}")
    lists = {split: read_list(folder / name, version) for split, name in LISTS.items()}
    official = set(WORDS[version])
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in subfolders if p.name not in official and p.name != NOISE_FOLDER]
    if unknown:
        raise GscError(f"{folder} holds folder(s) {', '.join(unknown)} that are not words of Speech Commands "
                       f"{version} (its words: {', '.join(WORDS[version])}); remove them or choose the "
                       f"right version")
    clips, bad_names = [], []
    for sub in subfolders:
        if sub.name == NOISE_FOLDER:
            continue
        for path in sorted(sub.iterdir()):
            if path.name.startswith("."):
                continue
            if not NAME.match(path.name) or not path.is_file():
                bad_names.append(f"{sub.name}/{path.name}")
                continue
            key = f"{sub.name}/{path.name}"
            split = "test" if key in lists["test"] else "val" if key in lists["val"] else "train"
            clips.append(Clip(path, sub.name, split))
    if bad_names:
        raise GscError(f"{folder} holds {len(bad_names)} file(s) not named <hash>_nohash_<n>.wav: "
                       f"{', '.join(bad_names[:5])}{' ...' if len(bad_names) > 5 else ''}")
    if not clips:
        raise GscError(f"Speech Commands folder {folder} holds no clips. {how_to_get(version, folder)}")
    present = {clip.key for clip in clips}
    absent = {split: len(lines - present) for split, lines in lists.items()}
    noise_folder = folder / NOISE_FOLDER
    noise = sorted(noise_folder.glob("*.wav")) if noise_folder.is_dir() else []
    return GscIndex(folder, version, clips, absent, noise, noise_folder.is_dir())


def read_noise(paths: list[Path]) -> list[tuple[np.ndarray, int]]:
    """The background-noise recordings, decoded."""
    return [read_wav(path) for path in paths]


# ----------------------------------------------------------------------------- fetch and check


def check(data_dir: Path, version: str) -> Status:
    """The official layout of ``<data_dir>/speech_commands_<version>``, and its files against its fetch record."""
    folder = Path(data_dir) / default_folder(version)
    if not folder.is_dir():
        return Status(folder, "missing", "no such folder")
    try:
        found = index(data_dir, version)
    except GscError as error:
        return Status(folder, "BAD", str(error))
    splits = Counter(clip.split for clip in found.clips)
    summary = (f"{len(found.clips)} clips (train {splits['train']}, val {splits['val']}, test {splits['test']}), "
               f"{len(found.noise_files)} background-noise recordings")
    absent = sum(found.listed_absent.values())
    if absent:
        summary += f"; {absent} clips named in the split lists are absent (a subset of the release?)"
    record = read_record(folder, folder=True)
    if record is None:
        return Status(folder, "present", summary + "; no fetch record (not fetched by rcbench), so its files were "
                                                   "not checked against the official archive")
    if record.get("sha256") != ARCHIVE_SHA256[version]:
        return Status(folder, "BAD", summary + f"; extracted from an archive with SHA-256 {record.get('sha256')}, "
                                               f"not the official {ARCHIVE_SHA256[version]}")
    digest, count = tree_digest(folder)
    if digest != record.get("digest"):
        return Status(folder, "BAD", summary + f"; its {count} files (digest {digest[:16]}...) are not the "
                                               f"{record.get('files')} files extracted from the verified archive "
                                               f"(digest {str(record.get('digest'))[:16]}...): changed since the fetch")
    return Status(folder, "ok", summary + f"; the {count} files extracted from the official archive "
                                          f"(SHA-256 {ARCHIVE_SHA256[version][:16]}...), unchanged")


def fetch(data_dir: Path, version: str = "v0.02", mirrors: Sequence[str] | None = None,
          progress: Progress = print_progress) -> list[Path]:
    """Download, verify and extract the official archive of ``version`` into ``<data_dir>/speech_commands_<version>``.

    A folder that already verifies against its fetch record is kept. Else
    the archive is downloaded to ``<data_dir>/speech_commands_<version>.tar.gz``
    (one already there is used if its hash is right), checked against
    :data:`ARCHIVE_SHA256`, and extracted member by member into a staging
    folder (:func:`bench.data.archives.extract_tar`: a member that would
    leave the folder, or a link or device, stops it). The staged folder must
    pass :func:`index` (the official words and split lists); a fetch record
    with the archive's hash and a digest of the extracted files is written
    into it, it replaces the target folder, and the archive is deleted.

    Args:
        data_dir: the data folder.
        version: 'v0.01' or 'v0.02'.
        mirrors: base URLs to use instead of :data:`MIRRORS`; the archive's URL is ``base/<archive name>``.
        progress: receives progress lines.

    Raises:
        DownloadError: no mirror gave the official archive; the message lists each attempt.
        UnsafeArchiveError, GscError: the verified archive does not extract into the official layout.
    """
    if version not in WORDS:
        raise GscError(f"unknown Speech Commands version {version!r}; known: {', '.join(WORDS)}")
    data_dir = Path(data_dir)
    folder = data_dir / default_folder(version)
    status = check(data_dir, version)
    if status.state == "ok":
        progress(f"{folder}: present and verified")
        return [folder]
    if status.state != "missing":
        progress(f"{folder} will be replaced: {status.detail}")
    name = archive_name(version)
    archive = data_dir / name
    expected = ARCHIVE_SHA256[version]

    def verify(candidate: Path) -> None:
        actual = file_hash(candidate)
        if actual != expected:
            raise GscError(f"not the official {name}: SHA-256 {actual}, expected {expected}")

    urls = [f"{base.rstrip('/')}/{name}" for base in (mirrors or MIRRORS)]
    try:
        source = obtain(urls, archive, verify, progress)
    except DownloadError as error:
        raise DownloadError(f"{error}\nDownload {URLS[version]} by hand (SHA-256 {expected}) to {archive}: "
                            f"`{fetch_command(version, data_dir)}` then verifies and extracts it.") from None
    staging = staging_folder(folder)
    progress(f"extracting {archive} into {folder}")
    try:
        extract_tar(archive, staging)
        index(staging.parent, version, staging.name)
        digest, count = tree_digest(staging)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        remove(staging)
        raise GscError(f"{archive} passed its hash check but is not a readable .tar.gz archive ({error})") from None
    except (UnsafeArchiveError, GscError, OSError) as error:
        remove(staging)
        archive.unlink(missing_ok=True)
        raise type(error)(f"{error}; removed {archive}") from None
    write_record(staging, True, {"dataset": "gsc", "version": version, "archive": name, "source": source,
                                 "sha256": expected, "files": count, "digest": digest})
    place_folder(staging, folder)
    archive.unlink(missing_ok=True)
    progress(f"  {count} files in {folder}; removed {archive.name}")
    return [folder]
