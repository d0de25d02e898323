"""``toy-noise``: the two-sequence problem of the rank-coding paper.

Each sequence is one channel of ``length`` steps: a constant +K (class 1) or
-K (class 0) plus Gaussian noise whose standard deviation is drawn once per
sequence from U(std_low, std_high). Low-noise sequences can be decided
early, noisy ones need more steps: the ideal decision time varies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.core.options import require_positive
from bench.core.task_contract import GeneratedSplitSizes, Split, Task, TaskData, TaskSpec
from bench.tasks.registry import register_task
from bench.tasks.seeding import balanced_labels, split_generator


def make_toy_noise(
    n: int,
    generator: torch.Generator,
    length: int = 40,
    k: float = 0.05,
    std_low: float = 0.05,
    std_high: float = 0.25,
) -> Split:
    """``n`` balanced sequences ``(n, length, 1)``; label 1 means +K, 0 means -K."""
    labels = balanced_labels(n, generator)
    sign = labels.float() * 2 - 1
    std = std_low + (std_high - std_low) * torch.rand(n, generator=generator)
    noise = torch.randn(n, length, generator=generator) * std[:, None]
    x = (sign[:, None] * k + noise).unsqueeze(-1)
    return Split(x, labels)


@dataclass(frozen=True)
class ToyNoiseOptions(GeneratedSplitSizes):
    length: int = 40
    k: float = 0.05
    std_low: float = 0.05
    std_high: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(length=self.length, k=self.k, std_low=self.std_low)
        if not self.std_low <= self.std_high:
            raise ValueError(f"std_low ({self.std_low}) must not exceed std_high ({self.std_high})")


@register_task
class ToyNoise(Task):
    name = "toy-noise"
    description = "sign of a constant +/-0.05 in Gaussian noise of per-sequence std U(0.05, 0.25); 40 steps, 1 channel"
    default_rule = "two-sided"
    Options = ToyNoiseOptions

    def load(self, options: ToyNoiseOptions, seed: int, data_dir: Path | None = None) -> TaskData:
        def split(name: str, n: int) -> Split:
            return make_toy_noise(n, split_generator(seed, name), options.length, options.k,
                                  options.std_low, options.std_high)

        spec = TaskSpec(self.name, options.length, 1, 2, self.default_rule)
        return TaskData(spec, split("train", options.n_train), split("val", options.n_val),
                        split("test", options.n_test), source=f"generated, data seed {seed}")
