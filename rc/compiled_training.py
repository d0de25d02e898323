"""Compiled truncated RC training of a plain LSTM: numba calls forward and backward (numba, optional).

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
:func:`compiled_rc_loss` (what :func:`rc.training.truncated_rc_step` takes with
``autograd=False``, as ``rc-lstm`` trains, for the rules of :data:`rc.compiled.LOSS_ENTROPY`)
does without autograd: one call of :func:`rc.training_kernels.lstm_rc_training_step` runs the
forward kernel, the RC loss and its gradient with respect to the scores, written out by hand
(:func:`rc.training_kernels.rc_loss_gradient`), and the backward kernel, and
:meth:`CompiledLoss.backward` adds the gradients to the parameters' ``.grad``; at a batch of one
small example autograd's fixed cost (the Function, the loss's operators and their backward
nodes, the gradient accumulations) was several times the kernels' whole step.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rc import compiled
from rc.crossing import CrossingRule, Decision, TwoSidedBinary
from rc.fused_training import TruncatedScores, lstm_weights
from rc.loss import check_beta
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
    """The ``forward``, ``backward``, whole-``step`` and ``loss`` kernels of :mod:`rc.training_kernels`; numba
    is imported, and the kernels compiled or loaded from numba's cache, on first use."""
    if _KERNELS:
        return _KERNELS
    with _KERNELS_LOCK:
        if not _KERNELS:
            from rc import training_kernels as kernels

            _KERNELS.update({"forward": kernels.lstm_truncated_forward, "backward": kernels.lstm_truncated_backward,
                             "step": kernels.lstm_rc_training_step, "loss": kernels.rc_loss_gradient})
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


@dataclass(frozen=True)
class KernelPass:
    """One forward kernel call's outputs, and what its backward call needs.

    Attributes:
        scores: ``(B, C)`` float32 scores at each example's decision.
        step_index, crossed, prediction: ``(B,)`` the decisions (long, bool, long).
        read: the step evaluations computed (the sum of the steps read).
        state: the forward's arrays the backward kernel reads (inputs, gates, cells, tanh of the
            cells, each step's rows, each row's previous row, each example's decision row, the top
            layer's hidden state at each decision).
        weights: the weight arrays the backward kernel reads (``w_ih`` and ``w_hh`` per layer, the
            readout's weight).
        layers: the LSTM's layer count.
    """

    scores: np.ndarray
    step_index: np.ndarray
    crossed: np.ndarray
    prediction: np.ndarray
    read: int
    state: tuple[np.ndarray, ...]
    weights: tuple[Any, ...]
    layers: int

    def gradients(self, grad_scores: np.ndarray) -> list[Tensor]:
        """The backward kernel from ``grad_scores`` ``(B, C)`` float32: the gradients of the readout's weight
        and bias, then of the ``nn.LSTM``'s flat weights, in that order (each a tensor sharing its array)."""
        return parameter_gradients(*training_kernels()["backward"](*self.state, grad_scores, *self.weights))


def parameter_gradients(first: np.ndarray, upper: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
                        readout: np.ndarray, readout_bias: np.ndarray) -> list[Tensor]:
    """The backward kernel's gradients as tensors sharing their arrays, in the order of the readout's weight
    and bias, then the ``nn.LSTM``'s flat weights (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``
    per layer)."""
    arrays = [readout, readout_bias]
    for layer in range(recurrent.shape[0]):  # numpy's indexing, then one tensor each: cheaper than torch's
        arrays += [first if layer == 0 else upper[layer - 1], recurrent[layer], bias[layer, 0], bias[layer, 1]]
    return [torch.from_numpy(a) for a in arrays]


def kernel_arguments(x: Tensor, readout_weight: Tensor, readout_bias: Tensor, weights: Sequence[Tensor]) -> tuple:
    """``(inputs, w_ih, w_hh, b_ih, b_hh, readout, readout_bias)`` as the kernels take them: numpy arrays sharing
    the tensors' memory (``x`` made contiguous first), the ``nn.LSTM``'s flat ``weights`` as one tuple per kind
    with one array per layer."""
    arrays = [_array(w) for w in weights]
    return (_array(x.contiguous()), *(tuple(arrays[k::4]) for k in range(4)), _array(readout_weight),
            _array(readout_bias))


