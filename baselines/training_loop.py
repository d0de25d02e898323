"""The minibatch training loop shared by the contenders.

Adam over shuffled minibatches for a number of epochs, with a constant
learning rate or cosine annealing to zero over all minibatches. After every
epoch the validation split is evaluated. Model selection is one of:

``best-val-accuracy``
    keep the weights with the best validation accuracy at the decision
    (ties go to the earlier mean decision);
``last-epoch``
    keep the final weights (validation is still reported each epoch).
"""

from __future__ import annotations

import copy
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from baselines.learning_curve import SnapshotSchedule
from baselines.registry import EpochLog, Progress, TrainingReport
from bench.core.task_contract import Split


LR_SCHEDULES = ("constant", "cosine")
PROGRESS_EVERY_SECONDS = 60.0
"""Training time between two progress lines within an epoch."""
SELECTIONS = ("best-val-accuracy", "last-epoch")


def check_schedule_and_selection(lr_schedule: str, selection: str) -> None:
    """Raise ``ValueError`` naming an unknown learning-rate schedule or selection rule."""
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; known: {', '.join(LR_SCHEDULES)}")
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; known: {', '.join(SELECTIONS)}")


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one training step reports: the loss (with its graph, unless ``gradients`` computes them), the
    step evaluations computed and, for a contender whose step has several implementations, the one that
    ran (``rc-lstm``: :data:`rc.fused_training.STEP_PATHS`), which the training report tallies."""

    loss: Tensor
    step_evaluations_forward: int
    step_evaluations_backward: int
    step_path: str | None = None
    gradients: Callable[[], None] | None = None
    """For a loss computed outside autograd: adds each parameter's gradient to its ``.grad``
    (:meth:`rc.training.StepResult.backward`)."""

    def backward(self) -> None:
        """Add each parameter's gradient of the loss to its ``.grad``."""
        if self.gradients is None:
            self.loss.backward()
        else:
            self.gradients()


@dataclass(frozen=True)
class Validation:
    """Validation accuracy at the decision and mean steps read (1-based)."""

    accuracy: float
    mean_steps_read: float


def fit_minibatches(
    model: nn.Module,
    training_step: Callable[[Tensor, Tensor], BatchOutcome],
    validate: Callable[[], Validation],
    train: Split,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    grad_clip: float,
    seed: int,
    device: torch.device,
    progress: Progress,
    lr_schedule: str = "constant",
    selection: str = "best-val-accuracy",
    weight_decay: float = 0.0,
    progress_every_s: float = PROGRESS_EVERY_SECONDS,
    snapshots: SnapshotSchedule | None = None,
) -> TrainingReport:
    """Train ``model`` in place and load the selected weights into it.

    Args:
        model: the network whose parameters are optimised.
        training_step: ``(x, y)`` on ``device`` -> :class:`BatchOutcome`.
        validate: evaluates the current weights on the validation split.
        train: the training split (on the CPU; batches are moved to ``device``).
        epochs, batch_size, lr: the usual; ``grad_clip`` is the max gradient
            norm (0 disables clipping).
        seed: seeds the minibatch order.
        progress: receives one line per epoch, and within an epoch one line (examples done,
            mean loss so far, training time left in the epoch at the rate so far) each time
            another ``progress_every_s`` seconds of training have passed.
        lr_schedule: ``constant`` or ``cosine`` (annealed to 0 over all minibatches).
        selection: ``best-val-accuracy`` or ``last-epoch`` (see the module docstring).
        weight_decay: decoupled weight decay of AdamW (0: plain Adam).
        snapshots: if given, copies the weights at fixed training compute after each
            minibatch (:mod:`baselines.learning_curve`); selection never reads them.

    Raises:
        TrainingDiverged: when a minibatch loss is not finite.
    """
    check_schedule_and_selection(lr_schedule, selection)
    if not progress_every_s >= 0:
        raise ValueError(f"progress_every_s must be a number of seconds >= 0, got {progress_every_s!r}")
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    batches_per_epoch = -(-len(train) // batch_size)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * batches_per_epoch)
                 if lr_schedule == "cosine" else None)
    order = torch.Generator().manual_seed(seed)
    best: tuple[float, float] | None = None
    best_state: dict[str, Tensor] = copy.deepcopy(model.state_dict())
    best_epoch, best_accuracy = 0, math.nan
    train_seconds = validation_seconds = 0.0
    forward = backward = 0
    step_paths: Counter[str] = Counter()
    epoch_loss = math.nan
    history: list[EpochLog] = []
    for epoch in range(1, epochs + 1):
        model.train()
        total_loss, total_examples = 0.0, 0
        started = time.perf_counter()
        next_line = started + progress_every_s
        for x, y in train.batches(batch_size, order):
            x, y = x.to(device), y.to(device)
            outcome = training_step(x, y)
            loss_value = float(outcome.loss.detach())
            if not math.isfinite(loss_value):
                raise TrainingDiverged(
                    f"training loss became {loss_value} in epoch {epoch}; lower lr (now {lr}) "
                    f"or check the inputs for NaN/inf"
                )
            optimiser.zero_grad(set_to_none=True)
            outcome.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            forward += outcome.step_evaluations_forward
            backward += outcome.step_evaluations_backward
            if outcome.step_path is not None:
                step_paths[outcome.step_path] += 1
            total_loss += loss_value * y.shape[0]
            total_examples += y.shape[0]
            now = time.perf_counter()
            if snapshots is not None:
                snapshots.after_minibatch(model.state_dict(), forward, backward,
                                          epoch - 1 + total_examples / len(train), train_seconds + now - started)
            if now >= next_line and total_examples < len(train):
                left = (now - started) / total_examples * (len(train) - total_examples)
                progress(f"epoch {epoch}/{epochs}: {total_examples}/{len(train)} examples, "
                         f"loss {total_loss / total_examples:.4f} ({train_seconds + now - started:.1f}s; "
                         f"about {left:.0f}s left in this epoch)")
                next_line = now + progress_every_s
        train_seconds += time.perf_counter() - started
        epoch_loss = total_loss / total_examples

        started = time.perf_counter()
        model.eval()
        result = validate()
        validation_seconds += time.perf_counter() - started
        history.append(EpochLog(epoch, epoch_loss, result.accuracy, result.mean_steps_read, train_seconds, forward))
        score = (result.accuracy, -result.mean_steps_read)
        if selection == "last-epoch" or best is None or score > best:
            best, best_epoch, best_accuracy = score, epoch, result.accuracy
            best_state = copy.deepcopy(model.state_dict())
        progress(
            f"epoch {epoch}/{epochs} loss {epoch_loss:.4f} val acc {result.accuracy:.4f} "
            f"steps {result.mean_steps_read:.2f} ({train_seconds:.1f}s)"
        )
    if train_seconds <= 0:
        raise RuntimeError("training took no measurable time; the clock or the training split is broken")
    model.load_state_dict(best_state)
    model.eval()
    return TrainingReport(
        train_seconds=train_seconds,
        validation_seconds=validation_seconds,
        examples_per_second=epochs * len(train) / train_seconds,
        epochs=epochs,
        selected_epoch=best_epoch,
        step_evaluations_forward=forward,
        step_evaluations_backward=backward,
        final_train_loss=epoch_loss,
        selected_val_accuracy=best_accuracy,
        history=tuple(history),
        step_paths=dict(sorted(step_paths.items())),
    )
