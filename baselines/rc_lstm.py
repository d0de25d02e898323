"""``rc-lstm``: an LSTM trained with rank coding.

The loss is taken at each example's first threshold crossing plus beta times
an output-entropy reward (:func:`rc.loss.rc_loss`); forward and backward
passes stop at each example's crossing (:func:`rc.training.truncated_rc_step`).
``loss = "sigmoid-outputs"`` applies the cross-entropy to the sigmoid outputs,
as the authors' notebooks do (:mod:`rc.loss`). A rule decided from the whole
sequence (``sigmoid-notebook``, ``two-sided-notebook``) cannot stop at a
crossing: its loss is taken, as in the notebooks, from a full forward pass at
the step the rule reads its prediction from (:func:`rc.loss.rc_loss_at_crossing`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from baselines.lstm_common import LSTMConfig, LSTMContender
from baselines.registry import register_contender
from baselines.training_loop import BatchOutcome
from rc.loss import check_beta, check_loss_output, rc_loss, rc_loss_at_crossing
from rc.training import truncated_rc_step, truncated_scores


@dataclass(frozen=True)
class RCLSTMConfig(LSTMConfig):
    """:class:`baselines.lstm_common.LSTMConfig` plus the entropy weight ``beta`` (>= 0) and ``loss``,
    what the cross-entropy is applied to: ``logits`` or ``sigmoid-outputs`` (:data:`rc.loss.LOSS_OUTPUTS`)."""

    beta: float = 0.0
    loss: str = "logits"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_beta(self.beta)
        check_loss_output(self.loss)


@register_contender
class RCLSTM(LSTMContender):
    name = "rc-lstm"
    description = "LSTM trained with rank coding: loss at each example's first crossing, truncated forward+backward"
    Config = RCLSTMConfig
    threshold_in_training = True

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        cfg = self.config
        if self.rule.streaming and cfg.loss == "logits":
            result = truncated_rc_step(self.model, x, y, self.rule, cfg.beta, autograd=False)
            return BatchOutcome(result.loss, result.forward_evaluations, result.backward_evaluations, result.path,
                                result.gradients)
        if self.rule.streaming:
            truncated = truncated_scores(self.model, x, self.rule)
            return BatchOutcome(rc_loss(truncated.scores, y, self.rule, cfg.beta, cfg.loss),
                                truncated.forward_evaluations, truncated.backward_evaluations, truncated.path)
        evaluations = x.shape[0] * x.shape[1]
        loss = rc_loss_at_crossing(self.model(x), y, self.rule, cfg.beta, cfg.loss)
        return BatchOutcome(loss, evaluations, evaluations, "naive")
