"""Rank-order (latency) coding of static images into T time steps.

Every pixel spikes at most once; brighter pixels spike no later than dimmer
ones. A variant (see :data:`ENCODINGS`) fixes the *level* v of each pixel
byte k = 0..255; the spike step is then the same for every variant:

    index = floor(T * (1 - v))     (0-based; step index + 1 = steps read)
    index < 0   (v > 1)   ->  step index 0, the first step
    index >= T  (v <= 0)  ->  no spike (:data:`NEVER`)

so the levels (0, 1] are cut into T equal-width bins, brightest first:
index i holds the levels in (1 - (i+1)/T, 1 - i/T]. The rule is evaluated
exactly, in rational arithmetic, once per byte value, and images are encoded
by looking their bytes up in that 256-entry table (bit-exact, no float
boundary effects).

Variants, for T = 20 (bins 0.05 wide):

- ``authors``: v = k/255, the rank-coding authors' notebook encoding
  (ToTensor intensities bucketed into T equal-width bins, brightest first).
  The first step holds exactly the bytes k >= 243 (v > 0.95; 242/255 =
  0.949 is in the second); byte 0 never spikes, every other byte does (byte
  1..12, v <= 0.05, spikes at the last step).
- ``normalized``: v = (k/255 - 0.1307) / 0.3081, the same bucketing after
  ``Normalize((0.1307,), (0.3081,))`` as in the notebook's commented-out
  line. Normalised values span [-0.424, 2.821]; every v >= 1 (k >= 112,
  intensity >= 0.4388) and the bin (0.95, 1) together put all bytes
  k >= 108 (intensity > 0.4234) into the first step; bytes k <= 33
  (intensity <= 0.1307, v <= 0, the background) never spike.

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

NEVER = 255
"""Spike index of a pixel that never spikes."""

MAX_STEPS = NEVER
"""Largest T: spike indices 0..T-1 must stay below :data:`NEVER`."""

ENCODE_CHUNK = 4096
"""Images per table lookup in :func:`encode` (bounds the index temporaries)."""


@dataclass(frozen=True)
class Encoding:
    """A named rank-order code: ``level`` maps a pixel byte 0..255 to the exact value that is bucketed."""

    name: str
    description: str
    level: Callable[[int], Fraction]


ENCODINGS: dict[str, Encoding] = {}


def register_encoding(encoding: Encoding) -> Encoding:
    """Add ``encoding`` to :data:`ENCODINGS` under its name."""
    if encoding.name in ENCODINGS:
        raise ValueError(f"encoding {encoding.name!r} is registered twice")
    ENCODINGS[encoding.name] = encoding
    return encoding


def get_encoding(name: str) -> Encoding:
    """The encoding registered as ``name``; the error lists the known ones."""
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; known encodings: {', '.join(sorted(ENCODINGS))}") from None


MNIST_MEAN = Fraction("0.1307")
MNIST_STD = Fraction("0.3081")

register_encoding(Encoding(
    "authors", "intensity k/255 in T equal-width bins, brightest first; 0 never spikes",
    lambda k: Fraction(k, 255)))
register_encoding(Encoding(
    "normalized", "(k/255 - 0.1307)/0.3081 in T equal-width bins of (0, 1]; >= 1 first, <= 0 never",
    lambda k: (Fraction(k, 255) - MNIST_MEAN) / MNIST_STD))


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
