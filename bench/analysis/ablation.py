"""The ablation table and figure: what each step of an ablation sequence did, from its records.

Records belong to an ablation when their profile is named ``ablation-NN-<change>``
(:func:`bench.run.ablation.ablation_step`); nothing else marks them, so any folder of
records, a committed one or a run of your own steps, gets the section. For each task
with such records, one row per configuration (contender, rule, theta, beta) of each
step, in step order:

- ``change``: the step profile's ``description`` when the profile is one of the
  built-in sequence (:func:`bench.run.ablation.step_descriptions`), else the slug of
  its name;
- ``settings changed``: what differs from the row of the previous step with the same
  contender, read from the records themselves (their ``config``, ``data_options``,
  ``rule`` and ``theta``), so the table shows what the step changed in what ran,
  whatever its profile says;
- accuracy at the decision, mean decision step, first-step accuracy, training
  wall-clock and training MACs (forward + backward): mean ± 95% interval over seeds
  (:func:`bench.core.stats.mean_interval`).

:func:`ablation_figure` draws the same rows as four aligned horizontal panels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from bench.core.record_schema import GroupKey  # noqa: E402
from bench.core.stats import Estimate, mean_interval  # noqa: E402
from bench.run.ablation import ablation_step, step_descriptions  # noqa: E402

Record = dict[str, Any]

ABLATION_FIGURE = "ablation"
"""The figure's name: ``<task>-ablation.png`` and ``.svg``."""


def training_macs(record: Record) -> float:
    """Dense MACs of all forward and backward passes of the record's training."""
    return record["training"]["forward_macs"] + record["training"]["backward_macs"]


METRICS: dict[str, Callable[[Record], float]] = {
    "accuracy": lambda record: record["accuracy"],
    "decision_step_mean": lambda record: record["decision_step_mean"],
    "first_step_accuracy": lambda record: record["first_step_accuracy"],
    "train_seconds": lambda record: record["training"]["train_seconds"],
    "train_macs": training_macs,
}
"""The quantities of a row (one value per seed each)."""


@dataclass(frozen=True)
class AblationRow:
    """One configuration of one ablation step, with its estimates over seeds."""

    step: int
    key: GroupKey
    change: str
    settings_changed: str
    seeds: int
    estimates: dict[str, Estimate]

    @property
    def label(self) -> str:
        """``03 loss``: the step number and the slug of its change."""
        step = ablation_step(self.key.profile)
        return f"{self.step:02d} {step.change if step else self.key.profile}"


def ablation_records(records: Sequence[Record]) -> list[Record]:
    """The records whose profile is an ablation step."""
    return [record for record in records if ablation_step(record["profile"]) is not None]


def _settings(record: Record) -> dict[str, Any]:
    """What a record ran with, flat: its contender's config, ``data.<option>``, rule and theta."""
    return {**record.get("config", {}),
            **{f"data.{name}": value for name, value in record.get("data_options", {}).items()},
            "rule": record["rule"], "theta": record["theta"]}


def _shown(value: Any) -> str:
    return "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def settings_changed(before: Record, after: Record) -> str:
    """``name: old -> new`` for every setting that differs between two records, sorted by name."""
    old, new = _settings(before), _settings(after)
    names = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    return "; ".join(f"{name}: {_shown(old.get(name))} → {_shown(new.get(name))}" for name in names) or "nothing"


def ablation_rows(task_records: Sequence[Record], descriptions: Mapping[str, str] | None = None) -> list[AblationRow]:
    """The rows of one task's ablation, in step order (configurations of one step by contender,
    rule, theta and beta); ``descriptions``: profile name -> change (default: the built-in
    sequence's, :func:`bench.run.ablation.step_descriptions`)."""
    descriptions = step_descriptions() if descriptions is None else descriptions
    groups: dict[GroupKey, list[Record]] = {}
    for record in ablation_records(task_records):
        groups.setdefault(GroupKey.of(record), []).append(record)

    def order(key: GroupKey) -> tuple:
        return (ablation_step(key.profile).step, key.profile, key.contender, key.rule,
                -1.0 if key.theta is None else key.theta, -1.0 if key.beta is None else key.beta)

    rows: list[AblationRow] = []
    for key in sorted(groups, key=order):
        group = sorted(groups[key], key=lambda record: record["seed"])
        step = ablation_step(key.profile)
        previous = next((row for row in reversed(rows) if row.step < step.step and row.key.contender == key.contender),
                        None)
        changed = "-" if previous is None else settings_changed(groups[previous.key][0], group[0])
        rows.append(AblationRow(step.step, key, descriptions.get(key.profile) or step.change, changed, len(group),
                                {name: mean_interval([metric(record) for record in group])
                                 for name, metric in METRICS.items()}))
    return rows


def _configuration(key: GroupKey) -> str:
    return f"{key.contender} θ={key.theta:g}" if key.theta is not None else f"{key.contender} rule {key.rule}"


