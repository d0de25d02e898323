"""What every registered contender reports at evaluation: decisions in evaluation mode, the
validation history, and per-example operation means over evaluation chunks.

Driven by the registry (:data:`baselines.registry.CONTENDERS`): a new contender is covered
without being named here.
"""

from __future__ import annotations

import copy
from dataclasses import fields

import pytest
import torch

from contender_cases import REGISTERED, build, calibrated_rule, labelled_problem, modules_of, noop, tiny_splits
from baselines.registry import CONTENDERS, Contender
from rc.crossing import Decision

OPERATION_KEYS = ("dense_macs", "effective_macs", "effective_acs")


def with_dropout(name: str) -> dict[str, float]:
    """``dropout = 0.5`` where the contender's ``Config`` has the field."""
    return {"dropout": 0.5} if "dropout" in {f.name for f in fields(CONTENDERS[name].Config)} else {}


def same_decision(a: Decision, b: Decision) -> bool:
    return (torch.equal(a.prediction, b.prediction) and torch.equal(a.step_index, b.step_index)
            and torch.equal(a.crossed, b.crossed))


def copy_weights(source: Contender, target: Contender) -> None:
    for mine, theirs in zip(modules_of(target), modules_of(source), strict=True):
        mine.load_state_dict(theirs.state_dict())


@pytest.mark.parametrize("name", REGISTERED)
def test_decide_is_in_evaluation_mode_with_or_without_a_preceding_fit(name: str) -> None:
    x, _ = labelled_problem("every-step", n=16)
    train, val = tiny_splits()
    fitted = build(name, **with_dropout(name))
    fitted.fit(train, val, noop)
    fitted.rule = calibrated_rule(fitted, x, quantile=0.6)
    decision, evaluations = fitted.decide(x)
    scores = fitted.step_scores(x)
    # the same weights in a contender that never ran fit, its networks in training mode
    fresh = build(name, **with_dropout(name))
    copy_weights(fitted, fresh)
    fresh.rule = fitted.rule
    for module in modules_of(fresh):
        module.train()
    for contender in (fresh, fresh, fitted):
        again, count = contender.decide(x)
        assert same_decision(again, decision) and count == evaluations
        assert torch.equal(contender.step_scores(x), scores)
    assert len(set(decision.step_index.tolist())) >= 2  # decisions at several steps: early exit took part


@pytest.mark.parametrize("name", [n for n in REGISTERED if with_dropout(n)])
def test_dropout_is_on_in_training_so_the_test_above_can_see_it(name: str) -> None:
    x, _ = labelled_problem("every-step", n=16)
    contender = build(name, **with_dropout(name))
    network = modules_of(contender)[0]
    network.train()
    with torch.no_grad():
        assert not torch.equal(network(x), network(x))


@pytest.mark.parametrize("name", REGISTERED)
def test_validation_history_counts_the_decision_step_from_one(name: str) -> None:
    train, val = tiny_splits()
    contender = build(name, epochs=1)
    contender.rule = calibrated_rule(contender, val.x, quantile=0.6)
    report = contender.fit(train, val, noop)
    (log,) = report.history
    decision, _ = contender.decide(val.x)  # one epoch: the kept weights are the validated ones
    steps_read = (decision.step_index + 1).double()
    assert log.val_decision_step == pytest.approx(float(steps_read.mean()))
    assert log.val_accuracy == pytest.approx(float((decision.prediction == val.y).double().mean()))
    assert report.selected_val_accuracy == log.val_accuracy
    assert 1 <= log.val_decision_step <= val.x.shape[1]


@pytest.mark.parametrize("name", REGISTERED)
def test_operation_means_are_over_examples_not_over_evaluation_chunks(name: str) -> None:
    x, _ = labelled_problem("every-step", n=7)
    x = (x > 0.5).float() * x  # some zero inputs, so that effective counts vary by example
    contender = build(name, eval_batch_size=3)  # chunks of 3, 3 and 1 examples
    steps = torch.tensor([0, 0, 0, 1, 1, 1, 4])  # chunks read 1, 2 and 5 steps on average; examples 2
    decision = Decision(torch.zeros(7, dtype=torch.long), steps, torch.ones(7, dtype=torch.bool))
    means = contender.operations_to_decision(x, decision)
    one_by_one = [contender.operations_to_decision(x[i:i + 1], Decision(decision.prediction[i:i + 1],
                                                                         steps[i:i + 1], decision.crossed[i:i + 1]))
                  for i in range(7)]
    for key in OPERATION_KEYS:
        expected = sum(counts[key] for counts in one_by_one) / 7
        assert means[key] == pytest.approx(expected, rel=1e-12)
    per_step = one_by_one[0]["dense_macs"]  # dense MACs are the same at every step
    assert per_step > 0 and means["dense_macs"] == pytest.approx(per_step * 2)
    unchunked = copy.deepcopy(contender)
    unchunked.config = type(contender.config)(**{**contender.config.__dict__, "eval_batch_size": 64})
    assert unchunked.operations_to_decision(x, decision) == pytest.approx(means)
