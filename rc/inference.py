"""Streaming early-exit inference.

The input is fed one step at a time; an example leaves the batch at its first
crossing, so a finished example costs nothing more. The result is identical
to applying :func:`rc.crossing.decide` to a full pass.

A batch of more than one example through an :class:`rc.model.LSTMClassifier`
or :class:`rc.model.ConvLSTMClassifier` runs the fused LSTM over chunks of
steps instead (the search of :mod:`rc.fused_training`): after each chunk the
decided examples leave the batch, so a few examples that never cross run to
the end alone, in a few long fused calls instead of one Python step per
step. A chunk may run an example a few steps past its crossing; those steps
are discarded, and the decisions are the step loop's.

This is the inference-only twin of :func:`rc.streaming.run_to_crossings`
(which keeps every decided example's scores for the loss): with no graph to
keep, each step writes its decided examples straight into the output tensors,
reads only the still-active rows of the input at that step (never copying the
remaining sequences), and a single example skips the row bookkeeping. Both
loops compute exactly the same steps, so their decisions are the same.

A rule decided from the whole sequence (``rule.streaming`` False, the
notebooks' ``sigmoid-notebook``) has no first crossing to stop at: it is
decided by :func:`rc.crossing.decide` on a full pass, and the step
evaluations counted are those its decisions need (the sum of
``Decision.steps_read``), what a reader that stops once the decision is
known computes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rc.crossing import CrossingRule, Decision, decide
from rc.fused_training import fused_parts, search_decisions
from rc.model import StepModel
from rc.streaming import check_sequences


def _decide_one(model: StepModel, x: Tensor, rule: CrossingRule) -> tuple[Decision, int]:
    """:func:`early_exit_decide` for a batch of one ``(1, time, features)``."""
    time = x.shape[1]
    state = model.init_state(1, x.device)
    for t in range(time):
        scores, state = model.step(x[:, t], state)
        crossed = rule.crossed(scores)
        if t == time - 1 or bool(crossed):
            step_index = torch.full((1,), t, dtype=torch.long, device=x.device)
            return Decision(rule.predict(scores), step_index, crossed), t + 1
    raise AssertionError("unreachable: the last step always decides")


@torch.no_grad()
def early_exit_decide(model: StepModel, x: Tensor, rule: CrossingRule) -> tuple[Decision, int]:
    """Decide every example of ``x`` ``(batch, time, features)``, stopping each at its crossing.

    Returns:
        The :class:`rc.crossing.Decision` and the number of step evaluations
        the decisions need (the sum over examples of decision step index + 1).
        The step loop computes exactly these; the fused search (batches of
        more than one through an LSTM classifier) may compute a few more past
        a crossing within a chunk, which it discards.
    """
    check_sequences(x)
    if not rule.streaming:
        decision = decide(model.forward(x), rule)
        return decision, int(decision.steps_read.sum())
    batch, time, _ = x.shape
    if batch == 1:
        return _decide_one(model, x, rule)
    parts = fused_parts(model)
    if parts is not None:
        search = search_decisions(parts, x, rule)
        return Decision(search.prediction, search.step_index, search.crossed), int((search.step_index + 1).sum())
    prediction = torch.empty(batch, dtype=torch.long, device=x.device)
    step_index = torch.full((batch,), time - 1, dtype=torch.long, device=x.device)
    crossed = torch.zeros(batch, dtype=torch.bool, device=x.device)
    state = model.init_state(batch, x.device)
    rows: Tensor | None = None  # rows of x still active; None while all are
    evaluations = 0
    for t in range(time):
        scores, state = model.step(x[:, t] if rows is None else x[rows, t], state)
        active = scores.shape[0]
        evaluations += active
        hit = rule.crossed(scores)
        if t == time - 1:  # the rest decide here, crossed or not
            every = slice(None) if rows is None else rows
            prediction[every] = rule.predict(scores)
            crossed[every] = hit
            break
        done = hit.nonzero().squeeze(1)
        if done.numel() == 0:
            continue
        done_rows = done if rows is None else rows[done]
        prediction[done_rows] = rule.predict(scores[done])
        step_index[done_rows] = t
        crossed[done_rows] = True
        if done.numel() == active:
            break
        keep = (~hit).nonzero().squeeze(1)
        rows = keep if rows is None else rows[keep]
        state = model.select_state(state, keep)
    return Decision(prediction, step_index, crossed), evaluations
