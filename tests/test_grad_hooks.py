"""Tensor.register_hook and Tensor.register_post_accumulate_grad_hook, with PyTorch's semantics (torch as
the oracle where it is installed): when they run, with which gradient, how a returned tensor replaces it,
their removal, their errors, and that they run on the thread that runs backward."""
import threading

import numpy as np
import pytest

import reticulum as rt

torch = pytest.importorskip("torch")


def arr(t):
    return t.detach().numpy()


def both(fn):
    """fn(lib) -> list of arrays, run with reticulum and with torch."""
    return fn(rt), [np.asarray(a) for a in fn(torch)]


def test_leaf_hook_sees_the_summed_gradient_once_and_post_hook_sees_grad():
    def run(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        seen = []
        x.register_hook(lambda g: seen.append(("pre", g.detach().numpy().copy())))
        x.register_post_accumulate_grad_hook(lambda p: seen.append(("post", p.grad.detach().numpy().copy())))
        ((x * 2).sum() + (x * x).sum()).backward()
        return seen

    ours, theirs = run(rt), run(torch)
    assert [k for k, _ in ours] == [k for k, _ in theirs] == ["pre", "post"]
    for (_, a), (_, b) in zip(ours, theirs):
        np.testing.assert_allclose(a, b)


def test_hook_return_value_replaces_the_gradient():
    def run(lib):
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        x.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: None)  # None keeps the (already replaced) gradient
        y = x * 3
        y.register_hook(lambda g: g + 1)  # a non-leaf: changes what flows on to x
        y.sum().backward()
        return [x.grad.detach().numpy()]

    ours, theirs = both(run)
    np.testing.assert_allclose(ours[0], theirs[0])


def test_hooks_accumulate_over_backwards_and_post_hook_sees_the_total():
    x = rt.ones(2, requires_grad=True)
    totals = []
    x.register_post_accumulate_grad_hook(lambda p: totals.append(arr(p.grad).copy()))
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(totals, [[2, 2], [5, 5]])


def test_leaf_root_and_autograd_grad_run_the_pre_hook_only():
    x = rt.tensor(2.0, requires_grad=True)
    post = []
    x.register_hook(lambda g: g * 10)
    x.register_post_accumulate_grad_hook(lambda p: post.append(1))
    x.backward()
    assert x.grad.item() == 10.0 and post == [1]
    (g,) = rt.autograd.grad((x * x).sum(), x)  # autograd.grad: the hook changes the result, no accumulation
    assert g.item() == 40.0 and post == [1]


def test_handle_remove_and_context_manager():
    x = rt.ones(2, requires_grad=True)
    calls = []
    h = x.register_hook(lambda g: calls.append("a"))
    with x.register_post_accumulate_grad_hook(lambda p: calls.append("b")):
        (x * 1).sum().backward()
    h.remove()
    h.remove()  # again: nothing
    (x * 1).sum().backward()
    assert calls == ["a", "b"]


def test_hook_may_remove_itself_while_running():
    x = rt.ones(2, requires_grad=True)
    calls = []
    handles = []

    def once(g):
        calls.append(1)
        handles[0].remove()

    handles.append(x.register_hook(once))
    (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert calls == [1]


def test_hook_on_a_shared_subgraph_runs_once_per_backward():
    x = rt.ones(3, requires_grad=True)
    y = x * 2
    calls = []
    y.register_hook(lambda g: calls.append(arr(g).copy()))
    (y.sum() + (y * y).sum()).backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 1 + 2 * 2 * np.ones(3))


@pytest.mark.parametrize("bad, error, match", [
    (lambda g: rt.ones(5), RuntimeError, r"hook returned a gradient of shape \[5\].*in place of one of shape \[3\]"),
    (lambda g: g.double(), RuntimeError, r"dtype float64.*dtype float32"),
    (lambda g: 5, TypeError, r"must return a Tensor or None, got int"),
])
def test_bad_hook_results_raise(bad, error, match):
    x = rt.ones(3, requires_grad=True)
    x.register_hook(bad)
    with pytest.raises(error, match=match):
        (x * 2).sum().backward()


def test_hook_exception_propagates_out_of_backward():
    x = rt.ones(3, requires_grad=True)

    def boom(p):
        raise KeyError("from the hook")

    x.register_post_accumulate_grad_hook(boom)
    with pytest.raises(KeyError, match="from the hook"):
        (x * 2).sum().backward()


def test_registration_errors_as_torch():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        rt.ones(2).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        rt.ones(2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        (rt.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(TypeError):
        rt.ones(2, requires_grad=True).register_hook("not callable")


def test_hooks_run_on_the_backward_thread_with_the_gil():
    """Backward releases the GIL; a hook called from another thread of it must take the GIL (a crash or
    a deadlock otherwise) and run on the thread that called backward."""
    x = rt.ones(1000, requires_grad=True)
    where = []
    x.register_post_accumulate_grad_hook(lambda p: where.append(threading.current_thread().name))
    done = []

    def work():
        for _ in range(20):
            (x * 2).sum().backward()
        done.append(threading.current_thread().name)  # unique, unlike an ident, which a later thread may reuse

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(done) == 2 and sorted(set(where)) == sorted(done) and len(where) == 40
    np.testing.assert_array_equal(arr(x.grad), np.full(1000, 80.0))


def test_parameter_post_hook_gets_the_parameter_itself():
    lin = rt.nn.Linear(3, 2)
    got = []
    lin.weight.register_post_accumulate_grad_hook(lambda p: got.append(p))
    lin(rt.ones(4, 3)).sum().backward()
    assert got[0] is lin.weight
