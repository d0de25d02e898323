"""Compiled truncated RC training of a plain LSTM: one numba call forward, one backward (numba, optional).

The fused path (:mod:`rc.fused_training`) makes two passes of fused ``nn.LSTM`` calls, a
no-grad search for the decision steps and a packed gradient pass; each call has a fixed
cost of hundreds of microseconds (more for a large network, whose weights oneDNN lays out
anew at each call), which a small network's steps do not repay (truncated training cost
about as much as the naive full pass at 16 units, more at batch 1), and the search adds a
third of the steps' forward cost. Here, for an :class:`rc.model.LSTMClassifier` (with
several torch threads, a batch small enough: :data:`COMPILED_TRAINING_WORK`; a large network
goes to :mod:`rc.blas_training` first, whose torch products are faster at that size):

* forward, one call of :func:`rc.training_kernels.lstm_truncated_forward` runs the batch
  step by step, the examples still undecided at a step together (one matrix product per
  layer and step, through BLAS when large enough), each up to its decision step ``d`` (the
  first crossing of the readout under the rule, else the last step) and nothing after it,
  keeping each step's gates and cell states;
* backward, one call of :func:`rc.training_kernels.lstm_truncated_backward` runs
  backpropagation through time over exactly those steps, from the gradient at each
  example's scores at its decision, and gives every weight's gradient (the readout's too),
  each weight's in one product over all the steps.

:class:`TruncatedLSTM` ties the two into autograd: it maps the LSTM's and the readout's
weights to the scores at each decision ``(batch, outputs)``; the RC loss stays in torch.
Every step is computed once, so the step evaluations forward and backward are both the
sum of the steps read.

The decision and the loss are taken on the kernel's float32 scores (as :mod:`rc.compiled`
takes the decision); they equal the naive step's up to float rounding (a score within
rounding of the threshold could decide a step apart).
Without numba, or for anything the kernels do not compute (a convolutional front end,
dropout in effect, float64, a GPU, a rule with no compiled test, a larger network or batch
with several torch threads), :func:`unsupported_reason` says why and
:func:`rc.training.truncated_scores` takes another path. The checks read the model itself,
not :func:`rc.fused_training.fused_parts` (whose operation counts cost more than a small
network's whole compiled forward pass).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rc import compiled
from rc.crossing import CrossingRule, Decision
from rc.fused_training import TruncatedScores, lstm_weights
from rc.model import LSTMClassifier

COMPILED_TRAINING_WORK = 1_200_000
"""With more than one torch thread, the compiled path trains a batch only when its LSTM weights (biases
included) times its examples are at most this: its products run on as many threads as torch's
(:func:`rc.threads.set_cpu_threads`), but the activations and the bookkeeping between them on one, and
above it oneDNN's threaded kernels of the fused path may be faster; nothing was measured with several
threads. With one torch thread (``rcbench run --threads 1``, as the suite's runs use) it trains every
size that :mod:`rc.blas_training` does not take. Measured with alternating rounds of the ``rcbench speed`` trigger model (its readout leaking onto
every unit, so that the gradients are dense, as a trained network's), decisions at T = 80 / 4,
truncated / naive over r, the compiled path against the torch-only one (:mod:`rc.blas_training`) and
the fused one, median of 5 rounds, one core shared with a training job: see ``docs/findings.md``,
"Batched compiled training"."""

_KERNELS: dict[str, Callable[..., Any]] = {}
_KERNELS_LOCK = threading.Lock()


def training_kernels() -> dict[str, Callable[..., Any]]:
    """The ``forward`` and ``backward`` kernels of :mod:`rc.training_kernels`; numba is imported, and
    the kernels compiled or loaded from numba's cache, on first use."""
    if _KERNELS:
        return _KERNELS
    with _KERNELS_LOCK:
        if not _KERNELS:
            from rc import training_kernels as kernels

            _KERNELS.update({"forward": kernels.lstm_truncated_forward, "backward": kernels.lstm_truncated_backward})
    return _KERNELS


def unsupported_reason(model: object, x: Tensor, rule: CrossingRule) -> str | None:
    """Why :func:`compiled_truncated_scores` does not train ``model`` on ``x`` under ``rule``; None when it does."""
    if not compiled.NUMBA_AVAILABLE:
        return "numba is not installed (pip install numba, or the package's [fast] extra)"
    if type(model) is not LSTMClassifier:  # exactly: a subclass may step differently
        return f"only an LSTMClassifier is compiled, not a {type(model).__name__}"
    lstm, readout = model.lstm, model.readout
    if model.training and model.dropout.p > 0:
        return "dropout in effect is not compiled"
    if (reason := compiled.plain_lstm_reason(lstm)) is not None:
        return reason
    if type(rule) not in compiled.COMPILED_RULES or not rule.streaming:
        return f"no compiled crossing test for the rule {rule.name!r}"
    tensors = (x, readout.weight, readout.bias, *lstm._flat_weights)
    if not all(t.dtype is torch.float32 and t.is_cpu for t in tensors):  # one pass: this runs every step
        if any(t.dtype is not torch.float32 for t in tensors):
            return "only float32 weights and inputs are compiled"
        return "the compiled path runs on the CPU only"
    if x.requires_grad:
        return "the compiled path gives no gradient of the input"
    if (threads := torch.get_num_threads()) > 1 and (work := lstm_weights(lstm) * x.shape[0]) > COMPILED_TRAINING_WORK:
        return (f"LSTM weights x examples = {work} with {threads} torch threads: more than the "
                f"{COMPILED_TRAINING_WORK} the one-thread compiled path is taken for")
    return None


def _array(tensor: Tensor) -> np.ndarray:
    """``tensor``'s values as a numpy array sharing its memory (on the CPU)."""
    return tensor.detach().numpy()


class TruncatedLSTM(torch.autograd.Function):
    """The LSTM's and the readout's weights -> each example's scores at its decision, through the kernels.

    ``apply(x, rule_arguments, decided, readout_weight, readout_bias, *weights)``: ``x`` ``(B, T, F)``
    float32 (no gradient), ``rule_arguments`` the compiled rule's ``(test, theta, low)``, ``weights``
    the ``nn.LSTM``'s flat weights (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` per layer).
    Returns the scores ``(B, C)``; the decisions, which have no gradient, go into the dict ``decided``
    (``step_index`` ``(B,)`` long, ``crossed`` ``(B,)`` bool, ``prediction`` ``(B,)`` long from the
    scores, and ``read``, the steps computed) instead of being outputs: each output costs the
    autograd Function some microseconds, and at batch 1 these add up.

    The readout is computed in the kernel with the recurrence: in torch, its graph (the linear
    layer forward and backward) cost about 40 us of a 300 us training step at 16 units and batch 1.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, rule_arguments: tuple, decided: dict[str, Any], readout_weight: Tensor,
                readout_bias: Tensor, *weights: Tensor) -> Tensor:
        arrays = [_array(w) for w in weights]
        w_ih, w_hh, b_ih, b_hh = (tuple(arrays[k::4]) for k in range(4))
        inputs, readout = _array(x.contiguous()), _array(readout_weight)  # one compiled layout of x
        gates, cells, tanh_cells, rows, previous, decision_row, step, hit, prediction, top, scores = training_kernels()[
            "forward"](inputs, w_ih, w_hh, b_ih, b_hh, readout, _array(readout_bias), *rule_arguments)
        # saved as tensors too: autograd counts them, and checks that x and the weights are unchanged
        ctx.save_for_backward(x, *(torch.from_numpy(a) for a in (gates, cells, tanh_cells, previous, top)),
                              readout_weight, *weights)
        ctx.arrays = (inputs, gates, cells, tanh_cells, rows, previous, decision_row, top), (w_ih, w_hh, readout)
        decided.update(step_index=torch.from_numpy(step), crossed=torch.from_numpy(hit),
                       prediction=torch.from_numpy(prediction), read=gates.shape[1])
        return torch.from_numpy(scores)

    @staticmethod
    def backward(ctx: Any, grad_scores: Tensor) -> tuple:
        ctx.saved_tensors  # noqa: B018  (raises if x or a weight was changed in place since forward)
        state, weights = ctx.arrays
        first, upper, recurrent, bias, readout, readout_bias = (torch.from_numpy(a) for a in training_kernels()[
            "backward"](*state, grad_scores.contiguous().numpy(), *weights))
        grads: list[Tensor] = []
        for layer in range(recurrent.shape[0]):
            grads += [first if layer == 0 else upper[layer - 1], recurrent[layer], bias[layer, 0], bias[layer, 1]]
        return None, None, None, readout, readout_bias, *grads


def compiled_truncated_scores(model: LSTMClassifier, x: Tensor, rule: CrossingRule) -> TruncatedScores:
    """Scores at each example's decision ``(batch, outputs)``, with the graph of its steps ``0 .. d`` only,
    through :class:`TruncatedLSTM` (``model``, ``x`` and ``rule`` as :func:`unsupported_reason` accepts them)."""
    rule_arguments = (compiled.COMPILED_RULES[type(rule)], np.float32(rule.theta), np.float32(1.0 - rule.theta))
    readout, decided = model.readout, {}
    scores = TruncatedLSTM.apply(x, rule_arguments, decided, readout.weight, readout.bias, *model.lstm._flat_weights)
    decision = Decision(decided["prediction"], decided["step_index"], decided["crossed"])
    return TruncatedScores(scores, decision, decided["read"], decided["read"], "compiled")
