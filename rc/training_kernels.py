"""The numba kernels of :mod:`rc.compiled_training`: truncated RC training of a plain LSTM, forward and backward.

Imported by :func:`rc.compiled_training.training_kernels` on first use only (it imports numba).
The forward kernel runs a batch step by step, every example still undecided at a step together:
each layer's products for those examples are one matrix product (BLAS through numba's ``np.dot``
when that is faster, :func:`rc.compiled_kernels.use_blas`, else a loop over the examples), then the
activations, the cell update and the linear readout, each one loop over all those examples' rows
(at a few units a call per row cost more than its arithmetic), and the crossing rule
(:func:`rc.compiled_kernels.crossed`, the rule encoding of :mod:`rc.compiled`) for each example;
an example leaves the batch at its decision
step ``d`` (its first crossing, else the last step), so no step after ``d`` is computed. It keeps
what the backward pass needs of every step it computed, packed step after step (the rows of step
``t`` are the examples still undecided there, in batch order): the activated gates, the cell
state and its tanh (the hidden state is recomputed from them as ``o * tanh(c)``, the very product
the forward pass took), and for each row the row of the same example one step earlier.
The backward kernel is backpropagation through time by hand over the same rows, step after step
from the last: per step and layer one product for the hidden states' gradients (and one for the
layer below), and for every weight one product over all the rows at the end (as the fused kernels
do), not one per step.

The LSTM's weights are passed as tuples with one array per layer, in ``nn.LSTM``'s layout
(``weight_ih_l{k}`` ``(4H, inputs)``, ``weight_hh_l{k}`` ``(4H, H)``, biases ``(4H,)``; gates in
PyTorch's order i, f, g, o). Layer 0's input is often a spike train with few active features per
step: where its rows are sparse (:data:`rc.compiled_kernels.SPARSE_SHARE`) its products run over
the active features only, with a feature-major copy ``(inputs, 4H)`` of its weights. Everything is float32. The gates'
sigmoid and tanh and the cell's tanh are a rational approximation of tanh (:func:`activate_rows`; within
3.5e-7 of the exact value), which the compiler vectorizes. numba's ``np.dot`` calls the BLAS that
scipy ships; its threads are the BLAS library's (``threadpoolctl``), which ``rcbench`` limits to
``--threads``.
"""

from __future__ import annotations

import numpy as np

from rc.compiled import SIGMOID_ENTROPY, SOFTMAX_ENTROPY
from rc.compiled_kernels import (ONE, SMALL_PRODUCT, SPARSE_SHARE, ZERO, _njit, _vectorized, activate_rows,
                                 add_active_rows, add_rows_product, crossed, fill_rows, gate_scales, gather_step,
                                 keep_row, nonzero_share, predict, rational_tanh, readout_rows, use_blas)


@_vectorized()
def update_cells(gates, n, c, cells, tanh_cells, h):
    """One step of the cell of the first ``n`` rows from their activated gates ``(>= n, 4H)``: ``c``
    ``(>= n, H)`` in place, its copy and tanh into ``cells`` and ``tanh_cells`` ``(>= n, H)``, the hidden
    state into ``h`` ``(>= n, H)``; one loop over all the rows (at a few units a call per row costs more
    than the row's arithmetic)."""
    hidden = c.shape[1]
    for i in range(n):
        for j in range(hidden):
            cell = gates[i, hidden + j] * c[i, j] + gates[i, j] * gates[i, 2 * hidden + j]
            c[i, j] = cell
            cells[i, j] = cell
            squashed = rational_tanh(cell)
            tanh_cells[i, j] = squashed
            h[i, j] = gates[i, 3 * hidden + j] * squashed


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
def add_product(out, inputs, weight, columns, scratch):
    """``out += inputs @ weight.T``: ``out`` ``(n, M)``, ``inputs`` ``(n, K)``, ``weight`` ``(M, K)`` (``nn.LSTM``'s
    layout); ``scratch`` ``(>= n, M)`` holds the BLAS product. Where the product is a loop
    (:func:`rc.compiled_kernels.use_blas`) and ``columns``, the weight's feature-major copy ``(K, M)``, is
    given (empty ``(0, 0)`` if not), each row adds the weight's columns scaled by its entries: at 16
    units that took 0.9-2.0 us for 8-16 rows against 2.2-4.4 us for the dot products."""
    n = out.shape[0]
    if use_blas(n, weight):
        np.dot(inputs, weight.T, scratch[:n])
        out += scratch[:n]
    elif columns.shape[0] > 0:
        for i in range(n):
            add_active_rows(out[i], inputs[i], columns)
    else:
        for i in range(n):
            add_products(out[i], weight, inputs[i])


