"""Convolution against a direct NumPy reference over the shapes that pick different GEMM kernels
(AVX-512 SGEMM for wide products, Eigen for skinny ones), with groups and strides."""
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
