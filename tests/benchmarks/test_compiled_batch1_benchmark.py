"""pytest-benchmark: one example at batch 1, compiled early exit against eager early exit and the fused pass.

On the network and input of ``test_batch1_floor_benchmark.py`` (a 128-unit LSTM classifier, one
MNIST-shaped spike sequence of T = 20 steps, about 8% of the inputs active per step), with a
threshold at which the example decides at its fifth step (r = 5 / 20), the benchmarks time, in one
group:

- ``fused full pass``: ``model(x)`` over all 20 steps and the crossing rule (the baseline);
- ``eager early exit``: :func:`rc.inference.early_exit_decide`;
- ``compiled early exit``: :meth:`rc.compiled.CompiledDecider.decide_one`, one numba call.

The target is compiled early exit within r = 0.25 of the fused pass (``rcbench latency`` measures
the ratio on a trained network and real digits). Skipped without numba. Run with ``tox -e bench``.
"""

from __future__ import annotations

import pytest
import torch

from rc import compiled
from rc.crossing import SigmoidThreshold, decide
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier

pytestmark = pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba is not installed")

STEPS, FEATURES, HIDDEN, CLASSES, DECIDES_AT = 20, 784, 128, 10, 5


@pytest.fixture(scope="module")
def network() -> tuple[LSTMClassifier, torch.Tensor, SigmoidThreshold]:
    """The network, one input ``(1, 20, 784)`` and a rule under which it decides at step 5 (index 4)."""
    torch.manual_seed(0)
    x = (torch.rand(1, STEPS, FEATURES) < 0.08).float()
    model = LSTMClassifier(FEATURES, HIDDEN, CLASSES).eval()
    with torch.no_grad():
        confidence = torch.sigmoid(model(x)).amax(dim=-1)[0]  # (T,)
    # a theta just under step 4's confidence and above every earlier step's
    rising = torch.cummax(confidence, dim=0).values
    step = next(t for t in range(DECIDES_AT - 1, STEPS) if confidence[t] > rising[t - 1])
    theta = float((confidence[step] + rising[step - 1]) / 2)
    rule = SigmoidThreshold(theta)
    with torch.no_grad():
        assert int(early_exit_decide(model, x, rule)[0].step_index) == step
    return model, x, rule


@pytest.mark.parametrize("way", ["fused full pass", "eager early exit", "compiled early exit"])
def test_one_example_compiled(benchmark, network, way: str) -> None:
    model, x, rule = network
    decider = compiled.compiled_decider(model, rule)
    decider.decide_one(x)  # compiled (or loaded from numba's cache) before timing

    def fused() -> int:
        return int(decide(model(x), rule).step_index)

    def eager() -> int:
        return int(early_exit_decide(model, x, rule)[0].step_index)

    def compiled_exit() -> int:
        return decider.decide_one(x).step_index

    run = {"fused full pass": fused, "eager early exit": eager, "compiled early exit": compiled_exit}[way]
    benchmark.group = f"one example at batch 1, T = {STEPS}, decided at a late step"
    with torch.no_grad():
        assert benchmark(run) >= 0
