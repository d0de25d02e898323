"""Figures drawn from result records alone (no training), with matplotlib's headless backend.

Each function draws one figure for one task from its records and returns the
matplotlib ``Figure``; :func:`draw_all` writes every figure of every task as
PNG and SVG. Values are means over seeds; error bars are 95% Student-t
intervals (:func:`bench.core.stats.mean_interval`).

Series: one per (contender, beta, and profile when the records come from
several); points of a series differ in theta. A contender with its own rule
(theta null) is one point.

Colours follow the contender, not the order of names: the built-in contenders
have fixed colours (:data:`CONTENDER_COLOURS`) and any other contender takes one
from :data:`OTHER_COLOURS` chosen by a hash of its name, so adding a plug-in never
recolours the others. Lines of one contender (thetas, betas, profiles) differ
in line style. Legends stand outside the axes, and every figure with error bars
says what they are.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from bench.analysis.ablation import ABLATION_FIGURE, ablation_figure  # noqa: E402
from bench.analysis.bound_files import InformationBound  # noqa: E402
from bench.core.stats import mean_interval  # noqa: E402

Record = dict[str, Any]

# Fixed so that the same records always give the same files.
plt.rcParams["svg.hashsalt"] = "rcbench"
plt.rcParams["svg.fonttype"] = "none"
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


CONTENDER_COLOURS = {
    "rc-lstm": "#d62728",         # red
    "lstm-eos": "#1f77b4",        # blue
    "lstm-allsteps": "#2ca02c",   # green
    "snn-ttfs": "#9467bd",        # purple
    "snn-conv": "#ff7f0e",        # orange
    "snn-recurrent": "#8c564b",   # brown
}
OTHER_COLOURS = ("#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#843c39", "#7b4173")
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
OPERATION_COLOURS = ("#4d4d4d", "#a6a6a6", "#6baed6", "#fdae6b")
"""Of the four operation counts; greys and pale tones, apart from the contenders' colours."""
ERROR_BARS = "Error bars: 95% Student-t interval over seeds (none with one seed)."


def contender_colour(contender: str) -> str:
    """The contender's fixed colour; for a contender that is not built in, one chosen by a stable hash
    of its name (the same in every figure and every run)."""
    if contender in CONTENDER_COLOURS:
        return CONTENDER_COLOURS[contender]
    digest = hashlib.sha256(contender.encode("utf-8")).digest()
    return OTHER_COLOURS[digest[0] % len(OTHER_COLOURS)]


def _legend_outside(axes: Any, **options: Any) -> None:
    """A legend to the right of the axes, never over the data."""
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **options)


def _caption(figure: Figure, text: str) -> None:
    figure.text(0.01, 0.005, text, fontsize=7, ha="left", va="bottom", color="0.3")


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


def _contender(by_theta: dict[float | None, list[Record]]) -> str:
    return next(iter(by_theta.values()))[0]["contender"]


def _shared(group: Sequence[Record]) -> bool:
    """Whether the group's training served several thetas (its scores do not depend on theta)."""
    return group[0]["training"].get("shared_across_thresholds", 1) > 1


def _lines(series: dict[str, dict[float | None, list[Record]]]) -> list[tuple[str, str, Any, list[Record]]]:
    """(label, colour, line style, records) of each line to draw of a per-step quantity: one per series and
    theta, but one per series when its training served every theta (the lines would coincide)."""
    lines, per_contender = [], defaultdict(int)
    for label, by_theta in sorted(series.items()):
        contender = _contender(by_theta)
        ordered = _theta_order(by_theta)
        if all(_shared(group) for _theta, group in ordered):
            ordered = ordered[:1]
        for theta, group in ordered:
            suffix = f", theta={theta:g}" if theta is not None and len(ordered) > 1 else ""
            style = LINE_STYLES[per_contender[contender] % len(LINE_STYLES)]
            per_contender[contender] += 1
            lines.append((label + suffix, contender_colour(contender), style, group))
    return lines


def _values(group: Sequence[Record], field: Callable[[Record], float]) -> tuple[float, float]:
    estimate = mean_interval([field(record) for record in group])
    return estimate.mean, estimate.half_width or 0.0


LABEL_OFFSETS = ((4, 4), (4, -11), (-24, 4), (-24, -11))
"""Where a theta label may sit beside its point (points), tried in order."""


def _place_labels(axes: plt.Axes, labels: Sequence[tuple[float, float, str]]) -> None:
    """Write each ``(x, y, text)`` beside its point at the first offset of :data:`LABEL_OFFSETS` whose
    box overlaps no label already written, or leave it out where every offset would overlap (a crowded
    cluster: the line and the legend still tell the series). Call it once the axes' limits are set."""
    figure = axes.get_figure()
    figure.canvas.draw()  # the limits and the transform are final only once drawn
    renderer = figure.canvas.get_renderer()
    placed: list = []
    for x, y, text in labels:
        for dx, dy in LABEL_OFFSETS:
            label = axes.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7)
            box = label.get_window_extent(renderer).expanded(1.1, 1.2)
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()


