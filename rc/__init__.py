"""Rank coding (RC) for recurrent networks: crossing rules, the RC loss,
truncated training and early-exit inference.

Every function here works on any :class:`rc.model.StepModel`: a network that
can be run one time step at a time on a shrinking batch.
"""

from rc.crossing import (
    CROSSING_RULES,
    CrossingRule,
    Decision,
    SigmoidThreshold,
    SoftmaxThreshold,
    TwoSidedBinary,
    decide,
    make_rule,
)
from rc.inference import early_exit_decide
from rc.loss import classification_loss, rc_loss, rc_loss_at_crossing
from rc.model import LSTMClassifier, StepModel
from rc.training import StepResult, naive_rc_step, truncated_rc_step

__all__ = [
    "CROSSING_RULES",
    "CrossingRule",
    "Decision",
    "LSTMClassifier",
    "SigmoidThreshold",
    "SoftmaxThreshold",
    "StepModel",
    "StepResult",
    "TwoSidedBinary",
    "classification_loss",
    "decide",
    "early_exit_decide",
    "make_rule",
    "naive_rc_step",
    "rc_loss",
    "rc_loss_at_crossing",
    "truncated_rc_step",
]
