"""Scaling benchmark of rank coding: truncated against naive training, early exit against full inference.

A grid over sequence length T, hidden size H, batch size and decision
pattern. Each cell builds an LSTM whose decision steps are set by its input
(:func:`trigger_case`), then times the truncated training step
(:func:`rc.training.truncated_rc_step` as ``rc-lstm`` trains with it: ``autograd=False``, so that
where the compiled kernels take the step they also take the loss and its gradients outside
autograd) and the naive one
(:func:`rc.training.naive_rc_step`), forward + backward, in alternating
rounds on the same batch and model; the ratio truncated / naive of each round
gives the median and its spread (the lowest and highest round), in
wall-clock and in process CPU time (less disturbed by other processes on a
shared machine). Activation
memory is the sum of the bytes of the tensors the autograd graph saves for
the backward pass (each storage once; parameters and inputs left out), counted with
``torch.autograd.graph.saved_tensors_hooks``: deterministic, and what a
training step holds at its peak besides the parameters. The truncated step is counted with its
graph (``autograd=True``): without it, the compiled path holds the same kernel arrays, which
autograd then does not see.

Peak activation memory: the training half's saved-activation bytes are what
the step holds at its peak besides the parameters (and the inputs, and the
gradients the backward pass writes, the same for both steps); they are
reported for the truncated and the naive step and as their ratio.

Inference, in the same cell, on the same model (in evaluation mode, no
graph) and batch: early exit (:func:`rc.inference.early_exit_decide`, each
example leaves the batch at its first crossing) against the fused full pass
(``model.forward`` over all T steps, one ``nn.LSTM`` call, then
:func:`rc.crossing.decide`), as the ratio early / full of each round. When
numba can be imported, also the compiled early exit of :mod:`rc.compiled`
(one numba call for the whole decision of an example at batch 1, of the
batch above), in its own columns as compiled / full; the eager path stays
the reference. All ways
must give the same decisions (prediction, decision step and crossing) as
each other and as the pattern, else the cell raises. An inference call is
short at small sizes, so each round times ``calls`` calls of each way in a
row (as many as make the fused pass's share of a round about
:data:`MIN_INFERENCE_SECONDS`, from the warm-up) and reports the time per call.

Timing: one warm-up of every way, then ``repeats`` rounds; each round times
the two training steps (their order alternating from round to round) and
then the inference ways (their order rotating). A small network's training
step is short too (a fraction of a millisecond at batch 1), so each round
times ``training_steps`` steps of each in a row (as many as make the naive
step's share of a round about :data:`MIN_TRAINING_SECONDS`, from the
warm-up) and reports the time per step. Medians are over the
rounds; the spread of a ratio is its lowest and highest round.

The ideal ratio is r = (mean steps read) / T, the share of the full
sequence's step evaluations that RC needs; each ratio is also given over r.

Decision patterns (``d`` the 0-based decision step, T/4 read on average):

``equal``
    every example decides at ``d = T/4 - 1``;
``spread``
    ``d`` uniform over ``0 .. T/2 - 1``, independently per example;
``tail``
    as ``equal``, but ``round(0.02 * batch)`` examples (at least 1) never
    cross and run to the last step; needs a batch of at least 2.

The model is synthetic, so that the decisions fall where the pattern says at
any size without training: feature 0 of the input is a trigger (1 from the
decision step on, else 0) that drives hidden unit 0, and the readout reads
that unit with weight 10 and every other one with :data:`READOUT_LEAK`, so the
two-sided rule at theta = 0.95 crosses exactly when the trigger comes on. Every
other weight keeps ``nn.LSTM``'s random initialisation, and every other feature
is noise. The leak keeps the loss's gradient dense, as a trained network's is:
with the readout on unit 0 alone, the gradient at every other unit was exactly
zero, and a kernel that skips zeros (the compiled path's sparse input rows)
ran its backward pass almost for free, which the naive step's fused kernels
do not; the kernels' cost does not depend on the values otherwise, except
through denormal floats. The leak's gradients, 1e-6 of the loss's, shrink
further at each step backwards, and over the long chains of T = 320 they fall
below float32's smallest normal value (1.2e-38), where some CPUs take a slow
path for every operation on them (on an Intel Xeon with AVX-512, 256 units,
batch 64, spread decisions: the compiled step 499 ms, the naive one 857 ms;
with denormals flushed to zero, 174 and 596 ms). A trained network's gradients
are larger, so :func:`flushed_denormals` flushes them to zero while the grid is
measured (``rcbench speed --keep-denormals`` keeps them); the results are
unchanged to far below any tolerance, and the decisions are the same.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from bench.core.measurements import write_measurement
from rc import compiled as compiled_path
from rc.crossing import Decision, TwoSidedBinary, decide
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier
from rc.training import StepResult, naive_rc_step, truncated_rc_step

PATTERNS = ("equal", "spread", "tail")
TAIL_SHARE = 0.02
THETA = 0.95
FEATURES = 4
NEVER = -1
"""A decision step meaning: never crosses."""
MIN_INFERENCE_SECONDS = 0.02
"""The fused full pass's least time per round: short inference calls are repeated until it is reached."""
READOUT_LEAK = 1e-6
"""The trigger model's readout weight on every hidden unit but unit 0: it moves a score by at most
``1e-6 (H - 1)`` (the hidden states lie in (-1, 1)), far from the threshold, and makes every unit's
gradient nonzero."""
MAX_INFERENCE_CALLS = 1000
"""The most inference calls of one way per round."""
MIN_TRAINING_SECONDS = 0.01
"""The naive training step's least time per round: short steps are repeated until it is reached."""
MAX_TRAINING_STEPS = 100
"""The most training steps of one way per round."""


