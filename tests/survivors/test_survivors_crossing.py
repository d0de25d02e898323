"""Tests written for the mutants of ``rc/crossing.py`` that survived the mutation run (issue 17).

Each test names the behaviour it pins; results/mutation/REPORT.md lists the mutants they kill.
"""

from __future__ import annotations

import pytest
import torch

from rc.crossing import (SigmoidNotebook, SigmoidThreshold, SoftmaxThreshold, TwoSidedBinary, TwoSidedNotebook,
                         check_sequence_scores, check_theta, decide, first_crossing, make_rule, softmax_entropy)

# float32 scores whose sigmoid is exactly 0.75 and 0.25
AT_THREE_QUARTERS = 1.0986120700836182
AT_ONE_QUARTER = -1.0986123085021973


def test_the_probe_scores_hit_the_thresholds_exactly() -> None:
    assert torch.sigmoid(torch.tensor(AT_THREE_QUARTERS)).item() == 0.75
    assert torch.sigmoid(torch.tensor(AT_ONE_QUARTER)).item() == 0.25


# ----------------------------------------------------------------------------- sequence shapes


def test_a_sequence_with_no_time_steps_is_refused_with_its_shape() -> None:
    with pytest.raises(ValueError, match=r"no time steps: shape \(2, 0, 3\)"):
        check_sequence_scores(torch.zeros(2, 0, 3))


def test_a_one_step_sequence_is_decided_at_that_step() -> None:
    scores = torch.tensor([[[3.0, -3.0]], [[-3.0, -3.0]]])
    check_sequence_scores(scores)
    decision = decide(scores, SigmoidThreshold(0.9))
    assert decision.step_index.tolist() == [0, 0]
    assert decision.crossed.tolist() == [True, False]
    assert decision.prediction.tolist() == [0, 0]


@pytest.mark.parametrize("crossed", [torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool)[0],
                                     torch.zeros(2, 3, 1, dtype=torch.bool)])
def test_first_crossing_refuses_anything_but_a_two_dimensional_bool_tensor(crossed: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=rf"\(batch, time\) bool tensor, got {crossed.dtype} of shape "
                                         rf"\({', '.join(map(str, crossed.shape))},?\)"):
        first_crossing(crossed)


def test_an_unknown_rule_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError) as error:
        make_rule("sigmoid-ish", 0.9)
    message = str(error.value)
    assert "'sigmoid-ish'" in message
    known = message.rsplit(": ", 1)[1].split(", ")
    assert sorted(known) == ["sigmoid", "sigmoid-notebook", "softmax", "two-sided", "two-sided-notebook"]


def test_theta_of_the_wrong_type_is_named_in_the_error() -> None:
    with pytest.raises(TypeError, match="must be a number, got str"):
        check_theta("0.9")


def test_the_repr_names_the_rule_and_its_theta() -> None:
    assert repr(SoftmaxThreshold(0.8)) == "SoftmaxThreshold(theta=0.8)"
    assert repr(TwoSidedNotebook(0.75)) == "TwoSidedNotebook(theta=0.75)"


# ----------------------------------------------------------------------------- reductions over the class dimension


def test_rules_reduce_the_class_dimension_of_full_sequence_scores() -> None:
    """(batch, time, classes) with time != classes: every per-step output is (batch, time)."""
    torch.manual_seed(0)
    scores = torch.randn(2, 5, 3) * 3
    expected_entropy = -(torch.softmax(scores, -1) * torch.log_softmax(scores, -1)).sum(-1)
    torch.testing.assert_close(softmax_entropy(scores), expected_entropy)
    for rule in (SigmoidThreshold(0.8), SoftmaxThreshold(0.6)):
        assert torch.equal(rule.predict(scores), scores.argmax(-1))
    sigmoid = torch.sigmoid(scores)
    binary = -(sigmoid * sigmoid.log() + (1 - sigmoid) * (1 - sigmoid).log())
    torch.testing.assert_close(SigmoidThreshold(0.8).entropy(scores), binary.mean(-1))
    assert torch.equal(SigmoidNotebook(0.8).predict(scores), sigmoid.argmax(-1))


def test_a_single_step_of_scores_shaped_one_by_classes_is_read_along_classes() -> None:
    """(batch, 1, classes): the last dimension holds the classes, whatever dimension 1 holds."""
    scores = torch.tensor([[[0.1, 2.0, -1.0]]])
    assert SigmoidThreshold(0.8).crossed(scores).tolist() == [[True]]
    assert SoftmaxThreshold(0.5).predict(scores).tolist() == [[1]]


def test_the_scores_of_one_example_without_a_batch_dimension_are_accepted() -> None:
    scores = torch.tensor([0.1, 2.0, -1.0])
    assert SigmoidThreshold(0.8).predict(scores).item() == 1
    assert SigmoidThreshold(0.8).crossed(scores).item() is True
    assert TwoSidedBinary(0.75).predict(torch.tensor([2.0])).item() == 1
    assert TwoSidedBinary(0.75).crossed(torch.tensor([2.0])).item() is True


