"""torch.backends.mps (Apple GPUs): not built into this build."""


def is_available():
    return False


def is_built():
    return False
