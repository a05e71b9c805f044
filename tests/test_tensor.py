"""Tensor basics: creation ops, randomness, dtypes, NumPy interop, Python conversions,
repr, dtype conversion, threads and device."""
import math

import numpy as np
import pytest

import reticulum as rt


def arr(t):
    return t.detach().numpy()


# ---------------------------------------------------------------- creation

def test_zeros_ones_full_empty_defaults():
    z = rt.zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == rt.float32
    np.testing.assert_array_equal(arr(z), np.zeros((2, 3)))
    o = rt.ones((4,))
    assert o.shape == (4,) and o.dtype == rt.float32
    np.testing.assert_array_equal(arr(o), np.ones(4))
    assert rt.ones([2, 2]).shape == (2, 2)
    f = rt.full((2, 2), 2.5)
    assert f.dtype == rt.float32
    np.testing.assert_array_equal(arr(f), np.full((2, 2), 2.5))
    assert rt.full((2,), 3).dtype == rt.int64  # as torch: int fill value -> int64
    assert rt.full((2,), True).dtype == rt.bool
    e = rt.empty(3, 4)
    assert e.shape == (3, 4) and e.dtype == rt.float32 and e.numel() == 12


def test_zero_dim_and_empty_shapes():
    s = rt.zeros(())
    assert s.shape == () and s.ndim == 0 and s.numel() == 1
    e = rt.zeros(0, 3)
    assert e.shape == (0, 3) and e.numel() == 0
    assert arr(e).shape == (0, 3)


@pytest.mark.parametrize("dtype", [rt.float32, rt.float64, rt.int64, rt.bool])
def test_creation_with_dtype(dtype):
    np_dt = {rt.float32: np.float32, rt.float64: np.float64, rt.int64: np.int64, rt.bool: np.bool_}[dtype]
    for t, ref in [(rt.zeros(2, 3, dtype=dtype), np.zeros((2, 3))), (rt.ones(2, dtype=dtype), np.ones(2)),
                   (rt.full((3,), 1, dtype=dtype), np.ones(3)), (rt.eye(3, dtype=dtype), np.eye(3))]:
        assert t.dtype == dtype
        a = arr(t)
        assert a.dtype == np_dt
        np.testing.assert_array_equal(a, ref.astype(np_dt))
    assert rt.empty(2, dtype=dtype).dtype == dtype


def test_requires_grad_on_creation():
    for fn in (rt.zeros, rt.ones, rt.empty, rt.rand, rt.randn):
        t = fn(2, 3, requires_grad=True)
        assert t.requires_grad and t.is_leaf, fn.__name__
        assert not fn(2, 3).requires_grad
    assert rt.full((2,), 1.0, requires_grad=True).requires_grad
    assert rt.arange(3.0, requires_grad=True).requires_grad
    assert rt.linspace(0, 1, 3, requires_grad=True).requires_grad
    assert rt.eye(2, requires_grad=True).requires_grad
    assert rt.tensor([1.0], requires_grad=True).requires_grad


def test_arange():
    a = rt.arange(5)
    assert a.dtype == rt.int64
    np.testing.assert_array_equal(arr(a), np.arange(5))
    np.testing.assert_array_equal(arr(rt.arange(1, 10, 3)), [1, 4, 7])
    np.testing.assert_array_equal(arr(rt.arange(5, 0, -2)), [5, 3, 1])
    f = rt.arange(0, 1, 0.25)
    assert f.dtype == rt.float32
    np.testing.assert_allclose(arr(f), [0.0, 0.25, 0.5, 0.75])
    assert rt.arange(5.0).dtype == rt.float32
    assert rt.arange(0, 1, 0.1).shape == (10,)
    assert rt.arange(3, dtype=rt.float64).dtype == rt.float64
    assert rt.arange(0).shape == (0,)


def test_linspace():
    np.testing.assert_allclose(arr(rt.linspace(0, 1, 5)), np.linspace(0, 1, 5), rtol=1e-6)
    np.testing.assert_allclose(arr(rt.linspace(-2, 3, 11, dtype=rt.float64)), np.linspace(-2, 3, 11), rtol=1e-12)
    assert rt.linspace(0, 1, 0).shape == (0,)
    assert rt.linspace(0, 1, 5).dtype == rt.float32


