"""Image transforms with torchvision's names, for float tensors laid out [C, H, W] (one image)
or [N, C, H, W] (a batch; each image gets its own random parameters).

Batches are processed in a few C++ calls: geometric transforms build one [N, 2, 3] matrix
array and make one `affine_warp` call (bilinear, zeros outside); flips are an index_select
plus a `where` on the per-image mask; crops are one gather. Random transforms expose
`sample_params(n, shape)` -> dict of per-image NumPy arrays and `apply(x, params)`, and
`t(x)` is `t.apply(x, t.sample_params(...))`. Parameters are drawn with
reticulum.utils.data.random_uniform / random_integers: from rt's global generator (so
`rt.manual_seed` makes them reproducible), or, inside a DataLoader, from the per-batch
generator that makes batches identical for any num_workers. Transforms touch images only.
"""
import numbers

import numpy as np

from .. import _C
from .._C import Tensor, dtype as _dtype
from .._numpy import numpy_dtype
from ..utils.data import random_integers, random_uniform

__all__ = ["Compose", "Lambda", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation",
           "RandomAffine", "RandomShift", "RandomCrop", "ColorJitter", "hflip", "vflip", "affine", "rotate"]



# ---------------------------------------------------------------- helpers

def _as_batch(x, name):
    """(x as [N, C, H, W], whether it was a single [C, H, W] image)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a reticulum Tensor image [C, H, W] or batch [N, C, H, W], got "
                        f"{type(x).__name__} (use ToTensor() for NumPy images)")
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected an image [C, H, W] or a batch [N, C, H, W], got shape {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a floating-point image, got {x.dtype} (shape {tuple(x.shape)})")
    return (x.unsqueeze(0), True) if x.ndim == 3 else (x, False)


def _finish(out, single):
    return out.squeeze(0) if single else out


def _range(value, name, arg, center=0.0, minimum=None):
    """A number v -> (center - v, center + v); a pair -> itself."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"{name}: if {arg} is a single number, it must be non-negative, got {value}")
        lo, hi = center - value, center + value
    else:
        v = tuple(float(a) for a in value)
        if len(v) != 2:
            raise ValueError(f"{name}: {arg} must be a number or a pair (min, max), got {value!r}")
        lo, hi = v
    if lo > hi:
        raise ValueError(f"{name}: {arg} range must satisfy min <= max, got ({lo}, {hi})")
    if minimum is not None:
        lo = max(lo, minimum)
    return float(lo), float(hi)


def _lerp(u, lo, hi):
    return lo + (hi - lo) * u


def _check_params(params, n, keys, name):
    for k in keys:
        if k not in params:
            raise KeyError(f"{name}.apply: params lack '{k}' (expected keys {keys})")
        if np.shape(params[k]) != (n,):
            raise ValueError(f"{name}.apply: params['{k}'] must have shape ({n},) for a batch of {n}, "
                             f"got {np.shape(params[k])}")


def _per_image(v, n, name, arg):
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"{name}: {arg} must be a number or have one value per image ({n}), got shape {a.shape}")
    return a


def _affine_theta(angle, tx, ty, scale, shear_x, shear_y, h, w):
    """[N, 2, 3] float64 matrices mapping output (col, row, 1) to input (col, row) for the
    forward map: about the image centre, shear, scale, rotate by `angle` degrees
    counter-clockwise (as displayed, rows pointing down), then translate by (tx, ty) pixels."""
    a, sx, sy = np.deg2rad(angle), np.deg2rad(shear_x), np.deg2rad(shear_y)
    c, s = np.cos(a), np.sin(a)
    rot = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)
    shear = np.stack([np.stack([np.ones_like(sx), np.tan(sx)], -1), np.stack([np.tan(sy), np.ones_like(sy)], -1)], -2)
    fwd = scale[:, None, None] * (rot @ shear)
    det = fwd[:, 0, 0] * fwd[:, 1, 1] - fwd[:, 0, 1] * fwd[:, 1, 0]
    if np.any(np.abs(det) < 1e-12):
        raise ValueError("affine: the transformation is singular (scale 0 or shear of +-90 degrees)")
    inv = np.linalg.inv(fwd)
    ctr = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    off = ctr - np.einsum("nij,nj->ni", inv, ctr + np.stack([tx, ty], -1))
    theta = np.concatenate([inv, off[:, :, None]], axis=2)
    snapped = np.round(theta)  # exact integers for right-angle rotations and integer shifts
    return np.ascontiguousarray(np.where(np.abs(theta - snapped) < 1e-9, snapped, theta))


