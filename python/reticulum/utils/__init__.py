"""Utilities with torch.utils' names: `reticulum.utils.data` holds datasets and the DataLoader."""
from . import data
from .data import (ConcatDataset, DataLoader, Dataset, DistributedSampler, Sampler, Subset, TensorDataset,
                   default_collate, random_split)

__all__ = ["data", "Dataset", "TensorDataset", "Subset", "ConcatDataset", "DataLoader", "default_collate", "random_split",
           "Sampler", "DistributedSampler"]
