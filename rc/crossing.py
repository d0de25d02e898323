"""Threshold-crossing rules: when does a network "spike" and what does it say.

A network emits class scores (logits) at every time step, shaped
``(batch, time, classes)``. A *crossing rule* turns the scores of one step
into two things: whether the output has crossed the threshold theta at that
step, and which class it predicts there. The *decision* of an example is its
first crossing step; if it never crosses, the decision falls back to the last
step (and is flagged as not crossed).

A crossing at the very first step (index 0) counts as a crossing like any
other (as in the authors' MNIST notebook; their two toy-sequence notebooks
do otherwise, see ``two-sided-notebook``).

Five named rules are available (see :data:`CROSSING_RULES`). The first three
are *streaming*: the decision is the first step whose scores cross, so it can
be taken while the sequence comes in (:mod:`rc.inference`, :mod:`rc.streaming`):

``sigmoid``
    Multi-class, the official choice: crossed when any class's
    ``sigmoid(score) > theta``; predicts ``argmax(score)``.
``softmax``
    Multi-class: crossed when ``max softmax(score) >= theta``; predicts
    ``argmax(score)``.
``two-sided``
    One binary output unit, the official choice for binary tasks: crossed
    when ``sigmoid(score) > theta`` or ``sigmoid(score) < 1 - theta``;
    predicts 1 when ``sigmoid(score) > 0.5`` else 0.

The other two reproduce the authors' notebooks' decision index, value for
value, and are decided from the whole sequence (``streaming`` is False):
their :meth:`CrossingRule.crossed` raises :class:`NotStreamingError`, and
:func:`decide` (and :func:`rc.inference.early_exit_decide`, which hands them
to it) takes the decision from all T steps. A :class:`Decision` then tells
apart the step whose scores give the prediction (``output_index``) from the
step at which the decision is known (``step_index``, what the metrics count
as steps read):

``sigmoid-notebook``
    The MNIST notebook's index: per step, the *number* of classes with
    ``sigmoid(score) > theta``; the decision is the step with the most (the
    first of them on a tie), the last step when no class ever crosses. The
    prediction is the argmax of the sigmoid outputs there (the notebook's; it
    differs from ``argmax(score)`` only where float32 sigmoids saturate to 1.0
    for several classes). With only this rule's own output,
    that step is known for certain only once a step has every class above
    theta (no later step can have more), else at the end of the sequence:
    ``step_index`` is that step, usually the last one.
``two-sided-notebook``
    The toy notebooks' index (``noisevssignal``, ``seq_data``): the first step
    where ``sigmoid(score) > theta`` or ``< 1 - theta``, but a crossing at the
    first step counts as no crossing at all (their ``argmax`` of the spike
    train is 0 both for a first-step spike and for none, and both fall back to
    the last step), even when later steps cross. ``step_index`` equals the
    output step. Predicts 1 where the float32 sigmoid is above 0.5 (their
    ``round``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from rc.registry import Registry


def check_theta(theta: float, low: float = 0.0) -> float:
    if isinstance(theta, bool) or not isinstance(theta, (int, float)):
        raise TypeError(f"threshold theta must be a number, got {type(theta).__name__}")
    theta = float(theta)
    if not (low < theta < 1.0) or math.isnan(theta):
        raise ValueError(f"threshold theta must lie in ({low:g}, 1), got {theta!r}")
    return theta


class NotStreamingError(ValueError):
    """A rule decided from the whole sequence was asked for a per-step crossing."""


class CrossingRule(ABC):
    """How per-step scores turn into a crossing flag and a prediction.

    Subclasses define :meth:`probabilities`, :meth:`crossed`, :meth:`predict`
    and :meth:`entropy`; all take scores shaped ``(..., classes)`` and reduce
    the last dimension. A rule that is not decided at its first crossing sets
    ``streaming`` to False and overrides :meth:`decide_sequence`.
    """

    name: str
    theta: float
    streaming: ClassVar[bool] = True
    """Whether the decision is the first step whose scores :meth:`crossed`, so that it
    can be made step by step (early exit, truncated training)."""

    def __init__(self, theta: float) -> None:
        self.theta = check_theta(theta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(theta={self.theta})"

    def check_scores(self, scores: Tensor) -> None:
        """Raise ``ValueError`` if ``scores`` cannot be read by this rule."""
        if scores.dim() < 1 or scores.shape[-1] < 2:
            raise ValueError(
                f"rule {self.name!r} needs at least 2 output classes in the last "
                f"dimension, got scores of shape {tuple(scores.shape)}"
            )

    @abstractmethod
    def probabilities(self, scores: Tensor) -> Tensor:
        """Output probabilities the threshold applies to, same shape as ``scores``."""

    @abstractmethod
    def crossed(self, scores: Tensor) -> Tensor:
        """Bool tensor ``scores.shape[:-1]``: has the output crossed theta?"""

    @abstractmethod
    def predict(self, scores: Tensor) -> Tensor:
        """Long tensor ``scores.shape[:-1]``: the predicted class."""

    @abstractmethod
    def entropy(self, scores: Tensor) -> Tensor:
        """Entropy in nats of the rule's output distribution, ``scores.shape[:-1]``.

        RC training rewards this entropy (times beta) so that outputs do not
        become over-confident, and so cross, too early.
        """

    def decide_sequence(self, scores: Tensor) -> Decision:
        """Decisions from full-sequence scores ``(batch, time, classes)`` (checked by :func:`decide`).

        A streaming rule decides at the first step that :meth:`crossed`, or at
        the last step (not crossed) when none does.
        """
        step_index, any_crossed = first_crossing(self.crossed(scores))
        at_decision = scores[torch.arange(scores.shape[0], device=scores.device), step_index]
        return Decision(self.predict(at_decision), step_index, any_crossed)


def _binary_entropy(p: Tensor) -> Tensor:
    """Elementwise entropy (nats) of Bernoulli(p), safe at p in {0, 1}."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


