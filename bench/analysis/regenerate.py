"""Making a report folder (``REPORT.md`` and ``figures/``) and making it again from what it records.

:func:`make_report` draws the figures and writes ``REPORT.md`` into a folder; the report's first
line records the ``rcbench figures`` arguments that made it, with every path relative to the
report's own folder (:data:`bench.analysis.report.REGENERATE_MARKER`). :func:`regenerate` reads
that line and makes the folder again, in place or into a scratch folder to compare
(``rcbench figures --regenerate DIR... [--check]``).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.bound_files import read_bound
from bench.analysis.budget import BudgetError, equal_compute_lines
from bench.analysis.figures import draw_all, records_by_task
from bench.analysis.report import REGENERATE_MARKER, write_report
from bench.core.records import read_records


class ReportError(ValueError):
    """A report cannot be made or made again as asked."""


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def figures_arguments(results: Sequence[Path], out: Path, bounds: Sequence[Path],
                      compute_budget: float | None) -> list[str]:
    """The ``rcbench figures`` arguments that make ``out`` again when run in ``out``."""
    arguments = ["--results", *(_relative(path, out) for path in results), "--out", "."]
    if bounds:
        arguments += ["--bounds", *(_relative(path, out) for path in bounds)]
    if compute_budget is not None:
        arguments += ["--compute-budget", repr(compute_budget)]
    return arguments


def make_report(results: Sequence[Path], out: Path, bounds: Sequence[Path] = (),
                compute_budget: float | None = None, overwrite: bool = False) -> tuple[int, Path]:
    """Draw the figures of ``results`` (folders holding ``results.jsonl``, or records files) into
    ``out/figures`` and write ``out/REPORT.md``; returns the number of figures and the report's path.

    Raises:
        ReportError: no records; a bound file for a task without records; a compute budget some row
            cannot reach; ``out`` already holds a report and ``overwrite`` is false.
    """
    files = [path / "results.jsonl" if path.is_dir() else path for path in results]
    records = [record for path in files for record in read_records(path)]
    if not records:
        raise ReportError(f"no records in {', '.join(map(str, files))}")
    information = [read_bound(path) for path in bounds]
    tasks = {record["task"] for record in records}
    for bound in information:
        if bound.task not in tasks:
            raise ReportError(f"bound file {bound.source} is for task {bound.task!r}, which no record has "
                              f"(records: {', '.join(sorted(tasks))})")
    for task_records in records_by_task(records).values():  # a budget no row can match: refused before drawing
        try:
            equal_compute_lines(task_records, compute_budget)
        except BudgetError as error:
            raise ReportError(f"--compute-budget: {error}") from None
    if (out / "REPORT.md").exists() and not overwrite:
        raise ReportError(f"{out / 'REPORT.md'} exists; pass --overwrite to replace it and its figures, "
                          f"or --out another folder")
    figures = draw_all(records, out / "figures", information)
    arguments = figures_arguments(results, out, bounds, compute_budget)
    report = write_report(records, figures, out, files, information, compute_budget, arguments)
    return sum(len(paths) for paths in figures.values()), report


def recorded_arguments(report: Path) -> list[str]:
    """The ``rcbench figures`` arguments recorded on the first line of ``report``."""
    first = report.read_text(encoding="utf-8").split("\n", 1)[0]
    if not first.startswith(REGENERATE_MARKER) or not first.endswith(" -->"):
        raise ReportError(f"{report} records no rcbench figures command (made before reports recorded "
                          f"them): make it once with rcbench figures --out {report.parent} --overwrite")
    return shlex.split(first[len(REGENERATE_MARKER):-len(" -->")])


def _parse(arguments: Sequence[str], folder: Path) -> tuple[list[Path], list[Path], float | None]:
    """``--results``, ``--bounds`` (resolved against ``folder``) and ``--compute-budget`` of recorded arguments."""
    options: dict[str, list[str]] = {}
    current = None
    for word in arguments:
        if word.startswith("--"):
            current = options.setdefault(word, [])
        elif current is None:
            raise ReportError(f"unexpected recorded argument {word!r}")
        else:
            current.append(word)
    unknown = sorted(set(options) - {"--results", "--out", "--bounds", "--compute-budget"})
    if unknown or options.get("--out") != ["."]:
        raise ReportError(f"recorded arguments {' '.join(arguments)!r} are not ones this rcbench makes")
    budget = options.get("--compute-budget")
    return ([folder / path for path in options.get("--results", [])],
            [folder / path for path in options.get("--bounds", [])],
            float(budget[0]) if budget else None)


@dataclass(frozen=True)
class Regenerated:
    """One report made again: its path and the files that came out different (empty: byte for byte)."""

    report: Path
    different: tuple[str, ...]


def _tree(folder: Path) -> dict[str, Path]:
    files = [folder / "REPORT.md", *sorted((folder / "figures").rglob("*"))]
    return {path.relative_to(folder).as_posix(): path for path in files if path.is_file()}


def regenerate(report: Path, check: bool = False) -> Regenerated:
    """Make ``report``'s folder again from its recorded command: in place, or (``check``) into a
    scratch folder, leaving it untouched; either way, say which files differ from what was there."""
    folder = report.parent
    results, bounds, budget = _parse(recorded_arguments(report), folder)
    before = _tree(folder)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / folder.resolve().name
        target.mkdir()
        # the scratch folder stands where the report stands, so relative paths come out the same
        moved = [target / os.path.relpath(path, folder) for path in (*results, *bounds)]
        for source, copy in zip((*results, *bounds), moved):
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("REPORT.md", "figures"))
            else:
                shutil.copy(source, copy)
        make_report(moved[:len(results)], target, moved[len(results):], budget)
        after = _tree(target)
        different = tuple(sorted(name for name in set(before) | set(after)
                                 if name not in before or name not in after
                                 or not filecmp.cmp(before[name], after[name], shallow=False)))
        if not check and different:
            make_report(results, folder, bounds, budget, overwrite=True)
    return Regenerated(report, different)
