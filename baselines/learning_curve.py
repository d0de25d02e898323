"""Learning-curve snapshots at fixed training compute, for comparisons at equal training MACs.

During training, the weights are copied each time the cumulative dense training
MACs (forward + backward, :func:`rc.operations.training_operations`) first reach
a point of one global geometric grid::

    grid point k = 2 ** (k / POINTS_PER_DOUBLING)  MACs

The grid is the same for every contender and task, so two contenders' snapshots
at grid point k were taken after the same training compute (each one at the end
of the minibatch that crossed it: a little above it, by at most one minibatch;
the snapshot records the exact MACs). Only the points from ``1 / MAX_RANGE`` of
the training's upper bound on (the full sequence at every step) upward are kept,
so a run keeps at most ``POINTS_PER_DOUBLING * log2(MAX_RANGE)`` snapshots.

The snapshots never touch the test split: the harness evaluates them after
training (:mod:`bench.run.harness`), and model selection never sees them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from torch import Tensor

POINTS_PER_DOUBLING = 4
"""Grid points per doubling of compute: neighbours 19% apart."""
MAX_RANGE = 2 ** 12
"""Snapshots cover the top 12 doublings below the upper bound of a run's training MACs."""


def grid_index(macs: float) -> int:
    """The highest grid point at or below ``macs`` (> 0)."""
    return math.floor(POINTS_PER_DOUBLING * math.log2(macs) + 1e-9)


def grid_macs(index: int) -> float:
    """MACs at grid point ``index``."""
    return 2.0 ** (index / POINTS_PER_DOUBLING)


@dataclass(frozen=True)
class Snapshot:
    """The weights after training had computed ``training_macs`` (crossing grid point ``grid_index``).

    Attributes:
        grid_index: the grid point crossed (:func:`grid_macs` gives its MACs).
        training_macs: dense forward + backward MACs computed so far.
        epoch: fractional epochs done (1.5: the middle of the second epoch).
        train_seconds: training wall-clock so far (validation excluded).
        state: a copy of the model's ``state_dict``.
    """

    grid_index: int
    training_macs: int
    epoch: float
    train_seconds: float
    state: dict[str, Tensor] = field(repr=False)


class SnapshotSchedule:
    """Decides after each minibatch whether to copy the weights, and keeps the copies.

    Args:
        forward_macs: dense MACs of one forward step evaluation (one example, one step).
        backward_macs: dense MACs of one backward step evaluation.
        upper_bound_macs: the most the whole training can compute (every step of every
            example, forward and backward); snapshots start ``MAX_RANGE`` below it.
    """

    def __init__(self, forward_macs: int, backward_macs: int, upper_bound_macs: float) -> None:
        if forward_macs <= 0 or backward_macs < 0 or not upper_bound_macs > 0:
            raise ValueError(f"snapshot MACs must be positive, got forward {forward_macs}, backward "
                             f"{backward_macs}, upper bound {upper_bound_macs}")
        self.forward_macs = forward_macs
        self.backward_macs = backward_macs
        self._next = grid_index(upper_bound_macs / MAX_RANGE)
        self.snapshots: list[Snapshot] = []

    def after_minibatch(self, model_state: dict[str, Tensor], forward: int, backward: int, epoch: float,
                        train_seconds: float) -> None:
        """Copy ``model_state`` if the cumulative step evaluations ``forward``/``backward`` crossed a grid point."""
        macs = forward * self.forward_macs + backward * self.backward_macs
        if macs <= 0 or macs < grid_macs(self._next):
            return
        crossed = grid_index(macs)
        self.snapshots.append(Snapshot(crossed, macs, epoch, train_seconds, copy.deepcopy(model_state)))
        self._next = crossed + 1
