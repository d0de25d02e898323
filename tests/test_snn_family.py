"""The spiking family beside snn-ttfs: ``snn-conv`` and ``snn-recurrent`` (baselines/snn_family.py).

The network against snnTorch's own usage, the convolutional front end against the LSTMs'
encoder shape, early exit against a full pass, the losses on spike input against snnTorch,
and the operation counts (baselines/snn_family_operations.py) against hand counts, an
independent count from the network's state, and ``torch.utils.flop_counter``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import snntorch.functional as snn_functional
import torch
from torch import Tensor, nn
from torch.nn import functional
from torch.utils.flop_counter import FlopCounterMode

from contender_cases import build, noop, tiny_splits
from baselines import snn_family_operations as family_ops
from baselines.registry import get_contender
from baselines.snn_family import SpikingConfig, SpikingNetwork
from baselines.snn_init import scale_to_first_step_currents
from baselines.snn_ttfs import FirstSpike
from bench.core.options import OptionError
from bench.core.task_contract import Split, TaskSpec
from bench.run.harness import contender_config, plan_jobs
from bench.run.profile import load_profile
from rc import operations as ops
from rc.crossing import Decision, decide
from rc.inference import early_exit_decide
from rc.model import ConvEncoder

CPU = torch.device("cpu")
FAMILY = ("snn-conv", "snn-recurrent")


def spikes(batch: int, time: int, features: int, p: float = 0.2, seed: int = 1) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, time, features, generator=generator) < p).float()


def network(recurrent: bool, frame_shape: tuple[int, int] | None = None, seed: int = 0, **options) -> SpikingNetwork:
    """A small network whose output neurons spike at various steps on sparse random spikes (weights
    doubled, no biases of the feed-forward synapses: the input drives the spikes)."""
    torch.manual_seed(seed)
    features = frame_shape[0] * frame_shape[1] if frame_shape else 12
    model = SpikingNetwork(features, 16, 4, recurrent=recurrent, frame_shape=frame_shape, channels=2,
                           threshold=0.5, output_threshold=0.5, **options)
    with torch.no_grad():
        for layer in (*model.conv_layers, model.fc_hidden, model.fc_out):
            layer.weight.mul_(2.0)
            layer.bias.zero_()
    return model


# --- the network ---------------------------------------------------------------------------------

def test_the_recurrent_network_is_snntorchs_rleaky_loop() -> None:
    """The membranes and scores of ``step`` are those of the loop of snnTorch's RLeaky documentation."""
    model, x = network(recurrent=True), spikes(8, 10, 12)
    spk1, mem1 = model.lif_hidden.reset_mem()
    mem2 = model.lif_out.reset_mem()
    scores, output_spikes = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            spk1, mem1 = model.lif_hidden(model.fc_hidden(x[:, t]), spk1, mem1)
            spk2, mem2 = model.lif_out(model.fc_out(spk1), mem2)
            scores.append(mem2 - model.lif_out.threshold)
            output_spikes.append(spk2)
        ours = model(x)
    torch.testing.assert_close(ours, torch.stack(scores, dim=1))
    assert torch.equal((ours > 0).float(), torch.stack(output_spikes, dim=1))
    assert 0 < int((ours > 0).sum()) < ours.numel()
    assert tuple(model.lif_hidden.recurrent.weight.shape) == (16, 16)


def test_the_feed_forward_network_has_no_recurrent_synapses() -> None:
    model = network(recurrent=False)
    assert not hasattr(model.lif_hidden, "recurrent")
    x = spikes(4, 6, 12)
    mem1, mem2 = model.lif_hidden.reset_mem(), model.lif_out.reset_mem()
    with torch.no_grad():
        expected = []
        for t in range(x.shape[1]):
            spk1, mem1 = model.lif_hidden(model.fc_hidden(x[:, t]), mem1)
            _, mem2 = model.lif_out(model.fc_out(spk1), mem2)
            expected.append(mem2 - model.lif_out.threshold)
        torch.testing.assert_close(model(x), torch.stack(expected, dim=1))


