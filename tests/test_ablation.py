"""The ablation on rank-coded MNIST (bench/run/ablation.py, bench/analysis/ablation.py).

The built-in sequence (bench/run/profiles/ablation/) is checked without training: each step
extends the one before it and changes the settings it says, the first is the rc-lstm of
``authors-faithful`` and the last the rc-lstm of ``paper`` on mnist-temporal. A tiny sequence of
three steps then runs end to end on an MNIST fixture (nothing downloaded) through ``rcbench run``
and ``rcbench figures``, and the report's ablation table is read back against the records.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import bench.run.ablation as ablation
from bench.analysis.ablation import ablation_rows, settings_changed
from bench.cli import main
from bench.core.records import read_records
from bench.run.ablation import ablation_step, step_descriptions, step_files
from bench.run.harness import plan_jobs
from bench.run.jobs import TaskCache, job_setup
from bench.run.profile import BUILTIN_PROFILES, Profile, load_profile
from bench.tasks.registry import get_task
from helpers import make_record
from test_datasets_mnist import build_fixture

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

TASK = "mnist-temporal"
CONTENDER = "rc-lstm"

EXPECTED_CHANGES = {
    "ablation-01-epochs": {"epochs"},
    "ablation-02-optimiser": {"batch_size", "lr", "grad_clip"},
    "ablation-03-loss": {"loss"},
    "ablation-04-decision-index": {"rule"},
    "ablation-05-threshold": {"thresholds"},
    "ablation-06-background": {"data.encoding"},
    "ablation-07-normalized": {"data.encoding"},
    "ablation-08-schedule-selection": {"lr_schedule", "selection"},
    "ablation-09-width": {"hidden"},
    "ablation-10-conv": {"encoder", "conv_channels"},
    "ablation-11-augmentation": {"augment_shift"},
}
"""What each step of the built-in sequence changes, as its run's settings show it."""


def resolved(profile: Profile) -> dict[str, Any]:
    """What a run of ``profile``'s rc-lstm on mnist-temporal trains with: the contender's full
    config, the data options, rule, thresholds and seeds, as the harness sets them up."""
    jobs = plan_jobs(profile, [TASK], [CONTENDER])
    setup = job_setup(jobs[0], profile, TaskCache(profile, None))
    plan = profile.tasks[TASK]
    return {**json.loads(json.dumps(dataclasses.asdict(setup.config), default=str)),
            **{f"data.{name}": value for name, value in setup.data_options.items()},
            "rule": plan.rule or get_task(TASK).default_rule, "thresholds": plan.thresholds,
            "seeds": profile.seeds, "data_seed": profile.data_seed, "curve_examples": plan.curve_examples,
            "step_ms": plan.step_ms, "overrides": plan.protocol.record(CONTENDER)["overrides"]}


