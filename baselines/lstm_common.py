"""What the three LSTM contenders share: the model and its hyperparameters.

They differ only in their training objective (:meth:`StepModelContender.objective`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.front_end import check_front_end
from baselines.step_contender import StepModelContender, TrainingConfig
from bench.core.options import require_positive
from rc.model import ConvLSTMClassifier, LSTMClassifier


@dataclass(frozen=True)
class LSTMConfig(TrainingConfig):
    """Hyperparameters of an LSTM contender: :class:`TrainingConfig` plus the network's size.

    Attributes:
        hidden: LSTM units per layer.
        layers: stacked LSTM layers.
        dropout: training-time dropout probability on each step's input and on the
            readout's input (see :class:`rc.model.LSTMClassifier`); 0 disables it.
        encoder: ``none`` (the LSTM reads each step's features) or ``conv`` (a small
            convolutional encoder reads each step's image frame first, see
            :class:`rc.model.ConvLSTMClassifier`; needs a task with image frames).
        conv_channels: output channels of the encoder's first convolution (the second has twice as many).
    """

    hidden: int = 32
    layers: int = 1
    dropout: float = 0.0
    encoder: str = "none"
    conv_channels: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(hidden=self.hidden, layers=self.layers)
        check_front_end(self.dropout, self.encoder, self.conv_channels)


class LSTMContender(StepModelContender):
    """An :class:`rc.model.LSTMClassifier` trained by :meth:`objective`."""

    Config = LSTMConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        n_outputs = self.spec.n_outputs(self.rule.name)
        cfg = self.config
        if cfg.encoder == "conv":
            if self.spec.frame_shape is None:
                raise ValueError(f"encoder 'conv' needs a task whose steps are image frames; task {self.spec.name!r} "
                                 f"has none (use encoder = \"none\")")
            self.model = ConvLSTMClassifier(self.spec.frame_shape, cfg.hidden, n_outputs, cfg.layers, cfg.dropout,
                                            cfg.conv_channels).to(self.device)
        else:
            self.model = LSTMClassifier(self.spec.n_features, cfg.hidden, n_outputs, cfg.layers,
                                        cfg.dropout).to(self.device)
