"""``REPORT.md``: one table per task (mean and 95% interval over seeds), its paired comparisons
(:mod:`bench.analysis.paired`) and links to its figures; first, for a task with records of an
ablation sequence (profiles named ``ablation-NN-<change>``), the ablation's table and figure
(:mod:`bench.analysis.ablation`).

Paired comparisons, per task: configurations (a contender at a rule, theta
and beta; the rows of the table) are grouped by theta; a contender with its
own rule (theta ``-``) joins every theta's group. In each group every pair of
configurations is compared on the same test examples, the more accurate one
(mean over seeds) named first, so each contender's difference to each other
one is in the table, not only the leader's. A pair that meets again in another group (two contenders
with their own rule) is listed once. "better" is said only when the paired
95% interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.analysis.ablation import ABLATION_FIGURE, ablation_lines
from bench.analysis.bound_files import InformationBound
from bench.analysis.budget import budget_lines, equal_compute_lines, pairwise_compute_lines
from bench.analysis.figures import epoch_means, records_by_task
from bench.analysis.paired import PAIRED_TABLE_HEADER, PairedComparison, PairingError, compare_records, paired_row
from bench.core.record_schema import GroupKey
from bench.core.records import PER_EXAMPLE_FIELD
from bench.analysis.summary import (configuration_label, group_records, markdown_table, provenance_lines,
                                    several_profiles, shown_path, streaming_lines)
from bench.analysis.tuning_effort import Search, tuning_lines


def paired_lines(task_records: Sequence[dict[str, Any]]) -> list[str]:
    """The markdown of one task's paired comparisons (see the module docstring)."""
    lacking = sum(PER_EXAMPLE_FIELD not in record for record in task_records)
    if lacking:
        return [f"No paired comparisons: {lacking} of {len(task_records)} records lack per-example results "
                f"(`{PER_EXAMPLE_FIELD}`; written by an rcbench older than the field).", ""]
    groups = group_records(task_records)
    several = several_profiles(task_records)

    def label(key: GroupKey) -> str:
        return configuration_label(key, several)

    own_rule = [key for key in groups if key.theta is None]
    thetas = sorted({key.theta for key in groups if key.theta is not None})
    by_theta = {theta: [key for key in groups if key.theta == theta] + own_rule for theta in thetas} or {None: own_rule}
    rows = []
    compared: set[frozenset[GroupKey]] = set()
    for members in by_theta.values():
        if len(members) < 2:
            continue
        means = {key: sum(r["accuracy"] for r in groups[key]) / len(groups[key]) for key in members}
        ranked = sorted(members, key=lambda key: (-means[key], label(key)))
        for index, better in enumerate(ranked):
            for other in ranked[index + 1:]:
                if frozenset((better, other)) in compared:
                    continue
                compared.add(frozenset((better, other)))
                try:
                    result: PairedComparison | PairingError = compare_records(groups[better], groups[other],
                                                                             label(better), label(other))
                except PairingError as error:
                    result = error
                rows.append(paired_row(label(better), label(other), result))
    if not rows:
        return []
    return ["Paired comparisons on the same test examples (accuracy difference in points, paired "
            "bootstrap 95% interval over test examples, sign-flip p-value; seeds averaged per example):", "",
            *PAIRED_TABLE_HEADER, *rows, ""]


def bound_lines(task_records: Sequence[dict[str, Any]], task_bounds: Sequence[InformationBound],
                report_dir: Path | None = None) -> list[str]:
    """The markdown table of a task's information bounds, one row per bound file, one column per step;
    the files are named relative to ``report_dir`` when given."""
    if not task_bounds:
        return []
    steps = sorted({point.t for bound in task_bounds for point in bound.points})
    rows = []
    for bound in task_bounds:
        profiles = sorted({record["profile"] for record in task_records
                           if record.get("data_options", {}).get("encoding") == bound.encoding})
        accuracy = {point.t: f"{point.test_accuracy:.4f}" for point in bound.points}
        rows.append(f"| {bound.reference} | {bound.encoding} | {', '.join(profiles) or '-'} | "
                    + " | ".join(accuracy.get(t, "") for t in steps) + f" | `{shown_path(bound.source, report_dir)}` |")
    return ["Information bound: test accuracy of a static reference classifier trained on the cumulative "
            "input of the first t steps (`rcbench bound`), what any model could know at step t; compare "
            "with the first-step accuracy above (t = 1):", "",
            "| reference | encoding | profiles with this encoding | " + " | ".join(f"t={t}" for t in steps)
            + " | file |",
            "|---|---|---|" + "---|" * len(steps) + "---|", *rows, ""]


