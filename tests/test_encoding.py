"""Tests of rank-order (latency) coding (bench/data/encoding.py)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from snntorch import spikegen

from bench.data.mnist import MNIST, load_split
from bench.data.encoding import (
    ENCODINGS, NEVER, Encoding, LatencyCoded, encode, get_encoding, register_encoding, spike_index, step_table,
)
from bench.core.task_contract import Sequences
from test_datasets_mnist import REAL, needs_real_mnist

ALL_BYTES = np.arange(256, dtype=np.uint8)


def random_images(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 784)`` uint8 with about half the pixels zero, like MNIST's background."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
    return np.where(rng.random((n, 784)) < 0.5, 0, pixels).astype(np.uint8)


def dense_reference(steps: np.ndarray, n_steps: int) -> torch.Tensor:
    """Dense ``(n, T, features)`` built pixel by pixel, independently of :class:`LatencyCoded`."""
    n, features = steps.shape
    dense = torch.zeros(n, n_steps, features)
    for row in range(n):
        for feature in range(features):
            if steps[row, feature] != NEVER:
                dense[row, steps[row, feature], feature] = 1.0
    return dense


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("level, expected", [
    (Fraction(1), 0), (Fraction(2), 0), (Fraction(96, 100), 0), (Fraction(95, 100), 1),
    (Fraction(1, 2), 10), (Fraction(1, 20), 19), (Fraction(1, 10**9), 19), (Fraction(0), NEVER),
    (Fraction(-1, 10), NEVER),
])
def test_spike_index_buckets_levels_into_equal_bins(level, expected):
    assert spike_index(level, 20) == expected


@pytest.mark.parametrize("name", sorted(ENCODINGS))
@pytest.mark.parametrize("n_steps", [1, 2, 7, 20, 255])
def test_brighter_bytes_never_spike_later(name, n_steps):
    table = step_table(get_encoding(name), n_steps).astype(int)
    order = np.where(table == NEVER, n_steps, table)
    assert np.all(np.diff(order) <= 0), "spike index must not increase with brightness"
    assert order[255] == 0 and set(np.unique(table)) <= set(range(n_steps)) | {NEVER}


@pytest.mark.parametrize("n_steps", [1, 2, 7, 20, 255])
def test_authors_bins_are_equal_width_intervals_of_raw_intensity(n_steps):
    table = step_table(get_encoding("authors"), n_steps)
    for k in range(1, 256):
        index = int(table[k])
        assert 1 - Fraction(index + 1, n_steps) < Fraction(k, 255) <= 1 - Fraction(index, n_steps)
    assert table[0] == NEVER


def test_authors_first_step_is_intensity_above_095_and_only_zero_is_silent():
    table = step_table(get_encoding("authors"), 20)
    assert np.flatnonzero(table == 0).tolist() == list(range(243, 256))
    assert np.flatnonzero(table == NEVER).tolist() == [0]
    assert np.flatnonzero(table == 19).tolist() == list(range(1, 13))


def test_normalized_first_step_and_silent_bytes():
    table = step_table(get_encoding("normalized"), 20)
    assert np.flatnonzero(table == 0).tolist() == list(range(108, 256))
    assert np.flatnonzero(table == NEVER).tolist() == list(range(0, 34))
    normalized = (ALL_BYTES / 255 - 0.1307) / 0.3081
    assert np.all(table[normalized >= 1] == 0) and np.all(table[normalized <= 0] == NEVER)
    inside = (normalized > 0) & (normalized < 1)
    assert np.array_equal(table[inside], np.floor(20 * (1 - normalized[inside])).astype(np.uint8))


@pytest.mark.parametrize("name, expected", [("authors", 13), ("normalized", 148)])
def test_first_step_counts_on_a_grid_of_every_byte(name, expected):
    steps = encode(ALL_BYTES.reshape(1, 256), name, 20)
    assert int((steps == 0).sum()) == expected


def test_first_step_counts_on_an_intensity_grid():
    centres = np.round(255 * (np.arange(20) + 0.5) / 20).astype(np.uint8)  # one byte near each bin's centre
    grid = np.concatenate([[0], centres, [255]]).astype(np.uint8)
    steps = encode(grid.reshape(1, -1), "authors", 20)[0]
    assert steps.tolist() == [NEVER] + list(range(19, -1, -1)) + [0]
    assert grid[steps == 0].tolist() == [249, 255]
    assert int((encode(grid.reshape(1, -1), "normalized", 20) == 0).sum()) == 13  # 108 and up


def test_encode_keeps_shape_and_accepts_an_encoding_object():
    images = random_images(5).reshape(5, 28, 28)
    steps = encode(images, get_encoding("authors"), 20)
    assert steps.shape == (5, 28, 28) and steps.dtype == np.uint8
    assert np.array_equal(steps, encode(images, "authors", 20))
    assert np.array_equal(steps, step_table(get_encoding("authors"), 20)[images])


def test_encode_errors():
    with pytest.raises(ValueError, match=r"unknown encoding 'latency'; known encodings: authors, "
                                         r"authors-notebook, normalized, normalized-notebook"):
        encode(ALL_BYTES.reshape(1, -1), "latency")
    with pytest.raises(ValueError, match=r"images must be uint8 pixel bytes, got float32"):
        encode(np.zeros((1, 4), dtype=np.float32), "authors")
    for steps in (0, 256, True, 2.0):
        with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 255\]"):
            encode(ALL_BYTES.reshape(1, -1), "authors", steps)


def test_register_encoding_rejects_a_duplicate_name():
    with pytest.raises(ValueError, match="encoding 'authors' is registered twice"):
        register_encoding(Encoding("authors", "again", lambda k: Fraction(k, 255)))


# ----------------------------------------------------------------------------- snnTorch's latency code


def snntorch_steps(x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Spike index per element of ``x`` (``n_steps`` where none) from ``snntorch.spikegen.latency``
    with a linear code over T steps: spike time tau (1 - x), tau = T, rounded; zeros clipped."""
    spikes = spikegen.latency(x, num_steps=n_steps, tau=n_steps, linear=True, normalize=False,
                              clip=True, threshold=0.5 / 255, bypass=True)
    assert torch.all(spikes.sum(0) <= 1)
    return torch.where(spikes.sum(0) > 0, spikes.argmax(0), torch.tensor(n_steps))


