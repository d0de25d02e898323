"""Truncated training of any :class:`rc.model.StepModel`, one step at a time.

:func:`run_to_crossings` feeds a batch through a :class:`rc.model.StepModel`
one step at a time and removes each example from the batch at its first
threshold crossing. No step after an example's crossing is ever computed; if
autograd is on, the graph holds exactly the computed steps, so a backward
pass through it skips them too. :func:`rc.training.truncated_rc_step` uses
it for every step model but the LSTM classifiers, which take the fused
search and gradient pass of :mod:`rc.fused_training` (the same loss and
gradients, without this loop's fixed cost per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rc.crossing import CrossingRule, Decision
from rc.model import StepModel


@dataclass(frozen=True)
class Finished:
    """Examples that decided at one step.

    Attributes:
        rows: ``(k,)`` long, their rows in the original batch.
        step_index: the 0-based step at which they decided.
        scores: ``(k, outputs)`` their scores at that step (with graph if autograd is on).
        crossed: ``(k,)`` bool, False only for examples that reached the
            last step without crossing.
    """

    rows: Tensor
    step_index: int
    scores: Tensor
    crossed: Tensor


def check_sequences(x: Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(batch >= 1, time >= 1, features)``."""
    if x.dim() != 3 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must be shaped (batch >= 1, time >= 1, features), got {tuple(x.shape)}")


def run_to_crossings(model: StepModel, x: Tensor, rule: CrossingRule) -> tuple[list[Finished], int]:
    """Run ``x`` ``(batch, time, features)`` step by step, dropping examples at their crossing.

    Returns:
        The :class:`Finished` groups in step order (every row appears in
        exactly one) and the number of step evaluations computed, which is
        the sum over examples of (decision step index + 1).
    """
    check_sequences(x)
    batch, time, _ = x.shape
    state = model.init_state(batch, x.device)
    rows = torch.arange(batch, device=x.device)
    every_row = True  # while no example has finished, x[:, t] is a view instead of a gather
    finished: list[Finished] = []
    evaluations = 0
    for t in range(time):
        scores, state = model.step(x[:, t] if every_row else x[rows, t], state)
        evaluations += scores.shape[0]
        with torch.no_grad():
            crossed = rule.crossed(scores.detach())
        if t == time - 1:
            finished.append(Finished(rows, t, scores, crossed))
            break
        if not bool(crossed.any()):
            continue
        done = crossed.nonzero(as_tuple=True)[0]
        finished.append(Finished(rows[done], t, scores[done], crossed[done]))
        keep = (~crossed).nonzero(as_tuple=True)[0]
        if keep.numel() == 0:
            break
        rows, every_row = rows[keep], False
        state = model.select_state(state, keep)
    return finished, evaluations


def gather_in_batch_order(finished: list[Finished], batch: int) -> tuple[Tensor, Tensor, Tensor]:
    """Scores ``(batch, outputs)``, step index ``(batch,)`` and crossed ``(batch,)`` in original row order."""
    rows = torch.cat([f.rows for f in finished])
    if rows.numel() != batch:
        raise RuntimeError(f"streaming lost examples: {rows.numel()} of {batch} rows finished")
    order = torch.empty_like(rows)
    order[rows] = torch.arange(batch, device=rows.device)
    scores = torch.cat([f.scores for f in finished])[order]
    steps = torch.cat([torch.full((f.rows.numel(),), f.step_index, dtype=torch.long, device=rows.device)
                       for f in finished])[order]
    crossed = torch.cat([f.crossed for f in finished])[order]
    return scores, steps, crossed


def stream_decisions(model: StepModel, x: Tensor, rule: CrossingRule) -> tuple[Tensor, Decision, int]:
    """Scores at each decision ``(batch, outputs)``, the :class:`Decision`, and step evaluations."""
    finished, evaluations = run_to_crossings(model, x, rule)
    scores, steps, crossed = gather_in_batch_order(finished, x.shape[0])
    with torch.no_grad():
        prediction = rule.predict(scores.detach())
    return scores, Decision(prediction, steps, crossed), evaluations
