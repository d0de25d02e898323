"""The compiled batch-1 early exit (rc/compiled.py, baselines/snn_compiled.py) against the eager path.

The eager path (:func:`rc.inference.early_exit_decide` and the models' ``step``) is the reference:
the compiled decision of every example must be the same (prediction, decision step, crossed) and its
scores at the decision within 1e-5 of the eager step function's. Tested on random networks and
inputs (spike and real-valued, thresholds spread so that examples decide at many steps and some
never), on real rank-coded MNIST digits (skipped without the data), and without numba (the fallback).
"""

from __future__ import annotations

import pytest
import torch

import real_data
from baselines import snn_compiled  # noqa: F401  (registers the LIF network)
from baselines.snn_ttfs import FirstSpike, LIFClassifier
from rc import compiled
from rc.crossing import SigmoidNotebook, SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary
from rc.inference import early_exit_decide
from rc.model import ConvLSTMClassifier, LSTMClassifier

needs_numba = pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba is not installed")

TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def one_thread(restore_threads):
    torch.set_num_threads(1)


@torch.no_grad()
def eager_scores_at(model, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """The eager step function's scores of each example of ``x`` at its step ``steps[i]``."""
    state = model.init_state(x.shape[0], x.device)
    every = []
    for t in range(x.shape[1]):
        scores, state = model.step(x[:, t], state)
        every.append(scores)
    return torch.stack(every, dim=1)[torch.arange(x.shape[0]), steps]


@torch.no_grad()
def spread_theta(model, x: torch.Tensor, rule_class, quantile: float = 0.75) -> float:
    """A theta at which the examples of ``x`` cross at many different steps and some never: the
    ``quantile`` over the examples of their highest per-step confidence under the rule."""
    probabilities = rule_class(0.75).probabilities(model(x))
    if rule_class is TwoSidedBinary:
        confidence, low = torch.maximum(probabilities, 1 - probabilities)[..., 0], 0.5
    else:
        confidence, low = probabilities.amax(dim=-1), 0.0
    theta = float(confidence.amax(dim=1).quantile(quantile))
    return min(max(theta, low + 1e-3), 1 - 1e-6)


def assert_same_as_eager(model, x: torch.Tensor, rule) -> compiled.CompiledDecider:
    decider = compiled.compiled_decider(model, rule)
    assert decider is not None, compiled.unsupported_reason(model, rule)
    decision, evaluations, scores = decider.decide(x)
    with torch.no_grad():
        eager, eager_evaluations = early_exit_decide(model, x, rule)
    assert decision.step_index.tolist() == eager.step_index.tolist()
    assert decision.prediction.tolist() == eager.prediction.tolist()
    assert decision.crossed.tolist() == eager.crossed.tolist()
    assert evaluations == eager_evaluations
    error = (scores - eager_scores_at(model, x, decision.step_index)).abs().max()
    assert error <= TOLERANCE, f"scores at the decision differ by {float(error):.2e}"
    return decider


def spikes(batch: int, time: int, features: int, rate: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, time, features, generator=generator) < rate).float()


# ----------------------------------------------------------------------------- LSTM, random


@needs_numba
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("rule_class, outputs", [(SigmoidThreshold, 5), (SoftmaxThreshold, 5), (TwoSidedBinary, 1)])
@pytest.mark.parametrize("inputs", ["spikes", "real"])
@pytest.mark.parametrize("hidden", [24, 128])
def test_lstm_decisions_equal_the_eager_path(layers, rule_class, outputs, inputs, hidden) -> None:
    """The batch kernel's products through BLAS and as loops: many rows, and the few left as the
    decisions spread (with 128 units, a weight large enough that a few rows take the loop)."""
    torch.manual_seed(layers * 10 + outputs)
    model = LSTMClassifier(40, hidden, outputs, layers=layers, dropout=0.2).eval()
    with torch.no_grad():  # livelier dynamics than the default initialisation
        for parameter in model.parameters():
            parameter.mul_(3.0)
    x = spikes(96, 15, 40, 0.15, seed=1) if inputs == "spikes" else torch.randn(96, 15, 40)
    rule = rule_class(spread_theta(model, x, rule_class))
    decider = assert_same_as_eager(model, x, rule)
    decision, _evaluations, _scores = decider.decide(x)
    # the threshold spreads the decisions: several steps, some never crossed
    assert len(set(decision.step_index.tolist())) >= 4
    assert 0 < int(decision.crossed.sum()) < x.shape[0]


