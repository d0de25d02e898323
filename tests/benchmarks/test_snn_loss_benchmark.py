"""pytest-benchmark: snnTorch's ``ce_temporal_loss`` against the vectorised one, forward + backward.

Run with ``tox -e bench`` (or ``pytest --benchmark-only tests/benchmarks``).
Both get the same spike train (batch 256, 20 steps, 10 output neurons, about
one (example, neuron) pair in eight silent); the group table shows the speedup.
snnTorch's first-spike helper loops over time in the forward pass and over
every (example, neuron) pair in the backward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import snntorch.functional as SF
import torch

from baselines.snn_loss import temporal_cross_entropy

BATCH, TIME, CLASSES = 256, 20, 10


def snntorch_loss(spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """snnTorch's loss on our (batch, time, classes) layout (it expects (time, batch, classes))."""
    return SF.ce_temporal_loss()(spikes.transpose(0, 1), targets.clone())


@pytest.fixture(scope="module")
def spike_case() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    spikes = (torch.rand(BATCH, TIME, CLASSES, generator=generator) < 0.1).float()  # 0.9 ** 20: 12% silent
    targets = torch.randint(0, CLASSES, (BATCH,), generator=generator)
    return spikes, targets


@pytest.mark.parametrize("loss_fn", [snntorch_loss, temporal_cross_entropy], ids=["snntorch", "vectorised"])
def test_temporal_loss_forward_backward(benchmark, spike_case, loss_fn: Callable) -> None:
    spikes, targets = spike_case

    def forward_backward() -> float:
        leaf = spikes.clone().requires_grad_(True)
        loss = loss_fn(leaf, targets)
        loss.backward()
        return float(loss.detach())

    benchmark.group = f"temporal cross-entropy, forward + backward, batch {BATCH}, T {TIME}, {CLASSES} classes"
    loss = benchmark(forward_backward)
    assert loss == pytest.approx(float(snntorch_loss(spikes, targets)), abs=1e-6)
