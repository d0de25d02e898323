"""Bad input to ``rcbench run`` gets one error that names the problem, before anything is trained."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.data.mnist import MNIST


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any training starts."""
    import baselines.training_loop as loop

    def refuse(*args, **kwargs):
        raise AssertionError("training started")
    monkeypatch.setattr(loop, "fit_minibatches", refuse)
    monkeypatch.setattr("baselines.step_contender.fit_minibatches", refuse)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["run", "--device", "cpu", *argv])
    return code, capsys.readouterr().err


def test_a_truncated_mnist_file_is_named_before_training(capsys, tmp_path, no_training):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for file in MNIST.files.values():
        whole = gzip.compress(b"\x00" * 4096)
        (folder / f"{file.name}.gz").write_bytes(whole[: len(whole) // 2])
    code, err = run(capsys, "--profile", "quick", "--tasks", "mnist-temporal", "--contenders", "lstm-eos",
                    "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "data missing or damaged for 1 task(s), nothing was trained" in err
    assert "train-images-idx3-ubyte.gz is not a valid gzip file (truncated or corrupt" in err
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_a_mistyped_data_folder_is_an_error_not_a_fallback(capsys, tmp_path, no_training):
    code, err = run(capsys, "--profile", "quick", "--tasks", "mnist-temporal", "--data-dir", str(tmp_path / "dta"),
                    "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"--data-dir {tmp_path / 'dta'}: no such folder" in err


def test_the_data_folder_variable_naming_no_folder_is_an_error(capsys, tmp_path, monkeypatch, no_training):
    monkeypatch.setenv("RCBENCH_DATA_DIR", str(tmp_path / "nowhere"))
    code, err = run(capsys, "--profile", "quick", "--tasks", "toy-noise", "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"RCBENCH_DATA_DIR {tmp_path / 'nowhere'}: no such folder" in err


def test_out_naming_a_file_is_an_error_before_training(capsys, tmp_path, no_training):
    (tmp_path / "taken").write_text("x", encoding="utf-8")
    code, err = run(capsys, "--profile", "quick", "--tasks", "toy-noise", "--out", str(tmp_path / "taken"))
    assert code == 2
    assert f"--out {tmp_path / 'taken'} is a file; it must name a folder" in err


@pytest.mark.parametrize("lr", ["1e38", "inf", "nan"])
def test_an_absurd_learning_rate_is_named_before_training(capsys, tmp_path, no_training, lr):
    profile = Path(tmp_path / "p.toml")
    profile.write_text(f'extends = "quick"\nname = "lr"\n[tasks.toy-noise.contenders.lstm-eos]\nlr = {lr}\n',
                       encoding="utf-8")
    code, err = run(capsys, "--profile", str(profile), "--tasks", "toy-noise", "--contenders", "lstm-eos",
                    "--out", str(tmp_path / "out"))
    assert code == 2
    assert re.search(r"contender lstm-eos: (option 'lr' must be finite|lr must lie in \(0, 1\])", err), err
