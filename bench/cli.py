"""The ``rcbench`` command line (also ``python -m bench``).

Verbs:
    list     the registered tasks and contenders
    run      train and evaluate cells of a profile, append records, print a summary
    figures  draw figures and REPORT.md from stored records, without training
    compare-records  compare two records files cell by cell, leaving out timings
    speed    a grid of T, H, batch and decision patterns: truncated vs naive training, early exit vs full inference
    latency  side-by-side timing of early-exit and full-sequence inference
    bound    information bound per step: a static MLP's test accuracy on the first t steps of a coded image task
    data    fetch a data set's official files (verified by hash), or check the files present
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.registry import CONTENDERS
from bench.data.catalog import SPEECH_DATASETS
from bench.data.mnist import DATASETS
from bench.data.paths import DATA_DIR_ENV, resolve_data_dir
from bench.run.executors import EXECUTORS, RAY_INSTALL_HINT
from bench import package_version
from bench.core.options import OptionError
from bench.run.profile import BUILTIN_PROFILES, load_profile
from rc.threads import set_cpu_threads
from bench.tasks.registry import TASKS


def _csv(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return items


def _numbers(kind: type) -> "callable":
    def parse(text: str) -> list:
        try:
            return [kind(item) for item in _csv(text)]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
    return parse


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; other names are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
    return device


def command_list(_args: argparse.Namespace) -> int:
    print("tasks:")
    for name, task in sorted(TASKS.items()):
        dataset = getattr(task, "dataset", None)
        fetch_key = getattr(task, "fetch_key", None)
        if dataset is not None and dataset.key in DATASETS:
            note = f" (needs a download: rcbench data fetch {dataset.key})"
        elif fetch_key in SPEECH_DATASETS:
            note = f" (needs a download: rcbench data fetch {fetch_key})"
        elif task.needs_download:
            note = " (needs its official files in the data folder; see the README)"
        else:
            note = ""
        print(f"  {name:<16} {task.description}{note}")
    print("contenders:")
    for name, contender in sorted(CONTENDERS.items()):
        source = CONTENDERS.distributions.get(name)
        origin = f" (plug-in: {source[0]} {source[1]})" if source else ""
        print(f"  {name:<16} {contender.description}{origin}")
    for name, error in sorted(CONTENDERS.broken.items()):
        print(f"  {name:<16} BROKEN: {error}")
    print(f"profiles: {', '.join(BUILTIN_PROFILES)} (or a path to a profile TOML file)")
    return 0


def command_run(args: argparse.Namespace) -> int:
    from bench.run.executors import ExecutorSettings
    from bench.run.harness import plan_jobs
    from bench.run.jobs import JobError, run_jobs
    from bench.core.records import read_records
    from bench.analysis.summary import markdown_table, write_summary

    executor = ExecutorSettings(args.executor, args.workers, args.address, args.threads)
    executor.check()  # --workers 0, --address without ray, ray not installed: before anything else
    named_data_dir = args.data_dir or os.environ.get(DATA_DIR_ENV)
    if named_data_dir and not Path(named_data_dir).expanduser().is_dir():
        source = "--data-dir" if args.data_dir else DATA_DIR_ENV
        raise OptionError(f"{source} {named_data_dir}: no such folder (a mistyped path would otherwise "
                          f"leave tasks without their data)")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise OptionError(f"--out {args.out} is a file; it must name a folder for results.jsonl and summary.md")
    profile = load_profile(args.profile)
    tasks = args.tasks or list(profile.tasks)
    device = resolve_device(args.device)
    if args.executor == "ray" and device.type == "cuda" and device.index is not None:
        raise OptionError(f"--executor ray gives each job the GPU Ray assigns it; use --device cuda, not {args.device}")
    if args.threads is not None:
        set_cpu_threads(args.threads)
    jobs = plan_jobs(profile, tasks, args.contenders, args.seeds, args.thresholds, args.betas)
    if args.plan:
        from bench.run.jobs import TaskCache
        from bench.run.plan import DEFAULT_REFERENCE, estimate_jobs, format_plan, reference_records

        reference = Path(args.plan_from) if args.plan_from else DEFAULT_REFERENCE
        if args.plan_from and not reference.is_dir():
            raise OptionError(f"--plan-from {reference}: no such folder")
        records = reference_records(reference) if reference.is_dir() else []
        estimates = estimate_jobs(jobs, profile, TaskCache(profile, resolve_data_dir(args.data_dir)), records)
        print(format_plan(estimates, profile, reference if records else None), end="")
        return 0
    out = Path(args.out or f"runs/{profile.name}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    records_path = out / "results.jsonl"
    errors_path = out / "errors.jsonl"
    print(f"rcbench run: profile {profile.name}, {len(jobs)} training jobs on {device}; "
          f"records go to {records_path}", file=sys.stderr, flush=True)
    try:
        result = run_jobs(jobs, profile, records_path, device, resume=args.resume,
                          data_dir=resolve_data_dir(args.data_dir), errors=errors_path, executor=executor)
    except JobError as error:
        print(f"{error.traceback.rstrip()}\nrcbench: error: {error}\nrcbench: the run stopped; "
              f"{len(error.result.written)} new records were written to {records_path} and are kept; "
              f"fix the error and rerun with --resume", file=sys.stderr)
        return 1
    written = result.written
    everything = read_records(records_path) if records_path.exists() else []
    if not everything:
        print("no records")
    else:
        if profile.description:
            print(f"profile {profile.name}: {profile.description}\n")
        print(markdown_table(written or everything), end="")
        write_summary(everything, out / "summary.md", f"rcbench results: {out}", profile.description)
        print(f"\n{len(written)} new records; {len(everything)} in {records_path}; summary in {out / 'summary.md'}")
    if result.failures:
        print(f"rcbench: {len(result.failures)} cell(s) failed and have no record (details in {errors_path}; "
              f"rerun them with --resume once fixed):", file=sys.stderr)
        for failure in result.failures:
            task, contender, seed, theta, beta, _profile, rule = failure.cell
            cell = (f"{task} {contender} seed={seed}" + (f" beta={beta:g}" if beta is not None else "")
                    + (f" theta={theta:g}" if theta is not None else f" rule={rule}"))
            print(f"  {cell}: {failure.kind}: {failure.message}", file=sys.stderr)
        return 1
    return 0


def command_tune(args: argparse.Namespace) -> int:
    from bench.run.executors import ExecutorSettings
    from bench.run.jobs import JobError
    from bench.run.tune import TRIALS_FILE, TUNED_PROFILE_FILE, import_optuna, load_search, summary_lines, tune

    import_optuna()  # not installed: say how, before anything else
    executor = ExecutorSettings(args.executor, args.workers, args.address, args.threads)
    executor.check()
    if args.data_dir and not Path(args.data_dir).expanduser().is_dir():
        raise OptionError(f"--data-dir {args.data_dir}: no such folder")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise OptionError(f"--out {args.out} is a file; it must name a folder for trials.jsonl and tuned.toml")
    plan = load_search(args.profile, args.tasks, args.contenders, args.trials)  # every check, nothing trained
    device = resolve_device(args.device)
    if args.threads is not None:
        set_cpu_threads(args.threads)
    out = Path(args.out or f"runs/tune-{plan.profile.name}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    studies = sum(len(search.spaces) for search in plan.tasks.values())
    trials = sum(search.trials * len(search.spaces) for search in plan.tasks.values())
    print(f"rcbench tune: profile {plan.profile.name}, {studies} (task, contender) searches, {trials} trials on "
          f"{device}, validation split only; trials go to {out / TRIALS_FILE}", file=sys.stderr, flush=True)
    try:
        result = tune(plan, out, device, seed=args.seed, batch_trials=args.batch_trials, executor=executor,
                      data_dir=resolve_data_dir(args.data_dir), resume=args.resume)
    except JobError as error:
        print(f"{error.traceback.rstrip()}\nrcbench: error: {error}\nrcbench: the tune stopped; finished trials "
              f"are kept in {out / TRIALS_FILE}; fix the error and rerun with --resume", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(result)))
    print(f"\n{len(result.new)} new trials, {len(result.trials)} in {out / TRIALS_FILE}; tuned profile "
          f"{out / TUNED_PROFILE_FILE} (rcbench run --profile {out / TUNED_PROFILE_FILE}); summary in "
          f"{out / 'summary.md'}")
    return 0


def command_figures(args: argparse.Namespace) -> int:
    from bench.analysis.regenerate import ReportError, is_figures_report, make_report, regenerate

    try:
        if args.regenerate:
            if args.results or args.out or args.bounds or args.tuning or args.compute_budget is not None:
                raise OptionError("--regenerate takes its settings from each report; leave out --results, "
                                  "--out, --bounds, --tuning and --compute-budget")
            given = {Path(path) for path in args.regenerate if Path(path).is_file()}
            reports = sorted({report for folder in map(Path, args.regenerate) for report in
                              ([folder] if folder.is_file() else folder.rglob("REPORT.md"))})
            if not reports:
                raise OptionError(f"no REPORT.md under {', '.join(args.regenerate)}")
            status = 0
            for report in reports:
                if report not in given and not is_figures_report(report):
                    print(f"{report}: skipped (not made by rcbench figures)")
                    continue
                result = regenerate(report, check=args.check)
                verdict = ("byte for byte" if not result.different else
                           f"{len(result.different)} file(s) {'differ' if args.check else 'rewritten'}: "
                           + ", ".join(result.different[:5]) + (" ..." if len(result.different) > 5 else ""))
                print(f"{report}: {verdict}")
                status = 1 if args.check and result.different else status
            return status
        if not args.results:
            raise OptionError("give --results (folders or records files), or --regenerate")
        sources = [Path(path) for path in args.results]
        out = Path(args.out) if args.out else (sources[0] if sources[0].is_dir() else sources[0].parent)
        count, report = make_report(sources, out, [Path(path) for path in args.bounds or ()], args.compute_budget,
                                    overwrite=args.overwrite, tuning=[Path(path) for path in args.tuning or ()])
    except ReportError as error:
        raise OptionError(str(error)) from None
    print(f"{count} figures (PNG and SVG) in {out / 'figures'}; report in {report}")
    return 0


def command_compare_records(args: argparse.Namespace) -> int:
    from bench.analysis.compare import VOLATILE_FIELDS, compare_records, format_comparison
    from bench.core.records import read_records

    paths = [path / "results.jsonl" if path.is_dir() else path for path in map(Path, (args.a, args.b))]
    comparison = compare_records(read_records(paths[0]), read_records(paths[1]),
                                 (*VOLATILE_FIELDS, *(args.ignore or ())))
    text = format_comparison(comparison, str(paths[0]), str(paths[1]))
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0 if comparison.identical else 1


def command_speed(args: argparse.Namespace) -> int:
    from bench.analysis.speed_figure import write_speed_figure
    from bench.measure.speed import (PROGRESS_HEADER, Grid, check_targets, format_progress, format_scaling,
                                     scaling_grid, write_scaling)

    if args.threads is not None:
        set_cpu_threads(args.threads)
    if args.repeats < 1:
        raise OptionError(f"--repeats must be >= 1, got {args.repeats}")
    device = resolve_device(args.device)
    grid = Grid(tuple(args.time_steps), tuple(args.hidden), tuple(args.batch), tuple(args.patterns))
    settings = {"time_steps": args.time_steps, "hidden": args.hidden, "batch": args.batch,
                "patterns": args.patterns, "repeats": args.repeats, "seed": args.seed,
                "device": str(device), "torch_threads": torch.get_num_threads(),
                "flush_denormal": not args.keep_denormals}
    print(PROGRESS_HEADER, flush=True)
    rows = scaling_grid(grid, args.repeats, args.seed, device,
                        progress=lambda row, seconds: print(format_progress(row, seconds), flush=True),
                        flush_denormal=not args.keep_denormals)
    print()
    print(format_scaling(rows))
    if args.out:
        write_scaling(rows, Path(args.out), settings, device)
        figure = write_speed_figure(rows, Path(args.out))
        print(f"written to {Path(args.out) / 'speed.md'}, speed.json and {figure.name}")
    missed = check_targets(rows)
    print("targets met" if not missed else f"targets missed ({len(missed)}):\n  " + "\n  ".join(missed))
    return 0


def command_data_fetch(args: argparse.Namespace) -> int:
    from bench.data.mnist import fetch

    if args.name in SPEECH_DATASETS:
        return fetch_speech_dataset(args)
    if args.version is not None:
        raise OptionError(f"--version does not apply to {args.name} (only to gsc)")
    try:
        paths = fetch(args.name, resolve_data_dir(args.data_dir), args.mirror)
    except OSError as error:  # every mirror failed (DownloadError), or the data folder is not writable
        print(f"rcbench: error: {error}", file=sys.stderr)
        return 1
    print(f"{args.name}: {len(paths)} verified files in {paths[0].parent}")
    return 0


def fetch_speech_dataset(args: argparse.Namespace) -> int:
    """``rcbench data fetch fsdd|gsc|shd``: download the archive, verify it, unpack it into place."""
    dataset = SPEECH_DATASETS[args.name]
    version = dataset.version(args.version)
    try:
        paths = dataset.fetch(resolve_data_dir(args.data_dir), version, args.mirror)
    except (OSError, ValueError) as error:  # no mirror served a verified archive, an unsafe archive, a full disk
        print(f"rcbench: error: {error}", file=sys.stderr)
        return 1
    print(f"{args.name}{' ' + version if version else ''}: verified, in {', '.join(map(str, paths))}")
    return 0


def command_data_check(args: argparse.Namespace) -> int:
    from bench.data.mnist import check_files, dataset_folder, fetch_command, get_dataset

    data_dir = resolve_data_dir(args.data_dir)
    known = [*DATASETS, *SPEECH_DATASETS]
    unknown = [key for key in args.names if key not in known]
    if unknown:
        raise ValueError(f"unknown data set {unknown[0]!r}; known: {', '.join(known)}")
    if args.version is not None and "gsc" not in (args.names or known):
        raise OptionError("--version applies to gsc only")
    problems = 0
    for key in args.names or known:
        if key in SPEECH_DATASETS:
            problems += check_speech_dataset(SPEECH_DATASETS[key], data_dir, args.version)
            continue
        dataset = get_dataset(key)
        print(f"{dataset.title} in {dataset_folder(dataset, data_dir)}:")
        statuses = check_files(dataset, data_dir)
        for status in statuses:
            if status.problem is None:
                print(f"  ok       {status.path.name}  sha256 {status.file.sha256}")
            elif status.path is None:
                print(f"  missing  {status.file.name} (or {status.file.name}.gz)")
            else:
                print(f"  BAD      {status.path.name}: {status.problem}")
        failed = sum(status.problem is not None for status in statuses)
        if failed:
            print(f"  {failed} of {len(statuses)} files missing or bad; fix with `{fetch_command(dataset, data_dir)}`")
        problems += failed
    return 1 if problems else 0


def check_speech_dataset(dataset, data_dir: Path, version: str | None) -> int:
    """Print the state of ``dataset``'s folders or files; return how many are missing or bad."""
    version = dataset.version(version)
    print(f"{dataset.title_of(version)} ({dataset.key}):")
    statuses = dataset.check(data_dir, version)
    for status in statuses:
        print(f"  {status.state:<8} {status.item}: {status.detail}")
    failed = sum(status.failed for status in statuses)
    if failed:
        print(f"  {failed} of {len(statuses)} missing or bad; fix with `{dataset.fetch_command(data_dir, version)}`")
    return failed


