"""Operation counts of the LSTM networks of :mod:`rc.model`, by the rules of :mod:`rc.operations`.

LSTM, layer ``l`` at step ``t`` (``x^0_t`` is the input, ``x^l_t = h^{l-1}_t``)::

    synaptic   ops(x^l_t, W_ih^l) + ops(h^l_{t-1}, W_hh^l),   readout ops(h^L_t, W_out)
    neuron     #{k: f_k != 0 and c_{t-1,k} != 0} + #{k: i_k != 0 and g_k != 0}
               + #{k: o_k != 0 and tanh(c_t,k) != 0}           (MACs)

so a latency-coded input x_t in {0, 1} costs ACs, one per spike and non-zero
weight, and a silent step costs none; the recurrent and upper-layer inputs
``h`` are real-valued, so their operations are MACs; ``h_0 = c_0 = 0`` make
the first step's ``W_hh h`` and ``f*c`` free. The activations are measured by
running the cell (not assumed non-zero).
Difference from NeuroBench's ``LSTMCell`` count: NeuroBench labels *all* of
a cell's operations (``W_hh h`` and the cell products too) AC or MAC by its
input ``x`` alone; here each vector read is labelled by itself, so ``W_hh h``
and the products stay MACs under spike input. Totals (MACs + ACs) agree.


Convolutional encoder + LSTM (:class:`rc.model.ConvLSTMClassifier`)
--------------------------------------------------------------------
Each step's frame goes through two 5x5 convolutions (``c`` and ``2c``
channels, each followed by ReLU and 2x2 max pooling) before the LSTM. A
convolution with ``C_in`` input and ``C_out`` output channels, ``k x k``
kernels and ``P`` output positions costs ``P C_out C_in k k`` dense MACs;
effectively, each output reads the non-zero inputs of its window through the
non-zero weights (the same rule as a connection), summed over outputs and
channels: ACs when the convolution's input is spike-like ({-1, 0, 1}, the
latency-coded frame), MACs otherwise (the pooled ReLU activations). The LSTM
is counted as above on the encoded features (real-valued: MACs). Pooling and
ReLU are comparisons, not counted. Backward: the second convolution and the
LSTM's input send gradients back (2x their forward), the first convolution
only to its weights (1x, its input is the data).

"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional

from rc.convolution import conv_output_size
from rc.operations import (
    OperationCountError,
    OperationCounts,
    check_sequences,
    connection_operations,
    is_spike_like,
    model_device,
    product_operations,
    stack_steps,
)

if TYPE_CHECKING:
    from rc.model import ConvEncoder, ConvLSTMClassifier, LSTMClassifier


# --- LSTM ----------------------------------------------------------------------------------

def _lstm_layers(model: LSTMClassifier) -> list[tuple[Tensor, Tensor, Tensor | None, Tensor | None]]:
    """``(W_ih, W_hh, b_ih, b_hh)`` per layer; raises for LSTM variants these counts do not cover."""
    lstm = model.lstm
    if lstm.bidirectional or lstm.proj_size != 0:
        raise OperationCountError("operation counts cover unidirectional LSTMs without projections")
    return [(getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}"),
             getattr(lstm, f"bias_ih_l{k}", None), getattr(lstm, f"bias_hh_l{k}", None))
            for k in range(lstm.num_layers)]


def lstm_dense_synaptic_macs(model: LSTMClassifier) -> int:
    """``sum_l 4 H (F_l + H) + H C``: dense gate and readout MACs per example and step."""
    gates = sum(w_ih.shape[0] * (w_ih.shape[1] + w_hh.shape[1]) for w_ih, w_hh, _, _ in _lstm_layers(model))
    return int(gates + model.readout.weight.numel())


def lstm_dense_neuron_macs(model: LSTMClassifier) -> int:
    """``3 H L``: the cell products ``f*c``, ``i*g``, ``o*tanh(c)`` per example and step."""
    return 3 * model.hidden * model.layers


def lstm_dense_macs_per_step(model: LSTMClassifier) -> int:
    """All dense MACs of one step for one example."""
    return lstm_dense_synaptic_macs(model) + lstm_dense_neuron_macs(model)


def lstm_backward_macs_per_step(model: LSTMClassifier) -> int:
    """Dense backward MACs of one step evaluation: ``2 synaptic - 4 H F + 2 * 3 H L``."""
    first_input = _lstm_layers(model)[0][0].numel()
    return 2 * lstm_dense_synaptic_macs(model) - first_input + 2 * lstm_dense_neuron_macs(model)


@dataclass(frozen=True)
class CellActivations:
    """One LSTM cell step, each ``(batch, H)``: gates ``i, f, g, o``, new ``c``, ``tanh(c)`` and new ``h``."""

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    tanh_c: Tensor
    h: Tensor


def lstm_cell_activations(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor,
                          b_ih: Tensor | None, b_hh: Tensor | None) -> CellActivations:
    """``torch.lstm_cell``'s arithmetic with the gates kept: ``x`` ``(batch, F)``, ``h, c`` ``(batch, H)``."""
    gates = functional.linear(x, w_ih, b_ih) + functional.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    tanh_c = torch.tanh(c_new)
    return CellActivations(i, f, g, o, c_new, tanh_c, o * tanh_c)


