"""Stateless neural-network functions with torch.nn.functional's names, signatures and
semantics. The heavy ops (conv, pooling, batch norm, linear, nll/cross-entropy) are
single C++ nodes; the elementwise losses are compositions of differentiable ops, except
binary_cross_entropy, whose backward is PyTorch's closed form (finite where the logs clamp)."""
import math

from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad
from ..autograd.function import Function

_nn = _C.nn


def _tuple(v, n, name):
    if isinstance(v, int):
        return [v] * n
    v = list(v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{name}: expected an int or {n} values, got {tuple(v)}")
    return [int(x) for x in v]


# ---------------------------------------------------------------- activations

def relu(input, inplace=False):  # noqa: A002
    return input.relu()


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    return _C.leaky_relu(input, negative_slope)


def sigmoid(input):  # noqa: A002
    return input.sigmoid()


def tanh(input):  # noqa: A002
    return input.tanh()


def gelu(input, approximate="none"):  # noqa: A002
    """x * Phi(x), Phi the standard normal CDF; approximate='tanh' uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as torch."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"gelu(): approximate argument must be either 'none' or 'tanh', got {approximate!r}")
    return _nn.gelu(input, approximate == "tanh")


def softplus(input):  # noqa: A002
    return _nn.softplus(input)


def softsign(input):  # noqa: A002
    """x / (1 + |x|)."""
    return _nn.softsign(input)


def heaviside(input, values):  # noqa: A002
    return _C.heaviside(input, values)


def softmax(input, dim):  # noqa: A002
    return input.softmax(dim)


def log_softmax(input, dim):  # noqa: A002
    return input.log_softmax(dim)


# ---------------------------------------------------------------- linear & convolution

def linear(input, weight, bias=None):  # noqa: A002
    return _nn.linear(input, weight, bias)


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):  # noqa: A002
    name = f"conv{nd}d"
    if not isinstance(weight, Tensor):
        raise TypeError(f"{name}: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim == nd + 2 and 0 in weight.shape[2:]:
        raise RuntimeError(f"{name}: kernel size should be greater than zero, got weight shape {tuple(weight.shape)}")
    stride, dilation = _tuple(stride, nd, name), _tuple(dilation, nd, name)
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0] * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            ks = weight.shape[2:]
            totals = [d * (k - 1) for d, k in zip(dilation, ks)]
            if any(t % 2 for t in totals):
                raise ValueError(f"{name}: padding='same' needs an odd effective kernel size here (kernel {tuple(ks)}, "
                                 f"dilation {tuple(dilation)}); pad the input explicitly instead")
            padding = [t // 2 for t in totals]
        else:
            raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got '{padding}'")
    else:
        padding = _tuple(padding, nd, name)
    return _nn.conv(nd, input, weight, bias, stride, padding, dilation, int(groups))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


# ---------------------------------------------------------------- pooling

def _pool_args(kernel_size, stride, padding, n, name):
    k = _tuple(kernel_size, n, name)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tuple(stride, n, name)
    return k, s, _tuple(padding, n, name)


def _check_1d(input, name):  # noqa: A002
    if input.ndim not in (2, 3):
        raise ValueError(f"{name}: expected a 2-d (unbatched) or 3-d input [N, C, L], got shape {tuple(input.shape)}")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):  # noqa: A002
    if dilation not in (1, (1, 1), [1, 1]) or return_indices:
        raise ValueError("max_pool2d: dilation != 1 and return_indices are not supported")
    k, s, p = _pool_args(kernel_size, stride, padding, 2, "max_pool2d")
    return _nn.max_pool2d(input, k, s, p, bool(ceil_mode), "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):  # noqa: A002
    if dilation not in (1, (1,), [1]) or return_indices:
        raise ValueError("max_pool1d: dilation != 1 and return_indices are not supported")
    _check_1d(input, "max_pool1d")
    k, s, p = _pool_args(kernel_size, stride, padding, 1, "max_pool1d")
    return _nn.max_pool2d(input.unsqueeze(-2), [1, k[0]], [1, s[0]], [0, p[0]], bool(ceil_mode), "max_pool1d").squeeze(-2)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):  # noqa: A002
    if divisor_override is not None:
        raise ValueError("avg_pool2d: divisor_override is not supported")
    k, s, p = _pool_args(kernel_size, stride, padding, 2, "avg_pool2d")
    return _nn.avg_pool2d(input, k, s, p, bool(ceil_mode), bool(count_include_pad), "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    _check_1d(input, "avg_pool1d")
    k, s, p = _pool_args(kernel_size, stride, padding, 1, "avg_pool1d")
    return _nn.avg_pool2d(input.unsqueeze(-2), [1, k[0]], [1, s[0]], [0, p[0]], bool(ceil_mode), bool(count_include_pad),
                          "avg_pool1d").squeeze(-2)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    h, w = input.shape[-2:]
    oh, ow = (output_size, output_size) if output_size is None or isinstance(output_size, int) else tuple(output_size)
    return _nn.adaptive_avg_pool2d(input, h if oh is None else int(oh), w if ow is None else int(ow))


# ---------------------------------------------------------------- normalization & dropout

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):  # noqa: A002
    return _nn.batch_norm(input, running_mean, running_var, weight, bias, bool(training), float(momentum), float(eps))


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _nn.dropout(input, float(p), bool(training), False)


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _nn.dropout(input, float(p), bool(training), True)


# ---------------------------------------------------------------- losses

def _reduce(loss, reduction, name):
    if not isinstance(reduction, str):
        raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return _nn.reduce_loss(loss, reduction, name)


def _check_same_shape(input, target, name):  # noqa: A002
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}: target must be a Tensor, got {type(target).__name__}")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} must match")


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    _check_same_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):  # noqa: A002
    _check_same_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, with d = input - target (plain L1 when beta = 0)."""
    _check_same_shape(input, target, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction, "smooth_l1_loss")
    return _reduce(_C.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): smooth_l1_loss scaled by delta."""
    _check_same_shape(input, target, "huber_loss")
    if delta <= 0:
        raise RuntimeError(f"huber_loss: delta must be positive, got {delta}")
    if weight is not None:
        raise NotImplementedError("huber_loss: weight= is not supported")
    d = (input - target).abs()
    return _reduce(_C.where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta), reduction, "huber_loss")


def _check_unit_interval(t, what):
    """PyTorch checks every element, so NaN (which fails both comparisons) is rejected too."""
    with no_grad():
        outside = ((t < 0).sum() + (t > 1).sum() + (t != t).sum()).item() if t.numel() else 0
    if outside:
        with no_grad():
            lo, hi = t.min().item(), t.max().item()
        raise RuntimeError(f"binary_cross_entropy: all elements of {what} should be between 0 and 1 ({outside} element(s) "
                           f"of the {tuple(t.shape)} {what} are outside [0, 1] or NaN; range [{lo:.4g}, {hi:.4g}])")


class _BinaryCrossEntropy(Function):
    """Elementwise -(y log p + (1 - y) log(1 - p)), logs clamped at -100 as PyTorch. The backward is
    PyTorch's closed form (p - y) / max(p (1 - p), 1e-12): differentiating the clamped logs instead
    gives 0 * inf = NaN at p = 0 or 1, where PyTorch returns a large finite gradient. The target's
    gradient is PyTorch's -logit(p)."""

    @staticmethod
    def forward(ctx, input, target):  # noqa: A002
        ctx.save_for_backward(input, target)
        log_p, log_q = input.log().clamp(min=-100), (1 - input).log().clamp(min=-100)
        return (target - 1) * log_q - target * log_p

    @staticmethod
    def backward(ctx, grad):
        input, target = ctx.saved_tensors  # noqa: A001
        needs_input, needs_target = ctx.needs_input_grad
        grad_input = grad * (input - target) / ((1 - input) * input).clamp(min=1e-12) if needs_input else None
        # -logit(p), unclamped as in PyTorch: infinite at p = 0 and 1
        grad_target = grad * -(input / (1 - input)).log() if needs_target else None
        return grad_input, grad_target


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """-(y log p + (1 - y) log(1 - p)) with logs clamped at -100, as PyTorch."""
    _check_same_shape(input, target, "binary_cross_entropy")
    if input.dtype != target.dtype:  # as PyTorch, which refuses rather than promotes here
        raise RuntimeError(f"binary_cross_entropy: expected input and target to have the same dtype, got {input.dtype} and {target.dtype}")
    _check_unit_interval(input, "input")
    _check_unit_interval(target, "target")
    loss = _BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):  # noqa: A002
    """(1 - y) x + (1 + (pw - 1) y) softplus(-x): stable for any logit."""
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    sp = _nn.softplus(-input)
    if pos_weight is not None:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
    else:
        loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    return _nn.nll_loss(input, target, weight, reduction, int(ignore_index))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):  # noqa: A002
    return _nn.cross_entropy(input, target, weight, reduction, int(ignore_index), float(label_smoothing))


