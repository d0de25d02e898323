"""Spoken-word tasks on real recordings: ``fsdd`` and ``gsc``.

Every clip becomes ``(frames, bands)`` log-mel frames (:mod:`bench.data.audio`
defines the window, hop, FFT size, filterbank and logarithm), standardised per
band with the mean and standard deviation of the *training* split's frames.
With ``spikes = true`` those standardised frames are spike coded by upward
threshold crossings, ``spike_levels`` thresholds per band ``spike_step``
standard deviations apart (:func:`bench.data.audio.threshold_spikes`), giving
``(frames, bands * spike_levels)`` of 0/1 for spiking contenders.

Features are computed once per load, for every clip, and kept in memory; a
small in-process cache (:data:`FEATURE_CACHE`, keyed by the folder, the
files' names, sizes and modification times and the frame settings) reuses
them when the same folder is loaded again with the same settings (another
seed, say). Nothing is written to disk.

``fsdd``: Free Spoken Digit Dataset (:mod:`bench.data.fsdd`), 10 digits.
The test split is the data set's own (recording index 0-4); validation
(``n_val`` clips) is carved from the training clips (index 5-49) by a
permutation drawn from the data seed, never from the test clips; training is
the rest (or ``n_train`` of it).

``gsc``: Google Speech Commands (:mod:`bench.data.gsc`) with the official
``validation_list.txt`` / ``testing_list.txt`` split. Setups:

- ``12-class`` (the standard one, as in TensorFlow's speech_commands
  example): the ten words yes, no, up, down, left, right, on, off, stop, go
  (labels 0-9), ``_unknown_`` (label 10): in each split, a seeded random
  ``unknown_percent`` % (of that split's command-word clips, rounded up,
  at most all) of the clips of the other words, and ``_silence_`` (label 11):
  ``silence_percent`` % 1-second segments cut at random offsets from random
  ``_background_noise_`` recordings and scaled by a volume drawn from U(0, 1),
  all drawn from the data seed per split. Without a ``_background_noise_``
  folder this is an error unless ``silence = false``, which drops the class
  (11 classes, ``_unknown_`` stays label 10).
- ``all-words``: every official word of the version is its own class, in
  alphabetical order (30 classes for v0.01, 35 for v0.02); every clip is used.

Clips shorter than the frame span (1 s clips: 98 frames of 10 ms cover 16,032
samples) are zero-padded at the end.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bench.data.audio import (
    FrameConfig,
    SpikeFrames,
    band_stats,
    clip_features,
    read_wav,
    resample,
    standardise,
    threshold_spikes,
)
from bench.data import fsdd as fsdd_data
from bench.data import gsc as gsc_data
from bench.data.paths import resolve_data_dir
from bench.core.task_contract import Split, Task, TaskData, TaskSpec
from bench.tasks.mnist_temporal import carve_train_val
from bench.tasks.registry import register_task
from bench.tasks.seeding import split_generator

SPLITS = ("train", "val", "test")


def _check_int(name: str, value: object, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' (or left out for all)' if optional else ''}, "
                         f"got {value!r}")


@dataclass(frozen=True)
class AudioOptions:
    """Front-end options shared by the spoken-word tasks (see :mod:`bench.data.audio`).

    Attributes:
        sample_rate: Hz every clip is resampled to.
        frames: frames (time steps) per clip; clips are zero-padded or cropped to fit.
        bands: mel bands.
        window_ms: analysis window in milliseconds.
        hop_ms: hop between frames in milliseconds.
        spikes: spike code the standardised frames (threshold crossings) instead of using them directly.
        spike_levels: thresholds per band when ``spikes``.
        spike_step: spacing of the thresholds, in standard deviations (the first is at 0).
    """

    sample_rate: int = 16000
    frames: int = 98
    bands: int = 40
    window_ms: float = 25.0
    hop_ms: float = 10.0
    spikes: bool = False
    spike_levels: int = 3
    spike_step: float = 0.5

    def __post_init__(self) -> None:
        _check_int("spike_levels", self.spike_levels, 1)
        if not self.spike_step > 0:
            raise ValueError(f"spike_step must be > 0, got {self.spike_step!r}")
        self.frame_config()

    def frame_config(self) -> FrameConfig:
        return FrameConfig(self.sample_rate, self.frames, self.bands, self.window_ms, self.hop_ms)

    @property
    def n_features(self) -> int:
        return self.bands * (self.spike_levels if self.spikes else 1)

    def describe(self) -> str:
        text = self.frame_config().describe() + ", standardised per band with training-split statistics"
        if self.spikes:
            text += (f"; spike coded: upward crossings of {self.spike_levels} threshold(s) per band, "
                     f"{self.spike_step:g} sd apart from 0")
        return text


FEATURE_CACHE: dict[tuple, Any] = {}
CACHE_SIZE = 4


def cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered under ``key`` (the :data:`CACHE_SIZE` most recent keys are kept)."""
    if key in FEATURE_CACHE:
        FEATURE_CACHE[key] = FEATURE_CACHE.pop(key)  # most recent last
        return FEATURE_CACHE[key]
    value = compute()
    FEATURE_CACHE[key] = value
    while len(FEATURE_CACHE) > CACHE_SIZE:
        FEATURE_CACHE.pop(next(iter(FEATURE_CACHE)))
    return value


