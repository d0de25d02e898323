"""Truncated RC training on the fused LSTM: a no-grad search, then one packed gradient pass.

The RC loss of an example needs only its scores at its decision step (the
first crossing, or the last step), so the gradient-carrying pass needs each
example's steps up to its decision and nothing after it. Where the decision
falls is not known before the recurrence has run, so a training step makes
two passes through the same ``nn.LSTM`` weights:

1. **Search** (no autograd): the fused LSTM runs over chunks of a few steps,
   carrying ``(h, c)`` from chunk to chunk; after each chunk the readout and
   the crossing rule find the examples that decided in it (their first
   crossing, or the last step), and those leave the batch. Only the examples
   still undecided enter the next chunk, so a few examples that never cross
   run to ``T`` alone, not with the whole batch. A chunk may run an example a
   few steps past its crossing (the rest of that chunk); nothing of those
   steps is kept. The chunk length trades the fixed cost of a fused call
   against those extra steps (:func:`chunk_length`). Without autograd, the
   search alone is early-exit inference for a batch
   (:func:`rc.inference.early_exit_decide`).
2. **Gradient pass**: every example's own steps ``0 .. d`` (``d`` its decision
   step) as one packed sequence through the fused ``nn.LSTM``, forward and
   backward. A packed sequence never computes a step past a sequence's length,
   so no step after an example's decision is in the graph; the LSTM's last
   hidden state of each sequence is its state at the decision, and the readout
   of it gives the scores the loss is taken at.

Both passes are the kernels the naive step uses (on the CPU, oneDNN's fused
RNN), so a step costs about (search + gradient pass) / (the naive step's
forward + backward) of the naive step, instead of paying a Python step loop's
fixed cost per step. The loss and every gradient equal the naive step's up to
float rounding: the decision steps come from the search, the scores from the
gradient pass, and both compute the same recurrence as the naive full pass.

Dropout (training mode, ``p > 0``) is drawn in the search, per example and
step, on exactly the steps it computes: the input mask of each step (after
the encoder) and the mask of the top layer's output, whose value at each
example's decision the gradient pass reuses, so that the decision is taken on
the same dropped-out scores the loss is taken at. Every mask element is drawn
independently with the naive step's distribution (``nn.Dropout``: zero with
probability p, else 1 / (1 - p)), so the two steps agree in distribution;
they draw different random numbers, so their values agree only without
dropout (evaluation mode or ``p = 0``).

With a convolutional front end (:class:`rc.model.ConvLSTMClassifier`) the
encoder runs once per frame the search reads (each chunk's frames of the
undecided examples). While autograd is on (training), it runs there with its
graph, and the gradient pass takes each example's encoded frames ``0 .. d``
from the search instead of encoding them again: the encoder costs most of a
step (a 5x5 convolution pair against one LSTM step), and encoding twice made
the step up to 2x slower than the step loop. Frames a chunk read past a
crossing are in the encoder's graph but not in the loss, so their gradient is
exactly zero; the loss and gradients are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rc.crossing import CrossingRule, Decision
from rc.events import ActiveInputs
from rc.model import ConvEncoder, ConvLSTMClassifier, LSTMClassifier

CALL_COST_MACS = 20_000_000
"""The fixed cost of one search chunk (the fused call, the readout and the crossing bookkeeping), in
multiply-accumulates of its steps (a few hundred us on one CPU core): with the weights' cost it sets
the chunk length (:func:`chunk_length`)."""

WEIGHT_COST_MACS = 64
"""The further cost of a fused call per LSTM weight (oneDNN lays the weights out anew at each call),
in multiply-accumulates."""

MAX_CHUNK = 64
"""The longest chunk the search runs at once."""

STEP_PATHS = ("compiled", "blas", "fused", "step-loop")
"""The implementations of the truncated step (:func:`rc.training.truncated_scores`): the compiled
kernels (:mod:`rc.compiled_training`), the hand-written backpropagation of :mod:`rc.blas_training`,
this module's search and packed pass, and the step loop (:func:`rc.streaming.stream_decisions`).
Only the fused one computes steps past a crossing (its search's chunks), so it counts more forward
step evaluations for the same decisions."""

SMALL_LSTM_WEIGHTS = 100_000
"""Up to this many LSTM weights (about 150 units), a gradient-pass call of 2 steps runs as single
steps (:func:`cell_steps`); above it, only a call of 1 step does."""


@dataclass(frozen=True)
class FusedParts:
    """What the fused step reads of a model.

    Attributes:
        lstm: the ``nn.LSTM``.
        readout: the linear readout applied to the top layer's output.
        encoder: the per-frame encoder, or None.
        dropout: the dropout probability in effect (0 in evaluation mode).
        macs_per_step: dense forward MACs of one step of one example.
        lstm_weights: number of LSTM weights (their layout cost per fused call).
        input_events: the model's event-driven input projection (:class:`rc.events.ActiveInputs`),
            which the search uses on the LSTM's own input; None with an encoder (its output is dense).
    """

    lstm: nn.LSTM
    readout: nn.Linear
    encoder: ConvEncoder | None
    dropout: float
    macs_per_step: int
    lstm_weights: int
    input_events: ActiveInputs | None = None


def lstm_weights(lstm: nn.LSTM) -> int:
    """Weights of an ``nn.LSTM``, biases included."""
    return sum(w.numel() for w in lstm._flat_weights)


def fused_parts(model: object) -> FusedParts | None:
    """The parts of an :class:`rc.model.LSTMClassifier` or :class:`rc.model.ConvLSTMClassifier`
    (exactly those classes: a subclass may step differently), or None for any other model."""
    if type(model) is LSTMClassifier:
        recurrent, encoder = model, None
    elif type(model) is ConvLSTMClassifier:
        recurrent, encoder = model.recurrent, model.encoder
    else:
        return None
    if type(recurrent) is not LSTMClassifier:
        return None
    dropout = recurrent.dropout.p if recurrent.training and recurrent.dropout.p > 0 else 0.0
    return FusedParts(recurrent.lstm, recurrent.readout, encoder, float(dropout), int(model.dense_macs_per_step()),
                      lstm_weights(recurrent.lstm), recurrent.input_events if encoder is None else None)


def chunk_length(parts: FusedParts, active: int, start: int, remaining: int) -> int:
    """Steps of the next search chunk: ``active`` undecided examples, ``start`` steps done, ``remaining`` left.

    A fused call has a fixed cost ``c`` (:data:`CALL_COST_MACS`, plus
    :data:`WEIGHT_COST_MACS` per LSTM weight), a step of the active examples
    a cost ``s``. A chunk of ``L`` steps wastes up to ``L - 1`` steps past a
    crossing, and reaching a decision ``d`` steps in costs about
    ``c d / L + s (d + L / 2)``, least at ``L = sqrt(2 d c / s)``. Not
    knowing ``d``, the search takes the steps done so far (at least 1) for
    it, so chunks grow as the search goes on without a decision; they are
    at least 1 step and at most :data:`MAX_CHUNK`. With small networks and
    few active examples a call costs more than many steps and chunks are long;
    with large ones, short. Only the cost depends on it, never the result.
    """
    ratio = (CALL_COST_MACS + WEIGHT_COST_MACS * parts.lstm_weights) / (active * parts.macs_per_step)
    return max(1, min(remaining, MAX_CHUNK, math.ceil(math.sqrt(2 * ratio * max(start, 1)))))


def _dropout_mask(p: float, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``nn.Dropout``'s multiplier: 0 with probability ``p``, else ``1 / (1 - p)``."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1 - p).div_(1 - p)


@dataclass(frozen=True)
class Search:
    """What the search pass found.

    Attributes:
        step_index: ``(batch,)`` long, each example's decision step.
        crossed: ``(batch,)`` bool, whether it crossed (False: it reached the last step).
        prediction: ``(batch,)`` long, the rule's prediction from the scores at the decision step.
        evaluations: step evaluations the search computed (one example, one step),
            including the steps run past a crossing to the end of a chunk.
        input_mask: ``(batch, time, features)`` dropout multipliers of the LSTM's input,
            written for every step the search computed, or None without dropout.
        output_mask: ``(batch, hidden)`` dropout multipliers of the top layer's output
            at each example's decision, or None without dropout.
        features: ``(frames computed, encoder features)`` the encoder's outputs, with
            their graph, in the order the search computed them; None without an encoder
            or with autograd off.
        feature_row: ``(batch * time,)`` long, the row of ``features`` holding example
            ``b``'s step ``t`` at ``b * time + t`` (-1 where the search did not read it);
            None when ``features`` is.
    """

    step_index: Tensor
    crossed: Tensor
    prediction: Tensor
    evaluations: int
    input_mask: Tensor | None
    output_mask: Tensor | None
    features: Tensor | None = None
    feature_row: Tensor | None = None


@torch.no_grad()
def search_decisions(parts: FusedParts, x: Tensor, rule: CrossingRule, chunk: int | None = None,
                     keep_features: bool = False) -> Search:
    """Find every example's decision step with the fused LSTM over chunks, dropping decided examples.

    Args:
        parts: the model's :class:`FusedParts`.
        x: ``(batch, time, features)`` inputs.
        rule: the crossing rule.
        chunk: a fixed chunk length, or None for :func:`chunk_length`'s.
        keep_features: with an encoder, run it with autograd and keep its outputs
            (:attr:`Search.features`) for the gradient pass; everything else runs without.
    """
    lstm, p = parts.lstm, parts.dropout
    batch, time, _ = x.shape
    device = x.device
    weights = lstm._flat_weights
    step_index = torch.full((batch,), time - 1, dtype=torch.long, device=device)
    crossed = torch.zeros(batch, dtype=torch.bool, device=device)
    prediction = torch.zeros(batch, dtype=torch.long, device=device)
    input_mask = output_mask = None
    if p:
        features = lstm.input_size
        input_mask = torch.empty(batch, time, features, dtype=x.dtype, device=device)
        output_mask = torch.empty(batch, lstm.hidden_size, dtype=x.dtype, device=device)
    keep_features = keep_features and parts.encoder is not None
    encoded: list[Tensor] = []
    feature_row = torch.full((batch * time,), -1, dtype=torch.long, device=device) if keep_features else None
    rows: Tensor | None = None  # the undecided examples' rows of x; None while all are
    zeros = torch.zeros(lstm.num_layers, batch, lstm.hidden_size, dtype=x.dtype, device=device)
    state: tuple[Tensor, Tensor] = (zeros, zeros)
    evaluations, start = 0, 0
    while start < time:
        active = batch if rows is None else rows.numel()
        length = chunk if chunk is not None else chunk_length(parts, active, start, time - start)
        stop = min(time, start + length)
        inputs = x[:, start:stop] if rows is None else x[rows, start:stop]
        if parts.encoder is not None:
            frames = inputs.reshape(active * (stop - start), -1)
            if feature_row is None:
                inputs = parts.encoder(frames).reshape(active, stop - start, -1)
            else:
                with torch.enable_grad():
                    features = parts.encoder(frames)
                examples = torch.arange(batch, device=device) if rows is None else rows
                frame_ids = examples[:, None] * time + torch.arange(start, stop, device=device)
                # the frames encoded before this chunk are the step evaluations so far
                feature_row[frame_ids.reshape(-1)] = torch.arange(evaluations, evaluations + len(features),
                                                                  device=device)
                encoded.append(features)
                inputs = features.detach().reshape(active, stop - start, -1)
        if p:
            mask = _dropout_mask(p, inputs.shape, inputs)
            input_mask[slice(None) if rows is None else rows, start:stop] = mask
            inputs = inputs * mask
        chunk_weights = weights
        if parts.input_events is not None:  # the chunk's active features only (rc.events)
            flat, first = parts.input_events.select(inputs.reshape(-1, inputs.shape[2]), weights[0])
            if first is not weights[0]:
                inputs, chunk_weights = flat.view(active, stop - start, -1), [first, *weights[1:]]
        outputs, hidden, cell = torch.lstm(inputs, state, chunk_weights, lstm.bias, lstm.num_layers, 0.0, False,
                                           False, True)
        evaluations += active * (stop - start)
        top_mask = _dropout_mask(p, outputs.shape, outputs) if p else None
        scores = parts.readout(outputs if top_mask is None else outputs * top_mask)  # (active, steps, outputs)
        hit = rule.crossed(scores)  # (active, steps)
        if stop == time:  # the last step decides the rest, crossed or not
            decides = torch.ones(active, dtype=torch.bool, device=device)
            first = torch.where(hit.any(dim=1), hit.to(torch.uint8).argmax(dim=1), stop - start - 1)
        else:
            decides = hit.any(dim=1)
            if not bool(decides.any()):
                start, state = stop, (hidden, cell)
                continue
            first = hit.to(torch.uint8).argmax(dim=1)
        done = decides.nonzero(as_tuple=True)[0]
        done_rows = done if rows is None else rows[done]
        step_index[done_rows] = start + first[done]
        crossed[done_rows] = hit[done, first[done]]
        prediction[done_rows] = rule.predict(scores[done, first[done]])
        if top_mask is not None:
            output_mask[done_rows] = top_mask[done, first[done]]
        if done.numel() == active:
            break
        keep = (~decides).nonzero(as_tuple=True)[0]
        rows = keep if rows is None else rows[keep]
        start, state = stop, (hidden[:, keep], cell[:, keep])
    with torch.enable_grad():  # the concatenation keeps the encoder's graph
        features = torch.cat(encoded) if encoded else None
    return Search(step_index, crossed, prediction, evaluations, input_mask, output_mask, features,
                  feature_row if features is not None else None)


@dataclass(frozen=True)
class Call:
    """One fused call of the gradient pass: ``length`` steps of each example in ``rows``, from its step ``offsets``.

    Attributes:
        length: steps the call runs.
        rows: the examples it runs (rows of the batch, ascending).
        offsets: the step each of them starts at (the steps before it ran in earlier calls).
    """

    length: int
    rows: list[int]
    offsets: list[int]


def call_plan(lengths: Sequence[int]) -> list[Call]:
    """Fused calls that run every example ``b`` over exactly its steps ``0 .. lengths[b] - 1``, in order.

    A fused call runs all its examples the same number of steps, and an
    example's state carries from one call to the next it takes part in, so
    each example needs calls whose lengths add up to its own. Two plans, the
    one with fewer calls is taken (the unary one on a tie):

    * unary: one call per distinct length ``u_1 < u_2 < ...``, the k-th
      ``u_k - u_{k-1}`` steps long, for every example at least ``u_k`` long;
    * binary: one call of the shortest length ``m`` for every example, then
      one call per bit of ``lengths - m``, highest first (``2^j`` steps, for
      the examples with bit ``j`` set): at most ``1 + log2(T)`` calls
      however the lengths spread.

    Every example runs exactly its own steps (no step past its length), so
    the calls hold ``sum(lengths)`` step evaluations whichever plan is taken.
    """
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be positive, got {list(lengths)}")
    batch = range(len(lengths))
    distinct = sorted(set(lengths))
    unary, previous = [], 0
    for length in distinct:
        rows = [b for b in batch if lengths[b] >= length]
        unary.append(Call(length - previous, rows, [previous] * len(rows)))
        previous = length
    shortest = distinct[0]
    binary = [Call(shortest, list(batch), [0] * len(lengths))]
    rest = [length - shortest for length in lengths]
    for bit in reversed(range(max(rest).bit_length())):
        rows = [b for b in batch if rest[b] >> bit & 1]
        if rows:  # a bit no example has set needs no call
            binary.append(Call(1 << bit, rows, [shortest + (rest[b] >> (bit + 1) << (bit + 1)) for b in rows]))
    return unary if len(unary) <= len(binary) else binary


def cell_steps(lstm: nn.LSTM, inputs: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """``lstm`` over ``inputs`` ``(n, steps, features)`` from ``state`` one step at a time (``torch.lstm_cell``,
    the same weights and numbers as the fused call): the final ``(h, c)``, each ``(layers, n, hidden)``.

    A fused call has a fixed cost (oneDNN sets it up anew, forward and backward) that a call of one or
    two steps does not repay; single steps cost less there.
    """
    weights = lstm._flat_weights
    per_layer = len(weights) // lstm.num_layers
    hidden, cell = list(state[0].unbind(0)), list(state[1].unbind(0))
    for step in range(inputs.shape[1]):
        layer_input = inputs[:, step]
        for layer in range(lstm.num_layers):
            hidden[layer], cell[layer] = torch.lstm_cell(layer_input, (hidden[layer], cell[layer]),
                                                         *weights[per_layer * layer:per_layer * (layer + 1)])
            layer_input = hidden[layer]
    return torch.stack(hidden), torch.stack(cell)


def gradient_pass(parts: FusedParts, x: Tensor, search: Search) -> Tensor:
    """Scores ``(batch, outputs)`` at each example's decision, with the graph of its steps ``0 .. d`` only.

    The fused LSTM runs the calls of :func:`call_plan` with autograd, each
    example's ``(h, c)`` carried from one of its calls to the next; a call of
    one step (two for a small LSTM, :data:`SMALL_LSTM_WEIGHTS`) runs as
    single steps instead (:func:`cell_steps`).
    """
    lstm = parts.lstm
    batch, time = x.shape[:2]
    weights = lstm._flat_weights
    single_steps = 2 if parts.lstm_weights <= SMALL_LSTM_WEIGHTS else 1
    lengths = (search.step_index + 1).tolist()
    frames = x.reshape(batch * time, -1)  # row b * time + t is example b's step t
    masks = None if search.input_mask is None else search.input_mask.reshape(batch * time, -1)
    # (2, layers, batch, hidden): each example's (h, c) after its latest call
    state = torch.zeros(2, lstm.num_layers, batch, lstm.hidden_size, dtype=x.dtype, device=x.device)
    for call in call_plan(lengths):
        everyone = len(call.rows) == batch and len(set(call.offsets)) == 1
        if everyone and search.features is None:
            steps = slice(call.offsets[0], call.offsets[0] + call.length)
            inputs = x[:, steps]
            mask = None if masks is None else search.input_mask[:, steps]
            before = state
        else:
            index = torch.tensor([row * time + offset + step for row, offset in zip(call.rows, call.offsets)
                                  for step in range(call.length)], dtype=torch.long, device=x.device)
            if search.features is None:
                inputs = frames.index_select(0, index)
            else:  # the search's encoded frames, with their graph
                inputs = search.features.index_select(0, search.feature_row[index])
            inputs = inputs.view(len(call.rows), call.length, -1)
            mask = None if masks is None else masks.index_select(0, index).view(len(call.rows), call.length, -1)
            rows = torch.tensor(call.rows, dtype=torch.long, device=x.device)
            before = state if everyone else state.index_select(2, rows)
        n = inputs.shape[0]
        if parts.encoder is not None and search.features is None:
            inputs = parts.encoder(inputs.reshape(n * call.length, -1)).reshape(n, call.length, -1)
        if mask is not None:
            inputs = inputs * mask
        if call.length <= single_steps:
            after = torch.stack(cell_steps(lstm, inputs, (before[0], before[1])))
        else:
            _outputs, hidden, cell = torch.lstm(inputs, (before[0], before[1]), weights, lstm.bias, lstm.num_layers,
                                                0.0, lstm.training, False, True)
            after = torch.stack((hidden, cell))
        state = after if n == batch else state.index_copy(2, rows, after)
    hidden = state[0]
    top = hidden[-1]  # (batch, hidden): each example's top-layer output at its decision
    if search.output_mask is not None:
        top = top * search.output_mask
    return parts.readout(top)


@dataclass(frozen=True)
class TruncatedScores:
    """Scores at each example's decision, with the graph of the steps it read.

    Attributes:
        scores: ``(batch, outputs)`` at each decision, with graph.
        decision: the :class:`rc.crossing.Decision` (no gradient).
        forward_evaluations: step evaluations computed forward: the search's
            (including steps past a crossing up to the end of a chunk, without
            autograd) plus the gradient pass's.
        backward_evaluations: step evaluations the backward pass runs through:
            the sum over examples of (decision step + 1).
        path: the implementation that computed them (:data:`STEP_PATHS`); the step
            evaluations forward, hence a record's training MACs, depend on it.
    """

    scores: Tensor
    decision: Decision
    forward_evaluations: int
    backward_evaluations: int
    path: str


def fused_truncated_scores(parts: FusedParts, x: Tensor, rule: CrossingRule,
                           chunk: int | None = None) -> TruncatedScores:
    """The search, then the gradient pass (see the module docstring)."""
    search = search_decisions(parts, x, rule, chunk, keep_features=torch.is_grad_enabled())
    scores = gradient_pass(parts, x, search)
    read = int((search.step_index + 1).sum())
    with torch.no_grad():
        prediction = rule.predict(scores.detach())
    return TruncatedScores(scores, Decision(prediction, search.step_index, search.crossed),
                           search.evaluations + read, read, "fused")
