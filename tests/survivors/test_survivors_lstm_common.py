"""Tests written for the mutants of ``baselines/lstm_common.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch
from contender_cases import SPEC, config_values

from baselines.lstm_allsteps import LSTMAllSteps
from bench.core.task_contract import TaskSpec
from rc.crossing import make_rule
from rc.model import ConvLSTMClassifier


def test_an_lstm_contender_built_with_keywords_puts_its_model_on_the_device_given() -> None:
    """Keyword arguments reach the base class (device, seed), and the model is moved to that device
    (meta stands in for a cuda device)."""
    config = LSTMAllSteps.make_config(config_values(LSTMAllSteps), "test")
    rule = make_rule(SPEC.default_rule, 0.9)
    contender = LSTMAllSteps(spec=SPEC, rule=rule, config=config, device=torch.device("meta"), seed=3)
    assert contender.seed == 3 and contender.device == torch.device("meta")
    assert {p.device.type for p in contender.model.parameters()} == {"meta"}


def test_an_lstm_contender_with_the_conv_encoder_puts_its_model_on_the_device_given() -> None:
    """With encoder 'conv' (a task of 16 x 16 frames) the ConvLSTMClassifier is moved to the device
    given too (meta stands in for a cuda device)."""
    spec = TaskSpec("tiny-frames", 4, 256, 3, "sigmoid", frame_shape=(16, 16))
    config = LSTMAllSteps.make_config(config_values(LSTMAllSteps, encoder="conv", conv_channels=1), "test")
    contender = LSTMAllSteps(spec, make_rule(spec.default_rule, 0.9), config, torch.device("meta"), 0)
    assert type(contender.model) is ConvLSTMClassifier
    assert {p.device.type for p in contender.model.parameters()} == {"meta"}


@pytest.mark.parametrize("field", ["hidden", "layers"])
def test_an_lstm_config_refuses_zero_hidden_units_or_zero_layers(field) -> None:
    """Each of hidden and layers is checked to be positive, the error naming it."""
    with pytest.raises(ValueError, match=rf"{field} must be > 0, got 0"):
        LSTMAllSteps.make_config(config_values(LSTMAllSteps, **{field: 0}), "test")
