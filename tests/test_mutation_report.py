"""Tests of tools/mutation_report.py's counting (the score, the equivalent and CUDA-only survivors, the rechecks)
and of the report it writes, on hand-made rows: no mutmut run needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("mutation_report", ROOT / "tools" / "mutation_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows() -> list[dict]:
    return [
        {"module": "rc/a.py", "mutant": "rc.a.x_f__mutmut_1", "status": "killed"},
        {"module": "rc/a.py", "mutant": "rc.a.x_f__mutmut_2", "status": "timeout"},
        {"module": "rc/a.py", "mutant": "rc.a.x_f__mutmut_3", "status": "survived", "diff": "-a\n+b"},
        {"module": "rc/a.py", "mutant": "rc.a.x_f__mutmut_4", "status": "survived", "diff": "-c\n+d"},
        {"module": "rc/b.py", "mutant": "rc.b.x_g__mutmut_1", "status": "survived", "diff": "-e\n+f"},
        {"module": "rc/b.py", "mutant": "rc.b.x_g__mutmut_2", "status": "not checked"},
    ]


def test_equivalent_survivors_leave_the_score_and_cuda_only_ones_count_against_it(report) -> None:
    """Of 6 mutants, 2 detected, 1 equivalent, 1 CUDA only: score 2 / (6 - 1); raw 2 / 6; of those run 2 / 4."""
    equivalent = {"rc.a.x_f__mutmut_3": "same values"}
    cuda_only = {"rc.a.x_f__mutmut_4": "differs only on CUDA"}
    per_module, total = report.summarise(_rows(), equivalent, cuda_only)
    assert per_module["rc/a.py"] == {"total": 4, "killed": 1, "timeout": 1, "survived": 2, "equivalent": 1,
                                     "cuda only": 1}
    assert total["cuda only"] == 1 and total["equivalent"] == 1 and total["not checked"] == 1
    assert report.score(total) == pytest.approx((2 / 5, 2 / 6))
    assert report.run_score(total) == pytest.approx(2 / 4)
    assert report.score(report.summarise(_rows(), equivalent)[1]) == report.score(total)


def test_a_recheck_kill_replaces_a_survivor_and_keeps_mutmuts_verdict(report) -> None:
    rows = _rows()
    recheck = {"tests": ["tests/survivors/test_survivors_b.py"],
               "verdicts": {"rc.b.x_g__mutmut_1": {"status": "killed"}, "rc.a.x_f__mutmut_3": {"status": "survived"},
                            "rc.a.x_f__mutmut_1": {"status": "killed"}}}
    assert report.apply_rechecks(rows, [recheck]) == 1
    row = next(r for r in rows if r["mutant"] == "rc.b.x_g__mutmut_1")
    assert (row["status"], row["mutmut_status"], row["killed_by"]) == ("killed", "survived",
                                                                        "tests/survivors/test_survivors_b.py")
    assert next(r for r in rows if r["mutant"] == "rc.a.x_f__mutmut_3")["status"] == "survived"
    assert "mutmut_status" not in next(r for r in rows if r["mutant"] == "rc.a.x_f__mutmut_1")


def test_the_report_names_each_survivors_verdict_and_flags_stale_entries(report, tmp_path) -> None:
    equivalent = {"rc.a.x_f__mutmut_3": "same values", "rc.a.x_f__mutmut_1": "wrongly listed"}
    cuda_only = {"rc.a.x_f__mutmut_4": "a CUDA tensor stays on the GPU", "rc.gone.x__mutmut_9": "removed since"}
    report.write_report(tmp_path, "3.8.1", _rows(), equivalent, "mutmut run", None, {}, cuda_only=cuda_only)
    text = (tmp_path / "REPORT.md").read_text()
    assert "| equivalent | CUDA only | no tests |" in text
    assert "| **all** | 6 | 1 | 1 | 0 | 3 | 1 | 1 | 0 | 1 | 40.0% | 50.0% |" in text
    assert "equivalent: same values" in text
    assert "CUDA only (counted against the score: this run had no GPU): a CUDA tensor stays on the GPU" in text
    assert "### `rc.b.x_g__mutmut_1` (survived)" in text and "**not accounted for**" in text
    assert "- `rc.gone.x__mutmut_9`: no such mutant in this run" in text
    assert "- `rc.a.x_f__mutmut_1`: listed as equivalent but detected (killed)" in text
