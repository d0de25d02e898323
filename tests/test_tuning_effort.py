"""The tuning behind each row of a report (bench/analysis/tuning_effort.py, ``rcbench figures --tuning``):
rows matched to their ``rcbench tune`` search by configuration hash, unequal trial counts and untuned
settings flagged, bad trials files refused before drawing, and the report made again byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.regenerate import ReportError, make_report, recorded_arguments, regenerate
from bench.analysis.tuning_effort import Search, TuningFileError, read_searches, row_tuning, tuning_lines
from bench.cli import main
from bench.run.tune import TRIAL_FIELDS, TRIALS_SCHEMA_VERSION
from helpers import make_record


def trial(contender: str, number: int, config_hash: str, objective: float | None, task: str = "toy-noise",
          state: str = "complete") -> dict:
    """A trial record of ``rcbench tune`` with every field its reader requires."""
    record = {name: None for name in TRIAL_FIELDS}
    record.update(tune_schema_version=TRIALS_SCHEMA_VERSION, task=task, contender=contender, trial=number,
                  state=state, config_hash=config_hash, objective_value=objective, val_accuracy=objective)
    return record


def write_lines(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def search(*trials: dict) -> Search:
    return Search(Path("trials.jsonl"), tuple(trials))


def rows(lines: list[str]) -> dict[str, list[str]]:
    """The table's rows by configuration label (flag mark removed): their cells."""
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| configuration")]
    return {cells[0].removesuffix(" ⚑"): cells[1:] for cells in
            ([cell.strip() for cell in line.strip("|").split("|")] for line in table)}


def test_a_row_runs_the_best_trial_when_its_hash_is_the_best_trials():
    """The best trial is the highest objective, the lowest trial number on a tie; a failed trial does not
    count as a finished one; a row at another trial's hash, or at none, says so."""
    found = search(trial("rc-lstm", 0, "aaa", 0.9), trial("rc-lstm", 1, "bbb", 0.95),
                   trial("rc-lstm", 2, "ccc", 0.95), trial("rc-lstm", 3, "ddd", None, state="failed"))
    best = row_tuning([make_record(config_hash="bbb"), make_record(config_hash="bbb", seed=1)], found)
    assert (best.trials, best.origin, best.best_accuracy, best.from_best) == (3, "best trial", 0.95, True)
    assert row_tuning([make_record(config_hash="ccc")], found).origin == "trial 2 (not the best)"
    assert row_tuning([make_record(config_hash="zzz")], found).origin == "none of the trials"
    unsearched = row_tuning([make_record(config_hash="zzz")], None)
    assert (unsearched.trials, unsearched.origin, unsearched.source) == (0, "no search", None)


def test_a_row_whose_seeds_ran_different_configurations_is_refused():
    with pytest.raises(TuningFileError, match="2 configuration hashes"):
        row_tuning([make_record(config_hash="aaa"), make_record(config_hash="bbb", seed=1)], None)


def test_rows_with_other_trial_counts_or_untuned_settings_are_flagged():
    records = [make_record(contender="rc-lstm", config_hash="r1"),
               make_record(contender="lstm-eos", config_hash="e1", beta=None),
               make_record(contender="lstm-allsteps", config_hash="a9", beta=None),
               make_record(contender="snn-ttfs", config_hash="s1", theta=None, beta=None, rule="first-spike")]
    searches = {("toy-noise", "rc-lstm"): search(*(trial("rc-lstm", n, f"r{n}", 0.5 + n / 10) for n in range(2))),
                ("toy-noise", "lstm-eos"): search(*(trial("lstm-eos", n, f"e{n}", 0.5 + n / 10) for n in range(2))),
                ("toy-noise", "lstm-allsteps"): search(trial("lstm-allsteps", 0, "a0", 0.7),
                                                       trial("lstm-allsteps", 1, "a1", 0.6))}
    lines = tuning_lines(records, searches)
    table = rows(lines)
    assert table["rc-lstm θ=0.9 β=0"] == ["2", "best trial", "0.6000", "`trials.jsonl`", "-"]
    assert table["lstm-eos θ=0.9"] == ["2", "best trial", "0.6000", "`trials.jsonl`", "-"]
    assert table["lstm-allsteps θ=0.9"] == ["2", "none of the trials", "0.7000", "`trials.jsonl`",
                                          "not the search's best trial"]
    assert table["snn-ttfs rule first-spike"] == ["0", "no search", "-", "-", "0 trials (others 2)"]
    assert "⚑ 2 of 4 rows differ" in lines[0]
    assert sum("⚑" in line for line in lines[3:]) == 2


def test_rows_of_one_search_each_at_its_best_trial_are_not_flagged():
    records = [make_record(contender=name, config_hash=name) for name in ("rc-lstm", "lstm-eos")]
    searches = {("toy-noise", name): search(trial(name, 0, name, 0.8), trial(name, 1, "other", 0.7))
                for name in ("rc-lstm", "lstm-eos")}
    lines = tuning_lines(records, searches)
    assert "Every row runs its search's best trial, with the same number of trials." in lines[0]
    assert not any("⚑" in line for line in lines)


