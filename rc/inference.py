"""Streaming early-exit inference.

The input is fed one step at a time; an example leaves the batch at its first
crossing, so a finished example costs nothing more. The result is identical
to applying :func:`rc.crossing.decide` to a full pass.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rc.crossing import CrossingRule, Decision
from rc.model import StepModel
from rc.streaming import stream_decisions


@torch.no_grad()
def early_exit_decide(model: StepModel, x: Tensor, rule: CrossingRule) -> tuple[Decision, int]:
    """Decide every example of ``x`` ``(batch, time, features)``, stopping each at its crossing.

    Returns:
        The :class:`rc.crossing.Decision` and the number of step evaluations
        computed (the sum over examples of decision step index + 1).
    """
    _scores, decision, evaluations = stream_decisions(model, x, rule)
    return decision, evaluations
