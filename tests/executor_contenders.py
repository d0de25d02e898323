"""Contenders that misbehave on purpose, for tests/test_executors.py.

A worker process imports each job's contender module by name before it runs
the job (see :class:`bench.run.jobs.RunContext`), so these contenders exist in
spawned workers too: pytest puts ``tests/`` on ``sys.path`` and a spawned
worker inherits it. Importing this module registers them; the tests' fixture
unregisters them afterwards.
"""

from __future__ import annotations

from torch import Tensor

from baselines.lstm_eos import LSTMEndOfSequence
from baselines.registry import register_contender
from baselines.training_loop import BatchOutcome


@register_contender
class BrokenFit(LSTMEndOfSequence):
    """``lstm-eos`` whose training raises an error that is neither a divergence nor out of memory (a bug)."""

    name = "test-broken-fit"
    description = "test only: training raises KeyError"

    def fit(self, train, val, progress):
        raise KeyError("a bug in fit")


@register_contender
class NaNOnSecondBatch(LSTMEndOfSequence):
    """``lstm-eos`` whose training loss becomes NaN at the second minibatch (a diverged training)."""

    name = "test-nan"
    description = "test only: the training loss becomes NaN at the second batch"

    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        self.batches_seen = getattr(self, "batches_seen", 0) + 1
        outcome = super().objective(x, y)
        if self.batches_seen == 2:
            return BatchOutcome(outcome.loss * float("nan"), outcome.step_evaluations_forward,
                                outcome.step_evaluations_backward)
        return outcome
