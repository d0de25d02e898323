"""Tests written for the mutants of ``baselines/snn_family.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import copy
import re

import pytest
import snntorch as snn
import torch

import baselines  # noqa: F401  (registers the contenders)
from baselines.registry import get_contender
from baselines.snn_family import INIT_EXAMPLES, SpikingConfig, SpikingNetwork
from baselines.snn_init import scale_to_first_step_currents
from bench.core.task_contract import Split, TaskSpec
from contender_cases import build, tiny_splits
from rc.crossing import SigmoidThreshold


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


# ----------------------------------------------------------------------------- SpikingConfig


@pytest.mark.parametrize("field", ["hidden", "threshold", "output_threshold", "surrogate_slope"])
@pytest.mark.parametrize("value", [0, -1.5])
def test_the_config_refuses_a_value_that_must_be_positive(field, value) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be > 0, got {re.escape(repr(value))}$"):
        SpikingConfig(**{field: value})


@pytest.mark.parametrize("decay", [0.0, 0.5, 1.0])
def test_the_config_accepts_a_decay_anywhere_in_zero_to_one_ends_included(decay) -> None:
    assert SpikingConfig(decay=decay).decay == decay


@pytest.mark.parametrize("decay", [-0.01, 1.01])
def test_the_config_refuses_a_decay_outside_zero_to_one(decay) -> None:
    with pytest.raises(ValueError, match=rf"^decay must lie in \[0, 1\], got {decay!r}$"):
        SpikingConfig(decay=decay)


def test_the_config_names_a_learn_decay_that_is_not_a_bool() -> None:
    with pytest.raises(ValueError, match=r"^learn_decay must be true or false, got 'yes'$"):
        SpikingConfig(learn_decay="yes")


# ----------------------------------------------------------------------------- SpikingNetwork


def test_the_network_defaults_are_the_documented_ones() -> None:
    """16 channels, decay 0.9, threshold 1 and a fast-sigmoid surrogate of slope 5: d spike / d score at a
    score s is 1 / (1 + 5 |s|)^2."""
    model = SpikingNetwork(256, 4, 3, frame_shape=(16, 16))
    assert model.conv_layers[0].out_channels == 16 and model.conv_layers[1].out_channels == 32
    for lif in model.lif_layers():
        assert float(lif.beta) == pytest.approx(0.9) and float(lif.threshold) == 1.0
    score = torch.tensor([0.2, -0.6], requires_grad=True)
    model.spikes(score).sum().backward()
    torch.testing.assert_close(score.grad, 1 / (1 + 5 * score.detach().abs()) ** 2)


def test_a_fixed_decay_is_one_number_and_a_learned_one_is_per_neuron() -> None:
    """Without learn_decay every layer stores its decay as a single number (so a saved state holds one);
    with it, one per neuron (per channel in a convolutional layer)."""
    fixed = SpikingNetwork(256, 4, 3, frame_shape=(16, 16), channels=1)
    assert [tuple(lif.beta.shape) for lif in fixed.lif_layers()] == [(), (), (), ()]
    assert fixed.state_dict()["lif_hidden.beta"].shape == ()
    learned = SpikingNetwork(256, 4, 3, frame_shape=(16, 16), channels=1, learn_decay=True)
    assert [tuple(lif.beta.shape) for lif in learned.lif_layers()] == [(1, 1, 1), (2, 1, 1), (4,), (3,)]


@pytest.mark.parametrize("dropout", [1.0, 1.5, -0.1])
def test_the_network_refuses_a_dropout_outside_zero_to_one(dropout) -> None:
    with pytest.raises(ValueError, match=rf"^dropout must lie in \[0, 1\), got {dropout!r}$"):
        SpikingNetwork(5, 4, 3, dropout=dropout)


def test_the_network_names_frames_it_cannot_take() -> None:
    with pytest.raises(ValueError,
                       match=r"^the convolutional front end needs frames of at least 16 x 16, got 15 x 20$"):
        SpikingNetwork(300, 4, 3, frame_shape=(15, 20))
    with pytest.raises(ValueError, match=r"^frames of 16 x 16 do not hold 255 features$"):
        SpikingNetwork(255, 4, 3, frame_shape=(16, 16))


@pytest.mark.parametrize("channels", [0, -2, 2.5, True, "4"])
def test_the_network_refuses_anything_but_a_positive_integer_channel_count(channels) -> None:
    with pytest.raises(ValueError, match=rf"^channels must be a positive integer, got {re.escape(repr(channels))}$"):
        SpikingNetwork(256, 4, 3, frame_shape=(16, 16), channels=channels)


def test_the_state_is_made_on_the_device_and_in_the_dtype_asked_for() -> None:
    model = SpikingNetwork(256, 4, 3, frame_shape=(16, 16), channels=1).double()
    on_meta = model.init_state(2, torch.device("meta"))
    assert [(m.device.type, m.dtype) for m in on_meta] == [("meta", torch.float64)] * 4
    with torch.device("meta"):  # no device asked for: the weights' device, not torch's default one
        own = model.init_state(2)
    assert [(m.device.type, m.dtype) for m in own] == [("cpu", torch.float64)] * 4
    assert [tuple(m.shape) for m in own] == [(2, 1, 6, 6), (2, 2, 1, 1), (2, 4), (2, 3)]


def test_a_convolutional_network_updates_the_output_membrane_from_its_own() -> None:
    """The output layer's membrane, not another layer's, carries over: scores ``(batch, time, classes)``, and
    with no input at all each step's score is ``decay`` times the last membrane minus the threshold."""
    torch.manual_seed(0)
    model = SpikingNetwork(256, 4, 3, frame_shape=(16, 16), channels=1).eval()
    scores = model(torch.rand(2, 3, 256))
    assert scores.shape == (2, 3, 3)
    state = model.init_state(2)
    state = (*state[:-1], torch.full((2, 3), 0.5))
    with torch.no_grad():
        for layer in (*model.conv_layers, model.fc_hidden, model.fc_out):
            layer.weight.zero_()
            layer.bias.zero_()
        step_scores, new_state = model.step(torch.zeros(2, 256), state)
    torch.testing.assert_close(step_scores, torch.full((2, 3), 0.9 * 0.5 - 1.0))
    torch.testing.assert_close(new_state[-1], torch.full((2, 3), 0.45))


