"""Tests written for the mutants of ``baselines/snn_ttfs.py`` and ``baselines/snn_loss.py`` that survived the
mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from baselines.snn_loss import first_spike_times
from baselines.snn_ttfs import FirstSpike, LIFClassifier, SNNConfig, SpikingTTFS
from bench.core.task_contract import TaskSpec


def test_the_first_spike_rule_has_a_plain_repr() -> None:
    assert repr(FirstSpike()) == "FirstSpike()"


@pytest.mark.parametrize("shape", [(2, 0, 3), (4, 3), (1, 2, 3, 4)])
def test_first_spike_times_refuse_anything_but_a_batch_time_neurons_train_of_at_least_one_step(shape) -> None:
    """A spike train that is not (batch, time, neurons), or has no step, raises a ValueError giving its shape."""
    message = f"spikes must be shaped (batch, time >= 1, neurons), got {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        first_spike_times(torch.zeros(shape))


def test_first_spike_times_of_a_single_step_or_no_neuron() -> None:
    """One step is enough: every neuron's time is step 0, spiking or not (the last step); a layer of no neurons
    gives an empty (batch, 0)."""
    times = first_spike_times(torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]]]))
    assert times.shape == (2, 3) and times.dtype == torch.float32 and times.tolist() == [[0.0] * 3] * 2
    assert first_spike_times(torch.zeros(2, 3, 0)).shape == (2, 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.uint8])
def test_first_spike_times_come_in_the_spike_trains_own_dtype(dtype) -> None:
    """The times are the first spike's step (the last step, 2, for a neuron that never spikes) in the spike
    train's dtype: float64 for a float64 train, and an integer train's own integer type, not int64."""
    spikes = torch.tensor([[[0, 1, 0], [1, 1, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 1]]], dtype=dtype)
    times = first_spike_times(spikes)
    assert times.dtype == dtype and times.tolist() == [[1, 0, 2], [2, 2, 2]]


@pytest.mark.parametrize("decay", [0.0, 0.5, 1.0])
def test_the_config_takes_any_decay_in_the_closed_unit_interval(decay) -> None:
    """Decay 0 (no memory) and 1 (integration without leak) are valid, as is anything between."""
    assert SNNConfig(decay=decay).decay == decay


@pytest.mark.parametrize("decay", [-0.01, 1.01])
def test_the_config_refuses_a_decay_outside_the_unit_interval(decay) -> None:
    """A decay below 0 or above 1 raises a ValueError that gives it."""
    with pytest.raises(ValueError, match=rf"^decay must lie in \[0, 1\], got {decay!r}$"):
        SNNConfig(decay=decay)


def lif(n_features: int = 6) -> LIFClassifier:
    torch.manual_seed(0)
    return LIFClassifier(n_features, 5, 3, decay=0.9, threshold=0.5, surrogate_slope=5.0)


@pytest.mark.parametrize("shape", [(2, 6), (2, 0, 6), (2, 3, 5), (2, 3, 6, 1)])
def test_the_lif_network_refuses_input_of_the_wrong_shape_with_it(shape) -> None:
    """Input that is not (batch, time >= 1, 6 features) raises a ValueError giving its shape."""
    message = f"input must be shaped (batch, time >= 1, features=6), got {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        lif()(torch.rand(shape))


@pytest.mark.parametrize("batch, time", [(2, 1), (2, 3), (1, 3), (3, 1)])
def test_the_lif_network_runs_its_steps_from_zero_membranes_of_each_example(batch, time) -> None:
    """The forward pass, one step or several, one example or several, is ``step`` over every step from zero
    membranes of shape (batch, neurons): scores (batch, time, classes)."""
    model = lif()
    x = torch.rand(batch, time, 6) * 2
    scores = model(x)
    state = (torch.zeros(batch, 5), torch.zeros(batch, 3))
    expected = []
    for t in range(time):
        step_scores, state = model.step(x[:, t], state)
        expected.append(step_scores)
    assert scores.shape == (batch, time, 3)
    torch.testing.assert_close(scores, torch.stack(expected, dim=1), rtol=0, atol=0)


def test_the_lif_state_is_made_on_the_device_and_in_the_dtype_asked_for() -> None:
    """Zero membranes (batch, hidden) and (batch, classes) in the weights' dtype (float64 here), on the device
    asked for, else on the weights' device, never torch's default one (meta stands in for cuda)."""
    model = lif().double()
    on_meta = model.init_state(2, torch.device("meta"))
    assert [(m.device.type, m.dtype, tuple(m.shape)) for m in on_meta] == [("meta", torch.float64, (2, 5)),
                                                                          ("meta", torch.float64, (2, 3))]
    with torch.device("meta"):
        own = model.init_state(2)
        on_cpu = model.init_state(2, torch.device("cpu"))
    for state in (own, on_cpu):
        assert [(m.device.type, m.dtype, tuple(m.shape)) for m in state] == [("cpu", torch.float64, (2, 5)),
                                                                            ("cpu", torch.float64, (2, 3))]
        assert not any(m.any() for m in state)


def test_the_snn_contender_puts_its_network_on_its_device() -> None:
    """snn-ttfs builds its LIF network on the device it is given (meta stands in for cuda), buffers included."""
    spec = TaskSpec("toy", 4, 6, 3, "sigmoid", None)
    built = SpikingTTFS(spec, FirstSpike(), SNNConfig(hidden=5), torch.device("meta"), 0)
    tensors = [*built.model.parameters(), *built.model.buffers()]
    assert tensors and {tensor.device.type for tensor in tensors} == {"meta"}


@pytest.mark.parametrize("layer", ["lif_hidden", "lif_out"])
def test_each_lif_layer_spikes_with_the_fast_sigmoid_surrogate_of_the_slope_given(layer) -> None:
    """Every LIF layer fires where its input is above 0 and passes back the fast sigmoid's derivative
    ``1 / (k |u| + 1)^2`` of the configured slope k (4 here), not snnTorch's default surrogate."""
    model = LIFClassifier(6, 5, 3, decay=0.9, threshold=0.5, surrogate_slope=4.0)
    u = torch.tensor([-1.0, -0.2, 0.0, 0.3, 2.0], requires_grad=True)
    spikes = getattr(model, layer).spike_grad(u)
    assert spikes.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    (gradient,) = torch.autograd.grad(spikes.sum(), u)
    torch.testing.assert_close(gradient, 1 / (4 * u.detach().abs() + 1) ** 2)


def test_the_first_spike_rules_threshold_is_zero() -> None:
    """The first-spike rule's theta is 0, the score level above which a neuron spikes: a score of exactly 0 does
    not cross, any above it does."""
    rule = FirstSpike()
    assert rule.theta == 0.0 and type(rule.theta) is float
    assert rule.crossed(torch.tensor([[0.0, -1.0], [1e-6, -1.0]])).tolist() == [False, True]
