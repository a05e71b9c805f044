"""Stateless neural-network functions with torch.nn.functional's names, signatures and
semantics. The heavy ops (conv, pooling, batch norm, linear, nll/cross-entropy) are
single C++ nodes; the elementwise losses are compositions of differentiable ops, except
binary_cross_entropy, whose backward is PyTorch's closed form (finite where the logs clamp)."""
from .. import _C
from .._C import Tensor
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


def softplus(input):  # noqa: A002
    return _nn.softplus(input)


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
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got '{reduction}'")


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
    with _C_no_grad():
        outside = ((t < 0).sum() + (t > 1).sum() + (t != t).sum()).item() if t.numel() else 0
    if outside:
        with _C_no_grad():
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


def _C_no_grad():
    from .._grad_mode import no_grad
    return no_grad()
