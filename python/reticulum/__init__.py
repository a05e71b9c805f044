"""reticulum: a deep-learning framework with a C++17/Eigen core and a PyTorch-style API."""
from . import _C
from ._C import Tensor, dtype, device, from_numpy, manual_seed, set_num_threads, get_num_threads
from ._C import is_grad_enabled, cat, stack, matmul, bmm, maximum, minimum, empty_cache, cached_bytes
from ._grad_mode import no_grad, enable_grad, set_grad_enabled, inference_mode
from . import _tensor  # adds the Python-side Tensor methods
from ._tensor_types import FloatTensor, DoubleTensor, LongTensor, BoolTensor
from ._tensor_ops import mm, add, sub, mul, norm, normal, split, chunk, flip, prod, tril, triu
from ._einsum import einsum
from ._index_ops import gather, scatter, scatter_add, sort, argsort, topk, cumsum, floor_divide, div
from ._tensor import Size
from ._creation import (tensor, as_tensor, zeros, ones, full, empty, arange, linspace, eye, rand, randn, randint,
                        zeros_like, ones_like, full_like, empty_like, rand_like, randn_like)
from ._functions import (abs, exp, log, sqrt, neg, sin, cos, log1p, erf, sign, relu, sigmoid, tanh, clamp, pow, square, sum, mean, var, std,
                         max, min, argmax, argmin, softmax, log_softmax, reshape, transpose, permute, flatten, squeeze,
                         unsqueeze, where, index_select, numel, allclose, heaviside, leaky_relu)
from ._out import accepts_out as _accepts_out
from .serialization import save, load, CheckpointError
from .autograd.anomaly_mode import is_anomaly_enabled
from . import accelerator, autograd, backends, cuda, nn, optim, safetensors
from ._device import set_default_device, get_default_device

# torch's out= keyword on the functions programs call with it
(add, sub, mul, div, floor_divide, matmul, mm, bmm, cat, stack, pow, clamp, where, abs, neg, exp, log, log1p, sqrt, sin, cos,  # noqa: A001
 erf, tanh, sigmoid, cumsum, gather) = map(_accepts_out, (add, sub, mul, div, floor_divide, matmul, mm, bmm, cat, stack, pow,
                                                        clamp, where, abs, neg, exp, log, log1p, sqrt, sin, cos, erf, tanh,
                                                        sigmoid, cumsum, gather))
divide = div

float32 = dtype.float32
float64 = dtype.float64
int64 = dtype.int64
bool = dtype.bool  # noqa: A001  (torch.bool)
float = float32  # noqa: A001
double = float64
long = int64

__version__ = "0.1.0"

_LAZY = ("utils", "vision", "train", "models", "experiments", "distributed")


def __getattr__(name):
    """Loads the heavier submodules (data, vision, training, experiments, distributed) on first use, keeping `import reticulum` fast."""
    if name in _LAZY:
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'reticulum' has no attribute '{name}'")
