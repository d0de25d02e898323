"""Rank-order (latency) coding of static images into T time steps.

Every pixel spikes at most once; brighter pixels spike no later than dimmer
ones. A variant (see :data:`ENCODINGS`) fixes the *level* v of each pixel
byte k = 0..255; the spike step is then the same for every variant (except
the two ``*-notebook`` ones, see below):

    index = floor(T * (1 - v))     (0-based; step index + 1 = steps read)
    index < 0   (v > 1)   ->  step index 0, the first step
    index >= T  (v <= 0)  ->  no spike (:data:`NEVER`)

so the levels (0, 1] are cut into T equal-width bins, brightest first:
index i holds the levels in (1 - (i+1)/T, 1 - i/T]. The rule is evaluated
exactly, in rational arithmetic, once per byte value, and images are encoded
by looking their bytes up in that 256-entry table (bit-exact, no float
boundary effects).

Variants, for T = 20 (bins 0.05 wide):

- ``authors``: v = k/255, the rank-coding authors' notebook encoding in
  exact arithmetic (ToTensor intensities bucketed into T equal-width bins,
  brightest first), without its background spikes (see ``authors-notebook``).
  The first step holds exactly the bytes k >= 243 (v > 0.95; 242/255 =
  0.949 is in the second); byte 0 never spikes, every other byte does (byte
  1..12, v <= 0.05, spikes at the last step).
- ``normalized``: v = (k/255 - 0.1307) / 0.3081, the same bucketing after
  ``Normalize((0.1307,), (0.3081,))`` as in the notebook's commented-out
  line. Normalised values span [-0.424, 2.821]; every v >= 1 (k >= 112,
  intensity >= 0.4388) and the bin (0.95, 1) together put all bytes
  k >= 108 (intensity > 0.4234) into the first step; bytes k <= 33
  (intensity <= 0.1307, v <= 0, the background) never spike.

The two encodings above bucket the exact level; two more reproduce the
authors' MNIST notebook (``rank_coding_mnist.ipynb``, its ``to_temporal``)
value for value, float32 arithmetic and all, and are named as such:

- ``authors-notebook``: the notebook's own code. Intensities k/255 are
  float32 (``ToTensor``), the bucket edges are ``1 - i/T`` for i = 0..T-1 in
  float32 (the notebook's ``1 - torch.arange(0, 1, 0.05)``), a pixel's bucket
  is the number of edges strictly below it, and the buckets are flipped into
  steps, brightest first. At T = 20 it differs from ``authors`` in three
  bytes: byte 0 (the background: 80.9% of MNIST's training pixels, 80.7% of
  its test pixels) spikes at the *last* step instead of never, and bytes 51
  and 102 (intensities 0.2 and 0.4, exactly on a bin edge) spike one step
  earlier (15 and 11 instead of 16 and 12: their float32 intensity lies above
  the float32 edges ``1 - 0.8`` and ``1 - 0.6``). Bytes 1..12 and every other
  byte are the same. How the float32 ``arange`` rounds does not matter at
  T = 20 (rounding i * 0.05 once, multiplying in float32 and torch's kernel
  give the same table); at other T the edges are i * (1/T) rounded once to
  float32 (the notebook's construction is not even T steps for every T:
  ``arange(0, 1, 1/T)`` has T + 1 elements for T = 49).
- ``normalized-notebook``: the notebook's commented-out
  ``Normalize((0.1307,), (0.3081,))`` in front of the same bucketing, with
  float32 arithmetic as torchvision's. As written it cannot run: normalised
  values above 1 (bytes k >= 112) get a 21st bucket, so the notebook's
  ``.view(B, 784, 20)`` fails. Here that top bucket is merged into the first
  step (values above the edge 0.95 spike at step 1), which gives T steps;
  everything at or below the edge 1/T, negatives (the background) included,
  spikes at the last step. At T = 20 the two agree on every byte the
  ``normalized`` encoding spikes (k >= 34); bytes k <= 33, silent in
  ``normalized``, spike at the last step here.

Relation to snnTorch: ``spikegen.latency(x, num_steps=T, tau=T, linear=True,
clip=True)`` spikes at round(T (1 - x)) (dropping spikes past step T), the
same bins shifted by half a bin. It equals ``authors`` exactly for every
intensity in the brighter half of its bin and is one step later on the
dimmer half; no snnTorch setting floors (its ``first_spike_time`` cannot be
negative), so that is the closest mapping.

An encoded set is stored compactly as one ``uint8`` spike index per pixel
(:func:`encode`) and read through :class:`LatencyCoded`, which materialises
dense one-hot-in-time rows only when indexed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from rc.registry import Registry

NEVER = 255
"""Spike index of a pixel that never spikes."""

MAX_STEPS = NEVER
"""Largest T: spike indices 0..T-1 must stay below :data:`NEVER`."""

ENCODE_CHUNK = 4096
"""Images per table lookup in :func:`encode` (bounds the index temporaries)."""


@dataclass(frozen=True)
class Encoding:
    """A named rank-order code: ``level`` maps a pixel byte 0..255 to the exact value that is bucketed.

    ``table``, when given, replaces the exact bucketing: it maps T to the ``(256,)``
    spike-index table itself (the notebook encodings, which bucket in float32).
    """

    name: str
    description: str
    level: Callable[[int], Fraction]
    table: Callable[[int], np.ndarray] | None = None


ENCODINGS: Registry[Encoding] = Registry("encoding")
"""Every rank-order code by name; :func:`register_encoding` adds one."""


def register_encoding(encoding: Encoding) -> Encoding:
    """Add ``encoding`` to :data:`ENCODINGS` under its name (a second one of that name raises)."""
    return ENCODINGS.register(encoding)


def get_encoding(name: str) -> Encoding:
    """The encoding registered as ``name``; the error lists the known ones."""
    return ENCODINGS.get(name)


MNIST_MEAN = Fraction("0.1307")
MNIST_STD = Fraction("0.3081")

register_encoding(Encoding(
    "authors", "intensity k/255 in T equal-width bins, brightest first; 0 never spikes",
    lambda k: Fraction(k, 255)))
register_encoding(Encoding(
    "normalized", "(k/255 - 0.1307)/0.3081 in T equal-width bins of (0, 1]; >= 1 first, <= 0 never",
    lambda k: (Fraction(k, 255) - MNIST_MEAN) / MNIST_STD))
register_encoding(Encoding(
    "authors-notebook",
    "the authors' MNIST notebook's to_temporal, value for value: float32 k/255 and edges; 0 spikes at the last step",
    lambda k: Fraction(float(float32_intensities()[k])),
    lambda n_steps: notebook_steps(float32_intensities(), n_steps)))
register_encoding(Encoding(
    "normalized-notebook",
    "the notebook's commented-out Normalize before its bucketing (float32), the bucket above 1 merged into "
    "the first step; <= 1/T (background included) spikes at the last step",
    lambda k: Fraction(float(float32_normalized()[k])),
    lambda n_steps: notebook_steps(float32_normalized(), n_steps)))


def float32_intensities() -> np.ndarray:
    """``(256,)`` float32: byte k as ``ToTensor`` gives it, k / 255 divided in float32."""
    return np.arange(256, dtype=np.float32) / np.float32(255)


def float32_normalized() -> np.ndarray:
    """``(256,)`` float32: ``Normalize((0.1307,), (0.3081,))`` of :func:`float32_intensities`, in float32."""
    return (float32_intensities() - np.float32(0.1307)) / np.float32(0.3081)


def notebook_bucket_edges(n_steps: int) -> np.ndarray:
    """``(T,)`` float32, ascending: the notebook's bucket edges ``1 - i/T``, i = 0..T-1.

    ``i/T`` is ``i * (1/T)`` rounded once to float32 (an ``arange`` of step ``1/T``);
    the subtraction from 1 is in float32.
    """
    offsets = (np.arange(n_steps, dtype=np.float64) * (1.0 / n_steps)).astype(np.float32)
    return np.sort(np.float32(1) - offsets)


def notebook_steps(values: np.ndarray, n_steps: int) -> np.ndarray:
    """``uint8`` spike indices of float32 ``values`` under the notebook's bucketing into T steps.

    A value's bucket is the number of edges strictly below it (``torch.bucketize``
    with ``right=False``); bucket b spikes at step T - 1 - b, and the buckets above the
    top edge 1 (values > 1) are merged into step 0. Every value spikes: at or below
    the lowest edge 1/T (zero and negatives included) at the last step.
    """
    check_steps(n_steps)
    bucket = np.searchsorted(notebook_bucket_edges(n_steps), values, side="left")
    return (n_steps - 1 - np.minimum(bucket, n_steps - 1)).astype(np.uint8)


def check_steps(n_steps: int) -> None:
    """Raise ``ValueError`` unless 1 <= ``n_steps`` <= :data:`MAX_STEPS`."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or not 1 <= n_steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in [1, {MAX_STEPS}], got {n_steps!r}")


