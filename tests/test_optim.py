"""Optimizers: every optimizer, over a grid of hyperparameters, follows its published update rule step by
step (a NumPy float64 re-implementation written here, ~1e-12) and PyTorch's torch.optim (float32 and
float64). Plus param groups, params without gradients, zero_grad, state dicts (also through rt.save /
rt.load), validation of hyperparameters and loaded state, lr changes between steps, and a small model.

The loss is a fixed, smooth, nonconvex function of all parameter elements (flattened and concatenated):
    f(z) = sum sin(2 z) + 0.05 sum z^2 + 0.3 sum tanh(z * roll(z, 1))
Its gradient is computed in NumPy (float64) from the current parameter values and written into .grad, so
the optimizer is tested in isolation from autograd (the model test at the end goes through autograd).
"""
import itertools
import math

import numpy as np
import pytest

import reticulum as rt

STEPS = 25
SHAPES = [(3, 4), (5,)]
NP_DTYPE = {rt.float32: np.float32, rt.float64: np.float64}


# ----------------------------------------------------------------------------------------------- the loss
def loss_grad(z):
    z = np.asarray(z, dtype=np.float64)
    t = np.tanh(z * np.roll(z, 1))
    s = 1.0 - t * t
    return 2.0 * np.cos(2.0 * z) + 0.1 * z + 0.3 * (s * np.roll(z, 1) + np.roll(s * z, -1))


def loss_value(z):
    z = np.asarray(z, dtype=np.float64)
    return np.sum(np.sin(2 * z)) + 0.05 * np.sum(z * z) + 0.3 * np.sum(np.tanh(z * np.roll(z, 1)))


def test_loss_grad_is_the_gradient():
    # The helper itself: central differences agree with the analytic gradient.
    z = np.random.default_rng(0).normal(size=17)
    h = 1e-6
    fd = np.array([(loss_value(z + h * e) - loss_value(z - h * e)) / (2 * h) for e in np.eye(17)])
    np.testing.assert_allclose(loss_grad(z), fd, rtol=1e-7, atol=1e-7)


def init_values(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, size=s) for s in SHAPES]


def split(z, shapes):
    out, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(z[i:i + n].reshape(s))
        i += n
    return out


def flat(arrays):
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


# ------------------------------------------------------------------------ NumPy references (float64)
class Ref:
    """The published update rules, one parameter at a time (state per parameter, step count per parameter)."""

    def __init__(self, kind, groups):
        # groups: list of (hyper dict, number of params)
        self.kind = kind
        self.groups = [dict(h) for h, _ in groups]
        self.state = [[{} for _ in range(n)] for _, n in groups]

    def step(self, params, grads):
        """params / grads: list (per group) of lists of float64 arrays (grad None = no gradient). Returns new params."""
        out = []
        for h, ps, gs, sts in zip(self.groups, params, grads, self.state):
            out.append([p.copy() if g is None else getattr(self, "_" + self.kind)(h, p.copy(), g, st)
                        for p, g, st in zip(ps, gs, sts)])
        return out

    @staticmethod
    def _sgd(h, p, g, st):
        # PyTorch's SGD: v <- mu v + (1 - dampening) d (v_1 = d), Nesterov d + mu v, p <- p - lr v.
        d = (-g if h.get("maximize") else g) + h.get("weight_decay", 0) * p
        mu = h.get("momentum", 0)
        if mu != 0:
            if "buf" not in st:
                st["buf"] = d.copy()
            else:
                st["buf"] = mu * st["buf"] + (1 - h.get("dampening", 0)) * d
            d = d + mu * st["buf"] if h.get("nesterov") else st["buf"]
        return p - h["lr"] * d

    @staticmethod
    def _adam(h, p, g, st, decoupled=False):
        # Kingma & Ba, Algorithm 1 (+ L2 weight decay in the gradient, or decoupled decay for AdamW,
        # + AMSGrad's running max of the second moment).
        b1, b2 = h.get("betas", (0.9, 0.999))
        eps, lr, wd = h.get("eps", 1e-8), h["lr"], h.get("weight_decay", 0)
        g = -g if h.get("maximize") else g
        if decoupled:
            p = p * (1 - lr * wd)  # Loshchilov & Hutter
        else:
            g = g + wd * p
        t = st["t"] = st.get("t", 0) + 1
        m = st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
        v = st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
        if h.get("amsgrad"):
            v = st["vmax"] = np.maximum(st.get("vmax", 0.0), v)
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)

    @staticmethod
    def _adamw(h, p, g, st):
        return Ref._adam({"weight_decay": 1e-2, **h}, p, g, st, decoupled=True)  # AdamW's default decay is 1e-2

    @staticmethod
    def _rmsprop(h, p, g, st):
        # Hinton's RMSprop in PyTorch's form (centered: Graves 2013; momentum on the scaled gradient).
        a, eps, lr, mu = h.get("alpha", 0.99), h.get("eps", 1e-8), h["lr"], h.get("momentum", 0)
        g = (-g if h.get("maximize") else g) + h.get("weight_decay", 0) * p
        sq = st["sq"] = a * st.get("sq", 0.0) + (1 - a) * g * g
        if h.get("centered"):
            ga = st["ga"] = a * st.get("ga", 0.0) + (1 - a) * g
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if mu > 0:
            buf = st["buf"] = mu * st.get("buf", 0.0) + g / avg
            return p - lr * buf
        return p - lr * g / avg

    @staticmethod
    def _adagrad(h, p, g, st):
        # Duchi et al.: sum <- sum + g^2; p <- p - clr g / (sqrt(sum) + eps), clr = lr / (1 + (t-1) lr_decay).
        lr, eps = h["lr"], h.get("eps", 1e-10)
        g = (-g if h.get("maximize") else g) + h.get("weight_decay", 0) * p
        t = st["t"] = st.get("t", 0) + 1
        s = st["sum"] = st.get("sum", h.get("initial_accumulator_value", 0.0)) + g * g
        clr = lr / (1 + (t - 1) * h.get("lr_decay", 0))
        return p - clr * g / (np.sqrt(s) + eps)

    @staticmethod
    def _adadelta(h, p, g, st):
        # Zeiler 2012, Algorithm 1 (+ lr scaling the update, as PyTorch): E[g^2] <- rho E[g^2] + (1-rho) g^2;
        # dx = -RMS[dx] / RMS[g] g; E[dx^2] <- rho E[dx^2] + (1-rho) dx^2.
        rho, eps, lr = h.get("rho", 0.9), h.get("eps", 1e-6), h.get("lr", 1.0)
        g = (-g if h.get("maximize") else g) + h.get("weight_decay", 0) * p
        eg = st["eg"] = rho * st.get("eg", 0.0) + (1 - rho) * g * g
        dx = np.sqrt(st.get("edx", 0.0) + eps) / np.sqrt(eg + eps) * g
        st["edx"] = rho * st.get("edx", 0.0) + (1 - rho) * dx * dx
        return p - lr * dx