# ---------------------------------------------------------------- encoding, padding, layer norm, embedding

def one_hot(tensor, num_classes=-1):
    """[*] int64 class indices -> [*, num_classes] int64 with a 1 at each index (num_classes=-1: max + 1)."""
    if not isinstance(tensor, Tensor) or tensor.dtype != _C.dtype.int64:
        got = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise RuntimeError(f"one_hot is only applicable to index tensor of type int64 (LongTensor), got {got}")
    empty = tensor.numel() == 0
    if not empty and tensor.min().item() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        if empty:
            raise RuntimeError("one_hot: can not infer total number of classes from an empty tensor")
        num_classes = tensor.max().item() + 1
    elif num_classes < 1 and not empty:
        raise RuntimeError(f"one_hot: num_classes should be positive, got {num_classes}")
    elif not empty and tensor.max().item() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({num_classes}), "
                           f"got {tensor.max().item()}")
    classes = _C.arange(0, num_classes, 1, _C.dtype.int64, tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


def pad(input, pad, mode="constant", value=None):  # noqa: A002
    """Pads (or, with negative amounts, crops) the last len(pad) // 2 dims: pad = (left, right) for the last dim,
    then for the one before it, ...; only mode='constant' (value, 0 by default)."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode={mode!r} is not supported; only 'constant'")
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(pad)} values")
    if len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding length {len(pad)} too large for a {input.ndim}-D input of shape "
                         f"{tuple(input.shape)} (at most {2 * input.ndim} values)")
    out = input
    for i in range(len(pad) // 2):
        d, (left, right) = input.ndim - 1 - i, pad[2 * i:2 * i + 2]
        n = out.shape[d]
        if n + min(left, 0) + min(right, 0) < 0:  # the crops alone must leave a non-negative size
            raise RuntimeError(f"pad: the input size {n} at dim {d}, plus negative padding {left} and {right}, "
                               f"gives a negative output size")
        out = out.narrow(d, -min(left, 0), n + min(left, 0) + min(right, 0))
        pieces = []
        for amount in (left, right):
            shape = list(out.shape)
            shape[d] = max(amount, 0)
            pieces.append(_C.full(tuple(shape), 0.0 if value is None else float(value), input.dtype, input.device))
        if left > 0 or right > 0:
            out = _C.cat([pieces[0], out, pieces[1]], d)
    return out if out is not input else input.clone()


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalises over the trailing dims `normalized_shape` (biased variance, as torch), then scales and shifts."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"layer_norm: given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise RuntimeError(f"layer_norm: {name} of shape {tuple(p.shape)} must match normalized_shape {shape}")
    dims = tuple(range(input.ndim - k, input.ndim))
    mean = input.mean(dims, keepdim=True)
    centred = input - mean
    var = (centred * centred).mean(dims, keepdim=True)
    out = centred / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    """The rows of weight [num_embeddings, dim] at the int64 indices `input`: [*input.shape, dim]. Rows at
    padding_idx get no gradient (their value is still weight[padding_idx], as torch)."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if not isinstance(input, Tensor) or input.dtype != _C.dtype.int64:
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"embedding: expected indices of dtype int64, got {got}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D [num_embeddings, embedding_dim], got {tuple(weight.shape)}")
    n = weight.shape[0]
    if input.numel() and (input.min().item() < 0 or input.max().item() >= n):
        raise IndexError(f"embedding: index out of range: indices must be in [0, {n}), got values in "
                         f"[{input.min().item()}, {input.max().item()}]")
    rows = weight.index_select(0, input.reshape(-1)).reshape(*input.shape, weight.shape[1])
    if padding_idx is None:
        return rows
    if not -n <= padding_idx < n:
        raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({n})")
    keep = (input != padding_idx % n).unsqueeze(-1)
    return _C.where(keep, rows, rows.detach())
