"""pytest-benchmark: one inference step of each built-in contender's network, at batch 1 and 256.

MNIST-shaped spike input (784 features, about 8% active), 128 hidden units,
10 outputs; the step includes the readout and the contender's crossing test,
as early-exit inference runs it (autograd off, so the input is projected event-driven,
:class:`rc.events.ActiveInputs`). Run with ``tox -e bench``.
"""

from __future__ import annotations

import pytest
import torch

from baselines.snn_ttfs import FirstSpike, LIFClassifier
from rc.crossing import SigmoidThreshold
from rc.model import LSTMClassifier

NETWORKS = {
    "lstm (rc-lstm, lstm-eos, lstm-allsteps)": (lambda: LSTMClassifier(784, 128, 10), SigmoidThreshold(0.95)),
    "lif (snn-ttfs)": (lambda: LIFClassifier(784, 128, 10, 0.9, 1.0, 5.0), FirstSpike()),
}


@pytest.mark.parametrize("batch", [1, 256])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_inference_step(benchmark, network: str, batch: int) -> None:
    torch.manual_seed(0)
    build, rule = NETWORKS[network]
    model = build().eval()
    x_t = (torch.rand(batch, 784) < 0.08).float()
    state = model.init_state(batch, x_t.device)

    @torch.no_grad()
    def one_step() -> tuple[torch.Tensor, torch.Tensor]:
        scores, _ = model.step(x_t, state)
        return scores, rule.crossed(scores)

    benchmark.group = f"one inference step, batch {batch}"
    scores, crossed = benchmark(one_step)
    # the timed step computes the first step of the full pass (event-driven input: equal up to rounding)
    with torch.no_grad():
        full = model(x_t[:, None, :])[:, 0]
    assert scores.shape == (batch, 10)
    torch.testing.assert_close(scores, full, rtol=1e-5, atol=1e-5)
    assert torch.equal(crossed, rule.crossed(full))
