"""IDX files (the MNIST format): reading, checking and hashing.

An IDX file is a header and a payload, all big-endian:

- bytes 0-1: zero; byte 2: the element type (only 0x08, unsigned byte, is
  read here: MNIST and Fashion-MNIST use nothing else); byte 3: the number
  of dimensions d;
- d unsigned 32-bit sizes;
- the payload: prod(sizes) elements in C order.

Files may be stored gzip-compressed or raw. Which one is told by the gzip
magic bytes (1f 8b), never by the file name: an IDX file starts with two zero
bytes, so the two cannot be confused. Hashes are taken over the uncompressed
bytes, because the same IDX content is shipped with different gzip headers
(the official mirrors' ``.gz`` files differ from re-compressed copies).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
UNSIGNED_BYTE = 0x08


class IdxError(ValueError):
    """A file is not a readable IDX file (corrupt, truncated or of an unsupported type); names the file."""


def read_uncompressed(path: Path) -> bytes:
    """The file's uncompressed bytes: gunzipped when it starts with the gzip magic, else as stored.

    Raises:
        IdxError: a truncated or corrupt gzip stream (bad data, bad CRC or length).
    """
    data = Path(path).read_bytes()
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise IdxError(f"{path} is not a valid gzip file (truncated or corrupt: {error})") from None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (pass the uncompressed bytes of an IDX file)."""
    return hashlib.sha256(data).hexdigest()


def parse_idx(data: bytes, source: Path | str) -> np.ndarray:
    """The array held by the uncompressed IDX bytes ``data``.

    Args:
        data: an IDX file's uncompressed bytes.
        source: the file the bytes came from, for error messages.

    Returns:
        A read-only ``uint8`` array of the header's shape (a view of ``data``).

    Raises:
        IdxError: a wrong magic number, an unsupported element type, no
            dimensions, or a payload whose length does not match the header.
    """
    if len(data) < 4:
        raise IdxError(f"{source}: too short for an IDX header ({len(data)} bytes)")
    zero, kind, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise IdxError(f"{source}: not an IDX file (magic number {data[:4].hex()} does not start with 0000)")
    if kind != UNSIGNED_BYTE:
        raise IdxError(f"{source}: unsupported IDX element type 0x{kind:02x} (only unsigned bytes, 0x08, are read)")
    if ndim == 0:
        raise IdxError(f"{source}: IDX header declares no dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{source}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape)
    if len(data) != expected:
        raise IdxError(f"{source}: IDX payload does not match its header: shape {shape} needs {expected} bytes, "
                       f"the file has {len(data)} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
