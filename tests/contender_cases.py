"""Tiny problems and contenders for the registry-driven contender tests.

Every registered contender (:data:`baselines.registry.CONTENDERS`) is built here on a
few examples of a few steps, small enough that a test can call its objective, fit it
for one epoch or decide in milliseconds.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch
from torch import Tensor

import baselines  # noqa: F401  (registers the built-in contenders)
from baselines.registry import CONTENDERS, Contender
from bench.core.task_contract import Split, TaskSpec
from rc.crossing import CrossingRule, make_rule

CPU = torch.device("cpu")
STEPS, FEATURES, CLASSES = 5, 4, 3

SPEC = TaskSpec("tiny", STEPS, FEATURES, CLASSES, "sigmoid")
"""Three classes, read out with the sigmoid rule (one output per class)."""
BINARY_SPEC = TaskSpec("tiny-binary", STEPS, FEATURES, 2, "two-sided")
"""Two classes, read out with the two-sided rule (one output unit for LSTMs)."""

TINY = {"hidden": 6, "epochs": 1, "batch_size": 64, "eval_batch_size": 64}
"""Small settings, applied to the contender's ``Config`` fields that have these names."""

REGISTERED = sorted(CONTENDERS)
"""The contenders registered when the tests are collected (built-ins and installed plug-ins)."""


def noop(_line: str) -> None:
    pass


def labelled_problem(kind: str, n: int = 12, classes: int = CLASSES, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(x, y)``: ``n`` sequences ``(n, STEPS, FEATURES)`` of noise with the label's one-hot code added.

    ``kind`` ``last-step``: only the last step carries the label (every earlier step is noise);
    ``every-step``: every step carries it. Every row of every step is distinct, so a row tells
    which example it came from.
    """
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=generator)]
    x = 0.5 * torch.randn(n, STEPS, FEATURES, generator=generator)
    code = torch.nn.functional.one_hot(y, FEATURES).float() * 2.0
    if kind == "last-step":
        x[:, -1] += code
    elif kind == "every-step":
        x += code[:, None, :]
    else:
        raise ValueError(kind)
    return x, y


def config_values(cls: type[Contender], **values: Any) -> dict[str, Any]:
    """:data:`TINY` (where ``cls.Config`` has the field) updated by ``values``."""
    names = {f.name for f in fields(cls.Config)}
    return {**{k: v for k, v in TINY.items() if k in names}, **values}


def build(name: str, spec: TaskSpec = SPEC, seed: int = 0, rule: CrossingRule | None = None, **values: Any) -> Contender:
    """The registered contender ``name`` on ``spec`` with tiny settings and ``values``."""
    cls = CONTENDERS[name]
    config = cls.make_config(config_values(cls, **values), f"test contender {name}")
    if rule is None:
        rule = make_rule(spec.default_rule, 0.9)
    return cls(spec, rule, config, CPU, seed)


def modules_of(contender: Contender) -> list[torch.nn.Module]:
    """The ``nn.Module`` attributes of a contender (its networks)."""
    return [value for value in vars(contender).values() if isinstance(value, torch.nn.Module)]


def calibrated_rule(contender: Contender, x: Tensor, quantile: float = 0.8) -> CrossingRule:
    """The contender's own rule, or its spec's default rule with theta between two of the
    full-pass confidences near ``quantile``: some examples cross early, some late, some never,
    and no confidence lies on theta (so that float rounding cannot move a crossing)."""
    own = type(contender).own_rule()
    if own is not None:
        return own
    with torch.no_grad():
        scores = contender.step_scores(x)
    probabilities = torch.sigmoid(scores)
    if scores.shape[-1] == 1:
        confidence = torch.maximum(probabilities, 1 - probabilities)[..., 0]
    else:
        confidence = probabilities.amax(dim=-1)
    ordered = confidence.flatten().sort().values
    k = int(quantile * (len(ordered) - 1))
    theta = float((ordered[k] + ordered[k + 1]) / 2)
    return make_rule(contender.spec.default_rule, theta)


def tiny_splits(spec: TaskSpec = SPEC, n_train: int = 16, n_val: int = 8) -> tuple[Split, Split]:
    x, y = labelled_problem("every-step", n_train + n_val, spec.n_classes, seed=1)
    x = x[..., :spec.n_features] if spec.n_features <= FEATURES else torch.rand(len(y), spec.n_steps, spec.n_features)
    x = x[:, :spec.n_steps]
    return Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:])
