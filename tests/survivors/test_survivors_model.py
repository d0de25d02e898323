"""Tests written for the mutants of ``rc/model.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rc.model import ConvEncoder, ConvLSTMClassifier, LSTMClassifier


def torch_output_shape(frame_shape: tuple[int, int], channels: int) -> tuple[int, int, int]:
    """The encoder's output shape computed by torch itself: conv 5x5, pool 2, conv 5x5, pool 2."""
    frames = torch.zeros(1, 1, *frame_shape)
    pool = nn.MaxPool2d(2)
    first = pool(nn.Conv2d(1, channels, 5)(frames))
    return tuple(pool(nn.Conv2d(channels, 2 * channels, 5)(first)).shape[1:])


@pytest.mark.parametrize("channels", [0, -3, 2.0, 2.5, True, "4"])
def test_the_encoder_refuses_anything_but_a_positive_integer_channel_count(channels) -> None:
    with pytest.raises(ValueError, match=rf"^ConvEncoder: channels must be a positive integer, got {channels!r}$"):
        ConvEncoder((16, 16), channels)


@pytest.mark.parametrize("frame_shape", [(16, 16), (17, 21)])
def test_an_encoder_with_one_channel_has_torchs_output_shape(frame_shape) -> None:
    encoder = ConvEncoder(frame_shape, 1)
    assert encoder.out_shape == torch_output_shape(frame_shape, 1)
    assert encoder(torch.rand(3, frame_shape[0] * frame_shape[1])).shape == (3, encoder.out_features)


def test_the_encoder_keeps_its_convolution_weights_channels_last() -> None:
    """The documented layout: oneDNN runs the convolutions faster channels-last (weights and activations)."""
    encoder = ConvEncoder((16, 16), 3)
    for convolution in (encoder.conv1, encoder.conv2):
        assert convolution.weight.is_contiguous(memory_format=torch.channels_last)
    assert not encoder.conv2.weight.is_contiguous()  # (6, 3, 5, 5) is not both


def test_the_classifier_defaults_to_sixteen_channels_and_512_features_for_28_by_28_frames() -> None:
    model = ConvLSTMClassifier((28, 28), hidden=4, n_outputs=10)
    assert model.encoder.conv1.out_channels == 16
    assert model.encoder.out_features == 512 == model.recurrent.n_features


def test_a_classifier_of_non_square_frames_takes_height_times_width_features() -> None:
    torch.manual_seed(0)
    model = ConvLSTMClassifier((16, 20), hidden=4, n_outputs=3, channels=2).eval()
    assert model.n_features == 320
    x = torch.rand(2, 3, 320)
    scores = model(x)
    assert scores.shape == (2, 3, 3)
    state = model.init_state(2)
    for t in range(3):
        step_scores, state = model.step(x[:, t], state)
        torch.testing.assert_close(step_scores, scores[:, t])


def test_the_classifier_passes_its_dropout_to_the_lstm() -> None:
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=2, dropout=0.25, channels=1)
    assert model.recurrent.dropout.p == 0.25


def test_the_classifier_accepts_one_step_and_refuses_none() -> None:
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=2, channels=1)
    assert model(torch.rand(2, 1, 256)).shape == (2, 1, 2)
    with pytest.raises(ValueError,
                       match=r"^input must be shaped \(batch, time >= 1, features=256\), got \(2, 0, 256\)$"):
        model(torch.rand(2, 0, 256))


def test_the_classifier_makes_its_state_on_the_device_asked_for() -> None:
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=2, layers=2, channels=1)
    state = model.init_state(3, torch.device("meta"))
    assert len(state) == 2
    for h, c in state:
        assert h.device.type == c.device.type == "meta" and h.shape == c.shape == (3, 4)


@pytest.mark.parametrize("shape", [(2, 300), (2, 255)])
def test_a_step_of_the_wrong_width_is_refused_with_its_shape(shape) -> None:
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=2, channels=1)
    with pytest.raises(ValueError,
                       match=rf"^step input must be shaped \(batch, 256\), got \({shape[0]}, {shape[1]}\)$"):
        model.step(torch.rand(*shape), model.init_state(2))


def test_the_classifier_selects_the_lstm_state_rows_asked_for_in_that_order() -> None:
    """``select_state`` keeps, in every layer, the (h, c) rows of ``index`` in its order; stepping on from
    the selection gives what stepping the full batch gives on those rows."""
    torch.manual_seed(0)
    model = ConvLSTMClassifier((16, 16), hidden=4, n_outputs=2, layers=2, channels=1).eval()
    state = model.init_state(3)
    with torch.no_grad():
        for _ in range(2):
            _scores, state = model.step(torch.rand(3, 256), state)
        index = torch.tensor([2, 0])
        selected = model.select_state(state, index)
        assert len(selected) == 2
        for (h, c), (h_selected, c_selected) in zip(state, selected):
            assert h_selected.shape == c_selected.shape == (2, 4)
            torch.testing.assert_close(h_selected, h[index])
            torch.testing.assert_close(c_selected, c[index])
        x_t = torch.rand(3, 256)
        full_scores, _ = model.step(x_t, state)
        selected_scores, _ = model.step(x_t[index], selected)
    torch.testing.assert_close(selected_scores, full_scores[index])


