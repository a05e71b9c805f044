"""Defect classes that the fuzzer finds and that are known: being fixed on other branches
(KNOWN) or found by the fuzzer and not fixed yet (FOUND).

A failing case that belongs to one of these classes does not fail the random fuzz run, and
its regression examples in corpus.json are strict xfails. When a fix lands, delete the class
here: its corpus examples then must pass, and the random run stops excusing the class."""
import math

from .oracle import float_dtypes

HOSTILE = (2**31, 2**62, 2**63 - 1, -(2**63), 2**64)


def _has(value, pred):
    if pred(value):
        return True
    if isinstance(value, dict):
        return any(_has(v, pred) for v in value.values())
    if isinstance(value, list):
        return any(_has(v, pred) for v in value)
    return False


def _args(case):
    return [case.get("args", []), case.get("kw", {})]


def _none_argument(case):
    """None where a tensor is expected (top level or inside a list), not an optional like bias=None."""
    op, args = case["op"], case.get("args", [])
    optional_none = {"F_linear": {2}, "F_conv1d": {2}, "F_conv2d": {2}, "F_conv3d": {2}, "F_batch_norm": {1, 2, 3, 4},
                     "clamp": {1, 2}}
    for i, a in enumerate(args):
        if a is None and i not in optional_none.get(op, set()):
            return True
        if isinstance(a, dict) and "L" in a and None in a["L"]:
            return True
    return False


def _mixed_dtype_graph(case):
    return len(float_dtypes(case) | {case.get("ct", "f32")}) > 1


def _nonfinite(case):
    return _has(_args(case), lambda v: isinstance(v, dict) and v.get("sp") in ("nan", "inf")) or \
        _has(_args(case), lambda v: isinstance(v, float) and not math.isfinite(v))


def _hostile_int(case):
    return _has(_args(case), lambda v: isinstance(v, int) and not isinstance(v, bool) and (v in HOSTILE or v <= -(2**31)))


LOSSES = {"F_mse_loss", "F_l1_loss", "F_binary_cross_entropy", "F_binary_cross_entropy_with_logits", "F_cross_entropy",
          "F_nll_loss", "softmax", "log_softmax", "F_softmax", "F_log_softmax"}

# class name -> (predicate on (case, problem), what is wrong)
KNOWN = {
    "mixed-dtype gradients": (
        lambda c, p: p.startswith("wrong gradient") and _mixed_dtype_graph(c),
        "gradients through graphs that mix float32 and float64 are wrong"),
    "custom Function gradient shape/dtype": (
        lambda c, p: c["op"] == "custom_fn" and c["args"][1] in ("shape", "dtype"),
        "a custom Function's backward may return a gradient of the wrong shape or dtype unchecked"),
    "None arguments": (
        lambda c, p: _none_argument(c) and (p.startswith("crash") or "NotImplemented" in p or p.startswith("bad exception")),
        "None passed for a tensor argument crashes the interpreter"),
    ".grad/.data setters": (
        lambda c, p: c["op"] in ("set_grad", "set_data") or "assign a gradient with dtype" in p,
        "the .grad and .data setters accept None, other dtypes or shapes and then crash or corrupt"),
    "geometry overflow": (
        lambda c, p: _hostile_int(c) and (p.startswith(("crash", "accepted", "hang", "wrong result: output spatial"))),
        "sizes, dims, padding, stride or dilation near 2**63 overflow instead of raising"),
    "0-d stride": (
        lambda c, p: c["op"] == "stride" and c["args"][0].get("T") == [],
        "stride(dim) on a 0-d tensor reads out of bounds"),
    "from_numpy read-only/stride-0": (
        lambda c, p: c["op"] == "from_numpy" and c["args"][0]["kind"] in ("readonly", "stride0"),
        "from_numpy shares read-only and stride-0 arrays as writable tensors"),
    "loss/softmax inf/NaN semantics": (
        lambda c, p: (c["op"] in LOSSES or c["op"] == "module" and c["args"][1] == "Softmax") and _nonfinite(c)
        and (p.startswith("wrong") or p.startswith("accepted")),
        "losses and softmax give other values than PyTorch for inf/NaN inputs"),
}


INPLACE = {"add_", "sub_", "mul_", "div_", "copy_", "fill_", "zero_", "setitem"}

FOUND = {
    "bool arithmetic result dtype": (
        lambda c, p: "dtype i64 != oracle b" in p or "Boolean inputs not supported" in p,
        "arithmetic on bool tensors (add, mul, pow, maximum, sign, ...) gives int64 where PyTorch keeps bool"),
    "clamp bounds": (
        lambda c, p: c["op"] == "clamp" and p.startswith("wrong result"),
        "clamp ignores a NaN bound and keeps int64 for float bounds (PyTorch: NaN result, float32)"),
    "in-place op on an overlapping view": (
        lambda c, p: c["op"] in INPLACE and "refers to a single memory location" in p,
        "in-place ops write through broadcast (stride-0) views, applying the update once per alias"),
    "NaN/inf/huge written into int64": (
        lambda c, p: "int64_t without overflow" in p or "int64 without overflow" in p,
        "NaN, inf and out-of-range floats are converted into int64 tensors (fill_, setitem, tensor) unchecked"),
    "methods return NotImplemented": (
        lambda c, p: "returned NotImplemented" in p and not _none_argument(c),
        "Tensor.add/sub/mul/div/eq/gt/... return NotImplemented for a non-tensor operand instead of raising TypeError"),
    "zero kernel size": (
        lambda c, p: c["op"] == "module" and c["args"][1] in ("Conv1d", "Conv2d") and c["args"][2][2:3] == [0],
        "nn.Conv1d/Conv2d accept kernel_size=0 and return a result (PyTorch refuses)"),
    "non-tensor weight with padding='same'": (
        lambda c, p: c["op"].startswith("F_conv") and c["kw"].get("padding") == "same" and "has no attribute 'shape'" in p,
        "F.conv2d(x, 3, padding='same') raises AttributeError instead of TypeError"),
    "binary_cross_entropy target range": (
        lambda c, p: c["op"] == "F_binary_cross_entropy" and "target should be between 0 and 1" in p,
        "binary_cross_entropy accepts targets outside [0, 1]"),
}


def known_class(case, problem):
    """The known defect class a failing case belongs to, or None if the failure is new."""
    for name, (pred, _) in {**KNOWN, **FOUND}.items():
        if pred(case, problem):
            return name
    return None


def reason(name):
    if name in KNOWN:
        return f"issue 10: {name}, fixed on another branch"
    return f"issue 10: {name}, found by the fuzzer, not fixed yet"