def speed_accuracy(records: Sequence[Record], task: str) -> Figure:
    """Accuracy at the decision against mean decision step: the speed/accuracy front."""
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    per_contender: dict[str, int] = defaultdict(int)
    labels: list[tuple[float, float, str]] = []
    for label, by_theta in sorted(_series(records).items()):
        contender = _contender(by_theta)
        points = []
        for theta, group in by_theta.items():
            x, x_err = _values(group, lambda r: r["decision_step_mean"])
            y, y_err = _values(group, lambda r: r["accuracy"])
            points.append((x, y, x_err, y_err, theta))
        points.sort()
        axes.errorbar([p[0] for p in points], [p[1] for p in points], xerr=[p[2] for p in points],
                      yerr=[p[3] for p in points], marker="o", capsize=3, label=label,
                      color=contender_colour(contender),
                      linestyle=LINE_STYLES[per_contender[contender] % len(LINE_STYLES)])
        per_contender[contender] += 1
        labels += [(x, y, f"{theta:g}") for x, y, _xe, _ye, theta in points if theta is not None]
    steps = records[0]["n_steps"]
    axes.set_xlim(0, steps + 1)
    _place_labels(axes, labels)
    axes.set_xlabel(f"mean decision step (steps read, of {steps})")
    axes.set_ylabel("test accuracy at the decision")
    axes.set_title(f"{task}: accuracy against decision time (labels: theta)")
    axes.grid(alpha=0.3)
    _legend_outside(axes)
    _caption(figure, ERROR_BARS)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


BOUND_MARKERS = ("x", "+", "1", "2")


ZOOM_BAND = 0.05
"""The zoomed panel shows the lines whose best accuracy lies within this of the best line's: the top
band, where lines crowd; it is drawn when at least two lines are in it."""
ZOOM_MARGIN = 0.01


def accuracy_over_time(records: Sequence[Record], task: str, bounds: Sequence[InformationBound] = ()) -> Figure:
    """Test accuracy of the prediction at every step t = 1..T (regardless of crossing), and the
    information bounds of the task (black, dotted) where given. A second panel zooms into the top
    band (:data:`ZOOM_BAND`) when several lines crowd there."""
    lines = []
    for label, colour, style, group in _lines(_series(records)):
        steps = len(group[0]["accuracy_by_step"])
        means = [mean_interval([r["accuracy_by_step"][t] for r in group]).mean for t in range(steps)]
        lines.append((label, colour, style, list(range(1, steps + 1)), means))
    for index, bound in enumerate(bounds):
        lines.append((bound.label, "black", ":", [point.t for point in bound.points],
                      [point.test_accuracy for point in bound.points], BOUND_MARKERS[index % len(BOUND_MARKERS)]))
    best = [max(line[4]) for line in lines]
    band = [value for value in best if value >= max(best) - ZOOM_BAND]
    zoom = len(band) >= 2
    low, high = min(band) - ZOOM_MARGIN, min(1.0, max(best) + ZOOM_MARGIN / 2)
    figure, panels = plt.subplots(1, 2 if zoom else 1, figsize=(11 if zoom else 7.5, 4.2), squeeze=False)
    for axes in panels[0]:
        for label, colour, style, xs, ys, *marker in lines:
            axes.plot(xs, ys, color=colour, linestyle=style, marker=marker[0] if marker else None, label=label)
        axes.set_xlabel("step t (inputs read)")
        axes.grid(alpha=0.3)
    panels[0][0].set_ylabel("test accuracy of the prediction at t")
    panels[0][0].set_title(f"{task}: accuracy over time")
    if zoom:
        panels[0][1].set_ylim(low, high)
        panels[0][1].set_title(f"zoom on the top band: {low:.3f} to {high:.3f}")
    _legend_outside(panels[0][-1])
    figure.tight_layout()
    return figure


def _bar_rows(records: Sequence[Record], per_training: bool = False) -> tuple[list[str], list[str], list[list[Record]]]:
    """Labels, colours and record groups of one bar per series and theta; with ``per_training``, one
    bar for a series whose training served every theta (its cost is the same at each)."""
    labels, colours, groups = [], [], []
    for label, by_theta in sorted(_series(records).items()):
        ordered = _theta_order(by_theta)
        if per_training and len(ordered) > 1 and all(_shared(group) for _theta, group in ordered):
            labels.append(label + ", every theta (one training)")
            colours.append(contender_colour(_contender(by_theta)))
            groups.append(ordered[0][1])
            continue
        for theta, group in ordered:
            labels.append(label + (f", theta={theta:g}" if theta is not None else ""))
            colours.append(contender_colour(_contender(by_theta)))
            groups.append(group)
    return labels, colours, groups


