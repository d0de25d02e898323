"""Cell-by-cell comparison of two records files (``rcbench compare-records A B``).

Two runs of the same cells (say, on two executors) should give the same
records except for what measures the run rather than the cell: wall-clock
timings, the creation time and the command line (:data:`VOLATILE_FIELDS`).
:func:`compare_records` pairs records by key (:func:`bench.core.records.record_key`:
the cell and its ``config_hash``) and lists, for every cell, whether the rest
is equal; :func:`format_comparison` writes that as Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.core.records import CELL_FIELDS, record_key

VOLATILE_FIELDS = (
    "created",
    "command",
    "training.train_seconds",
    "training.validation_seconds",
    "training.examples_per_second",
    "training.history[].train_seconds",
    "learning_curve.points[].train_seconds",
    "streaming.step_compute_ms",
    "streaming.early_exit.time_to_decision_ms",
    "streaming.full_sequence.time_to_decision_ms",
)
"""Fields (dotted paths into a record; ``[]`` stands for every item of a list) that differ between
two runs of the same cell: timings, creation time, command line. They are left out of the comparison."""


@dataclass
class Comparison:
    """The result of :func:`compare_records`.

    Attributes:
        ignored: the dotted field paths left out.
        same: keys of the cells whose records are equal.
        different: for each cell that differs, its key and the differing fields as
            ``(path, value in A, value in B)``.
        only_a, only_b: keys of the cells that only one side has.
    """

    ignored: tuple[str, ...]
    same: list[tuple] = field(default_factory=list)
    different: list[tuple[tuple, list[tuple[str, Any, Any]]]] = field(default_factory=list)
    only_a: list[tuple] = field(default_factory=list)
    only_b: list[tuple] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Both sides hold the same cells with equal records (ignored fields aside)."""
        return not (self.different or self.only_a or self.only_b)


def _by_key(records: Iterable[dict[str, Any]], side: str) -> dict[tuple, dict[str, Any]]:
    result: dict[tuple, dict[str, Any]] = {}
    for record in records:
        key = record_key(record)
        if key in result:
            raise ValueError(f"records {side} hold two records of the cell {cell_name(key)}")
        result[key] = record
    return result


def _differences(a: Any, b: Any, path: str, ignored: frozenset[str]) -> list[tuple[str, Any, Any]]:
    """Dotted paths below ``path`` where ``a`` and ``b`` differ, skipping ``ignored`` paths
    (items of a list of objects are ``path[i]``, matched by ``path[]`` in ``ignored``)."""
    if re.sub(r"\[\d+\]", "[]", path) in ignored:
        return []
    if isinstance(a, Mapping) and isinstance(b, Mapping):  # a side-file per_example too, by content
        found = []
        for name in sorted(set(a) | set(b)):
            inner = f"{path}.{name}" if path else name
            if inner in ignored:
                continue
            if name not in a or name not in b:
                found.append((inner, a.get(name, "(missing)"), b.get(name, "(missing)")))
            else:
                found += _differences(a[name], b[name], inner, ignored)
        return found
    if (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
            and all(isinstance(item, dict) for item in a + b)):  # lists of numbers are compared whole
        return [found for i, (item_a, item_b) in enumerate(zip(a, b))
                for found in _differences(item_a, item_b, f"{path}[{i}]", ignored)]
    if type(a) is not type(b) or a != b:  # 1 and 1.0, or True and 1, are not the same record
        return [(path, a, b)]
    return []


def compare_records(a: Iterable[dict[str, Any]], b: Iterable[dict[str, Any]],
                    ignore: Sequence[str] = VOLATILE_FIELDS) -> Comparison:
    """Pair the records of ``a`` and ``b`` by key and compare each pair, leaving out ``ignore``.

    Raises:
        ValueError: one side holds two records of the same key.
    """
    left, right = _by_key(a, "A"), _by_key(b, "B")
    ignored = frozenset(ignore)
    comparison = Comparison(tuple(ignore))
    for key in sorted(set(left) | set(right), key=_sort_key):
        if key not in right:
            comparison.only_a.append(key)
        elif key not in left:
            comparison.only_b.append(key)
        else:
            found = _differences(left[key], right[key], "", ignored)
            if found:
                comparison.different.append((key, found))
            else:
                comparison.same.append(key)
    return comparison


def _sort_key(key: tuple) -> tuple:
    return tuple((value is None, str(type(value)), value if value is not None else 0) for value in key)


def cell_name(key: tuple) -> str:
    """``task contender seed=S [beta=B] theta=T`` (or ``rule=R``) of a record key."""
    cell = dict(zip(CELL_FIELDS, key))
    return (f"{cell['task']} {cell['contender']} seed={cell['seed']}"
            + (f" beta={cell['beta']:g}" if cell["beta"] is not None else "")
            + (f" theta={cell['theta']:g}" if cell["theta"] is not None else f" rule={cell['rule']}"))


def format_comparison(comparison: Comparison, name_a: str, name_b: str) -> str:
    """The comparison as Markdown: a verdict, counts, then every cell that is not the same."""
    total = len(comparison.same) + len(comparison.different) + len(comparison.only_a) + len(comparison.only_b)
    verdict = ("identical" if comparison.identical else "DIFFERENT")
    lines = [
        f"Records compared cell by cell: A = `{name_a}`, B = `{name_b}`.",
        f"Left out of the comparison: {', '.join(f'`{path}`' for path in comparison.ignored) or 'nothing'}.",
        "",
        f"**{verdict}**: {total} cells; {len(comparison.same)} equal, {len(comparison.different)} different, "
        f"{len(comparison.only_a)} only in A, {len(comparison.only_b)} only in B.",
    ]
    if comparison.different:
        lines += ["", "| cell | field | A | B |", "|---|---|---|---|"]
        for key, found in comparison.different:
            for path, value_a, value_b in found:
                lines.append(f"| {cell_name(key)} | `{path}` | {_short(value_a)} | {_short(value_b)} |")
    for title, keys in (("Only in A", comparison.only_a), ("Only in B", comparison.only_b)):
        if keys:
            lines += ["", f"{title}:", ""] + [f"- {cell_name(key)}" for key in keys]
    return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
