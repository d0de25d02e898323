"""Small changes that would skew a comparison without breaking anything else.

Each test is named after what it guards and fails on the change it names (issue 17: each was
a surviving mutant of a hand-made mutation run): the softmax rule's ``>=``, the LIF reset's
``U > threshold`` in the operation counts, the convolutional encoder's MACs on a non-square
frame, model selection's tie-breaks, the permutation p-value's +1, the Student-t interval over
seeds and a records file whose last line has no newline.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats
from torch.utils.flop_counter import FlopCounterMode

from baselines import snn_operations as snn_ops
from baselines.snn_ttfs import LIFClassifier
from baselines.training_loop import BatchOutcome, Validation, fit_minibatches
from bench.analysis.paired import paired_difference, sign_flip_p_value
from bench.core.records import append_error, append_record, read_errors, read_records
from bench.core.stats import mean_interval
from bench.core.task_contract import Split
from rc import lstm_operations as lstm_ops
from rc.crossing import SoftmaxThreshold, TwoSidedBinary, check_theta, decide
from rc.model import ConvEncoder, ConvLSTMClassifier
from helpers import make_record

CPU = torch.device("cpu")


# ----------------------------------------------------------------------------- the softmax rule


@pytest.mark.parametrize("classes", [2, 4, 8])
def test_softmax_rule_crosses_when_the_top_probability_equals_theta(classes: int) -> None:
    """``max softmax(score) >= theta``, not ``>``."""
    level = torch.zeros(1, classes)  # equal scores: every probability is exactly 1 / classes
    assert float(torch.softmax(level, dim=-1).amax()) == 1 / classes
    assert SoftmaxThreshold(1 / classes).crossed(level).tolist() == [True]
    # in a sequence: the first step whose top probability is exactly theta is the decision
    scores = torch.zeros(2, 3, classes)
    scores[:, 1, 0] = 0.7
    scores[:, 2, 0] = 2.0
    theta = float(torch.softmax(scores[0, 1], dim=-1).amax())
    assert 1 / classes < theta < float(torch.softmax(scores[0, 2], dim=-1).amax())
    decision = decide(scores, SoftmaxThreshold(theta))
    assert decision.step_index.tolist() == [1, 1] and decision.crossed.tolist() == [True, True]
    assert decision.prediction.tolist() == [0, 0]
    above = decide(scores, SoftmaxThreshold(theta + 1e-6))
    assert above.step_index.tolist() == [2, 2]


def test_two_sided_rule_crosses_only_strictly_beyond_theta_on_either_side() -> None:
    scores = torch.tensor([[1.0], [-1.0], [1.001], [-1.001], [0.0]])
    upper = TwoSidedBinary(float(torch.sigmoid(torch.tensor(1.0))))  # p = theta exactly at a score of 1
    lower = TwoSidedBinary(1 - float(torch.sigmoid(torch.tensor(-1.0))))  # p = 1 - theta exactly at -1
    assert float(torch.sigmoid(scores[1])) == 1.0 - lower.theta
    for rule in (upper, lower):
        assert rule.crossed(scores).tolist() == [False, False, True, True, False]
        assert rule.predict(scores).tolist() == [1, 0, 1, 0, 0]


@pytest.mark.parametrize("theta", [True, "0.9", None])
def test_theta_must_be_a_number(theta) -> None:
    with pytest.raises(TypeError, match="threshold theta must be a number"):
        check_theta(theta)


# ----------------------------------------------------------------------------- LIF operation counts


def lif_at_threshold() -> LIFClassifier:
    """1 input, 3 hidden and 2 output LIF neurons, threshold 1, decay 0.5, hand-set weights.

    An input of 1 at step 0 puts the hidden membranes at [1.0, 0.5, 1.5] and, through biases
    only, the output membranes at [1.0, 0.25]: exactly on the threshold, below and above it.
    """
    model = LIFClassifier(1, 3, 2, decay=0.5, threshold=1.0, surrogate_slope=5.0)
    with torch.no_grad():
        model.fc_hidden.weight.copy_(torch.tensor([[1.0], [0.5], [1.5]]))
        model.fc_hidden.bias.zero_()
        model.fc_out.weight.zero_()
        model.fc_out.bias.copy_(torch.tensor([1.0, 0.25]))
    return model


def test_lif_reset_is_counted_only_above_the_threshold_as_snntorch_fires() -> None:
    model = lif_at_threshold()
    x = torch.tensor([[[1.0], [0.0], [0.0]]])  # (1, T = 3, F = 1)
    with torch.no_grad():
        state = model.init_state(1, CPU)
        _, state = model.step(x[:, 0], state)
        hidden, out = state
        assert hidden.tolist() == [[1.0, 0.5, 1.5]] and out.tolist() == [[1.0, 0.25]]
        # snnTorch fires only above the threshold: the neuron exactly on it stays silent
        assert model.lif_hidden.fire(hidden).tolist() == [[0.0, 0.0, 1.0]]
        assert model.lif_out.fire(out).tolist() == [[0.0, 0.0]]
    counts = snn_ops.snn_operations_per_step(model, x)
    # a reset subtracts the threshold once per neuron that spiked at the previous step: step 1 has
    # one (hidden neuron 2), step 0 none (nothing before it)
    assert counts.neuron_acs.tolist()[0][:2] == [0, 1]
    # and the membranes really are reset only where a spike was: 0.5 * 1.5 - 1 for hidden neuron 2
    with torch.no_grad():
        _, (hidden_next, out_next) = model.step(x[:, 1], state)
    assert hidden_next.tolist() == [[0.5, 0.25, 0.5 * 1.5 - 1.0]]
    assert out_next.tolist() == [[0.5 * 1.0 + 1.0, 0.5 * 0.25 + 0.25]]


# ----------------------------------------------------------------------------- convolution MACs


@pytest.mark.parametrize("frame_shape", [(16, 24), (24, 16), (20, 17)])
def test_convolutional_encoder_macs_use_height_and_width_of_a_non_square_frame(frame_shape) -> None:
    torch.manual_seed(0)
    channels = 2
    encoder = ConvEncoder(frame_shape, channels)
    frames, first, _ = encoder.stages(torch.zeros(1, frame_shape[0] * frame_shape[1]))
    positions_1 = int(np.prod(encoder.conv1(frames).shape[2:]))
    positions_2 = int(np.prod(encoder.conv2(first).shape[2:]))
    expected = (positions_1 * channels * 25, positions_2 * 2 * channels * channels * 25)
    assert lstm_ops.encoder_dense_macs(encoder) == expected
    height, width = frame_shape
    assert positions_1 == (height - 4) * (width - 4)
    # the same through torch's own FLOP count of the convolutions (2 FLOPs per MAC)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        encoder(torch.zeros(1, height * width))
    assert counter.get_total_flops() == 2 * sum(expected)
    model = ConvLSTMClassifier(frame_shape, 3, 2, channels=channels)
    assert lstm_ops.conv_lstm_dense_macs_per_step(model) == sum(expected) + lstm_ops.lstm_dense_macs_per_step(
        model.recurrent)


# ----------------------------------------------------------------------------- model selection ties


def selection_case(validations: list[tuple[float, float]], selection: str = "best-val-accuracy"):
    """Fit a tiny linear model for ``len(validations)`` epochs with scripted validation results
    ``(accuracy, mean steps read)``; returns the report, the weights seen at each validation and the final weights."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    split = Split(torch.randn(16, 3, 2), torch.randint(0, 2, (16,)))
    seen: list[torch.Tensor] = []

    def step(x, y) -> BatchOutcome:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[:, -1])[:, 0], y.float())
        return BatchOutcome(loss, x.shape[0] * x.shape[1], x.shape[0])

    def validate() -> Validation:
        seen.append(model.weight.detach().clone())
        return Validation(*validations[len(seen) - 1])

    report = fit_minibatches(model, step, validate, split, epochs=len(validations), batch_size=8, lr=0.1,
                             grad_clip=1.0, seed=0, device=CPU, progress=lambda _line: None, selection=selection)
    assert all(not torch.equal(a, b) for a, b in zip(seen, seen[1:]))  # every epoch changed the weights
    return report, seen, model.weight.detach()


