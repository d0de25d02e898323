"""Write ``results/mutation/mutants.json`` and ``REPORT.md`` from a mutmut 3 run.

Run it with the Python that runs mutmut (it reads mutmut's own result files through
mutmut's code), from the directory the run was made in (the one holding
``mutants/`` and the ``pyproject.toml`` whose ``[tool.mutmut]`` chose the modules)::

    python tools/mutation_report.py --out results/mutation \\
        --equivalent results/mutation/equivalent.toml --command "tox -e mutation"

Nothing in the counts is typed by hand: every status comes from mutmut's
``mutants/**/*.py.meta`` files, every diff from ``mutmut show``'s code. The one
hand-written input is ``equivalent.toml``: for a surviving mutant judged
equivalent (no input can tell it from the original), one line saying why; and,
under ``[cuda_only]``, a survivor that behaves as the original on the CPU and
differs only for tensors on a CUDA device, with the test that kills it there.

Score: detected / (all mutants - equivalent ones), where a mutant is detected
when the tests reaching it fail on it (mutmut's ``killed``) or do not finish
(``timeout``; ``segfault``: the test process died). A survivor with no
equivalence reason, a mutant no test reaches (``no tests``) and one not yet run
(``not checked``) all count against it, and so does a CUDA-only survivor when
the run had no GPU to kill it on (it is accounted for, not detected); the raw
score, detected / all mutants, is printed beside it.

``--first-pass FILE`` names a ``mutants.json`` written earlier (before the
survivors' tests were added); the report then lists the mutants that survived
that pass and are killed now.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

DETECTED = ("killed", "timeout", "segfault")


def _mutmut():
    from mutmut import __version__
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    return __version__, SourceFileMutationData, get_diff_for_mutant, status_by_exit_code, walk_mutatable_files


def collect() -> tuple[str, list[dict]]:
    """Every mutant of the configured modules: module path, name, status and, unless killed, its diff."""
    version, SourceFileMutationData, get_diff_for_mutant, status_by_exit_code, walk_mutatable_files = _mutmut()
    rows = []
    for path in sorted(walk_mutatable_files(), key=str):
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in sorted(data.exit_code_by_key.items(), key=lambda kv: _natural(kv[0])):
            status = status_by_exit_code[code]
            row = {"module": str(path), "mutant": name, "status": status}
            if status not in DETECTED and status != "not checked":
                row["diff"] = get_diff_for_mutant(name, path=path)
            rows.append(row)
    return version, rows


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number)) if number.isdigit() else (name, 0)


def apply_rechecks(rows: list[dict], rechecks: list[dict]) -> int:
    """Mark as killed each survivor (or mutant no test reached) that a recheck killed; return how many."""
    killed = {}
    for recheck in rechecks:
        for name, verdict in recheck["verdicts"].items():
            if verdict["status"] == "killed":
                killed[name] = verdict.get("tests", recheck["tests"])
    count = 0
    for row in rows:
        if row["mutant"] in killed and row["status"] not in DETECTED:
            row["mutmut_status"] = row["status"]
            row["status"] = "killed"
            row["killed_by"] = " ".join(killed[row["mutant"]])
            count += 1
    return count


def summarise(rows: list[dict], equivalent: dict[str, str], cuda_only: dict[str, str] | None = None
              ) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per module and in all: mutants by status, plus ``equivalent`` and ``cuda only`` (survivors with a reason)."""
    cuda_only = cuda_only or {}
    per_module: dict[str, Counter] = {}
    for row in rows:
        counts = per_module.setdefault(row["module"], Counter())
        counts["total"] += 1
        counts[row["status"]] += 1
        if row["status"] not in DETECTED and row["mutant"] in equivalent:
            counts["equivalent"] += 1
        elif row["status"] not in DETECTED and row["mutant"] in cuda_only:
            counts["cuda only"] += 1
    total = Counter()
    for counts in per_module.values():
        total.update(counts)
    return {m: dict(c) for m, c in per_module.items()}, dict(total)


def score(counts: dict[str, int]) -> tuple[float | None, float | None]:
    """(detected / (all - equivalent), detected / all); None for no mutants. CUDA-only survivors count against."""
    detected = sum(counts.get(s, 0) for s in DETECTED)
    total = counts.get("total", 0)
    judged = total - counts.get("equivalent", 0)
    return (detected / judged if judged else None), (detected / total if total else None)