@_njit
def small_columns(weights, first_layer):
    """Feature-major copies ``(L, K, M)`` of the layers' weights ``(M, K)`` from layer ``first_layer`` on (the
    others' entries left unset), for :func:`add_product`'s loop: only where every product with them
    of more than one row could be a loop (fewer entries than :data:`rc.compiled_kernels.SMALL_PRODUCT`),
    else ``(L, 0, 0)``; a copy of a larger weight would cost more than the loops it serves."""
    layers = len(weights)
    size, rows, cols = weights[layers - 1].size, weights[layers - 1].shape[0], weights[layers - 1].shape[1]
    if layers <= first_layer or size >= SMALL_PRODUCT:
        return np.empty((layers, 0, 0), dtype=np.float32)
    columns = np.empty((layers, cols, rows), dtype=np.float32)
    for layer in range(first_layer, layers):
        columns[layer] = weights[layer].T
    return columns


@_njit
def summed_biases(b_ih, b_hh):
    """``bias_ih + bias_hh`` of every layer, ``(L, 4H)``."""
    bias = np.empty((len(b_ih), b_ih[0].shape[0]), dtype=np.float32)
    for layer in range(len(b_ih)):
        bias[layer] = b_ih[layer] + b_hh[layer]
    return bias


@_njit
def lstm_truncated_forward(x, w_ih, w_hh, b_ih, b_hh, readout, readout_bias, test, theta, low):
    """Every example of ``x`` (B, T, F) up to its decision step, the undecided ones together.

    ``readout`` is ``(C, H)`` and ``readout_bias`` ``(C,)`` (``nn.Linear``'s layout). Returns
    ``(gates, cells, tanh_cells, rows, previous, decision_row, step, hit, prediction, top, scores)``: the activated
    gates ``(L, N, 4H)``, cell states ``(L, N, H)`` and their tanh ``(L, N, H)`` of the
    ``N = sum(step + 1)`` steps computed, packed step after step; ``rows`` ``(T + 1,)``, step ``t``'s
    rows ``rows[t] .. rows[t + 1] - 1`` (empty after the last decision); ``previous`` ``(N, 2)``, each
    row's example and its row one step earlier (-1 at step 0); each example's row at its decision
    ``(B,)``; its decision step, whether
    it crossed and the rule's prediction from its scores there ``(B,)``; its top-layer hidden state
    ``(B, H)`` and its scores ``(B, C)`` at the decision.
    """
    batch, time, features = x.shape[0], x.shape[1], x.shape[2]
    first = np.ascontiguousarray(w_ih[0].T)  # feature-major: a silent input feature's row is skipped
    bias = summed_biases(b_ih, b_hh)
    layers, width, hidden = len(w_hh), w_hh[0].shape[0], w_hh[0].shape[1]
    outputs = readout.shape[0]
    weights_out = np.ascontiguousarray(readout.T)
    gates = np.empty((layers, batch * time, width), dtype=np.float32)
    cells = np.empty((layers, batch * time, hidden), dtype=np.float32)
    tanh_cells = np.empty((layers, batch * time, hidden), dtype=np.float32)
    rows = np.empty(time + 1, dtype=np.int64)
    previous = np.empty((batch * time, 2), dtype=np.int64)
    decision_row = np.empty(batch, dtype=np.int64)
    step = np.empty(batch, dtype=np.int64)
    hit = np.empty(batch, dtype=np.bool_)
    prediction = np.empty(batch, dtype=np.int64)
    top = np.empty((batch, hidden), dtype=np.float32)
    decided = np.empty((batch, outputs), dtype=np.float32)
    # the undecided examples' states, compacted: slot i holds example active[i], last computed at row last[i]
    h = np.zeros((layers, batch, hidden), dtype=np.float32)
    c = np.zeros((layers, batch, hidden), dtype=np.float32)
    active = np.arange(batch)
    last = np.full(batch, -1, dtype=np.int64)
    inputs = np.empty((batch, features), dtype=np.float32)
    scratch = np.empty((batch, width), dtype=np.float32)
    scores = np.empty((batch, outputs), dtype=np.float32)
    scale, shift = gate_scales(hidden)
    recurrent_columns, upper_columns = small_columns(w_hh, 0), small_columns(w_ih, 1)
    n, start = batch, 0
    for t in range(time):
        rows[t] = start
        stop = start + n
        for i in range(n):
            previous[start + i, 0] = active[i]
            previous[start + i, 1] = last[i]
            last[i] = start + i
        gather_step(x, active, n, t, inputs)
        sparse = nonzero_share(inputs[:n]) <= SPARSE_SHARE
        for layer in range(layers):
            g = gates[layer, start:stop]
            fill_rows(g, n, bias[layer])
            if layer > 0:
                add_product(g, h[layer - 1, :n], w_ih[layer], upper_columns[layer], scratch)
            elif sparse:
                for i in range(n):
                    add_active_rows(g[i], inputs[i], first)
            else:
                add_product(g, inputs[:n], w_ih[0], first, scratch)
            if t > 0:  # h = 0 before step 0: no recurrent product there
                add_product(g, h[layer, :n], w_hh[layer], recurrent_columns[layer], scratch)
            activate_rows(g, n, scale, shift)
            update_cells(g, n, c[layer], cells[layer, start:stop], tanh_cells[layer, start:stop], h[layer])
        readout_rows(h[layers - 1], n, weights_out, readout_bias, scores)
        kept = 0
        for i in range(n):
            crossing = crossed(scores[i], test, theta, low)
            if crossing or t == time - 1:
                b = active[i]
                decision_row[b], step[b] = start + i, t
                hit[b], prediction[b] = crossing, predict(scores[i], test)
                top[b] = h[layers - 1, i]
                decided[b] = scores[i]
            else:  # stays: its state moves to the next free slot
                if kept != i:
                    keep_row(h, i, kept)
                    keep_row(c, i, kept)
                    active[kept], last[kept] = active[i], last[i]
                kept += 1
        n, start = kept, stop
        if n == 0:
            rows[t + 1:] = start
            break
    return (gates[:, :start], cells[:, :start], tanh_cells[:, :start], rows, previous[:start], decision_row, step, hit,
            prediction, top, decided)


