"""The authors' notebooks reproduced faithfully: each faithful option against a reference.

Each reference below re-implements, in this file, what one function of the
authors' notebooks (github.com/NeuromorphicComputing/RankCoding) computes,
with the same torch operations where their float arithmetic matters, so that
the suite's option is checked value for value:

- ``rank_coding_mnist.ipynb``: ``to_temporal`` (encoding), its decision index
  (the step with the most classes above theta) and its loss
  (``CrossEntropyLoss`` on the sigmoid outputs at that step);
- ``noisevssignal_rank_coding.ipynb`` and ``seq_data_rank_coding.ipynb``:
  ``gather_spiking_preds`` (two-sided threshold, a first-step spike counted as
  none) and ``BCELoss`` on the sigmoid output.

See docs/authors-recipe.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.rc_lstm import RCLSTM, RCLSTMConfig
from baselines.registry import get_contender
from bench.core.task_contract import TaskSpec
from bench.data.encoding import (
    NEVER, LatencyCoded, encode, get_encoding, notebook_bucket_edges, step_table,
)
from bench.data.mnist import MNIST, load_split
from bench.run.harness import contender_config, plan_jobs
from bench.run.profile import BUILTIN_PROFILES, load_profile
from rc.crossing import NotStreamingError, decide, make_rule
from rc.inference import early_exit_decide
from rc.loss import classification_loss, rc_loss, rc_loss_at_crossing
from rc.model import LSTMClassifier
from test_datasets_mnist import REAL, needs_real_mnist

STEPS = 20
EVERY_BYTE = np.arange(256, dtype=np.uint8).reshape(1, 256)


# ----------------------------------------------------------------------------- references


def notebook_intensities(images: np.ndarray) -> torch.Tensor:
    """What ``transforms.ToTensor()`` makes of uint8 bytes: float32, divided by 255 in float32."""
    return torch.from_numpy(np.array(images)).to(torch.float32).div(255)


def notebook_normalize(x: torch.Tensor) -> torch.Tensor:
    """``transforms.Normalize((0.1307,), (0.3081,))`` on float32 intensities, as torchvision computes it."""
    mean = torch.tensor([0.1307], dtype=torch.float32)
    std = torch.tensor([0.3081], dtype=torch.float32)
    return (x - mean) / std


def notebook_one_hot_in_time(x: torch.Tensor, step: float = 0.05) -> torch.Tensor:
    """The notebook's ``to_temporal`` on float32 values ``(n, pixels)``: ``(n, pixels, buckets)`` one-hot.

    Edges: ``1 - arange(0, 1, step)``, sorted ascending. A value's bucket is the count of edges
    strictly below it (``bucketize``, right=False); ``one_hot`` takes as many classes as the
    largest bucket in the batch + 1, and the class axis is reversed so the brightest come first.
    """
    edges = torch.sort(1 - torch.arange(0, 1, step)).values
    buckets = torch.bucketize(x, edges)
    return torch.flip(F.one_hot(buckets), dims=[-1])


def notebook_sequences(images: np.ndarray) -> torch.Tensor:
    """The tensor the MNIST notebook feeds its LSTM: ``(n, 20, pixels)``, via ``.view`` and ``.permute``."""
    one_hot = notebook_one_hot_in_time(notebook_intensities(images))
    return one_hot.view(len(images), images.shape[1], STEPS).permute(0, 2, 1)


def first_index(one_hot: torch.Tensor) -> torch.Tensor:
    """``(n, pixels)`` spike step of a ``(n, pixels, steps)`` one-hot."""
    return one_hot.argmax(dim=-1)


def notebook_mnist_decision(probabilities: torch.Tensor, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST notebook's spike index and prediction from sigmoid outputs ``(n, T, C)``.

    Per step the number of classes above theta; a sequence without any gets a 1 at its
    last step; the index is the argmax over steps (the first maximum); the prediction is
    the argmax of the outputs gathered there.
    """
    spike_counts = (probabilities > theta).long().sum(dim=2)
    silent = spike_counts.sum(dim=1) == 0
    spike_counts[silent, -1] = 1
    index = spike_counts.argmax(dim=1, keepdim=True)
    gathered = torch.gather(probabilities, 1, index.repeat(1, probabilities.shape[2]).unsqueeze(1)).squeeze(1)
    return index.squeeze(1), gathered.argmax(dim=1)