@pytest.mark.parametrize("validations, kept", [
    ([(0.5, 3.0), (0.5, 3.0), (0.5, 3.0)], 1),              # a full tie: the earliest epoch
    ([(0.5, 3.0), (0.5, 2.0), (0.5, 2.0), (0.5, 4.0)], 2),  # same accuracy: the earliest decision, then epoch
    ([(0.4, 1.0), (0.6, 5.0), (0.6, 5.0)], 2),              # accuracy first, however late the decision
])
def test_model_selection_ties_go_to_the_earlier_epoch_and_the_faster_decision(validations, kept) -> None:
    report, seen, final = selection_case(validations)
    assert report.selected_epoch == kept
    assert report.selected_val_accuracy == validations[kept - 1][0]
    assert torch.equal(final, seen[kept - 1])
    assert [log.val_decision_step for log in report.history] == [steps for _, steps in validations]


# ----------------------------------------------------------------------------- the permutation p-value


@pytest.mark.parametrize("resamples", [9, 99, 999])
def test_permutation_p_value_counts_the_observed_statistic_and_is_never_zero(resamples: int) -> None:
    # A always right, B always wrong on 40 examples: no sign flip (but all kept) reaches the observed mean,
    # so the only extreme arrangement counted is the observed one: p = 1 / (1 + resamples)
    comparison = paired_difference(np.ones(40), np.zeros(40), resamples=resamples)
    assert comparison.p_value == 1 / (1 + resamples)
    assert comparison.p_value > 0
    assert sign_flip_p_value(np.array([1.0]), np.array([40]), resamples, np.random.default_rng(0)) == 1 / (1 + resamples)
    # no difference at all: every resample is as extreme as the observed 0, p = 1
    assert paired_difference(np.ones(40), np.ones(40), resamples=resamples).p_value == 1.0