def test_linspace_single_step_is_start():
    # torch.linspace(0, 1, 1) == tensor([0.]) (numpy likewise)
    np.testing.assert_array_equal(arr(rt.linspace(0, 1, 1)), [0.0])
    np.testing.assert_array_equal(arr(rt.linspace(3, 7, 1)), [3.0])


def test_eye():
    np.testing.assert_array_equal(arr(rt.eye(3)), np.eye(3))
    np.testing.assert_array_equal(arr(rt.eye(2, 4)), np.eye(2, 4))
    np.testing.assert_array_equal(arr(rt.eye(4, 2)), np.eye(4, 2))
    assert rt.eye(0).shape == (0, 0)


def test_rand_randn_randint_shapes_and_dtypes():
    assert rt.rand(2, 3).shape == (2, 3) and rt.rand(2, 3).dtype == rt.float32
    assert rt.rand(4, dtype=rt.float64).dtype == rt.float64
    assert rt.randn((3, 2)).shape == (3, 2)
    assert rt.randn(5, dtype=rt.float64).dtype == rt.float64
    r = rt.randint(3, (4, 5))
    assert r.shape == (4, 5) and r.dtype == rt.int64
    assert int(arr(r).min()) >= 0 and int(arr(r).max()) < 3
    r2 = rt.randint(2, 5, (100,))
    assert int(arr(r2).min()) >= 2 and int(arr(r2).max()) < 5
    assert rt.randint(0, 10, size=(2,)).shape == (2,)


@pytest.mark.parametrize("fn", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like", "full_like"])
def test_like_functions(fn):
    src = rt.zeros(2, 3, dtype=rt.float64)
    f = getattr(rt, fn)
    call = (lambda *a, **k: f(*a, 4.0, **k)) if fn == "full_like" else f
    t = call(src)
    assert t.shape == (2, 3) and t.dtype == rt.float64 and not t.requires_grad
    t32 = call(src, dtype=rt.float32)
    assert t32.dtype == rt.float32 and t32.shape == (2, 3)
    tg = call(src, requires_grad=True)
    assert tg.requires_grad and tg.is_leaf
    if fn == "zeros_like":
        np.testing.assert_array_equal(arr(t), np.zeros((2, 3)))
    if fn == "ones_like":
        np.testing.assert_array_equal(arr(t), np.ones((2, 3)))
    if fn == "full_like":
        np.testing.assert_array_equal(arr(t), np.full((2, 3), 4.0))


# ---------------------------------------------------------------- randomness

def test_manual_seed_determinism():
    rt.manual_seed(1234)
    a = arr(rt.rand(7)).copy()
    b = arr(rt.randn(3, 3)).copy()
    c = arr(rt.randint(0, 100, (9,))).copy()
    d = arr(rt.randn(5, dtype=rt.float64)).copy()
    rt.manual_seed(1234)
    np.testing.assert_array_equal(arr(rt.rand(7)), a)
    np.testing.assert_array_equal(arr(rt.randn(3, 3)), b)
    np.testing.assert_array_equal(arr(rt.randint(0, 100, (9,))), c)
    np.testing.assert_array_equal(arr(rt.randn(5, dtype=rt.float64)), d)
    rt.manual_seed(1235)
    assert not np.array_equal(arr(rt.rand(7)), a)


def test_successive_draws_differ():
    rt.manual_seed(0)
    a = arr(rt.rand(100)).copy()
    b = arr(rt.rand(100)).copy()
    assert not np.array_equal(a, b)
    assert len(np.unique(a)) > 90


def test_random_independent_of_thread_count():
    old = rt.get_num_threads()
    try:
        rt.set_num_threads(1)
        rt.manual_seed(7)
        a = arr(rt.randn(200001)).copy()
        rt.set_num_threads(4)
        rt.manual_seed(7)
        b = arr(rt.randn(200001)).copy()
    finally:
        rt.set_num_threads(old)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [rt.float32, rt.float64])
