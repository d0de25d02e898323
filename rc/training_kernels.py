"""The numba kernels of :mod:`rc.compiled_training`: truncated RC training of a plain LSTM, forward and backward.

Imported by :func:`rc.compiled_training.training_kernels` on first use only (it imports numba).
The forward kernel runs each example of a batch step by step, one example after the other,
applies the linear readout and the crossing rule after each step (:func:`rc.compiled_kernels.crossed`,
the rule encoding of :mod:`rc.compiled`) and stops the example at its decision step ``d``
(its first crossing, else the last step): no step after ``d`` is computed. It keeps what the
backward pass needs of every step it computed, packed example after example (example ``b``'s
step ``t`` in row ``offsets[b] + t``): the activated gates, the cell state and its tanh (the
hidden state is recomputed from them as ``o * tanh(c)``, the very product the forward pass took).
The backward kernel is backpropagation through time by hand from the gradient of the loss at
each example's scores at its decision, through the readout to the top-layer hidden state there.

The LSTM's weights are passed as tuples with one array per layer, in ``nn.LSTM``'s layout
(``weight_ih_l{k}`` ``(4H, inputs)``, ``weight_hh_l{k}`` ``(4H, H)``, biases ``(4H,)``; gates in
PyTorch's order i, f, g, o); every product reads them in that layout, along contiguous rows,
except layer 0's input weights, which both kernels read feature-major (a copy ``(inputs, 4H)``) so
that a silent input feature costs nothing. Everything is float32. The gates' sigmoid and tanh and
the cell's tanh are a rational approximation of tanh (:func:`activate`; within 3.5e-7 of the exact value), which
the compiler vectorizes: the float64 ``exp`` of :mod:`rc.compiled_kernels` (one call per value)
took most of the forward pass's time. The crossing test on the readout is
:func:`rc.compiled_kernels.crossed`, as in early-exit inference.
"""

from __future__ import annotations

import numpy as np

from rc.compiled_kernels import (ONE, ZERO, _njit, _vectorized, activate, add_active_rows, crossed, gate_scales,
                                 predict, rational_tanh)


@_vectorized()
def update_cell(gates, c, cells, tanh_cells, h):
    """One step of the cell from its activated gates ``(4H,)``: ``c`` ``(H,)`` in place, its copy and tanh
    into ``cells`` and ``tanh_cells``, the hidden state into ``h``."""
    hidden = c.shape[0]
    for j in range(hidden):
        c[j] = gates[hidden + j] * c[j] + gates[j] * gates[2 * hidden + j]
        cells[j] = c[j]
        tanh_cells[j] = rational_tanh(c[j])
        h[j] = gates[3 * hidden + j] * tanh_cells[j]


@_vectorized("reassoc")
def add_products(out, weight, column):
    """``out += weight @ column`` (``weight`` ``(n, K)`` in ``nn.LSTM``'s layout, rows contiguous), each sum in
    any order (vectorized)."""
    for m in range(out.shape[0]):
        total = ZERO
        for k in range(column.shape[0]):
            total += weight[m, k] * column[k]
        out[m] += total


@_njit
def summed_biases(b_ih, b_hh):
    """``bias_ih + bias_hh`` of every layer, ``(L, 4H)``."""
    bias = np.empty((len(b_ih), b_ih[0].shape[0]), dtype=np.float32)
    for layer in range(len(b_ih)):
        bias[layer] = b_ih[layer] + b_hh[layer]
    return bias


@_njit
def lstm_truncated_forward(x, w_ih, w_hh, b_ih, b_hh, readout, readout_bias, test, theta, low):
    """Every example of ``x`` (B, T, F) up to its decision step, one after the other.

    ``readout`` is ``(C, H)`` and ``readout_bias`` ``(C,)`` (``nn.Linear``'s layout). Returns
    ``(gates, cells, tanh_cells, offsets, step, hit, prediction, top, scores)``: the activated gates
    ``(N, L, 4H)``, cell states ``(N, L, H)`` and their tanh ``(N, L, H)`` of the ``N = sum(step + 1)``
    steps computed, packed (example ``b``'s step ``t`` at row ``offsets[b] + t``); each example's
    decision step, whether it crossed and the rule's prediction from its scores there ``(B,)``; its
    top-layer hidden state ``(B, H)`` and its scores ``(B, C)`` at the decision.
    """
    batch, time = x.shape[0], x.shape[1]
    first = np.ascontiguousarray(w_ih[0].T)  # feature-major: a silent input feature's row is skipped
    bias = summed_biases(b_ih, b_hh)
    layers, width, hidden = len(w_hh), w_hh[0].shape[0], w_hh[0].shape[1]
    weights_out = np.ascontiguousarray(readout.T)
    gates = np.empty((batch * time, layers, width), dtype=np.float32)
    cells = np.empty((batch * time, layers, hidden), dtype=np.float32)
    tanh_cells = np.empty((batch * time, layers, hidden), dtype=np.float32)
    offsets = np.empty(batch, dtype=np.int64)
    step = np.empty(batch, dtype=np.int64)
    hit = np.empty(batch, dtype=np.bool_)
    prediction = np.empty(batch, dtype=np.int64)
    top = np.empty((batch, hidden), dtype=np.float32)
    decided = np.empty((batch, readout.shape[0]), dtype=np.float32)
    h = np.empty((layers, hidden), dtype=np.float32)
    c = np.empty((layers, hidden), dtype=np.float32)
    scores = np.empty(readout.shape[0], dtype=np.float32)
    scale, shift = gate_scales(hidden)
    row = 0
    for b in range(batch):
        offsets[b] = row
        h[:] = ZERO
        c[:] = ZERO
        for t in range(time):
            for layer in range(layers):
                g = gates[row, layer]
                g[:] = bias[layer]
                if layer == 0:
                    add_active_rows(g, x[b, t], first)
                else:
                    add_products(g, w_ih[layer], h[layer - 1])
                if t > 0:  # h = 0 before step 0: no recurrent product there
                    add_products(g, w_hh[layer], h[layer])
                activate(g, scale, shift)
                update_cell(g, c[layer], cells[row, layer], tanh_cells[row, layer], h[layer])
            scores[:] = readout_bias
            add_active_rows(scores, h[layers - 1], weights_out)
            row += 1
            crossing = crossed(scores, test, theta, low)
            if crossing or t == time - 1:
                step[b], hit[b], prediction[b] = t, crossing, predict(scores, test)
                top[b] = h[layers - 1]
                decided[b] = scores
                break
    return gates[:row], cells[:row], tanh_cells[:row], offsets, step, hit, prediction, top, decided


