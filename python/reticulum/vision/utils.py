"""Image grids and PNG files, with torchvision.utils' names and semantics: make_grid tiles a
batch into one image, save_image writes it as an 8-bit PNG (no imaging library needed)."""
import os
import struct
import zlib

import numpy as np

from .. import _C
from .._atomic import write_bytes_atomically
from .._C import Tensor

__all__ = ["make_grid", "save_image"]


def _as_batch_array(tensor):
    """float64 NumPy [N, C, H, W] from a tensor [H, W], [C, H, W] or [N, C, H, W] (or a list of [C, H, W])."""
    if isinstance(tensor, (list, tuple)):
        if not tensor or not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError("make_grid: expected a tensor or a non-empty list of tensors")
        shapes = {tuple(t.shape) for t in tensor}
        if len(shapes) != 1:
            raise ValueError(f"make_grid: all images in the list must have the same shape, got {sorted(shapes)}")
        a = np.stack([t.detach().cpu().numpy() for t in tensor])
    elif isinstance(tensor, Tensor):
        a = tensor.detach().cpu().numpy()
    else:
        raise TypeError(f"make_grid: expected a Tensor or a list of Tensors, got {type(tensor).__name__}")
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:  # one image [C, H, W] (a list of [H, W] images too, as torchvision stacks it)
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"make_grid: expected images [H, W], [C, H, W] or [N, C, H, W], got shape {a.shape}")
    if a.shape[1] == 1:  # grayscale is shown as RGB, as in torchvision
        a = np.repeat(a, 3, axis=1)
    return a


def _normalized(a, value_range):
    lo, hi = (float(a.min()), float(a.max())) if value_range is None else map(float, value_range)
    a = np.clip(a, lo, hi)
    return (a - lo) / max(hi - lo, 1e-5)


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Tiles N images [N, C, H, W] into one [C, H', W'] image, `nrow` per row, with `padding`
    pixels of `pad_value` around each. normalize=True maps `value_range` (default: the data's
    min and max, per image with scale_each) to [0, 1]. Single-channel images become RGB."""
    if nrow < 1 or padding < 0:
        raise ValueError(f"make_grid: nrow must be >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    a = _as_batch_array(tensor)
    if normalize:
        a = np.stack([_normalized(x, value_range) for x in a]) if scale_each else _normalized(a, value_range)
    n, c, h, w = a.shape
    if n == 1:
        return _C.from_numpy(np.ascontiguousarray(a[0], dtype=np.float32))
    cols = min(nrow, n)
    rows = -(-n // cols)
    hh, ww = h + padding, w + padding
    grid = np.full((c, rows * hh + padding, cols * ww + padding), pad_value, dtype=np.float32)
    for k in range(n):  # at most a few hundred tiles: one slice copy each
        r, q = divmod(k, cols)
        grid[:, r * hh + padding:r * hh + padding + h, q * ww + padding:q * ww + padding + w] = a[k]
    return _C.from_numpy(grid)


def _png(rgb):
    """An 8-bit RGB PNG (filter type 0 on every row) from a uint8 array [H, W, 3]."""
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def save_image(tensor, fp, format=None, **kwargs):  # noqa: A002  (torchvision's name)
    """make_grid(tensor, **kwargs), scaled from [0, 1] to 0..255 as torchvision does, written as a
    PNG to `fp` (a path, written atomically, or a binary file object). Only PNG is supported."""
    if format is not None and str(format).lower() != "png":
        raise ValueError(f"save_image: only PNG is supported, got format={format!r}")
    if isinstance(fp, (str, os.PathLike)) and format is None and not os.fspath(fp).lower().endswith(".png"):
        raise ValueError(f"save_image: only PNG is supported; give a path ending in .png, got {os.fspath(fp)!r}")
    grid = make_grid(tensor, **kwargs).numpy()
    rgb = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if rgb.shape[2] != 3:
        raise ValueError(f"save_image: expected 1 or 3 channels, got {rgb.shape[2]}")
    data = _png(np.ascontiguousarray(rgb))
    if not isinstance(fp, (str, os.PathLike)):
        fp.write(data)
        return
    write_bytes_atomically(fp, data)
