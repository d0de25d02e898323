"""The rank-coding method: crossing rules, the RC loss, truncated training, early exit."""

from __future__ import annotations

import pickle

import pytest
import torch

from rc.crossing import SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary, decide, first_crossing, make_rule
from rc.events import ActiveInputs
from rc.inference import early_exit_decide
from rc.loss import rc_loss, rc_loss_at_crossing
from rc.model import LSTMClassifier
from rc.streaming import stream_decisions
from rc.training import naive_rc_step, truncated_rc_step
from helpers import CountingModel


def logit(p: float) -> float:
    return float(torch.logit(torch.tensor(p, dtype=torch.float64)))


# --- crossing rules ---------------------------------------------------------------------------

def test_crossing_at_step_zero_is_found() -> None:
    scores = torch.full((2, 5, 3), -5.0)
    scores[0, 0, 1] = logit(0.99)  # example 0 crosses at the very first step
    scores[1, 3, 2] = logit(0.99)  # example 1 crosses at step 3
    decision = decide(scores, SigmoidThreshold(0.95))
    assert decision.step_index.tolist() == [0, 3]
    assert decision.steps_read.tolist() == [1, 4]
    assert decision.crossed.tolist() == [True, True]
    assert decision.prediction.tolist() == [1, 2]


def test_no_crossing_falls_back_to_last_step() -> None:
    scores = torch.zeros(3, 7, 4)
    scores[:, -1, 2] = 1.0  # sigmoid(1) = 0.73 < theta: still no crossing, but the argmax is class 2
    decision = decide(scores, SigmoidThreshold(0.95))
    assert decision.step_index.tolist() == [6, 6, 6]
    assert decision.crossed.tolist() == [False, False, False]
    assert decision.prediction.tolist() == [2, 2, 2]


def test_sigmoid_rule_is_strictly_greater_than_theta() -> None:
    rule = SigmoidThreshold(0.75)
    at_theta = torch.tensor([[logit(0.75), -3.0]], dtype=torch.float64)
    above = torch.tensor([[logit(0.7501), -3.0]], dtype=torch.float64)
    assert rule.crossed(at_theta).tolist() == [False]
    assert rule.crossed(above).tolist() == [True]


def test_two_sided_rule_crosses_on_both_sides() -> None:
    rule = TwoSidedBinary(0.9)
    scores = torch.tensor([[logit(0.95)], [logit(0.05)], [logit(0.5)], [logit(0.85)]])
    assert rule.crossed(scores).tolist() == [True, True, False, False]
    assert rule.predict(scores).tolist() == [1, 0, 0, 1]


