"""Measurements of trained contenders: metrics, operation counts, latency, training-step speed, information bounds."""
