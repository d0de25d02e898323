"""The numba kernels of :mod:`rc.compiled`: one example's, or one batch's, early-exit decision in one call.

Imported by :func:`rc.compiled.kernels` on first use only (it imports numba). Weights,
inputs, states and sums are float32 (the constants below are float32: a Python float
would make numba compute in float64). The LSTM's gates and cell use a rational approximation
of tanh (:func:`rational_tanh`, within 3.5e-7 of the exact value; sigmoid(v) = (1 + tanh(v / 2)) / 2),
which the compiler vectorizes: one float64 ``exp`` per value took most of a step's time; the
crossing tests compute the sigmoid of the scores in float64, rounded to float32. The one-example
kernels allocate nothing beyond the small state vectors; the LSTM's batch kernel steps the undecided
examples together, with one product per layer and step (BLAS where that is faster). The crossing tests are those of
:data:`rc.compiled.SIGMOID_ANY` (0), ``SOFTMAX_MAX`` (1), ``TWO_SIDED`` (2) and ``ANY_POSITIVE`` (3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

ONE, ZERO = np.float32(1.0), np.float32(0.0)


def _njit(function: Callable) -> Any:
    """``numba.njit`` with numba's on-disk cache where a cache folder can be written, without it elsewhere."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable cache location
        return numba.njit(nogil=True)(function)


NINE, HALF = np.float32(9.0), np.float32(0.5)
TANH_NUMERATOR = tuple(np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                               5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                               -2.76076847742355e-16))
"""Coefficients of x, x^3, .., x^13 of the numerator of Eigen's float32 rational tanh on [-9, 9]."""
TANH_DENOMINATOR = tuple(np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                                 1.19825839466702e-06))
"""Coefficients of 1, x^2, .., x^6 of its denominator."""


def _vectorized(*flags: str):
    """``numba.njit`` allowing fused multiply-adds and a division by a reciprocal (NaN and infinities
    still propagate), and any further fastmath ``flags`` (``reassoc`` to vectorize a sum), dividing as
    numpy does (no ZeroDivisionError check, which kept the loops scalar), so that loops over arrays
    vectorize (the activations about 8x faster here); cached as :func:`rc.compiled_kernels._njit` is."""
    options = {"nogil": True, "fastmath": {"contract", "arcp", *flags}, "error_model": "numpy"}

    def compile_(function):
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # no writable cache location
            return numba.njit(**options)(function)

    return compile_


@_vectorized()
def rational_tanh(v):
    """tanh(v) in float32, within 3.5e-7 (NaN stays NaN)."""
    x = NINE if v > NINE else v
    x = -NINE if x < -NINE else x
    x2 = x * x
    a1, a3, a5, a7, a9, a11, a13 = TANH_NUMERATOR
    b0, b2, b4, b6 = TANH_DENOMINATOR
    p = x * ((((((a13 * x2 + a11) * x2 + a9) * x2 + a7) * x2 + a5) * x2 + a3) * x2 + a1)
    q = ((b6 * x2 + b4) * x2 + b2) * x2 + b0
    return p / q


@_vectorized()
def activate(gates, scale, shift):
    """Gates ``(4H,)`` in place: ``shift + scale * tanh(scale * gates)`` (``scale`` and ``shift`` 1/2 for
    the sigmoid gates i, f, o, since sigmoid(v) = (1 + tanh(v / 2)) / 2, and 1 and 0 for g)."""
    for k in range(gates.shape[0]):
        gates[k] = shift[k] + scale[k] * rational_tanh(scale[k] * gates[k])


@_vectorized()
def activate_rows(gates, n, scale, shift):
    """:func:`activate` of the first ``n`` rows of ``gates`` ``(>= n, 4H)``, in one loop: at a few units a
    call per row costs more than the row's arithmetic."""
    for i in range(n):
        for k in range(gates.shape[1]):
            gates[i, k] = shift[k] + scale[k] * rational_tanh(scale[k] * gates[i, k])


@_njit
def gate_scales(hidden):
    """The ``scale`` and ``shift`` of :func:`activate` for ``hidden`` units, each ``(4 hidden,)``."""
    scale = np.full(4 * hidden, HALF, dtype=np.float32)
    shift = np.full(4 * hidden, HALF, dtype=np.float32)
    scale[2 * hidden:3 * hidden] = ONE
    shift[2 * hidden:3 * hidden] = ZERO
    return scale, shift


