"""Views and indexing beyond the op records: storage offsets and strides, view() of incompatible layouts,
contiguous(), empty selections, index tensors that are themselves strided, and assignment (t[key] = v)."""
import numpy as np
import pytest

import reticulum as rt
from helpers import LAYOUTS, assert_close, make, noncontig, rng, to_np, values

F32, F64 = rt.float32, rt.float64


def test_view_data_ptr_offsets():
    t = rt.tensor(np.arange(20, dtype=np.float64).reshape(4, 5))
    base = t.data_ptr()
    assert t[2].data_ptr() == base + 2 * 5 * 8
    assert t[:, 3].data_ptr() == base + 3 * 8
    assert t[1:, 2:].data_ptr() == base + (5 + 2) * 8
    assert t.transpose(0, 1).data_ptr() == base
    assert t.reshape(20).data_ptr() == base
    assert t.select(0, -1).data_ptr() == base + 15 * 8
    assert t[1:3, ::2].stride() == (5, 2)
    assert t.transpose(0, 1).stride() == (1, 5)
    assert t[None].unsqueeze(-1).expand(3, 4, 5, 2).stride()[0] == 0


def test_view_incompatible_raises_reshape_copies():
    t = rt.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)).t()
    with pytest.raises(RuntimeError):
        t.view(12)
    r = t.reshape(12)
    np.testing.assert_array_equal(to_np(r), np.arange(12, dtype=np.float32).reshape(3, 4).T.reshape(12))
    # splitting the last dim of a transposed tensor is still a view
    v = t.view(2, 2, 3)
    np.testing.assert_array_equal(to_np(v), np.arange(12, dtype=np.float32).reshape(3, 4).T.reshape(2, 2, 3))
    assert v.data_ptr() == t.data_ptr()


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (5,)], ids=str)
def test_contiguous(shape):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    t = rt.tensor(a)
    assert t.is_contiguous() and t.contiguous().data_ptr() == t.data_ptr()
    nc = noncontig(a)
    c = nc.contiguous()
    assert c.is_contiguous() and c.data_ptr() != nc.data_ptr()
    assert c.stride() == tuple(int(s) // 4 for s in a.strides)
    assert_close(c, a, dtype=F32, rtol=0, atol=0)
    with rt.no_grad():
        nc.fill_(0.0)
    assert_close(c, a, dtype=F32, rtol=0, atol=0, msg="contiguous() of a non-contiguous tensor must copy")
    tt = t.transpose(0, -1)
    if tt.ndim > 1:
        assert not tt.is_contiguous()
        assert_close(tt.contiguous(), np.ascontiguousarray(a.swapaxes(0, -1)), dtype=F32, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)], ids=str)
def test_getitem_empty_selection(shape):
    """A mask that selects nothing (and empty index tensors) give an empty result, as in NumPy/torch."""
    a = values("any", shape, F32, rng("empty", shape))
    t = make(a)
    assert_close(t[t > 100], a[a > 100], dtype=F32, rtol=0, atol=0)
    e = np.zeros(0, np.int64)
    assert_close(t[make(e)], a[e], dtype=F32, rtol=0, atol=0)
    if len(shape) > 1:
        assert_close(t[make(e), make(e)], a[e, e], dtype=F32, rtol=0, atol=0)


def test_getitem_noncontig_index_tensor():
    a = np.arange(20, dtype=np.float32).reshape(5, 4)
    idx = np.array([[4, 0, 1], [2, 2, 3]])
    out = make(a, "noncontig")[noncontig(idx)]
    assert_close(out, a[idx], dtype=F32, rtol=0, atol=0)


MASK_2D = np.array([[True, False, True, False], [False, False, False, True], [True, True, False, False]])


