"""The rank-coding loss.

RC trains each example at its own crossing step::

    loss = mean_i [ CE(scores_i at decision_i, y_i) - beta * H(scores_i at decision_i) ]

CE is the cross-entropy for several classes, or the binary cross-entropy for
one output unit; H is the entropy of the crossing rule's output distribution
(:meth:`rc.crossing.CrossingRule.entropy`). Rewarding entropy (beta > 0) keeps
outputs from becoming over-confident, and so from crossing, too early: beta
tunes the speed/accuracy trade-off.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from rc.crossing import CrossingRule, check_sequence_scores, decide


def check_beta(beta: float) -> float:
    """Return ``beta`` as a float, or raise ``ValueError`` if it is negative or not finite."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"entropy weight beta must be a number, got {type(beta).__name__}")
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"entropy weight beta must be finite and >= 0, got {beta!r}")
    return float(beta)


def classification_loss(scores: Tensor, targets: Tensor) -> Tensor:
    """Per-example loss, ``(n,)``.

    Args:
        scores: ``(n, classes)`` logits; one class means a binary task (BCE).
        targets: ``(n,)`` integer class labels (0/1 for a binary task).
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be shaped (n, classes), got {tuple(scores.shape)}")
    if targets.shape != scores.shape[:1]:
        raise ValueError(
            f"targets must be shaped ({scores.shape[0]},) to match scores "
            f"{tuple(scores.shape)}, got {tuple(targets.shape)}"
        )
    if scores.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(
            scores[:, 0], targets.to(scores.dtype), reduction="none"
        )
    return F.cross_entropy(scores, targets.long(), reduction="none")


def rc_loss(scores_at_decision: Tensor, targets: Tensor, rule: CrossingRule, beta: float) -> Tensor:
    """Scalar RC loss from the scores at each example's decision step.

    Args:
        scores_at_decision: ``(n, classes)`` logits at each example's decision.
        targets: ``(n,)`` class labels.
        rule: the crossing rule whose output entropy is rewarded.
        beta: entropy weight, >= 0.
    """
    beta = check_beta(beta)
    loss = classification_loss(scores_at_decision, targets)
    if beta:
        loss = loss - beta * rule.entropy(scores_at_decision)
    return loss.mean()


def rc_loss_at_crossing(scores: Tensor, targets: Tensor, rule: CrossingRule, beta: float) -> Tensor:
    """RC loss from full-sequence scores ``(batch, time, classes)``.

    The crossing step is found without gradient; only the scores at that step
    enter the loss, so the gradient with respect to every later step is
    exactly zero. This is the reference ("naive") formulation: it still needs
    the whole sequence computed, which :func:`rc.training.truncated_rc_step`
    avoids.
    """
    check_sequence_scores(scores)
    with torch.no_grad():
        decision = decide(scores.detach(), rule)
    rows = torch.arange(scores.shape[0], device=scores.device)
    return rc_loss(scores[rows, decision.step_index], targets, rule, beta)
