"""Crash-isolated fuzzing of the public API against torch as the oracle (see tests/test_fuzz.py)."""
