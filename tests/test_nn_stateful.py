"""nn.functional behaviour the op records cannot express: state that ops update in place (batch norm's running
statistics over several steps, in training and eval mode, against the formula and against torch; a failed call
leaves them untouched), and randomness (dropout's masks: values, rate, channels, reproducibility, and the
statistics against torch's). Also gradients at extreme inputs, where a naive formula overflows."""
import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
import references as R
from helpers import close, make, rng, uniform

F32, F64 = rt.float32, rt.float64
NP = {F32: np.float32, F64: np.float64}


def T(a, dtype=None, requires_grad=False):
    return rt.tensor(np.asarray(a), dtype=dtype, requires_grad=requires_grad)


def npy(t):
    return t.detach().numpy()


BN_SHAPES = [(4, 3), (2, 3, 4), (2, 3, 2, 3), (3, 2, 2, 2, 2), (2, 1, 5)]


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.5, 1e-3), (1.0, 1e-5)])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_training_running_stats_over_steps(shape, momentum, eps, affine):
    r = rng("bn", shape, momentum, eps, affine)
    C = shape[1]
    w = r.uniform(0.5, 1.5, C) if affine else None
    b = r.standard_normal(C) if affine else None
    rm_ref, rv_ref = r.standard_normal(C) * 0.1, r.uniform(0.5, 2.0, C)
    trm, trv = T(rm_ref.copy()), T(rv_ref.copy())
    for step in range(4):
        x = r.standard_normal(shape) * (step + 1) + step
        y = F.batch_norm(T(x), trm, trv, None if w is None else T(w), None if b is None else T(b), training=True,
                         momentum=momentum, eps=eps)
        ref, mu, uvar = R.ref_bn_train(x, w, b, eps)
        close(y, ref, f"step {step} output")
        rm_ref = (1 - momentum) * rm_ref + momentum * mu
        rv_ref = (1 - momentum) * rv_ref + momentum * uvar
        close(trm, rm_ref, f"step {step} running_mean")
        close(trv, rv_ref, f"step {step} running_var (unbiased)")
    # eval mode uses (and does not change) the running statistics
    x = r.standard_normal(shape)
    y = F.batch_norm(T(x), trm, trv, None if w is None else T(w), None if b is None else T(b), training=False, eps=eps)
    close(y, R.ref_bn_eval(x, rm_ref, rv_ref, w, b, eps), "eval output")
    close(trm, rm_ref, "eval keeps running_mean")
    close(trv, rv_ref, "eval keeps running_var")


def test_batch_norm_training_without_running_stats():
    x = rng("bn-none").standard_normal((5, 3, 2))
    y = F.batch_norm(T(x), None, None, training=True)
    close(y, R.ref_bn_train(x, None, None, 1e-5)[0], "no running stats")


def test_batch_norm_float32():
    r = rng("bn32")
    x = r.standard_normal((4, 3, 5)).astype(np.float32) * 3 + 2
    w, b = r.uniform(0.5, 1.5, 3).astype(np.float32), r.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    trm, trv = T(rm), T(rv)
    y = F.batch_norm(T(x), trm, trv, T(w), T(b), training=True)
    ref, mu, uvar = R.ref_bn_train(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1e-5)
    assert y.dtype == F32
    close(y, ref, "bn f32", rtol=1e-4, atol=1e-5)
    close(trm, 0.1 * mu, "rm f32", rtol=1e-5, atol=1e-6)
    close(trv, 0.9 + 0.1 * uvar, "rv f32", rtol=1e-5, atol=1e-6)


def test_batch_norm_noncontiguous_input():
    r = rng("bn-nc")
    x = r.standard_normal((4, 3, 5))
    trm, trv = T(np.zeros(3)), T(np.ones(3))
    y = F.batch_norm(make(x, "noncontig"), trm, trv, training=True, momentum=0.2)
    ref, mu, uvar = R.ref_bn_train(x, None, None, 1e-5)
    close(y, ref, "bn noncontig")
    close(trm, 0.2 * mu, "rm")
    close(trv, 0.8 + 0.2 * uvar, "rv")