def test_randn_statistics(dtype):
    rt.manual_seed(0)
    n = arr(rt.randn(1_000_000, dtype=dtype)).astype(np.float64)
    assert np.all(np.isfinite(n))
    assert abs(n.mean()) < 0.005  # std error 0.001
    assert abs(n.std() - 1.0) < 0.005
    # tails: ~31.7% outside 1 sigma, ~4.55% outside 2 sigma
    assert abs(np.mean(np.abs(n) > 1) - 0.3173) < 0.005
    assert abs(np.mean(np.abs(n) > 2) - 0.0455) < 0.002


@pytest.mark.parametrize("dtype", [rt.float32, rt.float64])
def test_rand_range_and_uniformity(dtype):
    rt.manual_seed(0)
    u = arr(rt.rand(1_000_000, dtype=dtype))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003
    hist, _ = np.histogram(u, bins=10, range=(0, 1))
    assert np.all(np.abs(hist - 100_000) < 2_000)


def test_randint_covers_range_uniformly():
    rt.manual_seed(0)
    r = arr(rt.randint(-3, 4, (70_000,)))
    assert r.min() == -3 and r.max() == 3
    counts = np.bincount(r + 3)
    assert np.all(np.abs(counts - 10_000) < 600)


# ---------------------------------------------------------------- rt.tensor

def test_tensor_dtype_inference():
    assert rt.tensor([1.0, 2.0]).dtype == rt.float32
    assert rt.tensor([1, 2.5]).dtype == rt.float32
    assert rt.tensor([[1, 2], [3, 4]]).dtype == rt.int64
    assert rt.tensor([True, False]).dtype == rt.bool
    assert rt.tensor(np.array([1.0, 2.0])).dtype == rt.float64
    assert rt.tensor(np.array([1.0, 2.0], dtype=np.float32)).dtype == rt.float32
    assert rt.tensor(np.arange(3)).dtype == rt.int64
    assert rt.tensor(np.array([True])).dtype == rt.bool
    assert rt.tensor([1.0, 2.0], dtype=rt.float64).dtype == rt.float64
    t = rt.tensor([1.7, -1.7], dtype=rt.int64)
    assert t.dtype == rt.int64
    np.testing.assert_array_equal(arr(t), [1, -1])


def test_tensor_from_nested_lists_values():
    t = rt.tensor([[1.5, 2.0, 3.0], [4.0, 5.0, 6.25]])
    assert t.shape == (2, 3)
    np.testing.assert_array_equal(arr(t), [[1.5, 2.0, 3.0], [4.0, 5.0, 6.25]])
    assert rt.tensor([]).shape == (0,)
    assert rt.tensor([[[1], [2]]]).shape == (1, 2, 1)


@pytest.mark.parametrize("value,dtype", [(3.5, rt.float32), (5, rt.int64), (True, rt.bool)])
def test_tensor_from_python_scalar_is_0d(value, dtype):
    # torch.tensor(3.5).shape == torch.Size([])
    t = rt.tensor(value)
    assert t.dtype == dtype
    assert t.shape == () and t.ndim == 0
    assert t.item() == value


def test_tensor_from_0d_numpy_array_is_0d():
    t = rt.tensor(np.array(2.5))
    assert t.shape == ()
    assert t.item() == 2.5


def test_tensor_copies_its_input():
    a = np.array([1.0, 2.0])
    t = rt.tensor(a)
    a[0] = 100.0
    assert t[0].item() == 1.0
    src = rt.tensor([1.0, 2.0])
    t2 = rt.tensor(src)
    src.add_(1.0)
    np.testing.assert_array_equal(arr(t2), [1.0, 2.0])


def test_tensor_from_non_contiguous_numpy():
    a = np.arange(20.0).reshape(4, 5)[::2, 1::2]
    np.testing.assert_array_equal(arr(rt.tensor(a)), a)
    b = np.arange(6.0)[::-1]
    np.testing.assert_array_equal(arr(rt.tensor(b)), b)


def test_tensor_from_list_of_tensors():
    t = rt.tensor([rt.zeros(()) + 1.0, rt.zeros(()) + 2.0])
    assert t.shape == (2,)
    np.testing.assert_array_equal(arr(t), [1.0, 2.0])