# ------------------------------------------------------------------------------------------ grids
def _grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*axes.values())]


SGD_GRID = [h for h in _grid(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                             weight_decay=[0.0, 0.05], maximize=[False, True])
            if not (h["nesterov"] and (h["momentum"] == 0 or h["dampening"] != 0))]
ADAM_GRID = [{k: v for k, v in h.items() if k != "be"} | {"betas": h["be"][:2], "eps": h["be"][2]}
             for h in _grid(lr=[0.05], be=[(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-3)], weight_decay=[0.0, 0.05],
                            amsgrad=[False, True], maximize=[False, True])]
RMSPROP_GRID = _grid(lr=[0.01], alpha=[0.99, 0.8], momentum=[0.0, 0.6], centered=[False, True],
                     weight_decay=[0.0, 0.05], maximize=[False, True])
ADAGRAD_GRID = _grid(lr=[0.1], lr_decay=[0.0, 0.1], weight_decay=[0.0, 0.05], initial_accumulator_value=[0.0, 0.4],
                     maximize=[False, True])
ADADELTA_GRID = _grid(lr=[1.0, 0.5], rho=[0.9, 0.5], eps=[1e-6, 1e-2], weight_decay=[0.0, 0.05], maximize=[False, True])

CASES = ([("sgd", h) for h in SGD_GRID] + [("adam", h) for h in ADAM_GRID] + [("adamw", h) for h in ADAM_GRID]
         + [("rmsprop", h) for h in RMSPROP_GRID] + [("adagrad", h) for h in ADAGRAD_GRID]
         + [("adadelta", h) for h in ADADELTA_GRID])
CASE_IDS = [k + "-" + "-".join(f"{n}={v}" for n, v in h.items() if n != "lr") for k, h in CASES]

RT_CLS = {"sgd": rt.optim.SGD, "adam": rt.optim.Adam, "adamw": rt.optim.AdamW, "rmsprop": rt.optim.RMSprop,
          "adagrad": rt.optim.Adagrad, "adadelta": rt.optim.Adadelta}


def torch_cls(torch, kind):
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
            "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad, "adadelta": torch.optim.Adadelta}[kind]


def test_grid_sizes():
    assert len(SGD_GRID) == 20 and len(ADAM_GRID) == 16 and len(RMSPROP_GRID) == 32 and len(ADAGRAD_GRID) == 16
    assert len(ADADELTA_GRID) == 32


# ------------------------------------------------------------------------------------------ drivers
def rt_params(values, dtype):
    return [rt.tensor(np.array(v, dtype=NP_DTYPE[dtype]), dtype=dtype, requires_grad=True) for v in values]


