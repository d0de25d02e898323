"""RC training steps: the truncated one this suite uses, and the naive reference.

:func:`truncated_rc_step` computes, in its gradient-carrying pass, each
example's steps up to its crossing and none after it, so neither the forward
nor the backward pass pays for the steps RC does not read. It has four
implementations, the same loss and gradients:

* for a large plain :class:`rc.model.LSTMClassifier` on the CPU without dropout in effect
  (about 350 units and more; at a batch of one example, 1,000 units and more unless the
  compiled path does not apply), :mod:`rc.blas_training`: one pass forward to each
  decision with torch's matrix products, and backpropagation through those steps by hand;
* for a smaller one, float32, when numba is installed (with several torch threads, for a
  small network and batch only), :mod:`rc.compiled_training`: one compiled call runs each
  example up to its decision, one more its backward pass (with ``autograd=False`` and a
  built-in streaming rule, one call runs both and the loss, outside autograd);
* for any other :class:`rc.model.LSTMClassifier` or :class:`rc.model.ConvLSTMClassifier`,
  :mod:`rc.fused_training`: a no-grad search with the fused LSTM over chunks
  of steps finds each example's decision, then one packed fused pass runs
  forward and backward over each example's own steps;
* for any other :class:`rc.model.StepModel`, :func:`rc.streaming.stream_decisions`:
  a step-by-step loop that removes each example from the batch at its crossing
  (the autograd graph holds exactly the computed steps).

:func:`naive_rc_step` is what the authors' notebooks do: a full forward pass
over every step, then the loss gathered at each crossing. It computes the
same loss and gradients at the cost of the whole sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from rc import blas_training, compiled_training
from rc.crossing import CrossingRule, Decision, decide
from rc.fused_training import TruncatedScores, fused_parts, fused_truncated_scores
from rc.loss import rc_loss, rc_loss_at_crossing
from rc.model import StepModel
from rc.streaming import check_sequences, stream_decisions


@dataclass(frozen=True)
class StepResult:
    """The outcome of one training step (before its backward pass, :meth:`backward`).

    Attributes:
        loss: scalar loss, with its autograd graph unless the step computes its gradients
            outside autograd (``gradients`` set).
        decision: the decisions the loss was taken at (no gradient).
        forward_evaluations: recurrent step evaluations (one example, one time
            step) computed forward, with or without autograd.
        backward_evaluations: step evaluations the backward pass runs through.
        path: the implementation that ran: one of :data:`rc.fused_training.STEP_PATHS`
            for the truncated step, ``naive`` for the naive one.
    """

    loss: Tensor
    decision: Decision
    forward_evaluations: int
    backward_evaluations: int
    path: str
    gradients: Callable[[], None] | None = field(default=None, repr=False)
    """For a loss without a graph: adds each parameter's gradient to its ``.grad``."""

    def backward(self) -> None:
        """Add each parameter's gradient of the loss to its ``.grad``: ``loss.backward()``, or, for a loss
        computed outside autograd, the step's own backward pass (same gradients)."""
        if self.gradients is None:
            self.loss.backward()
        else:
            self.gradients()


def check_batch(x: Tensor, y: Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(batch, time, features)`` and ``y`` is ``(batch,)``."""
    check_sequences(x)
    if y.shape != x.shape[:1]:
        raise ValueError(f"y must be shaped ({x.shape[0]},) to match x {tuple(x.shape)}, got {tuple(y.shape)}")


def truncated_scores(model: StepModel, x: Tensor, rule: CrossingRule) -> TruncatedScores:
    """Scores at each example's decision ``(batch, outputs)`` with the graph of the steps it read only.

    The hand-written backpropagation (:mod:`rc.blas_training`) or the compiled path
    (:mod:`rc.compiled_training`) where they apply, else the fused
    search and packed pass (:mod:`rc.fused_training`) for the LSTM classifiers, the step
    loop (:func:`rc.streaming.stream_decisions`) for any other :class:`rc.model.StepModel`.
    Its evaluations are those of :class:`StepResult`.
    """
    check_sequences(x)
    if blas_training.unsupported_reason(model, x, rule) is None:
        return blas_training.blas_truncated_scores(model, x, rule)
    if compiled_training.unsupported_reason(model, x, rule) is None:
        return compiled_training.compiled_truncated_scores(model, x, rule)
    parts = fused_parts(model)
    if parts is not None:
        return fused_truncated_scores(parts, x, rule)
    scores, decision, evaluations = stream_decisions(model, x, rule)
    return TruncatedScores(scores, decision, evaluations, evaluations, "step-loop")


def truncated_rc_step(model: StepModel, x: Tensor, y: Tensor, rule: CrossingRule, beta: float,
                      autograd: bool = True) -> StepResult:
    """RC loss whose gradient-carrying pass stops at each example's crossing.

    Args:
        model: any :class:`rc.model.StepModel`.
        x: ``(batch, time, features)`` inputs.
        y: ``(batch,)`` class labels.
        rule: the crossing rule (theta) that decides where each example stops.
        beta: entropy weight of the RC loss, >= 0.
        autograd: False lets the compiled path (:mod:`rc.compiled_training`, with one of the rules of
            :data:`rc.compiled.LOSS_ENTROPY`) take the loss and its gradients
            outside autograd (:func:`rc.compiled_training.compiled_rc_loss`),
            which saves autograd's fixed cost of each step (about as much as the kernels' whole step
            at a batch of one small example): the loss then has no graph, and
            :meth:`StepResult.backward` (not ``loss.backward()``) computes the gradients. The other
            paths build the graph either way; :meth:`StepResult.backward` works for all.

    Returns:
        A :class:`StepResult`. Its ``backward_evaluations`` are the sum over
        examples of (decision step index + 1): the steps in the graph. Its
        ``forward_evaluations`` add, for the fused path of the LSTM classifiers,
        the no-grad search's evaluations (each example's steps up to its decision,
        and up to the end of the search chunk it decided in); for the other
        paths they equal the backward evaluations.
    """
    check_batch(x, y)
    if not autograd and (blas_training.unsupported_reason(model, x, rule) is not None
                         and compiled_training.loss_unsupported_reason(model, x, rule) is None):
        compiled = compiled_training.compiled_rc_loss(model, x, y, rule, beta)
        return StepResult(compiled.loss, compiled.decision, compiled.read, compiled.read, "compiled",
                          compiled.backward)
    result = truncated_scores(model, x, rule)
    return StepResult(rc_loss(result.scores, y, rule, beta), result.decision, result.forward_evaluations,
                      result.backward_evaluations, result.path)


def naive_rc_step(model: StepModel, x: Tensor, y: Tensor, rule: CrossingRule, beta: float) -> StepResult:
    """Reference RC step: full forward pass over every step, loss gathered at the crossing.

    Same loss and gradients as :func:`truncated_rc_step`; both evaluation
    counts are always ``batch * time``.
    """
    check_batch(x, y)
    scores = model.forward(x)
    with torch.no_grad():
        decision = decide(scores.detach(), rule)
    loss = rc_loss_at_crossing(scores, y, rule, beta)
    evaluations = x.shape[0] * x.shape[1]
    return StepResult(loss, decision, evaluations, evaluations, "naive")
