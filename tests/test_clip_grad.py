"""Gradient clipping (clip_grad_norm_, clip_grad_value_) against NumPy and torch.nn.utils, and the lasso
penalty l1_penalty (value and gradient)."""
import math

import numpy as np
import pytest

import reticulum as rt
from reticulum.nn.utils import clip_grad_norm_, clip_grad_value_, l1_penalty

NP = {rt.float32: np.float32, rt.float64: np.float64}
SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def grads_np(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.normal(size=s) for s in SHAPES]


def rt_params_with_grads(gs, dtype=rt.float64):
    ps = []
    for g in gs:
        p = rt.tensor(np.zeros(np.shape(g), dtype=NP[dtype]), dtype=dtype, requires_grad=True)
        p.grad = rt.tensor(np.asarray(g, dtype=NP[dtype]), dtype=dtype)
        ps.append(p)
    return ps


def torch_params_with_grads(torch, gs, dtype):
    """The PyTorch twin of rt_params_with_grads."""
    ps = []
    for g in gs:
        p = torch.zeros(np.shape(g), dtype=dtype, requires_grad=True)
        p.grad = torch.tensor(np.asarray(g), dtype=dtype)
        ps.append(p)
    return ps


def np_total_norm(gs, norm_type):
    flat = np.concatenate([np.ravel(g) for g in gs]).astype(np.float64)
    if math.isinf(norm_type):
        return np.max(np.abs(flat))
    return np.sum(np.abs(flat) ** norm_type) ** (1.0 / norm_type)


NORMS = [2.0, 1.0, math.inf, 3.0, 0.5]


@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("max_norm_frac", [0.1, 0.5, 0.99])
def test_clip_grad_norm_scales_to_max_norm(norm_type, max_norm_frac):
    gs = grads_np(1)
    total = np_total_norm(gs, norm_type)
    max_norm = max_norm_frac * total
    ps = rt_params_with_grads(gs)
    out = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    assert isinstance(out, rt.Tensor) and tuple(out.shape) == () and out.dtype == rt.float64
    np.testing.assert_allclose(out.item(), total, rtol=1e-13)  # the norm BEFORE clipping
    coef = max_norm / (total + 1e-6)
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad.numpy(), np.asarray(g) * coef, rtol=1e-13, atol=0)
    # the clipped gradients have (just under) max_norm
    new_total = np_total_norm([p.grad.numpy() for p in ps], norm_type)
    assert new_total <= max_norm
    np.testing.assert_allclose(new_total, max_norm, rtol=1e-6)


@pytest.mark.parametrize("norm_type", NORMS)
def test_clip_grad_norm_is_a_noop_below_max_norm(norm_type):
    gs = grads_np(2)
    total = np_total_norm(gs, norm_type)
    ps = rt_params_with_grads(gs)
    for max_norm in (total * 1.5, total + 1e-3):
        out = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        np.testing.assert_allclose(out.item(), total, rtol=1e-13)
        for p, g in zip(ps, gs):
            np.testing.assert_array_equal(p.grad.numpy(), g)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", NORMS + ["inf"])
@pytest.mark.parametrize("max_norm_frac", [0.3, 2.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm_frac, dtype):
    torch = pytest.importorskip("torch")
    rdt, tdt = (rt.float32, torch.float32) if dtype == "float32" else (rt.float64, torch.float64)
    gs = [g.astype(NP[rdt]) for g in grads_np(3, scale=4.0)]
    max_norm = max_norm_frac * np_total_norm(gs, float(norm_type))
    ps = rt_params_with_grads(gs, rdt)
    tps = torch_params_with_grads(torch, gs, tdt)
    out = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    tout = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    tol = dict(rtol=1e-5, atol=0) if dtype == "float32" else dict(rtol=1e-12, atol=0)
    np.testing.assert_allclose(out.item(), tout.item(), **tol)
    assert out.dtype == rdt
    for p, t in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), **tol)


def test_clip_grad_norm_skips_params_without_grad_and_accepts_generators():
    gs = grads_np(4)
    ps = rt_params_with_grads(gs)
    nograd = rt.tensor(np.ones(3), dtype=rt.float64, requires_grad=True)
    total = np_total_norm(gs, 2.0)
    out = clip_grad_norm_((p for p in [nograd] + ps), total / 2)
    np.testing.assert_allclose(out.item(), total, rtol=1e-13)
    assert nograd.grad is None
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad.numpy(), np.asarray(g) * (total / 2) / (total + 1e-6), rtol=1e-13)


def test_clip_grad_norm_single_tensor():
    p = rt.tensor(np.zeros(4), dtype=rt.float64, requires_grad=True)
    p.grad = rt.tensor(np.array([3.0, 0.0, -4.0, 0.0]), dtype=rt.float64)
    out = clip_grad_norm_(p, 1.0)
    assert out.item() == pytest.approx(5.0, rel=1e-15)
    np.testing.assert_allclose(p.grad.numpy(), np.array([3.0, 0.0, -4.0, 0.0]) / (5.0 + 1e-6), rtol=1e-14)


def test_clip_grad_norm_no_grads_returns_zero():
    p = rt.tensor(np.zeros(4), dtype=rt.float64, requires_grad=True)
    out = clip_grad_norm_([p], 1.0)
    assert out.item() == 0.0
    out = clip_grad_norm_([], 1.0)
    assert out.item() == 0.0


def test_clip_grad_norm_float32_total_is_float32():
    ps = rt_params_with_grads(grads_np(5), rt.float32)
    out = clip_grad_norm_(ps, 0.1)
    assert out.dtype == rt.float32


