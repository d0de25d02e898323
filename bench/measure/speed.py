"""Side-by-side cost of the truncated and the naive RC training step.

The model is an ``rc-lstm`` briefly trained on ``toy-noise`` (so its
confidence really grows over time, as in use). For each target decision time,
theta is calibrated on the batch so that the mean decision falls near that
fraction of the sequence; then both training steps (forward, backward) run
alternately on the same batch and model, and the medians are compared.

The ideal ratio is r = (mean steps read) / T: the share of step evaluations
that RC needs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from baselines.rc_lstm import RCLSTM
from bench.core.measurements import write_measurement
from bench.tasks.toy_noise import ToyNoise
from rc.crossing import TwoSidedBinary, decide
from rc.model import LSTMClassifier
from rc.training import StepResult, naive_rc_step, truncated_rc_step


@dataclass(frozen=True)
class StepComparison:
    """One row of the comparison.

    Attributes:
        theta: the calibrated threshold.
        mean_steps_read: mean decision step (1-based) on the batch.
        ideal_ratio: ``mean_steps_read / T``.
        evaluations_ratio: step evaluations truncated / naive.
        truncated_seconds, naive_seconds: median wall-clock of one step
            (forward + backward).
    """

    theta: float
    time_steps: int
    mean_steps_read: float
    ideal_ratio: float
    evaluations_ratio: float
    truncated_seconds: float
    naive_seconds: float

    @property
    def wall_ratio(self) -> float:
        return self.truncated_seconds / self.naive_seconds


def train_reference_model(hidden: int, epochs: int, device: torch.device, seed: int = 0) -> tuple[LSTMClassifier, Tensor, Tensor]:
    """An rc-lstm trained on toy-noise, and toy-noise test inputs ``(n, 40, 1)`` and labels."""
    task = ToyNoise()
    data = task.load(task.options({"n_train": 2000, "n_val": 500, "n_test": 1024}, "speed benchmark"), seed)
    config = RCLSTM.make_config({"hidden": hidden, "epochs": epochs, "batch_size": 64}, "speed benchmark")
    contender = RCLSTM(data.spec, TwoSidedBinary(0.95), config, device, seed)
    contender.fit(data.train, data.val, progress=lambda _line: None)
    return contender.model, data.test.x.to(device), data.test.y.to(device)


def calibrate_theta(model: LSTMClassifier, x: Tensor, target_steps: float) -> float:
    """Two-sided theta whose mean steps read on ``x`` is closest to ``target_steps``.

    The mean decision step only changes where theta passes one of the
    outputs' confidences max(p, 1 - p); theta is chosen halfway between two
    neighbouring confidences, so that no output lies within rounding error
    of it (the fused and the step-wise LSTM differ in the last bits).
    """
    with torch.no_grad():
        p = torch.sigmoid(model(x)[..., 0])
    confidence = torch.maximum(p, 1 - p).double()
    levels = torch.unique(torch.cat([confidence.flatten(), torch.tensor([0.5, 1.0], dtype=torch.float64)]))
    candidates = ((levels[:-1] + levels[1:]) / 2).clamp(0.5 + 1e-12, 1 - 1e-12)

    def mean_steps(theta: float) -> float:
        crossed = confidence > theta
        first = torch.where(crossed.any(dim=1), crossed.to(torch.uint8).argmax(dim=1), x.shape[1] - 1)
        return (first + 1).double().mean().item()

    low, high = 0, len(candidates) - 1  # mean_steps grows with theta
    while low < high:
        middle = (low + high) // 2
        if mean_steps(float(candidates[middle])) < target_steps:
            low = middle + 1
        else:
            high = middle
    best = min((k for k in (low - 1, low) if 0 <= k < len(candidates)),
               key=lambda k: abs(mean_steps(float(candidates[k])) - target_steps))
    return float(candidates[best])


def _timed(step: Callable[..., StepResult], model: LSTMClassifier, *args) -> tuple[float, int]:
    model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    result = step(model, *args)
    result.loss.backward()
    if args[0].device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, result.step_evaluations


def compare_at_theta(model: LSTMClassifier, x: Tensor, y: Tensor, theta: float, repeats: int) -> StepComparison:
    """Time both steps alternately, ``repeats`` times each, on the same batch."""
    rule = TwoSidedBinary(theta)
    with torch.no_grad():
        steps = decide(model(x), rule).steps_read.double().mean().item()
    for step in (truncated_rc_step, naive_rc_step):  # warm-up
        _timed(step, model, x, y, rule, 0.0)
    truncated, naive = [], []
    for _ in range(repeats):
        seconds, truncated_evaluations = _timed(truncated_rc_step, model, x, y, rule, 0.0)
        truncated.append(seconds)
        seconds, naive_evaluations = _timed(naive_rc_step, model, x, y, rule, 0.0)
        naive.append(seconds)
    time_steps = x.shape[1]
    return StepComparison(theta, time_steps, steps, steps / time_steps, truncated_evaluations / naive_evaluations,
                          statistics.median(truncated), statistics.median(naive))


def compare_training_steps(
    batch: int = 256,
    hidden: int = 128,
    epochs: int = 3,
    fractions: Sequence[float] = (0.125, 0.25, 0.5, 1.0),
    repeats: int = 10,
    device: torch.device = torch.device("cpu"),
) -> list[StepComparison]:
    """Rows of :class:`StepComparison`, one per target decision fraction of T."""
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"decision fractions must lie in (0, 1], got {fraction}")
    if batch < 1 or repeats < 1:
        raise ValueError(f"batch and repeats must be >= 1, got batch={batch}, repeats={repeats}")
    model, x, y = train_reference_model(hidden, epochs, device)
    if batch > x.shape[0]:
        raise ValueError(f"batch must be <= {x.shape[0]} (the reference test set), got {batch}")
    x, y = x[:batch], y[:batch]
    rows = []
    for fraction in fractions:
        theta = calibrate_theta(model, x, fraction * x.shape[1])
        rows.append(compare_at_theta(model, x, y, theta, repeats))
    return rows


def write_comparison(rows: Sequence[StepComparison], out: Path, settings: dict[str, object], device: torch.device) -> Path:
    """Write ``speed.json`` and ``speed.md`` (see :func:`bench.core.measurements.write_measurement`) into ``out``."""
    return write_measurement(out, "speed", "Truncated vs naive RC training step",
                             "Median of the repeats, forward + backward.", format_comparison(rows),
                             [{**asdict(row), "wall_ratio": row.wall_ratio} for row in rows], settings, device)


def format_comparison(rows: Sequence[StepComparison]) -> str:
    """A plain-text table of the comparison."""
    lines = [
        f"{'theta':>10} {'mean step':>10} {'ideal r':>8} {'evals ratio':>11} "
        f"{'truncated ms':>12} {'naive ms':>9} {'wall ratio':>10}"
    ]
    for row in rows:
        lines.append(
            f"{row.theta:>10.6f} {row.mean_steps_read:>7.2f}/{row.time_steps:<2d} {row.ideal_ratio:>8.3f} "
            f"{row.evaluations_ratio:>11.3f} {row.truncated_seconds * 1e3:>12.2f} {row.naive_seconds * 1e3:>9.2f} "
            f"{row.wall_ratio:>10.3f}"
        )
    return "\n".join(lines)
