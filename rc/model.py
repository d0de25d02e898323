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
        hidden_states, _ = self.lstm(self.dropout(x))
        return self.readout(self.dropout(hidden_states))

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
        layer_input = self.dropout(x_t)
        new_state = []
        for layer, h_and_c in enumerate(state):
            h, c = torch.lstm_cell(
                layer_input,
                h_and_c,
                getattr(self.lstm, f"weight_ih_l{layer}"),
                getattr(self.lstm, f"weight_hh_l{layer}"),
                getattr(self.lstm, f"bias_ih_l{layer}"),
                getattr(self.lstm, f"bias_hh_l{layer}"),
            )
            new_state.append((h, c))
            layer_input = h
        return self.readout(self.dropout(layer_input)), tuple(new_state)

    def select_state(self, state: LSTMState, index: Tensor) -> LSTMState:
        return tuple((h[index], c[index]) for h, c in state)
