"""The compiled truncated RC training step (rc/compiled_training.py, rc/training_kernels.py) against the naive
step and the fused path: the same loss and gradients, the same decisions and step evaluations, no step after a
decision, and the dispatch that takes it exactly for a small plain LSTM with numba."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("numba")

from rc import compiled, compiled_training, training  # noqa: E402
from rc.crossing import SigmoidThreshold  # noqa: E402
from rc.fused_training import fused_parts, fused_truncated_scores  # noqa: E402
from rc.model import ConvLSTMClassifier, LSTMClassifier  # noqa: E402
from rc.training import truncated_rc_step, truncated_scores  # noqa: E402
from decision_cases import (RULES, assert_a_weight_changed_before_backward_is_an_error,  # noqa: E402
                            assert_gradients_accumulate, assert_nothing_after_a_decision_is_read,
                            assert_the_same_without_autograd, decision_case)
from helpers import assert_same_as_naive, gradients  # noqa: E402

TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def one_thread(restore_threads):
    torch.set_num_threads(1)


class OtherRule(SigmoidThreshold):
    """A rule with no compiled test (exactly the registered classes are compiled)."""


def assert_compiled(model, x, rule) -> None:
    reason = compiled_training.unsupported_reason(model, x, rule)
    assert reason is None, reason


@pytest.mark.parametrize("autograd", [True, False], ids=["graph", "loss-by-hand"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("hidden", [3, 16, 40])
@pytest.mark.parametrize("rule_name", list(RULES))
def test_loss_and_every_gradient_equal_the_naive_step(layers: int, hidden: int, rule_name: str,
                                                      autograd: bool) -> None:
    """With its graph, or with the loss and its gradients outside autograd (``autograd=False``)."""
    model, x, y, rule = decision_case(hidden, layers, rule_name, ["zero", "never", "later", "later", "later", "later",
                                                                  "later"])
    assert_compiled(model, x, rule)
    naive, truncated = assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE, autograd=autograd)
    assert truncated.path == "compiled" and (truncated.loss.grad_fn is None) == (not autograd)
    steps = naive.decision.step_index.tolist()
    assert steps[0] == 0 and naive.decision.crossed.tolist()[:2] == [True, False] and steps[1] == x.shape[1] - 1
    assert len(set(steps)) == 7


@pytest.mark.parametrize("batch, hidden", [(20, 40), (4, 128), (1, 128), (20, 128)])
@pytest.mark.parametrize("inputs", ["spikes", "dense"])
def test_every_product_branch_equals_the_naive_step(batch: int, hidden: int, inputs: str) -> None:
    """The kernels' products through BLAS (many rows, or one) and as loops (a few rows with a large weight),
    over sparse spike rows (only their active features) and dense ones."""
    torch.manual_seed(0)
    model = LSTMClassifier(30, hidden, 3, 2)
    x = (torch.rand(batch, 12, 30) < 0.1).float() if inputs == "spikes" else torch.randn(batch, 12, 30)
    with torch.no_grad():
        for parameter in model.parameters():  # livelier dynamics than the default initialisation
            parameter.mul_(3.0)
        peak = torch.sigmoid(model(x)).amax(dim=(1, 2))  # (batch,) each example's highest confidence
    rule = SigmoidThreshold(float(peak.median()) - 1e-4)  # about half cross, the rest never
    y = torch.randint(0, 3, (batch,))
    assert_compiled(model, x, rule)
    naive, _ = assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE)
    if batch > 1:
        assert len(set(naive.decision.step_index.tolist())) > 1


@pytest.mark.parametrize("autograd", [True, False], ids=["graph", "loss-by-hand"])
def test_three_layers_and_gradients_accumulated_over_two_steps(autograd: bool) -> None:
    model, x, y, rule = decision_case(8, 3, "softmax", ["zero", "never", "later", "later"])
    assert_compiled(model, x, rule)
    assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE, autograd=autograd)
    assert_gradients_accumulate(model, x, y, rule, TOLERANCE, autograd)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("hidden", [3, 16, 40])
@pytest.mark.parametrize("kind", ["zero", "never", "later"])
@pytest.mark.parametrize("autograd", [True, False], ids=["graph", "loss-by-hand"])
def test_batch_of_one(layers: int, hidden: int, kind: str, autograd: bool) -> None:
    model, x, y, rule = decision_case(hidden, layers, "sigmoid", [kind], time=12, seed=1)
    assert_compiled(model, x, rule)
    naive, _ = assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE, autograd=autograd)
    assert bool(naive.decision.crossed) == (kind != "never")


@pytest.mark.parametrize("layers", [1, 2])
def test_decisions_and_step_evaluations_equal_the_fused_path(layers: int) -> None:
    """The same decisions as the fused search; both count each example's steps 0 .. d in the backward pass,
    and the compiled forward pass computes those steps once (the fused one adds its search's)."""
    model, x, y, rule = decision_case(16, layers, "two-sided", ["zero", "never"] + ["later"] * 5)
    result = truncated_scores(model, x, rule)
    fused = fused_truncated_scores(fused_parts(model), x, rule)
    for name in ("prediction", "step_index", "crossed"):
        assert torch.equal(getattr(result.decision, name), getattr(fused.decision, name)), name
    torch.testing.assert_close(result.scores, fused.scores, atol=TOLERANCE, rtol=TOLERANCE)
    read = int(fused.decision.steps_read.sum())
    assert result.backward_evaluations == fused.backward_evaluations == read
    assert result.forward_evaluations == read < fused.forward_evaluations


def test_no_step_after_a_decision_is_computed() -> None:
    model, x, y, rule = decision_case(16, 2, "softmax", ["zero", "never"] + ["later"] * 5)
    assert_compiled(model, assert_nothing_after_a_decision_is_read(model, x, y, rule), rule)


def test_without_autograd_the_scores_and_decisions_are_the_same() -> None:
    model, x, _y, rule = decision_case(16, 1, "sigmoid", ["zero", "never", "later"])
    assert_the_same_without_autograd(model, x, rule)


def test_a_strided_input_is_read_as_its_values() -> None:
    model, x, y, rule = decision_case(16, 1, "two-sided", ["zero", "never", "later"])
    strided = torch.stack([x, -x], dim=3).flatten(2)[..., ::2]
    assert not strided.is_contiguous() and torch.equal(strided, x)
    contiguous, expected = gradients(model, truncated_rc_step, x, y, rule, 0.2)
    found_result, found = gradients(model, truncated_rc_step, strided, y, rule, 0.2)
    assert torch.equal(found_result.loss, contiguous.loss)
    assert all(torch.equal(got, want) for got, want in zip(found, expected))


@pytest.mark.parametrize("autograd", [True, False], ids=["graph", "loss-by-hand"])
def test_a_weight_changed_before_backward_is_an_error(autograd: bool) -> None:
    assert_a_weight_changed_before_backward_is_an_error(*decision_case(3, 1, "sigmoid", ["later"]), autograd)


def test_the_loss_by_hand_leaves_frozen_weights_alone_and_has_no_graph() -> None:
    model, x, y, rule = decision_case(16, 1, "two-sided", ["zero", "never", "later"])
    model.readout.requires_grad_(False)
    result = truncated_rc_step(model, x, y, rule, 0.2, autograd=False)
    assert result.loss.grad_fn is None and result.gradients is not None
    with pytest.raises(RuntimeError, match="does not require grad"):
        result.loss.backward()  # the graph-less loss says so; result.backward() is the way
    result.backward()
    assert model.readout.weight.grad is None and model.readout.bias.grad is None
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.lstm.parameters())


