"""Tests written for the mutants of ``baselines/snn_family_operations.py`` that survived the mutation run
(issue 17)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from baselines.snn_family import SpikingNetwork
from baselines.snn_family_operations import check_lif, conv_dense_macs, membrane_operations, neuron_count
from rc.operations import OperationCountError

COVERED = {"reset_mechanism": "subtract", "reset_delay": True, "inhibition": False, "state_quant": False,
           "graded_spikes_factor": 1.0}


class Neuron(nn.Module):
    """A stand-in LIF neuron with the attributes the counts check, less ``missing``."""

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        for name, value in COVERED.items():
            if name != missing:
                setattr(self, name, value)


def test_a_neuron_with_every_covered_attribute_passes_the_check() -> None:
    check_lif(Neuron(), "hidden layer")


@pytest.mark.parametrize("missing", sorted(COVERED))
def test_a_neuron_missing_any_checked_attribute_is_not_covered(missing) -> None:
    """An attribute the check cannot find counts as not covered: the error names the layer, it is not an
    AttributeError and the neuron is never taken as covered."""
    with pytest.raises(OperationCountError, match=r"^output layer: counts cover snnTorch Leaky/RLeaky neurons "):
        check_lif(Neuron(missing), "output layer")


def conv_network(**options) -> SpikingNetwork:
    return SpikingNetwork(256, 4, 3, frame_shape=(16, 16), channels=1, **options)


@pytest.mark.parametrize("layer, where", [(0, "convolutional layer 1"), (1, "convolutional layer 2"),
                                          (2, "hidden layer"), (3, "output layer")])
def test_an_uncovered_layer_is_named_in_the_error(layer, where) -> None:
    model = conv_network()
    model.lif_layers()[layer].reset_delay = False
    with pytest.raises(OperationCountError, match=rf"^{where}: counts cover"):
        model.dense_macs_per_step()


def test_a_frozen_learned_decay_costs_no_backward_mac() -> None:
    """Backward MACs count a second MAC per neuron only for a decay that is learned (a parameter with gradient)."""
    fixed = conv_network().backward_macs_per_step()
    learned = conv_network(learn_decay=True)
    assert learned.backward_macs_per_step() == fixed + neuron_count(learned)
    for lif in learned.lif_layers():
        lif.beta.requires_grad_(False)
    assert learned.backward_macs_per_step() == fixed


def test_a_negative_decay_is_clamped_to_zero_and_costs_no_neuron_mac() -> None:
    """snnTorch clamps the decay to [0, 1]; a learned decay pushed below 0 means no ``decay * U`` to compute."""
    torch.manual_seed(0)
    model = SpikingNetwork(6, 5, 3, learn_decay=True, threshold=0.5, output_threshold=0.5)
    x = torch.rand(4, 5, 6)
    assert int(model.operations_per_step(x).neuron_macs.sum()) > 0  # the membranes are not all zero
    with torch.no_grad():
        for lif in model.lif_layers():
            lif.beta.fill_(-0.5)
    counts = model.operations_per_step(x)
    assert counts.neuron_macs.tolist() == [[0] * 5] * 4


def test_membrane_operations_count_nonzero_membranes_with_a_decay_and_spikes_strictly_above_threshold() -> None:
    previous = torch.tensor([[1.0, 0.5, 2.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    decay = torch.tensor([0.9, 0.0, 0.9, 0.9])
    macs, acs = membrane_operations(previous, decay, 1.0)
    assert macs.tolist() == [2, 1] and acs.tolist() == [1, 0]  # exactly at threshold is no spike
    assert macs.dtype == acs.dtype == torch.int64


def test_membrane_operations_move_a_cpu_decay_to_the_membranes_device() -> None:
    """Membranes on another device (meta stands in for an accelerator) with per-neuron decays on the CPU."""
    previous = torch.zeros(2, 4, device="meta")
    macs, acs = membrane_operations(previous, torch.tensor([0.9, 0.0, 0.9, 0.9]), 1.0)
    assert macs.device.type == acs.device.type == "meta" and macs.shape == acs.shape == (2,)


@pytest.mark.parametrize("frame_shape", [(17, 16), (16, 19), (21, 23)])
def test_conv_dense_macs_are_torchs_output_positions_times_the_weights(frame_shape) -> None:
    """Positions before pooling, from the convolutions themselves run on a frame of odd height or width."""
    model = SpikingNetwork(frame_shape[0] * frame_shape[1], 4, 3, frame_shape=frame_shape, channels=2)
    frame = torch.zeros(1, 1, *frame_shape)
    first = model.conv_layers[0](frame)
    second = model.conv_layers[1](model.pool(first))
    macs = conv_dense_macs(model)
    assert macs == [first[0, 0].numel() * 2 * 25, second[0, 0].numel() * 4 * 2 * 25]
    assert all(type(value) is int for value in macs)
