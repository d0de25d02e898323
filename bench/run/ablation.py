"""The ablation sequence: profiles that go from one configuration to another one change at a time.

An ablation step is a profile named ``ablation-NN-<change>`` (NN: its place in the sequence,
two digits or more; ``<change>``: a slug naming the ingredient it changes). Each step but the
first ``extends`` the one before it and changes one ingredient, with a comment saying what and
why; its ``description`` says the change in a line, which the report prints beside its row
(:mod:`bench.analysis.ablation`). The records of a step carry the profile's name (their
``profile`` field), so the report finds the steps, and their order, from the records alone.

The built-in sequence, in :data:`ABLATION_DIR` (``bench/run/profiles/ablation/``), goes from
the authors' MNIST notebook (``ablation-00-faithful``: the ``rc-lstm`` of ``authors-faithful``)
to the ``paper`` profile's ``rc-lstm`` on ``mnist-temporal`` (docs/authors-recipe.md). Its
files are not built-in profiles (``rcbench list`` does not name them): a run takes one by its
path, ``rcbench run --profile bench/run/profiles/ablation/ablation-01-epochs.toml``
(``results/ablation/run.sh`` runs them all).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NamedTuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ABLATION_DIR = Path(__file__).resolve().parent / "profiles" / "ablation"
"""The built-in ablation sequence: ``ablation-NN-<change>.toml`` files, one per step."""

STEP_NAME = re.compile(r"^ablation-(?P<step>[0-9]{2,})-(?P<change>[a-z0-9]+(?:-[a-z0-9]+)*)$")
"""A step's profile name: ``ablation-``, its step number, ``-``, the slug of its change."""


class AblationStep(NamedTuple):
    """What a step's profile name says: its place in the sequence and the slug of its change."""

    step: int
    change: str


def ablation_step(profile_name: str) -> AblationStep | None:
    """The step a profile name stands for (``ablation-03-loss`` -> step 3, ``loss``); None for a
    profile that is not an ablation step."""
    match = STEP_NAME.match(profile_name)
    if match is None:
        return None
    return AblationStep(int(match["step"]), match["change"])


def step_files(folder: Path | None = None) -> list[Path]:
    """The step profiles in ``folder`` (default: :data:`ABLATION_DIR`; files named as
    :data:`STEP_NAME` says), in step order.

    Raises:
        ValueError: two files claim the same step.
    """
    folder = ABLATION_DIR if folder is None else folder
    steps: dict[int, Path] = {}
    for path in sorted(folder.glob("ablation-*.toml")):
        step = ablation_step(path.stem)
        if step is None:
            continue
        if step.step in steps:
            raise ValueError(f"ablation step {step.step} twice in {folder}: {steps[step.step].name} and {path.name}")
        steps[step.step] = path
    return [steps[number] for number in sorted(steps)]


def step_descriptions(folder: Path | None = None) -> dict[str, str]:
    """Profile name -> description of every step profile in ``folder`` (default: :data:`ABLATION_DIR`;
    its own ``name`` and ``description`` keys, which an ``extends`` never passes on); nothing when
    the folder is missing."""
    folder = ABLATION_DIR if folder is None else folder
    descriptions = {}
    if not folder.is_dir():
        return descriptions
    for path in step_files(folder):
        with path.open("rb") as file:
            table = tomllib.load(file)
        descriptions[str(table.get("name", path.stem))] = str(table.get("description", ""))
    return descriptions
