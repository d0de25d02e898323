"""The ``snn-ttfs`` contender: first-spike decision rule, LIF network, temporal loss, training."""

from __future__ import annotations

import pytest
import snntorch.functional as SF
import torch
from snntorch import surrogate

from baselines.registry import get_contender
from baselines.snn_loss import first_spike_times, temporal_cross_entropy
from baselines.snn_ttfs import FirstSpike, LIFClassifier, SNNConfig, SpikingTTFS
from bench.core.options import OptionError
from bench.core.task_contract import Split, TaskSpec
from rc.crossing import SigmoidThreshold, TwoSidedBinary, decide
from rc.inference import early_exit_decide
from helpers import CountingModel

CPU = torch.device("cpu")


# --- the first-spike rule on hand-built scores (membrane minus threshold) --------------------

def test_first_spike_wins_over_a_later_higher_membrane() -> None:
    scores = torch.full((1, 6, 3), -0.5)
    scores[0, 3, 2] = 0.1  # neuron 2 spikes first, at step 3
    scores[0, 4, 0] = 5.0  # neuron 0 spikes later with a much higher membrane
    decision = decide(scores, FirstSpike())
    assert decision.step_index.tolist() == [3]
    assert decision.prediction.tolist() == [2]
    assert decision.crossed.tolist() == [True]


def test_simultaneous_spikes_go_to_the_highest_membrane_then_the_lowest_index() -> None:
    scores = torch.full((2, 4, 3), -1.0)
    scores[0, 2] = torch.tensor([0.3, 0.8, -0.2])  # neurons 0 and 1 spike together: 1 is higher
    scores[1, 1] = torch.tensor([-0.1, 0.5, 0.5])  # exact tie of the membrane: lowest index
    decision = decide(scores, FirstSpike())
    assert decision.step_index.tolist() == [2, 1]
    assert decision.prediction.tolist() == [1, 1]


def test_no_spike_falls_back_to_the_highest_membrane_at_the_last_step() -> None:
    scores = torch.full((1, 5, 3), -2.0)
    scores[0, 1, 0] = -0.01  # close to threshold early on, but no spike
    scores[0, 4, 1] = -0.3   # the highest membrane at the last step
    decision = decide(scores, FirstSpike())
    assert decision.step_index.tolist() == [4]
    assert decision.crossed.tolist() == [False]
    assert decision.prediction.tolist() == [1]


def test_spike_at_step_zero_counts_and_a_membrane_at_threshold_does_not_spike() -> None:
    scores = torch.full((2, 4, 2), -1.0)
    scores[0, 0, 1] = 0.2
    scores[1, 0, 0] = 0.0  # U == threshold: snnTorch fires only when U > threshold
    scores[1, 2, 0] = 0.4
    decision = decide(scores, FirstSpike())
    assert decision.step_index.tolist() == [0, 2]
    assert decision.steps_read.tolist() == [1, 3]
    assert decision.prediction.tolist() == [1, 0]


def test_rule_entropy_is_the_softmax_entropy_of_the_scores() -> None:
    rule = FirstSpike()
    assert rule.entropy(torch.zeros(3, 4)).tolist() == pytest.approx([torch.log(torch.tensor(4.0)).item()] * 3)
    assert rule.entropy(torch.tensor([[50.0, -50.0]])).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 output classes"):
        rule.crossed(torch.zeros(3, 1))


# --- the LIF network ----------------------------------------------------------------------------

def random_network(seed: int = 0, features: int = 12, hidden: int = 32, classes: int = 4) -> LIFClassifier:
    """A network whose first output spikes are spread over many steps on sparse random spikes."""
    torch.manual_seed(seed)
    model = LIFClassifier(features, hidden, classes, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    with torch.no_grad():
        model.fc_hidden.weight.mul_(3.0)
        model.fc_out.weight.mul_(3.0)
    return model


def random_spikes(batch: int = 64, time: int = 15, features: int = 12, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, time, features, generator=generator) < 0.15).float()


def test_scores_are_positive_exactly_where_the_output_leaky_neurons_spike() -> None:
    model, x = random_network(), random_spikes()
    mem_hidden, mem_out = model.init_state(x.shape[0], CPU)
    spikes = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            spk_hidden, mem_hidden = model.lif_hidden(model.fc_hidden(x[:, t]), mem_hidden)
            spk_out, mem_out = model.lif_out(model.fc_out(spk_hidden), mem_out)
            spikes.append(spk_out)
        scores = model(x)
    spikes = torch.stack(spikes, dim=1)
    assert 0 < int(spikes.sum()) < spikes.numel()
    assert torch.equal(spikes, (scores > 0).float())
    assert torch.equal(model.spikes(scores), spikes)


