"""The typed record schema (:mod:`bench.core.record_schema`) and what reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.summary import configuration_label, group_records
from bench.core import records
from bench.core.record_schema import FIELDS_BY_NAME, RECORD_FIELDS, Field, GroupKey, RecordKey
from bench.core.records import RecordError, append_record, read_records, record_key, validate_record
from helpers import make_record

ROOT = Path(__file__).resolve().parents[1]


def test_the_field_tuples_come_from_the_schema():
    assert records.CELL_FIELDS == ("task", "contender", "seed", "theta", "beta", "profile", "rule")
    assert records.KEY_FIELDS == (*records.CELL_FIELDS, "config_hash")
    assert set(records.REQUIRED_FIELDS) == {f.name for f in RECORD_FIELDS if f.required}
    assert "decision_lag_mean" in records.OPTIONAL_METRIC_FIELDS and "accuracy" in records.METRIC_FIELDS
    assert all(FIELDS_BY_NAME[name].type == "metric" for name in records.METRIC_FIELDS)


def test_every_field_has_a_type_and_a_description():
    for field in RECORD_FIELDS:
        assert field.description.strip(), field.name
    with pytest.raises(ValueError, match="unknown type 'float'"):
        Field("x", "float", "a number")


@pytest.mark.parametrize("name, value, message", [
    ("seed", "3", r"seed must be integer, got '3'"),
    ("seed", True, r"seed must be integer, got True"),
    ("theta", "high", r"theta must be number or null, got 'high'"),
    ("task", None, r"task must be string, got None"),
    ("training", [], r"training must be object, got \[\]"),
])
def test_a_field_of_the_wrong_type_is_named(name, value, message):
    record = make_record()
    record[name] = value
    with pytest.raises(RecordError, match=message):
        validate_record(record)


def test_a_nested_field_of_the_wrong_type_is_named_with_its_path():
    record = make_record()
    record["training"]["epochs"] = 2.5
    with pytest.raises(RecordError, match=r"training\.epochs must be integer, got 2\.5"):
        validate_record(record)
    record = make_record()
    record["protocol"] = {"settings": {}, "overrides": [{"setting": 5, "value": None, "reason": "its own"}]}
    with pytest.raises(RecordError, match=r"protocol\.overrides\[0\]\.setting must be string, got 5"):
        validate_record(record)
    record["protocol"]["overrides"][0]["setting"] = "epochs"  # value is of any type, null included
    validate_record(record)


def test_the_writer_refuses_a_field_the_schema_does_not_declare(tmp_path):
    record = make_record()
    record["brand_new"] = 1
    validate_record(record)  # a reader tolerates it (written by a newer rcbench of the same schema version)
    with pytest.raises(RecordError, match=r"brand_new not declared in the record schema"):
        append_record(tmp_path / "results.jsonl", record)
    assert not (tmp_path / "results.jsonl").exists()


def test_record_key_and_group_key_have_named_fields(tmp_path):
    record = make_record(theta=0.9, seed=2)
    key = record_key(record)
    assert isinstance(key, RecordKey) and key.theta == 0.9 and key.seed == 2
    assert key == tuple(record.get(name) for name in records.KEY_FIELDS)  # still a plain tuple too
    assert key.cell == tuple(record[name] for name in records.CELL_FIELDS)
    (group,) = group_records([record])
    assert isinstance(group, GroupKey) and group.contender == record["contender"] and group.theta == 0.9
    assert configuration_label(group) == f"{record['contender']} θ=0.9" + (
        f" β={record['beta']:g}" if record["beta"] is not None else "")


def test_every_committed_records_file_reads_with_the_schema():
    paths = sorted((ROOT / "results").glob("**/results.jsonl"))
    assert paths
    for path in paths:
        assert read_records(path), path


def test_the_reference_page_prints_each_fields_type():
    text = (ROOT / "docs" / "reference" / "records.md").read_text(encoding="utf-8")
    for field in RECORD_FIELDS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{field.name}` |"))
        assert f"| {field.type_text()} |" in row and json.dumps(field.name).strip('"') in row
