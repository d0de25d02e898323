"""Tests of the information bound per step (bench/measure/bound.py) and the ``rcbench bound`` verb."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.measure.bound import (
    BoundConfig,
    CumulativeInput,
    cumulative_input,
    cumulative_split,
    format_bound,
    measurement_name,
    reference_cnn,
    train_reference,
)
from bench.cli import main
from bench.data.encoding import NEVER, LatencyCoded, encode
from bench.core.task_contract import Split
from test_mnist_tasks import packaged_subset

N = NEVER
HAND_STEPS = torch.tensor([[0, 1, 2, N], [3, 0, N, 1]], dtype=torch.uint8)
"""Two examples, four pixels, T = 4: 0-based spike steps, NEVER for a pixel that never spikes."""


# ----------------------------------------------------------------------------- the cumulative input


@pytest.mark.parametrize("t, expected", [
    (1, [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]),
    (2, [[1.0, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.5]]),
    (3, [[1.0, 2 / 3, 1 / 3, 0.0], [0.0, 1.0, 0.0, 2 / 3]]),
    (4, [[1.0, 0.75, 0.5, 0.0], [0.25, 1.0, 0.0, 0.75]]),
])
def test_cumulative_input_values_on_hand_built_steps(t, expected):
    got = cumulative_input(HAND_STEPS, t, n_steps=4)
    assert got.dtype == torch.float32 and got.shape == (2, 4)
    torch.testing.assert_close(got, torch.tensor(expected))


def random_steps(n_steps: int = 20, seed: int = 0) -> torch.Tensor:
    """``(64, 50)`` uint8 spike steps in [0, n_steps) or NEVER (about a quarter never spike)."""
    generator = np.random.default_rng(seed)
    steps = generator.integers(0, n_steps, size=(64, 50))
    steps[generator.random(steps.shape) < 0.25] = NEVER
    return torch.from_numpy(steps.astype(np.uint8))


def test_cumulative_input_is_zero_until_a_pixel_spikes_and_then_grows_with_t():
    steps = random_steps()
    previous = torch.zeros(steps.shape)
    for t in range(1, 21):
        current = cumulative_input(steps, t, 20)
        assert torch.equal(current > 0, steps.long() < t)
        assert (current >= previous).all()
        moved = (steps.long() < t) & ((steps > 0) | (t == 1))  # they rise toward 1; first-step ones stay at 1
        assert torch.equal(current > previous, moved)
        previous = current
    assert torch.equal(previous == 0, steps == NEVER)


@pytest.mark.parametrize("t", [0, 5, -1, True, 2.0])
def test_cumulative_input_rejects_a_step_count_outside_the_code(t):
    with pytest.raises(ValueError, match=r"^t must be an integer in \[1, 4\] \(the steps of the code\), got "):
        cumulative_input(HAND_STEPS, t, n_steps=4)


@pytest.mark.parametrize("encoding", ["authors", "normalized"])
def test_first_step_input_is_the_binary_map_and_the_last_is_lossless(encoding):
    images = np.random.default_rng(3).integers(0, 256, size=(40, 784), dtype=np.uint8)
    coded = LatencyCoded(torch.from_numpy(encode(images, encoding, 20)), 20)
    dense = coded[0:len(coded)]
    first = cumulative_input(coded.steps, 1, 20)
    assert torch.equal(first, dense[:, 0, :])  # 1.0 exactly where a pixel spikes at step 1, else 0.0
    last = cumulative_input(coded.steps, 20, 20)
    recovered = torch.where(last > 0, (20 - 20 * last).round(), torch.full_like(last, NEVER)).to(torch.uint8)
    assert torch.equal(recovered, coded.steps)
    weights = (20 - torch.arange(20, dtype=torch.float32)) / 20
    torch.testing.assert_close(last, (dense * weights[:, None]).sum(dim=1))


def test_cumulative_split_is_a_one_step_view_of_a_latency_coded_split():
    split = Split(LatencyCoded(HAND_STEPS, 4), torch.tensor([0, 1]))
    view = cumulative_split(split, 2)
    assert isinstance(view.x, CumulativeInput) and view.x.shape == (2, 1, 4) and len(view.x) == 2
    torch.testing.assert_close(view.x[torch.tensor([1])], torch.tensor([[[0.0, 1.0, 0.0, 0.5]]]))
    with pytest.raises(ValueError, match=r"got 5$"):
        cumulative_split(split, 5)
    with pytest.raises(ValueError, match="needs a rank-order coded image task"):
        cumulative_split(Split(torch.zeros(2, 4, 4), torch.tensor([0, 1])), 1)


# ----------------------------------------------------------------------------- the reference classifier


def separable_split(n: int, seed: int) -> Split:
    """Four Gaussian clusters in 20 features (centres 3 apart), as one-step sequences ``(n, 1, 20)``."""
    generator = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.eye(4, 20)
    y = torch.randint(0, 4, (n,), generator=generator)
    x = centres[y] + 0.5 * torch.randn(n, 20, generator=generator)
    return Split(x.unsqueeze(1), y)


def test_reference_classifier_learns_a_separable_problem():
    lines: list[str] = []
    config = BoundConfig(hidden=32, epochs=3, batch_size=32, lr=3e-3, seed=1)
    row = train_reference(separable_split(512, 0), separable_split(128, 1), separable_split(256, 2), 4, config,
                          torch.device("cpu"), lines.append, t=7)
    assert row.test_accuracy > 0.9 and row.val_accuracy > 0.9  # chance is 0.25
    assert row.t == 7 and row.epochs == 3 and 1 <= row.selected_epoch <= 3 and row.train_seconds > 0
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 ") and "steps 7.00" in lines[0]
    again = train_reference(separable_split(512, 0), separable_split(128, 1), separable_split(256, 2), 4, config,
                            torch.device("cpu"), lines.append, t=7)
    assert (again.test_accuracy, again.val_accuracy, again.selected_epoch) == (
        row.test_accuracy, row.val_accuracy, row.selected_epoch)


@pytest.mark.parametrize("values, message", [
    ({"hidden": 0}, r"^hidden must be an integer >= 1, got 0$"),
    ({"epochs": 1.5}, r"^epochs must be an integer >= 1, got 1.5$"),
    ({"lr": 0.0}, r"^lr must be > 0, got 0.0$"),
    ({"reference": "resnet"}, r"^unknown reference classifier 'resnet'; known: mlp, cnn$"),
])
def test_bound_config_errors(values, message):
    with pytest.raises(ValueError, match=message):
        BoundConfig(**values)


def test_cnn_reference_reads_square_images_and_refuses_others():
    model = reference_cnn(784, 10, 32)
    assert model(torch.zeros(3, 1, 784)).shape == (3, 10)
    assert sum(isinstance(layer, torch.nn.Conv2d) for layer in model) == 2
    with pytest.raises(ValueError, match="square images of side >= 16, got 20 features"):
        reference_cnn(20, 4, 8)


def test_measurement_names():
    assert measurement_name("mnist-temporal", "normalized", "cnn") == "bound-cnn-normalized"
    assert measurement_name("mnist-temporal", "authors") == "bound-authors"
    assert measurement_name("fmnist-temporal", "normalized") == "bound-fmnist-temporal-normalized"


# ----------------------------------------------------------------------------- the command


TINY = ["--n-train", "30", "--n-val", "10", "--n-test", "20", "--epochs", "2", "--hidden", "16", "--steps", "1,20",
        "--threads", "1", "--device", "cpu"]


@pytest.mark.parametrize("encoding,reference", [("authors", "mlp"), ("normalized", "mlp"), ("normalized", "cnn")])
def test_bound_command_writes_the_table_with_provenance(tmp_path, monkeypatch, capsys, encoding, reference):
    from bench.tasks.mnist_temporal import MnistTemporal

    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(60)))
    out = tmp_path / "out"
    argv = ["bound", "--data-dir", str(tmp_path / "empty"), "--encoding", encoding, "--out", str(out),
            "--reference", reference, *TINY]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "FALLBACK" in captured.err and "t=1: epoch 1/2 " in captured.err and "t=20: test accuracy" in captured.err
    name = measurement_name("mnist-temporal", encoding, reference)
    payload = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    assert payload["settings"]["reference"] == reference
    assert [row["t"] for row in payload["rows"]] == [1, 20]
    assert payload["settings"]["encoding"] == encoding and payload["settings"]["hidden"] == 16
    assert (payload["settings"]["n_train"], payload["settings"]["n_val"], payload["settings"]["n_test"]) == (30, 10, 20)
    assert payload["settings"]["data_source"].startswith("FALLBACK")
    assert {"versions", "hardware", "git_revision", "command", "created"} <= set(payload)
    for row in payload["rows"]:
        assert 0 <= row["test_accuracy"] <= 1 and row["epochs"] == 2
    markdown = (out / f"{name}.md").read_text(encoding="utf-8")
    assert f"encoding '{encoding}'" in markdown and "(t - i)/t" in markdown
    table = captured.out.split("written to")[0].rstrip()
    assert table.splitlines()[0] == format_bound([]) and table in markdown


def test_bound_command_rejects_a_step_past_the_code(tmp_path, monkeypatch, capsys):
    from bench.tasks.mnist_temporal import MnistTemporal

    monkeypatch.setattr(MnistTemporal, "fallback_images", staticmethod(packaged_subset(60)))
    argv = ["bound", "--data-dir", str(tmp_path / "empty"), *TINY[:-6], "--steps", "1,21", "--device", "cpu"]
    assert main(argv) == 2
    assert "rcbench: error: t must be an integer in [1, 20]" in capsys.readouterr().err
