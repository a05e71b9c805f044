"""Backend introspection, as torch.backends. This build runs on the CPU: the GPU backends answer that they
are neither built nor available, and their switches (cudnn.benchmark, cuda.matmul.allow_tf32, ...) can be
set, as programs do before training, without effect."""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp  # noqa: F401
