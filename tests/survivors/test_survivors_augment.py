"""Tests written for the mutants of ``baselines/augment.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import torch

from baselines.augment import random_shift


def test_a_shift_of_frames_on_another_device_is_computed_there() -> None:
    """The offsets are drawn on the CPU by the generator, then every index is built on the frames' device
    (meta stands in for an accelerator: shapes and devices, no data)."""
    x = torch.zeros(3, 2, 4 * 5, device="meta")
    shifted = random_shift(x, (4, 5), 2, torch.Generator().manual_seed(0))
    assert shifted.device == x.device and shifted.shape == x.shape and shifted.dtype == x.dtype
