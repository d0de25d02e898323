"""Tests written for the mutants of the operation counts (``rc/operations.py``, ``rc/lstm_operations.py``,
``baselines/snn_operations.py``) that survived the mutation run (issue 17)."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from torch import nn

from baselines.snn_operations import _lif_parameters, _membrane_operations
from rc.lstm_operations import _lstm_layers, conv_operations, encoder_dense_macs
from rc.model import ConvEncoder, LSTMClassifier
from rc.operations import (OperationCountError, OperationCounts, TrainingOperations, product_operations,
                           stack_steps, training_operations)


def test_training_operations_per_epoch_divide_by_any_positive_integer_count_of_epochs() -> None:
    ops = TrainingOperations(forward_macs=600, backward_macs=1200)
    assert ops.per_epoch(1) == {"forward_macs": 600.0, "backward_macs": 1200.0, "total_macs": 1800.0}
    assert ops.per_epoch(3) == {"forward_macs": 200.0, "backward_macs": 400.0, "total_macs": 600.0}


@pytest.mark.parametrize("epochs", [0, -2, 1.5, 2.0, "2", True, None])
def test_training_operations_per_epoch_refuse_anything_but_a_positive_integer(epochs) -> None:
    with pytest.raises(OperationCountError, match=rf"^epochs must be a positive integer, got {epochs!r}$"):
        TrainingOperations(forward_macs=600, backward_macs=1200).per_epoch(epochs)


# ----------------------------------------------------------------------------- rc.operations.OperationCounts


def test_the_means_of_a_single_example_are_its_counts() -> None:
    counts = OperationCounts(*(torch.tensor([value]) for value in (10, 4, 3, 5, 2, 1)))
    assert counts.means() == {"dense_macs": 14.0, "effective_macs": 5.0, "effective_acs": 6.0,
                              "dense_synaptic_macs": 10.0, "dense_neuron_macs": 4.0, "synaptic_macs": 3.0,
                              "synaptic_acs": 5.0, "neuron_macs": 2.0, "neuron_acs": 1.0}
    empty = OperationCounts(*(torch.zeros(0, dtype=torch.int64) for _ in range(6)))
    with pytest.raises(OperationCountError, match=r"^means need per-example counts \(batch >= 1,\), got shape \(0,\)$"):
        empty.means()


# ----------------------------------------------------------------------------- rc.lstm_operations: convolutions


def reads_per_example(v: torch.Tensor, convolution: nn.Conv2d) -> int:
    """Weight reads of one example whose every input and weight is non-zero, counted tap by tap: for each
    output position, the kernel taps that land inside the (unpadded) input."""
    per_axis = []
    for size, pad, dilation, kernel, stride in zip(v.shape[2:], convolution.padding, convolution.dilation,
                                                    convolution.kernel_size, convolution.stride):
        outputs = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
        per_axis.append(sum(1 for i in range(outputs) for k in range(kernel)
                            if 0 <= i * stride - pad + k * dilation < size))
    return per_axis[0] * per_axis[1] * convolution.in_channels // convolution.groups * convolution.out_channels


def dense_conv(in_channels: int, out_channels: int, kernel: int, **options) -> nn.Conv2d:
    convolution = nn.Conv2d(in_channels, out_channels, kernel, **options)
    with torch.no_grad():
        convolution.weight.fill_(0.1)
    return convolution


@pytest.mark.parametrize("options", [{}, {"stride": 2}, {"padding": 1}, {"padding": 2, "stride": 3}, {"dilation": 2},
                                     {"dilation": 2, "padding": 2}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_conv_operations_count_every_weight_read_of_a_dense_input(options) -> None:
    convolution = dense_conv(2, 3, 3, **options)
    v = torch.full((2, 2, 9, 11), 0.5)
    macs, acs = conv_operations(v, convolution)
    expected = reads_per_example(v, convolution)
    if not options.get("padding"):  # every position reads the whole kernel: torch's output shape times the weights
        assert expected == convolution(v)[0, 0].numel() * convolution.weight.numel()
    assert macs.tolist() == [expected, expected] and acs.tolist() == [0, 0]


def test_conv_operations_of_a_grouped_convolution_read_each_input_channel_of_its_group_only() -> None:
    convolution = dense_conv(4, 6, 3, groups=2)  # each output channel reads 2 of the 4 input channels
    v = torch.full((1, 4, 9, 11), 0.5)
    macs, _ = conv_operations(v, convolution)
    assert macs.tolist() == [reads_per_example(v, convolution)] == [7 * 9 * 9 * 2 * 6]


@pytest.mark.parametrize("options", [{"padding": "same"}, {"padding": 1, "padding_mode": "reflect"}])
def test_conv_operations_refuse_padding_they_cannot_count(options) -> None:
    """Reflected or 'same' padding reads values the zero-padded count leaves out: an error, not a wrong count."""
    with pytest.raises(OperationCountError, match="zero padding of a given size"):
        conv_operations(torch.ones(1, 2, 9, 11), dense_conv(2, 3, 3, **options))


def test_conv_operations_of_a_one_by_one_convolution_count_a_read_per_input_and_output_channel() -> None:
    convolution = dense_conv(2, 3, 1)
    macs, _ = conv_operations(torch.full((1, 2, 4, 5), 0.5), convolution)
    assert macs.tolist() == [4 * 5 * 2 * 3]


@pytest.mark.parametrize("frame, padding", [((1369, 1367), 0), ((1367, 1367), 1)])
def test_conv_operations_count_exactly_beyond_what_float32_holds(frame, padding) -> None:
    """An odd count above 2**24 (float32 holds only even integers there): the count must come out exact,
    which takes float64 for this layer."""
    convolution = dense_conv(1, 1, 3, padding=padding)
    v = torch.full((1, 1, *frame), 0.5)
    expected = reads_per_example(v, convolution)
    assert expected > 2 ** 24 and expected % 2 == 1
    macs, acs = conv_operations(v, convolution)
    assert macs.tolist() == [expected] and acs.tolist() == [0]


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 8, 8)])
def test_conv_operations_refuse_inputs_of_the_wrong_shape_with_it(shape) -> None:
    with pytest.raises(OperationCountError, match=rf"^a convolution with 2 input channels needs inputs "
                                                  rf"\(batch, 2, H, W\), got \({', '.join(map(str, shape))}\)$"):
        conv_operations(torch.ones(shape), dense_conv(2, 3, 3))


@pytest.mark.parametrize("frame_shape", [(17, 16), (16, 19), (21, 23)])
def test_encoder_dense_macs_are_torchs_output_positions_times_the_weights(frame_shape) -> None:
    encoder = ConvEncoder(frame_shape, 2)
    frames, first_input, _ = encoder.stages(torch.zeros(1, frame_shape[0] * frame_shape[1]))
    first_positions = encoder.conv1(frames)[0, 0].numel()
    second_positions = encoder.conv2(first_input)[0, 0].numel()
    first, second = encoder_dense_macs(encoder)
    assert (first, second) == (first_positions * 2 * 25, second_positions * 4 * 2 * 25)
    assert type(first) is int and type(second) is int


# ----------------------------------------------------------------------------- rc.operations.training_operations


def test_training_operations_are_the_step_evaluations_times_the_dense_macs_of_a_step() -> None:
    model = LSTMClassifier(4, 3, 2)
    forward, backward = model.dense_macs_per_step(), model.backward_macs_per_step()
    assert training_operations(model, 5, 7) == TrainingOperations(5 * forward, 7 * backward)
    assert training_operations(model, 0, 0) == TrainingOperations(0, 0)  # nothing trained yet


@pytest.mark.parametrize("forward, backward, label, shown", [(-1, 0, "forward", "-1"), (2.0, 0, "forward", "2.0"),
                                                             (True, 0, "forward", "True"), (0, -3, "backward", "-3"),
                                                             (0, "4", "backward", "'4'")])
def test_training_operations_refuse_evaluations_that_are_not_non_negative_integers(forward, backward, label,
                                                                                  shown) -> None:
    with pytest.raises(OperationCountError, match=rf"^{label}_evaluations must be a non-negative integer, "
                                                  rf"got {re.escape(shown)}$"):
        training_operations(LSTMClassifier(4, 3, 2), forward, backward)


# ----------------------------------------------------------------------------- rc.operations.product_operations


def test_product_operations_count_the_products_with_no_zero_operand() -> None:
    a = torch.tensor([[1.0, 0.0, 2.0, 3.0], [0.0, 0.0, 0.5, 1.0]])
    b = torch.tensor([[4.0, 5.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    assert product_operations(a, b).tolist() == [2, 2]


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3), (1, 3)), ((2, 3), (2, 4)), ((2, 3), (3,)), ((3,), (3,)),
                                              ((2, 1, 3), (2, 1, 3))])
def test_product_operations_refuse_anything_but_two_batch_by_n_tensors_of_one_shape(a_shape, b_shape) -> None:
    def shown(shape):
        return re.escape(str(tuple(shape)))

    with pytest.raises(OperationCountError, match=rf"^products need two \(batch, n\) tensors, got {shown(a_shape)} "
                                                  rf"and {shown(b_shape)}$"):
        product_operations(torch.ones(a_shape), torch.ones(b_shape))


# ----------------------------------------------------------------------------- baselines.snn_operations


def test_a_lif_layer_without_decay_counts_zero_membrane_macs_on_its_membranes_device() -> None:
    """No decay, no ``decay * U`` products: the zeros are made on the membranes' device, not the default one
    (meta stands in for an accelerator)."""
    membranes = torch.tensor([[0.0, 0.5, 2.0], [1.5, 0.0, 0.0]])
    with torch.device("meta"):
        macs, acs = _membrane_operations(membranes, 0.0, 1.0)
    assert macs.device.type == "cpu" and macs.dtype == torch.int64 and macs.tolist() == [0, 0]
    assert acs.tolist() == [1, 1]
    macs, acs = _membrane_operations(membranes.to("meta"), 0.0, 1.0)
    assert macs.device.type == "meta" and macs.shape == (2,) and macs.dtype == torch.int64
    assert acs.device.type == "meta"


def test_stacked_step_counts_lie_on_the_cpu_whatever_the_default_device() -> None:
    """Effective and dense counts alike are on the CPU (meta stands in for a cuda default device), the dense
    ones ``dense_*`` at every step of every example."""
    steps = [{name: torch.tensor([1, 2]) * (t + 1) for name in
              ("synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")} for t in range(3)]
    with torch.device("meta"):
        counts = stack_steps(steps, 7, 5)
    assert {getattr(counts, field.name).device.type for field in dataclasses.fields(counts)} == {"cpu"}
    assert torch.equal(counts.dense_synaptic_macs, torch.full((2, 3), 7))
    assert torch.equal(counts.dense_neuron_macs, torch.full((2, 3), 5))
    assert torch.equal(counts.synaptic_acs, torch.tensor([[1, 2, 3], [2, 4, 6]]))


@pytest.mark.parametrize("learned, extra", [((), 0), (("lif_hidden",), 5), (("lif_out",), 3),
                                            (("lif_hidden", "lif_out"), 5 + 3)])
def test_lif_backward_macs_add_a_mac_per_neuron_of_each_layer_whose_decay_is_learned(learned, extra) -> None:
    """``2 (F N + N C) - F N + (N + C)`` for fixed decays (6 inputs, 5 hidden neurons, 3 outputs: 68), an int;
    a layer whose decay is a parameter with gradient (snnTorch's learn_beta) costs one more MAC per neuron, and
    one whose learned decay is frozen again (requires_grad off) costs none."""
    import snntorch as snn

    from baselines.snn_operations import snn_backward_macs_per_step
    from baselines.snn_ttfs import LIFClassifier

    model = LIFClassifier(6, 5, 3, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    assert not isinstance(model.lif_hidden.beta, nn.Parameter)
    for name in learned:
        setattr(model, name, snn.Leaky(beta=0.9, threshold=1.0, learn_beta=True))
    macs = snn_backward_macs_per_step(model)
    assert type(macs) is int and macs == 2 * (6 * 5 + 5 * 3) - 6 * 5 + (5 + 3) + extra == 68 + extra
    for name in learned:
        getattr(model, name).beta.requires_grad_(False)
    frozen = snn_backward_macs_per_step(model)
    assert type(frozen) is int and frozen == 68


@pytest.mark.parametrize("layer, where", [("lif_hidden", "hidden layer"), ("lif_out", "output layer")])
def test_the_lif_dense_macs_name_the_layer_the_counts_do_not_cover(layer, where) -> None:
    """A LIF layer the counts do not cover (here without snnTorch's delayed reset) makes the dense MACs raise an
    OperationCountError that starts with that layer's name."""
    from baselines.snn_ttfs import LIFClassifier

    model = LIFClassifier(6, 5, 3, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    assert model.dense_macs_per_step() == 6 * 5 + 5 * 3 + 2 * (5 + 3)
    getattr(model, layer).reset_delay = False
    with pytest.raises(OperationCountError, match=rf"^{where}: counts cover snnTorch Leaky neurons with reset "):
        model.dense_macs_per_step()


COVERED_LIF = {"reset_mechanism": "subtract", "reset_delay": True, "inhibition": False, "state_quant": False,
               "graded_spikes_factor": 1.0}


@pytest.mark.parametrize("missing", sorted(COVERED_LIF))
def test_a_neuron_lacking_any_attribute_the_lif_counts_check_is_not_covered(missing) -> None:
    """A stand-in neuron with every attribute of a covered snnTorch Leaky gives its (decay, threshold); one that
    lacks any of them (reset mechanism, delayed reset, inhibition, state quantisation, graded spikes) is not
    taken for covered: an OperationCountError naming the layer, never an AttributeError."""
    from types import SimpleNamespace

    neuron = SimpleNamespace(beta=torch.tensor(0.75), threshold=torch.tensor(0.5), **COVERED_LIF)
    assert _lif_parameters(neuron, "hidden layer") == (0.75, 0.5)
    delattr(neuron, missing)
    with pytest.raises(OperationCountError, match=r"^hidden layer: counts cover snnTorch Leaky neurons with reset "):
        _lif_parameters(neuron, "hidden layer")


@pytest.mark.parametrize("beta, decay", [(-0.5, 0.0), (0.0, 0.0), (0.75, 0.75), (1.0, 1.0), (1.5, 1.0)])
def test_the_lif_counts_take_the_decay_clamped_to_the_unit_interval(beta, decay) -> None:
    """snnTorch clamps a Leaky's decay to [0, 1] when it steps (a learned one may leave it); the counts take the
    decay it steps with: -0.5 counts as 0 (no ``decay * U``), 1.5 as 1. The threshold is read as it is."""
    from types import SimpleNamespace

    neuron = SimpleNamespace(beta=torch.tensor(beta), threshold=torch.tensor(0.25), **COVERED_LIF)
    assert _lif_parameters(neuron, "output layer") == (decay, 0.25)


@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (0, 0, 4), (2, 3, 5), (2, 4)])
def test_sequences_to_count_need_an_example_a_step_and_the_features(shape) -> None:
    """Operations are counted only for (batch >= 1, time >= 1, features) input: no example, no step or another
    feature count raises an OperationCountError giving the shape."""
    from rc.operations import check_sequences

    check_sequences(torch.zeros(1, 1, 4), 4)
    message = f"x must be shaped (batch >= 1, time >= 1, features=4), got {shape}"
    with pytest.raises(OperationCountError, match=f"^{re.escape(message)}$"):
        check_sequences(torch.zeros(shape), 4)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_sequences_to_count_must_be_finite(value) -> None:
    """A NaN or infinite input value raises an OperationCountError saying its operations cannot be counted."""
    from rc.operations import check_sequences

    x = torch.zeros(2, 3, 4)
    x[1, 2, 0] = value
    with pytest.raises(OperationCountError,
                       match=r"^x holds NaN or infinite values; their operations cannot be counted$"):
        check_sequences(x, 4)


def per_step_counts() -> OperationCounts:
    """Counts of 2 examples over 3 steps: effective synaptic MACs 1, 2, 3 and 10, 20, 30; dense 7 and 5."""
    steps = [{name: torch.tensor([1, 10]) * (t + 1) for name in
              ("synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")} for t in range(3)]
    return stack_steps(steps, 7, 5)


def test_counts_are_summed_up_to_each_examples_decision_step() -> None:
    """Steps 0..d of each example: decisions at steps 0 and 2 give effective MACs 1 and 60, dense 7 and 21;
    the last step (2) is valid, step 3 or -1 of a 3-step count raises, as does a step_index of another batch."""
    from rc.operations import sum_to_decision

    summed = sum_to_decision(per_step_counts(), torch.tensor([0, 2]))
    assert summed.synaptic_macs.tolist() == [1, 60] and summed.dense_synaptic_macs.tolist() == [7, 21]
    for steps in ([3, 0], [0, -1]):
        with pytest.raises(OperationCountError, match=r"^step_index must lie in \[0, 2\] for 3 counted steps$"):
            sum_to_decision(per_step_counts(), torch.tensor(steps))
    message = "per-step counts (batch, steps) and step_index (batch,) disagree: (2, 3) and (3,)"
    with pytest.raises(OperationCountError, match=f"^{re.escape(message)}$"):
        sum_to_decision(per_step_counts(), torch.tensor([0, 1, 2]))


def test_decision_steps_are_checked_against_the_input_and_given_as_int64() -> None:
    """Decision steps in [0, time - 1] come back as int64 on the CPU, whatever integer type they had (int32 here);
    a step past the last or below 0 raises an OperationCountError giving the valid range and the values found."""
    from rc.crossing import Decision
    from rc.operations import check_decision

    x = torch.zeros(2, 3, 4)

    def decision(steps):
        return Decision(torch.zeros(2, dtype=torch.long), steps, torch.zeros(2, dtype=torch.bool))

    steps = check_decision(decision(torch.tensor([0, 2], dtype=torch.int32)), x)
    assert steps.dtype == torch.int64 and steps.tolist() == [0, 2]
    for values, shown in (([0, 3], "[0, 3]"), ([-1, 1], "[-1, 1]")):
        message = f"decision.step_index must lie in [0, 2] for x with 3 steps, got values in {shown}"
        with pytest.raises(OperationCountError, match=f"^{re.escape(message)}$"):
            check_decision(decision(torch.tensor(values)), x)


def test_operation_counts_refuse_a_field_of_another_shape_or_dtype_or_a_negative_count() -> None:
    """Every field is int64 of dense_synaptic_macs' shape and non-negative; else an OperationCountError names the
    field and, for a shape or dtype, what it should be and what it is."""
    good = {name: torch.zeros(2, 3, dtype=torch.int64) for name in
            ("dense_synaptic_macs", "dense_neuron_macs", "synaptic_macs", "synaptic_acs", "neuron_macs", "neuron_acs")}
    OperationCounts(**good)
    for value, message in ((torch.zeros(2, 3), "must be int64 shaped (2, 3), got torch.float32 (2, 3)"),
                           (torch.zeros(2, 4, dtype=torch.int64), "must be int64 shaped (2, 3), got torch.int64 (2, 4)"),
                           (torch.full((2, 3), -1, dtype=torch.int64), "has a negative count")):
        with pytest.raises(OperationCountError, match=f"^{re.escape('OperationCounts.neuron_acs ' + message)}$"):
            OperationCounts(**{**good, "neuron_acs": value})


@pytest.mark.parametrize("v_shape, w_shape", [((2, 3), (4, 5)), ((2, 3, 1), (4, 3)), ((2, 3), (4, 3, 1)),
                                              ((3,), (4, 3))])
def test_a_connection_refuses_inputs_and_weights_that_do_not_fit_with_their_shapes(v_shape, w_shape) -> None:
    """Inputs (batch, in) and weights (out, in) of one ``in`` only; else an OperationCountError gives both shapes."""
    from rc.operations import connection_operations

    message = (f"a connection needs inputs (batch, in) and weights (out, in) with the same in; "
               f"got {v_shape} and {w_shape}")
    with pytest.raises(OperationCountError, match=f"^{re.escape(message)}$"):
        connection_operations(torch.ones(v_shape), torch.ones(w_shape))


def test_operations_to_decision_refuse_input_that_is_not_batch_time_features() -> None:
    """Input of another rank raises an OperationCountError giving its shape."""
    from rc.crossing import Decision
    from rc.operations import operations_to_decision

    decision = Decision(torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.bool))
    with pytest.raises(OperationCountError, match=r"^x must be shaped \(batch, time, features\), got \(2, 4\)$"):
        operations_to_decision(LSTMClassifier(4, 3, 2), torch.zeros(2, 4), decision)


