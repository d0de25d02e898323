"""Tests of making a report folder and making it again from the command it records
(bench/analysis/regenerate.py, ``rcbench figures --regenerate``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.regenerate import ReportError, make_report, recorded_arguments, regenerate
from bench.cli import main
from helpers import make_record


def write_records(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder


@pytest.fixture
def tree(tmp_path):
    """results/run (records) and results/combined (a report over ../run)."""
    records = [make_record(seed=seed, contender=name) for seed in (0, 1) for name in ("rc-lstm", "lstm-eos")]
    run = write_records(tmp_path / "results" / "run", records)
    make_report([run], tmp_path / "results" / "combined")
    return tmp_path / "results"


def test_a_report_records_the_command_that_makes_it_relative_to_its_folder(tree):
    report = tree / "combined" / "REPORT.md"
    assert recorded_arguments(report) == ["--results", "../run", "--out", "."]
    text = report.read_text(encoding="utf-8")
    assert "Made by `rcbench figures --results ../run --out .` in this folder" in text
    assert "records in `../run/results.jsonl`" in text


def test_regenerating_gives_the_same_files_byte_for_byte(tree):
    result = regenerate(tree / "combined" / "REPORT.md", check=True)
    assert result.different == ()


def test_check_names_what_changed_and_changes_nothing_then_regenerate_rewrites(tree, capsys):
    report = tree / "combined" / "REPORT.md"
    before = report.read_bytes()
    lines = (tree / "run" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    changed = json.loads(lines[0])
    changed["accuracy_by_step"] = [0.4, 0.6, 0.7, 0.8]
    changed["first_step_accuracy"] = 0.4
    lines[0] = json.dumps(changed)
    (tree / "run" / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["figures", "--regenerate", str(tree), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"{report}: " in out and "REPORT.md" in out and "differ" in out
    assert report.read_bytes() == before
    assert main(["figures", "--regenerate", str(tree)]) == 0
    assert report.read_bytes() != before
    assert main(["figures", "--regenerate", str(tree), "--check"]) == 0
    assert "byte for byte" in capsys.readouterr().out


def test_an_existing_report_is_not_overwritten_unasked(tree, capsys):
    assert main(["figures", "--results", str(tree / "run"), "--out", str(tree / "combined")]) == 2
    assert "REPORT.md exists; pass --overwrite" in capsys.readouterr().err
    assert main(["figures", "--results", str(tree / "run"), "--out", str(tree / "combined"), "--overwrite"]) == 0


def test_a_report_without_a_recorded_command_is_named(tmp_path):
    old = tmp_path / "REPORT.md"
    old.write_text("# rcbench report\n", encoding="utf-8")
    with pytest.raises(ReportError, match="records no rcbench figures command"):
        regenerate(old)


def test_a_report_another_tool_wrote_is_skipped_when_walking_a_folder(tree, capsys):
    """Walking a folder, a REPORT.md that rcbench figures did not write (the mutation report) is named
    as skipped, not an error; the figures reports beside it are still checked."""
    other = tree / "mutation" / "REPORT.md"
    other.parent.mkdir()
    other.write_text("# Mutation testing\n\nmade by tools/mutation_report.py\n", encoding="utf-8")
    assert main(["figures", "--regenerate", str(tree), "--check"]) == 0
    printed = capsys.readouterr().out
    assert f"{other}: skipped (not made by rcbench figures)" in printed
    assert "byte for byte" in printed
    with pytest.raises(ReportError, match="records no rcbench figures command"):
        regenerate(other)
