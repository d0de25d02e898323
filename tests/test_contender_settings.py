"""Every configured hyperparameter of every registered contender reaches what it names.

Parametrised over the ``Config`` fields of each contender in the registry
(:data:`baselines.registry.CONTENDERS`). Each field needs a check in :data:`CHECKS` (by field
name, or by ``(contender, field)`` for a contender whose field means something else); a field
without one fails, so a new setting has to show that it is used. A check builds the contender
with two values of the field and shows that the computation the field names changes as it should.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from contender_cases import CPU, REGISTERED, SPEC, build, calibrated_rule, labelled_problem, noop, tiny_splits
from baselines.registry import CONTENDERS, Contender
from bench.core.task_contract import Split, TaskSpec
from rc.crossing import Decision

FRAMES_SPEC = TaskSpec("frames", 3, 16, 3, "sigmoid", frame_shape=(4, 4))
"""Tiny image frames, for the augmentation."""
IMAGE_SPEC = TaskSpec("images", 2, 256, 3, "sigmoid", frame_shape=(16, 16))
"""The smallest frames the convolutional encoder takes."""


def parameters(contender: Contender) -> dict[str, Tensor]:
    return {name: p.detach().clone() for name, p in contender.model.named_parameters()}


def largest_change(before: dict[str, Tensor], contender: Contender) -> float:
    after = parameters(contender)
    return max(float((after[name] - value).abs().max()) for name, value in before.items())


def fit_one_batch(name: str, spec: TaskSpec = SPEC, **values) -> tuple[Contender, dict[str, Tensor]]:
    """The contender fitted for one epoch of one minibatch; its weights before."""
    train, val = tiny_splits(spec)
    contender = build(name, spec, **{"batch_size": len(train), "epochs": 1, **values})
    before = parameters(contender)
    contender.fit(train, val, noop)
    return contender, before


def recorded_objective(contender: Contender) -> list[Tensor]:
    """Replace the contender's objective by one that records each minibatch's inputs first."""
    seen: list[Tensor] = []
    original = contender.objective

    def objective(x: Tensor, y: Tensor):
        seen.append(x.detach().clone())
        return original(x, y)

    contender.objective = objective
    return seen


# ----------------------------------------------------------------------------- the checks, by field


def check_epochs(name: str) -> None:
    train, val = tiny_splits()
    for epochs in (1, 3):
        contender = build(name, epochs=epochs, batch_size=8)
        batches = recorded_objective(contender)
        report = contender.fit(train, val, noop)
        assert report.epochs == epochs and [log.epoch for log in report.history] == list(range(1, epochs + 1))
        assert len(batches) == epochs * 2


def check_batch_size(name: str) -> None:
    train, val = tiny_splits()  # 16 training examples
    for batch_size, sizes in ((6, [6, 6, 4]), (16, [16])):
        contender = build(name, batch_size=batch_size)
        batches = recorded_objective(contender)
        contender.fit(train, val, noop)
        assert [len(x) for x in batches] == sizes


def check_lr(name: str) -> None:
    # Adam's first step moves each weight by lr * g / (|g| + eps): about lr wherever g is not tiny
    for lr in (1e-3, 1e-2):
        contender, before = fit_one_batch(name, lr=lr, grad_clip=0.0)
        assert largest_change(before, contender) == pytest.approx(lr, rel=1e-3)


def check_grad_clip(name: str) -> None:
    lr = 1e-2
    unclipped, before = fit_one_batch(name, lr=lr, grad_clip=0.0)
    assert largest_change(before, unclipped) == pytest.approx(lr, rel=1e-3)
    # a gradient norm clipped to 1e-12 is far below Adam's eps (1e-8): the step shrinks to about 1e-4 lr
    clipped, before = fit_one_batch(name, lr=lr, grad_clip=1e-12)
    assert 0 < largest_change(before, clipped) < 1e-3 * lr


def check_eval_batch_size(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``decide`` hands early exit (step loop or fused search alike) the test set in chunks of the size."""
    import baselines.step_contender as step_contender

    x, _ = labelled_problem("every-step", n=8)
    decide_chunk = step_contender.early_exit_decide
    for size, chunks in ((3, [3, 3, 2]), (64, [8])):
        contender = build(name, eval_batch_size=size)
        seen: list[int] = []

        def early_exit(model, chunk, rule):
            seen.append(chunk.shape[0])
            return decide_chunk(model, chunk, rule)

        monkeypatch.setattr(step_contender, "early_exit_decide", early_exit)
        decision, _ = contender.decide(x)
        assert seen == chunks and decision.prediction.shape == (8,)