@_vectorized()
def gate_gradients(gates, tanh_cells, cells, grad_h, grad_c, grad_gates, previous, start, stop, zero, carried):
    """One step backward of one layer's rows ``start .. stop - 1`` (each an example's step; ``previous[r, 1]``
    its row one step earlier, -1 at step 0): from the gradients at their hidden and cell states ``grad_h``,
    ``grad_c`` ``(N, H)``, the gradients at their gates' inputs into ``grad_gates`` ``(N, 4H)``, and at the
    cell states they started from into those rows of ``grad_c`` (at step 0 into the scratch ``carried``
    ``(H,)``; ``zero`` ``(H,)`` stands for the cell state before step 0)."""
    hidden = grad_h.shape[1]
    for r in range(start, stop):
        before = previous[r, 1]
        cell_before = cells[before] if before >= 0 else zero
        passed = grad_c[before] if before >= 0 else carried
        for j in range(hidden):
            i_gate, f_gate = gates[r, j], gates[r, hidden + j]
            g_gate, o_gate = gates[r, 2 * hidden + j], gates[r, 3 * hidden + j]
            squashed = tanh_cells[r, j]
            total = grad_c[r, j] + grad_h[r, j] * o_gate * (ONE - squashed * squashed)
            grad_gates[r, j] = total * g_gate * i_gate * (ONE - i_gate)
            grad_gates[r, hidden + j] = total * cell_before[j] * f_gate * (ONE - f_gate)
            grad_gates[r, 2 * hidden + j] = total * i_gate * (ONE - g_gate * g_gate)
            grad_gates[r, 3 * hidden + j] = grad_h[r, j] * squashed * o_gate * (ONE - o_gate)
            passed[j] = total * f_gate


