"""The generic op tests: every check is derived from the records of tests/opinfo.py.

- test_reference: forward vs the NumPy reference, for every call form (variant) and dtype, with contiguous,
  strided ("noncontig": the values strided inside a larger buffer and permuted, see helpers.noncontig) and,
  for several tensor inputs, mixed layouts. Result dtypes and shapes included. Ops without gradients must
  not record any.
- test_backward_reference: gradients of sum(G * out) vs the record's backward reference.
- test_gradcheck: float64 central differences vs backward, for every differentiable input (the first
  variant: the others are aliases of the same backward).
- test_torch: float32 parity with torch of forward values and of the gradients of sum(G * out) (the first
  variant that torch has).
- test_error: each error input raises its exception with the message fragments.
- test_view: for view ops, writes to the base show through the view and writes to the view reach the base."""
import numpy as np
import pytest

import reticulum as rt
from helpers import NP_DTYPE, make, rng, to_np
from opinfo import F32, F64, OPS, RT, TH, torch

LAYOUTS = ("contig", "noncontig", "mixed")


def _n_tensors(s):
    return sum(isinstance(a, np.ndarray) for a in s.inputs)


def _dtype_id(dtype):
    return str(dtype).replace("reticulum.", "")


def _reference_cases():
    for op in OPS:
        if op.ref is None:
            continue
        for dtype in op.dtypes:
            for s in op.samples(dtype, False):
                if "ref" not in s.checks:
                    continue
                for v in op.variants:
                    if s.variants is None or v in s.variants:
                        for layout in LAYOUTS[:3 if _n_tensors(s) > 1 else 2]:
                            yield pytest.param(op, v, s, dtype, layout, id=f"{op.name}.{v}-{s.name}-{_dtype_id(dtype)}-{layout}")


def _backward_reference_cases():
    for op in OPS:
        if op.ref_grad is None:
            continue
        for dtype in op.grad_ref_dtypes:
            for s in op.samples(dtype, True):
                if "ref" in s.checks and s.differentiable(s.inputs):
                    for layout in LAYOUTS[:2]:
                        yield pytest.param(op, s, dtype, layout, id=f"{op.name}-{s.name}-{_dtype_id(dtype)}-{layout}")


def _grad_cases():
    for op in OPS:
        if not op.supports_grad:
            continue
        v = next(iter(op.variants))
        for s in op.samples(F64, True):
            if "grad" in s.checks:
                for layout in LAYOUTS[:2]:
                    yield pytest.param(op, v, s, layout, id=f"{op.name}.{v}-{s.name}-{layout}")


def _torch_cases():
    for op in OPS:
        v = (op.torch_variants or list(op.variants))[0]
        for s in op.samples(F32, op.supports_grad):
            if "torch" in s.checks:
                for layout in LAYOUTS[:2]:
                    yield pytest.param(op, v, s, layout, id=f"{op.name}.{v}-{s.name}-{layout}")


def _error_cases():
    for op in OPS:
        for e in op.errors:
            yield pytest.param(e, id=f"{op.name}-{e.name}")


def _view_cases():
    for op in OPS:
        if op.view:
            for s in op.samples(F32, False):
                for layout in LAYOUTS[:1 if op.view == "copy_ok" else 2]:  # reshape of a strided base may copy
                    for v in op.variants:
                        yield pytest.param(op, v, s, layout, id=f"{op.name}.{v}-{s.name}-{layout}")


# ---------------------------------------------------------------- building the inputs

def _layout(layout, i, first_tensor):
    if layout == "mixed":
        return "contig" if i == first_tensor else "noncontig"
    return layout


def _tensors(L, s, arrays, layout, requires_grad=()):
    """The sample's inputs as tensors of library L: reticulum tensors in the layout, torch tensors contiguous."""
    first = next((i for i, a in enumerate(arrays) if isinstance(a, np.ndarray)), None)
    out = []
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            out.append(a)
            continue
        if L is TH:
            t = torch.tensor(a)
        else:
            t = make(a, "contig" if i in s.contig else _layout(layout, i, first))
        if i in requires_grad:
            t.requires_grad_(True)
        out.append(t)
    return out


