"""The C++ boundary: what the bindings accept. None and non-tensors in tensor positions, the .grad
and .data setters, overflowing geometry and NumPy arrays that tensors may not alias must all end
in a clear Python exception (or a safe copy), never a crash or a write out of bounds."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F

try:
    import torch
except ImportError:  # the oracle comparisons are skipped without torch
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__)))
needs_torch = pytest.mark.skipif(torch is None, reason="torch is the oracle")


def run_isolated(code):
    """Runs code in a fresh interpreter (a crash there fails the test instead of killing pytest)."""
    env = dict(os.environ, PYTHONPATH=PYDIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=HERE)


# ---------------------------------------------------------------- None and non-tensors

def test_walk_none_and_non_tensors_in_every_tensor_position():
    """boundary_walk.py calls every public function/method that takes tensors with None, a str and a
    list of None in each tensor position; each call must raise, and none may crash the interpreter."""
    r = run_isolated("import runpy; runpy.run_path('boundary_walk.py', run_name='__main__')")
    assert r.returncode == 0, f"the walk crashed (rc {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["uncovered"] == [], f"no sample call found for {report['uncovered']}: add them to SAMPLES or NO_TENSOR_ARGS"
    assert report["problems"] == [], "\n".join(report["problems"])
    assert report["checked"] > 500  # the walk really reached the tensor positions


@pytest.mark.parametrize("call,op", [
    ("rt.matmul(x, None)", "matmul"), ("rt.matmul(None, x)", "matmul"), ("rt.cat([x, None])", "cat"),
    ("rt.stack([x, 'a'])", "stack"), ("rt.bmm(x.reshape(1, 2, 2), None)", "bmm"), ("rt.maximum(x, None)", "maximum"),
    ("x.matmul(None)", "matmul"), ("x.index_select(0, None)", "index_select"), ("x.copy_(None)", "copy_"),
    ("x.expand_as(None)", "expand_as"), ("x.add(None)", "add"), ("x.eq('a')", "eq"),
    ("F.conv2d(x.reshape(1, 1, 2, 2), None)", "conv"), ("F.linear(x, None)", "linear"), ("F.nll_loss(x, None)", "nll_loss"),
    ("F.max_pool2d(None, 2)", "max_pool2d"), ("F.batch_norm(x, None, None, 'w')", "batch_norm"),
    ("rt.nn.utils.clip_grad_value_([p, None], 1.0)", "clip_grad_value_"),
])
def test_none_in_a_tensor_position_is_a_type_error(call, op):
    code = ("import reticulum as rt, reticulum.nn.functional as F\n"
            "x = rt.ones(2, 2); p = rt.ones(2, requires_grad=True); p.grad = rt.ones(2)\n"
            f"try:\n    {call}\nexcept TypeError as e:\n    print('TypeError:', e)\nelse:\n    print('accepted')\n")
    r = run_isolated(code)
    assert r.returncode == 0, f"{call} crashed the interpreter (rc {r.returncode}): {r.stderr[-2000:]}"
    assert r.stdout.startswith("TypeError:"), f"{call}: {r.stdout}{r.stderr[-2000:]}"
    assert op in r.stdout, f"{call}: message does not name {op!r}: {r.stdout}"


def test_optional_tensor_arguments_still_take_none():
    x, w = rt.rand(1, 2, 5, 5), rt.rand(3, 2, 3, 3)
    assert F.conv2d(x, w, None).shape == (1, 3, 3, 3)
    assert F.linear(rt.rand(2, 3), rt.rand(4, 3), None).shape == (2, 4)
    assert F.batch_norm(rt.rand(4, 3), None, None, None, None, training=True).shape == (4, 3)
    assert F.cross_entropy(rt.rand(2, 3), rt.tensor([0, 1]), None).shape == ()


# ---------------------------------------------------------------- .grad and .data setters

def _grad_setter_outcome(lib, value_fn):
    p = lib.ones(3, requires_grad=True)
    try:
        p.grad = value_fn(lib)
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        return type(e).__name__
    return "ok"


GRAD_VALUES = {
    "bool": lambda L: L.ones(3, dtype=L.bool), "float64": lambda L: L.ones(3, dtype=L.float64),
    "int64": lambda L: L.ones(3, dtype=L.int64), "bigger": lambda L: L.ones(4), "2-d": lambda L: L.ones(1, 3),
    "0-d": lambda L: L.ones(()), "expanded": lambda L: L.ones(1).expand(3), "strided": lambda L: L.ones(6)[::2],
    "int": lambda L: 3, "None": lambda L: None, "list": lambda L: [1.0, 2.0, 3.0],
}


@needs_torch
@pytest.mark.parametrize("case", sorted(GRAD_VALUES))
def test_grad_setter_checks_like_torch(case):
    assert _grad_setter_outcome(rt, GRAD_VALUES[case]) == _grad_setter_outcome(torch, GRAD_VALUES[case])


def test_grad_setter_messages():
    p = rt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="different type.*bool.*float32"):
        p.grad = rt.ones(3, dtype=rt.bool)
    with pytest.raises(RuntimeError, match=r"different size.*\[1000\].*\[3\]"):
        p.grad = rt.ones(1).expand(1000)
    with pytest.raises(TypeError, match="Tensor or None.*int"):
        p.grad = 3
    with pytest.raises(RuntimeError, match="own grad"):
        p.grad = p


def test_expanded_grad_is_clipped_like_a_dense_one():
    """An expanded grad of the right shape is accepted (as torch) but stored densely, so clipping
    writes three elements of its own, not three through one shared element (or past it)."""
    base = rt.full((1,), 3.0)
    p = rt.ones(3, requires_grad=True)
    p.grad = base.expand(3)
    rt.nn.utils.clip_grad_value_([p], 1.0)
    assert p.grad.tolist() == [1.0, 1.0, 1.0] and base.tolist() == [3.0]
    p.grad = base.expand(3)
    total = rt.nn.utils.clip_grad_norm_([p], 1.0)
    assert abs(float(total) - 27 ** 0.5) < 1e-4
    assert np.allclose(p.grad.numpy(), 1 / 3 ** 0.5, atol=1e-5) and base.tolist() == [3.0]


def test_clipping_a_rebound_grad_is_safe():
    """p.grad.data can still be rebound to any layout; the clipping ops handle that at their boundary."""
    p = rt.ones(4, requires_grad=True)
    p.grad = rt.ones(4)
    p.grad.data = rt.full((1,), 3.0).expand(9)  # 9 elements sharing one float
    with pytest.raises(RuntimeError, match="clip_grad_value_.*single memory location"):
        rt.nn.utils.clip_grad_value_([p], 1.0)
    with pytest.raises(RuntimeError, match="clip_grad_norm_.*single memory location"):
        rt.nn.utils.clip_grad_norm_([p], 0.1)
    p.grad.data = rt.arange(12.0)[::3]  # strided, no sharing: clipped in place through a dense copy
    rt.nn.utils.clip_grad_value_([p], 5.0)
    assert p.grad.tolist() == [0.0, 3.0, 5.0, 5.0]
    rt.nn.utils.clip_grad_norm_([p], 1.0)
    assert abs(float((p.grad * p.grad).sum()) ** 0.5 - 1.0) < 1e-3


@needs_torch
@pytest.mark.parametrize("case", ["None", "int", "int64 on a leaf that requires grad", "other shape", "other dtype"])
def test_data_setter_checks_like_torch(case):
    def outcome(L):
        p = L.ones(3, requires_grad=True)
        value = {"None": None, "int": 3, "int64 on a leaf that requires grad": L.ones(2, dtype=L.int64),
                 "other shape": L.ones(5), "other dtype": L.ones(3, dtype=L.float64)}[case]
        try:
            p.data = value
        except Exception as e:  # noqa: BLE001
            return type(e).__name__
        return tuple(p.shape), str(p.dtype).split(".")[-1]
    assert outcome(rt) == outcome(torch)


def test_data_of_another_shape_then_backward_or_step_raises():
    """After p.data = other shape, a stale grad or optimizer state of the old shape is refused
    (torch raises a size mismatch too) instead of being written with the wrong geometry."""
    p = rt.ones(4, requires_grad=True)
    (p * 2).sum().backward()
    p.data = rt.ones(7)
    assert p.shape == (7,)
    with pytest.raises(RuntimeError, match=r"\.grad.*\[4\].*\[7\]"):
        (p * 2).sum().backward()

    p = rt.ones(4, requires_grad=True)
    opt = rt.optim.Adam([p], lr=0.1)
    p.grad = rt.ones(4)
    opt.step()
    p.data = rt.ones(7)
    p.grad = rt.ones(7)
    with pytest.raises(RuntimeError, match=r"changed shape to \[7\].*\[4\]"):
        opt.step()

    p = rt.ones(4, requires_grad=True)
    opt = rt.optim.SGD([p], lr=0.1)
    p.grad = rt.ones(4)
    p.data = rt.ones(7)
    with pytest.raises(RuntimeError, match=r"gradient shape \[4\].*\[7\]"):
        opt.step()


def test_rebound_grad_of_another_shape_then_backward_raises():
    p = rt.ones(4, requires_grad=True)
    (p * 2).sum().backward()
    p.grad.data = rt.ones(1)
    with pytest.raises(RuntimeError, match=r"\.grad.*\[1\].*\[4\]"):
        (p * 2).sum().backward()


def test_optimizer_refuses_a_parameter_rebound_to_integers():
    p = rt.ones(4, requires_grad=True)
    opt = rt.optim.Adam([p], lr=0.1)
    p.requires_grad_(False)
    p.data = rt.ones(4, dtype=rt.int64)
    p.grad = rt.ones(4, dtype=rt.int64)
    with pytest.raises(TypeError, match="floating point.*int64"):
        opt.step()


@needs_torch
@pytest.mark.parametrize("op", ["add_", "mul_", "copy_", "uniform_", "fill_", "zero_"])
def test_inplace_on_an_expanded_tensor_like_torch(op):
    """Ops that compute each written element refuse a destination whose elements share memory;
    fills are allowed (every element gets the same value), as in torch."""
    def outcome(L):
        x = L.ones(1).expand(3)
        args = {"add_": (1.0,), "mul_": (2.0,), "copy_": (L.ones(3),), "uniform_": (), "fill_": (2.0,), "zero_": ()}[op]
        try:
            getattr(x, op)(*args)
        except RuntimeError:
            return "RuntimeError"
        return "ok"
    assert outcome(rt) == outcome(torch)


# ---------------------------------------------------------------- geometry overflow

@pytest.mark.parametrize("call,match", [
    (lambda: F.conv1d(rt.rand(1, 2, 9), rt.rand(3, 2, 3), dilation=2 ** 62), "conv1d: dilated kernel size overflows"),
    (lambda: F.conv1d(rt.rand(1, 2, 9), rt.rand(3, 2, 3), padding=2 ** 62), "conv1d: padded input size overflows"),
    (lambda: F.conv2d(rt.rand(1, 2, 9, 9), rt.rand(3, 2, 3, 3), padding=(0, 2 ** 63 - 1)), "conv2d: padded input size overflows"),
    # few outputs, but padded images of 2**69 elements: kernels that pad the input would wrap
    (lambda: F.conv3d(rt.rand(1, 1, 2, 2, 2), rt.rand(4, 1, 1, 1, 1), padding=2 ** 22, stride=2 ** 23), "conv3d: shape.*overflows"),
    (lambda: F.max_pool2d(rt.rand(1, 2, 6, 6), 2, padding=2 ** 63 - 1), "max_pool2d: padding"),
    (lambda: F.avg_pool2d(rt.rand(1, 2, 6, 6), 2 ** 62, padding=2 ** 61), "avg_pool2d"),
    (lambda: F.max_pool2d(rt.rand(1, 2, 6, 6), 2 ** 62, padding=2 ** 61), "max_pool2d"),
    (lambda: rt.ones(0).reshape(2 ** 62, 4), "reshape"),
    (lambda: rt.ones(0).reshape(2 ** 62, 4, -1), "reshape"),
    (lambda: rt.ones(1).expand(2 ** 62, 4), "expand"),
    (lambda: rt.zeros(2 ** 62, 4), "zeros|empty|full"),
    (lambda: rt.arange(0, 1e300, 1e-300), "arange: too many elements"),
    (lambda: rt.cat([rt.ones(1).expand(2 ** 62), rt.ones(1).expand(2 ** 62)]), "cat"),
])
def test_overflowing_geometry_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_huge_strides_and_steps_stay_in_range():
    """A stride that overflows only matters if it is used: a single-window conv/pool and a one-element
    slice are fine (torch agrees)."""
    assert F.conv1d(rt.rand(1, 2, 9), rt.rand(3, 2, 3), stride=2 ** 63 - 1).shape == (1, 3, 1)
    assert rt.arange(5)[1::2 ** 63 - 1].tolist() == [1]
    assert rt.arange(5)[1:2 ** 70].tolist() == [1, 2, 3, 4]
    assert rt.arange(5)[::2 ** 70].tolist() == [0]
    assert rt.arange(5)[-2 ** 70:2].tolist() == [0, 1]


@pytest.mark.parametrize("call,exc", [
    (lambda: rt.zeros(2 ** 64), TypeError), (lambda: rt.ones(6).reshape(2 ** 64, -1), TypeError),
    (lambda: rt.ones(6).view(2 ** 63), TypeError), (lambda: rt.ones(1).expand(2 ** 64), TypeError),
    (lambda: rt.ones(2, 3).sum(2 ** 64), TypeError), (lambda: rt.ones(3).stride(2 ** 64), TypeError),
    (lambda: rt.ones(5)[2 ** 70], IndexError), (lambda: rt.ones(5).narrow(0, 1, 2 ** 63 - 1), IndexError),
    (lambda: rt.ones(5).narrow(0, 2 ** 63 - 1, 2), IndexError), (lambda: rt.ones(5).unsqueeze(2 ** 63), TypeError),
    (lambda: rt.linspace(0, 1, 2 ** 64), TypeError), (lambda: F.conv1d(rt.rand(1, 2, 9), rt.rand(3, 2, 3), dilation=2 ** 64), TypeError),
])
def test_python_ints_beyond_64_bits_are_refused(call, exc):
    with pytest.raises(exc):
        call()


@needs_torch
@pytest.mark.parametrize("dim", [0, -1, 1])
def test_stride_of_a_0d_tensor_is_an_index_error_like_torch(dim):
    with pytest.raises(IndexError):
        torch.tensor(1.0).stride(dim)
    with pytest.raises(IndexError, match="no dimensions"):
        rt.tensor(1.0).stride(dim)
    assert rt.tensor(1.0).stride() == ()


# ---------------------------------------------------------------- NumPy interop

def _copied_with_warning(arr):
    with pytest.warns(UserWarning, match="from_numpy.*copy"):
        t = rt.from_numpy(arr)
    return t


def test_from_numpy_of_read_only_bytes_copies():
    raw = bytes(np.arange(4, dtype=np.float32).tobytes())
    arr = np.frombuffer(raw, dtype=np.float32)
    t = _copied_with_warning(arr)
    t.add_(1.0)
    assert t.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert np.frombuffer(raw, dtype=np.float32).tolist() == [0.0, 1.0, 2.0, 3.0]  # the bytes object is unchanged


def test_from_numpy_of_read_only_memmap_copies(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(6, dtype=np.float64).reshape(2, 3))
    mm = np.load(path, mmap_mode="r")
    t = _copied_with_warning(mm)
    t.zero_()
    assert np.load(path).tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_from_numpy_of_broadcast_array_copies():
    arr = np.broadcast_to(np.array([1.0, 2.0], dtype=np.float32), (3, 2))
    t = _copied_with_warning(arr)
    t.mul_(2.0)
    assert t.tolist() == [[2.0, 4.0]] * 3


def test_from_numpy_of_writable_overlapping_array_copies():
    base = np.zeros(4, dtype=np.float64)
    arr = np.lib.stride_tricks.as_strided(base, shape=(3, 2), strides=(8, 8), writeable=True)  # rows overlap
    t = _copied_with_warning(arr)
    t.add_(1.0)
    assert base.tolist() == [0.0] * 4 and t.tolist() == [[1.0, 1.0]] * 3


def test_from_numpy_of_misaligned_array_copies():
    buf = np.zeros(8 * 5 + 1, dtype=np.uint8)
    arr = buf[1:].view(np.float64)  # data pointer one byte off an 8-byte boundary
    arr[:] = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert arr.ctypes.data % 8 != 0
    t = _copied_with_warning(arr)
    assert t.data_ptr() % 8 == 0
    assert t.sum().item() == 15.0


def test_from_numpy_still_shares_a_plain_array():
    arr = np.arange(4, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = rt.from_numpy(arr)
        t.add_(1.0)
    assert arr.tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("make", [
    lambda: np.frombuffer(np.arange(4, dtype=np.float32).tobytes(), dtype=np.float32),
    lambda: np.broadcast_to(np.float32(2.0), (4,)),
    lambda: np.zeros(8 * 4 + 1, dtype=np.uint8)[1:].view(np.float64),
])
def test_tensor_and_as_tensor_of_unshareable_arrays(make):
    arr = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = rt.tensor(arr)  # tensor() always copies: no warning
    assert t.tolist() == arr.tolist()
    t.add_(1.0)
    with pytest.warns(UserWarning):
        a = rt.as_tensor(arr)
    a.add_(1.0)
    assert a.tolist() == (arr + 1).tolist()