def softmax_entropy(scores: Tensor) -> Tensor:
    """Entropy (nats) of ``softmax(scores)`` over the last dimension, ``scores.shape[:-1]``."""
    log_p = torch.log_softmax(scores, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


class SigmoidThreshold(CrossingRule):
    """Multi-class: crossed when any ``sigmoid(score) > theta``; predicts argmax."""

    name = "sigmoid"

    def probabilities(self, scores: Tensor) -> Tensor:
        return torch.sigmoid(scores)

    def crossed(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return (torch.sigmoid(scores) > self.theta).any(dim=-1)

    def predict(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return scores.argmax(dim=-1)

    def entropy(self, scores: Tensor) -> Tensor:
        """Mean over classes of each sigmoid unit's binary entropy."""
        self.check_scores(scores)
        return _binary_entropy(torch.sigmoid(scores)).mean(dim=-1)


class SoftmaxThreshold(CrossingRule):
    """Multi-class: crossed when ``max softmax(score) >= theta``; predicts argmax."""

    name = "softmax"

    def probabilities(self, scores: Tensor) -> Tensor:
        return torch.softmax(scores, dim=-1)

    def crossed(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return torch.softmax(scores, dim=-1).amax(dim=-1) >= self.theta

    def predict(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return scores.argmax(dim=-1)

    def entropy(self, scores: Tensor) -> Tensor:
        """Entropy of the softmax distribution over classes."""
        self.check_scores(scores)
        return softmax_entropy(scores)


class TwoSidedBinary(CrossingRule):
    """One binary output: crossed when ``p > theta`` or ``p < 1 - theta``, p = sigmoid."""

    name = "two-sided"

    def __init__(self, theta: float) -> None:
        # Below 0.5 the two sides overlap and every step would cross.
        self.theta = check_theta(theta, low=0.5)

    def check_scores(self, scores: Tensor) -> None:
        if scores.dim() < 1 or scores.shape[-1] != 1:
            raise ValueError(
                f"rule {self.name!r} needs exactly 1 output unit in the last dimension, "
                f"got scores of shape {tuple(scores.shape)}"
            )

    def probabilities(self, scores: Tensor) -> Tensor:
        return torch.sigmoid(scores)

    def crossed(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        p = torch.sigmoid(scores[..., 0])
        return (p > self.theta) | (p < 1.0 - self.theta)

    def predict(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return (scores[..., 0] > 0).long()

    def entropy(self, scores: Tensor) -> Tensor:
        self.check_scores(scores)
        return _binary_entropy(torch.sigmoid(scores[..., 0]))


class WholeSequenceRule(CrossingRule):
    """Base of the rules decided from the whole sequence: :meth:`crossed` raises :class:`NotStreamingError`."""

    streaming = False

    def crossed(self, scores: Tensor) -> Tensor:
        raise NotStreamingError(
            f"rule {self.name!r} is decided from the whole sequence, not at a first crossing: it has no "
            f"per-step crossing for step-by-step early exit or truncated training; decide it with "
            f"rc.crossing.decide on full-sequence scores (rc.inference.early_exit_decide does)")

    def gather(self, scores: Tensor, index: Tensor) -> Tensor:
        """``scores[row, index[row]]`` for each row of ``(batch, time, classes)`` scores."""
        return scores[torch.arange(scores.shape[0], device=scores.device), index]


class SigmoidNotebook(WholeSequenceRule, SigmoidThreshold):
    """The MNIST notebook's decision: the step with the most classes above theta (see the module docstring)."""

    name = "sigmoid-notebook"

    def predict(self, scores: Tensor) -> Tensor:
        """``argmax`` of the sigmoid outputs, as the notebook (the first of the classes whose float32
        sigmoid saturates to 1.0, where ``argmax(score)`` would take the largest score)."""
        self.check_scores(scores)
        return torch.sigmoid(scores).argmax(dim=-1)

    def decide_sequence(self, scores: Tensor) -> Decision:
        self.check_scores(scores)
        counts = (torch.sigmoid(scores) > self.theta).sum(dim=-1)  # (batch, time)
        crossed = counts.amax(dim=1) > 0
        # the notebook marks the last step of a sequence without any crossing; argmax takes the first maximum
        counts[~crossed, -1] = 1
        output_index = counts.argmax(dim=1)
        complete = counts == scores.shape[-1]  # every class above theta: no later step can have more
        known, _ = first_crossing(complete)
        return Decision(self.predict(self.gather(scores, output_index)), known, crossed, output_index)


class TwoSidedNotebook(WholeSequenceRule, TwoSidedBinary):
    """The toy notebooks' decision: two-sided first crossing, a first-step crossing meaning none."""

    name = "two-sided-notebook"

    def predict(self, scores: Tensor) -> Tensor:
        """1 where ``round(sigmoid(score))`` is, as the notebooks: float32 sigmoid above 0.5."""
        self.check_scores(scores)
        return (torch.sigmoid(scores[..., 0]) > 0.5).long()

    def decide_sequence(self, scores: Tensor) -> Decision:
        self.check_scores(scores)
        p = torch.sigmoid(scores[..., 0])
        first, any_crossed = first_crossing((p > self.theta) | (p < 1.0 - self.theta))
        crossed = any_crossed & (first > 0)
        step_index = torch.where(crossed, first, torch.full_like(first, scores.shape[1] - 1))
        return Decision(self.predict(self.gather(scores, step_index)), step_index, crossed)


CROSSING_RULES: Registry[type[CrossingRule]] = Registry(
    "crossing rule", (SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary, SigmoidNotebook, TwoSidedNotebook))
"""Every crossing rule class by its ``name``; :func:`make_rule` builds one."""


def make_rule(name: str, theta: float) -> CrossingRule:
    """Build the crossing rule registered as ``name`` with threshold ``theta``."""
    return CROSSING_RULES.get(name)(theta)


@dataclass(frozen=True)
class Decision:
    """Per-example decisions of a batch.

    Attributes:
        prediction: ``(batch,)`` long, the predicted class at the decision.
        step_index: ``(batch,)`` long, 0-based index of the decision step
            (the first crossing, or ``time - 1`` when nothing crossed): the
            last step read before the decision is known.
        crossed: ``(batch,)`` bool, whether the output crossed at all.
        output_index: ``(batch,)`` long, the step whose scores give the
            prediction (and the RC loss), for a rule where that can be earlier
            than the step the decision is known at (``sigmoid-notebook``);
            None means ``step_index`` (every streaming rule).
    """

    prediction: Tensor
    step_index: Tensor
    crossed: Tensor
    output_index: Tensor | None = None

    @property
    def steps_read(self) -> Tensor:
        """``(batch,)`` long, input steps read before deciding (1-based)."""
        return self.step_index + 1

    @property
    def scored_index(self) -> Tensor:
        """``(batch,)`` long, the step whose scores give the prediction: ``output_index`` or ``step_index``."""
        return self.step_index if self.output_index is None else self.output_index


def check_sequence_scores(scores: Tensor) -> None:
    """Raise ``ValueError`` unless ``scores`` is ``(batch, time, classes)`` with time >= 1."""
    if scores.dim() != 3:
        raise ValueError(
            f"scores must be shaped (batch, time, classes), got {scores.dim()} "
            f"dimensions: {tuple(scores.shape)}"
        )
    if scores.shape[1] < 1:
        raise ValueError(f"scores have no time steps: shape {tuple(scores.shape)}")


def first_crossing(crossed: Tensor) -> tuple[Tensor, Tensor]:
    """First True along time of a ``(batch, time)`` bool tensor.

    Returns:
        ``(step_index, any_crossed)``, both ``(batch,)``; ``step_index`` is the
        last index ``time - 1`` where nothing crossed.
    """
    if crossed.dim() != 2 or crossed.dtype != torch.bool:
        raise ValueError(
            f"crossed must be a (batch, time) bool tensor, got {crossed.dtype} "
            f"of shape {tuple(crossed.shape)}"
        )
    any_crossed = crossed.any(dim=1)
    # argmax returns the first maximal index, i.e. the first True.
    first = crossed.to(torch.uint8).argmax(dim=1)
    last = torch.full_like(first, crossed.shape[1] - 1)
    return torch.where(any_crossed, first, last), any_crossed


def decide(scores: Tensor, rule: CrossingRule) -> Decision:
    """Decisions from a full pass: scores ``(batch, time, classes)`` -> :class:`Decision`
    (:meth:`CrossingRule.decide_sequence`)."""
    check_sequence_scores(scores)
    return rule.decide_sequence(scores)
