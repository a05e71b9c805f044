"""One record per op, in the spirit of PyTorch's OpInfo: everything the generic tests in test_ops.py need
to check an op lives in its record.

An `OpInfo` holds
- `variants`: the op's call forms (method, function, operator, nn.functional), each written once as
  fn(L, *inputs, **kwargs) for a library namespace L: `RT` runs it on reticulum and `TH` on torch (when
  torch is importable), so the reticulum and the torch callables are the same line;
- `ref`: a NumPy reference of the forward (float64), and `ref_grad` where a backward reference exists
  (an explicit adjoint, or central differences of the NumPy forward);
- `samples(dtype, grad)`: the sample inputs (shapes, value domains, dtypes, extra arguments), as NumPy
  arrays; grad=True asks for inputs away from the op's kinks (finite differences and gradients must be
  meaningful there). Each `Sample` says which inputs are differentiable and which checks it takes part in;
- `errors`: bad calls, as (call, exception type, message fragments).

The generic checks are: forward vs the reference at every dtype of the record, with contiguous, strided and
(for several tensor inputs) mixed layouts; backward vs the reference; float64 gradcheck; float32 parity of
forward and backward with torch; and the error inputs. Hand-written tests of particular kernel paths
(test_conv_paths, test_kernel_paths, test_cpu_dispatch) and of state or randomness (test_nn_stateful) sit
beside them, as PyTorch keeps hand-written tests beside its OpInfos.

To add an op: write its record (usually a few lines with one of the family builders below) and append it
to OPS; every generic check then covers it."""
import dataclasses
from typing import Callable, Optional

import numpy as np

import reticulum as rt
import reticulum.nn.functional as RF
import references as R
from helpers import NP_DTYPE, distinct, idx, probs, rng, uniform, values

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the torch checks are then not collected
    torch = TF = None

F32, F64, I64, BOOL = rt.float32, rt.float64, rt.int64, rt.bool
ALL_CHECKS = frozenset({"ref", "grad", "torch"})


class Lib:
    """A library namespace for the variants: attribute lookups go to the module (rt or torch), `F` is its
    nn.functional, and the few names that differ between the libraries are given as overrides."""

    def __init__(self, mod, functional, **overrides):
        self._mod = mod
        self.F = functional
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._mod, name)


RT = Lib(rt, RF, leaky_relu=rt.leaky_relu)
TH = Lib(torch, TF, leaky_relu=TF.leaky_relu) if torch is not None else None


@dataclasses.dataclass
class Sample:
    """One call: `inputs` are positional (NumPy arrays become tensors of the library under test, anything
    else is passed as it is), `kwargs` are passed as they are.
    diff: indices of the differentiable inputs (None: every floating array);
    checks: which generic checks use this sample ("ref", "grad", "torch");
    keep: indices of floating inputs that keep their own dtype (the others take the check's dtype);
    out_dtype: the expected result dtype when the op's rule does not give it (Python scalars, mixed dtypes);
    tol: overrides the op's reference tolerance; contig: indices of inputs always made contiguous;
    variants: the call forms that take this sample (None: all)."""
    name: str
    inputs: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    diff: Optional[tuple] = None
    checks: frozenset = ALL_CHECKS
    keep: tuple = ()
    out_dtype: object = None
    tol: Optional[dict] = None
    contig: tuple = ()
    variants: Optional[tuple] = None

    def arrays(self, dtype):
        """The inputs with floating arrays in `dtype` (when it is floating), except those in `keep`."""
        out = []
        for i, a in enumerate(self.inputs):
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in self.keep and dtype in (F32, F64):
                a = a.astype(NP_DTYPE[dtype])
            out.append(a)
        return out

    def differentiable(self, arrays):
        if self.diff is not None:
            return tuple(self.diff)
        return tuple(i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype.kind == "f")


def sample(name, *inputs, only=None, skip=(), **opts):
    """Sample(name, inputs, ...) with `only`/`skip` naming the checks it takes part in, and the op's keyword
    arguments in `kwargs=`."""
    checks = frozenset(only) if only is not None else ALL_CHECKS - frozenset(skip)
    return Sample(name, tuple(inputs), checks=checks, **opts)


@dataclasses.dataclass
class ErrorInput:
    """A bad call: it must raise `exc` (or a subclass) with every fragment in its message."""
    name: str
    call: Callable
    exc: type
    fragments: tuple = ()


DEFAULT_TOL = {F32: dict(rtol=1e-5, atol=1e-6), F64: dict(rtol=1e-12, atol=1e-12), I64: dict(rtol=0, atol=0), BOOL: dict(rtol=0, atol=0)}


@dataclasses.dataclass
class OpInfo:
    """See the module docstring. out_dtype maps the input dtype to the result dtype (a tuple for ops with
    several outputs); view: the op returns a view of its first input (writes show through both ways);
    grad_ref_dtypes: the dtypes at which backward is compared with ref_grad (within grad_tol, default the
    reference tolerance; central differences need a looser one); torch_variants: the variants
    that also run on torch (None: all); torch_scaled: the torch tolerance's atol is relative to the largest
    value (long float32 sums)."""
    name: str
    variants: dict
    samples: Callable
    ref: Optional[Callable] = None
    ref_grad: Optional[Callable] = None
    dtypes: tuple = (F32, F64)
    grad_ref_dtypes: tuple = (F64,)
    out_dtype: Optional[Callable] = None
    supports_grad: bool = True
    view: bool = False
    torch_variants: Optional[tuple] = None
    tol: dict = dataclasses.field(default_factory=dict)
    torch_tol: dict = dataclasses.field(default_factory=lambda: dict(rtol=1e-5, atol=1e-6))
    torch_scaled: bool = False
    gradcheck_kw: dict = dataclasses.field(default_factory=dict)
    grad_tol: Optional[dict] = None
    errors: tuple = ()

    def tolerance(self, dtype, s=None):
        if s is not None and s.tol is not None:
            return s.tol
        return self.tol.get(dtype, DEFAULT_TOL[dtype])

    def result_dtype(self, dtype, s):
        if s.out_dtype is not None:
            return s.out_dtype
        return self.out_dtype(dtype) if self.out_dtype else dtype


OPS = []


def register(*ops):
    OPS.extend(ops)
    return ops[0] if len(ops) == 1 else ops


def by_name(name):
    return next(op for op in OPS if op.name == name)


# ===================================================================== family builders

def fixed(*samples_):
    """A sample generator that returns the same float64 samples at every dtype (the checks cast them)."""
    return lambda dtype, grad: list(samples_)


def float_out(dtype):
    """The result dtype of ops that compute in floating point: integer and bool inputs give float32."""
    return F32 if dtype in (I64, BOOL) else dtype


def _tiny_tol(dtype):
    """Special values: 10x the usual relative error, and any absolute error below the smallest normal number
    (a kernel may flush a denormal result to zero)."""
    return dict(rtol=DEFAULT_TOL[dtype]["rtol"] * 10, atol=float(np.finfo(NP_DTYPE[dtype]).tiny))


# ===================================================================== elementwise unary

UNARY_SHAPES = [(), (7,), (3, 4), (2, 3, 4)]
# tiled to 36 / 40 elements so that the SIMD paths (not only the scalar tails) see every value
SPECIAL = np.tile([-1000, -100, -20, -1e-3, 0, 1e-3, 20, 100, 1000, np.inf, -np.inf, np.nan], 3)
SPECIAL_POS = np.tile([0, 1e-30, 1e-3, 1, 1e30, np.inf, -1, np.nan], 5)
DENORMAL = {F32: np.tile([1e-40, 1e-44, 1.0], 12), F64: np.tile([1e-310, 5e-324, 1.0], 12)}


def unary(name, variants, ref, domain="any", grad_domain=None, ints="same", kwargs=({},), int_kwargs=None, special=None,
          extra=None, **info):
    """An elementwise op of one tensor: samples of every shape in UNARY_SHAPES for each keyword set, values
    from `domain` (forward) and `grad_domain` (gradients: away from kinks). ints: the result dtype for
    int64 inputs ("same", "float"), or None if int64 is not tested. special: inputs for the special-value
    sample (inf, NaN, overflow), checked against the reference rounded to the dtype. extra(dtype, grad):
    more samples (fixed inputs at kinks, ...)."""
    grad_domain = grad_domain or domain

    def samples(dtype, grad):
        out = []
        sets = int_kwargs if (dtype == I64 and int_kwargs is not None) else kwargs
        for kw in sets:
            for shape in UNARY_SHAPES:
                r = rng(name, str(dtype), shape, repr(kw), grad)
                x = values(grad_domain if grad else domain, shape, dtype, r)
                out.append(sample(f"{shape}{_kw_id(kw)}", x, kwargs=kw))
        if special is not None and not grad and dtype in (F32, F64):
            out.append(sample("special", special.astype(NP_DTYPE[dtype]), kwargs=kwargs[0], only={"ref"}, tol=_tiny_tol(dtype)))
        if extra is not None:
            out.extend(extra(dtype, grad))
        return out

    dtypes = (F32, F64, I64) if ints else (F32, F64)
    out_dtype = float_out if ints == "float" else None
    return OpInfo(name, variants, samples, ref=ref, dtypes=dtypes, out_dtype=out_dtype, **info)


def _kw_id(kw):
    return "".join(f"-{k}={v}" for k, v in kw.items())


def kink_samples(*names, shape=(3, 4), **opts):
    """Samples (float32 checks against torch only) at the op's kinks: torch's subgradient conventions."""
    def extra(dtype, grad):
        return [sample(n, values(n, shape if n != "kinks_exp" else (4,), F64, None), only={"torch"}, **opts) for n in names] if grad else []
    return extra


def _relu(x):
    return np.maximum(x, 0)


def _leaky(x, negative_slope=0.01):
    return np.where(x > 0, x, negative_slope * x)


def _clamp(x, min=None, max=None):  # noqa: A002  (torch.clamp's argument names)
    lo = -np.inf if min is None else min
    hi = np.inf if max is None else max
    return np.minimum(np.maximum(x, lo), hi)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _denormal(dtype, grad):
    if grad or dtype not in DENORMAL:
        return []
    return [sample("denormal", DENORMAL[dtype].astype(NP_DTYPE[dtype]), only={"ref"}, tol=dict(rtol=DEFAULT_TOL[dtype]["rtol"] * 10, atol=0))]


register(
    unary("neg", {"method": lambda L, x: x.neg(), "op": lambda L, x: -x, "fn": lambda L, x: L.neg(x)}, np.negative,
          special=SPECIAL),
    unary("abs", {"method": lambda L, x: x.abs(), "fn": lambda L, x: L.abs(x), "builtin": lambda L, x: abs(x)}, np.abs,
          domain="zeros", grad_domain="nonzero", special=SPECIAL, extra=kink_samples("kinks", "nonfinite")),
    unary("exp", {"method": lambda L, x: x.exp(), "fn": lambda L, x: L.exp(x)}, np.exp, ints="float", special=SPECIAL),
    unary("log", {"method": lambda L, x: x.log(), "fn": lambda L, x: L.log(x)}, np.log, domain="pos", ints="float",
          special=SPECIAL_POS, extra=_denormal),
    unary("sqrt", {"method": lambda L, x: x.sqrt(), "fn": lambda L, x: L.sqrt(x)}, np.sqrt, domain="pos", ints="float",
          special=SPECIAL_POS, extra=_denormal),
    unary("relu", {"method": lambda L, x: x.relu(), "fn": lambda L, x: L.relu(x), "F": lambda L, x: L.F.relu(x)}, _relu,
          domain="zeros", grad_domain="nonzero", special=SPECIAL, extra=kink_samples("kinks")),
    unary("leaky_relu", {"fn": lambda L, x, **kw: L.leaky_relu(x, **kw), "F": lambda L, x, **kw: L.F.leaky_relu(x, **kw),
                         "method": lambda L, x, **kw: x.leaky_relu(**kw)}, _leaky, domain="zeros", grad_domain="nonzero",
          ints=None, kwargs=({}, {"negative_slope": 0.2}, {"negative_slope": 0.3}, {"negative_slope": 0.1}),
          special=SPECIAL, extra=kink_samples("kinks", kwargs={"negative_slope": 0.1}), torch_variants=("fn", "F")),
    unary("sigmoid", {"method": lambda L, x: x.sigmoid(), "fn": lambda L, x: L.sigmoid(x), "F": lambda L, x: L.F.sigmoid(x)},
          _sigmoid, ints="float", special=SPECIAL),
    unary("tanh", {"method": lambda L, x: x.tanh(), "fn": lambda L, x: L.tanh(x), "F": lambda L, x: L.F.tanh(x)}, np.tanh,
          ints="float", special=SPECIAL),
    unary("softplus", {"F": lambda L, x: L.F.softplus(x)}, lambda x: np.logaddexp(0, x), ints=None,
          special=np.tile([-1000.0, -100, -50.0, -20, -3, -1e-8, 0.0, 1e-8, 3, 19, 20, 21, 30.0, 50.0, 100, 1000.0], 3)),
    unary("softsign", {"F": lambda L, x: L.F.softsign(x), "module": lambda L, x: L.nn.Softsign()(x)},
          lambda x: x / (1 + np.abs(x)), ints="float", special=SPECIAL),
    unary("clamp", {"method": lambda L, x, **kw: x.clamp(**kw), "fn": lambda L, x, **kw: L.clamp(x, **kw),
                    "positional": lambda L, x, **kw: x.clamp(kw.get("min"), kw.get("max"))}, _clamp,
          domain="any", grad_domain="clamp",
          kwargs=({"min": -1, "max": 1}, {"min": -1, "max": 2}, {"min": -0.5, "max": 0.5}, {"min": 0.25}, {"max": -0.25},
                  {"min": -1}, {"max": 1}, {"min": -2, "max": 1}),
          int_kwargs=({"min": -1, "max": 2}, {"min": -2, "max": 1}), special=SPECIAL,
          extra=kink_samples("kinks", kwargs={"min": 0, "max": 1})),
    unary("sign", {"method": lambda L, x: x.sign(), "fn": lambda L, x: L.sign(x)}, np.sign, domain="zeros",
          grad_domain="nonzero", extra=kink_samples("kinks", "nonfinite")),
    unary("square", {"method": lambda L, x: x.square()}, np.square, special=SPECIAL),
)