def _warp(xb, theta, fill):
    """One affine_warp call for the batch; `fill` (a number) outside the source image."""
    out = _C.nn.affine_warp(xb, _C.from_numpy(theta))
    if fill:
        n, _, h, w = xb.shape
        inside = _C.nn.affine_warp(_C.full((n, 1, h, w), 1.0, xb.dtype), _C.from_numpy(theta))
        out = out + (1.0 - inside) * float(fill)
    return out


def _factor_tensor(v, like):
    return _C.from_numpy(np.ascontiguousarray(np.asarray(v, dtype=numpy_dtype(like.dtype)).reshape(-1, 1, 1, 1)))


# ---------------------------------------------------------------- functional

def hflip(x):
    """Mirrors images left-right (last dim)."""
    xb, single = _as_batch(x, "hflip")
    return _finish(xb.index_select(3, _C.arange(xb.shape[3] - 1, -1, -1, _dtype.int64)), single)


def vflip(x):
    """Mirrors images top-bottom (dim -2)."""
    xb, single = _as_batch(x, "vflip")
    return _finish(xb.index_select(2, _C.arange(xb.shape[2] - 1, -1, -1, _dtype.int64)), single)


def affine(x, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0), fill=0.0):
    """Affine warp about the image centre: rotate `angle` degrees counter-clockwise, translate
    (dx, dy) pixels, scale, shear (x, y) degrees. Each argument is one value for all images or
    one value per image (arrays of length N); bilinear, `fill` outside."""
    xb, single = _as_batch(x, "affine")
    n, _, h, w = xb.shape
    tr = np.asarray(translate, dtype=np.float64)
    if tr.shape not in ((2,), (n, 2)):
        raise ValueError(f"affine: translate must be (dx, dy) or have shape ({n}, 2), got shape {tr.shape}")
    tr = np.broadcast_to(tr, (n, 2))
    sh = np.asarray(shear, dtype=np.float64)
    sh = np.array([float(sh), 0.0]) if sh.ndim == 0 else sh
    if sh.shape not in ((2,), (n, 2)):
        raise ValueError(f"affine: shear must be a number, (sx, sy) or have shape ({n}, 2), got shape {sh.shape}")
    sh = np.broadcast_to(sh, (n, 2))
    theta = _affine_theta(_per_image(angle, n, "affine", "angle"), tr[:, 0], tr[:, 1], _per_image(scale, n, "affine", "scale"),
                          sh[:, 0], sh[:, 1], h, w)
    return _finish(_warp(xb, theta, fill), single)


def rotate(x, angle, fill=0.0):
    """Rotates images `angle` degrees counter-clockwise about their centre (bilinear)."""
    return affine(x, angle=angle, fill=fill)


# ---------------------------------------------------------------- deterministic transforms

class Compose:
    """Applies the transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class Lambda:
    """Wraps a function as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class ToTensor:
    """A NumPy image H x W or H x W x C (or a batch N x H x W x C) -> float32 tensor
    [C, H, W] ([N, C, H, W]); uint8 values are scaled to [0, 1], float values kept."""

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: input is already a tensor; ToTensor converts NumPy images (H x W x C)")
        a = np.asarray(pic)
        if a.ndim not in (2, 3, 4):
            raise ValueError(f"ToTensor: expected an image H x W or H x W x C (or a batch N x H x W x C), got shape {a.shape}")
        if a.ndim == 2:
            a = a[None]
        elif a.ndim == 3:
            a = a.transpose(2, 0, 1)
        else:
            a = a.transpose(0, 3, 1, 2)
        if a.dtype == np.uint8:
            a = np.divide(a, np.float32(255), dtype=np.float32)
        elif a.dtype.kind in "fiub":
            a = a.astype(np.float64 if a.dtype == np.float64 else np.float32)
        else:
            raise TypeError(f"ToTensor: unsupported array dtype {a.dtype}")
        return _C.from_numpy(np.ascontiguousarray(a))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] per channel."""

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(float(m) for m in np.atleast_1d(np.asarray(mean, dtype=np.float64)))
        self.std = tuple(float(s) for s in np.atleast_1d(np.asarray(std, dtype=np.float64)))
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"Normalize: mean and std must have the same length, got {len(self.mean)} and {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std evaluated to zero ({self.std}), leading to division by zero")
        self.inplace = inplace
        self._cache = {}

    def _constants(self, dtype, c):
        """mean and std as [1, c, 1, 1] tensors, made once per dtype and channel count: per-image
        pipelines call this 60,000 times an epoch on MNIST (it halves ToTensor + Normalize's time)."""
        key = (dtype, c)
        if key not in self._cache:
            np_dt = numpy_dtype(dtype)
            self._cache[key] = tuple(_C._from_numpy_copy(np.ascontiguousarray(np.broadcast_to(np.asarray(v, np_dt), (c,)).reshape(1, c, 1, 1)))
                                     for v in (self.mean, self.std))
        return self._cache[key]

    def __call__(self, x):
        xb, single = _as_batch(x, "Normalize")
        c = xb.shape[1]
        for arg, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {arg} has {len(v)} values but the image has {c} channels "
                                 f"(shape {tuple(x.shape)})")
        m, s = self._constants(xb.dtype, c)
        if self.inplace:
            from .._grad_mode import no_grad
            with no_grad():
                xb.sub_(m).div_(s)
            return x
        return _finish((xb - m) / s, single)

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


