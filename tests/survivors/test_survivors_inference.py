"""Tests written for the mutants of ``rc/inference.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import torch

from rc.crossing import SigmoidThreshold, decide
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier


class RecordingClassifier(LSTMClassifier):
    """An LSTM classifier that records the device each initial state is asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[object] = []

    def init_state(self, batch_size, device=None):
        self.asked.append(device)
        return super().init_state(batch_size, device)


def test_one_example_is_stepped_from_a_state_on_its_own_device() -> None:
    """A batch of one asks the model for its initial state on x's device (not for the model's fallback)."""
    torch.manual_seed(0)
    model = RecordingClassifier(3, hidden=4, n_outputs=2).eval()
    x = torch.randn(1, 6, 3)
    decision, evaluations = early_exit_decide(model, x, SigmoidThreshold(0.6))
    assert model.asked == [x.device]
    expected = decide(model(x), SigmoidThreshold(0.6))
    assert torch.equal(decision.step_index, expected.step_index) and evaluations == int(expected.step_index) + 1


def test_the_decision_step_of_one_example_lies_on_its_device_whatever_the_default_device() -> None:
    """The step index of a batch of one is int64 on x's device (the CPU), also under another default
    device (meta stands in for a cuda default device)."""
    torch.manual_seed(0)
    model = LSTMClassifier(3, hidden=4, n_outputs=2).eval()
    x = torch.randn(1, 6, 3)
    expected = decide(model(x), SigmoidThreshold(0.6))
    with torch.device("meta"):
        decision, _ = early_exit_decide(model, x, SigmoidThreshold(0.6))
    assert decision.step_index.device.type == "cpu" and decision.step_index.dtype == torch.int64
    assert torch.equal(decision.step_index, expected.step_index)
    assert torch.equal(decision.prediction, expected.prediction)
