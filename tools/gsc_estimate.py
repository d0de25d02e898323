"""Size and time of a full Google Speech Commands v0.02 run, measured on a fraction and extrapolated.

The only Speech Commands data available offline here is the real 300-clip
v0.01 subset (10 clips of each of the 30 words, official layout). This script
measures on such a folder, with the ``gsc`` task's default front end (98
log-mel frames x 40 bands of 16 kHz audio):

1. the clips' counts per split and per class for the ``12-class`` setup with
   ``silence = false`` (the subset has no ``_background_noise_``) and for the
   ``all-words`` setup, exactly as the task loads them;
2. feature extraction: seconds per clip of ``speech.gsc_word_features``
   (read the WAV, resample if needed, log-mel), the median of ``--repeats``
   runs over every clip with the in-memory feature cache emptied each time;
3. feature memory: bytes per clip of the cached feature tensor, and of the
   splits the task hands to a contender; on-disk WAV bytes per clip;
4. training: one ``rc-lstm`` (``--hidden`` units, Adam, batch ``--batch-size``,
   the sigmoid rule at ``--theta``) on the all-words setup for ``--epochs``
   epochs after a one-epoch warm-up, on the CPU with ``--threads`` threads:
   training seconds per example per epoch (forward, backward, optimiser;
   validation timed apart), and per recurrent step evaluation.

It then extrapolates to v0.02's official all-words split (below) and writes
``OUT/estimate.md`` and ``OUT/estimate.json`` with the command, git revision,
package versions and hardware. Every number in them is computed here.

The rc-lstm step stops at each example's first threshold crossing; on a
fraction this small the network does not learn to cross within the measured
epochs, so it reads all 98 steps: the per-epoch time measured is the
full-sequence cost, the upper bound of an RC epoch (later epochs get cheaper
as decisions move earlier).

Usage (from the repository root, on a clean checkout so the revision is exact)::

    OMP_NUM_THREADS=1 python tools/gsc_estimate.py --data-dir ../shared/data \\
        --folder speech_commands_v0.01_subset --version v0.01 --out results/gsc-estimate
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch

import baselines  # noqa: F401  (registers the built-in contenders)
import bench.tasks  # noqa: F401  (registers the built-in tasks)
from baselines.registry import get_contender
from bench.data import gsc as gsc_data
from bench.core.provenance import command_line, git_revision, hardware, package_versions
from bench.tasks import speech
from bench.tasks.registry import get_task
from rc.crossing import make_rule

TARGET = {"version": "v0.02", "train": 84_843, "val": 9_981, "test": 11_005}
TARGET_SOURCE = (
    "Speech Commands v0.02, all 35 words, official split (a clip named in testing_list.txt is a test clip, one "
    "in validation_list.txt a validation clip, all others training clips): 84,843 / 9,981 / 11,005 clips, as "
    "reported for this split (\"SPC-2\", the SUPERB benchmark's) in Huang et al. 2022, *Masked Autoencoders that "
    "Listen*, section 4.1; they sum to 105,829, the clip count the v0.02 archive's README states "
    "(\"version 0.02 of the data set containing 105,829 audio files\")."
)
ARCHIVE_BYTES = {"v0.02": 2_428_923_189}
ARCHIVE_SOURCE = ("size of speech_commands_v0.02.tar.gz as third-party projects cite it from TensorFlow Datasets' "
                  "speech_commands checksums.tsv")
SETUPS = {"12-class (silence = false)": {"setup": "12-class", "silence": False}, "all-words": {"setup": "all-words"}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="the data folder holding --folder")
    parser.add_argument("--folder", default="speech_commands_v0.01_subset", help="the Speech Commands folder")
    parser.add_argument("--version", default="v0.01", help="its release (v0.01 or v0.02)")
    parser.add_argument("--hidden", type=int, default=128, help="rc-lstm units")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--theta", type=float, default=0.9, help="threshold of the sigmoid crossing rule")
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed (after a one-epoch warm-up)")
    parser.add_argument("--full-epochs", type=int, default=30, help="epochs of the extrapolated full run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the feature extraction timed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for estimate.md and estimate.json")
    return parser.parse_args(argv)


def class_counts(data, names: list[str]) -> dict[str, dict[str, int]]:
    """``{split: {class name: clips}}`` of a loaded task, classes in label order."""
    counts = {}
    for split in speech.SPLITS:
        per_class = Counter(getattr(data, split).y.tolist())
        counts[split] = {name: per_class[c] for c, name in enumerate(names)}
    return counts


def time_features(index: gsc_data.GscIndex, config, repeats: int) -> tuple[float, torch.Tensor]:
    """Median seconds per clip of computing every clip's features from its file, and the features."""
    runs = []
    for _ in range(repeats):
        speech.FEATURE_CACHE.clear()
        started = time.perf_counter()
        features = speech.gsc_word_features(index, config)
        runs.append((time.perf_counter() - started) / len(index.clips))
    return statistics.median(runs), features


