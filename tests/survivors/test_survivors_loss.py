"""Tests written for the mutants of ``rc/loss.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch

from rc.crossing import SigmoidNotebook, SigmoidThreshold, decide
from rc.loss import rc_loss, rc_loss_at_crossing


@pytest.mark.parametrize("rule", [SigmoidThreshold(0.9), SigmoidNotebook(0.9)], ids=lambda r: r.name)
def test_the_loss_at_the_crossing_does_not_depend_on_torchs_default_device(rule) -> None:
    """The row index is made on the scores' device: under ``torch.set_default_device("cuda")`` (the meta device
    stands in) CPU scores still give the loss at each example's own decision step."""
    torch.manual_seed(4)
    scores = (torch.randn(16, 5, 3) * 3).requires_grad_()
    targets = torch.randint(0, 3, (16,))
    steps = decide(scores.detach(), rule).scored_index
    assert len(set(steps.tolist())) > 1  # the examples decide at different steps
    expected = rc_loss(torch.stack([scores[row, step] for row, step in enumerate(steps.tolist())]), targets, rule, 0.5)
    with torch.device("meta"):
        loss = rc_loss_at_crossing(scores, targets, rule, 0.5)
    assert loss.device == scores.device
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)
    (gradient,) = torch.autograd.grad(loss, scores)
    (expected_gradient,) = torch.autograd.grad(expected, scores)
    torch.testing.assert_close(gradient, expected_gradient, rtol=0, atol=0)
