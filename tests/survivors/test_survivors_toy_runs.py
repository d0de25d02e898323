"""Tests written for the mutants of ``bench/tasks/toy_runs.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import pytest
import torch

from bench.tasks.toy_runs import ToyRunsOptions, first_run_end, make_toy_runs


def test_first_run_end_counts_a_long_run_exactly_when_the_default_float_dtype_is_bfloat16() -> None:
    """Kills first_run_end 16 and 18 (the run counter made in the default float dtype instead of int64).

    bfloat16 holds the integers only up to 256 (256 + 1 rounds back to 256), so a float counter never
    reaches 257; the int64 counter finds the run of 257 zeros ending at step 257.
    """
    bits = torch.stack([torch.zeros(257, dtype=torch.long), torch.arange(257) % 2])
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        end = first_run_end(bits, 257)
    finally:
        torch.set_default_dtype(previous)
    assert end.dtype == torch.long
    assert end.tolist() == [257, -1]


def test_make_toy_runs_defaults_to_sequences_of_25_bits_and_runs_of_5() -> None:
    """Kills make_toy_runs 1 (default length 26) and 2 (default run 6)."""
    split = make_toy_runs(20, torch.Generator().manual_seed(4))
    explicit = make_toy_runs(20, torch.Generator().manual_seed(4), length=25, run=5)
    assert split.x.shape == (20, 25, 1)
    assert torch.equal(split.x, explicit.x)
    assert torch.equal(split.y, explicit.y)
    assert torch.equal(split.ideal_step, explicit.ideal_step)
    assert torch.equal(split.ideal_step, first_run_end(split.x[..., 0].long(), 5))
    # a run of 6 would give other ideal steps for this set
    assert not torch.equal(split.ideal_step, first_run_end(split.x[..., 0].long(), 6))


def test_make_toy_runs_stops_at_the_first_batch_that_fills_both_classes() -> None:
    """Kills make_toy_runs 11 and 13 (more positives wanted than n - n // 2) and 36 (batches of 3n, not 2n).

    With seed 1, the first batch of 2n = 8 sequences of 6 bits has exactly 2 with a run of 4: enough for
    n = 4 (2 negatives, 2 positives), so the set is that batch's first 2 negatives and 2 positives, shuffled
    by one randperm(4), and the generator has drawn nothing else.
    """
    replay = torch.Generator().manual_seed(1)
    batch = torch.randint(0, 2, (8, 6), generator=replay)
    positive = first_run_end(batch, 4) > 0
    assert int(positive.sum()) == 2  # the premise: this batch is just enough
    expected_bits = torch.cat([batch[~positive][:2], batch[positive][:2]])[torch.randperm(4, generator=replay)]

    generator = torch.Generator().manual_seed(1)
    split = make_toy_runs(4, generator, length=6, run=4)
    assert torch.equal(split.x[..., 0], expected_bits.float())
    assert split.y.tolist() == (first_run_end(expected_bits, 4) > 0).long().tolist()
    assert sorted(split.y.tolist()) == [0, 0, 1, 1]
    assert torch.equal(generator.get_state(), replay.get_state())


def test_make_toy_runs_gives_up_after_exactly_1000_batches_with_a_message_naming_length_and_run() -> None:
    """Kills make_toy_runs 23 (1001 batches) and 55 (the error without its message).

    A run of 5 cannot occur in 3 bits, so no batch has a positive example.
    """
    generator = torch.Generator().manual_seed(7)
    message = (r"^could not draw a balanced toy-runs set \(length=3, run=5\): one class almost never occurs; "
               r"choose a run length well inside \[2, length\)$")
    with pytest.raises(ValueError, match=message):
        make_toy_runs(2, generator, length=3, run=5)
    replay = torch.Generator().manual_seed(7)
    for _ in range(1000):
        torch.randint(0, 2, (4, 3), generator=replay)
    assert torch.equal(generator.get_state(), replay.get_state())


def test_toy_runs_options_accept_a_run_of_2() -> None:
    """Kills ToyRunsOptions.__post_init__ 2 (3 <= run) and 3 (2 < run): the lowest run allowed is 2."""
    options = ToyRunsOptions(n_train=4, n_val=2, n_test=2, length=3, run=2)
    assert (options.length, options.run) == (3, 2)
    assert ToyRunsOptions(run=2).run == 2
