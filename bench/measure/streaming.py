"""Streaming time to decision: when is the answer known if the input arrives one step per ``dt``?

A task's steps are a stream: speech frames every hop, bins of a spike
recording, the time steps of a rank-order code. Each record carries, for early
exit and for full-sequence inference, the 50th, 90th and 99th percentile over
the test examples of the steps read and of the end-to-end time to decision
(the record's ``streaming`` field, :func:`streaming_fields`).

Definitions
    ``dt`` (``step_ms``)
        The step duration: time between the arrivals of two input steps. Each
        task has a default (:func:`default_step_ms`); a profile sets another with
        the task key ``step_ms``.
    ``c`` (``step_compute_ms``)
        The compute of one step at batch size 1 for the contender, measured on
        the first :data:`COMPUTE_EXAMPLES` test examples by
        :func:`step_compute_ms`: the contender's own inference
        (``Contender.decide``) on one example at a time, wall-clock over the step
        evaluations it computed, after a warm-up; the median of
        :data:`COMPUTE_REPEATS` rounds. Per-call costs are included, spread over
        the steps of the call.
    steps read ``k``
        Early exit: the example's decision step (1-based). Full-sequence
        inference: ``T`` for every example (all steps read, then decided).
    time to decision ``F(k)``
        Step ``k`` has arrived at ``k dt`` after the stream starts. Its compute
        starts once it has arrived and the previous step's compute is done, so
        the decision after ``k`` steps is known at
        ``F(k) = k max(dt, c) + min(dt, c)``: ``k dt + c`` (the arrival of the
        deciding step plus one step's compute) while the contender keeps up
        with the stream (``c <= dt``), ``dt + k c`` when it does not (each step
        then waits for the one before).
    percentiles
        ``p50``, ``p90``, ``p99`` over the test examples, interpolated linearly
        between order statistics (numpy's default). ``F`` is increasing and
        linear in ``k``, so the time percentiles are ``F`` of the step
        percentiles.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch-free at import, so that the figures can use the definitions
    from baselines.registry import Contender

DEFAULT_STEP_MS = 1.0
"""The step duration of a task that states no other: the rank-order coded images
(``mnist-temporal``, ``fmnist-temporal``: 20 steps of one image, a 20 ms
presentation at 1 ms per step, the resolution of spike latency codes) and the toy
sequences (``toy-noise``, ``toy-runs``: one sample per millisecond)."""

COMPUTE_EXAMPLES = 8
"""Test examples (the first of the split) on which :func:`step_compute_ms` measures."""

COMPUTE_REPEATS = 3
"""Timed rounds of :func:`step_compute_ms` (after one warm-up round); the median is kept."""

PERCENTILES = (50, 90, 99)

MODES = ("early_exit", "full_sequence")
"""The two ways of deciding in a record's ``streaming`` field."""


def default_step_ms(options: Any) -> float:
    """The default step duration of a task with data ``options`` (its options object or a dict):

    - the frame hop ``hop_ms`` where the options have one (``fsdd``, ``gsc``: 10 ms by default);
    - ``1000 duration_s / steps``, the bin width, where they have both (``shd``: 10 ms by default);
    - else :data:`DEFAULT_STEP_MS` (1 ms).
    """
    values = options if isinstance(options, dict) else vars(options) if hasattr(options, "__dict__") else {}
    if values.get("hop_ms") is not None:
        return float(values["hop_ms"])
    if values.get("duration_s") is not None and values.get("steps"):
        return 1000.0 * float(values["duration_s"]) / float(values["steps"])
    return DEFAULT_STEP_MS


def check_step_ms(step_ms: Any, where: str = "step_ms") -> float:
    """``step_ms`` as a float; ``ValueError`` unless it is a finite number > 0."""
    if isinstance(step_ms, bool) or not isinstance(step_ms, (int, float)) or not 0 < step_ms < math.inf:
        raise ValueError(f"{where} must be a finite number of milliseconds > 0, got {step_ms!r}")
    return float(step_ms)


def step_compute_ms(contender: Contender, x: Any, examples: int = COMPUTE_EXAMPLES,
                    repeats: int = COMPUTE_REPEATS) -> float:
    """Milliseconds of compute per step at batch size 1 (see the module docstring): the contender's
    ``decide`` on each of the first ``examples`` examples of ``x`` alone, total wall-clock over the
    step evaluations computed, median over ``repeats`` rounds after a warm-up round."""
    if examples < 1 or repeats < 1:
        raise ValueError(f"examples and repeats must be >= 1, got {examples} and {repeats}")
    singles = [x[i:i + 1] for i in range(min(examples, x.shape[0]))]
    rounds = []
    for _ in range(repeats + 1):
        evaluations = 0
        started = time.perf_counter()
        for single in singles:
            decision, count = contender.decide(single)
            evaluations += count if count > 0 else int(decision.steps_read.sum())
        rounds.append((time.perf_counter() - started) * 1e3 / max(evaluations, 1))
    return statistics.median(rounds[1:])


def time_to_decision_ms(steps_read: Any, step_ms: float, compute_ms: float) -> np.ndarray:
    """``F(k) = k max(dt, c) + min(dt, c)`` for each ``k`` of ``steps_read`` (see the module docstring)."""
    steps = np.asarray(steps_read, dtype=np.float64)
    return steps * max(step_ms, compute_ms) + min(step_ms, compute_ms)


def percentiles(values: Any) -> dict[str, float]:
    """``{"p50": ..., "p90": ..., "p99": ...}`` of ``values`` (linear interpolation)."""
    points = np.percentile(np.asarray(values, dtype=np.float64), PERCENTILES)
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, points)}


def streaming_fields(steps_read: Any, n_steps: int, step_ms: float, compute_ms: float,
                     step_ms_from: str = "task", compute_examples: int = COMPUTE_EXAMPLES) -> dict[str, Any]:
    """A record's ``streaming`` field from the early-exit steps read of every test example (a tensor or
    any sequence of numbers).

    Returns:
        ``step_ms``, ``step_ms_from`` (``"task"``: the task's default, or ``"profile"``),
        ``step_compute_ms``, ``compute_examples``, and per mode of :data:`MODES` the percentiles
        (:func:`percentiles`) of ``steps_read`` and of ``time_to_decision_ms``.
    """
    step_ms = check_step_ms(step_ms)
    early = np.asarray(steps_read.cpu() if hasattr(steps_read, "cpu") else steps_read, dtype=np.float64)
    full = np.full_like(early, float(n_steps))
    fields: dict[str, Any] = {"step_ms": step_ms, "step_ms_from": step_ms_from, "step_compute_ms": float(compute_ms),
                              "compute_examples": int(compute_examples)}
    for mode, steps in zip(MODES, (early, full)):
        fields[mode] = {"steps_read": percentiles(steps),
                        "time_to_decision_ms": percentiles(time_to_decision_ms(steps, step_ms, compute_ms))}
    return fields