def rt_values(params):
    return [p.detach().numpy().astype(np.float64) for p in params]


def set_rt_grads(params, dtype):
    """Writes the loss gradient at the current values into every param's .grad."""
    gs = split(loss_grad(flat(rt_values(params))), [tuple(p.shape) for p in params])
    for p, g in zip(params, gs):
        p.grad = rt.tensor(g.astype(NP_DTYPE[dtype]), dtype=dtype)


def rt_trajectory(kind, hyper, dtype, values, steps=STEPS):
    params = rt_params(values, dtype)
    opt = RT_CLS[kind](params, **hyper)
    traj = []
    for _ in range(steps):
        set_rt_grads(params, dtype)
        opt.step()
        traj.append(flat(rt_values(params)))
    return np.array(traj)


def ref_trajectory(kind, hyper, values, steps=STEPS):
    ref = Ref(kind, [(hyper, len(values))])
    ps = [np.array(v, dtype=np.float64) for v in values]
    traj = []
    for _ in range(steps):
        gs = split(loss_grad(flat(ps)), [p.shape for p in ps])
        ps = ref.step([ps], [gs])[0]
        traj.append(flat(ps))
    return np.array(traj)


def torch_trajectory(torch, kind, hyper, tdtype, values, steps=STEPS):
    params = [torch.tensor(np.array(v), dtype=tdtype, requires_grad=True) for v in values]
    opt = torch_cls(torch, kind)(params, **hyper)
    traj = []
    for _ in range(steps):
        gs = split(loss_grad(flat([p.detach().numpy() for p in params])), [tuple(p.shape) for p in params])
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g, dtype=tdtype)
        opt.step()
        traj.append(flat([p.detach().numpy() for p in params]))
    return np.array(traj)


def assert_traj(actual, expected, rtol, atol, what):
    assert actual.shape == expected.shape
    for t, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"{what}: step {t + 1}")


# ------------------------------------------------------------------------ trajectories: reference + torch
@pytest.mark.parametrize("kind,hyper", CASES, ids=CASE_IDS)
def test_trajectory_matches_numpy_reference(kind, hyper):
    values = init_values()
    actual = rt_trajectory(kind, hyper, rt.float64, values)
    expected = ref_trajectory(kind, hyper, values)
    assert np.all(np.isfinite(expected))
    # The trajectory really moves (a no-op optimizer would not pass trivially).
    assert np.max(np.abs(expected[-1] - flat(values))) > 1e-2
    assert_traj(actual, expected, 1e-12, 1e-12, f"{kind} {hyper} vs NumPy reference")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind,hyper", CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(kind, hyper, dtype):
    torch = pytest.importorskip("torch")
    values = init_values()
    rdt, tdt = (rt.float32, torch.float32) if dtype == "float32" else (rt.float64, torch.float64)
    if dtype == "float32":
        values = [v.astype(np.float32) for v in values]
    actual = rt_trajectory(kind, hyper, rdt, values)
    expected = torch_trajectory(torch, kind, hyper, tdt, values)
    tol = dict(rtol=1e-4, atol=5e-5) if dtype == "float32" else dict(rtol=1e-11, atol=1e-11)
    assert_traj(actual, expected, what=f"{kind} {hyper} {dtype} vs torch", **tol)


def test_sgd_first_steps_by_hand():
    # p=1, g=2 (constant, set by hand), lr=0.1, momentum=0.9, dampening=0.5:
    # v1 = 2, p1 = 0.8; v2 = 0.9*2 + 0.5*2 = 2.8, p2 = 0.52.
    p = rt.tensor([1.0], dtype=rt.float64, requires_grad=True)
    opt = rt.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    out = []
    for _ in range(2):
        p.grad = rt.tensor([2.0], dtype=rt.float64)
        opt.step()
        out.append(p.item())
    np.testing.assert_allclose(out, [0.8, 0.52], rtol=0, atol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, Adam's first step is lr * g / (|g| + eps') ~ lr * sign(g) for any betas.
    p = rt.tensor([1.0, -2.0, 3.0], dtype=rt.float64, requires_grad=True)
    opt = rt.optim.Adam([p], lr=0.1, betas=(0.7, 0.95), eps=0.0)
    p.grad = rt.tensor([0.3, -5.0, 1e-3], dtype=rt.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, -1.9, 2.9], rtol=0, atol=1e-14)


