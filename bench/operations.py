"""Operation counts per example and per step, to each example's decision, and in training.

The counts make the LSTMs (:class:`rc.model.LSTMClassifier`) and the spiking
network (:class:`baselines.snn_ttfs.LIFClassifier`) comparable. Every count is
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

LIF network at step ``t``::

    synaptic   ops(x_t, W_1) + ops(S^hid_t, W_2)         (S in {0, 1}: ACs)
    neuron     MACs: #{n: U_{t-1,n} != 0} (decay*U + I; none when decay = 0)
               ACs:  #{n: S_{t-1,n} = 1}   (the reset subtracts the threshold)

for the hidden and the output layer, with ``U`` the membrane before reset (the
model's state) and ``S_{t-1} = U_{t-1} > threshold``. NeuroBench does not
count membrane updates as synaptic operations: its ``MembraneUpdates`` counts
changed membranes and ``NeuronOperations`` charges 4 generic operations per
``Leaky`` update; here they are MACs and ACs like the LSTM's cell products,
so that both kinds of network are charged for their state updates.

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

import math

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn import functional

from baselines.snn_ttfs import LIFClassifier
from rc.crossing import Decision
from rc.model import ConvEncoder, ConvLSTMClassifier, LSTMClassifier


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


def _stack_steps(steps: list[dict[str, Tensor]], dense_synaptic: int, dense_neuron: int) -> OperationCounts:
    """Per-step dicts of ``(batch,)`` effective counts -> :class:`OperationCounts` ``(batch, steps)``."""
    effective = {name: torch.stack([s[name] for s in steps], dim=1).cpu()
                 for name in ("synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")}
    shape = effective["synaptic_macs"].shape
    return OperationCounts(
        dense_synaptic_macs=torch.full(shape, dense_synaptic, dtype=torch.int64),
        dense_neuron_macs=torch.full(shape, dense_neuron, dtype=torch.int64),
        **effective,
    )


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


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
    if not isinstance(model, LSTMClassifier):
        raise OperationCountError(f"expected an LSTMClassifier, got {type(model).__name__}")
    check_sequences(x, model.n_features)
    layers = _lstm_layers(model)
    x = x.to(_model_device(model), model.readout.weight.dtype)
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
    return _stack_steps(steps, lstm_dense_synaptic_macs(model), lstm_dense_neuron_macs(model))


def lstm_operations_to_decision(model: LSTMClassifier, x: Tensor, decision: Decision) -> OperationCounts:
    """Operations of each example of ``x`` ``(batch, time, features)`` up to its decision: ``(batch,)``."""
    check_sequences(x, model.n_features)
    steps = check_decision(decision, x)
    per_step = lstm_operations_per_step(model, x[:, : int(steps.max()) + 1])
    return sum_to_decision(per_step, steps)


# --- convolutional encoder + LSTM ------------------------------------------------------------

def conv_dense_macs(convolution: nn.Conv2d, output_positions: int) -> int:
    """``P C_out C_in k_h k_w``: dense MACs of ``convolution`` over ``output_positions`` positions."""
    return int(output_positions * convolution.weight.numel())


def encoder_dense_macs(encoder: ConvEncoder) -> tuple[int, int]:
    """Dense MACs of the encoder's first and second convolution for one frame."""
    height, width = encoder.frame_shape
    first = (height - 4) * (width - 4)
    second = ((height - 4) // 2 - 4) * ((width - 4) // 2 - 4)
    return conv_dense_macs(encoder.conv1, first), conv_dense_macs(encoder.conv2, second)


def conv_operations(v: Tensor, convolution: nn.Conv2d) -> tuple[Tensor, Tensor]:
    """Effective (MACs, ACs) per example of ``convolution`` on ``v`` ``(batch, C_in, H, W)``.

    Every output position and channel reads each non-zero input of its window through a
    non-zero weight once: the convolution of the non-zero masks of ``v`` and of the weights,
    summed. ACs for an example whose every input is in {-1, 0, 1}, MACs otherwise.
    """
    if v.dim() != 4 or v.shape[1] != convolution.in_channels:
        raise OperationCountError(f"a convolution with {convolution.in_channels} input channels needs inputs "
                                  f"(batch, {convolution.in_channels}, H, W), got {tuple(v.shape)}")
    # A per-example count is at most (output positions) x (weights); float32 holds every integer
    # below 2**24 exactly and is several times faster than float64, which larger layers fall back to.
    positions = math.prod((size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
                          for size, pad, dilation, kernel, stride in zip(
                              v.shape[2:], convolution.padding, convolution.dilation, convolution.kernel_size,
                              convolution.stride))
    dtype = torch.float32 if positions * convolution.weight.numel() < 2 ** 24 else torch.float64
    reads = functional.conv2d((v != 0).to(dtype), (convolution.weight != 0).to(dtype),
                              stride=convolution.stride, padding=convolution.padding)
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
    x = x.to(_model_device(model), model.recurrent.readout.weight.dtype)
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


def conv_lstm_operations_to_decision(model: ConvLSTMClassifier, x: Tensor, decision: Decision) -> OperationCounts:
    """Operations of each example of ``x`` up to its decision: ``(batch,)``."""
    check_sequences(x, model.n_features)
    steps = check_decision(decision, x)
    return sum_to_decision(conv_lstm_operations_per_step(model, x[:, : int(steps.max()) + 1]), steps)


# --- LIF network ---------------------------------------------------------------------------

def _lif_parameters(neuron: nn.Module, where: str) -> tuple[float, float]:
    """``(decay, threshold)`` of an snnTorch ``Leaky`` these counts cover; raises otherwise."""
    covered = (getattr(neuron, "reset_mechanism", None) == "subtract" and getattr(neuron, "reset_delay", False)
               and not getattr(neuron, "inhibition", True) and getattr(neuron, "state_quant", True) in (False, None)
               and float(getattr(neuron, "graded_spikes_factor", 0.0)) == 1.0)
    if not covered:
        raise OperationCountError(
            f"{where}: counts cover snnTorch Leaky neurons with reset by subtraction, delayed reset, "
            f"no inhibition, no state quantisation and unit spikes"
        )
    return float(neuron.beta.clamp(0, 1)), float(neuron.threshold)


def _learns_decay(neuron: nn.Module) -> bool:
    return isinstance(neuron.beta, nn.Parameter) and neuron.beta.requires_grad


def snn_dense_synaptic_macs(model: LIFClassifier) -> int:
    """``F N + N C``: the two Linear layers per example and step."""
    return int(model.fc_hidden.weight.numel() + model.fc_out.weight.numel())


def snn_dense_neuron_macs(model: LIFClassifier) -> int:
    """``2 (N + C)``: ``decay*U + I`` and ``- S*threshold`` for every neuron, per example and step."""
    _lif_parameters(model.lif_hidden, "hidden layer")
    _lif_parameters(model.lif_out, "output layer")
    return 2 * (model.fc_hidden.out_features + model.fc_out.out_features)


def snn_dense_macs_per_step(model: LIFClassifier) -> int:
    """All dense MACs of one step for one example."""
    return snn_dense_synaptic_macs(model) + snn_dense_neuron_macs(model)


def snn_backward_macs_per_step(model: LIFClassifier) -> int:
    """Dense backward MACs of one step evaluation: ``2 (F N + N C) - F N + (N + C)`` (fixed decay)."""
    neuron = sum(layer.out_features * (2 if _learns_decay(lif) else 1)
                 for layer, lif in ((model.fc_hidden, model.lif_hidden), (model.fc_out, model.lif_out)))
    return 2 * snn_dense_synaptic_macs(model) - model.fc_hidden.weight.numel() + neuron


def _membrane_operations(previous: Tensor, decay: float, threshold: float) -> tuple[Tensor, Tensor]:
    """(MACs, ACs) ``(batch,)`` of one LIF layer's update from its membranes ``previous`` ``(batch, n)``."""
    macs = (previous != 0).sum(dim=1) if decay != 0 else torch.zeros(previous.shape[0], device=previous.device)
    return macs.to(torch.int64), (previous > threshold).sum(dim=1).to(torch.int64)


@torch.no_grad()
def snn_operations_per_step(model: LIFClassifier, x: Tensor) -> OperationCounts:
    """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``.

    Runs :meth:`baselines.snn_ttfs.LIFClassifier.step` and reads the hidden
    spikes from its membranes with the neuron's own ``fire``.
    """
    if not isinstance(model, LIFClassifier):
        raise OperationCountError(f"expected a LIFClassifier, got {type(model).__name__}")
    check_sequences(x, model.n_features)
    hidden_decay, hidden_threshold = _lif_parameters(model.lif_hidden, "hidden layer")
    out_decay, out_threshold = _lif_parameters(model.lif_out, "output layer")
    x = x.to(_model_device(model), model.fc_out.weight.dtype)
    state = model.init_state(x.shape[0], x.device)
    steps = []
    for t in range(x.shape[1]):
        previous_hidden, previous_out = state
        _scores, state = model.step(x[:, t], state)
        spikes = model.lif_hidden.fire(state[0])
        in_macs, in_acs = connection_operations(x[:, t], model.fc_hidden.weight)
        out_macs, out_acs = connection_operations(spikes, model.fc_out.weight)
        hidden_macs, hidden_acs = _membrane_operations(previous_hidden, hidden_decay, hidden_threshold)
        output_macs, output_acs = _membrane_operations(previous_out, out_decay, out_threshold)
        steps.append({"synaptic_macs": in_macs + out_macs, "synaptic_acs": in_acs + out_acs,
                      "neuron_macs": hidden_macs + output_macs, "neuron_acs": hidden_acs + output_acs})
    return _stack_steps(steps, snn_dense_synaptic_macs(model), snn_dense_neuron_macs(model))


def snn_operations_to_decision(model: LIFClassifier, x: Tensor, decision: Decision) -> OperationCounts:
    """Operations of each example of ``x`` ``(batch, time, features)`` up to its decision: ``(batch,)``."""
    check_sequences(x, model.n_features)
    steps = check_decision(decision, x)
    per_step = snn_operations_per_step(model, x[:, : int(steps.max()) + 1])
    return sum_to_decision(per_step, steps)


# --- any contender's network ---------------------------------------------------------------

@dataclass(frozen=True)
class OperationCounter:
    """How to count one kind of model: per example to each decision, and dense MACs per step."""

    to_decision: Callable[[nn.Module, Tensor, Decision], OperationCounts]
    dense_macs_per_step: Callable[[nn.Module], int]
    backward_macs_per_step: Callable[[nn.Module], int]


COUNTERS: dict[type, OperationCounter] = {
    LSTMClassifier: OperationCounter(lstm_operations_to_decision, lstm_dense_macs_per_step,
                                     lstm_backward_macs_per_step),
    ConvLSTMClassifier: OperationCounter(conv_lstm_operations_to_decision, conv_lstm_dense_macs_per_step,
                                         conv_lstm_backward_macs_per_step),
    LIFClassifier: OperationCounter(snn_operations_to_decision, snn_dense_macs_per_step,
                                    snn_backward_macs_per_step),
}
"""Counters of the built-in networks, by model class."""

SELF_COUNTING_METHODS = ("operations_per_step", "dense_macs_per_step", "backward_macs_per_step")


def counter_for(model: nn.Module) -> OperationCounter:
    """The counter of ``model``: a registered class in :data:`COUNTERS`, or a model that counts itself.

    A model of another kind (a third-party contender's network) counts itself
    by defining ``operations_per_step(x) -> OperationCounts`` shaped
    ``(batch, time)``, ``dense_macs_per_step() -> int`` and
    ``backward_macs_per_step() -> int`` with the definitions of this module.
    """
    for model_class, counter in COUNTERS.items():
        if isinstance(model, model_class):
            return counter
    if all(callable(getattr(model, name, None)) for name in SELF_COUNTING_METHODS):
        return OperationCounter(
            lambda m, x, decision: sum_to_decision(m.operations_per_step(x), check_decision(decision, x)),
            lambda m: m.dense_macs_per_step(),
            lambda m: m.backward_macs_per_step(),
        )
    raise OperationCountError(
        f"no operation counts are defined for {type(model).__name__}: register an OperationCounter in "
        f"bench.operations.COUNTERS, or give the model the methods {', '.join(SELF_COUNTING_METHODS)}"
    )


def operations_to_decision(model: nn.Module, x: Tensor, decision: Decision) -> OperationCounts:
    """Per-example operations of ``model`` on ``x`` up to each example's decision (see :func:`counter_for`)."""
    return counter_for(model).to_decision(model, x, decision)


def dense_macs_per_step(model: nn.Module) -> int:
    """Dense forward MACs of one step evaluation of ``model``."""
    return counter_for(model).dense_macs_per_step(model)


def backward_macs_per_step(model: nn.Module) -> int:
    """Dense backward MACs of one step evaluation of ``model``."""
    return counter_for(model).backward_macs_per_step(model)


def training_operations(model: nn.Module, forward_evaluations: int, backward_evaluations: int) -> TrainingOperations:
    """Dense MACs of training from its step evaluations (``training.step_evaluations_forward/backward``)."""
    for label, value in (("forward_evaluations", forward_evaluations), ("backward_evaluations", backward_evaluations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OperationCountError(f"{label} must be a non-negative integer, got {value!r}")
    return TrainingOperations(forward_evaluations * dense_macs_per_step(model),
                              backward_evaluations * backward_macs_per_step(model))
