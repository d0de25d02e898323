"""Truncated RC training of a large plain LSTM: one forward pass to each decision, backpropagation by hand.

A large network's step is a few matrix products, and torch's BLAS (MKL in the CPU wheels) runs
them faster than the compiled kernels' (:mod:`rc.compiled_training`, numba's ``np.dot`` through
OpenBLAS), about twice as fast for the backward pass's product at 64 x 1,024 units; the fused path
(:mod:`rc.fused_training`) runs the recurrence twice, a no-grad search for the decision steps and
then a packed gradient pass, and oneDNN lays the weights out anew at each of its fused calls. So
this path, in torch alone, trains a large :class:`rc.model.LSTMClassifier` on the CPU without
dropout in effect:

* forward (no autograd), step by step for every layer, with torch's BLAS products
  (``addmm``), then the readout and the crossing test; an example leaves the batch at its
  decision step ``d`` (its first crossing, else the last step), so no step after ``d`` is
  computed, and each step's activated gates, cell states and inputs are kept, packed step
  after step (the rows of step ``t`` are the examples still undecided there);
* backward, backpropagation through time over exactly those steps: per step one product
  with ``W_hh`` for the hidden state's gradient, and for each layer's weights one product
  over all the steps at once (as the fused kernels do), not one per step.

:class:`TruncatedLSTM` ties the two into autograd: it maps the LSTM's weights to the top
layer's hidden state at each example's decision ``(batch, hidden)``; the readout and the RC
loss stay in torch. Every step is computed once, so the step evaluations forward and backward
are both the sum of the steps read. The decision is taken on the scores of the forward pass;
the loss on the readout applied again to the same hidden state, equal up to float rounding.

The first step starts from zero states, so neither pass multiplies by ``W_hh`` there. Each step
costs a few tens of torch calls (tens of microseconds), which a small network's steps do not repay:
:func:`rc.training.truncated_scores` takes this path from :data:`BLAS_MIN_WEIGHTS` LSTM weights,
and at a batch of one example, where the compiled path applies, from :data:`BLAS_MIN_WEIGHTS_ALONE`;
it computes any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rc import compiled, compiled_training
from rc.crossing import CrossingRule, Decision
from rc.fused_training import TruncatedScores, lstm_weights
from rc.model import LSTMClassifier

BLAS_MIN_WEIGHTS = 500_000
"""This path trains an LSTM of at least this many weights (biases included; about 350 units) at a
batch of two examples or more, ..."""

BLAS_MIN_WEIGHTS_ALONE = 4_000_000
"""... and at a batch of one example an LSTM of at least this many (about 1,000 units). Measured against
the compiled path (:mod:`rc.compiled_training`) with the ``rcbench speed`` trigger model (its readout
leaking onto every unit), T = 20, truncated / naive over r, median of 5-7 alternating rounds, one torch
thread, the other core running a training job: torch's products (MKL here) multiply a batch by
a large weight matrix faster than the compiled kernels' (numba's ``np.dot`` through OpenBLAS; 64 x 1,024
units ``(64, 4096) @ (4096, 1024)``, the backward pass's product: 5.9 ms against 12.5 ms). Batch 64:
1,024 units 0.99 against 1.29 (equal decisions), 1.20 against 1.80 (spread), 1.15 against 1.35 (2% never
deciding), T = 80 1.17 against 1.47; 512 units 0.91 against 1.05; 384 units 1.07 against 1.21; 256 units
1.28 against 1.28 (so the compiled path keeps them). Batch 16: 1,024 units 0.87 against 1.37, 512 units
1.07 against 1.50. Batch 4, 512 units: 1.16 against 1.44. Batch 1: 1,024 units 0.73 against 1.21 (spread
decisions at T = 80: 1.16 against 1.99), but 768 units 1.36 against 0.72 and 512 units 1.10 against 0.82,
where the compiled kernels' matrix-vector products are the faster. Nothing was measured with several
torch threads (the products use them; the step's elementwise work too, through torch)."""


def unsupported_reason(model: object, x: Tensor, rule: CrossingRule) -> str | None:
    """Why :func:`blas_truncated_scores` does not train ``model`` on ``x`` under ``rule``; None when it does."""
    if type(model) is not LSTMClassifier:  # exactly: a subclass may step differently
        return f"only an LSTMClassifier is trained by hand-written backpropagation, not a {type(model).__name__}"
    if (weights := lstm_weights(model.lstm)) < BLAS_MIN_WEIGHTS:  # first: it turns small networks away cheaply
        return f"{weights} LSTM weights: the compiled and fused paths are faster below {BLAS_MIN_WEIGHTS}"
    if model.training and model.dropout.p > 0:
        return "dropout in effect is not supported"
    if (reason := compiled.plain_lstm_reason(model.lstm)) is not None:
        return reason
    if not rule.streaming:
        return f"the rule {rule.name!r} does not decide while the sequence comes in"
    if not (x.is_cpu and all(w.is_cpu for w in model.lstm._flat_weights)):
        return "this path runs on the CPU only (on a GPU the fused path's cuDNN kernels are the reference)"
    if x.requires_grad:
        return "this path gives no gradient of the input"
    if (x.shape[0] == 1 and weights < BLAS_MIN_WEIGHTS_ALONE
            and compiled_training.unsupported_reason(model, x, rule) is None):
        return (f"{weights} LSTM weights at a batch of one example: the compiled path is faster below "
                f"{BLAS_MIN_WEIGHTS_ALONE} (BLAS_MIN_WEIGHTS_ALONE)")
    return None


@dataclass
class LayerSteps:
    """What the backward pass needs of one layer, the rows of every computed step packed step after step.

    Attributes:
        gates: ``(N, 4H)`` the activated gates i, f, g, o (``N`` the step evaluations).
        cell_before: ``(N, H)`` the cell state each step started from.
        tanh_cell: ``(N, H)`` tanh of the cell state each step ended with.
        hidden_before: ``(N, H)`` the hidden state each step started from.
        inputs: ``(N, features)`` the layer's input at each step.
    """

    gates: Tensor
    cell_before: Tensor
    tanh_cell: Tensor
    hidden_before: Tensor
    inputs: Tensor


@dataclass
class ForwardSteps:
    """The forward pass's record of which rows each step computed.

    Attributes:
        counts: rows computed at each step (non-increasing).
        kept: per step, the positions (among that step's rows) of the examples that go on to
            the next step, or None when all do.
        deciding: per step, the positions of the examples that decide there, or None when none do.
        layers: one :class:`LayerSteps` per layer.
    """

    counts: list[int]
    kept: list[Tensor | None]
    deciding: list[Tensor | None]
    layers: list[LayerSteps]


def _layer_weights(weights: tuple[Tensor, ...], layer: int) -> tuple[Tensor, Tensor, Tensor]:
    """``W_ih``, ``W_hh`` and the summed bias of one layer from ``nn.LSTM``'s flat weights."""
    w_ih, w_hh, b_ih, b_hh = weights[4 * layer:4 * layer + 4]
    return w_ih, w_hh, b_ih + b_hh


@torch.no_grad()
def forward_steps(x: Tensor, weights: tuple[Tensor, ...], layers: int, readout: torch.nn.Linear,
                  rule: CrossingRule) -> tuple[Tensor, Tensor, Tensor, ForwardSteps]:
    """Run each example of ``x`` ``(B, T, F)`` up to its decision.

    Returns the top layer's hidden state at each decision ``(B, H)``, the decision steps
    ``(B,)`` long, whether each crossed ``(B,)`` bool, and the :class:`ForwardSteps`.
    """
    batch, time, _ = x.shape
    params = [_layer_weights(weights, layer) for layer in range(layers)]
    hidden_size = params[0][1].shape[1]
    hidden = [x.new_zeros(batch, hidden_size) for _ in range(layers)]
    cell = [x.new_zeros(batch, hidden_size) for _ in range(layers)]
    rows: Tensor | None = None  # the undecided examples; None while all are
    step_index = torch.full((batch,), time - 1, dtype=torch.long)
    crossed = torch.zeros(batch, dtype=torch.bool)
    top_at_decision = x.new_empty(batch, hidden_size)
    counts: list[int] = []
    kept: list[Tensor | None] = []
    deciding: list[Tensor | None] = []
    kept_parts: list[list[list[Tensor]]] = [[[] for _ in range(5)] for _ in range(layers)]
    for t in range(time):
        layer_input = x[:, t] if rows is None else x[rows, t]
        n = layer_input.shape[0]
        for layer, (w_ih, w_hh, bias) in enumerate(params):
            gates = torch.addmm(bias, layer_input, w_ih.t())
            if t > 0:  # the initial hidden state is zero
                gates.addmm_(hidden[layer], w_hh.t())
            gates[:, :2 * hidden_size].sigmoid_()
            gates[:, 2 * hidden_size:3 * hidden_size].tanh_()
            gates[:, 3 * hidden_size:].sigmoid_()
            i, f, g, o = gates.split(hidden_size, 1)
            new_cell = torch.addcmul(f * cell[layer], i, g)
            tanh_cell = new_cell.tanh()
            for part, value in zip(kept_parts[layer], (gates, cell[layer], tanh_cell, hidden[layer], layer_input)):
                part.append(value)
            hidden[layer], cell[layer] = o * tanh_cell, new_cell
            layer_input = hidden[layer]
        counts.append(n)
        scores = readout(layer_input)
        hit = rule.crossed(scores[:, None])[:, 0]
        decides = torch.ones_like(hit) if t == time - 1 else hit
        done = decides.nonzero(as_tuple=True)[0]
        if done.numel() == 0:
            kept.append(None)
            deciding.append(None)
            continue
        done_rows = done if rows is None else rows[done]
        step_index[done_rows] = t
        crossed[done_rows] = hit[done]
        top_at_decision[done_rows] = layer_input[done]
        deciding.append(done)
        if done.numel() == n:
            kept.append(None)
            break
        keep = (~decides).nonzero(as_tuple=True)[0]
        kept.append(keep)
        rows = keep if rows is None else rows[keep]
        hidden = [h[keep] for h in hidden]
        cell = [c[keep] for c in cell]
    steps = [LayerSteps(*(torch.cat(part) for part in parts)) for parts in kept_parts]
    return top_at_decision, step_index, crossed, ForwardSteps(counts, kept, deciding, steps)


@torch.no_grad()
def backward_steps(grad_top: Tensor, steps: ForwardSteps, weights: tuple[Tensor, ...]) -> list[Tensor]:
    """Backpropagation through time over exactly the computed steps.

    Args:
        grad_top: ``(B, H)`` the loss's gradient at the top layer's hidden state at each decision.
        steps: the forward pass's :class:`ForwardSteps`.
        weights: ``nn.LSTM``'s flat weights.

    Returns:
        The gradients of the flat weights, in their order.
    """
    layers = len(steps.layers)
    offsets = [0]
    for count in steps.counts:
        offsets.append(offsets[-1] + count)
    # the gradient at each step's rows of the top layer's output: the loss's, at each decision
    injected: list[Tensor | None] = [None] * len(steps.counts)
    rows: Tensor | None = None
    for t, (done, keep) in enumerate(zip(steps.deciding, steps.kept)):
        if done is not None:
            injected[t] = grad_top[done if rows is None else rows[done]]
        if keep is not None:
            rows = keep if rows is None else rows[keep]
    grads: list[Tensor] = []
    from_above: list[Tensor] | None = None  # per step, the gradient at this layer's output from the one above
    for layer in reversed(range(layers)):
        w_ih, w_hh = weights[4 * layer], weights[4 * layer + 1]
        saved = steps.layers[layer]
        hidden_size = w_hh.shape[1]
        d_gates = torch.empty_like(saved.gates)
        grad_hidden = grad_cell = None  # at the rows of the step after the current one
        for t in reversed(range(len(steps.counts))):
            start, stop = offsets[t], offsets[t + 1]
            n = stop - start
            if grad_hidden is None:  # the last step: nothing comes from a later one
                grad_hidden, grad_cell = (saved.tanh_cell.new_zeros(n, hidden_size) for _ in range(2))
            elif steps.kept[t] is not None:  # the rows that went on are a subset of this step's
                keep = steps.kept[t]
                grad_hidden = saved.tanh_cell.new_zeros(n, hidden_size).index_copy_(0, keep, grad_hidden)
                grad_cell = saved.tanh_cell.new_zeros(n, hidden_size).index_copy_(0, keep, grad_cell)
            if from_above is not None:
                grad_hidden = grad_hidden + from_above[t]
            elif injected[t] is not None:
                grad_hidden = grad_hidden.index_add(0, steps.deciding[t], injected[t])
            i, f, g, o = saved.gates[start:stop].split(hidden_size, 1)
            tanh_cell = saved.tanh_cell[start:stop]
            grad_cell = torch.addcmul(grad_cell, grad_hidden * o, 1 - tanh_cell * tanh_cell)
            d_i, d_f, d_g, d_o = d_gates[start:stop].split(hidden_size, 1)
            torch.mul(grad_cell, g, out=d_i).mul_(i * (1 - i))
            torch.mul(grad_cell, saved.cell_before[start:stop], out=d_f).mul_(f * (1 - f))
            torch.mul(grad_cell, i, out=d_g).mul_(1 - g * g)
            torch.mul(grad_hidden, tanh_cell, out=d_o).mul_(o * (1 - o))
            if t > 0:  # no gradient flows into the initial (zero) state
                grad_hidden = d_gates[start:stop] @ w_hh
                grad_cell = grad_cell * f
        grad_bias = d_gates.sum(0)
        first = steps.counts[0]  # step 0's hidden state is zero: it adds nothing to W_hh's gradient
        grads = [d_gates.t() @ saved.inputs, d_gates[first:].t() @ saved.hidden_before[first:], grad_bias,
                 grad_bias.clone(), *grads]
        if layer > 0:
            grad_inputs = d_gates @ w_ih
            from_above = [grad_inputs[offsets[t]:offsets[t + 1]] for t in range(len(steps.counts))]
    return grads


class TruncatedLSTM(torch.autograd.Function):
    """The LSTM's flat weights -> the top layer's hidden state at each example's decision ``(B, H)``.

    ``apply(x, rule, readout, decided, *weights)``: ``x`` ``(B, T, F)`` (no gradient), the
    crossing ``rule`` and the ``readout`` it is tested on, and a dict ``decided`` that receives
    ``step_index`` ``(B,)`` long, ``crossed`` ``(B,)`` bool and ``read``, the steps computed.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, rule: CrossingRule, readout: torch.nn.Linear, decided: dict[str, Any],
                *weights: Tensor) -> Tensor:
        top, step_index, crossed, steps = forward_steps(x, weights, len(weights) // 4, readout, rule)
        kept = [tensor for layer in steps.layers for tensor in vars(layer).values()]
        ctx.save_for_backward(*weights, *kept)  # saved tensors: autograd counts them, and checks the weights
        ctx.weight_count, ctx.steps = len(weights), steps
        decided.update(step_index=step_index, crossed=crossed, read=sum(steps.counts))
        return top

    @staticmethod
    def backward(ctx: Any, grad_top: Tensor) -> tuple:
        weights = ctx.saved_tensors[:ctx.weight_count]
        return None, None, None, None, *backward_steps(grad_top.contiguous(), ctx.steps, weights)


def blas_truncated_scores(model: LSTMClassifier, x: Tensor, rule: CrossingRule) -> TruncatedScores:
    """Scores at each example's decision ``(batch, outputs)``, with the graph of its steps ``0 .. d`` only,
    through :class:`TruncatedLSTM` (``model``, ``x`` and ``rule`` as :func:`unsupported_reason` accepts them)."""
    decided: dict[str, Any] = {}
    top = TruncatedLSTM.apply(x, rule, model.readout, decided, *model.lstm._flat_weights)
    scores = model.readout(top)
    with torch.no_grad():
        prediction = rule.predict(scores.detach())
    decision = Decision(prediction, decided["step_index"], decided["crossed"])
    return TruncatedScores(scores, decision, decided["read"], decided["read"], "blas")
