"""Tests written for the mutants of ``baselines/rc_lstm.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from baselines.rc_lstm import RCLSTM, RCLSTMConfig
from bench.core.task_contract import TaskSpec
from rc.crossing import make_rule


@pytest.mark.parametrize("y_shape", [(15,), (16, 1)])
def test_the_rc_lstm_objective_refuses_labels_that_do_not_match_the_batch_naming_both_shapes(y_shape) -> None:
    """The truncated step checks the batch (:func:`rc.training.check_batch`) before it computes anything."""
    contender = RCLSTM(TaskSpec("t", 7, 5, 4, "sigmoid"), make_rule("sigmoid", 0.9), RCLSTMConfig(hidden=8),
                       torch.device("cpu"), 0)
    x, y = torch.randn(16, 7, 5), torch.zeros(y_shape, dtype=torch.long)
    shown = re.escape(f"y must be shaped (16,) to match x (16, 7, 5), got {y_shape}")
    with pytest.raises(ValueError, match=rf"^{shown}$"):
        contender.objective(x, y)