def file_signature(paths: list[Path]) -> tuple:
    """Names, sizes and modification times of ``paths``: changes when a file does."""
    signature = []
    for path in paths:
        stat = path.stat()
        signature.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(signature)


def at_rate(clips: list[np.ndarray], rates: list[int], target: int) -> list[np.ndarray]:
    return [resample(clip, rate, target) for clip, rate in zip(clips, rates)]


def make_splits(features: dict[str, Tensor], labels: dict[str, Tensor], options: AudioOptions) -> dict[str, Split]:
    """Standardise with training statistics, spike code if asked, and wrap each split."""
    mean, std = band_stats(features["train"])
    splits = {}
    for name in SPLITS:
        z = standardise(features[name], mean, std)
        x = SpikeFrames(threshold_spikes(z, options.spike_levels, options.spike_step)) if options.spikes else z
        splits[name] = Split(x, labels[name])
    return splits


def count_text(labels: dict[str, Tensor], names: list[str]) -> str:
    """``train 10 (yes 2, no 3, ...); val ...`` for the ``source`` string."""
    parts = []
    for split in SPLITS:
        counts = Counter(labels[split].tolist())
        per_class = ", ".join(f"{names[c]} {counts[c]}" for c in range(len(names)))
        parts.append(f"{split} {len(labels[split])} ({per_class})")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- fsdd


@dataclass(frozen=True)
class FsddOptions(AudioOptions):
    """Options of ``fsdd`` (besides :class:`AudioOptions`, whose defaults here suit 8 kHz digits).

    Attributes:
        n_val: validation clips, carved from the official training clips by the data seed.
        n_train: training clips; None (the default) for all training clips not used for validation.
    """

    sample_rate: int = fsdd_data.SAMPLE_RATE
    frames: int = 75
    bands: int = 32
    n_val: int = 300
    n_train: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("n_val", self.n_val, 1)
        _check_int("n_train", self.n_train, 1, optional=True)


def fsdd_features(data_dir: Path, options: AudioOptions) -> tuple[list[fsdd_data.Recording], Tensor, str]:
    """Recordings, their ``(n, frames, bands)`` log-mel frames and the folder digest, cached in memory."""
    recordings = fsdd_data.scan(data_dir)
    config = options.frame_config()

    def compute() -> tuple[list[fsdd_data.Recording], Tensor, str]:
        clips = fsdd_data.read_clips(data_dir)
        return clips.recordings, clip_features(at_rate(clips.samples, clips.rates, config.sample_rate), config), \
            clips.digest

    key = ("fsdd", file_signature([r.path for r in recordings]), config)
    return cached(key, compute)


