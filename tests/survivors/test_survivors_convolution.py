"""Tests written for the mutants of ``rc/convolution.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rc.convolution import conv_output_size


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_the_output_size_of_a_convolution_with_a_padding_mode_name_is_refused_with_it(padding) -> None:
    with pytest.raises(ValueError, match=rf"^conv_output_size needs a numeric padding, got '{padding}'$"):
        conv_output_size(nn.Conv2d(1, 1, 3, padding=padding), (8, 8))


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (3, 1, 1, 1), (5, 2, 2, 1), ((3, 5), (1, 2), (2, 1), 1), (3, 1, 3, 2), (4, 3, 0, 1)])
@pytest.mark.parametrize("size", [(8, 8), (9, 13)])
def test_the_output_size_is_the_size_torch_gives_padded_strided_and_dilated_convolutions(
        kernel, stride, padding, dilation, size) -> None:
    convolution = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    assert conv_output_size(convolution, size) == tuple(convolution(torch.zeros(1, 1, *size)).shape[2:])