# --------------------------------------------------------------------------------- param groups
def _two_group_run(kind, g0, g1, make_grads_none_for=None, steps=STEPS):
    """Runs rt and the NumPy reference with the two params in two groups with different hyperparameters."""
    values = init_values(1)
    params = rt_params(values, rt.float64)
    opt = RT_CLS[kind]([{"params": [params[0]], **g0}, {"params": [params[1]], **g1}])
    ref = Ref(kind, [(g0, 1), (g1, 1)])
    ps = [np.array(v) for v in values]
    for t in range(steps):
        gs = split(loss_grad(flat(ps)), [p.shape for p in ps])
        if make_grads_none_for and make_grads_none_for(t):
            gs[1] = None
        ps = [x[0] for x in ref.step([[ps[0]], [ps[1]]], [[gs[0]], [gs[1]]])]
        for p, g in zip(params, gs):
            p.grad = None if g is None else rt.tensor(g, dtype=rt.float64)
        opt.step()
        assert_traj(flat(rt_values(params))[None], flat(ps)[None], 1e-12, 1e-12, f"{kind} groups, step {t + 1}")
    return opt, params


@pytest.mark.parametrize("kind,g0,g1", [
    ("sgd", dict(lr=0.05, momentum=0.9), dict(lr=0.01, momentum=0.5, nesterov=True)),
    ("adam", dict(lr=0.05), dict(lr=0.002, betas=(0.8, 0.99), amsgrad=True)),
    ("adamw", dict(lr=0.05, weight_decay=0.1), dict(lr=0.01, weight_decay=0.0)),
    ("rmsprop", dict(lr=0.01, centered=True), dict(lr=0.003, momentum=0.5)),
    ("adagrad", dict(lr=0.1, lr_decay=0.1), dict(lr=0.3, initial_accumulator_value=0.2)),
    ("adadelta", dict(lr=1.0, rho=0.9), dict(lr=0.5, rho=0.6, weight_decay=0.1)),
])
def test_param_groups_with_different_hyperparameters(kind, g0, g1):
    opt, _ = _two_group_run(kind, g0, g1)
    assert [g["lr"] for g in opt.param_groups] == [g0["lr"], g1["lr"]]


def test_param_groups_inherit_defaults():
    a = rt.tensor([1.0], requires_grad=True)
    b = rt.tensor([2.0], requires_grad=True)
    opt = rt.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[1]["momentum"] == 0.9


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    values = init_values(2)
    groups = [dict(lr=0.05, weight_decay=0.1), dict(lr=0.01, betas=(0.8, 0.9))]
    rp = rt_params(values, rt.float64)
    tp = [torch.tensor(v, requires_grad=True) for v in values]
    ro = rt.optim.Adam([{"params": [p], **g} for p, g in zip(rp, groups)])
    to = torch.optim.Adam([{"params": [p], **g} for p, g in zip(tp, groups)])
    for t in range(STEPS):
        set_rt_grads(rp, rt.float64)
        for p, r in zip(tp, rp):
            p.grad = torch.tensor(r.grad.numpy())
        ro.step()
        to.step()
        np.testing.assert_allclose(flat(rt_values(rp)), flat([p.detach().numpy() for p in tp]), rtol=1e-11, atol=1e-11,
                                   err_msg=f"step {t + 1}")


# ------------------------------------------------------------------------ params without gradients
@pytest.mark.parametrize("kind", list(RT_CLS))
def test_params_without_grad_are_skipped(kind):
    hyper = {"sgd": dict(lr=0.05, momentum=0.9, weight_decay=0.1), "adam": dict(lr=0.05, weight_decay=0.1),
             "adamw": dict(lr=0.05), "rmsprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
             "adagrad": dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.1),
             "adadelta": dict(weight_decay=0.1)}[kind]
    values = init_values(3)
    params = rt_params(values, rt.float64)
    frozen = rt.tensor(np.array([0.5, -0.25]), dtype=rt.float64, requires_grad=True)
    opt = RT_CLS[kind](params + [frozen], **hyper)
    for _ in range(3):
        set_rt_grads(params, rt.float64)
        opt.step()
    # never touched (weight decay would move it if it were updated), and it has no state
    np.testing.assert_array_equal(frozen.detach().numpy(), [0.5, -0.25])
    assert frozen.grad is None
    assert frozen not in opt.state
    sd = opt.state_dict()
    assert 2 not in sd["state"] and set(sd["state"]) == {0, 1}
    assert all(sd["state"][i]["step"] == 3 for i in (0, 1))


@pytest.mark.parametrize("kind", ["adam", "adagrad", "sgd", "rmsprop"])
def test_param_getting_grad_late_has_own_step_count(kind):
    # The second param has no gradient for the first 7 steps: its state (bias correction, lr decay,
    # momentum buffer initialisation) must start when it first gets one, as in the reference.
    hyper = {"sgd": dict(lr=0.05, momentum=0.9, dampening=0.2), "adam": dict(lr=0.05),
             "rmsprop": dict(lr=0.01, momentum=0.5), "adagrad": dict(lr=0.1, lr_decay=0.2)}[kind]
    opt, params = _two_group_run(kind, hyper, hyper, make_grads_none_for=lambda t: t < 7)
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == STEPS and sd["state"][1]["step"] == STEPS - 7


