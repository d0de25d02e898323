"""What each row of a task's table got, and the comparison at equal training compute.

Two views of every comparison, from the same records:

*At equal epochs* (:func:`budget_lines`): the final models, as the task's main table
shows them, with each row's budget beside it (epochs, training MACs, training
seconds, code revision) and a flag on every row whose budget, front end,
augmentation or input differs from the other rows' (the most common value), with
the reason the profile's protocol gave for it (:mod:`bench.run.protocol`), or "no
reason recorded" for records older than the protocol.

*At equal training compute* (:func:`equal_compute_lines`): the budget is the
smallest mean training MACs (forward + backward, dense) of any row of the task,
or a budget the user names. Each record is taken at its final model when it
trained no more than that, else at its last learning-curve snapshot
(:mod:`baselines.learning_curve`) at or below it. All are scored on the first
``learning_curve.examples`` test examples (the same for every contender), and
the most accurate row is compared with each other row on those examples
(:func:`bench.analysis.paired.paired_difference`). The cheapest row may be far
cheaper than the others (a small spiking network against convolutional LSTMs),
so :func:`pairwise_compute_lines` also compares every pair of rows at the
cheaper one's budget: its final models against the dearer row's snapshots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.analysis.paired import (PAIRED_TABLE_HEADER, PairedComparison, PairingError, paired_cells,
                                   paired_difference, paired_row)
from bench.analysis.summary import configuration_label, group_records, several_profiles
from bench.core.records import LEARNING_CURVE_FIELD, PER_EXAMPLE_FIELD, PROTOCOL_FIELD, unpack_bits

COMPARED_SETTINGS = ("epochs", "batch_size", "lr_schedule", "selection", "encoder", "conv_channels",
                     "augment_shift")
"""Hyperparameters flagged when a row's value differs from the others' (a contender without the
setting counts as ``none``), beside any setting its protocol names; data options are compared too."""

ABSENT = "none"

INERT_SETTINGS = {"augment_shift": lambda config: config.get("augment_shift") == 0,
                  "conv_channels": lambda config: config.get("encoder", "none") == "none"}
"""Settings compared as ``none`` when they do nothing: no shift (``augment_shift = 0``), and a
convolutional width without a convolutional encoder. A record that has such a setting is then not
flagged against records that lack it (an older revision, or a contender without the option)."""


class BudgetError(ValueError):
    """A comparison at equal training compute cannot be made as asked (a budget no row can match)."""


def training_macs(record: dict[str, Any]) -> float:
    """Dense forward + backward MACs that the record's training computed."""
    return float(record["training"]["forward_macs"] + record["training"]["backward_macs"])


def _settings(record: dict[str, Any]) -> dict[str, Any]:
    names = set(COMPARED_SETTINGS) | set(record.get(PROTOCOL_FIELD, {}).get("settings", {}))
    config = record["config"]
    values = {name: ABSENT if name in INERT_SETTINGS and INERT_SETTINGS[name](config) else config.get(name, ABSENT)
              for name in names}
    values.update({f"data.{name}": value for name, value in record.get("data_options", {}).items()})
    return values


def _reasons(record: dict[str, Any]) -> dict[str, str]:
    return {override["setting"]: override["reason"]
            for override in record.get(PROTOCOL_FIELD, {}).get("overrides", [])}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def row_flags(task_records: Sequence[dict[str, Any]]) -> dict[tuple, list[str]]:
    """Per row (:func:`~bench.analysis.summary.group_records` key): one line per setting on which the
    row differs from the most common value of the task's rows, with the protocol's reason."""
    groups = group_records(task_records)
    row_values = {key: _settings(group[0]) for key, group in groups.items()}
    names = sorted({name for values in row_values.values() for name in values})
    flags: dict[tuple, list[str]] = {key: [] for key in groups}
    for name in names:
        values = {key: repr(values.get(name, ABSENT)) for key, values in row_values.items()}
        common = _majority(values.values())
        for key, value in values.items():
            if value != common:
                reason = _reasons(groups[key][0]).get(name, "no reason recorded")
                others = common if common is not None else "differ: " + ", ".join(sorted(set(values.values())))
                flags[key].append(f"{name} = {value} (others {others}): {reason}")
    revisions = [_short(record["git_revision"]) for record in task_records]
    common_revision = _majority(revisions)
    for key, group in groups.items():
        other = sorted({_short(record["git_revision"]) for record in group} - {common_revision})
        if other:
            most = f"most records: {common_revision}" if common_revision else "no revision made most records"
            flags[key].append(f"made at revision {', '.join(other)} ({most})")
    return flags


