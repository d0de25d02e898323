"""Tests of bench/core/records.py (JSON-lines records) and bench/analysis/summary.py (mean ± 95% interval tables)."""

from __future__ import annotations

import json
import re
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.core.records import (
    CELL_FIELDS,
    KEY_FIELDS,
    METRIC_FIELDS,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    RecordError,
    append_record,
    read_records,
    record_key,
    recorded_keys,
    validate_record,
)
from bench.analysis.summary import COLUMNS, markdown_table, summary_rows, write_summary
from helpers import make_record


def test_helper_record_has_every_required_field():
    record = make_record()
    assert set(REQUIRED_FIELDS) <= set(record)
    assert set(CELL_FIELDS) | set(METRIC_FIELDS) <= set(REQUIRED_FIELDS)
    assert KEY_FIELDS == (*CELL_FIELDS, "config_hash")  # optional when reading: older records lack it
    validate_record(record)


def test_records_round_trip(tmp_path):
    path = tmp_path / "sub" / "results.jsonl"  # the folder is created on the first append
    first = make_record()
    second = make_record(seed=1, accuracy=0.9, decision_lag_mean=1.25)
    append_record(path, first)
    append_record(path, second)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == first
    assert read_records(path) == [first, second]


def test_read_records_skips_blank_lines(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("\n" + json.dumps(make_record()) + "\n\n   \n", encoding="utf-8")
    assert read_records(path) == [make_record()]


def test_record_keys():
    record = make_record(seed=3, theta=0.95)
    assert record_key(record) == ("toy-noise", "rc-lstm", 3, 0.95, 0.0, "quick", "two-sided", None)
    assert recorded_keys([record, make_record(seed=3, theta=0.95), make_record(config_hash="0123abcd")]) == {
        ("toy-noise", "rc-lstm", 3, 0.95, 0.0, "quick", "two-sided", None),
        ("toy-noise", "rc-lstm", 0, 0.9, 0.0, "quick", "two-sided", "0123abcd"),
    }


@pytest.mark.parametrize("field", ["git_revision", "accuracy", "training", "rule", "created"])
def test_missing_field_is_named(tmp_path, field):
    record = make_record()
    del record[field]
    with pytest.raises(RecordError, match=rf"^record: missing field\(s\) {field}$"):
        validate_record(record)
    path = tmp_path / "results.jsonl"
    with pytest.raises(RecordError, match=field):
        append_record(path, record)
    assert not path.exists()  # nothing was written


def test_several_missing_fields_are_all_named():
    record = make_record()
    del record["seed"], record["command"]
    with pytest.raises(RecordError, match=r"missing field\(s\) seed, command"):
        validate_record(record)


@pytest.mark.parametrize("version", [SCHEMA_VERSION - 1, SCHEMA_VERSION + 1, 0, None, str(SCHEMA_VERSION)])
def test_wrong_schema_version(version):
    with pytest.raises(RecordError, match=rf"schema_version is {re.escape(repr(version))}, "
                                          rf"this rcbench reads version {SCHEMA_VERSION}"):
        validate_record(make_record(schema_version=version))


def test_missing_schema_version():
    record = make_record()
    del record["schema_version"]
    with pytest.raises(RecordError, match="schema_version is None"):
        validate_record(record)


def test_record_must_be_an_object():
    with pytest.raises(RecordError, match="a record must be a JSON object, got list"):
        validate_record([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("accuracy", float("nan"), r"record: accuracy is nan"),
        ("decision_step_mean", float("inf"), r"record: decision_step_mean is inf"),
        ("accuracy_by_step", [0.5, float("nan"), 0.7], r"record: accuracy_by_step\[1\] is nan"),
    ],
)
def test_non_finite_metric_is_named(tmp_path, field, value, named):
    with pytest.raises(RecordError, match=named):
        validate_record(make_record(**{field: value}))
    path = tmp_path / "results.jsonl"
    with pytest.raises(RecordError, match=field):
        append_record(path, make_record(**{field: value}))
    assert not path.exists()


@pytest.mark.parametrize("field", ["accuracy", "never_crossed_fraction", "inference_step_evaluations"])
def test_null_metric_is_named(field):
    with pytest.raises(RecordError, match=rf"metric {field} is null"):
        validate_record(make_record(**{field: None}))


def test_read_records_names_file_and_line(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps(make_record())
    missing = make_record()
    del missing["hardware"]
    cases = {
        "missing field": (json.dumps(missing), r"missing field\(s\) hardware"),
        "wrong schema": (json.dumps(make_record(schema_version=7)), "schema_version is 7"),
        "NaN metric": (json.dumps(make_record(accuracy=float("nan"))), "accuracy is nan"),
        "null metric": (json.dumps(make_record(accuracy=None)), "metric accuracy is null"),
        "invalid JSON": ('{"schema_version": 1, "task": ', "not valid JSON"),
    }
    for _case, (bad_line, message) in cases.items():
        path.write_text(good + "\n\n" + bad_line + "\n" + good + "\n", encoding="utf-8")
        with pytest.raises(RecordError, match=rf"^{re.escape(str(path))}:3: {message}"):
            read_records(path)


def test_read_records_without_file(tmp_path):
    with pytest.raises(RecordError, match="no records file at .*nothing.jsonl"):
        read_records(tmp_path / "nothing.jsonl")


# ----------------------------------------------------------------------------- summary


SEED_GROUP = [
    make_record(seed=0, accuracy=0.81, first_step_accuracy=0.52, decision_step_mean=2.25, decision_step_p90=4.0,
                never_crossed_fraction=0.10, decision_lag_mean=1.0,
                training={"train_seconds": 1.0, "step_evaluations_forward": 4000},
                command="rcbench run a", created="2024-01-02T00:00:00+00:00"),
    make_record(seed=1, accuracy=0.85, first_step_accuracy=0.50, decision_step_mean=2.75, decision_step_p90=3.0,
                never_crossed_fraction=0.05, decision_lag_mean=2.0,
                training={"train_seconds": 2.0, "step_evaluations_forward": 5000},
                command="rcbench run a", created="2024-01-01T00:00:00+00:00"),
    make_record(seed=2, accuracy=0.90, first_step_accuracy=0.55, decision_step_mean=3.50, decision_step_p90=5.0,
                never_crossed_fraction=0.20, decision_lag_mean=0.5,
                training={"train_seconds": 4.0, "step_evaluations_forward": 6000},
                command="rcbench run b", created="2024-01-03T00:00:00+00:00"),
]
OTHER = make_record(contender="lstm-eos", beta=None, accuracy=0.7,
                    training={"train_seconds": 3.0, "step_evaluations_forward": 7000})


def parse_mean_sd(cell: str) -> tuple[float, float]:
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", cell)
    assert match, cell
    return float(match.group(1)), float(match.group(2))


def t_half_width(values) -> float:
    """Half-width of the 95% Student-t interval of the mean, recomputed independently."""
    values = np.asarray(values, dtype=float)
    return scipy_stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))


