"""RC training steps: the truncated one this suite uses, and the naive reference.

:func:`truncated_rc_step` runs the recurrence one step at a time and removes
each example from the batch as soon as its output crosses the threshold. The
forward pass therefore never computes a step after an example's crossing,
and because the autograd graph holds only the steps that were computed, the
backward pass never does either.

:func:`naive_rc_step` is what the authors' notebooks do: a full forward pass
over every step, then the loss gathered at each crossing. It computes the
same loss and gradients at the cost of the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rc.crossing import CrossingRule, Decision, decide
from rc.loss import rc_loss, rc_loss_at_crossing
from rc.model import StepModel
from rc.streaming import check_sequences, stream_decisions


@dataclass(frozen=True)
class StepResult:
    """The outcome of one training step (before ``loss.backward()``).

    Attributes:
        loss: scalar loss with its autograd graph.
        decision: the decisions the loss was taken at (no gradient).
        step_evaluations: recurrent step evaluations (one example, one time
            step) that the forward pass computed; the backward pass runs
            through exactly the same evaluations.
    """

    loss: Tensor
    decision: Decision
    step_evaluations: int


def check_batch(x: Tensor, y: Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(batch, time, features)`` and ``y`` is ``(batch,)``."""
    check_sequences(x)
    if y.shape != x.shape[:1]:
        raise ValueError(f"y must be shaped ({x.shape[0]},) to match x {tuple(x.shape)}, got {tuple(y.shape)}")


def truncated_rc_step(model: StepModel, x: Tensor, y: Tensor, rule: CrossingRule, beta: float) -> StepResult:
    """RC loss whose forward and backward passes stop at each example's crossing.

    Args:
        model: any :class:`rc.model.StepModel`.
        x: ``(batch, time, features)`` inputs.
        y: ``(batch,)`` class labels.
        rule: the crossing rule (theta) that decides where each example stops.
        beta: entropy weight of the RC loss, >= 0.

    Returns:
        A :class:`StepResult`; its ``step_evaluations`` equal the sum over
        examples of (decision step index + 1).
    """
    check_batch(x, y)
    scores_at_decision, decision, evaluations = stream_decisions(model, x, rule)
    return StepResult(rc_loss(scores_at_decision, y, rule, beta), decision, evaluations)


def naive_rc_step(model: StepModel, x: Tensor, y: Tensor, rule: CrossingRule, beta: float) -> StepResult:
    """Reference RC step: full forward pass over every step, loss gathered at the crossing.

    Same loss and gradients as :func:`truncated_rc_step`; ``step_evaluations``
    is always ``batch * time``.
    """
    check_batch(x, y)
    scores = model.forward(x)
    with torch.no_grad():
        decision = decide(scores.detach(), rule)
    loss = rc_loss_at_crossing(scores, y, rule, beta)
    return StepResult(loss, decision, x.shape[0] * x.shape[1])
