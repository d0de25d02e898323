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
    """

    hidden: int = 32
    layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(hidden=self.hidden, layers=self.layers)


class LSTMContender(StepModelContender):
    """An :class:`rc.model.LSTMClassifier` trained by :meth:`objective`."""

    Config = LSTMConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        n_outputs = self.spec.n_outputs(self.rule.name)
        self.model = LSTMClassifier(self.spec.n_features, self.config.hidden, n_outputs,
                                    self.config.layers).to(self.device)