def test_without_a_hand_differentiated_rule_the_loss_keeps_its_graph(monkeypatch) -> None:
    """A rule subclass registered with a compiled test (its entropy could differ from its base's) is trained
    through the compiled kernels with the loss in autograd, even when ``autograd=False`` is asked for."""
    model, x, y, _rule = decision_case(16, 1, "sigmoid", ["zero", "never", "later"])
    rule = OtherRule(_rule.theta)
    monkeypatch.setitem(compiled.COMPILED_RULES, OtherRule, compiled.COMPILED_RULES[SigmoidThreshold])
    assert compiled_training.loss_unsupported_reason(model, x, rule) == \
        "no hand-written loss gradient for the rule OtherRule"
    result = truncated_rc_step(model, x, y, rule, 0.2, autograd=False)
    assert result.path == "compiled" and result.loss.grad_fn is not None and result.gradients is None
    assert_same_as_naive(model, x, y, rule, rtol=TOLERANCE, autograd=False)


# ----------------------------------------------------------------------------- dispatch


def taken_path(monkeypatch, model, x, rule) -> str:
    """``compiled`` or ``fused``: the path :func:`rc.training.truncated_scores` takes."""
    taken = []
    compiled_scores, fused_scores = compiled_training.compiled_truncated_scores, training.fused_truncated_scores
    monkeypatch.setattr(compiled_training, "compiled_truncated_scores",
                        lambda *args: taken.append("compiled") or compiled_scores(*args))
    monkeypatch.setattr(training, "fused_truncated_scores", lambda *args: taken.append("fused") or fused_scores(*args))
    truncated_scores(model, x, rule)
    assert len(taken) == 1
    return taken[0]