@_vectorized()
def next_state(gates, c, h):
    """One step of the cell from its activated gates ``(4H,)``: ``c`` and ``h`` ``(H,)`` in place."""
    hidden = c.shape[0]
    for j in range(hidden):
        c[j] = gates[hidden + j] * c[j] + gates[j] * gates[2 * hidden + j]
        h[j] = gates[3 * hidden + j] * rational_tanh(c[j])


@_vectorized()
def next_states(gates, n, c, h):
    """:func:`next_state` of the first ``n`` rows: ``gates`` ``(>= n, 4H)``, ``c`` and ``h`` ``(>= n, H)`` in place."""
    hidden = c.shape[1]
    for i in range(n):
        for j in range(hidden):
            c[i, j] = gates[i, hidden + j] * c[i, j] + gates[i, j] * gates[i, 2 * hidden + j]
            h[i, j] = gates[i, 3 * hidden + j] * rational_tanh(c[i, j])


@_njit
def sigmoid(v):
    """``1 / (1 + exp(-v))``, computed in float64 and rounded to float32 (correctly rounded but for
    rare ties; libm's float32 ``expf`` is no faster)."""
    return np.float32(1.0 / (1.0 + np.exp(-np.float64(v))))


@_njit
def argmax(scores):
    """The first index of the largest score (as ``torch.argmax``)."""
    best = 0
    for k in range(1, scores.shape[0]):
        if scores[k] > scores[best]:
            best = k
    return best


@_njit
def crossed(scores, test, theta, low):
    """The rule's crossing test ``test`` on one step's scores."""
    if test == 0:
        for k in range(scores.shape[0]):
            if sigmoid(scores[k]) > theta:
                return True
        return False
    if test == 1:
        top = scores[argmax(scores)]
        total = ZERO
        for k in range(scores.shape[0]):
            total += np.exp(scores[k] - top)
        return ONE / total >= theta
    if test == 2:
        p = sigmoid(scores[0])
        return p > theta or p < low
    for k in range(scores.shape[0]):
        if scores[k] > ZERO:
            return True
    return False


@_njit
def predict(scores, test):
    """The predicted class: ``score > 0`` for the two-sided test, else the argmax."""
    if test == 2:
        return 1 if scores[0] > ZERO else 0
    return argmax(scores)


@_njit
def readout_rows(h, n, weight, bias, out):
    """``out[:n] = h[:n] @ weight + bias``: ``h`` ``(>= n, H)``, ``weight`` ``(H, C)`` feature-major, ``bias``
    ``(C,)``; each sum over the units in order, as :func:`add_active_rows` takes it for one row."""
    for i in range(n):
        for o in range(bias.shape[0]):
            out[i, o] = bias[o]
        for j in range(h.shape[1]):
            value = h[i, j]
            for o in range(bias.shape[0]):
                out[i, o] += value * weight[j, o]


@_njit
def fill_rows(out, n, row):
    """Each of the first ``n`` rows of ``out`` ``(>= n, K)`` set to ``row`` ``(K,)``."""
    for i in range(n):
        for k in range(row.shape[0]):
            out[i, k] = row[k]


@_njit
def gather_step(x, active, n, t, out):
    """``out[i] = x[active[i], t]`` for the first ``n`` slots: the step-``t`` inputs ``(>= n, F)`` of the undecided
    examples, from ``x`` ``(B, T, F)``."""
    for i in range(n):
        for f in range(x.shape[2]):
            out[i, f] = x[active[i], t, f]


@_njit
def keep_row(states, source, target):
    """Copy row ``source`` of every layer's ``states`` ``(L, B, H)`` to row ``target`` (an undecided example
    moving to the next free slot)."""
    for layer in range(states.shape[0]):
        for j in range(states.shape[2]):
            states[layer, target, j] = states[layer, source, j]


@_njit
def add_active_rows(out, x_t, weight):
    """``out += x_t @ weight`` over the nonzero entries of ``x_t`` only (``weight`` feature-major)."""
    width = out.shape[0]
    for f in range(x_t.shape[0]):
        value = x_t[f]
        if value != ZERO:
            for k in range(width):
                out[k] += value * weight[f, k]


SMALL_PRODUCT = 16_384
"""Below this many multiply-adds a product is a loop (a BLAS call costs about a microsecond)."""

