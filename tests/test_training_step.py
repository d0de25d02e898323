"""The truncated RC training step on the fused LSTM (rc.fused_training): same loss and gradients as the
naive step, no step past a crossing in the gradient pass, and honest step-evaluation counts. The compiled
path that small networks take where numba is installed (rc.compiled_training) is turned off here; its own
tests are in test_compiled_training.py."""

from __future__ import annotations

import pytest
import torch

from rc import compiled
from rc.crossing import SigmoidThreshold, TwoSidedBinary
from rc.fused_training import call_plan, fused_parts, gradient_pass, search_decisions
from rc.model import ConvLSTMClassifier, LSTMClassifier
from rc.training import naive_rc_step, truncated_rc_step
from helpers import assert_same_as_naive, gradients


@pytest.fixture(autouse=True)
def fused_path(monkeypatch):
    """Every truncated step here takes the fused path, the compiled one being off."""
    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", False)


def calibrated_rule(scores: torch.Tensor, n_outputs: int, quantile: float = 0.5):
    """A rule whose theta lies at a quantile of the examples' peak confidence, so that some never cross."""
    if n_outputs == 1:
        confidence = (torch.sigmoid(scores[..., 0]) - 0.5).abs().amax(dim=1)
        return TwoSidedBinary(0.5 + confidence.quantile(quantile).item())
    return SigmoidThreshold(torch.sigmoid(scores).amax(dim=(1, 2)).quantile(quantile).item())


def spread_case(hidden: int, layers: int, n_outputs: int = 3, batch: int = 48, time: int = 14, seed: int = 0,
                quantile: float = 0.5):
    """A random LSTM and a random-walk batch whose crossings spread over many steps, some never."""
    torch.manual_seed(seed)
    model = LSTMClassifier(3, hidden, n_outputs, layers)
    with torch.no_grad():
        model.readout.weight.mul_(25.0 / hidden ** 0.5)
        x = torch.randn(batch, time, 3).cumsum(dim=1) * 0.3
        rule = calibrated_rule(model(x), n_outputs, quantile)
    y = torch.randint(0, max(n_outputs, 2), (batch,))
    return model, x, y, rule


def conv_case(batch: int = 12, time: int = 7, seed: int = 0):
    torch.manual_seed(seed)
    model = ConvLSTMClassifier((16, 16), hidden=8, n_outputs=3, layers=1, channels=2)
    with torch.no_grad():
        model.recurrent.readout.weight.mul_(20.0)
        x = torch.rand(batch, time, 256).cumsum(dim=1) / time
        rule = calibrated_rule(model(x), 3)
    return model, x, torch.randint(0, 3, (batch,)), rule


@pytest.mark.parametrize("hidden,layers,n_outputs", [(4, 1, 1), (16, 1, 3), (16, 2, 1), (64, 1, 3), (32, 2, 3), (160, 2, 1)])
def test_loss_and_every_gradient_equal_the_naive_step(hidden: int, layers: int, n_outputs: int) -> None:
    model, x, y, rule = spread_case(hidden, layers, n_outputs)
    naive, truncated = assert_same_as_naive(model, x, y, rule)
    steps = naive.decision.step_index
    assert len(set(steps.tolist())) >= 4, "crossings must spread over several steps"
    assert 0 < int(naive.decision.crossed.sum()) < x.shape[0], "some examples must never cross"
    assert truncated.backward_evaluations == int(naive.decision.steps_read.sum()) < naive.backward_evaluations


@pytest.mark.parametrize("crossing", [True, False])
def test_batch_of_one_crossing_or_not(crossing: bool) -> None:
    model, x, y, rule = spread_case(16, 2, 3)
    with torch.no_grad():
        decision = naive_rc_step(model, x, y, rule, 0.0).decision
    pick = ((decision.step_index > 1) & decision.crossed) if crossing else ~decision.crossed
    row = int(pick.nonzero()[0])
    naive, _ = assert_same_as_naive(model, x[row:row + 1], y[row:row + 1], rule)
    assert bool(naive.decision.crossed) == crossing


def test_all_examples_deciding_at_one_step_and_a_few_never() -> None:
    model, x, y, rule = spread_case(16, 1, 1, batch=40, time=30, quantile=0.05)
    naive, _ = assert_same_as_naive(model, x, y, rule)
    assert 0 < int((~naive.decision.crossed).sum()) <= 3


