"""Runs one fuzz case on reticulum and, when torch is importable, on torch 2.13 as the oracle,
and says what (if anything) is wrong: a non-Python-API exception type, a result where the oracle
rejects the input, or a value/shape/dtype/gradient that does not match."""
import warnings

import numpy as np

from .geometry import expected_spatial
from .ops import OPS, RANDOM_VALUES
from .spec import NP, Builder, values

# Exceptions that count as a clean refusal of bad input (what PyTorch raises, plus MemoryError
# for sizes that do not fit and OverflowError for Python ints past int64).
CLEAN = (TypeError, ValueError, RuntimeError, IndexError, MemoryError, OverflowError)
NAMES = {"f32": "float32", "f64": "float64", "i64": "int64", "b": "bool"}
MAX_COMPARED = 10**7  # larger outputs (broadcast views of huge shapes) get shape and dtype checks only
# Oracle refusals that are torch's own gaps, not bad input: reticulum's answer cannot be checked.
# ("type int without overflow": torch keeps conv/pool geometry in int32; reticulum in int64.)
# ("zero batch or zero channel", "optional 0 dim batch": torch refuses zero-length spatial
# dims even when padding makes the window valid; "missing 1 required positional": torch's
# arity, e.g. permute() of a 0-d tensor; "not iterable": backward(gradient=<Python float>).)
INT32_GEOMETRY = "to type int without overflow"
ORACLE_GAPS = ("not implemented for", "with a bool tensor is not supported", "to type int without overflow",
               "Only zero batch or zero channel inputs are supported", "optional 0 dim batch size",
               "missing 1 required positional arguments", "object is not iterable",
               "expected weight to be at least 1 at dimension 0")  # zero output channels
COPY_LENIENCY = ("must be greater or equal to the number of dimensions", "doesn't match the broadcast shape")
# Ops where torch maps NaN to a number (torch.sign(nan) == 0; NumPy and reticulum give NaN).
NAN_QUIRKS = {"sign", "f_sign"}
# Oracle refusals of mixed float dtypes (torch wants one dtype for conv/linear/losses, reticulum
# promotes): the oracle is rerun on the arguments cast to the widest float dtype.
MIXED_DTYPE_REFUSALS = ("dtype", "type (", "expected scalar type", "same type", "Double", "Float", "Long")


class Corruption(Exception):
    """Memory that must not change was changed (never a clean refusal)."""


