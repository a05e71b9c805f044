"""The layers of reticulum.nn, one file per family as torch/nn/modules.

Default parameter initialisation is PyTorch's (same distributions as the torch layer):

* Linear, Conv1d/2d/3d: ``weight`` ~ ``init.kaiming_uniform_(a=sqrt(5))``, which is
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)); ``bias`` ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in is
  in_features for Linear and in_channels / groups * prod(kernel_size) for convolutions.
* BatchNorm1d/2d: ``weight`` = 1, ``bias`` = 0, ``running_mean`` = 0, ``running_var`` = 1,
  ``num_batches_tracked`` = 0 (int64).

Random draws use the global generator: call ``reticulum.manual_seed(s)`` before building a model to make
its initial weights reproducible (they differ from torch's for the same seed: the generators differ).
"""
from .module import Module
from .linear import Identity, Linear
from .conv import Conv1d, Conv2d, Conv3d
from .pooling import MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d
from .batchnorm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout, Dropout2d
from .activation import *  # noqa: F403 (activation.__all__: a new activation is added in its file alone)
from .activation import __all__ as _activation_all
from .flatten import Flatten, Unflatten
from .container import Sequential, ModuleList, ModuleDict
from .loss import L1Loss, MSELoss, BCELoss, BCEWithLogitsLoss, NLLLoss, CrossEntropyLoss, SmoothL1Loss, HuberLoss
from .normalization import LayerNorm
from .sparse import Embedding
from .upsampling import Upsample

__all__ = [
    "Module", "Identity", "Linear", "Conv1d", "Conv2d", "Conv3d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Dropout2d", "Flatten", "Unflatten", "Sequential", "ModuleList", "ModuleDict", "L1Loss",
    "MSELoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss", "SmoothL1Loss", "HuberLoss", "LayerNorm",
    "Embedding", "Upsample", *_activation_all,
]