@pytest.mark.parametrize("rule", [SigmoidThreshold(0.8), SoftmaxThreshold(0.8), TwoSidedBinary(0.8),
                                  SigmoidNotebook(0.8), TwoSidedNotebook(0.8)], ids=lambda r: r.name)
def test_probabilities_are_the_rules_output_distribution(rule) -> None:
    torch.manual_seed(1)
    classes = 1 if isinstance(rule, TwoSidedBinary) else 3
    scores = torch.randn(2, 4, classes)
    expected = torch.softmax(scores, -1) if isinstance(rule, SoftmaxThreshold) else torch.sigmoid(scores)
    torch.testing.assert_close(rule.probabilities(scores), expected)


# ----------------------------------------------------------------------------- strict thresholds


def test_sigmoid_notebook_counts_only_classes_strictly_above_theta() -> None:
    # step 0: one class exactly at theta, step 1: one class above it
    scores = torch.tensor([[[AT_THREE_QUARTERS, -5.0], [-5.0, 2.0]]])
    decision = decide(scores, SigmoidNotebook(0.75))
    assert decision.output_index.tolist() == [1]
    assert decision.prediction.tolist() == [1]


def test_sigmoid_notebook_falls_back_to_the_last_step_when_no_class_crosses() -> None:
    # no class above theta: the notebook marks the last step, which wins the argmax over all-zero counts
    scores = torch.tensor([[[0.0, -1.0], [-1.0, 0.5], [0.2, -2.0]]])
    decision = decide(scores, SigmoidNotebook(0.9))
    assert decision.crossed.tolist() == [False]
    assert decision.output_index.tolist() == [2]
    assert decision.prediction.tolist() == [0]
    # a crossing example in the same batch keeps its own step
    batch = torch.cat([scores, torch.tensor([[[-1.0, 3.0], [0.0, 0.0], [0.0, 0.0]]])])
    decision = decide(batch, SigmoidNotebook(0.9))
    assert decision.output_index.tolist() == [2, 0]


def test_two_sided_notebook_crosses_only_strictly_beyond_either_side() -> None:
    rule = TwoSidedNotebook(0.75)
    # step 0 never counts; step 1 at exactly theta (upper) or 1 - theta (lower), step 2 beyond
    for edge in (AT_THREE_QUARTERS, AT_ONE_QUARTER):
        scores = torch.tensor([[[0.0], [edge], [edge * 3], [0.0]]])
        decision = decide(scores, rule)
        assert decision.step_index.tolist() == [2], edge
        assert decision.crossed.tolist() == [True]


def test_two_sided_notebook_predicts_zero_at_exactly_one_half() -> None:
    rule = TwoSidedNotebook(0.75)
    assert rule.predict(torch.tensor([[0.0], [1e-3], [-1e-3]])).tolist() == [0, 1, 0]


# ----------------------------------------------------------------------------- torch's default device


@pytest.mark.parametrize("rule", [SigmoidNotebook(0.9), TwoSidedNotebook(0.9)], ids=lambda r: r.name)
def test_whole_sequence_rules_do_not_depend_on_torchs_default_device(rule) -> None:
    """Row indices are made on the scores' device: under ``torch.set_default_device("cuda")`` (here the meta
    device stands in) CPU scores are still gathered and decided on the CPU."""
    torch.manual_seed(2)
    classes = 3 if isinstance(rule, SigmoidNotebook) else 1
    scores = torch.randn(5, 4, classes) * 3
    index = torch.tensor([3, 0, 2, 1, 3])
    expected_rows = torch.stack([scores[row, step] for row, step in enumerate(index.tolist())])
    expected = decide(scores, rule)
    with torch.device("meta"):
        gathered = rule.gather(scores, index)
        decision = decide(scores, rule)
    assert torch.equal(gathered, expected_rows)
    for field in ("prediction", "step_index", "crossed", "output_index"):
        got, want = getattr(decision, field), getattr(expected, field)
        assert (got is None and want is None) or torch.equal(got, want), field


@pytest.mark.parametrize("rule", [SigmoidThreshold(0.95), SoftmaxThreshold(0.9)], ids=lambda r: r.name)
def test_streaming_rules_decide_full_sequences_whatever_torchs_default_device(rule) -> None:
    torch.manual_seed(3)
    scores = torch.randn(64, 6, 3) * 3
    step_index, _ = first_crossing(rule.crossed(scores))
    expected = scores[torch.arange(64), step_index].argmax(-1)
    assert len(set(expected.tolist())) == 3  # every class predicted somewhere: no constant answer passes
    with torch.device("meta"):
        decision = decide(scores, rule)
    assert torch.equal(decision.step_index, step_index)
    assert torch.equal(decision.prediction, expected)
