"""pytest-benchmark: one RC training step at batch 1 on a small LSTM, against its floor in autograd.

The training target "truncated / naive <= 1.5 r" (r = steps read / T) leaves a
batch-1 step that decides at step T/4 of T = 20 a budget of 1.5 x 0.25 =
0.375 of the naive step. The benchmarks time, in one group and on the same
16-unit trigger model of ``rcbench speed`` (:func:`bench.measure.speed.trigger_case`,
decision at step 5 of 20):

- ``naive step``: :func:`rc.training.naive_rc_step` (the fused ``nn.LSTM`` over
  all 20 steps) and its backward pass (the baseline);
- ``truncated step``: :func:`rc.training.truncated_rc_step` (at this size the
  compiled path, :mod:`rc.compiled_training`) and its backward pass, the loss in autograd;
- ``truncated step, loss by hand``: the same with ``autograd=False``, as ``rc-lstm`` trains:
  one compiled call for the forward kernel, the loss's gradient and the backward kernel, and
  no autograd graph at all (:func:`rc.compiled_training.compiled_rc_loss`);
- ``loss floor``: only :func:`rc.loss.rc_loss` of given scores at the decision
  (a leaf tensor) and its backward pass: no network at all, what every step
  whose loss is a torch graph pays at least;
- ``function floor``: the loss floor with the scores coming out of an
  ``autograd.Function`` of the model's parameters that computes nothing
  (forward returns the given scores, backward zero gradients): what the
  compiled path's design pays at least, its kernels aside.

``loss floor / naive step`` near or above 0.375 means that no step that
leaves the RC loss to torch's autograd can meet the target at this size,
however cheap its network pass; ``truncated step - function floor`` is what
the compiled forward and backward kernels and their data handling cost, and
``truncated step, loss by hand`` what is left without autograd. Run with
``tox -e bench``.
"""

from __future__ import annotations

import pytest
import torch

from bench.measure.speed import trigger_case
from rc.loss import rc_loss
from rc.training import naive_rc_step, truncated_rc_step

STEPS, HIDDEN, DECISION = 20, 16, 4


@pytest.fixture(scope="module")
def case():
    """The trigger model, one input ``(1, 20, features)``, its label and rule; it decides at step 5 of 20."""
    model, x, y, rule = trigger_case(HIDDEN, torch.tensor([DECISION]), STEPS)
    return model.train(), x, y, rule


class GivenScores(torch.autograd.Function):
    """``apply(scores, *parameters)``: the given scores, with zero gradients for the parameters."""

    @staticmethod
    def forward(ctx, scores, *parameters):
        ctx.shapes = [p.shape for p in parameters]
        return scores.clone()

    @staticmethod
    def backward(ctx, grad):
        return None, *(grad.new_zeros(shape) for shape in ctx.shapes)


@pytest.mark.parametrize("way", ["naive step", "truncated step", "truncated step, loss by hand", "loss floor",
                                 "function floor"])
def test_batch1_training_step(benchmark, case, way: str) -> None:
    model, x, y, rule = case
    scores = model(x)[:, DECISION].detach()
    parameters = list(model.parameters())

    def step(rc_step, *autograd: bool) -> int:
        model.zero_grad(set_to_none=True)
        result = rc_step(model, x, y, rule, 0.0, *autograd)
        result.backward()
        return int(result.decision.step_index[0])

    def loss_floor() -> int:
        leaf = scores.clone().requires_grad_(True)
        rc_loss(leaf, y, rule, 0.0).backward()
        return DECISION if leaf.grad is not None else -1

    def function_floor() -> int:
        model.zero_grad(set_to_none=True)
        rc_loss(GivenScores.apply(scores, *parameters), y, rule, 0.0).backward()
        return DECISION if all(p.grad is not None for p in parameters) else -1

    run = {"naive step": lambda: step(naive_rc_step), "truncated step": lambda: step(truncated_rc_step),
           "truncated step, loss by hand": lambda: step(truncated_rc_step, False),
           "loss floor": loss_floor, "function floor": function_floor}[way]
    benchmark.group = f"one RC training step at batch 1, H = {HIDDEN}, T = {STEPS}, decision at step {DECISION + 1}"
    assert benchmark(run) == DECISION