SETITEM = {
    # name: (rt key builder, numpy key, value builder(shape-of-selection) -> numpy or python scalar)
    "int_scalar": (lambda: 1, 1, lambda s: 5.0),
    "slice_steps_tensor": (lambda: (slice(None), slice(None, None, 2)), (slice(None), slice(None, None, 2)),
                           lambda s: np.arange(np.prod(s), dtype=np.float32).reshape(s)),
    "slice_broadcast_row": (lambda: slice(1, 3), slice(1, 3), lambda s: np.array([9.0, 8.0, 7.0, 6.0], np.float32)),
    "ellipsis_all": (lambda: Ellipsis, Ellipsis, lambda s: -1.0),
    "element": (lambda: (2, 3), (2, 3), lambda s: 42.0),
    "idx_rows_scalar": (lambda: rt.tensor([0, 2]), np.array([0, 2]), lambda s: -3.0),
    "idx_rows_tensor": (lambda: rt.tensor([2, 0]), np.array([2, 0]), lambda s: np.arange(np.prod(s), dtype=np.float32).reshape(s) + 100),
    "idx_cols_bcast": (lambda: (slice(None), rt.tensor([1, 3])), (slice(None), np.array([1, 3])), lambda s: np.array([10.0, 20.0], np.float32)),
    "mask_1d": (lambda: rt.tensor([True, False, True]), np.array([True, False, True]), lambda s: 0.0),
    # masks over both dims with a tensor of values (one per selected element), and the empty selection
    "mask_2d_tensor": (lambda: rt.tensor(MASK_2D), MASK_2D, lambda s: np.arange(np.prod(s), dtype=np.float32) + 10),
    "mask_2d_none_tensor": (lambda: rt.tensor(np.zeros((3, 4), bool)), np.zeros((3, 4), bool), lambda s: np.zeros(0, np.float32)),
    "mask_2d_bcast_scalar_tensor": (lambda: rt.tensor(MASK_2D), MASK_2D, lambda s: np.array([7.0], np.float32)),
    "mask_0d_true": (lambda: rt.tensor(True), np.True_, lambda s: np.arange(4, dtype=np.float32)),
    "mask_0d_false": (lambda: rt.tensor(False), np.False_, lambda s: 3.0),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(SETITEM))
def test_setitem(name, layout):
    key_fn, np_key, val_fn = SETITEM[name]
    a = values("any", (3, 4), F32, rng("set", name))
    t = make(a, layout)
    v = val_fn(a[np_key].shape)
    t[key_fn()] = rt.tensor(v) if isinstance(v, np.ndarray) else v
    a[np_key] = v
    assert_close(t, a, dtype=F32, rtol=0, atol=0, msg=name)


def test_setitem_bool_mask_2d():
    """x[x > 0] = 0 on a 2-D tensor: the most common masked assignment idiom in PyTorch."""
    a = values("any", (3, 4), F32, rng("set2d"))
    for layout in LAYOUTS:
        t = make(a, layout)
        t[t > 0] = 0.0
        b = a.copy()
        b[b > 0] = 0.0
        assert_close(t, b, dtype=F32, rtol=0, atol=0)


def test_setitem_mask_value_count_mismatch_raises():
    """torch: RuntimeError 'shape mismatch: value tensor of shape [2] cannot be broadcast to indexing result of shape [3]'."""
    for mask in (np.array([True, False, True, True]), np.array([[True, False], [True, True]])):
        t = rt.zeros(*mask.shape)
        with pytest.raises(RuntimeError, match=r"setitem: shape mismatch: value tensor of shape \(2,\).*shape \(3,\)"):
            t[rt.tensor(mask)] = rt.tensor([1.0, 2.0])
        assert_close(t, np.zeros(mask.shape, np.float32), dtype=F32, rtol=0, atol=0)  # untouched


def test_setitem_through_view_reaches_base():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = rt.tensor(a)
    v = t[:, 1:]
    v[0] = -1.0
    v[:, ::2] = rt.tensor([[5.0, 6.0]])
    a[:, 1:][0] = -1.0
    a[:, 1:][:, ::2] = np.array([[5.0, 6.0]])
    assert_close(t, a, dtype=F32, rtol=0, atol=0)


def test_setitem_requires_grad_refused_in_grad_mode():
    t = rt.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        t[0] = 1.0
    with rt.no_grad():
        t[0] = 1.0
    np.testing.assert_array_equal(to_np(t), [1.0, 0.0, 0.0])


def test_inplace_copy_fill_on_noncontig():
    a = values("any", (3, 4), F64, rng("inpl"))
    t = noncontig(a)
    with rt.no_grad():
        t.copy_(rt.tensor(np.arange(4.0)))  # broadcast source
    assert_close(t, np.broadcast_to(np.arange(4.0), (3, 4)), dtype=F64, rtol=0, atol=0)
    t.add_(1.0)
    t *= 2.0
    assert_close(t, (np.broadcast_to(np.arange(4.0), (3, 4)) + 1) * 2, dtype=F64, rtol=0, atol=0)


def test_where_cond_from_comparison_and_masked_fill():
    x = np.array([[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0]], np.float32)
    t = make(x, "noncontig")
    assert_close(rt.where(t > 0, t, t * 0), np.where(x > 0, x, 0.0), dtype=F32, rtol=0, atol=0)
    assert_close(t.masked_fill(t < 0, 9.0), np.where(x < 0, 9.0, x), dtype=F32, rtol=0, atol=0)