def check_lr_schedule(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    train, val = tiny_splits()
    rates: list[float] = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    for schedule, expected in (("constant", [0.01, 0.01]), ("cosine", [0.01, 0.005])):
        rates.clear()
        build(name, lr_schedule=schedule, lr=0.01, batch_size=8).fit(train, val, noop)  # two minibatches
        assert rates == pytest.approx(expected)


def check_selection(name: str) -> None:
    train, val = tiny_splits()
    for selection, kept in (("best-val-accuracy", 1), ("last-epoch", 3)):
        contender = build(name, selection=selection, epochs=3, batch_size=8)
        snapshots: list[dict[str, Tensor]] = []

        def scripted(x: Tensor, contender=contender, snapshots=snapshots) -> tuple[Decision, int]:
            """Validation: every example right after epoch 1, wrong after epochs 2 and 3."""
            snapshots.append(parameters(contender))
            right = len(snapshots) == 1
            n = len(val)
            prediction = val.y if right else (val.y + 1) % SPEC.n_classes
            return Decision(prediction, torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.bool)), n

        contender.decide = scripted
        report = contender.fit(train, val, noop)
        assert report.selected_epoch == kept
        assert [log.val_accuracy for log in report.history] == [1.0, 0.0, 0.0]
        assert all(torch.equal(value, snapshots[kept - 1][key]) for key, value in parameters(contender).items())


def check_weight_decay(name: str) -> None:
    # AdamW's decoupled decay: the same step, plus w <- w - lr * decay * w (w the weights before it)
    lr, decay = 0.01, 0.5
    plain, before = fit_one_batch(name, lr=lr, weight_decay=0.0)
    decayed, same_start = fit_one_batch(name, lr=lr, weight_decay=decay)
    for key, value in before.items():
        assert torch.equal(same_start[key], value)
        difference = parameters(decayed)[key] - parameters(plain)[key]
        torch.testing.assert_close(difference, -lr * decay * value, rtol=1e-3, atol=1e-7)
    assert any(float(value.abs().max()) > 0.1 for value in before.values())


def check_augment_shift(name: str) -> None:
    train, val = tiny_splits(FRAMES_SPEC)
    train = Split(torch.rand(len(train), 3, 16) + 0.1, train.y)  # no zero pixel: any shift shows
    rows = {row.numpy().tobytes() for row in train.x}
    for shift in (0, 1):
        contender = build(name, FRAMES_SPEC, augment_shift=shift, batch_size=16)
        batches = recorded_objective(contender)
        validated: list[Tensor] = []
        inner_decide = contender.decide

        def decide(x: Tensor, inner_decide=inner_decide):
            validated.append(x.clone())
            return inner_decide(x)

        contender.decide = decide
        contender.fit(train, val, noop)
        seen = {row.numpy().tobytes() for row in batches[0]}
        if shift == 0:
            assert seen == rows
        else:  # every example moved (by -1, 0 or 1 pixel per axis, not both 0) or kept in place
            assert len(seen - rows) >= len(rows) // 2
            assert bool((batches[0] == 0).any())  # pixels shifted in from outside the frame are 0
        assert torch.equal(validated[0], val.x)  # validation inputs are never shifted
    with pytest.raises(ValueError, match="augment_shift needs a task whose steps are image frames"):
        build(name, SPEC, augment_shift=1).fit(*tiny_splits(), noop)


def state_widths(contender: Contender) -> list[int]:
    state = contender.model.init_state(1, CPU)
    flat = []

    def walk(item) -> None:
        if isinstance(item, Tensor):
            flat.append(item.shape[-1])
        else:
            for part in item:
                walk(part)

    walk(state)
    return flat


def check_hidden(name: str) -> None:
    for hidden in (3, 7):
        contender = build(name, hidden=hidden)
        assert hidden in state_widths(contender)
        assert contender.model.dense_macs_per_step() != build(name, hidden=hidden + 1).model.dense_macs_per_step()


def check_layers(name: str) -> None:
    for layers in (1, 2):
        contender = build(name, layers=layers)
        assert len(contender.model.init_state(1, CPU)) == layers  # one (h, c) per layer
        assert contender.model.lstm.num_layers == layers


