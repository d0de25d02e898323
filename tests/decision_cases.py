"""Small LSTMs and inputs whose decisions fall where a test needs them: at step 0, never, or at later steps."""

from __future__ import annotations

import pytest
import torch

from helpers import gradients
from rc.crossing import SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary
from rc.model import LSTMClassifier
from rc.training import naive_rc_step, truncated_rc_step, truncated_scores

RULES = {"sigmoid": (SigmoidThreshold, 4), "softmax": (SoftmaxThreshold, 4), "two-sided": (TwoSidedBinary, 1)}
"""Each rule's class and its number of outputs."""


def confidence(rule_class, scores: torch.Tensor) -> torch.Tensor:
    """``(batch, time)``: the value the rule compares with theta at each step."""
    probabilities = rule_class(0.75).probabilities(scores)
    if rule_class is TwoSidedBinary:
        return torch.maximum(probabilities, 1 - probabilities)[..., 0]
    return probabilities.amax(dim=-1)


def kinds_at(seen: torch.Tensor, theta: float) -> dict[str, list[int]]:
    """The examples of each kind under ``theta`` (``seen`` as :func:`confidence` gives it); ``later``
    holds one example per distinct crossing step before the last."""
    peak, first = seen.amax(dim=1), (seen > theta).to(torch.uint8).argmax(dim=1)
    rows = {"zero": (seen[:, 0] > theta).nonzero()[:, 0].tolist(), "never": (peak < theta).nonzero()[:, 0].tolist(),
            "later": []}
    taken = set()
    for row in ((seen[:, 0] < theta) & (peak > theta)).nonzero()[:, 0].tolist():
        if int(first[row]) not in taken and int(first[row]) < seen.shape[1] - 1:
            taken.add(int(first[row]))
            rows["later"].append(row)
    return rows


@torch.no_grad()
def decision_case(hidden: int, layers: int, rule_name: str, kinds: list[str], time: int = 30, seed: int = 0):
    """A random LSTM, a rule and one example of each kind in ``kinds``: ``zero`` crosses at step 0,
    ``never`` never crosses, ``later`` crosses at a later step (a different one for each). Theta lies
    halfway between two examples' step-0 values (no tie), the lowest such that the pool holds them all
    (the first of a few random networks whose pool does)."""
    rule_class, outputs = RULES[rule_name]
    needed = {kind: kinds.count(kind) for kind in kinds}
    torch.manual_seed(seed)
    for _network in range(5):
        model = LSTMClassifier(5, hidden, outputs, layers)
        for parameter in model.parameters():  # livelier dynamics than the default initialisation
            parameter.mul_(3.0)
        pool = torch.randn(400, time, 5) * torch.logspace(-2, 0.5, 400)[:, None, None]
        seen = confidence(rule_class, model(pool))
        levels = seen[:, 0].sort().values
        for middle in range(1, len(levels)):
            theta = float(levels[middle - 1] + levels[middle]) / 2
            rows = kinds_at(seen, theta)
            if all(len(rows[kind]) >= count for kind, count in needed.items()):
                x = pool[[rows[kind].pop(0) for kind in kinds]]
                return model, x, torch.randint(0, max(outputs, 2), (len(kinds),)), rule_class(theta)
    raise AssertionError(f"no network and theta give the kinds {kinds}")


# ----------------------------------------------------------------------------- properties of a truncated path


def assert_gradients_accumulate(model, x, y, rule, tolerance: float, autograd: bool = True) -> None:
    """Two truncated steps' backward passes add up to twice the naive step's gradients."""
    _naive, once = gradients(model, naive_rc_step, x, y, rule, 0.2)
    model.zero_grad(set_to_none=True)
    for _ in range(2):
        truncated_rc_step(model, x, y, rule, 0.2, autograd).backward()
    for (name, parameter), single in zip(model.named_parameters(), once):
        torch.testing.assert_close(parameter.grad, 2 * single, atol=2 * tolerance, rtol=tolerance, msg=name)


def assert_nothing_after_a_decision_is_read(model, x, y, rule) -> torch.Tensor:
    """Inputs after each example's decision set to NaN change neither the loss nor any gradient; returns
    the poisoned inputs."""
    clean, expected = gradients(model, truncated_rc_step, x, y, rule, 0.2)
    after = torch.arange(x.shape[1])[None, :] > clean.decision.step_index[:, None]
    assert int(after.sum()) > x.shape[1]
    poisoned = x.clone()
    poisoned[after] = float("nan")
    truncated, found = gradients(model, truncated_rc_step, poisoned, y, rule, 0.2)
    assert torch.equal(truncated.loss, clean.loss)
    for got, want in zip(found, expected):
        assert torch.equal(got, want)
    return poisoned


def assert_the_same_without_autograd(model, x, rule) -> None:
    """Without autograd the scores have no graph and equal those with it, as do the decisions."""
    with_graph = truncated_scores(model, x, rule)
    with torch.no_grad():
        without = truncated_scores(model, x, rule)
    assert without.scores.grad_fn is None and torch.equal(without.scores, with_graph.scores.detach())
    assert torch.equal(without.decision.step_index, with_graph.decision.step_index)


def assert_a_weight_changed_before_backward_is_an_error(model, x, y, rule, autograd: bool = True) -> None:
    """The backward pass is refused after a weight was changed in place since the forward pass (by autograd,
    or, for a loss taken outside it, by the step itself)."""
    result = truncated_rc_step(model, x, y, rule, 0.0, autograd)
    with torch.no_grad():
        model.lstm.weight_hh_l0.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|changed in place after the loss"):
        result.backward()
