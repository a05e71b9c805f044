"""torch.accelerator: this build has no accelerator (the CPU is not one, as in PyTorch)."""


def is_available():
    return False


def current_accelerator(check_available=False):
    return None


def device_count():
    return 0
