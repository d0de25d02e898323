"""Append-only JSON-lines files: one ``append`` adds one line without rewriting the file.

The rule for an interrupted write. A line counts once it ends with its newline: a line is written
with one ``write`` of its text and newline, then flushed to disk (``fsync``), so a process killed
mid-write can leave at most a *torn tail*, a last line without its newline. :func:`read_lines`
ignores such a tail when it is not valid JSON (a write cut short; no finished line is lost) and
yields it when it is (a file edited by hand without a final newline). :func:`append_line` first
makes the file end with a newline: it cuts a torn tail off, or adds the missing newline after a
whole one, then writes its line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


def _whole(text: bytes) -> bool:
    """Whether ``text`` (a last line without its newline) is one complete JSON value."""
    try:
        json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def _fsync_folder(folder: Path) -> None:
    """Make a file's creation in ``folder`` durable; not every platform can open a folder."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` (one JSON text ending in a newline) to ``path``, created if missing, and flush
    it to disk; a torn tail is cut off first (see the module docstring)."""
    if not line.endswith("\n") or "\n" in line[:-1]:
        raise ValueError("append_line takes exactly one line ending in a newline")
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(max(0, size - 1))
            if handle.read(1) != b"\n":
                handle.seek(0)
                content = handle.read()
                start = content.rfind(b"\n") + 1
                if _whole(content[start:]):
                    handle.write(b"\n")
                else:
                    handle.truncate(start)
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_folder(path.parent)


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line of ``path``, a torn tail left out (see the
    module docstring)."""
    with open(path, "rb") as handle:
        content = handle.read()
    lines = content.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if tail.strip() and _whole(tail):
        lines.append(tail)
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8")
        if text.strip():
            yield number, text