def differing(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {name for name in set(before) | set(after) if before.get(name) != after.get(name)}


# ----------------------------------------------------------------------------- the built-in sequence


def test_step_names_are_parsed_and_other_profiles_are_not_steps():
    assert ablation_step("ablation-03-loss") == (3, "loss")
    assert ablation_step("ablation-10-schedule-selection") == (10, "schedule-selection")
    for name in ("paper", "ablation", "ablation-3-loss", "ablation-03", "ablation-03-Loss", "xablation-03-loss"):
        assert ablation_step(name) is None, name


def test_the_sequence_is_numbered_without_gaps_and_is_not_among_the_built_in_profiles():
    files = step_files()
    assert [ablation_step(path.stem).step for path in files] == list(range(12))
    assert [path.stem for path in files][1:] == list(EXPECTED_CHANGES)
    assert not any(name.startswith("ablation") for name in BUILTIN_PROFILES)
    descriptions = step_descriptions()
    assert list(descriptions) == [path.stem for path in files]  # each file's name is its file name
    assert all(descriptions.values())


def test_run_sh_runs_every_step_in_order_into_one_folder():
    script = (Path(__file__).resolve().parents[1] / "results" / "ablation" / "run.sh").read_text(encoding="utf-8")
    loop = re.search(r"for step in (.*?); do", script, re.S)
    assert loop is not None
    assert ["ablation-" + step for step in loop[1].replace("\\", " ").split()] == [p.stem for p in step_files()]
    assert "--tasks mnist-temporal" in script and "--contenders rc-lstm" in script and "--resume --out" in script
    assert '"$rcbench" figures --results "$out"' in script


def test_each_step_extends_the_one_before_and_names_only_rc_lstm_on_mnist():
    files = step_files()
    for previous, path in zip([None, *files], files):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        assert raw.get("extends") == (previous.name if previous else None), path.name
        assert "#" in path.read_text(encoding="utf-8")  # says what and why
        profile = load_profile(str(path))
        assert profile.named_contenders() == [CONTENDER]
        assert list(profile.tasks) == [TASK]


def test_each_step_changes_what_it_says_and_nothing_else():
    files = step_files()
    settings = [resolved(load_profile(str(path))) for path in files]
    for path, before, after in zip(files[1:], settings, settings[1:]):
        assert differing(before, after) == EXPECTED_CHANGES[path.stem], path.name


def test_the_first_step_is_the_faithful_recipe_and_the_last_the_paper_configuration():
    files = step_files()
    assert differing(resolved(load_profile("authors-faithful")), resolved(load_profile(str(files[0])))) == set()
    paper, last = load_profile("paper"), load_profile(str(files[-1]))
    assert differing(resolved(paper), resolved(last)) == set()
    assert last.tasks[TASK].protocol.record(CONTENDER) == paper.tasks[TASK].protocol.record(CONTENDER)
    assert last.tasks[TASK].data == paper.tasks[TASK].data


# ----------------------------------------------------------------------------- the table, from records


def test_settings_changed_names_each_difference_and_rows_follow_the_step_order():
    base = dict(config={"hidden": 8, "loss": "sigmoid-outputs"}, data_options={"encoding": "authors"})
    records = [make_record(profile="ablation-02-encoding", theta=0.9, config={"hidden": 8, "loss": "logits"},
                           data_options={"encoding": "normalized"}),
               make_record(profile="ablation-00-start", **base),
               make_record(profile="ablation-01-loss", config={"hidden": 8, "loss": "logits"},
                           data_options={"encoding": "authors"}, accuracy=0.5),
               make_record(profile="ablation-01-loss", seed=1, config={"hidden": 8, "loss": "logits"},
                           data_options={"encoding": "authors"}, accuracy=0.7),
               make_record(profile="quick")]
    rows = ablation_rows(records, {"ablation-01-loss": "loss: on the logits"})
    assert [row.label for row in rows] == ["00 start", "01 loss", "02 encoding"]
    assert [row.change for row in rows] == ["start", "loss: on the logits", "encoding"]
    assert rows[0].settings_changed == "-"
    assert rows[1].settings_changed == "loss: sigmoid-outputs → logits"
    assert rows[2].settings_changed == "data.encoding: authors → normalized"
    assert rows[1].seeds == 2 and rows[1].estimates["accuracy"].mean == pytest.approx(0.6)
    assert settings_changed(records[1], records[1]) == "nothing"


def test_the_figure_cuts_intervals_at_the_values_a_metric_can_take():
    from bench.analysis.ablation import ablation_figure

    # two seeds far apart: the Student-t interval of the accuracy reaches far beyond 1 and below 0
    records = [make_record(profile="ablation-00-start", seed=seed, accuracy=accuracy, first_step_accuracy=accuracy,
                           decision_step_mean=step, n_steps=20)
               for seed, accuracy, step in ((0, 0.99, 1.0), (1, 0.40, 20.0))]
    assert ablation_rows(records)[0].estimates["accuracy"].half_width > 1
    figure = ablation_figure(records, "mnist-temporal")
    accuracy, decision = figure.axes[0], figure.axes[1]
    assert accuracy.get_xlim()[1] == pytest.approx(1.02)
    for axes, low, high in ((accuracy, 0.0, 1.0), (decision, 1.0, 20.0)):
        ends = [x for line in axes.lines for x in line.get_xdata()]  # the caps of the error bars
        assert ends and min(ends) >= low - 1e-9 and max(ends) <= high + 1e-9


# ----------------------------------------------------------------------------- end to end, tiny


TINY_START = """
name = "ablation-00-tiny"
description = "start: a tiny notebook-like recipe"
seeds = [0]
data_seed = 0

[protocol]
epochs = 1
batch_size = 8
lr_schedule = "constant"
selection = "best-val-accuracy"

[contenders.rc-lstm]
hidden = 4
loss = "sigmoid-outputs"

[tasks.mnist-temporal]
thresholds = [0.95]
rule = "sigmoid-notebook"
curve_examples = 6
[tasks.mnist-temporal.data]
encoding = "authors-notebook"
n_val = 6
n_test = 6
steps = 6
"""

TINY_STEPS = {
    "ablation-01-loss": ('"ablation-00-tiny.toml"', "loss: on the logits",
                         '[contenders.rc-lstm]\nloss = "logits"\n'),
    "ablation-02-encoding": ('"ablation-01-loss.toml"', "normalised encoding",
                             '[tasks.mnist-temporal.data]\nencoding = "normalized"\n'),
}


def write_tiny_sequence(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = [folder / "ablation-00-tiny.toml"]
    paths[0].write_text(TINY_START, encoding="utf-8")
    for name, (extends, description, body) in TINY_STEPS.items():
        path = folder / f"{name}.toml"
        path.write_text(f'extends = {extends}\nname = "{name}"\ndescription = "{description}"\n# why\n{body}',
                        encoding="utf-8")
        paths.append(path)
    return paths


def test_a_tiny_ablation_runs_end_to_end_into_one_table_and_figure(tmp_path, monkeypatch, capsys):
    fixture = build_fixture(tmp_path, monkeypatch, n_train=30, n_test=12)
    steps = write_tiny_sequence(tmp_path / "steps")
    monkeypatch.setattr(ablation, "ABLATION_DIR", tmp_path / "steps")
    out = tmp_path / "ablation"
    for path in steps:
        code = main(["run", "--profile", str(path), "--tasks", TASK, "--contenders", CONTENDER, "--threads", "1",
                     "--workers", "1", "--resume", "--out", str(out), "--device", "cpu",
                     "--data-dir", str(fixture.data_dir)])
        assert code == 0, capsys.readouterr().err
    assert main(["figures", "--results", str(out)]) == 0
    records = read_records(out / "results.jsonl")
    assert [record["profile"] for record in records] == [path.stem for path in steps]

    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert report.index("## Ablation: mnist-temporal") < report.index("## mnist-temporal")
    section = report[report.index("## Ablation: mnist-temporal"):report.index("## mnist-temporal")]
    rows = [line for line in section.splitlines() if re.match(r"\| \d\d ", line)]
    assert len(rows) == 3
    for row, record, path in zip(rows, records, steps):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        step, change, changed, seeds, accuracy, decision, first, seconds, macs = cells
        assert step == f"{path.stem[9:11]} {path.stem[12:]}"
        assert change == step_descriptions(tmp_path / "steps")[path.stem]
        assert seeds == "1"
        assert accuracy == f"{record['accuracy']:.4f}"
        assert decision == f"{record['decision_step_mean']:.2f}"
        assert first == f"{record['first_step_accuracy']:.4f}"
        assert seconds == f"{record['training']['train_seconds']:.1f}"
        assert macs == f"{record['training']['forward_macs'] + record['training']['backward_macs']:.3g}"
    assert [cell.split("|")[3].strip() for cell in rows] == [
        "-", "loss: sigmoid-outputs → logits", "data.encoding: authors-notebook → normalized"]
    figure = out / "figures" / "mnist-temporal-ablation.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(figures/mnist-temporal-ablation.png)" in section
    assert report.count("mnist-temporal-ablation.png") == 1