def test_an_input_spike_at_step_zero_can_decide_at_step_zero() -> None:
    model = LIFClassifier(1, 1, 2, decay=0.5, threshold=1.0, surrogate_slope=5.0)
    with torch.no_grad():
        for layer in (model.fc_hidden, model.fc_out):
            layer.bias.zero_()
        model.fc_hidden.weight.fill_(2.0)
        model.fc_out.weight.copy_(torch.tensor([[0.0], [1.5]]))
    x = torch.zeros(2, 5, 1)
    x[0, 0, 0] = 1.0  # example 0: one input spike at step 0; example 1: silent
    decision, evaluations = early_exit_decide(model, x, FirstSpike())
    assert decision.step_index.tolist() == [0, 4]
    assert decision.prediction.tolist() == [1, 0]
    assert decision.crossed.tolist() == [True, False]
    assert evaluations == 1 + 5
    # membrane of output 1: 1.5 at step 0 (spike), then 0.5 * 1.5 - 1 (reset by subtraction) + 0
    torch.testing.assert_close(model(x)[0, :2, 1] + 1.0, torch.tensor([1.5, -0.25]))


def test_early_exit_equals_the_full_pass_and_drops_finished_examples() -> None:
    model, x = random_network(), random_spikes()
    full = decide(model(x).detach(), FirstSpike())
    counting = CountingModel(model)
    decision, evaluations = early_exit_decide(counting, x, FirstSpike())
    assert torch.equal(decision.step_index, full.step_index)
    assert torch.equal(decision.prediction, full.prediction)
    assert torch.equal(decision.crossed, full.crossed)
    steps = decision.step_index
    assert len(set(steps.tolist())) >= 5, "the case should spread decisions over many steps"
    assert counting.batch_sizes == [int((steps >= t).sum()) for t in range(int(steps.max()) + 1)]
    assert evaluations == int(decision.steps_read.sum()) < x.shape[0] * x.shape[1]


def test_step_by_step_with_dropped_rows_equals_forward() -> None:
    model, x = random_network(seed=2), random_spikes(batch=6, time=8, seed=3)
    keep = torch.tensor([4, 1, 3])
    state = model.init_state(6, CPU)
    stepped = []
    with torch.no_grad():
        for t in range(8):
            if t == 3:
                state = model.select_state(state, keep)
            scores, state = model.step(x[:, t] if t < 3 else x[keep, t], state)
            stepped.append(scores)
        full = model(x)
    torch.testing.assert_close(torch.stack(stepped[:3], dim=1), full[:, :3], rtol=0, atol=0)
    torch.testing.assert_close(torch.stack(stepped[3:], dim=1), full[keep, 3:], rtol=0, atol=0)


def test_forward_rejects_the_wrong_number_of_features() -> None:
    with pytest.raises(ValueError, match=r"features=12"):
        random_network()(torch.zeros(2, 5, 3))


# --- the temporal loss against snnTorch's ce_temporal_loss ------------------------------------

def test_first_spike_times_and_their_sign_estimator_gradient() -> None:
    spikes = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                           [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], requires_grad=True)
    times = first_spike_times(spikes)  # neuron 1 of example 1 never spikes: shadow spike at T - 1 = 3
    assert times.tolist() == [[1.0, 3.0], [0.0, 3.0]]
    times.sum().backward()
    expected = torch.zeros(2, 4, 2)
    expected[0, 1, 0] = expected[0, 3, 1] = expected[1, 0, 0] = expected[1, 3, 1] = -1.0
    assert torch.equal(spikes.grad, expected)