@torch.no_grad()
def lstm_operations_per_step(model: LSTMClassifier, x: Tensor) -> OperationCounts:
    """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``.

    Runs the cell step by step (the same weights and arithmetic as
    :meth:`rc.model.LSTMClassifier.step`) to see which activations are zero.
    """
    check_sequences(x, model.n_features)
    layers = _lstm_layers(model)
    x = x.to(model_device(model), model.readout.weight.dtype)
    state = model.init_state(x.shape[0], x.device)
    steps = []
    for t in range(x.shape[1]):
        counts = {name: torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
                  for name in ("synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")}
        layer_input, new_state = x[:, t], []
        for (w_ih, w_hh, b_ih, b_hh), (h, c) in zip(layers, state):
            for v, w in ((layer_input, w_ih), (h, w_hh)):
                macs, acs = connection_operations(v, w)
                counts["synaptic_macs"] += macs
                counts["synaptic_acs"] += acs
            cell = lstm_cell_activations(layer_input, h, c, w_ih, w_hh, b_ih, b_hh)
            counts["neuron_macs"] += (product_operations(cell.f, c) + product_operations(cell.i, cell.g)
                                      + product_operations(cell.o, cell.tanh_c))
            new_state.append((cell.h, cell.c))
            layer_input = cell.h
        macs, acs = connection_operations(layer_input, model.readout.weight)
        counts["synaptic_macs"] += macs
        counts["synaptic_acs"] += acs
        state = tuple(new_state)
        steps.append(counts)
    return stack_steps(steps, lstm_dense_synaptic_macs(model), lstm_dense_neuron_macs(model))


# --- convolutional encoder + LSTM ------------------------------------------------------------

def conv_dense_macs(convolution: nn.Conv2d, output_positions: int) -> int:
    """``P C_out C_in k_h k_w``: dense MACs of ``convolution`` over ``output_positions`` positions."""
    return int(output_positions * convolution.weight.numel())


def encoder_dense_macs(encoder: ConvEncoder) -> tuple[int, int]:
    """Dense MACs of the encoder's first and second convolution for one frame."""
    (h1, w1), (h2, w2) = encoder.conv_sizes
    return conv_dense_macs(encoder.conv1, h1 * w1), conv_dense_macs(encoder.conv2, h2 * w2)