def check_dropout(name: str) -> None:
    x, y = labelled_problem("every-step")
    for dropout, differ in ((0.0, False), (0.5, True)):
        contender = build(name, dropout=dropout)
        contender.rule = calibrated_rule(contender, x)
        contender.model.train()
        first, second = contender.objective(x, y).loss.detach(), contender.objective(x, y).loss.detach()
        assert (abs(float(first - second)) > 1e-6) == differ
        contender.model.eval()
        assert float(contender.objective(x, y).loss.detach() - contender.objective(x, y).loss.detach()) == 0


def convolutions(contender: Contender) -> list[torch.nn.Conv2d]:
    return [m for m in contender.model.modules() if isinstance(m, torch.nn.Conv2d)]


def check_encoder(name: str) -> None:
    assert convolutions(build(name, IMAGE_SPEC, encoder="none")) == []
    conv = build(name, IMAGE_SPEC, encoder="conv")
    assert [c.in_channels for c in convolutions(conv)] == [1, 16]
    x = torch.rand(2, 2, 256)
    assert conv.step_scores(x).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="encoder 'conv' needs a task whose steps are image frames"):
        build(name, SPEC, encoder="conv")


def check_conv_channels(name: str) -> None:
    for channels in (2, 5):
        contender = build(name, IMAGE_SPEC, encoder="conv", conv_channels=channels)
        assert [(c.in_channels, c.out_channels) for c in convolutions(contender)] == [(1, channels),
                                                                                       (channels, 2 * channels)]


def check_beta(name: str) -> None:
    """The loss changes with beta by exactly -beta times the mean entropy at the decisions."""
    x, y = labelled_problem("every-step")
    base = build(name, beta=0.0)
    rule = calibrated_rule(base, x)
    base.rule = rule
    decision = base.decide(x)[0]
    at = base.model(x)[torch.arange(len(y)), decision.step_index]
    entropy = rule.entropy(at).mean()
    assert float(entropy.detach()) > 0.05
    for beta in (0.2, 0.7):
        other = build(name, beta=beta)
        other.rule = rule
        torch.testing.assert_close(other.objective(x, y).loss - base.objective(x, y).loss, -beta * entropy,
                                   rtol=1e-4, atol=1e-6)


def check_loss(name: str) -> None:
    """``loss``: the cross-entropy of the logits, or of the sigmoid outputs (three classes here), with
    beta times the rule's entropy at the logits subtracted either way."""
    x, y = labelled_problem("every-step")
    values = {}
    for output in ("logits", "sigmoid-outputs"):
        contender = build(name, loss=output, beta=0.3)
        contender.rule = calibrated_rule(contender, x)
        decision = contender.decide(x)[0]
        at = contender.model(x)[torch.arange(len(y)), decision.step_index]
        inputs = at if output == "logits" else torch.sigmoid(at)
        cross_entropy = torch.logsumexp(inputs, dim=1) - inputs.gather(1, y[:, None])[:, 0]
        expected = (cross_entropy - 0.3 * contender.rule.entropy(at)).mean()
        values[output] = contender.objective(x, y).loss
        torch.testing.assert_close(values[output], expected, rtol=1e-5, atol=1e-6)
    assert abs(float((values["logits"] - values["sigmoid-outputs"]).detach())) > 1e-3


def lif_recursion_holds(contender: Contender, x: Tensor, decay: float, threshold: float) -> bool:
    """Whether the hidden membranes follow U[t] = decay U[t-1] + W x_t + b - (U[t-1] > threshold) threshold."""
    model = contender.model
    state = model.init_state(x.shape[0], CPU)
    with torch.no_grad():
        for t in range(x.shape[1]):
            previous = state[0]
            _, state = model.step(x[:, t], state)
            expected = decay * previous + model.fc_hidden(x[:, t]) - (previous > threshold).float() * threshold
            if not torch.allclose(state[0], expected, atol=1e-5):
                return False
    return True


def spiking_input() -> Tensor:
    return (torch.rand(6, 8, 4, generator=torch.Generator().manual_seed(0)) < 0.6).float() * 3


def check_decay(name: str) -> None:
    x = spiking_input()
    for decay, other in ((0.5, 0.8), (0.8, 0.5)):
        contender = build(name, decay=decay, threshold=0.3)
        assert lif_recursion_holds(contender, x, decay, 0.3)
        assert not lif_recursion_holds(contender, x, other, 0.3)


