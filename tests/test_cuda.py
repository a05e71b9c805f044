"""The CUDA device: what a build without CUDA says, and (with a GPU) parity of every kernel family with
the CPU. The parity tests skip, visibly, unless this build has the CUDA backend and a GPU is present;
cuda/gpu_check.sh runs them on a GPU machine."""
import subprocess
import sys

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
from reticulum import nn

needs_gpu = pytest.mark.skipif(not rt.cuda.is_available(), reason="needs reticulum's CUDA build and a GPU (run cuda/gpu_check.sh)")
needs_cpu_build = pytest.mark.skipif(rt.cuda.is_built(), reason="checks the errors of a build without CUDA")


# ---------------------------------------------------------------- a build without CUDA

@needs_cpu_build
def test_cuda_functions_without_cuda():
    assert rt.cuda.is_available() is False and rt.cuda.device_count() == 0
    rt.cuda.manual_seed(0)  # silently ignored, as torch.cuda.manual_seed without CUDA
    rt.cuda.manual_seed_all(0)
    rt.cuda.empty_cache()
    with pytest.raises(RuntimeError, match="built without CUDA"):
        rt.cuda.synchronize()


@needs_cpu_build
def test_moving_to_cuda_without_cuda():
    t = rt.ones(2)
    for move in (lambda: t.to("cuda"), lambda: t.cuda(), lambda: t.to("cuda:1")):
        with pytest.raises(RuntimeError, match="built without CUDA"):
            move()
    net = nn.Linear(2, 2)
    for move in (lambda: net.to("cuda"), lambda: net.cuda(), lambda: net.to(rt.float64).cuda(0)):
        with pytest.raises(RuntimeError, match="built without CUDA"):
            move()
    assert net.weight.device.type == "cpu"


@needs_cpu_build
def test_fit_on_cuda_without_cuda_refuses_before_training():
    from reticulum.train import fit
    from reticulum.utils.data import DataLoader, TensorDataset
    net = nn.Linear(3, 2)
    loader = DataLoader(TensorDataset(rt.randn(4, 3), rt.tensor([0, 1, 0, 1])), batch_size=2, pin_memory=True)
    assert loader.pin_memory is True
    before = net.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match="cuda:0: reticulum was built without CUDA"):
        fit(net, nn.CrossEntropyLoss(), rt.optim.SGD(net.parameters(), lr=0.1), loader, 1, verbose=False, device="cuda")
    np.testing.assert_array_equal(net.weight.detach().numpy(), before)


@needs_cpu_build
def test_cli_train_device_cuda_without_cuda(tmp_path):
    out = subprocess.run([sys.executable, "-m", "reticulum", "train", "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--device" in out.stderr and "reticulum was built without CUDA" in out.stderr
    assert not (tmp_path / "run").exists()


def test_fit_on_cpu_device_trains_as_without_it():
    from reticulum.train import fit
    from reticulum.utils.data import DataLoader, TensorDataset

    def run(device):
        rt.manual_seed(0)
        net = nn.Linear(3, 2)
        data = TensorDataset(rt.randn(8, 3), rt.tensor([0, 1, 0, 1, 1, 0, 1, 0]))
        fit(net, nn.CrossEntropyLoss(), rt.optim.SGD(net.parameters(), lr=0.1), DataLoader(data, batch_size=4), 2,
            verbose=False, seed=1, device=device)
        return net.weight.detach().numpy()
    np.testing.assert_array_equal(run("cpu"), run(None))


# ---------------------------------------------------------------- parity with the CPU (GPU only)

def _pair(a, requires_grad=False):
    """The same values as a CPU tensor and a CUDA tensor."""
    c = rt.tensor(a, requires_grad=requires_grad)
    g = rt.tensor(a).cuda().detach().requires_grad_(requires_grad)
    return c, g


def _close(cpu, gpu, rtol=1e-5, atol=1e-6):
    assert gpu.device.type == "cuda"
    assert gpu.dtype == cpu.dtype and tuple(gpu.shape) == tuple(cpu.shape)
    np.testing.assert_allclose(gpu.cpu().detach().numpy(), cpu.detach().numpy(), rtol=rtol, atol=atol)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5)).astype(np.float32)
Y = RNG.standard_normal((4, 5)).astype(np.float32)

