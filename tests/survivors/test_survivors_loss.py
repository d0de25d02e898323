"""Tests written for the mutants of ``rc/loss.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from rc.crossing import SigmoidNotebook, SigmoidThreshold, decide
from rc.loss import check_beta, classification_loss, rc_loss, rc_loss_at_crossing


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


@pytest.mark.parametrize("output", ["logits", "sigmoid-outputs"])
@pytest.mark.parametrize("classes", [1, 3])
def test_the_classification_loss_is_one_value_per_example(output, classes) -> None:
    """Per-example loss, shaped (n,) and not reduced: cross-entropy of the softmax over the classes (of the
    logits, or of their sigmoids for 'sigmoid-outputs'), or with one output the binary cross-entropy of its
    sigmoid, each computed here from its formula."""
    torch.manual_seed(0)
    scores = torch.randn(5, classes, dtype=torch.float64) * 2
    targets = torch.tensor([0, 1, 1, 0, 1]) if classes == 1 else torch.tensor([0, 2, 1, 2, 0])
    loss = classification_loss(scores, targets, output)
    rows = torch.arange(5)
    if classes == 1:
        p, y = torch.sigmoid(scores[:, 0]), targets.double()
        expected = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    else:
        inputs = scores if output == "logits" else torch.sigmoid(scores)
        expected = -torch.log_softmax(inputs, dim=1)[rows, targets]
    assert loss.shape == (5,) and loss.dtype == torch.float64
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4,), (2, 4, 3)])
def test_the_classification_loss_names_scores_of_the_wrong_shape(shape) -> None:
    """Scores that are not (n, classes) raise a ValueError giving their shape."""
    message = f"scores must be shaped (n, classes), got {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        classification_loss(torch.zeros(shape), torch.zeros(shape[:1], dtype=torch.long))


@pytest.mark.parametrize("beta, kind", [(True, "bool"), ("0.5", "str"), (None, "NoneType")])
def test_an_entropy_weight_that_is_not_a_number_is_refused_naming_its_type(beta, kind) -> None:
    """A bool, a string or None is not a number: TypeError naming its type (a bool is not taken as 1)."""
    with pytest.raises(TypeError, match=rf"^entropy weight beta must be a number, got {kind}$"):
        check_beta(beta)
    assert check_beta(2) == 2.0 and isinstance(check_beta(2), float)
