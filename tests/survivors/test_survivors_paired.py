"""Tests written for the mutants of ``bench/analysis/paired.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from bench.analysis.paired import PairingError, bootstrap_means, compare_records, paired_difference
from bench.core.records import PER_EXAMPLE_FIELD

DIGEST = "ab" * 32


def three_seeds(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random((3, 40)) < 0.8).astype(np.float32), (rng.random((3, 40)) < 0.6).astype(np.float32)


def test_float32_correctness_is_compared_in_float64() -> None:
    """Thirds of seeds are not exact in float32: every result equals that of the same 0/1 values in float64."""
    a, b = three_seeds(5)
    in_float64 = paired_difference(a.astype(np.float64), b.astype(np.float64), resamples=300)
    assert paired_difference(a, b, resamples=300) == in_float64
    assert paired_difference(a, b.astype(np.float64), resamples=300) == in_float64
    assert paired_difference(a.astype(np.float64), b, resamples=300) == in_float64
    differences = a.astype(np.float64).mean(axis=0) - b.astype(np.float64).mean(axis=0)
    assert in_float64.difference == float(differences.mean())


def test_the_default_random_seed_is_zero() -> None:
    a, b = three_seeds(6)
    default = paired_difference(a, b, resamples=300)
    assert default == paired_difference(a, b, resamples=300, random_seed=0)
    assert default != paired_difference(a, b, resamples=300, random_seed=1)


def test_the_interval_is_the_central_confidence_quantiles_of_the_bootstrap_means() -> None:
    a, b = three_seeds(7)
    result = paired_difference(a, b, resamples=2000, confidence=0.9, random_seed=4)
    values, counts = np.unique(a.astype(np.float64).mean(axis=0) - b.astype(np.float64).mean(axis=0),
                               return_counts=True)
    means = bootstrap_means(values, counts, 2000, np.random.default_rng(4))  # the first draws of the same seed
    assert (result.low, result.high) == tuple(np.quantile(means, [0.05, 0.95]))
    assert np.mean(means < result.low) <= 0.05 and np.mean(means > result.high) <= 0.05


def test_one_discordant_example_is_never_significant() -> None:
    """Every sign flip of a single non-zero difference gives the same |mean|: each resample ties with the
    observed mean and counts as at least as extreme, so p = 1."""
    a, b = np.zeros(10), np.zeros(10)
    a[3] = 1
    assert paired_difference(a, b, resamples=500).p_value == 1.0
    a[[1, 5, 7]] = 1  # four discordant examples: p by enumeration of the 16 sign patterns
    exact = np.mean([abs(sum(signs)) >= 4 for signs in itertools.product((-1, 1), repeat=4)])
    assert paired_difference(a, b, resamples=4000).p_value == pytest.approx(exact, abs=0.03)


@pytest.mark.parametrize("confidence", [0, 0.0, 1, 1.0, 1.5, -0.5])
def test_a_confidence_outside_zero_to_one_is_refused(confidence) -> None:
    with pytest.raises(ValueError, match=rf"^confidence must lie in \(0, 1\), got {re.escape(repr(confidence))}$"):
        paired_difference(np.ones(4), np.zeros(4), confidence=confidence, resamples=10)


def test_what_cannot_be_paired_is_named() -> None:
    with pytest.raises(PairingError, match=r"^no test examples to compare$"):
        paired_difference(np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(PairingError, match=r"^per-example correctness of A holds values other than 0 and 1$"):
        paired_difference([0, 2], [0, 1])
    with pytest.raises(PairingError, match=r"^per-example correctness of B holds values other than 0 and 1$"):
        paired_difference([0, 1], [0.5, 1])


def record(seed: int, correct: list[int], digest: str = DIGEST) -> dict:
    return {"seed": seed, PER_EXAMPLE_FIELD: {"correct": correct, "labels_sha256": digest}}


def test_compare_records_names_the_two_sides_by_default_a_and_b() -> None:
    with pytest.raises(PairingError, match=r"^A and B were evaluated on different test sets \(2 distinct label "
                                           r"digests\); they cannot be paired$"):
        compare_records([record(0, [1, 0])], [record(0, [1, 1], digest="cd" * 32)])
    with pytest.raises(PairingError, match=r"^A \(seeds \[0\]\) and B \(seeds \[1\]\) share no seed$"):
        compare_records([record(0, [1, 0])], [record(1, [1, 1])])


def test_compare_records_names_the_side_with_two_records_of_a_seed() -> None:
    twice = [record(3, [1, 0]), record(3, [0, 0])]
    with pytest.raises(PairingError, match=r"^rc-lstm has two records for seed 3$"):
        compare_records(twice, [record(3, [1, 1])], name_a="rc-lstm", name_b="lstm-eos")
    with pytest.raises(PairingError, match=r"^lstm-eos has two records for seed 3$"):
        compare_records([record(3, [1, 1])], twice, name_a="rc-lstm", name_b="lstm-eos")


def test_compare_records_passes_its_options_on() -> None:
    records_a = [record(seed, [1, 0, 1, 1]) for seed in (0, 1)]
    records_b = [record(seed, [0, 0, 1, 1]) for seed in (1, 0)]
    result = compare_records(records_a, records_b, confidence=0.8, resamples=50, random_seed=9)
    assert result == paired_difference([[1, 0, 1, 1]] * 2, [[0, 0, 1, 1]] * 2, (0, 1), confidence=0.8, resamples=50,
                                       random_seed=9)
    assert result.confidence == 0.8 and result.seeds == (0, 1)