def test_params_without_grad_skipped_match_torch():
    torch = pytest.importorskip("torch")
    values = init_values(4)
    rp = rt_params(values, rt.float64)
    tp = [torch.tensor(v, requires_grad=True) for v in values]
    ro = rt.optim.Adam(rp, lr=0.05, amsgrad=True)
    to = torch.optim.Adam(tp, lr=0.05, amsgrad=True)
    for t in range(STEPS):
        set_rt_grads(rp, rt.float64)
        if t % 3 == 0:
            rp[1].grad = None
        for p, r in zip(tp, rp):
            p.grad = None if r.grad is None else torch.tensor(r.grad.numpy())
        ro.step()
        to.step()
        np.testing.assert_allclose(flat(rt_values(rp)), flat([p.detach().numpy() for p in tp]), rtol=1e-11, atol=1e-11,
                                   err_msg=f"step {t + 1}")


# --------------------------------------------------------------------------------------- zero_grad
def test_zero_grad_set_to_none():
    params = rt_params(init_values(), rt.float64)
    opt = rt.optim.SGD(params, lr=0.1)
    set_rt_grads(params, rt.float64)
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in params)
    opt.step()  # no gradients: nothing moves
    np.testing.assert_array_equal(flat(rt_values(params)), flat(init_values()))


def test_zero_grad_default_is_set_to_none():
    params = rt_params(init_values(), rt.float64)
    opt = rt.optim.Adam(params)
    set_rt_grads(params, rt.float64)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_set_to_zero_keeps_grad_tensors():
    params = rt_params(init_values(), rt.float64)
    opt = rt.optim.SGD(params, lr=0.1, weight_decay=0.5)
    set_rt_grads(params, rt.float64)
    opt.zero_grad(set_to_none=False)
    for p in params:
        assert p.grad is not None and tuple(p.grad.shape) == tuple(p.shape)
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    opt.step()  # zero gradients are still gradients: weight decay alone moves p by -lr*wd*p
    np.testing.assert_allclose(flat(rt_values(params)), flat(init_values()) * (1 - 0.1 * 0.5), rtol=1e-15, atol=0)


def test_zero_grad_then_backward_accumulates_fresh():
    w = rt.tensor(np.array([1.0, 2.0]), dtype=rt.float64, requires_grad=True)
    opt = rt.optim.SGD([w], lr=0.1)
    for set_to_none in (True, False):
        (w * w).sum().backward()
        opt.zero_grad(set_to_none=set_to_none)
        (w * 3.0).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])
        opt.zero_grad()


