"""Networks that can be run one step at a time on a shrinking batch.

RC training and early-exit inference drop finished examples from the batch as
the recurrence advances. They need only the small :class:`StepModel`
interface, so any recurrent network (an LSTM, a GRU, a spiking network) that
implements it gets truncated training and real early exit for free.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from rc import lstm_operations
from rc.convolution import conv_pool_sizes
from rc.events import ActiveInputs
from rc.operations import OperationCounts


@runtime_checkable
class StepModel(Protocol):
    """A recurrent classifier with per-step class scores.

    The state is any object the model understands; callers only pass it back.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Full pass: ``(batch, time, features)`` -> scores ``(batch, time, classes)``."""

    def init_state(self, batch_size: int, device: torch.device) -> Any:
        """The state before the first step for ``batch_size`` examples."""

    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One step: input ``(batch, features)`` -> scores ``(batch, classes)``, new state."""

    def select_state(self, state: Any, index: Tensor) -> Any:
        """The state of the examples at ``index`` (a ``(k,)`` long tensor), in that order."""


LSTMState = tuple[tuple[Tensor, Tensor], ...]
"""Per layer, ``(h, c)``, each ``(batch, hidden)``."""


class LSTMClassifier(nn.Module):
    """A (stacked) LSTM with a linear readout applied at every step.

    The full pass uses the fused ``nn.LSTM``; :meth:`step` runs the very same
    weights one step at a time through ``torch.lstm_cell``, so both give the
    same numbers.

    With autograd off (inference), :meth:`step` projects the input
    event-driven (:class:`rc.events.ActiveInputs`): ``W_ih x_t`` reads only the
    columns of ``W_ih`` whose feature is nonzero in some example of the batch,
    as spiking input is meant to be processed. Only exact zeros are left out,
    so the scores equal the dense ones up to float rounding.

    Dropout (training mode only) zeroes each input feature of each step and each
    unit of the top layer's output before the readout with probability
    ``dropout``, scaling the rest by 1 / (1 - dropout); both passes draw their
    masks per example and step, so they agree in distribution, and in
    evaluation mode both are exact.

    Args:
        n_features: input features per step.
        hidden: LSTM units per layer.
        n_outputs: output units (classes, or 1 for a binary task).
        layers: stacked LSTM layers.
        dropout: dropout probability in [0, 1) (see above).
    """

    def __init__(self, n_features: int, hidden: int, n_outputs: int, layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        for label, value in (("n_features", n_features), ("hidden", hidden),
                             ("n_outputs", n_outputs), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LSTMClassifier: {label} must be a positive integer, got {value!r}")
        self.n_features = n_features
        self.hidden = hidden
        self.n_outputs = n_outputs
        if not 0 <= dropout < 1:
            raise ValueError(f"LSTMClassifier: dropout must lie in [0, 1), got {dropout!r}")
        self.layers = layers
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True)
        self.readout = nn.Linear(hidden, n_outputs)
        self.input_events = ActiveInputs()

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(batch, time, n_features)``."""
        if x.dim() != 3 or x.shape[2] != self.n_features or x.shape[1] < 1:
            raise ValueError(
                f"input must be shaped (batch, time >= 1, features={self.n_features}), "
                f"got {tuple(x.shape)}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, features)`` -> scores ``(batch, time, n_outputs)``."""
        self.check_input(x)
        hidden_states, _ = self.lstm(self._drop(x))
        return self.readout(self._drop(hidden_states))

    def init_state(self, batch_size: int, device: torch.device | None = None) -> LSTMState:
        """Zero ``(h, c)`` per layer, each ``(batch, hidden)``."""
        weight = self.readout.weight
        device = device or weight.device
        return tuple(
            (torch.zeros(batch_size, self.hidden, device=device, dtype=weight.dtype),
             torch.zeros(batch_size, self.hidden, device=device, dtype=weight.dtype))
            for _ in range(self.layers)
        )

    def step(self, x_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """``(batch, features)`` -> scores ``(batch, n_outputs)`` and the new state."""
        if x_t.dim() != 2 or x_t.shape[1] != self.n_features:
            raise ValueError(f"step input must be shaped (batch, {self.n_features}), got {tuple(x_t.shape)}")
        layer_input = self._drop(x_t)
        # nn.LSTM's own list of its parameters, [W_ih, W_hh, b_ih, b_hh] per layer, kept
        # current by nn.LSTM (what its forward reads); a step would otherwise spend
        # microseconds per layer on module attribute lookups
        weights = self.lstm._flat_weights
        new_state = []
        for layer, h_and_c in enumerate(state):
            weight_ih, weight_hh, bias_ih, bias_hh = weights[4 * layer:4 * layer + 4]
            if layer == 0 and not torch.is_grad_enabled():
                layer_input, weight_ih = self.input_events.select(layer_input, weight_ih)
            h, c = torch.lstm_cell(layer_input, h_and_c, weight_ih, weight_hh, bias_ih, bias_hh)
            new_state.append((h, c))
            layer_input = h
        return self.readout(self._drop(layer_input)), tuple(new_state)

    # operation counts (the protocol of rc.operations; the rules are in rc.lstm_operations)
    def operations_per_step(self, x: Tensor) -> OperationCounts:
        """Operations of every example at every step of ``x`` ``(batch, time, features)``: ``(batch, time)``."""
        return lstm_operations.lstm_operations_per_step(self, x)

    def dense_macs_per_step(self) -> int:
        """Dense forward MACs of one step for one example."""
        return lstm_operations.lstm_dense_macs_per_step(self)

    def backward_macs_per_step(self) -> int:
        """Dense backward MACs of one step evaluation."""
        return lstm_operations.lstm_backward_macs_per_step(self)

    def _drop(self, x: Tensor) -> Tensor:
        """Dropout in training mode; ``x`` itself otherwise (no module call on the inference path)."""
        return self.dropout(x) if self.training and self.dropout.p > 0 else x

    def select_state(self, state: LSTMState, index: Tensor) -> LSTMState:
        return tuple((h[index], c[index]) for h, c in state)


FRAME_BLOCK = 128
"""The most frames :class:`ConvEncoder` convolves at once (see :meth:`ConvEncoder.forward`)."""


class ConvEncoder(nn.Module):
    """A small convolutional encoder applied to each step's image frame on its own.

    ``(batch, height * width)`` (a frame flattened row by row) ->
    ``(batch, out_features)``: Conv2d(1 -> c, 5x5) ReLU MaxPool(2),
    Conv2d(c -> 2c, 5x5) ReLU MaxPool(2), flattened. For 28 x 28 frames and
    c = 16 that is 32 x 4 x 4 = 512 features.

    Args:
        frame_shape: ``(height, width)``, each at least 16.
        channels: c, the first convolution's output channels.
    """

    def __init__(self, frame_shape: tuple[int, int], channels: int = 16) -> None:
        super().__init__()
        height, width = frame_shape
        if min(height, width) < 16:
            raise ValueError(f"ConvEncoder needs frames of at least 16 x 16, got {height} x {width}")
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"ConvEncoder: channels must be a positive integer, got {channels!r}")
        self.frame_shape = (height, width)
        self.conv1 = nn.Conv2d(1, channels, 5)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 5)
        self.pool = nn.MaxPool2d(2)
        sizes = conv_pool_sizes((self.conv1, self.conv2), self.frame_shape, 2)
        self.conv_sizes = [convolved for convolved, _pooled in sizes]  # each convolution's output (H, W)
        self.out_shape = (2 * channels, *sizes[-1][1])
        self.out_features = self.out_shape[0] * self.out_shape[1] * self.out_shape[2]
        self.to(memory_format=torch.channels_last)

    def stages(self, x_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The input of each convolution and the flattened output: ``(batch, 1, H, W)``,
        ``(batch, c, H1, W1)`` and ``(batch, out_features)``.

        The convolutions run channels-last (weights and activations), which
        oneDNN computes faster on CPU than the default layout (about 13% for a
        training step of the c = 32 model on 20 frames); shapes
        are the same and values equal up to float rounding."""
        frames = x_t.reshape(x_t.shape[0], 1, *self.frame_shape).contiguous(memory_format=torch.channels_last)
        first = self.pool(torch.relu(self.conv1(frames)))
        return frames, first, self.pool(torch.relu(self.conv2(first))).flatten(1)

    def forward(self, x_t: Tensor) -> Tensor:
        """``(batch, height * width)`` -> ``(batch, out_features)``.

        Frames are encoded in blocks of at most :data:`FRAME_BLOCK`: the
        convolutions of a block's activations stay in the CPU's caches, and
        forward and backward ran 1.5-2x faster than on the 2,560 frames of a
        batch of 128 twenty-step sequences at once (one core, c = 32). Every
        frame is encoded on its own, so the values do not depend on the block.
        """
        if x_t.shape[0] <= FRAME_BLOCK:
            return self.stages(x_t)[2]
        return torch.cat([self.stages(block)[2] for block in x_t.split(FRAME_BLOCK)])


class ConvLSTMClassifier(nn.Module):
    """:class:`ConvEncoder` on each step's frame, then an :class:`LSTMClassifier` on the encoded steps.

    A :class:`StepModel`: the state is the LSTM's, and a step encodes only
    that step's frame, so early exit and truncated RC training skip the
    encoder of every step after a crossing too.

    Args:
        frame_shape: ``(height, width)`` of each step's frame; inputs have ``height * width`` features.
        hidden, n_outputs, layers, dropout: of the :class:`LSTMClassifier`.
        channels: of the :class:`ConvEncoder`.
    """

    def __init__(self, frame_shape: tuple[int, int], hidden: int, n_outputs: int, layers: int = 1,
                 dropout: float = 0.0, channels: int = 16) -> None:
        super().__init__()
        self.encoder = ConvEncoder(frame_shape, channels)
        self.n_features = frame_shape[0] * frame_shape[1]
        self.recurrent = LSTMClassifier(self.encoder.out_features, hidden, n_outputs, layers, dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, height * width)`` -> scores ``(batch, time, n_outputs)``."""
        if x.dim() != 3 or x.shape[2] != self.n_features or x.shape[1] < 1:
            raise ValueError(f"input must be shaped (batch, time >= 1, features={self.n_features}), "
                             f"got {tuple(x.shape)}")
        batch, time, _ = x.shape
        encoded = self.encoder(x.reshape(batch * time, self.n_features)).reshape(batch, time, -1)
        return self.recurrent(encoded)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> LSTMState:
        return self.recurrent.init_state(batch_size, device)

    def step(self, x_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """``(batch, height * width)`` -> scores ``(batch, n_outputs)`` and the new state."""
        if x_t.dim() != 2 or x_t.shape[1] != self.n_features:
            raise ValueError(f"step input must be shaped (batch, {self.n_features}), got {tuple(x_t.shape)}")
        return self.recurrent.step(self.encoder(x_t), state)

    def select_state(self, state: LSTMState, index: Tensor) -> LSTMState:
        return self.recurrent.select_state(state, index)

    # operation counts (the protocol of rc.operations; the rules are in rc.lstm_operations)
    def operations_per_step(self, x: Tensor) -> OperationCounts:
        """Operations of every example at every step of ``x`` ``(batch, time, height * width)``: ``(batch, time)``."""
        return lstm_operations.conv_lstm_operations_per_step(self, x)

    def dense_macs_per_step(self) -> int:
        """Dense forward MACs of one step for one example."""
        return lstm_operations.conv_lstm_dense_macs_per_step(self)

    def backward_macs_per_step(self) -> int:
        """Dense backward MACs of one step evaluation."""
        return lstm_operations.conv_lstm_backward_macs_per_step(self)
