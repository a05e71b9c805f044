"""The autograd engine validates every gradient that reaches an input, as PyTorch's does:
a broadcast shape is summed back, any other shape is an error naming the node, another dtype
is cast. Also: anomaly mode, and gradients accumulated into shared leaves from several threads."""
import threading
import warnings

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
from reticulum.autograd import Function


def _function_returning(make_grad):
    class Custom(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return make_grad(g)

    return Custom


def test_wrong_shape_gradient_from_custom_function_is_an_error_not_an_overread():
    x = rt.randn(4, 8, 14, 14, requires_grad=True)
    w = rt.randn(3, 8, 3, 3, requires_grad=True)
    y = _function_returning(lambda g: rt.ones(1)).apply(x)
    with pytest.raises(RuntimeError, match=r"CustomBackward returned an invalid gradient at index 0 - got \[1\] "
                                           r"but expected shape compatible with \[4, 8, 14, 14\]"):
        F.conv2d(y, w).sum().backward()


def test_unrelated_shape_gradient_is_an_error():
    x = rt.ones(4, 8, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"got \[3\] but expected shape compatible with \[4, 8\]"):
        _function_returning(lambda g: rt.ones(3)).apply(x).sum().backward()


def test_broadcast_shape_gradient_is_summed_back_as_in_torch():
    x = rt.ones(4, 8, requires_grad=True)
    _function_returning(lambda g: rt.ones(2, 4, 8) * 3).apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((4, 8), 6.0, np.float32))


@pytest.mark.parametrize("grad_dtype", [rt.float64, rt.bool, rt.int64])
def test_gradient_of_another_dtype_is_cast_to_the_input_dtype(grad_dtype):
    x = rt.tensor([0.5, -1.0, 2.0], requires_grad=True)
    # the sigmoid's backward kernel reads the incoming gradient as float32 memory
    y = _function_returning(lambda g: rt.ones(3, dtype=grad_dtype)).apply(x.sigmoid())
    y.sum().backward()
    s = 1 / (1 + np.exp(-np.array([0.5, -1.0, 2.0])))
    assert x.grad.dtype == rt.float32
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), rtol=1e-6)


def test_non_tensor_gradient_is_a_type_error():
    x = rt.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="CustomBackward.backward returned float as gradient 0; expected a Tensor or None"):
        _function_returning(lambda g: 3.0).apply(x).sum().backward()


