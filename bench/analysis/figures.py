"""Figures drawn from result records alone (no training), with matplotlib's headless backend.

Each function draws one figure for one task from its records and returns the
matplotlib ``Figure``; :func:`draw_all` writes every figure of every task as
PNG and SVG. Values are means over seeds; error bars are 95% Student-t
intervals (:func:`bench.core.stats.mean_interval`).

Series: one per (contender, beta, and profile when the records come from
several); points of a series differ in theta. A contender with its own rule
(theta null) is one point.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench.analysis.bound_files import InformationBound  # noqa: E402
from bench.core.stats import mean_interval  # noqa: E402

Record = dict[str, Any]

# Fixed so that the same records always give the same files.
plt.rcParams["svg.hashsalt"] = "rcbench"
plt.rcParams["svg.fonttype"] = "none"
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def series_label(record: Record, with_profile: bool) -> str:
    """``contender``, plus ``beta=...`` when it has an entropy weight, plus ``[profile]`` if asked."""
    label = record["contender"] + (f" (beta={record['beta']:g})" if record["beta"] is not None else "")
    return label + (f" [{record['profile']}]" if with_profile else "")


def _series(records: Sequence[Record]) -> dict[str, dict[float | None, list[Record]]]:
    """label -> theta -> the records (one per seed); profiles are told apart when several are present."""
    with_profile = len({record["profile"] for record in records}) > 1
    grouped: dict[str, dict[float | None, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[series_label(record, with_profile)][record["theta"]].append(record)
    return grouped


def _theta_order(by_theta: dict[float | None, list[Record]]) -> list[tuple[float | None, list[Record]]]:
    """The (theta, records) pairs of a series, thetas ascending, a null theta last."""
    return sorted(by_theta.items(), key=lambda item: (item[0] is None, item[0]))


def _values(group: Sequence[Record], field: Callable[[Record], float]) -> tuple[float, float]:
    estimate = mean_interval([field(record) for record in group])
    return estimate.mean, estimate.half_width or 0.0


def speed_accuracy(records: Sequence[Record], task: str) -> Figure:
    """Accuracy at the decision against mean decision step: the speed/accuracy front."""
    figure, axes = plt.subplots(figsize=(6, 4.2))
    for label, by_theta in sorted(_series(records).items()):
        points = []
        for theta, group in by_theta.items():
            x, x_err = _values(group, lambda r: r["decision_step_mean"])
            y, y_err = _values(group, lambda r: r["accuracy"])
            points.append((x, y, x_err, y_err, theta))
        points.sort()
        axes.errorbar([p[0] for p in points], [p[1] for p in points], xerr=[p[2] for p in points],
                      yerr=[p[3] for p in points], marker="o", capsize=3, label=label)
        for x, y, _xe, _ye, theta in points:
            if theta is not None:
                axes.annotate(f"{theta:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    steps = records[0]["n_steps"]
    axes.set_xlim(0, steps + 1)
    axes.set_xlabel(f"mean decision step (steps read, of {steps})")
    axes.set_ylabel("test accuracy at the decision")
    axes.set_title(f"{task}: accuracy against decision time (labels: theta)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


BOUND_MARKERS = ("x", "+", "1", "2")


def accuracy_over_time(records: Sequence[Record], task: str, bounds: Sequence[InformationBound] = ()) -> Figure:
    """Test accuracy of the prediction at every step t = 1..T (regardless of crossing), and the
    information bounds of the task (black, dotted) where given."""
    figure, axes = plt.subplots(figsize=(6, 4.2))
    for label, by_theta in sorted(_series(records).items()):
        for theta, group in _theta_order(by_theta):
            steps = len(group[0]["accuracy_by_step"])
            means = [mean_interval([r["accuracy_by_step"][t] for r in group]).mean for t in range(steps)]
            suffix = f", theta={theta:g}" if theta is not None and len(by_theta) > 1 else ""
            axes.plot(range(1, steps + 1), means, label=label + suffix)
    for index, bound in enumerate(bounds):
        axes.plot([point.t for point in bound.points], [point.test_accuracy for point in bound.points],
                  color="black", linestyle=":", marker=BOUND_MARKERS[index % len(BOUND_MARKERS)], label=bound.label)
    axes.set_xlabel("step t (inputs read)")
    axes.set_ylabel("test accuracy of the prediction at t")
    axes.set_title(f"{task}: accuracy over time")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


def training_cost(records: Sequence[Record], task: str) -> Figure:
    """Training wall-clock and forward step evaluations per contender (one bar per series and theta)."""
    figure, (seconds_axes, evaluations_axes) = plt.subplots(1, 2, figsize=(9, 4.2))
    labels, seconds, seconds_err, evaluations, evaluations_err = [], [], [], [], []
    for label, by_theta in sorted(_series(records).items()):
        for theta, group in _theta_order(by_theta):
            labels.append(label + (f"\ntheta={theta:g}" if theta is not None else ""))
            mean, err = _values(group, lambda r: r["training"]["train_seconds"])
            seconds.append(mean)
            seconds_err.append(err)
            mean, err = _values(group, lambda r: r["training"]["step_evaluations_forward"])
            evaluations.append(mean)
            evaluations_err.append(err)
    positions = range(len(labels))
    seconds_axes.bar(positions, seconds, yerr=seconds_err, capsize=3)
    seconds_axes.set_ylabel("training wall-clock (s)")
    evaluations_axes.bar(positions, evaluations, yerr=evaluations_err, capsize=3, color="tab:orange")
    evaluations_axes.set_ylabel("forward step evaluations in training")
    for axes in (seconds_axes, evaluations_axes):
        axes.set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=7)
        axes.grid(alpha=0.3, axis="y")
    figure.suptitle(f"{task}: training cost (shared trainings are shown at each theta)")
    figure.tight_layout()
    return figure


def training_cost_accuracy(records: Sequence[Record], task: str) -> Figure:
    """Test accuracy at the decision against training cost, so that cost is read at equal accuracy:
    left, the dense MACs of all forward and backward passes of training; right, training
    wall-clock (both log scale). One point per series and theta; a training shared by several
    thetas has the same cost at each."""
    figure, (macs_axes, seconds_axes) = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for label, by_theta in sorted(_series(records).items()):
        for axes, cost in ((macs_axes, lambda r: r["training"]["forward_macs"] + r["training"]["backward_macs"]),
                           (seconds_axes, lambda r: r["training"]["train_seconds"])):
            points = []
            for theta, group in _theta_order(by_theta):
                x, x_err = _values(group, cost)
                y, y_err = _values(group, lambda r: r["accuracy"])
                points.append((x, y, x_err, y_err, theta))
            axes.errorbar([p[0] for p in points], [p[1] for p in points], xerr=[p[2] for p in points],
                          yerr=[p[3] for p in points], marker="o", linestyle="none", capsize=3, label=label)
            for x, y, _xe, _ye, theta in points:
                if theta is not None:
                    axes.annotate(f"{theta:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    macs_axes.set_xlabel("training MACs, forward + backward (dense)")
    seconds_axes.set_xlabel("training wall-clock (s)")
    macs_axes.set_ylabel("test accuracy at the decision")
    for axes in (macs_axes, seconds_axes):
        axes.set_xscale("log")
        axes.grid(alpha=0.3, which="both")
    macs_axes.legend(fontsize=7)
    figure.suptitle(f"{task}: accuracy against training cost (labels: theta)")
    figure.tight_layout()
    return figure


def operations(records: Sequence[Record], task: str) -> Figure:
    """Operations per example to the decision: dense MACs, effective MACs and ACs (log scale),
    with the dense MACs of the full sequence for reference."""
    figure, axes = plt.subplots(figsize=(8, 4.4))
    fields = (("ops_dense_macs_full_sequence", "dense MACs, full sequence"),
              ("ops_dense_macs", "dense MACs to decision"),
              ("ops_effective_macs", "effective MACs to decision"),
              ("ops_effective_acs", "effective ACs to decision"))
    labels, groups = [], []
    for label, by_theta in sorted(_series(records).items()):
        for theta, group in _theta_order(by_theta):
            labels.append(label + (f"\ntheta={theta:g}" if theta is not None else ""))
            groups.append(group)
    width = 0.8 / len(fields)
    for i, (field, title) in enumerate(fields):
        values = [_values(group, lambda r, f=field: r[f]) for group in groups]
        positions = [k + (i - (len(fields) - 1) / 2) * width for k in range(len(groups))]
        bars = axes.bar(positions, [mean if mean > 0 else float("nan") for mean, _ in values], width,
                        yerr=[err for _, err in values], capsize=2, label=title)
        for position, (mean, _err) in zip(positions, values):
            if mean == 0:  # a log axis cannot show 0: say it
                axes.annotate("0", (position, 0), xycoords=("data", "axes fraction"), ha="center",
                              va="bottom", fontsize=7, color=bars.patches[0].get_facecolor())
    axes.set_yscale("log")
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("operations per example")
    axes.set_title(f"{task}: operations to the decision (NeuroBench-style effective MACs/ACs)")
    axes.grid(alpha=0.3, axis="y")
    axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


def beta_sweep(records: Sequence[Record], task: str) -> Figure | None:
    """Accuracy and mean decision step against beta, per theta, for contenders with several betas."""
    with_profile = len({record["profile"] for record in records}) > 1
    by_key: dict[tuple[str, float], dict[float, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record["beta"] is not None and record["theta"] is not None:
            contender = record["contender"] + (f" [{record['profile']}]" if with_profile else "")
            by_key[(contender, record["theta"])][record["beta"]].append(record)
    swept = {key: betas for key, betas in by_key.items() if len(betas) > 1}
    if not swept:
        return None
    figure, (accuracy_axes, step_axes) = plt.subplots(1, 2, figsize=(9, 4.2))
    for (contender, theta), betas in sorted(swept.items()):
        xs = sorted(betas)
        for axes, field in ((accuracy_axes, "accuracy"), (step_axes, "decision_step_mean")):
            means = [_values(betas[b], lambda r, f=field: r[f]) for b in xs]
            axes.errorbar(xs, [m for m, _ in means], yerr=[e for _, e in means], marker="o", capsize=3,
                          label=f"{contender}, theta={theta:g}")
    accuracy_axes.set_ylabel("test accuracy at the decision")
    step_axes.set_ylabel("mean decision step")
    return _finish_panels(figure, (accuracy_axes, step_axes), "beta (entropy weight)", f"{task}: the beta sweep")


def epoch_means(group: Sequence[Record], field: str) -> list[float]:
    """Mean over the records of ``group`` of ``training.history[e][field]``, for each epoch e they all have."""
    epochs = min(len(record["training"]["history"]) for record in group)
    return [mean_interval([record["training"]["history"][e][field] for record in group]).mean
            for e in range(epochs)]


def _finish_panels(figure: Figure, panels: Sequence[Any], xlabel: str, title: str) -> Figure:
    """Label, grid and legend every panel, title the figure and lay it out."""
    for axes in panels:
        axes.set_xlabel(xlabel)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def learning_to_decide(records: Sequence[Record], task: str) -> Figure | None:
    """Validation mean decision step and validation accuracy after each training epoch (from
    ``training.history``; None when no record has it): how fast each contender learned *when*
    to answer. One line per series and training theta; a training shared by several thetas
    (validated at one) is drawn once."""
    with_history = [record for record in records if record["training"].get("history")]
    if not with_history:
        return None
    figure, (step_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4.2))
    for label, by_theta in sorted(_series(with_history).items()):
        drawn_shared = False
        for theta, group in _theta_order(by_theta):
            shared = group[0]["training"].get("shared_across_thresholds", 1) > 1
            if shared and drawn_shared:
                continue
            drawn_shared = drawn_shared or shared
            suffix = f", theta={theta:g}" if theta is not None and not shared and len(by_theta) > 1 else ""
            for axes, field in ((step_axes, "val_decision_step"), (accuracy_axes, "val_accuracy")):
                means = epoch_means(group, field)
                axes.plot(range(1, len(means) + 1), means, marker="o", markersize=3, label=label + suffix)
    step_axes.set_ylabel(f"validation mean decision step (of {records[0]['n_steps']})")
    accuracy_axes.set_ylabel("validation accuracy at the decision")
    return _finish_panels(figure, (step_axes, accuracy_axes), "epoch",
                          f"{task}: learning when to decide (validation after each epoch; mean over seeds)")


FIGURES: dict[str, Callable[[Sequence[Record], str], Figure | None]] = {
    "speed-accuracy": speed_accuracy,
    "accuracy-over-time": accuracy_over_time,
    "operations": operations,
    "training-cost": training_cost,
    "training-cost-accuracy": training_cost_accuracy,
    "beta-sweep": beta_sweep,
    "learning-to-decide": learning_to_decide,
}
"""Figure name -> drawing function; a function may return None when its records have nothing to show."""


def records_by_task(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Records grouped by task, tasks in sorted order."""
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        grouped[record["task"]].append(record)
    return dict(sorted(grouped.items()))