def test_a_task_without_any_search_gets_no_tuning_table():
    records = [make_record(config_hash="x")]
    assert tuning_lines(records, {("fsdd", "rc-lstm"): search(trial("rc-lstm", 0, "x", 0.9, task="fsdd"))}) == []


def test_trials_files_that_are_not_ones_or_do_not_fit_the_records_are_refused(tmp_path):
    records_file = write_lines(tmp_path / "results.jsonl", [make_record()])
    with pytest.raises(TuningFileError, match=r"--tuning .*results.jsonl:1: not a trial record"):
        read_searches([records_file], {"toy-noise"})
    other_task = write_lines(tmp_path / "fsdd" / "trials.jsonl", [trial("rc-lstm", 0, "x", 0.9, task="fsdd")])
    with pytest.raises(TuningFileError, match="task\\(s\\) fsdd, which no record has \\(records: toy-noise\\)"):
        read_searches([other_task], {"toy-noise"})
    first = write_lines(tmp_path / "a" / "trials.jsonl", [trial("rc-lstm", 0, "x", 0.9)])
    second = write_lines(tmp_path / "b" / "trials.jsonl", [trial("rc-lstm", 0, "y", 0.8)])
    with pytest.raises(TuningFileError, match="both .*a/trials.jsonl and .*b/trials.jsonl hold trials of task "
                                              "'toy-noise', contender 'rc-lstm'"):
        read_searches([first, second], {"toy-noise"})
    with pytest.raises(TuningFileError, match="--tuning .*missing.jsonl"):
        read_searches([tmp_path / "missing.jsonl"], {"toy-noise"})


def test_a_report_with_tuning_records_it_and_is_made_again_byte_for_byte(tmp_path, capsys):
    """The table lands in REPORT.md after the budget table; the first line records --tuning relative to
    the report's folder, so --regenerate --check finds nothing changed; a bad trials file is refused
    before anything is drawn."""
    run = tmp_path / "results" / "run"
    write_lines(run / "results.jsonl", [make_record(seed=seed, contender=name, config_hash=f"{name}-best")
                                        for seed in (0, 1) for name in ("rc-lstm", "lstm-eos")])
    trials = write_lines(tmp_path / "results" / "tune" / "trials.jsonl",
                         [trial(name, n, f"{name}-best" if n == 1 else f"{name}-{n}", 0.6 + n / 10)
                          for name in ("rc-lstm", "lstm-eos") for n in range(3)])
    out = tmp_path / "results" / "combined"
    make_report([run], out, tuning=[trials])
    report = out / "REPORT.md"
    assert recorded_arguments(report) == ["--results", "../run", "--out", ".", "--tuning", "../tune/trials.jsonl"]
    text = report.read_text(encoding="utf-8")
    assert text.index("Protocol and budget of each row") < text.index("Tuning behind each row")
    table = rows(text[text.index("Tuning behind each row"):].split("\n\n")[1].splitlines())
    assert table["rc-lstm θ=0.9 β=0"] == ["3", "trial 1 (not the best)", "0.8000", "`../tune/trials.jsonl`",
                                          "not the search's best trial"]
    assert regenerate(report, check=True).different == ()
    with pytest.raises(ReportError, match="not a trial record"):
        make_report([run], tmp_path / "bad", tuning=[run / "results.jsonl"])
    assert not (tmp_path / "bad" / "figures").exists()
    assert main(["figures", "--regenerate", str(out), "--tuning", str(trials)]) == 2
    assert "leave out --results, --out, --bounds, --tuning" in capsys.readouterr().err


def test_a_setting_added_after_the_trials_counts_at_its_default_when_rows_are_matched():
    """A trial written before ``snn-conv`` had ``init_target`` lacks it, so its stored hash differs from a
    record of the same settings written after; the row still runs that trial, with the missing setting at
    its default. A record at another value of an old setting runs that other trial; one at another value
    of the new setting runs none of them."""
    from dataclasses import asdict

    from baselines.registry import CONTENDERS
    from bench.analysis.tuning_effort import settings_hash
    from bench.core.records import config_hash

    config = json.loads(json.dumps(asdict(CONTENDERS["snn-conv"].Config(hidden=64, lr=0.004)), default=str))
    data_options, data_seed = {"n_train": 100, "encoding": "normalized"}, 0
    old_config = {name: value for name, value in config.items() if name != "init_target"}

    def entry(values: dict, **fields) -> dict:
        return {"contender": "snn-conv", "config": values, "data_options": data_options, "data_seed": data_seed,
                "config_hash": config_hash(values, data_options, data_seed), **fields}

    old_trial = {**trial("snn-conv", 0, "", 0.9), **entry(old_config)}
    other_trial = {**trial("snn-conv", 1, "", 0.8), **entry({**old_config, "hidden": 32})}
    found = search(old_trial, other_trial)
    assert old_trial["config_hash"] != config_hash(config, data_options, data_seed)
    assert settings_hash(old_trial) == settings_hash(entry(config)) == config_hash(config, data_options, data_seed)
    assert row_tuning([make_record(**entry(config))], found).origin == "best trial"
    assert row_tuning([make_record(**entry({**config, "hidden": 32}))],
                      found).origin == "trial 1 (not the best)"
    assert row_tuning([make_record(**entry({**config, "init_target": 0.5}))],
                      found).origin == "none of the trials"