# ------------------------------------------------------------------------------------- state dicts
STATEFUL = [("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
            ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
            ("adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
            ("adamw", dict(lr=0.05, betas=(0.8, 0.95))),
            ("rmsprop", dict(lr=0.01, momentum=0.5, centered=True)),
            ("adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3)),
            ("adadelta", dict(lr=0.8, rho=0.7, weight_decay=0.01))]
STATEFUL_IDS = [f"{k}{i}" for i, (k, _) in enumerate(STATEFUL)]


def _resume_trajectory(kind, hyper, via_file=None, split_at=10):
    values = init_values(5)
    # uninterrupted
    full = rt_trajectory(kind, hyper, rt.float64, values)
    # interrupted: run split_at steps, snapshot params + optimizer, continue in fresh objects
    params = rt_params(values, rt.float64)
    opt = RT_CLS[kind](params, **hyper)
    traj = []
    for _ in range(split_at):
        set_rt_grads(params, rt.float64)
        opt.step()
        traj.append(flat(rt_values(params)))
    sd = opt.state_dict()
    snapshot = rt_values(params)
    # keep going with the old optimizer: the snapshot must not alias its live state
    for _ in range(3):
        set_rt_grads(params, rt.float64)
        opt.step()
    if via_file is not None:
        rt.save(sd, via_file)
        sd = rt.load(via_file)
    params2 = rt_params(snapshot, rt.float64)
    opt2 = RT_CLS[kind](params2, **{k: v for k, v in hyper.items() if k != "lr"}, lr=123.0)  # lr comes from the dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == hyper["lr"]
    for _ in range(STEPS - split_at):
        set_rt_grads(params2, rt.float64)
        opt2.step()
        traj.append(flat(rt_values(params2)))
    return np.array(traj), full


@pytest.mark.parametrize("kind,hyper", STATEFUL, ids=STATEFUL_IDS)
def test_state_dict_round_trip_continues_identically(kind, hyper):
    resumed, full = _resume_trajectory(kind, hyper)
    np.testing.assert_array_equal(resumed, full)


@pytest.mark.parametrize("kind,hyper", STATEFUL, ids=STATEFUL_IDS)
def test_state_dict_round_trip_through_rt_save(kind, hyper, tmp_path):
    resumed, full = _resume_trajectory(kind, hyper, via_file=tmp_path / "opt.rtc")
    np.testing.assert_array_equal(resumed, full)


def test_state_dict_layout():
    params = rt_params(init_values(), rt.float64)
    opt = rt.optim.Adam(params, lr=0.01, amsgrad=True)
    sd0 = opt.state_dict()
    assert sd0["state"] == {}
    assert sd0["param_groups"][0]["params"] == [0, 1]
    set_rt_grads(params, rt.float64)
    opt.step()
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1}
    for i, p in enumerate(params):
        st = sd["state"][i]
        assert st["step"] == 1
        assert set(st) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
        assert tuple(st["exp_avg"].shape) == tuple(p.shape)
    g = sd["param_groups"][0]
    assert g["lr"] == 0.01 and tuple(g["betas"]) == (0.9, 0.999) and g["amsgrad"] is True
    assert "_fused" not in g


def test_state_dict_is_a_snapshot():
    params = rt_params(init_values(), rt.float64)
    opt = rt.optim.SGD(params, lr=0.1, momentum=0.9)
    set_rt_grads(params, rt.float64)
    opt.step()
    sd = opt.state_dict()
    buf = sd["state"][0]["momentum_buffer"].numpy().copy()
    set_rt_grads(params, rt.float64)
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"].numpy(), buf)
    assert sd["state"][0]["step"] == 1


def test_load_state_dict_does_not_alias_the_source():
    values = init_values()
    p1 = rt_params(values, rt.float64)
    o1 = rt.optim.Adam(p1, lr=0.05)
    set_rt_grads(p1, rt.float64)
    o1.step()
    sd = o1.state_dict()
    p2 = rt_params(rt_values(p1), rt.float64)
    o2 = rt.optim.Adam(p2, lr=0.05)
    o2.load_state_dict(sd)
    before = sd["state"][0]["exp_avg"].numpy().copy()
    set_rt_grads(p2, rt.float64)
    o2.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"].numpy(), before)


def test_state_dict_has_torch_state_names_and_values():
    torch = pytest.importorskip("torch")
    # Same state names and group keys as torch (so ported code that inspects them works).
    for kind, hyper in STATEFUL:
        rp = rt_params(init_values(), rt.float64)
        tp = [torch.tensor(v, requires_grad=True) for v in init_values()]
        ro, to = RT_CLS[kind](rp, **hyper), torch_cls(torch, kind)(tp, **hyper)
        set_rt_grads(rp, rt.float64)
        for p, r in zip(tp, rp):
            p.grad = torch.tensor(r.grad.numpy())
        ro.step()
        to.step()
        rs, ts = ro.state_dict(), to.state_dict()
        assert set(rs["state"]) == set(ts["state"]), kind
        for i in ts["state"]:
            # every key torch has is there (reticulum also records 'step' for SGD, which is harmless)
            assert set(ts["state"][i]) <= set(rs["state"][i]), (kind, i)
            for k, v in ts["state"][i].items():
                if k != "step":
                    np.testing.assert_allclose(rs["state"][i][k].numpy(), v.numpy(), rtol=1e-12, atol=1e-14)
                else:
                    assert rs["state"][i][k] == float(v)
        for k in ("lr", "weight_decay", "maximize"):
            assert rs["param_groups"][0][k] == ts["param_groups"][0][k], (kind, k)


def test_load_state_dict_wrong_group_count_raises():
    a, b = rt_params(init_values(), rt.float64)
    src = rt.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    dst = rt.optim.SGD([a, b], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="group"):
        dst.load_state_dict(src.state_dict())


def test_load_state_dict_wrong_param_count_raises():
    a, b = rt_params(init_values(), rt.float64)
    src = rt.optim.SGD([a], lr=0.1)
    dst = rt.optim.SGD([a, b], lr=0.1)
    with pytest.raises(ValueError):
        dst.load_state_dict(src.state_dict())


@pytest.mark.parametrize("kind,hyper", STATEFUL, ids=STATEFUL_IDS)
def test_load_state_dict_wrong_shape_raises_and_changes_nothing(kind, hyper):
    src_params = [rt.tensor(np.ones((3, 4)), dtype=rt.float64, requires_grad=True),
                  rt.tensor(np.ones(5), dtype=rt.float64, requires_grad=True)]
    src = RT_CLS[kind](src_params, **hyper)
    set_rt_grads(src_params, rt.float64)
    src.step()
    dst_params = [rt.tensor(np.ones((4, 3)), dtype=rt.float64, requires_grad=True),
                  rt.tensor(np.ones(5), dtype=rt.float64, requires_grad=True)]
    dst = RT_CLS[kind](dst_params, **{**hyper, "lr": 0.5})
    with pytest.raises(ValueError, match="shape"):
        dst.load_state_dict(src.state_dict())
    # nothing was loaded: no state, old lr
    assert dst.state_dict()["state"] == {}
    assert dst.param_groups[0]["lr"] == 0.5


# ----------------------------------------------------------------------------- invalid hyperparameters
@pytest.mark.parametrize("make", [
    lambda p: rt.optim.SGD(p, lr=-0.1),
    lambda p: rt.optim.SGD(p, lr=0.1, momentum=-0.5),
    lambda p: rt.optim.SGD(p, lr=0.1, weight_decay=-1e-3),
    lambda p: rt.optim.SGD(p, lr=0.1, nesterov=True),
    lambda p: rt.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda p: rt.optim.Adam(p, lr=-1e-3),
    lambda p: rt.optim.Adam(p, betas=(1.0, 0.999)),
    lambda p: rt.optim.Adam(p, betas=(0.9, 1.0)),
    lambda p: rt.optim.Adam(p, betas=(-0.1, 0.999)),
    lambda p: rt.optim.Adam(p, eps=-1e-8),
    lambda p: rt.optim.Adam(p, weight_decay=-0.1),
    lambda p: rt.optim.AdamW(p, lr=-1.0),
    lambda p: rt.optim.AdamW(p, weight_decay=-0.01),
    lambda p: rt.optim.AdamW(p, betas=(0.9, 1.5)),
    lambda p: rt.optim.RMSprop(p, lr=-0.01),
    lambda p: rt.optim.RMSprop(p, alpha=-0.5),
    lambda p: rt.optim.RMSprop(p, eps=-1.0),
    lambda p: rt.optim.RMSprop(p, momentum=-0.1),
    lambda p: rt.optim.RMSprop(p, weight_decay=-0.1),
    lambda p: rt.optim.Adagrad(p, lr=-0.01),
    lambda p: rt.optim.Adagrad(p, lr_decay=-0.1),
    lambda p: rt.optim.Adagrad(p, initial_accumulator_value=-1.0),
    lambda p: rt.optim.Adagrad(p, eps=-1e-10),
    lambda p: rt.optim.Adagrad(p, weight_decay=-0.1),
    lambda p: rt.optim.Adadelta(p, lr=-1.0),
    lambda p: rt.optim.Adadelta(p, rho=1.5),
    lambda p: rt.optim.Adadelta(p, rho=-0.1),
    lambda p: rt.optim.Adadelta(p, eps=-1e-6),
    lambda p: rt.optim.Adadelta(p, weight_decay=-0.1),
    lambda p: rt.optim.Adadelta(p, rho=math.nan),
    lambda p: rt.optim.SGD([{"params": p[:1]}, {"params": p[1:], "lr": -1.0}], lr=0.1),
    lambda p: rt.optim.Adam([], lr=0.1),
    lambda p: rt.optim.SGD(p, lr=math.nan),  # NaN passed the `lr < 0` checks (found by the fuzzer)
    lambda p: rt.optim.Adagrad(p, lr=math.nan),
    lambda p: rt.optim.Adam(p, weight_decay=math.nan),
    lambda p: rt.optim.SGD([p[0], p[0]], lr=0.1),
    lambda p: rt.optim.SGD([{"params": [p[0]]}, {"params": [p[0]]}], lr=0.1),
])
def test_invalid_hyperparameters_raise_value_error(make):
    params = rt_params(init_values(), rt.float64)
    with pytest.raises(ValueError):
        make(params)


def test_add_param_group_validates():
    a, b = rt_params(init_values(), rt.float64)
    opt = rt.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [b], "lr": -1.0})
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [a]})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]