def spike_index(level: Fraction, n_steps: int) -> int:
    """0-based spike step of a pixel at ``level``: floor(T(1 - level)), 0 if negative, :data:`NEVER` if >= T."""
    index = math.floor(n_steps * (1 - level))
    if index >= n_steps:
        return NEVER
    return max(index, 0)


def step_table(encoding: Encoding, n_steps: int) -> np.ndarray:
    """``(256,)`` uint8: the spike index of each pixel byte under ``encoding`` with ``n_steps`` steps."""
    check_steps(n_steps)
    if encoding.table is not None:
        table = np.asarray(encoding.table(n_steps))
        if table.shape != (256,) or table.dtype != np.uint8 or not np.all((table < n_steps) | (table == NEVER)):
            raise ValueError(f"encoding {encoding.name!r}: its table for {n_steps} steps must be (256,) uint8 "
                             f"spike indices in [0, {n_steps}) or NEVER, got {table.dtype} {table.shape}")
        return table
    return np.array([spike_index(encoding.level(k), n_steps) for k in range(256)], dtype=np.uint8)


def encode(images: np.ndarray, encoding: Encoding | str, n_steps: int = 20) -> np.ndarray:
    """Spike indices of ``images``.

    Args:
        images: ``uint8`` pixel bytes of any shape, e.g. ``(n, 784)`` or ``(n, 28, 28)``.
        encoding: an :class:`Encoding` or its registered name.
        n_steps: T, the number of time steps.

    Returns:
        ``uint8`` of the same shape: each pixel's 0-based spike step, or :data:`NEVER`.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixel bytes, got {images.dtype}")
    table = step_table(get_encoding(encoding) if isinstance(encoding, str) else encoding, n_steps)
    steps = np.empty_like(images)
    for start in range(0, len(images), ENCODE_CHUNK):
        steps[start:start + ENCODE_CHUNK] = table[images[start:start + ENCODE_CHUNK]]
    return steps


class LatencyCoded:
    """A lazily materialised latency-coded set: a :class:`bench.core.task_contract.Sequences`.

    Holds one spike index per pixel, ``(n, features)`` ``uint8`` (1 byte per
    pixel instead of T float32 values: 47 MB instead of 3.8 GB for 60,000
    MNIST images at T = 20). Indexing returns the rows asked for as dense
    float32 ``(k, T, features)`` tensors: 1.0 at ``[row, index, feature]``
    for each pixel's spike index, 0.0 elsewhere, and an all-zero time line
    for pixels that never spike.
    """

    def __init__(self, steps: Tensor, n_steps: int) -> None:
        """
        Args:
            steps: ``(n, features)`` ``uint8`` spike indices in [0, n_steps) or :data:`NEVER`.
            n_steps: T.
        """
        check_steps(n_steps)
        if steps.dim() != 2 or steps.dtype != torch.uint8:
            raise ValueError(f"steps must be a (n, features) uint8 tensor, got {steps.dtype} {tuple(steps.shape)}")
        invalid = (steps >= n_steps) & (steps != NEVER)
        if invalid.any():
            raise ValueError(f"spike indices must lie in [0, {n_steps}) or be NEVER ({NEVER}), "
                             f"got {int(steps[invalid][0])}")
        self.steps = steps
        self.n_steps = n_steps
        self._times = torch.arange(n_steps, dtype=torch.uint8).unsqueeze(-1)

    @property
    def shape(self) -> torch.Size:
        """``(n, T, features)``."""
        return torch.Size((self.steps.shape[0], self.n_steps, self.steps.shape[1]))

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def __getitem__(self, index: Tensor | slice | int) -> Tensor:
        """Rows ``index`` as dense float32 ``(k, T, features)`` (``(T, features)`` for an int)."""
        rows = self.steps[index]
        return (rows.unsqueeze(-2) == self._times).to(torch.float32)

    def __repr__(self) -> str:
        return f"LatencyCoded(n={len(self)}, steps={self.n_steps}, features={self.steps.shape[1]})"