def run_score(counts: dict[str, int]) -> float | None:
    """detected / (mutants run - equivalent): the score over the mutants the run got to."""
    detected = sum(counts.get(s, 0) for s in DETECTED)
    judged = counts.get("total", 0) - counts.get("not checked", 0) - counts.get("equivalent", 0)
    return detected / judged if judged else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _survivors_tests(mutant: str, module_path: str) -> str | None:
    """The survivors' test file ``tools/mutation_recheck.py`` would run for ``mutant``, if the checkout has it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutation_recheck", Path(__file__).with_name("mutation_recheck.py"))
    recheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recheck)
    tests = recheck.tests_of(mutant, [])
    return tests[0] if tests else None


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(out: Path, version: str, rows: list[dict], equivalent: dict[str, str], command: str,
                 first_pass: list[dict] | None, killed_by: dict[str, str], notes: str = "",
                 before_recheck: float | None = None, cuda_only: dict[str, str] | None = None) -> None:
    cuda_only = cuda_only or {}
    per_module, total = summarise(rows, equivalent, cuda_only)
    adjusted, raw = score(total)
    status_of = {r["mutant"]: r["status"] for r in rows}
    explained = {**equivalent, **cuda_only}
    unknown = sorted(set(explained) - set(status_of))
    detected_but_listed = sorted(m for m in explained if status_of.get(m) in DETECTED)
    revision = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    lines = [
        "# Mutation testing report",
        "",
        "Written by `tools/mutation_report.py` from mutmut's result files; do not edit by hand.",
        "",
        f"- Tool: mutmut {version} (`[tool.mutmut]` in `pyproject.toml`: the modules, the tests, forkserver isolation)",
        f"- Command: `{command}`",
        f"- Revision: `{revision}`" + (" (with uncommitted changes)" if dirty and dirty != "unknown" else ""),
        f"- Date: {date}",
        f"- Mutants: {total.get('total', 0)}; score **{_pct(adjusted)}** "
        f"(detected / (all - equivalent)); raw {_pct(raw)} (detected / all); "
        f"{_pct(run_score(total))} of the {total.get('total', 0) - total.get('not checked', 0)} mutants run",
        *([f"- Score of mutmut's own run, before the survivors' tests were re-checked: {_pct(before_recheck)}"]
          if any("mutmut_status" in r for r in rows) else []),
        "- Detected: killed (a test fails), timeout or segfault (the tests do not finish). Survived, no tests "
        "and not checked count against the score unless the survivor is listed as equivalent below; so does a "
        "survivor that differs from the original only on a CUDA device (\"CUDA only\"), which a run without a GPU "
        "cannot kill.",
        "",
    ]
    if notes:
        lines += ["## How this run was made", "", notes.strip(), ""]
    lines += [
        "## Per module",
        "",
        "| module | mutants | killed | timeout | segfault | survived | equivalent | CUDA only | no tests "
        "| not checked | score | score of those run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for module, c in sorted(per_module.items()):
        lines.append(
            f"| `{module}` | {c.get('total', 0)} | {c.get('killed', 0)} | {c.get('timeout', 0)} | "
            f"{c.get('segfault', 0)} | {c.get('survived', 0)} | {c.get('equivalent', 0)} | "
            f"{c.get('cuda only', 0)} | {c.get('no tests', 0)} | {c.get('not checked', 0)} | {_pct(score(c)[0])} | {_pct(run_score(c))} |")
    c = total
    lines.append(
        f"| **all** | {c.get('total', 0)} | {c.get('killed', 0)} | {c.get('timeout', 0)} | {c.get('segfault', 0)} | "
        f"{c.get('survived', 0)} | {c.get('equivalent', 0)} | {c.get('cuda only', 0)} | {c.get('no tests', 0)} | "
        f"{c.get('not checked', 0)} | {_pct(adjusted)} | {_pct(run_score(c))} |")

    remaining = [r for r in rows if r["status"] not in DETECTED and r["status"] != "not checked"]
    lines += ["", "## Remaining survivors", "",
              "Every mutant that the tests reach and do not detect, or that no test reaches. An equivalent mutant "
              "behaves as the original on every input the code can receive; the reason says why.", ""]
    if not remaining:
        lines.append("None.")
    for r in remaining:
        reason = equivalent.get(r["mutant"])
        written = _survivors_tests(r["mutant"], r["module"])
        on_cuda = cuda_only.get(r["mutant"])
        verdict = (f"equivalent: {reason}" if reason else
                   f"CUDA only (counted against the score: this run had no GPU): {on_cuda}" if on_cuda else
                   f"**not accounted for yet**: tests written for this module's survivors, `{written}`, "
                   "not yet re-checked against it" if written else "**not accounted for**")
        lines += [f"### `{r['mutant']}` ({r['status']})", "", verdict, "", "```diff", r["diff"], "```", ""]

    rechecked = [r for r in rows if "mutmut_status" in r]
    if rechecked:
        lines += ["", "## Survivors killed by the tests written for them", "",
                  f"{len(rechecked)} mutants that mutmut's run left alive are killed by the tests of "
                  "`tests/survivors/`, re-checked with `tools/mutation_recheck.py` (each mutant switched on as "
                  "mutmut's workers do, those tests run against it).", "",
                  "| mutant | mutmut's run | now | tests |", "|---|---|---|---|"]
        for r in rechecked:
            lines.append(f"| `{r['mutant']}` | {r['mutmut_status']} | killed | `{r['killed_by']}` |")

    if first_pass is not None:
        before = {r["mutant"]: r["status"] for r in first_pass}
        now_killed = sorted((m for m, s in before.items() if s not in DETECTED and status_of.get(m) in DETECTED),
                            key=_natural)
        lines += ["", "## Survivors of the first pass detected now", "",
                  f"{len(now_killed)} mutants survived (or reached no test) in the first pass and are detected now.",
                  ""]
        if now_killed:
            lines += ["| mutant | first pass | now | test file |", "|---|---|---|---|"]
            for m in now_killed:
                lines.append(f"| `{m}` | {before[m]} | {status_of[m]} | {killed_by.get(m, '')} |")

    not_checked = [r for r in rows if r["status"] == "not checked"]
    if not_checked:
        by_module = Counter(r["module"] for r in not_checked)
        lines += ["", "## Not yet run", "",
                  "The run stopped before these mutants were tried; they count against the score.", ""]
        lines += [f"- `{m}`: {n}" for m, n in sorted(by_module.items())]

    if unknown or detected_but_listed:
        lines += ["", "## Stale equivalence entries", ""]
        lines += [f"- `{m}`: no such mutant in this run" for m in unknown]
        lines += [f"- `{m}`: listed as equivalent but detected ({status_of[m]})" for m in detected_but_listed]

    (out / "REPORT.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for mutants.json and REPORT.md")
    parser.add_argument("--equivalent", type=Path,
                        help="TOML: [equivalent] mutant = 'reason', and [cuda_only] mutant = 'reason and test'")
    parser.add_argument("--first-pass", type=Path, help="a mutants.json of an earlier pass")
    parser.add_argument("--killed-by", type=Path, help="TOML: [killed_by] mutant = 'tests/...py' (optional)")
    parser.add_argument("--command", default="tox -e mutation", help="the command the run was made with")
    parser.add_argument("--json-only", action="store_true", help="write mutants.json only")
    parser.add_argument("--recheck", type=Path, action="append", default=[],
                        help="a JSON of tools/mutation_recheck.py: its kills replace mutmut's survived / no tests")
    parser.add_argument("--notes", type=Path, help="a Markdown file whose text goes under 'How this run was made'")
    args = parser.parse_args(argv)

    judged = tomllib.loads(args.equivalent.read_text()) if args.equivalent else {}
    equivalent, cuda_only = judged.get("equivalent", {}), judged.get("cuda_only", {})
    killed_by = tomllib.loads(args.killed_by.read_text())["killed_by"] if args.killed_by else {}
    version, rows = collect()
    mutmut_only = score(summarise(rows, equivalent)[1])
    rechecked = apply_rechecks(rows, [json.loads(path.read_text()) for path in args.recheck])
    per_module, total = summarise(rows, equivalent, cuda_only)
    adjusted, raw = score(total)
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "tool": f"mutmut {version}",
        "revision": _git("rev-parse", "HEAD"),
        "command": args.command,
        "score": adjusted,
        "score_before_recheck": mutmut_only[0],
        "killed_by_recheck": rechecked,
        "raw_score": raw,
        "totals": total,
        "score_of_those_run": run_score(total),
        "per_module": {m: {**c, "score": score(c)[0], "score_of_those_run": run_score(c)}
                       for m, c in per_module.items()},
        "mutants": [{**r, **({"equivalent": equivalent[r["mutant"]]} if r["mutant"] in equivalent else {}),
                     **({"cuda_only": cuda_only[r["mutant"]]} if r["mutant"] in cuda_only else {})} for r in rows],
    }
    (args.out / "mutants.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    if not args.json_only:
        first = json.loads(args.first_pass.read_text())["mutants"] if args.first_pass else None
        notes = args.notes.read_text() if args.notes else ""
        write_report(args.out, version, rows, equivalent, args.command, first, killed_by, notes, mutmut_only[0],
                     cuda_only)
    print(f"{total.get('total', 0)} mutants; score {_pct(adjusted)} (raw {_pct(raw)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