def _heaviside_samples(dtype, grad):
    out = []
    for shape in UNARY_SHAPES:
        x = values("nonzero" if grad else "zeros", shape, dtype, rng("heaviside", str(dtype), shape, grad))
        if dtype == I64:
            out.append(sample(f"{shape}-int", x, np.array(3, np.int64)))
            continue
        # torch has no derivative for heaviside: its parity check is forward only
        out.append(sample(f"{shape}-scalar", x, 0.5, skip={"torch"}))
        out.append(sample(f"{shape}-tensor", x, np.full(shape, 0.25), diff=(0,) if grad else None, skip={"torch"}))
        out.append(sample(f"{shape}-tensor-fwd", np.asarray(x * (np.abs(x) > 1)), np.array([0.5]), diff=(), only={"torch"}))
    return out


register(OpInfo("heaviside", {"fn": lambda L, x, v: L.heaviside(x, v)}, _heaviside_samples, ref=np.heaviside,
                dtypes=(F32, F64, I64)))


# ===================================================================== elementwise binary (broadcasting, Python scalars)

BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 1, 4), (2, 4)), ((2, 4), (3, 1, 4)), ((4,), (3, 1)), ((2, 1, 3), (1, 4, 1)),
                    ((), (2, 3)), ((2, 3), ()), ((), ()), ((1,), (3,))]


def binary(name, variants, ref, domains=("any", "any"), grad_domains=None, scalars=(), dtypes=(F32, F64, I64),
           kink=None, **info):
    """An elementwise op of two broadcast tensors: every pair in BROADCAST_SHAPES, and a tensor with each
    Python scalar in `scalars` (an int64 tensor with a float scalar computes in float32)."""
    grad_domains = grad_domains or domains

    def samples(dtype, grad):
        doms = grad_domains if grad else domains
        out = []
        for sa, sb in BROADCAST_SHAPES:
            r = rng(name, str(dtype), sa, sb, grad)
            out.append(sample(f"{sa}{sb}", values(doms[0], sa, dtype, r), values(doms[1], sb, dtype, r)))
        for s in scalars:
            for shape in [(), (5,), (3, 4)]:
                x = values(doms[0], shape, dtype, rng(name, str(dtype), shape, s, grad))
                promoted = F32 if (dtype == I64 and isinstance(s, float)) else None
                out.append(sample(f"{shape}-scalar{s}", x, s, out_dtype=promoted))
        if kink and grad:
            out.append(sample("kinks", values("kinks", (3, 4), F64, None), values("kinks_exp", (4,), F64, None), only={"torch"}))
        return out

    return OpInfo(name, variants, samples, ref=ref, dtypes=dtypes, **info)


def reflected(name, fn, scalars, domain="any", dtypes=(F32, F64, I64)):
    """Python scalar (op) tensor, e.g. 2 - x: the reflected operator of the tensor."""
    def samples(dtype, grad):
        out = []
        for s in scalars:
            for shape in [(), (5,), (3, 4)]:
                x = values(domain, shape, dtype, rng(name, str(dtype), shape, s, grad))
                promoted = F32 if (dtype == I64 and (isinstance(s, float) or name == "rdiv")) else None
                out.append(sample(f"{shape}-scalar{s}", x, s, out_dtype=promoted))
        return out
    return OpInfo(name, {"op": lambda L, x, s: fn(s, x)}, samples, ref=lambda x, s: fn(s, x), dtypes=dtypes)


def _div_out(dtype):
    return F32 if dtype in (I64, BOOL) else dtype  # true division, as torch


register(
    binary("add", {"op": lambda L, a, b: a + b, "method": lambda L, a, b: a.add(b), "fn": lambda L, a, b: L.add(a, b)}, np.add,
           scalars=(2, 2.5)),
    binary("sub", {"op": lambda L, a, b: a - b, "method": lambda L, a, b: a.sub(b), "fn": lambda L, a, b: L.sub(a, b)},
           np.subtract, scalars=(1.5, 3)),
    binary("mul", {"op": lambda L, a, b: a * b, "method": lambda L, a, b: a.mul(b), "fn": lambda L, a, b: L.mul(a, b)},
           np.multiply, scalars=(3, 2.5)),
    binary("div", {"op": lambda L, a, b: a / b, "method": lambda L, a, b: a.div(b), "fn": lambda L, a, b: L.div(a, b)},
           np.true_divide, domains=("any", "nonzero"), scalars=(4, 2), out_dtype=_div_out),
    binary("pow", {"op": lambda L, a, b: a ** b, "fn": lambda L, a, b: L.pow(a, b)}, np.power, domains=("pos", "exp"),
           grad_domains=("pos", "any"), scalars=(2, 3, 0.5, -1.5, 1, 0)),
    binary("maximum", {"fn": lambda L, a, b: L.maximum(a, b), "method": lambda L, a, b: a.maximum(b), "max": lambda L, a, b: a.max(b)},
           np.maximum, domains=("ties", "ties"), grad_domains=("any", "any"), kink=True),
    binary("minimum", {"fn": lambda L, a, b: L.minimum(a, b), "min": lambda L, a, b: a.min(b)}, np.minimum,
           domains=("ties", "ties"), grad_domains=("any", "any"), kink=True),
    reflected("radd", lambda s, x: s + x, (2, 2.5)),
    reflected("rsub", lambda s, x: s - x, (1.5, 3)),
    reflected("rmul", lambda s, x: s * x, (3, 2.5)),
    reflected("rdiv", lambda s, x: s / x, (2,), domain="nonzero"),
    reflected("rpow", lambda s, x: s ** x, (2, 2.5, 0.7), domain="exp", dtypes=(F32, F64)),
)


# ===================================================================== comparisons (no gradient)

def _compare_samples(name):
    def samples(dtype, grad):
        dom = "small" if dtype == I64 else "ties"
        out = []
        for sa, sb in BROADCAST_SHAPES:
            r = rng(name, str(dtype), sa, sb)
            out.append(sample(f"{sa}{sb}", values(dom, sa, dtype, r), values(dom, sb, dtype, r), variants=("op", "method")))
        mixed = {F32: (I64, F32), F64: (F32, F64)}.get(dtype)  # int64 with float32, float32 with float64
        if mixed:
            for sa, sb in BROADCAST_SHAPES:
                r = rng(name, "mixed", str(mixed), sa, sb)
                a, b = (values("small" if d == I64 else "ties", s, d, r) for d, s in zip(mixed, (sa, sb)))
                out.append(sample(f"{sa}{sb}-{mixed[0]}-{mixed[1]}", a, b, keep=(0, 1), variants=("op", "method")))
        for s in (0, 1, 0.5, -1.5):
            out.append(sample(f"scalar{s}", values(dom, (3, 4), dtype, rng(name, str(dtype), s)), s))
        return out
    return samples


def _reflect(fn):  # a Python scalar on the left: the tensor's reflected comparison
    return lambda L, a, b: fn(b, a)


for _name, _fn, _reflected, _np_fn in [
        ("eq", lambda a, b: a == b, lambda b, a: b == a, np.equal), ("ne", lambda a, b: a != b, lambda b, a: b != a, np.not_equal),
        ("lt", lambda a, b: a < b, lambda b, a: b > a, np.less), ("le", lambda a, b: a <= b, lambda b, a: b >= a, np.less_equal),
        ("gt", lambda a, b: a > b, lambda b, a: b < a, np.greater), ("ge", lambda a, b: a >= b, lambda b, a: b <= a, np.greater_equal)]:
    register(OpInfo(_name, {"op": (lambda f: lambda L, a, b: f(a, b))(_fn), "method": (lambda n: lambda L, a, b: getattr(a, n)(b))(_name),
                            "reflected": _reflect(_reflected)},
                    _compare_samples(_name), ref=_np_fn, dtypes=(F32, F64, I64, BOOL), out_dtype=lambda d: BOOL, supports_grad=False))


# ===================================================================== reductions

DIMS = [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2), (-1, -2)]
GRAD_DIMS = [None, 1, -1, (0, 2)]


def _dim_kw(dim, keepdim):
    return {"dim": dim, "keepdim": keepdim}


def reduction(name, variants, ref, options=({},), dtypes=(F32, F64), tol=None, zero_d=True, **info):
    """A reduction over dim (None, an int or a tuple) with keepdim, for each option set (var's correction);
    zero_d: also the gradient of a 0-d input (var and std of one element are NaN)."""
    def samples(dtype, grad):
        out = []
        for opt in options:
            for dim in (GRAD_DIMS if grad else DIMS):
                for keepdim in (False, True):
                    kw = dict(_dim_kw(dim, keepdim), **opt)
                    x = values("any", (2, 3, 4) if grad else (3, 4, 5), dtype, rng(name, str(dtype), dim, keepdim, repr(opt), grad))
                    out.append(sample(f"dim{dim}-keep{keepdim}{_kw_id(opt)}", x, kwargs=kw))
        if grad and zero_d:
            out.append(sample("0d", values("any", (), dtype, rng(name, "0d")), kwargs={}))
        return out
    return OpInfo(name, variants, samples, ref=ref, dtypes=dtypes, tol=tol or {F32: dict(rtol=1e-5, atol=1e-5)},
                  torch_tol=dict(rtol=1e-5, atol=1e-5), **info)


def _np_reduce(np_fn):
    def ref(x, dim=None, keepdim=False, **kw):
        return np_fn(x, axis=dim, keepdims=keepdim, **kw)
    return ref


def _np_var(sqrt=False):
    def ref(x, dim=None, keepdim=False, unbiased=True, correction=None):
        ddof = correction if correction is not None else int(unbiased)
        v = np.var(x, axis=dim, keepdims=keepdim, ddof=ddof)
        return np.sqrt(v) if sqrt else v
    return ref


VAR_OPTIONS = ({}, {"unbiased": True}, {"unbiased": False}, {"correction": 2})
register(
    reduction("sum", {"method": lambda L, x, **kw: x.sum(**kw), "fn": lambda L, x, **kw: L.sum(x, **kw),
                      "positional": lambda L, x, dim=None, keepdim=False: x.sum(dim, keepdim)},
              _np_reduce(np.sum), dtypes=(F32, F64, I64)),
    reduction("mean", {"method": lambda L, x, **kw: x.mean(**kw), "fn": lambda L, x, **kw: L.mean(x, **kw)}, _np_reduce(np.mean)),
    reduction("var", {"method": lambda L, x, **kw: x.var(**kw), "fn": lambda L, x, **kw: L.var(x, **kw)}, _np_var(),
              options=VAR_OPTIONS, zero_d=False),
    reduction("std", {"method": lambda L, x, **kw: x.std(**kw)}, _np_var(sqrt=True), options=({}, {"unbiased": False}), zero_d=False),
)


def _extremum_samples(name):
    def samples(dtype, grad):
        out = []
        for dim in [0, 1, 2, -1]:
            for keepdim in (False, True):
                x = (rng(name, dim).permutation(60).reshape(3, 4, 5) - 30).astype(NP_DTYPE[dtype])  # distinct: unambiguous indices
                out.append(sample(f"dim{dim}-keep{keepdim}", x, kwargs={"dim": dim, "keepdim": keepdim}))
        ties = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, -1.0], [5.0, 5.0, 5.0, 5.0]], NP_DTYPE[dtype])  # the first index wins
        out.append(sample("ties", ties, kwargs={"dim": 1, "keepdim": False}, skip={"grad", "torch"}))
        if grad:
            out.append(sample("kinks", values("kinks", (3, 4), F64, None), kwargs={"dim": 1, "keepdim": False}, only={"torch"}))
        return out
    return samples


def _all_samples(name):
    def samples(dtype, grad):
        out = [sample(f"{shape}", values("distinct" if grad else "any", shape, dtype, rng(name, shape, grad)))
               for shape in [(1,), (7,), (3, 4), (2, 3, 4)]]
        if grad:
            out.append(sample("kinks", values("kinks", (3, 4), F64, None), only={"torch"}))
        return out
    return samples


for _name, _np_val, _np_arg in [("max", np.max, np.argmax), ("min", np.min, np.argmin)]:
    register(
        OpInfo(f"{_name}_dim", {"method": (lambda n: lambda L, x, dim, keepdim: tuple(getattr(x, n)(dim, keepdim)))(_name),
                                "fn": (lambda n: lambda L, x, dim, keepdim: tuple(getattr(L, n)(x, dim=dim, keepdim=keepdim)))(_name),
                                "fields": (lambda n: lambda L, x, dim, keepdim: (lambda r: (r.values, r.indices))(getattr(x, n)(dim, keepdim)))(_name)},
               _extremum_samples(_name), dtypes=(F32, F64, I64), out_dtype=lambda d: (d, I64),
               ref=(lambda v, a: lambda x, dim, keepdim: (v(x, axis=dim, keepdims=keepdim), a(x, axis=dim, keepdims=keepdim)))(_np_val, _np_arg)),
        OpInfo(f"arg{_name}", {"method": (lambda n: lambda L, x, **kw: getattr(x, "arg" + n)(**kw))(_name),
                               "fn": (lambda n: lambda L, x, **kw: getattr(L, "arg" + n)(x, **kw))(_name)},
               lambda dtype, grad, n=_name: [s for s in _extremum_samples(n)(dtype, False)]
               + [sample(f"all-{shape}-keep{k}", values("any", shape, dtype, rng("arg", n, shape)), kwargs={"keepdim": True} if k else {})
                  for shape in [(1,), (7,), (3, 4), (2, 3, 4)] for k in (False, True)],
               dtypes=(F32, F64, I64), out_dtype=lambda d: I64, supports_grad=False,
               ref=(lambda a: lambda x, dim=None, keepdim=False: np.asarray(a(x, axis=dim, keepdims=keepdim)))(_np_arg)),
        OpInfo(_name, {"method": (lambda n: lambda L, x: getattr(x, n)())(_name), "fn": (lambda n: lambda L, x: getattr(L, n)(x))(_name)},
               _all_samples(_name), ref=_np_val, dtypes=(F32, F64, I64)),
    )


# ===================================================================== matmul

MATMUL_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 5)),
                 ((2, 3, 4), (4,)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 4), (4, 1)), ((3, 1), (1, 2)),
                 ((5, 3, 4), (1, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (2, 4, 2))]
MM_TOL = dict(rtol=1e-4, atol=1e-5)  # float32 vs torch: longer accumulations


def _pair_samples(name, shapes):
    return lambda dtype, grad: [sample(f"{sa}{sb}", *(values("any", s, dtype, rng(name, sa, sb, grad)) for s in (sa, sb)))
                                for sa, sb in shapes]


