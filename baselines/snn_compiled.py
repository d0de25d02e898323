"""The compiled batch-1 early exit of ``snn-ttfs``'s :class:`baselines.snn_ttfs.LIFClassifier`.

Importing this module registers, with :mod:`rc.compiled`, the network's
program (the ``lif`` kernel: two snnTorch ``Leaky`` layers with reset by
subtraction, event-driven) and its ``first-spike`` rule (crossed at any score
> 0, the prediction the argmax of the scores). Networks whose neurons are set
up otherwise (another reset, inhibition, state quantisation, graded spikes,
no reset delay) are not compiled: :func:`rc.compiled.compiled_decider` gives
None for them and the eager path decides.
"""

from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from torch import nn

from baselines.snn_ttfs import FirstSpike, LIFClassifier
from rc.compiled import ANY_POSITIVE, Program, as_array, register_compiled_model, register_compiled_rule


def _neuron_arrays(neuron: snn.Leaky, size: int) -> tuple[np.ndarray, np.ndarray] | str:
    """``(decay, threshold)`` of a ``Leaky`` layer of ``size`` neurons as float32 arrays (the decay
    clamped to [0, 1] as ``Leaky`` does), or why the layer is not compiled."""
    if neuron.reset_mechanism != "subtract" or not neuron.reset_delay:
        return "only reset by subtraction with the reset delay (snnTorch's default) is compiled"
    if neuron.inhibition or neuron.state_quant or neuron.init_hidden:
        return "inhibition, state quantisation and init_hidden are not compiled"
    if not torch.all(neuron.graded_spikes_factor == 1):
        return "graded spikes are not compiled"
    decay = torch.broadcast_to(neuron.beta.detach().clamp(0, 1), (size,))
    threshold = torch.broadcast_to(neuron.threshold.detach(), (size,))
    return as_array(decay), as_array(threshold)


def lif_program(model: nn.Module) -> Program | str:
    """The ``lif`` kernel's arrays: feature-major input weights ``(F, hidden)`` and bias, the hidden
    layer's decay and threshold, output weights ``(hidden, classes)`` and bias, the output layer's
    decay and threshold."""
    assert isinstance(model, LIFClassifier)
    hidden, outputs = model.fc_hidden.out_features, model.fc_out.out_features
    first = _neuron_arrays(model.lif_hidden, hidden)
    second = _neuron_arrays(model.lif_out, outputs)
    for layer in (first, second):
        if isinstance(layer, str):
            return layer
    arrays = (as_array(model.fc_hidden.weight.t()), as_array(model.fc_hidden.bias), *first,
              as_array(model.fc_out.weight.t()), as_array(model.fc_out.bias), *second)
    sources = (*model.parameters(), model.lif_hidden.beta, model.lif_hidden.threshold, model.lif_out.beta,
               model.lif_out.threshold)
    return Program("lif", arrays, sources, model.n_features, outputs)


register_compiled_model(LIFClassifier, lif_program)
register_compiled_rule(FirstSpike, ANY_POSITIVE)