# ---------------------------------------------------------------- resampling

_INTERP_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _output_sizes(input, size, scale_factor, spatial):  # noqa: A002
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate(): either size or scale_factor should be defined, and not both"
                         if size is not None else "interpolate(): either size or scale_factor should be defined")
    if size is not None:
        sizes = [size] * spatial if isinstance(size, int) else list(size)
        if len(sizes) != spatial:
            raise ValueError(f"interpolate(): input of shape {tuple(input.shape)} has {spatial} spatial dimension(s), "
                             f"but size {tuple(sizes)} has {len(sizes)}")
        return [int(s) for s in sizes], [None] * spatial
    scales = [scale_factor] * spatial if isinstance(scale_factor, (int, float)) else list(scale_factor)
    if len(scales) != spatial:
        raise ValueError(f"interpolate(): input of shape {tuple(input.shape)} has {spatial} spatial dimension(s), "
                         f"but scale_factor {tuple(scales)} has {len(scales)}")
    return [int(math.floor(float(n) * s)) for n, s in zip(input.shape[2:], scales)], [float(s) for s in scales]


def _source_scale(np_dtype, n_in, n_out, align_corners, scale):
    """PyTorch's area_pixel_compute_scale, in the dtype its kernel computes in."""
    if align_corners:
        return np_dtype(n_in - 1) / np_dtype(n_out - 1) if n_out > 1 else np_dtype(0)
    return np_dtype(1.0 / scale) if scale is not None and scale > 0 else np_dtype(n_in) / np_dtype(n_out)