def test_dropout_p0_is_identity_with_unit_gradient():
    x = rng("d0").standard_normal((4, 5))
    tx = T(x, requires_grad=True)
    y = F.dropout(tx, p=0.0, training=True)
    close(y, x, "p=0", rtol=0, atol=0)
    y.backward(T(np.full((4, 5), 3.0)))
    close(tx.grad, np.full((4, 5), 3.0), "p=0 grad", rtol=0, atol=0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
@pytest.mark.parametrize("p", [0.0, 0.5, 0.9, 1.0])
def test_dropout_eval_is_identity(fn, p):
    x = rng("deval").standard_normal((2, 3, 4, 4))
    tx = T(x, requires_grad=True)
    y = fn(tx, p=p, training=False)
    close(y, x, "eval", rtol=0, atol=0)
    y.sum().backward()
    close(tx.grad, np.ones_like(x), "eval grad", rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_mask_values_and_rate(p, dtype):
    rt.manual_seed(1234)
    n = 200_000
    x = rng("drate", p).uniform(1.0, 2.0, n).astype(NP[dtype])
    tx = T(x, dtype, requires_grad=True)
    y = F.dropout(tx, p=p, training=True)
    assert y.dtype == dtype and tuple(y.shape) == (n,)
    ratio = npy(y).astype(np.float64) / x.astype(np.float64)
    kept = ratio != 0
    np.testing.assert_allclose(ratio[kept], 1.0 / (1.0 - p), rtol=1e-6 if dtype == F32 else 1e-12)
    frac = 1.0 - kept.mean()
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(frac - p) < 6 * sigma, f"fraction of zeros {frac} vs p={p}"
    # gradient is exactly the mask (0 or 1/(1-p))
    G = rng("dG", p).standard_normal(n).astype(NP[dtype])
    y.backward(T(G, dtype))
    mask = np.where(kept, 1.0 / (1.0 - p), 0.0)
    np.testing.assert_allclose(npy(tx.grad).astype(np.float64), G.astype(np.float64) * mask, rtol=1e-6 if dtype == F32 else 1e-12,
                               atol=0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_dropout_noncontiguous_input(fn):
    rt.manual_seed(11)
    x = rng("dnc").uniform(1.0, 2.0, (6, 8, 3, 3))
    tx = make(x, "noncontig", requires_grad=True)
    y = fn(tx, p=0.5)
    ratio = npy(y) / x
    assert np.all((ratio == 0) | np.isclose(ratio, 2.0, rtol=1e-12, atol=0))
    assert 0.2 < (ratio == 0).mean() < 0.8
    y.sum().backward()
    close(tx.grad, ratio, "grad is the mask", rtol=1e-12, atol=0)


def test_dropout_p1_zeroes_everything():
    x = rng("p1").standard_normal((3, 4))
    tx = T(x, requires_grad=True)
    y = F.dropout(tx, p=1.0)
    close(y, np.zeros_like(x), "p=1", rtol=0, atol=0)
    y.sum().backward()
    close(tx.grad, np.zeros_like(x), "p=1 grad", rtol=0, atol=0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_dropout_deterministic_under_manual_seed(fn):
    x = T(np.ones((8, 16, 3, 3)))
    rt.manual_seed(7)
    a = npy(fn(x, p=0.4))
    rt.manual_seed(7)
    b = npy(fn(x, p=0.4))
    rt.manual_seed(8)
    c = npy(fn(x, p=0.4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c), "different seeds gave the same mask"
    d = npy(fn(x, p=0.4))  # the generator advances: a second call draws a new mask
    assert not np.array_equal(c, d)


def test_dropout_default_is_training_with_half():
    rt.manual_seed(3)
    y = npy(F.dropout(T(np.ones(20000))))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.03


@pytest.mark.parametrize("shape", [(16, 64, 3, 3), (32, 32, 5), (8, 16, 2, 2, 2)], ids=str)
@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout2d_zeroes_whole_channels(shape, p):
    rt.manual_seed(99)
    x = rng("d2", shape).uniform(1.0, 2.0, shape)
    tx = T(x, requires_grad=True)
    y = F.dropout2d(tx, p=p)
    ratio = (npy(y) / x).reshape(shape[0], shape[1], -1)
    per_channel = ratio[:, :, :1]
    np.testing.assert_allclose(ratio, np.broadcast_to(per_channel, ratio.shape), rtol=1e-12, atol=0,
                               err_msg="mask not constant over a channel")
    vals = per_channel.ravel()
    assert np.all((vals == 0) | np.isclose(vals, 1 / (1 - p), rtol=1e-12, atol=0))
    n = vals.size
    frac = (vals == 0).mean()
    assert abs(frac - p) < 6 * np.sqrt(p * (1 - p) / n), f"fraction of dropped channels {frac} vs p={p}"
    G = rng("d2G", shape).standard_normal(shape)
    y.backward(T(G))
    close(tx.grad, G * np.broadcast_to(per_channel, ratio.shape).reshape(shape), "dropout2d grad is the mask", rtol=1e-12, atol=0)


def test_softplus_extreme_values_are_stable():
    x = np.array([-1000.0, -50.0, -1e-8, 0.0, 1e-8, 30.0, 50.0, 1000.0])
    tx = T(x, requires_grad=True)
    y = F.softplus(tx)
    close(y, np.logaddexp(0, x), "softplus extremes", rtol=1e-14, atol=1e-300)
    y.sum().backward()
    with np.errstate(over="ignore", invalid="ignore"):
        sig = np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    close(tx.grad, sig, "softplus grad extremes", rtol=1e-14, atol=1e-300)
    x32 = np.array([-200.0, -20.0, 0.0, 20.0, 200.0], np.float32)
    y32 = npy(F.softplus(T(x32)))
    assert np.all(np.isfinite(y32))
    np.testing.assert_allclose(y32, np.logaddexp(0, x32.astype(np.float64)), rtol=1e-6, atol=1e-30)


def test_binary_cross_entropy_with_logits_extreme_logits():
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    tx = T(x, requires_grad=True)
    y = F.binary_cross_entropy_with_logits(tx, T(t), reduction="none")
    close(y, R.np_bce_logits(x, t, reduction="none"), "bce_logits extremes", rtol=1e-14, atol=1e-14)
    y.sum().backward()
    close(tx.grad, 1 / (1 + np.exp(-x)) - t, "bce_logits grad extremes", rtol=1e-12, atol=1e-14)


def test_failed_calls_leave_running_stats_untouched():
    rm, rv = rt.tensor(np.array([0.5, -0.5, 1.0], np.float32)), rt.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    with pytest.raises(ValueError):
        F.batch_norm(T(uniform((4, 3), 'x'), F32), rm, rv, T(uniform((2,), 'w'), F32), training=True)  # weight shape is wrong
    np.testing.assert_array_equal(rm.numpy(), [0.5, -0.5, 1.0])
    np.testing.assert_array_equal(rv.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("layout", ["contig", "noncontig"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 4, 3, 3), (2, 2, 2, 3, 2)], ids=str)
def test_batch_norm_parity_over_steps(shape, affine, layout):
    """Five steps mixing training (momentum 0.1, 0.3, 1.0) and eval: outputs, gradients and the running
    statistics stay with torch's (float32; atol relative to the largest value, as for the op records)."""
    torch = pytest.importorskip("torch")
    Cn = shape[1]
    r = rng("bn", shape, affine)
    rm0, rv0 = (r.standard_normal(Cn) * 0.1).astype(np.float32), r.uniform(0.5, 2, Cn).astype(np.float32)
    w0, b0 = uniform((Cn,), "w", 0.5, 1.5).astype(np.float32), uniform((Cn,), "b").astype(np.float32)
    rrm, rrv = rt.tensor(rm0.copy()), rt.tensor(rv0.copy())
    trm, trv = torch.tensor(rm0.copy()), torch.tensor(rv0.copy())
    for step, (training, momentum) in enumerate([(True, 0.1), (True, 0.3), (False, 0.1), (True, 1.0), (False, 0.1)]):
        x = (r.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        arrays = [x] + ([w0, b0] if affine else [])
        rts = [make(a, layout, requires_grad=True) for a in arrays]
        ths = [torch.tensor(a, requires_grad=True) for a in arrays]
        out_rt = F.batch_norm(rts[0], rrm, rrv, *rts[1:], training=training, momentum=momentum, eps=1e-4)
        out_th = torch.nn.functional.batch_norm(ths[0], trm, trv, *ths[1:], training=training, momentum=momentum, eps=1e-4)
        ref = out_th.detach().numpy()
        np.testing.assert_allclose(npy(out_rt), ref, rtol=1e-4, atol=2e-5 * max(1.0, float(np.abs(ref).max())), err_msg=f"step {step} output")
        G = rng("G", shape, step).standard_normal(shape).astype(np.float32)
        out_rt.backward(rt.tensor(G))
        out_th.backward(torch.tensor(G))
        for i, (a, b) in enumerate(zip(rts, ths)):
            g = b.grad.numpy()
            np.testing.assert_allclose(npy(a.grad), g, rtol=1e-4, atol=2e-5 * max(1.0, float(np.abs(g).max())), err_msg=f"step {step} grad {i}")
        np.testing.assert_allclose(rrm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"running_mean after step {step}")
        np.testing.assert_allclose(rrv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"running_var after step {step}")


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_statistics_match_torch(p):
    torch = pytest.importorskip("torch")
    n = 100_000
    x = np.ones(n, np.float32)
    rt.manual_seed(0)
    torch.manual_seed(0)
    a = F.dropout(rt.tensor(x), p).numpy()
    b = torch.nn.functional.dropout(torch.tensor(x), p).numpy()
    assert set(np.unique(a)) == set(np.unique(b)), (np.unique(a), np.unique(b))
    assert abs((a == 0).mean() - (b == 0).mean()) < 0.02