def test_clip_grad_norm_with_model_gradients():
    torch = pytest.importorskip("torch")
    rt.manual_seed(1)
    lin = rt.nn.Linear(5, 3, dtype=rt.float64)
    tlin = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(lin.weight.detach().numpy().copy()))
        tlin.bias.copy_(torch.from_numpy(lin.bias.detach().numpy().copy()))
    x = np.random.default_rng(0).normal(size=(7, 5))
    (lin(rt.tensor(x)) ** 2).sum().backward()
    (tlin(torch.from_numpy(x)) ** 2).sum().backward()
    out = clip_grad_norm_(lin.parameters(), 0.5)
    tout = torch.nn.utils.clip_grad_norm_(tlin.parameters(), 0.5)
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12)
    np.testing.assert_allclose(lin.weight.grad.numpy(), tlin.weight.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lin.bias.grad.numpy(), tlin.bias.grad.numpy(), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------------- non-finite norms
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_clip_grad_norm_error_if_nonfinite(norm_type, bad):
    gs = grads_np(6)
    gs[0] = gs[0].copy()
    gs[0][1, 2] = bad
    ps = rt_params_with_grads(gs)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    # and the gradients were left alone
    for p, g in zip(ps, gs):
        np.testing.assert_array_equal(p.grad.numpy(), g)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_clip_grad_norm_nonfinite_without_error_matches_torch(norm_type, bad):
    torch = pytest.importorskip("torch")
    gs = grads_np(7)
    gs[1] = gs[1].copy()
    gs[1][3] = bad
    ps = rt_params_with_grads(gs)
    tps = torch_params_with_grads(torch, gs, torch.float64)
    out = clip_grad_norm_(ps, 1.0, norm_type=norm_type)
    tout = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type=norm_type)
    np.testing.assert_array_equal(out.item(), tout.item())  # inf / nan as torch
    for p, t in zip(ps, tps):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_clip_grad_norm_finite_with_error_flag_is_fine():
    ps = rt_params_with_grads(grads_np(8))
    out = clip_grad_norm_(ps, 0.1, error_if_nonfinite=True)
    assert math.isfinite(out.item())


# ------------------------------------------------------------------------------------ clip_grad_value_
@pytest.mark.parametrize("clip", [0.0, 0.3, 1.0, 100.0])
def test_clip_grad_value(clip):
    gs = grads_np(9, scale=2.0)
    ps = rt_params_with_grads(gs)
    nograd = rt.tensor(np.ones(2), dtype=rt.float64, requires_grad=True)
    assert clip_grad_value_(ps + [nograd], clip) is None
    for p, g in zip(ps, gs):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -clip, clip))
    assert nograd.grad is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_value_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rdt, tdt = (rt.float32, torch.float32) if dtype == "float32" else (rt.float64, torch.float64)
    gs = [g.astype(NP[rdt]) for g in grads_np(10, scale=3.0)]
    gs[0] = gs[0].copy()
    gs[0][0, 0], gs[0][0, 1], gs[0][0, 2] = np.inf, -np.inf, np.nan
    ps = rt_params_with_grads(gs, rdt)
    tps = torch_params_with_grads(torch, gs, tdt)
    clip_grad_value_(ps, 0.7)
    torch.nn.utils.clip_grad_value_(tps, 0.7)
    for p, t in zip(ps, tps):
        assert p.grad.dtype == rdt
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_clip_grad_value_single_tensor():
    p = rt.tensor(np.zeros(3), dtype=rt.float64, requires_grad=True)
    p.grad = rt.tensor(np.array([-5.0, 0.1, 5.0]), dtype=rt.float64)
    clip_grad_value_(p, 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.1, 1.0])


# ------------------------------------------------------------------------------------------ l1_penalty
def test_l1_penalty_value_and_gradient():
    a = np.array([[1.5, -2.0, 0.0], [0.25, -0.0, 3.0]])
    b = np.array([-0.5, 4.0])
    pa = rt.tensor(a, dtype=rt.float64, requires_grad=True)
    pb = rt.tensor(b, dtype=rt.float64, requires_grad=True)
    pen = l1_penalty([pa, pb], weight=0.3)
    assert tuple(pen.shape) == ()
    np.testing.assert_allclose(pen.item(), 0.3 * (np.abs(a).sum() + np.abs(b).sum()), rtol=1e-15)
    pen.backward()
    # d/dtheta weight*|theta| = weight*sign(theta), with the subgradient 0 at theta = 0
    np.testing.assert_array_equal(pa.grad.numpy(), 0.3 * np.sign(a))
    np.testing.assert_array_equal(pb.grad.numpy(), 0.3 * np.sign(b))


def test_l1_penalty_default_weight_and_generator():
    rt.manual_seed(0)
    lin = rt.nn.Linear(4, 3, dtype=rt.float64)
    expected = sum(np.abs(p.detach().numpy()).sum() for p in lin.parameters())
    pen = l1_penalty(lin.parameters())
    np.testing.assert_allclose(pen.item(), expected, rtol=1e-14)
    pen.backward()
    for p in lin.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.sign(p.detach().numpy()))


def test_l1_penalty_in_a_loss_adds_weight_sign():
    w = rt.tensor(np.array([2.0, -3.0, 0.5]), dtype=rt.float64, requires_grad=True)
    loss = (w * w).sum() + l1_penalty([w], weight=0.1)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.array([2.0, -3.0, 0.5]) + 0.1 * np.array([1, -1, 1]), rtol=1e-15)


def test_l1_penalty_float32_and_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    p = rt.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    pen = l1_penalty([p], weight=0.01)
    tpen = 0.01 * t.abs().sum()
    assert pen.dtype == rt.float32
    np.testing.assert_allclose(pen.item(), tpen.item(), rtol=1e-6)
    pen.backward()
    tpen.backward()
    np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_l1_penalty_no_parameters_raises():
    with pytest.raises(ValueError):
        l1_penalty([])
