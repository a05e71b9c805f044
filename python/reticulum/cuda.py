"""rt.cuda: the CUDA devices, as torch.cuda.

The CUDA backend is a build option (``pip install . -C cmake.define.RETICULUM_CUDA=ON``). Without it,
as in a CPU-only PyTorch, ``is_available()`` is False, ``device_count()`` is 0 and ``manual_seed`` does
nothing; ``synchronize()`` and putting a tensor on "cuda" raise RuntimeError saying the build has no CUDA.
"""
from . import _C

_native = getattr(_C, "_cuda", None)  # the CUDA build's functions (cpp/bindings/cuda.cpp)
NOT_BUILT = "reticulum was built without CUDA (rebuild with -C cmake.define.RETICULUM_CUDA=ON)"


def is_built():
    """True when this build has the CUDA backend (whether or not a GPU is present)."""
    return _native is not None


def is_available():
    """True when this build has the CUDA backend and the driver reports at least one GPU."""
    return device_count() > 0


def device_count():
    return _native.device_count() if _native is not None else 0


def _index(device, name):
    """The CUDA device index that `device` (None, an int, "cuda", "cuda:1" or an rt.device) names."""
    if device is None:
        return 0
    if isinstance(device, int) and not isinstance(device, bool):
        index = device
    else:
        d = device if isinstance(device, _C.device) else _C.device(str(device))
        if d.type != "cuda":
            raise ValueError(f"cuda.{name}: expected a CUDA device, got {d}")
        index = d.index
    if not 0 <= index < device_count():
        raise RuntimeError(f"cuda.{name}: device cuda:{index} is not available ({device_count()} CUDA device(s) present)")
    return index


def synchronize(device=None):
    """Waits until every kernel queued on the device has finished."""
    if _native is None:
        raise RuntimeError(f"cuda.synchronize: {NOT_BUILT}")
    _native.synchronize(_index(device, "synchronize"))


def manual_seed(seed):
    """Seeds the CUDA generator only (rt.manual_seed seeds it too); does nothing without CUDA, as torch."""
    if _native is not None:
        _native.manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


manual_seed_all = manual_seed  # one generator serves every device


def empty_cache():
    """Gives the blocks the CUDA caching allocator holds back to the driver."""
    if _native is not None:
        _native.empty_cache()