register(
    OpInfo("matmul", {"op": lambda L, a, b: a @ b, "fn": lambda L, a, b: L.matmul(a, b), "method": lambda L, a, b: a.matmul(b)},
           _pair_samples("matmul", MATMUL_SHAPES), ref=np.matmul, tol={F32: dict(rtol=1e-5, atol=1e-5)}, torch_tol=MM_TOL),
    OpInfo("bmm", {"fn": lambda L, a, b: L.bmm(a, b)}, _pair_samples("bmm", [((2, 3, 4), (2, 4, 2)), ((2, 3, 4), (2, 4, 5)), ((1, 1, 3), (1, 3, 1))]),
           ref=np.matmul, tol={F32: dict(rtol=1e-5, atol=1e-5)}, torch_tol=MM_TOL),
)


# ===================================================================== softmax

def _softmax_samples(dtype, grad):
    r = rng("softmax", str(dtype), grad)
    if grad:
        cases = [("(3, 4)", values("any", (3, 4), dtype, r), [0, -1]), ("(2, 3, 4)", values("any", (2, 3, 4), dtype, r), [0, 1, -1]),
                 ("size1", values("any", (3, 1), dtype, r), [1]), ("(3, 5)", values("any", (3, 5), dtype, r), [1])]
    else:
        cases = [("random", values("any", (3, 4, 5), dtype, r), [0, 1, 2, -1]),
                 ("huge", np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0], [1000.0, -1000.0, 0.0]]), [0, 1, -1]),
                 ("huge_equal", np.full((2, 4), 1000.0), [0, 1]), ("1d", values("any", (6,), dtype, r), [0, -1]),
                 ("0d", values("any", (), dtype, r), [0, -1])]
    out = [sample(f"{n}-dim{d}", x, d) for n, x, ds in cases for d in ds]
    if grad:  # far from 0: the naive exp overflows; torch agrees on rows of huge values
        out.append(sample("huge", values("huge", (3, 4), F64, rng("huge")), -1, only={"torch"}))
        out.append(sample("nonfinite", NONFINITE_ROWS, 1, only={"torch"}))
        out.append(sample("nonfinite-dim0", NONFINITE_ROWS.T.copy(), 0, only={"torch"}))
    return out


# rows: finite; +inf; two +inf; -inf at the target; -inf elsewhere; all -inf; NaN; +inf and -inf. Rows holding +inf
# or NaN, or only -inf, are NaN (values and gradients) as in PyTorch; -inf elsewhere gives probability 0.
NONFINITE_ROWS = np.array([[0.5, -1, 2, 0.25, 1], [np.inf, 1, 2, 0, -1], [1, np.inf, np.inf, 0, 3], [-np.inf, 1, 2, 0.5, 0],
                           [1, -np.inf, 2, -np.inf, 0], [-np.inf] * 5, [0, 1, np.nan, 2, 3], [np.inf, -np.inf, 0, 1, 2]])
NONFINITE_TARGETS = np.array([2, 1, 0, 0, 2, 3, 4, 0], np.int64)


def _softmax_ref(log):
    def ref(x, dim):
        if x.ndim == 0:
            return np.array(0.0 if log else 1.0)
        return R.log_softmax(x, dim) if log else R.softmax(x, dim)
    return ref


for _name, _log in [("softmax", False), ("log_softmax", True)]:
    register(OpInfo(_name, {"method": (lambda n: lambda L, x, d: getattr(x, n)(d))(_name), "kw": (lambda n: lambda L, x, d: getattr(x, n)(dim=d))(_name),
                            "fn": (lambda n: lambda L, x, d: getattr(L, n)(x, d))(_name), "F": (lambda n: lambda L, x, d: getattr(L.F, n)(x, d))(_name)},
                    _softmax_samples, ref=_softmax_ref(_log), torch_tol=MM_TOL))


# ===================================================================== cat, stack, where, masked_fill

CAT_CASES = {"dim0": ([(2, 3), (4, 3)], 0), "dim1": ([(2, 1), (2, 3), (2, 2)], 1), "dim-1": ([(2, 3, 1), (2, 3, 4)], -1),
             "3d_mid": ([(2, 1, 4), (2, 3, 4)], 1), "single": ([(3, 2)], 0), "1d": ([(3,), (1,), (2,)], 0)}


def _cat_samples(dtype, grad):
    out = [sample(n, *(values("any", s, dtype, rng("cat", n, i)) for i, s in enumerate(shapes)), kwargs={"dim": d})
           for n, (shapes, d) in CAT_CASES.items()]
    if grad:
        x = values("any", (2, 3), dtype, rng("cat-same"))
        out.append(sample("same_tensor_twice", x, x, kwargs={"dim": 1}))
    return out


def _stack_samples(dtype, grad):
    return [sample(f"dim{d}-n{n}", *(values("any", (2, 3), dtype, rng("stack", d, i)) for i in range(n)), kwargs={"dim": d})
            for d in [0, 1, 2, -1, -3] for n in (1, 3)]


WHERE_CASES = {
    # name: (cond shape, a shape or Python scalar, b shape or Python scalar, a dtype, b dtype, result dtype)
    "same": ((3, 4), (3, 4), (3, 4), None, None, None),
    "broadcast": ((3, 1), (1, 4), (3, 4), None, None, None),
    "broadcast3": ((2, 1, 4), (3, 1), (4,), None, None, None),
    "b_scalar": ((3, 4), (3, 4), 0.0, None, None, None),
    "a_scalar": ((3, 4), -1.5, (3, 4), None, None, None),
    "0d": ((3, 4), (), (3, 4), None, None, None),
    "int": ((3, 4), (3, 4), (3, 4), I64, I64, I64),
    "mixed": ((3, 4), (3, 4), (4,), I64, F32, F32),
}


def _where_samples(dtype, grad):
    out = []
    for n, (cs, sa, sb, da, db, want) in WHERE_CASES.items():
        if grad and want is not None:
            continue
        r = rng("where", n)
        ab = [values("any", s, d or dtype, r) if isinstance(s, tuple) else s for s, d in ((sa, da), (sb, db))]
        keep = tuple(i + 1 for i, d in enumerate((da, db)) if d is not None)
        diff = (1, 2) if grad and n in ("same", "broadcast", "broadcast3", "0d") else None
        out.append(sample(n, np.asarray(r.random(cs) > 0.4), *ab, keep=keep, out_dtype=want, diff=diff))
    if grad:
        out.append(sample("kinks", np.asarray(values("kinks", (3, 4), F64, None) > 0), values("kinks", (3, 4), F64, None),
                          values("kinks_exp", (4,), F64, None), only={"torch"}))
    return out


register(
    OpInfo("cat", {"fn": lambda L, *ts, dim: L.cat(list(ts), dim), "tuple_kw": lambda L, *ts, dim: L.cat(tuple(ts), dim=dim)},
           _cat_samples, ref=lambda *a, dim: np.concatenate(a, axis=dim), dtypes=(F32, F64, I64)),
    OpInfo("stack", {"fn": lambda L, *ts, dim: L.stack(list(ts), dim), "kw": lambda L, *ts, dim: L.stack(list(ts), dim=dim)},
           _stack_samples, ref=lambda *a, dim: np.stack(a, axis=dim), dtypes=(F32, I64)),
    OpInfo("where", {"fn": lambda L, c, a, b: L.where(c, a, b)}, _where_samples, ref=np.where),
    OpInfo("masked_fill", {"method": lambda L, x, m, v: x.masked_fill(m, v)},
           lambda dtype, grad: [sample(f"{s}-{v}", x, np.asarray(x < 0), v)
                                for s in [(3, 4), (2, 3, 4)] for v in (1.5, 9.0)
                                for x in [values("nonzero", s, dtype, rng("masked_fill", s, v))]],
           ref=lambda x, m, v: np.where(m, v, x)),
)


# ===================================================================== views

def view_op(name, fn, ref, shapes, samples_=None, **info):
    """A view of its input: values, gradients and storage sharing (test_view). Samples: one per base
    shape in `shapes`, or the generator `samples_`."""
    samples_ = samples_ or (lambda dtype, grad: [sample(f"{s}", values("any", s, dtype, rng(name, s))) for s in shapes])
    return OpInfo(name, {"method": fn}, samples_, ref=ref, view=info.pop("view", True), dtypes=(F32, F64, I64), **info)


register(
    view_op("reshape", lambda L, t: t.reshape(4, 6), lambda a: a.reshape(4, 6), [(2, 3, 4)], view="copy_ok"),
    view_op("reshape_-1", lambda L, t: t.reshape((6, -1)), lambda a: a.reshape(6, -1), [(2, 3, 4)], view="copy_ok"),
    view_op("reshape_fn", lambda L, t: L.reshape(t, (3, 8)), lambda a: a.reshape(3, 8), [(2, 3, 4)], view="copy_ok"),
    view_op("view_as", lambda L, t: t.contiguous().view_as(L.empty(6, 4)), lambda a: a.reshape(6, 4), [(2, 3, 4)], view="copy_ok"),
    view_op("transpose", lambda L, t: t.transpose(0, 2), lambda a: a.transpose(2, 1, 0), [(2, 3, 4)]),
    view_op("transpose_neg", lambda L, t: t.transpose(-1, -2), lambda a: a.swapaxes(-1, -2), [(2, 3, 4)]),
    view_op("transpose_fn", lambda L, t: L.transpose(t, 0, 1), lambda a: a.swapaxes(0, 1), [(2, 3, 4)]),
    view_op("t", lambda L, t: t.t(), lambda a: a.T, [(3, 4)]),
    view_op("T", lambda L, t: t.T, lambda a: a.T, [(3, 4)]),
    view_op("mT", lambda L, t: t.mT, lambda a: a.swapaxes(-1, -2), [(2, 3, 4)]),
    view_op("permute", lambda L, t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), [(2, 3, 4)]),
    view_op("permute_tuple", lambda L, t: t.permute((1, -1, 0)), lambda a: a.transpose(1, 2, 0), [(2, 3, 4)]),
    view_op("permute_fn", lambda L, t: L.permute(t, (1, 0, 2)), lambda a: a.transpose(1, 0, 2), [(2, 3, 4)]),
    view_op("expand", lambda L, t: t.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), [(3, 1)], view="shared"),
    view_op("expand_-1", lambda L, t: t.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), [(3, 1)], view="shared"),
    view_op("expand_as", lambda L, t: t.expand_as(L.empty(4, 3, 2)), lambda a: np.broadcast_to(a, (4, 3, 2)), [(1, 2), (2,)], view="shared"),
    view_op("squeeze", lambda L, t: t.squeeze(), lambda a: a.squeeze(), [(1, 3, 1, 4), (1, 3, 1, 2)]),
    view_op("squeeze_dim", lambda L, t: t.squeeze(2), lambda a: a.squeeze(2), [(1, 3, 1, 4)]),
    view_op("squeeze_dim_noop", lambda L, t: t.squeeze(1), lambda a: a, [(1, 3, 1, 4)]),
    view_op("squeeze_fn", lambda L, t: L.squeeze(t, 0), lambda a: a.squeeze(0), [(1, 3, 1, 4)]),
    view_op("unsqueeze0", lambda L, t: t.unsqueeze(0), lambda a: a[None], [(3, 4)]),
    view_op("unsqueeze1", lambda L, t: t.unsqueeze(1), lambda a: a[:, None], [(3, 4)]),
    view_op("unsqueeze-1", lambda L, t: t.unsqueeze(-1), lambda a: a[..., None], [(3, 4)]),
    view_op("unsqueeze_fn", lambda L, t: L.unsqueeze(t, 2), lambda a: a[:, :, None], [(3, 4)]),
    view_op("flatten", lambda L, t: t.flatten(), lambda a: a.reshape(-1), [(2, 3, 4)], view="copy_ok"),
    view_op("flatten_12", lambda L, t: t.flatten(1, 2), lambda a: a.reshape(2, 12), [(2, 3, 4)], view="copy_ok"),
    view_op("flatten_fn", lambda L, t: L.flatten(t, 0, 1), lambda a: a.reshape(6, 4), [(2, 3, 4)], view="copy_ok"),
    view_op("select", lambda L, t: t.select(1, 2), lambda a: a[:, 2], [(3, 4, 5), (3, 4, 2)]),
    view_op("select_neg", lambda L, t: t.select(-1, -2), lambda a: a[..., -2], [(3, 4, 5)]),
    view_op("narrow", lambda L, t: t.narrow(1, 1, 2), lambda a: a[:, 1:3], [(3, 4)]),
    view_op("chain", lambda L, t: t.transpose(0, 1)[1:, ::2].unsqueeze(0).permute(2, 1, 0),
            lambda a: a.swapaxes(0, 1)[1:, ::2][None].transpose(2, 1, 0), [(4, 5)]),
    view_op("contiguous", lambda L, t: t.t().contiguous(), lambda a: np.ascontiguousarray(a.T), [(3, 4)], view=False),
    view_op("clone", lambda L, t: t.clone(), lambda a: a.copy(), [(3, 4)], view=False),
)
# reshape, view_as and flatten may copy a non-contiguous base; test_view checks them on contiguous bases only.


# ===================================================================== indexing

