"""Every registered contender's training objective, against an independent computation.

Driven by the registry (:data:`baselines.registry.CONTENDERS`): each contender must declare
in :data:`OBJECTIVES` what its loss is (a reference written here from the per-step scores of
a full pass, with its own arithmetic) and which steps' scores it reads. A registered
contender without an entry fails, so a new contender has to state its objective.

On two tiny problems, one where only the last step carries the label and one where every
step does (and a binary one), each contender's ``objective(x, y)`` must give the reference's
loss and the reference's parameter gradients, and its gradient must reach exactly the
declared steps' scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import snntorch.functional as snn_functional
import torch
from torch import Tensor

from contender_cases import BINARY_SPEC, CLASSES, REGISTERED, SPEC, build, calibrated_rule, labelled_problem
from baselines.registry import Contender
from rc import compiled_training


# ----------------------------------------------------------------------------- independent arithmetic


def cross_entropy(scores: Tensor, y: Tensor) -> Tensor:
    """Per-example loss of logits ``(n, outputs)``: softmax cross-entropy, or for one output unit
    the binary cross-entropy of sigmoid(score) (``log(1 + e^s) - y s``)."""
    if scores.shape[1] == 1:
        s = scores[:, 0]
        return torch.nn.functional.softplus(s) - y.to(s.dtype) * s
    return torch.logsumexp(scores, dim=1) - scores.gather(1, y[:, None])[:, 0]


def rule_entropy(rule_name: str, scores: Tensor) -> Tensor:
    """Entropy in nats of the rule's output distribution at ``scores`` ``(n, outputs)``."""
    if rule_name in ("sigmoid", "two-sided"):
        p = torch.sigmoid(scores)
        return (-(p * p.log() + (1 - p) * (1 - p).log())).mean(dim=1)
    if rule_name == "softmax":
        p = torch.softmax(scores, dim=1)
        return -(p * p.log()).sum(dim=1)
    raise AssertionError(f"no reference entropy for rule {rule_name!r}")


def first_crossing_steps(contender: Contender, scores: Tensor) -> Tensor:
    """``(batch,)``: each example's first step whose scores cross the contender's rule, else the last."""
    steps = []
    for row in scores.detach():
        crossed = [bool(contender.rule.crossed(row[t:t + 1])[0]) for t in range(row.shape[0])]
        steps.append(crossed.index(True) if True in crossed else row.shape[0] - 1)
    return torch.tensor(steps)


def full_pass(contender: Contender, x: Tensor) -> Tensor:
    return contender.model(x)


# ----------------------------------------------------------------------------- the declared objectives