def test_softmax_rule_uses_the_max_probability() -> None:
    rule = SoftmaxThreshold(0.9)
    scores = torch.tensor([[5.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    assert rule.crossed(scores).tolist() == [True, False]
    assert rule.predict(scores).tolist() == [0, 0]


def test_first_crossing_of_bool_tensor() -> None:
    crossed = torch.tensor([[False, True, True], [False, False, False], [True, False, True]])
    index, any_crossed = first_crossing(crossed)
    assert index.tolist() == [1, 2, 0]
    assert any_crossed.tolist() == [True, False, True]


@pytest.mark.parametrize("theta", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_theta_outside_open_unit_interval_is_rejected(theta: float) -> None:
    with pytest.raises(ValueError, match="theta must lie in"):
        SigmoidThreshold(theta)


def test_two_sided_theta_must_exceed_one_half() -> None:
    with pytest.raises(ValueError, match=r"theta must lie in \(0.5, 1\)"):
        TwoSidedBinary(0.4)


def test_unknown_rule_is_named() -> None:
    with pytest.raises(ValueError, match="unknown crossing rule 'majority'.*sigmoid"):
        make_rule("majority", 0.9)


def test_rules_reject_wrong_output_shapes() -> None:
    with pytest.raises(ValueError, match="exactly 1 output unit"):
        TwoSidedBinary(0.9).crossed(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2 output classes"):
        SigmoidThreshold(0.9).crossed(torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"\(batch, time, classes\)"):
        decide(torch.zeros(4, 3), SigmoidThreshold(0.9))


# --- the RC loss -------------------------------------------------------------------------------

def test_gradient_is_zero_after_each_crossing() -> None:
    torch.manual_seed(0)
    scores = torch.randn(6, 9, 4)
    crossing = [0, 2, 4, 8, 5, 1]
    scores[:, :, :] = scores.clamp(-1, 1)  # sigmoid <= 0.73: nothing crosses on its own
    for row, step in enumerate(crossing):
        scores[row, step, row % 4] = 6.0
    scores.requires_grad_(True)
    loss = rc_loss_at_crossing(scores, torch.randint(0, 4, (6,)), SigmoidThreshold(0.95), beta=0.3)
    loss.backward()
    for row, step in enumerate(crossing):
        assert torch.count_nonzero(scores.grad[row, step + 1:]) == 0
        assert torch.count_nonzero(scores.grad[row, :step]) == 0
        assert torch.count_nonzero(scores.grad[row, step]) > 0


def test_rc_loss_is_cross_entropy_minus_beta_entropy() -> None:
    scores = torch.tensor([[2.0, -1.0, 0.5]])
    targets = torch.tensor([0])
    rule = SigmoidThreshold(0.9)
    ce = torch.nn.functional.cross_entropy(scores, targets)
    p = torch.sigmoid(scores)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log()).mean()
    assert rc_loss(scores, targets, rule, 0.0).item() == pytest.approx(ce.item(), rel=1e-6)
    assert rc_loss(scores, targets, rule, 0.5).item() == pytest.approx((ce - 0.5 * entropy).item(), rel=1e-6)


def test_binary_rc_loss_is_bce() -> None:
    scores = torch.tensor([[1.5], [-0.5]])
    targets = torch.tensor([1, 1])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(scores[:, 0], targets.float())
    assert rc_loss(scores, targets, TwoSidedBinary(0.9), 0.0).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("beta", [-0.1, float("inf"), float("nan")])
def test_bad_beta_is_rejected(beta: float) -> None:
    with pytest.raises(ValueError, match="beta must be finite and >= 0"):
        rc_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), SigmoidThreshold(0.9), beta)


def test_targets_must_match_scores() -> None:
    with pytest.raises(ValueError, match=r"targets must be shaped \(2,\)"):
        rc_loss(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long), SigmoidThreshold(0.9), 0.0)


# --- truncated training and early exit ----------------------------------------------------------

def spread_case(n_outputs: int, layers: int, seed: int = 0, dtype=torch.float32):
    """A random model, batch and rule whose crossings are spread over many steps."""
    torch.manual_seed(seed)
    model = LSTMClassifier(3, 16, n_outputs, layers).to(dtype)
    with torch.no_grad():
        model.readout.weight.mul_(25.0)
    x = torch.randn(64, 12, 3, dtype=dtype).cumsum(dim=1) * 0.3
    y = torch.randint(0, max(n_outputs, 2), (64,))
    with torch.no_grad():
        scores = model(x)
    # theta halfway between the two middle examples' peak confidence, not at one of them: a compiled
    # path (rc.compiled_training) computes the scores in another order, and a tie could go either way
    if n_outputs == 1:
        confidence = (torch.sigmoid(scores[..., 0]) - 0.5).abs().amax(dim=1)
        rule = TwoSidedBinary(0.5 + confidence.sort().values[31:33].mean().item())
    else:
        confidence = torch.sigmoid(scores).amax(dim=(1, 2))
        rule = SigmoidThreshold(confidence.sort().values[31:33].mean().item())
    return model, x, y, rule


@pytest.mark.parametrize("n_outputs,layers", [(1, 1), (5, 1), (5, 2)])
def test_truncated_step_matches_naive_loss_and_gradients(n_outputs: int, layers: int) -> None:
    model, x, y, rule = spread_case(n_outputs, layers)
    naive = naive_rc_step(model, x, y, rule, beta=0.2)
    naive.loss.backward()
    naive_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    truncated = truncated_rc_step(model, x, y, rule, beta=0.2)
    truncated.loss.backward()

    steps = naive.decision.step_index
    assert len(set(steps.tolist())) >= 4, "the case must spread crossings over several steps"
    assert bool(naive.decision.crossed.any()) and not bool(naive.decision.crossed.all())
    assert torch.equal(truncated.decision.step_index, steps)
    assert torch.equal(truncated.decision.prediction, naive.decision.prediction)
    assert torch.equal(truncated.decision.crossed, naive.decision.crossed)
    assert truncated.loss.item() == pytest.approx(naive.loss.item(), abs=1e-5)
    for parameter, expected in zip(model.parameters(), naive_grads):
        torch.testing.assert_close(parameter.grad, expected, atol=1e-5, rtol=1e-4)


def test_truncated_step_never_computes_a_step_after_a_crossing() -> None:
    model, x, y, rule = spread_case(5, 1)
    counting = CountingModel(model)
    result = truncated_rc_step(counting, x, y, rule, beta=0.0)
    steps = result.decision.step_index
    expected = [int((steps >= t).sum()) for t in range(int(steps.max()) + 1)]
    assert counting.batch_sizes == expected
    assert result.forward_evaluations == result.backward_evaluations == int(result.decision.steps_read.sum())
    assert result.backward_evaluations == sum(expected) < x.shape[0] * x.shape[1]
    naive = naive_rc_step(model, x, y, rule, 0.0)
    assert naive.forward_evaluations == naive.backward_evaluations == x.shape[0] * x.shape[1]


def test_truncated_backward_graph_holds_only_computed_steps() -> None:
    """The step loop's backward graph holds one LSTM cell per computed (example, step), none after a crossing.

    (A :class:`CountingModel` takes the step loop; the fused path is checked in test_training_step.py.)"""
    model, x, y, rule = spread_case(1, 1)

    def example_steps_in_graph(loss: torch.Tensor) -> int:
        seen, stack, rows = set(), [loss.grad_fn], 0
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            if type(node).__name__ == "TanhBackward0":  # two per LSTM cell: tanh(g) and tanh(c)
                rows += node._saved_result.shape[0]
            stack.extend(next_node for next_node, _ in node.next_functions)
        return rows // 2

    truncated = truncated_rc_step(CountingModel(model), x, y, rule, beta=0.0)
    assert example_steps_in_graph(truncated.loss) == int(truncated.decision.steps_read.sum())
    assert example_steps_in_graph(truncated.loss) < x.shape[0] * x.shape[1]


@pytest.mark.parametrize("n_outputs,layers", [(1, 1), (5, 2)])
def test_early_exit_equals_full_pass(n_outputs: int, layers: int) -> None:
    model, x, _y, rule = spread_case(n_outputs, layers, seed=1)
    with torch.no_grad():
        full = decide(model(x), rule)
    early, evaluations = early_exit_decide(model, x, rule)
    assert torch.equal(early.prediction, full.prediction)
    assert torch.equal(early.step_index, full.step_index)
    assert torch.equal(early.crossed, full.crossed)
    assert evaluations == int(full.steps_read.sum()) < x.shape[0] * x.shape[1]


@pytest.mark.parametrize("n_outputs,layers", [(1, 1), (5, 2)])
def test_early_exit_one_at_a_time_and_training_stream_agree_with_the_batch(n_outputs: int, layers: int) -> None:
    model, x, _y, rule = spread_case(n_outputs, layers, seed=1)
    with torch.no_grad():
        full = decide(model(x), rule)
    assert not bool(full.crossed.all()), "the case must hold examples that never cross"
    batch, evaluations = early_exit_decide(model, x, rule)
    singles = [early_exit_decide(model, x[i:i + 1], rule) for i in range(x.shape[0])]
    assert torch.equal(torch.cat([d.prediction for d, _ in singles]), batch.prediction)
    assert torch.equal(torch.cat([d.step_index for d, _ in singles]), batch.step_index)
    assert torch.equal(torch.cat([d.crossed for d, _ in singles]), batch.crossed)
    assert sum(count for _, count in singles) == evaluations
    with torch.no_grad():
        _scores, streamed, streamed_evaluations = stream_decisions(model, x, rule)
    assert torch.equal(streamed.prediction, batch.prediction) and torch.equal(streamed.step_index, batch.step_index)
    assert torch.equal(streamed.crossed, batch.crossed) and streamed_evaluations == evaluations


@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_batch_early_exit_takes_the_fused_search_and_equals_the_step_loop(monkeypatch, chunk) -> None:
    """A batch through an LSTM classifier never calls the step function: it runs the chunked fused search
    (any chunk length), and its decisions are the step loop's, examples that never cross included."""
    import rc.fused_training as fused
    model, x, _y, rule = spread_case(5, 2, seed=1)
    model.eval()
    loop, loop_evaluations = early_exit_decide(CountingModel(model), x, rule)
    assert not bool(loop.crossed.all()) and bool(loop.crossed.any())
    if chunk is not None:
        monkeypatch.setattr(fused, "chunk_length", lambda *_args: chunk)

    def no_step(*_args):
        raise AssertionError("the batch path called the step function")
    monkeypatch.setattr(model, "step", no_step)
    fused_decision, evaluations = early_exit_decide(model, x, rule)
    assert torch.equal(fused_decision.prediction, loop.prediction)
    assert torch.equal(fused_decision.step_index, loop.step_index)
    assert torch.equal(fused_decision.crossed, loop.crossed)
    assert evaluations == loop_evaluations == int(loop.steps_read.sum())


def test_early_exit_stops_feeding_finished_examples() -> None:
    model, x, _y, rule = spread_case(5, 1, seed=2)
    counting = CountingModel(model)
    decision, _ = early_exit_decide(counting, x, rule)
    steps = decision.step_index
    assert counting.batch_sizes == [int((steps >= t).sum()) for t in range(int(steps.max()) + 1)]


def test_step_by_step_equals_fused_forward() -> None:
    torch.manual_seed(3)
    model = LSTMClassifier(4, 8, 3, layers=2)
    x = torch.randn(5, 6, 4)
    state = model.init_state(5, x.device)
    stepped = []
    for t in range(6):
        scores, state = model.step(x[:, t], state)
        stepped.append(scores)
    torch.testing.assert_close(torch.stack(stepped, dim=1), model(x), atol=1e-6, rtol=1e-5)


def spike_case(seed: int) -> tuple[LSTMClassifier, torch.Tensor]:
    """A model and rank-coded-like input ``(6, 8, 40)``: each feature spikes (1.0) at most once."""
    torch.manual_seed(seed)
    model = LSTMClassifier(40, 16, 5).eval()
    spike_step = torch.randint(0, 16, (6, 40))  # steps 8..15: never
    x = (torch.arange(8).view(1, 8, 1) == spike_step.unsqueeze(1)).float()
    return model, x


@pytest.mark.parametrize("rows", [slice(None), slice(2, 3)], ids=["batch of 6", "one example"])
def test_active_inputs_keep_only_features_nonzero_in_some_example(rows: slice) -> None:
    model, x = spike_case(5)
    x_t, weight = x[rows, 3], model.lstm.weight_ih_l0
    active_features = x_t.any(dim=0).nonzero().view(-1)
    assert 0 < active_features.numel() <= 0.75 * 40
    x_active, weight_active = ActiveInputs(0.75).select(x_t, weight)
    assert torch.equal(x_active, x_t[:, active_features])
    assert torch.equal(weight_active, weight[:, active_features])
    torch.testing.assert_close(x_active @ weight_active.T, x_t @ weight.T, atol=1e-6, rtol=1e-5)
    dense = torch.ones(6, 40)
    kept_input, kept_weight = ActiveInputs(0.75).select(dense, weight)
    assert kept_input is dense and kept_weight is weight


def test_active_inputs_reject_bad_arguments() -> None:
    model, x = spike_case(5)
    x_t, weight = x[:, 3], model.lstm.weight_ih_l0
    with pytest.raises(ValueError, match=r"dense_above must lie in \[0, 1\], got 1.5"):
        ActiveInputs(1.5)
    with pytest.raises(ValueError, match=r"need x_t \(batch, features\) and weight \(out, features\), "
                                         r"got \(6, 39\) and \(64, 40\)"):
        ActiveInputs().select(x_t[:, :39], weight)


def test_inference_step_with_active_inputs_equals_the_dense_step() -> None:
    model, x = spike_case(5)
    state = model.init_state(6)
    with torch.no_grad():
        event_scores, _ = model.step(x[:, 3], state)
    dense_scores, _ = model.step(x[:, 3], state)  # autograd on: the dense product
    torch.testing.assert_close(event_scores, dense_scores, atol=1e-6, rtol=1e-5)


def test_event_driven_inference_follows_weight_updates() -> None:
    model, x = spike_case(6)
    state = model.init_state(6)
    with torch.no_grad():
        before, _ = model.step(x[:, 0], state)
        model.lstm.weight_ih_l0.mul_(-2.0)  # in place, as an optimiser step or load_state_dict
        after, _ = model.step(x[:, 0], state)
    expected, _ = model.step(x[:, 0], state)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, atol=1e-6, rtol=1e-5)


