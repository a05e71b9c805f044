"""The NumPy references of references.py checked against simpler definitions: the vectorised convolution
against a scalar loop, and its adjoint against central differences."""
import numpy as np
import pytest

from helpers import numgrad, rng
from opinfo import CONV_CASES
from references import conv_padding, ref_conv, ref_conv_grads, ref_conv_scalar, tup


def _conv_setup(name):
    nd, case = int(name[0]), name[3:]
    xs, ws, stride, padding, dilation, groups, bias = CONV_CASES[nd][case]
    r = rng("conv", name)
    x, w = r.standard_normal(xs), r.standard_normal(ws)
    b = r.standard_normal(ws[0]) if bias else None
    dil = tup(dilation, nd)
    return nd, x, w, b, (tup(stride, nd), conv_padding(padding, ws, dil, nd), dil, groups)


@pytest.mark.parametrize("name", ["1d_stride_pad_groups", "1d_dilation_bigpad", "2d_mixed", "2d_depthwise", "3d_mixed",
                                  "2d_pad_exceeds_input"])
def test_conv_reference_matches_scalar_loop(name):
    """The vectorised reference agrees with the scalar-loop definition (guards the reference itself)."""
    nd, x, w, b, (st, pad, dil, groups) = _conv_setup(name)
    if x.ndim == nd + 1:
        x = x[None]
    np.testing.assert_allclose(ref_conv(x, w, b, st, pad, dil, groups), ref_conv_scalar(x, w, b, st, pad, dil, groups),
                               rtol=1e-12, atol=1e-12)


def test_conv_grad_reference_matches_finite_differences():
    nd, x, w, b, (st, pad, dil, groups) = _conv_setup("2d_mixed")
    x, w = x[:1, :, :4, :5], w
    G = rng("G").standard_normal(ref_conv(x, w, b, st, pad, dil, groups).shape)
    gx, gw, gb = ref_conv_grads(x, w, G, st, pad, dil, groups)
    np.testing.assert_allclose(gx, numgrad(lambda a: (ref_conv(a, w, b, st, pad, dil, groups) * G).sum(), x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, numgrad(lambda a: (ref_conv(x, a, b, st, pad, dil, groups) * G).sum(), w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, numgrad(lambda a: (ref_conv(x, w, a, st, pad, dil, groups) * G).sum(), b), rtol=1e-6, atol=1e-7)