# ---------------------------------------------------------------- random transforms

class _RandomTransform:
    """Base: __call__ draws per-image parameters, then applies them."""

    name = "RandomTransform"

    def sample_params(self, n, shape):
        """Per-image parameters (dict of NumPy arrays of length n) for images of `shape` (.., H, W)."""
        raise NotImplementedError

    def _apply(self, xb, params):
        raise NotImplementedError

    def apply(self, x, params):
        """Applies given parameters (as from sample_params) to an image or batch."""
        xb, single = _as_batch(x, self.name)
        return _finish(self._apply(xb, params), single)

    def __call__(self, x):
        xb, single = _as_batch(x, self.name)
        return _finish(self._apply(xb, self.sample_params(xb.shape[0], tuple(xb.shape))), single)


def _check_p(p, name):
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name}: p must be a probability in [0, 1], got {p}")
    return float(p)


class _RandomFlip(_RandomTransform):
    dim = 3

    def __init__(self, p=0.5):
        self.p = _check_p(p, self.name)

    def sample_params(self, n, shape):
        return {"flip": random_uniform(n) < self.p}

    def _apply(self, xb, params):
        n = xb.shape[0]
        _check_params(params, n, ["flip"], self.name)
        mask = np.asarray(params["flip"], dtype=bool)
        if not mask.any():
            return xb
        size = xb.shape[self.dim]
        flipped = xb.index_select(self.dim, _C.arange(size - 1, -1, -1, _dtype.int64))
        if mask.all():
            return flipped
        return _C.where(_C.from_numpy(np.ascontiguousarray(mask.reshape(n, 1, 1, 1))), flipped, xb)

    def __repr__(self):
        return f"{self.name}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirrors each image left-right with probability p."""
    name, dim = "RandomHorizontalFlip", 3


class RandomVerticalFlip(_RandomFlip):
    """Mirrors each image top-bottom with probability p."""
    name, dim = "RandomVerticalFlip", 2


