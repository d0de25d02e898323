"""The shared contracts below every other layer: options, the task contract, records, provenance, statistics.

Nothing here imports another part of ``bench`` or ``baselines``.
"""