@needs_numba
def test_lstm_one_example_and_shapes() -> None:
    torch.manual_seed(0)
    model = LSTMClassifier(6, 5, 3).eval()
    x = spikes(1, 7, 6, 0.4, seed=2)
    decider = compiled.compiled_decider(model, SigmoidThreshold(0.6))
    one, batch = decider.decide_one(x), decider.decide_one(x[0])
    assert one.step_index == batch.step_index and one.prediction == batch.prediction
    assert torch.equal(one.scores, batch.scores) and one.scores.shape == (3,)
    with pytest.raises(ValueError, match="one example must be shaped"):
        decider.decide_one(torch.zeros(7, 5))
    with pytest.raises(ValueError, match="one example must be shaped"):
        decider.decide_one(torch.zeros(2, 7, 6))
    # a non-contiguous, float64 view is converted, not misread
    wide = torch.stack([x[0], -x[0]], dim=2).reshape(7, 12).double()[:, ::2]
    assert not wide.is_contiguous() and torch.equal(wide.float(), x[0])
    assert decider.decide_one(wide).step_index == one.step_index


@needs_numba
@pytest.mark.parametrize("kind", ["lstm", "lif"])
def test_one_batch_call_equals_one_call_per_example(kind) -> None:
    """:meth:`CompiledDecider.decide` (the batch kernel) gives each example exactly what
    :meth:`CompiledDecider.decide_one` gives it alone, scores bit for bit."""
    torch.manual_seed(7)
    if kind == "lstm":
        model, rule = LSTMClassifier(12, 10, 4, layers=2).eval(), SigmoidThreshold(0.6)
    else:
        model, rule = LIFClassifier(12, 16, 4, 0.9, 1.0, 5.0).eval(), FirstSpike()
        with torch.no_grad():
            model.fc_hidden.weight.mul_(4.0)
    x = spikes(9, 8, 12, 0.3, seed=8)
    decider = compiled.compiled_decider(model, rule)
    decision, evaluations, scores = decider.decide(x)
    alone = [decider.decide_one(x[i]) for i in range(9)]
    assert decision.step_index.tolist() == [one.step_index for one in alone]
    assert decision.prediction.tolist() == [one.prediction for one in alone]
    assert decision.crossed.tolist() == [one.crossed for one in alone]
    assert torch.equal(scores, torch.stack([one.scores for one in alone]))
    assert evaluations == sum(one.step_index + 1 for one in alone)
    with pytest.raises(ValueError, match="examples must have 12 features"):
        decider.decide(torch.zeros(2, 8, 11))


@needs_numba
def test_an_example_with_no_input_still_decides_at_its_crossing() -> None:
    torch.manual_seed(1)
    model = LSTMClassifier(8, 6, 4).eval()
    x = torch.zeros(3, 5, 8)  # nothing spikes: every step reads no input column
    for theta in (0.01, 0.999999):  # crosses at step 0 / never
        assert_same_as_eager(model, x, SigmoidThreshold(theta))