def _as_ref(a):
    return a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(actual, expected, want_dtype, tol, msg):
    assert isinstance(actual, rt.Tensor), f"{msg}: expected a Tensor, got {type(actual)}"
    expected = np.asarray(expected)
    assert tuple(actual.shape) == expected.shape, f"{msg}: shape {tuple(actual.shape)} != expected {expected.shape}"
    assert actual.dtype == want_dtype, f"{msg}: dtype {actual.dtype} != expected {want_dtype}"
    got = to_np(actual)
    if got.dtype.kind in "bi":
        np.testing.assert_array_equal(got, expected, err_msg=msg)
        return
    with np.errstate(all="ignore"):  # the exact result rounded to the result dtype (overflow to inf included)
        expected = expected.astype(NP_DTYPE[want_dtype]).astype(np.float64)
    np.testing.assert_allclose(got.astype(np.float64), expected, err_msg=msg, **tol)


# ---------------------------------------------------------------- the checks

@pytest.mark.parametrize("op,variant,s,dtype,layout", list(_reference_cases()))
def test_reference(op, variant, s, dtype, layout):
    arrays = s.arrays(dtype)
    grad = () if op.supports_grad else [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    out = op.variants[variant](RT, *_tensors(RT, s, arrays, layout, grad), **s.kwargs)
    with np.errstate(all="ignore"):
        expected = op.ref(*[_as_ref(a) for a in arrays], **s.kwargs)
    outs, exps = _outputs(out), _outputs(expected)
    assert len(outs) == len(exps), f"{op.name}: {len(outs)} outputs, the reference has {len(exps)}"
    want = op.result_dtype(dtype, s)
    wants = want if isinstance(want, tuple) else (want,) * len(outs)
    for k, (o, e, w) in enumerate(zip(outs, exps, wants)):
        _compare(o, e, w, op.tolerance(w if w in (F32, F64) else dtype, s), f"{op.name}.{variant} {s.name} output {k}")
        if not op.supports_grad:
            assert not o.requires_grad and o.grad_fn is None, f"{op.name} recorded a gradient"


@pytest.mark.parametrize("op,s,dtype,layout", list(_backward_reference_cases()))
def test_backward_reference(op, s, dtype, layout):
    arrays = s.arrays(dtype)
    diff = s.differentiable(arrays)
    ins = _tensors(RT, s, arrays, layout, diff)
    out = next(iter(op.variants.values()))(RT, *ins, **s.kwargs)
    G = rng("G", op.name, s.name).standard_normal(tuple(out.shape)).astype(NP_DTYPE[dtype])
    out.backward(make(G))
    want = op.ref_grad(G.astype(np.float64), *[_as_ref(a) for a in arrays], **s.kwargs)
    tol = op.grad_tol or op.tolerance(dtype)
    for i in diff:
        assert ins[i].grad is not None, f"{op.name} {s.name}: input {i} got no gradient"
        _compare(ins[i].grad, want[i], dtype, tol, f"{op.name} {s.name} gradient of input {i}")


@pytest.mark.parametrize("op,variant,s,layout", list(_grad_cases()))
def test_gradcheck(op, variant, s, layout):
    arrays = s.arrays(F64)
    diff = s.differentiable(arrays)
    assert diff, f"{op.name} {s.name}: no differentiable input"
    ins = _tensors(RT, s, arrays, layout, diff)
    fn = op.variants[variant]

    def f(*ts):
        return [o for o in _outputs(fn(RT, *ts, **s.kwargs)) if o.is_floating_point()]
    assert rt.autograd.gradcheck(f, ins, **op.gradcheck_kw)


def _scale(ref):
    """max(1, largest finite |value|): an inf or NaN in the reference must not make atol infinite."""
    finite = np.abs(ref[np.isfinite(ref)])
    return max(1.0, float(finite.max())) if finite.size else 1.0


def _compare_torch(actual, expected, op, msg):
    ref = expected.detach().numpy()
    got = to_np(actual)
    assert got.shape == ref.shape, f"{msg}: shape {got.shape} != torch {ref.shape}"
    assert got.dtype == ref.dtype, f"{msg}: dtype {got.dtype} != torch {ref.dtype}"
    if got.dtype.kind in "bi":
        np.testing.assert_array_equal(got, ref, err_msg=msg)
        return
    tol = dict(op.torch_tol)
    if op.torch_scaled:
        tol["atol"] = tol["atol"] * _scale(ref)
    np.testing.assert_allclose(got, ref, err_msg=msg, **tol)


@pytest.mark.skipif(torch is None, reason="torch is not importable")
@pytest.mark.parametrize("op,variant,s,layout", list(_torch_cases()))
def test_torch(op, variant, s, layout):
    arrays = s.arrays(F32)
    diff = s.differentiable(arrays) if op.supports_grad else ()
    fn = op.variants[variant]
    r_in, t_in = _tensors(RT, s, arrays, layout, diff), _tensors(TH, s, arrays, layout, diff)
    r_outs, t_outs = _outputs(fn(RT, *r_in, **s.kwargs)), _outputs(fn(TH, *t_in, **s.kwargs))
    assert len(r_outs) == len(t_outs)
    for k, (ro, to) in enumerate(zip(r_outs, t_outs)):
        _compare_torch(ro, to, op, f"{op.name}.{variant} {s.name} output {k}")
    if not diff:
        return
    r_loss = t_loss = 0
    for k, (ro, to) in enumerate(zip(r_outs, t_outs)):
        if to.requires_grad:
            w = rng("w", op.name, s.name, k).standard_normal(tuple(to.shape)).astype(np.float32)
            r_loss = r_loss + (ro * make(w)).sum()
            t_loss = t_loss + (to * torch.tensor(w)).sum()
    r_loss.backward()
    t_loss.backward()
    for i in diff:
        assert r_in[i].grad is not None, f"{op.name} {s.name}: input {i} got no gradient"
        _compare_torch(r_in[i].grad, t_in[i].grad, op, f"{op.name}.{variant} {s.name} gradient of input {i}")


@pytest.mark.parametrize("e", list(_error_cases()))
def test_error(e):
    with pytest.raises(e.exc) as info:
        e.call()
    msg = str(info.value)
    missing = [p for p in e.fragments if p not in msg]
    assert not missing, f"message {msg!r} lacks {missing}"


@pytest.mark.parametrize("op,variant,s,layout", list(_view_cases()))
def test_view(op, variant, s, layout):
    """Writes to the base show through the view; writes to the view reach the base (except for expand,
    view="shared", whose elements share memory). The reference must return a NumPy view."""
    a = s.inputs[0].astype(np.float32)
    t = make(a, layout)
    v = op.variants[variant](RT, t, *s.inputs[1:], **s.kwargs)
    new = np.arange(a.size, dtype=np.float32).reshape(a.shape) * -2.0 - 1
    with rt.no_grad():
        t.copy_(rt.tensor(new))
    _compare(v, op.ref(new, *s.inputs[1:], **s.kwargs), F32, dict(rtol=0, atol=0), f"{op.name}: base copy_ not visible through the view")
    if op.view == "shared":
        return
    ref = np.full(a.shape, 3.0, np.float32)
    op.ref(ref, *s.inputs[1:], **s.kwargs)[...] = 7.0
    with rt.no_grad():
        t.fill_(3.0)
        v.fill_(7.0)
    _compare(t, ref, F32, dict(rtol=0, atol=0), f"{op.name}: a write to the view did not reach the base")
