"""Operation counts (rc/operations.py): hand-computed tiny networks, FlopCounterMode, NeuroBench, errors."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from baselines.snn_ttfs import FirstSpike, LIFClassifier
from baselines import snn_operations as snn_ops
from rc import lstm_operations as lstm_ops
from rc import operations as ops
from rc.crossing import Decision, TwoSidedBinary
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier
from rc.training import truncated_rc_step
from helpers import CountingModel


def decision_at(*steps: int) -> Decision:
    n = len(steps)
    return Decision(torch.zeros(n, dtype=torch.long), torch.tensor(steps), torch.ones(n, dtype=torch.bool))


def tiny_lstm(layers: int = 1) -> LSTMClassifier:
    """F=2, H=3, C=2; random weights, none exactly zero."""
    torch.manual_seed(0)
    model = LSTMClassifier(2, 3, 2, layers=layers)
    assert all(bool((p != 0).all()) for p in model.parameters())
    return model


def tiny_snn(decay: float = 0.5) -> LIFClassifier:
    """F=2, N=2, C=2, threshold 1, no biases, hand-set weights."""
    model = LIFClassifier(2, 2, 2, decay=decay, threshold=1.0, surrogate_slope=5.0)
    with torch.no_grad():
        model.fc_hidden.weight.copy_(torch.tensor([[1.5, 0.2], [0.3, 0.4]]))
        model.fc_out.weight.copy_(torch.tensor([[1.2, 0.1], [0.2, 0.3]]))
        model.fc_hidden.bias.zero_()
        model.fc_out.bias.zero_()
    return model


SPIKES = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
"""One latency-style spike train, (1, T=4, F=2): a spike, a silent step, another spike, two spikes."""


# --- dense counts ----------------------------------------------------------------------------

def test_dense_counts_of_the_tiny_lstm_by_hand() -> None:
    model = tiny_lstm()
    # 4H(F+H) + HC = 12*5 + 3*2 = 66; cell products 3H = 9
    assert lstm_ops.lstm_dense_synaptic_macs(model) == 66
    assert lstm_ops.lstm_dense_neuron_macs(model) == 9
    assert lstm_ops.lstm_dense_macs_per_step(model) == 75
    # two layers: layer 2 reads H=3 features: + 12*6 = 72 synaptic, + 9 neuron
    two = tiny_lstm(layers=2)
    assert lstm_ops.lstm_dense_synaptic_macs(two) == 66 + 72
    assert lstm_ops.lstm_dense_neuron_macs(two) == 18


def test_dense_counts_of_the_tiny_snn_by_hand() -> None:
    model = LIFClassifier(3, 4, 2, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    assert snn_ops.snn_dense_synaptic_macs(model) == 3 * 4 + 4 * 2
    assert snn_ops.snn_dense_neuron_macs(model) == 2 * (4 + 2)
    assert snn_ops.snn_dense_macs_per_step(model) == 32


# --- effective counts, LSTM ------------------------------------------------------------------

def test_tiny_lstm_real_valued_input_counts_macs_only() -> None:
    model = tiny_lstm()
    x = torch.tensor([[[0.5, -0.3], [0.2, 0.7], [-1.5, 0.4], [0.3, 0.3]]])
    counts = lstm_ops.lstm_operations_per_step(model, x)
    # step 0: W_ih x = 2 inputs * 12 = 24, W_hh h_0 = 0, products i*g + o*tanh(c) = 6 (c_0 = 0), readout 6
    # later steps: 24 + 36 + 9 + 6 = 75 = the dense count
    assert counts.effective_macs.tolist() == [[36, 75, 75, 75]]
    assert counts.effective_acs.tolist() == [[0, 0, 0, 0]]
    assert counts.dense_macs.tolist() == [[75, 75, 75, 75]]
    to_decision = ops.operations_to_decision(model, x, decision_at(2))
    assert to_decision.effective_macs.tolist() == [36 + 75 + 75]
    assert to_decision.dense_macs.tolist() == [3 * 75]


def test_tiny_lstm_spike_input_counts_acs_for_spikes_and_macs_for_the_recurrence() -> None:
    model = tiny_lstm()
    counts = lstm_ops.lstm_operations_per_step(model, SPIKES)
    # W_ih reads spikes: 12 ACs per spike; a silent step costs nothing
    assert counts.synaptic_acs.tolist() == [[12, 0, 12, 24]]
    # W_hh h (36 from step 1) and the readout (6) read real h: MACs
    assert counts.synaptic_macs.tolist() == [[6, 42, 42, 42]]
    assert counts.neuron_macs.tolist() == [[6, 9, 9, 9]]
    assert counts.neuron_acs.tolist() == [[0, 0, 0, 0]]
    to_decision = ops.operations_to_decision(model, SPIKES, decision_at(3))
    assert to_decision.effective_acs.tolist() == [48]
    assert to_decision.effective_macs.tolist() == [12 + 3 * 51]
    assert to_decision.dense_macs.tolist() == [300]


def test_a_zero_input_costs_nothing_and_real_values_are_macs() -> None:
    model = tiny_lstm()
    x = torch.tensor([[[0.5, 0.0]], [[0.0, 0.0]], [[1.0, -1.0]]])  # three examples, one step
    counts = lstm_ops.lstm_operations_per_step(model, x)
    assert counts.synaptic_macs[:, 0].tolist() == [12 + 6, 6, 6]  # the real input 0.5: 12 MACs
    assert counts.synaptic_acs[:, 0].tolist() == [0, 0, 24]  # {-1, 1} inputs are ACs


def test_zero_weights_are_not_counted_as_neurobench_does() -> None:
    model = tiny_lstm()
    with torch.no_grad():
        model.lstm.weight_ih_l0[0, 0] = 0.0
        model.readout.weight[1, 2] = 0.0
    counts = lstm_ops.lstm_operations_per_step(model, SPIKES[:, :1])
    assert counts.synaptic_acs.tolist() == [[11]]
    assert counts.synaptic_macs.tolist() == [[5]]
    assert counts.dense_synaptic_macs.tolist() == [[66]]  # dense counts every weight


def test_the_counting_cell_computes_what_lstm_cell_computes() -> None:
    model = tiny_lstm(layers=2)
    x = torch.randn(5, 2)
    h, c = torch.randn(5, 3), torch.randn(5, 3)
    w = (model.lstm.weight_ih_l0, model.lstm.weight_hh_l0, model.lstm.bias_ih_l0, model.lstm.bias_hh_l0)
    expected_h, expected_c = torch.lstm_cell(x, (h, c), *w)
    cell = lstm_ops.lstm_cell_activations(x, h, c, *w)
    torch.testing.assert_close(cell.h, expected_h)
    torch.testing.assert_close(cell.c, expected_c)


def test_upper_layers_read_dense_h() -> None:
    model = tiny_lstm(layers=2)
    counts = lstm_ops.lstm_operations_per_step(model, SPIKES)
    # layer 2's W_ih (12 x 3 = 36) reads h of layer 1 from step 0, its W_hh (36) from step 1
    assert counts.synaptic_macs.tolist() == [[6 + 36, 6 + 36 * 3, 6 + 36 * 3, 6 + 36 * 3]]
    assert counts.synaptic_acs.tolist() == [[12, 0, 12, 24]]
    assert counts.neuron_macs.tolist() == [[12, 18, 18, 18]]


# --- effective counts, LIF network -----------------------------------------------------------

def test_tiny_snn_spike_input_by_hand() -> None:
    model = tiny_snn()
    x = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]])
    counts = snn_ops.snn_operations_per_step(model, x)
    # step 0: input spike 0 -> 2 ACs; hidden U = (1.5, 0.3): neuron 0 spikes -> 2 ACs into the output;
    #         the membranes start at 0: no decay MACs, no resets
    # step 1: silent input, no hidden spikes (U = (-0.25, 0.15)); decay MACs for all 4 non-zero
    #         membranes; resets of hidden neuron 0 and output neuron 0 (U_out was (1.2, 0.2)): 2 ACs
    # step 2: input spike 1 -> 2 ACs; U_hid = (0.075, 0.475), no spikes; 4 decay MACs, no resets
    assert counts.synaptic_acs.tolist() == [[4, 0, 2]]
    assert counts.synaptic_macs.tolist() == [[0, 0, 0]]
    assert counts.neuron_macs.tolist() == [[0, 4, 4]]
    assert counts.neuron_acs.tolist() == [[0, 2, 0]]
    assert counts.dense_macs.tolist() == [[16, 16, 16]]  # (2*2 + 2*2) + 2*(2 + 2)
    to_decision = ops.operations_to_decision(model, x, decision_at(2))
    assert to_decision.effective_acs.tolist() == [8]
    assert to_decision.effective_macs.tolist() == [8]
    assert to_decision.dense_macs.tolist() == [48]
    # the network's own decision: output neuron 0 spikes at step 0
    decision, _ = early_exit_decide(model, x, FirstSpike())
    assert decision.step_index.tolist() == [0]
    own = ops.operations_to_decision(model, x, decision)
    assert (own.effective_acs.tolist(), own.effective_macs.tolist(), own.dense_macs.tolist()) == ([4], [0], [16])


def test_tiny_snn_real_valued_input_is_macs_and_no_decay_costs_no_macs() -> None:
    x = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    counts = snn_ops.snn_operations_per_step(tiny_snn(), x)
    assert counts.synaptic_macs.tolist() == [[2, 0]]  # 0.5 through a fan-out of 2
    assert counts.synaptic_acs.tolist() == [[0, 0]]  # U_hid = (0.75, 0.15): no spikes
    assert counts.neuron_macs.tolist() == [[0, 2]]  # the output never got input: its U stays 0
    no_decay = snn_ops.snn_operations_per_step(tiny_snn(decay=0.0), x)
    assert no_decay.neuron_macs.tolist() == [[0, 0]]


def test_snn_counts_run_only_to_the_latest_decision() -> None:
    model = LIFClassifier(3, 4, 2, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    x = (torch.rand(3, 6, 3) > 0.5).float()
    calls = []
    original = model.step
    model.step = lambda x_t, state: (calls.append(x_t.shape), original(x_t, state))[1]
    counts = ops.operations_to_decision(model, x, decision_at(0, 2, 1))
    assert calls == [(3, 3)] * 3  # steps 0..2 of the whole batch, not the 6 steps of x
    assert counts.dense_macs.tolist() == [32, 96, 64]


def test_to_decision_is_the_per_step_sum() -> None:
    model = tiny_lstm(layers=2)
    x = torch.randn(4, 5, 2)
    steps = torch.tensor([0, 4, 2, 3])
    per_step = lstm_ops.lstm_operations_per_step(model, x)
    to_decision = ops.operations_to_decision(model, x, decision_at(*steps.tolist()))
    for row, s in enumerate(steps.tolist()):
        assert to_decision.effective_macs[row] == per_step.effective_macs[row, : s + 1].sum()
        assert to_decision.dense_macs[row] == (s + 1) * ops.dense_macs_per_step(model)
    means = to_decision.means()
    assert means["dense_macs"] == pytest.approx((1 + 5 + 3 + 4) / 4 * ops.dense_macs_per_step(model))
    assert means["effective_macs"] <= means["dense_macs"]


def test_counts_follow_the_models_own_early_exit() -> None:
    torch.manual_seed(1)
    model = LSTMClassifier(1, 8, 1)
    x = torch.randn(16, 10, 1)
    decision, evaluations = early_exit_decide(model, x, TwoSidedBinary(0.52))
    counts = ops.operations_to_decision(model, x, decision)
    assert int(counts.dense_macs.sum()) == evaluations * ops.dense_macs_per_step(model)
    assert bool((counts.effective_macs + counts.effective_acs <= counts.dense_macs).all())


# --- FlopCounterMode -------------------------------------------------------------------------

def matmul_flops(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def test_lstm_dense_synaptic_macs_match_flop_counter_on_the_step_path() -> None:
    model = tiny_lstm(layers=2)
    batch, time = 5, 4
    x = torch.randn(batch, time, 2)

    def run() -> None:
        state = model.init_state(batch, x.device)
        for t in range(time):
            _, state = model.step(x[:, t], state)

    # FlopCounterMode counts 2 FLOPs per matmul MAC and no elementwise products
    assert matmul_flops(run) == 2 * batch * time * lstm_ops.lstm_dense_synaptic_macs(model)


def test_snn_dense_synaptic_macs_match_flop_counter() -> None:
    model = LIFClassifier(5, 7, 3, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    x = (torch.rand(4, 6, 5) > 0.5).float()
    assert matmul_flops(lambda: model(x)) == 2 * 4 * 6 * snn_ops.snn_dense_synaptic_macs(model)


def test_lstm_training_macs_match_flop_counter_on_a_full_step_loop() -> None:
    model = tiny_lstm(layers=2)
    batch, time, hidden, layers = 5, 4, 3, 2
    x = torch.randn(batch, time, 2)

    def run() -> None:
        state, scores = model.init_state(batch, x.device), []
        for t in range(time):
            step_scores, state = model.step(x[:, t], state)
            scores.append(step_scores)
        torch.stack(scores).sum().backward()

    evaluations = batch * time
    training = ops.training_operations(model, evaluations, evaluations)
    neuron = lstm_ops.lstm_dense_neuron_macs(model)
    matmul_macs = training.forward_macs - evaluations * neuron + training.backward_macs - evaluations * 2 * neuron
    # autograd skips the gradient to h_0 = 0 (no grad): 4H*H per layer and sequence
    assert matmul_flops(run) == 2 * (matmul_macs - batch * layers * 4 * hidden * hidden)


def test_snn_training_macs_match_flop_counter() -> None:
    model = LIFClassifier(5, 7, 3, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    x = (torch.rand(4, 6, 5) > 0.5).float()
    evaluations = 4 * 6
    training = ops.training_operations(model, evaluations, evaluations)
    neuron_forward, neuron_backward = snn_ops.snn_dense_neuron_macs(model), 7 + 3
    matmul_macs = (training.forward_macs - evaluations * neuron_forward
                   + training.backward_macs - evaluations * neuron_backward)
    assert matmul_flops(lambda: model(x).sum().backward()) == 2 * matmul_macs


def test_truncated_rc_training_stays_within_the_stated_bounds() -> None:
    torch.manual_seed(2)
    model = LSTMClassifier(1, 6, 1)
    x, y = torch.randn(32, 12, 1), torch.randint(0, 2, (32,))
    found = {}

    def run() -> None:
        # the step loop (CountingModel is not an LSTMClassifier): FlopCounterMode does not see the fused LSTM
        result = truncated_rc_step(CountingModel(model), x, y, TwoSidedBinary(0.51), beta=0.0)
        result.loss.backward()
        found["evaluations"] = result.backward_evaluations

    flops = matmul_flops(run)
    evaluations = found["evaluations"]
    training = ops.training_operations(model, evaluations, evaluations)
    neuron = lstm_ops.lstm_dense_neuron_macs(model)
    upper = training.total_macs - evaluations * 3 * neuron - 32 * 4 * 6 * 6  # minus the skipped h_0 gradient
    lower = upper - evaluations * 2 * 6 * 1  # minus every readout backward
    assert 2 * lower <= flops <= 2 * upper


def test_training_operations_by_hand() -> None:
    lstm = tiny_lstm()
    # backward per step: 2*66 - 4*3*2 + 2*9 = 126
    assert ops.training_operations(lstm, 10, 4) == ops.TrainingOperations(750, 504)
    snn = LIFClassifier(3, 4, 2, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    # backward per step: 2*20 - 12 + (4 + 2) = 34
    assert ops.training_operations(snn, 1, 1) == ops.TrainingOperations(32, 34)
    assert ops.training_operations(snn, 6, 6).per_epoch(3) == {
        "forward_macs": 64.0, "backward_macs": 68.0, "total_macs": 132.0}


# --- errors ----------------------------------------------------------------------------------

def test_errors_name_the_problem() -> None:
    lstm = tiny_lstm()
    with pytest.raises(ops.OperationCountError, match="features=2"):
        lstm_ops.lstm_operations_per_step(lstm, torch.zeros(2, 3, 5))
    with pytest.raises(ops.OperationCountError, match="features=2"):
        lstm_ops.lstm_operations_per_step(lstm, torch.zeros(3, 2))
    with pytest.raises(ops.OperationCountError, match="decision batch mismatch"):
        ops.operations_to_decision(lstm, torch.zeros(2, 3, 2), decision_at(0, 1, 2))
    with pytest.raises(ops.OperationCountError, match=r"\[0, 2\]"):
        ops.operations_to_decision(lstm, torch.zeros(2, 3, 2), decision_at(0, 3))
    with pytest.raises(ops.OperationCountError, match="integer steps"):
        ops.operations_to_decision(
            lstm, torch.zeros(1, 3, 2), Decision(torch.zeros(1), torch.tensor([1.0]), torch.ones(1, dtype=torch.bool)))
    with pytest.raises(ops.OperationCountError, match="NaN"):
        snn_ops.snn_operations_per_step(tiny_snn(), torch.full((1, 2, 2), float("nan")))
    with pytest.raises(ops.OperationCountError, match="GRU"):
        ops.operations_to_decision(nn.GRU(2, 3), torch.zeros(1, 2, 2), decision_at(0))
    with pytest.raises(ops.OperationCountError, match="per-example"):
        lstm_ops.lstm_operations_per_step(lstm, torch.zeros(1, 2, 2)).means()
    with pytest.raises(ops.OperationCountError, match="non-negative"):
        ops.training_operations(lstm, -1, 0)
    with pytest.raises(ops.OperationCountError, match="epochs"):
        ops.training_operations(lstm, 1, 1).per_epoch(0)


def test_unsupported_lif_neurons_are_refused() -> None:
    model = tiny_snn()
    model.lif_out.reset_mechanism = "zero"
    with pytest.raises(ops.OperationCountError, match="output layer.*reset by subtraction"):
        snn_ops.snn_operations_per_step(model, torch.zeros(1, 2, 2))


# --- NeuroBench (only where it is installed; not a dependency) -------------------------------

class CellLoop(nn.Module):
    """The tiny LSTMClassifier as an nn.LSTMCell loop, the form NeuroBench counts."""

    def __init__(self, model: LSTMClassifier) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(model.n_features, model.hidden)
        self.readout = model.readout
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.cell, name).copy_(getattr(model.lstm, f"{name}_l0"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = torch.zeros(x.shape[0], self.cell.hidden_size)
        scores = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            scores.append(self.readout(h))
        return torch.stack(scores, dim=1)


def neurobench_counts(net: nn.Module, x: torch.Tensor, steps: list[int]) -> dict:
    """NeuroBench's SynapticOperations, one example at a time, each run to its decision."""
    workload = pytest.importorskip("neurobench.metrics.workload")
    models = pytest.importorskip("neurobench.models")
    model = models.TorchModel(net)
    model.register_hooks()
    metric = workload.SynapticOperations()
    with torch.no_grad():
        for row, s in enumerate(steps):
            example = x[row: row + 1, : s + 1]
            metric(model, model(example), (example, torch.zeros(1)))
            model.reset_hooks()
    model.close_hooks()
    return metric.compute()