def decision_steps(pattern: str, batch: int, time_steps: int, generator: torch.Generator) -> Tensor:
    """``(batch,)`` long decision steps of a pattern (see the module docstring); :data:`NEVER` for none."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown decision pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    if time_steps < 4:
        raise ValueError(f"the decision patterns need T >= 4, got {time_steps}")
    quarter = time_steps // 4 - 1
    if pattern == "spread":
        return torch.randint(0, time_steps // 2, (batch,), generator=generator)
    steps = torch.full((batch,), quarter, dtype=torch.long)
    if pattern == "tail":
        if batch < 2:
            raise ValueError("the tail pattern needs a batch of at least 2")
        never = max(1, round(TAIL_SHARE * batch))
        steps[torch.randperm(batch, generator=generator)[:never]] = NEVER
    return steps


def trigger_case(hidden: int, steps: Tensor, time_steps: int, seed: int = 0,
                 layers: int = 1) -> tuple[LSTMClassifier, Tensor, Tensor, TwoSidedBinary]:
    """A model, inputs ``(batch, T, FEATURES)``, labels and rule whose decisions are ``steps``.

    Hidden unit 0 of the first layer (and of each layer above, through unit 0
    below) sees only the trigger: its input and output gates open and its cell
    fills when the trigger is 1, so its output jumps from 0 to about 0.75, and
    the readout ``10 h_0`` crosses the two-sided theta of 0.95 exactly then.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = LSTMClassifier(FEATURES, hidden, 1, layers)
    with torch.no_grad():
        for layer in range(layers):
            w_ih, w_hh = getattr(model.lstm, f"weight_ih_l{layer}"), getattr(model.lstm, f"weight_hh_l{layer}")
            b_ih, b_hh = getattr(model.lstm, f"bias_ih_l{layer}"), getattr(model.lstm, f"bias_hh_l{layer}")
            scale = 1.0 if layer == 0 else 1 / 0.75  # unit 0 below gives 0.75 when the trigger is on
            for gate, (weight, bias) in enumerate(((10.0, -5.0), (-10.0, 0.0), (5.0, 0.0), (10.0, -5.0))):
                row = gate * hidden  # gates i, f, g, o; unit 0 of each
                w_ih[row].zero_()
                w_ih[row, 0] = weight * scale
                w_hh[row].zero_()
                b_ih[row], b_hh[row] = bias, 0.0
        model.readout.weight.fill_(READOUT_LEAK)
        model.readout.weight[0, 0] = 10.0
        model.readout.bias.zero_()
    batch = steps.shape[0]
    x = torch.randn(batch, time_steps, FEATURES, generator=generator)
    on = torch.arange(time_steps)[None, :] >= torch.where(steps == NEVER, time_steps, steps)[:, None]
    x[..., 0] = on.float()
    y = torch.randint(0, 2, (batch,), generator=generator)
    return model, x, y, TwoSidedBinary(THETA)