def test_anomaly_mode_names_the_op_and_its_forward_line():
    x = rt.tensor([1.0, 4.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly detection"):
        with rt.autograd.detect_anomaly():
            assert rt.is_anomaly_enabled()
            y = (x - 1).sqrt()  # the infinite gradient at x = 1 starts here
            with pytest.raises(RuntimeError, match=r"(?s)'SqrtBackward0' returned non-finite values.*y = \(x - 1\)\.sqrt\(\)"):
                y.sum().backward()
    assert not rt.is_anomaly_enabled()


def test_anomaly_mode_finds_nan():
    x = rt.tensor([1.0, 3.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rt.autograd.detect_anomaly():
            y = (x - 2).sqrt() * 3  # NaN at x = 1, forward and backward
            with pytest.raises(RuntimeError, match="'SqrtBackward0' returned non-finite"):
                y.sum().backward()


def test_without_anomaly_mode_non_finite_gradients_pass_through():
    x = rt.tensor([1.0, 4.0], requires_grad=True)
    (x - 1).sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_set_detect_anomaly_and_decorator():
    with rt.autograd.set_detect_anomaly(True):
        assert rt.autograd.is_anomaly_enabled()
    assert not rt.autograd.is_anomaly_enabled()

    @rt.autograd.detect_anomaly()
    def inner():
        return rt.autograd.is_anomaly_enabled()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert inner()
    assert not rt.autograd.is_anomaly_enabled()


def test_threads_backward_into_one_shared_model_lose_no_gradient():
    """Backward runs with the GIL released: threads that finish together must not lose a
    leaf's gradient (the first write of .grad, or a concurrent in-place add, racing)."""
    rt.manual_seed(0)
    model = rt.nn.Linear(256, 256)
    x = rt.randn(4, 256)
    model(x).sum().backward()
    one = model.weight.grad.numpy().copy()
    threads, repeats = 4, 300
    barrier = threading.Barrier(threads)
    outs = [model(x).sum() for _ in range(threads)]
    lost = 0
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        outs = [model(x).sum() for _ in range(threads)]

        def work(out):
            barrier.wait()
            out.backward()

        pool = [threading.Thread(target=work, args=(o,)) for o in outs]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        lost += not np.allclose(model.weight.grad.numpy(), one * threads, rtol=1e-5)
    assert lost == 0, f"{lost} of {repeats} concurrent backward rounds lost gradients"


# ---------------------------------------------------------------- autograd.grad and autograd.backward

def _pair(seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((3, 4)), r.standard_normal((4, 2))


def test_grad_matches_torch_and_leaves_dot_grad_alone():
    torch = pytest.importorskip("torch")
    a, b = _pair()
    res = {}
    for L in (rt, torch):
        x, w = L.tensor(a, requires_grad=True), L.tensor(b, requires_grad=True)
        h = (x @ w).tanh()  # a non-leaf input
        y = (h * h).sum() + x.sum()
        gx, gh = L.autograd.grad(y, (x, h), retain_graph=True)
        assert x.grad is None and w.grad is None
        (gw,) = L.autograd.grad([y], [w])
        res[L.__name__] = [g.detach().numpy() for g in (gx, gh, gw)]
    for got, want in zip(res["reticulum"], res["torch"]):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_grad_runs_only_the_nodes_that_lead_to_the_inputs():
    calls = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g

    x, other = rt.ones(3, requires_grad=True), rt.ones(3, requires_grad=True)
    y = (x * 2).sum() + Spy.apply(other).sum()
    (gx,) = rt.autograd.grad(y, x)
    assert gx.tolist() == [2.0, 2.0, 2.0] and calls == []


def test_grad_with_grad_outputs_unused_inputs_and_errors():
    x, z = rt.tensor([1.0, 2.0], requires_grad=True), rt.tensor([3.0], requires_grad=True)
    y = x * x
    (g,) = rt.autograd.grad(y, x, grad_outputs=rt.tensor([1.0, 10.0]), retain_graph=True)
    assert g.tolist() == [2.0, 40.0]
    with pytest.raises(RuntimeError, match="input 1 .* was not used in the graph"):
        rt.autograd.grad(y.sum(), [x, z], retain_graph=True)
    gx, gz = rt.autograd.grad(y.sum(), [x, z], allow_unused=True, retain_graph=True)
    assert gz is None and gx.tolist() == [2.0, 4.0]
    _, gz = rt.autograd.grad(y.sum(), [x, z], materialize_grads=True, retain_graph=True)
    assert gz.tolist() == [0.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        rt.autograd.grad(y.sum(), rt.ones(2), retain_graph=True)
    with pytest.raises(RuntimeError, match="create_graph=True"):
        rt.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        rt.autograd.grad(y, x)


def test_backward_of_several_tensors_accumulates_once_each():
    torch = pytest.importorskip("torch")
    a, b = _pair(1)
    res = {}
    for L in (rt, torch):
        x, w = L.tensor(a, requires_grad=True), L.tensor(b, requires_grad=True)
        h = x @ w
        L.autograd.backward([h.sum(), (h * h).mean()], [None, L.tensor(3.0, dtype=L.float64)])
        res[L.__name__] = (x.grad.numpy(), w.grad.numpy())
    for got, want in zip(res["reticulum"], res["torch"]):
        np.testing.assert_allclose(got, want, rtol=1e-10)