def check_threshold(name: str) -> None:
    x = spiking_input()
    for threshold, other in ((0.3, 0.6), (0.6, 0.3)):
        contender = build(name, decay=0.7, threshold=threshold)
        assert lif_recursion_holds(contender, x, 0.7, threshold)
        assert not lif_recursion_holds(contender, x, 0.7, other)
        with torch.no_grad():  # the scores are the output membrane minus the threshold
            scores, (_, membrane) = contender.model.step(x[:, 0], contender.model.init_state(len(x), CPU))
        torch.testing.assert_close(scores, membrane - threshold)


def check_surrogate_slope(name: str) -> None:
    scores = torch.linspace(-2, 2, 9, requires_grad=True)
    for slope in (2.0, 9.0):
        contender = build(name, surrogate_slope=slope)
        (gradient,) = torch.autograd.grad(contender.model.spikes(scores).sum(), scores)
        torch.testing.assert_close(gradient, 1 / (1 + slope * scores.detach().abs()) ** 2)


def spiking_family_recursion_holds(contender: Contender, x: Tensor, decay: float, threshold: float) -> bool:
    """Whether the hidden membranes of snn-conv / snn-recurrent follow U[t] = decay U[t-1] + W x_t + b
    (+ V S[t-1] + b_V with recurrent synapses) - S[t-1] threshold, with S[t-1] = U[t-1] > threshold."""
    model = contender.model
    state = model.init_state(x.shape[0], CPU)
    with torch.no_grad():
        for t in range(x.shape[1]):
            previous = state[-2]
            _, state = model.step(x[:, t], state)
            fired = (previous > threshold).float()
            expected = decay * previous + model.fc_hidden(x[:, t]) - fired * threshold
            if model.recurrent:
                expected = expected + model.lif_hidden.recurrent(fired)
            if not torch.allclose(state[-2], expected, atol=1e-5):
                return False
    return True


def check_spiking_family_decay(name: str) -> None:
    x = spiking_input()
    for decay, other in ((0.5, 0.8), (0.8, 0.5)):
        contender = build(name, decay=decay, threshold=0.3)
        assert spiking_family_recursion_holds(contender, x, decay, 0.3)
        assert not spiking_family_recursion_holds(contender, x, other, 0.3)


def check_spiking_family_threshold(name: str) -> None:
    x = spiking_input()
    for threshold, other in ((0.3, 0.6), (0.6, 0.3)):
        contender = build(name, decay=0.7, threshold=threshold)
        assert spiking_family_recursion_holds(contender, x, 0.7, threshold)
        assert not spiking_family_recursion_holds(contender, x, 0.7, other)
        with torch.no_grad():  # the output neurons have their own threshold
            scores, state = contender.model.step(x[:, 0], contender.model.init_state(len(x), CPU))
        torch.testing.assert_close(scores, state[-1] - contender.config.output_threshold)


def check_output_threshold(name: str) -> None:
    """The output membranes follow U[t] = decay U[t-1] + W S_hid[t] + b - (U[t-1] > theta) theta with theta the
    output threshold, the scores are U - theta, and the hidden layer does not see it."""
    x = spiking_input()
    for theta in (0.3, 2.0):
        contender = build(name, decay=0.7, threshold=0.5, output_threshold=theta)
        model = contender.model
        state = model.init_state(len(x), CPU)
        resets = 0
        with torch.no_grad():
            for t in range(x.shape[1]):
                previous = state[-1]
                scores, state = model.step(x[:, t], state)
                fired = (previous > theta).float()
                resets += int(fired.sum())
                current = model.fc_out((state[-2] > 0.5).float())
                torch.testing.assert_close(state[-1], 0.7 * previous + current - fired * theta)
                torch.testing.assert_close(scores, state[-1] - theta)
        assert (resets > 0) == (theta == 0.3)
    first, second = (build(name, output_threshold=theta) for theta in (0.3, 2.0))
    with torch.no_grad():
        first_state = first.model.step(x[:, 0], first.model.init_state(len(x), CPU))[1]
        second_state = second.model.step(x[:, 0], second.model.init_state(len(x), CPU))[1]
    torch.testing.assert_close(first_state[-2], second_state[-2])  # the hidden layer is the same


