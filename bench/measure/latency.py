"""Early-exit inference against full-sequence inference: operations and wall-clock per example.

A contender is trained briefly on a task (by default ``rc-lstm`` on
``mnist-temporal``); then, on the same test examples and weights, two ways of
deciding are timed alternately at each batch size:

full sequence
    the model's fused full pass over all T steps (for the LSTMs ``nn.LSTM``,
    which computes the input projection of all T steps as one matrix product),
    then the crossing rule (:func:`rc.crossing.decide`), as the authors'
    notebooks infer;
full step loop
    the same step function as early exit (:meth:`rc.model.StepModel.step`),
    run over all T steps for every example, then the crossing rule;
early exit
    :func:`rc.inference.early_exit_decide`: each example leaves the batch at
    its first crossing.

All three compute the same decisions up to float rounding (the fused and the
step-wise kernels differ in the last bits, which can move an output sitting
on theta across it): the rows report how many examples differ, and more than
1% is an error. The ideal ratio is r = (mean steps read) / T; the operations
ratio is the dense MACs to the decision over the dense MACs of the full
sequence (:mod:`rc.operations`). Two wall-clock ratios, per example: early
exit over the fused full sequence (what early exit saves against the fastest
dense full pass), and early exit over the full step loop (what stopping saves
with the step kernel held fixed). The step kernel projects its spike input
event-driven (:class:`rc.events.ActiveInputs`: a step reads the input weights
of the features that spiked in some example of the batch, not the whole
matrix); the fused ``nn.LSTM`` pass cannot, and reads the whole input weight
matrix once for all T steps.

Each row also counts the top-level ATen operator calls per example of early
exit and of the fused pass (:func:`operator_calls_per_example`): at batch
size 1 a step's work is a few thousand multiply-accumulates, so its time is
mostly the fixed cost of each call, and these counts say how many there are.

compiled early exit
    :class:`rc.compiled.CompiledDecider`: one numba-compiled call per batch
    runs each example every step until its crossing (the LSTM's undecided examples together, the LIF
    network's one after the other; event-driven input projection, the
    recurrence, readout and crossing test inside the loop), for the models and
    rules :mod:`rc.compiled` compiles (the LSTM classifier, and the LIF network
    of ``snn-ttfs`` with :mod:`baselines.snn_compiled`). Its decisions must be
    those of eager early exit: ``compiled differ`` counts the examples whose
    prediction or decision step differ (any is an error), ``score error`` is the
    largest difference of the scores at the decision from the eager step
    function's. Without numba, or for a model it cannot compile, the row says
    why and has no compiled timing.

Timing: each round times every way once over all the examples, in an order
that rotates from round to round; the first round warms up. Times are the
median over the other rounds; the ratios' spread is the lowest and highest
per-round ratio (the machine's load moves single rounds, less their median).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from baselines import snn_compiled  # noqa: F401  (registers the LIF network's compiled program)
from baselines.registry import get_contender
from baselines.step_contender import StepModelContender
from bench.core.measurements import write_measurement
from bench.measure.metrics import accuracy
from bench.core.task_contract import Split
from bench.tasks.registry import get_task
from rc import compiled as compiled_path
from rc.crossing import Decision, decide, make_rule
from rc.inference import early_exit_decide


@dataclass(frozen=True)
class LatencyRow:
    """Early exit against the full sequence at one batch size.

    Attributes:
        contender: the contender measured.
        batch_size: examples per inference call.
        examples: test examples timed.
        time_steps: T.
        mean_steps_read: mean decision step (1-based).
        ideal_ratio: ``mean_steps_read / T``.
        operations_ratio: dense MACs to the decision / dense MACs of the full sequence.
        early_exit_ms, full_sequence_ms, full_step_loop_ms: median wall-clock per example
            (milliseconds) of early exit, the fused full pass and the full step loop.
        disagreements: examples whose decision differs between early exit and either full pass (rounding).
        accuracy: test accuracy of the early-exit decisions (context for the speed).
        early_exit_calls, full_sequence_calls: top-level ATen operator calls per example of early
            exit and of the fused full pass (:func:`operator_calls_per_example`).
        wall_ratio_low, wall_ratio_high: lowest and highest per-round early exit / fused full pass.
        compiled_ms: median wall-clock per example of compiled early exit (None when not timed).
        compiled_ratio_low, compiled_ratio_high: lowest and highest per-round compiled / fused full pass.
        compiled_disagreements: examples whose compiled decision (prediction or step) differs from eager early exit.
        compiled_score_error: largest absolute difference between the compiled scores at the decision
            and the eager step function's scores at that step.
        compiled_note: why there is no compiled timing (None when there is one).
    """

    contender: str
    batch_size: int
    examples: int
    time_steps: int
    mean_steps_read: float
    ideal_ratio: float
    operations_ratio: float
    early_exit_ms: float
    full_sequence_ms: float
    full_step_loop_ms: float
    disagreements: int
    accuracy: float
    early_exit_calls: float
    full_sequence_calls: float
    wall_ratio_low: float | None = None
    wall_ratio_high: float | None = None
    compiled_ms: float | None = None
    compiled_ratio_low: float | None = None
    compiled_ratio_high: float | None = None
    compiled_disagreements: int | None = None
    compiled_score_error: float | None = None
    compiled_note: str | None = None

    @property
    def wall_ratio(self) -> float:
        """Early exit over the fused full sequence, per example."""
        return self.early_exit_ms / self.full_sequence_ms

    @property
    def step_loop_ratio(self) -> float:
        """Early exit over the full step loop (the same step kernel), per example."""
        return self.early_exit_ms / self.full_step_loop_ms

    @property
    def compiled_ratio(self) -> float | None:
        """Compiled early exit over the fused full sequence, per example (None without a compiled timing)."""
        return None if self.compiled_ms is None else self.compiled_ms / self.full_sequence_ms

    @property
    def early_exit_throughput(self) -> float:
        """Examples per second with early exit."""
        return 1e3 / self.early_exit_ms

    @property
    def full_sequence_throughput(self) -> float:
        """Examples per second with the full sequence."""
        return 1e3 / self.full_sequence_ms


def train_contender(contender_name: str, task_name: str, data_dir: Path | None, task_options: dict,
                    config: dict, theta: float, device: torch.device, seed: int = 0) -> tuple[StepModelContender, Split]:
    """Train ``contender_name`` on ``task_name`` and return it with the test split."""
    task = get_task(task_name)
    data = task.load(task.options(task_options, f"latency benchmark, task {task_name}"), seed, data_dir)
    contender_class = get_contender(contender_name)
    if not issubclass(contender_class, StepModelContender):
        raise ValueError(f"contender {contender_name!r} is not a step-model contender; its inference cannot be "
                         f"run step by step here")
    rule = contender_class.own_rule() or make_rule(task.default_rule, theta)
    contender = contender_class(data.spec, rule, contender_class.make_config(config, "latency benchmark"),
                                device, seed)
    contender.fit(data.train, data.val, progress=lambda _line: None)
    return contender, data.test


def _per_example_seconds(infer: Callable[[Tensor], Decision], chunks: Sequence[Tensor]) -> tuple[float, Decision]:
    started = time.perf_counter()
    decisions = [infer(chunk) for chunk in chunks]
    if chunks[0].device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / sum(chunk.shape[0] for chunk in chunks)
    return seconds, Decision(torch.cat([d.prediction for d in decisions]),
                             torch.cat([d.step_index for d in decisions]),
                             torch.cat([d.crossed for d in decisions]))


CALL_COUNT_EXAMPLES = 128
"""Examples (whole chunks, at least one) over which :func:`operator_calls_per_example` counts."""


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send the process's native standard error to /dev/null for the block (the profiler's
    libkineto writes a line to it at every start and stop, and no setting turns that off)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def operator_calls_per_example(infer: Callable[[Tensor], Decision], chunks: Sequence[Tensor]) -> float:
    """Top-level ATen operator calls per example of ``infer`` over the first chunks (up to
    ``CALL_COUNT_EXAMPLES`` examples), counted with ``torch.profiler``; calls made inside
    another operator (the fused LSTM's own kernels, for example) are not counted again."""
    counted, examples = [], 0
    for chunk in chunks:
        if counted and examples + chunk.shape[0] > CALL_COUNT_EXAMPLES:
            break
        counted.append(chunk)
        examples += chunk.shape[0]
    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as profiler:
        for chunk in counted:
            infer(chunk)
    calls = sum(1 for event in profiler.events() if event.cpu_parent is None and event.name.startswith("aten::"))
    return calls / examples


def _ratio_spread(numerators: Sequence[float], denominators: Sequence[float]) -> tuple[float, float]:
    """Lowest and highest ratio of the timed rounds (the first, a warm-up, left out)."""
    ratios = [a / b for a, b in zip(numerators[1:], denominators[1:])]
    return min(ratios), max(ratios)


def compare_inference(contender: StepModelContender, x: Tensor, y: Tensor, batch_size: int,
                      repeats: int, compiled: bool = True) -> LatencyRow:
    """Time early exit and the full sequence on ``x`` (labels ``y``) in chunks of ``batch_size``, alternately;
    and compiled early exit (:mod:`rc.compiled`) when ``compiled`` and the model can be."""
    if batch_size < 1 or repeats < 1:
        raise ValueError(f"batch_size and repeats must be >= 1, got {batch_size} and {repeats}")
    model, rule = contender.model.eval(), contender.rule
    chunks = [x[i:i + batch_size].to(contender.device) for i in range(0, x.shape[0], batch_size)]

    @torch.no_grad()
    def full_sequence(chunk: Tensor) -> Decision:
        return decide(model(chunk), rule)

    @torch.no_grad()
    def step_scores(chunk: Tensor) -> Tensor:
        state = model.init_state(chunk.shape[0], chunk.device)
        scores = []
        for t in range(chunk.shape[1]):
            step_scores, state = model.step(chunk[:, t], state)
            scores.append(step_scores)
        return torch.stack(scores, dim=1)

    def full_step_loop(chunk: Tensor) -> Decision:
        return decide(step_scores(chunk), rule)

    @torch.no_grad()
    def early_exit(chunk: Tensor) -> Decision:
        return early_exit_decide(model, chunk, rule)[0]

    ways: dict[str, Callable[[], tuple[float, Decision]]] = {
        "early": lambda: _per_example_seconds(early_exit, chunks),
        "full": lambda: _per_example_seconds(full_sequence, chunks),
        "loop": lambda: _per_example_seconds(full_step_loop, chunks),
    }
    decider, note = None, "not asked for"
    if compiled:
        note = compiled_path.unsupported_reason(model, rule)
        decider = compiled_path.compiled_decider(model, rule)
    if decider is not None:
        ways["compiled"] = lambda: _per_example_seconds(lambda chunk: decider.decide(chunk)[0], chunks)

    seconds: dict[str, list[float]] = {name: [] for name in ways}
    decisions: dict[str, Decision] = {}
    names = list(ways)
    for round_index in range(repeats + 1):  # the first round warms up
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            per_example, decisions[name] = ways[name]()
            seconds[name].append(per_example)
    early_decision = decisions["early"]
    disagreements = int(sum(((early_decision.prediction != decisions[other].prediction)
                             | (early_decision.step_index != decisions[other].step_index)).cpu()
                            for other in ("full", "loop")).bool().sum())
    if disagreements > 0.01 * x.shape[0]:
        raise RuntimeError(f"early exit and a full pass disagree on {disagreements} of {x.shape[0]} examples; "
                           f"more than rounding can explain")
    compiled_fields: dict[str, object] = {"compiled_note": note}
    if decider is not None:
        mine = decisions["compiled"]
        compiled_disagreements = int(((mine.prediction != early_decision.prediction.cpu())
                                      | (mine.step_index != early_decision.step_index.cpu())).sum())
        at_decision = mine.step_index.split([chunk.shape[0] for chunk in chunks])
        eager_scores = torch.cat([step_scores(chunk)[torch.arange(chunk.shape[0]), steps.to(chunk.device)].cpu()
                                  for chunk, steps in zip(chunks, at_decision)])
        compiled_scores = torch.cat([decider.decide(chunk)[2] for chunk in chunks])
        error = float((compiled_scores - eager_scores).abs().max())
        low, high = _ratio_spread(seconds["compiled"], seconds["full"])
        compiled_fields = {"compiled_ms": statistics.median(seconds["compiled"][1:]) * 1e3,
                           "compiled_ratio_low": low, "compiled_ratio_high": high,
                           "compiled_disagreements": compiled_disagreements, "compiled_score_error": error,
                           "compiled_note": None}
    time_steps = x.shape[1]
    decision = Decision(early_decision.prediction.cpu(), early_decision.step_index.cpu(), early_decision.crossed.cpu())
    all_steps = Decision(decision.prediction, torch.full_like(decision.step_index, time_steps - 1), decision.crossed)
    operations = contender.operations_to_decision(x, decision)
    full_operations = contender.operations_to_decision(x, all_steps)
    steps = decision.steps_read.double().mean().item()
    wall_low, wall_high = _ratio_spread(seconds["early"], seconds["full"])
    return LatencyRow(contender.name, batch_size, x.shape[0], time_steps, steps, steps / time_steps,
                      operations["dense_macs"] / full_operations["dense_macs"],
                      statistics.median(seconds["early"][1:]) * 1e3, statistics.median(seconds["full"][1:]) * 1e3,
                      statistics.median(seconds["loop"][1:]) * 1e3, disagreements, accuracy(decision.prediction, y),
                      operator_calls_per_example(early_exit, chunks), operator_calls_per_example(full_sequence, chunks),
                      wall_low, wall_high, **compiled_fields)


def _spread(low: float | None, high: float | None, digits: int = 3) -> str:
    return "-" if low is None or high is None else f"{low:.{digits}f}-{high:.{digits}f}"


def format_latency(rows: Sequence[LatencyRow]) -> str:
    """A plain-text table of the comparison: per example, early exit against the fused full
    sequence (``full``) and against the full step loop (``loop``); ``/r`` columns are ratios over r.
    A second table shows compiled early exit (:mod:`rc.compiled`) where it was timed or asked for."""
    lines = [f"{'contender':<14} {'batch':>5} {'mean step':>10} {'ideal r':>8} {'ops ratio':>9} "
             f"{'early ms/ex':>11} {'full ms/ex':>10} {'loop ms/ex':>10} {'full ratio':>10} {'spread':>11} "
             f"{'full/r':>7} {'loop ratio':>10} {'loop/r':>7} {'early ex/s':>10} {'full ex/s':>10} "
             f"{'early calls':>11} {'full calls':>10} {'differ':>6} {'accuracy':>8}"]
    for row in rows:
        lines.append(
            f"{row.contender:<14} {row.batch_size:>5d} {row.mean_steps_read:>7.2f}/{row.time_steps:<2d} "
            f"{row.ideal_ratio:>8.3f} {row.operations_ratio:>9.3f} {row.early_exit_ms:>11.4f} "
            f"{row.full_sequence_ms:>10.4f} {row.full_step_loop_ms:>10.4f} {row.wall_ratio:>10.3f} "
            f"{_spread(row.wall_ratio_low, row.wall_ratio_high):>11} "
            f"{row.wall_ratio / row.ideal_ratio:>7.2f} {row.step_loop_ratio:>10.3f} "
            f"{row.step_loop_ratio / row.ideal_ratio:>7.2f} {row.early_exit_throughput:>10.0f} "
            f"{row.full_sequence_throughput:>10.0f} {row.early_exit_calls:>11.1f} {row.full_sequence_calls:>10.1f} "
            f"{row.disagreements:>6d} {row.accuracy:>8.4f}"
        )
    compiled_rows = [row for row in rows if row.compiled_ms is not None or row.compiled_note is not None]
    if compiled_rows:
        lines += ["", "compiled early exit (rc.compiled, numba) against the fused full pass and eager early exit:",
                  f"{'contender':<14} {'batch':>5} {'ideal r':>8} {'compiled ms/ex':>14} {'full ms/ex':>10} "
                  f"{'early ms/ex':>11} {'compiled ratio':>14} {'spread':>11} {'compiled/r':>10} {'eager/r':>7} "
                  f"{'compiled differ':>15} {'score error':>11}"]
        for row in compiled_rows:
            if row.compiled_ms is None:
                lines.append(f"{row.contender:<14} {row.batch_size:>5d} {row.ideal_ratio:>8.3f}   not timed: "
                             f"{row.compiled_note}")
                continue
            ratio = row.compiled_ms / row.full_sequence_ms
            lines.append(
                f"{row.contender:<14} {row.batch_size:>5d} {row.ideal_ratio:>8.3f} {row.compiled_ms:>14.4f} "
                f"{row.full_sequence_ms:>10.4f} {row.early_exit_ms:>11.4f} {ratio:>14.3f} "
                f"{_spread(row.compiled_ratio_low, row.compiled_ratio_high):>11} {ratio / row.ideal_ratio:>10.2f} "
                f"{row.wall_ratio / row.ideal_ratio:>7.2f} {row.compiled_disagreements:>15d} "
                f"{row.compiled_score_error:>11.2e}")
    return "\n".join(lines)


def write_latency(rows: Sequence[LatencyRow], out: Path, settings: dict[str, object], device: torch.device) -> Path:
    """Write ``latency.json`` and ``latency.md`` into ``out``."""
    return write_measurement(
        out, "latency", "Early-exit inference against full-sequence inference",
        "Median over the repeats of the wall-clock per example. full: the fused full pass over all T steps; "
        "loop: the same step function as early exit run over all T steps; ratios are early exit over each, "
        "and /r divides them by the ideal ratio r = mean steps read / T. calls: top-level ATen operator calls "
        "per example (torch.profiler). The three give the same decisions up to the examples counted under differ. "
        "spread: lowest and highest per-round ratio. compiled: rc.compiled's event-driven early exit, one numba call "
        "per batch that runs each example to its crossing; compiled differ counts its decisions that differ "
        "from eager early exit.",
        format_latency(rows),
        [{**asdict(row), "wall_ratio": row.wall_ratio, "step_loop_ratio": row.step_loop_ratio,
          "compiled_ratio": row.compiled_ratio,
          "early_exit_throughput": row.early_exit_throughput,
          "full_sequence_throughput": row.full_sequence_throughput} for row in rows],
        settings, device)
