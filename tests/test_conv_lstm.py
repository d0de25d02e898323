"""The convolutional-encoder LSTM (rc.model.ConvLSTMClassifier): shapes, step path, early exit,
operation counts by hand and against FlopCounterMode, and the contender option ``encoder = "conv"``."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import baselines  # noqa: F401  (registers the built-in contenders)
from baselines.lstm_common import LSTMConfig
from baselines.registry import get_contender
from baselines import snn_operations as snn_ops
from rc import lstm_operations as lstm_ops
from rc import operations as ops
from bench.core.task_contract import Split, TaskSpec
from rc.crossing import SigmoidThreshold, decide
from rc.inference import early_exit_decide
from rc.model import FRAME_BLOCK, ConvEncoder, ConvLSTMClassifier

CPU = torch.device("cpu")


def tiny(seed: int = 0) -> ConvLSTMClassifier:
    """16 x 16 frames, c = 2 (so 4 x 1 x 1 = 4 encoded features), H = 3, C = 2."""
    torch.manual_seed(seed)
    return ConvLSTMClassifier((16, 16), 3, 2, channels=2)


def spikes(batch: int, time: int, side: int = 16, density: float = 0.2, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, time, side * side, generator=generator) < density).float()


def test_encoder_shapes() -> None:
    assert ConvEncoder((28, 28)).out_features == 32 * 4 * 4
    assert ConvEncoder((16, 16), channels=2).out_shape == (4, 1, 1)
    with pytest.raises(ValueError, match="at least 16 x 16, got 12 x 28"):
        ConvEncoder((12, 28))
    with pytest.raises(ValueError, match=r"features=256\), got \(2, 3, 255\)"):
        tiny()(torch.zeros(2, 3, 255))


def test_encoder_blocks_encode_every_frame_on_its_own() -> None:
    """More frames than one block (3 blocks, the last short) give each frame the code it gets alone."""
    torch.manual_seed(0)
    encoder = ConvEncoder((28, 28), 8)
    frames = (torch.rand(2 * FRAME_BLOCK + 5, 784) < 0.1).float()
    together = encoder(frames)
    alone = torch.cat([encoder(frame[None]) for frame in frames])
    assert together.shape == (2 * FRAME_BLOCK + 5, encoder.out_features)
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


def test_step_path_equals_forward_and_early_exit_equals_the_full_pass() -> None:
    model = tiny().eval()
    x = spikes(32, 6)
    with torch.no_grad():
        full = model(x)
        state, stepped = model.init_state(32, CPU), []
        for t in range(6):
            scores, state = model.step(x[:, t], state)
            stepped.append(scores)
    torch.testing.assert_close(torch.stack(stepped, dim=1), full, atol=1e-6, rtol=1e-5)
    rule = SigmoidThreshold(torch.sigmoid(full[:, 0]).amax(dim=1).median().item())  # half cross at step 1
    expected = decide(full, rule)
    early, evaluations = early_exit_decide(model, x, rule)
    assert torch.equal(early.prediction, expected.prediction) and torch.equal(early.step_index, expected.step_index)
    assert evaluations == int(expected.steps_read.sum()) < 32 * 6


def test_dense_counts_by_hand() -> None:
    model = tiny()
    # conv1: 12 x 12 positions x 2 channels x 25; conv2: 2 x 2 positions x 4 x 2 x 25
    assert lstm_ops.encoder_dense_macs(model.encoder) == (12 * 12 * 2 * 25, 2 * 2 * 4 * 2 * 25)
    # LSTM on F = 4 features: 4 H (F + H) + H C synaptic, 3 H neuron
    assert lstm_ops.conv_lstm_dense_macs_per_step(model) == 7200 + 800 + (4 * 3 * (4 + 3) + 3 * 2) + 3 * 3
    # backward: the LSTM's without its input term, plus that term (it feeds conv2), 2 x conv2, 1 x conv1
    lstm_backward = 2 * (4 * 3 * (4 + 3) + 3 * 2) - 4 * 3 * 4 + 2 * 3 * 3
    assert lstm_ops.conv_lstm_backward_macs_per_step(model) == lstm_backward + 4 * 3 * 4 + 2 * 800 + 7200


def test_dense_synaptic_counts_match_flop_counter() -> None:
    model = tiny()
    batch, time = 3, 4
    x = spikes(batch, time)

    def run() -> None:
        state = model.init_state(batch, CPU)
        for t in range(time):
            _, state = model.step(x[:, t], state)

    with FlopCounterMode(display=False) as counter:
        run()
    synaptic = sum(lstm_ops.encoder_dense_macs(model.encoder)) + lstm_ops.lstm_dense_synaptic_macs(model.recurrent)
    assert counter.get_total_flops() == 2 * batch * time * synaptic


def test_effective_convolution_operations_count_each_window_read() -> None:
    torch.manual_seed(0)
    convolution = torch.nn.Conv2d(1, 2, 5)
    with torch.no_grad():
        convolution.weight[1, 0, 2, 2] = 0.0  # one zero weight: never read
    frame = (torch.rand(1, 1, 8, 8) < 0.3).float()
    expected = 0
    for out_channel in range(2):
        for y in range(4):
            for x in range(4):
                window = frame[0, 0, y:y + 5, x:x + 5] != 0
                expected += int((window & (convolution.weight[out_channel, 0] != 0)).sum())
    macs, acs = lstm_ops.conv_operations(frame, convolution)
    assert (int(macs), int(acs)) == (0, expected)  # a spike frame: accumulates
    macs, acs = lstm_ops.conv_operations(frame * 0.5, convolution)
    assert (int(macs), int(acs)) == (expected, 0)  # real values: multiply-accumulates
    assert [int(v) for v in lstm_ops.conv_operations(torch.zeros(1, 1, 8, 8), convolution)] == [0, 0]


@pytest.mark.parametrize("in_channels, out_channels, size", [(32, 64, 12), (64, 128, 20)])
def test_convolution_counts_are_exact_in_either_precision(in_channels, out_channels, size) -> None:
    # (32, 64, 12): the encoder's second convolution with c = 32, counted in float32;
    # (64, 128, 20): counts that could pass 2**24, counted in float64
    torch.manual_seed(1)
    convolution = torch.nn.Conv2d(in_channels, out_channels, 5)
    with torch.no_grad():
        convolution.weight[torch.rand_like(convolution.weight) < 0.1] = 0.0
    v = torch.relu(torch.randn(3, in_channels, size, size))
    reads = torch.nn.functional.conv2d((v != 0).double(), (convolution.weight != 0).double())
    expected = reads.sum(dim=(1, 2, 3)).long()
    macs, acs = lstm_ops.conv_operations(v, convolution)
    assert torch.equal(macs, expected) and int(acs.sum()) == 0


def test_operations_to_decision_add_the_encoder_to_the_lstm() -> None:
    model = tiny()
    x = spikes(4, 3)
    x[0] = 0.0  # a silent example: the first convolution reads nothing
    per_step = lstm_ops.conv_lstm_operations_per_step(model, x)
    assert per_step.dense_macs.shape == (4, 3)
    assert bool((per_step.dense_macs == lstm_ops.conv_lstm_dense_macs_per_step(model)).all())
    frames = x.reshape(12, 1, 16, 16)
    first_macs, first_acs = lstm_ops.conv_operations(frames, model.encoder.conv1)
    assert int(first_acs.reshape(4, 3)[0].sum()) == 0 and bool((first_acs.reshape(4, 3)[1:] > 0).all())
    assert int(first_macs.sum()) == 0  # the frames are spikes
    assert bool((per_step.effective_macs + per_step.effective_acs <= per_step.dense_macs).all())
    decision = early_exit_decide(model.eval(), x, SigmoidThreshold(0.6))[0]
    counts = ops.operations_to_decision(model, x, decision)
    assert torch.equal(counts.dense_macs, (decision.step_index + 1) * lstm_ops.conv_lstm_dense_macs_per_step(model))


def test_contender_option_builds_the_encoder_only_for_image_frames() -> None:
    rc = get_contender("rc-lstm")
    images = TaskSpec("frames", 3, 256, 2, "sigmoid", (16, 16))
    config = rc.make_config({"encoder": "conv", "conv_channels": 2, "hidden": 3, "epochs": 1, "batch_size": 8},
                            "test")
    contender = rc(images, SigmoidThreshold(0.9), config, CPU, 0)
    assert isinstance(contender.model, ConvLSTMClassifier)
    x, y = spikes(16, 3), torch.randint(0, 2, (16,))
    report = contender.fit(Split(x, y), Split(x[:8], y[:8]), lambda _line: None)
    assert report.epochs == 1 and contender.training_operations(report)["forward_macs"] > 0
    decision, _ = contender.decide(x)
    assert contender.operations_to_decision(x, decision)["dense_macs"] > 0
    with pytest.raises(ValueError, match="encoder 'conv' needs a task whose steps are image frames"):
        rc(TaskSpec("flat", 3, 256, 2, "sigmoid"), SigmoidThreshold(0.9), config, CPU, 0)
    with pytest.raises(ValueError, match="encoder must be one of none, conv, got 'resnet'"):
        LSTMConfig(encoder="resnet")
    with pytest.raises(ValueError, match="frame_shape \\(16, 15\\) does not hold the 256 features"):
        TaskSpec("bad", 3, 256, 2, "sigmoid", (16, 15))
