"""Tests written for the mutants of ``baselines/snn_init.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch

from baselines.snn_family import SpikingNetwork
from baselines.snn_init import scale_to_first_step_currents


@pytest.mark.parametrize("target, rate", [(1.0, 0.0), (2.0, 0.4)])
def test_a_current_exactly_at_the_threshold_does_not_fire(target, rate) -> None:
    """The rates returned count a neuron as firing only when its rescaled current is above the threshold
    (snnTorch's rule, membrane > threshold): currents -1, -1, 0, 1, 1 (std exactly 1) against threshold 1
    fire none at target 1 (two currents equal the threshold) and two of five at target 2 (currents +-2)."""
    model = SpikingNetwork(1, 1, 2, threshold=1.0)
    with torch.no_grad():
        model.fc_hidden.weight.fill_(1.0)
    first_step = torch.tensor([[-1.0], [-1.0], [0.0], [1.0], [1.0]])
    assert scale_to_first_step_currents(model, first_step, target) == [pytest.approx(rate)]
    assert model.fc_hidden.weight.item() == target and model.fc_hidden.bias.item() == 0.0
