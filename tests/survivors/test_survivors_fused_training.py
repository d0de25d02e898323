"""Tests written for the mutants of ``rc/fused_training.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from rc import fused_training
from rc.crossing import SigmoidThreshold, decide
from rc.fused_training import (SMALL_LSTM_WEIGHTS, Call, Search, _dropout_mask, call_plan, fused_parts,
                                fused_truncated_scores, gradient_pass)
from rc.model import ConvLSTMClassifier, LSTMClassifier


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


@pytest.mark.parametrize("lengths", [[], [0], [3, 0, 2], [4, -1], (2, 0)])
def test_the_call_plan_refuses_an_empty_batch_or_a_length_below_one(lengths) -> None:
    """No examples, or an example of no steps (or fewer), has no plan: a ValueError that names the lengths
    given, as a list whatever sequence they came in."""
    with pytest.raises(ValueError, match=re.escape(f"lengths must be positive, got {list(lengths)}")):
        call_plan(lengths)


def test_the_call_plan_takes_the_unary_plan_on_a_tie_and_the_binary_one_when_shorter() -> None:
    """Lengths 1, 2, 3 need three calls either way: unary (1 step of all, 1 of the two longer, 1 of the longest)
    or binary (1 step of all, then 2 steps of the longest, 1 of the middle one); the tie goes to the unary plan.
    Lengths 1 to 4 need four unary calls but only three binary ones (1 step of all, 2 of the two with bit 1 of
    length - 1 set, 1 of the two with bit 0 set), so there the binary plan is taken."""
    assert call_plan([1, 2, 3]) == [Call(1, [0, 1, 2], [0, 0, 0]), Call(1, [1, 2], [1, 1]), Call(1, [2], [2])]
    assert call_plan([3, 1, 2]) == [Call(1, [0, 1, 2], [0, 0, 0]), Call(1, [0, 2], [1, 1]), Call(1, [0], [2])]
    assert call_plan([1, 2, 3, 4]) == [Call(1, [0, 1, 2, 3], [0, 0, 0, 0]), Call(2, [2, 3], [1, 1]),
                                       Call(1, [1, 3], [1, 3])]


def test_the_gradient_pass_feeds_its_fused_calls_examples_first() -> None:
    """Three examples that all decide after 3 steps make one fused call of every example over steps 0-2, its
    inputs laid out (examples, steps, features). With as many examples as steps, a call reading them
    steps-first would fit the state's shape too, so only the values tell the layout: the scores are the full
    pass's at step 2."""
    torch.manual_seed(0)
    model = LSTMClassifier(3, 4, 2)
    x = torch.randn(3, 8, 3)
    decisions = torch.tensor([2, 2, 2])
    search = Search(decisions, torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.long), 0, None, None)
    scores = gradient_pass(fused_parts(model), x, search)
    assert scores.shape == (3, 2)
    torch.testing.assert_close(scores, model(x)[:, 2], rtol=1e-5, atol=1e-6)


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


def test_the_gradient_pass_keeps_float64_inputs_in_float64() -> None:
    """A float64 model and batch, not torch's default float32: the gradient pass's starting state is zeros in
    the input's dtype, so its single-step calls (decisions after 1 step) and its fused ones (6 steps) run in
    float64, and the scores are the float64 full pass's at each decision to float64 rounding."""
    torch.manual_seed(0)
    model = LSTMClassifier(3, 4, 2, 2).double()
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    decisions = torch.tensor([0, 2, 5])
    search = Search(decisions, torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.long), 0, None, None)
    scores = gradient_pass(fused_parts(model), x, search)
    assert scores.dtype == torch.float64 and scores.shape == (3, 2)
    torch.testing.assert_close(scores, model(x)[torch.arange(3), decisions], rtol=1e-12, atol=1e-12)


def test_the_gradient_pass_puts_its_state_and_indices_on_the_inputs_device() -> None:
    """Under another default device (meta stands in for cuda) the gradient pass still runs on the device of
    its inputs: its starting state, the step indices of the calls that run only some examples (decisions
    after 1, 3 and 6 steps: a call of every example, then calls of 2 and 1 of them) and those examples' rows
    are made there, so the scores are on the CPU and equal the full pass's at each decision."""
    torch.manual_seed(0)
    model = LSTMClassifier(3, 4, 2)
    x = torch.randn(3, 8, 3)
    decisions = torch.tensor([0, 2, 5])
    search = Search(decisions, torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.long), 0, None, None)
    parts = fused_parts(model)
    with torch.device("meta"):
        scores = gradient_pass(parts, x, search)
    assert scores.device == x.device and scores.shape == (3, 2)
    torch.testing.assert_close(scores, model(x)[torch.arange(3), decisions], rtol=1e-5, atol=1e-6)