def test_a_model_that_has_run_inference_pickles_and_its_copy_scores_alike() -> None:
    model, x = spike_case(8)
    state = model.init_state(6)
    with torch.no_grad():
        scores, _ = model.step(x[:, 0], state)  # fills the feature-major cache
        copied = pickle.loads(pickle.dumps(model))
        copied_scores, _ = copied.step(x[:, 0], copied.init_state(6))
    assert torch.equal(copied_scores, scores)
    assert copied.input_events.dense_above == model.input_events.dense_above


def test_early_exit_on_spike_input_equals_full_pass() -> None:
    model, x = spike_case(7)
    with torch.no_grad():
        scores = model(x)
    rule = SigmoidThreshold(float(torch.sigmoid(scores).amax(dim=-1).median()))
    full = decide(scores, rule)
    assert int(full.step_index.min()) == 0 < int(full.step_index.max())  # the batch shrinks
    early, _ = early_exit_decide(model, x, rule)
    assert torch.equal(early.prediction, full.prediction) and torch.equal(early.step_index, full.step_index)
    for i in range(6):
        single, _ = early_exit_decide(model, x[i:i + 1], rule)
        assert int(single.prediction) == int(full.prediction[i])
        assert int(single.step_index) == int(full.step_index[i])


def test_dropout_acts_in_training_only_and_alike_in_both_passes() -> None:
    torch.manual_seed(4)
    model = LSTMClassifier(4, 8, 3, layers=2, dropout=0.5).eval()
    x = torch.randn(5, 6, 4)
    state, stepped = model.init_state(5, x.device), []
    for t in range(6):
        scores, state = model.step(x[:, t], state)
        stepped.append(scores)
    torch.testing.assert_close(torch.stack(stepped, dim=1), model(x), atol=1e-6, rtol=1e-5)
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    # the input mask zeroes about half of the features; the survivors are scaled by 2
    torch.manual_seed(0)
    dropped = model.dropout(torch.ones(1000, 4))
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    assert (dropped == 0).float().mean().item() == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got 1.0"):
        LSTMClassifier(4, 8, 3, dropout=1.0)


def test_wrong_shapes_are_named() -> None:
    model = LSTMClassifier(3, 8, 2)
    with pytest.raises(ValueError, match=r"features=3"):
        model(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"y must be shaped \(2,\)"):
        truncated_rc_step(model, torch.zeros(2, 5, 3), torch.zeros(3, dtype=torch.long), SigmoidThreshold(0.9), 0.0)
    with pytest.raises(ValueError, match=r"x must be shaped \(batch >= 1, time >= 1, features\)"):
        early_exit_decide(model, torch.zeros(2, 3), SigmoidThreshold(0.9))
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        LSTMClassifier(3, 0, 2)


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_lstm_contender_dropout_must_be_a_probability(value: float) -> None:
    from baselines.lstm_common import LSTMConfig

    with pytest.raises(ValueError, match=r"^dropout must lie in \[0, 1\)"):
        LSTMConfig(dropout=value)
