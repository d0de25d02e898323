"""Metrics of one evaluated cell: each a small function with a precise definition.

Steps are counted as *steps read* (1-based): a decision at step t means the
model had read t inputs. A metric that cannot be computed raises
:class:`MetricError`; it is never reported as 0.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

from rc.crossing import CrossingRule, Decision, check_sequence_scores


class MetricError(ValueError):
    """A metric could not be computed (empty input, NaN, no applicable examples)."""


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise MetricError(f"metric {name} is not finite ({value})")
    return value


def _check_labels(predictions: Tensor, labels: Tensor) -> None:
    if predictions.dtype.is_floating_point or predictions.dtype.is_complex:
        raise MetricError(f"predictions must be integer class labels, got dtype {predictions.dtype}")
    if predictions.shape != labels.shape:
        raise MetricError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} differ in shape")
    if labels.numel() == 0:
        raise MetricError("no examples to evaluate")


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Fraction of ``(n,)`` predictions equal to ``(n,)`` labels."""
    _check_labels(predictions, labels)
    return _finite("accuracy", (predictions.cpu() == labels.cpu()).double().mean().item())


def accuracy_by_step(scores: Tensor, labels: Tensor, rule: CrossingRule) -> list[float]:
    """Accuracy of the prediction at each step t = 1..T, from scores ``(n, T, outputs)``.

    Entry 0 is the first-step accuracy; the last entry is the accuracy at the
    end of the sequence.
    """
    check_sequence_scores(scores)
    if not bool(torch.isfinite(scores).all()):
        raise MetricError("scores contain NaN or infinite values; the model diverged or its input is corrupt")
    predictions = rule.predict(scores)  # (n, T)
    _check_labels(predictions[:, 0], labels)
    correct = (predictions.cpu() == labels.cpu()[:, None]).double().mean(dim=0)
    return [_finite(f"accuracy_by_step[{t}]", v) for t, v in enumerate(correct.tolist())]


def decision_step_stats(decision: Decision) -> dict[str, float]:
    """Mean, median and 90th percentile of the steps read at the decision (1-based)."""
    steps = decision.steps_read.double().cpu()
    if steps.numel() == 0:
        raise MetricError("no decisions to summarise")
    return {
        "decision_step_mean": _finite("decision_step_mean", steps.mean().item()),
        "decision_step_median": _finite("decision_step_median", torch.quantile(steps, 0.5).item()),
        "decision_step_p90": _finite("decision_step_p90", torch.quantile(steps, 0.9).item()),
    }


def never_crossed_fraction(decision: Decision) -> float:
    """Fraction of examples whose output never crossed (decided by fallback at the last step)."""
    if decision.crossed.numel() == 0:
        raise MetricError("no decisions to summarise")
    return (~decision.crossed).double().mean().item()


def decision_lag(decision: Decision, ideal_step: Tensor) -> float:
    """Mean of (steps read at decision - ideal step) over examples with an ideal step (>= 1).

    Positive lag means the model decided after the label became knowable.
    """
    if ideal_step.shape != decision.step_index.shape:
        raise MetricError(
            f"ideal_step {tuple(ideal_step.shape)} and decisions {tuple(decision.step_index.shape)} differ in shape"
        )
    known = ideal_step.cpu() >= 1
    if not bool(known.any()):
        raise MetricError("no example has an ideal decision step")
    lag = decision.steps_read.cpu()[known] - ideal_step.cpu()[known]
    return _finite("decision_lag_mean", lag.double().mean().item())


def labels_digest(labels: Tensor) -> str:
    """SHA-256 (hex) of the ``(n,)`` labels as little-endian int64: names a test set, so that two
    records' per-example results are only ever paired on the same examples in the same order."""
    values = labels.detach().cpu().to(torch.int64).contiguous().numpy().astype("<i8", copy=False)
    return hashlib.sha256(values.tobytes()).hexdigest()


def per_example(decision: Decision, labels: Tensor) -> dict[str, object]:
    """Each test example's outcome, for paired comparisons (:mod:`bench.analysis.paired`).

    Returns:
        ``correct``: ``n`` ints, 1 where the prediction at the decision equals the label, else 0;
        ``decision_step``: ``n`` ints, the steps read at the decision (1-based);
        ``labels_sha256``: :func:`labels_digest` of ``labels``.
    """
    _check_labels(decision.prediction, labels)
    correct = (decision.prediction.cpu() == labels.cpu()).to(torch.int64)
    return {
        "correct": correct.tolist(),
        "decision_step": decision.steps_read.cpu().to(torch.int64).tolist(),
        "labels_sha256": labels_digest(labels),
    }