@pytest.mark.parametrize("shape", [(2, 5), (2, 3), (2, 4, 1), (2, 3, 4)])
def test_the_lstm_refuses_a_step_of_the_wrong_shape_with_it(shape) -> None:
    """A step must be ``(batch, n_features)``: a wrong feature count or a third dimension (even one
    whose second size is the feature count) is refused, naming the shape it got."""
    model = LSTMClassifier(4, 3, 2)
    with pytest.raises(ValueError,
                       match=rf"^step input must be shaped \(batch, 4\), got \({', '.join(map(str, shape))}\)$"):
        model.step(torch.zeros(shape), model.init_state(2))


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_stepping_a_stacked_lstm_gives_the_full_pass_scores(layers) -> None:
    """Every layer of the step loop reads its own four nn.LSTM parameters (W_ih, W_hh, b_ih, b_hh), so the
    step-by-step scores equal the fused full pass for any depth, with autograd on and off."""
    torch.manual_seed(0)
    model = LSTMClassifier(4, 3, 2, layers=layers).eval()
    x = torch.rand(2, 3, 4)
    full = model(x).detach()
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            state = model.init_state(2)
            for t in range(3):
                scores, state = model.step(x[:, t], state)
                torch.testing.assert_close(scores.detach(), full[:, t])


@pytest.mark.parametrize("layers", [1, 2])
def test_an_inference_step_reads_only_the_input_weight_columns_of_features_active_in_the_batch(layers) -> None:
    """With autograd off the first layer's ``W_ih x_t`` is event-driven: a column of ``W_ih`` whose feature is
    0 in every example is not read, so a NaN there leaves the scores those of the weight with that column
    zeroed; with autograd on (training) the dense product reads it, and 0 x NaN makes the scores NaN."""
    torch.manual_seed(0)
    model = LSTMClassifier(6, 3, 2, layers=layers).eval()
    zeroed = LSTMClassifier(6, 3, 2, layers=layers).eval()
    zeroed.load_state_dict(model.state_dict())
    with torch.no_grad():
        model.lstm.weight_ih_l0[:, 5] = float("nan")
        zeroed.lstm.weight_ih_l0[:, 5] = 0.0
    x_t = torch.zeros(2, 6)
    x_t[:, :3] = torch.rand(2, 3) + 0.5  # features 3, 4, 5 silent in the whole batch: 3 of 6 active
    with torch.no_grad():
        scores, state = model.step(x_t, model.init_state(2))
        expected, expected_state = zeroed.step(x_t, zeroed.init_state(2))
    torch.testing.assert_close(scores, expected)
    for (h, c), (h_expected, c_expected) in zip(state, expected_state):
        torch.testing.assert_close(h, h_expected)
        torch.testing.assert_close(c, c_expected)
    training_scores, _ = model.step(x_t, model.init_state(2))
    assert torch.isnan(training_scores).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_the_lstm_state_has_the_weights_dtype(dtype) -> None:
    """``init_state`` makes every layer's h and c in the model's dtype (not torch's default float32), so a
    float64 or bfloat16 model steps from its zero state in its own dtype."""
    model = LSTMClassifier(4, 3, 2, layers=2).to(dtype).eval()
    state = model.init_state(2)
    assert [(h.dtype, c.dtype) for h, c in state] == [(dtype, dtype)] * 2
    assert all(not h.any() and not c.any() for h, c in state)
    scores, new_state = model.step(torch.rand(2, 4, dtype=dtype), state)
    assert scores.dtype == dtype and all(h.dtype == c.dtype == dtype for h, c in new_state)


def test_the_lstm_classifier_accepts_one_step_and_refuses_none() -> None:
    """A (batch, 0, features) input is refused for its time length (0 steps), not only for its features."""
    model = LSTMClassifier(3, hidden=4, n_outputs=2)
    assert model(torch.rand(2, 1, 3)).shape == (2, 1, 2)
    with pytest.raises(ValueError, match=r"^input must be shaped \(batch, time >= 1, features=3\), got \(2, 0, 3\)$"):
        model(torch.rand(2, 0, 3))


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_the_dropout_module_is_called_only_in_training_mode_with_a_positive_probability(dropout) -> None:
    """The documented inference path makes no call of the dropout module (seen by a forward hook): in
    evaluation mode whatever the probability, and in training mode only when the probability is above 0."""
    model = LSTMClassifier(3, hidden=4, n_outputs=2, dropout=dropout)
    calls = []
    model.dropout.register_forward_hook(lambda module, args, output: calls.append(args[0].shape))
    x = torch.rand(2, 5, 3)
    model.eval()
    model(x)
    assert calls == []
    model.train()
    model(x)
    assert calls == ([] if dropout == 0.0 else [(2, 5, 3), (2, 5, 4)])


@pytest.mark.parametrize("label, args, bad", [("n_features", (0, 3, 2, 1), 0), ("n_features", (True, 3, 2, 1), True),
                                              ("hidden", (4, 0, 2, 1), 0), ("hidden", (4, 2.5, 2, 1), 2.5),
                                              ("n_outputs", (4, 3, 0, 1), 0), ("layers", (4, 3, 2, 0), 0)])
def test_the_lstm_classifier_names_the_size_that_is_not_a_positive_integer(label, args, bad) -> None:
    """Kills LSTMClassifier.__init__ 3, 4, 7, 8, 9, 10 (the labels n_features, n_outputs and layers misspelt): the
    error names the argument refused; and 12 ('and' for 'or': a bool or a float such as 2.5 let through)."""
    with pytest.raises(ValueError, match=rf"^LSTMClassifier: {label} must be a positive integer, got {bad!r}$"):
        LSTMClassifier(*args)
