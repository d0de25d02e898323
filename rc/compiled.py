"""Compiled batch-1 early exit: one example's whole decision in one compiled call (numba, optional).

At batch size 1 a step of an eager PyTorch network is little work (about
10^5 multiply-accumulates for a 128-unit LSTM on MNIST, fewer with sparse
input), and its time is mostly the fixed cost of the dozen operator calls it
makes (see :mod:`bench.measure.latency`). Here the whole
early-exit decision of one example runs as one call of a function compiled by
numba: every step until the first crossing, each step's input projection, the
recurrence, the readout and the crossing test, then it returns. Nothing after
the crossing is computed, and nothing is computed between steps but the step.

What a step computes is exactly the eager :meth:`rc.model.StepModel.step` of
the model in evaluation mode, in float32 (the sigmoid and tanh in float64,
rounded), with the sums in another order (scores agree to a few float32
units in the last place: at most 6.5e-6 on 1,024 test digits for a briefly
trained 128-unit MNIST LSTM, scores up to about 12; ``tests/test_compiled_inference.py`` checks
1e-5 and identical decisions). The kernels are in :mod:`rc.compiled_kernels`:

``LSTMClassifier`` (any number of layers)
    The input projection is event-driven like :class:`rc.events.ActiveInputs`:
    it reads the rows of the feature-major ``W_ih^T`` of the features that are
    nonzero at that step, and nothing for the others. At step 0 the state is
    zero, so ``W_hh h`` is skipped there (and any exactly zero unit of ``h``
    later). Gates in PyTorch's order i, f, g, o.
``LIFClassifier`` (registered by :mod:`baselines.snn_compiled`)
    snnTorch ``Leaky`` with reset by subtraction, the reset taken from the
    previous membrane; both layers event-driven: the hidden layer reads the
    weight rows of the active inputs, the output layer those of the hidden
    neurons that spiked. Score = output membrane minus threshold.

Crossing rules compiled: :class:`rc.crossing.SigmoidThreshold`,
:class:`rc.crossing.SoftmaxThreshold`, :class:`rc.crossing.TwoSidedBinary`
(their exact classes), and any rule class registered with
:func:`register_compiled_rule` under one of the same tests
(``baselines.snn_compiled`` registers the LIF network's ``first-spike``
as :data:`ANY_POSITIVE`). Thresholds are compared in float32, as PyTorch
compares a float32 tensor with a Python number.

numba is an optional dependency (``pip install rank-coding-bench[fast]``).
Without it, or for a model, rule, dtype or device this module does not
compile (a ConvLSTM, a whole-sequence rule, float64 weights, a GPU),
:func:`compiled_decider` returns None and :func:`batch1_decide` runs the
eager :func:`rc.inference.early_exit_decide` one example at a time: the eager
path is the reference and the fallback. numba is imported, and the kernels
compiled, only on first use (cached on disk by numba where it can write, so
that a new process loads them in about a second).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rc.crossing import CrossingRule, Decision, SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier
from rc.streaming import check_sequences

NUMBA_AVAILABLE = importlib.util.find_spec("numba") is not None
"""Whether numba can be imported; tests set it to False to take the fallback."""

SIGMOID_ANY = 0
"""Crossing test: any ``sigmoid(score) > theta``; prediction ``argmax(score)``."""
SOFTMAX_MAX = 1
"""Crossing test: ``max softmax(score) >= theta``; prediction ``argmax(score)``."""
TWO_SIDED = 2
"""Crossing test on one output: ``sigmoid(score) > theta`` or ``< 1 - theta``; prediction ``score > 0``."""
ANY_POSITIVE = 3
"""Crossing test: any ``score > 0`` (a spike); prediction ``argmax(score)``."""

COMPILED_RULES: dict[type[CrossingRule], int] = {
    SigmoidThreshold: SIGMOID_ANY, SoftmaxThreshold: SOFTMAX_MAX, TwoSidedBinary: TWO_SIDED,
}
"""Rule class (exactly; a subclass is not taken for its base) -> its compiled crossing test."""


NO_ENTROPY, SIGMOID_ENTROPY, SOFTMAX_ENTROPY = 0, 1, 2
"""What the compiled training step's RC loss (:func:`rc.training_kernels.rc_loss_gradient`) rewards:
nothing, the mean binary entropy of the sigmoid of each score, or the entropy of the softmax over them."""

LOSS_ENTROPY: dict[type[CrossingRule], int] = {
    SigmoidThreshold: SIGMOID_ENTROPY, SoftmaxThreshold: SOFTMAX_ENTROPY, TwoSidedBinary: SIGMOID_ENTROPY,
}
"""Rule class (exactly: a subclass may define another entropy) -> the entropy of its RC loss
(:meth:`rc.crossing.CrossingRule.entropy`), for the rules whose loss the compiled training step
differentiates by hand."""


def register_compiled_rule(rule_class: type[CrossingRule], test: int) -> None:
    """Compile ``rule_class`` as the crossing test ``test`` (one of :data:`SIGMOID_ANY`,
    :data:`SOFTMAX_MAX`, :data:`TWO_SIDED`, :data:`ANY_POSITIVE`)."""
    if test not in (SIGMOID_ANY, SOFTMAX_MAX, TWO_SIDED, ANY_POSITIVE):
        raise ValueError(f"unknown compiled crossing test {test!r}")
    COMPILED_RULES[rule_class] = test


@dataclass(frozen=True)
class Program:
    """What the compiled kernel ``kernel`` needs of a model: its weights as float32 numpy arrays
    (in the kernel's argument order) and the tensors they were copied from (to notice a change)."""

    kernel: str
    arrays: tuple[np.ndarray, ...]
    sources: tuple[Tensor, ...]
    n_features: int
    n_outputs: int


ProgramBuilder = Callable[[nn.Module], "Program | str"]
"""Builds a model's :class:`Program`, or returns why the model cannot be compiled."""

COMPILED_MODELS: dict[type[nn.Module], ProgramBuilder] = {}
"""Model class (exactly) -> its program builder; :func:`register_compiled_model` adds to it."""


def register_compiled_model(model_class: type[nn.Module], builder: ProgramBuilder) -> None:
    """Compile models of exactly ``model_class`` with ``builder``."""
    COMPILED_MODELS[model_class] = builder


def as_array(tensor: Tensor) -> np.ndarray:
    """A contiguous float32 numpy copy of ``tensor`` (detached, on the CPU)."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy()).copy()


def plain_lstm_reason(lstm: nn.LSTM) -> str | None:
    """Why the kernels cannot compute ``lstm`` (a projection, two directions, no biases or time-major input);
    None for a plain one."""
    if lstm.proj_size or lstm.bidirectional or not lstm.bias or not lstm.batch_first:
        return "only a plain unidirectional nn.LSTM with biases is compiled"
    return None


def lstm_program(model: nn.Module) -> Program | str:
    """The ``lstm`` kernel's arrays of an :class:`rc.model.LSTMClassifier`: feature-major input
    weights of layer 0 ``(F, 4H)``, of layers 1.. ``(L-1, H, 4H)``, recurrent weights
    ``(L, H, 4H)``, summed biases ``(L, 4H)``, readout ``(H, C)`` and its bias ``(C,)``."""
    assert isinstance(model, LSTMClassifier)
    lstm = model.lstm
    reason = plain_lstm_reason(lstm)
    if reason is not None:
        return reason
    layers, hidden = model.layers, model.hidden
    weights = lstm._flat_weights
    first = as_array(weights[0].t())
    upper = (np.stack([as_array(weights[4 * layer].t()) for layer in range(1, layers)]) if layers > 1
             else np.zeros((0, hidden, 4 * hidden), dtype=np.float32))
    recurrent = np.stack([as_array(weights[4 * layer + 1].t()) for layer in range(layers)])
    bias = np.stack([as_array(weights[4 * layer + 2] + weights[4 * layer + 3]) for layer in range(layers)])
    arrays = (first, np.ascontiguousarray(upper), np.ascontiguousarray(recurrent), np.ascontiguousarray(bias),
              as_array(model.readout.weight.t()), as_array(model.readout.bias))
    return Program("lstm", arrays, tuple(model.parameters()), model.n_features, model.n_outputs)


register_compiled_model(LSTMClassifier, lstm_program)


# ----------------------------------------------------------------------------- the kernels

_KERNELS: dict[str, Callable[..., Any]] = {}
_KERNELS_LOCK = threading.Lock()


def kernels() -> dict[str, Callable[..., Any]]:
    """The compiled kernels by name (``lstm``, ``lif`` for one example, ``lstm-batch``, ``lif-batch`` for a
    batch in one call: the LSTM's steps the undecided examples together, the LIF network's runs the examples
    one after the other; from :mod:`rc.compiled_kernels`); numba is
    imported, and the kernels compiled or loaded from numba's cache, on first use."""
    if _KERNELS:
        return _KERNELS
    with _KERNELS_LOCK:
        if not _KERNELS:
            from rc import compiled_kernels

            _KERNELS.update({"lstm": compiled_kernels.lstm_decide, "lif": compiled_kernels.lif_decide,
                             "lstm-batch": compiled_kernels.lstm_decide_batch,
                             "lif-batch": compiled_kernels.lif_decide_batch})
    return _KERNELS


# ----------------------------------------------------------------------------- deciding


def _general_reason(model: nn.Module, rule: CrossingRule) -> str | None:
    """What rules out compiling ``model`` under ``rule`` before its program is built; None if nothing."""
    if not NUMBA_AVAILABLE:
        return "numba is not installed (pip install numba, or the package's [fast] extra)"
    if type(model) not in COMPILED_MODELS:
        return f"no compiled kernel for {type(model).__name__}"
    if type(rule) not in COMPILED_RULES or not rule.streaming:
        return f"no compiled crossing test for the rule {rule.name!r}"
    parameters = list(model.parameters())
    if any(p.dtype != torch.float32 for p in parameters):
        return "only float32 weights are compiled"
    if any(p.device.type != "cpu" for p in parameters):
        return "the compiled path runs on the CPU only"
    return None


def unsupported_reason(model: nn.Module, rule: CrossingRule) -> str | None:
    """Why :func:`compiled_decider` would give None for ``model`` and ``rule``; None when it compiles them."""
    reason = _general_reason(model, rule)
    if reason is None:
        program = COMPILED_MODELS[type(model)](model)
        reason = program if isinstance(program, str) else None
    return reason


class OneDecision(NamedTuple):
    """The compiled decision of one example: the scores of its decision step ``(outputs,)``,
    the predicted class, the 0-based decision step and whether it crossed."""

    scores: Tensor
    prediction: int
    step_index: int
    crossed: bool


class CompiledDecider:
    """Event-driven early exit of one model under one rule: one compiled call per example
    (:meth:`decide_one`) or per batch (:meth:`decide`).

    The weights are copied when it is made and again whenever a parameter of the
    model has changed in place since (an optimiser step, ``load_state_dict``; a
    parameter replaced by another tensor needs a new decider). It computes
    the model in evaluation mode (no dropout). Make it with :func:`compiled_decider`.
    """

    def __init__(self, model: nn.Module, rule: CrossingRule) -> None:
        reason = _general_reason(model, rule)
        if reason is not None:
            raise ValueError(f"cannot compile {type(model).__name__} under {rule!r}: {reason}")
        self.model, self.rule = model, rule
        self._test = COMPILED_RULES[type(rule)]
        self._theta = np.float32(rule.theta)
        self._low = np.float32(1.0 - rule.theta)
        self._build()
        self._kernel = kernels()[self.program.kernel]
        self._batch_kernel = kernels()[f"{self.program.kernel}-batch"]

    def _build(self) -> None:
        program = COMPILED_MODELS[type(self.model)](self.model)
        if isinstance(program, str):
            raise ValueError(f"cannot compile {type(self.model).__name__} under {self.rule!r}: {program}")
        self.program = program
        self._arrays = program.arrays
        self._stamp = self._current_stamp()

    def _current_stamp(self) -> list[int]:
        """The in-place version counter of every source tensor (an optimiser step or
        ``load_state_dict`` bumps it)."""
        return [p._version for p in self.program.sources]

    def _ready(self, x: Tensor) -> np.ndarray:
        """``x`` as the kernels read it (float32, contiguous, on the CPU), after refreshing the
        weights if a parameter changed since they were copied."""
        if self._current_stamp() != self._stamp:
            self._build()
        if x.requires_grad or x.dtype != torch.float32 or x.device.type != "cpu" or not x.is_contiguous():
            x = x.detach().to("cpu", torch.float32).contiguous()
        return x.numpy()

    def decide_one(self, x: Tensor) -> OneDecision:
        """Decide one example ``x``, ``(time, features)`` or ``(1, time, features)``."""
        if x.dim() == 3 and x.shape[0] == 1:
            x = x[0]
        if x.dim() != 2 or x.shape[1] != self.program.n_features or x.shape[0] < 1:
            raise ValueError(f"compiled decision: one example must be shaped (time >= 1, "
                             f"{self.program.n_features}), got {tuple(x.shape)}")
        scores, prediction, step, hit = self._kernel(self._ready(x), *self._arrays, self._test, self._theta,
                                                     self._low)
        return OneDecision(torch.from_numpy(scores), int(prediction), int(step), bool(hit))

    def decide(self, x: Tensor) -> tuple[Decision, int, Tensor]:
        """Decide every example of ``x`` ``(batch, time, features)`` in one compiled call (each example
        leaving the computation at its own decision: the LSTM's undecided examples step together, the LIF
        network's examples run one after the other).

        Returns:
            The :class:`rc.crossing.Decision`, the step evaluations computed (the
            sum of steps read) and the scores at each decision ``(batch, outputs)``.
        """
        check_sequences(x)
        if x.shape[2] != self.program.n_features:
            raise ValueError(f"compiled decision: examples must have {self.program.n_features} features, "
                             f"got {tuple(x.shape)}")
        scores, prediction, step, hit = self._batch_kernel(self._ready(x), *self._arrays, self._test, self._theta,
                                                           self._low)
        step_index = torch.from_numpy(step)
        decision = Decision(torch.from_numpy(prediction), step_index, torch.from_numpy(hit))
        return decision, int(step_index.sum()) + x.shape[0], torch.from_numpy(scores)


def compiled_decider(model: nn.Module, rule: CrossingRule) -> CompiledDecider | None:
    """A :class:`CompiledDecider` for ``model`` and ``rule``, or None when they cannot be compiled
    here (:func:`unsupported_reason` says why)."""
    if _general_reason(model, rule) is not None or isinstance(COMPILED_MODELS[type(model)](model), str):
        return None
    return CompiledDecider(model, rule)


@torch.no_grad()
def batch1_decide(model: nn.Module, x: Tensor, rule: CrossingRule, compiled: bool = True) -> tuple[Decision, int]:
    """Early exit of every example of ``x`` ``(batch, time, features)`` at batch size 1.

    Compiled (:class:`CompiledDecider`) when ``compiled`` and the model and rule can be;
    else the eager :func:`rc.inference.early_exit_decide` on one example at a time. Both
    give the same decisions (up to float rounding at a threshold). Returns the
    :class:`rc.crossing.Decision` and the step evaluations computed.
    """
    check_sequences(x)
    decider = compiled_decider(model, rule) if compiled else None
    if decider is not None:
        decision, evaluations, _scores = decider.decide(x)
        return decision, evaluations
    parts = [early_exit_decide(model, x[i:i + 1], rule) for i in range(x.shape[0])]
    decision = Decision(*(torch.cat([getattr(d, name) for d, _ in parts]).cpu()
                          for name in ("prediction", "step_index", "crossed")))
    return decision, sum(count for _, count in parts)
