"""Tests of the budget table and the comparison at equal training compute (bench/analysis/budget.py)."""

from __future__ import annotations

import pytest

from bench.analysis.budget import (BudgetError, budget_lines, equal_compute_lines, pairwise_compute_lines, row_flags,
                                   step_paths_text, training_macs)
from bench.core.records import pack_bits, validate_record
from helpers import make_record

N = 8


def per_example(correct: list[int]) -> dict:
    return {"correct": correct + [0] * (100 - len(correct)), "decision_step": [2] * 100, "labels_sha256": "0" * 64}


def curve(*points: tuple[float, list[int]]) -> dict:
    return {"examples": N, "points": [
        {"grid_index": 10 + i, "training_macs": macs, "epoch": 0.5 * (i + 1), "train_seconds": 1.0 + i,
         "accuracy": sum(bits) / N, "decision_step_mean": 2.0, "correct": pack_bits(bits)}
        for i, (macs, bits) in enumerate(points)]}


def record(contender: str, macs: float, correct: list[int], seed: int = 0, with_curve: dict | None = None,
           **changes) -> dict:
    base = make_record(contender=contender, seed=seed, accuracy=sum(correct) / 100, decision_step_mean=2.0,
                       per_example=per_example(correct),
                       training={**make_record()["training"], "forward_macs": macs / 2, "backward_macs": macs / 2},
                       **{"protocol": {"settings": {"epochs": 2}, "overrides": []}, **changes})
    if with_curve is not None:
        base["learning_curve"] = with_curve
    validate_record(base)
    return base


ONES, ZEROS = [1] * N, [0] * N


def test_the_cheapest_row_sets_the_budget_and_others_are_taken_at_their_snapshot_below_it():
    cheap = record("rc-lstm", 100.0, ONES[:6] + [0, 0], with_curve=curve((50.0, ZEROS)))
    dear = record("lstm-eos", 1000.0, ONES, theta=0.9,
                  with_curve=curve((40.0, ZEROS), (90.0, [1, 1, 0, 0, 0, 0, 0, 0]), (130.0, ONES)))
    text = "\n".join(equal_compute_lines([cheap, dear]))
    assert "every row at 100 training MACs (the cheapest row's training (rc-lstm θ=0.9 β=0))" in text
    assert "| rc-lstm θ=0.9 β=0 | 1 | 100 | 1.00 | 2.00 | final | 75.00% | 2.00 |" in text
    assert "| lstm-eos θ=0.9 β=0 | 1 | 90 | 0.90 | 1.00 | snapshot | 25.00% | 2.00 |" in text
    assert "| rc-lstm θ=0.9 β=0 | lstm-eos θ=0.9 β=0 | +50.00" in text


def test_every_pair_is_compared_at_the_cheaper_rows_budget():
    """Three rows of 100, 500 and 1000 MACs: each dearer row is taken at its snapshot at or below the
    cheaper row's budget (not only at the cheapest row's), against the cheaper row's final models."""
    cheap = record("snn-ttfs", 100.0, ONES[:2] + [0] * 6, with_curve=curve((50.0, ZEROS)))
    middle = record("rc-lstm", 500.0, ONES, with_curve=curve((90.0, ZEROS), (400.0, ONES[:4] + [0] * 4)))
    dear = record("lstm-eos", 1000.0, ONES, theta=0.9,
                  with_curve=curve((80.0, ONES[:1] + [0] * 7), (450.0, ONES[:3] + [0] * 5), (900.0, ONES)))
    lines = pairwise_compute_lines([dear, middle, cheap])
    rows = [line for line in lines if line.startswith("| ") and "cheaper row" not in line]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| snn-ttfs θ=0.9 β=0", "100", "rc-lstm θ=0.9 β=0"],
        ["| snn-ttfs θ=0.9 β=0", "100", "lstm-eos θ=0.9 β=0"],
        ["| rc-lstm θ=0.9 β=0", "500", "lstm-eos θ=0.9 β=0"]]
    # snn (2 of 8) against rc-lstm's snapshot at 90 MACs (0 of 8): +25 points; against lstm-eos at 80 (1 of 8):
    # +12.5; rc-lstm final (8 of 8) against lstm-eos at 450 (3 of 8): +62.5, lstm-eos at 0.90 of the budget
    assert rows[0].split(" | ")[3:6] == ["0.90", "0.50", "+25.00 [+0.00, +62.50]"]
    assert rows[1].split(" | ")[5].startswith("+12.50")
    assert rows[2].split(" | ")[3:5] == ["0.90", "1.00"] and rows[2].split(" | ")[5].startswith("+62.50")


def test_pairs_without_learning_curves_give_no_pairwise_view():
    assert pairwise_compute_lines([record("rc-lstm", 100.0, ONES), record("lstm-eos", 1000.0, ONES)]) == []


def test_a_budget_no_row_reaches_is_an_error_naming_the_row():
    cheap = record("rc-lstm", 100.0, ONES, with_curve=curve((50.0, ZEROS)))
    dear = record("lstm-eos", 1000.0, ONES, with_curve=curve((400.0, ZEROS)))
    with pytest.raises(BudgetError, match=r"a budget of 10 training MACs cannot be matched: rc-lstm θ=0.9 β=0: "
                                          r"seed 0's first learning-curve point is at 50 MACs, above the budget"):
        equal_compute_lines([cheap, dear], budget=10.0)
    with pytest.raises(BudgetError, match="must be a positive number"):
        equal_compute_lines([cheap, dear], budget=-1.0)


