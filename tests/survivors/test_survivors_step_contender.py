"""Tests written for the mutants of ``baselines/step_contender.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest

from contender_cases import build


@pytest.mark.parametrize("name", ["rc-lstm", "snn-conv"])
def test_a_contender_not_trained_yet_has_no_learning_curve(name) -> None:
    assert build(name).learning_curve() == ()
