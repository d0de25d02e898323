"""How each row of a task's table was tuned: the ``rcbench tune`` searches behind it.

``rcbench figures --tuning FILE...`` reads the trials files (``trials.jsonl``) that ``rcbench
tune`` wrote (:func:`bench.run.tune.read_trials`). For each row of a task's table (a
configuration, :func:`bench.analysis.summary.group_records`), :func:`row_tuning` finds the
trials of the same task and contender and tells where the row's settings come from, by the
configuration hash that ``rcbench run`` and ``rcbench tune`` both give a configuration
(:func:`bench.core.records.config_hash`: the contender's whole config, the data options and
the data seed; neither the seed nor theta), taken over the config as the contender's ``Config``
has it today (:func:`settings_hash`: a setting added to the contender after a record or trial
was written counts at its default, the behaviour the code that wrote it had):

* ``best trial``: the records' hash is the search's best trial's (highest objective, lowest
  trial number on a tie: :func:`bench.run.tune.best_trial`), so the row runs what the search chose;
* ``trial N (not the best)``: it is another trial's;
* ``none of the trials``: the contender was searched, but the row runs other settings;
* ``no search``: no trials file names the task and contender.

:func:`tuning_lines` prints the table, one row per configuration, with the finished trials
of each row's search, and flags (⚑) every row whose trial count differs from the task's most
common count or whose settings are not its search's best trial's: rows compared at unequal
tuning effort, or not at the tuned settings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from baselines.registry import CONTENDERS
from bench.analysis.summary import configuration_label, group_records, several_profiles, shown_path
from bench.core.records import config_hash
from bench.run.tune import TrialsFileError, best_trial, read_trials


class TuningFileError(ValueError):
    """A trials file cannot be read, or names no task the records have."""


@dataclass(frozen=True)
class Search:
    """The trials of one task and contender, and the file they came from."""

    source: Path
    trials: tuple[dict[str, Any], ...]

    @property
    def finished(self) -> int:
        """Trials that finished with an objective (failed trials do not count as effort spent)."""
        return sum(trial["state"] == "complete" and trial["objective_value"] is not None for trial in self.trials)

    @property
    def best(self) -> dict[str, Any] | None:
        return best_trial(self.trials)


def read_searches(paths: Sequence[Path], tasks: set[str]) -> dict[tuple[str, str], Search]:
    """``(task, contender)`` -> its :class:`Search`, from the trials files ``paths``.

    Raises:
        TuningFileError: a file is not a trials file; it has no trial of any of ``tasks``; or two files
            both hold trials of one task and contender (which search stands behind the row would be moot).
    """
    searches: dict[tuple[str, str], Search] = {}
    for path in paths:
        try:
            trials = read_trials(path)
        except (TrialsFileError, OSError) as error:
            raise TuningFileError(f"--tuning {path}: {error}") from None
        by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for trial in trials:
            by_key.setdefault((trial["task"], trial["contender"]), []).append(trial)
        if not any(task in tasks for task, _ in by_key):
            named = sorted({task for task, _ in by_key}) or ["none"]
            raise TuningFileError(f"--tuning {path}: its trials are of task(s) {', '.join(named)}, which no "
                                  f"record has (records: {', '.join(sorted(tasks))})")
        for key, key_trials in by_key.items():
            if key in searches:
                raise TuningFileError(f"--tuning: both {searches[key].source} and {path} hold trials of task "
                                      f"{key[0]!r}, contender {key[1]!r}; give one search per contender")
            searches[key] = Search(path, tuple(key_trials))
    return searches


@dataclass(frozen=True)
class RowTuning:
    """Where one row's settings come from (see the module docstring)."""

    trials: int
    origin: str
    best_accuracy: float | None
    source: Path | None

    @property
    def from_best(self) -> bool:
        return self.origin == "best trial"