def training_cost(records: Sequence[Record], task: str) -> Figure:
    """Training wall-clock and forward step evaluations per contender (one horizontal bar per training,
    so that long labels never overlap)."""
    labels, colours, groups = _bar_rows(records, per_training=True)
    figure, (seconds_axes, evaluations_axes) = plt.subplots(1, 2, figsize=(10, 1.4 + 0.32 * len(labels)),
                                                             sharey=True)
    positions = list(range(len(labels)))
    for axes, field, title in ((seconds_axes, lambda r: r["training"]["train_seconds"], "training wall-clock (s)"),
                               (evaluations_axes, lambda r: r["training"]["step_evaluations_forward"],
                                "forward step evaluations in training")):
        values = [_values(group, field) for group in groups]
        axes.barh(positions, [m for m, _ in values], xerr=[e for _, e in values], capsize=3, color=colours)
        axes.set_xlabel(title)
        axes.grid(alpha=0.3, axis="x")
    seconds_axes.set_yticks(positions, labels, fontsize=7)
    seconds_axes.invert_yaxis()
    figure.suptitle(f"{task}: training cost")
    _caption(figure, ERROR_BARS)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    return figure


def training_cost_accuracy(records: Sequence[Record], task: str) -> Figure:
    """Test accuracy at the decision against training cost, so that cost is read at equal accuracy:
    left, the dense MACs of all forward and backward passes of training; right, training
    wall-clock (both log scale). One point per series and theta; a training shared by several
    thetas has the same cost at each."""
    figure, (macs_axes, seconds_axes) = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    labels: dict[plt.Axes, list[tuple[float, float, str]]] = {macs_axes: [], seconds_axes: []}
    for label, by_theta in sorted(_series(records).items()):
        colour = contender_colour(_contender(by_theta))
        for axes, cost in ((macs_axes, lambda r: r["training"]["forward_macs"] + r["training"]["backward_macs"]),
                           (seconds_axes, lambda r: r["training"]["train_seconds"])):
            points = []
            for theta, group in _theta_order(by_theta):
                x, x_err = _values(group, cost)
                y, y_err = _values(group, lambda r: r["accuracy"])
                points.append((x, y, x_err, y_err, theta))
            axes.errorbar([p[0] for p in points], [p[1] for p in points], xerr=[p[2] for p in points],
                          yerr=[p[3] for p in points], marker="o", linestyle="none", capsize=3, label=label,
                          color=colour)
            labels[axes] += [(x, y, f"{theta:g}") for x, y, _xe, _ye, theta in points if theta is not None]
    macs_axes.set_xlabel("training MACs, forward + backward (dense)")
    seconds_axes.set_xlabel("training wall-clock (s)")
    macs_axes.set_ylabel("test accuracy at the decision")
    for axes in (macs_axes, seconds_axes):
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlap on a short decade
        axes.grid(alpha=0.3, which="both")
        _place_labels(axes, labels[axes])
    _legend_outside(seconds_axes)
    figure.suptitle(f"{task}: accuracy against training cost (labels: theta)")
    _caption(figure, ERROR_BARS)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


