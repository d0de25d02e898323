"""Temporal cross-entropy on first-spike times, vectorised.

This is snnTorch's ``snntorch.functional.ce_temporal_loss()`` (default
``inverse="negate"``, ``reduction="mean"``) without its Python loops:

* the *first-spike time* of an output neuron is the 0-based index of the
  first step at which it spikes; a neuron that never spikes gets a "shadow
  spike" at the last step, ``time - 1``;
* the loss is the cross-entropy of the negated first-spike times, so the
  correct neuron is pushed to spike first and the others later:
  ``CE(-t_first, y)``, averaged over the batch;
* spike extraction has no derivative; like snnTorch's ``FirstSpike``, the
  gradient of a first-spike time with respect to the spike train is the sign
  estimator -1 at the first-spike step (the shadow step for a silent neuron)
  and 0 at every other step.

snnTorch's ``FirstSpike`` loops over time in the forward pass and over every
(example, neuron) pair in the backward pass; here both are single tensor
operations with the same values and gradients (``tests/test_snn_ttfs.py``
checks it, ``tests/benchmarks/test_snn_loss_benchmark.py`` times both).
Unlike snnTorch, spike trains are laid out ``(batch, time, neurons)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from rc.crossing import first_crossing


def first_spike_times(spikes: Tensor) -> Tensor:
    """First-spike step of every neuron, with snnTorch's sign-estimator gradient.

    Args:
        spikes: ``(batch, time, neurons)`` spike train, values in {0, 1}
            (any non-zero value counts as a spike, as in snnTorch).

    Returns:
        ``(batch, neurons)`` float, 0-based step index of each neuron's first
        spike, ``time - 1`` for a neuron that never spikes. Its gradient
        with respect to ``spikes[b, t, n]`` is -1 at the returned step and 0
        elsewhere.
    """
    if spikes.dim() != 3 or spikes.shape[1] < 1:
        raise ValueError(f"spikes must be shaped (batch, time >= 1, neurons), got {tuple(spikes.shape)}")
    batch, time, neurons = spikes.shape
    fired = (spikes.detach() != 0).transpose(1, 2).reshape(batch * neurons, time)
    step, _ = first_crossing(fired)
    step = step.reshape(batch, neurons)
    at_step = spikes.gather(1, step.unsqueeze(1)).squeeze(1)
    # Value: the step index exactly; gradient: -1 through the spike at that step.
    return step.to(spikes.dtype) - (at_step - at_step.detach())


def temporal_cross_entropy(spikes: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the negated first-spike times (snnTorch's ``ce_temporal_loss``).

    Args:
        spikes: ``(batch, time, classes)`` output spike train, values in {0, 1}.
        targets: ``(batch,)`` long class labels.

    Returns:
        Scalar loss in nats.
    """
    return F.cross_entropy(-first_spike_times(spikes), targets)
