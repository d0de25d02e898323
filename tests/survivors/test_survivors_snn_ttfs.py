"""Tests written for the mutants of ``baselines/snn_ttfs.py`` and ``baselines/snn_loss.py`` that survived the
mutation run (issue 17)."""

from __future__ import annotations

from baselines.snn_ttfs import FirstSpike


def test_the_first_spike_rule_has_a_plain_repr() -> None:
    assert repr(FirstSpike()) == "FirstSpike()"