@pytest.mark.parametrize("spiking", [False, True])
def test_lstm_cell_counts_agree_with_neurobench(spiking: bool) -> None:
    pytest.importorskip("neurobench.metrics.workload")
    torch.manual_seed(3)
    model = LSTMClassifier(4, 5, 3)
    x = (torch.rand(3, 6, 4) > 0.6).float() if spiking else torch.randn(3, 6, 4)
    steps = [5, 0, 3]
    ours = ops.operations_to_decision(model, x, decision_at(*steps)).means()
    theirs = neurobench_counts(CellLoop(model), x, steps)
    hidden, outputs = 5, 3
    # NeuroBench's dense count leaves out W_hh h_0 and f*c_0 at step 0 (it keeps h_0 = c_0 = 0)
    assert theirs["Dense"] == pytest.approx(ours["dense_macs"] - (4 * hidden * hidden + hidden))
    total = ours["effective_macs"] + ours["effective_acs"]
    assert theirs["Effective_MACs"] + theirs["Effective_ACs"] == pytest.approx(total)
    if spiking:  # NeuroBench labels the whole cell by its input: ACs; only the readout is MACs
        readout = sum(s + 1 for s in steps) / len(steps) * hidden * outputs
        assert theirs["Effective_MACs"] == pytest.approx(readout)
    else:
        assert theirs["Effective_ACs"] == 0
        assert theirs["Effective_MACs"] == pytest.approx(ours["effective_macs"])


