"""Cell-by-cell comparison of records files (bench/analysis/compare.py, ``rcbench compare-records``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.analysis.compare import VOLATILE_FIELDS, cell_name, compare_records, format_comparison
from bench.core.records import record_key
from helpers import make_record


def records() -> list[dict]:
    return [make_record(seed=seed, theta=theta) for seed in (0, 1) for theta in (0.9, 0.95)]


def rerun(records_a: list[dict]) -> list[dict]:
    """The same cells run again: other timings, creation time and command, in another order."""
    result = copy.deepcopy(records_a)[::-1]
    for number, record in enumerate(result):
        record["created"] = f"2025-01-0{number + 1}T00:00:00+00:00"
        record["command"] = "rcbench run --executor ray"
        record["training"].update(train_seconds=9.5 + number, validation_seconds=0.5, examples_per_second=12.0)
    return result


def test_same_cells_with_other_timings_are_identical():
    a = records()
    comparison = compare_records(a, rerun(a))
    assert comparison.identical and len(comparison.same) == 4
    assert comparison.different == comparison.only_a == comparison.only_b == []
    text = format_comparison(comparison, "A.jsonl", "B.jsonl")
    assert "**identical**: 4 cells; 4 equal, 0 different, 0 only in A, 0 only in B." in text
    assert "`training.train_seconds`" in text and "`created`" in text


def test_a_metric_or_a_nested_field_that_differs_is_named_with_both_values():
    a = records()
    b = rerun(a)
    b[0]["accuracy"] = 0.75  # the last cell of a, seed 1 theta 0.95
    b[1]["training"]["final_train_loss"] = 0.31
    b[2]["accuracy_by_step"] = [0.5, 0.6, 0.7, 0.9]
    comparison = compare_records(a, b)
    assert not comparison.identical and len(comparison.same) == 1
    found = {cell_name(key): paths for key, paths in comparison.different}
    assert found == {
        "toy-noise rc-lstm seed=1 beta=0 theta=0.95": [("accuracy", 0.8, 0.75)],
        "toy-noise rc-lstm seed=1 beta=0 theta=0.9": [("training.final_train_loss", 0.3, 0.31)],
        "toy-noise rc-lstm seed=0 beta=0 theta=0.95": [("accuracy_by_step", [0.5, 0.6, 0.7, 0.8],
                                                        [0.5, 0.6, 0.7, 0.9])],
    }
    text = format_comparison(comparison, "A", "B")
    assert "**DIFFERENT**: 4 cells; 1 equal, 3 different, 0 only in A, 0 only in B." in text
    assert "| toy-noise rc-lstm seed=1 beta=0 theta=0.95 | `accuracy` | 0.8 | 0.75 |" in text


def test_a_field_missing_on_one_side_or_of_another_type_differs():
    a = [make_record()]
    b = [make_record(accuracy=1)]  # the int 1, not 0.8
    del b[0]["hardware"]["cpu"]
    b[0]["decision_lag_mean"] = 0.5
    (key, found), = compare_records(a, b).different
    assert found == [("accuracy", 0.8, 1), ("decision_lag_mean", "(missing)", 0.5), ("hardware.cpu", "Test CPU", "(missing)")]
    assert compare_records([make_record(accuracy=1.0)], [make_record(accuracy=1)]).different  # 1.0 is not 1


def test_cells_only_on_one_side_and_a_changed_config_hash_are_listed():
    a = records()
    b = rerun(a)[1:]  # drops seed 1 theta 0.95
    b.append(make_record(seed=2))
    moved = make_record(seed=0, theta=0.9, config_hash="0123456789abcdef")
    comparison = compare_records([*a, make_record(seed=0, theta=0.9, config_hash="fedcba9876543210")], [*b, moved])
    assert [cell_name(key) for key in comparison.only_a] == ["toy-noise rc-lstm seed=0 beta=0 theta=0.9",
                                                             "toy-noise rc-lstm seed=1 beta=0 theta=0.95"]
    assert [key[-1] for key in comparison.only_a] == ["fedcba9876543210", None]
    assert [(cell_name(key), key[-1]) for key in comparison.only_b] == [
        ("toy-noise rc-lstm seed=0 beta=0 theta=0.9", "0123456789abcdef"),
        ("toy-noise rc-lstm seed=2 beta=0 theta=0.9", None)]
    assert "Only in A:\n\n- toy-noise rc-lstm seed=0 beta=0 theta=0.9\n" in format_comparison(comparison, "A", "B")


def test_ignored_fields_and_duplicate_keys():
    a, b = [make_record()], [make_record(hardware={"cpu": "Other CPU", "device": "cpu"})]
    assert not compare_records(a, b).identical
    assert compare_records(a, b, (*VOLATILE_FIELDS, "hardware.cpu")).identical
    assert compare_records(a, b, ("hardware",)).identical
    assert not compare_records(a, [make_record(created="later")], ()).identical  # nothing left out
    with pytest.raises(ValueError, match=r"records B hold two records of the cell toy-noise rc-lstm seed=0 beta=0 theta=0.9"):
        compare_records(a, [make_record(), make_record()])
    assert record_key(a[0]) == record_key(b[0])


def write(path: Path, rows: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_compare_records_command(tmp_path, capsys):
    a = write(tmp_path / "a", records())
    b = write(tmp_path / "b", rerun(records()))
    assert main(["compare-records", str(a), str(b / "results.jsonl"), "--out", str(tmp_path / "cmp.md")]) == 0
    out = capsys.readouterr().out
    assert "**identical**: 4 cells" in out and (tmp_path / "cmp.md").read_text(encoding="utf-8") == out
    changed = rerun(records())
    changed[0]["hardware"]["cpu"] = "Other CPU"
    write(tmp_path / "c", changed)
    assert main(["compare-records", str(a), str(tmp_path / "c")]) == 1
    assert "`hardware.cpu` | 'Test CPU' | 'Other CPU' |" in capsys.readouterr().out
    assert main(["compare-records", str(a), str(tmp_path / "c"), "--ignore", "hardware.cpu"]) == 0
    assert main(["compare-records", str(a), str(tmp_path / "missing")]) == 2
    assert "rcbench: error: no records file at" in capsys.readouterr().err


def test_history_timings_are_ignored_but_history_values_are_compared_item_by_item():
    a = records()
    b = rerun(a)
    for record in b:
        for item in record["training"]["history"]:
            item["train_seconds"] += 3.0
    assert compare_records(a, b).identical
    b[2]["training"]["history"][1]["val_accuracy"] = 0.5
    comparison = compare_records(a, b)
    [(_key, found)] = comparison.different
    assert found == [("training.history[1].val_accuracy", 0.75, 0.5)]