@needs_numba
def test_weights_changed_in_place_are_copied_again() -> None:
    torch.manual_seed(2)
    model = LSTMClassifier(10, 8, 3).eval()
    x = spikes(32, 9, 10, 0.3, seed=3)
    rule = SoftmaxThreshold(0.4)
    decider = assert_same_as_eager(model, x, rule)
    before = decider.decide(x)[2]
    with torch.no_grad():
        model.readout.weight.mul_(4.0)
    after = decider.decide(x)[2]
    assert not torch.allclose(before, after)
    other = LSTMClassifier(10, 8, 3)
    model.load_state_dict(other.state_dict())
    assert torch.allclose(decider.decide(x)[2], compiled.CompiledDecider(model, rule).decide(x)[2])
    assert_same_as_eager(model, x, rule)


# ----------------------------------------------------------------------------- LIF, random


@needs_numba
@pytest.mark.parametrize("decay, threshold", [(0.9, 1.0), (1.0, 0.5), (0.6, 2.0)])
def test_lif_decisions_equal_the_eager_path(decay, threshold) -> None:
    torch.manual_seed(3)
    model = LIFClassifier(50, 32, 6, decay, threshold, 5.0).eval()
    with torch.no_grad():
        model.fc_hidden.weight.mul_(4.0 * threshold)
        model.fc_out.weight.mul_(2.0 * threshold)
    x = spikes(128, 25, 50, 0.1, seed=4)
    decider = assert_same_as_eager(model, x, FirstSpike())
    decision = decider.decide(x)[0]
    assert len(set(decision.step_index.tolist())) >= 4


@needs_numba
def test_lif_with_another_reset_is_left_to_the_eager_path() -> None:
    model = LIFClassifier(5, 4, 3, 0.9, 1.0, 5.0)
    model.lif_out.reset_mechanism = "zero"
    assert "reset by subtraction" in compiled.unsupported_reason(model, FirstSpike())
    assert compiled.compiled_decider(model, FirstSpike()) is None


# ----------------------------------------------------------------------------- what is not compiled


@needs_numba
def test_unsupported_models_and_rules_give_none_and_say_why() -> None:
    conv = ConvLSTMClassifier((16, 16), 8, 3)
    assert compiled.compiled_decider(conv, SigmoidThreshold(0.9)) is None
    assert "no compiled kernel for ConvLSTMClassifier" in compiled.unsupported_reason(conv, SigmoidThreshold(0.9))
    model = LSTMClassifier(4, 3, 2)
    assert "no compiled crossing test" in compiled.unsupported_reason(model, SigmoidNotebook(0.9))

    class OtherSoftmax(SoftmaxThreshold):  # a subclass may decide otherwise: not taken for its base
        name = "other-softmax"

    assert compiled.compiled_decider(model, OtherSoftmax(0.9)) is None
    assert "float32" in compiled.unsupported_reason(LSTMClassifier(4, 3, 2).double(), SigmoidThreshold(0.9))
    with pytest.raises(ValueError, match="cannot compile"):
        compiled.CompiledDecider(conv, SigmoidThreshold(0.9))
    with pytest.raises(ValueError, match="unknown compiled crossing test"):
        compiled.register_compiled_rule(OtherSoftmax, 7)


def test_without_numba_the_eager_path_decides(monkeypatch) -> None:
    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", False)
    torch.manual_seed(4)
    model = LSTMClassifier(12, 8, 4).eval()
    x = spikes(20, 10, 12, 0.3, seed=5)
    rule = SigmoidThreshold(0.6)
    assert compiled.compiled_decider(model, rule) is None
    assert "numba is not installed" in compiled.unsupported_reason(model, rule)
    decision, evaluations = compiled.batch1_decide(model, x, rule)
    with torch.no_grad():
        eager, eager_evaluations = early_exit_decide(model, x, rule)
    assert decision.step_index.tolist() == eager.step_index.tolist()
    assert decision.prediction.tolist() == eager.prediction.tolist()
    assert evaluations == eager_evaluations


