"""The code revision recorded beside results."""

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.core.provenance import git_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("width = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.jsonl").write_text("{}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    return tmp_path


def test_clean_checkout_gives_the_commit(checkout: Path) -> None:
    assert git_revision(checkout) == _git(checkout, "rev-parse", "HEAD")


def test_appended_records_leave_the_revision_clean(checkout: Path) -> None:
    with open(checkout / "results" / "results.jsonl", "a") as records:
        records.write('{"seed": 1}\n')
    assert git_revision(checkout) == _git(checkout, "rev-parse", "HEAD")


def test_changed_code_marks_the_revision_dirty(checkout: Path) -> None:
    (checkout / "model.py").write_text("width = 2\n")
    assert git_revision(checkout) == _git(checkout, "rev-parse", "HEAD") + "-dirty"


def test_outside_a_checkout_the_revision_is_unknown(tmp_path: Path) -> None:
    assert git_revision(tmp_path) == "unknown"
