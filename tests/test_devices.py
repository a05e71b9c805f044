"""Ops, NN modules, optimizers and training on every device (the `device` fixture: cpu, the test-only
device, cuda where available), each compared with the same computation on the CPU; and the device seam
itself: transfers, mixed-device errors, the registry, the test device's poisoned memory."""
import copy
import math

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
from reticulum import _C, nn
from reticulum.utils.data import DataLoader, TensorDataset

RTOL, ATOL = 1e-5, 1e-6


def host(t):
    return t.detach().cpu().numpy()


def close(got, want, what=""):
    np.testing.assert_allclose(host(got), host(want), rtol=RTOL, atol=ATOL, err_msg=what)


def inputs(*shapes, seed=0, grad=True):
    """Float64 leaves with fixed values (a positive shift keeps log/sqrt/pow defined)."""
    rng = np.random.default_rng(seed)
    return [rt.tensor(rng.standard_normal(s) + (0.1 if i == 0 else 0.0), dtype=rt.float64, requires_grad=grad) for i, s in enumerate(shapes)]


def on(device, ts):
    return [t.detach().to(device).requires_grad_(t.requires_grad) for t in ts]


def positive(x):
    return x.abs() + 0.5


# name -> (function of the inputs, input shapes). Each runs forward and backward on the CPU and on the
# device; outputs and gradients must agree.
OPS = {
    "add_broadcast": (lambda a, b: a + b, [(3, 4), (4,)]),
    "sub_scalar_both_sides": (lambda a: (a - 2) * (3 - a), [(3, 4)]),
    "mul_div": (lambda a, b: a * b / (b * b + 1), [(2, 3), (2, 3)]),
    "pow_tensor": (lambda a, b: positive(a) ** b, [(2, 3), (2, 3)]),
    "pow_scalar_rpow": (lambda a: a ** 3 + 2 ** a, [(5,)]),
    "maximum_minimum": (lambda a, b: rt.maximum(a, b) + rt.minimum(a, b) * 2, [(3, 3), (3,)]),
    "compare_where": (lambda a, b: rt.where(a > b, a, b * 2) + (a <= 0.2).double(), [(4, 3), (4, 3)]),
    "unary_math": (lambda a: positive(a).log() + a.exp() + positive(a).sqrt() + a.sigmoid() + a.tanh() + a.abs(), [(3, 5)]),
    "activations": (lambda a: F.relu(a) + F.leaky_relu(a, 0.1) + F.softplus(a) + F.sigmoid(a) * F.tanh(a), [(4, 4)]),
    "embedding": (lambda w: F.embedding(rt.tensor([[0, 2], [2, 1]], device=w.device), w), [(3, 4)]),
    "clamp_sign_heaviside": (lambda a: a.clamp(-0.5, 0.5) + a.sign() + rt.heaviside(a, rt.tensor(0.5, dtype=rt.float64, device=a.device)), [(6,)]),
    "sum_mean_var": (lambda a: a.sum(0) + a.mean(1, keepdim=True) + a.var(0) + a.std(), [(4, 3)]),
    "max_min_dim": (lambda a: a.max(1).values + a.min(0).values.sum() + a.max() - a.min(), [(3, 4)]),
    "argmax_as_index": (lambda a: a.index_select(1, a.argmax(1)), [(3, 4)]),
    "softmax_log_softmax": (lambda a: a.softmax(1) + a.log_softmax(0), [(3, 5)]),
    "matmul_shapes": (lambda a, b, c: (a @ b).sum() + (b.t() @ c) .sum() + rt.bmm(a.unsqueeze(0), b.unsqueeze(0)).sum(), [(2, 3), (3, 4), (3,)]),
    "views": (lambda a: a.reshape(6, 2).t().flatten()[1::2] + a.permute(2, 0, 1).contiguous().view(-1)[:6], [(2, 3, 2)]),
    "select_slice_index": (lambda a: a[1] + a[:, 2] + a[0, 1:3].sum() + a[[0, 2, 0]].sum(0), [(3, 3)]),
    "bool_mask_index": (lambda a: a[a > 0.1].sum() + a[:, [True, False, True]].sum(), [(4, 3)]),
    "tensor_index": (lambda a: a[rt.tensor([2, 0], device=a.device)] * 2, [(3, 4)]),
    "cat_stack_flip": (lambda a, b: rt.cat([a, b], 1) + rt.stack([a, b], 0).sum(0).repeat(1, 2) + a.flip(0).repeat(1, 2), [(2, 3), (2, 3)]),
    "unsqueeze_expand_squeeze": (lambda a: a.unsqueeze(1).expand(3, 4, 2).sum(1) + a.unsqueeze(0).squeeze(0), [(3, 2)]),
    "norms_prod": (lambda a: a.norm() + a.norm(1, dim=1).sum() + rt.prod(a, 1).sum(), [(3, 4)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(5, 3), (4, 3), (4,)]),
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, padding=1), [(2, 3, 7), (4, 3, 3), (4,)]),
    "conv2d_strided_grouped": (lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), [(2, 4, 6, 6), (4, 2, 3, 3)]),
    "conv3d": (lambda x, w: F.conv3d(x, w), [(1, 2, 4, 4, 4), (3, 2, 2, 2, 2)]),
    "pools": (lambda x: F.max_pool2d(x, 2).sum() + F.avg_pool2d(x, 3, 1, 1).sum() + F.adaptive_avg_pool2d(x, (3, 2)).sum()
              + F.max_pool1d(x.flatten(2), 3).sum(), [(2, 3, 6, 6)]),
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(4, 3, 2, 2), (3,), (3,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    "cross_entropy_smoothing_weights": (lambda x: F.cross_entropy(x, rt.tensor([0, 2, 1, 2], device=x.device),
                                                                   weight=rt.tensor([1.0, 2.0, 0.5], dtype=rt.float64, device=x.device),
                                                                   label_smoothing=0.1), [(4, 3)]),
    "nll_loss_ignore_index": (lambda x: F.nll_loss(x.log_softmax(1), rt.tensor([1, -100, 0], device=x.device)), [(3, 4)]),
    "cross_entropy_probabilities": (lambda x, t: F.cross_entropy(x, t.softmax(1)), [(3, 4), (3, 4)]),
    "mse_l1_smooth_l1": (lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b) + F.smooth_l1_loss(a, b), [(3, 4), (3, 4)]),
    "bce": (lambda a, b: F.binary_cross_entropy(a.sigmoid(), b.sigmoid()) + F.binary_cross_entropy_with_logits(a, b.sigmoid()),
            [(3, 4), (3, 4)]),
    "pad_one_hot": (lambda a: F.pad(a, (1, 2)).sum(1) + F.one_hot(rt.tensor([0, 2, 1], device=a.device), 3).double().sum(1), [(3, 2)]),
    "masked_fill_setitem": (lambda a: a.masked_fill(a > 0.3, 1.5) * 2, [(3, 4)]),
    "to_dtype_roundtrip": (lambda a: a.float().double() * 2 + a.long().double(), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_cpu(device, name):
    fn, shapes = OPS[name]
    cpu_in = inputs(*shapes)
    dev_in = on(device, cpu_in)
    want, got = fn(*cpu_in), fn(*dev_in)
    assert got.device == rt.device(device), f"{name} left the device"
    close(got, want, name)
    want.sum().backward()
    got.sum().backward()
    for i, (c, d) in enumerate(zip(cpu_in, dev_in)):
        assert d.grad.device == rt.device(device), f"{name}: gradient {i} is not on the device"
        close(d.grad, c.grad, f"{name} gradient {i}")


def test_setitem_and_inplace_ops(device):
    want = rt.arange(12.0).reshape(3, 4)
    got = want.to(device)
    for t in (want, got):
        t[0] = 5
        t[1, 1:3] = rt.tensor([7.0, 8.0], device=t.device)
        t[t > 10] = -1
        t[[2, 0], 3] = rt.tensor([4.0, 3.0], device=t.device)
        t.add_(1).mul_(2)
        t += 3
    close(got, want)


def test_creation_on_device(device):
    rt.manual_seed(3)
    want = [rt.zeros(2, 3), rt.ones(4, dtype=rt.int64), rt.full((2,), 7.5), rt.arange(1, 10, 2), rt.linspace(0, 1, 5), rt.eye(3, 4),
            rt.rand(3), rt.randn(2, 2), rt.randint(0, 5, (4,))]
    rt.manual_seed(3)
    got = [rt.zeros(2, 3, device=device), rt.ones(4, dtype=rt.int64, device=device), rt.full((2,), 7.5, device=device),
           rt.arange(1, 10, 2, device=device), rt.linspace(0, 1, 5, device=device), rt.eye(3, 4, device=device), rt.rand(3, device=device),
           rt.randn(2, 2, device=device), rt.randint(0, 5, (4,), device=device)]
    for i, (w, g) in enumerate(zip(want, got)):
        assert g.device == rt.device(device) and g.dtype == w.dtype
        if i < 6:  # random values need only come from the same distribution on another device
            close(g, w, f"creation op {i}")
    assert ((host(got[6]) >= 0) & (host(got[6]) < 1)).all() and set(host(got[8])) <= set(range(5))
    like = rt.zeros_like(got[0]), rt.ones_like(got[0]), rt.full_like(got[0], 2.0), rt.rand_like(got[0]), rt.tensor([1.0, 2.0], device=device)
    assert all(t.device == rt.device(device) for t in like)


def test_transfers_roundtrip_and_item(device):
    for dt in (rt.float32, rt.float64, rt.int64, rt.bool):
        a = (rt.arange(24).reshape(2, 3, 4) - 11)
        a = a > 0 if dt == rt.bool else a._to_dtype(dt)
        d = a.to(device)
        assert d.device == rt.device(device) and d.dtype == dt
        np.testing.assert_array_equal(host(d), host(a))
        np.testing.assert_array_equal(host(a.permute(2, 0, 1).to(device)), host(a.permute(2, 0, 1)))  # a strided source
        assert d[1, 2, 3].item() == a[1, 2, 3].item()
    d = rt.tensor([[1.5, -2.0]], device=device)
    assert d.tolist() == [[1.5, -2.0]] and float(d[0, 0]) == 1.5 and bool(d[0, 0] > 1)
    assert repr(d).startswith("tensor([[ 1.5000, -2.0000]]") and (device == "cpu" or f"device='{rt.device(device)}'" in repr(d))
    assert d.to(device) is d and d.to(d) is d and d.cpu().device == rt.device("cpu")


def test_to_device_is_differentiable(device):
    x = rt.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x.to(device) * 3).to("cpu")
    y.sum().backward()
    assert x.grad.device == rt.device("cpu")
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_copy_between_devices(device):
    a = rt.zeros(2, 3, device=device)
    a.copy_(rt.arange(6.0).reshape(2, 3))
    b = rt.zeros(3)
    b.copy_(a[1])
    np.testing.assert_array_equal(b.numpy(), [3.0, 4.0, 5.0])
    assert a.device == rt.device(device)