BASIC_KEYS = {  # name: (key, base shape)
    "slice": ((slice(1, 3),), (4, 5)), "slice_steps": ((slice(1, 3), slice(None, None, 2)), (4, 5)),
    "slice_steps3": ((slice(None, None, 2), slice(1, None), slice(None, None, 3)), (5, 4, 7)),
    "slice_neg": ((slice(-3, -1), slice(None, -2)), (4, 5)), "slice_clamped": ((slice(2, 100), slice(-100, 3)), (4, 5)),
    "int_index": ((1,), (4, 5)), "int_index_neg": ((slice(None), -1), (4, 5)), "ellipsis": ((Ellipsis, 2), (2, 3, 4)),
    "none": ((None, slice(1, None), None), (3, 4)), "mixed": ((1, slice(None, None, 2), -1), (3, 5, 4)),
    "int_slice_int": ((1, slice(None), -1), (3, 4, 2)), "none_ellipsis": ((None, Ellipsis, 1), (3, 4)),
}
MASK_2D = np.array([[True, False, True, False], [False, False, False, True], [True, True, False, False]])
ADVANCED_KEYS = {  # name: (key with NumPy arrays for index tensors, base shape)
    "rows": ((np.array([2, 0, 2, 1]),), (3, 4)), "rows_neg": ((np.array([-1, 0, -3]),), (3, 4)),
    "rows_2d_idx": ((np.array([[0, 1], [2, 2]]),), (3, 4)), "rows_list": (([1, 1, 0],), (3, 4)),
    "rows_0d_idx": ((np.array(1),), (3, 4)), "cols": ((slice(None), np.array([3, 0, 1])), (3, 4)),
    "cols_neg": ((slice(None), np.array([3, -1, 0])), (3, 4)),
    "pairs": ((np.array([0, 2, 1]), np.array([3, 0, 0])), (3, 4)),
    "pairs_bcast": ((np.array([[0], [2]]), np.array([1, 3, 0])), (3, 4)),
    "pairs_3d_adjacent": ((slice(None), np.array([0, 2]), np.array([1, 3])), (2, 3, 4)),
    "pairs_3d_separated": ((np.array([0, 1, 1]), slice(None), np.array([3, 0, 2])), (2, 3, 4)),
    "idx_then_slice": ((np.array([1, 0]), slice(1, None, 2)), (3, 4)), "int_and_idx": ((1, np.array([2, 0])), (2, 3, 4)),
    "mask_1d": ((np.array([True, False, True]),), (3, 4)),
    "mask_cols": ((slice(None), np.array([False, True, True, False])), (3, 4)),
    "mask_2d": ((MASK_2D,), (3, 4)),
    # a 0-d mask adds an axis of length 1 (True) or 0 (False), as NumPy and torch
    "mask_0d_true": ((np.array(True),), (3, 4)), "mask_0d_false": ((np.array(False),), (3, 4)),
    "mask_0d_true_after_slice": ((slice(1, None), np.array(True)), (3, 4)),
    "empty_idx": ((np.zeros(0, np.int64),), (3, 4)), "empty_pairs": ((np.zeros(0, np.int64), np.zeros(0, np.int64)), (3, 4)),
}


def _key(parts):
    return parts[0] if len(parts) == 1 else tuple(parts)


def _index_samples(keys):
    def samples(dtype, grad):
        return [sample(n, values("any", shape, dtype, rng("index", n)), *key, diff=(0,)) for n, (key, shape) in keys.items()]
    return samples


def _positive_mask_samples(dtype, grad):
    """x[x > 0] and masks over rows, and a mask selecting everything."""
    out = []
    for shape in [(7,), (3, 4), (2, 3, 4)]:
        x = values("nonzero", shape, dtype, rng("mask", shape))
        out.append(sample(f"{shape}-positive", x, np.asarray(x > 0), diff=(0,)))
        out.append(sample(f"{shape}-rows", x, np.asarray(x.reshape(shape[0], -1).sum(1) > 0), diff=(0,)))
        out.append(sample(f"{shape}-all", x, np.ones(shape, bool), diff=(0,)))
    return out


register(
    view_op("getitem_basic", lambda L, t, *key: t[_key(key)], lambda a, *key: a[_key(key)], [], _index_samples(BASIC_KEYS)),
    OpInfo("getitem_advanced", {"op": lambda L, t, *key: t[_key(key)]}, _index_samples(ADVANCED_KEYS),
           ref=lambda a, *key: a[_key(key)], dtypes=(F32, F64, I64)),
    OpInfo("getitem_mask", {"op": lambda L, t, m: t[m]}, _positive_mask_samples, ref=lambda a, m: a[m], dtypes=(F32, I64)),
    OpInfo("index_select", {"method": lambda L, t, d, i: t.index_select(d, i), "fn": lambda L, t, d, i: L.index_select(t, d, i)},
           lambda dtype, grad: [sample(f"dim{d}", values("any", (3, 4), dtype, rng("index_select", d)), d, np.array(i), diff=(0,))
                                for d, i in [(0, [2, 0, 2, 1]), (1, [2, 0, 2]), (-1, [3, 3])]],
           ref=lambda a, d, i: np.take(a, i, axis=d), dtypes=(F32, F64, I64)),
)


# ===================================================================== composites: several ops in one graph

def composite(name, fn, specs, only=("grad", "torch"), **info):
    """A small graph of several ops, checked by gradcheck and against torch (no reference of its own: each op
    in it has a record). specs: [(shape, domain), ...] of the differentiable inputs."""
    def samples(dtype, grad):
        r = rng("composite", name)
        return [sample("", *(values(dom, shape, F64, r) for shape, dom in specs), only=only)]
    return OpInfo(name, {"fn": fn}, samples, dtypes=(), **info)


def _i(L, v):
    return L.tensor(np.asarray(v, dtype=np.int64))


register(
    composite("same_input_twice", lambda L, a: a * a + a.exp() - a / (a * a + 1), [((2, 3), "any")]),
    composite("bcast_0d", lambda L, a, b: a * b - b / (a * a + 1), [((), "any"), ((2, 3), "any")]),
    composite("scalars", lambda L, a: (2 - a) * 3 + a / 4 - 1.5 / (a * a + 1) + a ** 2 + 2 ** a, [((2, 3), "any")]),
    composite("unary_0d", lambda L, a: a.exp().sigmoid(), [((), "any")]),
    composite("sum_0d", lambda L, a: a.sum() * a.mean(), [((), "any")]),
    composite("neg_abs", lambda L, a: -a.abs(), [((3, 4), "nonzero")]),
    composite("sign_times", lambda L, a: a.sign() * a, [((3, 4), "nonzero")]),
    composite("matmul_transposed", lambda L, a, b: a.mT @ b.t(), [((4, 3), "any"), ((5, 4), "any")], torch_tol=MM_TOL),
    composite("matmul_expanded_batch", lambda L, a, b: a.expand(2, 3, 4) @ b, [((1, 3, 4), "any"), ((2, 4, 2), "any")], torch_tol=MM_TOL),
    composite("softmax_size1_dim", lambda L, a: a.softmax(1) + a.log_softmax(1), [((3, 1), "any")], torch_tol=MM_TOL),
    composite("stack_repeated", lambda L, a, b: L.stack([a, b, a], -1), [((2, 3), "any"), ((2, 3), "any")]),
    composite("where_compare", lambda L, a, b: L.where(a > b, a, b * 2), [((3, 4), "any"), ((3, 4), "any")]),
    composite("where_bcast_cond", lambda L, a, b: L.where(L.tensor([[True], [False], [True]]), a, b), [((1, 4), "any"), ((3, 4), "any")]),
    composite("gather_3d", lambda L, a: a[_i(L, [1, 0]), :, _i(L, [2, 2])], [((2, 3, 4), "any")]),
    composite("transpose_permute", lambda L, a: a.transpose(0, 2).permute(1, 0, 2), [((2, 3, 4), "any")]),
    composite("squeeze_unsqueeze", lambda L, a: a.squeeze().unsqueeze(-1), [((1, 3, 1, 2), "any")]),
    composite("select_narrow", lambda L, a: a.select(0, -1).narrow(0, 1, 2), [((3, 4), "any")]),
    composite("views_chain", lambda L, a: (a.transpose(0, 1)[1:, ::2].unsqueeze(0) * 2).sum(1), [((4, 5), "any")]),
    composite("expand_as_mul", lambda L, a: a.expand_as(L.empty(2, 3)) * 1.0, [((3,), "any")]),
    composite("view_of_contiguous", lambda L, a: a.contiguous().view(6, 4), [((2, 3, 4), "any")]),
    composite("linear_softmax", lambda L, x, w, b: (x @ w + b).log_softmax(-1), [((3, 4), "any"), ((4, 5), "any"), ((5,), "any")], torch_tol=MM_TOL),
    composite("mlp", lambda L, x, w1, w2: (L.leaky_relu(x @ w1, 0.1).tanh() @ w2).log_softmax(-1),
              [((3, 4), "any"), ((4, 5), "any"), ((5, 2), "any")], torch_tol=MM_TOL),
    # at kinks and zeros: torch's conventions for the gradient of x ** 0, 0 ** y, where at ties
    composite("zero_pow_2", lambda L, a: a ** 2, [((3, 4), "kinks")], only={"torch"}),
    composite("zero_pow_1", lambda L, a: a ** 1, [((3, 4), "kinks")], only={"torch"}),
    composite("zero_pow_0", lambda L, a: a ** 0, [((3, 4), "kinks")], only={"torch"}),
    composite("zero_pow_tensor", lambda L, a, b: a.abs() ** b, [((3, 4), "kinks"), ((4,), "kinks_exp")], only={"torch"}),
    composite("zero_where", lambda L, a, b: L.where(a > 0, a, b), [((3, 4), "kinks"), ((4,), "kinks_exp")], only={"torch"}),
)


# ===================================================================== nn.functional
# Float32 checks of long sums: the reference tolerance at float32, and torch's atol scaled by the largest value.
NN_TOL = {F64: dict(rtol=1e-10, atol=1e-10), F32: dict(rtol=2e-4, atol=2e-5)}


def nn_op(name, variants, samples_, ref=None, ref_grad=None, torch_tol=None, grad_ref_dtypes=(F64,), **info):
    return OpInfo(name, variants, samples_, ref=ref, ref_grad=ref_grad, tol=info.pop("tol", NN_TOL), grad_ref_dtypes=grad_ref_dtypes,
                  torch_tol=torch_tol or dict(rtol=1e-5, atol=1e-6), torch_scaled=True, **info)


def F_call(fname):
    """The nn.functional variant: L.F.<fname>(*inputs, **kwargs)."""
    return {"F": lambda L, *a, **kw: getattr(L.F, fname)(*a, **kw)}


def _u(shape, key, lo=-1.5, hi=1.5):
    return uniform(shape, key, lo, hi)


def _normal(shape, key):
    return rng("normal", key, shape).standard_normal(shape)


FD_TOL = dict(rtol=1e-6, atol=1e-7)  # backward vs central differences of the NumPy forward
NO_GRAD = {"ref", "torch"}  # larger samples: the full Jacobian of gradcheck would be slow; backward is checked against the reference


# ---- linear
def _linear_samples(dtype, grad):
    out = [sample(f"{xs}-{o}-bias{b}", _normal(xs, "lx"), _normal((o, xs[-1]), "lw"), _normal((o,), "lb") if b else None, only=NO_GRAD)
           for xs, o, b in [((5, 4), 3, True), ((2, 3, 4), 3, False), ((4,), 2, True), ((2, 1, 2, 3), 5, True), ((0, 4), 3, True),
                            ((3, 1), 1, True), ((5, 7), 3, True), ((2, 4, 6), 5, False), ((6,), 2, True)]]
    out += [sample("small", _u((3, 4), "lx"), _u((2, 4), "lw"), _u((2,), "lb")),
             sample("3d_nobias", _u((2, 2, 3), "lx"), _u((4, 3), "lw"), None),
             sample("1d_input", _u((3,), "lx"), _u((2, 3), "lw"), _u((2,), "lb")),
             sample("weight_only", _u((4, 3), "lx"), _u((2, 3), "lw"), None, diff=(1,))]
    return out


register(nn_op("linear", F_call("linear"), _linear_samples, ref=R.linear, ref_grad=R.linear_grad, grad_ref_dtypes=(F64, F32),
               torch_tol=dict(rtol=1e-5, atol=1e-5)))


# ---- convolution: (x shape, w shape, stride, padding, dilation, groups, bias)
CONV_CASES = {
    1: {"basic": ((2, 3, 10), (4, 3, 3), 1, 0, 1, 1, True), "stride_pad_groups": ((2, 4, 11), (6, 2, 3), 2, 1, 1, 2, True),
        "dilation_bigpad": ((1, 2, 9), (2, 2, 2), 1, 2, 3, 1, False), "depthwise_same": ((3, 4, 7), (4, 1, 3), 1, "same", 1, 4, True),
        "same_dilated": ((2, 2, 8), (3, 2, 3), 1, "same", 2, 1, True), "unbatched": ((3, 8), (2, 3, 3), 3, (2,), 1, 1, True),
        "valid_full_kernel": ((2, 2, 6), (3, 2, 6), 1, "valid", 1, 1, True), "pointwise_groups": ((2, 4, 5), (6, 2, 1), 1, 0, 1, 2, True),
        "k1_stride2": ((2, 3, 7), (2, 3, 1), 2, 0, 1, 1, False), "k1_pad1": ((1, 3, 4), (2, 3, 1), 1, 1, 1, 1, True),
        "stride_gt_kernel": ((2, 2, 13), (3, 2, 2), 4, 1, 2, 1, True), "pad1": ((2, 3, 12), (4, 3, 3), 1, 1, 1, 1, True),
        "stride_dil_groups": ((2, 4, 15), (6, 2, 3), 2, 2, 2, 2, True), "same5": ((2, 3, 9), (2, 3, 5), 1, "same", 1, 1, True),
        "valid_unbatched_stride3": ((3, 10), (2, 3, 4), 3, "valid", 1, 1, False)},
    2: {"basic": ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1, 1, 1, True), "mixed": ((2, 4, 7, 8), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2, True),
        "depthwise": ((1, 6, 9, 7), (6, 1, 3, 3), (2, 3), (2, 1), (2, 1), 6, False), "valid_full": ((2, 3, 5, 5), (2, 3, 5, 5), 1, "valid", 1, 1, True),
        "same_dilated": ((2, 2, 8, 8), (3, 2, 3, 3), 1, "same", (2, 3), 1, True), "unbatched": ((3, 5, 6), (2, 3, 2, 2), (1, 2), 0, 1, 1, True),
        "pointwise_groups": ((2, 6, 4, 5), (4, 3, 1, 1), 1, 0, 1, 2, True), "stride_gt_kernel": ((1, 2, 9, 9), (2, 2, 2, 2), 3, 0, 1, 1, False),
        "groups3_og3": ((2, 6, 5, 5), (9, 2, 3, 3), 1, 1, 1, 3, True), "pad_exceeds_input": ((1, 1, 3, 3), (1, 1, 3, 3), 1, 2, 1, 1, True),
        "rect_kernel_stride": ((2, 2, 7, 9), (2, 2, 1, 4), (3, 2), (0, 2), (1, 1), 1, True),
        "pad1_8x8": ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1, 1, True), "mixed_9x10": ((2, 4, 9, 10), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2, True),
        "depthwise_dil": ((2, 4, 7, 7), (8, 1, 3, 3), 1, 2, 2, 4, True), "same_dil_21": ((1, 2, 6, 7), (3, 2, 3, 3), 1, "same", (2, 1), 1, True),
        "pointwise": ((2, 6, 5, 5), (4, 3, 1, 1), 1, 0, 1, 2, True), "unbatched_s12": ((3, 6, 5), (2, 3, 2, 2), (1, 2), 0, 1, 1, True),
        "large": ((4, 16, 16, 16), (32, 16, 3, 3), 1, 1, 1, 1, True), "zero_batch": ((0, 3, 5, 5), (2, 3, 3, 3), 1, 1, 1, 1, True)},
    3: {"basic": ((2, 2, 4, 4, 4), (3, 2, 2, 2, 2), 1, 0, 1, 1, True), "mixed": ((1, 4, 5, 4, 6), (4, 2, 3, 1, 2), (2, 1, 2), (1, 0, 1), (1, 1, 2), 2, True),
        "unbatched_same": ((2, 4, 4, 4), (2, 2, 3, 3, 3), 1, "same", 1, 1, False),
        "groups_dilation": ((2, 3, 3, 5, 4), (6, 1, 1, 3, 3), 1, 1, (1, 2, 1), 3, True),
        "pad1_stride2": ((2, 2, 5, 5, 5), (3, 2, 3, 3, 3), 2, 1, 1, 1, True),
        "groups_dil_pad": ((1, 4, 4, 6, 5), (4, 2, 2, 3, 2), 1, (0, 1, 1), (1, 2, 1), 2, True)},
}
# small enough for gradcheck: (x shape, w shape, bias, kwargs)
CONV_GRAD_CASES = {
    1: {"plain": ((2, 2, 7), (3, 2, 3), True, {}), "stride_pad_dil": ((2, 2, 9), (2, 2, 3), True, dict(stride=2, padding=2, dilation=2)),
        "groups": ((1, 4, 6), (4, 2, 2), True, dict(groups=2, padding=1)), "same": ((1, 2, 6), (2, 2, 3), False, dict(padding="same", dilation=2)),
        "unbatched": ((2, 6), (2, 2, 3), True, dict(stride=2))},
    2: {"plain": ((2, 2, 4, 4), (3, 2, 3, 3), True, dict(padding=1)), "stride": ((1, 2, 5, 5), (2, 2, 3, 3), True, dict(stride=2)),
        "dilation": ((1, 2, 5, 6), (2, 2, 2, 2), True, dict(dilation=(2, 3), padding=(1, 2))),
        "groups": ((1, 4, 4, 4), (4, 2, 2, 2), True, dict(groups=2, stride=(1, 2))),
        "depthwise": ((2, 3, 4, 4), (3, 1, 3, 3), True, dict(groups=3, padding=1, stride=2)),
        "pointwise_groups": ((1, 4, 3, 3), (6, 2, 1, 1), True, dict(groups=2)),
        "nobias_same": ((1, 2, 4, 4), (2, 2, 3, 3), False, dict(padding="same", dilation=(1, 2))),
        "unbatched": ((2, 4, 4), (2, 2, 2, 3), True, dict(padding=(1, 0)))},
    3: {"plain": ((1, 2, 3, 3, 3), (2, 2, 2, 2, 2), True, dict(padding=1, stride=2)),
        "groups_dil": ((1, 2, 3, 4, 4), (2, 1, 2, 2, 2), True, dict(groups=2, dilation=(1, 2, 1)))},
}