@register_task
class Fsdd(Task):
    name = "fsdd"
    description = "Free Spoken Digit Dataset: 10 spoken digits as log-mel frames (75 x 32 by default)"
    needs_download = True
    fetch_key = "fsdd"  # rcbench data fetch fsdd
    default_rule = "sigmoid"
    Options = FsddOptions

    def missing_data(self, options: FsddOptions, data_dir: Path) -> str | None:
        try:
            fsdd_data.scan(data_dir)
        except fsdd_data.FsddError as error:
            return str(error)
        return None

    def load(self, options: FsddOptions, seed: int, data_dir: Path | None = None) -> TaskData:
        data_dir = resolve_data_dir(data_dir)
        recordings, features, digest = fsdd_features(data_dir, options)
        test_index = torch.tensor([i for i, r in enumerate(recordings) if r.is_test], dtype=torch.long)
        pool = torch.tensor([i for i, r in enumerate(recordings) if not r.is_test], dtype=torch.long)
        folder = fsdd_data.recordings_folder(data_dir)
        if options.n_val + (options.n_train or 1) > len(pool):
            raise ValueError(f"n_val ({options.n_val}) + n_train ({options.n_train or 'at least 1'}) exceeds the "
                             f"{len(pool)} training recordings (index 5-49) in {folder}")
        if len(test_index) == 0:
            raise ValueError(f"{folder} holds no test recordings (index 0-4)")
        train_rows, val_rows = carve_train_val(len(pool), options.n_train, options.n_val, seed)
        index = {"train": pool[train_rows], "val": pool[val_rows], "test": test_index}
        digits = torch.tensor([r.digit for r in recordings], dtype=torch.long)
        splits = make_splits({k: features[v] for k, v in index.items()}, {k: digits[v] for k, v in index.items()},
                             options)
        verified = ("the official recordings (commit " + fsdd_data.OFFICIAL_COMMIT[:7] + ", verified by hash)"
                    if digest == fsdd_data.OFFICIAL_DIGEST else
                    f"NOT the pinned official set (digest {digest[:12]}, {len(recordings)} files)")
        source = (f"FSDD in {folder}: {verified}; {options.describe()}; test = index 0-4 ({len(test_index)}), "
                  f"val {len(val_rows)} and train {len(train_rows)} of the {len(pool)} index 5-49 recordings "
                  f"(split by data seed {seed})")
        spec = TaskSpec(self.name, options.frames, options.n_features, 10, self.default_rule)
        return TaskData(spec, splits["train"], splits["val"], splits["test"], source=source)


# ----------------------------------------------------------------------------- gsc

SETUPS = ("12-class", "all-words")
UNKNOWN, SILENCE = "_unknown_", "_silence_"