class RandomAffine(_RandomTransform):
    """Random affine warp per image, about the centre (torchvision's RandomAffine):
    degrees: d or (min, max) rotation, counter-clockwise; translate: (a, b) maximal fractions
    of width/height, shifts are whole pixels; scale: (min, max); shear: s (x-shear in (-s, s)),
    (min, max) x-shear, or (xmin, xmax, ymin, ymax) degrees; fill: value outside the image.
    Bilinear interpolation; one affine_warp call per batch."""
    name = "RandomAffine"

    def __init__(self, degrees, translate=None, scale=None, shear=None, fill=0.0):
        self.degrees = _range(degrees, self.name, "degrees")
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"{self.name}: translate must be a pair of fractions in [0, 1], got {translate}")
        self.translate = translate
        if scale is not None:
            scale = tuple(float(s) for s in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError(f"{self.name}: scale must be a pair (min, max) with 0 < min <= max, got {scale}")
        self.scale = scale
        if shear is None:
            self.shear = (0.0, 0.0, 0.0, 0.0)
        elif isinstance(shear, numbers.Number):
            self.shear = (*_range(shear, self.name, "shear"), 0.0, 0.0)
        else:
            sh = tuple(float(s) for s in shear)
            if len(sh) == 2:
                self.shear = (*_range(sh, self.name, "shear"), 0.0, 0.0)
            elif len(sh) == 4:
                self.shear = (*_range(sh[:2], self.name, "shear"), *_range(sh[2:], self.name, "shear"))
            else:
                raise ValueError(f"{self.name}: shear must be a number or a sequence of 2 or 4 numbers, got {shear!r}")
        self.fill = float(fill)

    def sample_params(self, n, shape):
        h, w = shape[-2], shape[-1]
        u = random_uniform(6 * n).reshape(6, n)
        p = {"angle": _lerp(u[0], *self.degrees)}
        if self.translate is not None:
            mx, my = self.translate[0] * w, self.translate[1] * h
            p["tx"], p["ty"] = np.round(_lerp(u[1], -mx, mx)), np.round(_lerp(u[2], -my, my))
        else:
            p["tx"], p["ty"] = np.zeros(n), np.zeros(n)
        p["scale"] = _lerp(u[3], *self.scale) if self.scale is not None else np.ones(n)
        p["shear_x"], p["shear_y"] = _lerp(u[4], *self.shear[:2]), _lerp(u[5], *self.shear[2:])
        return p

    def _apply(self, xb, params):
        n, _, h, w = xb.shape
        keys = ["angle", "tx", "ty", "scale", "shear_x", "shear_y"]
        _check_params(params, n, keys, self.name)
        theta = _affine_theta(*(np.asarray(params[k], dtype=np.float64) for k in keys), h, w)
        return _warp(xb, theta, self.fill)

    def __repr__(self):
        return (f"{self.name}(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}, fill={self.fill})")


class RandomRotation(RandomAffine):
    """Rotates each image by an angle drawn from degrees (d -> (-d, d)), counter-clockwise,
    about its centre; bilinear, `fill` outside."""
    name = "RandomRotation"

    def __init__(self, degrees, fill=0.0):
        super().__init__(degrees, fill=fill)

    def __repr__(self):
        return f"{self.name}(degrees={self.degrees}, fill={self.fill})"


class RandomShift(RandomAffine):
    """Shifts each image by whole pixels: dx in [-max_dx, max_dx], dy in [-max_dy, max_dy]
    (shift = m or (max_dx, max_dy)); vacated pixels get `fill`. Exact (no interpolation)."""
    name = "RandomShift"

    def __init__(self, shift, fill=0.0):
        super().__init__(0.0, fill=fill)
        s = (shift, shift) if isinstance(shift, numbers.Number) else tuple(shift)
        if len(s) != 2 or any(int(v) != v or v < 0 for v in s):
            raise ValueError(f"{self.name}: shift must be a non-negative int or a pair of them, got {shift!r}")
        self.shift = (int(s[0]), int(s[1]))

    def sample_params(self, n, shape):
        nx = 2 * self.shift[0] + 1
        d = random_integers(0, nx * (2 * self.shift[1] + 1), n)
        zeros = np.zeros(n)
        return {"angle": zeros, "tx": (d % nx - self.shift[0]).astype(np.float64),
                "ty": (d // nx - self.shift[1]).astype(np.float64), "scale": np.ones(n), "shear_x": zeros, "shear_y": zeros}

    def __repr__(self):
        return f"{self.name}(shift={self.shift}, fill={self.fill})"


class RandomCrop(_RandomTransform):
    """Pads (constant `fill`) and crops a random size=(h, w) window from each image
    (torchvision's RandomCrop). padding: p, (left/right, top/bottom) or (left, top, right,
    bottom); pad_if_needed pads images smaller than the crop. One gather per batch."""
    name = "RandomCrop"

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0.0):
        size = (size, size) if isinstance(size, numbers.Number) else tuple(size)
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"{self.name}: size must be a positive int or a pair (h, w), got {size!r}")
        self.size = (int(size[0]), int(size[1]))
        pad = 0 if padding is None else padding
        pad = (pad,) * 4 if isinstance(pad, numbers.Number) else tuple(pad)
        if len(pad) == 2:
            pad = (pad[0], pad[1], pad[0], pad[1])
        if len(pad) != 4 or any(int(p) != p or p < 0 for p in pad):
            raise ValueError(f"{self.name}: padding must be a non-negative int or a sequence of 2 or 4 of them, "
                             f"got {padding!r}")
        self.padding = tuple(int(p) for p in pad)  # left, top, right, bottom
        self.pad_if_needed = bool(pad_if_needed)
        self.fill = float(fill)

    def _pads(self, h, w):
        left, top, right, bottom = self.padding
        th, tw = self.size
        if self.pad_if_needed:
            if w + left + right < tw:
                d = tw - (w + left + right)
                left, right = left + d, right + d
            if h + top + bottom < th:
                d = th - (h + top + bottom)
                top, bottom = top + d, bottom + d
        if h + top + bottom < th or w + left + right < tw:
            raise ValueError(f"{self.name}: crop size {self.size} is larger than the padded image "
                             f"({h + top + bottom}, {w + left + right}) for input size ({h}, {w})")
        return left, top, right, bottom

    def sample_params(self, n, shape):
        h, w = shape[-2], shape[-1]
        left, top, right, bottom = self._pads(h, w)
        return {"top": random_integers(0, h + top + bottom - self.size[0] + 1, n),
                "left": random_integers(0, w + left + right - self.size[1] + 1, n)}

    def _apply(self, xb, params):
        n, c, h, w = xb.shape
        _check_params(params, n, ["top", "left"], self.name)
        left, top, _, _ = self._pads(h, w)
        th, tw = self.size
        rows = np.asarray(params["top"], np.int64)[:, None] + np.arange(th) - top  # [N, th] source rows
        cols = np.asarray(params["left"], np.int64)[:, None] + np.arange(tw) - left  # [N, tw]
        vr, vc = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
        lin = (np.arange(n, dtype=np.int64)[:, None, None, None] * (c * h * w)
               + np.arange(c, dtype=np.int64)[None, :, None, None] * (h * w)
               + (np.clip(rows, 0, h - 1) * w)[:, None, :, None] + np.clip(cols, 0, w - 1)[:, None, None, :])
        out = xb.contiguous().reshape(-1).index_select(0, _C.from_numpy(lin.reshape(-1))).reshape(n, c, th, tw)
        valid = vr[:, :, None] & vc[:, None, :]
        if not valid.all():
            out = _C.where(_C.from_numpy(np.ascontiguousarray(valid[:, None])), out, self.fill)
        return out

    def __repr__(self):
        return f"{self.name}(size={self.size}, padding={self.padding}, fill={self.fill})"


_GRAY = (0.2989, 0.587, 0.114)


def _gray(xb):
    """Luma [N, 1, H, W] of RGB batches (ITU-R 601-2, as torchvision); 1-channel images as they are."""
    if xb.shape[1] == 1:
        return xb
    wts = _C.from_numpy(np.asarray(_GRAY, dtype=numpy_dtype(xb.dtype)).reshape(1, 3, 1, 1))
    return (xb * wts).sum(1, True)


class ColorJitter(_RandomTransform):
    """Random brightness, contrast and saturation per image, applied in that order with
    torchvision's formulas, clamped to [0, 1]: brightness x*b; contrast c*x + (1-c)*mean(gray(x));
    saturation s*x + (1-s)*gray(x) (RGB only; 1-channel images are unchanged by it). Each
    factor is drawn from [max(0, 1-v), 1+v] for a number v, or from a given (min, max).
    Unlike torchvision the order is fixed and there is no hue jitter."""
    name = "ColorJitter"

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0):
        self.brightness = self._factor(brightness, "brightness")
        self.contrast = self._factor(contrast, "contrast")
        self.saturation = self._factor(saturation, "saturation")

    def _factor(self, v, arg):
        if v is None or (isinstance(v, numbers.Number) and v == 0):
            return None
        return _range(v, self.name, arg, center=1.0, minimum=0.0)

    def sample_params(self, n, shape):
        u = random_uniform(3 * n).reshape(3, n)
        return {k: (_lerp(u[i], *r) if r is not None else np.ones(n))
                for i, (k, r) in enumerate((("brightness", self.brightness), ("contrast", self.contrast),
                                            ("saturation", self.saturation)))}

    def _apply(self, xb, params):
        n, c = xb.shape[0], xb.shape[1]
        _check_params(params, n, ["brightness", "contrast", "saturation"], self.name)
        if c not in (1, 3):
            raise ValueError(f"{self.name}: expected 1 or 3 channels, got shape {tuple(xb.shape)}")
        b, k, s = (np.asarray(params[key], np.float64) for key in ("brightness", "contrast", "saturation"))
        out = xb
        if self.brightness is not None or np.any(b != 1):
            out = (out * _factor_tensor(b, out)).clamp(0.0, 1.0)
        if self.contrast is not None or np.any(k != 1):
            mean = _gray(out).reshape(n, -1).mean(1).reshape(n, 1, 1, 1)
            kt = _factor_tensor(k, out)
            out = (kt * out + (1.0 - kt) * mean).clamp(0.0, 1.0)
        if c == 3 and (self.saturation is not None or np.any(s != 1)):
            st = _factor_tensor(s, out)
            out = (st * out + (1.0 - st) * _gray(out)).clamp(0.0, 1.0)
        return out

    def __repr__(self):
        return f"{self.name}(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"
