"""Verified downloads: a file comes from the first mirror whose copy passes a check, and lands atomically.

Each attempt streams the URL into a temporary file beside the target (same
folder, so same file system), runs the caller's check on it, and only then
renames it over the target with :func:`os.replace`, which is atomic: the
target is either absent, the old file, or a complete, verified new one,
never a partial or unverified download. A failed attempt leaves nothing
behind and the next mirror is tried.
"""

from __future__ import annotations

import http.client
import os
import secrets
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

Progress = Callable[[str], None]

CHUNK_BYTES = 1 << 18
USER_AGENT = "rcbench"


class DownloadError(OSError):
    """No mirror gave a copy that passed the check; the message lists every attempt and why it failed."""


def print_progress(message: str) -> None:
    """Default progress sink: one line on standard error."""
    print(message, file=sys.stderr, flush=True)


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def copy_url(url: str, destination: BinaryIO, progress: Progress, timeout: float) -> int:
    """Stream the body of ``url`` into ``destination``; report every tenth of the way.

    Returns:
        The number of bytes written.

    Raises:
        OSError: the request failed (``urllib.error.URLError`` and ``HTTPError`` are ``OSError``).
        http.client.HTTPException: the connection broke mid-body (e.g. ``IncompleteRead``).
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        progress(f"downloading {url}" + (f" ({_megabytes(total)})" if total else ""))
        written, reported = 0, 0
        while chunk := response.read(CHUNK_BYTES):
            destination.write(chunk)
            written += len(chunk)
            tenth = 10 * written // total if total else 0
            if tenth > reported and tenth < 10:
                progress(f"  {10 * tenth}% ({_megabytes(written)} of {_megabytes(total)})")
                reported = tenth
    return written


def download_verified(
    urls: Sequence[str],
    target: Path,
    check: Callable[[Path], None],
    progress: Progress = print_progress,
    timeout: float = 60.0,
) -> str:
    """Download ``target`` from the first of ``urls`` whose copy passes ``check``.

    Args:
        urls: the file's URLs, one per mirror, in the order to try them.
        target: where the verified file goes; its folder is created if needed.
        check: called with the path of a finished download; raises
            ``ValueError`` (or ``OSError``) if the content is wrong.
        progress: receives progress lines.
        timeout: seconds to wait for a connection or a read.

    Returns:
        The URL the file came from.

    Raises:
        DownloadError: every URL failed (the message lists each error); no
            file was written at ``target`` and no temporary file is left.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            with open(temporary, "xb") as stream:
                size = copy_url(url, stream, progress, timeout)
            check(temporary)
            os.replace(temporary, target)
            progress(f"  verified {_megabytes(size)}; saved {target}")
            return url
        except (OSError, ValueError, http.client.HTTPException) as error:
            failures.append(f"{url}: {error}")
            progress(f"  failed: {error}")
        finally:
            temporary.unlink(missing_ok=True)
    raise DownloadError(f"could not download {target.name}; every mirror failed:\n  " + "\n  ".join(failures))