class Lib:
    """What the fuzz ops need from one library; subclassed for reticulum and torch."""

    def __init__(self, mod, seed):
        self.mod = mod
        self.F = mod.nn.functional
        self.seed = seed
        self.extra_leaves = []

    def dtype(self, name):
        return getattr(self.mod, NAMES[name])

    def dtype_name(self, dt):
        return {getattr(self.mod, v): k for k, v in NAMES.items()}.get(dt, str(dt))

    def requires_grad(self, leaf):
        return leaf.requires_grad_(True)

    def from_numpy(self, a):
        """A NumPy array of an awkward kind: read-only, stride 0, Fortran order, zero-size."""
        rng = np.random.default_rng(self.seed)
        base = values(rng, a["np"], a["dt"], "none")
        kind = a["kind"]
        if kind == "readonly":
            arr = np.frombuffer(base.tobytes(), dtype=base.dtype).reshape(base.shape)
        elif kind == "stride0":
            arr = np.broadcast_to(base.reshape(-1)[:1] if base.size else base, base.shape)
        elif kind == "fortran":
            arr = np.asfortranarray(base)
        else:
            arr = base
        before = arr.copy()
        t = self.mod.from_numpy(arr)
        if a.get("write"):
            with self.mod.no_grad():
                t.add_(1)
            if not arr.flags.writeable and not np.array_equal(arr, before, equal_nan=True):
                raise Corruption("from_numpy: writing through the tensor changed a read-only NumPy array")
        return t

    def setitem(self, x, key, v):
        x[key] = v
        return x

    def set_attr(self, x, name, v):
        setattr(x, name, v)
        return getattr(x, name)

    def backward_with(self, x, g):
        y = x * 2
        y.backward(g)
        return y

    def custom_fn(self, x, how):
        """A custom Function whose backward returns a gradient that is right, None, of the wrong
        shape, of another dtype, or too many gradients."""
        mod = self.mod

        class Double(mod.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t * 2

            @staticmethod
            def backward(ctx, g):
                if how == "ok":
                    return g * 2
                if how == "none":
                    return None
                if how == "shape":
                    return mod.ones(3, 1)
                if how == "dtype":
                    return (g * 2).double() if g.dtype != mod.float64 else (g * 2).float()
                return g * 2, g

        return Double.apply(x.sigmoid())  # behind another op, so the returned gradient flows on

    def module(self, x, cls, args, kw):
        """An nn module built with the given (possibly hostile) arguments; its parameters are
        overwritten with seeded values so both libraries compute the same function."""
        m = getattr(self.mod.nn, cls)(*args, **kw)
        rng = np.random.default_rng(self.seed + 1)
        with self.mod.no_grad():
            for p in m.parameters():
                arr = values(rng, tuple(p.shape), self.dtype_name(p.dtype), "none")
                p.copy_(self.tensor(arr, self.dtype_name(p.dtype)))
        self.extra_leaves.extend(m.parameters())
        return m(x)

    def optim_steps(self, p, cls, hp, gdt, steps):
        """`steps` optimizer steps on one parameter with seeded gradients of dtype `gdt`."""
        hp = dict(hp)
        if "betas" in hp:
            hp["betas"] = tuple(hp["betas"])
        opt = getattr(self.mod.optim, cls)([p], **hp)
        rng = np.random.default_rng(self.seed + 2)
        for _ in range(steps):
            p.grad = self.tensor(values(rng, tuple(p.shape), gdt, "none"), gdt)
            opt.step()
        return p.detach().clone()


class RtLib(Lib):
    def tensor(self, arr, dt):
        return self.mod.tensor(np.array(arr, order="C"), dtype=self.dtype(dt))

    def to_numpy(self, t):
        return t.detach().numpy()


class TorchLib(Lib):
    promote = None  # when set, float tensor arguments are cast to this dtype name (see run_case)

    def tensor(self, arr, dt):
        return self.mod.from_numpy(np.array(arr, dtype=NP[dt]))

    def to_numpy(self, t):
        return t.detach().cpu().numpy()


def float_dtypes(spec):
    return tensor_dtypes(spec) & {"f32", "f64"}


def tensor_dtypes(spec):
    """The dtypes of the case's tensor arguments."""
    found = set()

    def walk(a):
        if isinstance(a, dict):
            if "T" in a or "V" in a:
                found.add(a["dt"])
            for v in a.values():
                walk(v)
        elif isinstance(a, list):
            for v in a:
                walk(v)
    walk(spec.get("args", []))
    walk(spec.get("kw", {}))
    return found


def call(lib, spec):
    """Builds the case's arguments for `lib` and calls the op. Returns (builder, output, exception)."""
    b = Builder(lib, spec.get("seed", 0))
    try:
        args = b.build(spec.get("args", []))
        kw = {k: b.build(v) for k, v in spec.get("kw", {}).items()}
        return b, OPS[spec["op"]](lib, *args, **kw), None
    except Exception as e:  # noqa: BLE001  (every exception is classified by the caller)
        return b, None, e


def first_float_tensor(lib, out):
    if isinstance(out, lib.mod.Tensor):
        return out if out.dtype in (lib.mod.float32, lib.mod.float64) and out.requires_grad else None
    if isinstance(out, (tuple, list)):
        for o in out:
            t = first_float_tensor(lib, o)
            if t is not None:
                return t
    return None


def backward(lib, b, out, spec):
    """(out * cotangent).sum().backward() with a cotangent of dtype spec['ct'] (mixed-dtype graphs)."""
    t = first_float_tensor(lib, out)
    if t is None or t.numel() > MAX_COMPARED or any(n > MAX_COMPARED for n in t.shape):
        return False, None
    ct = values(np.random.default_rng(spec.get("seed", 0) + 3), tuple(t.shape), spec.get("ct", "f32"), "none")
    try:
        (t * lib.tensor(ct, spec.get("ct", "f32"))).sum().backward()
        return True, None
    except Exception as e:  # noqa: BLE001
        return True, e


def describe(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


class Mismatch(Exception):
    """reticulum's answer differs from the oracle's."""


def tolerance(spec):
    """float32 anywhere in the case (int64 and bool promote to it, casts may produce it) -> float32
    tolerance; float64-only cases are held to ~1e-9."""
    text = repr(spec)
    return 2e-4 if (spec["op"] in ("float", "to", "type_as") or "'f32'" in text or "float32" in text or "'dt': 'b'" in text or "'i64'" in text) else 1e-9


def compare(rl, tl, r, t, tol, where, check_values=True, finite_only=False, check_dtype=True):
    if isinstance(t, tl.mod.Tensor):
        if not isinstance(r, rl.mod.Tensor):
            raise Mismatch(f"{where}: expected a Tensor, got {type(r).__name__}")
        if tuple(r.shape) != tuple(t.shape):
            raise Mismatch(f"{where}: shape {tuple(r.shape)} != oracle {tuple(t.shape)}")
        tdt = tl.dtype_name(t.dtype)
        if check_dtype and tdt in NAMES and rl.dtype_name(r.dtype) != tdt:
            raise Mismatch(f"{where}: dtype {rl.dtype_name(r.dtype)} != oracle {tdt}")
        if check_values and 0 < t.numel() <= MAX_COMPARED:
            compare_arrays(rl.to_numpy(r), tl.to_numpy(t), tol, where, finite_only)
        return
    if isinstance(t, (tuple, list)):
        if not isinstance(r, (tuple, list)) or len(r) != len(t):
            raise Mismatch(f"{where}: expected a sequence of {len(t)}, got {r!r:.80}")
        for i, (a, b) in enumerate(zip(r, t)):
            compare(rl, tl, a, b, tol, f"{where}[{i}]", check_values, finite_only, check_dtype)
        return
    if isinstance(t, (bool, int, float)):
        if not isinstance(r, (bool, int, float)):
            raise Mismatch(f"{where}: expected a Python number, got {type(r).__name__}")
        if check_values:
            compare_arrays(np.asarray(r), np.asarray(t), tol, where)
        return
    if t is None and r is not None:
        raise Mismatch(f"{where}: expected None, got {type(r).__name__}")


def compare_arrays(a, b, tol, where, finite_only=False):
    """Values within tol (relative to the largest finite oracle magnitude); NaN where the oracle
    has NaN. With finite_only, only positions where both sides are finite are compared."""
    if a.shape != b.shape:
        raise Mismatch(f"{where}: shape {a.shape} != oracle {b.shape}")
    if b.dtype.kind in "biu" and a.dtype.kind in "biu":
        if not np.array_equal(a, b):
            raise Mismatch(f"{where}: values differ: {a.ravel()[:6]} vs oracle {b.ravel()[:6]}")
        return
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    finite = np.isfinite(b64)
    scale = max(1.0, float(np.abs(b64[finite]).max())) if finite.any() else 1.0
    ok = np.isclose(a64, b64, rtol=tol, atol=tol * scale, equal_nan=True)
    if finite_only:
        ok |= ~(np.isfinite(a64) & finite)
    if not ok.all():
        i = int(np.flatnonzero(~ok.ravel())[0])
        raise Mismatch(f"{where}: values differ at flat index {i}: {a64.ravel()[i]!r} vs oracle {b64.ravel()[i]!r} "
                       f"({int((~ok).sum())} of {ok.size} differ)")


def grads_of(lib, b):
    return [leaf.grad for leaf in b.leaves + lib.extra_leaves]


def check_geometry(spec, rl, r):
    """reticulum's output shape against sizes computed with unbounded integers."""
    want = expected_spatial(spec)
    if want is None:
        return None
    got = list(r.shape[-len(want):]) if isinstance(want, list) else None
    if want == "invalid":
        return f"accepted invalid geometry (no output window exists); returned {summary(rl, r)}"
    if got != want:
        return f"wrong result: output spatial size {got} != {want} (computed with unbounded integers)"
    return None


def arbitrary_strides(spec):
    """The stride of a dim of size 0 or 1 is arbitrary (never used to address an element)."""
    first = spec["args"][0] if spec.get("args") else None
    return spec["op"] == "stride" and isinstance(first, dict) and any(n <= 1 for n in first.get("T", []))


def no_dof_variance(spec):
    """var/std with correction >= the number of reduced elements: the forward is inf or NaN, and
    torch's gradient (finite: 2 (x - mean) / (n - correction)) is no reference."""
    if spec["op"] not in ("var", "std") or not isinstance(spec["args"][0], dict):
        return False
    shape, dim = spec["args"][0]["T"], spec["kw"].get("dim")
    dims = range(len(shape)) if dim is None else [dim] if isinstance(dim, int) else dim.get("U", [])
    n = 1
    for d in dims:
        if isinstance(d, int) and -len(shape) <= d < len(shape):
            n *= shape[d]
    return spec["kw"].get("correction", 1) >= n


def has_oracle(spec):
    """torch has no softmax for integer/bool tensors (only empty ones pass through, keeping their dtype)."""
    first = spec["args"][0] if spec.get("args") else None
    softmax = spec["op"] in ("softmax", "log_softmax", "F_softmax", "F_log_softmax")
    return not (softmax and isinstance(first, dict) and first.get("dt") in ("i64", "b"))


def promoting(op):
    """Ops where reticulum applies type promotion and torch insists on one dtype."""
    return op.startswith("F_") or op in ("matmul", "bmm", "o_matmul")


def run_case(spec, rt, torch=None):
    """Returns None when the case passes, else a one-line description of what went wrong."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return check(spec, rt, torch)
        except Exception as e:  # noqa: BLE001  (a bug in the harness itself must show up as a failure)
            return f"harness error: {describe(e)}"


def check(spec, rt, torch):  # noqa: C901
    seed = spec.get("seed", 0)
    rl = RtLib(rt, seed)
    rb, r, re_ = call(rl, spec)
    if isinstance(re_, Corruption):
        return f"corruption: {re_}"
    if re_ is not None and not isinstance(re_, CLEAN):
        return f"bad exception type: {describe(re_)}"
    if torch is None:
        if re_ is None and spec.get("grad"):
            _, be = backward(rl, rb, r, spec)
            if be is not None and not isinstance(be, CLEAN):
                return f"backward: bad exception type: {describe(be)}"
        return None
    if re_ is not None:
        return None  # a clean refusal is always acceptable
    # Conv/pool shapes are checked with unbounded integers first: torch keeps geometry in int32
    # (refusing big values) and itself overflows on some (dilation=2**63-1 gives it a shape too).
    geometry_problem = check_geometry(spec, rl, r)
    if geometry_problem:
        return geometry_problem
    if not has_oracle(spec):
        return None
    tl = TorchLib(torch, seed)
    dtypes = tensor_dtypes(spec)
    widest = "f64" if "f64" in dtypes else "f32" if "f32" in dtypes else None
    mixed = len(dtypes) > 1 and widest is not None
    if mixed and spec["op"].startswith("F_"):
        tl.promote = widest  # torch's nn functions refuse or half-promote mixed dtypes; reticulum promotes
    tb, t, te = call(tl, spec)
    if te is not None and mixed and promoting(spec["op"]) and any(k in str(te) for k in MIXED_DTYPE_REFUSALS):
        tl = TorchLib(torch, seed)
        tl.promote = widest
        tb, t, te = call(tl, spec)
    if isinstance(te, Corruption) or spec["op"] == "from_numpy" and "single memory location" in str(te):
        return None  # torch shares read-only and stride-0 arrays (and corrupts or refuses writes); reticulum copies
    if te is not None:
        if spec["op"] in ("copy_", "setitem") and any(k in str(te) for k in COPY_LENIENCY):
            return None  # NumPy's rule: the source may have extra leading dims of size 1 (or no elements)
        if INT32_GEOMETRY in str(te) and expected_spatial(spec) is not None:
            return None  # shape already checked above; torch cannot compute the values
        if any(k in str(te) for k in ORACLE_GAPS):
            return None
        return f"accepted input the oracle rejects ({describe(te)}); returned {summary(rl, r)}"
    tol = tolerance(spec)
    # Values near float32's limit overflow or cancel differently depending on accumulation
    # order and width, so with them only shapes, dtypes and the absence of crashes are checked.
    check_values = spec["op"] not in RANDOM_VALUES and "'sp': 'big'" not in repr(spec) and not arbitrary_strides(spec)
    quirk = spec["op"] in NAN_QUIRKS and ("'sp': 'nan'" in repr(spec))
    try:
        # A promoted oracle computes in the widest dtype; only values are comparable then.
        compare(rl, tl, r, t, tol, "output", check_values, finite_only=quirk, check_dtype=tl.promote is None)
    except Mismatch as m:
        return f"wrong result: {m}"
    if not spec.get("grad") or no_dof_variance(spec):
        return None
    ran, be = backward(rl, rb, r, spec)
    if be is not None and not isinstance(be, CLEAN):
        return f"backward: bad exception type: {describe(be)}"
    _, tbe = backward(tl, tb, t, spec)
    if not ran or be is not None:
        return None
    if tbe is not None:
        if any(k in str(tbe) for k in ORACLE_GAPS):
            return None
        return f"backward accepted what the oracle rejects ({describe(tbe)})"
    # Which gradient a NaN/inf input gets (NaN or 0) is a convention; finite gradients must agree.
    finite_only = "'sp': 'nan'" in repr(spec) or "'sp': 'inf'" in repr(spec)
    for i, (gr, gt) in enumerate(zip(grads_of(rl, rb), grads_of(tl, tb))):
        if gt is None and gr is None:
            continue
        if gt is None:
            gt = torch.zeros_like(gr_like(tl, gr))
        if gr is None:
            if not bool((gt == 0).all()):
                return f"wrong gradient: leaf {i}: None, oracle has nonzero gradient"
            continue
        try:
            compare(rl, tl, gr, gt, tol, f"grad of leaf {i}", check_values, finite_only)
        except Mismatch as m:
            return f"wrong gradient: {m}"
    return None


def gr_like(tl, gr):
    return tl.tensor(gr.detach().numpy(), {"float32": "f32", "float64": "f64"}.get(gr.dtype.name, "f32"))


def summary(lib, r):
    if isinstance(r, lib.mod.Tensor):
        return f"Tensor{tuple(r.shape)} {lib.dtype_name(r.dtype)}"
    s = repr(r)
    return s if len(s) < 80 else s[:77] + "..."
