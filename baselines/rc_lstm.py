"""``rc-lstm``: an LSTM trained with rank coding.

The loss is taken at each example's first threshold crossing plus beta times
an output-entropy reward (:func:`rc.loss.rc_loss`); forward and backward
passes stop at each example's crossing (:func:`rc.training.truncated_rc_step`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from baselines.lstm_common import LSTMConfig, LSTMContender
from baselines.registry import register_contender
from baselines.training_loop import BatchOutcome
from rc.loss import check_beta
from rc.training import truncated_rc_step


@dataclass(frozen=True)
class RCLSTMConfig(LSTMConfig):
    """:class:`baselines.lstm_common.LSTMConfig` plus the entropy weight ``beta`` (>= 0)."""

    beta: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_beta(self.beta)


@register_contender
class RCLSTM(LSTMContender):
    name = "rc-lstm"
    description = "LSTM trained with rank coding: loss at each example's first crossing, truncated forward+backward"
    Config = RCLSTMConfig
    threshold_in_training = True

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        result = truncated_rc_step(self.model, x, y, self.rule, self.config.beta)
        return BatchOutcome(result.loss, result.forward_evaluations, result.backward_evaluations)
