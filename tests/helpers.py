"""Shared test helpers."""

from __future__ import annotations

import torch


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
