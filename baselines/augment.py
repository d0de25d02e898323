"""Training-time augmentation of image-frame sequences.

:func:`random_shift` translates every frame of an example by the same random
whole-pixel offset, filling with zeros: a rank-order code stays a rank-order
code (each pixel still spikes at most once, at the same step), only the
digit moves. Applied to training minibatches only (``augment_shift`` in
:class:`baselines.step_contender.TrainingConfig`); validation and test
inputs are never changed.
"""

from __future__ import annotations

import torch
from torch import Tensor


def random_shift(x: Tensor, frame_shape: tuple[int, int], max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each example's frames by one offset drawn uniformly from [-max_shift, max_shift]^2.

    Args:
        x: ``(batch, time, height * width)`` frames, flattened row by row.
        frame_shape: ``(height, width)``.
        max_shift: the largest shift in pixels along each axis (>= 0; 0 returns ``x``).
        generator: draws the offsets (on the CPU), so that a seed fixes them.

    Returns:
        ``(batch, time, height * width)``: frame pixel ``(i, j)`` of example b holds
        ``x[b, :, (i - dy_b, j - dx_b)]``, or 0 where that lies outside the frame.
    """
    height, width = frame_shape
    if x.dim() != 3 or x.shape[2] != height * width:
        raise ValueError(f"random_shift needs x shaped (batch, time, {height * width}) for frames of "
                         f"{height} x {width}, got {tuple(x.shape)}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
    if max_shift == 0:
        return x
    batch, time, _ = x.shape
    offsets = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator,
                            device=generator.device).to(x.device)
    padded = torch.nn.functional.pad(x.reshape(batch, time, height, width), (max_shift,) * 4)
    rows = torch.arange(height, device=x.device).view(1, height, 1) + max_shift - offsets[:, 0].view(batch, 1, 1)
    columns = torch.arange(width, device=x.device).view(1, 1, width) + max_shift - offsets[:, 1].view(batch, 1, 1)
    index = (rows * (width + 2 * max_shift) + columns).reshape(batch, 1, height * width).expand(batch, time, -1)
    return padded.reshape(batch, time, -1).gather(2, index)