def operations(records: Sequence[Record], task: str) -> Figure:
    """Operations per example to the decision: dense MACs, effective MACs and ACs (log scale),
    with the dense MACs of the full sequence for reference; horizontal bars, one group per series
    and theta."""
    fields = (("ops_dense_macs_full_sequence", "dense MACs, full sequence"),
              ("ops_dense_macs", "dense MACs to decision"),
              ("ops_effective_macs", "effective MACs to decision"),
              ("ops_effective_acs", "effective ACs to decision"))
    labels, _colours, groups = _bar_rows(records)
    figure, axes = plt.subplots(figsize=(9, 1.6 + 0.55 * len(labels)))
    height = 0.8 / len(fields)
    values = [[_values(group, lambda r, f=field: r[f]) for group in groups] for field, _title in fields]
    floor = log_axis_floor([estimate for column in values for estimate in column])
    cut_any = False
    for i, ((_field, title), column) in enumerate(zip(fields, values)):
        positions = [k + (i - (len(fields) - 1) / 2) * height for k in range(len(groups))]
        below = [min(err, mean - floor) if mean > 0 else 0.0 for mean, err in column]
        bars = axes.barh(positions, [mean if mean > 0 else float("nan") for mean, _ in column], height,
                         xerr=[below, [err for _, err in column]], capsize=2, label=title,
                         color=OPERATION_COLOURS[i])
        for position, (mean, err) in zip(positions, column):
            if mean == 0:  # a log axis cannot show 0: say it
                axes.annotate("0", (0, position), xycoords=("axes fraction", "data"), ha="left",
                              va="center", fontsize=7, color=bars.patches[0].get_facecolor())
            elif mean - err < floor:  # the interval runs on to or below 0: mark the cut
                axes.plot([floor], [position], marker="<", color="black", markersize=4, clip_on=False)
                cut_any = True
    axes.set_xscale("log")
    axes.set_xlim(left=floor)
    axes.set_yticks(range(len(labels)), labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("operations per example")
    axes.set_title(f"{task}: operations to the decision (NeuroBench-style effective MACs/ACs)")
    axes.grid(alpha=0.3, axis="x")
    _legend_outside(axes)
    _caption(figure, ERROR_BARS + (" <: the interval runs on below the axis, towards 0 (a count is never negative)."
                                   if cut_any else ""))
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


def log_axis_floor(estimates: Sequence[tuple[float, float]]) -> float:
    """The left end of a log axis for bars with intervals ``(mean, half-width)``: half the smallest
    positive mean or lower interval end. An interval reaching below it (to or past 0, which a log axis
    cannot show) is cut there."""
    ends = [end for mean, err in estimates for end in (mean, mean - err) if end > 0]
    if not ends:
        raise ValueError("no positive value to place a log axis at")
    return min(ends) / 2


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
    figure, (accuracy_axes, step_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    per_contender: dict[str, int] = defaultdict(int)
    for (contender, theta), betas in sorted(swept.items()):
        xs = sorted(betas)
        name = next(iter(betas.values()))[0]["contender"]
        style = LINE_STYLES[per_contender[name] % len(LINE_STYLES)]
        per_contender[name] += 1
        for axes, field in ((accuracy_axes, "accuracy"), (step_axes, "decision_step_mean")):
            means = [_values(betas[b], lambda r, f=field: r[f]) for b in xs]
            axes.errorbar(xs, [m for m, _ in means], yerr=[e for _, e in means], marker="o", capsize=3,
                          label=f"{contender}, theta={theta:g}", color=contender_colour(name), linestyle=style)
    accuracy_axes.set_ylabel("test accuracy at the decision")
    step_axes.set_ylabel("mean decision step")
    _caption(figure, ERROR_BARS)
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
    _legend_outside(panels[-1])
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


def learning_to_decide(records: Sequence[Record], task: str) -> Figure | None:
    """Validation mean decision step and validation accuracy after each training epoch (from
    ``training.history``; None when no record has it): how fast each contender learned *when*
    to answer. One line per series and training theta; a training shared by several thetas
    (validated at one) is drawn once."""
    with_history = [record for record in records if record["training"].get("history")]
    if not with_history:
        return None
    figure, (step_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(12, 4.2))
    for label, colour, style, group in _lines(_series(with_history)):
        for axes, field in ((step_axes, "val_decision_step"), (accuracy_axes, "val_accuracy")):
            means = epoch_means(group, field)
            axes.plot(range(1, len(means) + 1), means, marker="o", markersize=3, label=label, color=colour,
                      linestyle=style)
    step_axes.set_ylabel(f"validation mean decision step (of {records[0]['n_steps']})")
    accuracy_axes.set_ylabel("validation accuracy at the decision")
    for axes in (step_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
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
    (its contender's colour) and theta (a line style each), the fraction of test examples decided by
    each time, early exit as a step line over
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
    styles = ("-", "-.", ":", (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)))  # per theta; dashed is the full sequence
    for label, by_theta in sorted(_series(usable).items()):
        colour = contender_colour(_contender(by_theta))
        for index, (theta, group) in enumerate(_theta_order(by_theta)):
            style = styles[index % len(styles)]
            suffix = f", theta={theta:g}" if theta is not None and len(by_theta) > 1 else ""
            points = {point: mean_interval([r["streaming"]["early_exit"]["time_to_decision_ms"][point]
                                            for r in group]).mean for point in markers}
            if all("per_example" in record for record in group):
                times = sorted(value for record in group for value in time_to_decision_ms(
                    record["per_example"]["decision_step"], record["streaming"]["step_ms"],
                    record["streaming"]["step_compute_ms"]))
                (line,) = axes.step(times, [(i + 1) / len(times) for i in range(len(times))], where="post",
                                    label=label + suffix, color=colour, linestyle=style)
            else:
                (line,) = axes.plot(list(points.values()), [int(p[1:]) / 100 for p in points], linestyle=style,
                                    color=colour, label=label + suffix + " (percentiles only)")
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
FIGURES[ABLATION_FIGURE] = ablation_figure  # bench.analysis.ablation: only for records of ablation steps