def last_step_loss(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    return cross_entropy(full_pass(contender, x)[:, -1], y).mean()


def every_step_loss(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    scores = full_pass(contender, x)
    per_step = torch.stack([cross_entropy(scores[:, t], y) for t in range(scores.shape[1])], dim=1)
    return per_step.mean()


def rank_coding_loss(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy at each example's first crossing minus beta times the rule's entropy there."""
    scores = full_pass(contender, x)
    at = scores[torch.arange(len(y)), first_crossing_steps(contender, scores)]
    return (cross_entropy(at, y) - contender.config.beta * rule_entropy(contender.rule.name, at)).mean()


def first_spike_decision_loss(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of the output scores (membrane minus threshold) at each example's first output
    spike, or at the last step when its output stays silent."""
    scores = full_pass(contender, x)
    at = scores[torch.arange(len(y)), first_crossing_steps(contender, scores)]
    return cross_entropy(at, y).mean()


def first_spike_loss(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    """snnTorch's own temporal cross-entropy of the output spike train (it wants (time, batch, n))."""
    spikes = contender.model.spikes(full_pass(contender, x))
    return snn_functional.ce_temporal_loss()(spikes.transpose(0, 1), y.clone())


def last_step(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    mask = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
    mask[:, -1] = True
    return mask


def every_step(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    return torch.ones(x.shape[0], x.shape[1], dtype=torch.bool)


def decision_step(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        steps = first_crossing_steps(contender, full_pass(contender, x))
    mask = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
    mask[torch.arange(x.shape[0]), steps] = True
    return mask


def first_spike_step_of_each_neuron(contender: Contender, x: Tensor, y: Tensor) -> Tensor:
    """Each output neuron's first spike (a score > 0), or the last step for a silent neuron."""
    with torch.no_grad():
        fired = full_pass(contender, x) > 0  # (batch, time, neurons)
    mask = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
    for b in range(x.shape[0]):
        for n in range(fired.shape[2]):
            spikes = fired[b, :, n].nonzero()
            mask[b, int(spikes[0]) if len(spikes) else x.shape[1] - 1] = True
    return mask


@dataclass(frozen=True)
class Objective:
    """What a contender's training loss is.

    Attributes:
        reference: the loss of a batch, from a full pass's per-step scores with this file's arithmetic.
        loss_steps: ``(batch, time)`` bool, the steps whose scores the loss reads (its gradient
            reaches them and no other step's scores).
        config: hyperparameters for the comparison (e.g. a beta > 0, so that beta takes part).
    """

    reference: Callable[[Contender, Tensor, Tensor], Tensor]
    loss_steps: Callable[[Contender, Tensor, Tensor], Tensor]
    config: tuple[tuple[str, object], ...] = ()


OBJECTIVES: dict[str, Objective] = {
    "lstm-eos": Objective(last_step_loss, last_step),
    "lstm-allsteps": Objective(every_step_loss, every_step),
    "rc-lstm": Objective(rank_coding_loss, decision_step, (("beta", 0.3),)),
    # a low threshold and more hidden neurons, so that output neurons spike at various steps
    "snn-ttfs": Objective(first_spike_loss, first_spike_step_of_each_neuron, (("threshold", 0.2), ("hidden", 32))),
    # the spiking family's default loss (loss = "first-spike"; "temporal" is snn-ttfs's, tests/test_snn_family.py)
    "snn-conv": Objective(first_spike_decision_loss, decision_step,
                          (("threshold", 0.2), ("output_threshold", 0.2), ("hidden", 32))),
    "snn-recurrent": Objective(first_spike_decision_loss, decision_step,
                               (("threshold", 0.2), ("output_threshold", 0.2), ("hidden", 32))),
}


def objective_of(name: str) -> Objective:
    if name not in OBJECTIVES:
        pytest.fail(f"contender {name!r} is registered but declares no objective: add its reference loss and "
                    f"the steps it reads to OBJECTIVES in {__file__}")
    return OBJECTIVES[name]


PROBLEMS = {
    "last-step-label": (SPEC, "last-step"),
    "every-step-label": (SPEC, "every-step"),
    "binary-every-step-label": (BINARY_SPEC, "every-step"),
}


def contender_on(name: str, problem: str) -> tuple[Contender, Tensor, Tensor]:
    """The contender (declared config, theta calibrated on the inputs) in training mode, and ``(x, y)``."""
    spec, kind = PROBLEMS[problem]
    x, y = labelled_problem(kind, classes=spec.n_classes)
    contender = build(name, spec, **dict(objective_of(name).config))
    contender.rule = calibrated_rule(contender, x)
    contender.model.train()
    if name == "snn-ttfs":
        # spike input; the spiking family trains step by step, and ScoreTap tells a step's examples
        # apart by their (distinct, real-valued) input rows: its spike input is in tests/test_snn_family.py
        x = (x > 0.8).float()
    return contender, x, y


def parameter_gradients(contender: Contender, loss: Tensor) -> list[Tensor]:
    parameters = list(contender.model.parameters())
    gradients = torch.autograd.grad(loss, parameters, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, gradients)]


def outcome_gradients(contender: Contender, outcome) -> list[Tensor]:
    """Each parameter's gradient after the outcome's own backward pass (its loss may have no graph)."""
    contender.model.zero_grad(set_to_none=True)
    outcome.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in contender.model.parameters()]


# ----------------------------------------------------------------------------- the tests


def test_every_registered_contender_declares_its_objective() -> None:
    missing = sorted(set(REGISTERED) - set(OBJECTIVES))
    assert not missing, f"registered contenders without a declared objective in OBJECTIVES: {missing}"
    assert {"lstm-eos", "lstm-allsteps", "rc-lstm", "snn-ttfs"} <= set(REGISTERED)


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("name", REGISTERED)
def test_objective_loss_and_gradients_equal_the_independent_reference(name: str, problem: str) -> None:
    contender, x, y = contender_on(name, problem)
    expected = objective_of(name)
    torch.manual_seed(0)
    outcome = contender.objective(x, y)
    reference = expected.reference(contender, x, y)
    assert outcome.loss.dim() == 0 and math.isfinite(float(outcome.loss.detach()))
    torch.testing.assert_close(outcome.loss, reference, rtol=1e-5, atol=1e-6)
    ours, theirs = outcome_gradients(contender, outcome), parameter_gradients(contender, reference)
    assert sum(float(g.abs().sum()) for g in ours) > 0
    for mine, wanted in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, wanted, rtol=1e-4, atol=1e-6)


class ScoreTap(torch.nn.Module):
    """Wraps a contender's network and keeps every score tensor it emits, with its gradient.

    A full pass's scores are kept as ``(batch, time, outputs)``; a step's scores are matched to
    their examples by their input rows (every input row of :func:`labelled_problem` is distinct).
    """

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.full: list[Tensor] = []
        self.steps: list[tuple[int, Tensor, Tensor]] = []
        self._t = 0

    def forward(self, x: Tensor) -> Tensor:
        scores = self.inner(x)
        scores.retain_grad()
        self.full.append(scores)
        return scores

    def init_state(self, batch_size, device=None):
        self._t = 0
        return self.inner.init_state(batch_size, device)

    def step(self, x_t: Tensor, state):
        scores, state = self.inner.step(x_t, state)
        scores.retain_grad()
        self.steps.append((self._t, x_t, scores))
        self._t += 1
        return scores, state

    def select_state(self, state, index):
        return self.inner.select_state(state, index)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    def gradient_reach(self, x: Tensor) -> Tensor:
        """``(batch, time)`` bool: which examples' scores at which steps got a non-zero gradient."""
        reach = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
        for scores in self.full:
            if scores.grad is not None:
                reach |= scores.grad.abs().sum(dim=-1) > 0
        for t, rows, scores in self.steps:
            if scores.grad is None:
                continue
            example = [(x[:, t] == row).all(dim=1).nonzero()[0, 0] for row in rows]
            for i, b in enumerate(example):
                reach[b, t] |= bool(scores.grad[i].abs().sum() > 0)
        return reach


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("name", REGISTERED)
def test_objective_reads_exactly_the_declared_steps(name: str, problem: str) -> None:
    contender, x, y = contender_on(name, problem)
    expected = objective_of(name).loss_steps(contender, x, y)
    tap = ScoreTap(contender.model)
    contender.model = tap
    torch.manual_seed(0)
    contender.objective(x, y).backward()
    reach = tap.gradient_reach(x)
    assert reach.any()
    assert torch.equal(reach, expected), f"loss reads steps\n{reach.int()}\nexpected\n{expected.int()}"


def test_the_declared_steps_differ_between_contenders_on_these_problems() -> None:
    """The step masks are not all alike, so the test above tells the objectives apart."""
    masks = {}
    for name in ("lstm-eos", "lstm-allsteps", "rc-lstm"):
        contender, x, y = contender_on(name, "every-step-label")
        masks[name] = objective_of(name).loss_steps(contender, x, y)
    assert int(masks["lstm-eos"].sum()) == 12 and int(masks["lstm-allsteps"].sum()) == 60
    decision_steps = masks["rc-lstm"].int().argmax(dim=1)
    assert len(set(decision_steps.tolist())) >= 2 and bool((decision_steps < 4).any())
    snn, x, y = contender_on("snn-ttfs", "every-step-label")
    first_spikes = objective_of("snn-ttfs").loss_steps(snn, x, y)
    assert bool(first_spikes[:, :-1].any())  # some output neurons spike before the last step


# ----------------------------------------------------------------------------- survivors, named


def test_lstm_allsteps_pairs_each_step_with_its_own_label() -> None:
    contender, x, y = contender_on("lstm-allsteps", "every-step-label")
    loss = contender.objective(x, y).loss
    torch.testing.assert_close(loss, every_step_loss(contender, x, y), rtol=1e-5, atol=1e-6)
    scores = contender.model(x)
    shuffled = cross_entropy(scores.reshape(-1, CLASSES), y.repeat(x.shape[1])).mean()
    assert abs(float(loss.detach()) - float(shuffled.detach())) > 1e-3  # the wrong pairing is visibly another number


def test_lstm_eos_loss_is_at_the_last_step() -> None:
    contender, x, y = contender_on("lstm-eos", "last-step-label")
    loss = contender.objective(x, y).loss
    scores = contender.model(x)
    torch.testing.assert_close(loss, cross_entropy(scores[:, -1], y).mean(), rtol=1e-5, atol=1e-6)
    assert abs(float(loss.detach()) - float(cross_entropy(scores[:, 0], y).mean().detach())) > 1e-3


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_rc_lstm_beta_reaches_the_loss_as_beta_times_the_entropy(beta: float) -> None:
    x, y = labelled_problem("every-step")
    without = build("rc-lstm", beta=0.0)
    with_beta = build("rc-lstm", beta=beta)
    rule = calibrated_rule(without, x)
    without.rule = with_beta.rule = rule
    scores = without.model(x)
    at = scores[torch.arange(len(y)), first_crossing_steps(without, scores)]
    entropy = rule_entropy(rule.name, at).mean()
    assert float(entropy.detach()) > 0.05
    difference = with_beta.objective(x, y).loss - without.objective(x, y).loss
    torch.testing.assert_close(difference, -beta * entropy, rtol=1e-4, atol=1e-6)


def test_objective_outcome_counts_the_step_evaluations_it_computes() -> None:
    x, y = labelled_problem("every-step")
    for name in ("lstm-eos", "lstm-allsteps"):
        outcome = build(name).objective(x, y)
        assert outcome.step_evaluations_forward == outcome.step_evaluations_backward == x.shape[0] * x.shape[1]
    contender = build("rc-lstm")
    contender.rule = calibrated_rule(contender, x)
    outcome = contender.objective(x, y)
    steps = first_crossing_steps(contender, contender.model(x))
    assert outcome.step_evaluations_backward == int((steps + 1).sum()) < x.shape[0] * x.shape[1]
    # forward adds the no-grad search that finds the crossings (rc.fused_training)
    assert outcome.step_evaluations_forward >= outcome.step_evaluations_backward


def test_rc_lstm_names_the_implementation_of_its_step_and_its_counts_follow_it() -> None:
    x, y = labelled_problem("every-step")
    assert build("lstm-eos").objective(x, y).step_path is None  # one implementation: nothing to name
    for dropout in (0.0, 0.3):  # dropout in effect is never compiled
        contender = build("rc-lstm", dropout=dropout)
        contender.rule = calibrated_rule(contender, x)
        contender.model.train()
        outcome = contender.objective(x, y)
        compiled = compiled_training.unsupported_reason(contender.model, x, contender.rule) is None
        assert compiled == (dropout == 0.0 and compiled_training.compiled.NUMBA_AVAILABLE)
        assert outcome.step_path == ("compiled" if compiled else "fused")
        if compiled:  # no search pass: forward computes exactly the steps the backward pass runs through
            assert outcome.step_evaluations_forward == outcome.step_evaluations_backward
