"""The benchmark harness: tasks, metrics, records, profiles and the command line."""

__version__ = "0.1.0"
