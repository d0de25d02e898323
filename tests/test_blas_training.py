"""The hand-written truncated RC training step (rc/blas_training.py) against the naive step: the same loss and
gradients, the same decisions, exactly the steps read computed and counted, its saved tensors visible to autograd,
and the dispatch that takes it exactly for a large plain LSTM on the CPU (larger still at a batch of one), or without
the compiled path."""

from __future__ import annotations

import pytest
import torch

from bench.measure.speed import saved_activation_bytes
from decision_cases import (RULES, assert_a_weight_changed_before_backward_is_an_error,
                            assert_gradients_accumulate, assert_nothing_after_a_decision_is_read,
                            assert_the_same_without_autograd, decision_case)
from helpers import assert_same_as_naive, gradients
from rc import blas_training, compiled, training
from rc.crossing import SigmoidNotebook, SigmoidThreshold
from rc.fused_training import lstm_weights
from rc.model import ConvLSTMClassifier, LSTMClassifier
from rc.training import naive_rc_step, truncated_rc_step, truncated_scores

TOLERANCE = 1e-5
LATER = ["zero", "never", "later", "later", "later", "later", "later"]
NEEDS_NUMBA = pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="the dispatch names the compiled path (numba)")


@pytest.fixture(autouse=True)
def one_thread(restore_threads):
    torch.set_num_threads(1)


@pytest.fixture
def any_size(monkeypatch):
    """Take this path for every network and batch (its bounds are a matter of speed, not of what it computes)."""
    monkeypatch.setattr(blas_training, "BLAS_MIN_WEIGHTS", 0)
    monkeypatch.setattr(blas_training, "BLAS_MIN_WEIGHTS_ALONE", 0)


def assert_taken(model, x, rule) -> None:
    reason = blas_training.unsupported_reason(model, x, rule)
    assert reason is None, reason


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("hidden", [3, 16, 40])
@pytest.mark.parametrize("rule_name", list(RULES))
def test_loss_and_every_gradient_equal_the_naive_step(any_size, layers: int, hidden: int, rule_name: str) -> None:
    model, x, y, rule = decision_case(hidden, layers, rule_name, LATER)
    assert_taken(model, x, rule)
    naive, truncated = assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE)
    steps = naive.decision.step_index.tolist()
    assert steps[0] == 0 and naive.decision.crossed.tolist()[:2] == [True, False] and steps[1] == x.shape[1] - 1
    assert len(set(steps)) == 7
    read = int(naive.decision.steps_read.sum())
    assert truncated.path == "blas" and truncated.forward_evaluations == truncated.backward_evaluations == read


@pytest.mark.parametrize("kind", ["zero", "never", "later"])
def test_batch_of_one(any_size, kind: str) -> None:
    model, x, y, rule = decision_case(16, 2, "sigmoid", [kind], time=12, seed=1)
    assert_taken(model, x, rule)
    naive, _ = assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE)
    assert bool(naive.decision.crossed) == (kind != "never")


def test_float64_matches_the_naive_step_to_its_own_precision(any_size) -> None:
    model, x, y, rule = decision_case(16, 2, "softmax", LATER)
    model, x = model.double(), x.double()
    assert_taken(model, x, rule)
    naive, expected = gradients(model, naive_rc_step, x, y, rule, 0.2)
    truncated, found = gradients(model, truncated_rc_step, x, y, rule, 0.2)
    assert torch.equal(truncated.decision.step_index, naive.decision.step_index)
    for got, want in zip(found, expected):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)


def test_gradients_accumulate_over_two_steps(any_size) -> None:
    model, x, y, rule = decision_case(8, 3, "softmax", ["zero", "never", "later", "later"])
    assert_gradients_accumulate(model, x, y, rule, TOLERANCE)


def test_no_step_after_a_decision_is_computed(any_size) -> None:
    model, x, y, rule = decision_case(16, 2, "softmax", LATER)
    assert_nothing_after_a_decision_is_read(model, x, y, rule)