# ---------------------------------------------------------------- from_numpy / numpy

@pytest.mark.parametrize("np_dtype,dtype", [(np.float32, rt.float32), (np.float64, rt.float64),
                                            (np.int64, rt.int64), (np.bool_, rt.bool)])
def test_from_numpy_dtypes(np_dtype, dtype):
    a = (np.arange(6) % 2).astype(np_dtype).reshape(2, 3)
    t = rt.from_numpy(a)
    assert t.dtype == dtype and t.shape == (2, 3)
    np.testing.assert_array_equal(arr(t), a)


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = rt.from_numpy(a)
    a[0, 0] = 100.0
    assert t[0, 0].item() == 100.0
    t.add_(1.0)
    np.testing.assert_array_equal(a, np.array([[101, 2, 3], [4, 5, 6]], dtype=np.float32))
    t[1, 2] = -1.0
    assert a[1, 2] == -1.0
    assert t.data_ptr() == a.ctypes.data


def test_from_numpy_keeps_array_alive():
    t = rt.from_numpy(np.arange(1000, dtype=np.float64))
    import gc
    gc.collect()
    junk = [np.full(1000, 7.0) for _ in range(50)]  # reuse freed memory if it were freed
    assert t.sum().item() == sum(range(1000))
    del junk


def test_from_numpy_0d():
    t = rt.from_numpy(np.array(3.0))
    assert t.shape == () and t.item() == 3.0


def test_from_numpy_strided_and_transposed_views():
    base = np.arange(20, dtype=np.float64).reshape(4, 5)
    b = base[::2, 1::2]
    tb = rt.from_numpy(b)
    assert tb.shape == (2, 2)
    np.testing.assert_array_equal(arr(tb), b)
    np.testing.assert_array_equal(arr(tb * 2), b * 2)
    assert tb.sum().item() == b.sum()
    tb.mul_(10.0)  # writes go to the strided positions of the base
    np.testing.assert_array_equal(base[::2, 1::2], b)
    assert base[0, 0] == 0.0 and base[0, 1] == 10.0
    c = np.arange(12, dtype=np.float32).reshape(3, 4).T
    tc = rt.from_numpy(c)
    np.testing.assert_allclose(arr(tc @ tc.t()), c @ c.T, rtol=1e-6)
    np.testing.assert_allclose(arr(tc.sum(0)), c.sum(0))
    np.testing.assert_allclose(arr(tc.reshape(12)), c.reshape(12))


def _unaligned(np_dtype, n, byte_offset=1):
    """A NumPy array of n elements of np_dtype starting at an odd byte address."""
    item = np.dtype(np_dtype).itemsize
    buf = np.zeros(n * item + 16, dtype=np.uint8)
    start = (-buf.ctypes.data) % 16 + byte_offset  # 16-aligned + offset
    a = buf[start:start + n * item].view(np_dtype)
    assert a.ctypes.data % item != 0
    return a


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [1, 2, 3])
def test_from_numpy_unaligned_kernels_correct(np_dtype, offset):
    n = 1000
    a = _unaligned(np_dtype, n, offset)
    rng = np.random.default_rng(0)
    a[:] = rng.standard_normal(n).astype(np_dtype)
    ref = a.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-4) if np_dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    with pytest.warns(UserWarning, match="not aligned"):  # kernels read aligned memory: the tensor is a copy
        t = rt.from_numpy(a)
    np.testing.assert_allclose(arr(t), ref, **tol)
    np.testing.assert_allclose(t.sum().item(), ref.sum(), **tol)
    np.testing.assert_allclose(t.mean().item(), ref.mean(), **tol)
    np.testing.assert_allclose(arr(t.exp()), np.exp(ref), **tol)
    np.testing.assert_allclose(arr(t.relu()), np.maximum(ref, 0), **tol)
    np.testing.assert_allclose(arr(t * 2 + 1), ref * 2 + 1, **tol)
    np.testing.assert_allclose(arr(t + rt.ones(n, dtype=t.dtype)), ref + 1, **tol)
    assert t.max().item() == a.max()
    assert t.argmax().item() == int(a.argmax())
    m = t.reshape(10, 100)
    mr = ref.reshape(10, 100)
    np.testing.assert_allclose(arr(m @ m.t()), mr @ mr.T, rtol=1e-4 if np_dtype == np.float32 else 1e-10, atol=1e-3)
    np.testing.assert_allclose(arr(m.t() @ m), mr.T @ mr, rtol=1e-4 if np_dtype == np.float32 else 1e-10, atol=1e-3)
    e = np.exp(mr - mr.max(1, keepdims=True))
    np.testing.assert_allclose(arr(m.softmax(1)), e / e.sum(1, keepdims=True), **tol)
    np.testing.assert_allclose(arr(m.sum(0)), mr.sum(0), **tol)
    np.testing.assert_allclose(arr(m.var(1)), mr.var(1, ddof=1), **tol)
    # in-place writes go to the tensor's own copy, not the unaligned buffer
    t.mul_(2.0)
    np.testing.assert_allclose(arr(t), ref * 2, **tol)
    np.testing.assert_allclose(a.astype(np.float64), ref, **tol)
    # autograd on a leaf made from an unaligned array
    with pytest.warns(UserWarning, match="not aligned"):
        t2 = rt.from_numpy(a).requires_grad_()
    (t2 * t2).sum().backward()
    np.testing.assert_allclose(arr(t2.grad), 2 * a.astype(np.float64), **tol)


