"""The rank-coding loss.

RC trains each example at its own crossing step::

    loss = mean_i [ CE(scores_i at decision_i, y_i) - beta * H(scores_i at decision_i) ]

CE is the cross-entropy for several classes, or the binary cross-entropy for
one output unit; H is the entropy of the crossing rule's output distribution
(:meth:`rc.crossing.CrossingRule.entropy`). Rewarding entropy (beta > 0) keeps
outputs from becoming over-confident, and so from crossing, too early: beta
tunes the speed/accuracy trade-off.

What CE is applied to (``output``, :data:`LOSS_OUTPUTS`):

``logits`` (the default)
    the scores themselves: ``cross_entropy(scores)``, or
    ``binary_cross_entropy_with_logits`` for one output unit.
``sigmoid-outputs``
    the authors' notebooks, value for value: the network's outputs go through
    a sigmoid first and CE takes those as its inputs. For several classes that
    is ``CrossEntropyLoss`` on ``sigmoid(scores)`` (the MNIST notebook: a
    softmax over values in (0, 1), so the loss can never fall below
    ``log(1 + (C - 1) / e)``, 1.46 for ten classes, and its gradient vanishes
    as the sigmoids saturate); for one unit, ``BCELoss`` on ``sigmoid(score)``
    (the toy notebooks; the same function as BCE on the logits, up to
    ``BCELoss``'s clamp of the log at -100).
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


LOSS_OUTPUTS = ("logits", "sigmoid-outputs")
"""What the cross-entropy of the RC loss is applied to (see the module docstring)."""


def check_loss_output(output: str) -> str:
    """Return ``output``, or raise ``ValueError`` naming it unless it is one of :data:`LOSS_OUTPUTS`."""
    if output not in LOSS_OUTPUTS:
        raise ValueError(f"unknown loss {output!r}; known: {', '.join(LOSS_OUTPUTS)}")
    return output


def classification_loss(scores: Tensor, targets: Tensor, output: str = "logits") -> Tensor:
    """Per-example loss, ``(n,)``.

    Args:
        scores: ``(n, classes)`` logits; one class means a binary task (BCE).
        targets: ``(n,)`` integer class labels (0/1 for a binary task).
        output: ``logits`` or ``sigmoid-outputs`` (:data:`LOSS_OUTPUTS`).
    """
    check_loss_output(output)
    if scores.dim() != 2:
        raise ValueError(f"scores must be shaped (n, classes), got {tuple(scores.shape)}")
    if targets.shape != scores.shape[:1]:
        raise ValueError(
            f"targets must be shaped ({scores.shape[0]},) to match scores "
            f"{tuple(scores.shape)}, got {tuple(targets.shape)}"
        )
    if output == "sigmoid-outputs":
        probabilities = torch.sigmoid(scores)
        if scores.shape[1] == 1:
            return F.binary_cross_entropy(probabilities[:, 0], targets.to(scores.dtype), reduction="none")
        return F.cross_entropy(probabilities, targets.long(), reduction="none")
    if scores.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(
            scores[:, 0], targets.to(scores.dtype), reduction="none"
        )
    return F.cross_entropy(scores, targets.long(), reduction="none")


def rc_loss(scores_at_decision: Tensor, targets: Tensor, rule: CrossingRule, beta: float,
            output: str = "logits") -> Tensor:
    """Scalar RC loss from the scores at each example's decision step.

    Args:
        scores_at_decision: ``(n, classes)`` logits at each example's decision.
        targets: ``(n,)`` class labels.
        rule: the crossing rule whose output entropy is rewarded.
        beta: entropy weight, >= 0.
        output: what CE is applied to, ``logits`` or ``sigmoid-outputs``.
    """
    beta = check_beta(beta)
    loss = classification_loss(scores_at_decision, targets, output)
    if beta:
        loss = loss - beta * rule.entropy(scores_at_decision)
    return loss.mean()


def rc_loss_at_crossing(scores: Tensor, targets: Tensor, rule: CrossingRule, beta: float,
                        output: str = "logits") -> Tensor:
    """RC loss from full-sequence scores ``(batch, time, classes)``.

    The crossing step is found without gradient; only the scores at that step
    enter the loss, so the gradient with respect to every later step is
    exactly zero. This is the reference ("naive") formulation: it still needs
    the whole sequence computed, which :func:`rc.training.truncated_rc_step`
    avoids. It is also how a rule decided from the whole sequence
    (``rule.streaming`` False) is trained: the loss is taken at the step whose
    scores give its prediction (:attr:`rc.crossing.Decision.scored_index`).
    """
    check_sequence_scores(scores)
    with torch.no_grad():
        decision = decide(scores.detach(), rule)
    rows = torch.arange(scores.shape[0], device=scores.device)
    return rc_loss(scores[rows, decision.scored_index], targets, rule, beta, output)