PACKED_WEIGHTS = 65_536
PACKED_ROWS = 16
"""A BLAS product of a few rows (2 to ``PACKED_ROWS - 1``) with a weight of at least ``PACKED_WEIGHTS``
entries is slower than the loop: the library copies (packs) the whole weight for it."""

SPARSE_SHARE = 0.25
"""Layer 0's inputs count as sparse when at most this share of the rows' entries is nonzero."""


@_njit
def use_blas(rows, weight):
    """Whether a product of ``rows`` rows with ``weight`` goes to BLAS (:data:`SMALL_PRODUCT`,
    :data:`PACKED_WEIGHTS`, :data:`PACKED_ROWS`)."""
    if rows * weight.size < SMALL_PRODUCT:
        return False
    return rows == 1 or rows >= PACKED_ROWS or weight.size < PACKED_WEIGHTS


@_njit
def nonzero_share(rows):
    """The share of nonzero entries of ``rows`` ``(n, K)``."""
    count = 0
    for i in range(rows.shape[0]):
        for k in range(rows.shape[1]):
            if rows[i, k] != ZERO:
                count += 1
    return count / max(rows.size, 1)


@_njit
def add_rows_product(out, inputs, weight, scratch):
    """``out += inputs @ weight``: ``out`` ``(n, M)``, ``inputs`` ``(n, K)``, ``weight`` ``(K, M)`` feature-major;
    ``scratch`` ``(>= n, M)`` holds the BLAS product (:func:`use_blas`), else the loop skips zero inputs."""
    n = out.shape[0]
    if use_blas(n, weight):
        np.dot(inputs, weight, scratch[:n])
        out += scratch[:n]
    else:
        for i in range(n):
            add_active_rows(out[i], inputs[i], weight)


@_njit
def lstm_decide(x, first, upper, recurrent, bias, readout, readout_bias, test, theta, low):
    """Steps of one example ``x`` (T, F) until the first crossing; returns
    (scores at the decision, prediction, step index, crossed)."""
    time = x.shape[0]
    layers, hidden = recurrent.shape[0], recurrent.shape[1]
    width = 4 * hidden
    h = np.zeros((layers, hidden), dtype=np.float32)
    c = np.zeros((layers, hidden), dtype=np.float32)
    gates = np.empty(width, dtype=np.float32)
    scores = np.empty(readout.shape[1], dtype=np.float32)
    scale, shift = gate_scales(hidden)
    for t in range(time):
        for layer in range(layers):
            for k in range(width):
                gates[k] = bias[layer, k]
            if layer == 0:
                add_active_rows(gates, x[t], first)
            else:
                add_active_rows(gates, h[layer - 1], upper[layer - 1])
            if t > 0:  # h = 0 before step 0: no recurrent product there
                add_active_rows(gates, h[layer], recurrent[layer])
            activate(gates, scale, shift)
            next_state(gates, c[layer], h[layer])
        for k in range(scores.shape[0]):
            scores[k] = readout_bias[k]
        add_active_rows(scores, h[layers - 1], readout)
        hit = crossed(scores, test, theta, low)
        if hit or t == time - 1:
            return scores, predict(scores, test), t, hit
    return scores, 0, -1, False  # unreachable for time >= 1


@_njit
def lif_decide(x, w_in, b_in, decay_in, threshold_in, w_out, b_out, decay_out, threshold_out, test, theta,
               low):
    """Two snnTorch Leaky layers (reset by subtraction, from the previous membrane), event-driven,
    until the first crossing of the scores (output membrane minus threshold)."""
    time = x.shape[0]
    hidden, outputs = b_in.shape[0], b_out.shape[0]
    mem_hidden = np.zeros(hidden, dtype=np.float32)
    mem_out = np.zeros(outputs, dtype=np.float32)
    current = np.empty(hidden, dtype=np.float32)
    spikes = np.empty(hidden, dtype=np.float32)
    current_out = np.empty(outputs, dtype=np.float32)
    scores = np.empty(outputs, dtype=np.float32)
    for t in range(time):
        for k in range(hidden):
            current[k] = b_in[k]
        add_active_rows(current, x[t], w_in)
        for k in range(hidden):
            reset = ONE if mem_hidden[k] - threshold_in[k] > ZERO else ZERO
            membrane = decay_in[k] * mem_hidden[k] + current[k]
            membrane = membrane - reset * threshold_in[k]
            mem_hidden[k] = membrane
            spikes[k] = ONE if membrane - threshold_in[k] > ZERO else ZERO
        for k in range(outputs):
            current_out[k] = b_out[k]
        add_active_rows(current_out, spikes, w_out)
        for k in range(outputs):
            reset = ONE if mem_out[k] - threshold_out[k] > ZERO else ZERO
            membrane = decay_out[k] * mem_out[k] + current_out[k]
            membrane = membrane - reset * threshold_out[k]
            mem_out[k] = membrane
            scores[k] = membrane - threshold_out[k]
        hit = crossed(scores, test, theta, low)
        if hit or t == time - 1:
            return scores, predict(scores, test), t, hit
    return scores, 0, -1, False


