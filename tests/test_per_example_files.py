"""Per-example arrays in side files (:mod:`bench.core.per_example`) and the old inline form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.analysis.compare import compare_records
from bench.core.per_example import PER_EXAMPLE_DIR, PerExample, arrays_digest
from bench.core.records import RecordError, append_record, read_records, stale_temporaries
from helpers import make_record

LABELS = "ab" * 32


def outcomes(correct: int = 80, seed: int = 0) -> dict:
    """Inline per-example results of 100 examples: ``correct`` right, steps summing to a mean of 2.5."""
    rng = np.random.default_rng(seed)
    right = np.zeros(100, dtype=int)
    right[rng.permutation(100)[:correct]] = 1
    steps = np.array([2, 3] * 50)[rng.permutation(100)]
    return {"correct": right.tolist(), "decision_step": steps.tolist(), "labels_sha256": LABELS}


def with_outcomes(seed: int = 0, **overrides) -> dict:
    return make_record(per_example=outcomes(seed=seed), seed=seed, **overrides)


def test_a_new_record_keeps_its_arrays_in_a_side_file_and_a_short_line(tmp_path):
    path = tmp_path / "results.jsonl"
    record = with_outcomes()
    append_record(path, record)
    line = json.loads(path.read_text(encoding="utf-8"))
    digest = arrays_digest(np.array(record["per_example"]["correct"]), np.array(record["per_example"]["decision_step"]))
    assert line["per_example"] == {"file": f"{PER_EXAMPLE_DIR}/{digest}.npz", "sha256": digest,
                                   "labels_sha256": LABELS}
    with np.load(tmp_path / line["per_example"]["file"]) as data:
        assert data["correct"].dtype == np.uint8 and data["decision_step"].dtype == np.int32
        assert data["correct"].tolist() == record["per_example"]["correct"]
    (read,) = read_records(path)
    assert isinstance(read["per_example"], PerExample) and read["per_example"]._arrays is None  # not loaded yet
    assert read["per_example"]["labels_sha256"] == LABELS and read["per_example"]._arrays is None
    assert read["per_example"]["correct"] == record["per_example"]["correct"]
    assert dict(read["per_example"]) == record["per_example"] and read == record


def test_records_with_the_same_outcomes_share_one_file(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, with_outcomes(theta=0.9))
    append_record(path, with_outcomes(theta=0.95))
    append_record(path, with_outcomes(seed=1))
    assert len(list((tmp_path / PER_EXAMPLE_DIR).glob("*.npz"))) == 2
    assert [r["theta"] for r in read_records(path)] == [0.9, 0.95, 0.9]


def test_the_old_inline_form_still_reads(tmp_path):
    path = tmp_path / "results.jsonl"
    record = with_outcomes()
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    (read,) = read_records(path)
    assert type(read["per_example"]) is dict and read == record
    with pytest.raises(RecordError, match=r"per_example\.decision_step\[0\] is 9, not an integer in \[1, 4\]"):
        path.write_text(json.dumps(make_record(per_example={**outcomes(), "decision_step": [9] * 100})) + "\n",
                        encoding="utf-8")
        read_records(path)


def test_a_read_record_can_be_appended_again(tmp_path):
    append_record(tmp_path / "a" / "results.jsonl", with_outcomes())
    (read,) = read_records(tmp_path / "a" / "results.jsonl")
    append_record(tmp_path / "a" / "results.jsonl", {**read, "seed": 5})
    assert [r["seed"] for r in read_records(tmp_path / "a" / "results.jsonl")] == [0, 5]


def test_a_record_read_from_another_folder_brings_its_arrays_along(tmp_path):
    """Appending a record read elsewhere writes its side file into the new folder too, so the
    new folder reads (and its arrays load) without the old one."""
    append_record(tmp_path / "a" / "results.jsonl", with_outcomes())
    (read,) = read_records(tmp_path / "a" / "results.jsonl")
    append_record(tmp_path / "b" / "results.jsonl", read)
    for side_file in (tmp_path / "a" / PER_EXAMPLE_DIR).iterdir():
        side_file.unlink()
    (moved,) = read_records(tmp_path / "b" / "results.jsonl")
    assert list(moved["per_example"]["correct"]) == outcomes()["correct"]


def test_a_missing_side_file_is_named_when_read(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, with_outcomes())
    (side,) = (tmp_path / PER_EXAMPLE_DIR).glob("*.npz")
    side.unlink()
    with pytest.raises(RecordError, match=rf"results.jsonl:1: per_example: its side file .*{side.name} is missing"):
        read_records(path)


def test_a_side_file_of_other_content_is_refused_when_loaded(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, with_outcomes())
    (side,) = (tmp_path / PER_EXAMPLE_DIR).glob("*.npz")
    other = outcomes(seed=3)
    np.savez(side, correct=np.array(other["correct"], dtype=np.uint8),
             decision_step=np.array(other["decision_step"], dtype=np.int32))
    (read,) = read_records(path)  # the cheap check passes: the file is there
    with pytest.raises(RecordError, match="do not match their sha256"):
        read["per_example"]["correct"]


def test_a_side_file_disagreeing_with_the_record_is_refused_when_loaded(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, with_outcomes())
    line = json.loads(path.read_text(encoding="utf-8"))
    line["accuracy"] = 0.7  # the arrays say 0.8
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    (read,) = read_records(path)
    with pytest.raises(RecordError, match=r"results.jsonl:1: the mean of per_example.correct \(0.8\) differs"):
        read["per_example"]["decision_step"]


@pytest.mark.parametrize("change, message", [
    (lambda ref: {**ref, "file": "elsewhere.npz"}, "file must be per_example/<sha256>.npz of its sha256"),
    (lambda ref: {**ref, "sha256": "0" * 64}, "file must be per_example/<sha256>.npz of its sha256"),
    (lambda ref: {**ref, "extra": 1}, "must have exactly file, labels_sha256, sha256"),
])
def test_a_malformed_reference_is_named(tmp_path, change, message):
    path = tmp_path / "results.jsonl"
    append_record(path, with_outcomes())
    line = json.loads(path.read_text(encoding="utf-8"))
    line["per_example"] = change(line["per_example"])
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=message):
        read_records(path)


def test_inline_and_side_file_records_compare_by_content(tmp_path):
    old, new = tmp_path / "old" / "results.jsonl", tmp_path / "new" / "results.jsonl"
    old.parent.mkdir()
    old.write_text(json.dumps(with_outcomes()) + "\n", encoding="utf-8")
    append_record(new, with_outcomes())
    assert compare_records(read_records(old), read_records(new)).identical
    append_record(new.parent / "other.jsonl", make_record(per_example=outcomes(correct=80, seed=9)))
    found = compare_records(read_records(old), read_records(new.parent / "other.jsonl"))
    assert [path for path, _a, _b in found.different[0][1]] == ["per_example.correct", "per_example.decision_step"]


def test_a_side_file_temporary_of_a_killed_writer_is_stale(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, with_outcomes())
    left = tmp_path / PER_EXAMPLE_DIR / ".abc.x.tmp"
    left.write_bytes(b"half")
    assert stale_temporaries(path) == [left]