# ---------------------------------------------------------------- errors on a device

def test_bad_values_are_found_on_the_device(device):
    x = rt.randn(3, 4, device=device)
    with pytest.raises(IndexError, match="target 7 is out of bounds for 4 classes"):
        F.cross_entropy(x, rt.tensor([0, 7, 1], device=device))
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        x.index_select(1, rt.tensor([1, 5], device=device))
    with pytest.raises(RuntimeError, match="non-finite"):
        p = rt.tensor([1.0, 2.0], device=device, requires_grad=True)
        p.grad = rt.tensor([math.inf, 1.0], device=device)
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


MIXED = {
    "add": lambda a, b: a + b,
    "mul_inplace": lambda a, b: a.mul_(b),
    "compare": lambda a, b: a < b,
    "where": lambda a, b: rt.where(a > 0, a, b),
    "matmul": lambda a, b: a @ b,
    "cat": lambda a, b: rt.cat([a, b]),
    "linear": lambda a, b: F.linear(a, b),
    "conv2d": lambda a, b: F.conv2d(a.reshape(1, 1, 3, 3), b.reshape(1, 1, 3, 3)),
    "index_select": lambda a, b: a.index_select(0, b.long()),
    "cross_entropy": lambda a, b: F.cross_entropy(a, b.long()[:, 0]),
    "batch_norm": lambda a, b: F.batch_norm(a, None, None, b[0], None, training=True),
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_mixed_devices_are_refused_naming_both(name):
    a, b = rt.zeros(3, 3), rt.zeros(3, 3, device="testdev")
    for x, y in ((a, b), (b, a)):
        with pytest.raises(RuntimeError, match="(cpu and testdev|testdev and cpu)"):
            MIXED[name](x, y)


def test_device_tensor_refuses_numpy_and_grad_on_another_device():
    d = rt.ones(2, device="testdev", requires_grad=True)
    with pytest.raises(TypeError, match="testdev tensor to a NumPy array; use Tensor.cpu"):
        d.detach().numpy()
    with pytest.raises(RuntimeError, match="different device"):
        d.grad = rt.ones(2)
    with pytest.raises(RuntimeError, match="gradient is on cpu but the tensor is on testdev"):
        (d * 2).backward(rt.ones(2))


# ---------------------------------------------------------------- NN modules, optimizers, training

def cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.0),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))