def test_a_row_without_a_learning_curve_is_named_not_dropped_silently():
    cheap = record("rc-lstm", 100.0, ONES, with_curve=curve((50.0, ZEROS)))
    old = record("lstm-eos", 1000.0, ONES)  # written before learning curves
    text = "\n".join(equal_compute_lines([cheap, old]))
    assert "- not matched: lstm-eos θ=0.9 β=0: seed 0 trained 1e+03 MACs and has no learning curve" in text


def test_rows_with_another_budget_or_front_end_are_flagged_with_their_reason():
    same = record("rc-lstm", 100.0, ONES, config={"epochs": 3, "encoder": "conv", "hidden": 8})
    longer = record("lstm-eos", 100.0, ONES, config={"epochs": 10, "encoder": "conv", "hidden": 8})
    dense = record("snn-ttfs", 100.0, ONES, config={"epochs": 3, "hidden": 8},
                   protocol={"settings": {"epochs": 3}, "overrides": [
                       {"setting": "encoder", "value": None, "reason": "no conv front end"}]})
    also = record("lstm-allsteps", 100.0, ONES, config={"epochs": 3, "encoder": "conv", "hidden": 8})
    flags = {key[1]: lines for key, lines in row_flags([same, longer, dense, also]).items()}
    assert flags["rc-lstm"] == [] and flags["lstm-allsteps"] == []
    assert flags["lstm-eos"] == ["epochs = 10 (others 3): no reason recorded"]
    assert flags["snn-ttfs"] == ["encoder = 'none' (others 'conv'): no conv front end"]
    text = "\n".join(budget_lines([same, longer, dense, also]))
    assert "⚑ 2 of 4 rows differ from the others" in text
    assert "| lstm-eos θ=0.9 β=0 ⚑ | 1 | 2 | 100 | 2 | - | epochs = 10 (others 3): no reason recorded |" in text


def test_the_budget_table_names_the_training_step_that_ran_and_its_share_of_the_minibatches():
    compiled = record("rc-lstm", 100.0, ONES)
    compiled["training"]["step_paths"] = {"compiled": 30}
    mixed = [record("lstm-eos", 100.0, ONES, seed=seed) for seed in (0, 1)]
    mixed[0]["training"]["step_paths"] = {"fused": 10, "compiled": 20}
    mixed[1]["training"]["step_paths"] = {"fused": 10}
    assert step_paths_text([compiled]) == "compiled"
    assert step_paths_text(mixed) == "compiled 50%, fused 50%"
    assert step_paths_text([record("snn-ttfs", 100.0, ONES)]) == "-"
    text = "\n".join(budget_lines([compiled, *mixed]))
    assert "| rc-lstm θ=0.9 β=0 | 1 | 2 | 100 | 2 | compiled | - |" in text


def test_settings_that_do_nothing_are_not_flagged_but_a_real_shift_or_conv_width_is():
    lstm = record("rc-lstm", 100.0, ONES, config={"epochs": 3, "hidden": 8})  # no such options recorded
    inert = record("snn-recurrent", 100.0, ONES,
                   config={"epochs": 3, "hidden": 8, "encoder": "none", "conv_channels": 16, "augment_shift": 0})
    assert row_flags([lstm, inert]) == {key: [] for key in row_flags([lstm, inert])}
    shifted = record("snn-conv", 100.0, ONES,
                     config={"epochs": 3, "hidden": 8, "encoder": "conv", "conv_channels": 16, "augment_shift": 2})
    flags = {key[1]: lines for key, lines in row_flags([lstm, inert, shifted]).items()}
    assert flags["snn-conv"] == ["augment_shift = 2 (others 'none'): no reason recorded",
                                 "conv_channels = 16 (others 'none'): no reason recorded",
                                 "encoder = 'conv' (others 'none'): no reason recorded"]
    assert flags["snn-recurrent"] == [] and flags["rc-lstm"] == []


def test_a_row_made_at_another_revision_is_flagged():
    rows = [record(name, 100.0, ONES) for name in ("rc-lstm", "lstm-eos")]
    rows.append(record("lstm-allsteps", 100.0, ONES, git_revision="def5678"))
    flags = {key[1]: lines for key, lines in row_flags(rows).items()}
    assert flags["lstm-allsteps"] == ["made at revision def5678 (most records: abc1234)"]
    assert flags["rc-lstm"] == []


def test_a_tie_flags_every_row_that_takes_part_in_it():
    rows = [record("rc-lstm", 100.0, ONES, config={"epochs": 10}), record("lstm-eos", 100.0, ONES, config={"epochs": 3})]
    flags = {key[1]: lines for key, lines in row_flags(rows).items()}
    assert flags["rc-lstm"] == ["epochs = 10 (others differ: 10, 3): no reason recorded"]
    assert flags["lstm-eos"] == ["epochs = 3 (others differ: 10, 3): no reason recorded"]


def test_equal_budgets_get_no_flag():
    rows = [record(name, 100.0, ONES) for name in ("rc-lstm", "lstm-eos")]
    assert "Every row got the same budget, front end, augmentation and input." in "\n".join(budget_lines(rows))
    assert training_macs(rows[0]) == 100.0
