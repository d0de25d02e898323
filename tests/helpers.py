"""Shared test helpers."""

from __future__ import annotations

import torch

from bench.core.records import SCHEMA_VERSION


class CountingModel(torch.nn.Module):
    """Wraps a StepModel and records the batch size of every step it computes."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.batch_sizes: list[int] = []

    def forward(self, x):
        return self.inner(x)

    def init_state(self, batch_size, device):
        return self.inner.init_state(batch_size, device)

    def step(self, x_t, state):
        self.batch_sizes.append(x_t.shape[0])
        return self.inner.step(x_t, state)

    def select_state(self, state, index):
        return self.inner.select_state(state, index)


def make_record(**overrides) -> dict:
    """A complete, valid synthetic record; ``overrides`` replace fields."""
    record = {
        "schema_version": SCHEMA_VERSION,
        "task": "toy-noise",
        "contender": "rc-lstm",
        "seed": 0,
        "theta": 0.9,
        "beta": 0.0,
        "profile": "quick",
        "rule": "two-sided",
        "accuracy": 0.8,
        "accuracy_by_step": [0.5, 0.6, 0.7, 0.8],
        "first_step_accuracy": 0.5,
        "last_step_accuracy": 0.8,
        "decision_step_mean": 2.5,
        "decision_step_median": 2.0,
        "decision_step_p90": 4.0,
        "never_crossed_fraction": 0.1,
        "inference_step_evaluations": 250,
        "ops_dense_macs": 2500.0,
        "ops_effective_macs": 1200.0,
        "ops_effective_acs": 300.0,
        "ops_dense_macs_full_sequence": 4000.0,
        "streaming": {
            "step_ms": 1.0, "step_ms_from": "task", "step_compute_ms": 0.05, "compute_examples": 8,
            "early_exit": {"steps_read": {"p50": 2.0, "p90": 4.0, "p99": 4.0},
                           "time_to_decision_ms": {"p50": 2.05, "p90": 4.05, "p99": 4.05}},
            "full_sequence": {"steps_read": {"p50": 4.0, "p90": 4.0, "p99": 4.0},
                              "time_to_decision_ms": {"p50": 4.05, "p90": 4.05, "p99": 4.05}},
        },
        "n_steps": 4,
        "test_size": 100,
        "training": {
            "train_seconds": 1.5, "validation_seconds": 0.2, "examples_per_second": 1000.0, "epochs": 2,
            "selected_epoch": 2, "step_evaluations_forward": 5000, "step_evaluations_backward": 5000,
            "final_train_loss": 0.3, "selected_val_accuracy": 0.75, "shared_across_thresholds": 1,
            "forward_macs": 5.0e6, "backward_macs": 9.0e6,
            "history": [
                {"epoch": 1, "train_loss": 0.6, "val_accuracy": 0.6, "val_decision_step": 3.5,
                 "train_seconds": 0.7, "step_evaluations_forward": 2600},
                {"epoch": 2, "train_loss": 0.3, "val_accuracy": 0.75, "val_decision_step": 2.5,
                 "train_seconds": 1.5, "step_evaluations_forward": 5000},
            ],
        },
        "config": {"hidden": 8, "beta": 0.0},
        "data_source": "generated, data seed 0",
        "versions": {"python": "3.11.0", "torch": "2.3.0"},
        "hardware": {"cpu": "Test CPU", "device": "cpu"},
        "git_revision": "abc1234",
        "command": "rcbench run --profile quick",
        "created": "2024-01-01T00:00:00+00:00",
    }
    record.update(overrides)
    return record


def gradients(model: torch.nn.Module, step, *args) -> tuple:
    """``step(model, *args)``'s result and a copy of every parameter's gradient after its backward pass."""
    model.zero_grad(set_to_none=True)
    result = step(model, *args)
    result.backward()
    return result, [p.grad.clone() for p in model.parameters()]


def assert_same_as_naive(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, rule, beta: float = 0.2,
                         rtol: float = 1e-4, autograd: bool = True) -> tuple:
    """The truncated RC step (with its ``autograd`` argument) gives the naive step's decisions, its loss to
    1e-5 and every gradient to 1e-5 (absolute) or ``rtol``; returns both steps' results."""
    from rc.training import naive_rc_step, truncated_rc_step

    naive, expected = gradients(model, naive_rc_step, x, y, rule, beta)
    truncated, found = gradients(model, truncated_rc_step, x, y, rule, beta, autograd)
    assert torch.equal(truncated.decision.step_index, naive.decision.step_index)
    assert torch.equal(truncated.decision.crossed, naive.decision.crossed)
    assert torch.equal(truncated.decision.prediction, naive.decision.prediction)
    assert abs(truncated.loss.item() - naive.loss.item()) <= 1e-5
    for (name, _), got, want in zip(model.named_parameters(), found, expected):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=rtol, msg=name)
    return naive, truncated
