"""Walks every public function and method that takes tensors (rt, rt.nn.functional, the Tensor
class and the raw bindings in rt._C) and passes None or a non-tensor in each tensor position.
Each such call must raise a Python exception; the walk itself must not crash the interpreter.

Run as a script (test_boundaries.py does, in a subprocess, since a crash would kill pytest): it
prints a JSON report {"checked": n, "problems": [...], "uncovered": [...]} on its last line.

How calls are found: a function's sample call comes from SAMPLES when listed, else from trying
argument lists built from POOL (fewest arguments first) until one succeeds. The tensor positions
of that call (tensor arguments and tensors inside list arguments) are then replaced one at a time."""
import inspect
import itertools
import json
import operator
import os
import sys
import tempfile

import reticulum as rt
import reticulum.nn.functional as F
from reticulum import _C

# Values a tensor position receives; each must make the call raise (None only where the
# parameter isn't optional).
BAD_VALUES = {"None": lambda: None, "str": lambda: "oops", "list_of_None": lambda: [None, None]}

POOL = {
    "m": lambda: rt.rand(2, 3), "sq": lambda: rt.rand(3, 3), "v": lambda: rt.rand(3), "idx": lambda: rt.tensor([0, 1]),
    "mask": lambda: rt.rand(2, 3) > 0.5, "img": lambda: rt.rand(1, 3, 4, 4), "0": lambda: 0, "1": lambda: 1,
}


def _param():
    p = rt.rand(3, requires_grad=True)
    p.grad = rt.rand(3)
    return p