def test_convolutional_front_end_equals_the_naive_step_and_encodes_each_frame_read_once() -> None:
    """The encoder runs once, with autograd, on each frame the search reads (up to each decision and
    the rest of its chunk); the gradient pass reuses those codes instead of encoding again."""
    model, x, y, rule = conv_case()
    naive, truncated = assert_same_as_naive(model, x, y, rule)
    frames = {"grad": 0, "no_grad": 0}
    model.encoder.register_forward_hook(
        lambda _m, inputs, _o: frames.__setitem__("grad" if torch.is_grad_enabled() else "no_grad",
                                                  frames["grad" if torch.is_grad_enabled() else "no_grad"]
                                                  + inputs[0].shape[0]))
    result = truncated_rc_step(model, x, y, rule, 0.2)
    read = int(naive.decision.steps_read.sum())
    assert 0 < int(naive.decision.crossed.sum()) < x.shape[0]
    assert frames["no_grad"] == 0
    assert frames["grad"] == result.forward_evaluations - result.backward_evaluations >= read
    assert read == result.backward_evaluations
    assert truncated.forward_evaluations == result.forward_evaluations


def lstm_calls(monkeypatch, layers: int = 1) -> list[tuple[bool, int, int]]:
    """Record (autograd on, examples, steps) of every fused LSTM call, and of every single step
    (``torch.lstm_cell`` on the first layer; ``layers`` calls per step)."""
    calls, cells = [], [0]
    original, original_cell = torch.lstm, torch.lstm_cell

    def recording(inputs, *args):
        calls.append((torch.is_grad_enabled(), inputs.shape[0], inputs.shape[1]))
        return original(inputs, *args)

    def recording_cell(inputs, *args):
        if cells[0] % layers == 0:
            calls.append((torch.is_grad_enabled(), inputs.shape[0], 1))
        cells[0] += 1
        return original_cell(inputs, *args)

    monkeypatch.setattr(torch, "lstm", recording)
    monkeypatch.setattr(torch, "lstm_cell", recording_cell)
    return calls


@pytest.mark.parametrize("hidden", [16, 160])
def test_step_evaluations_count_the_search_and_the_gradient_pass(monkeypatch, hidden: int) -> None:
    model, x, y, rule = spread_case(hidden, 2, 3)
    calls = lstm_calls(monkeypatch, layers=2)
    result = truncated_rc_step(model, x, y, rule, 0.0)
    searched = sum(n * steps for grad, n, steps in calls if not grad)
    in_graph = sum(n * steps for grad, n, steps in calls if grad)
    assert in_graph == result.backward_evaluations == int(result.decision.steps_read.sum())
    assert result.forward_evaluations == searched + in_graph
    assert searched >= in_graph
    assert any(steps == 1 and grad for grad, _, steps in calls), "the case must hold single-step calls"


def test_search_runs_only_the_undecided_examples_to_the_end(monkeypatch) -> None:
    model, x, y, rule = spread_case(16, 1, 1, batch=50, time=60, quantile=0.02)
    never = int((~search_decisions(fused_parts(model), x, rule).crossed).sum())
    assert 1 <= never <= 2
    calls = lstm_calls(monkeypatch)
    search = search_decisions(fused_parts(model), x, rule, chunk=4)
    steps = search.step_index
    assert [n for _, n, _ in calls] == [int((steps >= start).sum()) for start in range(0, x.shape[1], 4)]
    assert calls[-1][1] < 5 and search.evaluations < x.shape[0] * x.shape[1] / 2


def test_no_step_after_a_crossing_is_computed_in_the_gradient_pass() -> None:
    """Inputs after each example's decision set to NaN change nothing: no such step is computed."""
    model, x, y, rule = spread_case(16, 2, 3)
    clean, expected = gradients(model, truncated_rc_step, x, y, rule, 0.2)
    after = torch.arange(x.shape[1])[None, :] > clean.decision.step_index[:, None]
    assert bool(after.any())
    poisoned = x.clone()
    poisoned[after] = float("nan")
    # the search runs chunks that may pass a crossing; the gradient pass must not
    search = search_decisions(fused_parts(model), x, rule)
    model.zero_grad(set_to_none=True)
    scores = gradient_pass(fused_parts(model), poisoned, search)
    assert bool(torch.isfinite(scores).all())
    truncated, found = gradients(model, truncated_rc_step, poisoned, y, rule, 0.2)
    assert torch.isfinite(truncated.loss) and truncated.loss.item() == pytest.approx(clean.loss.item(), abs=1e-6)
    for got, want in zip(found, expected):
        assert bool(torch.isfinite(got).all())
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("lengths", [[5], [3, 3, 3], [1, 7, 2, 7, 30, 4], list(range(1, 41)), [20] * 9 + [80],
                                     [1, 17, 1, 17, 2, 18], [1] * 5 + [9] * 3 + [10] + [20]])
