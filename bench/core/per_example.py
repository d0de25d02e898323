"""Per-example arrays of a record, kept in a side file beside the records file.

A record's ``per_example`` field holds each test example's outcome (``correct``: 0/1,
``decision_step``: steps read, ``test_size`` of each) and ``labels_sha256``. Inline, as lists in
the JSON line, that is about 60 KB a record at 10,000 test examples. New records keep the arrays in
``per_example/<digest>.npz`` beside ``results.jsonl`` (``correct`` as uint8, ``decision_step`` as
int32, ``numpy.savez_compressed``) and the JSON line holds a reference::

    "per_example": {"file": "per_example/<digest>.npz", "sha256": "<digest>", "labels_sha256": "..."}

``<digest>`` is the SHA-256 of the two arrays' bytes (:func:`arrays_digest`): a file is named by its
content, so two records with the same outcomes share one file and a file is never overwritten with
other content. The side file is written (to a temporary file, flushed, renamed) before the JSON line
that refers to it, so a finished record's arrays are always there; a run killed in between leaves
at most a file no record names, which is harmless.

Reading: :class:`PerExample` stands for the field. It is a read-only mapping with the keys of the
inline form, so ``record["per_example"]["correct"]`` works for both; the side file is loaded, and
checked against its digest and the record's metrics, on the first access to an array.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.record_schema import RecordError

PER_EXAMPLE_DIR = "per_example"
"""The folder, beside the records file, of the side files."""

ARRAYS = ("correct", "decision_step")
"""The per-example arrays, in the order :func:`arrays_digest` hashes them."""

REFERENCE_KEYS = frozenset({"file", "sha256", "labels_sha256"})
"""The keys of a side-file reference (the JSON line's ``per_example``)."""

_FILE = re.compile(rf"^{PER_EXAMPLE_DIR}/([0-9a-f]{{64}})\.npz$")


def arrays_digest(correct: np.ndarray, decision_step: np.ndarray) -> str:
    """SHA-256 (hex) of ``correct`` as uint8 bytes followed by ``decision_step`` as little-endian int32."""
    payload = np.ascontiguousarray(correct, dtype=np.uint8).tobytes()
    payload += np.ascontiguousarray(decision_step, dtype="<i4").tobytes()
    return hashlib.sha256(payload).hexdigest()


def is_reference(value: Any) -> bool:
    """Whether ``value`` (a parsed ``per_example`` field) is a side-file reference, not the inline form."""
    return isinstance(value, dict) and "file" in value


def store(folder: Path, value: Mapping[str, Any]) -> dict[str, str]:
    """Write the arrays of the inline ``value`` to their side file under ``folder`` (the records
    file's folder) and give the reference the JSON line holds instead."""
    correct = np.asarray(value["correct"], dtype=np.uint8)
    decision_step = np.asarray(value["decision_step"], dtype="<i4")
    digest = arrays_digest(correct, decision_step)
    relative = f"{PER_EXAMPLE_DIR}/{digest}.npz"
    target = folder / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                np.savez_compressed(handle, correct=correct, decision_step=decision_step)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return {"file": relative, "sha256": digest, "labels_sha256": str(value["labels_sha256"])}


def check_reference(value: dict[str, Any], folder: Path) -> str | None:
    """What is wrong with the reference ``value`` read from a records file in ``folder``, or None.
    Cheap: the names and the file's presence; the content is checked when loaded."""
    if set(value) != REFERENCE_KEYS:
        return f"a side-file reference must have exactly {', '.join(sorted(REFERENCE_KEYS))}"
    match = _FILE.match(value["file"]) if isinstance(value["file"], str) else None
    if match is None or match.group(1) != value["sha256"]:
        return f"file must be {PER_EXAMPLE_DIR}/<sha256>.npz of its sha256, got {value['file']!r}"
    if not (folder / value["file"]).is_file():
        return f"its side file {folder / value['file']} is missing"
    return None


class PerExample(Mapping[str, Any]):
    """A record's ``per_example`` kept in a side file: ``correct`` and ``decision_step`` (lists of
    ints, as inline) load on first access; ``labels_sha256`` comes from the reference.

    Args:
        folder: the records file's folder.
        reference: the JSON line's ``per_example`` (checked by :func:`check_reference`).
        check: called with the loaded inline form; raises if it does not fit the record (lengths,
            ranges, means against the record's metrics).
    """

    def __init__(self, folder: Path, reference: dict[str, str], check: Callable[[dict[str, Any]], None]) -> None:
        self.path = folder / reference["file"]
        self.reference = dict(reference)
        self._check = check
        self._arrays: dict[str, list[int]] | None = None

    def _load(self) -> dict[str, list[int]]:
        if self._arrays is None:
            with np.load(self.path, allow_pickle=False) as data:
                if sorted(data.files) != sorted(ARRAYS):
                    raise RecordError(f"{self.path}: holds {', '.join(data.files)}, not {', '.join(ARRAYS)}")
                correct, decision_step = data["correct"], data["decision_step"]
            if arrays_digest(correct, decision_step) != self.reference["sha256"]:
                raise RecordError(f"{self.path}: its arrays do not match their sha256 {self.reference['sha256']}")
            arrays = {"correct": correct.astype(int).tolist(), "decision_step": decision_step.astype(int).tolist()}
            self._check({**arrays, "labels_sha256": self.reference["labels_sha256"]})
            self._arrays = arrays
        return self._arrays

    def __getitem__(self, key: str) -> Any:
        if key == "labels_sha256":
            return self.reference["labels_sha256"]
        if key in ARRAYS:
            return self._load()[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter((*ARRAYS, "labels_sha256"))

    def __len__(self) -> int:
        return len(ARRAYS) + 1

    def __repr__(self) -> str:
        return f"PerExample({self.path})"