@_njit
def lstm_decide_batch(x, first, upper, recurrent, bias, readout, readout_bias, test, theta, low):
    """:func:`lstm_decide` of every example of ``x`` (B, T, F) in one call, the examples still undecided at a
    step together: each layer's products for them are one product (BLAS or a loop, :func:`add_rows_product`;
    layer 0's over the active features only where its rows are sparse, :data:`SPARSE_SHARE`), and an
    example leaves the batch at its decision. Returns (scores (B, C), prediction (B,), step index (B,),
    crossed (B,))."""
    batch, time, features = x.shape[0], x.shape[1], x.shape[2]
    layers, hidden = recurrent.shape[0], recurrent.shape[1]
    width, outputs = 4 * hidden, readout.shape[1]
    decided = np.empty((batch, outputs), dtype=np.float32)
    prediction = np.empty(batch, dtype=np.int64)
    step = np.empty(batch, dtype=np.int64)
    hit = np.empty(batch, dtype=np.bool_)
    # the undecided examples' states, compacted: slot i holds example active[i]
    h = np.zeros((layers, batch, hidden), dtype=np.float32)
    c = np.zeros((layers, batch, hidden), dtype=np.float32)
    active = np.arange(batch)
    gates = np.empty((batch, width), dtype=np.float32)
    scratch = np.empty((batch, width), dtype=np.float32)
    inputs = np.empty((batch, features), dtype=np.float32)
    scores = np.empty((batch, outputs), dtype=np.float32)
    scale, shift = gate_scales(hidden)
    n = batch
    for t in range(time):
        gather_step(x, active, n, t, inputs)
        sparse = nonzero_share(inputs[:n]) <= SPARSE_SHARE
        for layer in range(layers):
            g = gates[:n]
            fill_rows(g, n, bias[layer])
            if layer > 0:
                add_rows_product(g, h[layer - 1, :n], upper[layer - 1], scratch)
            elif sparse:
                for i in range(n):
                    add_active_rows(g[i], inputs[i], first)
            else:
                add_rows_product(g, inputs[:n], first, scratch)
            if t > 0:  # h = 0 before step 0: no recurrent product there
                add_rows_product(g, h[layer, :n], recurrent[layer], scratch)
            activate_rows(g, n, scale, shift)
            next_states(g, n, c[layer], h[layer])
        readout_rows(h[layers - 1], n, readout, readout_bias, scores)
        kept = 0
        for i in range(n):
            crossing = crossed(scores[i], test, theta, low)
            if crossing or t == time - 1:
                b = active[i]
                decided[b], prediction[b], step[b], hit[b] = scores[i], predict(scores[i], test), t, crossing
            else:  # stays: its state moves to the next free slot
                if kept != i:
                    keep_row(h, i, kept)
                    keep_row(c, i, kept)
                    active[kept] = active[i]
                kept += 1
        n = kept
        if n == 0:
            break
    return decided, prediction, step, hit


@_njit
def lif_decide_batch(x, w_in, b_in, decay_in, threshold_in, w_out, b_out, decay_out, threshold_out, test, theta,
                     low):
    """:func:`lif_decide` of every example of ``x`` (B, T, F), one after the other in one call;
    returns (scores (B, C), prediction (B,), step index (B,), crossed (B,))."""
    batch = x.shape[0]
    scores = np.empty((batch, b_out.shape[0]), dtype=np.float32)
    prediction = np.empty(batch, dtype=np.int64)
    step = np.empty(batch, dtype=np.int64)
    hit = np.empty(batch, dtype=np.bool_)
    for b in range(batch):
        scores[b], prediction[b], step[b], hit[b] = lif_decide(x[b], w_in, b_in, decay_in, threshold_in, w_out,
                                                               b_out, decay_out, threshold_out, test, theta, low)
    return scores, prediction, step, hit