@pytest.mark.parametrize("frame_shape, channels", [((28, 28), 32), ((16, 16), 3), ((20, 17), 4)])
def test_the_convolutional_front_end_has_the_lstm_encoders_shape(frame_shape, channels) -> None:
    model = SpikingNetwork(frame_shape[0] * frame_shape[1], 8, 10, frame_shape=frame_shape, channels=channels)
    encoder = ConvEncoder(frame_shape, channels)
    for ours, theirs in zip(model.conv_layers, (encoder.conv1, encoder.conv2), strict=True):
        assert (ours.in_channels, ours.out_channels, ours.kernel_size) == (
            theirs.in_channels, theirs.out_channels, theirs.kernel_size)
        assert (ours.stride, ours.padding) == (theirs.stride, theirs.padding)
    assert model.conv_shapes[-1] == encoder.out_shape
    assert model.fc_hidden.in_features == encoder.out_features
    state = model.init_state(2, CPU)
    assert [tuple(s.shape[1:]) for s in state] == [*model.conv_shapes, (8,), (10,)]


def test_conv_spikes_are_pooled_currents_fed_to_leaky_neurons() -> None:
    """A step: conv -> max pool -> Leaky, twice, then the hidden and output layers."""
    model, x = network(recurrent=False, frame_shape=(16, 16)), spikes(3, 2, 256, p=0.4)
    with torch.no_grad():
        state = model.init_state(3, CPU)
        _, state = model.step(x[:, 0], state)
        frame = x[:, 0].reshape(3, 1, 16, 16)
        membrane1 = model.pool(model.conv_layers[0](frame))  # decay * 0 + I
        torch.testing.assert_close(state[0], membrane1)
        spikes1 = (membrane1 > 0.5).float()
        membrane2 = model.pool(model.conv_layers[1](spikes1))
        torch.testing.assert_close(state[1], membrane2)
        hidden = model.fc_hidden((membrane2 > 0.5).float().flatten(1))
        torch.testing.assert_close(state[2], hidden)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("frame_shape", [None, (16, 16)])
def test_early_exit_equals_the_full_pass_decision(recurrent, frame_shape) -> None:
    model = network(recurrent, frame_shape)
    x = spikes(32, 12, model.n_features, p=0.05 if frame_shape else 0.15)
    model.eval()
    with torch.no_grad():
        full = decide(model(x), FirstSpike())
    streamed, evaluations = early_exit_decide(model, x, FirstSpike())
    assert torch.equal(streamed.prediction, full.prediction)
    assert torch.equal(streamed.step_index, full.step_index)
    assert torch.equal(streamed.crossed, full.crossed)
    assert evaluations == int(full.steps_read.sum())
    assert len(set(full.step_index.tolist())) >= 3  # decisions spread over the steps


def test_dropout_acts_in_training_only() -> None:
    model = network(recurrent=True, dropout=0.5)
    x = spikes(4, 6, 12, p=0.5)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
        model.eval()
        assert torch.equal(model(x), model(x))


def test_config_errors_name_the_setting() -> None:
    for values, message in (({"encoder": "cnn"}, "encoder must be one of none, conv"),
                            ({"loss": "rate"}, "loss must be one of first-spike, temporal"),
                            ({"decay": 1.5}, "decay must lie in"), ({"dropout": 1.0}, "dropout must lie in"),
                            ({"learn_decay": 1}, "learn_decay' must be bool"),
                            ({"conv_channels": 0}, "conv_channels must be a positive integer"),
                            ({"init_target": -0.5}, "init_target must be >= 0")):
        with pytest.raises(OptionError, match=message):
            get_contender("snn-recurrent").make_config(values, "here")
    with pytest.raises(ValueError, match="encoder 'conv' needs a task whose steps are image frames"):
        build("snn-conv", encoder="conv")