def test_from_numpy_unaligned_int64_and_sliced_offset():
    a = _unaligned(np.int64, 100, 4)
    a[:] = np.arange(100)
    with pytest.warns(UserWarning, match="not aligned"):
        t = rt.from_numpy(a)
    assert t.sum().item() == 4950
    np.testing.assert_array_equal(arr(t * 3), np.arange(100) * 3)
    # np.arange(...)[1:] viewed as float32 at an odd byte offset
    raw = np.arange(4 * 257 + 1, dtype=np.uint8)[1:]
    f = raw.view(np.float32)
    with pytest.warns(UserWarning, match="not aligned"):
        tf = rt.from_numpy(f)
    np.testing.assert_array_equal(arr(tf), f)
    np.testing.assert_array_equal(arr(tf.clone()), f)
    np.testing.assert_array_equal(arr(tf.contiguous()), f)


def test_from_numpy_big_endian_is_rejected_or_correct():
    # torch.from_numpy raises ValueError for non-native byte order; silently reading the bytes
    # as native floats gives garbage.
    a = np.arange(4, dtype=">f4")
    try:
        t = rt.from_numpy(a)
    except (TypeError, ValueError):
        return
    np.testing.assert_array_equal(arr(t), [0.0, 1.0, 2.0, 3.0])


def test_numpy_is_a_view():
    t = rt.zeros(3)
    n = t.numpy()
    n[1] = 5.0
    np.testing.assert_array_equal(arr(t), [0.0, 5.0, 0.0])
    t.fill_(2.0)
    np.testing.assert_array_equal(n, [2.0, 2.0, 2.0])
    assert n.ctypes.data == t.data_ptr()


def test_numpy_of_non_contiguous_view_and_lifetime():
    t = rt.arange(12).float().reshape(3, 4)
    n = t.t().numpy()
    np.testing.assert_array_equal(n, np.arange(12, dtype=np.float32).reshape(3, 4).T)
    n2 = (rt.arange(4).float() * 2).numpy()
    import gc
    gc.collect()
    np.testing.assert_array_equal(n2, [0, 2, 4, 6])  # array keeps the storage alive


def test_numpy_of_requires_grad_tensor_raises():
    x = rt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(RuntimeError):
        (x * 2).numpy()
    np.testing.assert_array_equal(x.detach().numpy(), np.ones(3))


def test_np_asarray_of_tensor():
    t = rt.tensor([1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])


# ---------------------------------------------------------------- Python conversions

