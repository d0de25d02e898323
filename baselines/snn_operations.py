"""Operation counts of the LIF network of :mod:`baselines.snn_ttfs`, by the rules of :mod:`rc.operations`.

LIF network at step ``t``::

    synaptic   ops(x_t, W_1) + ops(S^hid_t, W_2)         (S in {0, 1}: ACs)
    neuron     MACs: #{n: U_{t-1,n} != 0} (decay*U + I; none when decay = 0)
               ACs:  #{n: S_{t-1,n} = 1}   (the reset subtracts the threshold)

for the hidden and the output layer, with ``U`` the membrane before reset (the
model's state) and ``S_{t-1} = U_{t-1} > threshold``. NeuroBench does not
count membrane updates as synaptic operations: its ``MembraneUpdates`` counts
changed membranes and ``NeuronOperations`` charges 4 generic operations per
``Leaky`` update; here they are MACs and ACs like the LSTM's cell products,
so that both kinds of network are charged for their state updates.

"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from rc.operations import (
    OperationCountError,
    OperationCounts,
    check_sequences,
    connection_operations,
    model_device,
    stack_steps,
)

if TYPE_CHECKING:
    from baselines.snn_ttfs import LIFClassifier


# --- LIF network ---------------------------------------------------------------------------

def _lif_parameters(neuron: nn.Module, where: str) -> tuple[float, float]:
    """``(decay, threshold)`` of an snnTorch ``Leaky`` these counts cover; raises otherwise."""
    covered = (getattr(neuron, "reset_mechanism", None) == "subtract" and getattr(neuron, "reset_delay", False)
               and not getattr(neuron, "inhibition", True) and getattr(neuron, "state_quant", True) in (False, None)
               and float(getattr(neuron, "graded_spikes_factor", 0.0)) == 1.0)
    if not covered:
        raise OperationCountError(
            f"{where}: counts cover snnTorch Leaky neurons with reset by subtraction, delayed reset, "
            f"no inhibition, no state quantisation and unit spikes"
        )
    return float(neuron.beta.clamp(0, 1)), float(neuron.threshold)


def _learns_decay(neuron: nn.Module) -> bool:
    return isinstance(neuron.beta, nn.Parameter) and neuron.beta.requires_grad


def snn_dense_synaptic_macs(model: LIFClassifier) -> int:
    """``F N + N C``: the two Linear layers per example and step."""
    return int(model.fc_hidden.weight.numel() + model.fc_out.weight.numel())


def snn_dense_neuron_macs(model: LIFClassifier) -> int:
    """``2 (N + C)``: ``decay*U + I`` and ``- S*threshold`` for every neuron, per example and step."""
    _lif_parameters(model.lif_hidden, "hidden layer")
    _lif_parameters(model.lif_out, "output layer")
    return 2 * (model.fc_hidden.out_features + model.fc_out.out_features)


def snn_dense_macs_per_step(model: LIFClassifier) -> int:
    """All dense MACs of one step for one example."""
    return snn_dense_synaptic_macs(model) + snn_dense_neuron_macs(model)


def snn_backward_macs_per_step(model: LIFClassifier) -> int:
    """Dense backward MACs of one step evaluation: ``2 (F N + N C) - F N + (N + C)`` (fixed decay)."""
    neuron = sum(layer.out_features * (2 if _learns_decay(lif) else 1)
                 for layer, lif in ((model.fc_hidden, model.lif_hidden), (model.fc_out, model.lif_out)))
    return 2 * snn_dense_synaptic_macs(model) - model.fc_hidden.weight.numel() + neuron


def _membrane_operations(previous: Tensor, decay: float, threshold: float) -> tuple[Tensor, Tensor]:
    """(MACs, ACs) ``(batch,)`` of one LIF layer's update from its membranes ``previous`` ``(batch, n)``."""
    macs = (previous != 0).sum(dim=1) if decay != 0 else torch.zeros(previous.shape[0], device=previous.device)
    return macs.to(torch.int64), (previous > threshold).sum(dim=1).to(torch.int64)


@torch.no_grad()
def snn_operations_per_step(model: LIFClassifier, x: Tensor) -> OperationCounts:
    """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``.

    Runs :meth:`baselines.snn_ttfs.LIFClassifier.step` and reads the hidden
    spikes from its membranes with the neuron's own ``fire``.
    """
    check_sequences(x, model.n_features)
    hidden_decay, hidden_threshold = _lif_parameters(model.lif_hidden, "hidden layer")
    out_decay, out_threshold = _lif_parameters(model.lif_out, "output layer")
    x = x.to(model_device(model), model.fc_out.weight.dtype)
    state = model.init_state(x.shape[0], x.device)
    steps = []
    for t in range(x.shape[1]):
        previous_hidden, previous_out = state
        _scores, state = model.step(x[:, t], state)
        spikes = model.lif_hidden.fire(state[0])
        in_macs, in_acs = connection_operations(x[:, t], model.fc_hidden.weight)
        out_macs, out_acs = connection_operations(spikes, model.fc_out.weight)
        hidden_macs, hidden_acs = _membrane_operations(previous_hidden, hidden_decay, hidden_threshold)
        output_macs, output_acs = _membrane_operations(previous_out, out_decay, out_threshold)
        steps.append({"synaptic_macs": in_macs + out_macs, "synaptic_acs": in_acs + out_acs,
                      "neuron_macs": hidden_macs + output_macs, "neuron_acs": hidden_acs + output_acs})
    return stack_steps(steps, snn_dense_synaptic_macs(model), snn_dense_neuron_macs(model))
