"""Tests of the spoken-word tasks ``fsdd`` and ``gsc`` (bench/tasks/speech.py, bench/data/{fsdd,gsc}.py).

They read tiny fixture folders in the official layouts, with WAVs written by
the same library the loaders read them with; nothing is downloaded. Two tests
read the real shared data folders and are skipped when those are absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import bench.tasks  # noqa: F401  (registers the built-in tasks)
from bench.data.audio import AudioFileError, FrameConfig, SpikeFrames, band_stats, clip_features, write_wav
from bench.data import fsdd as fsdd_data
from bench.data import gsc as gsc_data
from bench.data.gsc import GscError
from bench.data.fsdd import FsddError
from bench.core.options import OptionError
from bench.tasks import speech
from bench.tasks.registry import get_task
import real_data

GSC_SUBSET = "speech_commands_v0.01_subset"
REAL_FSDD = real_data.data_folder_with("fsdd/recordings")
"""The data folder holding the real FSDD (``--data-dir``, ``RCBENCH_DATA_DIR`` or the shared folder), or None."""
REAL_GSC = real_data.data_folder_with(GSC_SUBSET)
"""The data folder holding the real Speech Commands subset, or None."""


@pytest.fixture(autouse=True)
def empty_cache():
    speech.FEATURE_CACHE.clear()
    yield
    speech.FEATURE_CACHE.clear()


def load(name: str, data_dir, seed: int = 0, **values):
    task = get_task(name)
    return task.load(task.options(values, "test"), seed, data_dir)


def clip(rng: np.random.Generator, rate: int, seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


# ----------------------------------------------------------------------------- fsdd fixtures


def build_fsdd(root: Path, speakers=("ann", "bob"), indices=range(0, 8)) -> Path:
    """``root/fsdd/recordings`` with one clip per (digit, speaker, index): a tone whose pitch gives the digit."""
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for digit in range(10):
        for speaker in speakers:
            for index in indices:
                seconds = 0.2 + 0.05 * index  # 0.2 .. 0.55 s: some shorter, some longer than the frame span
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", clip(rng, 8000, seconds, 200 + 150 * digit), 8000)
    return folder


SMALL_FSDD = {"n_val": 10, "frames": 30, "bands": 16}


def test_registration():
    for name in ("fsdd", "gsc"):
        task = get_task(name)
        assert task.needs_download and task.default_rule == "sigmoid"


def expected_fsdd(data_dir, values, seed):
    """Recording names and expected standardised rows per split, recomputed from the stated rules."""
    from bench.tasks.mnist_temporal import carve_train_val
    options = get_task("fsdd").options(values, "t")
    recordings, features, _ = speech.fsdd_features(data_dir, options)
    test = [i for i, r in enumerate(recordings) if r.index <= 4]
    pool = [i for i, r in enumerate(recordings) if r.index >= 5]
    train_rows, val_rows = carve_train_val(len(pool), None, options.n_val, seed)
    rows = {"train": [pool[int(i)] for i in train_rows], "val": [pool[int(i)] for i in val_rows], "test": test}
    mean, std = band_stats(features[rows["train"]])
    return ({k: [recordings[i].path.name for i in v] for k, v in rows.items()},
            {k: (features[v] - mean) / std for k, v in rows.items()})


def test_fsdd_splits_follow_the_index_rule_and_the_seed(tmp_path):
    build_fsdd(tmp_path)
    data = load("fsdd", tmp_path, **SMALL_FSDD)
    # 10 digits x 2 speakers x 8 indices; index 0-4 test (100), 5-7 training pool (60): 10 val, 50 train
    assert (len(data.train), len(data.val), len(data.test)) == (50, 10, 100)
    assert data.spec.n_steps == 30 and data.spec.n_features == 16 and data.spec.n_classes == 10
    assert data.train.x.shape == (50, 30, 16)
    assert "NOT the pinned official set" in data.source
    names, rows = expected_fsdd(tmp_path, SMALL_FSDD, 0)
    assert all(int(n[:-4].split("_")[2]) <= 4 for n in names["test"]) and len(names["test"]) == 100
    assert not set(names["val"]) & set(names["train"])
    for split in ("train", "val", "test"):
        torch.testing.assert_close(getattr(data, split).x, rows[split], atol=1e-5, rtol=1e-5)
        assert getattr(data, split).y.tolist() == [int(n[0]) for n in names[split]]
    flat = data.train.x.reshape(-1, 16)
    torch.testing.assert_close(flat.mean(0), torch.zeros(16), atol=1e-4, rtol=0)
    other = load("fsdd", tmp_path, seed=1, **SMALL_FSDD)
    assert torch.equal(other.test.y, data.test.y) and not torch.equal(other.val.x, data.val.x)
    other_names, _ = expected_fsdd(tmp_path, SMALL_FSDD, 1)
    assert set(other_names["val"]) != set(names["val"])
    again = load("fsdd", tmp_path, **SMALL_FSDD)
    assert torch.equal(again.val.x, data.val.x)


def test_fsdd_features_are_the_front_end_of_each_file(tmp_path):
    folder = build_fsdd(tmp_path, speakers=("ann",), indices=range(0, 7))
    from bench.data.audio import read_wav
    recordings, features, _ = speech.fsdd_features(tmp_path, get_task("fsdd").options(SMALL_FSDD, "t"))
    paths = sorted(folder.iterdir())
    assert [r.path for r in recordings] == paths
    torch.testing.assert_close(features, clip_features([read_wav(p)[0] for p in paths], FrameConfig(8000, 30, 16)))


def test_fsdd_spike_option(tmp_path):
    build_fsdd(tmp_path)
    data = load("fsdd", tmp_path, **SMALL_FSDD, spikes=True, spike_levels=2)
    assert isinstance(data.train.x, SpikeFrames)
    assert data.spec.n_features == 32 and data.train.x.shape == (50, 30, 32)
    batch = data.train.x[torch.arange(5)]
    assert batch.dtype == torch.float32 and set(batch.unique().tolist()) <= {0.0, 1.0} and batch.sum() > 0
    dense = load("fsdd", tmp_path, **SMALL_FSDD)
    from bench.data.audio import threshold_spikes
    assert torch.equal(threshold_spikes(dense.train.x, 2, 0.5), data.train.x.spikes)


def test_fsdd_errors(tmp_path):
    with pytest.raises(FsddError, match=r"FSDD folder .*fsdd/recordings not found\. Get the recordings with `git clone"):
        load("fsdd", tmp_path)
    folder = build_fsdd(tmp_path, speakers=("ann",), indices=range(0, 7))
    (folder / "notes.txt").write_text("x")
    with pytest.raises(FsddError, match=r"1 file\(s\) not named .*: notes\.txt"):
        load("fsdd", tmp_path, **SMALL_FSDD)
    (folder / "notes.txt").unlink()
    (folder / "3_ann_2.wav").write_bytes(b"not a wav at all")
    with pytest.raises(AudioFileError, match=r"3_ann_2\.wav: not a readable WAV file"):
        load("fsdd", tmp_path, **SMALL_FSDD)
    (folder / "3_ann_2.wav").unlink()
    with pytest.raises(ValueError, match=r"n_val \(30\) \+ n_train \(at least 1\) exceeds the 20 training"):
        load("fsdd", tmp_path, **{**SMALL_FSDD, "n_val": 30})
    with pytest.raises(OptionError, match="spike_levels must be an integer >= 1"):
        get_task("fsdd").options({"spike_levels": 0}, "where")


def test_fsdd_resamples_other_rates(tmp_path):
    folder = build_fsdd(tmp_path, speakers=("ann",), indices=range(0, 7))
    rng = np.random.default_rng(1)
    write_wav(folder / "0_ann_6.wav", clip(rng, 16000, 0.3, 200), 16000)
    data = load("fsdd", tmp_path, **{**SMALL_FSDD, "n_val": 2})
    assert data.train.x.shape[1:] == (30, 16)


@pytest.mark.skipif(REAL_FSDD is None, reason=real_data.where_to_put("fsdd/recordings"))
def test_real_fsdd():
    data = load("fsdd", REAL_FSDD)
    assert "verified by hash" in data.source
    assert (len(data.train), len(data.val), len(data.test)) == (2400, 300, 300)
    assert data.train.x.shape == (2400, 75, 32)
    assert Counter(data.test.y.tolist()) == {d: 30 for d in range(10)}


# ----------------------------------------------------------------------------- gsc fixtures


def build_gsc(root: Path, version: str = "v0.01", noise: bool = True, per_word: int = 3) -> Path:
    """``root/speech_commands_<version>``: ``per_word`` clips per official word, lists, optional noise."""
    folder = root / f"speech_commands_{version}"
    rng = np.random.default_rng(0)
    val, test = [], []
    for w, word in enumerate(gsc_data.WORDS[version]):
        (folder / word).mkdir(parents=True)
        for n in range(per_word):
            name = f"{w:04x}abcd_nohash_{n}.wav"
            seconds = 0.6 if n == 0 else 1.0  # the first clip of each word is shorter than a second
            write_wav(folder / word / name, clip(rng, 16000, seconds, 150 + 40 * w), 16000)
            (test if n == 0 else val if n == 1 else []).append(f"{word}/{name}")
    (folder / "testing_list.txt").write_text("\n".join(test + ["yes/ffffffff_nohash_9.wav"]) + "\n")
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")
    if noise:
        (folder / "_background_noise_").mkdir()
        write_wav(folder / "_background_noise_" / "white_noise.wav",
                  (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32), 16000)
        (folder / "_background_noise_" / "README.md").write_text("noise")
    return folder


GSC_SMALL = {"version": "v0.01", "frames": 20, "bands": 12}


def test_gsc_12_class_setup(tmp_path):
    build_gsc(tmp_path, per_word=4)
    data = load("gsc", tmp_path, **GSC_SMALL)
    assert data.spec.n_classes == 12 and data.train.x.shape[1:] == (20, 12)
    # per split: 10 command clips (one per word: n=0 test, 1 val; n=2,3 train so 20), unknown and silence
    # ceil(10 %) of the command clips
    counts = {split: Counter(getattr(data, split).y.tolist()) for split in ("train", "val", "test")}
    assert counts["test"] == {**{c: 1 for c in range(10)}, 10: 1, 11: 1}
    assert counts["val"] == {**{c: 1 for c in range(10)}, 10: 1, 11: 1}
    assert counts["train"] == {**{c: 2 for c in range(10)}, 10: 2, 11: 2}
    assert "1 testing_list.txt lines name clips not present" in data.source
    other = load("gsc", tmp_path, seed=3, **GSC_SMALL)
    assert torch.equal(other.test.y, data.test.y)


def test_gsc_test_split_is_the_listed_clips(tmp_path):
    folder = build_gsc(tmp_path)
    index = gsc_data.index(tmp_path, "v0.01")
    listed = set((folder / "testing_list.txt").read_text().split())
    assert {c.key for c in index.clips if c.split == "test"} == listed - {"yes/ffffffff_nohash_9.wav"}
    assert {c.key for c in index.clips if c.split == "val"} == set((folder / "validation_list.txt").read_text().split())
    assert index.listed_absent == {"val": 0, "test": 1}
    # the short clip is zero-padded: its frames past 0.6 s hold only the log floor
    short = next(i for i, c in enumerate(index.clips) if c.key.startswith("yes/") and c.path.name.endswith("_0.wav"))
    config = FrameConfig(16000, 98, 12)
    features = speech.gsc_word_features(index, config)
    assert torch.allclose(features[short, -30:], torch.full((30, 12), float(np.log(1e-6))))
    assert features[short, :50].min() > np.log(1e-6) + 1


def test_gsc_all_words_v002(tmp_path):
    build_gsc(tmp_path, version="v0.02")
    data = load("gsc", tmp_path, version="v0.02", setup="all-words", frames=20, bands=12)
    assert data.spec.n_classes == 35
    assert Counter(data.test.y.tolist()) == {c: 1 for c in range(35)}
    assert len(data.train) == 35 and len(data.val) == 35


def test_gsc_without_background_noise(tmp_path):
    build_gsc(tmp_path, noise=False)
    with pytest.raises(GscError, match=r"no _background_noise_ folder in .*set the task option silence = false"):
        load("gsc", tmp_path, **GSC_SMALL)
    data = load("gsc", tmp_path, **GSC_SMALL, silence=False)
    assert data.spec.n_classes == 11 and 11 not in data.train.y.tolist()


def test_gsc_errors(tmp_path):
    with pytest.raises(GscError, match=r"folder .*speech_commands_v0.01 not found\. Download http"):
        load("gsc", tmp_path, **GSC_SMALL)
    folder = build_gsc(tmp_path, per_word=1)
    (folder / "validation_list.txt").unlink()
    with pytest.raises(GscError, match=r"split list .*validation_list\.txt not found"):
        load("gsc", tmp_path, **GSC_SMALL)
    (folder / "validation_list.txt").write_text("")
    (folder / "banana").mkdir()
    with pytest.raises(GscError, match=r"holds folder\(s\) banana that are not words of Speech Commands v0.01"):
        load("gsc", tmp_path, **GSC_SMALL)
    (folder / "banana").rmdir()
    (folder / "yes" / "0000abcd_nohash_7.wav").write_bytes(b"RIFF....broken")
    with pytest.raises(AudioFileError, match=r"yes/0000abcd_nohash_7\.wav: not a readable WAV file"):
        load("gsc", tmp_path, **GSC_SMALL)
    with pytest.raises(OptionError, match="setup must be one of 12-class, all-words"):
        get_task("gsc").options({"setup": "35"}, "where")
    with pytest.raises(OptionError, match="version must be one of v0.01, v0.02"):
        get_task("gsc").options({"version": "v3"}, "where")


@pytest.mark.skipif(REAL_GSC is None, reason=real_data.where_to_put(GSC_SUBSET))
def test_real_gsc_subset():
    index = gsc_data.index(REAL_GSC, "v0.01", GSC_SUBSET)
    assert Counter(c.split for c in index.clips) == {"train": 205, "val": 44, "test": 51}
    assert not index.has_noise_folder
    data = load("gsc", REAL_GSC, version="v0.01", folder=GSC_SUBSET, setup="all-words")
    assert data.spec.n_classes == 30 and data.train.x.shape == (205, 98, 40)
    assert (len(data.val), len(data.test)) == (44, 51)
    twelve = load("gsc", REAL_GSC, version="v0.01", folder=GSC_SUBSET, silence=False)
    assert twelve.spec.n_classes == 11 and (len(twelve.train), len(twelve.val), len(twelve.test)) == (64, 21, 26)


# ----------------------------------------------------------------------------- shd


def write_shd(path: Path, times: list[list[float]], units: list[list[int]], labels: list[int]) -> None:
    """An HDF5 file in the official SHD layout."""
    h5py = pytest.importorskip("h5py")
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        t = file.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float16))
        u = file.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i] = np.array(ti, dtype=np.float16)
            u[i] = np.array(ui, dtype=np.uint16)
        file.create_dataset("labels", data=np.array(labels, dtype=np.uint16))
        file.create_dataset("extra/keys", data=np.array([b"zero"] * 20))
        file.create_dataset("extra/speaker", data=np.zeros(len(labels), dtype=np.uint16))


def build_shd(root: Path, n_train: int = 12, n_test: int = 4) -> tuple[list, list]:
    rng = np.random.default_rng(0)
    made = {}
    for split, n in (("train", n_train), ("test", n_test)):
        times = [np.sort(rng.uniform(0, 1.2, 30)).tolist() for _ in range(n)]
        units = [rng.integers(0, 700, 30).tolist() for _ in range(n)]
        labels = [i % 20 for i in range(n)]
        write_shd(root / "shd" / f"shd_{split}.h5", times, units, labels)
        made[split] = (times, units, labels)
    return made


def reference_bins(times, units, steps, duration_s):
    out = np.zeros((steps, 700))
    for t, u in zip(np.asarray(times, dtype=np.float16).astype(np.float64), units):
        micro = int(t * 1e6)
        if micro < duration_s * 1e6:
            out[int(micro // (duration_s * 1e6 / steps)), u] += 1
    return out


def test_shd_loads_the_official_layout_and_bins_like_a_direct_count(tmp_path):
    pytest.importorskip("tonic")
    made = build_shd(tmp_path)
    data = load("shd", tmp_path, n_val=3, steps=50)
    assert data.spec.n_steps == 50 and data.spec.n_features == 700 and data.spec.n_classes == 20
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 4)
    times, units, labels = made["test"]
    dense = data.test.x[torch.arange(4)]
    assert dense.shape == (4, 50, 700)
    for i in range(4):
        np.testing.assert_array_equal(dense[i].numpy(), reference_bins(times[i], units[i], 50, 1.0))
    assert data.test.y.tolist() == labels
    assert torch.equal(data.test.x[1], dense[1])
    binary = load("shd", tmp_path, n_val=3, steps=5, binary=True)
    assert binary.train.x[torch.arange(9)].max() == 1.0


def test_missing_data_is_reported_before_loading(tmp_path):
    def missing(name: str, data_dir: Path, **values) -> str | None:
        task = get_task(name)
        return task.missing_data(task.options(values, "test"), data_dir)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "FSDD folder" in missing("fsdd", empty) and "rcbench data fetch fsdd" in missing("fsdd", empty)
    assert "Speech Commands v0.02 folder" in missing("gsc", empty)
    assert "shd_train.h5" in missing("shd", empty) and "rcbench data fetch shd" in missing("shd", empty)
    build_fsdd(tmp_path / "full")
    build_gsc(tmp_path / "full", "v0.01")
    build_shd(tmp_path / "full")
    assert missing("fsdd", tmp_path / "full") is None
    assert missing("gsc", tmp_path / "full", version="v0.01") is None
    assert missing("shd", tmp_path / "full") is None
    (tmp_path / "full" / "shd" / "shd_test.h5").unlink()
    assert "shd_test.h5" in missing("shd", tmp_path / "full") and "shd_train.h5" not in missing("shd", tmp_path / "full")


def test_shd_errors(tmp_path):
    pytest.importorskip("tonic")
    from bench.data.shd import ShdError
    with pytest.raises(ShdError, match=r"SHD file .*shd_train\.h5 not found\. Download https://zenkelab"):
        load("shd", tmp_path)
    h5py = pytest.importorskip("h5py")
    (tmp_path / "shd").mkdir()
    with h5py.File(tmp_path / "shd" / "shd_train.h5", "w") as file:
        file.create_dataset("labels", data=np.zeros(2, dtype=np.uint16))
    with pytest.raises(ShdError, match=r"shd_train\.h5 is not an SHD file: it has no spikes/times, spikes/units"):
        load("shd", tmp_path)
    (tmp_path / "shd" / "shd_train.h5").write_bytes(b"garbage")
    with pytest.raises(ShdError, match=r"shd_train\.h5: not a readable HDF5 file"):
        load("shd", tmp_path)


# ----------------------------------------------------------------------------- every contender on every speech task

SPEECH_PROFILE = """
name = "speech-tiny"
seeds = [0]
[protocol]
epochs = 1
lr_schedule = "constant"
selection = "best-val-accuracy"
[contenders.rc-lstm]
hidden = 4
[contenders.lstm-eos]
hidden = 4
[contenders.lstm-allsteps]
hidden = 4
[contenders.snn-ttfs]
hidden = 4
[tasks.fsdd]
thresholds = [0.9]
[tasks.fsdd.data]
n_val = 4
frames = 12
bands = 8
[[tasks.fsdd.overrides]]
contender = "snn-ttfs"
setting = "data.spikes"
value = true
reason = "spikes for the spiking network"
[tasks.gsc]
thresholds = [0.9]
[tasks.gsc.data]
version = "v0.01"
setup = "all-words"
frames = 10
bands = 8
[[tasks.gsc.overrides]]
contender = "snn-ttfs"
setting = "data.spikes"
value = true
reason = "spikes for the spiking network"
[tasks.shd]
thresholds = [0.9]
[tasks.shd.data]
steps = 10
n_val = 2
"""


def test_every_contender_runs_on_every_speech_task(tmp_path, capsys):
    from bench.cli import main
    from bench.core.records import read_records

    build_fsdd(tmp_path / "data")
    build_gsc(tmp_path / "data", "v0.01", per_word=3)
    build_shd(tmp_path / "data")
    (tmp_path / "speech.toml").write_text(SPEECH_PROFILE, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", "--profile", str(tmp_path / "speech.toml"), "--out", str(out), "--device", "cpu",
                 "--workers", "1", "--data-dir", str(tmp_path / "data")])
    assert code == 0, capsys.readouterr().err
    records = read_records(out / "results.jsonl")
    assert {(r["task"], r["contender"]) for r in records} == {
        (task, contender) for task in ("fsdd", "gsc", "shd")
        for contender in ("rc-lstm", "lstm-eos", "lstm-allsteps", "snn-ttfs")}
    for record in records:
        spiking = record["contender"] == "snn-ttfs" and record["task"] != "shd"
        assert record["data_options"].get("spikes", False) is spiking
        assert len(record["accuracy_by_step"]) == {"fsdd": 12, "gsc": 10, "shd": 10}[record["task"]]
        if spiking:  # the spike code triples the features; ACs only on the first layer's input
            assert record["ops_effective_acs"] > 0