def measure(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    data_dir = Path(args.data_dir)
    task = get_task("gsc")
    base = {"version": args.version, "folder": args.folder}
    index = gsc_data.index(data_dir, args.version, args.folder)
    config = task.options(base, "gsc estimate").frame_config()

    seconds_per_clip, features = time_features(index, config, args.repeats)
    wav_bytes = [clip.path.stat().st_size for clip in index.clips]

    counts, loaded = {}, {}
    for label, values in SETUPS.items():
        options = task.options({**base, **values}, "gsc estimate")
        loaded[label] = task.load(options, args.seed, data_dir)
        counts[label] = class_counts(loaded[label], options.class_names())
    data = loaded["all-words"]
    split_bytes = sum(getattr(data, s).x.element_size() * getattr(data, s).x.nelement() for s in speech.SPLITS)
    n_split = sum(len(getattr(data, s)) for s in speech.SPLITS)

    contender_class = get_contender("rc-lstm")
    values = {"hidden": args.hidden, "batch_size": args.batch_size, "lr": args.lr, "lr_schedule": "cosine",
              "selection": "last-epoch", "beta": args.beta}
    rule = make_rule(task.default_rule, args.theta)
    device = torch.device("cpu")
    warm = contender_class(data.spec, rule, contender_class.make_config({**values, "epochs": 1}, "warm-up"), device,
                           args.seed)
    warm.fit(data.train, data.val, progress=lambda _line: None)
    lines: list[str] = []
    contender = contender_class(data.spec, rule, contender_class.make_config({**values, "epochs": args.epochs},
                                                                             "gsc estimate"), device, args.seed)
    report = contender.fit(data.train, data.val, progress=lines.append)
    examples = args.epochs * len(data.train)
    train_per_example = report.train_seconds / examples
    mean_steps = report.step_evaluations_forward / examples
    return {
        "settings": {"data_dir": str(data_dir), "folder": args.folder, "version": args.version,
                     "frames": config.frames, "bands": config.bands, "sample_rate": config.sample_rate,
                     "contender": "rc-lstm", "rule": f"{task.default_rule} theta {args.theta}",
                     **values, "epochs_timed": args.epochs, "warm_up_epochs": 1, "threads": args.threads,
                     "feature_repeats": args.repeats, "seed": args.seed, "full_epochs": args.full_epochs},
        "clips": len(index.clips),
        "counts": counts,
        "features": {"seconds_per_clip": seconds_per_clip,
                     "cached_bytes_per_clip": features.element_size() * features[0].nelement(),
                     "split_bytes_per_example": split_bytes / n_split,
                     "wav_bytes_per_clip": statistics.mean(wav_bytes)},
        "training": {"train_examples": len(data.train), "val_examples": len(data.val),
                     "seconds_per_example_epoch": train_per_example,
                     "mean_steps_read": mean_steps, "time_steps": data.spec.n_steps,
                     "seconds_per_step_evaluation": report.train_seconds / report.step_evaluations_forward,
                     "val_seconds_per_example": report.validation_seconds / (args.epochs * len(data.val)),
                     "epoch_lines": lines},
    }


def extrapolate(m: dict) -> dict:
    clips = TARGET["train"] + TARGET["val"] + TARGET["test"]
    f, t = m["features"], m["training"]
    full_length = t["seconds_per_step_evaluation"] * t["time_steps"]
    epoch = t["seconds_per_example_epoch"] * TARGET["train"]
    val = t["val_seconds_per_example"] * TARGET["val"]
    return {
        "clips": clips,
        "feature_seconds": f["seconds_per_clip"] * clips,
        "cached_feature_bytes": f["cached_bytes_per_clip"] * clips,
        "split_bytes": f["split_bytes_per_example"] * clips,
        "wav_bytes": f["wav_bytes_per_clip"] * clips,
        "archive_bytes": ARCHIVE_BYTES[TARGET["version"]],
        "train_seconds_per_epoch": epoch,
        "train_seconds_per_epoch_full_length": full_length * TARGET["train"],
        "val_seconds_per_epoch": val,
        "run_seconds": m["settings"]["full_epochs"] * (epoch + val),
        "test_seconds": t["val_seconds_per_example"] * TARGET["test"],
    }


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def hours(seconds: float) -> str:
    return f"{seconds:,.0f} s ({seconds / 3600:.2f} h)" if seconds >= 600 else f"{seconds:,.1f} s"


def counts_table(counts: dict[str, dict[str, int]]) -> list[str]:
    names = list(counts["train"])
    lines = ["| class | " + " | ".join(speech.SPLITS) + " |",
             "| --- | " + " | ".join("---:" for _ in speech.SPLITS) + " |"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(counts[s][name]) for s in speech.SPLITS) + " |")
    lines.append("| **total** | " + " | ".join(f"**{sum(counts[s].values())}**" for s in speech.SPLITS) + " |")
    return lines