def test_a_small_plain_lstm_takes_the_compiled_path(monkeypatch) -> None:
    model, x, _y, rule = decision_case(16, 2, "sigmoid", ["later"])
    assert taken_path(monkeypatch, model, x, rule) == "compiled"
    weights = sum(w.numel() for w in model.lstm._flat_weights)
    monkeypatch.setattr(compiled_training, "COMPILED_TRAINING_WORK", weights * x.shape[0])  # at the bound
    torch.set_num_threads(2)
    assert taken_path(monkeypatch, model, x, rule) == "compiled"
    torch.set_num_threads(1)
    model.dropout.p = 0.3
    model.eval()  # dropout not in effect
    assert taken_path(monkeypatch, model, x, rule) == "compiled"


@pytest.mark.parametrize("change", ["no numba", "dropout", "float64", "input grad", "rule", "too large"])
def test_everything_else_takes_the_fused_path(monkeypatch, change: str) -> None:
    model, x, _y, rule = decision_case(16, 1, "sigmoid", ["later"])
    if change == "no numba":
        monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", False)
    elif change == "dropout":
        model.dropout.p = 0.3
        model.train()
    elif change == "float64":
        model, x = model.double(), x.double()
    elif change == "input grad":
        x.requires_grad_(True)
    elif change == "rule":
        rule = OtherRule(rule.theta)
    else:  # beyond the bound with several threads (with one, every size is compiled)
        weights = sum(w.numel() for w in model.lstm._flat_weights)
        monkeypatch.setattr(compiled_training, "COMPILED_TRAINING_WORK", weights * x.shape[0] - 1)
        assert compiled_training.unsupported_reason(model, x, rule) is None
        torch.set_num_threads(2)
    assert compiled_training.unsupported_reason(model, x, rule) is not None
    assert taken_path(monkeypatch, model, x, rule) == "fused"


def test_a_model_off_the_cpu_is_not_compiled() -> None:
    model, x, _y, rule = decision_case(16, 1, "sigmoid", ["later"])
    assert compiled_training.unsupported_reason(model.to("meta"), x.to("meta"), rule) == (
        "the compiled path runs on the CPU only")


def test_a_convolutional_front_end_takes_the_fused_path(monkeypatch) -> None:
    torch.manual_seed(0)
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=3, layers=1, channels=2)
    x = torch.rand(2, 3, 256)
    rule = SigmoidThreshold(0.9)
    assert compiled_training.unsupported_reason(model, x, rule) == "only an LSTMClassifier is compiled, not a " \
                                                                   "ConvLSTMClassifier"
    assert taken_path(monkeypatch, model, x, rule) == "fused"


def test_small_weights_get_a_feature_major_copy_for_the_row_loops() -> None:
    """Below SMALL_PRODUCT entries each layer's weight from the given layer on is copied column-major (its
    transpose, for the loop that adds scaled columns); at or above it, or with no such layer, no copy."""
    import numpy as np

    from rc.compiled_kernels import SMALL_PRODUCT
    from rc.training_kernels import small_columns

    rng = np.random.default_rng(0)
    small = tuple(rng.standard_normal((64, 16)).astype(np.float32) for _ in range(3))
    columns = small_columns(small, 1)
    assert columns.shape == (3, 16, 64)
    for layer in (1, 2):
        assert np.array_equal(columns[layer], small[layer].T)
    assert small_columns(small, 3).shape == (3, 0, 0)  # no layer from 3 on
    wide = tuple(np.zeros((4 * 64, 64), dtype=np.float32) for _ in range(2))
    assert wide[0].size == SMALL_PRODUCT and small_columns(wide, 0).shape == (2, 0, 0)


def test_the_loss_by_hand_names_a_label_that_is_not_a_class() -> None:
    model, x, y, rule = decision_case(16, 1, "softmax", ["zero", "never", "later"])
    with pytest.raises(ValueError, match=r"class labels must be whole numbers in \[0, classes\)"):
        truncated_rc_step(model, x, torch.tensor([0, 4, 1]), rule, 0.2, autograd=False)
    assert all(p.grad is None for p in model.parameters())
