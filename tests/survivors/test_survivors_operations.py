"""Tests written for the mutants of the operation counts (``rc/operations.py``, ``rc/lstm_operations.py``,
``baselines/snn_operations.py``) that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest

from rc.operations import OperationCountError, TrainingOperations


def test_training_operations_per_epoch_divide_by_any_positive_integer_count_of_epochs() -> None:
    ops = TrainingOperations(forward_macs=600, backward_macs=1200)
    assert ops.per_epoch(1) == {"forward_macs": 600.0, "backward_macs": 1200.0, "total_macs": 1800.0}
    assert ops.per_epoch(3) == {"forward_macs": 200.0, "backward_macs": 400.0, "total_macs": 600.0}


@pytest.mark.parametrize("epochs", [0, -2, 1.5, 2.0, "2", True, None])
def test_training_operations_per_epoch_refuse_anything_but_a_positive_integer(epochs) -> None:
    with pytest.raises(OperationCountError, match=rf"^epochs must be a positive integer, got {epochs!r}$"):
        TrainingOperations(forward_macs=600, backward_macs=1200).per_epoch(epochs)
