"""Test of tools/gsc_estimate.py (the size and time estimate of a full Speech Commands v0.02 run) on a
tiny fixture folder: it must run end to end and write its numbers, counts and provenance."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from bench.data.audio import write_wav
from bench.data import gsc as gsc_data

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gsc_estimate.py"


def build(root: Path) -> None:
    folder = root / "speech_commands_v0.01"
    rng = np.random.default_rng(0)
    test, val = [], []
    for w, word in enumerate(gsc_data.WORDS["v0.01"]):
        (folder / word).mkdir(parents=True)
        for n in range(3):
            name = f"{w:04x}abcd_nohash_{n}.wav"
            write_wav(folder / word / name, (0.1 * rng.standard_normal(4000)).astype(np.float32), 16000)
            (test if n == 0 else val if n == 1 else []).append(f"{word}/{name}")
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")


@pytest.mark.slow
def test_estimate_runs_and_writes_measured_numbers(tmp_path):
    build(tmp_path)
    out = tmp_path / "out"
    main = runpy.run_path(str(TOOL))["main"]
    assert main(["--data-dir", str(tmp_path), "--folder", "speech_commands_v0.01", "--hidden", "8", "--epochs", "1",
                 "--repeats", "1", "--full-epochs", "2", "--out", str(out)]) == 0
    payload = json.loads((out / "estimate.json").read_text())
    measured, estimate = payload["measured"], payload["estimate"]
    assert measured["clips"] == 90
    assert measured["counts"]["all-words"]["test"] == {word: 1 for word in gsc_data.WORDS["v0.01"]}
    assert sum(measured["counts"]["12-class (silence = false)"]["train"].values()) == 10 + 1  # ceil(10 % of 10)
    assert measured["features"]["cached_bytes_per_clip"] == 98 * 40 * 4
    assert measured["training"]["train_examples"] == 30 and measured["training"]["mean_steps_read"] > 0
    assert estimate["clips"] == 105_829
    assert estimate["cached_feature_bytes"] == 98 * 40 * 4 * 105_829
    assert estimate["run_seconds"] == 2 * (estimate["train_seconds_per_epoch"] + estimate["val_seconds_per_epoch"])
    text = (out / "estimate.md").read_text()
    assert text.startswith("# Google Speech Commands: size and time of a full v0.02 run")
    assert "84,843" in text and "### all-words" in text and "- git revision: `" in text