@_vectorized()
def add_to_earlier(grad_h, earlier, previous, start, stop):
    """``grad_h[previous[r, 1]] += earlier[r - start]`` for the rows ``start .. stop - 1`` of one step (each
    has a row one step earlier): ``grad_h`` ``(N, H)``, ``earlier`` ``(>= stop - start, H)``."""
    for r in range(start, stop):
        target = previous[r, 1]
        for j in range(grad_h.shape[1]):
            grad_h[target, j] += earlier[r - start, j]


@_njit
def step_rows(rows):
    """The most rows of any step (``rows`` as :func:`lstm_truncated_forward` returns it)."""
    most = 0
    for t in range(rows.shape[0] - 1):
        most = max(most, rows[t + 1] - rows[t])
    return most


@_vectorized()
def hidden_states(gates, tanh_cells):
    """``o * tanh(c)`` of every row: ``(n, H)`` from the activated gates ``(n, 4H)`` and ``tanh(c)`` ``(n, H)``."""
    hidden = tanh_cells.shape[1]
    out = np.empty(tanh_cells.shape, dtype=np.float32)
    for i in range(tanh_cells.shape[0]):
        for j in range(hidden):
            out[i, j] = gates[i, 3 * hidden + j] * tanh_cells[i, j]
    return out


@_njit
def earlier_rows(values, previous):
    """``values`` ``(N, K)`` one step earlier: row ``r`` holds ``values[previous[r, 1]]``, 0 where that is -1."""
    out = np.zeros(values.shape, dtype=np.float32)
    for r in range(values.shape[0]):
        if previous[r, 1] >= 0:
            out[r] = values[previous[r, 1]]
    return out


