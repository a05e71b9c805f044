"""Neural-network building blocks, as torch.nn: Module and the layers, Parameter, functional, init, utils."""
from . import functional
from . import init
from .parameter import Parameter
from .modules import *  # noqa: F403
from .modules import __all__ as _modules_all
from . import utils

__all__ = ["Parameter", "functional", "init", "parallel", "utils"] + list(_modules_all)  # noqa: F405 (parallel: __getattr__)


def __getattr__(name):
    """nn.parallel (DistributedDataParallel) loads on first use: it brings NumPy and MPI's Python side,
    which would triple the time of `import reticulum` (0.05 s -> 0.14 s)."""
    if name == "parallel":
        import importlib
        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