def kernel_forward(x: Tensor, rule_arguments: tuple, readout_weight: Tensor, readout_bias: Tensor,
                   weights: Sequence[Tensor]) -> KernelPass:
    """Run :func:`rc.training_kernels.lstm_truncated_forward` on ``x`` ``(B, T, F)`` float32 under the compiled
    rule's ``(test, theta, low)``, with the readout and the ``nn.LSTM``'s flat weights ``weights``."""
    arguments = kernel_arguments(x, readout_weight, readout_bias, weights)
    inputs, w_ih, w_hh, readout = arguments[0], arguments[1], arguments[2], arguments[5]
    gates, cells, tanh_cells, rows, previous, decision_row, step, hit, prediction, top, scores = training_kernels()[
        "forward"](*arguments, *rule_arguments)
    return KernelPass(scores, step, hit, prediction, gates.shape[1],
                      (inputs, gates, cells, tanh_cells, rows, previous, decision_row, top), (w_ih, w_hh, readout),
                      len(w_ih))


def _rule_arguments(rule: CrossingRule) -> tuple:
    """The compiled crossing test of ``rule`` and its two thresholds, as the kernels take them."""
    return compiled.COMPILED_RULES[type(rule)], np.float32(rule.theta), np.float32(1.0 - rule.theta)


def _decision(prediction: np.ndarray, step_index: np.ndarray, crossed: np.ndarray) -> Decision:
    """The kernels' decision arrays ``(B,)`` as a :class:`rc.crossing.Decision` sharing their memory."""
    return Decision(torch.from_numpy(prediction), torch.from_numpy(step_index), torch.from_numpy(crossed))