def conv_operations(v: Tensor, convolution: nn.Conv2d) -> tuple[Tensor, Tensor]:
    """Effective (MACs, ACs) per example of ``convolution`` on ``v`` ``(batch, C_in, H, W)``.

    Every output position and channel reads each non-zero input of its window through a
    non-zero weight once: the convolution of the non-zero masks of ``v`` and of the weights,
    summed. ACs for an example whose every input is in {-1, 0, 1}, MACs otherwise.
    """
    if v.dim() != 4 or v.shape[1] != convolution.in_channels:
        raise OperationCountError(f"a convolution with {convolution.in_channels} input channels needs inputs "
                                  f"(batch, {convolution.in_channels}, H, W), got {tuple(v.shape)}")
    if convolution.padding_mode != "zeros" or isinstance(convolution.padding, str):
        raise OperationCountError(f"operations are counted for zero padding of a given size, got padding="
                                  f"{convolution.padding!r} with padding_mode={convolution.padding_mode!r}")
    # A per-example count is at most (output positions) x (weights); float32 holds every integer
    # below 2**24 exactly and is several times faster than float64, which larger layers fall back to.
    positions = math.prod(conv_output_size(convolution, v.shape[2:]))
    dtype = torch.float32 if positions * convolution.weight.numel() < 2 ** 24 else torch.float64
    reads = functional.conv2d((v != 0).to(dtype), (convolution.weight != 0).to(dtype),
                              stride=convolution.stride, padding=convolution.padding,
                              dilation=convolution.dilation, groups=convolution.groups)
    ops = reads.sum(dim=(1, 2, 3)).round().to(torch.int64)
    spikes = is_spike_like(v.flatten(1))
    zero = torch.zeros_like(ops)
    return torch.where(spikes, zero, ops), torch.where(spikes, ops, zero)


def conv_lstm_dense_macs_per_step(model: ConvLSTMClassifier) -> int:
    """Dense MACs of one step: both convolutions and the LSTM on the encoded features."""
    return sum(encoder_dense_macs(model.encoder)) + lstm_dense_macs_per_step(model.recurrent)


def conv_lstm_backward_macs_per_step(model: ConvLSTMClassifier) -> int:
    """Dense backward MACs of one step evaluation: the LSTM's (with the gradient to its input,
    ``4 H F``, since it feeds the encoder), twice the second convolution, once the first."""
    first, second = encoder_dense_macs(model.encoder)
    lstm_input = _lstm_layers(model.recurrent)[0][0].numel()
    return lstm_backward_macs_per_step(model.recurrent) + lstm_input + 2 * second + first


CONV_CHUNK = 1024
"""Frames per convolution count: bounds the masks to a few tens of megabytes."""


@torch.no_grad()
def conv_lstm_operations_per_step(model: ConvLSTMClassifier, x: Tensor) -> OperationCounts:
    """Operations of every example at every step of ``x`` ``(batch, time, height * width)``: ``(batch, time)``."""
    check_sequences(x, model.n_features)
    x = x.to(model_device(model), model.recurrent.readout.weight.dtype)
    batch, time, _ = x.shape
    encoded = torch.empty(batch, time, model.encoder.out_features, device=x.device, dtype=x.dtype)
    conv_macs = torch.zeros(batch, time, dtype=torch.int64)
    conv_acs = torch.zeros(batch, time, dtype=torch.int64)
    for t in range(time):
        for start in range(0, batch, CONV_CHUNK):
            rows = slice(start, start + CONV_CHUNK)
            frames, first, encoded[rows, t] = model.encoder.stages(x[rows, t])
            for v, convolution in ((frames, model.encoder.conv1), (first, model.encoder.conv2)):
                macs, acs = conv_operations(v, convolution)
                conv_macs[rows, t] += macs.cpu()
                conv_acs[rows, t] += acs.cpu()
    recurrent = lstm_operations_per_step(model.recurrent, encoded)
    dense = sum(encoder_dense_macs(model.encoder))
    return OperationCounts(recurrent.dense_synaptic_macs + dense, recurrent.dense_neuron_macs,
                           recurrent.synaptic_macs + conv_macs, recurrent.synaptic_acs + conv_acs,
                           recurrent.neuron_macs, recurrent.neuron_acs)
