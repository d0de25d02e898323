"""Contenders: each module registers one with :func:`register_contender`."""

from baselines import lstm_allsteps, lstm_eos, rc_lstm, snn_ttfs  # noqa: F401  (registers the built-in contenders)
from baselines.registry import CONTENDERS, Contender, TrainingReport, get_contender, register_contender

__all__ = ["CONTENDERS", "Contender", "TrainingReport", "get_contender", "register_contender"]
