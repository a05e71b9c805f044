"""Autograd engine tests: backward, accumulation, grad mode, graph freeing, deep graphs,
custom Functions, in-place safety and memory behaviour."""
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import reticulum as rt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__)))  # wherever reticulum was imported from


def arr(t):
    return t.detach().numpy()


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_subprocess(code, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = PYDIR + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Every test starts and must end with grad mode on."""
    assert rt.is_grad_enabled()
    yield
    enabled = rt.is_grad_enabled()
    rt.set_grad_enabled(True)
    assert enabled, "test left grad mode disabled"


# ---------------------------------------------------------------- backward basics

def test_backward_on_scalar():
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    assert y.ndim == 0
    y.backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 4.0, 6.0])
    assert x.grad.dtype == rt.float32
    assert x.grad.shape == (3,)


def test_backward_on_one_element_non_0d():
    x = rt.tensor([3.0], requires_grad=True)
    y = x * x  # shape (1,), numel 1: implicit gradient allowed (as torch)
    y.backward()
    np.testing.assert_allclose(arr(x.grad), [6.0])


def test_backward_with_explicit_gradient_on_non_scalar():
    x = rt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 3.0
    g = rt.tensor([[1.0, 0.5], [-1.0, 2.0]])
    y.backward(gradient=g)
    np.testing.assert_allclose(arr(x.grad), 3.0 * arr(g))
    # the gradient passed in is not modified or aliased by accumulation
    y2 = x * 3.0
    y2.backward(g)
    np.testing.assert_allclose(arr(g), [[1.0, 0.5], [-1.0, 2.0]])
    np.testing.assert_allclose(arr(x.grad), 6.0 * arr(g))


def test_backward_with_python_scalar_gradient_on_0d():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    y = x.sum()
    y.backward(2.0)
    np.testing.assert_allclose(arr(x.grad), [2.0, 2.0])


def test_backward_implicit_grad_requires_scalar():
    x = rt.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    assert x.grad is None


def test_backward_gradient_shape_mismatch():
    x = rt.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError) as ei:
        y.backward(rt.ones(4))
    assert "[4]" in str(ei.value) and "[3]" in str(ei.value)


def test_backward_on_leaf_root():
    x = rt.ones(3, requires_grad=True)
    x.backward(rt.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(arr(x.grad), [1.0, 2.0, 3.0])


def test_backward_on_tensor_without_grad_raises():
    y = rt.ones(3).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_grad_accumulates_across_backward_calls():
    x = rt.tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    first = x.grad
    np.testing.assert_allclose(arr(x.grad), [3.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [5.0, -1.0])
    # accumulation happens in place into the existing .grad tensor (as torch)
    np.testing.assert_allclose(arr(first), [5.0, -1.0])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 2.0])


def test_grad_accumulation_into_two_leaves_is_independent():
    a = rt.ones(3, requires_grad=True)
    b = rt.ones(3, requires_grad=True)
    (a + b).sum().backward()
    with rt.no_grad():
        a.grad.add_(100.0)
    np.testing.assert_allclose(arr(a.grad), [101.0] * 3)
    np.testing.assert_allclose(arr(b.grad), [1.0] * 3)


def test_grad_dtype_follows_leaf_float64():
    x = rt.tensor([1.0, 2.0], dtype=rt.float64, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == rt.float64
    np.testing.assert_allclose(arr(x.grad), [2.0, 4.0])


def test_grad_through_dtype_conversion():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * rt.tensor([3.0, 4.0], dtype=rt.float64)
    y.sum().backward()
    assert x.grad.dtype == rt.float32
    np.testing.assert_allclose(arr(x.grad), [3.0, 4.0])


def test_broadcast_gradient_is_reduced_to_leaf_shape():
    x = rt.ones(3, 1, requires_grad=True)
    b = rt.ones(4, requires_grad=True)
    (x * b * 2.0).sum().backward()
    assert x.grad.shape == (3, 1)
    assert b.grad.shape == (4,)
    np.testing.assert_allclose(arr(x.grad), np.full((3, 1), 8.0))
    np.testing.assert_allclose(arr(b.grad), np.full(4, 6.0))


def test_noncontiguous_leaf_gets_correct_grad():
    with rt.no_grad():
        base = rt.arange(12).float().reshape(4, 3)
        x = base.t()  # (3, 4), non-contiguous
    x.requires_grad_()
    assert not x.is_contiguous()
    w = rt.arange(12).float().reshape(3, 4)
    (x * w).sum().backward()
    (x * w).sum().backward()
    assert x.grad.shape == (3, 4)
    np.testing.assert_allclose(arr(x.grad), 2 * arr(w))


# ---------------------------------------------------------------- tensor autograd attributes

def test_leaf_and_grad_fn_attributes():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    c = rt.tensor([1.0, 2.0])
    assert x.is_leaf and c.is_leaf
    assert x.grad_fn is None and x.grad is None
    assert x.requires_grad and not c.requires_grad
    y = x * 2
    assert not y.is_leaf
    assert y.requires_grad
    assert y.grad_fn is not None
    assert "Mul" in y.grad_fn.name()
    z = c * 2  # no input requires grad
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad
    # next_functions lead from the mul node back to... nothing (leaf edge) for x
    s = (y + 1).sum()
    assert isinstance(s.grad_fn.next_functions, tuple)
    assert s.grad_fn.next_functions[0][0] is not None


def test_nonleaf_grad_is_none_after_backward():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    assert y.grad is None
    np.testing.assert_allclose(arr(x.grad), [2.0, 2.0])


def test_requires_grad_underscore():
    x = rt.tensor([1.0, 2.0])
    assert x.requires_grad_() is x
    assert x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(RuntimeError):
        rt.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError):
        rt.tensor([True]).requires_grad_()


def test_detach_shares_storage_and_drops_history():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and d.grad_fn is None and not d.requires_grad
    assert d.data_ptr() == y.data_ptr()
    d.add_(10.0)  # d does not require grad: allowed, and visible through y
    np.testing.assert_allclose(arr(y), [12.0, 14.0])
    xd = x.detach()
    assert xd.data_ptr() == x.data_ptr()
    # a detached tensor does not propagate gradient
    (xd * 5 + x).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [1.0, 1.0])


# ---------------------------------------------------------------- grad mode

def test_no_grad_context_manager():
    x = rt.ones(2, requires_grad=True)
    with rt.no_grad():
        assert not rt.is_grad_enabled()
        y = x * 2
    assert rt.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_enable_grad_inside_no_grad_and_nesting():
    x = rt.ones(2, requires_grad=True)
    with rt.no_grad():
        with rt.enable_grad():
            assert rt.is_grad_enabled()
            y = x * 2
            with rt.no_grad():
                assert not rt.is_grad_enabled()
                z = x * 2
            assert rt.is_grad_enabled()
        assert not rt.is_grad_enabled()
    assert rt.is_grad_enabled()
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(KeyError):
        with rt.no_grad():
            raise KeyError("boom")
    assert rt.is_grad_enabled()
    with rt.no_grad():
        with pytest.raises(KeyError):
            with rt.enable_grad():
                raise KeyError("boom")
        assert not rt.is_grad_enabled()


def test_no_grad_and_enable_grad_as_decorators():
    x = rt.ones(2, requires_grad=True)

    @rt.no_grad()
    def f(a):
        return a * 2, rt.is_grad_enabled()

    @rt.enable_grad()
    def g(a):
        return a * 2, rt.is_grad_enabled()

    y, on = f(x)
    assert not on and not y.requires_grad
    assert rt.is_grad_enabled()
    with rt.no_grad():
        z, on = g(x)
        assert on and z.requires_grad
        assert not rt.is_grad_enabled()
    assert f.__name__ == "f"


def test_no_grad_bare_decorator_like_torch():
    # torch accepts @torch.no_grad / @torch.enable_grad without parentheses
    x = rt.ones(2, requires_grad=True)

    @rt.no_grad
    def f(a):
        return a * 2

    y = f(x)
    assert not y.requires_grad
    assert rt.is_grad_enabled()


def test_set_grad_enabled():
    with rt.set_grad_enabled(False):
        assert not rt.is_grad_enabled()
    assert rt.is_grad_enabled()
    rt.set_grad_enabled(False)
    try:
        assert not rt.is_grad_enabled()
    finally:
        rt.set_grad_enabled(True)
    assert rt.is_grad_enabled()


def test_grad_mode_is_thread_local():
    import threading
    seen = []
    with rt.no_grad():
        t = threading.Thread(target=lambda: seen.append(rt.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# ---------------------------------------------------------------- freeing the graph

def test_second_backward_through_freed_graph_raises():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    y.backward()
    g1 = arr(x.grad).copy()
    with pytest.raises(RuntimeError) as ei:
        y.backward()
    msg = str(ei.value)
    assert "second time" in msg
    assert "retain_graph" in msg
    np.testing.assert_allclose(arr(x.grad), g1)  # nothing accumulated by the failed call


def test_second_backward_through_partially_shared_freed_graph_raises():
    x = rt.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()


def test_retain_graph_allows_second_backward():
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(arr(x.grad), 3 * 2 * np.array([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


# ---------------------------------------------------------------- graph shapes

def test_diamond_graph_sums_gradients():
    x = rt.tensor([0.5, -1.0, 2.0], dtype=rt.float64, requires_grad=True)
    y = (x * x + x.exp()).sum()  # x used by three ops
    y.backward()
    xv = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(arr(x.grad), 2 * xv + np.exp(xv), rtol=1e-12)


def test_diamond_through_shared_intermediate():
    x = rt.tensor([0.5, -1.0, 2.0], dtype=rt.float64, requires_grad=True)
    a = x * 2
    b = a.tanh()
    c = a * a
    y = (b * c + a).sum()  # a feeds three consumers, b and c rejoin
    y.backward()
    xv = np.array([0.5, -1.0, 2.0])
    av = 2 * xv
    dy_da = (1 - np.tanh(av) ** 2) * av ** 2 + np.tanh(av) * 2 * av + 1
    np.testing.assert_allclose(arr(x.grad), 2 * dy_da, rtol=1e-12)


def test_same_tensor_both_operands():
    x = rt.tensor([3.0, -2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [6.0, -4.0])
    x.grad = None
    (x @ x).backward()
    np.testing.assert_allclose(arr(x.grad), [6.0, -4.0])


def test_deep_chain_backward_does_not_overflow_stack():
    x = rt.tensor([1.0], dtype=rt.float64, requires_grad=True)
    y = x
    for _ in range(10000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(arr(x.grad), [1.0001 ** 10000], rtol=1e-9)
    del y  # destroying a 10000-node chain must not crash either


def test_deep_chain_backward_mixed_ops():
    x = rt.tensor([0.3, 0.7], dtype=rt.float64, requires_grad=True)
    y = x
    for i in range(5000):
        y = (y + 1.0) - 1.0 if i % 2 else y.reshape(2) * 1.0
    y.sum().backward()
    np.testing.assert_allclose(arr(x.grad), [1.0, 1.0])


def test_very_deep_graph_destruction_does_not_crash():
    # torch frees arbitrarily deep graphs without recursing on the C stack;
    # recursive shared_ptr destruction of Node -> Edge -> Node segfaults here.
    code = """
        import reticulum as rt
        x = rt.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(500000):
            y = y + 0.0
        del y
        print("ok")
    """
    r = run_subprocess(code)
    assert r.returncode == 0 and "ok" in r.stdout, f"rc={r.returncode} stderr={r.stderr[-2000:]}"


def test_very_deep_graph_destruction_after_backward_does_not_crash():
    code = """
        import reticulum as rt
        x = rt.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(500000):
            y = y + 0.0
        y.sum().backward()
        assert x.grad.tolist() == [1.0]
        del y
        print("ok")
    """
    r = run_subprocess(code)
    assert r.returncode == 0 and "ok" in r.stdout, f"rc={r.returncode} stderr={r.stderr[-2000:]}"


# ---------------------------------------------------------------- custom Function

class Cube(rt.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


class ScaledMul(rt.autograd.Function):
    """a * b * k with a non-tensor argument k."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b)
        ctx.k = k
        return a * b * k

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad * b * ctx.k if ctx.needs_input_grad[0] else None
        gb = grad * a * ctx.k if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_custom_function_cube():
    xv = np.array([1.0, -2.0, 0.5])
    x = rt.tensor(xv, requires_grad=True)
    y = Cube.apply(x)
    np.testing.assert_allclose(arr(y), xv ** 3)
    assert y.requires_grad and not y.is_leaf
    assert "Cube" in y.grad_fn.name()
    y.sum().backward()
    np.testing.assert_allclose(arr(x.grad), 3 * xv ** 2, rtol=1e-12)


def test_custom_function_composes_with_builtin_ops():
    xv = np.array([0.3, -0.7, 1.1])
    x = rt.tensor(xv, requires_grad=True)
    y = (Cube.apply(x * 2).tanh() + x.exp()).sum()
    y.backward()
    u = 2 * xv
    expected = (1 - np.tanh(u ** 3) ** 2) * 3 * u ** 2 * 2 + np.exp(xv)
    np.testing.assert_allclose(arr(x.grad), expected, rtol=1e-10)

    # same as the built-in version
    x2 = rt.tensor(xv, requires_grad=True)
    (((x2 * 2) ** 3).tanh() + x2.exp()).sum().backward()
    np.testing.assert_allclose(arr(x.grad), arr(x2.grad), rtol=1e-10)


def test_custom_function_used_twice_and_retain_graph():
    x = rt.tensor([1.0, 2.0], dtype=rt.float64, requires_grad=True)
    y = (Cube.apply(x) + Cube.apply(x)).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(arr(x.grad), 6 * np.array([1.0, 4.0]))
    y.backward()
    np.testing.assert_allclose(arr(x.grad), 12 * np.array([1.0, 4.0]))
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_custom_function_multiple_inputs_and_save_for_backward():
    a = rt.tensor([1.0, 2.0], requires_grad=True)
    b = rt.tensor([3.0, 4.0])
    out = ScaledMul.apply(a, b, 2.0)
    np.testing.assert_allclose(arr(out), [6.0, 16.0])
    out.sum().backward()
    np.testing.assert_allclose(arr(a.grad), [6.0, 8.0])
    assert b.grad is None

    a.grad = None
    b.requires_grad_()
    ScaledMul.apply(a, b, 0.5).sum().backward()
    np.testing.assert_allclose(arr(a.grad), [1.5, 2.0])
    np.testing.assert_allclose(arr(b.grad), [0.5, 1.0])


def test_save_for_backward_records_values_and_none():
    captured = {}

    class F(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            captured["saved"] = ctx.saved_tensors
            return grad * 2

    x = rt.tensor([1.0, 2.0], requires_grad=True)
    F.apply(x).sum().backward()
    saved = captured["saved"]
    assert len(saved) == 2 and saved[1] is None
    np.testing.assert_allclose(arr(saved[0]), [1.0, 2.0])
    assert not saved[0].requires_grad  # saved without history: no reference cycle
    np.testing.assert_allclose(arr(x.grad), [2.0, 2.0])


def test_save_for_backward_rejects_non_tensors():
    class F(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3.0)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(TypeError):
        F.apply(rt.ones(2, requires_grad=True))


def test_custom_function_no_grad_inputs_gives_plain_tensor():
    y = Cube.apply(rt.tensor([2.0]))
    assert not y.requires_grad and y.grad_fn is None
    x = rt.tensor([2.0], requires_grad=True)
    with rt.no_grad():
        z = Cube.apply(x)
    assert not z.requires_grad and z.grad_fn is None
    np.testing.assert_allclose(arr(z), [8.0])


def test_custom_function_wrong_number_of_grads_raises():
    class Bad(rt.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return grad  # one gradient for two inputs

    a = rt.ones(2, requires_grad=True)
    b = rt.ones(2, requires_grad=True)
    y = Bad.apply(a, b).sum()
    with pytest.raises(RuntimeError, match="Bad"):
        y.backward()


def test_custom_function_backward_exception_propagates():
    class Boom(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("boom in backward")

    x = rt.ones(2, requires_grad=True)
    y = Boom.apply(x).sum()
    with pytest.raises(ValueError, match="boom in backward"):
        y.backward()
    assert rt.is_grad_enabled()


# ---------------------------------------------------------------- in-place safety

INPLACE_OPS = {
    "add_": lambda x: x.add_(1.0),
    "sub_": lambda x: x.sub_(1.0),
    "mul_": lambda x: x.mul_(2.0),
    "div_": lambda x: x.div_(2.0),
    "iadd": lambda x: x.__iadd__(1.0),
    "imul": lambda x: x.__imul__(2.0),
    "zero_": lambda x: x.zero_(),
    "fill_": lambda x: x.fill_(3.0),
    "copy_": lambda x: x.copy_(rt.full((3,), 7.0)),
    "setitem_int": lambda x: x.__setitem__(0, 5.0),
    "setitem_ellipsis": lambda x: x.__setitem__(Ellipsis, 5.0),
    "setitem_slice": lambda x: x.__setitem__(slice(0, 2), rt.tensor([8.0, 9.0])),
    "setitem_index_tensor": lambda x: x.__setitem__(rt.tensor([0, 2]), 4.0),
    "setitem_mask": lambda x: x.__setitem__(rt.tensor([True, False, True]), 4.0),
}


@pytest.mark.parametrize("name", list(INPLACE_OPS))
def test_inplace_on_leaf_requiring_grad_raises(name):
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        INPLACE_OPS[name](x)
    np.testing.assert_allclose(arr(x), [1.0, 2.0, 3.0])  # untouched
    assert x.is_leaf and x.requires_grad


@pytest.mark.parametrize("name", list(INPLACE_OPS))
def test_inplace_on_leaf_allowed_under_no_grad(name):
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with rt.no_grad():
        INPLACE_OPS[name](x)
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    ref = np.array([1.0, 2.0, 3.0])
    expected = {
        "add_": ref + 1, "sub_": ref - 1, "mul_": ref * 2, "div_": ref / 2, "iadd": ref + 1, "imul": ref * 2,
        "zero_": np.zeros(3), "fill_": np.full(3, 3.0), "copy_": np.full(3, 7.0),
        "setitem_int": [5.0, 2.0, 3.0], "setitem_ellipsis": np.full(3, 5.0), "setitem_slice": [8.0, 9.0, 3.0],
        "setitem_index_tensor": [4.0, 2.0, 4.0], "setitem_mask": [4.0, 2.0, 4.0],
    }[name]
    np.testing.assert_allclose(arr(x), expected)
    # the leaf still works in a graph afterwards
    (x * 2).sum().backward()
    np.testing.assert_allclose(arr(x.grad), [2.0, 2.0, 2.0])


def test_inplace_on_view_of_leaf_raises():
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = x[0:2]
    with pytest.raises(RuntimeError):
        v.add_(1.0)
    np.testing.assert_allclose(arr(x), [1.0, 2.0, 3.0])


def test_inplace_modification_of_saved_tensor_is_detected_or_harmless():
    # y = x * w saves w; changing w in place before backward must either raise (torch:
    # "one of the variables needed for gradient computation has been modified by an inplace
    # operation") or leave the gradient correct. A silently wrong gradient is a bug.
    x = rt.ones(3, requires_grad=True)
    w = rt.tensor([1.0, 2.0, 3.0])
    y = (x * w).sum()
    w.add_(10.0)
    try:
        y.backward()
    except RuntimeError:
        return
    np.testing.assert_allclose(arr(x.grad), [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- memory

def test_no_memory_growth_over_many_iterations():
    rt.manual_seed(0)
    x = rt.randn(8, 8, requires_grad=True)
    w = rt.randn(8, 8, requires_grad=True)

    def step():
        y = (x @ w).relu().sum()
        y.backward()

    for _ in range(2000):
        step()
    gc.collect()
    before = rss_bytes()
    for _ in range(20000):
        step()
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 4 * 2 ** 20, f"RSS grew by {growth / 2 ** 20:.2f} MiB over 20000 iterations"
    assert x.grad.shape == (8, 8) and w.grad.shape == (8, 8)


def test_no_memory_growth_custom_function():
    x = rt.randn(8, 8, dtype=rt.float64, requires_grad=True)

    def step():
        Cube.apply(x * 1.5).sum().backward()

    for _ in range(1000):
        step()
    gc.collect()
    before = rss_bytes()
    for _ in range(5000):
        step()
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 4 * 2 ** 20, f"RSS grew by {growth / 2 ** 20:.2f} MiB over 5000 custom-Function iterations"


MIB64 = 64 * 2 ** 20


def _big_graph(x, w):
    # x: 4096x4096 float32 of ones (64 MiB) without grad; w: a 1-element leaf. exp saves its 64 MiB output.
    return (x * w).exp().sum()


def test_big_intermediates_freed_after_backward_and_del():
    x = rt.ones(4096, 4096)
    w = rt.ones(1, requires_grad=True)
    y = _big_graph(x, w)  # warm-up (allocator, lazy imports)
    y.backward()
    del y
    w.grad = None
    gc.collect()
    rt.empty_cache()  # freed blocks are cached for reuse; hand them back so RSS shows what is live

    base = rss_bytes()
    y = _big_graph(x, w)
    peak = rss_bytes()
    assert peak - base > 0.75 * MIB64, "sanity: the saved 64 MiB intermediate should be resident"
    y.backward()
    rt.empty_cache()
    after_backward = rss_bytes()
    # backward without retain_graph frees saved tensors even while y is still referenced
    assert after_backward - base < 16 * 2 ** 20, f"{(after_backward - base) / 2 ** 20:.1f} MiB still held after backward"
    np.testing.assert_allclose(arr(w.grad), [4096.0 * 4096.0 * np.e], rtol=1e-3)  # d/dw sum(exp(x w)) = sum(x e^(xw))
    del y
    gc.collect()
    rt.empty_cache()
    assert rss_bytes() - base < 16 * 2 ** 20


def test_graph_without_backward_is_freed_on_del():
    x = rt.ones(4096, 4096)
    w = rt.ones(1, requires_grad=True)
    y = _big_graph(x, w)
    del y
    gc.collect()
    base = rss_bytes()
    for _ in range(3):
        y = _big_graph(x, w)
        z = Cube.apply(y.reshape(1)) * 2  # a custom node on top must not create a cycle either
        del y, z
        gc.collect()
    assert rss_bytes() - base < 16 * 2 ** 20, "graph (with its 64 MiB saved tensor) was not freed on del"
