"""The options every contender with a per-frame front end shares, and their one check."""

from __future__ import annotations

ENCODERS = ("none", "conv")
"""Front ends: none (each step's features read as they are) or a convolutional encoder per frame."""


def check_front_end(dropout: float, encoder: str, conv_channels: int) -> None:
    """Raise ``ValueError`` naming the first of ``dropout`` (in [0, 1)), ``encoder`` (one of
    :data:`ENCODERS`) and ``conv_channels`` (a positive integer) that is out of range."""
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    if isinstance(conv_channels, bool) or not isinstance(conv_channels, int) or conv_channels < 1:
        raise ValueError(f"conv_channels must be a positive integer, got {conv_channels!r}")
