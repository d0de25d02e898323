"""What a task is: its shape (:class:`TaskSpec`) and its data (:class:`Split`, :class:`TaskData`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass(frozen=True)
class TaskSpec:
    """The shape of a task's sequences.

    Attributes:
        name: the task's registered name.
        n_steps: time steps T per sequence.
        n_features: features per step.
        n_classes: number of classes (2 for a binary task).
        default_rule: the crossing rule used unless a profile names another.
        frame_shape: ``(height, width)`` when each step's features are an image
            frame flattened row by row (``n_features = height * width``), else None.
    """

    name: str
    n_steps: int
    n_features: int
    n_classes: int
    default_rule: str
    frame_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.frame_shape is not None and self.frame_shape[0] * self.frame_shape[1] != self.n_features:
            raise ValueError(f"frame_shape {self.frame_shape} does not hold the {self.n_features} features of "
                             f"task {self.name!r}")

    def n_outputs(self, rule_name: str) -> int:
        """Output units a model needs under ``rule_name``: 1 for 'two-sided' (and the toy notebooks'
        'two-sided-notebook'), else one per class."""
        if rule_name in ("two-sided", "two-sided-notebook"):
            if self.n_classes != 2:
                raise ValueError(
                    f"rule {rule_name!r} needs a binary task, but {self.name!r} has {self.n_classes} classes"
                )
            return 1
        return self.n_classes


@runtime_checkable
class Sequences(Protocol):
    """A split's inputs, indexable like a ``(n, time, features)`` float tensor.

    A dense ``Tensor`` is one. A lazily encoded data set (latency-coded
    images, say, too large to hold densely) is another: it stores a compact
    form and materialises only the rows asked for, as a dense float tensor.
    """

    @property
    def shape(self) -> torch.Size:
        """``(n, time, features)``."""

    def __len__(self) -> int:
        """``n``."""

    def __getitem__(self, index: Tensor | slice) -> Tensor:
        """Rows ``index`` as a dense ``(k, time, features)`` float tensor."""


@dataclass(frozen=True)
class Split:
    """One split of a task.

    Attributes:
        x: ``(n, time, features)`` float inputs: a tensor or any :class:`Sequences`.
        y: ``(n,)`` long class labels.
        ideal_step: optional ``(n,)`` long, the earliest step (1-based, steps
            read) at which the label is knowable, or -1 where it is not
            defined for that example.
    """

    x: Sequences
    y: Tensor
    ideal_step: Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.x.shape) != 3:
            raise ValueError(f"x must be shaped (n, time, features), got {tuple(self.x.shape)}")
        if self.y.shape != self.x.shape[:1]:
            raise ValueError(f"y must be shaped ({self.x.shape[0]},), got {tuple(self.y.shape)}")
        if self.ideal_step is not None and self.ideal_step.shape != self.y.shape:
            raise ValueError(
                f"ideal_step must be shaped ({self.x.shape[0]},), got {tuple(self.ideal_step.shape)}"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """``(x, y)`` minibatches; shuffled when a ``generator`` is given."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            yield self.x[index], self.y[index]


@dataclass(frozen=True)
class GeneratedSplitSizes:
    """Options base of generated binary tasks: examples per split (each >= 2, to balance classes)."""

    n_train: int = 4000
    n_val: int = 1000
    n_test: int = 2000

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "n_test"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")


@dataclass(frozen=True)
class TaskData:
    """The three splits of a task. ``source`` says where the data came from."""

    spec: TaskSpec
    train: Split
    val: Split
    test: Split
    source: str


class Task(ABC):
    """A registered task. Subclasses set the class attributes and implement :meth:`load`.

    ``Options`` is a frozen dataclass of the task's options (sizes, paths),
    every field with a default; profiles fill it in. ``default_rule`` names
    the crossing rule used unless a profile names another.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    needs_download: ClassVar[bool] = False
    default_rule: ClassVar[str] = "sigmoid"
    Options: ClassVar[type]

    @abstractmethod
    def load(self, options: Any, seed: int, data_dir: Path) -> TaskData:
        """Build or read the task's splits.

        Args:
            options: an instance of ``Options``.
            seed: fixes generated data and any random split.
            data_dir: the data folder (see :mod:`bench.data.paths`); tasks
                that generate their data ignore it.
        """

    def missing_data(self, options: Any, data_dir: Path) -> str | None:
        """None when :meth:`load` will find its files in ``data_dir`` (or needs none), else what is
        missing and how to get it. A quick look for files, not a verification: damaged files are
        still found by :meth:`load`. The harness asks every task of a run before training anything."""
        return None

    def options(self, values: Mapping[str, Any], where: str) -> Any:
        """This task's ``Options`` built from ``values`` (see :func:`bench.core.options.build_options`)."""
        from bench.core.options import build_options

        return build_options(self.Options, values, where)
