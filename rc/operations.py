"""Operation counts per example and per step, to each example's decision, and in training.

The counts make the LSTMs (:class:`rc.model.LSTMClassifier`) and the spiking
networks of ``baselines`` comparable. Every count is
per example; the unit is one operation (a MAC or an AC) on one scalar.

Terms
-----
MAC
    multiply-accumulate, ``a += w * v``.
AC
    accumulate, ``a += w`` (or ``a -= w``): a multiply by a value in
    {-1, 0, 1}, as for a spike.
synaptic operations
    the products of a weight matrix with the vector a layer reads (the
    connection layers; NeuroBench's ``SynapticOperations``).
neuron operations
    the elementwise state updates of the neurons: the LSTM cell's products,
    the LIF membrane's decay and reset.

Not counted, in every count below: bias additions (NeuroBench leaves them
out of synaptic operations too), the sum of the two gate matmuls (it is the
accumulate of their MACs), and the nonlinearities and comparisons (sigmoid,
tanh, ``U > threshold``).

Dense MACs: what a dense implementation computes
------------------------------------------------
Per example and per step (every step costs the same):

LSTM, ``L`` layers of ``H`` units, ``F`` input features, ``C`` outputs; layer
``l`` reads ``F_0 = F`` features, ``F_l = H`` above::

    dense_synaptic = sum_l 4 H (F_l + H)  +  H C        # W_ih x + W_hh h per layer, readout
    dense_neuron   = 3 H L                              # c = f*c + i*g (2 H), h = o*tanh(c) (H)

LIF network, ``F`` inputs, ``N`` hidden and ``C`` output neurons (snnTorch
``Leaky``, reset by subtraction, ``U[t] = decay*U[t-1] + I[t] - S[t-1]*threshold``)::

    dense_synaptic = F N + N C                          # the two Linear layers
    dense_neuron   = 2 (N + C)                          # decay*U + I, and - S*threshold

``dense_macs = dense_synaptic + dense_neuron``.

Effective operations: NeuroBench's rule
---------------------------------------
An operation with an exactly-zero operand is not performed. For a connection
``y = W v`` (``W`` is ``out x in``) reading one example's vector ``v``::

    ops(v, W) = sum over j with v_j != 0 of nnz(W[:, j])

i.e. each non-zero input costs one operation per non-zero weight of its
fan-out; they are **ACs when every entry of v is in {-1, 0, 1}**, else
**MACs** (NeuroBench 2.3 ``neurobench.metrics.utils.layers.single_layer_MACs``:
binarised inputs times binarised weights; the input test of
``binary_inputs``). The test is made per (example, step, vector read), so an
example's count does not depend on the batch it came in; it equals
NeuroBench's with batch size 1 and one call per step.


The networks' own rules are in :mod:`rc.lstm_operations` (LSTM, convolutional
encoder + LSTM) and :mod:`baselines.snn_operations` (LIF networks); each network
counts itself through :data:`SELF_COUNTING_METHODS`.

To the decision
---------------
For an example with decision step ``s`` (``Decision.step_index``, 0-based)
every count is summed over steps ``0..s``; the dense count is
``(s + 1) * dense_macs``. The network is run (under ``no_grad``) only to the
latest decision of the batch.

Training
--------
The harness records step evaluations (one example, one time step) of the
forward and the backward passes. Per step evaluation::

    forward_macs  = dense_macs
    backward_macs = 2 dense_synaptic - (first layer's input MACs) + neuron backward

A matmul's backward computes the gradient with respect to its input and to
its weights, each as many MACs as the forward; the first layer's input is
the data, which needs no gradient (``4 H F`` for the LSTM, ``F N`` for the
LIF network). Neuron backward: the LSTM's products each send a gradient to
both operands, ``2 * 3 H L``; the LIF decay is a fixed constant (one MAC per
neuron for the gradient to ``U``, two if ``decay`` is learnt) and snnTorch
detaches the reset, so ``N + C``. Gradients of nonlinearities (surrogate
included) and bias gradients are not counted, as in the forward.
This is the dense backward of every step evaluation. Autograd skips two
pieces of it: the gradient to ``h_0 = 0`` at step 0 (``4 H H`` per layer
and sequence) and, in truncated RC training, the readout's backward at a step
where no example of the minibatch decided.

Checks
------
``tests/test_operations.py`` checks the dense synaptic counts against
``torch.utils.flop_counter.FlopCounterMode`` (which counts matmul FLOPs,
2 per MAC, and no elementwise operations). On the CPU, torch 2.13, the fused
``nn.LSTM`` is invisible to it (only the readout is seen), so the LSTM is
checked through :meth:`rc.model.LSTMClassifier.step` (``torch.lstm_cell``
decomposes into ``addmm``); the training counts are checked the same way
on a full step loop (equal once the skipped ``h_0`` gradient is taken off)
and on :func:`rc.training.truncated_rc_step` (within the two stated pieces).
It also checks hand-computed counts of tiny networks and, where NeuroBench is
installed (it is not a dependency), NeuroBench 2.3's ``SynapticOperations``:
equal for the LIF network's synaptic counts; for the LSTM equal totals, the
labels differing as stated above, and NeuroBench's ``Dense`` lower by
``4 H H + H`` per sequence because its all-ones count keeps ``h_0 = c_0 = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from rc.crossing import Decision


class OperationCountError(ValueError):
    """Operations could not be counted (bad shapes, a decision of another batch, an unknown model)."""


@dataclass(frozen=True)
class OperationCounts:
    """Operations per example, ``(batch,)`` or per example and step, ``(batch, steps)``; int64, CPU.

    Attributes:
        dense_synaptic_macs: MACs of the connection layers computed densely.
        dense_neuron_macs: MACs of the neuron state updates computed densely.
        synaptic_macs: effective synaptic MACs (non-spike inputs).
        synaptic_acs: effective synaptic ACs (spike inputs).
        neuron_macs: effective MACs of the neuron state updates.
        neuron_acs: effective ACs of the neuron state updates (LIF resets).
    """

    dense_synaptic_macs: Tensor
    dense_neuron_macs: Tensor
    synaptic_macs: Tensor
    synaptic_acs: Tensor
    neuron_macs: Tensor
    neuron_acs: Tensor

    def __post_init__(self) -> None:
        shape = self.dense_synaptic_macs.shape
        for field in fields(self):
            value = getattr(self, field.name)
            if value.shape != shape or value.dtype != torch.int64:
                raise OperationCountError(
                    f"OperationCounts.{field.name} must be int64 shaped {tuple(shape)}, "
                    f"got {value.dtype} {tuple(value.shape)}"
                )
            if bool((value < 0).any()):
                raise OperationCountError(f"OperationCounts.{field.name} has a negative count")

    @property
    def dense_macs(self) -> Tensor:
        """All MACs of a dense implementation."""
        return self.dense_synaptic_macs + self.dense_neuron_macs

    @property
    def effective_macs(self) -> Tensor:
        """Effective MACs, synaptic and neuron."""
        return self.synaptic_macs + self.neuron_macs

    @property
    def effective_acs(self) -> Tensor:
        """Effective ACs, synaptic and neuron."""
        return self.synaptic_acs + self.neuron_acs

    def means(self) -> dict[str, float]:
        """Mean over examples of each count (and the three totals), in operations per example."""
        if self.dense_synaptic_macs.dim() != 1 or self.dense_synaptic_macs.numel() == 0:
            raise OperationCountError(
                f"means need per-example counts (batch >= 1,), got shape {tuple(self.dense_synaptic_macs.shape)}"
            )
        names = ["dense_macs", "effective_macs", "effective_acs", *(f.name for f in fields(self))]
        return {name: getattr(self, name).double().mean().item() for name in names}


@dataclass(frozen=True)
class TrainingOperations:
    """Dense MACs computed by training: ``forward_macs`` and ``backward_macs`` (totals)."""

    forward_macs: int
    backward_macs: int

    @property
    def total_macs(self) -> int:
        return self.forward_macs + self.backward_macs

    def per_epoch(self, epochs: int) -> dict[str, float]:
        """Forward, backward and total MACs per epoch, over ``epochs`` epochs."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise OperationCountError(f"epochs must be a positive integer, got {epochs!r}")
        return {"forward_macs": self.forward_macs / epochs, "backward_macs": self.backward_macs / epochs,
                "total_macs": self.total_macs / epochs}


