"""``lstm-allsteps``: the same LSTM trained with the loss at every step.

Every step is pushed towards the label, so early outputs are trained too: a
strong, fair early-exit baseline that the paper did not include.
"""

from __future__ import annotations

from torch import Tensor

from baselines.lstm_common import LSTMContender
from baselines.registry import register_contender
from baselines.training_loop import BatchOutcome
from rc.loss import classification_loss


@register_contender
class LSTMAllSteps(LSTMContender):
    name = "lstm-allsteps"
    description = "same LSTM, loss averaged over every step, read out with the same early-exit rule"
    threshold_in_training = False

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        scores = self.model(x)
        batch, time, outputs = scores.shape
        loss = classification_loss(scores.reshape(batch * time, outputs), y.repeat_interleave(time)).mean()
        evaluations = batch * time
        return BatchOutcome(loss, evaluations, evaluations)
