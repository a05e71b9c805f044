"""CUDA availability. This build runs on the CPU; the CUDA backend is a build option."""


def is_available():
    return False


def device_count():
    return 0