def test_module_to_moves_parameters_gradients_and_buffers(device):
    rt.manual_seed(0)
    net = cnn()
    net(rt.randn(2, 1, 6, 6)).sum().backward()
    params = list(net.parameters())
    assert net.to(device) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]  # moved in place: optimizers keep working
    for t in [*net.parameters(), *(p.grad for p in net.parameters()), *net.buffers()]:
        assert t.device == rt.device(device)
    assert net[1].num_batches_tracked.dtype == rt.int64
    back = copy.deepcopy(net).cpu()
    assert all(p.device == rt.device("cpu") for p in back.parameters())
    sd = net.state_dict()
    fresh = cnn().to(device)
    fresh.load_state_dict(back.state_dict())
    for k, v in fresh.state_dict().items():
        assert v.device == rt.device(device)
        np.testing.assert_array_equal(host(v), host(sd[k]))


OPTIMIZERS = {
    "sgd_nesterov": lambda p: rt.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam_amsgrad": lambda p: rt.optim.Adam(p, lr=1e-2, amsgrad=True),
    "adamw": lambda p: rt.optim.AdamW(p, lr=1e-2),
    "rmsprop_centered": lambda p: rt.optim.RMSprop(p, lr=1e-2, momentum=0.5, centered=True),
    "adagrad": lambda p: rt.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_training_steps_match_cpu(device, opt):
    rt.manual_seed(1)
    ref = cnn()
    net = copy.deepcopy(ref).to(device)
    x, y = rt.randn(6, 1, 6, 6), rt.tensor([0, 1, 2, 2, 1, 0])
    xd, yd = x.to(device), y.to(device)
    o_ref, o_dev = OPTIMIZERS[opt](ref.parameters()), OPTIMIZERS[opt](net.parameters())
    for _ in range(3):
        for model, o, xx, yy in ((ref, o_ref, x, y), (net, o_dev, xd, yd)):
            o.zero_grad()
            loss = F.cross_entropy(model(xx), yy)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            o.step()
    for (name, a), b in zip(ref.state_dict().items(), net.state_dict().values()):
        assert b.device == rt.device(device), name
        np.testing.assert_allclose(host(b), host(a), rtol=1e-4, atol=1e-5, err_msg=name)
    state = o_dev.state_dict()["state"]
    assert all(v.device == rt.device(device) for s in state.values() for v in s.values() if isinstance(v, rt.Tensor) and v.ndim)


def test_optimizer_state_follows_the_model_to_the_device(device):
    rt.manual_seed(2)
    net = nn.Linear(3, 2)
    opt = rt.optim.Adam(net.parameters(), lr=0.1)
    net(rt.randn(4, 3)).sum().backward()
    opt.step()  # state made on the CPU
    net.to(device)
    opt.zero_grad()
    net(rt.randn(4, 3, device=device)).sum().backward()
    opt.step()
    assert net.weight.device == rt.device(device) and np.isfinite(host(net.weight)).all()


def test_fit_on_device_matches_cpu(device):
    def run(dev):
        rt.manual_seed(4)
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
        x = rt.randn(32, 2)
        y = (x[:, 0] * x[:, 1] > 0).long()
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
        opt = rt.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        hist = rt.train.fit(model, nn.CrossEntropyLoss(), opt, loader, 3, val_loader=loader, verbose=False, seed=5, device=dev,
                            clip_grad_norm=1.0)
        return model, hist

    ref, h_ref = run(None)
    model, h_dev = run(device)
    assert all(p.device == rt.device(device) for p in model.parameters())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h_dev.history[key], h_ref.history[key], rtol=1e-4, atol=1e-6, err_msg=key)


