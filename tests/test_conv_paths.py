"""Convolution against a direct NumPy reference over the shapes that pick different GEMM kernels
(the active kernel level's SGEMM for wide products, Eigen for skinny ones), with groups and strides."""
import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F


def conv2d_ref(x, w, b, stride, padding, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    og = o // groups
    out = np.concatenate([np.einsum("nchwij,ocij->nohw", win[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]) for g in range(groups)], axis=1)
    return out + b[None, :, None, None]


CASES = [  # (N, C, O, H, kernel, stride, padding, groups)
    (3, 3, 32, 18, 3, 1, 0, 1),
    (2, 4, 64, 20, 3, 1, 1, 2),
    (4, 2, 4, 8, 3, 1, 1, 1),
    (5, 6, 16, 14, 5, 1, 0, 1),
    (3, 4, 8, 9, 3, 2, 1, 2),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_both_kernel_paths_match_reference(case):
    n, c, o, h, k, s, p, g = case
    rng = np.random.default_rng(sum(case))
    x, w, b = rng.standard_normal((n, c, h, h)), rng.standard_normal((o, c // g, k, k)), rng.standard_normal(o)
    xt, wt, bt = (rt.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, stride=s, padding=p, groups=g)
    ref = conv2d_ref(x, w, b, s, p, g)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-10)
    gy = rng.standard_normal(ref.shape)
    (y * rt.tensor(gy)).sum().backward()
    # Gradients from the adjoint identity: <gy, conv(x)> is linear in x and in w.
    eps = 1e-6
    for arr, grad in ((x, xt.grad), (w, wt.grad)):
        d = rng.standard_normal(arr.shape)
        plus = conv2d_ref(x + eps * d if arr is x else x, w + eps * d if arr is w else w, b, s, p, g)
        minus = conv2d_ref(x - eps * d if arr is x else x, w - eps * d if arr is w else w, b, s, p, g)
        directional = np.sum(gy * (plus - minus)) / (2 * eps)
        np.testing.assert_allclose(np.sum(grad.numpy() * d), directional, rtol=1e-6)
    np.testing.assert_allclose(bt.grad.numpy(), gy.sum(axis=(0, 2, 3)), rtol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_float32_paths_agree_with_float64(case):
    n, c, o, h, k, s, p, g = case
    rng = np.random.default_rng(1 + sum(case))
    x, w = rng.standard_normal((n, c, h, h)), rng.standard_normal((o, c // g, k, k))
    y64 = F.conv2d(rt.tensor(x), rt.tensor(w), stride=s, padding=p, groups=g).numpy()
    y32 = F.conv2d(rt.tensor(x, dtype=rt.float32), rt.tensor(w, dtype=rt.float32), stride=s, padding=p, groups=g).numpy()
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4 * np.abs(y64).max())


# Float32 convolutions pack patches straight from a padded copy of the image (or, with at most 16
# output channels, accumulate them without a GEMM), at every CPU kernel level, into outputs
# allocated as NaN; each case picks which of the forward, weight-gradient and input-gradient
# products take which path (e.g. few input channels keep gx on column buffers).
STENCIL_CASES = [  # (dims, N, C, O, size, kernel, padding, dilation, groups, stride)
    (2, 3, 3, 32, 18, 3, 0, 1, 1, 1),
    (2, 3, 1, 6, 28, 5, 2, 1, 1, 1),       # LeNet conv1: a part-empty register tile in the forward only
    (2, 5, 6, 16, 14, 5, 0, 1, 1, 1),      # LeNet conv2: runs of 10 output columns per panel
    (2, 2, 8, 24, 10, 3, 1, 1, 2, 1),      # 12 output channels per group: the direct (GEMM-free) kernels
    (2, 3, 4, 9, 12, 3, 1, 2, 1, 1),       # 9 output channels, dilation
    (2, 4, 32, 32, 32, 3, 1, 1, 1, 1),     # one output row per 32-wide panel
    (2, 1, 16, 32, 70, 3, 1, 1, 1, 1),     # 4900 positions: several column blocks of the GEMM
    (2, 1, 32, 16, 16, 3, 1, 1, 1, 1),     # batch of one: the GEMM threads itself
    (2, 2, 32, 64, 12, 3, 2, 2, 2, 1),     # dilation, groups
    (2, 2, 16, 32, 11, 3, 3, 1, 1, 1),     # padding beyond the kernel's reach: gx on column buffers
    (2, 7, 16, 32, 8, 3, 1, 1, 1, 1),      # 8x8 images: every panel spans several output rows
    (1, 3, 16, 32, 50, 5, 2, 2, 1, 1),
    (3, 2, 16, 16, 6, 3, 1, 1, 1, 1),
    (2, 3, 16, 32, 17, 3, 1, 1, 1, 2),     # stride 2: strided runs (gathers); gx on column buffers
    (2, 2, 8, 12, 15, 3, 1, 1, 1, 2),      # stride 2, direct kernels
    (2, 2, 16, 24, 20, 5, 2, 1, 1, 3),     # stride 3, 17-31 output channels
    (1, 2, 16, 40, 64, 4, 0, 1, 1, 2),
    (3, 2, 16, 16, 7, 3, 1, 1, 1, 2),
]


@pytest.mark.parametrize("case", STENCIL_CASES, ids=str)
def test_float32_stencil_convolution_matches_float64(case, cpu_level, poisoned_allocations):
    dims, n, c, o, size, k, p, d, g, st = case
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    rng = np.random.default_rng(7 + sum(case))
    x, w, b = rng.standard_normal((n, c) + (size,) * dims), rng.standard_normal((o, c // g) + (k,) * dims), rng.standard_normal(o)
    results = {}
    gy = rng.standard_normal((n, o) + ((size + 2 * p - d * (k - 1) - 1) // st + 1,) * dims)
    for dtype in (rt.float64, rt.float32):
        xt, wt, bt = (rt.tensor(a, dtype=dtype, requires_grad=True) for a in (x, w, b))
        y = conv(xt, wt, bt, stride=st, padding=p, dilation=d, groups=g)
        y.backward(rt.tensor(gy, dtype=dtype))
        results[dtype] = [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    if dims == 2 and g == 1 and d == 1:
        np.testing.assert_allclose(results[rt.float64][0], conv2d_ref(x, w, b, st, p, 1), rtol=1e-10, atol=1e-10)
    for name, r32, r64 in zip(("y", "gx", "gw", "gb"), results[rt.float32], results[rt.float64]):
        np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-5 * np.abs(r64).max(), err_msg=name)
