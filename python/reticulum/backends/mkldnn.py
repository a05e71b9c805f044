"""torch.backends.mkldnn: reticulum's CPU kernels are its own, not oneDNN's."""
enabled = True


def is_available():
    return False
