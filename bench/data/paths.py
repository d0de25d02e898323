"""The data folder: where real data sets are read from (and fetched into).

Resolution order: an explicit ``--data-dir``, then the ``RCBENCH_DATA_DIR``
environment variable, then a per-user cache folder
(``$XDG_CACHE_HOME/rcbench/data``, by default ``~/.cache/rcbench/data``).
Each data set has its own subfolder in the official layout (``mnist/``,
``fsdd/recordings/``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "RCBENCH_DATA_DIR"


def default_data_dir() -> Path:
    """``$RCBENCH_DATA_DIR`` if set, else the per-user cache folder."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rcbench" / "data"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder to use: ``explicit`` if given, else :func:`default_data_dir`."""
    return Path(explicit).expanduser() if explicit else default_data_dir()
