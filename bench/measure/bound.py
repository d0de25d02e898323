"""A measured information bound per step for the rank-order coded image tasks.

What could *any* model know about an image after reading the first t steps
of its rank-order code? This module answers with a strong static reference
classifier trained, for each t, on the *cumulative input* of the first t
steps, and reports its test accuracy.

Cumulative input at step t (1 <= t <= T), per pixel with 0-based spike step
index i (:mod:`bench.data.encoding`; i = :data:`~bench.data.encoding.NEVER` if it never
spikes)::

    value = (t - i) / t    if i < t   (spiked within the first t steps)
    value = 0              otherwise  (not spiked yet, or never)

so the pixels of the first step are 1.0, those of step t are 1/t, and the
value of a pixel grows with t once it has spiked. The input tells a static
model which pixels have arrived and in which order (equal values = same
step), which is everything the first t steps carry. At t = 1 it is the binary
map of the first-step pixels; at t = T it is a lossless recoding of the spike
steps (i = T - T * value for every value > 0).

Reference classifiers (``reference``):

- ``mlp``: features-hidden-hidden-classes with ReLU (784-800-800-10 by default);
- ``cnn``: a small LeNet-style network on the square image (28 x 28 for
  MNIST): Conv(1->32, 5x5) ReLU MaxPool(2), Conv(32->64, 5x5) ReLU MaxPool(2),
  Linear(64*4*4 -> hidden) ReLU, Dropout(0.25), Linear(hidden -> classes); about
  4 million MACs per image, far more accurate than the MLP on full MNIST.

Either is trained with Adam, the learning rate cosine-annealed to 0
over all minibatches, trained by :func:`baselines.training_loop.fit_minibatches`
on the task's training split; the epoch with the best validation accuracy is
kept (never the test split) and its test accuracy reported. The data come
from the registered task, so the splits are the benchmark's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from baselines.registry import Progress
from baselines.training_loop import BatchOutcome, Validation, fit_minibatches
from bench.data.encoding import LatencyCoded
from bench.core.measurements import write_measurement
from bench.core.task_contract import Split, TaskData
from bench.tasks.registry import get_task

EVAL_CHUNK = 4096
"""Examples per forward pass when computing accuracies."""


def check_t(t: int, n_steps: int) -> None:
    """Raise ``ValueError`` unless ``t`` is an integer step count in [1, ``n_steps``]."""
    if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= n_steps:
        raise ValueError(f"t must be an integer in [1, {n_steps}] (the steps of the code), got {t!r}")


def cumulative_input(steps: Tensor, t: int, n_steps: int) -> Tensor:
    """The cumulative input of the first ``t`` steps (see the module docstring).

    Args:
        steps: ``(..., features)`` ``uint8`` spike indices in [0, n_steps) or NEVER (255).
        t: steps read, 1..n_steps.
        n_steps: T, the sequence length the indices were encoded for.

    Returns:
        float32 of the same shape: ``(t - i) / t`` where ``i < t``, else 0.
    """
    check_t(t, n_steps)
    index = steps.to(torch.float32)
    return torch.where(index < t, (t - index) / t, torch.zeros_like(index))


class CumulativeInput:
    """The cumulative input at step ``t`` of a :class:`LatencyCoded` set, as a one-step sequence set.

    Shaped ``(n, 1, features)`` so that it is a :class:`bench.core.task_contract.Sequences`
    and the shared training loop can batch it; rows are computed from the
    stored ``uint8`` spike indices only when indexed.
    """

    def __init__(self, coded: LatencyCoded, t: int) -> None:
        check_t(t, coded.n_steps)
        self.coded = coded
        self.t = t

    @property
    def shape(self) -> torch.Size:
        """``(n, 1, features)``."""
        return torch.Size((len(self.coded), 1, self.coded.steps.shape[1]))

    def __len__(self) -> int:
        return len(self.coded)

    def __getitem__(self, index: Tensor | slice) -> Tensor:
        """Rows ``index`` as float32 ``(k, 1, features)``."""
        return cumulative_input(self.coded.steps[index], self.t, self.coded.n_steps).unsqueeze(1)


def cumulative_split(split: Split, t: int) -> Split:
    """``split`` with its latency-coded inputs replaced by their cumulative input at step ``t``."""
    if not isinstance(split.x, LatencyCoded):
        raise ValueError(f"the information bound needs a rank-order coded image task (LatencyCoded inputs), "
                         f"got {type(split.x).__name__}")
    return Split(CumulativeInput(split.x, t), split.y)


@dataclass(frozen=True)
class BoundConfig:
    """The reference classifier and its training.

    Attributes:
        hidden: units of each of the two hidden layers.
        epochs: training epochs (the learning rate is cosine-annealed over all of them).
        batch_size: examples per minibatch.
        lr: Adam's initial learning rate.
        seed: seeds the weights and the minibatch order.
        reference: ``mlp`` or ``cnn`` (see the module docstring).
    """

    hidden: int = 800
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    reference: str = "mlp"

    def __post_init__(self) -> None:
        if self.reference not in REFERENCES:
            raise ValueError(f"unknown reference classifier {self.reference!r}; known: {', '.join(REFERENCES)}")
        for name in ("hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")


def reference_mlp(n_features: int, n_classes: int, hidden: int) -> nn.Sequential:
    """``(batch, 1, n_features)`` -> ``(batch, n_classes)`` scores: Flatten, two ReLU hidden layers, Linear."""
    return nn.Sequential(nn.Flatten(), nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, n_classes))


def reference_cnn(n_features: int, n_classes: int, hidden: int) -> nn.Sequential:
    """``(batch, 1, n_features)`` -> ``(batch, n_classes)`` scores of a square image (see the module docstring).

    Raises:
        ValueError: if ``n_features`` is not a square of at least 16 (two 5x5 convolutions and poolings).
    """
    side = math.isqrt(n_features)
    if side * side != n_features or side < 16:
        raise ValueError(f"the cnn reference needs square images of side >= 16, got {n_features} features")
    after = ((side - 4) // 2 - 4) // 2
    return nn.Sequential(
        nn.Unflatten(2, (side, side)),  # (batch, 1, side, side)
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * after * after, hidden), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(hidden, n_classes),
    )


REFERENCES = {"mlp": reference_mlp, "cnn": reference_cnn}
"""Reference classifier name -> builder ``(n_features, n_classes, hidden) -> module``."""


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, device: torch.device) -> float:
    """Share of ``split`` whose argmax score is the label, in chunks of :data:`EVAL_CHUNK`."""
    model.eval()
    correct = 0
    for x, y in split.batches(EVAL_CHUNK):
        correct += int((model(x.to(device)).argmax(dim=-1).cpu() == y).sum())
    return correct / len(split)


@dataclass(frozen=True)
class BoundRow:
    """The reference classifier after reading ``t`` steps.

    Attributes:
        t: steps read (1-based).
        mean_pixels: mean number of pixels spiked within the first t steps, per test image.
        test_accuracy: test accuracy of the selected epoch's weights.
        val_accuracy: validation accuracy of the selected epoch.
        selected_epoch: the epoch (1-based) whose weights were kept.
        epochs: epochs trained.
        train_seconds: wall-clock of the training steps, without validation.
    """

    t: int
    mean_pixels: float
    test_accuracy: float
    val_accuracy: float
    selected_epoch: int
    epochs: int
    train_seconds: float


def train_reference(train: Split, val: Split, test: Split, n_classes: int, config: BoundConfig,
                    device: torch.device, progress: Progress, t: int = 1) -> BoundRow:
    """Train the reference MLP on ``train`` (inputs ``(n, 1, features)``), select on ``val``, score ``test``.

    ``t`` (the steps the inputs summarise) is only reported, in the row and
    as the validation's "steps" in the progress lines.
    """
    torch.manual_seed(config.seed)
    model = REFERENCES[config.reference](train.x.shape[2], n_classes, config.hidden).to(device)
    loss_function = nn.CrossEntropyLoss()

    def training_step(x: Tensor, y: Tensor) -> BatchOutcome:
        return BatchOutcome(loss_function(model(x), y), x.shape[0], x.shape[0])

    def validate() -> Validation:
        return Validation(accuracy(model, val, device), float(t))

    report = fit_minibatches(model, training_step, validate, train, epochs=config.epochs,
                             batch_size=config.batch_size, lr=config.lr, grad_clip=0.0, seed=config.seed,
                             device=device, progress=progress, lr_schedule="cosine", selection="best-val-accuracy")
    pixels = sum(float((x > 0).sum()) for x, _y in test.batches(EVAL_CHUNK)) / len(test)
    return BoundRow(t, pixels, accuracy(model, test, device), report.selected_val_accuracy,
                    report.selected_epoch, report.epochs, report.train_seconds)


def measure_bound(data: TaskData, steps: Sequence[int], config: BoundConfig, device: torch.device,
                  progress: Progress) -> list[BoundRow]:
    """One :class:`BoundRow` per t in ``steps``, each from a fresh reference classifier (same seed)."""
    for t in steps:
        check_t(t, data.spec.n_steps)
    rows = []
    for t in steps:
        started = time.perf_counter()
        row = train_reference(cumulative_split(data.train, t), cumulative_split(data.val, t),
                              cumulative_split(data.test, t), data.spec.n_classes, config, device,
                              lambda line, t=t: progress(f"t={t}: {line}"), t=t)
        progress(f"t={t}: test accuracy {row.test_accuracy:.4f} (val {row.val_accuracy:.4f}, epoch "
                 f"{row.selected_epoch}/{row.epochs}; {time.perf_counter() - started:.0f}s)")
        rows.append(row)
    return rows


def load_coded_task(task_name: str, task_options: dict, data_seed: int, data_dir: Path | None) -> TaskData:
    """The registered task's splits (the benchmark's, for the same options and data seed)."""
    task = get_task(task_name)
    return task.load(task.options(task_options, f"information bound, task {task_name}"), data_seed, data_dir)


def format_bound(rows: Sequence[BoundRow]) -> str:
    """A plain-text table of the rows."""
    lines = [f"{'t':>3} {'pixels':>7} {'test acc':>8} {'val acc':>8} {'epoch':>7} {'train s':>8}"]
    for row in rows:
        lines.append(f"{row.t:>3d} {row.mean_pixels:>7.1f} {row.test_accuracy:>8.4f} {row.val_accuracy:>8.4f} "
                     f"{row.selected_epoch:>3d}/{row.epochs:<3d} {row.train_seconds:>8.1f}")
    return "\n".join(lines)


def measurement_name(task_name: str, encoding: str, reference: str = "mlp") -> str:
    """File stem of a bound: ``bound-ENCODING`` for ``mnist-temporal``, else ``bound-TASK-ENCODING``;
    ``bound-cnn-...`` for the cnn reference."""
    stem = "bound" if reference == "mlp" else f"bound-{reference}"
    return f"{stem}-{encoding}" if task_name == "mnist-temporal" else f"{stem}-{task_name}-{encoding}"


def write_bound(rows: Sequence[BoundRow], out: Path, task_name: str, encoding: str, settings: dict[str, object],
                device: torch.device, reference: str = "mlp") -> Path:
    """Write ``NAME.json`` and ``NAME.md`` (see :func:`measurement_name`) into ``out``; returns the markdown path."""
    model = ("an MLP (two ReLU hidden layers" if reference == "mlp"
             else "a small CNN (two 5x5 convolutions with max pooling, one hidden dense layer, dropout 0.25")
    return write_measurement(
        out, measurement_name(task_name, encoding, reference),
        f"Information bound per step: {task_name}, encoding '{encoding}', reference {reference}",
        f"For each t, {model}; Adam, cosine schedule) is trained on the cumulative "
        "input of the first t steps: a pixel with 0-based spike step i < t has value (t - i)/t, other pixels 0. "
        "The epoch with the best validation accuracy is kept; 'test acc' is its test accuracy, 'pixels' the mean "
        "number of pixels spiked by step t per test image, 'train s' the training wall-clock.",
        format_bound(rows), [asdict(row) for row in rows], settings, device)
