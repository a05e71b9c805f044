"""torch.set_default_device / get_default_device: the CPU is the only device of this build."""
from ._C import device


def set_default_device(dev):
    """Accepts the CPU (or None); any other device is refused, since tensors could not be made there."""
    d = device("cpu") if dev is None else dev if isinstance(dev, device) else device(str(dev))
    if d.type != "cpu":
        raise RuntimeError(f"set_default_device(): device {d} is not available in this build (CPU only)")


def get_default_device():
    return device("cpu")
