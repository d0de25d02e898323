#!/usr/bin/env bash
# The 60-cell executor sweep of issue 6: results/executors/profile.toml (2 toy tasks x rc-lstm,
# lstm-eos, lstm-allsteps x seeds 0-4 x 2 thresholds; 40 training jobs) run three times:
#   in-process/  --workers 1 (no pool: the jobs one after another in the rcbench process; a reference)
#   local/       --executor local --workers 2 (two worker processes)
#   ray/         --executor ray --workers 2 (a local Ray instance of 2 CPUs, started and stopped by the run)
# each timed with /usr/bin/time -v; then `rcbench compare-records` compares the records cell by cell
# and this script writes executors.md from what the commands wrote (times, comparison, provenance).
#
# Usage, from a clean checkout (the records carry its git revision):
#   RCBENCH=rcbench PYTHON=python3 results/executors/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
python=${PYTHON:-python3}
dir=results/executors
sweep=(run --profile "$dir/profile.toml" --tasks toy-noise,toy-runs --contenders rc-lstm,lstm-eos,lstm-allsteps
       --device cpu --threads 1)
declare -A options=([in-process]="--workers 1" [local]="--executor local --workers 2" [ray]="--executor ray --workers 2")
logs=$(mktemp -d)

for name in in-process local ray; do
    rm -rf "${dir:?}/$name"
    mkdir -p "$dir/$name"
    # shellcheck disable=SC2086  (the options are words)
    command=("$rcbench" "${sweep[@]}" ${options[$name]} --out "$dir/$name")
    printf '%s\n' "${command[*]}" > "$logs/$name.command"
    uptime > "$logs/$name.load-before"
    ps -eo pcpu,etime,comm --sort=-pcpu | head -4 > "$logs/$name.top-before"
    /usr/bin/time -v -o "$logs/$name.time" "${command[@]}" > "$logs/$name.stdout" 2> "$logs/$name.stderr"
    uptime > "$logs/$name.load-after"
done
status=0
"$rcbench" compare-records "$dir/local" "$dir/ray" --out "$logs/local-ray.md" > /dev/null || status=$?
echo "$status" > "$logs/local-ray.status"
status=0
"$rcbench" compare-records "$dir/in-process" "$dir/local" --out "$logs/in-process-local.md" > /dev/null || status=$?
echo "$status" > "$logs/in-process-local.status"

"$python" - "$dir" "$logs" <<'EOF'
"""Write executors.md from the files the commands above wrote (no number is typed by hand)."""
import json
import platform
import re
import sys
from pathlib import Path

folder, logs = Path(sys.argv[1]), Path(sys.argv[2])
names = ["in-process", "local", "ray"]


def read(name: str) -> str:
    return (logs / name).read_text(encoding="utf-8")


def time_field(text: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}: (.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "?"


def seconds(clock: str) -> float:
    parts = [float(part) for part in clock.split(":")]
    return sum(part * 60 ** power for power, part in enumerate(reversed(parts)))


records = {name: [json.loads(line) for line in (folder / name / "results.jsonl").read_text().splitlines() if line]
           for name in names}
try:
    import ray
    ray_version = ray.__version__
except ImportError:
    ray_version = "not installed"
first = records["local"][0]
planned = next(line for line in read("local.stderr").splitlines() if line.startswith("rcbench run: profile"))
planned = re.sub(r"^rcbench run: profile \S+, (\d+ training jobs) on (\S+);.*$", r"\1 on \2", planned)
planned += f", {len(records['local'])} cells"
lines = [
    f"# Executors: a {len(records['local'])}-cell sweep on one worker, two local worker processes and a local Ray instance",
    "",
    "Written by `results/executors/run.sh` from what its commands wrote: the times are `/usr/bin/time -v`'s",
    "output, the comparisons `rcbench compare-records`' output.",
    "",
    f"- git revision (of the records): `{first['git_revision']}`",
    f"- versions: {', '.join(f'{k} {v}' for k, v in sorted(first['versions'].items()))}, ray {ray_version}",
    f"- hardware: {first['hardware']['cpu']}, {first['hardware']['cpu_count']} CPU cores, "
    f"{first['hardware']['platform']}; device {first['hardware']['device']}, "
    f"{first['hardware']['torch_threads']} torch thread per job",
    f"- python: {platform.python_version()}",
    f"- profile: `results/executors/profile.toml`: {planned}",
    "",
    "The machine is shared: other processes ran beside these runs. The load average before and after",
    "each run and the busiest processes just before it are below each command.",
    "",
    "## Wall-clock times",
    "",
    "| run | records | wall clock | wall clock (s) | user CPU (s) | system CPU (s) | CPU | max RSS of one process (kB) |",
    "|---|---|---|---|---|---|---|---|",
]
for name in names:
    text = read(f"{name}.time")
    clock = time_field(text, "Elapsed (wall clock) time (h:mm:ss or m:ss)")
    lines.append(f"| {name} | {len(records[name])} | {clock} | {seconds(clock):.1f} | "
                 f"{time_field(text, 'User time (seconds)')} | {time_field(text, 'System time (seconds)')} | "
                 f"{time_field(text, 'Percent of CPU this job got')} | "
                 f"{time_field(text, 'Maximum resident set size (kbytes)')} |")
lines += [
    "",
    "User and system CPU count the `rcbench` process and the children it waited for: the local worker",
    "processes, but not all of Ray's processes (its raylet starts the Ray workers).",
    "",
    "## Commands",
    "",
]
for name in names:
    stderr = read(f"{name}.stderr")
    executor = next((line for line in stderr.splitlines() if line.startswith("executor: ")),
                    "(no executor line: the jobs ran in the rcbench process)")
    lines += [f"### {name}", "", "```", read(f"{name}.command").strip(), "```", "",
              f"- {executor}",
              f"- {read(f'{name}.stdout').strip().splitlines()[-1]}",
              f"- exit status: {time_field(read(f'{name}.time'), 'Exit status')}",
              f"- load before: `{read(f'{name}.load-before').strip()}`",
              f"- load after: `{read(f'{name}.load-after').strip()}`",
              "- busiest processes before (CPU %, elapsed, command):", "", "```",
              read(f"{name}.top-before").rstrip(), "```", ""]
lines += ["## Comparison: local (2 workers) against ray (2 CPUs)", "",
          f"`rcbench compare-records results/executors/local results/executors/ray` (exit status "
          f"{read('local-ray.status').strip()}):", "", read("local-ray.md").rstrip(), "",
          "## Comparison: in-process (1 worker) against local (2 workers)", "",
          f"`rcbench compare-records results/executors/in-process results/executors/local` (exit status "
          f"{read('in-process-local.status').strip()}):", "", read("in-process-local.md").rstrip(), ""]
(folder / "executors.md").write_text("\n".join(lines), encoding="utf-8")
print(f"written {folder / 'executors.md'}")
EOF
rm -rf "$logs"