def _conv_samples(nd):
    def samples(dtype, grad):
        out = []
        for n, (xs, ws, stride, padding, dilation, groups, bias) in CONV_CASES[nd].items():
            b = _normal(ws[:1], ("b", nd, n)) if bias else None
            out.append(sample(n, _normal(xs, ("x", nd, n)), _normal(ws, ("w", nd, n)), b, only=NO_GRAD,
                              kwargs=dict(stride=stride, padding=padding, dilation=dilation, groups=groups)))
        for n, (xs, ws, bias, kw) in CONV_GRAD_CASES[nd].items():
            out.append(sample(f"grad-{n}", _u(xs, "cx"), _u(ws, "cw"), _u(ws[:1], "cb") if bias else None, kwargs=kw))
        if nd == 2:  # only some of (input, weight, bias) require grad
            x, w, b = _u((1, 2, 4, 4), "cx"), _u((2, 1, 2, 2), "cw"), _u((2,), "cb")
            for which in ["x", "w", "b", "xb", "wb"]:
                out.append(sample(f"grad-only-{which}", x, w, b, kwargs=dict(groups=2, padding=1, stride=2),
                                  diff=tuple(i for i, k in enumerate("xwb") if k in which)))
        return out
    return samples


for _nd in (1, 2, 3):
    register(nn_op(f"conv{_nd}d", F_call(f"conv{_nd}d"), _conv_samples(_nd), ref=R.conv, ref_grad=R.conv_grad,
                   grad_ref_dtypes=(F64, F32), torch_tol=dict(rtol=1e-4, atol=2e-5)))


# ---- pooling: (shape, kernel, stride, padding, ceil_mode)
POOL2D = [((2, 3, 6, 6), 2, None, 0, False), ((2, 2, 7, 7), 3, 2, 1, False), ((2, 2, 7, 7), 3, 2, 1, True),
          ((1, 2, 5, 8), (2, 3), (1, 2), (1, 1), True), ((2, 1, 7, 5), (3, 2), (2, 2), (1, 0), True), ((1, 3, 4, 4), 4, 1, 2, False),
          ((2, 2, 9, 9), 3, 3, 0, True), ((1, 1, 10, 10), 3, 4, 1, True), ((1, 2, 6, 6), 5, 2, 2, True), ((3, 5, 5), 2, 1, 0, False),
          ((1, 2, 7, 6), 1, 2, 0, False), ((1, 2, 8, 5), (4, 2), (3, 1), (2, 1), False),
          ((2, 2, 7, 8), 3, 2, 1, False), ((1, 2, 8, 7), (3, 2), (2, 2), (1, 1), True), ((1, 2, 5, 5), 3, 1, 0, False),
          ((3, 5, 5), 2, 2, 1, True), ((1, 2, 6, 7), (5, 3), (2, 2), (2, 1), True), ((1, 1, 6, 6), 5, 2, 2, True), ((3, 4, 5), 2, 1, 0, False)]
POOL1D = [((2, 3, 8), 2, None, 0, False), ((2, 2, 9), 3, 2, 1, False), ((2, 2, 9), 3, 2, 1, True), ((1, 2, 10), 5, 2, 2, True),
          ((1, 1, 10), 3, 4, 1, True), ((3, 7), 2, 1, 0, False), ((2, 2, 6), 4, 3, 2, False), ((1, 3, 7), 1, 2, 0, True),
          ((2, 3, 10), 3, 2, 1, True), ((3, 9), 2, None, 0, False), ((2, 2, 9), 4, 3, 2, True)]
POOL_GRAD = {  # small enough for gradcheck: (shape, kernel, stride, padding, ceil_mode)
    (2, "max"): [((1, 2, 4, 4), 2, None, 0, False), ((2, 1, 5, 5), 3, 2, 1, False), ((1, 2, 4, 5), (2, 3), (1, 2), (1, 1), True),
                 ((2, 3, 3), 2, 1, 0, False)],
    (1, "max"): [((2, 2, 7), 3, 2, 1, True)],
    (2, "avg"): [((1, 2, 4, 4), 2, None, 0, False), ((1, 2, 6, 5), 3, 2, 1, True)],
    (1, "avg"): [((2, 2, 8), 4, 3, 2, False)],
}


def _pool_samples(nd, kind):
    def one(case, key, **opts):
        shape, k, s, p, ceil = case
        x = distinct(shape, (key, case), 0.37) if kind == "max" else _normal(shape, (key, case))
        return [sample(f"{case}" + ("" if cip is None else f"-cip{cip}"), x, k, s, p,
                       kwargs=dict(ceil_mode=ceil, **({} if cip is None else {"count_include_pad": cip})), **opts)
                for cip in ([None] if kind == "max" else [True, False])]

    def samples(dtype, grad):
        out = [s for case in (POOL2D if nd == 2 else POOL1D) for s in one(case, "pool", only=NO_GRAD)]
        out += [s for case in POOL_GRAD[(nd, kind)] for s in one(case, "grad")]
        if kind == "max" and nd == 2:  # all negative: padding must act as -inf, not 0
            out.append(sample("negative", -np.abs(distinct((2, 3, 5, 6), "neg", 0.37)) - 1.0, 3, 2, 1, only=NO_GRAD))
        return out
    return samples


for _nd in (1, 2):
    for _kind in ("max", "avg"):
        _ref, _ref_grad = R.pool(_kind, _nd)
        register(nn_op(f"{_kind}_pool{_nd}d", F_call(f"{_kind}_pool{_nd}d"), _pool_samples(_nd, _kind), ref=_ref, ref_grad=_ref_grad,
                       grad_ref_dtypes=(F64, F32) if _nd == 2 else (F64,),
                       torch_tol=dict(rtol=0, atol=0) if _kind == "max" else dict(rtol=1e-6, atol=1e-6)))


ADAPTIVE = [((2, 3, 7, 5), (3, 2)), ((1, 2, 6, 6), 3), ((1, 1, 5, 7), (5, 7)), ((2, 2, 5, 7), 1), ((1, 2, 5, 4), (7, 6)),
            ((3, 5, 6), (2, 4)), ((2, 1, 9, 4), (4, 3)), ((2, 3, 6, 5), (None, 3)), ((2, 3, 6, 5), (2, None)),
            ((1, 2, 9, 6), 4), ((3, 5, 6), 1), ((1, 2, 5, 6), (None, 3))]
register(nn_op("adaptive_avg_pool2d", F_call("adaptive_avg_pool2d"),
               lambda dtype, grad: [sample(f"{s}-{o}", _normal(s, ("ad", s)), o, only=NO_GRAD) for s, o in ADAPTIVE]
               + [sample("grad-(3, 2)", _u((1, 2, 5, 5), "aap"), (3, 2)), sample("grad-up", _u((2, 3, 2), "aap"), (4, 3))],
               ref=R.adaptive_avg_pool2d, ref_grad=R.adaptive_avg_pool2d_grad, torch_tol=dict(rtol=1e-6, atol=1e-6)))


# ---- batch norm: x, running_mean, running_var, weight, bias
def _bn_samples(dtype, grad):
    def bn_sample(*a, **kw):  # running stats are updated in place: they must be contiguous
        return sample(*a, contig=(1, 2), **kw)

    out = []
    for shape in [(4, 3), (3, 2, 4), (2, 2, 2, 3), (8, 3), (4, 3, 5), (2, 4, 3, 3), (2, 2, 2, 3, 2)]:
        C = shape[1]
        r = rng("bn", shape)
        x, rm, rv = r.standard_normal(shape) * 2 + 1, r.standard_normal(C) * 0.2, r.uniform(0.5, 2, C)
        w, b = r.uniform(0.5, 1.5, C), r.standard_normal(C)
        for training in (True, False):
            kw = dict(training=training, eps=1e-5 if training else 1e-4)
            out.append(bn_sample(f"{shape}-train{training}", x, rm, rv, w, b, kwargs=kw, diff=(0, 3, 4), only=NO_GRAD))
            out.append(bn_sample(f"{shape}-train{training}-plain", x, rm, rv, None, None, kwargs=kw, diff=(0,), only=NO_GRAD))
    out.append(bn_sample("no_running_stats", _normal((4, 3, 5), "bnx") * 3, None, None, _u((3,), "w", 0.5, 1.5), _u((3,), "b"),
                      kwargs=dict(training=True), diff=(0, 3, 4), only=NO_GRAD))
    for n, shape, training, affine, stats in [("train_2d", (4, 3), True, True, True), ("train_4d", (2, 2, 3, 2), True, True, True),
                                              ("train_3d_no_stats", (3, 2, 3), True, True, False), ("train_no_affine", (3, 2, 3), True, False, True),
                                              ("eval_2d", (4, 3), False, True, True), ("eval_4d", (2, 2, 3, 2), False, True, True),
                                              ("eval_no_affine", (3, 2, 3), False, False, True)]:
        C = shape[1]
        rm, rv = (_u((C,), "rm") * 0.3, _u((C,), "rv", 0.5, 2.0)) if stats else (None, None)
        wb = (_u((C,), "bnw", 0.5, 1.5), _u((C,), "bnb")) if affine else (None, None)
        out.append(bn_sample(f"grad-{n}", _u(shape, "bnx") * 2, rm, rv, *wb, kwargs=dict(training=training), diff=(0, 3, 4) if affine else (0,)))
    x0, w0, b0 = _u((3, 2, 2), "sx"), _u((2,), "sw", 0.5, 1.5), _u((2,), "sb")
    for which in ["x", "w", "b", "xw", "wb"]:  # only some of (input, weight, bias) require grad
        out.append(bn_sample(f"grad-only-{which}", x0, None, None, w0, b0, kwargs=dict(training=True),
                          diff=tuple(i for i, k in zip((0, 3, 4), "xwb") if k in which)))
    return out


register(nn_op("batch_norm", F_call("batch_norm"), _bn_samples, ref=R.batch_norm, ref_grad=R.fd_adjoint(R.batch_norm), grad_tol=FD_TOL,
               tol={F64: dict(rtol=1e-10, atol=1e-10), F32: dict(rtol=1e-4, atol=1e-5)}, torch_tol=dict(rtol=1e-4, atol=2e-5)))


# ---- dropout: random masks. The forward and backward at fixed masks (reseeded before every call) are checked by
# gradcheck; p=0, p=1 and eval mode against torch; the masks' statistics in test_nn_stateful.
def _seeded(fname):
    def fn(L, *a, **kw):
        L.manual_seed(5)
        return getattr(L.F, fname)(*a, **kw)
    return fn


register(
    nn_op("dropout", {"F": _seeded("dropout")},
          fixed(sample("p0.4", _u((3, 5), "dr"), 0.4, only={"grad"}), sample("eval", _u((3, 5), "dr"), 0.4, kwargs=dict(training=False)),
                sample("p0", _u((3, 4), "d"), 0.0, only={"torch"}), sample("p1", _u((3, 4), "d"), 1.0, only={"torch"}),
                sample("eval0.5", _u((3, 4), "d"), 0.5, kwargs=dict(training=False), only={"torch"})),
          torch_tol=dict(rtol=0, atol=0)),
    nn_op("dropout2d", {"F": _seeded("dropout2d")},
          fixed(sample("p0.5", _u((2, 3, 2, 2), "dr2"), 0.5, only={"grad"}),
                sample("eval", _u((2, 3, 2, 2), "d"), 0.5, kwargs=dict(training=False), only={"torch", "grad"})),
          torch_tol=dict(rtol=0, atol=0)),
)