# name -> factory of one valid argument tuple, for calls that need particular shapes or that
# take optional tensors (so the walk reaches bias/weight positions too).
SAMPLES = {
    "rt.cat": lambda: ([rt.rand(2), rt.rand(3)],),
    "rt.stack": lambda: ([rt.rand(2), rt.rand(2)],),
    "rt.bmm": lambda: (rt.rand(2, 2, 3), rt.rand(2, 3, 4)),
    "rt.where": lambda: (rt.rand(2) > 0.5, rt.rand(2), rt.rand(2)),
    "_C.cat": lambda: ([rt.rand(2), rt.rand(3)], 0),
    "_C.stack": lambda: ([rt.rand(2), rt.rand(2)], 0),
    "_C.bmm": lambda: (rt.rand(2, 2, 3), rt.rand(2, 3, 4)),
    "_C.where": lambda: (rt.rand(2) > 0.5, rt.rand(2), rt.rand(2)),
    "_C._attach_custom": lambda: (rt.rand(2), [rt.rand(2, requires_grad=True)], lambda g: g, "Custom"),
    "_C._backward": lambda: ([rt.rand(2, requires_grad=True).sum()], [None], False),
    "_C._grad": lambda: ([(rt.rand(2, requires_grad=True) * 1).sum()], [None], [rt.rand(2, requires_grad=True)], False, True),
    "F.linear": lambda: (rt.rand(2, 3), rt.rand(4, 3), rt.rand(4)),
    "F.layer_norm": lambda: (rt.rand(2, 3), (3,), rt.ones(3), rt.zeros(3)),
    "F.conv1d": lambda: (rt.rand(1, 2, 5), rt.rand(3, 2, 3), rt.rand(3)),
    "F.conv2d": lambda: (rt.rand(1, 2, 5, 5), rt.rand(3, 2, 3, 3), rt.rand(3)),
    "F.conv3d": lambda: (rt.rand(1, 2, 4, 4, 4), rt.rand(3, 2, 3, 3, 3), rt.rand(3)),
    "F.batch_norm": lambda: (rt.rand(2, 3), rt.zeros(3), rt.ones(3), rt.ones(3), rt.zeros(3), True),
    "_C.nn.reduce_loss": lambda: (rt.rand(2, 3), "mean", "mse_loss"),
    "F.nll_loss": lambda: (rt.rand(2, 3).log_softmax(1), rt.tensor([0, 2]), rt.ones(3)),
    "F.cross_entropy": lambda: (rt.rand(2, 3), rt.tensor([0, 2]), rt.ones(3)),
    "F.binary_cross_entropy": lambda: (rt.rand(2, 3), rt.rand(2, 3), rt.ones(2, 3)),
    "F.binary_cross_entropy_with_logits": lambda: (rt.rand(2, 3), rt.rand(2, 3), rt.ones(2, 3), "mean", rt.ones(3)),
    "rt.reshape": lambda: (rt.rand(2, 3), (6,)),
    "Tensor.reshape": lambda: (rt.rand(2, 3), 6),
    "Tensor.view": lambda: (rt.rand(2, 3), 6),
    "Tensor.expand": lambda: (rt.rand(1, 3), 2, 3),
    "Tensor.narrow": lambda: (rt.rand(2, 3), 1, 0, 2),
    "Tensor._slice": lambda: (rt.rand(2, 3), 1, 0, 2, 1),
    "Tensor._to_dtype": lambda: (rt.rand(2, 3), rt.float64),
    "Tensor._to_device": lambda: (rt.rand(2, 3), rt.device("cpu")),
    "Tensor._index_copy_": lambda: (rt.zeros(3, 2), 0, rt.tensor([0, 2]), rt.rand(2, 2)),
    "Tensor.item": lambda: (rt.rand(()),),
    "Tensor.cuda": lambda: (rt.rand(2),),  # raises in a build without CUDA, so no sample call is found
    "Tensor.backward": lambda: ((rt.rand(2, requires_grad=True) * 2).sum(), rt.tensor(1.0)),
    "Tensor.register_hook": lambda: (rt.rand(2, requires_grad=True), lambda g: None),
    "Tensor.register_post_accumulate_grad_hook": lambda: (rt.rand(2, requires_grad=True), lambda p: None),
    "F.max_pool1d": lambda: (rt.rand(1, 2, 6), 2),
    "F.avg_pool1d": lambda: (rt.rand(1, 2, 6), 2),
    "_C.nn.conv": lambda: (2, rt.rand(1, 2, 5, 5), rt.rand(3, 2, 3, 3), rt.rand(3), [1, 1], [0, 0], [1, 1], 1),
    "_C.nn.linear": lambda: (rt.rand(2, 3), rt.rand(4, 3), rt.rand(4)),
    "_C.nn.max_pool2d": lambda: (rt.rand(1, 3, 4, 4), [2, 2], [2, 2], [0, 0], False, "max_pool2d"),
    "_C.nn.avg_pool2d": lambda: (rt.rand(1, 3, 4, 4), [2, 2], [2, 2], [0, 0], False, True, "avg_pool2d"),
    "_C.nn.adaptive_avg_pool2d": lambda: (rt.rand(1, 3, 4, 4), 2, 2),
    "_C.nn.batch_norm": lambda: (rt.rand(2, 3), rt.zeros(3), rt.ones(3), rt.ones(3), rt.zeros(3), True, 0.1, 1e-5),
    "_C.nn.dropout": lambda: (rt.rand(2, 3), 0.5, True, False),
    "_C.nn.nll_loss": lambda: (rt.rand(2, 3).log_softmax(1), rt.tensor([0, 2]), rt.ones(3), "mean", -100),
    "_C.nn.cross_entropy": lambda: (rt.rand(2, 3), rt.tensor([0, 2]), rt.ones(3), "mean", -100, 0.0),
    "_C.nn.affine_warp": lambda: (rt.rand(1, 2, 4, 4), rt.rand(1, 2, 3)),
    "_C.optim.clip_grad_norm": lambda: ([_param()], 1.0, 2.0, False),
    "_C.optim.clip_grad_value": lambda: ([_param()], 1.0),
    "_C.optim.GroupState": lambda: ([_param()],),
    "Tensor._cumsum": lambda: (rt.rand(2, 3), 1, None),
    "Tensor._scatter": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1), False),
    "Tensor._topk": lambda: (rt.rand(2, 3), 2, 1, True),
    "Tensor._sort": lambda: (rt.rand(2, 3), 1, False),
    "Tensor.scatter": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1)),
    "Tensor.scatter_": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1)),
    "Tensor.scatter_add": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1)),
    "Tensor.scatter_add_": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1)),
    "Tensor.gather": lambda: (rt.rand(2, 3), 1, rt.tensor([[0], [2]])),
    "rt.scatter": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1)),
    "rt.scatter_add": lambda: (rt.zeros(2, 3), 1, rt.tensor([[0], [2]]), rt.rand(2, 1)),
    "rt.gather": lambda: (rt.rand(2, 3), 1, rt.tensor([[0], [2]])),
    "rt.einsum": lambda: ("ij,jk->ik", rt.rand(2, 3), rt.rand(3, 4)),
}

# Functions that take no tensor at all (creation, seeding, threads, I/O) or only wrap a
# non-tensor value; they are not walked.
NO_TENSOR_ARGS = {
    "rt.arange", "rt.empty", "rt.eye", "rt.full", "rt.linspace", "rt.ones", "rt.rand", "rt.randint", "rt.randn", "rt.zeros",
    "rt.manual_seed", "rt.set_num_threads", "rt.get_num_threads", "rt.is_grad_enabled", "rt.set_grad_enabled", "rt.empty_cache",
    "rt.cached_bytes", "rt.save", "rt.load", "rt.from_numpy", "rt.is_anomaly_enabled",
    "_C.arange", "_C.empty", "_C.eye", "_C.full", "_C.linspace", "_C.rand", "_C.randint", "_C.randn", "_C.bernoulli_mask",
    "_C.manual_seed", "_C.set_num_threads", "_C.get_num_threads", "_C.is_grad_enabled", "_C.set_grad_enabled", "_C.empty_cache",
    "rt.set_default_device", "rt.get_default_device",
    "_C.cached_bytes", "_C.from_numpy", "_C._from_numpy_copy", "_C._is_anomaly_enabled", "_C._set_anomaly_enabled",
    "_C._cpu_build_info", "_C._get_cpu_capability", "_C._init_cpu_capability", "_C._resolve_cpu_capability",
    "_C._set_cpu_capability", "_C._set_poison_allocations", "_C._broadcast_shapes", "_C._enable_test_device",
    "_C._register_test_device_without", "_C._checked_device", "_C._is_device_available",
}