@pytest.mark.parametrize("recurrent, frame_shape", [(False, (16, 16)), (True, None)])
def test_data_driven_initialisation_sets_each_layers_first_step_current(recurrent, frame_shape) -> None:
    """Each rescaled layer's first-step current has std target x threshold on the spikes the layers
    before it emit after their own rescaling; the firing rates returned are those spikes' means."""
    model = network(recurrent, frame_shape)
    first = spikes(64, 1, model.n_features, p=0.3)[:, 0]
    rates = scale_to_first_step_currents(model, first, 0.7)
    with torch.no_grad():
        currents = []
        v = first if frame_shape is None else first.reshape(64, 1, *frame_shape)
        for conv in model.conv_layers:
            currents.append(model.pool(conv(v)))
            v = (currents[-1] > 0.5).float()
        currents.append(model.fc_hidden(v.flatten(1)))
    assert len(rates) == len(currents) == (3 if frame_shape else 1)
    for current, rate in zip(currents, rates):
        assert float(current.std()) == pytest.approx(0.7 * 0.5, rel=1e-4)
        assert rate == pytest.approx(float((current > 0.5).float().mean()))
    assert 0 < rates[-1] < 1


def test_data_driven_initialisation_errors_name_the_problem() -> None:
    model = network(False)
    with pytest.raises(ValueError, match="target must be > 0"):
        scale_to_first_step_currents(model, spikes(8, 1, 12)[:, 0], 0.0)
    with pytest.raises(ValueError, match=r"first_step must be shaped \(batch >= 2, 12\)"):
        scale_to_first_step_currents(model, spikes(8, 1, 10)[:, 0], 0.5)
    with pytest.raises(ValueError, match="does not vary over the batch"):
        scale_to_first_step_currents(model, torch.zeros(8, 12), 0.5)


def test_the_family_shares_the_lstms_front_end_option_names() -> None:
    from baselines.lstm_common import LSTMConfig

    lstm = {f: getattr(LSTMConfig(), f) for f in ("encoder", "conv_channels", "augment_shift")}
    assert {f: getattr(SpikingConfig(), f) for f in lstm} == lstm


# --- the losses on spike input -----------------------------------------------------------------

def spike_problem(n: int = 12, steps: int = 6, features: int = 4, classes: int = 3) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(3)
    y = torch.arange(n) % classes
    x = (torch.rand(n, steps, features, generator=generator) < 0.3).float()
    x[torch.arange(n), :, y] = 1.0  # the label's input neuron spikes at every step
    return x, y


def grads(model: nn.Module, loss: Tensor) -> list[Tensor]:
    parameters = [p for p in model.parameters() if p.requires_grad]
    found = torch.autograd.grad(loss, parameters, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, found)]


