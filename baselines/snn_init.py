"""Data-driven initialisation of a spiking network: start every layer near its threshold.

A LIF network with PyTorch's default initialisation and a threshold of the order of one
starts almost silent: few neurons of the first layer fire and the others not at all, so
the surrogate gradients are small and training barely moves (docs/spiking-contenders.md,
row M1). Fluctuation-driven initialisation (Rossbroich, Gygax & Zenke 2022) sets the
weights so that each layer's membrane fluctuates at a chosen distance from its threshold;
layer-sequential unit-variance initialisation (LSUV, Mishkin & Matas 2016) does the same
for a conventional network by rescaling one layer after the other on a batch of data.

:func:`scale_to_first_step_currents` is the simple form both share, for the first step of
:class:`baselines.snn_family.SpikingNetwork`: one layer after the other (the convolutions,
then the hidden layer's input synapses), rescale the weights and zero the biases so that
the layer's input current on the first step of a batch of training examples has standard
deviation ``target x threshold``; the next layer is then measured on the spikes this layer
now emits. The recurrent synapses (zero input at the first step) and the output layer keep
PyTorch's initialisation. No library offers this for snnTorch layers, hence the few lines.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


@torch.no_grad()
def scale_to_first_step_currents(network: nn.Module, first_step: Tensor, target: float) -> list[float]:
    """Rescale ``network``'s synapses so each layer's first-step current has std ``target x threshold``.

    Args:
        network: a :class:`baselines.snn_family.SpikingNetwork` (its ``conv_layers``,
            ``conv_lifs``, ``pool``, ``frame_shape``, ``fc_hidden`` and ``lif_hidden`` are read).
        first_step: the first step of a batch of training examples, ``(batch, features)``.
        target: the current's standard deviation in units of the layer's threshold (> 0).

    Returns:
        The fraction of neurons that fire on ``first_step`` after the rescaling, per rescaled
        layer in order (convolutional layers, then the hidden layer).

    Raises:
        ValueError: if ``target`` is not positive, ``first_step`` is not ``(batch >= 2, features)``
            or a layer's current does not vary over the batch (its scale is then undefined).
    """
    if not target > 0:
        raise ValueError(f"target must be > 0, got {target!r}")
    if first_step.dim() != 2 or first_step.shape[0] < 2 or first_step.shape[1] != network.n_features:
        raise ValueError(f"first_step must be shaped (batch >= 2, {network.n_features}), got {tuple(first_step.shape)}")
    rates = []
    layer_input = first_step
    if network.frame_shape is not None:
        layer_input = first_step.reshape(first_step.shape[0], 1, *network.frame_shape)
        for conv, lif in zip(network.conv_layers, network.conv_lifs):
            layer_input = _rescale(conv, lambda v: network.pool(conv(v)), layer_input, float(lif.threshold), target)
            rates.append(float(layer_input.mean()))
        layer_input = layer_input.flatten(1)
    spikes = _rescale(network.fc_hidden, network.fc_hidden, layer_input, float(network.lif_hidden.threshold), target)
    rates.append(float(spikes.mean()))
    return rates


def _rescale(synapses: nn.Module, current_of: Callable[[Tensor], Tensor], layer_input: Tensor,
             threshold: float, target: float) -> Tensor:
    """Zero ``synapses``' bias, scale its weight so ``current_of(layer_input)`` has standard
    deviation ``target x threshold``, and return the spikes (0/1, float) that current then causes
    in neurons at rest: ``current > threshold``."""
    synapses.bias.zero_()
    spread = float(current_of(layer_input).std())
    if not spread > 0:
        raise ValueError(f"the first-step current of {synapses} does not vary over the batch; "
                         f"cannot scale it (is the first step all zeros?)")
    synapses.weight.mul_(target * threshold / spread)
    return (current_of(layer_input) > threshold).to(layer_input.dtype)