def settings_hash(entry: dict[str, Any]) -> str | None:
    """The configuration hash of a record or trial, over its contender's config completed to today's ``Config``.

    A setting the contender's ``Config`` has now but ``entry["config"]`` lacks was added to the code
    after the entry was written; it is taken at its default, which by the rule for new settings
    (docs/extending.md) is the behaviour the code had before. With nothing missing, for a contender that
    is not registered here, or for an entry without its config, data options and data seed, this is the
    stored ``config_hash`` (None when the entry has none).
    """
    stored = entry.get("config_hash")
    if (not isinstance(entry.get("config"), dict) or "data_options" not in entry or "data_seed" not in entry
            or entry.get("contender") not in CONTENDERS):
        return stored
    config = entry["config"]
    # every field of a Config has a default (the contender contract); through JSON, as a record stores it
    defaults = json.loads(json.dumps(asdict(CONTENDERS[entry["contender"]].Config()), default=str))
    if defaults.keys() <= config.keys():
        return stored
    return config_hash({**defaults, **config}, entry["data_options"], entry["data_seed"])


def row_tuning(group: Sequence[dict[str, Any]], search: Search | None) -> RowTuning:
    """The tuning of the row whose records are ``group``, given its task and contender's ``search``.

    Raises:
        TuningFileError: the row's records were made with different configurations (hashes).
    """
    hashes = {settings_hash(record) for record in group}
    if len(hashes) != 1:
        raise TuningFileError(f"the records of one row ({group[0]['task']}, {group[0]['contender']}) have "
                              f"{len(hashes)} configuration hashes; their tuning cannot be told")
    if search is None:
        return RowTuning(0, "no search", None, None)
    [row_hash] = hashes
    best = search.best
    if best is not None and settings_hash(best) == row_hash:
        origin = "best trial"
    else:
        matching = sorted(trial["trial"] for trial in search.trials if settings_hash(trial) == row_hash)
        origin = f"trial {matching[0]} (not the best)" if matching else "none of the trials"
    return RowTuning(search.finished, origin, None if best is None else float(best["val_accuracy"]), search.source)


def tuning_lines(task_records: Sequence[dict[str, Any]], searches: dict[tuple[str, str], Search],
                 report_dir: Path | None = None) -> list[str]:
    """Markdown: each row's search (finished trials, where its settings come from, the best trial's
    validation accuracy, the trials file relative to ``report_dir``), with the flags of the module
    docstring; nothing when no search names the task."""
    groups = group_records(task_records)
    task = next(iter(groups)).task
    if not any(key[0] == task for key in searches):
        return []
    several = several_profiles(task_records)
    tunings = {key: row_tuning(group, searches.get((key.task, key.contender))) for key, group in groups.items()}
    counts = Counter(tuning.trials for tuning in tunings.values()).most_common()
    common = counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else None
    rows, flagged = [], 0
    for key, tuning in tunings.items():
        flags = []
        if tuning.trials != common:
            flags.append(f"{tuning.trials} trials (others {common if common is not None else 'differ'})")
        if tuning.trials and not tuning.from_best:
            flags.append("not the search's best trial")
        flagged += bool(flags)
        source = "-" if tuning.source is None else f"`{shown_path(tuning.source, report_dir)}`"
        accuracy = "-" if tuning.best_accuracy is None else f"{tuning.best_accuracy:.4f}"
        rows.append(f"| {configuration_label(key, several)}{' ⚑' if flags else ''} | {tuning.trials} | "
                    f"{tuning.origin} | {accuracy} | {source} | {'; '.join(flags) or '-'} |")
    verdict = ("Every row runs its search's best trial, with the same number of trials."
               if not flagged else f"⚑ {flagged} of {len(groups)} rows differ; the last column says how.")
    return ["Tuning behind each row (`rcbench tune` trials files given with `--tuning`; searched on the "
            "validation split only): finished trials of the row's task and contender, whether the row's "
            f"configuration is the search's best trial's (by configuration hash), and that trial's validation "
            f"accuracy. {verdict}", "",
            "| configuration | trials | settings from | best val. accuracy | trials file | flag |",
            "|---|---|---|---|---|---|", *rows, ""]