# ---- losses: backward vs central differences of the NumPy forward
RED = ["none", "mean", "sum"]
LOSS_TOL = {F64: dict(rtol=1e-12, atol=1e-12)}  # the losses' float32 results are checked against torch


def loss_op(name, samples_, ref, variants=None, **info):
    return nn_op(name, variants or F_call(name), samples_, ref=ref, ref_grad=R.fd_adjoint(ref), grad_tol=info.pop("grad_tol", dict(rtol=1e-6, atol=1e-8)),
                 tol=info.pop("tol", LOSS_TOL), dtypes=(F64,), **info)


def _elementwise_loss_samples(name):
    def samples(dtype, grad):
        out = []
        for shape in [(5,), (3, 4), (2, 3, 2)]:
            for red in RED:
                r = rng(name, shape, red)
                t = r.standard_normal(shape)
                x = t + r.uniform(0.1, 1.0, shape) * r.choice([-1, 1], shape) if name == "l1_loss" else r.standard_normal(shape)
                out.append(sample(f"{shape}-{red}", x, t, kwargs={"reduction": red}, only=NO_GRAD))
        mse = name == "mse_loss"
        out += [sample("grad-mean", _u((3, 4), "mx") + (0 if mse else 0.5), _u((3, 4), "mt" if mse else "lt")),
                sample("grad-sum", _u((5,), "mx"), _u((5,), "mt"), kwargs={"reduction": "sum"}) if mse else
                sample("grad-sum", np.array([0.5, -1.0, 2.0, 0.1]), np.array([0.0, 1.0, 1.5, -0.4]), kwargs={"reduction": "sum"}),
                sample("grad-none", _u((2, 3), "mx" if mse else "lt") - (0 if mse else 0.3), _u((2, 3), "mt" if mse else "lt"), kwargs={"reduction": "none"}),
                sample("torch-mean", _u((4, 5), "mi") + (0 if mse else 3.5), _u((4, 5), "mt" if mse else "lt"), only={"torch"}),
                sample("torch-sum", _u((3, 2, 2), "mi"), _u((3, 2, 2), "mt"), kwargs={"reduction": "sum"}, only={"torch"}),
                sample("torch-none", _u((3, 4), "li") - (0 if mse else 3.5), _u((3, 4), "lt"), kwargs={"reduction": "none"}, only={"torch"}),
                sample("nonfinite", np.array([np.inf, -np.inf, np.nan, 1, 2, np.inf]), np.array([np.inf, 0, 0, np.inf, 2, 1]),
                       kwargs={"reduction": "none"}, only={"torch"})]
        return out
    return samples


def _bce_samples(dtype, grad):
    out = []
    for shape in [(6,), (3, 4), (2, 2, 3)]:
        for red in RED:
            for weighted in (False, True):
                r = rng("bce", shape, red, weighted)
                x, t = r.uniform(0.05, 0.95, shape), r.uniform(0, 1, shape)
                w = r.uniform(0.5, 2, shape[-1:]) if weighted else None
                out.append(sample(f"{shape}-{red}-w{weighted}", x, t, w, kwargs={"reduction": red}, diff=(0, 1), only=NO_GRAD))
    # probabilities of exactly 0 or 1: the log terms clamp at -100, and the gradient is PyTorch's finite
    # (p - y) / max(p (1 - p), 1e-12), not 0 * inf
    out += [sample("clamped_log", np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 1.0]), kwargs={"reduction": "none"},
                   diff=(), only={"ref"}),
            sample("grad-mean", _u((3, 4), "bx", 0.1, 0.9), _u((3, 4), "bt", 0, 1)),
            sample("grad-none-weight", _u((2, 3), "bx", 0.1, 0.9), _u((2, 3), "bt", 0, 1), _u((3,), "bw", 0.5, 2), kwargs={"reduction": "none"}, diff=(0, 1)),
            sample("grad-sum", _u((5,), "bx", 0.05, 0.95), _u((5,), "bt", 0, 1), kwargs={"reduction": "sum"}),
            sample("torch-mean", _u((4, 5), "bi", 0.02, 0.98), _u((4, 5), "bt", 0, 1), only={"torch"}),
            sample("torch-weight-sum", _u((3, 4), "bi", 0.02, 0.98), _u((3, 4), "bt", 0, 1), _u((4,), "bw", 0.5, 2), kwargs={"reduction": "sum"},
                   diff=(0, 1), only={"torch"}),
            sample("torch-hard-targets", _u((3, 4), "bi", 0.02, 0.98), rng("hard").integers(0, 2, (3, 4)).astype(np.float64),
                   kwargs={"reduction": "none"}, diff=(0,), only={"torch"}),
            sample("edges-none", np.array([0, 1, 0, 1, 0, 1, 0.5]), np.array([1, 0, 0, 1, 0.5, 0.5, 1.0]), kwargs={"reduction": "none"}, only={"torch"}),
            sample("edges-weight-mean", np.array([[0, 1, 0.3], [1, 0, 0.7]]), np.array([[1, 0, 1], [0.25, 1, 0]]), _u((3,), "bw", 0.5, 2),
                   diff=(0, 1), only={"torch"})]
    return out


def _bce_logits_samples(dtype, grad):
    out = []
    for red in RED:
        for opts in ["plain", "weight", "pos_weight", "both"]:
            r = rng("bcel", red, opts)
            x, t = r.standard_normal((3, 4)) * 3, r.uniform(0, 1, (3, 4))
            w = r.uniform(0.5, 2, (3, 1)) if opts in ("weight", "both") else None
            pw = r.uniform(0.5, 3, (4,)) if opts in ("pos_weight", "both") else None
            out.append(sample(f"{red}-{opts}", x, t, w, pw, kwargs={"reduction": red}, diff=(0, 1), only=NO_GRAD))
    out += [sample("extreme", np.array([-200.0, -50.0, 0.0, 50.0, 200.0]), np.array([1.0, 0.0, 0.5, 1.0, 0.0]), kwargs={"reduction": "none"},
                   diff=(0,), only=NO_GRAD),
            sample("grad-mean", _u((3, 4), "blx") * 3, _u((3, 4), "blt", 0, 1)),
            sample("grad-pos_weight-sum", _u((3, 4), "blx") * 3, _u((3, 4), "blt", 0, 1), None, _u((4,), "pw", 0.5, 3), kwargs={"reduction": "sum"},
                   diff=(0, 1)),
            sample("grad-weight-none", _u((2, 3), "blx") * 3, _u((2, 3), "blt", 0, 1), _u((2, 1), "bw", 0.5, 2), kwargs={"reduction": "none"},
                   diff=(0, 1)),
            sample("torch-mean", _u((4, 5), "bl") * 5, _u((4, 5), "blt", 0, 1), only={"torch"}),
            sample("torch-pos_weight", _u((4, 5), "bl") * 5, _u((4, 5), "blt", 0, 1), None, _u((5,), "pw", 0.3, 4), diff=(0, 1), only={"torch"}),
            sample("torch-weight-pw-none", _u((3, 4), "bl") * 5, _u((3, 4), "blt", 0, 1), _u((3, 1), "w", 0.5, 2), _u((4,), "pw", 0.3, 4),
                   kwargs={"reduction": "none"}, diff=(0, 1), only={"torch"}),
            sample("torch-extreme", np.array([-120.0, -40, -5, 0, 5, 40, 120]), np.array([1, 0, 1, 0.5, 0, 1, 0]), kwargs={"reduction": "sum"},
                   diff=(0,), only={"torch"}),
            sample("nonfinite", np.array([np.inf, -np.inf, np.inf, -np.inf, np.nan, 1]), np.array([1, 0, 0, 1, 1, np.nan]),
                   kwargs={"reduction": "none"}, diff=(0,), only={"torch"})]
    return out


NLL_CASES = {  # name: (input shape, weighted, ignore_index, number of ignored targets (None: whatever is drawn))
    "2d": ((5, 4), False, -100, 0), "2d_weight": ((6, 3), True, -100, 0), "2d_ignore": ((6, 4), False, 1, None),
    "2d_weight_ignore_neg": ((7, 3), True, -1, 2), "spatial": ((2, 3, 4), False, -100, 0),
    "spatial2d_weight_ignore": ((2, 4, 3, 2), True, 2, None), "unbatched": ((5,), False, -100, 0), "unbatched_weight": ((4,), True, -100, 0),
}


def _nll_data(name):
    shape, weighted, ii, n_ign = NLL_CASES[name]
    r = rng("nll", name)
    C = shape[0] if len(shape) == 1 else shape[1]
    x = r.standard_normal(shape) * 2
    t = r.integers(0, C, () if len(shape) == 1 else (shape[0],) + shape[2:])
    if n_ign:
        t.reshape(-1)[:n_ign] = ii
    return x, np.asarray(t, dtype=np.int64), (r.uniform(0.2, 2.0, C) if weighted else None), ii


def _nll_samples(dtype, grad):
    out = []
    for n in NLL_CASES:
        x, t, w, ii = _nll_data(n)
        for red in RED:
            out.append(sample(f"{n}-{red}", R.log_softmax_np(x, 0 if x.ndim == 1 else 1), t, w, kwargs=dict(ignore_index=ii, reduction=red),
                              diff=(0,), only=NO_GRAD))
    out += [sample("all_ignored-mean", R.log_softmax_np(_normal((3, 4), "allign")), np.full(3, -100, np.int64), diff=(), only={"ref"}),
            sample("all_ignored-sum", R.log_softmax_np(_normal((3, 4), "allign")), np.full(3, -100, np.int64), kwargs={"reduction": "sum"},
                   diff=(), only={"ref"}),
            # a target equal to ignore_index is skipped even though it is not a valid class
            sample("ignored_out_of_range", R.log_softmax_np(_normal((3, 4), "ign")), idx([0, 9, 3]), kwargs=dict(ignore_index=9, reduction="sum")),
            sample("grad-mean", _u((4, 3), "nx"), idx([0, 2, 1, 2])),
            sample("grad-weight-ignore", _u((5, 3), "nx"), idx([0, 1, 2, 2, 0]), np.array([0.5, 2.0, 1.5]), kwargs={"ignore_index": 1}, diff=(0,)),
            sample("grad-spatial-none", _u((2, 3, 2), "nx"), idx([[0, 2], [1, 1]]), kwargs={"reduction": "none"}),
            sample("grad-unbatched-sum", _u((4,), "nx"), idx(2), kwargs={"reduction": "sum"}),
            sample("torch-mean", _u((5, 4), "n"), idx([0, 3, 1, 2, 3]), only={"torch"}),
            sample("torch-weight-ignore-none", _u((5, 4), "n"), idx([0, 2, 1, 2, 3]), _u((4,), "nw", 0.3, 2),
                   kwargs=dict(ignore_index=2, reduction="none"), diff=(0,), only={"torch"}),
            sample("torch-spatial-weight", _u((2, 3, 2, 3), "n"), rng("nt").integers(0, 3, (2, 2, 3)), _u((3,), "nw", 0.3, 2), diff=(0,), only={"torch"}),
            sample("nonfinite", NONFINITE_ROWS, NONFINITE_TARGETS, kwargs={"reduction": "none"}, only={"torch"})]
    return out