def saved_activation_bytes(run: Callable[[], object], held: Sequence[Tensor]) -> int:
    """Bytes of the tensors autograd saves for backward while ``run()`` builds its graph.

    Each storage counts once, at its full size; the storages of ``held`` (the
    parameters and the inputs, which the caller holds anyway) do not count.
    """
    excluded = {t.untyped_storage().data_ptr() for t in held}
    storages: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = max(storages.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = run()
    del result
    return sum(storages.values())


@dataclass(frozen=True)
class ScalingRow:
    """One cell of the grid.

    Attributes:
        time_steps, hidden, batch, pattern: the cell.
        mean_steps_read: mean decision step (1-based).
        ideal_ratio: r = ``mean_steps_read / T``.
        forward_evaluations_ratio, backward_evaluations_ratio: step evaluations truncated / naive.
        truncated_ms, naive_ms: median wall-clock of one step (forward + backward).
        wall_ratio: median over rounds of truncated / naive.
        wall_ratio_low, wall_ratio_high: the lowest and highest round's ratio.
        cpu_ratio: median over rounds of truncated / naive in process CPU time, which
            other processes on a shared machine disturb less than wall-clock (with
            one torch thread, the two agree on an idle machine).
        truncated_bytes, naive_bytes: saved activation bytes of one step (the step's
            activation peak besides parameters, inputs and gradients).
        repeats: rounds timed.
        early_ms, full_ms: median wall-clock of one inference call over the batch: eager early
            exit and the fused full pass with the crossing rule.
        inference_ratio: median over rounds of early / full.
        inference_ratio_low, inference_ratio_high: the lowest and highest round's ratio.
        inference_calls: calls of each inference way per round (their time is divided by it).
        training_steps: steps of each training way per round (their time is divided by it).
        decisions_identical: early exit, the fused full pass (and the compiled path, when timed) gave
            the same decisions, those of the pattern (always True: the cell raises otherwise).
        compiled_ms: median wall-clock of compiled early exit (:mod:`rc.compiled`); None when not timed.
        compiled_ratio, compiled_ratio_low, compiled_ratio_high: compiled / full, median and spread.
        compiled_note: why there is no compiled timing (None when there is one).
    """

    time_steps: int
    hidden: int
    batch: int
    pattern: str
    mean_steps_read: float
    ideal_ratio: float
    forward_evaluations_ratio: float
    backward_evaluations_ratio: float
    truncated_ms: float
    naive_ms: float
    wall_ratio: float
    wall_ratio_low: float
    wall_ratio_high: float
    cpu_ratio: float
    truncated_bytes: int
    naive_bytes: int
    repeats: int
    early_ms: float
    full_ms: float
    inference_ratio: float
    inference_ratio_low: float
    inference_ratio_high: float
    inference_calls: int
    decisions_identical: bool
    compiled_ms: float | None = None
    compiled_ratio: float | None = None
    compiled_ratio_low: float | None = None
    compiled_ratio_high: float | None = None
    compiled_note: str | None = None
    training_steps: int = 1

    @property
    def wall_over_r(self) -> float:
        return self.wall_ratio / self.ideal_ratio

    @property
    def memory_ratio(self) -> float:
        return self.truncated_bytes / self.naive_bytes

    @property
    def memory_over_r(self) -> float:
        return self.memory_ratio / self.ideal_ratio

    @property
    def inference_over_r(self) -> float:
        return self.inference_ratio / self.ideal_ratio

    @property
    def compiled_over_r(self) -> float | None:
        return None if self.compiled_ratio is None else self.compiled_ratio / self.ideal_ratio


def truncated_training_step(model: LSTMClassifier, x: Tensor, y: Tensor, rule: TwoSidedBinary,
                            beta: float) -> StepResult:
    """The truncated step timed here: :func:`rc.training.truncated_rc_step` with ``autograd=False``, as
    ``rc-lstm`` trains."""
    return truncated_rc_step(model, x, y, rule, beta, False)


def repetitions(once: float, least_seconds: float, most: int) -> int:
    """How many runs in a row of something that takes ``once`` seconds last ``least_seconds``: at least 1,
    at most ``most``."""
    return max(1, min(most, math.ceil(least_seconds / max(once, 1e-9))))


def _timed(step: Callable[..., StepResult], model: LSTMClassifier, x: Tensor, y: Tensor,
           rule: TwoSidedBinary, steps: int = 1) -> tuple[float, float, StepResult]:
    """Wall-clock and process CPU seconds per step of ``steps`` steps in a row, forward + backward (the
    gradients cleared before each), and the last step's result."""
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        result = step(model, x, y, rule, 0.0)
        result.backward()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps, (time.process_time() - started_cpu) / steps, result


def _timed_calls(infer: Callable[[], Decision], calls: int, device: torch.device) -> tuple[float, Decision]:
    """Wall-clock seconds per call of ``calls`` calls of ``infer()`` in a row, and the last decision."""
    started = time.perf_counter()
    for _ in range(calls):
        decision = infer()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / calls, decision


def _inference_ways(model: LSTMClassifier, x: Tensor, rule: TwoSidedBinary
                    ) -> tuple[dict[str, Callable[[], Decision]], str | None]:
    """The inference ways of a cell by name (``early``, ``full``, and ``compiled`` where it compiles:
    one call per example at batch 1, one per batch above) and why there is no compiled way (None
    when there is one)."""

    @torch.no_grad()
    def full() -> Decision:
        return decide(model(x), rule)

    def early() -> Decision:
        return early_exit_decide(model, x, rule)[0]

    ways: dict[str, Callable[[], Decision]] = {"early": early, "full": full}
    decider = compiled_path.compiled_decider(model, rule)
    if decider is None:
        return ways, compiled_path.unsupported_reason(model, rule)
    ready = x.detach().to("cpu", torch.float32).contiguous()

    def compiled() -> Decision:
        if ready.shape[0] > 1:
            return decider.decide(ready)[0]
        outcome = decider.decide_one(ready[0])
        return Decision(torch.tensor([outcome.prediction]), torch.tensor([outcome.step_index]),
                        torch.tensor([outcome.crossed]))

    ways["compiled"] = compiled
    return ways, None


def _check_decisions(decisions: dict[str, Decision], expected: Tensor, cell: str) -> None:
    """Raise unless every way decided the pattern's steps, with the same predictions and crossings."""
    reference = decisions["full"]
    for name, decision in decisions.items():
        same = (torch.equal(decision.step_index.cpu(), expected)
                and torch.equal(decision.prediction.cpu(), reference.prediction.cpu())
                and torch.equal(decision.crossed.cpu(), reference.crossed.cpu()))
        if not same:
            raise RuntimeError(f"{cell}: {name} inference does not give the fused full pass's decisions at the "
                               f"pattern's steps")


def _median_spread(ratios: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(ratios), min(ratios), max(ratios)


def measure_cell(time_steps: int, hidden: int, batch: int, pattern: str, repeats: int, seed: int = 0,
                 device: torch.device = torch.device("cpu")) -> ScalingRow:
    """Time both training steps and the inference ways in ``repeats`` rounds (after one warm-up each)
    and count the training steps' memory."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    cell = f"T={time_steps} H={hidden} batch={batch} {pattern}"
    steps = decision_steps(pattern, batch, time_steps, torch.Generator().manual_seed(seed))
    model, x, y, rule = trigger_case(hidden, steps, time_steps, seed)
    model, x, y = model.to(device), x.to(device), y.to(device)
    model.train()
    truncated = _timed(truncated_training_step, model, x, y, rule)[2]
    naive_once, _, naive = _timed(naive_rc_step, model, x, y, rule)
    naive_once = min(naive_once, _timed(naive_rc_step, model, x, y, rule)[0])  # the lower of two, less noisy
    training_steps = repetitions(naive_once, MIN_TRAINING_SECONDS, MAX_TRAINING_STEPS)
    expected = torch.where(steps == NEVER, time_steps - 1, steps)
    if not torch.equal(naive.decision.step_index.cpu(), expected) or not torch.equal(
            truncated.decision.step_index.cpu(), expected):
        raise RuntimeError(f"the trigger model did not decide at the pattern's steps (T={time_steps}, H={hidden})")
    model.eval()
    ways, compiled_note = _inference_ways(model, x, rule)
    warm = {name: _timed_calls(infer, 1, device) for name, infer in ways.items()}
    _check_decisions({name: decision for name, (_, decision) in warm.items()}, expected, cell)
    full_once = min(warm["full"][0], _timed_calls(ways["full"], 1, device)[0])  # the lower of two, less noisy
    calls = repetitions(full_once, MIN_INFERENCE_SECONDS, MAX_INFERENCE_CALLS)
    truncated_seconds, naive_seconds, ratios, cpu_ratios = [], [], [], []
    inference_seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for round_index in range(repeats):
        model.train()
        order = ((truncated_training_step, naive_rc_step) if round_index % 2 == 0
                 else (naive_rc_step, truncated_training_step))
        seconds = {step: _timed(step, model, x, y, rule, training_steps)[:2] for step in order}
        truncated_seconds.append(seconds[truncated_training_step][0])
        naive_seconds.append(seconds[naive_rc_step][0])
        ratios.append(seconds[truncated_training_step][0] / seconds[naive_rc_step][0])
        cpu_ratios.append(seconds[truncated_training_step][1] / max(seconds[naive_rc_step][1], 1e-9))
        model.eval()
        decisions = {}
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            per_call, decisions[name] = _timed_calls(ways[name], calls, device)
            inference_seconds[name].append(per_call)
        _check_decisions(decisions, expected, cell)
    model.train()
    held = [*model.parameters(), x, y]
    truncated_bytes = saved_activation_bytes(lambda: truncated_rc_step(model, x, y, rule, 0.0), held)
    naive_bytes = saved_activation_bytes(lambda: naive_rc_step(model, x, y, rule, 0.0), held)
    mean_steps = naive.decision.steps_read.double().mean().item()
    full_seconds = inference_seconds["full"]
    inference = _median_spread([a / b for a, b in zip(inference_seconds["early"], full_seconds)])
    compiled: dict[str, object] = {"compiled_note": compiled_note}
    if "compiled" in ways:
        ratio, low, high = _median_spread([a / b for a, b in zip(inference_seconds["compiled"], full_seconds)])
        compiled = {"compiled_ms": statistics.median(inference_seconds["compiled"]) * 1e3, "compiled_ratio": ratio,
                    "compiled_ratio_low": low, "compiled_ratio_high": high, "compiled_note": None}
    return ScalingRow(
        time_steps, hidden, batch, pattern, mean_steps, mean_steps / time_steps,
        truncated.forward_evaluations / naive.forward_evaluations,
        truncated.backward_evaluations / naive.backward_evaluations,
        statistics.median(truncated_seconds) * 1e3, statistics.median(naive_seconds) * 1e3,
        statistics.median(ratios), min(ratios), max(ratios), statistics.median(cpu_ratios), truncated_bytes,
        naive_bytes, repeats,
        early_ms=statistics.median(inference_seconds["early"]) * 1e3, full_ms=statistics.median(full_seconds) * 1e3,
        inference_ratio=inference[0], inference_ratio_low=inference[1], inference_ratio_high=inference[2],
        inference_calls=calls, decisions_identical=True, training_steps=training_steps, **compiled)


@dataclass(frozen=True)
class Grid:
    """The cells to measure: every combination, less the ``tail`` cells of batch 1."""

    time_steps: Sequence[int] = (20, 80, 320)
    hidden: Sequence[int] = (16, 64, 256, 1024)
    batch: Sequence[int] = (1, 64)
    patterns: Sequence[str] = field(default=PATTERNS)

    def __post_init__(self) -> None:
        for label, values in (("time_steps", self.time_steps), ("hidden", self.hidden), ("batch", self.batch)):
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{label} must be positive integers, got {list(values)}")
        if any(t < 4 for t in self.time_steps):
            raise ValueError(f"time_steps must be >= 4, got {list(self.time_steps)}")
        unknown = [p for p in self.patterns if p not in PATTERNS]
        if not self.patterns or unknown:
            raise ValueError(f"patterns must be among {', '.join(PATTERNS)}, got {list(self.patterns)}")

    def cells(self) -> list[tuple[int, int, int, str]]:
        return [(t, h, b, p) for t in self.time_steps for h in self.hidden for b in self.batch for p in self.patterns
                if not (p == "tail" and b < 2)]


@contextmanager
def flushed_denormals(flush: bool = True) -> Iterator[None]:
    """Within the block, torch (and whatever else runs on this thread: the numba kernels) flushes
    denormal floats to zero where the CPU supports it (:func:`torch.set_flush_denormal`), as the
    grid is measured; afterwards it keeps them again, torch's default. ``flush=False`` changes nothing."""
    if not flush:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def scaling_grid(grid: Grid, repeats: int, seed: int = 0, device: torch.device = torch.device("cpu"),
                 progress: Callable[[ScalingRow, float], None] | None = None,
                 flush_denormal: bool = True) -> list[ScalingRow]:
    """A :class:`ScalingRow` per cell of ``grid``, in its order, measured with denormals flushed to zero
    unless ``flush_denormal`` is False (:func:`flushed_denormals`); ``progress`` gets each row and the
    seconds its cell took."""
    rows = []
    with flushed_denormals(flush_denormal):
        for cell in grid.cells():
            started = time.perf_counter()
            rows.append(measure_cell(*cell, repeats=repeats, seed=seed, device=device))
            if progress is not None:
                progress(rows[-1], time.perf_counter() - started)
    return rows


CELL_HEADER = f"{'T':>4} {'H':>5} {'batch':>5} {'pattern':>7} {'r':>6}"
HEADER = (f"{CELL_HEADER} {'evals f/b':>11} {'trunc ms':>9} "
          f"{'naive ms':>9} {'wall ratio [low, high]':>23} {'wall/r':>6} {'cpu/r':>6} {'memory':>7} {'mem/r':>6}")
"""The training table's header."""
INFERENCE_HEADER = (f"{CELL_HEADER} {'early ms':>9} {'full ms':>9} {'early/full [low, high]':>23} {'/r':>6} "
                    f"{'calls':>5} {'compiled ms':>11} {'compiled/full [low, high]':>26} {'/r':>6}")
"""The inference table's header."""
PROGRESS_HEADER = (f"{CELL_HEADER} {'train wall/r':>12} {'mem/r':>6} {'early/r':>7} {'compiled/r':>10} "
                   f"{'seconds':>8}")
"""The header of the one-line-per-cell progress the command prints while it measures."""


def _cell(row: ScalingRow) -> str:
    return f"{row.time_steps:>4} {row.hidden:>5} {row.batch:>5} {row.pattern:>7} {row.ideal_ratio:>6.3f}"


def _ratio_text(ratio: float | None, low: float | None, high: float | None) -> str:
    return "-" if ratio is None or low is None or high is None else f"{ratio:.3f} [{low:.3f}, {high:.3f}]"


def _optional(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_row(row: ScalingRow) -> str:
    """The row's line of the training table (:data:`HEADER`)."""
    spread = _ratio_text(row.wall_ratio, row.wall_ratio_low, row.wall_ratio_high)
    evaluations = f"{row.forward_evaluations_ratio:.2f}/{row.backward_evaluations_ratio:.2f}"
    return (f"{_cell(row)} {evaluations:>11} {row.truncated_ms:>9.2f} {row.naive_ms:>9.2f} {spread:>23} "
            f"{row.wall_over_r:>6.2f} {row.cpu_ratio / row.ideal_ratio:>6.2f} "
            f"{row.memory_ratio:>7.3f} {row.memory_over_r:>6.2f}")


def format_inference_row(row: ScalingRow) -> str:
    """The row's line of the inference table (:data:`INFERENCE_HEADER`)."""
    early = _ratio_text(row.inference_ratio, row.inference_ratio_low, row.inference_ratio_high)
    compiled = _ratio_text(row.compiled_ratio, row.compiled_ratio_low, row.compiled_ratio_high)
    return (f"{_cell(row)} {row.early_ms:>9.3f} {row.full_ms:>9.3f} {early:>23} {row.inference_over_r:>6.2f} "
            f"{row.inference_calls:>5} {_optional(row.compiled_ms, '.3f'):>11} {compiled:>26} "
            f"{_optional(row.compiled_over_r, '.2f'):>6}")


def format_progress(row: ScalingRow, seconds: float) -> str:
    """A short line for a measured cell (:data:`PROGRESS_HEADER`), with the seconds it took."""
    return (f"{_cell(row)} {row.wall_over_r:>12.2f} {row.memory_over_r:>6.2f} {row.inference_over_r:>7.2f} "
            f"{_optional(row.compiled_over_r, '.2f'):>10} {seconds:>8.1f}")


def format_scaling(rows: Sequence[ScalingRow]) -> str:
    """Plain-text tables of the grid: training, then inference (and why a cell has no compiled timing,
    if any)."""
    notes = sorted({row.compiled_note for row in rows if row.compiled_note})
    return "\n".join([
        "Training: truncated / naive RC step (forward + backward)", HEADER, *(format_row(row) for row in rows), "",
        "Inference: early exit / fused full pass (eager); compiled early exit / fused full pass",
        INFERENCE_HEADER, *(format_inference_row(row) for row in rows),
        *(f"no compiled timing: {note}" for note in notes)])


def scaling_payload(row: ScalingRow) -> dict[str, object]:
    """The row as ``speed.json`` stores it: its fields and the derived ratios."""
    return {**asdict(row), "wall_over_r": row.wall_over_r, "memory_ratio": row.memory_ratio,
            "memory_over_r": row.memory_over_r, "inference_over_r": row.inference_over_r,
            "compiled_over_r": row.compiled_over_r}


def write_scaling(rows: Sequence[ScalingRow], out: Path, settings: dict[str, object], device: torch.device) -> Path:
    """Write ``speed.json`` and ``speed.md`` (see :func:`bench.core.measurements.write_measurement`) into ``out``."""
    note = ("Training: truncated / naive RC training step (forward + backward), ms per step, each round timing "
            "`training_steps` steps of each in a row (JSON); memory: saved activation bytes "
            "(the step's activation peak besides the parameters). Inference: early exit / the fused full pass "
            "(nn.LSTM over all T steps, then the crossing rule), eager, in evaluation mode without a graph; "
            "also the compiled (numba) early exit / the fused full pass; ms per call, `calls` calls of "
            "each way per round. Ratios: median of the timed rounds [lowest, highest round]; r = mean steps "
            "read / T; /r columns are the ratios over r. Every way gave the same decisions.")
    return write_measurement(out, "speed", "Rank coding at scale: truncated vs naive training, early exit vs full "
                             "inference", note, format_scaling(rows), [scaling_payload(row) for row in rows],
                             settings, device)


def check_targets(rows: Sequence[ScalingRow]) -> list[str]:
    """The issue's targets each row misses, as lines; empty when all are met.

    Training: wall ratio <= 1.5 r at H >= 16, <= 1.2 r at H >= 256 for the equal and tail
    patterns; memory ratio <= r at T = 320. Inference: at batch 1, compiled early exit <= 1.0 r
    of the fused full pass (where the compiled path was timed); at batch >= 64, early exit
    <= 1.3 r, by the faster of the eager and the compiled path (the line names both).
    """
    missed = []
    for row in rows:
        cell = f"T={row.time_steps} H={row.hidden} batch={row.batch} {row.pattern}"
        if row.hidden >= 16 and row.wall_over_r > 1.5:
            missed.append(f"{cell}: wall {row.wall_over_r:.2f} r > 1.5 r")
        elif row.hidden >= 256 and row.pattern in ("equal", "tail") and row.wall_over_r > 1.2:
            missed.append(f"{cell}: wall {row.wall_over_r:.2f} r > 1.2 r")
        if row.time_steps == 320 and row.memory_over_r > 1.0:
            missed.append(f"{cell}: memory {row.memory_over_r:.2f} r > r")
        compiled = row.compiled_over_r
        if row.batch == 1 and compiled is not None and compiled > 1.0:
            missed.append(f"{cell}: compiled early exit {compiled:.2f} r > 1.0 r of the fused full pass")
        fastest = min(row.inference_over_r, compiled if compiled is not None else math.inf)
        if row.batch >= 64 and fastest > 1.3:
            missed.append(f"{cell}: early exit {fastest:.2f} r > 1.3 r of the fused full pass (eager "
                          f"{row.inference_over_r:.2f} r, compiled {_optional(compiled, '.2f')} r)")
    return missed
