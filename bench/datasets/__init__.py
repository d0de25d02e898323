"""Readers and fetchers of real data sets, and where their files live."""
