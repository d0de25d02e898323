"""Operation counts of :class:`baselines.snn_family.SpikingNetwork` (``snn-conv``, ``snn-recurrent``).

By the rules of :mod:`rc.operations`, the same as :mod:`baselines.snn_operations`
(``snn-ttfs``) and :mod:`rc.lstm_operations` (the convolutional encoder).

At step ``t``, for one example::

    synaptic   conv1 on the frame, conv2 on the conv1 spikes           (with encoder = "conv")
               + ops(v_t, W_hidden)       v_t: the step's features, or the conv2 spikes flattened
               + ops(S^hid_{t-1}, V)      snn-recurrent only: the recurrent synapses
               + ops(S^hid_t, W_out)
    neuron     per LIF layer: MACs #{n: U_{t-1,n} != 0 and decay_n != 0}    (decay*U + I)
                              ACs  #{n: S_{t-1,n} = 1}                      (- S*threshold)

A convolution's effective operations are :func:`rc.lstm_operations.conv_operations`
(each output position reads each non-zero input of its window through each non-zero
weight); a connection's are :func:`rc.operations.connection_operations`; both are ACs
for a vector in {-1, 0, 1} (spikes, a rank-order coded frame), MACs otherwise (real-valued
frames read as input current). The LIF neurons of a convolutional layer sit after its
pooling: ``(channels, h, w)`` of the pooled map. Max pooling and the threshold comparison
are comparisons, not counted; biases are not counted.

Dense, per example and step::

    dense_synaptic = P1 c 25 + P2 2c c 25         (P: the convolution's output positions before pooling)
                     + F_h N + [N N] + N C        (F_h: the hidden layer's inputs; N N: snn-recurrent)
    dense_neuron   = 2 * (every LIF neuron)

Backward, per step evaluation: twice every synaptic layer (gradients to its input and
its weights) less the first layer's input gradient (its input is the data: the first
convolution, or the hidden layer without one), plus one MAC per LIF neuron for the
gradient to ``U`` through the decay (two with ``learn_decay``: also to the decay);
snnTorch detaches the reset, and surrogate-gradient evaluations are not counted, as
in :mod:`rc.operations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from rc.lstm_operations import conv_operations
from rc.operations import (
    OperationCountError,
    OperationCounts,
    check_sequences,
    connection_operations,
    model_device,
    stack_steps,
)

if TYPE_CHECKING:
    from baselines.snn_family import SpikingNetwork


def check_lif(neuron: nn.Module, where: str) -> None:
    """Raise :class:`OperationCountError` unless the counts cover ``neuron``."""
    covered = (getattr(neuron, "reset_mechanism", None) == "subtract" and getattr(neuron, "reset_delay", False)
               and not getattr(neuron, "inhibition", True) and getattr(neuron, "state_quant", True) in (False, None)
               and float(getattr(neuron, "graded_spikes_factor", 0.0)) == 1.0
               and not isinstance(getattr(neuron, "threshold", None), nn.Parameter))
    if not covered:
        raise OperationCountError(
            f"{where}: counts cover snnTorch Leaky/RLeaky neurons with reset by subtraction, delayed reset, "
            f"no inhibition, no state quantisation, unit spikes and a fixed threshold"
        )


def _learns_decay(neuron: nn.Module) -> bool:
    return isinstance(neuron.beta, nn.Parameter) and neuron.beta.requires_grad


def _layers(model: SpikingNetwork) -> list[tuple[str, nn.Module]]:
    names = [f"convolutional layer {k + 1}" for k in range(len(model.conv_lifs))] + ["hidden layer", "output layer"]
    layers = list(zip(names, model.lif_layers()))
    for where, neuron in layers:
        check_lif(neuron, where)
    return layers


def conv_dense_macs(model: SpikingNetwork) -> list[int]:
    """Dense MACs of each convolution for one frame: output positions (before pooling) times weights."""
    return [height * width * conv.weight.numel() for conv, (height, width) in zip(model.conv_layers, model.conv_sizes)]


def neuron_count(model: SpikingNetwork) -> int:
    """Every LIF neuron: convolutional (after pooling), hidden and output."""
    conv = sum(c * h * w for c, h, w in model.conv_shapes)
    return conv + model.fc_hidden.out_features + model.fc_out.out_features


def dense_synaptic_macs(model: SpikingNetwork) -> int:
    """Convolutions, the hidden layer's input (and recurrent) synapses and the output synapses."""
    recurrent = model.lif_hidden.recurrent.weight.numel() if model.recurrent else 0
    return int(sum(conv_dense_macs(model)) + model.fc_hidden.weight.numel() + recurrent + model.fc_out.weight.numel())