def _ce_samples(dtype, grad):
    out = []
    for n in NLL_CASES:
        x, t, w, ii = _nll_data(n)
        for red in RED:
            for sm in (0.0, 0.25):
                out.append(sample(f"{n}-{red}-smoothing{sm}", x, t, w, kwargs=dict(ignore_index=ii, reduction=red, label_smoothing=sm),
                                  diff=(0,), only=NO_GRAD))
    for shape in [(4, 5), (2, 3, 2, 2), (4,)]:  # class probabilities as targets
        axis = 0 if len(shape) == 1 else 1
        for red in RED:
            for weighted in (False, True):
                for sm in (0.0, 0.2):
                    r = rng("ceprob", shape, red, weighted, sm)
                    q = r.uniform(0, 1, shape)
                    w = r.uniform(0.3, 2, shape[axis]) if weighted else None
                    out.append(sample(f"prob-{shape}-{red}-w{weighted}-smoothing{sm}", r.standard_normal(shape) * 2, q / q.sum(axis=axis, keepdims=True), w,
                                      kwargs=dict(reduction=red, label_smoothing=sm), diff=(0, 1), only=NO_GRAD))
    c = _u((6, 5), "c") * 3
    t6 = idx([0, 4, 1, 2, 3, 3])
    out += [sample("ignored_default", _normal((3, 4), "ign"), idx([0, -100, 3]), kwargs={"reduction": "none"}),
            sample("large_logits", np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]]), idx([0, 2]), kwargs={"reduction": "none"}, only={"ref"}),
            sample("grad-mean", _u((4, 3), "cx") * 2, idx([0, 2, 1, 2])),
            sample("grad-none", _u((3, 4), "cx") * 2, idx([3, 0, 1]), kwargs={"reduction": "none"}),
            sample("grad-weight", _u((5, 3), "cx") * 2, idx([0, 1, 2, 2, 0]), np.array([0.5, 2.0, 1.5]), diff=(0,)),
            sample("grad-smoothing", _u((4, 3), "cx") * 2, idx([0, 2, 1, 2]), kwargs={"label_smoothing": 0.2}),
            sample("grad-smoothing-weight-ignore", _u((5, 3), "cx") * 2, idx([0, 1, 2, 2, 1]), np.array([0.5, 2.0, 1.5]),
                   kwargs=dict(ignore_index=0, label_smoothing=0.3), diff=(0,)),
            sample("grad-smoothing-weight-sum", _u((3, 4), "cx") * 2, idx([3, 1, 0]), np.array([0.5, 2.0, 1.5, 1.0]),
                   kwargs=dict(reduction="sum", label_smoothing=0.1), diff=(0,)),
            sample("grad-spatial-smoothing-none", _u((2, 3, 2, 2), "cx"), idx([[[0, 1], [2, 0]], [[1, 1], [2, 2]]]),
                   kwargs=dict(reduction="none", label_smoothing=0.25)),
            sample("grad-unbatched", _u((4,), "cx"), idx(1), kwargs={"label_smoothing": 0.1}),
            sample("grad-prob", _u((3, 4), "cpx") * 2, probs((3, 4), 1, "q")),
            sample("grad-prob-weight-smoothing", _u((3, 4), "cpx") * 2, probs((3, 4), 1, "q"), np.array([0.5, 2.0, 1.5, 1.0]),
                   kwargs={"label_smoothing": 0.2}, diff=(0, 1)),
            sample("grad-prob-spatial-none", _u((2, 3, 2), "cpx"), probs((2, 3, 2), 1, "q"), kwargs={"reduction": "none"}),
            sample("torch-mean", c, t6, only={"torch"}), sample("torch-sum", c, t6, kwargs={"reduction": "sum"}, only={"torch"}),
            sample("torch-weight", c, t6, _u((5,), "cw", 0.3, 2), diff=(0,), only={"torch"}),
            sample("torch-ignore_index", c, idx([0, 4, 3, 2, 3, 1]), kwargs={"ignore_index": 3}, only={"torch"}),
            sample("torch-ignore-default", _u((4, 3), "c") * 3, idx([0, -100, 2, -100]), only={"torch"}),
            sample("torch-smoothing", c, t6, kwargs={"label_smoothing": 0.15}, only={"torch"}),
            sample("torch-smoothing-ignore", _u((5, 4), "c") * 3, idx([0, -100, 2, 3, -100]), kwargs={"label_smoothing": 0.3}, only={"torch"}),
            sample("torch-smoothing-weight-ignore", c, idx([0, 4, 1, 2, 1, 3]), _u((5,), "cw", 0.3, 2),
                   kwargs=dict(ignore_index=1, label_smoothing=0.2), diff=(0,), only={"torch"}),
            sample("torch-smoothing-weight-none", c, idx([0, 4, 1, 2, 1, 3]), _u((5,), "cw", 0.3, 2),
                   kwargs=dict(reduction="none", label_smoothing=0.2), diff=(0,), only={"torch"}),
            sample("torch-spatial", _u((2, 4, 3, 3), "c"), rng("ct").integers(0, 4, (2, 3, 3)), only={"torch"}),
            sample("torch-spatial-weight-smoothing-none", _u((2, 4, 5), "c"), rng("ct").integers(0, 4, (2, 5)), _u((4,), "cw", 0.3, 2),
                   kwargs=dict(reduction="none", label_smoothing=0.1), diff=(0,), only={"torch"}),
            sample("torch-unbatched", _u((5,), "c") * 2, idx(3), only={"torch"}),
            sample("torch-prob", _u((4, 5), "cp") * 3, probs((4, 5), 1, "q"), only={"torch"}),
            sample("torch-prob-weight-smoothing-sum", _u((4, 5), "cp") * 3, probs((4, 5), 1, "q"), _u((5,), "cw", 0.3, 2),
                   kwargs=dict(reduction="sum", label_smoothing=0.2), diff=(0, 1), only={"torch"}),
            sample("torch-prob-spatial-weight", _u((2, 3, 2, 2), "cp"), probs((2, 3, 2, 2), 1, "q"), _u((3,), "cw", 0.3, 2), diff=(0, 1), only={"torch"}),
            sample("nonfinite-none", NONFINITE_ROWS, NONFINITE_TARGETS, kwargs={"reduction": "none"}, only={"torch"}),
            sample("nonfinite-mean", NONFINITE_ROWS, NONFINITE_TARGETS, only={"torch"}),
            sample("nonfinite-smoothing-weight-none", NONFINITE_ROWS, NONFINITE_TARGETS, _u((5,), "cw", 0.3, 2),
                   kwargs=dict(reduction="none", label_smoothing=0.2), diff=(0,), only={"torch"}),
            sample("nonfinite-ignore-sum", NONFINITE_ROWS[3:], NONFINITE_TARGETS[3:], kwargs=dict(ignore_index=0, reduction="sum"), only={"torch"}),
            sample("nonfinite-prob-none", NONFINITE_ROWS, probs(NONFINITE_ROWS.shape, 1, "q"), kwargs={"reduction": "none"}, only={"torch"})]
    return out


register(
    loss_op("mse_loss", _elementwise_loss_samples("mse_loss"), R.mse_loss),
    loss_op("l1_loss", _elementwise_loss_samples("l1_loss"), R.l1_loss),
    loss_op("binary_cross_entropy", _bce_samples, R.binary_cross_entropy),
    loss_op("binary_cross_entropy_with_logits", _bce_logits_samples, R.binary_cross_entropy_with_logits,
            variants={"F": lambda L, x, t, weight=None, pos_weight=None, **kw:
                      L.F.binary_cross_entropy_with_logits(x, t, weight=weight, pos_weight=pos_weight, **kw)}),
    loss_op("nll_loss", _nll_samples, R.nll_loss),
    loss_op("cross_entropy", _ce_samples, R.cross_entropy),
)



# ===================================================================== error inputs: bad calls name the op and the offending shapes/values

def _r(*shape, dtype=F32):
    return rt.tensor(np.random.default_rng(0).uniform(-1, 1, shape), dtype=dtype)


def _unit(*shape):
    return rt.tensor(np.random.default_rng(0).uniform(0.1, 0.9, shape), dtype=F32)


def _t_idx(a):
    return rt.tensor(np.asarray(a, dtype=np.int64))


