"""Random shifts of image-frame sequences (baselines/augment.py) and the augment_shift option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.augment import random_shift
from baselines.registry import get_contender
from bench.core.task_contract import Split, TaskSpec
from rc.crossing import SigmoidThreshold


def shifted_by_hand(frames: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``frames`` (time, height, width) moved down by dy and right by dx, zeros where nothing moved in."""
    out = np.zeros_like(frames)
    _, height, width = frames.shape
    for i in range(height):
        for j in range(width):
            if 0 <= i - dy < height and 0 <= j - dx < width:
                out[:, i, j] = frames[:, i - dy, j - dx]
    return out


def test_each_example_moves_by_its_own_offset_and_nothing_wraps() -> None:
    torch.manual_seed(0)
    x = torch.rand(6, 3, 5 * 7)
    seed = 11
    offsets = torch.randint(-2, 3, (6, 2), generator=torch.Generator().manual_seed(seed))
    shifted = random_shift(x, (5, 7), 2, torch.Generator().manual_seed(seed))
    assert shifted.shape == x.shape
    for b in range(6):
        expected = shifted_by_hand(x[b].reshape(3, 5, 7).numpy(), int(offsets[b, 0]), int(offsets[b, 1]))
        np.testing.assert_array_equal(shifted[b].reshape(3, 5, 7).numpy(), expected)
    assert len({tuple(row) for row in offsets.tolist()}) > 1  # the examples did not all move alike


def test_a_rank_code_stays_a_rank_code() -> None:
    # one spike per pixel at most, at the same step: a shift only moves spikes or drops them at the edge
    torch.manual_seed(1)
    steps = torch.randint(0, 5, (4, 8 * 8))
    x = torch.nn.functional.one_hot(steps, 5).permute(0, 2, 1).float()  # (4, 5, 64), every pixel spikes once
    shifted = random_shift(x, (8, 8), 3, torch.Generator().manual_seed(2))
    assert bool((shifted.sum(dim=1) <= 1).all())
    assert bool((shifted.sum(dim=(1, 2)) <= x.sum(dim=(1, 2))).all())
    assert set(shifted.unique().tolist()) <= {0.0, 1.0}


def test_zero_shift_and_seeds() -> None:
    x = torch.rand(3, 2, 16)
    assert random_shift(x, (4, 4), 0, torch.Generator()) is x
    first = random_shift(x, (4, 4), 1, torch.Generator().manual_seed(5))
    assert torch.equal(first, random_shift(x, (4, 4), 1, torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("x, frame_shape, shift, message", [
    (torch.zeros(2, 3, 15), (4, 4), 1, r"random_shift needs x shaped \(batch, time, 16\) for frames of 4 x 4"),
    (torch.zeros(2, 16), (4, 4), 1, r"got \(2, 16\)"),
    (torch.zeros(2, 3, 16), (4, 4), -1, "max_shift must be an integer >= 0, got -1"),
    (torch.zeros(2, 3, 16), (4, 4), 1.5, "max_shift must be an integer >= 0, got 1.5"),
])
def test_bad_input_is_named(x, frame_shape, shift, message) -> None:
    with pytest.raises(ValueError, match=message):
        random_shift(x, frame_shape, shift, torch.Generator())


def test_augment_shift_trains_on_moved_frames_and_needs_image_frames() -> None:
    rc = get_contender("rc-lstm")
    images = TaskSpec("frames", 3, 256, 2, "sigmoid", (16, 16))
    torch.manual_seed(0)
    x, y = (torch.rand(32, 3, 256) < 0.2).float(), torch.randint(0, 2, (32,))
    weights = []
    for shift in (0, 2):
        config = rc.make_config({"encoder": "conv", "conv_channels": 2, "hidden": 3, "epochs": 1, "batch_size": 8,
                                 "augment_shift": shift}, "test")
        contender = rc(images, SigmoidThreshold(0.9), config, torch.device("cpu"), 0)
        contender.fit(Split(x, y), Split(x[:8], y[:8]), lambda _line: None)
        weights.append(contender.model.recurrent.readout.weight.detach().clone())
    assert not torch.equal(weights[0], weights[1])  # same seed, other inputs: other weights
    flat = TaskSpec("flat", 3, 256, 2, "sigmoid")
    config = rc.make_config({"hidden": 3, "epochs": 1, "augment_shift": 1}, "test")
    with pytest.raises(ValueError, match="augment_shift needs a task whose steps are image frames; task 'flat'"):
        rc(flat, SigmoidThreshold(0.9), config, torch.device("cpu"), 0).fit(Split(x, y), Split(x, y),
                                                                             lambda _line: None)
    with pytest.raises(ValueError, match="augment_shift must be an integer >= 0, got -2"):
        rc.make_config({"augment_shift": -2}, "test")


def test_the_offsets_are_drawn_on_the_generators_device_whatever_the_default_device() -> None:
    """A CPU generator draws CPU offsets even under another default device (meta stands in for an
    accelerator here), so a seed shifts the frames the same way everywhere."""
    x = torch.rand(3, 2, 16)
    expected = random_shift(x, (4, 4), 1, torch.Generator().manual_seed(0))
    with torch.device("meta"):
        shifted = random_shift(x, (4, 4), 1, torch.Generator().manual_seed(0))
    assert shifted.device.type == "cpu" and torch.equal(shifted, expected)