def test_params_must_be_tensors():
    a = rt.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError):
        rt.optim.SGD(a, lr=0.1)  # a bare Tensor, not an iterable of them
    with pytest.raises(TypeError):
        rt.optim.SGD([a, 3.0], lr=0.1)


# ---------------------------------------------------------------------------------- lr changes
@pytest.mark.parametrize("kind,hyper", STATEFUL, ids=STATEFUL_IDS)
def test_changing_group_lr_between_steps_takes_effect(kind, hyper):
    lrs = [hyper["lr"] * f for f in (1.0, 0.5, 2.0, 0.0, 0.1)]
    values = init_values(6)
    params = rt_params(values, rt.float64)
    opt = RT_CLS[kind](params, **hyper)
    ref = Ref(kind, [(hyper, 2)])
    ps = [np.array(v) for v in values]
    for t in range(STEPS):
        lr = lrs[t % len(lrs)]
        opt.param_groups[0]["lr"] = lr
        ref.groups[0]["lr"] = lr
        set_rt_grads(params, rt.float64)
        before = flat(rt_values(params))
        opt.step()
        gs = split(loss_grad(flat(ps)), [p.shape for p in ps])
        ps = ref.step([ps], [gs])[0]
        np.testing.assert_allclose(flat(rt_values(params)), flat(ps), rtol=1e-12, atol=1e-12, err_msg=f"step {t + 1}")
        if lr == 0.0:
            np.testing.assert_array_equal(flat(rt_values(params)), before)