@dataclass(frozen=True)
class GscOptions(AudioOptions):
    """Options of ``gsc`` (besides :class:`AudioOptions`).

    Attributes:
        version: 'v0.01' or 'v0.02'.
        folder: the data set's subfolder of the data folder; '' for ``speech_commands_<version>``.
        setup: '12-class' or 'all-words' (see the module docstring).
        silence: 12-class only: include the ``_silence_`` class (needs ``_background_noise_``).
        silence_percent: 12-class: silence clips per split, in % of its command-word clips.
        unknown_percent: 12-class: unknown-word clips per split, in % of its command-word clips.
    """

    version: str = "v0.02"
    folder: str = ""
    setup: str = "12-class"
    silence: bool = True
    silence_percent: float = 10.0
    unknown_percent: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.version not in gsc_data.WORDS:
            raise ValueError(f"version must be one of {', '.join(gsc_data.WORDS)}, got {self.version!r}")
        if self.setup not in SETUPS:
            raise ValueError(f"setup must be one of {', '.join(SETUPS)}, got {self.setup!r}")
        for name in ("silence_percent", "unknown_percent"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    def class_names(self) -> list[str]:
        if self.setup == "all-words":
            return list(gsc_data.WORDS[self.version])
        return list(gsc_data.COMMANDS) + [UNKNOWN] + ([SILENCE] if self.silence else [])


def gsc_word_features(index: gsc_data.GscIndex, config: FrameConfig) -> Tensor:
    """``(n, frames, bands)`` log-mel frames of every clip of ``index``, cached in memory."""
    paths = [clip.path for clip in index.clips]

    def compute() -> Tensor:
        decoded = [read_wav(path) for path in paths]
        return clip_features(at_rate([d[0] for d in decoded], [d[1] for d in decoded], config.sample_rate), config)

    return cached(("gsc", file_signature(paths), config), compute)


def silence_clips(noise: list[np.ndarray], count: int, length: int, generator: torch.Generator) -> list[np.ndarray]:
    """``count`` segments of ``length`` samples from random noise recordings at random offsets, volume U(0, 1)."""
    clips = []
    for _ in range(count):
        source = noise[int(torch.randint(len(noise), (1,), generator=generator))]
        start = int(torch.randint(max(len(source) - length, 0) + 1, (1,), generator=generator))
        volume = float(torch.rand((), generator=generator))
        clips.append(source[start:start + length] * np.float32(volume))
    return clips


@register_task
class SpeechCommands(Task):
    name = "gsc"
    description = ("Google Speech Commands v0.01/v0.02, official split; 12-class (10 words, unknown, silence) "
                   "or all words; log-mel frames (98 x 40 by default)")
    needs_download = True
    fetch_key = "gsc"  # rcbench data fetch gsc
    default_rule = "sigmoid"
    Options = GscOptions

    def missing_data(self, options: GscOptions, data_dir: Path) -> str | None:
        try:
            gsc_data.index(data_dir, options.version, options.folder or None)
        except gsc_data.GscError as error:
            return str(error)
        return None

    def load(self, options: GscOptions, seed: int, data_dir: Path | None = None) -> TaskData:
        data_dir = resolve_data_dir(data_dir)
        index = gsc_data.index(data_dir, options.version, options.folder or None)
        config = options.frame_config()
        names = options.class_names()
        noise: list[np.ndarray] = []
        if options.setup == "12-class" and options.silence:
            if not index.noise_files:
                where = (f"no {gsc_data.NOISE_FOLDER} folder in {index.folder}" if not index.has_noise_folder
                         else f"no WAV files in {index.folder / gsc_data.NOISE_FOLDER}")
                raise gsc_data.GscError(
                    f"{where}: the 12-class setup cuts its {SILENCE} class from the background-noise recordings. "
                    f"Use the complete release, or set the task option silence = false to drop the class "
                    f"(11 classes).")
            noise = [resample(s, r, config.sample_rate) for s, r in gsc_data.read_noise(index.noise_files)]
        word_features = gsc_word_features(index, config)
        features, labels = {}, {}
        for split in SPLITS:
            rows = [i for i, clip in enumerate(index.clips) if clip.split == split]
            generator = split_generator(seed, split)
            if options.setup == "all-words":
                chosen = rows
                split_labels = [names.index(index.clips[i].word) for i in rows]
                extra = torch.empty(0, config.frames, config.bands)
            else:
                known = [i for i in rows if index.clips[i].word in gsc_data.COMMANDS]
                others = [i for i in rows if index.clips[i].word not in gsc_data.COMMANDS]
                n_unknown = min(len(others), math.ceil(len(known) * options.unknown_percent / 100))
                pick = torch.randperm(len(others), generator=generator)[:n_unknown].sort().values
                chosen = known + [others[int(j)] for j in pick]
                split_labels = [names.index(index.clips[i].word) for i in known] + [names.index(UNKNOWN)] * n_unknown
                n_silence = math.ceil(len(known) * options.silence_percent / 100) if noise else 0
                extra = clip_features(silence_clips(noise, n_silence, config.sample_rate, generator), config) \
                    if n_silence else torch.empty(0, config.frames, config.bands)
                split_labels += [len(names) - 1] * n_silence  # _silence_ is last when present
            features[split] = torch.cat([word_features[torch.tensor(chosen, dtype=torch.long)], extra])
            labels[split] = torch.tensor(split_labels, dtype=torch.long)
            if len(labels[split]) == 0:
                raise gsc_data.GscError(f"the {split} split of {index.folder} is empty for the {options.setup} setup")
        splits = make_splits(features, labels, options)
        absent = ", ".join(f"{n} {gsc_data.LISTS[s]} lines name clips not present" for s, n in
                           index.listed_absent.items() if n)
        source = (f"Speech Commands {options.version} in {index.folder} ({len(index.clips)} clips), official "
                  f"split lists{'; ' + absent if absent else ''}; setup {options.setup}, {len(names)} classes "
                  f"(unknown and silence drawn by data seed {seed}); {options.describe()}; counts: "
                  f"{count_text(labels, names)}")
        spec = TaskSpec(self.name, options.frames, options.n_features, len(names), self.default_rule)
        return TaskData(spec, splits["train"], splits["val"], splits["test"], source=source)


# ----------------------------------------------------------------------------- shd


@dataclass(frozen=True)
class ShdOptions:
    """Options of ``shd`` (see :mod:`bench.data.shd` for the binning).

    Attributes:
        steps: time bins T.
        duration_s: seconds binned from t = 0 (spikes later are dropped); bins are ``duration_s / steps`` wide.
        binary: clamp each bin's spike count to 1.
        n_val: validation recordings, carved from the official training file by the data seed.
        n_train: training recordings; None (the default) for all not used for validation.
    """

    steps: int = 100
    duration_s: float = 1.0
    binary: bool = False
    n_val: int = 800
    n_train: int | None = None

    def __post_init__(self) -> None:
        _check_int("steps", self.steps, 1)
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s!r}")
        _check_int("n_val", self.n_val, 1)
        _check_int("n_train", self.n_train, 1, optional=True)