# Tensor operators, called through the operator module (x.__add__(None) returns NotImplemented
# and Python then raises TypeError, which is what the walk checks).
OPERATORS = {f"op.{n}": getattr(operator, n) for n in (
    "add", "sub", "mul", "truediv", "matmul", "pow", "lt", "le", "gt", "ge", "iadd", "isub", "imul", "itruediv")}

# Tensor members that are not methods taking tensors (properties, or defined to accept anything).
SKIP_METHODS = {"T", "mT", "data", "grad", "grad_fn", "requires_grad", "shape", "ndim", "dtype", "device", "is_cuda", "is_leaf",
                "_pybind11_conduit_v1_"}


def public_callables():
    out = {}
    for prefix, mod in (("rt", rt), ("F", F), ("_C", _C), ("_C.nn", _C.nn), ("_C.optim", _C.optim)):
        for name in dir(mod):
            if name.startswith("__"):
                continue
            obj = getattr(mod, name)
            if isinstance(obj, type) and name != "GroupState" or inspect.ismodule(obj) or not callable(obj):
                continue
            if prefix in ("rt", "F") and name.startswith("_"):
                continue
            out[f"{prefix}.{name}"] = obj
    for name in dir(rt.Tensor):
        if name.startswith("__") or name in SKIP_METHODS:
            continue
        out[f"Tensor.{name}"] = getattr(rt.Tensor, name)  # unbound: self is tensor position 0
    out.update(OPERATORS)
    return out


def optional_params(fn):
    """Positions of parameters that accept None (a None default, or a pybind11 'Tensor | None')."""
    try:
        sig = inspect.signature(fn)
        return {i for i, p in enumerate(sig.parameters.values()) if p.default is None}
    except (TypeError, ValueError):
        pass
    doc = (getattr(fn, "__doc__", None) or "").split("\n")[0]
    if "(" not in doc:
        return set()
    params = doc[doc.index("(") + 1:doc.rindex(")")].split(", ")
    named = [p for p in params if ":" in p]
    return {i for i, p in enumerate(named) if "| None" in p or p.endswith("= None")}


def receiver_checked(name, fn):
    """Whether a non-tensor first argument is a case to check: not for methods written in Python (an
    unbound call with a foreign self is Python's business) nor for the in-place operators (where
    `[None] += x` is list arithmetic)."""
    if name.startswith("Tensor.") and inspect.isfunction(fn):
        return False
    return name not in ("op.iadd", "op.isub", "op.imul", "op.itruediv")


def find_sample(name, fn):
    if name in SAMPLES:
        return SAMPLES[name]
    keys = list(POOL)
    for arity in (1, 2, 3):
        for combo in itertools.product(keys, repeat=arity):
            if not any(k not in ("0", "1") for k in combo):
                continue
            try:
                fn(*[POOL[k]() for k in combo])
            except Exception:  # noqa: BLE001  (trying argument lists)
                continue
            return lambda combo=combo: tuple(POOL[k]() for k in combo)
    return None


def tensor_positions(args):
    """(arg index, list index or None) of every tensor in args, looking one level into lists."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, rt.Tensor):
            out.append((i, None))
        elif isinstance(a, list):
            out.extend((i, j) for j, x in enumerate(a) if isinstance(x, rt.Tensor))
    return out


def substitute(args, pos, value):
    args = list(args)
    i, j = pos
    if j is None:
        args[i] = value
    else:
        args[i] = list(args[i])
        args[i][j] = value
    return args


def walk():
    problems, uncovered, checked = [], [], 0
    for name, fn in sorted(public_callables().items()):
        if name in NO_TENSOR_ARGS:
            continue
        sample = find_sample(name, fn)
        if sample is None:
            uncovered.append(name)
            continue
        optional = optional_params(fn)
        for pos in tensor_positions(sample()):
            if pos == (0, None) and not receiver_checked(name, fn):
                continue
            for bad_name, bad in BAD_VALUES.items():
                if bad_name == "None" and pos[1] is None and pos[0] in optional:
                    continue
                args = substitute(sample(), pos, bad())
                checked += 1
                try:
                    fn(*args)
                except Exception:  # noqa: BLE001  (any Python exception is the expected outcome)
                    continue
                problems.append(f"{name}: {bad_name} at position {pos} was accepted")
    return {"checked": checked, "problems": problems, "uncovered": uncovered}


if __name__ == "__main__":
    os.chdir(tempfile.mkdtemp())  # nothing the walk calls should write files, but keep any away from the repo
    report = walk()
    sys.stdout.flush()
    print(json.dumps(report))
