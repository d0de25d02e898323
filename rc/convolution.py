"""Output sizes of the 2-d convolutions and pools of the convolutional front ends, by torch's formula.

One place for the arithmetic that :class:`rc.model.ConvEncoder`, the spiking
family's front end (``baselines.snn_family``) and the operation counts
(:mod:`rc.lstm_operations`, ``baselines.snn_family_operations``) all need.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def conv_output_size(convolution: nn.Conv2d, size: Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` of ``convolution``'s output on an input of ``size`` ``(height, width)``.

    Per axis ``(n + 2 p - d (k - 1) - 1) // s + 1`` (padding p, dilation d,
    kernel k, stride s), as ``torch.nn.Conv2d`` documents it.
    """
    if isinstance(convolution.padding, str):
        raise ValueError(f"conv_output_size needs a numeric padding, got {convolution.padding!r}")
    height, width = ((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(
        size, convolution.padding, convolution.dilation, convolution.kernel_size, convolution.stride))
    return height, width


def conv_pool_sizes(convolutions: Sequence[nn.Conv2d], frame_shape: Sequence[int],
                    pool: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """For a chain of convolutions, each followed by a ``pool`` x ``pool`` max pool (stride ``pool``),
    from frames of ``frame_shape``: each convolution's output size and the pooled size after it."""
    sizes = []
    height, width = frame_shape
    for convolution in convolutions:
        convolved = conv_output_size(convolution, (height, width))
        height, width = convolved[0] // pool, convolved[1] // pool
        sizes.append((convolved, (height, width)))
    return sizes