def test_changing_other_hyperparameters_between_steps_takes_effect():
    p = rt.tensor([1.0], dtype=rt.float64, requires_grad=True)
    opt = rt.optim.SGD([p], lr=0.1)
    p.grad = rt.tensor([1.0], dtype=rt.float64)
    opt.step()
    assert p.item() == pytest.approx(0.9, abs=1e-15)
    opt.param_groups[0]["weight_decay"] = 1.0
    opt.param_groups[0]["maximize"] = True
    opt.step()  # d = -1 + 0.9 = -0.1 -> p = 0.9 + 0.01
    assert p.item() == pytest.approx(0.91, abs=1e-15)


# ------------------------------------------------------------------------------------- step API
def test_step_with_closure_returns_loss():
    w = rt.tensor(np.array([1.0, -2.0]), dtype=rt.float64, requires_grad=True)
    opt = rt.optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.detach().numpy(), [0.8, -1.6], rtol=0, atol=1e-15)
    assert opt.step() is None


def test_step_bumps_version_for_autograd_safety():
    # An in-place update of a param saved for backward must be detected, not silently give wrong grads.
    w = rt.tensor(np.array([1.0, 2.0]), dtype=rt.float64, requires_grad=True)
    opt = rt.optim.SGD([w], lr=0.1)
    y = (w * w).sum()
    w.grad = rt.tensor(np.array([1.0, 1.0]), dtype=rt.float64)
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_float32_params_stay_float32():
    p = rt.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    opt = rt.optim.Adam([p], lr=0.1)
    p.grad = rt.tensor(np.array([0.5, -0.5], dtype=np.float32))
    opt.step()
    assert p.dtype == rt.float32
    assert opt.state[p]["exp_avg"].dtype == rt.float32


# ------------------------------------------------------------------------- a model through autograd
def _mlp_pair(torch, dtype_rt, dtype_t):
    rt.manual_seed(0)
    model = rt.nn.Sequential(rt.nn.Linear(4, 8, dtype=dtype_rt), rt.nn.Tanh(), rt.nn.Linear(8, 3, dtype=dtype_rt))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).to(dtype_t)
    with torch.no_grad():
        for tp, rp in zip(tmodel.parameters(), model.parameters()):
            assert tuple(tp.shape) == tuple(rp.shape)
            tp.copy_(torch.from_numpy(rp.detach().numpy().copy()))
    return model, tmodel


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind,hyper", [("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
                                        ("adam", dict(lr=0.01, amsgrad=True)),
                                        ("adamw", dict(lr=0.01, weight_decay=0.1)),
                                        ("rmsprop", dict(lr=0.005, momentum=0.3, centered=True)),
                                        ("adagrad", dict(lr=0.05, lr_decay=0.01)),
                                        ("adadelta", dict(lr=0.9, rho=0.8))],
                         ids=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"])
def test_model_with_several_parameters_matches_torch(kind, hyper, dtype):
    torch = pytest.importorskip("torch")
    rdt, tdt, ndt = ((rt.float32, torch.float32, np.float32) if dtype == "float32"
                     else (rt.float64, torch.float64, np.float64))
    model, tmodel = _mlp_pair(torch, rdt, tdt)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 4)).astype(ndt)
    y = rng.normal(size=(16, 3)).astype(ndt)
    rx, ry, tx, ty = rt.tensor(x, dtype=rdt), rt.tensor(y, dtype=rdt), torch.from_numpy(x), torch.from_numpy(y)
    opt = RT_CLS[kind](model.parameters(), **hyper)
    topt = torch_cls(torch, kind)(tmodel.parameters(), **hyper)
    assert len(opt.param_groups[0]["params"]) == 4
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for t in range(STEPS):
        opt.zero_grad()
        loss = rt.nn.functional.mse_loss(model(rx), ry)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(tmodel(tx), ty)
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), **tol, err_msg=f"loss, step {t + 1}")
        for (name, rp), tp in zip(model.named_parameters(), tmodel.parameters()):
            np.testing.assert_allclose(rp.detach().numpy(), tp.detach().numpy(), **tol, err_msg=f"{name}, step {t + 1}")
    assert loss.item() < rt.nn.functional.mse_loss(model(rx), ry).item() + 1.0  # sanity: finite
    assert math.isfinite(loss.item())