def test_item():
    assert rt.tensor([2.5]).item() == 2.5
    assert isinstance(rt.tensor([2.5]).item(), float)
    assert rt.tensor([3]).item() == 3 and isinstance(rt.tensor([3]).item(), int)
    assert rt.tensor([True]).item() is True
    assert (rt.zeros(()) + 1.5).item() == 1.5
    assert rt.ones(1, 1, 1).item() == 1.0
    with pytest.raises(RuntimeError):
        rt.ones(2).item()


def test_tolist():
    assert rt.tensor([[1.0, 2.0], [3.0, 4.0]]).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    ints = rt.tensor([1, 2]).tolist()
    assert ints == [1, 2] and all(type(v) is int for v in ints)
    assert rt.tensor([True, False]).tolist() == [True, False]
    assert (rt.zeros(()) + 2.0).tolist() == 2.0
    assert rt.zeros(0).tolist() == []
    assert rt.arange(6).reshape(2, 3).t().tolist() == [[0, 3], [1, 4], [2, 5]]


def test_len_and_iteration():
    t = rt.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(t) == 3
    rows = list(t)
    assert len(rows) == 3
    assert all(r.shape == (2,) for r in rows)
    assert [r.tolist() for r in rows] == t.tolist()
    assert [v.item() for v in rt.tensor([7, 8, 9])] == [7, 8, 9]
    with pytest.raises(TypeError):
        len(rt.zeros(()))
    with pytest.raises(TypeError):
        iter(rt.zeros(()))


def test_bool_float_int():
    assert bool(rt.tensor([1.0])) is True
    assert bool(rt.tensor([0.0])) is False
    assert bool(rt.tensor(0) + 1) is True
    assert bool(rt.zeros(()) == 0) is True
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(rt.ones(2))
    assert float(rt.tensor([2.5])) == 2.5
    assert int(rt.tensor([3.7])) == 3
    assert int(rt.tensor([-3.7])) == -3
    assert int(rt.tensor([5])) == 5
    assert float(rt.tensor([7])) == 7.0
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        float(rt.ones(2))


def test_index_protocol():
    lst = [10, 20, 30]
    assert lst[rt.tensor([1]).sum()] == 20
    with pytest.raises(TypeError):
        lst[rt.tensor([1.0]).sum()]


# ---------------------------------------------------------------- repr