@pytest.mark.parametrize("name", FAMILY)
def test_losses_on_spike_input_equal_their_references(name: str) -> None:
    x, y = spike_problem()
    spec = TaskSpec("spikes", 6, 4, 3, "sigmoid")
    first = build(name, spec, threshold=0.3, output_threshold=0.3, hidden=16)
    first.model.train()
    scores = first.model(x)
    decision = decide(scores.detach(), FirstSpike())
    assert len(set(decision.step_index.tolist())) >= 2
    at = scores[torch.arange(len(y)), decision.step_index]
    reference = functional.cross_entropy(at, y)
    loss = first.objective(x, y).loss
    torch.testing.assert_close(loss, reference)
    for mine, theirs in zip(grads(first.model, loss), grads(first.model, reference), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
    temporal = build(name, spec, threshold=0.3, output_threshold=0.3, hidden=16, loss="temporal")
    loss = temporal.objective(x, y).loss
    reference = snn_functional.ce_temporal_loss()(temporal.model.spikes(temporal.model(x)).transpose(0, 1), y.clone())
    torch.testing.assert_close(loss, reference)
    for mine, theirs in zip(grads(temporal.model, loss), grads(temporal.model, reference), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", FAMILY)
def test_training_learns_a_tiny_problem(name: str) -> None:
    """A few epochs on 64 sequences whose label is the input neuron that keeps spiking (chance: 1/3)."""
    x, y = spike_problem(n=96)
    spec = TaskSpec("spikes", 6, 4, 3, "sigmoid")
    contender = build(name, spec, hidden=32, epochs=6, batch_size=16, lr=0.01)
    report = contender.fit(Split(x[:64], y[:64]), Split(x[64:], y[64:]), noop)
    assert report.history[-1].val_accuracy >= 0.7
    assert report.history[-1].val_decision_step < 6


# --- operation counts --------------------------------------------------------------------------

def tiny_recurrent(decay: float = 0.5) -> SpikingNetwork:
    """F=2, N=2, C=2, threshold 1, no biases, hand-set weights (one recurrent weight exactly zero)."""
    model = SpikingNetwork(2, 2, 2, recurrent=True, decay=decay, threshold=1.0)
    with torch.no_grad():
        model.fc_hidden.weight.copy_(torch.tensor([[1.5, 0.2], [0.3, 0.4]]))
        model.lif_hidden.recurrent.weight.copy_(torch.tensor([[0.0, 0.5], [0.6, 0.0]]))
        model.fc_out.weight.copy_(torch.tensor([[1.2, 0.1], [0.2, 0.3]]))
        for layer in (model.fc_hidden, model.lif_hidden.recurrent, model.fc_out):
            layer.bias.zero_()
    return model


def test_dense_counts_by_hand() -> None:
    model = tiny_recurrent()
    # synaptic 2*2 + 2*2 (recurrent) + 2*2 = 12; neuron 2 * (2 + 2) = 8
    assert family_ops.dense_synaptic_macs(model) == 12
    assert family_ops.dense_macs_per_step(model) == 20
    # backward: 2 * 12 - 4 (the input's gradient) + 4 neurons
    assert family_ops.backward_macs_per_step(model) == 24
    learnt = SpikingNetwork(2, 2, 2, recurrent=True, learn_decay=True)
    assert learnt.backward_macs_per_step() == 24 + 4  # the decays' gradients
    conv = SpikingNetwork(256, 3, 2, frame_shape=(16, 16), channels=1)
    # conv1: 12*12 positions * 25, pooled 1 x 6 x 6; conv2: 2*2 positions * 2*1*25, pooled 2 x 1 x 1
    assert family_ops.conv_dense_macs(conv) == [3600, 200]
    assert family_ops.dense_synaptic_macs(conv) == 3600 + 200 + 2 * 3 + 3 * 2
    assert family_ops.dense_neuron_macs(conv) == 2 * (36 + 2 + 3 + 2)
    assert conv.backward_macs_per_step() == 2 * 3812 - 3600 + (36 + 2 + 3 + 2)


def test_tiny_recurrent_spike_input_by_hand() -> None:
    model = tiny_recurrent()
    x = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]])
    counts = family_ops.operations_per_step(model, x)
    # step 0: input spike 0 -> 2 ACs; U_hid = (1.5, 0.3): hidden 0 spikes -> 2 ACs to the output;
    #         nothing spiked before: the recurrent synapses read nothing; all membranes 0: no neuron ops
    # step 1: silent input; recurrent: hidden 0's spike through its one non-zero weight -> 1 AC;
    #         U_hid = 0.5 (1.5, 0.3) + (0, 0.6) - (1, 0) = (-0.25, 0.75): no spikes; 4 decay MACs;
    #         resets of hidden 0 and output 0 (U_out was (1.2, 0.2)): 2 ACs
    # step 2: input spike 1 -> 2 ACs; no hidden spikes before or now; 4 decay MACs
    assert counts.synaptic_acs.tolist() == [[4, 1, 2]]
    assert counts.synaptic_macs.tolist() == [[0, 0, 0]]
    assert counts.neuron_macs.tolist() == [[0, 4, 4]]
    assert counts.neuron_acs.tolist() == [[0, 2, 0]]
    assert counts.dense_macs.tolist() == [[20, 20, 20]]
    decision, _ = early_exit_decide(model, x, FirstSpike())
    assert decision.step_index.tolist() == [0]  # output 0 spikes at step 0 (U = 1.2)
    to_decision = ops.operations_to_decision(model, x, decision)
    assert (to_decision.effective_acs.tolist(), to_decision.dense_macs.tolist()) == ([4], [20])


