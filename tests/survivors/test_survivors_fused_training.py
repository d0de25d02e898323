"""Tests written for the mutants of ``rc/fused_training.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import torch

from rc.fused_training import _dropout_mask


def test_a_dropout_mask_takes_its_tensors_dtype_and_device_whatever_torchs_defaults() -> None:
    """``nn.Dropout``'s multipliers, 0 or exactly 1 / (1 - p) in the tensor's own dtype (float64 here, not the
    default float32), on the tensor's device even under another default device (meta stands in for cuda)."""
    like = torch.zeros(3, dtype=torch.float64)
    torch.manual_seed(0)
    with torch.device("meta"):
        mask = _dropout_mask(0.3, (50, 40), like)
    assert mask.shape == (50, 40) and mask.dtype == torch.float64 and mask.device == like.device
    assert set(mask.unique().tolist()) == {0.0, 1 / (1 - 0.3)}
    dropped = (mask == 0).double().mean().item()
    assert abs(dropped - 0.3) < 0.05  # 2,000 draws: the standard deviation is 0.01
