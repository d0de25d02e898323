"""``rcbench figures``: figures and REPORT.md from records alone."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.cli import main
from bench.analysis.figures import FIGURES, draw_all
from helpers import make_record


def synthetic_records() -> list[dict]:
    """Two tasks; rc-lstm at two thetas and two betas, lstm-eos at two thetas, snn-ttfs once; three seeds."""
    records = []
    for task in ("toy-noise", "toy-runs"):
        for seed, noise in enumerate((-0.01, 0.0, 0.02)):
            for theta in (0.9, 0.99):
                for beta in (0.0, 0.1):
                    records.append(make_record(task=task, seed=seed, theta=theta, beta=beta,
                                               accuracy=0.8 + theta / 10 + beta / 10 + noise,
                                               decision_step_mean=2.0 + theta + noise))
                records.append(make_record(task=task, contender="lstm-eos", beta=None, seed=seed, theta=theta,
                                           accuracy=0.85 + noise))
            records.append(make_record(task=task, contender="snn-ttfs", beta=None, theta=None,
                                       rule="first-spike", seed=seed, accuracy=0.7 + noise))
    return records


def write_records(path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def test_every_figure_is_drawn_for_every_task(tmp_path) -> None:
    written = draw_all(synthetic_records(), tmp_path)
    assert sorted(written) == ["toy-noise", "toy-runs"]
    for task, pngs in written.items():
        # the ablation figure is drawn only for records of ablation steps (tests/test_ablation.py)
        assert [png.name for png in pngs] == [f"{task}-{name}.png" for name in FIGURES if name != "ablation"]
        for png in pngs:
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert png.with_suffix(".svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_same_records_give_the_same_files(tmp_path) -> None:
    draw_all(synthetic_records(), tmp_path / "a")
    draw_all(synthetic_records(), tmp_path / "b")
    for first in sorted((tmp_path / "a").iterdir()):
        assert first.read_bytes() == (tmp_path / "b" / first.name).read_bytes(), first.name


def test_beta_sweep_is_left_out_without_a_sweep(tmp_path) -> None:
    records = [r for r in synthetic_records() if r["beta"] in (None, 0.0)]
    written = draw_all(records, tmp_path)
    assert all(not png.name.endswith("beta-sweep.png") for png in written["toy-noise"])


def test_learning_to_decide_is_left_out_without_history(tmp_path) -> None:
    records = synthetic_records()
    for record in records:
        del record["training"]["history"]
    written = draw_all(records, tmp_path)
    names = [png.name for png in written["toy-noise"]]
    assert "toy-noise-learning-to-decide.png" not in names and "toy-noise-speed-accuracy.png" in names


def test_figures_command_writes_report_with_recomputed_statistics(tmp_path, capsys) -> None:
    records = synthetic_records()
    write_records(tmp_path / "run" / "results.jsonl", records)
    assert main(["figures", "--results", str(tmp_path / "run")]) == 0
    report = (tmp_path / "run" / "REPORT.md").read_text(encoding="utf-8")
    assert "## toy-noise" in report and "## toy-runs" in report and "## Provenance" in report
    assert "![toy-noise-speed-accuracy](figures/toy-noise-speed-accuracy.png)" in report
    # the rc-lstm theta=0.99 beta=0.1 row on toy-runs: mean and 95% t half-width over the three seeds
    accuracy = np.array([0.8 + 0.099 + 0.01 + n for n in (-0.01, 0.0, 0.02)])
    half = scipy_stats.t.ppf(0.975, 2) * accuracy.std(ddof=1) / np.sqrt(3)
    row = next(line for line in report.splitlines() if line.startswith("| toy-runs | rc-lstm | 0.99 | 0.1 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[4] == "3"
    assert cells[5] == f"{accuracy.mean():.4f} ± {half:.4f}"
    snn = next(line for line in report.splitlines() if line.startswith("| toy-runs | snn-ttfs |"))
    assert "| - | - | 3 |" in snn
    assert "figures (PNG and SVG)" in capsys.readouterr().out


@pytest.mark.parametrize("damage,message", [
    (lambda r: r.pop("accuracy"), "missing field"),
    (lambda r: r.update(accuracy=None), "metric accuracy is null"),
    (lambda r: r.update(accuracy_by_step=[0.5, float("nan"), 0.7, 0.8]), r"accuracy_by_step\[1\]"),
    (lambda r: r.update(schema_version=99), "schema_version is 99"),
])
def test_figures_command_rejects_damaged_records(tmp_path, capsys, damage, message) -> None:
    records = synthetic_records()
    damage(records[4])
    path = tmp_path / "run" / "results.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    assert main(["figures", "--results", str(path)]) == 2
    error = capsys.readouterr().err
    assert "results.jsonl:5" in error
    assert re.search(message, error)
    assert not (tmp_path / "run" / "figures").exists()


def test_figures_command_needs_existing_records(tmp_path, capsys) -> None:
    assert main(["figures", "--results", str(tmp_path / "nothing")]) == 2
    assert "no records file at" in capsys.readouterr().err


def test_report_tables_the_training_histories_once_per_training(tmp_path) -> None:
    records = synthetic_records()
    for record in records:  # make one rc-lstm series' histories differ by seed
        if record["contender"] == "rc-lstm" and record["theta"] == 0.9 and record["beta"] == 0.1:
            record["training"] = dict(record["training"], history=[
                dict(item, val_decision_step=item["val_decision_step"] + record["seed"])
                for item in record["training"]["history"]])
    write_records(tmp_path / "run" / "results.jsonl", records)
    assert main(["figures", "--results", str(tmp_path / "run")]) == 0
    report = (tmp_path / "run" / "REPORT.md").read_text(encoding="utf-8")
    section = report.split("## toy-runs")[1]
    assert "| configuration | seeds | epoch 1 | epoch 2 |" in section
    # seeds 0, 1, 2 add 0, 1, 2 steps to 3.5 and 2.5: means 4.5 and 3.5
    assert "| rc-lstm θ=0.9 β=0.1 | 3 | 4.50 / 60.00% | 3.50 / 75.00% |" in section
    # every other configuration has the helper's history: shown once, at the first configuration seen
    assert section.count("| 3.50 / 60.00% | 2.50 / 75.00% |") == 1


def test_paired_comparisons_name_the_profile_when_there_are_several() -> None:
    from bench.analysis.report import paired_lines

    def record(profile: str, seed: int, correct: list[int]) -> dict:
        return make_record(profile=profile, seed=seed, accuracy=sum(correct) / len(correct), decision_step_mean=2.0,
                           test_size=len(correct),
                           per_example={"correct": correct, "decision_step": [2] * len(correct),
                                        "labels_sha256": "0" * 64})

    better, worse = [1] * 90 + [0] * 10, [1] * 60 + [0] * 40
    records = [record("strong", seed, better) for seed in (0, 1)] + [record("authors", seed, worse) for seed in (0, 1)]
    [row] = [line for line in paired_lines(records) if line.startswith("| rc-lstm")]
    assert row.startswith("| rc-lstm θ=0.9 β=0 [strong] | rc-lstm θ=0.9 β=0 [authors] | +30.00 ")
    one_profile = records[:2] + [dict(r, profile="strong", beta=0.1) for r in records[2:]]
    [row] = [line for line in paired_lines(one_profile) if line.startswith("| rc-lstm")]
    assert row.startswith("| rc-lstm θ=0.9 β=0 | rc-lstm θ=0.9 β=0.1 | +30.00 ")


def test_a_pair_meeting_in_several_theta_groups_is_compared_once() -> None:
    from bench.analysis.report import paired_lines

    def record(contender: str, theta: float | None, seed: int, correct: list[int]) -> dict:
        own_rule = {"rule": "first-spike", "beta": None} if theta is None else {}
        return make_record(contender=contender, theta=theta, seed=seed, **own_rule,
                           accuracy=sum(correct) / len(correct), decision_step_mean=2.0, test_size=len(correct),
                           per_example={"correct": correct, "decision_step": [2] * len(correct),
                                        "labels_sha256": "0" * 64})

    best, good, poor = [1] * 95 + [0] * 5, [1] * 90 + [0] * 10, [1] * 60 + [0] * 40
    # two contenders with their own rule join both theta groups and lead each of them; every pair of a
    # group is compared, the more accurate first, and the pair meeting in both groups only once
    records = [record("snn-a", None, seed, best) for seed in (0, 1)]
    records += [record("snn-b", None, seed, good) for seed in (0, 1)]
    records += [record("rc-lstm", theta, seed, poor) for theta in (0.9, 0.99) for seed in (0, 1)]
    rows = [line for line in paired_lines(records) if line.startswith("| snn-")]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| snn-a rule first-spike", "snn-b rule first-spike"],
        ["| snn-a rule first-spike", "rc-lstm θ=0.9 β=0"],
        ["| snn-b rule first-spike", "rc-lstm θ=0.9 β=0"],
        ["| snn-a rule first-spike", "rc-lstm θ=0.99 β=0"],
        ["| snn-b rule first-spike", "rc-lstm θ=0.99 β=0"],
    ]


def test_operations_intervals_reaching_zero_are_cut_at_the_log_axis_floor_and_marked() -> None:
    """A wide interval whose lower end is at or below 0 cannot be drawn on a log axis: it is cut at the
    axis's left end (half the smallest positive value) with a '<' marker, and the caption says so."""
    from bench.analysis.figures import log_axis_floor, operations
    records = [r for r in synthetic_records() if r["task"] == "toy-noise" and r["contender"] == "snn-ttfs"]
    for record, acs in zip(records, (10.0, 400.0, 5000.0)):  # mean 1803.3, its t interval reaches -5,100
        record.update(ops_dense_macs_full_sequence=1e5, ops_dense_macs=5e4, ops_effective_macs=2e4,
                      ops_effective_acs=acs)
    figure = operations(records, "toy-noise")
    axes = figure.axes[0]
    left = axes.get_xlim()[0]
    assert left == pytest.approx(5410.0 / 3 / 2)  # half the ACs' mean, the smallest positive value
    ends = [segment[:, 0].min() for collection in axes.collections for segment in collection.get_segments()]
    assert min(ends) == pytest.approx(left)  # the cut interval ends at the axis, not past it
    markers = [line for line in axes.lines if line.get_marker() == "<"]
    assert len(markers) == 1 and markers[0].get_xdata()[0] == pytest.approx(left)
    assert "<: the interval runs on below the axis" in figure.texts[-1].get_text()
    with pytest.raises(ValueError, match="no positive value"):
        log_axis_floor([(0.0, 0.0)])
