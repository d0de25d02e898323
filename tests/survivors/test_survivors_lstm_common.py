"""Tests written for the mutants of ``baselines/lstm_common.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import torch
from contender_cases import SPEC, config_values

from baselines.lstm_allsteps import LSTMAllSteps
from rc.crossing import make_rule


def test_an_lstm_contender_built_with_keywords_puts_its_model_on_the_device_given() -> None:
    """Keyword arguments reach the base class (device, seed), and the model is moved to that device
    (meta stands in for a cuda device)."""
    config = LSTMAllSteps.make_config(config_values(LSTMAllSteps), "test")
    rule = make_rule(SPEC.default_rule, 0.9)
    contender = LSTMAllSteps(spec=SPEC, rule=rule, config=config, device=torch.device("meta"), seed=3)
    assert contender.seed == 3 and contender.device == torch.device("meta")
    assert {p.device.type for p in contender.model.parameters()} == {"meta"}