def ablation_table(rows: Sequence[AblationRow]) -> str:
    """The rows as a markdown table; a configuration column when some step has several configurations."""
    several = len({row.step for row in rows}) < len(rows)
    headers = ["step", *(["configuration"] if several else []), "change", "settings changed (from the records)",
               "seeds", "accuracy at the decision", "mean decision step", "first-step accuracy", "train s",
               "train MACs"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        macs = row.estimates["train_macs"]
        cells = [row.label, *([_configuration(row.key)] if several else []), row.change, row.settings_changed,
                 str(row.seeds), row.estimates["accuracy"].format(4), row.estimates["decision_step_mean"].format(2),
                 row.estimates["first_step_accuracy"].format(4), row.estimates["train_seconds"].format(1),
                 f"{macs.mean:.3g}" + (f" ± {macs.half_width:.2g}" if macs.half_width is not None else "")]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def ablation_figure(records: Sequence[Record], task: str, descriptions: Mapping[str, str] | None = None
                    ) -> Figure | None:
    """Four aligned horizontal panels, one row per :func:`ablation_rows` row, steps top to bottom:
    accuracy at the decision (filled) and first-step accuracy (open), mean decision step, training
    wall-clock and training MACs (log scales). None when the records hold no ablation step."""
    rows = ablation_rows(records, descriptions)
    if not rows:
        return None
    several = len({row.step for row in rows}) < len(rows)
    labels = [row.label + (f" ({_configuration(row.key)})" if several else "") for row in rows]
    positions = list(range(len(rows)))
    figure, panels = plt.subplots(1, 4, figsize=(13, 1.6 + 0.34 * len(rows)), sharey=True)

    def points(axes: Any, name: str, low: float, high: float, **style: Any) -> None:
        """The estimates of ``name``, their intervals cut at the values the metric can take."""
        estimates = [row.estimates[name] for row in rows]
        means = [e.mean for e in estimates]
        widths = [e.half_width or 0.0 for e in estimates]
        below = [max(0.0, min(width, mean - low)) for mean, width in zip(means, widths)]
        above = [max(0.0, min(width, high - mean)) for mean, width in zip(means, widths)]
        axes.errorbar(means, positions, xerr=[below, above], linestyle="none", capsize=3, **style)

    accuracy, decision, seconds, macs = panels
    steps = max(record["n_steps"] for record in ablation_records(records))
    points(accuracy, "accuracy", 0.0, 1.0, marker="o", color="#d62728", label="at the decision")
    points(accuracy, "first_step_accuracy", 0.0, 1.0, marker="o", markerfacecolor="white", color="#7f7f7f",
           label="after the first step")
    points(decision, "decision_step_mean", 1.0, float(steps), marker="o", color="#d62728")
    accuracy.set_xlim(right=1.02)
    decision.set_xlim(0, steps + 1)
    for axes, name in ((seconds, "train_seconds"), (macs, "train_macs")):
        estimates = [row.estimates[name] for row in rows]
        axes.barh(positions, [e.mean for e in estimates], xerr=[e.half_width or 0.0 for e in estimates],
                  capsize=3, color="#d62728", alpha=0.7)
        if all(e.mean > 0 for e in estimates):
            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a short log axis
    for axes, title in ((accuracy, "test accuracy"), (decision, f"mean decision step (of {steps})"),
                        (seconds, "training wall-clock (s)"), (macs, "training MACs (forward + backward)")):
        axes.set_xlabel(title)
        axes.grid(alpha=0.3, axis="x", which="both")
    accuracy.set_yticks(positions, labels, fontsize=8)
    accuracy.invert_yaxis()
    figure.suptitle(f"{task}: the ablation, one change per step (top to bottom)")
    figure.text(0.01, 0.005, "Means over seeds; error bars: 95% Student-t interval (none with one seed), cut at the values a "
                "metric can take (accuracy 0 to 1, decision step 1 to T).",
                fontsize=7, ha="left", va="bottom", color="0.3")
    handles, names = accuracy.get_legend_handles_labels()
    figure.legend(handles, names, fontsize=7, loc="lower right", ncol=2, frameon=False)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return figure


def ablation_lines(task_records: Sequence[Record], task: str, figure: str | None = None,
                   descriptions: Mapping[str, str] | None = None) -> list[str]:
    """The markdown of one task's ablation section (nothing when it has no ablation records):
    the table, and a link to ``figure`` (a path relative to the report) when given."""
    rows = ablation_rows(task_records, descriptions)
    if not rows:
        return []
    first, last = rows[0], rows[-1]
    return [f"## Ablation: {task}", "",
            f"From `{first.key.profile}` to `{last.key.profile}`, one change per step; each step's profile "
            "extends the one before it (records of profiles named `ablation-NN-<change>`, "
            "`bench.analysis.ablation`). *Settings changed* compares each row with the previous step's row "
            "of the same contender, from the records' `config`, `data_options`, `rule` and `theta`. Values "
            "are mean ± 95% interval over seeds; train MACs: dense MACs of every forward and backward pass "
            "of training.", "",
            ablation_table(rows),
            *([f"![{task}-{ABLATION_FIGURE}]({figure})", ""] if figure else [])]