def test_summary_rows_mean_and_interval_over_three_seeds():
    rows = summary_rows([*SEED_GROUP, OTHER])
    assert len(rows) == 2
    row, other = rows
    assert (row["task"], row["contender"], row["rule"], row["theta"], row["beta"], row["profile"], row["seeds"]) == (
        "toy-noise", "rc-lstm", "two-sided", "0.9", "0.0", "quick", "3")
    for field, _title, digits in COLUMNS:
        values = np.array([record[field] for record in SEED_GROUP], dtype=float)
        mean, sd = parse_mean_sd(row[field])
        assert abs(mean - values.mean()) <= 0.5 * 10**-digits + 1e-12, field
        assert abs(sd - t_half_width(values)) <= 0.5 * 10**-digits + 1e-12, field
        assert len((row[field].split(" ± ")[0].split(".") + [""])[1]) == digits
    train = np.array([1.0, 2.0, 4.0])
    mean, sd = parse_mean_sd(row["train_seconds"])
    assert mean == pytest.approx(train.mean(), abs=0.05) and sd == pytest.approx(t_half_width(train), abs=0.05)
    assert float(row["train_step_evals"]) == pytest.approx(5000)
    # a group of one seed shows the value without ±, and a missing optional column as '-'
    assert other["contender"] == "lstm-eos" and other["beta"] == "-" and other["seeds"] == "1"
    assert other["accuracy"] == "0.7000"
    assert other["decision_lag_mean"] == "-"
    assert other["train_seconds"] == "3.0"


def test_summary_rows_separate_groups_by_theta():
    rows = summary_rows([make_record(theta=0.9), make_record(theta=0.95, seed=1), make_record(theta=0.9, seed=2)])
    assert [(row["theta"], row["seeds"]) for row in rows] == [("0.9", "2"), ("0.95", "1")]