def check_learn_decay(name: str) -> None:
    """Fixed: no decay among the parameters. Learnt: one decay per neuron (per channel in a convolutional
    layer), starting at ``decay``, moved by training, and the hidden membranes follow each neuron's own."""
    fixed, _ = fit_one_batch(name, learn_decay=False, decay=0.8)
    assert not [n for n, _ in fixed.model.named_parameters() if "beta" in n]
    learnt, before = fit_one_batch(name, learn_decay=True, decay=0.8, lr=0.01)
    betas = {n: p for n, p in learnt.model.named_parameters() if n.endswith("beta")}
    assert [tuple(p.shape) for p in betas.values()] == [(6,), (SPEC.n_classes,)]  # hidden (TINY), output
    for key, value in betas.items():
        assert torch.equal(before[key], torch.full_like(value, 0.8))
        assert float((value.detach() - 0.8).abs().max()) > 1e-3
    hidden = learnt.model.lif_hidden.beta.detach()
    assert len(set(hidden.tolist())) > 1
    conv = build(name, IMAGE_SPEC, encoder="conv", conv_channels=2, learn_decay=True)
    assert [tuple(lif.beta.shape) for lif in conv.model.conv_lifs] == [(2, 1, 1), (4, 1, 1)]
    with torch.no_grad():
        learnt.model.lif_hidden.beta.copy_(torch.linspace(0.2, 0.9, 6))
    x = spiking_input()
    state = learnt.model.init_state(len(x), CPU)
    with torch.no_grad():
        _, state = learnt.model.step(x[:, 0], state)
        previous = state[-2]
        _, state = learnt.model.step(x[:, 1], state)
        fired = (previous > learnt.config.threshold).float()
        expected = (torch.linspace(0.2, 0.9, 6) * previous + learnt.model.fc_hidden(x[:, 1])
                    - fired * learnt.config.threshold)
        if learnt.model.recurrent:
            expected = expected + learnt.model.lif_hidden.recurrent(fired)
    torch.testing.assert_close(state[-2], expected)


def check_spiking_family_loss(name: str) -> None:
    """``first-spike``: cross-entropy of the scores at each example's decision, run to it;
    ``temporal``: snnTorch's ce_temporal_loss of the output spike train, whole sequence."""
    import snntorch.functional as snn_functional

    x, y = labelled_problem("every-step")
    values = {}
    for loss in ("first-spike", "temporal"):
        contender = build(name, loss=loss, threshold=0.3, output_threshold=0.3, hidden=16)
        outcome = contender.objective(x, y)
        scores = contender.model(x)
        if loss == "first-spike":
            decision = contender.decide(x)[0]
            at = scores[torch.arange(len(y)), decision.step_index]
            expected = (torch.logsumexp(at, dim=1) - at.gather(1, y[:, None])[:, 0]).mean()
            assert len(set(decision.step_index.tolist())) >= 2
            assert outcome.step_evaluations_forward == outcome.step_evaluations_backward == int(
                (decision.step_index + 1).sum()) < x.shape[0] * x.shape[1]
        else:
            expected = snn_functional.ce_temporal_loss()(contender.model.spikes(scores).transpose(0, 1), y.clone())
            assert outcome.step_evaluations_forward == outcome.step_evaluations_backward == x.shape[0] * x.shape[1]
        values[loss] = outcome.loss
        torch.testing.assert_close(outcome.loss, expected, rtol=1e-5, atol=1e-6)
    assert abs(float((values["first-spike"] - values["temporal"]).detach())) > 1e-3


class _StopBeforeTraining(Exception):
    """Raised in place of the training loop, once the weights it would start from are seen."""


def weights_at_training_start(contender: Contender, train: Split, val: Split,
                              monkeypatch: pytest.MonkeyPatch) -> dict[str, Tensor]:
    """The contender's weights when ``fit`` hands its model to the training loop."""
    seen = {}

    def stop(model, *args, **kwargs):
        seen.update({name: p.detach().clone() for name, p in model.named_parameters()})
        raise _StopBeforeTraining

    monkeypatch.setattr("baselines.step_contender.fit_minibatches", stop)
    with pytest.raises(_StopBeforeTraining):
        contender.fit(train, val, noop)
    return seen


