"""``toy-runs``: does a run of equal bits occur?

Each sequence is ``length`` random bits (one channel, values 0.0/1.0); the
label is 1 if some ``run`` consecutive bits are equal. A positive example's
ideal decision step is the end of its first such run (1-based: the number of
bits read when the run completes); the set is balanced by rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bench.core.task_contract import GeneratedSplitSizes, Split, Task, TaskData, TaskSpec
from bench.tasks.registry import register_task
from bench.tasks.seeding import split_generator


def first_run_end(bits: Tensor, run: int) -> Tensor:
    """``(n,)`` long: 1-based step at which the first run of ``run`` equal bits ends, -1 if none.

    Args:
        bits: ``(n, length)`` tensor of 0/1 values.
        run: run length, >= 1.
    """
    if run < 1:
        raise ValueError(f"run must be >= 1, got {run}")
    n, length = bits.shape
    end = torch.full((n,), -1, dtype=torch.long)
    current = torch.ones(n, dtype=torch.long)
    for t in range(length):
        if t > 0:
            current = torch.where(bits[:, t] == bits[:, t - 1], current + 1, torch.ones_like(current))
        end = torch.where((end < 0) & (current >= run), torch.full_like(end, t + 1), end)
    return end


def make_toy_runs(n: int, generator: torch.Generator, length: int = 25, run: int = 5) -> Split:
    """``n`` sequences ``(n, length, 1)``, half with a run of ``run`` equal bits (label 1)."""
    if n < 2:
        raise ValueError(f"a balanced binary split needs at least 2 examples, got {n}")
    wanted = {0: n // 2, 1: n - n // 2}
    kept: dict[int, list[Tensor]] = {0: [], 1: []}
    have = {0: 0, 1: 0}
    for _attempt in range(1000):
        bits = torch.randint(0, 2, (2 * n, length), generator=generator)
        label = (first_run_end(bits, run) > 0).long()
        for cls in (0, 1):
            chosen = bits[label == cls][: wanted[cls] - have[cls]]
            kept[cls].append(chosen)
            have[cls] += chosen.shape[0]
        if have == wanted:
            break
    else:
        raise ValueError(
            f"could not draw a balanced toy-runs set (length={length}, run={run}): one class almost never "
            f"occurs; choose a run length well inside [2, length)"
        )
    bits = torch.cat(kept[0] + kept[1])[torch.randperm(n, generator=generator)]
    ideal = first_run_end(bits, run)
    return Split(bits.float().unsqueeze(-1), (ideal > 0).long(), ideal)


@dataclass(frozen=True)
class ToyRunsOptions(GeneratedSplitSizes):
    length: int = 25
    run: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.run < self.length:
            raise ValueError(f"run must lie in [2, length={self.length}), got {self.run}")


@register_task
class ToyRuns(Task):
    name = "toy-runs"
    description = "random bits, label 1 if a run of 5 equal bits occurs; 25 steps, 1 channel, ideal steps known"
    default_rule = "two-sided"
    Options = ToyRunsOptions

    def load(self, options: ToyRunsOptions, seed: int, data_dir: Path | None = None) -> TaskData:
        def split(name: str, n: int) -> Split:
            return make_toy_runs(n, split_generator(seed, name), options.length, options.run)

        spec = TaskSpec(self.name, options.length, 1, 2, self.default_rule)
        return TaskData(spec, split("train", options.n_train), split("val", options.n_val),
                        split("test", options.n_test), source=f"generated, data seed {seed}")
