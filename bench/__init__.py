"""The benchmark harness: tasks, metrics, records, profiles and the command line."""

from importlib import metadata

DISTRIBUTION = "rank-coding-bench"
"""This project's distribution name (``pip install``); the command is ``rcbench``. PyPI's ``rcbench``
is another project."""


def package_version() -> str:
    """The installed distribution's version, or ``unknown`` when run from a source tree without it."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