# ---------------------------------------------------------------- the registry and the test device itself

def test_unbuilt_device_is_a_clear_error():
    if rt.cuda.is_built():  # a CUDA build without a GPU says "no CUDA device was found" instead
        pytest.skip("this build has CUDA")
    for make in (lambda: rt.zeros(2, device="cuda"), lambda: rt.ones(2).to("cuda"), lambda: rt.ones(2).cuda(), lambda: nn.Linear(2, 2).cuda()):
        with pytest.raises(RuntimeError, match="cuda:0: reticulum was built without CUDA"):
            make()


def test_registration_refuses_a_table_with_a_missing_entry_naming_it():
    for entry in ("allocate", "copy_to_host", "bmm", "bernoulli"):
        with pytest.raises(RuntimeError, match=f"the testdev table has no entry for {entry}$"):
            _C._register_test_device_without(entry)
    with pytest.raises(ValueError, match="no entry named 'nope'"):
        _C._register_test_device_without("nope")


def test_device_names():
    assert str(rt.device("testdev")) == "testdev" and rt.device("cuda:1").index == 1 and str(rt.device("cuda")) == "cuda:0"
    assert rt.device("testdev:0") == rt.device("testdev") and rt.device("cpu") != rt.device("testdev")
    for bad in ("tpu", "cuda:x", "cuda:", "testdev:1"):
        with pytest.raises(ValueError, match="device"):
            rt.device(bad)


def test_test_device_memory_starts_poisoned():
    """Fresh testdev memory is NaN (all-ones bytes): an output a kernel forgets to write shows up."""
    for dt, check in ((rt.float32, np.isnan), (rt.float64, np.isnan), (rt.int64, lambda a: a == -1)):
        assert check(host(rt.empty(17, dtype=dt, device="testdev"))).all()


def test_save_and_load_a_device_state_dict(device, tmp_path):
    """Tensors on a device are saved from the host (and load onto the CPU, as map_location='cpu')."""
    net = nn.Linear(3, 2).to(device)
    rt.save(net.state_dict(), tmp_path / "net.pt")
    loads = [rt.load(tmp_path / "net.pt")]
    try:
        import safetensors  # noqa: F401  (an optional dependency: its half of the check needs it)
    except ImportError:
        pass
    else:
        rt.safetensors.save_file(net.state_dict(), tmp_path / "net.safetensors")
        loads.append(rt.safetensors.load_file(tmp_path / "net.safetensors"))
    for loaded in loads:
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(loaded[k].numpy(), host(v))
