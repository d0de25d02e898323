"""Information-bound files (bench.analysis.bound_files) and how ``rcbench figures --bounds`` shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.bound_files import BoundFileError, read_bound
from bench.cli import main
from helpers import make_record


def bound_payload(task: str = "toy-noise", encoding: str = "normalized", reference: str | None = "cnn",
                  accuracies: tuple[float, ...] = (0.91, 0.93, 0.97), steps: tuple[int, ...] = (1, 2, 4)) -> dict:
    """What ``rcbench bound`` writes, reduced to the fields a report reads (plus one it ignores)."""
    settings = {"task": task, "encoding": encoding, "steps": list(steps)}
    if reference is not None:
        settings["reference"] = reference
    rows = [{"t": t, "test_accuracy": accuracy, "mean_pixels": 10.0 * t, "val_accuracy": accuracy}
            for t, accuracy in zip(steps, accuracies)]
    return {"settings": settings, "rows": rows, "git_revision": "abc1234"}


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_a_bound_file_reads_into_points_in_step_order(tmp_path) -> None:
    bound = read_bound(write_json(tmp_path / "bound-cnn-normalized.json", bound_payload()))
    assert (bound.task, bound.encoding, bound.reference) == ("toy-noise", "normalized", "cnn")
    assert [(p.t, p.test_accuracy, p.mean_pixels) for p in bound.points] == [
        (1, 0.91, 10.0), (2, 0.93, 20.0), (4, 0.97, 40.0)]
    assert bound.label == "bound (cnn, encoding normalized)"


def test_a_file_from_before_the_reference_setting_holds_the_mlp(tmp_path) -> None:
    assert read_bound(write_json(tmp_path / "b.json", bound_payload(reference=None))).reference == "mlp"


def without(payload: dict, *path: str) -> dict:
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


@pytest.mark.parametrize("payload, message", [
    ([1, 2], "expected a JSON object, got list"),
    (without(bound_payload(), "rows"), "missing field 'rows'"),
    (without(bound_payload(), "settings", "encoding"), "settings: missing field 'encoding'"),
    (bound_payload(accuracies=(0.9, 1.2, 0.95)), r"row 1: test_accuracy must lie in \[0, 1\], got 1.2"),
    (bound_payload(steps=(1, 3, 3)), "row 2: steps must increase, got t=3 after t=3"),
    (bound_payload(steps=(0, 1, 2)), "row 0: t counts steps read and must be >= 1, got 0"),
    (bound_payload(accuracies=(), steps=()), "has no rows"),
    ({"settings": {"task": "toy-noise", "encoding": "normalized"}, "rows": [{"t": "1", "test_accuracy": 0.5,
                                                                         "mean_pixels": 1}]},
     "row 0: field 't' must be int, got '1'"),
])
def test_damaged_bound_files_are_refused_naming_the_problem(tmp_path, payload, message) -> None:
    with pytest.raises(BoundFileError, match=message):
        read_bound(write_json(tmp_path / "bound.json", payload))


def test_missing_or_corrupt_bound_files_are_refused(tmp_path) -> None:
    with pytest.raises(BoundFileError, match="does not exist"):
        read_bound(tmp_path / "absent.json")
    (tmp_path / "cut.json").write_text('{"settings": {', encoding="utf-8")
    with pytest.raises(BoundFileError, match="cannot be read as JSON"):
        read_bound(tmp_path / "cut.json")


def records_with_encodings() -> list[dict]:
    records = []
    for seed in (0, 1):
        records.append(make_record(seed=seed, profile="strong", data_options={"encoding": "normalized"}))
        records.append(make_record(seed=seed, profile="authors", data_options={"encoding": "authors"}))
    return records


def test_report_lists_each_bound_of_the_task_with_the_profiles_of_its_encoding(tmp_path) -> None:
    results = tmp_path / "run"
    results.mkdir()
    (results / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records_with_encodings()),
                                           encoding="utf-8")
    cnn = write_json(tmp_path / "bound-cnn-normalized.json", bound_payload())
    mlp = write_json(tmp_path / "bound-authors.json",
                     bound_payload(encoding="authors", reference=None, accuracies=(0.8, 0.85), steps=(1, 3)))
    assert main(["figures", "--results", str(results), "--bounds", str(cnn), str(mlp)]) == 0
    report = (results / "REPORT.md").read_text(encoding="utf-8")
    assert "| reference | encoding | profiles with this encoding | t=1 | t=2 | t=3 | t=4 | file |" in report
    assert "| cnn | normalized | strong | 0.9100 | 0.9300 |  | 0.9700 | `../bound-cnn-normalized.json` |" in report
    assert "| mlp | authors | authors | 0.8000 |  | 0.8500 |  | `../bound-authors.json` |" in report
    # the bound table sits in the task's section, after its main table
    section = report.split("## toy-noise")[1]
    assert section.index("| task | profile |") < section.index("Information bound")
    assert (results / "figures" / "toy-noise-accuracy-over-time.svg").read_text(encoding="utf-8").count(
        "bound (") == 2


def test_a_bound_for_a_task_without_records_is_an_error(tmp_path, capsys) -> None:
    results = tmp_path / "run"
    results.mkdir()
    (results / "results.jsonl").write_text(json.dumps(make_record()) + "\n", encoding="utf-8")
    other = write_json(tmp_path / "bound.json", bound_payload(task="mnist-temporal"))
    assert main(["figures", "--results", str(results), "--bounds", str(other)]) == 2
    assert "is for task 'mnist-temporal', which no record has (records: toy-noise)" in capsys.readouterr().err
    assert not (results / "REPORT.md").exists()
