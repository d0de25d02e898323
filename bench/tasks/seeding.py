"""Seeds for generated data: one independent generator per (seed, split)."""

from __future__ import annotations

import torch

SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}


def split_generator(seed: int, split: str) -> torch.Generator:
    """A CPU generator for ``split`` ('train', 'val' or 'test') of data seed ``seed``."""
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_OFFSETS)}")
    return torch.Generator().manual_seed(1_000_003 * int(seed) + SPLIT_OFFSETS[split])


def balanced_labels(n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n,)`` long labels, ``n // 2`` zeros and ``n - n // 2`` ones, in random order."""
    if n < 2:
        raise ValueError(f"a balanced binary split needs at least 2 examples, got {n}")
    labels = torch.cat([torch.zeros(n // 2, dtype=torch.long), torch.ones(n - n // 2, dtype=torch.long)])
    return labels[torch.randperm(n, generator=generator)]