@register_task
class Shd(Task):
    name = "shd"
    description = "Spiking Heidelberg Digits (20 classes): 700-channel spike events binned by tonic (100 x 700)"
    needs_download = True
    fetch_key = "shd"  # rcbench data fetch shd
    default_rule = "sigmoid"
    Options = ShdOptions

    def missing_data(self, options: ShdOptions, data_dir: Path) -> str | None:
        from bench.data import shd as shd_data

        absent = [shd_data.shd_file(data_dir, split) for split in ("train", "test")]
        absent = [path for path in absent if not path.is_file()]
        if not absent:
            return None
        return (f"Spiking Heidelberg Digits file(s) {', '.join(str(path) for path in absent)} not found; "
                f"`{shd_data.fetch_command(data_dir)}` downloads and verifies them")

    def load(self, options: ShdOptions, seed: int, data_dir: Path | None = None) -> TaskData:
        from bench.data import shd as shd_data

        data_dir = resolve_data_dir(data_dir)
        binned, labels = {}, {}
        for split in ("train", "test"):
            path = shd_data.shd_file(data_dir, split)

            def compute(path: Path = path) -> tuple[list[np.ndarray], Tensor]:
                times, units, y = shd_data.read_events(path)
                frames = [shd_data.bin_events(t, u, options.steps, options.duration_s) for t, u in zip(times, units)]
                return frames, torch.from_numpy(y)

            signature = file_signature([path]) if path.is_file() else ((str(path),),)
            binned[split], labels[split] = cached(("shd", signature, options.steps, options.duration_s), compute)
        n_pool = len(labels["train"])
        if options.n_val + (options.n_train or 1) > n_pool:
            raise ValueError(f"n_val ({options.n_val}) + n_train ({options.n_train or 'at least 1'}) exceeds the "
                             f"{n_pool} recordings in {shd_data.shd_file(data_dir, 'train')}")
        train_rows, val_rows = carve_train_val(n_pool, options.n_train, options.n_val, seed)

        def split_of(frames: list[np.ndarray], y: Tensor, rows: Tensor | None) -> Split:
            chosen = frames if rows is None else [frames[int(i)] for i in rows]
            return Split(shd_data.BinnedEvents(chosen, options.steps, options.binary), y if rows is None else y[rows])

        spec = TaskSpec(self.name, options.steps, shd_data.N_CHANNELS, shd_data.N_CLASSES, self.default_rule)
        source = (f"SHD files in {data_dir / shd_data.FOLDER}: events binned by tonic ToFrame into {options.steps} "
                  f"bins of {1000 * options.duration_s / options.steps:g} ms from t = 0"
                  f"{', clamped to 1' if options.binary else ' (spike counts)'}; train {len(train_rows)} and val "
                  f"{len(val_rows)} of the {n_pool} training recordings (split by data seed {seed}); test "
                  f"{len(labels['test'])}")
        return TaskData(spec, split_of(binned["train"], labels["train"], train_rows),
                        split_of(binned["train"], labels["train"], val_rows),
                        split_of(binned["test"], labels["test"], None), source=source)