NN_ERRORS = {
    # ---- convolution
    "conv2d_channel_mismatch": (lambda: RF.conv2d(_r(1, 3, 5, 5), _r(2, 1, 3, 3)), ValueError,
                                ["conv2d", "input has 3 channels", "weight [2, 1, 3, 3]", "expects 1"]),
    "conv1d_channel_mismatch": (lambda: RF.conv1d(_r(2, 4, 8), _r(2, 3, 3)), ValueError, ["conv1d", "4 channels", "expects 3"]),
    "conv3d_channel_mismatch": (lambda: RF.conv3d(_r(1, 2, 3, 3, 3), _r(1, 1, 2, 2, 2)), ValueError, ["conv3d", "2 channels", "expects 1"]),
    "conv2d_unbatched_channel_mismatch": (lambda: RF.conv2d(_r(3, 5, 5), _r(2, 2, 3, 3)), ValueError, ["conv2d", "3 channels", "expects 2"]),
    "conv2d_kernel_larger_than_input": (lambda: RF.conv2d(_r(1, 1, 3, 3), _r(1, 1, 5, 5)), ValueError,
                                        ["conv2d", "kernel size [5, 5]", "larger than the padded input 3", "[1, 1, 3, 3]"]),
    "conv2d_kernel_larger_than_padded_input": (lambda: RF.conv2d(_r(1, 1, 3, 4), _r(1, 1, 6, 2), padding=1), ValueError,
                                               ["conv2d", "larger than the padded input 5"]),
    "conv1d_dilated_kernel_larger": (lambda: RF.conv1d(_r(1, 1, 5), _r(1, 1, 3), dilation=3), ValueError,
                                     ["conv1d", "dilated 7", "padded input 5"]),
    "conv3d_kernel_larger_one_dim": (lambda: RF.conv3d(_r(1, 1, 4, 4, 2), _r(1, 1, 2, 2, 3)), ValueError,
                                     ["conv3d", "larger than the padded input 2", "spatial dim 2"]),
    "conv2d_input_rank_2": (lambda: RF.conv2d(_r(5, 5), _r(1, 1, 3, 3)), ValueError, ["conv2d", "3-d (unbatched) or 4-d", "[5, 5]"]),
    "conv2d_input_rank_5": (lambda: RF.conv2d(_r(1, 1, 1, 5, 5), _r(1, 1, 3, 3)), ValueError, ["conv2d", "[1, 1, 1, 5, 5]"]),
    "conv1d_input_rank_4": (lambda: RF.conv1d(_r(1, 1, 5, 5), _r(1, 1, 3)), ValueError, ["conv1d", "2-d (unbatched) or 3-d", "[1, 1, 5, 5]"]),
    "conv3d_input_rank_3": (lambda: RF.conv3d(_r(1, 5, 5), _r(1, 1, 3, 3, 3)), ValueError, ["conv3d", "[1, 5, 5]"]),
    "conv2d_weight_rank": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(1, 3, 3)), ValueError, ["conv2d", "4-d weight", "[1, 3, 3]"]),
    "conv2d_groups_not_dividing_in": (lambda: RF.conv2d(_r(1, 3, 5, 5), _r(4, 1, 3, 3), groups=2), ValueError,
                                      ["conv2d", "3 channels", "groups = 2"]),
    "conv2d_groups_not_dividing_out": (lambda: RF.conv2d(_r(1, 4, 5, 5), _r(3, 2, 3, 3), groups=2), ValueError,
                                       ["conv2d", "out_channels 3", "divisible by groups 2"]),
    "conv1d_groups_zero": (lambda: RF.conv1d(_r(1, 4, 5), _r(4, 4, 3), groups=0), ValueError, ["conv1d", "groups", "0"]),
    "conv2d_bias_wrong_length": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), _r(3)), ValueError, ["conv2d", "bias", "[2]", "[3]"]),
    "conv2d_bias_wrong_rank": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), _r(2, 1)), ValueError, ["conv2d", "bias", "[2, 1]"]),
    "conv3d_bias_wrong_length": (lambda: RF.conv3d(_r(1, 1, 3, 3, 3), _r(2, 1, 2, 2, 2), _r(1)), ValueError, ["conv3d", "bias", "[2]", "[1]"]),
    "conv2d_stride_zero": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), stride=0), ValueError, ["conv2d", "stride"]),
    "conv2d_negative_padding": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), padding=-1), ValueError, ["conv2d", "padding"]),
    "conv2d_dilation_zero": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), dilation=0), ValueError, ["conv2d", "dilation"]),
    "conv2d_bad_padding_string": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), padding="full"), ValueError, ["conv2d", "'full'"]),
    "conv2d_same_with_stride": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), padding="same", stride=2), ValueError,
                                ["conv2d", "same", "strided"]),
    "conv2d_stride_tuple_wrong_length": (lambda: RF.conv2d(_r(1, 1, 5, 5), _r(2, 1, 3, 3), stride=(1, 2, 3)), ValueError,
                                         ["conv2d", "(1, 2, 3)"]),
    "conv2d_integer_input": (lambda: RF.conv2d(_t_idx(np.ones((1, 1, 4, 4))), _t_idx(np.ones((1, 1, 3, 3)))), TypeError,
                             ["conv2d", "floating point", "int64"]),
    # ---- linear
    "linear_in_features_mismatch": (lambda: RF.linear(_r(3, 4), _r(2, 5)), ValueError, ["linear", "[3, 4]", "[2, 5]"]),
    "linear_weight_rank": (lambda: RF.linear(_r(3, 4), _r(4)), ValueError, ["linear", "2-d", "[4]"]),
    "linear_bias_shape": (lambda: RF.linear(_r(3, 4), _r(2, 4), _r(3)), ValueError, ["linear", "bias", "[2]", "[3]"]),
    "linear_integer": (lambda: RF.linear(_t_idx(np.ones((2, 3))), _t_idx(np.ones((2, 3)))), TypeError, ["linear", "floating point"]),
    # ---- pooling
    "max_pool2d_padding_gt_half_kernel": (lambda: RF.max_pool2d(_r(1, 1, 5, 5), 2, padding=2), ValueError,
                                          ["max_pool2d", "padding", "half of kernel"]),
    "avg_pool2d_padding_gt_half_kernel": (lambda: RF.avg_pool2d(_r(1, 1, 5, 5), 3, padding=2), ValueError,
                                          ["avg_pool2d", "padding", "half of kernel"]),
    "max_pool2d_padding_one_dim": (lambda: RF.max_pool2d(_r(1, 1, 6, 6), (4, 2), padding=(2, 2)), ValueError,
                                   ["max_pool2d", "padding", "half of kernel"]),
    "max_pool1d_padding_gt_half_kernel": (lambda: RF.max_pool1d(_r(1, 1, 5), 2, padding=2), ValueError, ["max_pool1d", "padding"]),
    "avg_pool1d_padding_gt_half_kernel": (lambda: RF.avg_pool1d(_r(1, 1, 5), 3, padding=2), ValueError, ["avg_pool1d", "padding"]),
    "max_pool2d_rank_2": (lambda: RF.max_pool2d(_r(5, 5), 2), ValueError, ["max_pool2d", "[5, 5]"]),
    "avg_pool2d_rank_5": (lambda: RF.avg_pool2d(_r(1, 1, 1, 5, 5), 2), ValueError, ["avg_pool2d", "[1, 1, 1, 5, 5]"]),
    "max_pool1d_rank_4": (lambda: RF.max_pool1d(_r(1, 1, 5, 5), 2), ValueError, ["max_pool1d", "(1, 1, 5, 5)"]),
    "avg_pool1d_rank_1": (lambda: RF.avg_pool1d(_r(5), 2), ValueError, ["avg_pool1d", "(5,)"]),
    "max_pool2d_kernel_larger_than_input": (lambda: RF.max_pool2d(_r(1, 1, 2, 5), 3, 1), ValueError, ["max_pool2d", "larger", "[1, 1, 2, 5]"]),
    "max_pool2d_kernel_larger_than_input_default_stride": (lambda: RF.max_pool2d(_r(1, 1, 2, 2), 3), ValueError,
                                                           ["max_pool2d", "larger", "[1, 1, 2, 2]"]),
    "avg_pool2d_kernel_larger_than_input_default_stride": (lambda: RF.avg_pool2d(_r(1, 1, 4, 2), 3), ValueError,
                                                           ["avg_pool2d", "larger", "[1, 1, 4, 2]"]),
    "max_pool1d_kernel_larger_than_input": (lambda: RF.max_pool1d(_r(1, 1, 2), 3), ValueError, ["max_pool1d", "larger"]),
    "max_pool2d_stride_zero": (lambda: RF.max_pool2d(_r(1, 1, 4, 4), 2, 0), ValueError, ["max_pool2d", "stride"]),
    "avg_pool2d_kernel_zero": (lambda: RF.avg_pool2d(_r(1, 1, 4, 4), 0), ValueError, ["avg_pool2d", "kernel_size"]),
    "max_pool2d_dilation_unsupported": (lambda: RF.max_pool2d(_r(1, 1, 4, 4), 2, dilation=2), ValueError, ["max_pool2d", "dilation"]),
    "max_pool2d_integer": (lambda: RF.max_pool2d(_t_idx(np.ones((1, 1, 4, 4))), 2), TypeError, ["max_pool2d", "floating point"]),
    "adaptive_rank": (lambda: RF.adaptive_avg_pool2d(_r(4, 4), 2), ValueError, ["adaptive_avg_pool2d", "[4, 4]"]),
    "adaptive_zero_output": (lambda: RF.adaptive_avg_pool2d(_r(1, 1, 4, 4), (0, 2)), ValueError, ["adaptive_avg_pool2d", "(0, 2)"]),
    # ---- batch norm
    "batch_norm_running_mean_shape": (lambda: RF.batch_norm(_r(4, 3), rt.zeros(2), rt.ones(3), training=True), ValueError,
                                      ["batch_norm", "[3]", "[4, 3]", "[2]"]),
    "batch_norm_running_var_shape": (lambda: RF.batch_norm(_r(4, 3, 2), rt.zeros(3), rt.ones(3, 1), training=False), ValueError,
                                     ["batch_norm", "[3]", "[4, 3, 2]", "[3, 1]"]),
    "batch_norm_weight_shape": (lambda: RF.batch_norm(_r(4, 3), rt.zeros(3), rt.ones(3), _r(4), training=True), ValueError,
                                ["batch_norm", "[3]", "[4]"]),
    "batch_norm_bias_shape": (lambda: RF.batch_norm(_r(4, 3), None, None, _r(3), _r(2), training=True), ValueError,
                              ["batch_norm", "[3]", "[2]"]),
    "batch_norm_single_value_per_channel": (lambda: RF.batch_norm(_r(1, 3), rt.zeros(3), rt.ones(3), training=True), ValueError,
                                            ["batch_norm", "more than 1 value per channel", "[1, 3]"]),
    "batch_norm_single_value_per_channel_spatial": (lambda: RF.batch_norm(_r(1, 3, 1, 1), None, None, training=True), ValueError,
                                                    ["batch_norm", "more than 1 value per channel", "[1, 3, 1, 1]"]),
    "batch_norm_eval_without_stats": (lambda: RF.batch_norm(_r(4, 3), None, None, training=False), ValueError,
                                      ["batch_norm", "running_mean", "eval"]),
    "batch_norm_only_one_stat": (lambda: RF.batch_norm(_r(4, 3), rt.zeros(3), None, training=True), ValueError,
                                 ["batch_norm", "running_mean and running_var"]),
    "batch_norm_rank_1": (lambda: RF.batch_norm(_r(4), rt.zeros(4), rt.ones(4), training=True), ValueError, ["batch_norm", "[4]"]),
    "batch_norm_stats_dtype": (lambda: RF.batch_norm(_r(4, 3), rt.zeros(3, dtype=rt.float64), rt.ones(3, dtype=rt.float64), training=True),
                               TypeError, ["batch_norm", "float32"]),
    "batch_norm_eps_nonpositive": (lambda: RF.batch_norm(_r(4, 3), None, None, training=True, eps=0.0), ValueError, ["batch_norm", "eps"]),
    # ---- dropout
    "dropout_p_above_1": (lambda: RF.dropout(_r(3), 1.5), ValueError, ["dropout", "between 0 and 1", "1.5"]),
    "dropout_p_negative": (lambda: RF.dropout(_r(3), -0.1), ValueError, ["dropout", "between 0 and 1", "-0.1"]),
    "dropout_p_negative_eval": (lambda: RF.dropout(_r(3), -0.1, training=False), ValueError, ["dropout", "-0.1"]),
    "dropout_p_nan": (lambda: RF.dropout(_r(3), float("nan")), ValueError, ["dropout", "nan"]),
    "dropout2d_p_above_1": (lambda: RF.dropout2d(_r(2, 3, 4), 1.5), ValueError, ["dropout2d", "between 0 and 1", "1.5"]),
    "dropout2d_p_negative": (lambda: RF.dropout2d(_r(2, 3, 4), -0.5), ValueError, ["dropout2d", "-0.5"]),
    "dropout2d_rank": (lambda: RF.dropout2d(_r(2, 3), 0.5), ValueError, ["dropout2d", "[2, 3]"]),
    # ---- cross entropy / nll
    "cross_entropy_float_target_wrong_shape": (lambda: RF.cross_entropy(_r(3, 4), _r(3, 5)), ValueError,
                                               ["cross_entropy", "[3, 4]", "[3, 5]"]),
    "cross_entropy_float_target_class_shape": (lambda: RF.cross_entropy(_r(3, 4), _r(3)), ValueError, ["cross_entropy", "[3, 4]", "[3]"]),
    "cross_entropy_target_out_of_range": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([0, 4, 1])), IndexError,
                                          ["cross_entropy", "4", "out of bounds", "4 classes"]),
    "cross_entropy_target_negative": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([0, -1, 1])), IndexError, ["cross_entropy", "-1", "out of bounds"]),
    "cross_entropy_spatial_target_out_of_range": (lambda: RF.cross_entropy(_r(2, 3, 2), _t_idx([[0, 1], [3, 2]])), IndexError,
                                                  ["cross_entropy", "3", "out of bounds"]),
    "nll_loss_target_out_of_range": (lambda: RF.nll_loss(_r(3, 4), _t_idx([0, 7, 1])), IndexError, ["nll_loss", "7", "out of bounds"]),
    "nll_loss_target_not_ignored_out_of_range": (lambda: RF.nll_loss(_r(3, 4), _t_idx([0, -100, 1]), ignore_index=-1), IndexError,
                                                 ["nll_loss", "-100"]),
    "cross_entropy_bool_target": (lambda: RF.cross_entropy(_r(3, 4), rt.tensor(np.array([True, False, True]))), TypeError,
                                  ["cross_entropy", "int64", "bool"]),
    "nll_loss_float_target": (lambda: RF.nll_loss(_r(3, 4), _r(3)), TypeError, ["nll_loss", "int64", "float32"]),
    "cross_entropy_target_shape_mismatch": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([0, 1])), ValueError,
                                            ["cross_entropy", "[3]", "[3, 4]", "[2]"]),
    "cross_entropy_target_extra_dim": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([[0, 1, 2]])), ValueError, ["cross_entropy", "[1, 3]"]),
    "cross_entropy_spatial_target_shape": (lambda: RF.cross_entropy(_r(2, 3, 4), _t_idx(np.zeros((2, 3)))), ValueError,
                                           ["cross_entropy", "[2, 4]", "[2, 3]"]),
    "nll_loss_target_shape_mismatch": (lambda: RF.nll_loss(_r(3, 4), _t_idx([0, 1, 2, 3])), ValueError, ["nll_loss", "[3]", "[4]"]),
    "cross_entropy_bad_reduction": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([0, 1, 2]), reduction="avg"), ValueError,
                                    ["cross_entropy", "reduction", "'avg'"]),
    "nll_loss_bad_reduction": (lambda: RF.nll_loss(_r(3, 4), _t_idx([0, 1, 2]), reduction="elementwise_mean"), ValueError,
                               ["nll_loss", "reduction", "elementwise_mean"]),
    "cross_entropy_weight_shape": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([0, 1, 2]), weight=_r(3)), ValueError,
                                   ["cross_entropy", "weight", "[4]", "[3]"]),
    "cross_entropy_label_smoothing_range": (lambda: RF.cross_entropy(_r(3, 4), _t_idx([0, 1, 2]), label_smoothing=1.5), ValueError,
                                            ["cross_entropy", "label_smoothing", "1.5"]),
    "cross_entropy_0d_input": (lambda: RF.cross_entropy(rt.tensor(np.float32(1.0)).reshape(()), _t_idx(0)), ValueError, ["cross_entropy", "0-d"]),
    # ---- elementwise losses
    "cross_entropy_prob_target_ignore_index": (lambda: RF.cross_entropy(_r(3, 4), _unit(3, 4), ignore_index=1), RuntimeError,
                                               ["cross_entropy", "ignore_index 1", "probability", "[3, 4]"]),
    # binary_cross_entropy checks every element of input and target, as PyTorch (RuntimeError there too)
    "bce_input_above_1": (lambda: RF.binary_cross_entropy(rt.tensor([0.5, 1.5]), rt.tensor([0.0, 1.0])), RuntimeError,
                          ["binary_cross_entropy", "input", "between 0 and 1", "1.5"]),
    "bce_input_negative": (lambda: RF.binary_cross_entropy(rt.tensor([-0.5, 0.5]), rt.tensor([0.0, 1.0])), RuntimeError,
                           ["binary_cross_entropy", "input", "between 0 and 1", "-0.5"]),
    "bce_input_nan": (lambda: RF.binary_cross_entropy(rt.tensor([0.5, float("nan")]), rt.tensor([0.0, 1.0]), reduction="none"),
                      RuntimeError, ["binary_cross_entropy", "input", "between 0 and 1", "NaN"]),
    "bce_target_above_1": (lambda: RF.binary_cross_entropy(rt.tensor([0.5, 0.5]), rt.tensor([0.0, 1.5])), RuntimeError,
                           ["binary_cross_entropy", "target", "between 0 and 1", "1.5"]),
    "bce_target_negative": (lambda: RF.binary_cross_entropy(rt.tensor([0.5, 0.5]), rt.tensor([-2.0, 1.0])), RuntimeError,
                            ["binary_cross_entropy", "target", "between 0 and 1", "-2"]),
    "bce_target_nan": (lambda: RF.binary_cross_entropy(rt.tensor([0.5, 0.5]), rt.tensor([float("nan"), 1.0])), RuntimeError,
                       ["binary_cross_entropy", "target", "between 0 and 1", "NaN"]),
    "bce_shape_mismatch": (lambda: RF.binary_cross_entropy(_unit(2), _unit(3)), ValueError, ["binary_cross_entropy", "(2,)", "(3,)"]),
    "bce_bad_reduction": (lambda: RF.binary_cross_entropy(_unit(2), _unit(2), reduction="x"), ValueError, ["binary_cross_entropy", "reduction"]),
    "bce_logits_shape_mismatch": (lambda: RF.binary_cross_entropy_with_logits(_r(2, 3), _r(3, 2)), ValueError,
                                  ["binary_cross_entropy_with_logits", "(2, 3)", "(3, 2)"]),
    "bce_logits_bad_reduction": (lambda: RF.binary_cross_entropy_with_logits(_r(2), _r(2), reduction="avg"), ValueError,
                                 ["binary_cross_entropy_with_logits", "reduction"]),
    "mse_shape_mismatch": (lambda: RF.mse_loss(_r(2, 3), _r(3, 2)), ValueError, ["mse_loss", "(2, 3)", "(3, 2)"]),
    "mse_broadcastable_shape_mismatch": (lambda: RF.mse_loss(_r(2, 3), _r(3)), ValueError, ["mse_loss", "(2, 3)", "(3,)"]),
    "mse_bad_reduction": (lambda: RF.mse_loss(_r(2, 3), _r(2, 3), reduction="mea"), ValueError, ["mse_loss", "reduction", "'mea'"]),
    "mse_target_not_tensor": (lambda: RF.mse_loss(_r(2), [1.0, 2.0]), TypeError, ["mse_loss", "Tensor", "list"]),
    "l1_shape_mismatch": (lambda: RF.l1_loss(_r(2, 3), _r(2, 4)), ValueError, ["l1_loss", "(2, 3)", "(2, 4)"]),
    "l1_bad_reduction": (lambda: RF.l1_loss(_r(2, 3), _r(2, 3), reduction="batchmean"), ValueError, ["l1_loss", "reduction"]),
}
NN_ERROR_OPS = {"conv1d": "conv1d", "conv2d": "conv2d", "conv3d": "conv3d", "linear": "linear", "max_pool2d": "max_pool2d",
                "avg_pool2d": "avg_pool2d", "max_pool1d": "max_pool1d", "avg_pool1d": "avg_pool1d", "adaptive": "adaptive_avg_pool2d",
                "batch_norm": "batch_norm", "dropout2d": "dropout2d", "dropout": "dropout", "cross_entropy": "cross_entropy",
                "nll_loss": "nll_loss", "bce_logits": "binary_cross_entropy_with_logits", "bce": "binary_cross_entropy", "mse": "mse_loss",
                "l1": "l1_loss"}

BROADCAST_ERRORS = {  # op: call on [2, 3] and [3, 2]; the message names the op (comparisons: just the shapes)
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "maximum": lambda a, b: rt.maximum(a, b), "pow": lambda a, b: a ** b, "lt": lambda a, b: a < b}
DIM_ERRORS = {  # op: a call on a [2, 3] tensor with a dim out of range
    "sum": lambda a: a.sum(2), "mean": lambda a: a.mean(-3), "var": lambda a: a.var(3), "max_dim": lambda a: a.max(2),
    "min_dim": lambda a: a.min(2), "argmax": lambda a: a.argmax(5), "argmin": lambda a: a.argmin(-4), "softmax": lambda a: a.softmax(2),
    "log_softmax": lambda a: a.log_softmax(-3), "transpose": lambda a: a.transpose(0, 2), "unsqueeze0": lambda a: a.unsqueeze(4),
    "squeeze_dim": lambda a: a.squeeze(2), "select": lambda a: a.select(2, 0), "index_select": lambda a: a.index_select(2, rt.tensor([0])),
    "cat": lambda a: rt.cat([a, a], 2), "stack": lambda a: rt.stack([a, a], 4)}
DIM_ERROR_NAMES = {"max_dim": "max", "min_dim": "min", "unsqueeze0": "unsqueeze", "squeeze_dim": "squeeze"}


def _attach_errors():
    for name, (call, exc, fragments) in NN_ERRORS.items():
        op = next(v for k, v in NN_ERROR_OPS.items() if name.startswith(k))
        by_name(op).errors += (ErrorInput(name, call, exc, tuple(fragments)),)
    for op, fn in BROADCAST_ERRORS.items():
        frags = (() if op == "lt" else (op,)) + ("[2, 3]", "[3, 2]")
        by_name(op).errors += (ErrorInput("broadcast", (lambda f: lambda: f(rt.ones(2, 3), rt.ones(3, 2)))(fn), ValueError, frags),)
    by_name("add").errors += (ErrorInput("broadcast_higher_rank", lambda: rt.ones(2, 3, 4) + rt.ones(5, 1), ValueError,
                                         ("add", "[2, 3, 4]", "[5, 1]")),)
    for op, fn in DIM_ERRORS.items():
        by_name(op).errors += (ErrorInput("dim_out_of_range", (lambda f: lambda: f(rt.ones(2, 3)))(fn), IndexError,
                                          (DIM_ERROR_NAMES.get(op, op), "out of range")),)


_attach_errors()
