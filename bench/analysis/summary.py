"""Summary tables of records: mean and 95% Student-t interval over seeds, per cell group.

Rows group records that differ only in their seed: (task, contender, rule,
theta, beta, profile). The markdown file written beside a run's records also
lists the provenance of the records it summarises.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.core.record_schema import GroupKey
from bench.core.stats import mean_interval

GROUP_FIELDS = GroupKey._fields
"""The fields a summary row groups records by (:class:`bench.core.record_schema.GroupKey`)."""

COLUMNS = (
    ("accuracy", "accuracy", 4),
    ("first_step_accuracy", "first-step acc", 4),
    ("last_step_accuracy", "last-step acc", 4),
    ("decision_step_mean", "decision step", 2),
    ("decision_step_p90", "p90 step", 1),
    ("never_crossed_fraction", "never crossed", 3),
    ("decision_lag_mean", "lag (positives)", 2),
    ("ops_dense_macs", "dense MACs to decision", 0),
)


def group_records(records: Sequence[dict[str, Any]]) -> dict[GroupKey, list[dict[str, Any]]]:
    """Records grouped by :data:`GROUP_FIELDS`, in first-seen order."""
    groups: dict[GroupKey, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[GroupKey.of(record)].append(record)
    return groups


def configuration_label(key: GroupKey, with_profile: bool = False) -> str:
    """A row's name from its :data:`GROUP_FIELDS` key: ``rc-lstm θ=0.99 β=0`` (``[profile]`` appended on request)."""
    parts = [key.contender] + ([f"θ={key.theta:g}"] if key.theta is not None else [f"rule {key.rule}"])
    parts += [f"β={key.beta:g}"] if key.beta is not None else []
    return " ".join(parts + ([f"[{key.profile}]"] if with_profile else []))


def shown_path(path: Path, report_dir: Path | None) -> str:
    """``path`` as a report names it: relative to ``report_dir`` when given, with forward slashes."""
    return (Path(os.path.relpath(path, report_dir)) if report_dir is not None else path).as_posix()


def several_profiles(records: Sequence[dict[str, Any]]) -> bool:
    """Whether the records come from more than one profile (labels then name the profile)."""
    return len({record["profile"] for record in records}) > 1


def _estimate(values: list[float], digits: int) -> str:
    return mean_interval(values).format(digits)


def summary_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per group: identity, number of seeds, and mean ± 95% interval half-width of each column."""
    rows = []
    for key, group in group_records(records).items():
        row = {name: str(value) if value is not None else "-" for name, value in key._asdict().items()}
        row["seeds"] = str(len(group))
        for field, _title, digits in COLUMNS:
            values = [record[field] for record in group if field in record]
            if values and len(values) != len(group):
                raise ValueError(f"field {field} is present in only some records of group {key}")
            row[field] = _estimate(values, digits) if values else "-"
        train = [record["training"]["train_seconds"] for record in group]
        row["train_seconds"] = _estimate(train, 1)
        evaluations = [record["training"]["step_evaluations_forward"] for record in group]
        row["train_step_evals"] = f"{statistics.fmean(evaluations):.3g}"
        rows.append(row)
    return rows


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """The summary as a GitHub-flavoured markdown table (mean ± 95% interval over seeds); a
    ``profile`` column follows ``task`` when the records come from several profiles."""
    with_profile = len({record["profile"] for record in records}) > 1
    headers = ["task", *(["profile"] if with_profile else []), "contender", "theta", "beta", "seeds",
               *(title for _f, title, _d in COLUMNS), "train s", "train fwd step evals"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in summary_rows(records):
        cells = [row["task"], *([row["profile"]] if with_profile else []), row["contender"], row["theta"],
                 row["beta"], row["seeds"], *(row[field] for field, _t, _d in COLUMNS), row["train_seconds"],
                 row["train_step_evals"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _triple(group: Sequence[dict[str, Any]], mode: str, quantity: str, digits: int) -> str:
    """``p50 / p90 / p99`` of a streaming quantity, each the mean over the group's records."""
    return " / ".join(f"{statistics.fmean(r['streaming'][mode][quantity][p] for r in group):.{digits}f}"
                      for p in ("p50", "p90", "p99"))


def streaming_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    """The markdown of the streaming time to decision (records' ``streaming`` field, defined in
    :mod:`bench.measure.streaming`): one row per group of :data:`GROUP_FIELDS` whose records all
    carry it, means over seeds; nothing when no record carries it."""
    rows = []
    several = several_profiles(records)
    for key, group in group_records(records).items():
        if not all("streaming" in record for record in group):
            continue
        step_ms = statistics.fmean(r["streaming"]["step_ms"] for r in group)
        compute_ms = statistics.fmean(r["streaming"]["step_compute_ms"] for r in group)
        early = statistics.fmean(r["streaming"]["early_exit"]["time_to_decision_ms"]["p50"] for r in group)
        full = statistics.fmean(r["streaming"]["full_sequence"]["time_to_decision_ms"]["p50"] for r in group)
        rows.append(f"| {configuration_label(key, several)} | {len(group)} | {step_ms:g} | {compute_ms:.4f} | "
                    f"{_triple(group, 'early_exit', 'steps_read', 1)} | "
                    f"{_triple(group, 'early_exit', 'time_to_decision_ms', 2)} | "
                    f"{_triple(group, 'full_sequence', 'time_to_decision_ms', 2)} | {full / early:.2f} |")
    if not rows:
        return []
    return ["Streaming time to decision with one input step per step ms: steps read x step ms, plus the "
            "compute of one step at batch 1 measured for the contender (while that compute keeps up with the "
            "stream; `bench.measure.streaming` defines it all). p50 / p90 / p99 over the test examples, means "
            "over seeds; full sequence: all steps read:", "",
            "| configuration | seeds | step ms | compute ms/step | steps read, early exit | "
            "ms to decision, early exit | ms to decision, full sequence | full / early (p50) |",
            "|---|---|---|---|---|---|---|---|", *rows, ""]


def provenance_lines(records: Sequence[dict[str, Any]]) -> str:
    """Markdown bullets listing the distinct commands, revisions, versions and hardware."""
    def distinct(getter) -> list[str]:
        return list(dict.fromkeys(getter(record) for record in records))

    lines = []
    for title, getter in (
        ("command", lambda r: f"`{r['command']}`"),
        ("git revision", lambda r: f"`{r['git_revision']}`"),
        ("versions", lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r["versions"].items()))),
        ("hardware", lambda r: ", ".join(f"{k}: {v}" for k, v in r["hardware"].items())),
        ("data", lambda r: f"{r['task']}: {r['data_source']}"),
    ):
        for value in distinct(getter):
            lines.append(f"- {title}: {value}")
    return "\n".join(lines) + "\n"


def write_summary(records: Sequence[dict[str, Any]], path: Path, title: str, description: str = "") -> None:
    """Write a markdown summary (``description``, table and provenance) of ``records`` to ``path``."""
    if not records:
        raise ValueError(f"no records to summarise into {path}")
    created = sorted(record["created"] for record in records)
    text = (
        f"# {title}\n\n"
        f"Generated by `rcbench` from {len(records)} records ({created[0]} to {created[-1]}); "
        f"do not edit by hand. Values are mean ± half-width of the 95% Student-t interval over seeds "
        f"(one value: no interval). "
        f"Steps are steps read (1-based); see the README for every field.\n\n"
        + (f"{description}\n\n" if description else "")
        + markdown_table(records)
        + "".join("\n" + line for line in streaming_lines(records))
        + "\n## Provenance\n\n"
        + provenance_lines(records)
    )
    path.write_text(text, encoding="utf-8")