def test_the_gradient_pass_encodes_the_frames_itself_when_the_search_kept_none() -> None:
    """With a convolutional front end and a search that kept no encoded frames (autograd off there), the
    gradient pass runs the encoder on each call's frames, (examples, steps, height * width) to
    (examples, steps, encoded features): the scores and the gradients of every weight, the encoder's
    included, equal autograd of the same loss on the model's full forward pass at each decision."""
    torch.manual_seed(0)
    model = ConvLSTMClassifier((16, 16), hidden=8, n_outputs=3, layers=1, channels=2)
    x = torch.rand(3, 8, 256)
    y = torch.tensor([2, 0, 1])
    decisions = torch.tensor([0, 2, 5])  # a 1-step call of all three, then calls of two and one of them
    search = Search(decisions, torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.long), 0, None, None)
    parts = fused_parts(model)
    assert parts.encoder is model.encoder and search.features is None
    scores = gradient_pass(parts, x, search)
    assert scores.shape == (3, 3)
    loss = torch.nn.functional.cross_entropy(scores, y)
    found = torch.autograd.grad(loss, list(model.parameters()))
    full = model(x)[torch.arange(3), decisions]
    torch.testing.assert_close(scores, full, rtol=1e-5, atol=1e-6)
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(full, y), list(model.parameters()))
    for (name, _), got, want in zip(model.named_parameters(), found, expected):
        assert got.abs().sum() > 0, name
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


# 2 active examples of 1,320,000 MACs a step and 100,000 LSTM weights: the cost ratio c / s is
# (20,000,000 + 64 * 100,000) / (2 * 1,320,000) = 26,400,000 / 2,640,000 = 10 steps exactly.
@pytest.mark.parametrize("active, start, remaining, expected", [
    (2, 5, 100, 10),      # ceil(sqrt(2 * 10 * 5)) = sqrt(100) = 10
    (2, 0, 100, 5),       # no step done counts as 1: ceil(sqrt(20)) = ceil(4.47) = 5
    (2, 5, 3, 3),         # no longer than the steps remaining
    (2, 5, 1, 1),         # at least 1 step, and 1 when 1 remains
    (1, 10_000, 100, 64),  # c / s = 20: ceil(sqrt(400,000)) = 633, cut to MAX_CHUNK = 64
])
def test_the_chunk_length_is_the_square_root_rule_cut_to_the_steps_remaining_and_max_chunk(
        active, start, remaining, expected) -> None:
    """chunk_length = max(1, min(remaining, 64, ceil(sqrt(2 * c / s * max(start, 1))))) with
    c = 20,000,000 + 64 per LSTM weight and s = active * MACs per step, on values worked out by hand."""
    parts = fused_training.FusedParts(lstm=None, readout=None, encoder=None, dropout=0.0,
                                      macs_per_step=1_320_000, lstm_weights=100_000)
    assert fused_training.chunk_length(parts, active, start, remaining) == expected


@pytest.mark.parametrize("p, training, expected", [(0.25, True, 0.25), (0.25, False, 0.0), (0.0, True, 0.0)])
def test_the_fused_parts_carry_the_dropout_in_effect(p, training, expected) -> None:
    """Kills fused_parts 10-12, 14 (the dropout in effect always 0, always p, p in evaluation mode, or 0 below
    p = 1) and 21 (None): the model's dropout probability in training mode, 0 in evaluation mode."""
    model = LSTMClassifier(4, 3, 2, dropout=p).train(training)
    parts = fused_parts(model)
    assert type(parts.dropout) is float and parts.dropout == expected


def test_a_dropout_of_minus_zero_is_reported_as_no_dropout() -> None:
    """Kills fused_parts 13 (p >= 0 for p > 0): a model may be given dropout -0.0 (nn.Dropout and LSTMClassifier
    accept it, as -0.0 >= 0); the parts carry 0.0, the 'no dropout' value, not p itself."""
    model = LSTMClassifier(4, 3, 2, dropout=-0.0).train()
    parts = fused_parts(model)
    assert parts.dropout == 0.0 and str(parts.dropout) == "0.0"


def test_the_fused_parts_carry_the_input_events_only_without_an_encoder() -> None:
    """Kills fused_parts 24, 31, 34 (no input events for a plain LSTM), 35 (the recurrent part's input events with
    a conv encoder too) and 36 (the two swapped): the search projects the LSTM's own input event-driven only when
    it is the model's input; after an encoder the input is dense."""
    plain = LSTMClassifier(4, 3, 2)
    assert fused_parts(plain).input_events is plain.input_events and plain.input_events is not None
    conv = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=2, channels=1)
    parts = fused_parts(conv)
    assert parts.encoder is conv.encoder and parts.input_events is None
    assert conv.recurrent.input_events is not None
