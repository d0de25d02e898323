"""Tests written for the mutants of ``rc/events.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import re

import pytest
import torch

from rc.events import ActiveInputs


def test_the_feature_major_copy_of_a_weight_is_kept_until_the_weight_changes() -> None:
    """Built once per weight; rebuilt for another weight or after an in-place change of this one."""
    events = ActiveInputs()
    weight = torch.randn(3, 5)
    first = events._feature_major(weight)
    assert torch.equal(first, weight.t()) and first.is_contiguous()
    assert events._feature_major(weight) is first  # unchanged: the same copy
    other = weight.clone()
    assert events._feature_major(other) is not first
    other.mul_(2.0)  # in place: a new version of the same tensor
    rebuilt = events._feature_major(other)
    assert torch.equal(rebuilt, other.t())
    assert events._feature_major(other) is rebuilt


def test_selection_refuses_an_input_or_a_weight_that_is_not_a_matrix_even_when_the_features_agree() -> None:
    """Either tensor of another rank is refused with the message naming both shapes, also when its second
    dimension happens to equal the other's feature count (the check is on each rank, not only on both)."""
    events = ActiveInputs()
    x_t, weight = torch.ones(2, 5), torch.ones(3, 5)
    for bad_x, bad_weight in ((x_t, torch.ones(3, 5, 1)), (torch.ones(2, 5, 1), weight)):
        with pytest.raises(ValueError, match=r"need x_t \(batch, features\) and weight \(out, features\), got "
                                             + re.escape(f"{tuple(bad_x.shape)} and {tuple(bad_weight.shape)}")):
            events.select(bad_x, bad_weight)
    selected, selected_weight = events.select(x_t, weight)  # two matrices of 5 features pass
    assert torch.equal(selected @ selected_weight.t(), x_t @ weight.t())


def test_a_batch_of_two_selects_the_features_active_in_either_example() -> None:
    """With two examples the selection is the union of both examples' nonzero features, not the first's."""
    events = ActiveInputs(dense_above=1.0)
    x_t = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    weight = torch.arange(12.0).view(3, 4)
    selected, selected_weight = events.select(x_t, weight)
    assert torch.equal(selected, x_t[:, [0, 2]])
    assert torch.equal(selected_weight, weight[:, [0, 2]])
    assert torch.equal(selected @ selected_weight.t(), x_t @ weight.t())


def test_exactly_dense_above_times_the_features_active_is_still_selected() -> None:
    """The dense input is returned only above dense_above * features active features, not at it:
    2 of 4 active with dense_above 0.5 is restricted, 3 of 4 is returned as it is."""
    events = ActiveInputs(dense_above=0.5)
    weight = torch.arange(12.0).view(3, 4)
    at = torch.tensor([[0.0, 3.0, 0.0, 4.0]])
    selected, selected_weight = events.select(at, weight)
    assert torch.equal(selected, at[:, [1, 3]]) and torch.equal(selected_weight, weight[:, [1, 3]])
    above = torch.tensor([[1.0, 3.0, 0.0, 4.0]])
    dense, dense_weight = events.select(above, weight)
    assert dense is above and dense_weight is weight


def test_dense_above_may_be_either_end_of_its_range() -> None:
    """Kills ActiveInputs.__init__ 4 (0 refused) and 5 (1 refused): [0, 1] is closed.

    With 0 any active feature gives the dense input itself, and a silent step selects nothing; with 1 even a
    step with every feature active is restricted (to all of them, as a copy)."""
    weight = torch.arange(12.0).view(3, 4)
    x_t = torch.tensor([[0.0, 2.0, 0.0, 0.0]])
    never = ActiveInputs(0.0)
    assert never.dense_above == 0.0
    selected, selected_weight = never.select(x_t, weight)
    assert selected is x_t and selected_weight is weight
    silent, silent_weight = never.select(torch.zeros(1, 4), weight)
    assert silent.shape == (1, 0) and silent_weight.shape == (3, 0)
    always = ActiveInputs(1.0)
    assert always.dense_above == 1.0
    full = torch.ones(2, 4)
    selected, selected_weight = always.select(full, weight)
    assert selected is not full and torch.equal(selected, full) and torch.equal(selected_weight, weight)