@pytest.mark.parametrize("make,expected", [
    (lambda: rt.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (lambda: rt.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
    (lambda: rt.tensor([0.1, -0.25]), "tensor([ 0.1000, -0.2500])"),
    (lambda: rt.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: rt.tensor([True, False]), "tensor([ True, False])"),
    (lambda: rt.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    (lambda: rt.zeros(()) + 2.5, "tensor(2.5000)"),
    (lambda: rt.zeros(()) + 2.0, "tensor(2.)"),
    (lambda: rt.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: rt.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: rt.tensor([1.0, 2.0], requires_grad=True) * 2, "tensor([2., 4.], grad_fn=<MulBackward0>)"),
])
def test_repr_basic(make, expected):
    assert repr(make()) == expected
    assert str(make()) == expected


def test_dtype_repr():
    assert repr(rt.float64) == "reticulum.float64"
    assert repr(rt.float32) == "reticulum.float32"
    assert str(rt.int64) == "reticulum.int64"


def test_repr_float64_dtype_suffix():
    # torch: tensor([1., 2.], dtype=torch.float64)
    assert repr(rt.tensor([1.0, 2.0], dtype=rt.float64)) == "tensor([1., 2.], dtype=reticulum.float64)"
    assert repr(rt.zeros((), dtype=rt.float64) + 2) == "tensor(2., dtype=reticulum.float64)"
    r = repr(rt.tensor([1.0, 2.0], requires_grad=True).double())
    assert r.startswith("tensor([1., 2.], dtype=reticulum.float64, grad_fn=<")


def test_repr_small_values_not_rounded_to_zero():
    # torch switches to scientific notation: tensor([1.0000e-05, 1.0000e+00])
    r = repr(rt.tensor([1e-5, 1.0]))
    assert r == "tensor([1.0000e-05, 1.0000e+00])"


@pytest.mark.parametrize("make,expected", [
    (lambda: rt.tensor([True]), "tensor([True])"),
    (lambda: rt.ones(2, dtype=rt.bool), "tensor([True, True])"),
    (lambda: rt.zeros(0), "tensor([])"),
])
def test_repr_matches_torch_details(make, expected):
    assert repr(make()) == expected


def test_repr_summarizes_large_tensors():
    r = repr(rt.arange(5000))
    assert "..." in r
    assert len(r) < 200


# ---------------------------------------------------------------- dtype conversion

def test_to_dtype_and_shortcuts():
    x = rt.tensor([1.5, -2.5, 3.7])
    d = x.to(rt.float64)
    assert d.dtype == rt.float64
    np.testing.assert_allclose(arr(d), [1.5, -2.5, 3.7], rtol=1e-6)
    assert x.to(dtype=rt.float64).dtype == rt.float64
    assert x.double().dtype == rt.float64
    assert d.float().dtype == rt.float32
    lo = x.long()
    assert lo.dtype == rt.int64
    np.testing.assert_array_equal(arr(lo), [1, -2, 3])  # truncation toward zero, as torch
    np.testing.assert_array_equal(arr(x.to(rt.int64)), [1, -2, 3])
    np.testing.assert_array_equal(arr(rt.tensor([0.0, 2.0]).bool()), [False, True])
    np.testing.assert_array_equal(arr(rt.tensor([True, False]).float()), [1.0, 0.0])
    np.testing.assert_array_equal(arr(rt.tensor([True, False]).long()), [1, 0])
    assert x.to(rt.float32) is x
    assert x.to("cpu") is x
    assert x.to(rt.zeros(1, dtype=rt.float64)).dtype == rt.float64
    c = x.to(rt.float64)
    c.add_(1.0)  # conversion is a copy
    np.testing.assert_allclose(arr(x), [1.5, -2.5, 3.7], rtol=1e-6)


def test_to_cuda_raises():
    with pytest.raises(RuntimeError):
        rt.ones(2).to("cuda")


# ---------------------------------------------------------------- threads / device

def test_set_get_num_threads():
    old = rt.get_num_threads()
    try:
        rt.set_num_threads(1)
        assert rt.get_num_threads() == 1
        a = rt.randn(300, 300)
        r1 = arr(a @ a).copy()
        rt.set_num_threads(3)
        assert rt.get_num_threads() == 3
        np.testing.assert_allclose(arr(a @ a), r1, rtol=1e-5, atol=1e-4)
    finally:
        rt.set_num_threads(old)
    assert rt.get_num_threads() == old


def test_cuda_not_available_and_device_cpu():
    assert rt.cuda.is_available() is False
    assert rt.cuda.device_count() == 0
    t = rt.ones(2)
    assert str(t.device) == "cpu"
    assert t.device.type == "cpu"
    assert t.device == rt.device("cpu")
    assert not t.is_cuda
    assert rt.zeros(2, device="cpu").device.type == "cpu"
    with pytest.raises(RuntimeError):
        rt.zeros(2, device="cuda")


def test_misc_properties():
    t = rt.zeros(2, 3, 4)
    assert t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.stride() == (12, 4, 1)
    assert t.is_contiguous() and not t.transpose(0, 2).is_contiguous()
    assert t.element_size() == 4
    assert rt.zeros(1, dtype=rt.float64).element_size() == 8
    assert t.is_floating_point() and not rt.zeros(1, dtype=rt.int64).is_floating_point()
    assert rt.float32.is_floating_point and not rt.int64.is_floating_point
    assert rt.float == rt.float32 and rt.double == rt.float64 and rt.long == rt.int64
    assert math.isclose(rt.tensor([2.0]).item(), 2.0)


@pytest.mark.parametrize("value,dtype", [(2.5, rt.float32), (3, rt.int64), (True, rt.bool), (np.array(2.0), rt.float64)], ids=repr)
def test_tensor_from_scalar_is_0d(value, dtype):
    """rt.tensor(python scalar) is a 0-d tensor, as torch.tensor(2.5).shape == ()."""
    t = rt.tensor(value)
    assert tuple(t.shape) == () and t.ndim == 0, f"rt.tensor({value!r}).shape == {tuple(t.shape)}"
    assert t.dtype == dtype
    assert t.item() == value
