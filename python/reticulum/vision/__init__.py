"""Vision data: transforms (torchvision-style, batch-aware), datasets (MNIST, FashionMNIST,
the built-in 8x8 Digits), synthetic toy problems, and utils (make_grid, save_image)."""
from . import datasets, synthetic, transforms, utils

__all__ = ["datasets", "synthetic", "transforms", "utils"]