def check_init_target(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """0: training starts from the weights the contender was built with. t > 0: from the same weights
    rescaled, layer by layer, so that on the first step of the training examples each convolution's
    pooled current and the hidden layer's input current have standard deviation t x threshold, biases 0;
    the output layer is untouched."""
    train, val = tiny_splits(IMAGE_SPEC, n_train=24)
    plain = build(name, IMAGE_SPEC, encoder="conv", conv_channels=2, init_target=0.0)
    built = parameters(plain)
    start = weights_at_training_start(plain, train, val, monkeypatch)
    assert all(torch.equal(start[key], value) for key, value in built.items())
    spreads = {}
    for target in (0.5, 2.0):
        contender = build(name, IMAGE_SPEC, encoder="conv", conv_channels=2, threshold=0.4, init_target=target)
        built = parameters(contender)
        start = weights_at_training_start(contender, train, val, monkeypatch)
        model = contender.model
        with torch.no_grad():
            layer_input = train.x[:, 0].reshape(len(train), 1, *IMAGE_SPEC.frame_shape)
            layers = [(f"conv_layers.{i}", lambda v, i=i: model.pool(F.conv2d(
                v, start[f"conv_layers.{i}.weight"], start[f"conv_layers.{i}.bias"]))) for i in range(2)]
            layers.append(("fc_hidden", lambda v: F.linear(v.flatten(1), start["fc_hidden.weight"],
                                                             start["fc_hidden.bias"])))
            for layer, current_of in layers:
                current = current_of(layer_input)
                assert float(current.std()) == pytest.approx(target * 0.4, rel=1e-4), layer
                assert not start[f"{layer}.bias"].any()
                ratio = start[f"{layer}.weight"] / built[f"{layer}.weight"]
                torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio.flatten()[0])))
                spreads.setdefault(layer, []).append(float(ratio.flatten()[0]))
                layer_input = (current > 0.4).float()
        for key in ("fc_out.weight", "fc_out.bias"):
            assert torch.equal(start[key], built[key])
    assert spreads["conv_layers.0"][1] == pytest.approx(4 * spreads["conv_layers.0"][0], rel=1e-4)


Check = Callable[..., None]

CHECKS: dict[str, Check] = {
    "epochs": check_epochs,
    "batch_size": check_batch_size,
    "lr": check_lr,
    "grad_clip": check_grad_clip,
    "eval_batch_size": check_eval_batch_size,
    "lr_schedule": check_lr_schedule,
    "selection": check_selection,
    "weight_decay": check_weight_decay,
    "augment_shift": check_augment_shift,
    "hidden": check_hidden,
    "layers": check_layers,
    "dropout": check_dropout,
    "encoder": check_encoder,
    "conv_channels": check_conv_channels,
    "beta": check_beta,
    "loss": check_loss,
    "decay": check_decay,
    "threshold": check_threshold,
    "surrogate_slope": check_surrogate_slope,
    "learn_decay": check_learn_decay,
    "output_threshold": check_output_threshold,
    "init_target": check_init_target,
}
"""What each setting must change, by field name."""

CONTENDER_CHECKS: dict[tuple[str, str], Check] = {
    **{(name, "decay"): check_spiking_family_decay for name in ("snn-conv", "snn-recurrent")},
    **{(name, "threshold"): check_spiking_family_threshold for name in ("snn-conv", "snn-recurrent")},
    **{(name, "loss"): check_spiking_family_loss for name in ("snn-conv", "snn-recurrent")},
}
"""Checks for a ``(contender, field)`` whose field means something other than :data:`CHECKS` says."""

SETTINGS = [(name, f.name) for name in REGISTERED for f in fields(CONTENDERS[name].Config)]


@pytest.mark.parametrize("name, setting", SETTINGS, ids=[f"{n}-{s}" for n, s in SETTINGS])
def test_setting_reaches_the_computation_it_names(name: str, setting: str, monkeypatch) -> None:
    check = CONTENDER_CHECKS.get((name, setting)) or CHECKS.get(setting)
    if check is None:
        pytest.fail(f"contender {name!r} has the setting {setting!r} but no check that it is used: add one to "
                    f"CHECKS (or CONTENDER_CHECKS) in {__file__}")
    torch.manual_seed(0)
    if "monkeypatch" in check.__code__.co_varnames[:check.__code__.co_argcount]:
        check(name, monkeypatch)
    else:
        check(name)


def test_every_setting_of_every_contender_is_covered() -> None:
    uncovered = [(n, s) for n, s in SETTINGS if (n, s) not in CONTENDER_CHECKS and s not in CHECKS]
    assert not uncovered, f"settings without a check: {uncovered}"
    assert {"beta", "dropout", "epochs", "lr", "decay"} <= {s for _, s in SETTINGS}
    assert len(SETTINGS) > 40
