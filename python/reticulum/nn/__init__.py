"""Neural-network building blocks, as torch.nn: Module and the layers, Parameter, functional, init."""
import importlib.util as _importlib_util

from . import functional  # noqa: F401
from . import init  # noqa: F401
from . import parallel  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all

__all__ = ["Parameter", "functional", "init", "parallel"] + list(_modules_all)

# nn.utils (clip_grad_norm_, ...) is maintained separately; expose it as torch.nn does once it exists.
if _importlib_util.find_spec(__name__ + ".utils") is not None:
    from . import utils  # noqa: F401,E402
    __all__.append("utils")