def dense_neuron_macs(model: SpikingNetwork) -> int:
    """``2 *`` every LIF neuron: ``decay*U + I`` and ``- S*threshold``."""
    _layers(model)
    return 2 * neuron_count(model)


def dense_macs_per_step(model: SpikingNetwork) -> int:
    """All dense MACs of one step for one example."""
    return dense_synaptic_macs(model) + dense_neuron_macs(model)


def backward_macs_per_step(model: SpikingNetwork) -> int:
    """Dense backward MACs of one step evaluation (see the module docstring)."""
    convs = conv_dense_macs(model)
    first = convs[0] if convs else model.fc_hidden.weight.numel()
    sizes = [c * h * w for c, h, w in model.conv_shapes] + [model.fc_hidden.out_features, model.fc_out.out_features]
    neuron = sum(size * (2 if _learns_decay(lif) else 1) for size, (_, lif) in zip(sizes, _layers(model)))
    return 2 * dense_synaptic_macs(model) - first + neuron


def _decays(neuron: nn.Module) -> Tensor:
    return neuron.beta.detach().clamp(0, 1)


def membrane_operations(previous: Tensor, decay: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """(MACs, ACs) ``(batch,)`` of one LIF layer's update from its membranes ``previous`` ``(batch, ...)``.

    ``decay`` is a scalar or broadcasts against one example's membranes (per neuron or per channel)."""
    nonzero_decay = (decay != 0).to(previous.device)
    macs = ((previous != 0) & nonzero_decay).flatten(1).sum(dim=1)
    return macs.to(torch.int64), (previous > threshold).flatten(1).sum(dim=1).to(torch.int64)


def _synaptic(v: Tensor, layer: nn.Module) -> tuple[Tensor, Tensor]:
    if isinstance(layer, nn.Conv2d):
        return conv_operations(v, layer)
    return connection_operations(v, layer.weight)


@torch.no_grad()
def operations_per_step(model: SpikingNetwork, x: Tensor) -> OperationCounts:
    """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``.

    Runs :meth:`baselines.snn_family.SpikingNetwork.traced_step` (the very step of inference,
    in evaluation mode) and counts what each layer read.
    """
    check_sequences(x, model.n_features)
    layers = _layers(model)
    was_training = model.training
    model.eval()
    try:
        x = x.to(model_device(model), model.fc_out.weight.dtype)
        state = model.init_state(x.shape[0], x.device)
        steps = []
        for t in range(x.shape[1]):
            previous = state
            reads: list[tuple[Tensor, nn.Module]] = []
            _scores, state = model.traced_step(x[:, t], state, reads)
            counts = {name: torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
                      for name in ("synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")}
            for v, layer in reads:
                macs, acs = _synaptic(v, layer)
                counts["synaptic_macs"] += macs
                counts["synaptic_acs"] += acs
            for membrane, (_, lif) in zip(previous, layers):
                macs, acs = membrane_operations(membrane, _decays(lif), float(lif.threshold))
                counts["neuron_macs"] += macs
                counts["neuron_acs"] += acs
            steps.append(counts)
    finally:
        model.train(was_training)
    return stack_steps(steps, dense_synaptic_macs(model), dense_neuron_macs(model))
