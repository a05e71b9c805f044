"""Anomaly detection, as torch.autograd.detect_anomaly: while it is on, every recorded op
keeps the Python stack of its forward call, and backward stops at the first op whose
gradient holds a NaN or an infinity, naming that op and quoting where it was called.

Unlike PyTorch, which checks for NaN only, infinities are flagged too: an infinite
gradient turns into NaN parameters one optimizer step later."""
import functools
import warnings

from .. import _C


def is_anomaly_enabled():
    """True while anomaly detection is on (process-wide, as in PyTorch)."""
    return _C._is_anomaly_enabled()


class set_detect_anomaly:
    """set_detect_anomaly(mode): turns anomaly detection on or off now; as a context
    manager, restores the previous setting on exit."""

    def __init__(self, mode):
        self._prev = _C._is_anomaly_enabled()
        _C._set_anomaly_enabled(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_anomaly_enabled(self._prev)
        return False


class detect_anomaly:
    """Context manager (or decorator) that turns anomaly detection on inside its block.
    It slows every op down (a Python stack is recorded per op): use it to debug."""

    def __init__(self, check_nan=True):
        self._check = bool(check_nan)

    def __enter__(self):
        warnings.warn("Anomaly detection is on: every op records its Python stack, which is slow; "
                      "use it only to debug", stacklevel=2)
        self._prev = _C._is_anomaly_enabled()
        _C._set_anomaly_enabled(self._check)
        return self

    def __exit__(self, *exc):
        _C._set_anomaly_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self._check):
                return fn(*args, **kwargs)
        return wrapper
