"""The CPU kernel level chosen at import (runtime ISA dispatch), as torch.backends.cpu.

The hot float kernels (SGEMM, stencil and direct convolutions, 2x2 max pooling, and the float32
elementwise, activation, batch-norm and optimizer loops) are compiled
once per instruction-set level; the best one that the CPU and the OS support is used, capped
by the environment variable RETICULUM_CPU_CAPABILITY=default|avx2|avx512.
"""
import warnings

from .. import _C

_warning = _C._init_cpu_capability()  # an unknown name in the variable raises ValueError here
if _warning:
    warnings.warn(_warning, RuntimeWarning, stacklevel=2)


def get_cpu_capability():
    """The active kernel level: "DEFAULT", "AVX2" or "AVX512" (PyTorch's names)."""
    return _C._get_cpu_capability()


def build_info():
    """How the extension was built and which level runs: compiler, flags, the levels compiled in
    (name -> extra target flags), the best level this host supports, and the active one."""
    return _C._cpu_build_info()