def test_snntorch_linear_latency_is_the_same_bins_rounded_instead_of_floored():
    """snnTorch (linear=True, tau=T, clip=True) spikes at round(T(1 - x)), this code at floor(T(1 - x)):
    both cut [0, 1] into the same T equal-width bins; they coincide exactly on the brighter half of
    each bin, and on the dimmer half snnTorch is one step later (or silent past the last step)."""
    n_steps = 20
    ours = step_table(get_encoding("authors"), n_steps).astype(int)
    ours = np.where(ours == NEVER, n_steps, ours)
    theirs = snntorch_steps(torch.tensor(ALL_BYTES / 255, dtype=torch.float32), n_steps).numpy()
    brighter_half = np.array([(n_steps * (1 - Fraction(k, 255))) % 1 < Fraction(1, 2) for k in range(256)])
    brighter_half[0] = True  # zero: silent in both
    assert np.array_equal(theirs[brighter_half], ours[brighter_half])
    assert np.array_equal(theirs[~brighter_half], np.minimum(ours[~brighter_half] + 1, n_steps))


def test_dense_view_equals_snntorch_where_the_codes_coincide():
    n_steps = 20
    agree = [k for k in range(256) if (n_steps * (1 - Fraction(k, 255))) % 1 < Fraction(1, 2)]
    rng = np.random.default_rng(3)
    images = rng.choice(np.array(agree, dtype=np.uint8), size=(6, 784))
    view = LatencyCoded(torch.from_numpy(encode(images, "authors", n_steps)), n_steps)
    theirs = spikegen.latency(torch.from_numpy(images / 255).float(), num_steps=n_steps, tau=n_steps,
                              linear=True, clip=True, threshold=0.5 / 255, bypass=True)
    assert torch.equal(view[:], theirs.permute(1, 0, 2))


# ----------------------------------------------------------------------------- the lazy dense view


def test_latency_coded_is_a_sequences_with_the_right_shape_and_dtype():
    steps = torch.from_numpy(encode(random_images(7), "authors", 20))
    view = LatencyCoded(steps, 20)
    assert isinstance(view, Sequences)
    assert view.shape == torch.Size((7, 20, 784)) and len(view) == 7
    rows = view[torch.tensor([4, 1])]
    assert rows.dtype == torch.float32 and rows.shape == (2, 20, 784)
    assert view[2:5].shape == (3, 20, 784)
    assert view[3].shape == (20, 784)
    assert view[torch.tensor([True, False] * 3 + [True])].shape == (4, 20, 784)
    assert repr(view) == "LatencyCoded(n=7, steps=20, features=784)"


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_view_rows_equal_a_full_materialisation(name):
    images = random_images(9, seed=5)
    steps = encode(images, name, 20)
    full = dense_reference(steps, 20)
    view = LatencyCoded(torch.from_numpy(steps), 20)
    assert torch.equal(view[:], full)
    index = torch.tensor([8, 0, 3, 3, 5])
    assert torch.equal(view[index], full[index])
    assert torch.equal(view[6], full[6])


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_each_pixel_spikes_at_most_once_and_brighter_never_later(name):
    images = random_images(20, seed=2)
    dense = LatencyCoded(torch.from_numpy(encode(images, name, 20)), 20)[:]
    per_pixel = dense.sum(dim=1)
    assert torch.all((per_pixel == 0) | (per_pixel == 1))
    spike_time = torch.where(per_pixel > 0, dense.argmax(dim=1), torch.tensor(20)).numpy()
    for row in range(len(images)):
        order = np.argsort(images[row], kind="stable")
        assert np.all(np.diff(spike_time[row][order]) <= 0)
    if name == "authors":
        assert torch.equal(per_pixel == 0, torch.from_numpy(images == 0))


def test_never_sentinel_gives_an_all_zero_time_line_and_bad_indices_are_rejected():
    steps = torch.tensor([[0, NEVER, 19], [NEVER, NEVER, 5]], dtype=torch.uint8)
    dense = LatencyCoded(steps, 20)[:]
    assert torch.equal(dense.sum(dim=1), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert dense[0, 0, 0] == 1 and dense[0, 19, 2] == 1 and dense[1, 5, 2] == 1
    with pytest.raises(ValueError, match=r"spike indices must lie in \[0, 20\) or be NEVER \(255\), got 20"):
        LatencyCoded(torch.tensor([[20]], dtype=torch.uint8), 20)
    with pytest.raises(ValueError, match=r"must be a \(n, features\) uint8 tensor, got torch.int64 \(3,\)"):
        LatencyCoded(torch.zeros(3, dtype=torch.long), 20)
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 255\], got 0"):
        LatencyCoded(torch.zeros(1, 3, dtype=torch.uint8), 0)


# ----------------------------------------------------------------------------- the real MNIST files


@needs_real_mnist
def test_first_step_pixel_counts_on_real_mnist():
    images, _labels = load_split(MNIST, "train", REAL)
    flat = images[:1000].reshape(1000, -1)
    assert int((encode(flat, "authors", 20) == 0).sum()) == 59860  # 59.86 pixels per image
    assert int((encode(flat, "normalized", 20) == 0).sum()) == 107338  # 107.34 pixels per image