@_njit
def lstm_truncated_backward(x, gates, cells, tanh_cells, rows, previous, decision_row, top, grad_scores, w_ih,
                            w_hh, readout):
    """Backpropagation through time of :func:`lstm_truncated_forward` from ``grad_scores`` (B, C), the
    gradient of the loss at each example's scores at its decision (``top`` (B, H) its hidden state there).

    Returns the gradients of the input weights of layer 0 ``(4H, F)``, of layers 1.. ``(max(L-1, 0),
    4H, H)``, of the recurrent weights ``(L, 4H, H)``, of the biases ``(L, 2, 4H)`` (``bias_ih``,
    then ``bias_hh``: the same values), of the readout's weight ``(C, H)`` and of its bias ``(C,)``.
    """
    layers, count, width = gates.shape[0], gates.shape[1], gates.shape[2]
    hidden, features = width // 4, x.shape[2]
    grad_h = np.zeros((layers, count, hidden), dtype=np.float32)
    grad_c = np.zeros((layers, count, hidden), dtype=np.float32)
    grad_gates = np.empty((layers, count, width), dtype=np.float32)
    carried = np.empty(hidden, dtype=np.float32)
    back = np.empty((step_rows(rows), hidden), dtype=np.float32)
    scratch = np.empty((step_rows(rows), hidden), dtype=np.float32)
    zero = np.zeros(hidden, dtype=np.float32)
    for b in range(decision_row.shape[0]):  # the loss enters at each example's decision row
        add_active_rows(grad_h[layers - 1, decision_row[b]], grad_scores[b], readout)  # grad_scores @ readout
    for t in range(rows.shape[0] - 2, -1, -1):
        start, stop = rows[t], rows[t + 1]
        if start == stop:
            continue
        for layer in range(layers - 1, -1, -1):
            gate_gradients(gates[layer], tanh_cells[layer], cells[layer], grad_h[layer], grad_c[layer],
                           grad_gates[layer], previous, start, stop, zero, carried)
            if t > 0:  # every row of a step after the first has a row one step earlier
                earlier = back[:stop - start]
                earlier[:] = ZERO
                add_rows_product(earlier, grad_gates[layer, start:stop], w_hh[layer], scratch)
                add_to_earlier(grad_h[layer], earlier, previous, start, stop)
            if layer > 0:
                add_rows_product(grad_h[layer - 1, start:stop], grad_gates[layer, start:stop], w_ih[layer], scratch)
    grad_upper = np.empty((max(layers - 1, 0), width, hidden), dtype=np.float32)
    grad_recurrent = np.empty((layers, width, hidden), dtype=np.float32)
    grad_bias = np.empty((layers, 2, width), dtype=np.float32)
    below = np.empty((0, hidden), dtype=np.float32)
    for layer in range(layers):
        states = hidden_states(gates[layer], tanh_cells[layer])
        np.dot(grad_gates[layer].T, earlier_rows(states, previous), grad_recurrent[layer])
        if layer > 0:
            np.dot(grad_gates[layer].T, below, grad_upper[layer - 1])
        below = states
        total = grad_gates[layer].sum(axis=0)
        grad_bias[layer, 0] = total
        grad_bias[layer, 1] = total
    inputs = np.empty((count, features), dtype=np.float32)
    for t in range(rows.shape[0] - 1):
        for r in range(rows[t], rows[t + 1]):
            inputs[r] = x[previous[r, 0], t]
    if nonzero_share(inputs) <= SPARSE_SHARE:
        grad_first = np.zeros((features, width), dtype=np.float32)
        for r in range(count):
            add_scaled_rows(grad_first, inputs[r], grad_gates[0, r])
        grad_first = np.ascontiguousarray(grad_first.T)
    else:
        grad_first = np.empty((width, features), dtype=np.float32)
        np.dot(grad_gates[0].T, inputs, grad_first)
    grad_readout = np.dot(grad_scores.T, top)
    grad_readout_bias = grad_scores.sum(axis=0)
    return grad_first, grad_upper, grad_recurrent, grad_bias, grad_readout, grad_readout_bias


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
def _softplus(value):
    """``log(1 + exp(value))`` of a float64, without overflow."""
    return max(value, 0.0) + np.log1p(np.exp(-abs(value)))


