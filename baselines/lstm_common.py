"""What the three LSTM contenders share: the model and its hyperparameters.

They differ only in their training objective (:meth:`StepModelContender.objective`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.step_contender import StepModelContender, TrainingConfig
from bench.options import require_positive
from rc.model import LSTMClassifier


@dataclass(frozen=True)
class LSTMConfig(TrainingConfig):
    """Hyperparameters of an LSTM contender: :class:`TrainingConfig` plus the network's size.

    Attributes:
        hidden: LSTM units per layer.
        layers: stacked LSTM layers.
        dropout: training-time dropout probability on each step's input and on the
            readout's input (see :class:`rc.model.LSTMClassifier`); 0 disables it.
    """

    hidden: int = 32
    layers: int = 1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(hidden=self.hidden, layers=self.layers)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")


class LSTMContender(StepModelContender):
    """An :class:`rc.model.LSTMClassifier` trained by :meth:`objective`."""

    Config = LSTMConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        n_outputs = self.spec.n_outputs(self.rule.name)
        self.model = LSTMClassifier(self.spec.n_features, self.config.hidden, n_outputs,
                                    self.config.layers, self.config.dropout).to(self.device)
