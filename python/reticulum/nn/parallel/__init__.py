"""Data parallelism over processes, as torch.nn.parallel: DistributedDataParallel."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