def test_the_output_threshold_counts_the_output_resets() -> None:
    model = tiny_recurrent()
    model.lif_out.threshold.fill_(1.25)  # U_out = 1.2 at step 0: no output spike, no reset at step 1
    x = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]])
    counts = family_ops.operations_per_step(model, x)
    assert counts.neuron_acs.tolist() == [[0, 1, 0]]  # hidden 0's reset only
    assert counts.synaptic_acs.tolist() == [[4, 1, 2]]
    decision, _ = early_exit_decide(model, x, FirstSpike())
    assert decision.step_index.tolist() == [2] and decision.crossed.tolist() == [False]


def test_real_valued_input_is_macs_and_zero_decay_costs_no_macs() -> None:
    x = torch.tensor([[[0.5, 0.0], [0.0, -0.25]]])
    counts = family_ops.operations_per_step(tiny_recurrent(), x)
    assert counts.synaptic_macs.tolist() == [[2, 2]]  # a real value through a fan-out of 2, each step
    assert counts.synaptic_acs.tolist() == [[0, 0]]  # U_hid = (0.75, 0.15): no spikes
    assert counts.neuron_macs.tolist() == [[0, 2]]  # the output never got input: its U stays 0
    assert family_ops.operations_per_step(tiny_recurrent(decay=0.0), x).neuron_macs.tolist() == [[0, 0]]


def brute_force_conv_reads(v: Tensor, weight: Tensor) -> int:
    """Per (output channel, position, input channel, kernel offset): a non-zero input times a non-zero weight."""
    channels_out, channels_in, k, _ = weight.shape
    height, width = v.shape[1] - k + 1, v.shape[2] - k + 1
    total = 0
    for i in range(height):
        for j in range(width):
            window = v[:, i:i + k, j:j + k] != 0
            total += int(((weight != 0) & window.unsqueeze(0)).sum())
    assert channels_out * channels_in > 0
    return total


@pytest.mark.parametrize("recurrent", [False, True])
def test_conv_network_counts_equal_an_independent_count_from_the_state(recurrent: bool) -> None:
    """Each layer's reads, recomputed from the membranes the network keeps (spikes = U > threshold)."""
    model = network(recurrent, (16, 16), dropout=0.5)
    with torch.no_grad():
        model.conv_layers[1].weight[0, 0, :2] = 0.0  # zero weights are not counted
        model.fc_hidden.weight[:, 3] = 0.0
    x = spikes(3, 4, 256, p=0.3)
    model.train()  # counts are made in evaluation mode (no dropout) and leave the mode as it was
    counts = model.operations_per_step(x)
    assert model.training
    model.eval()
    threshold = 0.5
    state = model.init_state(3, CPU)
    for t in range(x.shape[1]):
        previous = state
        with torch.no_grad():
            _, state = model.step(x[:, t], state)
        for b in range(3):
            frame = x[b, t].reshape(1, 16, 16)
            conv1 = brute_force_conv_reads(frame, model.conv_layers[0].weight)
            conv2 = brute_force_conv_reads((state[0][b] > threshold).float(), model.conv_layers[1].weight)
            fan_out = (model.fc_hidden.weight != 0).sum(dim=0)
            hidden_in = int(fan_out[(state[1][b] > threshold).flatten()].sum())
            recurrent_in = 0
            if recurrent:
                fan = (model.lif_hidden.recurrent.weight != 0).sum(dim=0)
                recurrent_in = int(fan[previous[2][b] > threshold].sum())
            out = int((model.fc_out.weight != 0).sum(dim=0)[state[2][b] > threshold].sum())
            assert int(counts.synaptic_acs[b, t]) == conv1 + conv2 + hidden_in + recurrent_in + out
            assert int(counts.synaptic_macs[b, t]) == 0
            macs = sum(int((m[b] != 0).sum()) for m in previous)  # decay 0.9 everywhere
            resets = sum(int((m[b] > threshold).sum()) for m in previous)
            assert (int(counts.neuron_macs[b, t]), int(counts.neuron_acs[b, t])) == (macs, resets)
    assert int(counts.synaptic_acs.sum()) > 0 and int(counts.neuron_acs.sum()) > 0