def _nearest_index(n_in, n_out, scale, exact):
    """PyTorch's nearest (and nearest-exact) source index of each output position, computed in float32 as its kernel."""
    import numpy as np
    dst = np.arange(n_out, dtype=np.float32)
    if not exact and n_out == n_in:
        return np.arange(n_out)
    if not exact and n_out == 2 * n_in:
        return np.arange(n_out) >> 1
    s = _source_scale(np.float32, n_in, n_out, False, scale)
    src = np.floor((dst + np.float32(0.5)) * s if exact else dst * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _linear_taps(np_dtype, n_in, n_out, align_corners, scale):
    """The two source indices and weights of each output position (PyTorch's compute_source_index_and_lambda)."""
    import numpy as np
    s = _source_scale(np_dtype, n_in, n_out, align_corners, scale)
    dst = np.arange(n_out).astype(np_dtype)
    real = s * dst if align_corners else np.maximum(s * (dst + np_dtype(0.5)) - np_dtype(0.5), np_dtype(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    i1 = i0 + (i0 < n_in - 1)
    l1 = np.minimum(np.maximum(real - i0.astype(np_dtype), np_dtype(0)), np_dtype(1)).astype(np_dtype)
    return i0, i1, (np_dtype(1) - l1).astype(np_dtype), l1


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias=False):
    """Resizes the spatial dims of [N, C, *spatial] input: mode 'nearest' / 'nearest-exact' (1-3 spatial dims),
    'linear' / 'bilinear' / 'trilinear' (1 / 2 / 3) with align_corners, or 'area' (adaptive average pooling,
    2 spatial dims). Source positions and weights follow PyTorch's CPU kernels; the result is built from
    index_select and multiply-adds, one spatial dim at a time (the last first, as PyTorch nests them), so the
    gradient is theirs."""
    import numpy as np
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate(): input must be a Tensor, got {type(input).__name__}")
    spatial = input.ndim - 2
    if spatial < 1 or spatial > 3:
        raise ValueError(f"interpolate(): expected a 3-D, 4-D or 5-D input [N, C, *spatial], got shape {tuple(input.shape)}")
    if antialias:
        raise NotImplementedError("interpolate(): antialias=True is not supported")
    linear = mode in _INTERP_DIMS
    if mode not in ("nearest", "nearest-exact", "area") and not linear:
        raise NotImplementedError(f"interpolate(): mode {mode!r} is not supported; use 'nearest', 'nearest-exact', "
                                  "'linear', 'bilinear', 'trilinear' or 'area'")
    if linear and _INTERP_DIMS[mode] != spatial:
        raise ValueError(f"interpolate(): mode {mode!r} expects a {_INTERP_DIMS[mode] + 2}-D input, got shape "
                         f"{tuple(input.shape)}")
    if align_corners is not None and not linear:
        raise ValueError("interpolate(): align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if not input.dtype.is_floating_point and mode != "nearest":
        raise RuntimeError(f"interpolate(): mode {mode!r} needs a floating-point input, got {input.dtype}")
    sizes, scales = _output_sizes(input, size, scale_factor, spatial)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate(): output size {tuple(sizes)} must be positive (input shape {tuple(input.shape)})")
    if recompute_scale_factor or mode == "area":
        scales = [None] * spatial
    if mode == "area":
        if spatial != 2:
            raise NotImplementedError(f"interpolate(): mode 'area' is supported for 4-D input only, got shape "
                                      f"{tuple(input.shape)}")
        return adaptive_avg_pool2d(input, sizes)
    np_dtype = np.float64 if input.dtype == _C.dtype.float64 else np.float32
    out = input
    for d in reversed(range(spatial)):
        axis, n_in, n_out = 2 + d, input.shape[2 + d], sizes[d]
        if not linear:
            idx = _nearest_index(n_in, n_out, scales[d], mode == "nearest-exact")
            if n_out != n_in or mode == "nearest-exact":
                out = out.index_select(axis, _C._from_numpy_copy(idx))
            continue
        if n_out == n_in:  # PyTorch copies the input here (weights 1 and 0)
            continue
        i0, i1, l0, l1 = _linear_taps(np_dtype, n_in, n_out, bool(align_corners), scales[d])
        along = (n_out,) + (1,) * (spatial - 1 - d)
        w0, w1 = _C._from_numpy_copy(l0.reshape(along)), _C._from_numpy_copy(l1.reshape(along))
        out = (out.index_select(axis, _C._from_numpy_copy(i0)) * w0
               + out.index_select(axis, _C._from_numpy_copy(i1)) * w1)
    return out.clone() if out is input else out