def notebook_mnist_loss(probabilities: torch.Tensor, targets: torch.Tensor, theta: float) -> torch.Tensor:
    """The MNIST notebook's training loss: ``CrossEntropyLoss`` on the sigmoid outputs at its spike index."""
    with torch.no_grad():
        index, _ = notebook_mnist_decision(probabilities.detach(), theta)
    gathered = torch.gather(probabilities, 1, index.view(-1, 1, 1).repeat(1, 1, probabilities.shape[2])).squeeze(1)
    return torch.nn.CrossEntropyLoss()(gathered, targets)


def notebook_toy_decision(probabilities: torch.Tensor, theta: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The toy notebooks' ``gather_spiking_preds`` on one sigmoid output ``(n, T, 1)``.

    A spike is an output above theta or below 1 - theta; the index is the argmax of the
    spike train over time, which is 0 both for a spike at the first step and for no spike,
    and every 0 is replaced by the last step. Returns the index, the rounded output there
    (the predicted label) and the notebooks' ``no_spike_count``.
    """
    spikes = ((probabilities < 1 - theta).long() + (probabilities > theta).long())
    index = spikes.argmax(dim=1, keepdim=True)
    no_spike_count = int((index == 0).sum())
    index[index == 0] = probabilities.shape[1] - 1
    at_index = torch.gather(probabilities, 1, index).squeeze(-1).squeeze(-1)
    return index.view(-1), torch.round(at_index).long(), no_spike_count


def varied_scores(n: int, time: int, classes: int, seed: int) -> torch.Tensor:
    """Random logits whose sigmoids cross 0.95 for zero, one or several classes per step."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, time, classes, generator=generator) * 3.0
    scores[: n // 8] -= 20.0  # never crosses
    scores[n // 8: n // 4, time // 2] += 20.0  # every class crosses at the middle step
    return scores


# ----------------------------------------------------------------------------- encodings


def test_notebook_table_does_not_depend_on_how_arange_rounds_at_20_steps():
    """torch's float32 arange rounds some of i * 0.05 differently from rounding once (0.45000002 for
    0.45 on this machine's kernel); no byte lies between such edges, so the tables agree."""
    ours = notebook_bucket_edges(STEPS)
    variants = [torch.sort(1 - torch.arange(0, 1, 0.05)).values.numpy(),
                np.sort(np.float32(1) - np.arange(STEPS, dtype=np.float32) * np.float32(0.05))]
    for name, values in (("authors-notebook", notebook_intensities(EVERY_BYTE)[0].numpy()),
                         ("normalized-notebook", notebook_normalize(notebook_intensities(EVERY_BYTE))[0].numpy())):
        table = step_table(get_encoding(name), STEPS)
        for edges in variants:
            assert np.allclose(edges, ours, rtol=0, atol=1e-7)
            bucket = np.searchsorted(edges, values, side="left")
            assert np.array_equal(table, (STEPS - 1 - np.minimum(bucket, STEPS - 1)).astype(np.uint8))


def test_authors_notebook_equals_to_temporal_on_every_byte():
    reference = notebook_one_hot_in_time(notebook_intensities(EVERY_BYTE))
    assert reference.shape == (1, 256, STEPS)  # byte 255 gives the 20th bucket
    steps = encode(EVERY_BYTE, "authors-notebook", STEPS)
    assert np.array_equal(steps, first_index(reference).numpy().astype(np.uint8))
    view = LatencyCoded(torch.from_numpy(steps), STEPS)[:]
    assert torch.equal(view, reference.permute(0, 2, 1).to(torch.float32))


def test_authors_notebook_differs_from_authors_in_three_bytes():
    ours = step_table(get_encoding("authors"), STEPS).astype(int)
    notebook = step_table(get_encoding("authors-notebook"), STEPS).astype(int)
    differ = {k: (int(ours[k]), int(notebook[k])) for k in range(256) if ours[k] != notebook[k]}
    assert differ == {0: (NEVER, 19), 51: (16, 15), 102: (12, 11)}


def notebook_normalized_steps(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook with its ``Normalize`` line: the 21-bucket one-hot, and its steps merged to 20."""
    one_hot = notebook_one_hot_in_time(notebook_normalize(notebook_intensities(images)))
    return one_hot, (first_index(one_hot) - 1).clamp(min=0)


def test_normalized_notebook_has_21_buckets_so_the_view_fails_and_merged_equals_ours():
    one_hot, merged = notebook_normalized_steps(EVERY_BYTE)
    assert one_hot.shape == (1, 256, STEPS + 1)
    with pytest.raises(RuntimeError):
        one_hot.view(1, 256, STEPS)
    steps = encode(EVERY_BYTE, "normalized-notebook", STEPS)
    assert np.array_equal(steps, merged.numpy().astype(np.uint8))


def test_normalized_notebook_equals_normalized_wherever_normalized_spikes():
    ours = step_table(get_encoding("normalized"), STEPS)
    notebook = step_table(get_encoding("normalized-notebook"), STEPS)
    spiking = ours != NEVER
    assert np.flatnonzero(~spiking).tolist() == list(range(34))
    assert np.array_equal(ours[spiking], notebook[spiking])
    assert np.all(notebook[~spiking] == STEPS - 1)


@needs_real_mnist
def test_notebook_encodings_on_real_mnist_bytes():
    images, _ = load_split(MNIST, "test", REAL)
    flat = images[:2000].reshape(2000, -1)
    assert len(np.unique(flat)) == 256  # every intensity value occurs
    for start in range(0, len(flat), 250):
        chunk = flat[start:start + 250]
        steps = encode(chunk, "authors-notebook", STEPS)
        reference = notebook_sequences(chunk)
        assert np.array_equal(steps, reference.argmax(dim=1).numpy().astype(np.uint8))
        if start == 0:
            assert torch.equal(LatencyCoded(torch.from_numpy(steps), STEPS)[:], reference.to(torch.float32))
        _, merged = notebook_normalized_steps(chunk)
        assert np.array_equal(encode(chunk, "normalized-notebook", STEPS), merged.numpy().astype(np.uint8))
    background = float((flat == 0).mean())
    assert background > 0.8  # spikes at the last step in the notebook, never in 'authors'
    last = encode(flat, "authors-notebook", STEPS) == STEPS - 1
    assert np.array_equal(last & (flat != 0), (flat >= 1) & (flat <= 12))


# ----------------------------------------------------------------------------- loss


def test_sigmoid_outputs_loss_is_cross_entropy_on_the_sigmoids():
    generator = torch.Generator().manual_seed(0)
    scores = (torch.randn(64, 10, generator=generator) * 4).requires_grad_()
    targets = torch.randint(0, 10, (64,), generator=generator)
    ours = rc_loss(scores, targets, make_rule("sigmoid", 0.95), 0.0, "sigmoid-outputs")
    reference_scores = scores.detach().clone().requires_grad_()
    reference = torch.nn.CrossEntropyLoss()(torch.sigmoid(reference_scores), targets)
    assert torch.allclose(ours, reference, rtol=0, atol=1e-6)
    ours.backward()
    reference.backward()
    assert torch.allclose(scores.grad, reference_scores.grad, rtol=0, atol=1e-7)
    assert not torch.allclose(ours, rc_loss(scores, targets, make_rule("sigmoid", 0.95), 0.0))  # logits differ


def test_sigmoid_outputs_loss_of_one_unit_is_bce_on_the_sigmoid():
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(50, 1, generator=generator) * 3
    targets = torch.randint(0, 2, (50,), generator=generator)
    reference = torch.nn.BCELoss()(torch.sigmoid(scores[:, 0]), targets.float())
    ours = classification_loss(scores, targets, "sigmoid-outputs").mean()
    assert torch.allclose(ours, reference, rtol=0, atol=1e-6)


def test_loss_option_of_rc_lstm_defaults_to_logits_and_names_a_bad_value():
    assert RCLSTMConfig().loss == "logits"
    assert RCLSTMConfig(loss="sigmoid-outputs").loss == "sigmoid-outputs"
    with pytest.raises(ValueError, match=r"unknown loss 'softmax'; known: logits, sigmoid-outputs"):
        RCLSTMConfig(loss="softmax")
    with pytest.raises(ValueError, match=r"unknown loss 'probabilities'"):
        classification_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), "probabilities")


# ----------------------------------------------------------------------------- decision index


def test_sigmoid_notebook_rule_equals_the_notebook_index_on_random_scores():
    rule = make_rule("sigmoid-notebook", 0.95)
    for seed in range(5):
        scores = varied_scores(400, STEPS, 10, seed)
        index, prediction = notebook_mnist_decision(torch.sigmoid(scores), 0.95)
        decision = decide(scores, rule)
        assert torch.equal(decision.output_index, index)
        assert torch.equal(decision.scored_index, index)
        assert torch.equal(decision.prediction, prediction)
        counts = (torch.sigmoid(scores) > 0.95).sum(dim=2)
        assert torch.equal(decision.crossed, counts.sum(dim=1) > 0)
        # known once a step has every class above theta, else at the end
        complete = (counts == 10).any(dim=1)
        assert torch.equal(decision.step_index[complete], index[complete])
        assert bool((decision.step_index[~complete] == STEPS - 1).all())
        assert bool(complete.any()) and bool((~decision.crossed).any())


def test_sigmoid_notebook_rule_on_the_notebooks_own_unit_test():
    outputs = torch.tensor([[[0.5155, 0.4866, 0.5293, 0.4982],
                             [0.6167, 0.9932, 0.5343, 0.5055],
                             [0.7138, 0.9959, 0.5277, 0.9173]],
                            [[0.9501, 0.4929, 0.5270, 0.5144],
                             [0.5108, 0.9840, 0.5448, 0.5071],
                             [0.5051, 0.9801, 0.5274, 0.5020]],
                            [[0.5501, 0.4929, 0.5270, 0.5144],
                             [0.5108, 0.7840, 0.5448, 0.5071],
                             [0.5051, 0.7801, 0.5274, 0.5020]]])
    decision = decide(torch.logit(outputs.double()), make_rule("sigmoid-notebook", 0.95))
    assert decision.output_index.tolist() == [1, 0, 2]  # the notebook's expected first_spike_idx
    assert decision.crossed.tolist() == [True, True, False]


def test_most_crossings_is_not_the_first_crossing():
    scores = torch.full((1, 5, 3), -10.0)
    scores[0, 1, 0] = 10.0  # step 1: one class above theta (the first crossing)
    scores[0, 3, 1:] = 10.0  # step 3: two classes above theta (the most)
    assert decide(scores, make_rule("sigmoid", 0.95)).step_index.tolist() == [1]
    notebook = decide(scores, make_rule("sigmoid-notebook", 0.95))
    assert notebook.output_index.tolist() == [3] and notebook.prediction.tolist() == [1]
    assert notebook.step_index.tolist() == [4]  # known only at the end


def test_notebook_loss_at_its_index_equals_the_notebooks_training_loss():
    generator = torch.Generator().manual_seed(7)
    scores = varied_scores(256, STEPS, 10, 3).requires_grad_()
    targets = torch.randint(0, 10, (256,), generator=generator)
    ours = rc_loss_at_crossing(scores, targets, make_rule("sigmoid-notebook", 0.95), 0.0, "sigmoid-outputs")
    reference_scores = scores.detach().clone().requires_grad_()
    reference = notebook_mnist_loss(torch.sigmoid(reference_scores), targets, 0.95)
    assert torch.allclose(ours, reference, rtol=0, atol=1e-6)
    ours.backward()
    reference.backward()
    assert torch.allclose(scores.grad, reference_scores.grad, rtol=0, atol=1e-7)


def test_two_sided_notebook_rule_equals_gather_spiking_preds():
    rule = make_rule("two-sided-notebook", 0.95)
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(2000, 25, 1, generator=generator) * 2.5
    scores[:100] = 0.1  # never crosses
    index, label, no_spike_count = notebook_toy_decision(torch.sigmoid(scores), 0.95)
    decision = decide(scores, rule)
    assert torch.equal(decision.step_index, index)
    assert torch.equal(decision.prediction, label)
    assert int((~decision.crossed).sum()) == no_spike_count
    first_step = (torch.sigmoid(scores[:, 0, 0]) > 0.95) | (torch.sigmoid(scores[:, 0, 0]) < 0.05)
    assert bool(first_step.any()) and bool((decision.step_index[first_step] == 24).all())
    streaming = decide(scores, make_rule("two-sided", 0.95))
    assert bool((streaming.step_index[first_step] == 0).all())
    assert torch.equal(streaming.step_index[~first_step], decision.step_index[~first_step])


def test_whole_sequence_rules_refuse_a_per_step_crossing():
    for name in ("sigmoid-notebook", "two-sided-notebook"):
        rule = make_rule(name, 0.95)
        assert not rule.streaming
        with pytest.raises(NotStreamingError, match=f"rule '{name}' is decided from the whole sequence"):
            rule.crossed(torch.zeros(3, 1 if name.startswith("two") else 4))
    assert make_rule("sigmoid", 0.95).streaming


@pytest.mark.parametrize("name, outputs", [("sigmoid-notebook", 4), ("two-sided-notebook", 1)])
def test_early_exit_decide_takes_a_whole_sequence_rule_from_the_full_pass(name, outputs):
    torch.manual_seed(0)
    model = LSTMClassifier(6, 8, outputs).eval()
    with torch.no_grad():
        model.readout.weight.mul_(30)  # outputs that cross
    x = torch.randn(33, 9, 6)
    rule = make_rule(name, 0.9)
    decision, evaluations = early_exit_decide(model, x, rule)
    with torch.no_grad():
        reference = decide(model(x), rule)
    assert torch.equal(decision.prediction, reference.prediction)
    assert torch.equal(decision.step_index, reference.step_index)
    assert evaluations == int(decision.steps_read.sum())
    one, one_evaluations = early_exit_decide(model, x[:1], rule)
    assert one.step_index.tolist() == decision.step_index[:1].tolist() and one_evaluations == int(one.steps_read)


# ----------------------------------------------------------------------------- rc-lstm with the options


def rc_lstm(rule_name: str, loss: str, outputs: int = 4) -> RCLSTM:
    spec = TaskSpec("t", 7, 5, outputs if outputs > 1 else 2, rule_name)
    return RCLSTM(spec, make_rule(rule_name, 0.9), RCLSTMConfig(hidden=8, loss=loss), torch.device("cpu"), 0)


@pytest.mark.parametrize("rule_name", ["sigmoid", "sigmoid-notebook"])
def test_rc_lstm_objective_with_sigmoid_outputs_is_the_loss_at_the_rules_step(rule_name):
    contender = rc_lstm(rule_name, "sigmoid-outputs")
    x, y = torch.randn(16, 7, 5), torch.randint(0, 4, (16,))
    outcome = contender.objective(x, y)
    reference = rc_loss_at_crossing(contender.model(x), y, contender.rule, 0.0, "sigmoid-outputs")
    assert torch.allclose(outcome.loss, reference, atol=1e-6)
    outcome.loss.backward()
    assert all(p.grad is not None for p in contender.model.parameters())
    if rule_name == "sigmoid-notebook":
        assert outcome.step_evaluations_forward == 16 * 7


def test_rc_lstm_default_objective_is_unchanged():
    contender = rc_lstm("sigmoid", "logits")
    x, y = torch.randn(16, 7, 5), torch.randint(0, 4, (16,))
    outcome = contender.objective(x, y)
    assert torch.allclose(outcome.loss, rc_loss_at_crossing(contender.model(x), y, contender.rule, 0.0), atol=1e-6)


def test_rc_lstm_trains_and_decides_with_the_toy_notebook_rule():
    contender = rc_lstm("two-sided-notebook", "sigmoid-outputs", outputs=1)
    x, y = torch.randn(16, 7, 5), torch.randint(0, 2, (16,))
    outcome = contender.objective(x, y)
    outcome.loss.backward()
    decision, evaluations = contender.decide(x)
    assert decision.prediction.shape == (16,) and evaluations == int(decision.steps_read.sum())


# ----------------------------------------------------------------------------- the profile


def test_authors_faithful_profile_is_the_notebooks_recipe():
    assert "authors-faithful" in BUILTIN_PROFILES
    profile = load_profile("authors-faithful")
    assert profile.seeds == (0, 1, 2)
    plan = profile.tasks["mnist-temporal"]
    assert list(profile.tasks) == ["mnist-temporal"]
    assert plan.rule == "sigmoid-notebook" and plan.thresholds == (0.95,)
    assert plan.data["encoding"] == "authors-notebook" and "n_test" not in plan.data and "n_train" not in plan.data
    config = contender_config(profile, "mnist-temporal", get_contender("rc-lstm"))
    assert (config.hidden, config.layers, config.encoder, config.dropout) == (125, 1, "none", 0.0)
    assert (config.lr, config.batch_size, config.epochs, config.grad_clip, config.weight_decay) == (
        0.001, 256, 30, 0.0, 0.0)
    assert (config.lr_schedule, config.selection) == ("constant", "best-val-accuracy")
    assert (config.loss, config.beta) == ("sigmoid-outputs", 0.0)
    jobs = plan_jobs(profile, ["mnist-temporal"], ["rc-lstm"])
    assert [(job.seed, job.rule, job.thresholds) for job in jobs] == [
        (seed, "sigmoid-notebook", (0.95,)) for seed in (0, 1, 2)]