def test_summary_rows_reject_a_column_present_in_only_some_records():
    records = [make_record(decision_lag_mean=1.0), make_record(seed=1)]
    with pytest.raises(ValueError, match="field decision_lag_mean is present in only some records"):
        summary_rows(records)


def test_markdown_table_shows_the_summary_values():
    table = markdown_table([*SEED_GROUP, OTHER])
    lines = table.splitlines()
    assert len(lines) == 4  # header, separator, two groups
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:5] == ["task", "contender", "theta", "beta", "seeds"]
    assert lines[1].count("---|") == len(header)
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert len(cells) == len(header)
    accuracy = np.array([0.81, 0.85, 0.90])
    expected = f"{accuracy.mean():.4f} ± {t_half_width(accuracy):.4f}"
    assert cells[header.index("accuracy")] == expected == "0.8533 ± 0.1120"
    assert cells[:5] == ["toy-noise", "rc-lstm", "0.9", "0.0", "3"]
    lag = statistics.fmean([1.0, 2.0, 0.5])
    assert cells[header.index("lag (positives)")].startswith(f"{lag:.2f} ± ")


def test_markdown_table_names_the_profile_only_when_there_are_several():
    table = markdown_table([make_record(profile="a"), make_record(profile="b", seed=1)])
    header, _separator, *rows = table.splitlines()
    assert [cell.strip() for cell in header.strip("|").split("|")][:3] == ["task", "profile", "contender"]
    assert [row.split("|")[2].strip() for row in rows] == ["a", "b"]
    assert "profile" not in markdown_table([make_record(profile="a")]).splitlines()[0]


def test_write_summary_contains_table_and_provenance(tmp_path):
    path = tmp_path / "summary.md"
    records = [*SEED_GROUP, OTHER]
    write_summary(records, path, "My title")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# My title\n")
    assert "from 4 records (2024-01-01T00:00:00+00:00 to 2024-01-03T00:00:00+00:00)" in text
    assert markdown_table(records) in text
    provenance = text.split("## Provenance", 1)[1]
    assert "- command: `rcbench run a`" in provenance
    assert "- command: `rcbench run b`" in provenance
    assert "- command: `rcbench run --profile quick`" in provenance
    assert provenance.count("rcbench run a") == 1  # distinct values only
    assert "- git revision: `abc1234`" in provenance
    assert "- versions: python 3.11.0, torch 2.3.0" in provenance
    assert "- hardware: cpu: Test CPU, device: cpu" in provenance
    assert "- data: toy-noise: generated, data seed 0" in provenance





def test_nan_in_optional_metric_decision_lag_is_rejected(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(make_record(decision_lag_mean=float("nan"))) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match="decision_lag_mean"):
        read_records(path)


def test_null_inside_accuracy_by_step_is_rejected():
    with pytest.raises(RecordError, match=r"accuracy_by_step\[1\]"):
        validate_record(make_record(accuracy_by_step=[0.5, None, 0.7]))


def test_infinite_training_value_raises_record_error(tmp_path):
    training = dict(make_record()["training"], examples_per_second=float("inf"))
    with pytest.raises(RecordError, match="examples_per_second"):
        append_record(tmp_path / "results.jsonl", make_record(training=training))


def _with_history(history):
    return make_record(training=dict(make_record()["training"], history=history))


def test_history_is_optional_for_old_records():
    training = dict(make_record()["training"])
    del training["history"]
    validate_record(make_record(training=training))


@pytest.mark.parametrize("change, message", [
    (lambda h: h[1].pop("val_decision_step"), r"training.history\[1\] lacks val_decision_step"),
    (lambda h: h[0].update(epoch=2), r"training.history\[0\].epoch is 2, expected 1"),
    (lambda h: h[1].update(val_accuracy=None), r"training.history\[1\]: metric val_accuracy is null"),
    (lambda h: h[0].update(train_loss=float("nan")), r"train_loss is nan"),
    (lambda h: h.append("epoch 3"), r"training.history\[2\] must be an object"),
])
def test_malformed_history_is_named(change, message):
    history = [dict(item) for item in make_record()["training"]["history"]]
    change(history)
    with pytest.raises(RecordError, match=message):
        validate_record(_with_history(history))


def test_history_that_is_not_a_list_is_named():
    with pytest.raises(RecordError, match="training.history must be a list"):
        validate_record(_with_history({"epoch": 1}))
