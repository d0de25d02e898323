"""The spoken-word data sets that ``rcbench data fetch`` downloads and ``rcbench data check`` verifies.

MNIST and Fashion-MNIST have their own table (:data:`bench.data.mnist.DATASETS`);
this one holds ``fsdd``, ``gsc`` and ``shd``, whose downloads are archives to
unpack (see :mod:`bench.data.archives`). Where each lands in the data folder:

- ``fsdd``: ``fsdd/recordings/`` (the WAV files of GitHub's archive of tag v1.0.10);
- ``gsc``: ``speech_commands_v0.01/`` or ``speech_commands_v0.02/`` (the official archive, unchanged);
- ``shd``: ``shd/shd_train.h5`` and ``shd/shd_test.h5`` (decompressed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.data import fsdd, gsc
from bench.data.archives import Status
from bench.data.download import Progress, print_progress
from rc.registry import Registry


@dataclass(frozen=True)
class SpeechDataset:
    """A fetchable spoken-word data set.

    Attributes:
        key: its name on the command line.
        title: its name in messages.
        versions: the releases ``--version`` chooses from (empty if there is one release).
        default_version: the release fetched and checked without ``--version``.
    """

    key: str
    title: str
    versions: tuple[str, ...]
    default_version: str | None
    _fetch: Callable[[Path, str | None, Sequence[str] | None, Progress], list[Path]]
    _check: Callable[[Path, str | None], list[Status]]
    _command: Callable[[Path, str | None], str]

    def version(self, requested: str | None) -> str | None:
        """``requested`` if it is one of :attr:`versions`, the default if None; a ValueError otherwise."""
        if requested is None:
            return self.default_version
        if requested not in self.versions:
            known = f"its versions: {', '.join(self.versions)}" if self.versions else "it has no versions"
            raise ValueError(f"--version {requested} does not apply to {self.key} ({known})")
        return requested

    def title_of(self, version: str | None) -> str:
        return f"{self.title} {version}" if version else self.title

    def fetch(self, data_dir: Path, version: str | None = None, mirrors: Sequence[str] | None = None,
              progress: Progress = print_progress) -> list[Path]:
        return self._fetch(Path(data_dir), self.version(version), mirrors, progress)

    def check(self, data_dir: Path, version: str | None = None) -> list[Status]:
        return self._check(Path(data_dir), self.version(version))

    def fetch_command(self, data_dir: Path, version: str | None = None) -> str:
        return self._command(Path(data_dir), self.version(version))


def _shd_fetch(data_dir: Path, _version: str | None, mirrors: Sequence[str] | None, progress: Progress) -> list[Path]:
    from bench.data import shd

    return shd.fetch(data_dir, mirrors, progress)


def _shd_check(data_dir: Path, _version: str | None) -> list[Status]:
    from bench.data import shd

    return shd.check(data_dir)


SPEECH_DATASETS: Registry[SpeechDataset] = Registry("speech data set", (
    SpeechDataset("fsdd", "Free Spoken Digit Dataset", (), None,
                  lambda data_dir, _v, mirrors, progress: fsdd.fetch(data_dir, mirrors, progress),
                  lambda data_dir, _v: [fsdd.check(data_dir)],
                  lambda data_dir, _v: fsdd.fetch_command(data_dir)),
    SpeechDataset("gsc", "Google Speech Commands", tuple(gsc.WORDS), "v0.02",
                  lambda data_dir, v, mirrors, progress: gsc.fetch(data_dir, v, mirrors, progress),
                  lambda data_dir, v: [gsc.check(data_dir, v)],
                  lambda data_dir, v: gsc.fetch_command(v, data_dir)),
    SpeechDataset("shd", "Spiking Heidelberg Digits", (), None, _shd_fetch, _shd_check,
                  lambda data_dir, _v: f"rcbench data fetch shd --data-dir {data_dir}"),
), name_of=lambda dataset: dataset.key)
