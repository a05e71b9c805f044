"""CUDA availability. This build runs on the CPU; the CUDA backend is a build option."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    """Ignored, as in PyTorch when no GPU is present (seed the CPU generator with reticulum.manual_seed)."""


def manual_seed_all(seed):
    """Ignored, as in PyTorch when no GPU is present."""