def markdown(m: dict, e: dict, provenance: dict) -> str:
    s, f, t = m["settings"], m["features"], m["training"]
    lines = [
        "# Google Speech Commands: size and time of a full v0.02 run, estimated from a measured fraction",
        "",
        f"Generated by `{provenance['command']}`; do not edit by hand. Measured on {m['clips']} clips of "
        f"`{s['folder']}` (Speech Commands {s['version']}) in `{s['data_dir']}`, on the CPU with {s['threads']} "
        f"torch thread(s); extrapolated to v0.02.",
        "",
        "## Measured on the fraction",
        "",
        "| quantity | value |",
        "| --- | ---: |",
        f"| feature extraction (read WAV, log-mel {s['frames']} x {s['bands']} at {s['sample_rate']} Hz), median of "
        f"{s['feature_repeats']} runs | {1e3 * f['seconds_per_clip']:.3f} ms per clip |",
        f"| features kept in the in-memory cache (float32) | {f['cached_bytes_per_clip']:,} bytes per clip |",
        f"| features handed to the contender (standardised splits, all-words) | "
        f"{f['split_bytes_per_example']:,.0f} bytes per example |",
        f"| WAV file on disk | {f['wav_bytes_per_clip']:,.0f} bytes per clip (mean) |",
        f"| rc-lstm training ({s['hidden']} units, batch {s['batch_size']}, {s['rule']}), all-words, "
        f"{t['train_examples']} training examples, {s['epochs_timed']} epochs after {s['warm_up_epochs']} warm-up | "
        f"{1e3 * t['seconds_per_example_epoch']:.3f} ms per example per epoch |",
        f"| ... steps read per example (of {t['time_steps']}) | {t['mean_steps_read']:.2f} |",
        f"| ... per recurrent step evaluation (forward + backward + optimiser share) | "
        f"{1e6 * t['seconds_per_step_evaluation']:.2f} us |",
        f"| validation after an epoch (the contender's decisions), per example | "
        f"{1e3 * t['val_seconds_per_example']:.3f} ms |",
        "",
        "Epochs timed: " + "; ".join(f"`{line}`" for line in t["epoch_lines"]),
        "",
        f"## Extrapolated to Speech Commands {TARGET['version']}, all words",
        "",
        f"Split sizes: train {TARGET['train']:,}, validation {TARGET['val']:,}, test {TARGET['test']:,} "
        f"({e['clips']:,} clips). Source: {TARGET_SOURCE}",
        "",
        "| quantity | estimate |",
        "| --- | ---: |",
        f"| download (the archive; {ARCHIVE_SOURCE}) | {gb(e['archive_bytes'])} |",
        f"| extracted WAV files | {gb(e['wav_bytes'])} |",
        f"| feature extraction of every clip at load (once per process; cached in memory) | "
        f"{hours(e['feature_seconds'])} |",
        f"| feature cache in memory | {gb(e['cached_feature_bytes'])} |",
        f"| splits handed to the contender (all-words uses every clip) | {gb(e['split_bytes'])} |",
        f"| memory for features while training (cache + splits; one more split-sized copy while loading) | "
        f"{gb(e['cached_feature_bytes'] + e['split_bytes'])} |",
        f"| one rc-lstm training epoch at the measured {t['mean_steps_read']:.0f} steps per example | "
        f"{hours(e['train_seconds_per_epoch'])} |",
        f"| ... the same at all {t['time_steps']} steps (full sequence, from the per-step cost) | "
        f"{hours(e['train_seconds_per_epoch_full_length'])} |",
        f"| validation after each epoch | {hours(e['val_seconds_per_epoch'])} |",
        f"| one rc-lstm run: {s['full_epochs']} epochs, one seed, one theta | {hours(e['run_seconds'])} |",
        f"| test evaluation | {hours(e['test_seconds'])} |",
        "",
        "An RC epoch gets cheaper once the network crosses its threshold before the last step (forward and "
        "backward stop at each example's crossing); the measured epochs read every step, so the run time above "
        "is an upper bound for rc-lstm at these settings. A cell grid multiplies it by seeds x thresholds "
        "(rc-lstm trains once per theta). The 12-class setup trains on the ten command words plus 10 % unknown "
        "(and 10 % silence): fewer examples per epoch than all-words.",
        "",
        "## Counts of the measured fraction",
        "",
    ]
    for label, counts in m["counts"].items():
        lines += [f"### {label}", "", *counts_table(counts), ""]
    lines += [
        f"- git revision: `{provenance['git_revision']}`",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in sorted(provenance["versions"].items())),
        "- hardware: " + ", ".join(f"{k}: {v}" for k, v in provenance["hardware"].items()),
        f"- load average (other processes share the machine): {m['load_average']['before']} before the "
        f"measurements, {m['load_average']['after']} after",
        f"- created: {provenance['created']}",
    ]
    return "\n".join(lines) + "\n"


def load_average() -> str:
    """The 1-minute load average and the CPU count: other processes on the machine slow the timings down."""
    try:
        return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    measured = measure(args)
    measured["load_average"] = {"before": load_before, "after": load_average()}
    estimate = extrapolate(measured)
    provenance = {"versions": package_versions(), "hardware": hardware(torch.device("cpu")),
                  "git_revision": git_revision(), "command": command_line(),
                  "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"measured": measured, "target": TARGET, "target_source": TARGET_SOURCE, "estimate": estimate,
               **provenance}
    (out / "estimate.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out / "estimate.md").write_text(markdown(measured, estimate, provenance), encoding="utf-8")
    print(f"written to {out / 'estimate.md'} and estimate.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