UNARY = {
    "neg": lambda t: -t, "abs": rt.abs, "exp": rt.exp, "log": lambda t: rt.log(rt.abs(t) + 0.1), "sqrt": lambda t: rt.sqrt(rt.abs(t)),
    "relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.1), "sigmoid": rt.sigmoid, "tanh": rt.tanh,
    "clamp": lambda t: rt.clamp(t, -0.5, 0.7), "pow": lambda t: t ** 3, "square": lambda t: t ** 2, "sign": rt.sign,
    "softplus": F.softplus,
}


@needs_gpu
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_and_gradient(name):
    (c, g), f = _pair(X, True), UNARY[name]
    yc, yg = f(c), f(g)
    _close(yc, yg)
    yc.sum().backward()
    yg.sum().backward()
    _close(c.grad, g.grad)


BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / (b.abs() + 0.5),
          "pow": lambda a, b: a.abs() ** b, "maximum": rt.maximum, "minimum": rt.minimum}


@needs_gpu
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcast_strided_and_gradient(name):
    (a, ag), (b, bg) = _pair(X, True), _pair(Y, True)
    f = BINARY[name]
    yc, yg = f(a.transpose(1, 2), b.t()), f(ag.transpose(1, 2), bg.t())  # broadcast over non-contiguous views
    _close(yc, yg)
    yc.sum().backward()
    yg.sum().backward()
    _close(a.grad, ag.grad)
    _close(b.grad, bg.grad, rtol=1e-4)


@needs_gpu
def test_integer_and_bool_elementwise_compare_where_copy():
    ints = RNG.integers(-5, 6, (4, 6))
    (a, ag), (b, bg) = _pair(ints), _pair(ints.T.copy())
    for f in (lambda x, y: x + y.t(), lambda x, y: x * 3, lambda x, y: x // 2, lambda x, y: rt.maximum(x, y.t()), lambda x, y: x.abs(),
              lambda x, y: x == y.t(), lambda x, y: x < 0, lambda x, y: rt.where(x > 0, x, y.t()), lambda x, y: x.float(),
              lambda x, y: (x > 1).long(), lambda x, y: x.t().contiguous(), lambda x, y: x.sum(1), lambda x, y: x.argmax(0)):
        _close(f(a, b), f(ag, bg))
    nan = np.array([1.0, np.nan, -2.0, 3.0], dtype=np.float32)
    (n, ng), (m, mg) = _pair(nan), _pair(np.array([np.nan, 0.5, 1.0, -1.0], dtype=np.float32))
    for f in (rt.maximum, rt.minimum):  # NaN propagates from either side
        _close(f(n, m), f(ng, mg))
    _close(n.max(), ng.max())
    _close(n.argmax(), ng.argmax())


@needs_gpu
@pytest.mark.parametrize("shape, dim", [((3, 4, 5), 1), ((3, 4, 5), 2), ((2, 3000), 1), ((5000,), 0), ((7, 300, 2), 1)])
def test_reductions_and_softmax(shape, dim):
    a = RNG.standard_normal(shape).astype(np.float32)
    a.flat[::7] = a.flat[0]  # ties: the first index wins
    (c, g) = _pair(a, True)
    for f in (lambda t: t.sum(dim), lambda t: t.mean(dim), lambda t: t.max(dim)[0], lambda t: t.min(dim)[1], lambda t: t.argmax(dim),
              lambda t: t.argmin(dim)):
        _close(f(c), f(g), rtol=1e-4, atol=1e-5)
    for f in (lambda t: F.softmax(t, dim), lambda t: F.log_softmax(t, dim)):
        c.grad = g.grad = None
        yc, yg = f(c), f(g)
        _close(yc, yg, rtol=1e-4, atol=1e-6)
        (yc * yc).sum().backward()
        (yg * yg).sum().backward()
        _close(c.grad, g.grad, rtol=1e-4, atol=1e-5)


@needs_gpu
@pytest.mark.parametrize("dtype", [rt.float32, rt.float64])
def test_matmul_layouts(dtype):
    a, b = RNG.standard_normal((2, 5, 7)), RNG.standard_normal((2, 7, 3))
    (x, xg), (y, yg) = _pair(a, True), _pair(b, True)
    x, xg, y, yg = (t.to(dtype) for t in (x, xg, y, yg))
    for f in (lambda p, q: p @ q, lambda p, q: p.transpose(1, 2).transpose(1, 2) @ q, lambda p, q: (q.transpose(1, 2) @ p.transpose(1, 2)),
              lambda p, q: p[0] @ q[1], lambda p, q: p[:, 0] @ q[0], lambda p, q: p.reshape(10, 7) @ q[1]):
        _close(f(x, y), f(xg, yg), rtol=1e-4, atol=1e-5)
    (x @ y).sum().backward()
    (xg @ yg).sum().backward()


