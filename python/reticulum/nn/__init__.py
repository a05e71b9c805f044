"""Neural-network building blocks, as torch.nn: Module and the layers, Parameter, functional, init, utils."""
from . import functional
from . import init
from . import parallel
from .parameter import Parameter
from .modules import *  # noqa: F403
from .modules import __all__ as _modules_all
from . import utils

__all__ = ["Parameter", "functional", "init", "parallel", "utils"] + list(_modules_all)