# ----------------------------------------------------------------------------- rc.lstm_operations._lstm_layers
LSTM_MESSAGE = "operation counts cover unidirectional LSTMs without projections"


@pytest.mark.parametrize("variant", [{"bidirectional": True}, {"proj_size": 2}])
def test_a_bidirectional_lstm_or_one_with_projections_is_refused_with_the_message(variant) -> None:
    """Either variant alone (not only both together) raises OperationCountError with its exact message."""
    model = LSTMClassifier(3, hidden=4, n_outputs=2)
    model.lstm = nn.LSTM(3, 4, batch_first=True, **variant)
    with pytest.raises(OperationCountError, match=rf"^{re.escape(LSTM_MESSAGE)}$"):
        _lstm_layers(model)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_layers_are_the_lstms_own_weights_and_biases(layers) -> None:
    """(W_ih, W_hh, b_ih, b_hh) of each layer are the LSTM's parameters themselves."""
    model = LSTMClassifier(3, hidden=4, n_outputs=2, layers=layers)
    found = _lstm_layers(model)
    lstm = model.lstm
    assert len(found) == layers
    for k, parameters in enumerate(found):
        expected = (lstm.weight_ih_l0 if k == 0 else lstm.weight_ih_l1, lstm.weight_hh_l0 if k == 0 else lstm.weight_hh_l1,
                    lstm.bias_ih_l0 if k == 0 else lstm.bias_ih_l1, lstm.bias_hh_l0 if k == 0 else lstm.bias_hh_l1)
        assert all(got is want for got, want in zip(parameters, expected, strict=True))


def test_an_lstm_without_biases_gives_none_for_both_biases() -> None:
    """With bias=False there is no bias attribute: both biases are None, nothing raises."""
    model = LSTMClassifier(3, hidden=4, n_outputs=2)
    model.lstm = nn.LSTM(3, 4, batch_first=True, bias=False)
    ((w_ih, w_hh, b_ih, b_hh),) = _lstm_layers(model)
    assert w_ih is model.lstm.weight_ih_l0 and w_hh is model.lstm.weight_hh_l0
    assert b_ih is None and b_hh is None
