"""reticulum.nn modules: registration, iteration, state dicts, modes, hooks, reprs, conversion, init,
and per-layer parity with torch.nn (same weights via load_state_dict of a converted torch state dict)."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn as nn
import reticulum.nn.functional as F
from reticulum.nn import init


def _np(t):
    return t.detach().numpy()


def _snapshot(module):
    return {k: _np(v).copy() for k, v in module.state_dict().items()}


def _torch():
    return pytest.importorskip("torch")


def _from_torch(tmodule):
    """A torch state dict converted to reticulum tensors (values copied)."""
    return OrderedDict((k, rt.tensor(v.detach().numpy())) for k, v in tmodule.state_dict().items())


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


# ---------------------------------------------------------------- registration

def test_attribute_assignment_registers_params_buffers_and_modules():
    m = nn.Module()
    m.w = nn.Parameter(rt.randn(2, 3))
    m.register_buffer("stat", rt.zeros(3))
    m.register_buffer("scratch", rt.zeros(1), persistent=False)
    m.child = nn.Linear(3, 1)
    m.plain = rt.ones(2)  # a plain tensor attribute is neither a parameter nor a buffer
    m.number = 5
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    assert [n for n, _ in m.named_buffers()] == ["stat", "scratch"]
    assert list(m._modules) == ["child"]
    assert list(m.state_dict()) == ["w", "stat", "child.weight", "child.bias"]  # scratch is not persistent
    assert m.w.requires_grad and isinstance(m.w, nn.Parameter)
    assert "plain" in m.__dict__ and m.number == 5

    # buffer re-assignment stays a buffer (and keeps its persistence)
    m.scratch = rt.ones(1)
    assert "scratch" not in m.state_dict() and _np(m.scratch)[0] == 1
    m.stat = rt.ones(3)
    assert _np(m.state_dict()["stat"]).tolist() == [1, 1, 1]

    # parameters accept Parameters or None only
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'w'"):
        m.w = rt.zeros(2, 3)
    m.w = None
    assert "w" not in m.state_dict() and m.w is None and [n for n, _ in m.named_parameters()][0] == "child.weight"
    with pytest.raises(TypeError, match="as child module 'child'"):
        m.child = 3
    with pytest.raises(TypeError, match="as buffer 'stat'"):
        m.stat = [1, 2, 3]

    # replacing a buffer name with a module / parameter moves it
    m.stat = nn.Parameter(rt.zeros(3))
    assert "stat" in m._parameters and "stat" not in m._buffers

    del m.child
    assert "child" not in m._modules and not any(n.startswith("child") for n, _ in m.named_parameters())
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'child'"):
        m.child


def test_register_errors():
    m = nn.Module()
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("x", nn.Parameter(rt.zeros(1)))
    with pytest.raises(KeyError, match="buffer name can.*contain"):
        m.register_buffer("a.b", rt.zeros(1))
    with pytest.raises(KeyError, match="empty"):
        m.register_parameter("", None)
    with pytest.raises(TypeError, match="to parameter 'p'"):
        m.register_parameter("p", rt.zeros(1))
    with pytest.raises(TypeError, match="to buffer 'b'"):
        m.register_buffer("b", 3.0)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("c", rt.zeros(1))
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("q", _non_leaf_param())

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(rt.zeros(1))  # before super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(rt.zeros(1))


def _non_leaf_param():
    """Parameter() always detaches, so a non-leaf Parameter cannot be built; the check is exercised
    through a stand-in that reports a grad_fn."""
    node = (rt.randn(2, requires_grad=True) * 2).grad_fn

    class FakeParam(nn.Parameter):
        @property
        def grad_fn(self):
            return node
    return FakeParam(rt.zeros(2))


def test_parameter_basics():
    data = rt.tensor([1.0, 2.0])
    p = nn.Parameter(data)
    assert isinstance(p, rt.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    with rt.no_grad():
        p.fill_(3.0)
    assert _np(data).tolist() == [3.0, 3.0]  # an alias, as torch
    assert not nn.Parameter(rt.zeros(2), requires_grad=False).requires_grad
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad
    with rt.no_grad():
        q.fill_(0.0)
    assert _np(p).tolist() == [3.0, 3.0]
    assert p.requires_grad_(False) is p  # C++ methods hand back the same Parameter object


def test_parameter_repr_matches_torch():
    torch = _torch()
    assert repr(nn.Parameter(rt.tensor([1.0, 2.5]))) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.5])))


# ---------------------------------------------------------------- iteration

def test_named_parameters_order_and_dedup():
    shared = nn.Linear(2, 2)
    m = nn.Sequential(OrderedDict([("a", shared), ("b", nn.Linear(2, 3)), ("c", shared)]))
    names = [n for n, _ in m.named_parameters()]
    assert names == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert len(list(m.parameters())) == 4
    assert [n for n, _ in m.named_parameters(remove_duplicate=False)] == [
        "a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "a", "b"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == ["", "a", "b", "c"]
    assert [n for n, _ in m.named_children()] == ["a", "b"]
    assert len(list(m.modules())) == 3 and list(m.children()) == [shared, m.b]
    # state_dict keeps every path, as torch
    assert list(m.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"]

    # tied weights: one Parameter in two modules is listed once, under its first name
    enc, dec = nn.Linear(3, 5, bias=False), nn.Linear(5, 3, bias=False)
    tied = nn.Sequential(enc, dec)
    dec.weight = nn.Parameter(rt.zeros(3, 5))
    enc.weight = dec.weight
    assert [n for n, _ in tied.named_parameters()] == ["0.weight"]
    assert [n for n, _ in tied.named_parameters(prefix="model")] == ["model.0.weight"]

    net = TwoLayer()
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.fc1.named_parameters(recurse=False)] == ["weight", "bias"]
    assert [n for n, _ in nn.BatchNorm1d(3).named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]


def test_named_parameters_order_matches_torch():
    torch = _torch()

    def build(lib):
        n = lib.nn
        return n.Sequential(n.Conv2d(1, 2, 3), n.BatchNorm2d(2), n.ReLU(), n.Flatten(), n.Linear(8, 3, bias=False),
                            n.Sequential(n.BatchNorm1d(3), n.Linear(3, 1)))
    r, t = build(rt), build(torch)
    assert [n for n, _ in r.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in r.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in r.named_modules()] == [n for n, _ in t.named_modules()]
    assert list(r.state_dict()) == list(t.state_dict())


# ---------------------------------------------------------------- state dict

def test_state_dict_is_detached_alias_and_round_trips():
    rt.manual_seed(0)
    a, b = TwoLayer(), TwoLayer()
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict) and list(sd) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert all(not v.requires_grad and not isinstance(v, nn.Parameter) for v in sd.values())
    with rt.no_grad():
        a.fc1.bias.fill_(7.0)
    assert _np(sd["fc1.bias"]).tolist() == [7.0, 7.0, 7.0]  # values alias the live tensors
    assert a.state_dict(keep_vars=True)["fc1.weight"] is a.fc1.weight

    x = rt.randn(5, 4)
    assert not np.allclose(_np(a(x)), _np(b(x)))
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == [] and repr(res) == "<All keys matched successfully>"
    np.testing.assert_array_equal(_np(a(x)), _np(b(x)))
    with rt.no_grad():  # a copy, not an alias
        a.fc2.weight.fill_(0.0)
    assert not np.allclose(_np(b.fc2.weight), 0.0)
    assert b.fc1.weight.requires_grad and isinstance(b.fc1.weight, nn.Parameter)


def test_state_dict_round_trip_with_batchnorm_buffers():
    rt.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(12))
    for _ in range(3):
        net(rt.randn(4, 2, 4, 4))
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked", "4.weight", "4.bias", "4.running_mean", "4.running_var",
                        "4.num_batches_tracked"]
    assert sd["1.num_batches_tracked"].dtype == rt.int64 and sd["1.num_batches_tracked"].item() == 3
    assert not np.allclose(_np(sd["1.running_mean"]), 0.0)

    fresh = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(12))
    fresh.load_state_dict(sd)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(_np(v), _np(sd[k]), err_msg=k)
    assert fresh[1].num_batches_tracked.dtype == rt.int64
    x = rt.randn(2, 2, 4, 4)
    np.testing.assert_array_equal(_np(net.eval()(x)), _np(fresh.eval()(x)))


def test_load_state_dict_lists_all_errors_and_loads_nothing():
    rt.manual_seed(2)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    before = _snapshot(net)
    good = {k: rt.randn(*v.shape) if v.dtype.is_floating_point else rt.tensor(5) for k, v in net.state_dict().items()}

    bad = dict(good)
    del bad["2.bias"]                          # missing
    del bad["1.running_var"]                   # missing (a buffer)
    bad["0.extra"] = rt.zeros(1)              # unexpected
    bad["5.weight"] = rt.zeros(1)             # unexpected (no such child)
    bad["0.weight"] = rt.zeros(4, 3)           # shape mismatch
    with pytest.raises(RuntimeError) as ei:
        net.load_state_dict(bad)
    msg = str(ei.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "1.running_var", "2.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "5.weight", "0.extra".' in msg  # torch's order (root's keys first)
    assert ("size mismatch for 0.weight: copying a param with shape (4, 3) from checkpoint, the shape in current "
            "model is (3, 4).") in msg
    after = _snapshot(net)
    for k in before:  # nothing half-loaded: even the valid entries (0.bias, 2.weight, ...) were not copied
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)

    # strict=False: missing / unexpected are reported, not errors ...
    partial = dict(good)
    del partial["2.bias"]
    partial["junk"] = rt.zeros(1)
    res = net.load_state_dict(partial, strict=False)
    assert res.missing_keys == ["2.bias"] and res.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(_np(net[2].weight), _np(good["2.weight"]))
    np.testing.assert_array_equal(_np(net[2].bias), before["2.bias"])
    assert net[1].num_batches_tracked.item() == 5

    # ... but a shape mismatch is, and again nothing is copied
    snap = _snapshot(net)
    wrong = dict(good)
    wrong["2.weight"] = rt.zeros(1, 1)
    wrong["0.bias"] = rt.full((3,), 9.0)
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):
        net.load_state_dict(wrong, strict=False)
    for k, v in _snapshot(net).items():
        np.testing.assert_array_equal(v, snap[k], err_msg=k)

    with pytest.raises(RuntimeError, match='While copying the parameter named "0.bias"'):
        net.load_state_dict({**good, "0.bias": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([("0.bias", rt.zeros(3))])


def test_load_state_dict_converts_dtype_and_keeps_identity():
    m = nn.Linear(3, 2)
    w = m.weight
    m.load_state_dict({"weight": rt.ones(2, 3, dtype=rt.float64), "bias": rt.zeros(2, dtype=rt.float64)})
    assert m.weight is w and m.weight.dtype == rt.float32 and _np(m.weight).sum() == 6.0
    assert m.weight.requires_grad


def test_load_state_dict_assign():
    m = nn.Linear(3, 2)
    new_w = rt.ones(2, 3, dtype=rt.float64)
    m.load_state_dict({"weight": new_w, "bias": rt.zeros(2, dtype=rt.float64)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.dtype == rt.float64 and m.weight.requires_grad


def test_load_state_dict_without_num_batches_tracked_like_torch():
    # plain dicts (no version metadata) from old checkpoints may lack num_batches_tracked: torch accepts that
    bn = nn.BatchNorm1d(2)
    sd = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    assert bn.load_state_dict(sd).missing_keys == []
    sd2 = bn.state_dict()  # carries _metadata with version 2: the key is then required
    del sd2["num_batches_tracked"]
    with pytest.raises(RuntimeError, match='Missing key.*"num_batches_tracked"'):
        bn.load_state_dict(sd2)


# ---------------------------------------------------------------- modes, grads, apply

def test_train_eval_switches_dropout_and_batchnorm():
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(8), nn.Dropout2d(0.5)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = rt.randn(64, 8)
    drop = nn.Dropout(0.5)
    rt.manual_seed(3)
    y = _np(drop(x))
    assert (y == 0).mean() > 0.3 and np.allclose(y[y != 0], 2 * _np(x)[y != 0], rtol=1e-6)
    drop.eval()
    np.testing.assert_array_equal(_np(drop(x)), _np(x))
    d2 = nn.Dropout2d(0.5).eval()
    x4 = rt.randn(2, 3, 4, 4)
    np.testing.assert_array_equal(_np(d2(x4)), _np(x4))
    d2.train()
    out = _np(d2(rt.ones(16, 8, 3, 3)))
    per_channel = out.reshape(16, 8, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))  # whole channels dropped

    bn = nn.BatchNorm1d(3)
    xb = rt.randn(10, 3) * 3 + 1
    yt = _np(bn(xb))
    np.testing.assert_allclose(yt.mean(0), 0, atol=1e-5)
    bn.eval()
    rm, rv = _np(bn.running_mean), _np(bn.running_var)
    np.testing.assert_allclose(_np(bn(xb)), (_np(xb) - rm) / np.sqrt(rv + 1e-5), rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked.item() == 1  # eval does not count
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        bn.train("yes")


def test_zero_grad_requires_grad_and_apply():
    net = TwoLayer()
    net(rt.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not _np(p.grad).any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())

    assert net.requires_grad_(False) is net and not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())

    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Linear", "TwoLayer"]

    def fill(m):
        if isinstance(m, nn.Linear):
            init.constant_(m.weight, 0.5)
            init.zeros_(m.bias)
    net.apply(fill)
    assert np.all(_np(net.fc2.weight) == 0.5) and np.all(_np(net.fc1.bias) == 0)


def test_get_submodule_parameter_buffer():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.BatchNorm1d(2)))
    assert net.get_submodule("1.0") is net[1][0]
    assert net.get_parameter("0.weight") is net[0].weight
    assert net.get_buffer("1.0.running_mean") is net[1][0].running_mean
    with pytest.raises(AttributeError):
        net.get_submodule("2")


def test_deepcopy_gives_independent_copy():
    rt.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    net(rt.randn(4, 3))
    twin = copy.deepcopy(net)
    assert isinstance(twin[0].weight, nn.Parameter) and twin[0].weight is not net[0].weight
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(_np(twin.state_dict()[k]), _np(v))
    with rt.no_grad():
        twin[0].weight.fill_(0.0)
        twin[1].running_mean.fill_(0.0)
    assert _np(net[0].weight).any() and _np(net[1].running_mean).any()


# ---------------------------------------------------------------- hooks

def test_forward_hooks_and_removal():
    lin = nn.Linear(2, 2)
    init.eye_(lin.weight)
    init.zeros_(lin.bias)
    calls = []

    def pre(module, args):
        calls.append(("pre", module is lin, len(args)))
        return args[0] * 2  # a single value replaces the args

    def post(module, args, output):
        calls.append(("post", float(args[0].sum().item())))
        return output + 1

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    out = lin(rt.ones(1, 2))
    assert _np(out).tolist() == [[3.0, 3.0]]
    assert calls == [("pre", True, 1), ("post", 4.0)]
    h1.remove()
    assert _np(lin(rt.ones(1, 2))).tolist() == [[2.0, 2.0]]
    h2.remove()
    h2.remove()  # idempotent
    assert _np(lin(rt.ones(1, 2))).tolist() == [[1.0, 1.0]]

    order = []
    lin.register_forward_hook(lambda m, a, o: order.append("a"))
    lin.register_forward_hook(lambda m, a, o: order.append("b"), prepend=True)
    lin.register_forward_pre_hook(lambda m, a, k: order.append(sorted(k)), with_kwargs=True)
    lin(rt.ones(1, 2))
    assert order == [[], "b", "a"]

    # feature extraction through a hook on a submodule
    net = TwoLayer()
    feats = {}
    with net.act.register_forward_hook(lambda m, a, o: feats.setdefault("act", o)):
        net(rt.randn(3, 4))
    assert tuple(feats["act"].shape) == (3, 3) and not net.act._forward_hooks


# ---------------------------------------------------------------- conversion

def test_to_float64_keeps_parameter_identity():
    rt.manual_seed(5)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    net(rt.randn(5, 3)).sum().backward()
    params = list(net.parameters())
    ids = [id(p) for p in params]
    values = [_np(p).astype(np.float64) for p in params]
    grads = [_np(p.grad).astype(np.float64) for p in params]
    assert net.to(rt.float64) is net
    assert [id(p) for p in net.parameters()] == ids
    for p, v, g in zip(net.parameters(), values, grads):
        assert isinstance(p, nn.Parameter) and p.dtype == rt.float64 and p.requires_grad and p.is_leaf
        np.testing.assert_array_equal(_np(p), v)
        assert p.grad.dtype == rt.float64
        np.testing.assert_array_equal(_np(p.grad), g)
    assert net[1].running_mean.dtype == rt.float64 and net[1].running_var.dtype == rt.float64
    assert net[1].num_batches_tracked.dtype == rt.int64  # integer buffers keep their dtype

    net.zero_grad()
    out = net(rt.randn(5, 3, dtype=rt.float64))
    assert out.dtype == rt.float64
    out.sum().backward()
    assert all(p.grad.dtype == rt.float64 for p in params)  # the optimizer's references see the new grads

    assert net.float() is net and all(p.dtype == rt.float32 for p in net.parameters())
    assert [id(p) for p in net.parameters()] == ids
    assert net.double() is net and all(p.dtype == rt.float64 for p in net.parameters())
    assert net.to("cpu") is net and net.to(rt.device("cpu"), rt.float32) is net and net.cpu() is net
    assert all(p.dtype == rt.float32 for p in net.parameters())
    assert net.to(rt.zeros(1, dtype=rt.float64)) is net and net[0].weight.dtype == rt.float64
    assert net.to(dtype=rt.float32) is net and net[0].weight.dtype == rt.float32
    with pytest.raises(RuntimeError, match="cuda"):
        net.to("cuda")
    with pytest.raises(RuntimeError):
        net.to("mps")
    with pytest.raises(RuntimeError):
        net.cuda()
    with pytest.raises(TypeError, match="floating point"):
        net.to(rt.int64)


# ---------------------------------------------------------------- containers

def test_sequential_and_module_list():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and seq[-3] is a and list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    x = rt.randn(4, 2)
    np.testing.assert_array_equal(_np(seq(x)), _np(c(b(a(x)))))
    d = nn.Linear(1, 1)
    assert seq.append(d) is seq and len(seq) == 4 and seq[3] is d
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and seq[1] is c
    named = nn.Sequential(OrderedDict([("enc", a), ("act", b)]))
    assert list(named._modules) == ["enc", "act"] and named.enc is a and named[1] is b

    ml = nn.ModuleList([a, b])
    assert len(ml) == 2 and ml[-1] is b and list(ml) == [a, b]
    ml.append(c)
    ml.extend([d])
    ml.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Linear", "Tanh", "ReLU", "Linear", "Linear"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    with pytest.raises(IndexError):
        ml[5]
    ml[0] = nn.Sigmoid()
    assert isinstance(ml[0], nn.Sigmoid)
    assert [n for n, _ in ml.named_parameters()] == ["3.weight", "3.bias", "4.weight", "4.bias"]
    with pytest.raises(NotImplementedError):
        ml(x)

    md = nn.ModuleDict({"x": a})
    md["y"] = c
    assert list(md.keys()) == ["x", "y"] and "y" in md and len(md) == 2 and md["x"] is a
    assert [n for n, _ in md.named_parameters()] == ["x.weight", "x.bias", "y.weight", "y.bias"]


# ---------------------------------------------------------------- reprs

def _repr_model(lib):
    n = lib.nn

    class Net(n.Module):
        def __init__(self):
            super().__init__()
            self.features = n.Sequential(
                n.Conv2d(3, 8, 3, padding=1), n.BatchNorm2d(8), n.ReLU(inplace=True), n.MaxPool2d(2),
                n.Conv2d(8, 8, (3, 1), stride=2, padding="valid", bias=False, groups=2, dilation=(1, 2)),
                n.AvgPool2d(2), n.AdaptiveAvgPool2d((1, 1)), n.Dropout2d(0.1))
            self.blocks = n.ModuleList([n.Linear(8, 8) for _ in range(3)] + [n.Tanh()])
            self.head = n.Sequential(OrderedDict([
                ("flat", n.Flatten()), ("fc", n.Linear(8, 4, bias=False)), ("bn", n.BatchNorm1d(4, momentum=None, affine=False)),
                ("act", n.LeakyReLU(0.2)), ("drop", n.Dropout()), ("sm", n.LogSoftmax(dim=1))]))
            self.misc = n.ModuleList([n.Conv1d(2, 4, 3), n.Conv3d(1, 2, 3, padding="same"), n.MaxPool1d(3, 1),
                                      n.AvgPool1d(2), n.Sigmoid(), n.Softmax(dim=-1), n.Softplus(beta=2),
                                      n.Identity(), n.MSELoss(), n.L1Loss(), n.BCELoss(), n.BCEWithLogitsLoss(),
                                      n.CrossEntropyLoss(label_smoothing=0.1), n.NLLLoss()])
            self.empty = n.Sequential()

        def forward(self, x):
            return x
    return Net()


def test_repr_matches_torch():
    torch = _torch()
    r, t = repr(_repr_model(rt)), repr(_repr_model(torch))
    assert r == t
    assert repr(nn.Linear(4, 2)) == "Linear(in_features=4, out_features=2, bias=True)"


def test_repr_format_without_torch():
    net = nn.Sequential(nn.Linear(4, 2), nn.ModuleList([nn.ReLU(), nn.ReLU()]))
    assert repr(net) == ("Sequential(\n"
                         "  (0): Linear(in_features=4, out_features=2, bias=True)\n"
                         "  (1): ModuleList(\n"
                         "    (0-1): 2 x ReLU()\n"
                         "  )\n"
                         ")")


# ---------------------------------------------------------------- layer parity with torch

# (name, constructor args/kwargs, input shape); the same constructor call is made on both libraries
LAYER_CASES = [
    ("Linear", (5, 3), {}, (4, 5)),
    ("Linear", (5, 3), {"bias": False}, (2, 6, 5)),
    ("Identity", (), {}, (2, 3)),
    ("Conv1d", (3, 4, 3), {}, (2, 3, 9)),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1, "groups": 2, "bias": False}, (2, 4, 10)),
    ("Conv2d", (3, 4, 3), {"padding": 1}, (2, 3, 7, 6)),
    ("Conv2d", (4, 4, (3, 2)), {"stride": (2, 1), "dilation": (1, 2), "groups": 4}, (2, 4, 9, 8)),
    ("Conv2d", (2, 3, 3), {"padding": "same", "dilation": 2}, (1, 2, 7, 7)),
    ("Conv2d", (2, 3, 3), {"padding": "valid"}, (2, 6, 6)),  # unbatched
    ("Conv3d", (2, 3, 3), {"padding": 1}, (1, 2, 4, 5, 4)),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, (2, 3, 9)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 6)),
    ("MaxPool2d", ((3, 2),), {"stride": (2, 1), "padding": (1, 0), "ceil_mode": True}, (2, 2, 7, 5)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 9)),
    ("AvgPool2d", (2,), {}, (2, 3, 6, 6)),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 2, 7, 7)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 4, 4)),
    ("BatchNorm1d", (4,), {}, (6, 4)),
    ("BatchNorm1d", (3,), {"affine": False}, (4, 3, 5)),
    ("BatchNorm2d", (3,), {"eps": 1e-3, "momentum": 0.3}, (4, 3, 3, 3)),
    ("ReLU", (), {}, (3, 4)),
    ("LeakyReLU", (0.2,), {}, (3, 4)),
    ("Sigmoid", (), {}, (3, 4)),
    ("Tanh", (), {}, (3, 4)),
    ("Softmax", (), {"dim": 1}, (3, 4, 2)),
    ("LogSoftmax", (), {"dim": -1}, (3, 4)),
    ("Softplus", (), {}, (3, 4)),
    ("Softplus", (), {"beta": 2.0, "threshold": 3.0}, (3, 4)),
    ("Flatten", (), {}, (2, 3, 4)),
    ("Flatten", (0, 1), {}, (2, 3, 4)),
    ("Unflatten", (1, (2, 3)), {}, (4, 6, 2)),
    ("Dropout", (0.3,), {}, (3, 4)),  # compared in eval mode only (masks differ in training)
    ("Dropout2d", (0.3,), {}, (2, 3, 4, 4)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", LAYER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_layer_matches_torch(name, args, kwargs, shape):
    torch = _torch()
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args, **kwargs)
    rm = getattr(nn, name)(*args, **kwargs)
    if name.startswith("BatchNorm") and tm.affine:
        with torch.no_grad():  # non-trivial affine parameters
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-0.5, 0.5)
    rm.load_state_dict(_from_torch(tm))
    assert [n for n, _ in rm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    if name.startswith("Dropout"):
        rm.eval()
        tm.eval()
    rng = np.random.default_rng(sum(shape))
    xv = (rng.standard_normal(shape) * 3).astype(np.float32)
    xr = rt.tensor(xv, requires_grad=True)
    xt = torch.tensor(xv, requires_grad=True)
    yr, yt = rm(xr), tm(xt)
    assert tuple(yr.shape) == tuple(yt.shape)
    np.testing.assert_allclose(_np(yr), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (yr * rt.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(_np(xr.grad), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    tparams = dict(tm.named_parameters())
    for pname, p in rm.named_parameters():
        np.testing.assert_allclose(_np(p.grad), tparams[pname].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=pname)
    for bname, b in rm.named_buffers():  # BatchNorm running stats after one training step
        np.testing.assert_allclose(_np(b), dict(tm.named_buffers())[bname].numpy(), rtol=1e-5, atol=1e-6, err_msg=bname)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 5, 5))])
def test_batchnorm_running_stats_match_torch(kind, shape, momentum):
    torch = _torch()
    tm = getattr(torch.nn, kind)(3, momentum=momentum)
    rm = getattr(nn, kind)(3, momentum=momentum)
    rng = np.random.default_rng(7)
    for step in range(5):
        xv = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        np.testing.assert_allclose(_np(rm(rt.tensor(xv))), tm(torch.tensor(xv)).detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_np(rm.running_mean), tm.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_np(rm.running_var), tm.running_var.numpy(), rtol=1e-5, atol=1e-6)
        assert rm.num_batches_tracked.item() == tm.num_batches_tracked.item() == step + 1
    rm.eval()
    tm.eval()
    xv = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(_np(rm(rt.tensor(xv))), tm(torch.tensor(xv)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert rm.num_batches_tracked.item() == 5


def test_batchnorm_without_running_stats_matches_torch():
    torch = _torch()
    tm = torch.nn.BatchNorm2d(2, track_running_stats=False).eval()
    rm = nn.BatchNorm2d(2, track_running_stats=False).eval()
    assert rm.running_mean is None and list(rm.state_dict()) == ["weight", "bias"]
    xv = np.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(_np(rm(rt.tensor(xv))), tm(torch.tensor(xv)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_batchnorm_input_rank_errors():
    with pytest.raises(ValueError, match=r"^expected 4D input \(got 3D input\)$"):
        nn.BatchNorm2d(3)(rt.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"^expected 2D or 3D input \(got 4D input\)$"):
        nn.BatchNorm1d(3)(rt.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 1D input\)"):
        nn.BatchNorm1d(3)(rt.randn(3))


def test_conv_argument_errors():
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv1d(1, 1, 3, padding_mode="bogus")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)
    c = nn.Conv2d(2, 3, 3)
    assert tuple(c.weight.shape) == (3, 2, 3, 3) and c.kernel_size == (3, 3) and c.stride == (1, 1)
    assert tuple(nn.Conv3d(4, 6, (1, 2, 3), groups=2).weight.shape) == (6, 2, 1, 2, 3)


# ---------------------------------------------------------------- losses

LOSS_CASES = [
    ("MSELoss", {}, "reg"), ("MSELoss", {"reduction": "sum"}, "reg"), ("L1Loss", {"reduction": "none"}, "reg"),
    ("L1Loss", {}, "reg"),
    ("BCELoss", {}, "prob"), ("BCELoss", {"weight": [0.5, 2.0, 1.0]}, "prob"),
    ("BCEWithLogitsLoss", {}, "logit"), ("BCEWithLogitsLoss", {"pos_weight": [3.0, 1.0, 0.5], "reduction": "sum"}, "logit"),
    ("BCEWithLogitsLoss", {"weight": [1.0, 0.0, 2.0], "reduction": "none"}, "logit"),
    ("CrossEntropyLoss", {}, "class"), ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5], "ignore_index": 1}, "class"),
    ("CrossEntropyLoss", {"label_smoothing": 0.2, "reduction": "sum"}, "class"),
    ("NLLLoss", {}, "logp"), ("NLLLoss", {"weight": [0.2, 1.0, 3.0], "reduction": "none"}, "logp"),
]


@pytest.mark.parametrize("name,kwargs,kind", LOSS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSS_CASES)])
def test_loss_matches_torch(name, kwargs, kind):
    torch = _torch()
    rng = np.random.default_rng(len(kwargs) + len(name))
    x = rng.standard_normal((5, 3)).astype(np.float32)
    if kind == "reg":
        t = rng.standard_normal((5, 3)).astype(np.float32)
    elif kind == "prob":
        x = 1 / (1 + np.exp(-x))
        t = rng.random((5, 3)).astype(np.float32)
    elif kind == "logit":
        t = (rng.random((5, 3)) > 0.5).astype(np.float32)
    else:
        if kind == "logp":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        t = rng.integers(0, 3, size=5)
    conv = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, list) else v) for k, v in kwargs.items()}
    rl = getattr(nn, name)(**{k: (rt.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in conv.items()})
    tl = getattr(torch.nn, name)(**{k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in conv.items()})
    xr, xt = rt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lr_, lt = rl(xr, rt.tensor(t)), tl(xt, torch.tensor(t))
    np.testing.assert_allclose(_np(lr_), lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    lr_.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(_np(xr.grad), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert list(rl.state_dict()) == list(tl.state_dict())  # weights are buffers in both


def test_loss_legacy_reduction_args():
    with pytest.warns(UserWarning):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.L1Loss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


# ---------------------------------------------------------------- init

def test_calculate_gain_and_fans():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")

    fan = init._calculate_fan_in_and_fan_out
    assert fan(rt.empty(7, 5)) == (5, 7)                            # Linear [out, in]
    assert fan(nn.Conv2d(6, 8, (3, 5)).weight) == (6 * 15, 8 * 15)  # [out, in, kh, kw]
    assert fan(nn.Conv2d(6, 8, 3, groups=2).weight) == (3 * 9, 8 * 9)  # in / groups * prod(kernel)
    assert fan(nn.Conv1d(4, 2, 5).weight) == (20, 10)
    assert fan(nn.Conv3d(2, 4, (2, 3, 1)).weight) == (12, 24)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        fan(rt.empty(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(rt.empty(3, 3), mode="fan_avg")


def test_calculate_fans_match_torch():
    torch = _torch()
    for shape in [(7, 5), (8, 3, 3, 5), (4, 2, 5), (6, 2, 1, 2, 3)]:
        assert init._calculate_fan_in_and_fan_out(rt.empty(*shape)) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(*shape))
    for nl, p in [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3),
                  ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))


def _stats(t):
    a = _np(t).astype(np.float64)
    return a.mean(), a.std(), np.abs(a).max()


@pytest.mark.parametrize("shape", [(400, 500), (64, 32, 5, 5)])
def test_init_statistics(shape):
    rt.manual_seed(11)
    w = nn.Parameter(rt.empty(*shape))
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(w)

    def check(std_expected, bound=None):
        mean, std, amax = _stats(w)
        assert abs(mean) < 0.03 * std_expected
        assert std == pytest.approx(std_expected, rel=0.02)
        if bound is not None:
            assert amax <= bound * (1 + 1e-6) and amax > 0.99 * bound

    assert init.kaiming_uniform_(w, a=0, nonlinearity="relu") is w
    gain = math.sqrt(2)
    check(gain / math.sqrt(fan_in), bound=gain * math.sqrt(3 / fan_in))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    check(gain / math.sqrt(fan_out), bound=gain * math.sqrt(3 / fan_out))
    init.kaiming_normal_(w, a=0.1)
    check(math.sqrt(2 / 1.01) / math.sqrt(fan_in))
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh")
    check((5 / 3) / math.sqrt(fan_out))
    init.xavier_uniform_(w, gain=2.0)
    a = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    check(a / math.sqrt(3), bound=a)
    init.xavier_normal_(w)
    check(math.sqrt(2 / (fan_in + fan_out)))
    init.uniform_(w, -3, 1)
    mean, std, _ = _stats(w)
    assert mean == pytest.approx(-1, abs=0.02) and std == pytest.approx(4 / math.sqrt(12), rel=0.02)
    assert _np(w).min() >= -3 and _np(w).max() <= 1
    init.normal_(w, 2.0, 0.5)
    mean, std, _ = _stats(w)
    assert mean == pytest.approx(2.0, abs=0.01) and std == pytest.approx(0.5, rel=0.02)
    init.trunc_normal_(w, std=1.0, a=-1.0, b=1.5)
    phi = lambda v: math.exp(-v * v / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    tmean = (phi(-1.0) - phi(1.5)) / (cdf(1.5) - cdf(-1.0))  # mean of N(0, 1) truncated to [-1, 1.5]
    assert _np(w).min() >= -1.0 and _np(w).max() <= 1.5 and abs(_np(w).mean() - tmean) < 0.01
    assert init.constant_(w, 0.25) is w and np.all(_np(w) == 0.25)
    assert init.ones_(w) is w and np.all(_np(w) == 1)
    assert init.zeros_(w) is w and not _np(w).any()
    assert w.requires_grad and w.grad_fn is None  # filled under no_grad: still a leaf


def test_init_misc():
    w = rt.empty(3, 4)
    np.testing.assert_array_equal(_np(init.eye_(w)), np.eye(3, 4))
    d = init.dirac_(rt.empty(4, 2, 3, 3), groups=2)
    x = rt.randn(1, 4, 5, 5)
    y = F.conv2d(x[:, :2], d[:2], padding=1)
    np.testing.assert_allclose(_np(y), _np(x[:, :2]), atol=1e-6)
    q = init.orthogonal_(rt.empty(3, 5))
    np.testing.assert_allclose(_np(q) @ _np(q).T, np.eye(3), atol=1e-5)
    with pytest.raises(ValueError, match="generator"):
        init.normal_(rt.empty(2, 2), generator=object())


def test_init_is_seeded():
    rt.manual_seed(123)
    a = nn.Sequential(nn.Linear(4, 3), nn.Conv2d(2, 2, 3))
    rt.manual_seed(123)
    b = nn.Sequential(nn.Linear(4, 3), nn.Conv2d(2, 2, 3))
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(_np(v), _np(b.state_dict()[k]))
    w = rt.empty(5, 5)
    rt.manual_seed(1)
    first = _np(init.kaiming_normal_(w)).copy()
    rt.manual_seed(1)
    np.testing.assert_array_equal(_np(init.kaiming_normal_(w)), first)


@pytest.mark.parametrize("make,fan_in", [(lambda: nn.Linear(300, 200), 300),
                                          (lambda: nn.Conv2d(16, 64, 5, groups=4), 4 * 25),
                                          (lambda: nn.Conv1d(20, 500, 3), 60)])
def test_default_layer_init(make, fan_in):
    rt.manual_seed(9)
    layer = make()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    _, std, amax = _stats(layer.weight)
    assert amax <= bound * (1 + 1e-6) and std == pytest.approx(bound / math.sqrt(3), rel=0.03)
    b = _np(layer.bias)
    assert np.abs(b).max() <= bound * (1 + 1e-6) and np.abs(b).max() > 0.5 * bound
    bn = nn.BatchNorm2d(5)
    assert np.all(_np(bn.weight) == 1) and not _np(bn.bias).any()
    assert not _np(bn.running_mean).any() and np.all(_np(bn.running_var) == 1) and bn.num_batches_tracked.item() == 0


def test_default_init_matches_torch_distribution():
    torch = _torch()
    torch.manual_seed(0)
    rt.manual_seed(0)
    t, r = torch.nn.Conv2d(8, 32, 3), nn.Conv2d(8, 32, 3)
    tw, rw = t.weight.detach().numpy(), _np(r.weight)
    assert np.abs(rw).max() <= np.abs(tw).max() * 1.01 + 1e-6 and np.abs(rw).max() >= 0.98 * np.abs(tw).max()
    assert rw.std() == pytest.approx(tw.std(), rel=0.06)