@needs_numba
def test_batch1_decide_compiled_and_eager_agree() -> None:
    torch.manual_seed(5)
    model = LIFClassifier(20, 16, 4, 0.9, 1.0, 5.0).eval()
    with torch.no_grad():
        model.fc_hidden.weight.mul_(4.0)
    x = spikes(24, 12, 20, 0.2, seed=6)
    fast, fast_count = compiled.batch1_decide(model, x, FirstSpike())
    slow, slow_count = compiled.batch1_decide(model, x, FirstSpike(), compiled=False)
    assert fast.step_index.tolist() == slow.step_index.tolist() and fast_count == slow_count
    assert fast.prediction.tolist() == slow.prediction.tolist()


def test_the_latency_row_says_why_there_is_no_compiled_timing(monkeypatch) -> None:
    from bench.measure.latency import compare_inference, format_latency, train_contender

    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", False)
    contender, test = train_contender("rc-lstm", "toy-runs", None, {"n_train": 32, "n_val": 16, "n_test": 12},
                                      {"hidden": 4, "epochs": 1}, 0.9, torch.device("cpu"))
    row = compare_inference(contender, test.x, test.y, 1, repeats=1)
    assert row.compiled_ms is None and row.compiled_ratio is None and "numba" in row.compiled_note
    assert "not timed: numba is not installed" in format_latency([row])


@needs_numba
@pytest.mark.parametrize("contender_name", ["rc-lstm", "snn-ttfs"])
def test_the_latency_row_times_compiled_early_exit_at_every_batch_size(contender_name) -> None:
    from bench.measure.latency import compare_inference, format_latency, train_contender

    contender, test = train_contender(contender_name, "toy-runs", None, {"n_train": 32, "n_val": 16, "n_test": 12},
                                      {"hidden": 4, "epochs": 1}, 0.9, torch.device("cpu"))
    rows = [compare_inference(contender, test.x, test.y, size, repeats=2) for size in (1, 4)]
    for row in rows:
        assert row.compiled_ms > 0 and row.compiled_disagreements == 0 and row.compiled_note is None
        assert row.compiled_score_error <= TOLERANCE
        assert row.compiled_ratio_low <= row.compiled_ratio_high
        assert row.compiled_ratio == pytest.approx(row.compiled_ms / row.full_sequence_ms)
        assert row.wall_ratio_low <= row.wall_ratio_high
    unasked = compare_inference(contender, test.x, test.y, 4, repeats=1, compiled=False)
    assert unasked.compiled_ms is None and unasked.compiled_note == "not asked for"
    table = format_latency(rows)
    assert "compiled early exit (rc.compiled" in table and len(table.splitlines()) == 8  # 3 + blank + 4


# ----------------------------------------------------------------------------- real digits


@pytest.fixture(scope="module")
def mnist_digits():
    folder = real_data.data_folder_with("mnist")
    if folder is None:
        pytest.skip(real_data.where_to_put("mnist"))
    from bench.tasks.registry import get_task

    task = get_task("mnist-temporal")
    data = task.load(task.options({"n_train": 100, "n_val": 100, "n_test": 1000}, "test"), 0, folder)
    return data.test.x[0:1000]


@needs_numba
@pytest.mark.parametrize("rule_class", [SigmoidThreshold, SoftmaxThreshold])
def test_lstm_on_rank_coded_mnist_digits(mnist_digits, rule_class) -> None:
    torch.manual_seed(6)
    model = LSTMClassifier(784, 64, 10).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(2.0)
    x = mnist_digits
    assert_same_as_eager(model, x, rule_class(spread_theta(model, x, rule_class)))


@needs_numba
def test_lif_on_rank_coded_mnist_digits(mnist_digits) -> None:
    torch.manual_seed(7)
    model = LIFClassifier(784, 64, 10, 0.9, 1.0, 5.0).eval()
    with torch.no_grad():
        model.fc_hidden.weight.mul_(3.0)
        model.fc_out.weight.mul_(2.0)
    decision = assert_same_as_eager(model, mnist_digits, FirstSpike()).decide(mnist_digits)[0]
    assert len(set(decision.step_index.tolist())) >= 3
