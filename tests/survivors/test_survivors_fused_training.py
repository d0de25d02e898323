"""Tests written for the mutants of ``rc/fused_training.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch

from rc import fused_training
from rc.crossing import SigmoidThreshold, decide
from rc.fused_training import SMALL_LSTM_WEIGHTS, Search, _dropout_mask, fused_parts, fused_truncated_scores, gradient_pass
from rc.model import LSTMClassifier


def test_a_dropout_mask_takes_its_tensors_dtype_and_device_whatever_torchs_defaults() -> None:
    """``nn.Dropout``'s multipliers, 0 or exactly 1 / (1 - p) in the tensor's own dtype (float64 here, not the
    default float32), on the tensor's device even under another default device (meta stands in for cuda)."""
    like = torch.zeros(3, dtype=torch.float64)
    torch.manual_seed(0)
    with torch.device("meta"):
        mask = _dropout_mask(0.3, (50, 40), like)
    assert mask.shape == (50, 40) and mask.dtype == torch.float64 and mask.device == like.device
    assert set(mask.unique().tolist()) == {0.0, 1 / (1 - 0.3)}
    dropped = (mask == 0).double().mean().item()
    assert abs(dropped - 0.3) < 0.05  # 2,000 draws: the standard deviation is 0.01


def test_the_truncated_scores_search_in_chunks_of_the_length_asked_for() -> None:
    """With 1-step chunks the search computes exactly the steps each example reads (none past its crossing), so the
    forward evaluations are twice the steps read; chosen chunks may run past a crossing (for so small a network, the
    whole sequence in one call). The scores and decisions do not depend on the chunks: they are a full pass's."""
    torch.manual_seed(0)
    model = LSTMClassifier(3, 4, 2)
    x, rule = torch.randn(8, 12, 3), SigmoidThreshold(0.6)
    parts = fused_parts(model)
    one_step = fused_truncated_scores(parts, x, rule, chunk=1)
    chosen = fused_truncated_scores(parts, x, rule)
    read = int((one_step.decision.step_index + 1).sum())
    assert read < 8 * 12  # some example crosses before the last step
    assert (one_step.forward_evaluations, one_step.backward_evaluations) == (2 * read, read)
    assert 2 * read < chosen.forward_evaluations <= 8 * 12 + read and chosen.backward_evaluations == read
    full = decide(model(x).detach(), rule)  # the decisions of a full pass
    assert full.crossed.any() and not full.crossed.all()
    for decision in (one_step.decision, chosen.decision):
        assert torch.equal(decision.prediction, full.prediction) and torch.equal(decision.crossed, full.crossed)
        assert torch.equal(decision.step_index, full.step_index)
    at_decision = model(x)[torch.arange(8), full.step_index]
    for scores in (one_step.scores, chosen.scores):
        assert torch.allclose(scores, at_decision, atol=1e-6)


@pytest.mark.parametrize("inputs, hidden, single, fused", [(3, 4, [1, 2], [3]), (148, 100, [1, 2], [3]),
                                                           (3, 160, [1], [2, 3])])
def test_the_gradient_pass_runs_short_calls_as_single_steps(inputs, hidden, single, fused, monkeypatch) -> None:
    """Decisions after 1, 3 and 6 steps give calls of 1, 2 and 3 steps. A call of one step runs as single
    steps, and so does one of two for a small LSTM (up to SMALL_LSTM_WEIGHTS weights: 148 inputs and 100
    units make exactly that many), where the fused call's fixed cost does not pay; longer calls run fused.
    The scores are the full pass's either way."""
    torch.manual_seed(0)
    model = LSTMClassifier(inputs, hidden, 2)
    parts = fused_parts(model)
    assert parts.lstm_weights == {4: 4 * 4 * (3 + 4 + 2), 100: SMALL_LSTM_WEIGHTS, 160: 4 * 160 * (3 + 160 + 2)}[hidden]
    steps = {"single": [], "fused": []}
    cell_steps, lstm = fused_training.cell_steps, torch.lstm

    def spy_cell_steps(lstm_module, inputs, state):
        steps["single"].append(inputs.shape[1])
        return cell_steps(lstm_module, inputs, state)

    def spy_lstm(inputs, *args):
        steps["fused"].append(inputs.shape[1])
        return lstm(inputs, *args)

    monkeypatch.setattr(fused_training, "cell_steps", spy_cell_steps)
    monkeypatch.setattr(torch, "lstm", spy_lstm)
    x = torch.randn(3, 8, inputs)
    decisions = torch.tensor([0, 2, 5])
    search = Search(decisions, torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.long), 0, None, None)
    scores = gradient_pass(parts, x, search)
    assert steps == {"single": single, "fused": fused}
    monkeypatch.undo()
    torch.testing.assert_close(scores, model(x)[torch.arange(3), decisions], rtol=1e-5, atol=1e-6)
