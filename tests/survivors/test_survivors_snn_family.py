"""Tests written for the mutants of ``baselines/snn_family.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch

from baselines.snn_family import SpikingNetwork


class RecordingNetwork(SpikingNetwork):
    """Records the ``(batch_size, device)`` its state is asked for with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[int, object]] = []

    def init_state(self, batch_size, device=None):
        self.asked.append((batch_size, device))
        return super().init_state(batch_size, device)


@pytest.mark.parametrize("batch, time", [(1, 3), (2, 3), (4, 1)])
def test_forward_is_the_step_loop_from_a_state_for_the_batch_on_the_inputs_device(batch, time) -> None:
    torch.manual_seed(0)
    model = RecordingNetwork(5, 4, 3, recurrent=True, threshold=0.2, output_threshold=0.2).eval()
    x = torch.rand(batch, time, 5)
    scores = model(x)
    assert scores.shape == (batch, time, 3)
    assert model.asked == [(batch, x.device)]
    state = model.init_state(batch)
    for t in range(time):
        step_scores, state = model.step(x[:, t], state)
        torch.testing.assert_close(scores[:, t], step_scores)


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 0, 5), (2, 5), (2, 3, 5, 1)])
def test_inputs_of_the_wrong_shape_are_refused_with_it(shape) -> None:
    model = SpikingNetwork(5, 4, 3)
    with pytest.raises(ValueError, match=rf"^input must be shaped \(batch, time >= 1, features=5\), "
                                         rf"got \({', '.join(map(str, shape))}\)$"):
        model(torch.zeros(shape))