class TruncatedLSTM(torch.autograd.Function):
    """The LSTM's and the readout's weights -> each example's scores at its decision, through the kernels.

    ``apply(x, rule_arguments, decided, readout_weight, readout_bias, *weights)``: ``x`` ``(B, T, F)``
    float32 (no gradient), ``rule_arguments`` the compiled rule's ``(test, theta, low)``, ``weights``
    the ``nn.LSTM``'s flat weights (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` per layer).
    Returns the scores ``(B, C)``; the forward pass (:class:`KernelPass`), whose decisions have no
    gradient, goes into the dict ``decided`` under ``kernel`` instead of being outputs: each output
    costs the autograd Function some microseconds, and at batch 1 these add up.

    The readout is computed in the kernel with the recurrence: in torch, its graph (the linear
    layer forward and backward) cost about 40 us of a 300 us training step at 16 units and batch 1.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, rule_arguments: tuple, decided: dict[str, Any], readout_weight: Tensor,
                readout_bias: Tensor, *weights: Tensor) -> Tensor:
        kernel = kernel_forward(x, rule_arguments, readout_weight, readout_bias, weights)
        # saved as tensors too: autograd counts them, and checks that x and the weights are unchanged
        _inputs, gates, cells, tanh_cells, _rows, previous, _decision_row, top = kernel.state
        ctx.save_for_backward(x, *(torch.from_numpy(a) for a in (gates, cells, tanh_cells, previous, top)),
                              readout_weight, *weights)
        ctx.kernel = decided["kernel"] = kernel
        return torch.from_numpy(kernel.scores)

    @staticmethod
    def backward(ctx: Any, grad_scores: Tensor) -> tuple:
        ctx.saved_tensors  # noqa: B018  (raises if x or a weight was changed in place since forward)
        return None, None, None, *ctx.kernel.gradients(grad_scores.contiguous().numpy())


def compiled_truncated_scores(model: LSTMClassifier, x: Tensor, rule: CrossingRule) -> TruncatedScores:
    """Scores at each example's decision ``(batch, outputs)``, with the graph of its steps ``0 .. d`` only,
    through :class:`TruncatedLSTM` (``model``, ``x`` and ``rule`` as :func:`unsupported_reason` accepts them)."""
    readout, decided = model.readout, {}
    scores = TruncatedLSTM.apply(x, _rule_arguments(rule), decided, readout.weight, readout.bias,
                                 *model.lstm._flat_weights)
    kernel: KernelPass = decided["kernel"]
    decision = _decision(kernel.prediction, kernel.step_index, kernel.crossed)
    return TruncatedScores(scores, decision, kernel.read, kernel.read, "compiled")


def loss_unsupported_reason(model: object, x: Tensor, rule: CrossingRule) -> str | None:
    """Why :func:`compiled_rc_loss` does not take the loss of ``model`` on ``x`` under ``rule``; None when it does."""
    if type(rule) not in compiled.LOSS_ENTROPY:
        return f"no hand-written loss gradient for the rule {type(rule).__name__}"
    return unsupported_reason(model, x, rule)


def _loss_arguments(rule: CrossingRule, classes: int, targets: np.ndarray, beta: float) -> tuple:
    """``(targets, entropy, beta)`` as :func:`rc.training_kernels.rc_loss_gradient` takes them, after checking
    that ``rule`` (one of :data:`rc.compiled.LOSS_ENTROPY`) reads ``classes`` scores and that ``beta`` >= 0."""
    beta = check_beta(beta)
    if (classes == 1) != (type(rule) is TwoSidedBinary):
        rule.check_scores(torch.empty(classes))  # raises, naming the rule's need
    entropy = compiled.LOSS_ENTROPY[type(rule)] if beta else compiled.NO_ENTROPY
    return targets.astype(np.float64), entropy, beta


def rc_loss_and_gradient(scores: np.ndarray, targets: np.ndarray, rule: CrossingRule,
                         beta: float) -> tuple[float, np.ndarray]:
    """The RC loss :func:`rc.loss.rc_loss` on the logits and its gradient with respect to ``scores``, by hand
    (:func:`rc.training_kernels.rc_loss_gradient`), as the compiled training step takes them.

    Args:
        scores: ``(B, C)`` float32 logits at each example's decision; ``C = 1`` is a binary task.
        targets: ``(B,)`` class labels (0/1 for one unit).
        rule: a rule of exactly one of the classes of :data:`rc.compiled.LOSS_ENTROPY`.
        beta: entropy weight, >= 0.

    Returns:
        The loss and ``d loss / d scores`` ``(B, C)`` float32.

    Raises:
        ValueError: a rule without a hand-written gradient, scores the rule cannot read, mismatched
            shapes, or a label that is not a class.
    """
    if type(rule) not in compiled.LOSS_ENTROPY:
        raise ValueError(f"no hand-written RC loss gradient for the rule {type(rule).__name__}; known: "
                         f"{', '.join(r.__name__ for r in compiled.LOSS_ENTROPY)}")
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (B, C) and targets (B,), got {scores.shape} and {targets.shape}")
    loss, gradient = training_kernels()["loss"](np.ascontiguousarray(scores, dtype=np.float32),
                                                *_loss_arguments(rule, scores.shape[1], targets, beta))
    return float(loss), gradient


class CompiledLoss:
    """The RC loss of a batch and its gradients, one compiled call, outside autograd.

    Attributes:
        loss: the scalar loss, float32, without an autograd graph.
        decision: the decisions the loss was taken at.
        read: the step evaluations computed, forward and backward alike.
    """

    __slots__ = ("loss", "decision", "read", "_parameters", "_versions", "_gradients")

    def __init__(self, loss: Tensor, decision: Decision, read: int, parameters: Sequence[Tensor],
                 gradients: Sequence[Tensor]) -> None:
        self.loss, self.decision, self.read = loss, decision, read
        self._parameters, self._gradients = parameters, gradients
        self._versions = [p._version for p in parameters]

    def backward(self) -> None:
        """Add each parameter's gradient of the loss to its ``.grad``, as ``loss.backward()`` would (the
        parameters that do not require a gradient are left alone; hooks on them are not called). Call it
        once: a second call adds the gradients again.

        Raises:
            RuntimeError: a parameter was changed in place since the loss was taken.
        """
        if any(p._version != v for p, v in zip(self._parameters, self._versions)):
            raise RuntimeError("a parameter of the model was changed in place after the loss was taken; "
                               "its gradients are those of the old weights: take the loss again")
        for parameter, grad in zip(self._parameters, self._gradients):
            if not parameter.requires_grad:
                continue
            if parameter.grad is None:
                parameter.grad = grad
            else:
                parameter.grad.add_(grad)


def compiled_rc_loss(model: LSTMClassifier, x: Tensor, y: Tensor, rule: CrossingRule, beta: float) -> CompiledLoss:
    """The RC loss :func:`rc.loss.rc_loss` (on the logits) of ``model`` on ``x`` ``(B, T, F)`` and labels ``y``
    ``(B,)``, and every weight's gradient of it, in one call of
    :func:`rc.training_kernels.lstm_rc_training_step` (the forward kernel, the loss and its gradient by hand,
    the backward kernel), with no autograd graph; :meth:`CompiledLoss.backward` adds the gradients
    (``model``, ``x`` and ``rule`` as :func:`loss_unsupported_reason` accepts them).

    The gradients are computed here, in the same call as the loss: a second call would cost its dispatch
    and the handing over of the forward pass's arrays, which at a batch of one small example is a good
    share of the whole step.
    """
    readout = model.readout
    parameters = (readout.weight, readout.bias, *model.lstm._flat_weights)
    loss_arguments = _loss_arguments(rule, readout.out_features, y.numpy(), beta)
    loss, step, hit, prediction, read, *grads = training_kernels()["step"](
        *kernel_arguments(x, readout.weight, readout.bias, parameters[2:]), *_rule_arguments(rule), *loss_arguments)
    return CompiledLoss(torch.tensor(loss, dtype=torch.float32), _decision(prediction, step, hit), read,
                        parameters, parameter_gradients(*grads))