@pytest.mark.parametrize("spiking", [False, True])
def test_snn_synaptic_counts_agree_with_neurobench(spiking: bool) -> None:
    pytest.importorskip("neurobench.metrics.workload")
    torch.manual_seed(4)
    model = LIFClassifier(6, 8, 3, decay=0.8, threshold=0.5, surrogate_slope=5.0)
    x = (torch.rand(3, 7, 6) > 0.5).float() if spiking else torch.rand(3, 7, 6)
    steps = [6, 2, 4]
    ours = ops.operations_to_decision(model, x, decision_at(*steps)).means()
    theirs = neurobench_counts(model, x, steps)
    assert ours["synaptic_acs"] > 0
    assert theirs["Dense"] == pytest.approx(ours["dense_synaptic_macs"])
    assert theirs["Effective_MACs"] == pytest.approx(ours["synaptic_macs"])
    assert theirs["Effective_ACs"] == pytest.approx(ours["synaptic_acs"])


# ----------------------------------------------------------------------------- models that count themselves


class SelfCountingModel(torch.nn.Module):
    """A stand-in third-party network: 7 dense MACs per step, 3 of them effective ACs, backward 11."""

    def operations_per_step(self, x: torch.Tensor) -> ops.OperationCounts:
        shape = x.shape[:2]
        full = functools.partial(torch.full, shape, dtype=torch.int64)
        return ops.OperationCounts(full(7), full(0), full(0), full(3), full(0), full(0))

    def dense_macs_per_step(self) -> int:
        return 7

    def backward_macs_per_step(self) -> int:
        return 11


def test_a_model_can_count_its_own_operations() -> None:
    model = SelfCountingModel()
    x = torch.zeros(3, 5, 2)
    decision = Decision(torch.zeros(3, dtype=torch.long), torch.tensor([0, 2, 4]), torch.ones(3, dtype=torch.bool))
    counts = ops.operations_to_decision(model, x, decision)
    assert counts.dense_macs.tolist() == [7, 21, 35]
    assert counts.effective_acs.tolist() == [3, 9, 15]
    assert ops.training_operations(model, 10, 4) == ops.TrainingOperations(70, 44)
    with pytest.raises(ops.OperationCountError, match="decision batch mismatch"):
        ops.operations_to_decision(model, torch.zeros(2, 5, 2), decision)


def test_a_model_without_counts_is_named() -> None:
    with pytest.raises(ops.OperationCountError, match="no operation counts are defined for GRU: give it the method\\(s\\) "
                                                  "operations_per_step, dense_macs_per_step, backward_macs_per_step"):
        ops.operations_to_decision(torch.nn.GRU(2, 3), torch.zeros(1, 2, 2),
                               Decision(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
                                        torch.ones(1, dtype=torch.bool)))
