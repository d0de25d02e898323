"""The RC loss and its gradient by hand (rc.training_kernels.rc_loss_gradient, through
rc.compiled_training.rc_loss_and_gradient) against autograd through rc.loss.rc_loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("numba")

from rc.compiled_training import rc_loss_and_gradient  # noqa: E402
from rc.crossing import SigmoidNotebook, SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary  # noqa: E402
from rc.loss import rc_loss  # noqa: E402

CASES = [(SigmoidThreshold, 5), (SoftmaxThreshold, 5), (TwoSidedBinary, 1), (SigmoidThreshold, 2)]


def autograd_reference(scores: torch.Tensor, targets: torch.Tensor, rule, beta: float) -> tuple[float, torch.Tensor]:
    leaf = scores.double().requires_grad_()
    loss = rc_loss(leaf, targets, rule, beta)
    loss.backward()
    return loss.item(), leaf.grad


@pytest.mark.parametrize("beta", [0.0, 0.3, 2.0])
@pytest.mark.parametrize("rule_class, classes", CASES)
@pytest.mark.parametrize("batch", [1, 9])
def test_loss_and_gradient_equal_autograds(rule_class, classes: int, beta: float, batch: int) -> None:
    generator = torch.Generator().manual_seed(batch + classes)
    scores = torch.randn(batch, classes, generator=generator) * 4
    targets = torch.randint(0, max(classes, 2), (batch,), generator=generator)
    rule = rule_class(0.8)
    loss, gradient = rc_loss_and_gradient(scores.numpy(), targets.numpy(), rule, beta)
    want_loss, want_gradient = autograd_reference(scores, targets, rule, beta)
    assert gradient.dtype == np.float32 and gradient.shape == (batch, classes)
    assert loss == pytest.approx(want_loss, abs=1e-9, rel=1e-9)
    torch.testing.assert_close(torch.from_numpy(gradient).double(), want_gradient, atol=1e-7, rtol=1e-6)


def test_large_scores_give_finite_values() -> None:
    """Scores far past the sigmoid's float range (|s| of hundreds) stay finite, and the gradient of a
    confidently right example vanishes."""
    scores = np.array([[300.0, -300.0, 0.0], [-500.0, 500.0, 0.0]], dtype=np.float32)
    loss, gradient = rc_loss_and_gradient(scores, np.array([0, 1]), SigmoidThreshold(0.9), 0.5)
    assert np.isfinite(loss) and np.isfinite(gradient).all()
    assert np.abs(gradient).max() < 1e-6
    binary, binary_gradient = rc_loss_and_gradient(np.array([[800.0]], np.float32), np.array([0]),
                                                   TwoSidedBinary(0.9), 0.5)
    assert binary == pytest.approx(800.0) and binary_gradient[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("rule, scores, targets, message", [
    (SigmoidNotebook(0.9), np.zeros((2, 3), np.float32), np.array([0, 1]), "no hand-written RC loss gradient"),
    (SigmoidThreshold(0.9), np.zeros((2, 3), np.float32), np.array([0, 3]),
     r"class labels must be whole numbers in \[0, classes\)"),
    (SigmoidThreshold(0.9), np.zeros((2, 3), np.float32), np.array([-1, 0]), r"class labels must be whole numbers"),
    (SigmoidThreshold(0.9), np.zeros((2, 3), np.float32), np.array([0.5, 0]), r"class labels must be whole numbers"),
    (SigmoidThreshold(0.9), np.zeros((2, 3), np.float32), np.array([0]), "targets"),
    (TwoSidedBinary(0.9), np.zeros((2, 3), np.float32), np.array([0, 1]), "exactly 1 output unit"),
    (SoftmaxThreshold(0.9), np.zeros((2, 1), np.float32), np.array([0, 1]), "at least 2 output classes"),
])
def test_bad_input_is_named(rule, scores, targets, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rc_loss_and_gradient(scores, targets, rule, 0.1)


def test_a_negative_beta_is_refused() -> None:
    with pytest.raises(ValueError, match="beta"):
        rc_loss_and_gradient(np.zeros((1, 2), np.float32), np.array([0]), SigmoidThreshold(0.9), -0.1)