def membrane_trains(seed: int, batch: int = 32, time: int = 12, classes: int = 5) -> torch.Tensor:
    """Random membrane-minus-threshold trains; some neurons never spike."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, time, classes, generator=generator) - 1.5
    scores[: batch // 4, :, 0] = -torch.rand(batch // 4, time, generator=generator)  # silent neurons
    scores[batch // 4: batch // 2] -= 3.0  # mostly silent examples
    return scores.requires_grad_(True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_temporal_cross_entropy_equals_snntorch_ce_temporal_loss(seed: int) -> None:
    spike = surrogate.fast_sigmoid(slope=5.0)
    scores = membrane_trains(seed)
    targets = torch.randint(0, 5, (32,), generator=torch.Generator().manual_seed(seed))
    silent = spike(scores).detach().sum(dim=1) == 0
    assert bool(silent.any()) and not bool(silent.all())
    ours = temporal_cross_entropy(spike(scores), targets)
    (our_grad,) = torch.autograd.grad(ours, scores)
    theirs = SF.ce_temporal_loss()(spike(scores).transpose(0, 1), targets.clone())  # snnTorch: (time, batch, n)
    (their_grad,) = torch.autograd.grad(theirs, scores)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    torch.testing.assert_close(our_grad, their_grad, rtol=0, atol=1e-6)
    assert float(our_grad.abs().sum()) > 0


def test_network_parameter_gradients_equal_those_of_snntorch_ce_temporal_loss() -> None:
    model, x = random_network(), random_spikes(batch=16)
    targets = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(0))

    def gradients(loss_of_spikes) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        loss_of_spikes(model.spikes(model(x))).backward()
        return [p.grad.clone() for p in model.parameters()]

    ours = gradients(lambda spikes: temporal_cross_entropy(spikes, targets))
    theirs = gradients(lambda spikes: SF.ce_temporal_loss()(spikes.transpose(0, 1), targets.clone()))
    for mine, reference in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, reference, rtol=0, atol=1e-6)


# --- configuration and registration -------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("hidden", 0), ("decay", 1.5), ("decay", -0.1), ("threshold", 0.0), ("surrogate_slope", -1.0),
    ("epochs", 0), ("batch_size", 0), ("lr", 0.0), ("grad_clip", -1.0), ("eval_batch_size", 0),
    ("weight_decay", -0.1),
])
def test_config_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must"):
        SNNConfig(**{field: value})


def test_config_has_no_beta_and_profiles_cannot_set_one() -> None:
    assert not SpikingTTFS.uses_beta()
    with pytest.raises(OptionError, match=r"unknown option\(s\) beta.*decay"):
        SpikingTTFS.make_config({"beta": 0.1}, "profile test, contender snn-ttfs")


def test_registered_and_always_decides_with_its_own_rule() -> None:
    assert get_contender("snn-ttfs") is SpikingTTFS
    assert SpikingTTFS.threshold_in_training is False
    assert isinstance(SpikingTTFS.own_rule(), FirstSpike)
    spec = TaskSpec("tiny", 5, 3, 2, "two-sided")
    contender = SpikingTTFS(spec, TwoSidedBinary(0.9), SNNConfig(hidden=4), CPU, 0)
    assert isinstance(contender.rule, FirstSpike)
    assert contender.model.fc_out.out_features == 2  # one output neuron per class, even for binary tasks


def test_chunked_decide_matches_the_full_pass_and_counts_steps_read() -> None:
    spec = TaskSpec("random", 15, 12, 4, "sigmoid")
    contender = SpikingTTFS(spec, SigmoidThreshold(0.9), SNNConfig(hidden=32, eval_batch_size=7), CPU, 0)
    contender.model = random_network()
    x = random_spikes()
    decision, evaluations = contender.decide(x)
    full = decide(contender.step_scores(x), FirstSpike())
    assert torch.equal(decision.step_index, full.step_index)
    assert torch.equal(decision.prediction, full.prediction)
    assert evaluations == int(decision.steps_read.sum())


# --- training ------------------------------------------------------------------------------------

def spike_race(n: int, seed: int, group: int = 4, time: int = 10) -> Split:
    """Two groups of ``group`` inputs each spike once; the class is the group that spikes first.

    The first group spikes at step 0, 1 or 2, the other 2 to 4 steps later.
    """
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=generator)
    first = torch.randint(0, 3, (n,), generator=generator)
    later = first + torch.randint(2, 5, (n,), generator=generator)
    x = torch.zeros(n, time, 2 * group)
    rows = torch.arange(n)
    for k in range(group):
        x[rows, first, y * group + k] = 1.0
        x[rows, later, (1 - y) * group + k] = 1.0
    return Split(x, y)


@pytest.mark.slow
def test_tiny_training_run_learns_which_group_spikes_first() -> None:
    train, val, test = spike_race(480, seed=0), spike_race(100, seed=1), spike_race(200, seed=2)
    spec = TaskSpec("spike-race", 10, 8, 2, "sigmoid")
    config = SNNConfig(hidden=128, epochs=2, batch_size=16, lr=5e-3)
    contender = SpikingTTFS(spec, SigmoidThreshold(0.9), config, CPU, seed=1)
    lines: list[str] = []
    report = contender.fit(train, val, lines.append)
    decision, _ = contender.decide(test.x)
    accuracy = (decision.prediction == test.y).float().mean().item()
    assert accuracy >= 0.8, f"accuracy {accuracy:.3f} (chance 0.5); training log: {lines}"
    assert decision.crossed.float().mean().item() >= 0.8  # decided by a real output spike
    assert report.step_evaluations_forward == report.step_evaluations_backward == 2 * 480 * 10
    assert len(lines) == 2