def flops(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("frame_shape", [None, (16, 16)])
def test_dense_synaptic_macs_match_flop_counter(recurrent, frame_shape) -> None:
    model = network(recurrent, frame_shape)
    batch, time = 3, 4
    x = spikes(batch, time, model.n_features)
    # FlopCounterMode counts 2 FLOPs per MAC of matmuls and convolutions, none of elementwise products
    assert flops(lambda: model(x)) == 2 * batch * time * family_ops.dense_synaptic_macs(model)


@pytest.mark.parametrize("learn_decay", [False, True])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("frame_shape", [None, (16, 16)])
def test_training_macs_match_flop_counter(recurrent, frame_shape, learn_decay) -> None:
    model = network(recurrent, frame_shape, learn_decay=learn_decay)
    batch, time = 3, 4
    x = spikes(batch, time, model.n_features)
    evaluations = batch * time
    training = ops.training_operations(model, evaluations, evaluations)
    neurons = family_ops.neuron_count(model)
    neuron_forward, neuron_backward = 2 * neurons, neurons * (2 if learn_decay else 1)
    matmul = (training.forward_macs - evaluations * neuron_forward
              + training.backward_macs - evaluations * neuron_backward)
    # autograd skips the gradient to the spikes before step 0 (S = 0, no graph): N*N per sequence
    skipped = batch * model.fc_hidden.out_features ** 2 if recurrent else 0
    assert flops(lambda: model(x).sum().backward()) == 2 * (matmul - skipped)


def test_the_contenders_count_through_the_protocol() -> None:
    for name in FAMILY:
        contender = build(name)
        ops.check_counts_operations(contender.model)
        x = torch.randn(5, 4, 4)
        decision = Decision(torch.zeros(5, dtype=torch.long), torch.tensor([0, 1, 2, 3, 3]),
                            torch.ones(5, dtype=torch.bool))
        means = contender.operations_to_decision(x, decision)
        assert means["dense_macs"] == pytest.approx(contender.model.dense_macs_per_step() * 14 / 5)


def test_unsupported_neurons_are_refused() -> None:
    model = tiny_recurrent()
    model.lif_out.reset_mechanism = "zero"
    with pytest.raises(ops.OperationCountError, match="output layer: counts cover snnTorch Leaky/RLeaky"):
        model.operations_per_step(torch.zeros(1, 2, 2))


# --- the profile protocol ------------------------------------------------------------------------

def test_the_image_protocol_applies_without_an_override(tmp_path: Path) -> None:
    """``encoder``, ``conv_channels`` and ``augment_shift`` of the paper profile's image tasks reach the
    family as they reach the LSTMs; on FSDD they read the real-valued frames (no data.spikes)."""
    path = tmp_path / "p.toml"
    path.write_text('extends = "paper"\nname = "family"\n[contenders.snn-conv]\nhidden = 64\n'
                    '[contenders.snn-recurrent]\nhidden = 64\n', encoding="utf-8")
    profile = load_profile(str(path))
    for task in ("mnist-temporal", "fmnist-temporal"):
        for name in FAMILY:
            config = contender_config(profile, task, get_contender(name))
            assert (config.encoder, config.conv_channels, config.augment_shift) == ("conv", 32, 2)
            assert profile.tasks[task].protocol.overrides_for(name) == []
    assert "spikes" not in profile.tasks["fsdd"].data_values("snn-recurrent")
    assert plan_jobs(profile, ["mnist-temporal", "fsdd"], list(FAMILY))


def test_fit_records_validation_for_both(tmp_path: Path) -> None:
    train, val = tiny_splits()
    for name in FAMILY:
        report = build(name, epochs=2, batch_size=8).fit(train, val, noop)
        assert [log.epoch for log in report.history] == [1, 2]
        assert report.step_evaluations_forward > 0
