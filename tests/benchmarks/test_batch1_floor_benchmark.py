"""pytest-benchmark: what one example costs at batch 1, against the fused full pass.

The latency target "early exit at batch 1 within 1.5 r of the fused pass"
(r = steps read / T) leaves an example that decides at its first step of
T = 20 a budget of 1.5 / 20 = 7.5% of the fused ``nn.LSTM`` pass. The
benchmarks time, in one group and on the same network and input:

- ``fused full pass``: ``model(x)`` over all 20 steps (the baseline);
- ``early exit, one step``: :func:`rc.inference.early_exit_decide` on an
  input that crosses at step 1 (event-driven input projection);
- ``bare step``: less than any eager step loop can do for one step: one
  ``torch.lstm_cell`` with the input left out (zero input features, as if
  projecting the input cost nothing), the readout and the crossing test,
  with nothing else (no state set-up, no bookkeeping).

``bare step / fused full pass`` above 0.075 means that no eager-PyTorch
early exit can meet the target, whatever its bookkeeping; the difference
between ``early exit, one step`` and ``bare step`` is what the harness's
own bookkeeping costs. Run with ``tox -e bench``.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from rc.crossing import SigmoidThreshold
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier

STEPS, FEATURES, HIDDEN, CLASSES = 20, 784, 128, 10


@pytest.fixture(scope="module")
def network() -> tuple[LSTMClassifier, torch.Tensor]:
    """A 128-unit LSTM classifier and one MNIST-shaped spike sequence ``(1, 20, 784)``, about 8% active."""
    torch.manual_seed(0)
    x = (torch.rand(1, STEPS, FEATURES) < 0.08).float()
    return LSTMClassifier(FEATURES, HIDDEN, CLASSES).eval(), x


@pytest.mark.parametrize("way", ["fused full pass", "early exit, one step", "bare step"])
def test_batch1_example(benchmark, network, way: str) -> None:
    model, x = network
    rule = SigmoidThreshold(1e-4)  # every output is above it: each example decides at its first step
    lstm, readout = model.lstm, model.readout
    zeros = (torch.zeros(1, HIDDEN), torch.zeros(1, HIDDEN))
    no_input, no_input_weight = torch.zeros(1, 0), torch.zeros(4 * HIDDEN, 0)

    def fused() -> bool:
        return bool(rule.crossed(model(x)[:, -1]).any())

    def early_exit() -> bool:
        decision, evaluations = early_exit_decide(model, x, rule)
        assert evaluations == 1
        return bool(decision.crossed.all())

    def bare_step() -> bool:
        h, _ = torch.lstm_cell(no_input, zeros, no_input_weight, lstm.weight_hh_l0, lstm.bias_ih_l0,
                               lstm.bias_hh_l0)
        return bool((torch.sigmoid(functional.linear(h, readout.weight, readout.bias)) > rule.theta).any())

    run = {"fused full pass": fused, "early exit, one step": early_exit, "bare step": bare_step}[way]
    benchmark.group = f"one example at batch 1, T = {STEPS}"
    with torch.no_grad():
        assert benchmark(run)
