"""Contenders: each module registers one with :func:`register_contender`."""

# importing each module registers its contender
from baselines import lstm_allsteps, lstm_eos, rc_lstm, snn_conv, snn_recurrent, snn_ttfs  # noqa: F401
from baselines.registry import CONTENDERS, Contender, TrainingReport, get_contender, register_contender

__all__ = ["CONTENDERS", "Contender", "TrainingReport", "get_contender", "register_contender"]