def history_lines(task_records: Sequence[dict[str, Any]]) -> list[str]:
    """The markdown of one task's training histories: per configuration with ``training.history``,
    the validation mean decision step and accuracy after each epoch (means over seeds). A training
    shared by several thetas is shown once, at its first."""
    rows, seen, epochs = [], set(), 0
    several = several_profiles(task_records)
    for key, group in group_records(task_records).items():
        if not all(record["training"].get("history") for record in group):
            continue
        ordered = sorted(group, key=lambda record: record["seed"])
        signature = tuple(repr(record["training"]["history"]) for record in ordered)
        if signature in seen:
            continue
        seen.add(signature)
        cells = [f"{step:.2f} / {100 * correct:.2f}%" for step, correct in
                 zip(epoch_means(group, "val_decision_step"), epoch_means(group, "val_accuracy"))]
        epochs = max(epochs, len(cells))
        rows.append((configuration_label(key, several), len(group), cells))
    if not rows:
        return []
    header = " | ".join(f"epoch {e + 1}" for e in range(epochs))
    return ["Validation after each training epoch (mean decision step / accuracy at the decision; "
            "means over seeds; from `training.history`):", "",
            f"| configuration | seeds | {header} |", "|---|---|" + "---|" * epochs,
            *(f"| {label} | {seeds} | " + " | ".join(cells + [""] * (epochs - len(cells))) + " |"
              for label, seeds, cells in rows), ""]


REGENERATE_MARKER = "<!-- rcbench figures "
"""Starts the report's first line: the arguments of ``rcbench figures`` that made it, relative to its folder."""


def report_text(records: Sequence[dict[str, Any]], figures: dict[str, list[Path]], report_dir: Path,
                sources: Sequence[Path], bounds: Sequence[InformationBound] = (),
                compute_budget: float | None = None, arguments: Sequence[str] = (),
                searches: dict[tuple[str, str], Search] | None = None) -> str:
    """The report's markdown; figure links and ``sources`` are shown relative to ``report_dir``;
    ``compute_budget``: the training MACs of the equal-compute view (default: each task's cheapest
    row); ``arguments``: of the ``rcbench figures`` command that regenerates it in ``report_dir``;
    ``searches``: the ``rcbench tune`` searches by ``(task, contender)``
    (:func:`bench.analysis.tuning_effort.read_searches`), shown per row after the budget table."""
    created = sorted(record["created"] for record in records)
    command = " ".join(["rcbench figures", *arguments])
    lines = [
        f"{REGENERATE_MARKER}{' '.join(arguments)} -->" if arguments else "<!-- rcbench figures -->",
        "# rcbench report",
        "",
        f"Generated by `rcbench figures` from {len(records)} records in "
        + ", ".join(f"`{shown_path(source, report_dir)}`" for source in sources)
        + f" ({created[0]} to {created[-1]}); do not edit by hand. Values are mean ± half-width of the "
        "95% Student-t interval over seeds (one seed: no interval). Steps are steps read (1-based).",
        "",
        *([f"Made by `{command}` in this folder; `rcbench figures --regenerate .` here runs it again.", ""]
          if arguments else []),
    ]
    for task, task_records in records_by_task(records).items():  # an ablation's table first: it is the point
        drawn = [png for png in figures.get(task, []) if png.stem == f"{task}-{ABLATION_FIGURE}"]
        lines += ablation_lines(task_records, task, shown_path(drawn[0], report_dir) if drawn else None)
    for task, task_records in records_by_task(records).items():
        task_bounds = [bound for bound in bounds if bound.task == task]
        lines += [f"## {task}", "", "### At equal epochs", "", markdown_table(task_records),
                  *streaming_lines(task_records), *budget_lines(task_records),
                  *tuning_lines(task_records, searches or {}, report_dir),
                  *bound_lines(task_records, task_bounds, report_dir),
                  *paired_lines(task_records), "### At equal training compute", "",
                  *equal_compute_lines(task_records, compute_budget), *pairwise_compute_lines(task_records),
                  *history_lines(task_records)]
        for png in figures.get(task, []):
            if png.stem == f"{task}-{ABLATION_FIGURE}":
                continue  # shown in the task's ablation section
            relative = shown_path(png, report_dir)
            lines += [f"![{png.stem}]({relative})", ""]
    lines += ["## Provenance", "", provenance_lines(records)]
    return "\n".join(lines)


def write_report(records: Sequence[dict[str, Any]], figures: dict[str, list[Path]], out: Path,
                 sources: Sequence[Path], bounds: Sequence[InformationBound] = (),
                 compute_budget: float | None = None, arguments: Sequence[str] = (),
                 searches: dict[tuple[str, str], Search] | None = None) -> Path:
    """Write ``out/REPORT.md`` and return its path."""
    if not records:
        raise ValueError("no records to report")
    path = out / "REPORT.md"
    path.write_text(report_text(records, figures, out, sources, bounds, compute_budget, arguments, searches),
                    encoding="utf-8")
    return path