# --- building blocks -----------------------------------------------------------------------

def is_spike_like(v: Tensor) -> Tensor:
    """``(batch,)`` bool: rows of ``v`` ``(batch, n)`` whose every entry is -1, 0 or 1."""
    return ((v == 0) | (v == 1) | (v == -1)).all(dim=-1)


def connection_operations(v: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Effective (MACs, ACs) of ``weight @ v`` per row: ``v`` ``(batch, in)``, ``weight`` ``(out, in)``.

    Each non-zero ``v_j`` costs ``nnz(weight[:, j])`` operations: ACs for a row
    with every entry in {-1, 0, 1}, MACs otherwise. Returns two ``(batch,)`` int64.
    """
    if v.dim() != 2 or weight.dim() != 2 or v.shape[1] != weight.shape[1]:
        raise OperationCountError(
            f"a connection needs inputs (batch, in) and weights (out, in) with the same in; "
            f"got {tuple(v.shape)} and {tuple(weight.shape)}"
        )
    fan_out = (weight != 0).sum(dim=0).to(torch.float64)
    ops = ((v != 0).to(torch.float64) @ fan_out).round().to(torch.int64)
    spikes = is_spike_like(v)
    zero = torch.zeros_like(ops)
    return torch.where(spikes, zero, ops), torch.where(spikes, ops, zero)


def product_operations(a: Tensor, b: Tensor) -> Tensor:
    """``(batch,)`` int64: elementwise products ``a * b`` (both ``(batch, n)``) with no zero operand."""
    if a.shape != b.shape or a.dim() != 2:
        raise OperationCountError(f"products need two (batch, n) tensors, got {tuple(a.shape)} and {tuple(b.shape)}")
    return ((a != 0) & (b != 0)).sum(dim=1).to(torch.int64)


def check_sequences(x: Tensor, n_features: int) -> None:
    """Raise :class:`OperationCountError` unless ``x`` is finite, ``(batch >= 1, time >= 1, n_features)``."""
    if x.dim() != 3 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] != n_features:
        raise OperationCountError(
            f"x must be shaped (batch >= 1, time >= 1, features={n_features}), got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise OperationCountError("x holds NaN or infinite values; their operations cannot be counted")


def check_decision(decision: Decision, x: Tensor) -> Tensor:
    """The decision steps ``(batch,)`` long, checked against ``x`` ``(batch, time, features)``."""
    steps = decision.step_index
    batch, time = x.shape[0], x.shape[1]
    if steps.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise OperationCountError(f"decision.step_index must be integer steps, got dtype {steps.dtype}")
    if steps.shape != (batch,):
        raise OperationCountError(
            f"decision batch mismatch: step_index is shaped {tuple(steps.shape)}, x has batch {batch}"
        )
    if bool((steps < 0).any()) or bool((steps >= time).any()):
        raise OperationCountError(
            f"decision.step_index must lie in [0, {time - 1}] for x with {time} steps, "
            f"got values in [{int(steps.min())}, {int(steps.max())}]"
        )
    return steps.to(torch.int64).cpu()


def sum_to_decision(per_step: OperationCounts, step_index: Tensor) -> OperationCounts:
    """Per-example counts summed over steps ``0..step_index``: ``(batch, steps)`` -> ``(batch,)``."""
    shape = per_step.dense_synaptic_macs.shape
    if len(shape) != 2 or step_index.shape != shape[:1]:
        raise OperationCountError(
            f"per-step counts (batch, steps) and step_index (batch,) disagree: "
            f"{tuple(shape)} and {tuple(step_index.shape)}"
        )
    if bool((step_index >= shape[1]).any()) or bool((step_index < 0).any()):
        raise OperationCountError(f"step_index must lie in [0, {shape[1] - 1}] for {shape[1]} counted steps")
    taken = torch.arange(shape[1]) <= step_index.cpu().unsqueeze(1)
    return OperationCounts(**{f.name: (getattr(per_step, f.name) * taken).sum(dim=1) for f in fields(per_step)})


def stack_steps(steps: list[dict[str, Tensor]], dense_synaptic: int, dense_neuron: int) -> OperationCounts:
    """Per-step dicts of ``(batch,)`` effective counts -> :class:`OperationCounts` ``(batch, steps)``, on the CPU
    (whatever torch's default device)."""
    effective = {name: torch.stack([s[name] for s in steps], dim=1).cpu()
                 for name in ("synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")}
    shape = effective["synaptic_macs"].shape
    cpu = torch.device("cpu")
    return OperationCounts(
        dense_synaptic_macs=torch.full(shape, dense_synaptic, dtype=torch.int64, device=cpu),
        dense_neuron_macs=torch.full(shape, dense_neuron, dtype=torch.int64, device=cpu),
        **effective,
    )


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter."""
    return next(model.parameters()).device


# --- the counting protocol ------------------------------------------------------------------

SELF_COUNTING_METHODS = ("operations_per_step", "dense_macs_per_step", "backward_macs_per_step")
"""What a network defines to be counted: ``operations_per_step(x) -> OperationCounts`` shaped
``(batch, time)``, ``dense_macs_per_step() -> int`` and ``backward_macs_per_step() -> int``, with
the definitions of this module. The built-in networks define them too."""


def check_counts_operations(model: nn.Module) -> None:
    """Raise :class:`OperationCountError` naming the methods ``model`` lacks (see :data:`SELF_COUNTING_METHODS`)."""
    missing = [name for name in SELF_COUNTING_METHODS if not callable(getattr(model, name, None))]
    if missing:
        raise OperationCountError(
            f"no operation counts are defined for {type(model).__name__}: give it the method(s) "
            f"{', '.join(missing)} (see rc.operations)"
        )


def operations_to_decision(model: nn.Module, x: Tensor, decision: Decision) -> OperationCounts:
    """Per-example operations of ``model`` on ``x`` ``(batch, time, features)`` up to each decision: ``(batch,)``.

    The network is run only to the latest decision of the batch.
    """
    check_counts_operations(model)
    if x.dim() != 3:
        raise OperationCountError(f"x must be shaped (batch, time, features), got {tuple(x.shape)}")
    steps = check_decision(decision, x)
    return sum_to_decision(model.operations_per_step(x[:, : int(steps.max()) + 1]), steps)


def dense_macs_per_step(model: nn.Module) -> int:
    """Dense forward MACs of one step evaluation of ``model``."""
    check_counts_operations(model)
    return int(model.dense_macs_per_step())


def backward_macs_per_step(model: nn.Module) -> int:
    """Dense backward MACs of one step evaluation of ``model``."""
    check_counts_operations(model)
    return int(model.backward_macs_per_step())


def training_operations(model: nn.Module, forward_evaluations: int, backward_evaluations: int) -> TrainingOperations:
    """Dense MACs of training from its step evaluations (``training.step_evaluations_forward/backward``)."""
    for label, value in (("forward_evaluations", forward_evaluations), ("backward_evaluations", backward_evaluations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OperationCountError(f"{label} must be a non-negative integer, got {value!r}")
    return TrainingOperations(forward_evaluations * dense_macs_per_step(model),
                              backward_evaluations * backward_macs_per_step(model))