# ----------------------------------------------------------------------------- intervals over seeds


def test_mean_interval_is_the_student_t_interval_of_the_mean() -> None:
    values = [0.91, 0.95, 0.89, 0.97]
    estimate = mean_interval(values)
    mean = sum(values) / 4
    sem = math.sqrt(sum((v - mean) ** 2 for v in values) / 3) / 2  # sample standard deviation / sqrt(n)
    low, high = scipy_stats.t.interval(0.95, df=3, loc=mean, scale=sem)
    assert estimate.n == 4 and estimate.mean == pytest.approx(mean, abs=1e-15)
    assert estimate.half_width == pytest.approx((high - low) / 2, rel=1e-12)
    assert estimate.half_width == pytest.approx(3.182446305284263 * sem, rel=1e-12)  # t(0.975, 3 df)
    wider = mean_interval(values, confidence=0.99).half_width
    assert wider == pytest.approx(scipy_stats.t.ppf(0.995, df=3) * sem, rel=1e-12) and wider > estimate.half_width
    assert estimate.format(3) == f"{mean:.3f} ± {estimate.half_width:.3f}"
    single = mean_interval([0.9])
    assert (single.mean, single.half_width, single.n) == (0.9, None, 1) and single.format(2) == "0.90"
    assert mean_interval([0.5, 0.5]).half_width == 0.0
    for bad in ([], [0.5, math.nan], [math.inf]):
        with pytest.raises(ValueError):
            mean_interval(bad)


# ----------------------------------------------------------------------------- records files


def test_appending_to_a_records_file_without_a_final_newline_keeps_both_records(tmp_path) -> None:
    path = tmp_path / "results.jsonl"
    first, second = make_record(seed=0), make_record(seed=1)
    path.write_text(json.dumps(first, sort_keys=True), encoding="utf-8")  # edited by hand: no final newline
    append_record(path, second)
    assert [r["seed"] for r in read_records(path)] == [0, 1]
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and [json.loads(line)["seed"] for line in lines[:-1]] == [0, 1]


def test_appending_to_an_errors_file_without_a_final_newline_keeps_both_records(tmp_path) -> None:
    path = tmp_path / "errors.jsonl"
    base = {name: None for name in ("task", "contender", "seed", "theta", "beta", "profile", "rule", "config_hash")}
    error = {**base, "error_schema_version": 1, "error_kind": "training-diverged", "error_type": "TrainingDiverged",
             "message": "nan", "phase": "training", "config": {}, "data_options": {}, "data_seed": 0,
             "versions": {}, "hardware": {}, "git_revision": "abc", "command": "rcbench run", "created": "now"}
    path.write_text(json.dumps({**error, "seed": 0}), encoding="utf-8")
    append_error(path, {**error, "seed": 1})
    assert [e["seed"] for e in read_errors(path)] == [0, 1]
    assert path.read_text(encoding="utf-8").endswith("\n") and path.read_text(encoding="utf-8").count("\n") == 2
