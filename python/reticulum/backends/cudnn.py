"""torch.backends.cudnn: not available in this CPU build. Programs set these flags before training; they are
kept, without effect."""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    return False


def version():
    return None