def _majority(values: Iterable[str]) -> str | None:
    """The most common value, or None when two or more values tie for it."""
    counts = Counter(values).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return counts[0][0]


def _short(revision: str) -> str:
    """A git revision as 7 hex digits (keeping a ``-dirty`` suffix)."""
    digits, dirty, _rest = revision.partition("-dirty")
    return digits[:7] + dirty


def step_paths_text(group: Sequence[dict[str, Any]]) -> str:
    """The implementations of the training step that trained a row's records (``training.step_paths``,
    summed over seeds): one name alone, else each with its share of the minibatches; ``-`` when no
    record names one (a contender with a single implementation, or a record older than the field)."""
    totals: Counter[str] = Counter()
    for record in group:
        totals.update(record["training"].get("step_paths") or {})
    if not totals:
        return "-"
    if len(totals) == 1:
        return next(iter(totals))
    minibatches = sum(totals.values())
    return ", ".join(f"{path} {count / minibatches:.0%}" for path, count in sorted(totals.items()))


def budget_lines(task_records: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown: each row's budget (means over seeds), the training step's implementation
    (:func:`step_paths_text`) and the flags of :func:`row_flags`."""
    groups = group_records(task_records)
    several = several_profiles(task_records)
    flags = row_flags(task_records)
    rows = []
    for key, group in groups.items():
        epochs = sorted({record["training"]["epochs"] for record in group})
        mark = " ⚑" if flags[key] else ""
        rows.append(f"| {configuration_label(key, several)}{mark} | {len(group)} | "
                    f"{'/'.join(str(e) for e in epochs)} | {_mean([training_macs(r) for r in group]):.3g} | "
                    f"{_mean([r['training']['train_seconds'] for r in group]):.0f} | {step_paths_text(group)} | "
                    f"{'; '.join(flags[key]) or '-'} |")
    flagged = sum(bool(lines) for lines in flags.values())
    verdict = ("Every row got the same budget, front end, augmentation and input." if not flagged else
               f"⚑ {flagged} of {len(groups)} rows differ from the others; the last column says how and why.")
    return ["Protocol and budget of each row (equal epochs: the final models above). Training MACs are "
            "dense forward + backward MACs actually computed; seconds are training wall-clock (means over "
            "seeds); the training step is the implementation that ran, for a contender with several "
            f"(docs/contenders.md). {verdict}", "",
            "| configuration | seeds | epochs | training MACs | train s | training step "
            "| differs from the other rows |",
            "|---|---|---|---|---|---|---|", *rows, ""]


@dataclass(frozen=True)
class MatchedPoint:
    """One record at the compute budget: its MACs, epochs done and per-example correctness."""

    seed: int
    macs: float
    epoch: float
    correct: list[int]
    decision_step_mean: float | None
    final: bool


def _match(record: dict[str, Any], budget: float, examples: int) -> MatchedPoint | str:
    """The record at ``budget`` MACs, or why it has no point there."""
    total = training_macs(record)
    if total <= budget * (1 + 1e-9):
        correct = record[PER_EXAMPLE_FIELD]["correct"][:examples]
        steps = record[PER_EXAMPLE_FIELD]["decision_step"][:examples]
        return MatchedPoint(record["seed"], total, float(record["training"]["epochs"]), correct,
                            _mean(steps), True)
    curve = record.get(LEARNING_CURVE_FIELD)
    if curve is None:
        return f"seed {record['seed']} trained {total:.3g} MACs and has no learning curve to take an earlier point from"
    if curve["examples"] != examples:
        return f"seed {record['seed']}'s learning curve is scored on {curve['examples']} examples, not {examples}"
    below = [point for point in curve["points"] if point["training_macs"] <= budget * (1 + 1e-9)]
    if not below:
        first = curve["points"][0]["training_macs"] if curve["points"] else total
        return f"seed {record['seed']}'s first learning-curve point is at {first:.3g} MACs, above the budget"
    point = below[-1]
    return MatchedPoint(record["seed"], float(point["training_macs"]), float(point["epoch"]),
                        unpack_bits(point["correct"], examples), float(point["decision_step_mean"]), False)


def equal_compute_lines(task_records: Sequence[dict[str, Any]], budget: float | None = None) -> list[str]:
    """Markdown of the comparison at equal training compute (see the module docstring).

    Args:
        task_records: one task's records.
        budget: training MACs to compare at; default the smallest mean over the task's rows.

    Raises:
        BudgetError: ``budget`` is not a positive number, or some row cannot be matched to it
            (a row without per-example results, or without a learning-curve point at or below it).
    """
    groups = group_records(task_records)
    several = several_profiles(task_records)
    label = {key: configuration_label(key, several) for key in groups}
    curves = {record[LEARNING_CURVE_FIELD]["examples"] for record in task_records if LEARNING_CURVE_FIELD in record}
    if not curves:
        return ["No comparison at equal training compute: no record of this task has a learning curve "
                f"(`{LEARNING_CURVE_FIELD}`; written by rcbench since the field exists).", ""]
    if len(curves) > 1:
        return [f"No comparison at equal training compute: the learning curves are scored on different "
                f"numbers of test examples ({', '.join(str(c) for c in sorted(curves))}).", ""]
    examples = curves.pop()
    means = {key: _mean([training_macs(record) for record in group]) for key, group in groups.items()}
    cheapest = min(means, key=means.get)
    if budget is None:
        budget, source = means[cheapest], f"the cheapest row's training ({label[cheapest]})"
    elif isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise BudgetError(f"a compute budget must be a positive number of MACs, got {budget!r}")
    else:
        source = "as asked"
    matched: dict[tuple, list[MatchedPoint]] = {}
    unmatched: list[str] = []
    for key, group in groups.items():
        points = []
        for record in sorted(group, key=lambda r: r["seed"]):
            found = (_match(record, budget, examples) if PER_EXAMPLE_FIELD in record
                     else f"seed {record['seed']} has no per-example results")
            if isinstance(found, str):
                unmatched.append(f"{label[key]}: {found}")
            else:
                points.append(found)
        if points:
            matched[key] = points
    if unmatched and source == "as asked":
        raise BudgetError(f"{task_records[0]['task']}: a budget of {budget:.3g} training MACs cannot be matched: "
                          + "; ".join(unmatched))
    rows = []
    for key, points in matched.items():
        accuracy = _mean([_mean(p.correct) for p in points])
        steps = [p.decision_step_mean for p in points]
        rows.append(f"| {label[key]} | {len(points)} | {_mean([p.macs for p in points]):.3g} | "
                    f"{_mean([p.macs for p in points]) / budget:.2f} | {_mean([p.epoch for p in points]):.2f} | "
                    f"{'final' if all(p.final for p in points) else 'snapshot'} | {100 * accuracy:.2f}% | "
                    f"{_mean(steps):.2f} |")
    lines = [f"At equal training compute: every row at {budget:.3g} training MACs ({source}): its final model "
             f"if it trained no more, else its last learning-curve snapshot at or below the budget; scored on "
             f"the first {examples} test examples (the same for every row). Snapshots lie on a grid 19% apart, "
             f"so a row may stand somewhat below the budget (column 'of budget').", "",
             "| configuration | seeds | training MACs | of budget | epochs done | model | accuracy | decision step |",
             "|---|---|---|---|---|---|---|---|", *rows, ""]
    lines += [f"- not matched: {line}" for line in unmatched] + ([""] if unmatched else [])
    lines += _paired_at_budget(matched, label)
    return lines


def _paired_at_budget(matched: dict[tuple, list[MatchedPoint]], label: dict[tuple, str]) -> list[str]:
    if len(matched) < 2:
        return []
    accuracy = {key: _mean([_mean(p.correct) for p in points]) for key, points in matched.items()}
    leader = max(matched, key=lambda key: (accuracy[key], label[key]))
    rows = []
    for other in sorted((key for key in matched if key != leader), key=lambda key: -accuracy[key]):
        seeds = sorted({p.seed for p in matched[leader]} & {p.seed for p in matched[other]})
        if not seeds:
            rows.append(f"| {label[leader]} | {label[other]} | cannot pair: no common seed | | | |")
            continue
        a = np.array([next(p.correct for p in matched[leader] if p.seed == s) for s in seeds])
        b = np.array([next(p.correct for p in matched[other] if p.seed == s) for s in seeds])
        try:
            result: PairedComparison | PairingError = paired_difference(a, b, seeds)
        except PairingError as error:
            result = error
        rows.append(paired_row(label[leader], label[other], result))
    return ["Paired comparisons at equal training compute (same examples; points, bootstrap 95% interval):", "",
            *PAIRED_TABLE_HEADER, *rows, ""]


def pairwise_compute_lines(task_records: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown: every pair of rows at the cheaper row's mean training MACs (see the module docstring).

    The cheaper row's final models (each seed) against the dearer row's last learning-curve
    snapshot at or below that budget, on the first ``learning_curve.examples`` test examples,
    paired by seed; empty when the records have no learning curves (the equal-compute view
    says why) or the task has one row.
    """
    groups = group_records(task_records)
    curves = {record[LEARNING_CURVE_FIELD]["examples"] for record in task_records if LEARNING_CURVE_FIELD in record}
    if len(groups) < 2 or len(curves) != 1:
        return []
    examples = curves.pop()
    label = {key: configuration_label(key, several_profiles(task_records)) for key in groups}
    means = {key: _mean([training_macs(record) for record in group]) for key, group in groups.items()}
    order = sorted(groups, key=lambda key: (means[key], label[key]))
    rows = []
    for index, cheaper in enumerate(order):
        for dearer in order[index + 1:]:
            budget = means[cheaper]
            finals = {r["seed"]: r[PER_EXAMPLE_FIELD]["correct"][:examples] for r in groups[cheaper]
                      if PER_EXAMPLE_FIELD in r}
            found = {r["seed"]: _match(r, budget, examples) for r in groups[dearer] if PER_EXAMPLE_FIELD in r}
            points = {seed: point for seed, point in found.items() if isinstance(point, MatchedPoint)}
            seeds = sorted(finals.keys() & points.keys())
            head = f"| {label[cheaper]} | {budget:.3g} | {label[dearer]} |"
            if not seeds:
                why = "; ".join(point for point in found.values() if isinstance(point, str)) or "no common seed"
                rows.append(f"{head} | | {paired_cells(PairingError(why))} |")
                continue
            macs = _mean([points[seed].macs for seed in seeds])
            epochs = _mean([points[seed].epoch for seed in seeds])
            try:
                result: PairedComparison | PairingError = paired_difference(
                    np.array([finals[seed] for seed in seeds]), np.array([points[seed].correct for seed in seeds]),
                    seeds)
            except PairingError as error:
                result = error
            rows.append(f"{head} {macs / budget:.2f} | {epochs:.2f} | {paired_cells(result)} |")
    return [f"Every pair at the cheaper row's training compute: the cheaper row's final models against the "
            f"dearer row's last learning-curve snapshot at or below the cheaper row's mean training MACs, "
            f"on the first {examples} test examples, paired by seed. The difference is the cheaper row's "
            f"accuracy minus the dearer row's, in points (paired bootstrap 95% interval); 'better' means "
            f"the cheaper row is more accurate.", "",
            "| cheaper row (final) | its training MACs | dearer row (snapshot) | of budget | epochs done | "
            "cheaper minus dearer [95% interval] | p | seeds | verdict |",
            "|---|---|---|---|---|---|---|---|---|", *rows, ""]
