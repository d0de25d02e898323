"""The figure of ``rcbench speed``: each cost ratio of the scaling grid over the ideal ratio r.

One row of panels per comparison (training wall-clock truncated / naive,
training saved-activation memory truncated / naive, inference early exit /
fused full pass, and compiled early exit / fused full pass when it was
timed), one column per batch size. In a panel the x axis is the hidden
size (log scale), each line is one sequence length T (colour, dark for long)
and one decision pattern (marker and line style), and y is the ratio divided
by r = (mean steps read) / T, on a log scale: 1 is the ideal, where the
measured saving is the share of steps RC skips. Points are the median over
the timed rounds; error bars run from the lowest to the highest round's
ratio (memory is counted, not timed, and has none). Grey lines: the ideal 1
r (solid) and the targets that apply to the panel (dashed, labelled). Points
of one H are spread a little along x so that their error bars do not hide
each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402

from bench.analysis.figures import METADATA  # noqa: E402
from bench.measure.speed import PATTERNS, ScalingRow  # noqa: E402

FIGURE_NAME = "speed.png"
T_COLOURS = ("#6baed6", "#2171b5", "#08306b", "#41ab5d", "#005a32", "#fd8d3c")
"""Of the sequence lengths, shortest first: blues from light to dark (then greens and an orange)."""
PATTERN_STYLES = {"equal": ("o", "-"), "spread": ("s", "--"), "tail": ("^", ":")}
"""Marker and line style of each decision pattern."""
Y_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
"""The labelled ratios over r (with each panel's targets)."""

Values = Callable[[ScalingRow], "tuple[float, float, float] | None"]
"""A row's (ratio over r, lowest round over r, highest round over r), or None where it has none."""


def _training_wall(row: ScalingRow) -> tuple[float, float, float]:
    r = row.ideal_ratio
    return row.wall_ratio / r, row.wall_ratio_low / r, row.wall_ratio_high / r


def _training_memory(row: ScalingRow) -> tuple[float, float, float]:
    return row.memory_over_r, row.memory_over_r, row.memory_over_r


def _inference(row: ScalingRow) -> tuple[float, float, float]:
    r = row.ideal_ratio
    return row.inference_ratio / r, row.inference_ratio_low / r, row.inference_ratio_high / r


def _compiled(row: ScalingRow) -> tuple[float, float, float] | None:
    if row.compiled_ratio is None or row.compiled_ratio_low is None or row.compiled_ratio_high is None:
        return None
    r = row.ideal_ratio
    return row.compiled_ratio / r, row.compiled_ratio_low / r, row.compiled_ratio_high / r


def _targets_training(batch: int) -> list[tuple[float, str]]:
    return [(1.2, "1.2 r: H >= 256, equal/tail"), (1.5, "1.5 r: H >= 16")]


def _targets_memory(batch: int) -> list[tuple[float, str]]:
    return []  # at most r at T = 320: the ideal line itself


def _targets_inference(batch: int) -> list[tuple[float, str]]:
    return [(1.3, "1.3 r target")] if batch >= 64 else []


def _targets_compiled(batch: int) -> list[tuple[float, str]]:
    # at batch 1 at most 1.0 r (the ideal line itself); at batch >= 64 the faster path within 1.3 r
    return [(1.3, "1.3 r target")] if batch >= 64 else []


PANELS: tuple[tuple[str, Values, Callable[[int], list[tuple[float, str]]]], ...] = (
    ("training wall-clock: truncated / naive step", _training_wall, _targets_training),
    ("training memory (saved activations): truncated / naive", _training_memory, _targets_memory),
    ("inference wall-clock: early exit / fused full pass", _inference, _targets_inference),
    ("inference wall-clock: compiled early exit / fused full pass", _compiled, _targets_compiled),
)
"""Each row of panels: its title, its values and the targets drawn in it (besides the ideal 1 r)."""


def _plain(value: float, _position: Any = None) -> str:
    return f"{value:g}"


def speed_figure(rows: Sequence[ScalingRow]) -> Figure:
    """The figure of the grid ``rows`` (see the module docstring)."""
    if not rows:
        raise ValueError("no rows to draw")
    batches = sorted({row.batch for row in rows})
    lengths = sorted({row.time_steps for row in rows})
    hidden = sorted({row.hidden for row in rows})
    patterns = [p for p in PATTERNS if any(row.pattern == p for row in rows)]
    panels = [panel for panel in PANELS if any(panel[1](row) is not None for row in rows)]
    colour = {t: T_COLOURS[i % len(T_COLOURS)] for i, t in enumerate(lengths)}
    lines = [(t, p) for t in lengths for p in patterns]
    dodge = {line: 2 ** (0.06 * (i - (len(lines) - 1) / 2)) for i, line in enumerate(lines)}
    width = max(4.4 * len(batches), 8.8) + 2.6  # wide enough for the caption with one batch size
    figure, grid = plt.subplots(len(panels), len(batches), figsize=(width, 3.0 * len(panels) + 1.2), squeeze=False)
    for panel_row, (title, values, targets) in enumerate(panels):
        for column, batch in enumerate(batches):
            axes = grid[panel_row][column]
            cells = [row for row in rows if row.batch == batch and values(row) is not None]
            if not cells:
                axes.set_axis_off()
                axes.text(0.5, 0.5, f"{title}\nbatch {batch}: not timed",
                          ha="center", va="center", fontsize=8, color="0.4", transform=axes.transAxes)
                continue
            for t, pattern in lines:
                line = sorted((row for row in cells if row.time_steps == t and row.pattern == pattern),
                              key=lambda row: row.hidden)
                if not line:
                    continue
                points = [values(row) for row in line]
                xs = [row.hidden * dodge[(t, pattern)] for row in line]
                ys = [point[0] for point in points if point]
                below = [point[0] - point[1] for point in points if point]
                above = [point[2] - point[0] for point in points if point]
                marker, style = PATTERN_STYLES[pattern]
                axes.errorbar(xs, ys, yerr=[below, above], color=colour[t], marker=marker, linestyle=style,
                              markersize=4, linewidth=1.2, elinewidth=0.8, capsize=2)
            axes.axhline(1.0, color="0.35", linewidth=1.0, zorder=0)
            for level, label in targets(batch):
                axes.axhline(level, color="0.55", linewidth=0.9, linestyle="--", zorder=0)
                above = level >= 1.5  # the 1.5 r label above its line, the others below theirs
                axes.annotate(label, (1.0, level), xycoords=("axes fraction", "data"), xytext=(-2, 2 if above else -2),
                              textcoords="offset points", ha="right", va="bottom" if above else "top", fontsize=6.5,
                              color="0.4")
            axes.set_xscale("log")
            axes.xaxis.set_major_locator(FixedLocator(hidden))
            axes.xaxis.set_major_formatter(FuncFormatter(_plain))
            axes.xaxis.set_minor_locator(NullLocator())
            axes.set_xlim(min(hidden) / 1.6, max(hidden) * 1.6)
            axes.set_yscale("log")
            low, high = axes.get_ylim()
            low, high = min(low, 0.8), max(high, 1.7)
            axes.set_ylim(low, high)
            # the targets get ticks of their own only where they would not crowd the others (their lines are labelled)
            levels = [level for level, _ in targets(batch)] if high / low < 10 else []
            axes.yaxis.set_major_locator(FixedLocator(sorted(
                {tick for tick in Y_TICKS if low <= tick <= high} | set(levels))))
            axes.yaxis.set_major_formatter(FuncFormatter(_plain))
            axes.yaxis.set_minor_formatter(NullFormatter())
            axes.grid(True, which="major", color="0.92", linewidth=0.6)
            axes.set_title(f"{title}\nbatch {batch}", fontsize=8.5)
            axes.tick_params(labelsize=7.5, which="both")
            axes.set_xlabel("hidden size H", fontsize=8)
            if column == 0:
                axes.set_ylabel("ratio / r", fontsize=8)
    handles = [Line2D([], [], color=colour[t], linewidth=2, label=f"T = {t}") for t in lengths]
    handles += [Line2D([], [], color="0.3", marker=PATTERN_STYLES[p][0], linestyle=PATTERN_STYLES[p][1],
                       markersize=5, label={"equal": "equal: all at T/4", "spread": "spread: uniform, first half",
                                            "tail": "tail: as equal, 2% never"}[p]) for p in patterns]
    handles += [Line2D([], [], color="0.35", linewidth=1.0, label="1 r: ideal (and the memory\nand compiled targets)"),
                Line2D([], [], color="0.55", linewidth=0.9, linestyle="--", label="target (labelled)")]
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0 - 2.4 / figure.get_figwidth(), 0.97),
                  fontsize=7.5, frameon=False)
    repeats = sorted({row.repeats for row in rows})
    figure.suptitle("Rank coding at scale: each cost ratio over the ideal ratio r = mean steps read / T",
                    fontsize=10, x=0.02, ha="left")
    figure.text(0.01, 0.005,
                f"Lines: one per sequence length T (colour) and decision pattern (marker, line style); x: hidden "
                f"size H. Points: median over {'/'.join(map(str, repeats))} timed rounds of the per-round ratio, "
                f"divided by r;\nerror bars: the lowest and the highest round (the round spread; memory is "
                f"counted, not timed). Below 1: cheaper than the share of steps read; points of one H are spread "
                f"along x to keep their bars apart.", fontsize=7, ha="left", va="bottom", color="0.3")
    figure.tight_layout(rect=(0, 0.05, 1.0 - 2.6 / figure.get_figwidth(), 0.96))
    return figure


def write_speed_figure(rows: Sequence[ScalingRow], out: Path) -> Path:
    """Draw :func:`speed_figure` into ``out/speed.png`` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    figure = speed_figure(rows)
    path = out / FIGURE_NAME
    figure.savefig(path, dpi=120, metadata=METADATA["png"])
    plt.close(figure)
    return path
