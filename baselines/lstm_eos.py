"""``lstm-eos``: the same LSTM trained on the last step only ("end of sequence").

The paper's non-RC early-inference baseline: trained conventionally, then read
out with the same threshold-crossing rule as ``rc-lstm``.
"""

from __future__ import annotations

from torch import Tensor

from baselines.lstm_common import LSTMContender
from baselines.registry import register_contender
from baselines.training_loop import BatchOutcome
from rc.loss import classification_loss


@register_contender
class LSTMEndOfSequence(LSTMContender):
    name = "lstm-eos"
    description = "same LSTM, loss at the last step only, read out with the same early-exit rule"
    threshold_in_training = False

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        scores = self.model(x)
        evaluations = x.shape[0] * x.shape[1]
        return BatchOutcome(classification_loss(scores[:, -1], y).mean(), evaluations, evaluations)
