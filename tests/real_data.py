"""Where the tests that read real data sets find them.

The data folder, as ``rcbench`` itself chooses it, with the shared folder as a last resort:
``pytest --data-dir DIR`` (the option, see ``conftest.py``), else ``$RCBENCH_DATA_DIR``, else
``shared/data`` beside the checkout. A data set is read from the first of these that holds it;
a test whose data set none of them holds is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

option_data_dir: str | None = None
"""The ``--data-dir`` option's value; ``conftest.py`` sets it before the test modules are collected."""


def data_folders() -> list[Path]:
    """The folders to look in, in order: ``--data-dir``, ``$RCBENCH_DATA_DIR``, the shared folder."""
    candidates = (option_data_dir, os.environ.get("RCBENCH_DATA_DIR"), SHARED)
    return [Path(candidate).expanduser() for candidate in candidates if candidate]


def data_folder_with(relative: str) -> Path | None:
    """The first folder of :func:`data_folders` that holds ``relative`` (a data set's subfolder), or None."""
    for folder in data_folders():
        if (folder / relative).exists():
            return folder
    return None


def where_to_put(relative: str) -> str:
    """A skip reason: which data set is missing and where it was looked for."""
    return f"{relative} not found in {', '.join(str(folder) for folder in data_folders())} (set --data-dir or RCBENCH_DATA_DIR)"
