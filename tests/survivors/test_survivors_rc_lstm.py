"""Tests written for the mutants of ``baselines/rc_lstm.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from baselines.rc_lstm import RCLSTM, RCLSTMConfig
from bench.core.task_contract import TaskSpec
from rc.crossing import make_rule
from rc.loss import rc_loss, rc_loss_at_crossing
from rc.training import truncated_scores


def contender(loss: str = "logits") -> RCLSTM:
    return RCLSTM(TaskSpec("t", 7, 5, 4, "sigmoid"), make_rule("sigmoid", 0.9), RCLSTMConfig(hidden=8, loss=loss),
                  torch.device("cpu"), 0)


@pytest.mark.parametrize("y_shape", [(15,), (16, 1)])
def test_the_rc_lstm_objective_refuses_labels_that_do_not_match_the_batch_naming_both_shapes(y_shape) -> None:
    """The truncated step checks the batch (:func:`rc.training.check_batch`) before it computes anything."""
    rc_lstm = contender()
    x, y = torch.randn(16, 7, 5), torch.zeros(y_shape, dtype=torch.long)
    shown = re.escape(f"y must be shaped (16,) to match x (16, 7, 5), got {y_shape}")
    with pytest.raises(ValueError, match=rf"^{shown}$"):
        rc_lstm.objective(x, y)


def test_the_rc_lstm_objective_on_sigmoid_outputs_reports_the_truncated_passes_evaluations() -> None:
    """A streaming rule with ``loss = "sigmoid-outputs"``: the loss at each decision and the step evaluations of the
    truncated forward (search included) and backward passes."""
    rc_lstm = contender("sigmoid-outputs")
    torch.manual_seed(0)
    x, y = torch.randn(16, 7, 5), torch.randint(0, 4, (16,))
    outcome = rc_lstm.objective(x, y)
    truncated = truncated_scores(rc_lstm.model, x, rc_lstm.rule)
    assert torch.allclose(outcome.loss, rc_loss(truncated.scores, y, rc_lstm.rule, 0.0, "sigmoid-outputs"))
    assert outcome.step_evaluations_forward == truncated.forward_evaluations
    assert outcome.step_evaluations_backward == truncated.backward_evaluations
    assert truncated.backward_evaluations == int(truncated.decision.steps_read.sum())
    assert isinstance(outcome.step_evaluations_forward, int) and isinstance(outcome.step_evaluations_backward, int)


@pytest.mark.parametrize("loss", ["logits", "sigmoid-outputs"])
def test_the_rc_lstm_objective_of_a_whole_sequence_rule_runs_every_step_forward_and_backward(loss) -> None:
    """``sigmoid-notebook`` decides from the whole sequence: the loss at the step its prediction is read from, after a
    full pass, so batch * time step evaluations each way."""
    rc_lstm = RCLSTM(TaskSpec("t", 7, 5, 4, "sigmoid-notebook"), make_rule("sigmoid-notebook", 0.9),
                     RCLSTMConfig(hidden=8, loss=loss), torch.device("cpu"), 0)
    torch.manual_seed(0)
    x, y = torch.randn(16, 7, 5), torch.randint(0, 4, (16,))
    outcome = rc_lstm.objective(x, y)
    assert torch.allclose(outcome.loss, rc_loss_at_crossing(rc_lstm.model(x), y, rc_lstm.rule, 0.0, loss))
    assert (outcome.step_evaluations_forward, outcome.step_evaluations_backward) == (16 * 7, 16 * 7)