@needs_gpu
def test_index_ops_and_embedding():
    (w, wg) = _pair(RNG.standard_normal((10, 4)).astype(np.float32), True)
    idx, idxg = _pair(np.array([[1, 3, 3], [9, 0, 1]]))
    yc, yg = F.embedding(idx, w), F.embedding(idxg, wg)
    _close(yc, yg)
    yc.sum().backward()
    yg.sum().backward()
    _close(w.grad, wg.grad)  # repeated indices accumulate
    _close(w.index_select(1, idx[0]), wg.index_select(1, idxg[0]))
    _close(w[idx[0]], wg[idxg[0]])


@needs_gpu
@pytest.mark.parametrize("layer", ["conv1d", "conv2d", "conv2d-groups-stride", "conv2d-dilation", "conv3d"])
def test_conv_forward_and_gradients(layer):
    make = {"conv1d": lambda: nn.Conv1d(3, 4, 3, padding=1), "conv2d": lambda: nn.Conv2d(3, 4, 3, padding=1),
            "conv2d-groups-stride": lambda: nn.Conv2d(4, 6, 3, stride=2, groups=2), "conv2d-dilation": lambda: nn.Conv2d(3, 2, 3, dilation=2, bias=False),
            "conv3d": lambda: nn.Conv3d(2, 3, 2)}[layer]
    shape = {"conv1d": (2, 3, 9), "conv2d": (2, 3, 8, 8), "conv2d-groups-stride": (2, 4, 9, 9), "conv2d-dilation": (2, 3, 9, 9),
             "conv3d": (2, 2, 4, 5, 5)}[layer]
    rt.manual_seed(0)
    mc = make()
    mg = make().cuda()
    mg.load_state_dict(mc.state_dict())
    x, xg = _pair(RNG.standard_normal(shape).astype(np.float32), True)
    yc, yg = mc(x), mg(xg)
    _close(yc, yg, rtol=1e-4, atol=1e-5)
    (yc * yc).sum().backward()
    (yg * yg).sum().backward()
    _close(x.grad, xg.grad, rtol=1e-4, atol=1e-4)
    for pc, pg in zip(mc.parameters(), mg.parameters()):
        _close(pc.grad, pg.grad, rtol=1e-4, atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("pool", ["max", "max-pad-stride", "avg", "avg-ceil-nopad", "adaptive"])
def test_pooling_and_gradients(pool):
    f = {"max": lambda t: F.max_pool2d(t, 2), "max-pad-stride": lambda t: F.max_pool2d(t, 3, 2, 1),
         "avg": lambda t: F.avg_pool2d(t, 2), "avg-ceil-nopad": lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         "adaptive": lambda t: F.adaptive_avg_pool2d(t, (3, 2))}[pool]
    x, xg = _pair(RNG.standard_normal((2, 3, 7, 7)).astype(np.float32), True)
    yc, yg = f(x), f(xg)
    _close(yc, yg)
    (yc * yc).sum().backward()
    (yg * yg).sum().backward()
    _close(x.grad, xg.grad, rtol=1e-5, atol=1e-6)


@needs_gpu
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(training):
    rt.manual_seed(0)
    bc, bg = nn.BatchNorm2d(3), nn.BatchNorm2d(3).cuda()
    with rt.no_grad():
        bc.weight.uniform_(0.5, 1.5)
    bg.load_state_dict(bc.state_dict())
    bc.train(training), bg.train(training)
    x, xg = _pair((RNG.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32), True)
    yc, yg = bc(x), bg(xg)
    _close(yc, yg, rtol=1e-4, atol=1e-5)
    (yc * yc).sum().backward()
    (yg * yg).sum().backward()
    _close(x.grad, xg.grad, rtol=1e-4, atol=1e-4)
    _close(bc.weight.grad, bg.weight.grad, rtol=1e-4, atol=1e-4)
    _close(bc.running_mean, bg.running_mean)
    _close(bc.running_var, bg.running_var)


@needs_gpu
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"ignore_index": 2}, {"weight": "w"}])
def test_cross_entropy(kw):
    logits, lg = _pair(RNG.standard_normal((6, 4)).astype(np.float32), True)
    t, tg = _pair(np.array([0, 2, 3, 1, 2, 0]))
    kc = {k: (rt.tensor([1.0, 2.0, 0.5, 1.5]) if v == "w" else v) for k, v in kw.items()}
    kg = {k: (v.cuda() if isinstance(v, rt.Tensor) else v) for k, v in kc.items()}
    lc, lgpu = F.cross_entropy(logits, t, **kc), F.cross_entropy(lg, tg, **kg)
    _close(lc, lgpu)
    lc.backward()
    lgpu.backward()
    _close(logits.grad, lg.grad)