def draw_all(records: Sequence[Record], out: Path,
             bounds: Sequence[InformationBound] = ()) -> dict[str, list[Path]]:
    """Draw every figure of every task into ``out`` as ``<task>-<figure>.png`` and ``.svg``;
    ``bounds`` are drawn into the accuracy-over-time figure of their task.

    Returns:
        task -> the PNG paths written, in :data:`FIGURES` order.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for task, task_records in records_by_task(records).items():
        written[task] = []
        task_bounds = [bound for bound in bounds if bound.task == task]
        for name, draw in FIGURES.items():
            figure = (accuracy_over_time(task_records, task, task_bounds) if draw is accuracy_over_time
                      else draw(task_records, task))
            if figure is None:
                continue
            for extension in ("png", "svg"):
                path = out / f"{task}-{name}.{extension}"
                figure.savefig(path, dpi=120, metadata=METADATA[extension])
            plt.close(figure)
            written[task].append(out / f"{task}-{name}.png")
    return written


def streaming_time(records: Sequence[Record], task: str) -> Figure | None:
    """The distribution of the streaming time to decision (:mod:`bench.measure.streaming`): per series
    and theta, the fraction of test examples decided by each time, early exit as a step line over
    every example of every seed (each seed's timed with its own step duration and step compute;
    records without per-example steps give only their percentiles), p50, p90 and p99 marked (means
    over seeds), and the full sequence (every example at once) as a dashed vertical line of the same
    colour. None when no record carries ``streaming``."""
    from bench.measure.streaming import time_to_decision_ms

    usable = [record for record in records if "streaming" in record]
    if not usable:
        return None
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    markers = {"p50": "o", "p90": "s", "p99": "^"}
    for label, by_theta in sorted(_series(usable).items()):
        for theta, group in _theta_order(by_theta):
            suffix = f", theta={theta:g}" if theta is not None and len(by_theta) > 1 else ""
            points = {point: mean_interval([r["streaming"]["early_exit"]["time_to_decision_ms"][point]
                                            for r in group]).mean for point in markers}
            if all("per_example" in record for record in group):
                times = sorted(value for record in group for value in time_to_decision_ms(
                    record["per_example"]["decision_step"], record["streaming"]["step_ms"],
                    record["streaming"]["step_compute_ms"]))
                (line,) = axes.step(times, [(i + 1) / len(times) for i in range(len(times))], where="post",
                                    label=label + suffix)
            else:
                (line,) = axes.plot(list(points.values()), [int(p[1:]) / 100 for p in points], linestyle=":",
                                    label=label + suffix + " (percentiles only)")
            for point, marker in markers.items():
                axes.plot([points[point]], [int(point[1:]) / 100], marker=marker, color=line.get_color(),
                          markersize=4, linestyle="none")
            full = mean_interval([r["streaming"]["full_sequence"]["time_to_decision_ms"]["p50"] for r in group]).mean
            axes.axvline(full, color=line.get_color(), linestyle="--", linewidth=0.9)
    step_ms = sorted({record["streaming"]["step_ms"] for record in usable})
    axes.set_xlim(left=0)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(f"time to decision (ms), one input step per {', '.join(f'{s:g}' for s in step_ms)} ms")
    axes.set_ylabel("fraction of test examples decided")
    axes.set_title(f"{task}: streaming time to decision (dashed: full sequence)", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    figure.text(0.01, 0.005, "Markers: p50 (circle), p90 (square), p99 (triangle) of early exit, means over seeds.",
                fontsize=7, ha="left", va="bottom", color="0.3")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


FIGURES["streaming-time"] = streaming_time
