"""rc.convolution: the front ends' output sizes, against torch's own modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rc.convolution import conv_output_size, conv_pool_sizes


@pytest.mark.parametrize("options", [{}, {"stride": 2}, {"padding": 1}, {"padding": (2, 0), "stride": (3, 1)},
                                     {"dilation": 2}, {"dilation": (1, 3), "padding": 2}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("size", [(17, 21), (28, 28)])
def test_the_output_size_is_torchs(options, size) -> None:
    convolution = nn.Conv2d(1, 2, (5, 3), **options)
    assert conv_output_size(convolution, size) == tuple(convolution(torch.zeros(1, 1, *size)).shape[2:])


def test_a_chain_of_convolutions_and_pools_has_torchs_sizes() -> None:
    convolutions = [nn.Conv2d(1, 4, 5), nn.Conv2d(4, 8, 5)]
    frames = torch.zeros(1, 1, 29, 33)
    expected = []
    for convolution in convolutions:
        frames = convolution(frames)
        convolved = tuple(frames.shape[2:])
        frames = nn.MaxPool2d(2)(frames)
        expected.append((convolved, tuple(frames.shape[2:])))
    assert conv_pool_sizes(convolutions, (29, 33), 2) == expected == [((25, 29), (12, 14)), ((8, 10), (4, 5))]


def test_a_padding_by_name_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a numeric padding, got 'same'"):
        conv_output_size(nn.Conv2d(1, 1, 3, padding="same"), (8, 8))