def test_its_saved_steps_are_counted_as_activation_memory(any_size) -> None:
    """What the backward pass keeps is saved through autograd (a saved-tensor hook sees it), and it is the
    steps read: well below the naive step's when the examples decide early."""
    model, x, y, rule = decision_case(16, 1, "sigmoid", ["zero", "later", "later"], time=40)
    read = int(truncated_scores(model, x, rule).decision.steps_read.sum())
    assert read <= 0.5 * x.shape[0] * x.shape[1]
    held = [*model.parameters(), x, y]
    truncated = saved_activation_bytes(lambda: truncated_rc_step(model, x, y, rule, 0.0), held)
    naive = saved_activation_bytes(lambda: naive_rc_step(model, x, y, rule, 0.0), held)
    gates_and_states = read * (4 + 3) * 16 * 4  # float32 gates, two cell states and the hidden state per step
    assert gates_and_states <= truncated < naive


def test_without_autograd_the_scores_and_decisions_are_the_same(any_size) -> None:
    model, x, _y, rule = decision_case(16, 1, "sigmoid", ["zero", "never", "later"])
    assert_the_same_without_autograd(model, x, rule)


def test_a_weight_changed_before_backward_is_an_error(any_size) -> None:
    assert_a_weight_changed_before_backward_is_an_error(*decision_case(3, 1, "sigmoid", ["later"]))


# ----------------------------------------------------------------------------- dispatch


def large_case(batch: int = 2) -> tuple:
    """A 512-unit LSTM (1.06M weights) and ``batch`` short random inputs."""
    torch.manual_seed(0)
    return LSTMClassifier(5, 512, 3, 1).train(), torch.randn(batch, 4, 5), SigmoidThreshold(0.9)


@NEEDS_NUMBA
def test_a_large_lstm_takes_this_path_at_a_batch_of_two_and_at_one_only_when_larger() -> None:
    model, x, rule = large_case()
    assert blas_training.BLAS_MIN_WEIGHTS <= lstm_weights(model.lstm) < blas_training.BLAS_MIN_WEIGHTS_ALONE
    assert truncated_scores(model, x, rule).path == "blas"
    assert truncated_scores(model, x[:1], rule).path == "compiled"
    larger = LSTMClassifier(5, 1000, 3, 1).train()
    assert lstm_weights(larger.lstm) >= blas_training.BLAS_MIN_WEIGHTS_ALONE
    assert truncated_scores(larger, x[:1], rule).path == "blas"


@pytest.mark.parametrize("why", ["no numba", "float64"])
def test_at_a_batch_of_one_it_takes_a_smaller_lstm_where_the_compiled_path_does_not(monkeypatch, why: str) -> None:
    model, x, rule = large_case(1)
    if why == "no numba":
        monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", False)
    else:
        model, x = model.double(), x.double()
    assert_taken(model, x, rule)
    assert truncated_scores(model, x, rule).path == "blas"


@NEEDS_NUMBA
@pytest.mark.parametrize("change", ["batch", "small", "dropout", "input grad", "rule", "off the cpu", "subclass"])
def test_everything_else_takes_another_path(change: str) -> None:
    model, x, rule = large_case()
    expected = {"batch": "at a batch of one example", "small": "LSTM weights: the compiled and fused paths are faster",
                "dropout": "dropout in effect", "input grad": "no gradient of the input",
                "rule": "does not decide while the sequence comes in", "off the cpu": "CPU only",
                "subclass": "only an LSTMClassifier"}[change]
    if change == "batch":
        x = x[:1]
    elif change == "small":
        model = LSTMClassifier(5, 16, 3, 1)
    elif change == "dropout":
        model = LSTMClassifier(5, 512, 3, 2, dropout=0.3).train()
    elif change == "input grad":
        x.requires_grad_(True)
    elif change == "rule":
        rule = SigmoidNotebook(0.9)
    elif change == "off the cpu":
        model, x = model.to("meta"), x.to("meta")
    else:
        model = type("Stepwise", (LSTMClassifier,), {})(5, 512, 3, 1)
    reason = blas_training.unsupported_reason(model, x, rule)
    assert reason is not None and expected in reason
    if change in ("batch", "small", "dropout"):
        assert truncated_scores(model, x, rule).path == ("fused" if change == "dropout" else "compiled")


def test_a_convolutional_front_end_takes_the_fused_path() -> None:
    torch.manual_seed(0)
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=3, layers=1, channels=2)
    x = torch.rand(1, 3, 256)
    assert "not a ConvLSTMClassifier" in blas_training.unsupported_reason(model, x, SigmoidThreshold(0.9))
    assert training.truncated_scores(model, x, SigmoidThreshold(0.9)).path == "fused"
