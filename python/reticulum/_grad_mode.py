"""Grad-mode context managers (also usable as decorators), as in torch."""
import functools

from . import _C


class _GradMode:
    _enabled = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is not None and callable(fn):  # bare decorator: @rt.no_grad
            return self(fn)
        return self

    def __init__(self, fn=None):
        pass

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C.set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _C.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Disables graph recording inside the block: results have requires_grad=False."""
    _enabled = False


class enable_grad(_GradMode):
    """Re-enables graph recording inside a no_grad block."""
    _enabled = True


class set_grad_enabled(_GradMode):
    """set_grad_enabled(mode): sets grad mode now; as a context manager, restores it on exit."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        self._prev = _C.is_grad_enabled()
        self._enabled = builtins_bool(mode)
        _C.set_grad_enabled(self._enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C.set_grad_enabled(self._prev)
        return False


builtins_bool = bool


class inference_mode(_GradMode):
    """inference_mode(mode=True): as no_grad here (reticulum has no separate inference tensors); with mode=False
    it leaves the grad mode as it is, as torch does. A context manager and a decorator, bare or called."""

    def __new__(cls, mode=True):
        self = object.__new__(cls)
        if callable(mode):  # bare decorator: @rt.inference_mode
            self._mode = True
            return self(mode)
        return self

    def __init__(self, mode=True):
        if not callable(mode):
            self._mode = builtins_bool(mode)

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        if self._mode:
            _C.set_grad_enabled(False)
        return self

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper
