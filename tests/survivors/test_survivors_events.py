"""Tests written for the mutants of ``rc/events.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

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