def test_call_plan_runs_each_example_over_exactly_its_steps_in_order(lengths: list[int]) -> None:
    plan = call_plan(lengths)
    covered = [0] * len(lengths)
    for call in plan:
        assert call.length >= 1 and call.rows and call.rows == sorted(call.rows)  # no empty call
        for row, offset in zip(call.rows, call.offsets):
            assert offset == covered[row], "an example's calls continue where its last one stopped"
            covered[row] += call.length
    assert covered == lengths
    assert len(plan) <= min(len(set(lengths)), 1 + max(lengths).bit_length())


def test_dropout_masks_are_shared_by_the_search_and_the_gradient_pass() -> None:
    """With dropout, the loss is taken at the search's decision on the same dropped-out network: a full pass
    with the search's masks gives the same scores at the decision and the same gradients."""
    model, x, y, rule = spread_case(16, 2, 3)
    model.dropout.p = 0.3
    model.train()
    parts = fused_parts(model)
    assert parts.dropout == 0.3
    torch.manual_seed(5)
    search = search_decisions(parts, x, rule)
    mask = search.input_mask
    values = torch.cat([mask[b, :int(d) + 1].flatten() for b, d in enumerate(search.step_index)])
    assert bool(((values == 0) | ((values - 1 / 0.7).abs() < 1e-6)).all())
    assert (values == 0).float().mean().item() == pytest.approx(0.3, abs=0.05)
    scores = gradient_pass(parts, x, search)
    scores.sum().backward()
    found = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    read = torch.arange(x.shape[1])[None, :] <= search.step_index[:, None]
    dropped = torch.where(read[..., None], x * torch.where(read[..., None], mask, 0.0), 0.0)
    hidden, _ = model.lstm(dropped)
    rows = torch.arange(x.shape[0])
    expected = model.readout(hidden[rows, search.step_index] * search.output_mask)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-4)
    expected.sum().backward()
    for got, want in zip(found, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_dropout_in_evaluation_mode_equals_the_naive_step() -> None:
    model, x, y, rule = spread_case(16, 2, 3)
    model.dropout.p = 0.3
    model.eval()
    assert fused_parts(model).dropout == 0.0
    assert_same_as_naive(model, x, y, rule)


def test_dropout_in_training_mode_trains_at_its_decisions() -> None:
    model, x, y, rule = spread_case(16, 1, 3)
    model.dropout.p = 0.3
    model.train()
    torch.manual_seed(0)
    first = truncated_rc_step(model, x, y, rule, 0.2)
    second = truncated_rc_step(model, x, y, rule, 0.2)
    assert first.loss.item() != second.loss.item()  # fresh masks each step
    first.loss.backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    assert first.backward_evaluations == int(first.decision.steps_read.sum())


def test_other_step_models_take_the_step_loop() -> None:
    from helpers import CountingModel

    model, x, y, rule = spread_case(8, 1, 3)
    assert fused_parts(CountingModel(model)) is None
    counting = CountingModel(model)
    result = truncated_rc_step(counting, x, y, rule, 0.0)
    assert sum(counting.batch_sizes) == result.forward_evaluations == result.backward_evaluations


def test_the_search_reads_only_the_active_features_of_spike_input(monkeypatch) -> None:
    """On spike input the search's fused calls multiply only the input features active in their chunk
    (rc.events.ActiveInputs), and find exactly the decisions of the dense search and of the full pass."""
    import dataclasses

    from rc.crossing import decide

    torch.manual_seed(3)
    model = LSTMClassifier(60, 12, 4).eval()
    with torch.no_grad():
        model.readout.weight.mul_(6.0)
    spike_step = torch.randint(0, 60, (40, 60))  # each feature spikes once, at step 0..59 (10..59: never)
    x = (torch.arange(10).view(1, 10, 1) == spike_step.unsqueeze(1)).float()
    parts = fused_parts(model)
    widths = []
    select = parts.input_events.select

    def spy(inputs, weight):
        chosen = select(inputs, weight)
        widths.append(chosen[1].shape[1])
        return chosen

    monkeypatch.setattr(parts.input_events, "select", spy)
    with torch.no_grad():
        rule = SigmoidThreshold(float(torch.sigmoid(model(x)).amax(dim=(1, 2)).median()))
    sparse = search_decisions(parts, x, rule, chunk=2)
    dense = search_decisions(dataclasses.replace(parts, input_events=None), x, rule, chunk=2)
    full = decide(model(x), rule)
    assert widths and max(widths) < 60  # every chunk read fewer than all 60 features' weights
    for found in (sparse, dense):
        assert torch.equal(found.step_index, full.step_index) and torch.equal(found.prediction, full.prediction)
        assert torch.equal(found.crossed, full.crossed)
    assert 0 < int(full.crossed.sum()) < 40 and len(set(full.step_index.tolist())) >= 3