@needs_gpu
@pytest.mark.parametrize("opt", ["sgd", "sgd-nesterov", "adam", "adamw-amsgrad", "rmsprop-centered", "adagrad"])
def test_optimizer_steps(opt):
    make = {"sgd": lambda p: rt.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
            "sgd-nesterov": lambda p: rt.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
            "adam": lambda p: rt.optim.Adam(p, lr=0.01), "adamw-amsgrad": lambda p: rt.optim.AdamW(p, lr=0.01, amsgrad=True),
            "rmsprop-centered": lambda p: rt.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
            "adagrad": lambda p: rt.optim.Adagrad(p, lr=0.1, lr_decay=0.01)}[opt]
    pc, pg = _pair(RNG.standard_normal((5, 3)).astype(np.float32), True)
    oc, og = make([pc]), make([pg])
    for step in range(4):
        for p, o in ((pc, oc), (pg, og)):
            o.zero_grad()
            ((p * p).sum() + p.sum() * step).backward()
            o.step()
    _close(pc, pg, rtol=1e-5, atol=1e-6)


@needs_gpu
def test_random_fills_are_seeded_and_distributed():
    rt.manual_seed(3)
    a = rt.rand(100000, device="cuda")
    rt.manual_seed(3)
    b = rt.rand(100000, device="cuda")
    np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())
    assert abs(float(a.mean()) - 0.5) < 0.01 and 0 <= float(a.min()) and float(a.max()) < 1
    n = rt.randn(100000, device="cuda")
    assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1) < 0.02
    r = rt.randint(3, 7, (10000,), device="cuda")
    assert set(np.unique(r.cpu().numpy())) == {3, 4, 5, 6}
    rt.cuda.manual_seed(4)  # the CUDA generator alone: the CPU draws continue
    c = rt.rand(5, device="cuda")
    rt.cuda.manual_seed(4)
    np.testing.assert_array_equal(c.cpu().numpy(), rt.rand(5, device="cuda").cpu().numpy())
    d = F.dropout(rt.ones(100000, device="cuda"), 0.3, training=True)
    assert abs(float((d == 0).float().mean()) - 0.3) < 0.01


@needs_gpu
def test_affine_warp_matches_cpu():
    img, imgg = _pair(RNG.random((2, 3, 16, 16)).astype(np.float32))
    theta = rt.tensor(np.array([[[0.9, 0.1, 1.0], [-0.1, 0.9, -0.5]]] * 2))
    _close(rt._C.nn.affine_warp(img, theta), rt._C.nn.affine_warp(imgg, theta.cuda()))


@needs_gpu
def test_mixed_devices_are_refused_naming_both():
    c, g = _pair(X)
    with pytest.raises(RuntimeError, match="cpu.*cuda:0|cuda:0.*cpu"):
        c + g


@needs_gpu
def test_module_to_cuda_and_training_match_cpu():
    from reticulum.train import fit
    from reticulum.utils.data import DataLoader, TensorDataset

    def run(device):
        rt.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))
        data = TensorDataset(rt.tensor(RNG_DATA), rt.tensor(np.arange(16) % 3))
        fit(net, nn.CrossEntropyLoss(), rt.optim.Adam(net.parameters(), lr=0.01), DataLoader(data, batch_size=8, pin_memory=True), 2,
            verbose=False, seed=1, device=device)
        assert all(p.device.type == device for p in net.parameters())
        return [p.detach().cpu().numpy() for p in net.parameters()]
    for pc, pg in zip(run("cpu"), run("cuda")):
        np.testing.assert_allclose(pg, pc, rtol=1e-3, atol=1e-4)


RNG_DATA = np.random.default_rng(1).standard_normal((16, 1, 8, 8)).astype(np.float32)


@needs_gpu
def test_cuda_functions():
    assert rt.cuda.is_built() and rt.cuda.device_count() >= 1
    t = rt.ones(3).cuda()
    assert t.is_cuda and str(t.device) == "cuda:0"
    rt.cuda.synchronize()
    rt.cuda.synchronize(0)
    with pytest.raises(RuntimeError, match="not available"):
        rt.cuda.synchronize(rt.cuda.device_count())
    del t
    rt.cuda.empty_cache()