@_njit
def rc_loss_gradient(scores, targets, entropy, beta):
    """The RC loss on the logits and its gradient with respect to ``scores`` ``(B, C)`` float32, by hand.

    ``targets`` ``(B,)`` float64 class labels (0/1 for one unit), ``entropy`` one of
    :data:`rc.compiled.NO_ENTROPY`, ``SIGMOID_ENTROPY``, ``SOFTMAX_ENTROPY``, ``beta`` its weight. With ``p``
    the rule's output probabilities and ``s`` one example's scores (float64)::

        cross-entropy, C >= 2:        l = logsumexp(s) - s_y               dl/ds = softmax(s) - onehot(y)
        binary cross-entropy, C = 1:  l = softplus(s) - y s                dl/ds = sigmoid(s) - y
        entropy, sigmoid (any C):     H = mean_c h(sigmoid(s_c))           dH/ds_c = -s_c p_c (1 - p_c) / C
        entropy, softmax:             H = -sum_c p_c log p_c               dH/ds_c = -p_c (log p_c + H)

    with ``h`` the binary entropy (``dh/ds = log((1 - p) / p) p (1 - p) = -s p (1 - p)``). Returns the loss
    ``mean_i (l_i - beta H_i)`` (float64) and its gradient ``(B, C)`` float32. Raises ``ValueError`` for a
    label outside ``0 .. C - 1`` (C >= 2).
    """
    batch, classes = scores.shape[0], scores.shape[1]
    gradient = np.empty((batch, classes), dtype=np.float32)
    probabilities = np.empty(classes, dtype=np.float64)
    total = 0.0
    for b in range(batch):
        if classes == 1:
            value, label = np.float64(scores[b, 0]), targets[b]
            p = 0.5 * (1.0 + np.tanh(0.5 * value))
            loss, slope = _softplus(value) - label * value, p - label
            if entropy == SIGMOID_ENTROPY:
                loss -= beta * (p * _softplus(-value) + (1.0 - p) * _softplus(value))
                slope += beta * value * p * (1.0 - p)
            gradient[b, 0] = slope / batch
            total += loss
            continue
        label = int(targets[b])
        if label < 0 or label >= classes or label != targets[b]:
            raise ValueError("class labels must be whole numbers in [0, classes)")
        peak = np.float64(scores[b, 0])
        for k in range(1, classes):
            peak = max(peak, np.float64(scores[b, k]))
        norm = 0.0
        for k in range(classes):
            probabilities[k] = np.exp(np.float64(scores[b, k]) - peak)
            norm += probabilities[k]
        log_norm = peak + np.log(norm)
        loss = log_norm - np.float64(scores[b, label])
        softmax_entropy = 0.0
        for k in range(classes):
            probabilities[k] /= norm
            softmax_entropy -= probabilities[k] * (np.float64(scores[b, k]) - log_norm)
        if entropy == SOFTMAX_ENTROPY:
            loss -= beta * softmax_entropy
        for k in range(classes):
            value, p = np.float64(scores[b, k]), probabilities[k]
            slope = p - (1.0 if k == label else 0.0)
            if entropy == SOFTMAX_ENTROPY:
                slope += beta * p * ((value - log_norm) + softmax_entropy)
            elif entropy == SIGMOID_ENTROPY:
                q = 0.5 * (1.0 + np.tanh(0.5 * value))
                loss -= beta * (q * _softplus(-value) + (1.0 - q) * _softplus(value)) / classes
                slope += beta * value * q * (1.0 - q) / classes
            gradient[b, k] = slope / batch
        total += loss
    return total / batch, gradient


@_njit
def lstm_rc_training_step(x, w_ih, w_hh, b_ih, b_hh, readout, readout_bias, test, theta, low, targets, entropy,
                          beta):
    """One whole truncated RC training step in one call: :func:`lstm_truncated_forward`, the RC loss and its
    gradient at each decision (:func:`rc_loss_gradient`), then :func:`lstm_truncated_backward`.

    Returns ``(loss, step, hit, prediction, read, grad_first, grad_upper, grad_recurrent, grad_bias,
    grad_readout, grad_readout_bias)``: the loss, each example's decision step, whether it crossed and the
    prediction there ``(B,)``, the step evaluations computed, and the gradients as
    :func:`lstm_truncated_backward` gives them.
    """
    gates, cells, tanh_cells, rows, previous, decision_row, step, hit, prediction, top, scores = \
        lstm_truncated_forward(x, w_ih, w_hh, b_ih, b_hh, readout, readout_bias, test, theta, low)
    loss, grad_scores = rc_loss_gradient(scores, targets, entropy, beta)
    grads = lstm_truncated_backward(x, gates, cells, tanh_cells, rows, previous, decision_row, top, grad_scores,
                                    w_ih, w_hh, readout)
    return (loss, step, hit, prediction, gates.shape[1]) + grads
