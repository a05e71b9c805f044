"""Ready-made image classifiers: mlp, lenet (LeNet-5) and cnn_bn (conv-BN-ReLU blocks).

Each factory takes ``in_channels``, ``image_size`` (int or (H, W)) and ``num_classes`` and returns an
``nn.Sequential`` expecting inputs of shape (N, in_channels, H, W) and producing (N, num_classes) logits.
``get_model(name, **kwargs)`` builds one by name ("mlp", "lenet", "cnn-bn").
"""
from . import nn

__all__ = ["mlp", "lenet", "cnn_bn", "get_model", "MODELS"]


def _hw(image_size):
    if isinstance(image_size, int):
        h = w = image_size
    else:
        try:
            h, w = (int(s) for s in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return h, w


def _check(in_channels, num_classes):
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")


def mlp(in_channels=1, image_size=28, num_classes=10, hidden=(512, 256), dropout=0.0, in_features=None):
    """Flatten - [Linear - ReLU (- Dropout)] per hidden size - Linear: 784-512-256-10 for 28x28 MNIST.

    `in_features` overrides in_channels * H * W (for non-image inputs of shape (N, in_features)).
    """
    _check(in_channels, num_classes)
    if in_features is None:
        h, w = _hw(image_size)
        in_features = in_channels * h * w
    layers, width = [nn.Flatten()], in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def lenet(in_channels=1, image_size=28, num_classes=10):
    """LeNet-5 with ReLU and max pooling: conv(c->6, 5, pad 2) - ReLU - maxpool 2 - conv(6->16, 5) - ReLU -
    maxpool 2 - fc 16*s*s->120 - ReLU - fc 120->84 - ReLU - fc 84->num_classes (s = 5 for 28x28).

    Small images (under 12 pixels a side, e.g. the 8x8 digits) give the second convolution padding 2 as
    well, so the feature map survives both poolings (8x8 -> 16x2x2 features).
    """
    _check(in_channels, num_classes)
    h, w = _hw(image_size)
    h1, w1 = h // 2, w // 2
    pad2 = 0 if min(h1, w1) - 4 >= 2 else 2
    h2, w2 = (h1 + 2 * pad2 - 4) // 2, (w1 + 2 * pad2 - 4) // 2
    if h1 < 1 or w1 < 1 or h2 < 1 or w2 < 1:
        raise ValueError(f"lenet: image_size {image_size!r} is too small (need at least 2x2)")
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=pad2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * h2 * w2, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def cnn_bn(in_channels=1, image_size=28, num_classes=10, channels=(32, 64), blocks_per_stage=1, hidden=None,
           dropout=0.0):
    """Stages of `blocks_per_stage` x [conv3x3 (pad 1) - BatchNorm2d - ReLU], each stage followed by a 2x2
    max pool (skipped once the map is 1 pixel), then Flatten - [Linear(hidden) - ReLU] - (Dropout) - Linear.

    Defaults: 28x28 -> 32x14x14 -> 64x7x7 -> 10; 8x8 -> 32x4x4 -> 64x2x2 -> 10.
    """
    _check(in_channels, num_classes)
    if not channels:
        raise ValueError("cnn_bn: channels must name at least one stage")
    h, w = _hw(image_size)
    layers, c = [], in_channels
    for out in channels:
        for _ in range(blocks_per_stage):
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
    layers.append(nn.Flatten())
    width = c * h * w
    if hidden:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


MODELS = {"mlp": mlp, "lenet": lenet, "cnn-bn": cnn_bn}


def get_model(name, **kwargs):
    """Builds the model called `name` ("mlp", "lenet", "cnn-bn"; "_" and "-" are interchangeable)."""
    key = str(name).lower().replace("_", "-")
    if key not in MODELS:
        raise ValueError(f"unknown model '{name}' (available: {', '.join(MODELS)})")
    return MODELS[key](**kwargs)
