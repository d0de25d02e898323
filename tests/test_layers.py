"""The package layers (``[tool.importlinter]`` in pyproject.toml): each imports only the layers below it.

Checked with import-linter on the real tree, and on a copy of the tree where a lower
layer imports a higher one, inside a function (the kind of lazy import that once hid a
cycle), to show that the check sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rc", "baselines", "bench")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the packages under ``tree`` with its own pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def copy_tree(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_layers_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("lower", "higher"), [
    ("rc/crossing.py", "bench.run.harness"),        # the method importing the harness
    ("bench/core/records.py", "bench.analysis.report"),  # a contract importing the reports
    ("baselines/step_contender.py", "bench.measure.metrics"),  # a contender importing the measurements
])
def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path, lower: str, higher: str) -> None:
    tree = copy_tree(tmp_path)
    with open(tree / lower, "a", encoding="utf-8") as module:
        module.write(f"\n\ndef _lazy():\n    import {higher}  # noqa: F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert higher in result.stdout
