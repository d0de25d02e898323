"""Paired comparisons (bench.analysis.paired), the per_example record field, and REPORT.md's comparison table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.cli import main
from bench.analysis.paired import PairingError, compare_records, paired_difference
from bench.core.records import RecordError, validate_record
from helpers import make_record

DIGEST = "ab" * 32


def with_outcomes(correct: list[int], steps: list[int] | None = None, digest: str = DIGEST, **fields) -> dict:
    """A valid record whose per-example results are ``correct`` (and ``steps``)."""
    steps = steps if steps is not None else [2] * len(correct)
    return make_record(test_size=len(correct), accuracy=sum(correct) / len(correct),
                       decision_step_mean=sum(steps) / len(steps),
                       per_example={"correct": correct, "decision_step": steps, "labels_sha256": digest}, **fields)


def test_interval_and_p_value_match_scipy_on_the_differences() -> None:
    rng = np.random.default_rng(3)
    a = (rng.random((3, 2000)) < 0.9).astype(int)
    b = (rng.random((3, 2000)) < 0.88).astype(int)
    ours = paired_difference(a, b, (0, 1, 2), resamples=20000)
    d = a.mean(axis=0) - b.mean(axis=0)
    interval = scipy_stats.bootstrap((d,), np.mean, method="percentile", n_resamples=20000,
                                     rng=np.random.default_rng(1)).confidence_interval
    p_value = scipy_stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=20000,
                                           rng=np.random.default_rng(1)).pvalue
    assert ours.difference == pytest.approx(d.mean())
    assert ours.accuracy_a == pytest.approx(a.mean()) and ours.accuracy_b == pytest.approx(b.mean())
    assert ours.low == pytest.approx(interval.low, abs=1.5e-3)
    assert ours.high == pytest.approx(interval.high, abs=1.5e-3)
    assert ours.p_value == pytest.approx(p_value, abs=0.01)
    assert ours.n_examples == 2000 and ours.seeds == (0, 1, 2)


def test_verdicts() -> None:
    rng = np.random.default_rng(0)
    good = (rng.random(1000) < 0.95).astype(int)
    bad = good * (rng.random(1000) < 0.8)  # wrong wherever good is wrong, and more often
    assert paired_difference(good, bad).verdict == "A better"
    assert paired_difference(bad, good).verdict == "B better"
    same = paired_difference(good, good)
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert same.verdict == "not distinguishable"
    # a one-example difference out of 1,000 is not evidence
    nudged = good.copy()
    nudged[np.flatnonzero(good == 0)[0]] = 1
    assert paired_difference(nudged, good).verdict == "not distinguishable"


def test_same_random_seed_same_result() -> None:
    rng = np.random.default_rng(5)
    a, b = (rng.random(500) < 0.7).astype(int), (rng.random(500) < 0.6).astype(int)
    assert paired_difference(a, b, random_seed=4) == paired_difference(a, b, random_seed=4)


@pytest.mark.parametrize("a,b,message", [
    ([1, 0, 1], [1, 0], "cannot be paired"),
    ([], [], "no test examples"),
    ([1, 2, 0], [1, 0, 0], "other than 0 and 1"),
])
def test_bad_inputs_are_errors(a, b, message) -> None:
    with pytest.raises(PairingError, match=message):
        paired_difference(np.array(a), np.array(b))


def test_compare_records_pairs_common_seeds_only() -> None:
    a = [with_outcomes([1, 1, 0, 1], seed=0), with_outcomes([1, 1, 1, 1], seed=1), with_outcomes([0] * 4, seed=7)]
    b = [with_outcomes([1, 0, 0, 1], seed=0), with_outcomes([0, 1, 1, 1], seed=1)]
    result = compare_records(a, b)
    assert result.seeds == (0, 1)
    assert result.difference == pytest.approx((3 / 4 + 4 / 4) / 2 - (2 / 4 + 3 / 4) / 2)


@pytest.mark.parametrize("records_b,message", [
    ([with_outcomes([1, 0], seed=0, digest="cd" * 32)], "different test sets"),
    ([with_outcomes([1, 0], seed=3)], "share no seed"),
    ([make_record(seed=0)], "no per_example field"),
])
def test_compare_records_refuses_what_cannot_be_paired(records_b, message) -> None:
    with pytest.raises(PairingError, match=message):
        compare_records([with_outcomes([1, 1], seed=0)], records_b)


@pytest.mark.parametrize("change,message", [
    (lambda p: p.update(correct=[1, 0, 1]), "must list test_size=4 values, got 3"),
    (lambda p: p.update(correct=[1, 0, 2, 1]), r"correct\[2\] is 2"),
    (lambda p: p.update(decision_step=[1, 2, 9, 1]), r"decision_step\[2\] is 9, not an integer in \[1, 4\]"),
    (lambda p: p.update(correct=[1, 1, 1, 1]), "differs from accuracy"),
    (lambda p: p.update(decision_step=[4, 4, 4, 4]), "differs from decision_step_mean"),
    (lambda p: p.pop("labels_sha256"), "lacks labels_sha256"),
])
def test_damaged_per_example_field_is_refused(change, message) -> None:
    record = with_outcomes([1, 0, 0, 1], steps=[1, 2, 3, 1])
    validate_record(record)
    change(record["per_example"])
    with pytest.raises(RecordError, match=message):
        validate_record(record)


def test_report_states_paired_comparisons(tmp_path) -> None:
    rng = np.random.default_rng(2)
    truth = {name: (rng.random((3, 400)) < p).astype(int) for name, p in (("rc-lstm", 0.97), ("lstm-eos", 0.8))}
    records = [with_outcomes(truth[name][seed].tolist(), contender=name, seed=seed, theta=0.9,
                             beta=0.1 if name == "rc-lstm" else None)
               for name in truth for seed in range(3)]
    path = tmp_path / "run" / "results.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    assert main(["figures", "--results", str(path.parent)]) == 0
    report = (tmp_path / "run" / "REPORT.md").read_text(encoding="utf-8")
    expected = paired_difference(truth["rc-lstm"], truth["lstm-eos"], (0, 1, 2))
    row = next(line for line in report.splitlines() if line.startswith("| rc-lstm θ=0.9 β=0.1 | lstm-eos θ=0.9 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == (f"{100 * expected.difference:+.2f} [{100 * expected.low:+.2f}, "
                        f"{100 * expected.high:+.2f}]")
    assert cells[3:] == [f"{expected.p_value:.4f}", "3", "better"]


def test_report_says_why_it_cannot_pair_old_records(tmp_path) -> None:
    records = [make_record(contender=name, seed=seed) for name in ("rc-lstm", "lstm-eos") for seed in (0, 1)]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    assert main(["figures", "--results", str(path), "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "REPORT.md").read_text(encoding="utf-8")
    assert "No paired comparisons: 4 of 4 records lack per-example results" in report
