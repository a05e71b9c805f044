"""torch.backends.cuda: not built into this CPU build."""
from types import SimpleNamespace

# Switches programs set for speed on NVIDIA GPUs; stored, without effect here.
matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                         allow_bf16_reduced_precision_reduction=True)


def is_built():
    return False