def command_latency(args: argparse.Namespace) -> int:
    from bench.measure.latency import compare_inference, format_latency, train_contender, write_latency

    if args.threads is not None:
        set_cpu_threads(args.threads)
    device = resolve_device(args.device)
    task_options = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.examples}
    if args.task == "mnist-temporal":
        task_options["fallback"] = True
    rows = []
    for name in args.contenders:
        print(f"training {name} on {args.task} ({args.n_train} examples, {args.epochs} epochs)", file=sys.stderr,
              flush=True)
        contender, test = train_contender(name, args.task, resolve_data_dir(args.data_dir), task_options,
                                          {"hidden": args.hidden, "epochs": args.epochs}, args.theta, device)
        x = test.x[0:len(test)]
        rows += [compare_inference(contender, x, test.y, batch_size, args.repeats) for batch_size in args.batch_sizes]
    print(format_latency(rows))
    if args.out:
        settings = {"task": args.task, "n_train": args.n_train, "examples": args.examples, "hidden": args.hidden,
                    "epochs": args.epochs, "theta": args.theta, "repeats": args.repeats, "device": str(device),
                    "torch_threads": torch.get_num_threads()}
        print(f"written to {write_latency(rows, Path(args.out), settings, device)} and latency.json")
    return 0


def command_bound(args: argparse.Namespace) -> int:
    from bench.measure.bound import BoundConfig, format_bound, load_coded_task, measure_bound, write_bound

    if args.threads is not None:
        if args.threads < 1:
            raise OptionError(f"--threads must be >= 1, got {args.threads}")
        set_cpu_threads(args.threads)
    device = resolve_device(args.device)
    try:
        config = BoundConfig(hidden=args.hidden, epochs=args.epochs, seed=args.seed, reference=args.reference)
    except ValueError as error:
        raise OptionError(str(error)) from None
    task_options = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test, "encoding": args.encoding}
    if args.task == "mnist-temporal":
        task_options["fallback"] = True
    data = load_coded_task(args.task, task_options, args.data_seed, resolve_data_dir(args.data_dir))
    print(f"rcbench bound: {args.task}, encoding {args.encoding}, t in {args.steps}; train {len(data.train)}, "
          f"val {len(data.val)}, test {len(data.test)} on {device}", file=sys.stderr, flush=True)
    rows = measure_bound(data, args.steps, config, device,
                         lambda line: print(f"rcbench bound: {line}", file=sys.stderr, flush=True))
    print(format_bound(rows))
    if args.out:
        settings = {"task": args.task, "encoding": args.encoding, "steps": args.steps, "n_train": len(data.train),
                    "n_val": len(data.val), "n_test": len(data.test), **asdict(config),
                    "data_seed": args.data_seed, "data_source": data.source, "device": str(device),
                    "torch_threads": torch.get_num_threads()}
        path = write_bound(rows, Path(args.out), args.task, args.encoding, settings, device, config.reference)
        print(f"written to {path} and {path.with_suffix('.json').name}")
    return 0


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--threads``, shared by every verb that computes."""
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, shared by every verb that reads real data."""
    parser.add_argument("--data-dir", help=f"data folder (default: ${DATA_DIR_ENV}, else ~/.cache/rcbench/data)")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that names each option's default where its help text does not already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and "default" not in text):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rcbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_VerbParser)

    verbs.add_parser("list", help="list tasks and contenders").set_defaults(handler=command_list)

    run = verbs.add_parser("run", help="train and evaluate a profile's cells")
    run.add_argument("--profile", default="quick",
                     help=f"built-in profile ({', '.join(BUILTIN_PROFILES)}) or a TOML path (default: quick)")
    run.add_argument("--tasks", type=_csv, help="comma-separated tasks (default: all of the profile's)")
    run.add_argument("--contenders", type=_csv, help="comma-separated contenders (default: all)")
    run.add_argument("--seeds", type=_numbers(int), help="comma-separated model seeds (default: the profile's)")
    run.add_argument("--thresholds", type=_numbers(float), help="comma-separated theta values")
    run.add_argument("--betas", type=_numbers(float), help="comma-separated beta values (contenders with beta)")
    run.add_argument("--out", help="output folder for results.jsonl and summary.md "
                                    "(default: runs/<profile>-<date>-<time>)")
    run.add_argument("--resume", action="store_true", help="skip cells already recorded in --out")
    run.add_argument("--plan", action="store_true",
                     help="print the training jobs, cells and estimated CPU-hours, and train nothing")
    run.add_argument("--plan-from", metavar="DIR",
                     help="with --plan: estimate from the records in DIR/*/results.jsonl "
                          "(default: the committed results/ of the source tree)")
    run.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="where training jobs run: local (worker processes on this machine; the default) or "
                          f"ray (Ray tasks; needs the optional extra: {RAY_INSTALL_HINT})")
    run.add_argument("--workers", type=int, metavar="N",
                     help="jobs trained at once (worker processes, or Ray tasks in flight); default: CPU cores "
                          "// --threads (1 on CUDA), at most the number of jobs; 1 runs them in this process")
    run.add_argument("--address", metavar="ADDR",
                     help="with --executor ray: the Ray cluster to join (e.g. ray://head:10001 or auto); "
                          "default: start a local Ray instance for the run and stop it at the end")
    add_device_options(run)
    add_data_dir_option(run)
    run.set_defaults(handler=command_run)

    tune = verbs.add_parser("tune", help="search hyperparameters on the validation split, the same trials per "
                                         "contender, and write the chosen values as a profile")
    tune.add_argument("--profile", required=True,
                      help="the profile whose [search] and [tasks.T.search.X] tables declare the search "
                           f"(a built-in name: {', '.join(BUILTIN_PROFILES)}, or a TOML path)")
    tune.add_argument("--tasks", type=_csv, help="comma-separated tasks (default: every task with a search space)")
    tune.add_argument("--contenders", type=_csv,
                      help="comma-separated contenders (default: every contender with a search space on a task)")
    tune.add_argument("--trials", type=int, metavar="N",
                      help="trials per contender on every task, over the profile's [search] trials")
    tune.add_argument("--seed", type=int, default=0, help="seeds the samplers (Optuna TPE)")
    tune.add_argument("--batch-trials", type=int, default=1, metavar="K",
                      help="trials each (task, contender) search asks per round, trained at once; raise it to "
                           "keep more workers busy (the trials depend on it, not on --workers)")
    tune.add_argument("--out", help="output folder for trials.jsonl, tuned.toml and summary.md "
                                    "(default: runs/tune-<profile>-<date>-<time>)")
    tune.add_argument("--resume", action="store_true",
                      help="replay the trials in --out and train only the missing ones")
    tune.add_argument("--executor", choices=EXECUTORS, default="local",
                      help="where trials train, as for run: local (worker processes on this machine) or ray "
                           f"(Ray tasks; needs the optional extra: {RAY_INSTALL_HINT})")
    tune.add_argument("--workers", type=int, metavar="N", help="trials trained at once, as for run")
    tune.add_argument("--address", metavar="ADDR", help="with --executor ray: the Ray cluster to join")
    add_device_options(tune)
    add_data_dir_option(tune)
    tune.set_defaults(handler=command_tune)

    figures = verbs.add_parser("figures", help="draw figures and REPORT.md from stored records (no training)")
    figures.add_argument("--results", nargs="+",
                         help="results folders (holding results.jsonl) or records files")
    figures.add_argument("--out", help="output folder (default: the first results folder); "
                                       "figures go to OUT/figures, the report to OUT/REPORT.md")
    figures.add_argument("--bounds", nargs="+", metavar="FILE",
                         help="information-bound files written by 'rcbench bound' (bound-*.json), drawn into "
                              "their task's accuracy-over-time figure and listed in REPORT.md")
    figures.add_argument("--tuning", nargs="+", metavar="FILE",
                         help="trials files written by 'rcbench tune' (trials.jsonl): REPORT.md shows, per row, "
                              "the trials of its task and contender and whether it runs the best one, and flags "
                              "rows tuned with other trial counts")
    figures.add_argument("--compute-budget", type=float, metavar="MACS",
                         help="training MACs at which REPORT.md compares every row at equal training compute "
                              "(default: each task's cheapest row); a budget some row cannot reach is an error")
    figures.add_argument("--overwrite", action="store_true",
                         help="replace an existing REPORT.md and its figures in --out (refused otherwise)")
    figures.add_argument("--regenerate", nargs="+", metavar="DIR",
                         help="make every REPORT.md under DIR again, in place, from the command it records")
    figures.add_argument("--check", action="store_true",
                         help="with --regenerate: change nothing; exit 1 if any report or figure would differ")
    figures.set_defaults(handler=command_figures)

    compare = verbs.add_parser("compare-records",
                               help="compare two records files cell by cell, without timings (exit 1 if they differ)")
    compare.add_argument("a", help="a results folder (holding results.jsonl) or a records file")
    compare.add_argument("b", help="the other one")
    compare.add_argument("--ignore", action="append", metavar="FIELD",
                         help="another field to leave out, as a dotted path (e.g. hardware.cpu); repeatable")
    compare.add_argument("--out", help="also write the comparison (Markdown) to this file")
    compare.set_defaults(handler=command_compare_records)

    speed = verbs.add_parser("speed", help="truncated vs naive training and early exit vs full inference: wall-clock "
                                           "and memory over a grid")
    speed.add_argument("--time-steps", type=_numbers(int), default=[20, 80, 320], help="sequence lengths T")
    speed.add_argument("--hidden", type=_numbers(int), default=[16, 64, 256, 1024], help="LSTM units")
    speed.add_argument("--batch", type=_numbers(int), default=[1, 64],
                       help="examples per training step and per inference call")
    speed.add_argument("--patterns", type=_csv, default=["equal", "spread", "tail"],
                       help="decision patterns: equal (all at T/4), spread (uniform over the first half), "
                            "tail (as equal, 2%% never crossing)")
    speed.add_argument("--repeats", type=int, default=10, help="alternating rounds per cell")
    speed.add_argument("--seed", type=int, default=0)
    speed.add_argument("--keep-denormals", action="store_true",
                       help="measure without flushing denormal floats to zero (the trigger model's small gradients "
                            "become denormal over long sequences, which some CPUs compute slowly)")
    add_device_options(speed)
    speed.add_argument("--out", help="folder to write speed.md, speed.json (with provenance) and speed.png into")
    speed.set_defaults(handler=command_speed)

    latency = verbs.add_parser("latency", help="early-exit against full-sequence inference, side by side")
    latency.add_argument("--task", default="mnist-temporal", help="the task to train and time on")
    latency.add_argument("--contenders", type=_csv, default=["rc-lstm"], help="comma-separated contenders")
    add_data_dir_option(latency)
    latency.add_argument("--n-train", type=int, default=10000, help="training examples")
    latency.add_argument("--n-val", type=int, default=1000, help="validation examples")
    latency.add_argument("--examples", type=int, default=1024, help="test examples timed")
    latency.add_argument("--hidden", type=int, default=128)
    latency.add_argument("--epochs", type=int, default=2)
    latency.add_argument("--theta", type=float, default=0.95, help="threshold of the task's crossing rule")
    latency.add_argument("--batch-sizes", type=_numbers(int), default=[1, 256])
    latency.add_argument("--repeats", type=int, default=3)
    add_device_options(latency)
    latency.add_argument("--out", help="folder to write latency.md and latency.json into (with provenance)")
    latency.set_defaults(handler=command_latency)

    bound = verbs.add_parser("bound", help="information bound per step: a static MLP on the first t coded steps")
    bound.add_argument("--task", default="mnist-temporal", help="a rank-order coded image task")
    bound.add_argument("--encoding", default="authors", help="rank-order encoding (authors, normalized)")
    bound.add_argument("--steps", type=_numbers(int), default=[1, 2, 3, 5, 10, 20],
                       help="comma-separated step counts t to measure")
    add_data_dir_option(bound)
    bound.add_argument("--n-train", type=int, help="training images (default: all not used for validation)")
    bound.add_argument("--n-val", type=int, default=5000, help="validation images, carved from the training set")
    bound.add_argument("--n-test", type=int, help="test images (default: the whole test set)")
    bound.add_argument("--epochs", type=int, default=20)
    bound.add_argument("--reference", default="mlp", help="reference classifier: mlp (784-H-H-10) or cnn "
                       "(two 5x5 convolutions with pooling, H hidden units)")
    bound.add_argument("--hidden", type=int, default=800, help="hidden units: each of the MLP's two hidden "
                       "layers, or the CNN's dense layer")
    bound.add_argument("--seed", type=int, default=0, help="seeds the weights and the minibatch order")
    bound.add_argument("--data-seed", type=int, default=0,
                       help="seed of the validation/test carving (the profiles' data_seed, 0)")
    add_device_options(bound)
    bound.add_argument("--out", help="folder to write bound-<encoding>.md and .json into (with provenance)")
    bound.set_defaults(handler=command_bound)

    data = verbs.add_parser("data", help="fetch or check the real data sets that tasks read")
    data_verbs = data.add_subparsers(dest="data_verb", required=True)
    fetch = data_verbs.add_parser("fetch", help="download a data set's official files, verified by hash")
    fetch.add_argument("name", choices=[*DATASETS, *SPEECH_DATASETS], help="the data set")
    add_data_dir_option(fetch)
    fetch.add_argument("--mirror", action="append", metavar="URL",
                       help="base URL to download from instead of the official mirrors (repeatable; tried in order)")
    fetch.add_argument("--version", choices=SPEECH_DATASETS["gsc"].versions,
                       help=f"gsc only: the Speech Commands release (default {SPEECH_DATASETS['gsc'].default_version})")
    fetch.set_defaults(handler=command_data_fetch)
    check = data_verbs.add_parser("check", help="verify that a data set's files are present and official (by hash)")
    check.add_argument("names", nargs="*", metavar="name",
                       help=f"data sets to check: {', '.join([*DATASETS, *SPEECH_DATASETS])} (default: all)")
    check.add_argument("--version", choices=SPEECH_DATASETS["gsc"].versions,
                       help=f"gsc only: the Speech Commands release (default {SPEECH_DATASETS['gsc'].default_version})")
    add_data_dir_option(check)
    check.set_defaults(handler=command_data_check)
    return parser


class _VerbParser(argparse.ArgumentParser):
    """A verb's parser: help shows defaults."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the verb's own parser, with the verb's usage
        verbs = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
        verbs.choices[args.verb].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.handler(args)
    except (OptionError, ValueError, FileExistsError) as error:
        print(f"rcbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rcbench: interrupted; finished cells are kept (rerun with --resume)", file=sys.stderr)
        return 130
