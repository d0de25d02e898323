"""The RC loss and its gradient with respect to the scores, by hand, outside autograd (numpy).

:func:`rc.loss.rc_loss` on the logits, for the built-in streaming crossing rules
(:data:`HAND_DIFFERENTIATED_RULES`), written out with its derivative, so that a training step
whose network part is compiled (:mod:`rc.compiled_training`) can take its loss and the loss's
gradient without building an autograd graph: at a batch of one example, autograd's fixed cost
(one graph node per loss operation, the engine's pass over them) is several times the compiled
kernels' whole step. With ``p`` the rule's output probabilities and ``s`` the scores of one
example at its decision::

    cross-entropy, C >= 2:        l = logsumexp(s) - s_y               dl/ds = softmax(s) - onehot(y)
    binary cross-entropy, C = 1:  l = softplus(s) - y s                dl/ds = sigmoid(s) - y
    entropy, sigmoid / two-sided: H = mean_c h(sigmoid(s_c))           dH/ds_c = -s_c p_c (1 - p_c) / C
    entropy, softmax:             H = -sum_c p_c log p_c               dH/ds_c = -p_c (log p_c + H)

with h the binary entropy (dh/ds = log((1 - p) / p) p (1 - p) = -s p (1 - p)). The loss is
``mean_i (l_i - beta H_i)``. Everything is computed in float64 from the float32 scores.
"""

from __future__ import annotations

import numpy as np
import torch

from rc.crossing import CrossingRule, SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary
from rc.loss import check_beta

HAND_DIFFERENTIATED_RULES: tuple[type[CrossingRule], ...] = (SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary)
"""The rule classes (exactly; a subclass may define another entropy) whose RC loss this module differentiates."""


def _sigmoid(scores: np.ndarray) -> np.ndarray:
    """Elementwise logistic function, without overflow for large ``|scores|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * scores))


def _softplus(scores: np.ndarray) -> np.ndarray:
    """Elementwise ``log(1 + exp(scores))``, without overflow."""
    return np.logaddexp(0.0, scores)


def _classification_loss(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example cross-entropy on the logits ``(B,)`` and its gradient ``(B, C)``."""
    if scores.shape[1] == 1:
        labels = targets.astype(np.float64)
        logits = scores[:, 0]
        return _softplus(logits) - labels * logits, (_sigmoid(logits) - labels)[:, None]
    classes = scores.shape[1]
    if targets.size and (targets.min() < 0 or targets.max() >= classes):
        raise ValueError(f"class labels must lie in [0, {classes}), got {targets.min()} .. {targets.max()}")
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(scores.shape[0])
    gradient = np.exp(log_p)
    gradient[rows, targets] -= 1.0
    return -log_p[rows, targets], gradient


def _entropy(scores: np.ndarray, rule: CrossingRule) -> tuple[np.ndarray, np.ndarray]:
    """The rule's output entropy per example ``(B,)`` (nats) and its gradient ``(B, C)``."""
    if type(rule) is SoftmaxThreshold:
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        entropy = -(p * log_p).sum(axis=1)
        return entropy, -p * (log_p + entropy[:, None])
    p = _sigmoid(scores)  # the sigmoid rule and the two-sided one (one unit): mean binary entropy
    binary = p * _softplus(-scores) + (1.0 - p) * _softplus(scores)
    return binary.mean(axis=1), -scores * p * (1.0 - p) / scores.shape[1]


def rc_loss_and_gradient(scores: np.ndarray, targets: np.ndarray, rule: CrossingRule,
                         beta: float) -> tuple[float, np.ndarray]:
    """The RC loss :func:`rc.loss.rc_loss` (``output="logits"``) and its gradient with respect to ``scores``.

    Args:
        scores: ``(B, C)`` float logits at each example's decision; ``C = 1`` is a binary task.
        targets: ``(B,)`` integer class labels (0/1 for one unit).
        rule: a crossing rule of exactly one of the classes :data:`HAND_DIFFERENTIATED_RULES`.
        beta: entropy weight, >= 0.

    Returns:
        The loss (a float) and ``d loss / d scores``, ``(B, C)`` float32.

    Raises:
        ValueError: for a rule this module does not differentiate, scores the rule cannot read,
            mismatched shapes or a label outside the classes.
    """
    beta = check_beta(beta)
    if type(rule) not in HAND_DIFFERENTIATED_RULES:
        raise ValueError(f"no hand-written RC loss gradient for the rule {type(rule).__name__}; "
                         f"known: {', '.join(r.__name__ for r in HAND_DIFFERENTIATED_RULES)}")
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (B, C) and targets (B,), got {scores.shape} and {targets.shape}")
    rule.check_scores(torch.empty(scores.shape[1:]))
    values = scores.astype(np.float64)
    loss, gradient = _classification_loss(values, targets)
    if beta:
        entropy, entropy_gradient = _entropy(values, rule)
        loss, gradient = loss - beta * entropy, gradient - beta * entropy_gradient
    count = scores.shape[0]
    return float(loss.mean()), (gradient / count).astype(np.float32)
