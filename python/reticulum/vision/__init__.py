"""Vision data: transforms (torchvision-style, batch-aware), datasets (MNIST, FashionMNIST,
the built-in 8x8 Digits) and synthetic toy problems."""
from . import datasets, synthetic, transforms  # noqa: F401

__all__ = ["datasets", "synthetic", "transforms"]
