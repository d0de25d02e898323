"""Tests written for the mutants of ``rc/streaming.py`` that survived the mutation run (issue 17).

The model is an echo: each step's scores are that step's input, so the decisions can be written down
by hand. ``torch.device("meta")`` as the default device stands in for ``torch.set_default_device("cuda")``:
a tensor made without an explicit device lands there, and mixing it with the CPU inputs gives an error or
meaningless values, which the comparisons below catch.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rc.crossing import SigmoidThreshold
from rc.streaming import Finished, gather_in_batch_order, run_to_crossings, stream_decisions

HIGH, LOW = 5.0, 0.0  # sigmoid 0.993 and 0.5: above and below theta = 0.9


class Echo(nn.Module):
    """A step model whose scores are its input; records the state devices asked for and the step inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[object] = []
        self.inputs: list[torch.Tensor] = []

    def init_state(self, batch_size, device):
        self.devices.append(device)
        return torch.zeros(batch_size, dtype=torch.long, device=device)

    def step(self, x_t, state):
        self.inputs.append(x_t)
        return x_t, state + 1

    def select_state(self, state, index):
        return state[index]


def sequences() -> torch.Tensor:
    """(4, 3, 2): example 0 crosses at step 1 (class 0), 1 at step 0 (class 1), 2 never, 3 at step 1 (class 1)."""
    x = torch.full((4, 3, 2), LOW)
    x[0, 1, 0] = HIGH
    x[1, 0, 1] = HIGH
    x[2, :, 0] = 1.0  # class 0 leads but never crosses
    x[3, 1, 1] = HIGH
    x[3, 2, 0] = HIGH  # after its crossing: never read
    return x


EXPECTED_STEPS = [1, 0, 2, 1]
EXPECTED_CROSSED = [True, True, False, True]
EXPECTED_PREDICTION = [0, 1, 0, 1]


def check_decisions(x, scores, decision, evaluations) -> None:
    assert decision.step_index.tolist() == EXPECTED_STEPS
    assert decision.step_index.dtype == torch.long and decision.step_index.device == x.device
    assert decision.crossed.tolist() == EXPECTED_CROSSED
    assert decision.prediction.tolist() == EXPECTED_PREDICTION
    assert torch.equal(scores, x[torch.arange(4), torch.tensor(EXPECTED_STEPS)])
    assert evaluations == sum(step + 1 for step in EXPECTED_STEPS)


def test_stream_decisions_drop_each_example_at_its_crossing() -> None:
    x, model = sequences(), Echo()
    check_decisions(x, *stream_decisions(model, x, SigmoidThreshold(0.9)))
    # the state is made on the input's device, for the whole batch
    assert model.devices == [x.device]
    # steps 1 and 2 read only the examples still running, in batch order
    assert [step.shape[0] for step in model.inputs] == [4, 3, 1]
    assert torch.equal(model.inputs[1], x[[0, 2, 3], 1])
    assert torch.equal(model.inputs[2], x[[2], 2])


def test_until_an_example_finishes_each_step_reads_a_view_of_the_input_not_a_copy() -> None:
    """The documented fast path: ``x[:, t]`` while every row runs, a gather only once some have finished."""
    x, model = sequences(), Echo()
    x[1, 0, 1] = LOW  # nobody crosses at step 0 now
    run_to_crossings(model, x, SigmoidThreshold(0.9))
    first = model.inputs[0]
    assert first.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert first.data_ptr() == x[:, 0].data_ptr() and first.stride() == x[:, 0].stride()
    # after step 1 (examples 0 and 3 cross) the remaining rows are gathered
    assert torch.equal(model.inputs[2], x[[1, 2], 2])


def test_streaming_does_not_depend_on_torchs_default_device() -> None:
    x = sequences()
    expected = stream_decisions(Echo(), x, SigmoidThreshold(0.9))
    with torch.device("meta"):
        finished, _ = run_to_crossings(Echo(), x, SigmoidThreshold(0.9))
        scores, decision, evaluations = stream_decisions(Echo(), x, SigmoidThreshold(0.9))
    assert all(group.rows.device == x.device for group in finished)
    assert [group.rows.tolist() for group in finished] == [[1], [0, 3], [2]]
    check_decisions(x, scores, decision, evaluations)
    assert torch.equal(scores, expected[0])


def test_gather_in_batch_order_puts_each_group_back_in_its_rows() -> None:
    finished = [Finished(torch.tensor([2]), 0, torch.tensor([[2.0, 0.0]]), torch.tensor([True])),
                Finished(torch.tensor([3, 0]), 1, torch.tensor([[3.0, 1.0], [0.0, 1.0]]), torch.tensor([True, True])),
                Finished(torch.tensor([1]), 4, torch.tensor([[1.0, 1.0]]), torch.tensor([False]))]
    with torch.device("meta"):
        scores, steps, crossed = gather_in_batch_order(finished, 4)
    assert scores.tolist() == [[0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.0]]
    assert steps.tolist() == [1, 4, 0, 1] and steps.dtype == torch.long and steps.device == torch.device("cpu")
    assert crossed.tolist() == [True, False, True, True]


def test_gather_in_batch_order_names_the_rows_it_lost() -> None:
    finished = [Finished(torch.tensor([2, 0]), 0, torch.zeros(2, 2), torch.tensor([True, True]))]
    with pytest.raises(RuntimeError, match=r"^streaming lost examples: 2 of 3 rows finished$"):
        gather_in_batch_order(finished, 3)


@pytest.mark.parametrize("shape", [(2, 3), (0, 4, 3), (2, 0, 3), (0, 0, 3), (2, 4, 3, 1)])
def test_sequences_without_an_example_or_a_step_or_of_another_rank_are_refused(shape) -> None:
    """Kills check_sequences 1, 2, 5, 8 (a condition joined by 'and', or read from the wrong dimension) and 11, 12
    (the message): x must be (batch >= 1, time >= 1, features), and the error gives the shape it got."""
    from rc.streaming import check_sequences

    message = "x must be shaped (batch >= 1, time >= 1, features), got " + str(shape)
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        check_sequences(torch.zeros(shape))


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1, 0), (3, 1, 2), (1, 5, 2)])
def test_one_example_of_one_step_is_enough(shape) -> None:
    """Kills check_sequences 6, 7, 9, 10 (a batch or a time of 1 refused); the features are not checked here."""
    from rc.streaming import check_sequences

    assert check_sequences(torch.zeros(shape)) is None
