"""Tests written for the mutants of ``rc/compiled.py`` and ``baselines/snn_compiled.py`` that survived the
mutation run (issue 17)."""

from __future__ import annotations

import pytest
from torch import nn

from rc import compiled
from rc.crossing import SigmoidThreshold


def test_registering_a_model_and_a_rule_records_their_builder_and_test(monkeypatch) -> None:
    monkeypatch.setattr(compiled, "COMPILED_MODELS", dict(compiled.COMPILED_MODELS))
    monkeypatch.setattr(compiled, "COMPILED_RULES", dict(compiled.COMPILED_RULES))

    class Model(nn.Module):
        pass

    class Rule(SigmoidThreshold):
        pass

    def builder(model):
        return "not this one"

    compiled.register_compiled_model(Model, builder)
    assert compiled.COMPILED_MODELS[Model] is builder
    compiled.register_compiled_rule(Rule, compiled.SOFTMAX_MAX)
    assert compiled.COMPILED_RULES[Rule] == compiled.SOFTMAX_MAX
    with pytest.raises(ValueError, match=r"^unknown compiled crossing test 99$"):
        compiled.register_compiled_rule(Rule, 99)
