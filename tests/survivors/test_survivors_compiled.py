"""Tests written for the mutants of ``rc/compiled.py`` and ``baselines/snn_compiled.py`` that survived the
mutation run (issue 17)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from baselines.snn_compiled import lif_program
from baselines.snn_ttfs import LIFClassifier
from rc import compiled
from rc.crossing import SigmoidThreshold
from rc.model import LSTMClassifier


def test_registering_a_model_and_a_rule_records_their_builder_and_test(monkeypatch) -> None:
    monkeypatch.setattr(compiled, "COMPILED_MODELS", dict(compiled.COMPILED_MODELS))
    monkeypatch.setattr(compiled, "COMPILED_RULES", dict(compiled.COMPILED_RULES))

    class Model(nn.Module):
        pass

    class Rule(SigmoidThreshold):
        pass

    def builder(model):
        return "not this one"

    compiled.register_compiled_model(Model, builder)
    assert compiled.COMPILED_MODELS[Model] is builder
    compiled.register_compiled_rule(Rule, compiled.SOFTMAX_MAX)
    assert compiled.COMPILED_RULES[Rule] == compiled.SOFTMAX_MAX
    with pytest.raises(ValueError, match=r"^unknown compiled crossing test 99$"):
        compiled.register_compiled_rule(Rule, 99)


def test_a_model_and_rule_that_compile_have_no_unsupported_reason_and_a_refused_model_its_builders(monkeypatch) -> None:
    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", True)  # the reason is found without compiling anything
    model = LSTMClassifier(4, 3, 2)
    assert compiled.unsupported_reason(model, SigmoidThreshold(0.9)) is None
    model.lstm = nn.LSTM(4, 3, batch_first=True, bias=False)
    assert compiled.unsupported_reason(model, SigmoidThreshold(0.9)) == (
        "only a plain unidirectional nn.LSTM with biases is compiled")


# ----------------------------------------------------------------------------- lstm_program


@pytest.mark.parametrize("lstm", [nn.LSTM(4, 3, batch_first=True, bias=False),
                                  nn.LSTM(4, 3, batch_first=True, bidirectional=True),
                                  nn.LSTM(4, 3, batch_first=True, proj_size=2), nn.LSTM(4, 3)],
                         ids=["no-bias", "bidirectional", "projection", "time-first"])
def test_only_a_plain_unidirectional_batch_first_lstm_with_biases_is_compiled(lstm) -> None:
    model = LSTMClassifier(4, 3, 2)
    model.lstm = lstm
    assert compiled.lstm_program(model) == "only a plain unidirectional nn.LSTM with biases is compiled"


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_an_lstm_program_holds_float32_arrays_of_the_documented_shapes(layers) -> None:
    """Input weights of layer 0 (F, 4H), of layers 1.. (L-1, H, 4H), recurrent (L, H, 4H), summed biases (L, 4H),
    readout (H, C) and its bias (C,)."""
    model = LSTMClassifier(5, 3, 2, layers=layers)
    program = compiled.lstm_program(model)
    assert [array.shape for array in program.arrays] == [(5, 12), (layers - 1, 3, 12), (layers, 3, 12),
                                                         (layers, 12), (3, 2), (2,)]
    assert all(array.dtype == np.float32 for array in program.arrays)
    assert (program.kernel, program.n_features, program.n_outputs) == ("lstm", 5, 2)


# ----------------------------------------------------------------------------- baselines/snn_compiled.py lif_program

RESET = "only reset by subtraction with the reset delay (snnTorch's default) is compiled"
UNMODELLED = "inhibition, state quantisation and init_hidden are not compiled"


@pytest.mark.parametrize("layer", ["lif_hidden", "lif_out"])
@pytest.mark.parametrize("attribute, value, reason", [("reset_mechanism", "zero", RESET),
                                                      ("reset_mechanism", "none", RESET),
                                                      ("reset_delay", False, RESET),
                                                      ("inhibition", True, UNMODELLED),
                                                      ("state_quant", lambda membrane: membrane, UNMODELLED),
                                                      ("init_hidden", True, UNMODELLED)],
                         ids=["reset-zero", "reset-none", "no-reset-delay", "inhibition", "state-quant", "init-hidden"])
def test_a_lif_network_with_a_neuron_feature_the_kernel_lacks_is_not_compiled_and_says_which(layer, attribute, value,
                                                                                           reason) -> None:
    model = LIFClassifier(4, 3, 2, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    assert lif_program(model).kernel == "lif"
    setattr(getattr(model, layer), attribute, value)
    assert lif_program(model) == reason


@pytest.mark.parametrize("layer", ["lif_hidden", "lif_out"])
@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_a_lif_network_with_graded_spikes_is_not_compiled_and_says_so(layer, factor) -> None:
    model = LIFClassifier(4, 3, 2, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    getattr(model, layer).graded_spikes_factor.fill_(factor)
    assert lif_program(model) == "graded spikes are not compiled"


def test_a_lif_program_holds_each_layers_decay_clamped_to_0_1_and_threshold_for_every_neuron() -> None:
    """The decays as ``Leaky`` uses them, clamped to [0, 1]; a scalar decay or threshold is given to every neuron."""
    model = LIFClassifier(4, 3, 2, decay=1.5, threshold=0.75, surrogate_slope=5.0)
    model.lif_out.beta = torch.tensor([-0.5, 0.25])
    model.lif_out.threshold = torch.tensor(2.0)
    arrays = lif_program(model).arrays
    hidden_decay, hidden_threshold, out_decay, out_threshold = arrays[2], arrays[3], arrays[6], arrays[7]
    assert hidden_decay.tolist() == [1.0, 1.0, 1.0] and hidden_threshold.tolist() == [0.75, 0.75, 0.75]
    assert out_decay.tolist() == [0.0, 0.25] and out_threshold.tolist() == [2.0, 2.0]
    assert all(array.dtype == np.float32 for array in (hidden_decay, hidden_threshold, out_decay, out_threshold))


def test_a_lif_program_holds_float32_arrays_of_the_documented_shapes() -> None:
    """Input weights (F, hidden) and bias, hidden decay and threshold, output weights (hidden, C) and bias, output
    decay and threshold; the program names its kernel, its inputs per step and its outputs."""
    model = LIFClassifier(5, 3, 2, decay=0.9, threshold=1.0, surrogate_slope=5.0)
    program = lif_program(model)
    assert [array.shape for array in program.arrays] == [(5, 3), (3,), (3,), (3,), (3, 2), (2,), (2,), (2,)]
    assert all(array.dtype == np.float32 for array in program.arrays)
    assert (program.kernel, program.n_features, program.n_outputs) == ("lif", 5, 2)


# ----------------------------------------------------------------------------- CompiledDecider.decide_one


@pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba is not installed")
def test_one_example_of_one_step_is_decided_and_one_of_no_step_refused_with_its_shape() -> None:
    """A single step is a valid example (decided at step 0 with the scores of the full pass's only step);
    an example of 0 steps is refused with the shape it has, whatever its feature count."""
    torch.manual_seed(0)
    model = LSTMClassifier(4, 3, 2).eval()
    decider = compiled.compiled_decider(model, SigmoidThreshold(0.9))
    x = torch.rand(1, 4)
    one = decider.decide_one(x)
    with torch.no_grad():
        expected = model(x[None])[0, 0]
    assert one.step_index == 0 and one.prediction == int(expected.argmax())
    torch.testing.assert_close(one.scores, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError,
                       match=r"^compiled decision: one example must be shaped \(time >= 1, 4\), got \(0, 4\)$"):
        decider.decide_one(torch.zeros(0, 4))


# ----------------------------------------------------------------------------- CompiledDecider's weights and inputs


@pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba is not installed")
def test_the_decider_copies_the_weights_again_only_after_a_change_and_refuses_a_model_it_can_no_longer_compile() -> None:
    """The weights are copied once and reused while no parameter changes; after an in-place change (an optimiser
    step) they are copied again and the decision is the changed model's. A model changed so that it no longer
    compiles (an LSTM without biases) raises a ValueError naming the model, the rule and why."""
    torch.manual_seed(0)
    model = LSTMClassifier(4, 3, 2).eval()
    rule = SigmoidThreshold(0.9)
    decider = compiled.compiled_decider(model, rule)
    program = decider.program
    x = torch.rand(5, 4)
    decider.decide_one(x)
    decider.decide_one(x)
    assert decider.program is program  # nothing changed: not copied again
    with torch.no_grad():
        model.readout.bias.add_(torch.tensor([3.0, -3.0]))
    one = decider.decide_one(x)
    assert decider.program is not program
    with torch.no_grad():
        torch.testing.assert_close(one.scores, model(x[None])[0, one.step_index], rtol=1e-5, atol=1e-5)
    model.lstm = nn.LSTM(4, 3, batch_first=True, bias=False)
    with torch.no_grad():
        model.readout.weight.mul_(2)  # a source parameter changes, so the weights are copied again
    message = ("cannot compile LSTMClassifier under SigmoidThreshold(theta=0.9): "
               "only a plain unidirectional nn.LSTM with biases is compiled")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        decider.decide_one(x)


@pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba is not installed")
@pytest.mark.parametrize("kind", ["requires-grad", "float64", "non-contiguous"])
def test_the_decider_reads_any_cpu_example_as_contiguous_float32(kind) -> None:
    """An example that needs gradients, is float64 (with digits float32 does not hold) or is a non-contiguous view
    is decided as its contiguous float32 copy: the same decision and, to the bit, the same float32 scores as for
    that copy (a float64 example read as it is would give other roundings)."""
    torch.manual_seed(0)
    model = LSTMClassifier(8, 16, 3).eval()
    decider = compiled.compiled_decider(model, SigmoidThreshold(0.999))
    precise = torch.randn(40, 8, dtype=torch.float64) * 1.2345678901
    copy = precise.float()
    x = {"requires-grad": copy.clone().requires_grad_(), "float64": precise,
         "non-contiguous": copy.t().contiguous().t()}[kind]
    assert x.requires_grad or x.dtype == torch.float64 or not x.is_contiguous()
    got, expected = decider.decide_one(x), decider.decide_one(copy)
    assert (got.prediction, got.step_index, got.crossed) == (expected.prediction, expected.step_index, expected.crossed)
    assert got.scores.dtype == torch.float32
    torch.testing.assert_close(got.scores, expected.scores, rtol=0, atol=0)


@pytest.mark.skipif(not compiled.NUMBA_AVAILABLE or not torch.cuda.is_available(), reason="needs numba and a GPU")
def test_the_decider_copies_an_example_on_a_gpu_to_the_cpu() -> None:
    """The compiled kernels run on the CPU: an example on a CUDA device is copied there and decided like its CPU
    copy, the same decision and float32 scores on the CPU; as_array copies a CUDA tensor to the CPU too."""
    torch.manual_seed(0)
    model = LSTMClassifier(8, 16, 3).eval()
    decider = compiled.compiled_decider(model, SigmoidThreshold(0.999))
    x = torch.randn(40, 8)
    got, expected = decider.decide_one(x.cuda()), decider.decide_one(x)
    assert (got.prediction, got.step_index, got.crossed) == (expected.prediction, expected.step_index, expected.crossed)
    assert got.scores.device.type == "cpu" and got.scores.dtype == torch.float32
    torch.testing.assert_close(got.scores, expected.scores, rtol=0, atol=0)
    array = compiled.as_array(x.double().cuda())
    assert array.dtype == np.float32 and np.array_equal(array, x.numpy())


# ----------------------------------------------------------------------------- why a model is not compiled


def test_each_reason_not_to_compile_is_given_in_its_words(monkeypatch) -> None:
    """Without numba, for a model type without a kernel, for a rule type without a crossing test (a subclass of a
    compiled rule included: the kernels know exact types), for weights other than float32 and for weights off the
    CPU, the reason says so; and then compiled_decider gives None rather than a decider or an error."""
    rule = SigmoidThreshold(0.9)
    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", False)
    assert compiled.unsupported_reason(LSTMClassifier(4, 3, 2), rule) == (
        "numba is not installed (pip install numba, or the package's [fast] extra)")
    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", True)

    class Sigmoid(SigmoidThreshold):
        pass

    cases = [(nn.Linear(4, 2), rule, "no compiled kernel for Linear"),
             (LSTMClassifier(4, 3, 2), Sigmoid(0.9), "no compiled crossing test for the rule 'sigmoid'"),
             (LSTMClassifier(4, 3, 2).double(), rule, "only float32 weights are compiled"),
             (LSTMClassifier(4, 3, 2).to("meta"), rule, "the compiled path runs on the CPU only")]
    for model, case_rule, reason in cases:
        assert compiled.unsupported_reason(model, case_rule) == reason
        assert compiled.compiled_decider(model, case_rule) is None


def test_compiled_decider_gives_none_for_a_model_its_builder_refuses(monkeypatch) -> None:
    """A model and rule that pass the general checks but whose builder refuses the model (an LSTM without biases)
    get None from compiled_decider, not an error."""
    monkeypatch.setattr(compiled, "NUMBA_AVAILABLE", True)
    model = LSTMClassifier(4, 3, 2)
    model.lstm = nn.LSTM(4, 3, batch_first=True, bias=False)
    assert compiled.compiled_decider(model, SigmoidThreshold(0.9)) is None


def test_as_array_gives_a_contiguous_float32_copy() -> None:
    """A float64 tensor, a non-contiguous view or one with gradient gives a contiguous float32 NumPy copy of its
    values, not a view of it."""
    source = torch.arange(6, dtype=torch.float64).reshape(2, 3).t().requires_grad_()
    array = compiled.as_array(source)
    assert array.dtype == np.float32 and array.flags["C_CONTIGUOUS"] and array.shape == (3, 2)
    assert array.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    plain = torch.ones(3)
    copy = compiled.as_array(plain)
    copy[0] = 5.0
    assert plain.tolist() == [1.0, 1.0, 1.0]


def test_a_decider_made_directly_for_a_model_that_cannot_be_compiled_says_which_and_why() -> None:
    """Making a CompiledDecider directly (not through compiled_decider) for a float64 model raises a ValueError
    naming the model's class, the rule and the reason."""
    message = "cannot compile LSTMClassifier under SigmoidThreshold(theta=0.9): only float32 weights are compiled"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        compiled.CompiledDecider(LSTMClassifier(4, 3, 2).double(), SigmoidThreshold(0.9))