@_njit
def hidden_state(out, gates, tanh_cells):
    """``out = o * tanh(c)`` from a step's activated gates ``(4H,)`` and tanh of its cell ``(H,)``."""
    hidden = out.shape[0]
    for j in range(hidden):
        out[j] = gates[3 * hidden + j] * tanh_cells[j]


@_njit
def add_scaled_rows(out, row, column):
    """``out += row[:, None] * column[None, :]`` (``out`` ``(n, K)``: a weight's gradient), skipping zero
    entries of ``row`` (an input spike train's silent features, say)."""
    for m in range(row.shape[0]):
        value = row[m]
        if value != ZERO:
            for k in range(column.shape[0]):
                out[m, k] += value * column[k]


@_njit
def lstm_truncated_backward(x, gates, cells, tanh_cells, offsets, step, top, grad_scores, w_ih, w_hh, readout):
    """Backpropagation through time of :func:`lstm_truncated_forward` from ``grad_scores`` (B, C), the
    gradient of the loss at each example's scores at its decision (``top`` (B, H) its hidden state there).

    Returns the gradients of the input weights of layer 0 ``(4H, F)``, of layers 1.. ``(max(L-1, 0),
    4H, H)``, of the recurrent weights ``(L, 4H, H)``, of the biases ``(L, 2, 4H)`` (``bias_ih``,
    then ``bias_hh``: the same values), of the readout's weight ``(C, H)`` and of its bias ``(C,)``.
    Layer 0's input weight gradient is summed feature-major (a step adds a row of 4H for each
    active input feature only) and transposed at the end; the others are summed in ``nn.LSTM``'s
    layout, each gate's row along the hidden units, as are the products that give the hidden
    states' gradients: no weight is copied or transposed.
    """
    layers, width = gates.shape[1], gates.shape[2]
    hidden = width // 4
    grad_first = np.zeros((x.shape[2], width), dtype=np.float32)
    grad_upper = np.zeros((max(layers - 1, 0), width, hidden), dtype=np.float32)
    grad_recurrent = np.zeros((layers, width, hidden), dtype=np.float32)
    grad_bias = np.zeros((layers, 2, width), dtype=np.float32)
    grad_readout = np.zeros(readout.shape, dtype=np.float32)
    grad_readout_bias = np.zeros(readout.shape[0], dtype=np.float32)
    dh = np.empty((layers, hidden), dtype=np.float32)
    dc = np.empty((layers, hidden), dtype=np.float32)
    da = np.empty(width, dtype=np.float32)
    below = np.empty(hidden, dtype=np.float32)
    previous = np.empty(hidden, dtype=np.float32)
    for b in range(step.shape[0]):
        dh[:] = ZERO
        dc[:] = ZERO
        add_active_rows(dh[layers - 1], grad_scores[b], readout)  # grad_scores @ readout
        add_scaled_rows(grad_readout, grad_scores[b], top[b])
        grad_readout_bias += grad_scores[b]
        for t in range(step[b], -1, -1):
            row = offsets[b] + t
            for layer in range(layers - 1, -1, -1):
                g = gates[row, layer]
                for j in range(hidden):
                    i_gate, f_gate = g[j], g[hidden + j]
                    g_gate, o_gate = g[2 * hidden + j], g[3 * hidden + j]
                    squashed = tanh_cells[row, layer, j]
                    grad_h = dh[layer, j]
                    grad_c = dc[layer, j] + grad_h * o_gate * (ONE - squashed * squashed)
                    cell_before = cells[row - 1, layer, j] if t > 0 else ZERO
                    da[j] = grad_c * g_gate * i_gate * (ONE - i_gate)
                    da[hidden + j] = grad_c * cell_before * f_gate * (ONE - f_gate)
                    da[2 * hidden + j] = grad_c * i_gate * (ONE - g_gate * g_gate)
                    da[3 * hidden + j] = grad_h * squashed * o_gate * (ONE - o_gate)
                    dc[layer, j] = grad_c * f_gate
                grad_bias[layer, 0] += da
                if layer == 0:
                    add_scaled_rows(grad_first, x[b, t], da)
                else:
                    hidden_state(below, gates[row, layer - 1], tanh_cells[row, layer - 1])
                    add_scaled_rows(grad_upper[layer - 1], da, below)
                    add_active_rows(dh[layer - 1], da, w_ih[layer])
                dh[layer] = ZERO
                if t > 0:
                    hidden_state(previous, gates[row - 1, layer], tanh_cells[row - 1, layer])
                    add_scaled_rows(grad_recurrent[layer], da, previous)
                    add_active_rows(dh[layer], da, w_hh[layer])
    for layer in range(layers):
        grad_bias[layer, 1] = grad_bias[layer, 0]
    return np.ascontiguousarray(grad_first.T), grad_upper, grad_recurrent, grad_bias, grad_readout, grad_readout_bias
