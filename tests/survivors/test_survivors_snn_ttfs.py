"""Tests written for the mutants of ``baselines/snn_ttfs.py`` and ``baselines/snn_loss.py`` that survived the
mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from baselines.snn_loss import first_spike_times
from baselines.snn_ttfs import FirstSpike


def test_the_first_spike_rule_has_a_plain_repr() -> None:
    assert repr(FirstSpike()) == "FirstSpike()"


@pytest.mark.parametrize("shape", [(2, 0, 3), (4, 3), (1, 2, 3, 4)])
def test_first_spike_times_refuse_anything_but_a_batch_time_neurons_train_of_at_least_one_step(shape) -> None:
    """A spike train that is not (batch, time, neurons), or has no step, raises a ValueError giving its shape."""
    message = f"spikes must be shaped (batch, time >= 1, neurons), got {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        first_spike_times(torch.zeros(shape))


def test_first_spike_times_of_a_single_step_or_no_neuron() -> None:
    """One step is enough: every neuron's time is step 0, spiking or not (the last step); a layer of no neurons
    gives an empty (batch, 0)."""
    times = first_spike_times(torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]]]))
    assert times.shape == (2, 3) and times.dtype == torch.float32 and times.tolist() == [[0.0] * 3] * 2
    assert first_spike_times(torch.zeros(2, 3, 0)).shape == (2, 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.uint8])
def test_first_spike_times_come_in_the_spike_trains_own_dtype(dtype) -> None:
    """The times are the first spike's step (the last step, 2, for a neuron that never spikes) in the spike
    train's dtype: float64 for a float64 train, and an integer train's own integer type, not int64."""
    spikes = torch.tensor([[[0, 1, 0], [1, 1, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 1]]], dtype=dtype)
    times = first_spike_times(spikes)
    assert times.dtype == dtype and times.tolist() == [[1, 0, 2], [2, 2, 2]]
