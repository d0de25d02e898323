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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.audio import read_wav
from bench.datasets.paths import DATA_DIR_ENV

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
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
NOISE_FOLDER = "_background_noise_"
SAMPLE_RATE = 16000
NAME = re.compile(r"^[0-9a-f]+_nohash_[0-9]+\.wav$")


class GscError(ValueError):
    """The Speech Commands folder is missing or not in the official layout; the message says what is wrong."""


def default_folder(version: str) -> str:
    return f"speech_commands_{version}"


def how_to_get(version: str, folder: Path) -> str:
    return (f"Download {URLS[version]} and extract it into {folder}, or point --data-dir (or the "
            f"{DATA_DIR_ENV} environment variable) at the folder that holds {folder.name}/.")


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