@pytest.mark.parametrize("shape", [(2, 6), (2, 4), (2, 5, 1)])
def test_a_step_of_the_wrong_shape_is_refused_with_it(shape) -> None:
    model = SpikingNetwork(5, 4, 3)
    with pytest.raises(ValueError,
                       match=rf"^step input must be shaped \(batch, 5\), got \({', '.join(map(str, shape))}\)$"):
        model.step(torch.zeros(shape), model.init_state(2))


# ----------------------------------------------------------------------------- the contenders

SPEC = TaskSpec("toy", 4, 6, 3, "sigmoid", None)


def contender(name: str, device: torch.device = torch.device("cpu")):
    cls = get_contender(name)
    return cls(spec=SPEC, rule=SigmoidThreshold(0.9), config=cls.make_config({"hidden": 5}, "test"), device=device,
               seed=0)


@pytest.mark.parametrize("name, recurrent", [("snn-conv", False), ("snn-recurrent", True)])
def test_each_contender_builds_its_own_hidden_layer_from_keyword_arguments(name, recurrent) -> None:
    model = contender(name).model
    assert model.recurrent is recurrent
    assert isinstance(model.lif_hidden, snn.RLeaky) is recurrent
    assert model.fc_hidden.out_features == 5 and model.fc_out.out_features == 3


def test_a_contender_puts_its_network_on_its_device() -> None:
    model = contender("snn-recurrent", torch.device("meta")).model
    assert {parameter.device.type for parameter in model.parameters()} == {"meta"}


# ----------------------------------------------------------------------------- the data-driven initialisation


class _Stop(Exception):
    """Raised in place of the initialisation or the training loop, once what they were handed is seen."""


def test_the_initialisation_gets_the_first_training_steps_on_the_contenders_device_in_its_weights_dtype(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``fit`` with ``init_target > 0`` hands the network, the first step of the first INIT_EXAMPLES training
    examples (float64 data converted to the float32 of the weights) and the target to the initialisation,
    moved to the contender's device (meta stands in for an accelerator: the data stays on the CPU)."""
    seen = []

    def record(network, first_step, target):
        seen.append((network, first_step, target))
        raise _Stop

    monkeypatch.setattr("baselines.snn_family.scale_to_first_step_currents", record)
    x = torch.rand(INIT_EXAMPLES + 3, 4, 6, dtype=torch.float64)
    train = Split(x, torch.zeros(len(x), dtype=torch.long))
    cls = get_contender("snn-recurrent")
    for device in (torch.device("cpu"), torch.device("meta")):
        seen.clear()
        built = cls(spec=SPEC, rule=SigmoidThreshold(0.9), device=device, seed=0,
                    config=cls.make_config({"hidden": 5, "init_target": 0.75}, "test"))
        with pytest.raises(_Stop):
            built.fit(train, train, lambda _line: None)
        [(network, first_step, target)] = seen
        assert network is built.model and target == 0.75
        assert (first_step.device.type, first_step.dtype, tuple(first_step.shape)) == (
            device.type, torch.float32, (INIT_EXAMPLES, 6))
        if device.type == "cpu":
            torch.testing.assert_close(first_step, x[:INIT_EXAMPLES, 0].float())


def test_the_initialisation_reports_each_rescaled_layers_first_step_firing_rate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One progress line before training: the fraction of neurons firing on the first training step after
    the rescaling, per rescaled layer in order (two convolutions, then the hidden layer), to 3 decimals."""
    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr("baselines.step_contender.fit_minibatches", stop)
    spec = TaskSpec("images", 2, 256, 3, "sigmoid", frame_shape=(16, 16))
    train, val = tiny_splits(spec, n_train=24)
    built = build("snn-conv", spec, encoder="conv", conv_channels=2, threshold=0.4, init_target=0.5)
    expected = scale_to_first_step_currents(copy.deepcopy(built.model), train.x[:, 0], 0.5)
    assert len(expected) == 3 and len({f"{rate:.3f}" for rate in expected}) > 1
    lines = []
    with pytest.raises(_Stop):
        built.fit(train, val, lines.append)
    assert lines == ["data-driven initialisation: first-step firing rates "
                     + ", ".join(f"{rate:.3f}" for rate in expected)
                     + " (rescaled layers in order, the hidden layer last)"]
