"""The per-level float loops (cpp/src/cpu/float_loops.inc): elementwise and activation kernels with
their gradients, broadcast binary rows, batch norm and the fused optimizer updates, run at every
kernel level the host supports against float64 NumPy references (PyTorch's for the optimizers)."""
import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F

try:
    import torch
except ImportError:  # the optimizer cases need PyTorch as the oracle
    torch = None

# Around each vector width's tails (4, 8, 16 floats), and one size large enough to be split over threads.
SIZES = [1, 7, 15, 16, 17, 33, 1000, 70001]


def special_values(n, seed):
    """Random floats with signed zeros, infinities and NaNs mixed in (where n allows)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0], np.float32)
    x[: min(n, len(specials))] = specials[: min(n, len(specials))]
    return x


def relu(x):
    return np.where(x <= 0, 0, x)  # NaN stays NaN


# name -> (reticulum forward, NumPy forward, NumPy derivative given x and y)
UNARY = {
    "neg": (lambda t: -t, lambda x: -x, lambda x, y: -np.ones_like(x)),
    "abs": (rt.abs, np.abs, lambda x, y: np.sign(np.nan_to_num(x, nan=0.0))),
    "relu": (rt.relu, relu, lambda x, y: (x > 0).astype(x.dtype)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), lambda x: np.where(x > 0, x, x * np.float32(0.1)),
                   lambda x, y: np.where(x > 0, 1.0, 0.1)),
    "clamp": (lambda t: rt.clamp(t, -1.5, 2.0), lambda x: np.minimum(np.maximum(x, -1.5), 2.0),
              lambda x, y: ((x >= -1.5) & (x <= 2.0)).astype(x.dtype)),
    "sign": (rt.sign, lambda x: np.sign(np.nan_to_num(x, nan=0.0)), lambda x, y: np.zeros_like(x)),
    "sqrt": (rt.sqrt, np.sqrt, lambda x, y: 1 / (2 * y)),
    "square": (lambda t: t ** 2, np.square, lambda x, y: 2 * x),
    "exp": (rt.exp, np.exp, lambda x, y: y),
    "sigmoid": (rt.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda x, y: y * (1 - y)),
    "tanh": (rt.tanh, np.tanh, lambda x, y: 1 - y * y),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", UNARY)
def test_unary_forward_and_backward(name, n, cpu_level, poisoned_allocations):
    ours, ref, dref = UNARY[name]
    x = special_values(n, seed=n)
    if name == "sqrt":
        x = np.abs(x)  # the NaNs of negative inputs are not what this test is about
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        y_ref = ref(x64)
        gy = np.random.default_rng(n + 1).standard_normal(n).astype(np.float32)
    xt = rt.tensor(x, requires_grad=True)
    y = ours(xt)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=2e-6, atol=1e-7, err_msg=f"{name} forward at {cpu_level}")
    with np.errstate(all="ignore"):  # the gradient from the float32 output, as PyTorch's (1 - y^2 cancels near |y| = 1)
        g_ref = gy * dref(x64, y.detach().numpy().astype(np.float64))
    y.backward(rt.tensor(gy))
    finite = np.isfinite(g_ref)  # inf * 0 and the like: the reference's NaN conventions are not PyTorch's
    np.testing.assert_allclose(xt.grad.numpy()[finite], g_ref[finite], rtol=1e-5, atol=1e-6, err_msg=f"{name} backward at {cpu_level}")


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (rt.maximum, np.maximum),  # NaN propagates in both
    "minimum": (rt.minimum, np.minimum),
}
# (shape of a, shape of b): same shape, a scalar on either side, a row broadcast, and both scalars.
LAYOUTS = [((5, 37), (5, 37)), ((5, 37), ()), ((), (5, 37)), ((5, 37), (37,)), ((70001,), (70001,)), ((), ())]


@pytest.mark.parametrize("shapes", LAYOUTS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_layouts(name, shapes, cpu_level, poisoned_allocations):
    ours, ref = BINARY[name]
    a = special_values(int(np.prod(shapes[0])), seed=3).reshape(shapes[0])
    b = special_values(int(np.prod(shapes[1])), seed=4).reshape(shapes[1])[::-1] if shapes[1] else np.float32(0.5)
    b = np.ascontiguousarray(b, np.float32)
    with np.errstate(all="ignore"):
        expected = ref(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    out = ours(rt.tensor(a), rt.tensor(b)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=0, err_msg=f"{name} {shapes} at {cpu_level}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 3, 5, 7), (16, 4), (3, 2, 33)], ids=str)
def test_batch_norm_forward_and_backward(shape, dtype, cpu_level, poisoned_allocations):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    C = shape[1]
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    axes = tuple(i for i in range(len(shape)) if i != 1)
    bshape = [1, C] + [1] * (len(shape) - 2)
    x64, w64, b64, gy64 = (a.astype(np.float64) for a in (x, w, b, gy))
    mean, var = x64.mean(axes), x64.var(axes)
    xhat = (x64 - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5)
    y_ref = xhat * w64.reshape(bshape) + b64.reshape(bshape)
    gxhat = gy64 * w64.reshape(bshape)
    gx_ref = (gxhat - gxhat.mean(axes, keepdims=True) - xhat * (gxhat * xhat).mean(axes, keepdims=True)) / np.sqrt(
        var.reshape(bshape) + 1e-5)
    rmean, rvar = rt.zeros(C, dtype=rt.float64 if dtype == np.float64 else rt.float32), rt.ones(C, dtype=rt.float64 if dtype == np.float64 else rt.float32)
    xt, wt, bt = (rt.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.batch_norm(xt, rmean, rvar, wt, bt, training=True, momentum=0.1, eps=1e-5)
    y.backward(rt.tensor(gy))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, **tol, err_msg=f"forward at {cpu_level}")
    np.testing.assert_allclose(xt.grad.numpy(), gx_ref, **tol, err_msg=f"input gradient at {cpu_level}")
    np.testing.assert_allclose(wt.grad.numpy(), (gy64 * xhat).sum(axes), **tol, err_msg=f"weight gradient at {cpu_level}")
    np.testing.assert_allclose(bt.grad.numpy(), gy64.sum(axes), **tol, err_msg=f"bias gradient at {cpu_level}")
    m = shape[0] * int(np.prod(shape[2:]))
    np.testing.assert_allclose(rmean.numpy(), 0.1 * mean, **tol)
    np.testing.assert_allclose(rvar.numpy(), 0.9 + 0.1 * var * m / (m - 1), **tol)
    # Eval mode: the running statistics, and the plain scaled gradient.
    xe = rt.tensor(x, requires_grad=True)
    ye = F.batch_norm(xe, rmean, rvar, wt, bt, training=False, eps=1e-5)
    ye.backward(rt.tensor(gy))
    scale = w64 / np.sqrt(rvar.numpy().astype(np.float64) + 1e-5)
    np.testing.assert_allclose(ye.detach().numpy(), (x64 - rmean.numpy().reshape(bshape)) * scale.reshape(bshape) + b64.reshape(bshape), **tol)
    np.testing.assert_allclose(xe.grad.numpy(), gy64 * scale.reshape(bshape), **tol)


OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd-momentum-wd": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd-nesterov-maximize": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True)),
    "adam": ("Adam", dict(lr=0.01, weight_decay=0.01)),
    "adam-amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    "rmsprop-centered-momentum": ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "adagrad": ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01)),
    "adadelta": ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01)),
}


@pytest.mark.skipif(torch is None, reason="PyTorch is the oracle for the optimizer updates")
@pytest.mark.parametrize("n", [17, 70001])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_updates_match_pytorch(name, n, cpu_level):
    cls, kwargs = OPTIMIZERS[name]
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(4)]
    p = rt.nn.Parameter(rt.tensor(p0))
    q = torch.nn.Parameter(torch.tensor(p0))
    ours, theirs = getattr(rt.optim, cls)([p], **kwargs), getattr(torch.optim, cls)([q], **kwargs)
    for g in grads:
        p.grad, q.grad = rt.tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{name} at {cpu_level}")
