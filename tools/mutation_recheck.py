"""Re-check named mutants of a mutmut 3 work folder against a few test files, in one process.

``mutmut run NAME...`` first lists and re-runs the whole test selection, which takes hours when
other jobs hold the cores. To show that the tests written for the survivors kill them, this runs,
for each named mutant, only the tests written for its module's survivors
(``tests/survivors/test_survivors_<module>.py``; else ``--tests``; with ``--tests-only``, ``--tests``
for every mutant: for one that other tests kill) with that mutant switched
on, the way mutmut's workers do (the ``MUTANT_UNDER_TEST`` variable read by the trampolines of
the mutated code in ``mutants/``), in one Python process that imports torch once.

It first checks the set-up as mutmut does: the tests pass with no mutant on, and fail with the
forced failure ``fail``. A mutant counts as killed when pytest exits with 1 (a test failed);
the verdicts go to ``--out`` as JSON, which ``tools/mutation_report.py --recheck`` reads::

    cd WORKDIR && python /path/to/tools/mutation_recheck.py --names names.txt --out recheck.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path


def run(tests: list[str], mutant: str) -> int:
    import pytest

    os.environ["MUTANT_UNDER_TEST"] = mutant
    return int(pytest.main(["-x", "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:randomly",
                            "--benchmark-skip", *tests]))


# modules whose survivors' tests live in another module's file
SHARED_FILES = {"seeding": "stats", "lstm_operations": "operations", "snn_operations": "operations",
                "snn_loss": "snn_ttfs", "snn_compiled": "compiled", "jobs": "harness"}


def tests_of(mutant: str, default: list[str]) -> list[str]:
    """``tests/survivors/test_survivors_<module>.py`` for a mutant of ``<package>.<module>``, else ``default``."""
    module = mutant.split(".x")[0].rsplit(".", 1)[-1]
    path = Path("tests/survivors") / f"test_survivors_{SHARED_FILES.get(module, module)}.py"
    return [str(path)] if path.exists() else default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=Path, required=True, help="a file with one mutant name a line")
    parser.add_argument("--tests", nargs="+", default=["tests/survivors"])
    parser.add_argument("--tests-only", action="store_true",
                        help="run --tests against every mutant, not its module's survivors' tests (for a mutant that "
                             "other tests kill)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    names = [line.strip() for line in args.names.read_text().splitlines() if line.strip()]
    out = args.out.resolve()
    os.chdir("mutants")
    sys.path.insert(0, os.getcwd())
    clean = run(args.tests, "")
    forced = run(args.tests, "fail")
    if clean != 0 or forced == 0:
        print(f"set-up check failed: clean run exit {clean}, forced failure exit {forced}", file=sys.stderr)
        return 2
    # resumable: the verdicts already in --out are kept, and --out is rewritten after every mutant
    verdicts = json.loads(out.read_text())["verdicts"] if out.exists() else {}
    for name in names:
        if name in verdicts:
            continue
        tests = args.tests if args.tests_only else tests_of(name, args.tests)
        code = run(tests, name)
        verdicts[name] = {"tests": tests, "exit_code": code,
                          "status": {0: "survived", 1: "killed", 5: "no tests"}.get(code, "error")}
        print(f"{verdicts[name]['status']:9} {name}", file=sys.stderr, flush=True)
        out.write_text(json.dumps({
            "tests": args.tests,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "clean_exit_code": clean, "forced_failure_exit_code": forced,
            "verdicts": verdicts}, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
