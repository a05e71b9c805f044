"""Hypothesis strategies that draw fuzz cases (JSON dicts, see spec.py) over the public API:
shapes with 0, 1 and huge sizes, all four dtypes (mixed between operands), transposed /
strided / broadcast layouts, None and non-tensor arguments, int64-overflowing integers as
sizes, dims, padding, stride and dilation, and NaN/inf values."""
from hypothesis import strategies as st

from .ops import BINARY_METHODS, BINARY_OPERATORS, CREATION, INPLACE, REDUCTIONS, UNARY

HUGE = [2**31, 2**62, 2**63 - 1, -(2**63), 2**64, -1]
FLOATS = ["f32", "f64"]
DTYPE = st.sampled_from(["f32", "f64", "i64", "b"])
FLOAT_DTYPE = st.sampled_from(FLOATS)
SIZE = st.sampled_from([0, 1, 1, 2, 2, 3, 3, 4, 5])
SHAPE = st.lists(SIZE, min_size=0, max_size=4)
LAYOUT = st.sampled_from(["contig", "contig", "T", "step", "expand"])
SPECIAL = st.sampled_from(["none", "none", "none", "nan", "inf", "big"])
HOSTILE_INT = st.sampled_from(HUGE)
# Non-tensor things passed where a tensor is expected.
JUNK = st.sampled_from([None, "x", 1.5, 3, [1.0, 2.0], True])


def seed():
    return st.integers(0, 2**31 - 1)


@st.composite
def tensor(draw, shape=None, dtype=None, grad=None, layout=None):
    shape = draw(SHAPE) if shape is None else list(shape)
    dt = draw(DTYPE) if dtype is None else dtype
    return {"T": shape, "dt": dt, "lay": draw(LAYOUT) if layout is None else layout, "sp": draw(SPECIAL),
            "rg": draw(st.booleans()) if grad is None else grad}


def broadcast_partner(draw, shape):
    """A shape that broadcasts with `shape` (dims set to 1 or dropped), or now and then one that does not."""
    if draw(st.integers(0, 9)) == 0:
        return draw(SHAPE)
    out = [1 if draw(st.booleans()) else s for s in shape]
    return out[draw(st.integers(0, len(out))):]


def int_arg(draw, lo, hi):
    """A valid-ish integer argument, or one of the hostile ones."""
    return draw(st.one_of(st.integers(lo, hi), HOSTILE_INT)) if draw(st.integers(0, 4)) == 0 else draw(st.integers(lo, hi))


def case(op, args, kw=None, grad=False, ct="f32", s=0):
    return {"op": op, "args": args, "kw": kw or {}, "grad": grad, "ct": ct, "seed": s}


@st.composite
def unary(draw):
    op = draw(st.sampled_from(UNARY + ["f_" + u for u in UNARY] + ["F_relu", "F_sigmoid", "F_tanh"]))
    return case(op, [draw(tensor())], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def binary(draw):
    op = draw(st.sampled_from(list(BINARY_OPERATORS) + BINARY_METHODS + ["maximum_f"]))
    a = draw(tensor())
    kind = draw(st.sampled_from(["tensor", "tensor", "tensor", "scalar", "junk"]))
    if kind == "tensor":
        b = draw(tensor(shape=broadcast_partner(draw, a["T"])))
    elif kind == "scalar":
        b = draw(st.sampled_from([0, 1, -1, 2, 0.5, -1.5, True, False, 2**62, 2**63 - 1, float("nan"), float("inf")]))
    else:
        b = draw(JUNK)
    if op == "o_matmul" and kind == "tensor":
        b = draw(tensor())
    reflected = op.startswith("o_") and draw(st.integers(0, 5)) == 0  # 2 + t as well as t + 2
    args = [b, a] if reflected else [a, b]
    return case(op, args, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def inplace(draw):
    op = draw(st.sampled_from(INPLACE))
    a = draw(tensor(grad=False))
    if op == "zero_":
        args = [a]
    elif op == "fill_":
        args = [a, draw(st.sampled_from([0, 1.5, float("nan"), 2**62, None, "x"]))]
    else:
        other = draw(st.one_of(tensor(shape=broadcast_partner(draw, a["T"]), grad=False), JUNK))
        args = [a, other]
    return case(op, args, s=draw(seed()))


@st.composite
def reduction(draw):
    op = draw(st.sampled_from(REDUCTIONS))
    a = draw(tensor())
    nd = len(a["T"])
    kw = {}
    style = draw(st.sampled_from(["none", "int", "int", "tuple", "hostile"]))
    if style == "int" or op in ("softmax", "log_softmax"):
        kw["dim"] = draw(st.integers(-nd - 1, nd)) if style != "hostile" else draw(HOSTILE_INT)
    elif style == "tuple" and op in ("sum", "mean", "var", "std"):
        kw["dim"] = {"U": draw(st.lists(st.integers(-nd - 1, nd), min_size=0, max_size=3))}
    elif style == "hostile":
        kw["dim"] = draw(HOSTILE_INT)
    if op not in ("softmax", "log_softmax") and "dim" in kw and draw(st.booleans()):
        kw["keepdim"] = True
    if op in ("var", "std") and draw(st.booleans()):
        kw["correction"] = draw(st.sampled_from([0, 1, 2, 5]))
    return case(op, [a], kw, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def view_op(draw):
    a = draw(tensor())
    shape, nd = a["T"], len(a["T"])
    op = draw(st.sampled_from(["reshape", "view", "transpose", "permute", "expand", "squeeze", "unsqueeze", "flatten",
                               "narrow", "select", "index_select", "t", "T", "mT", "contiguous", "clone", "getitem",
                               "to", "type_as", "expand_as", "reshape_as", "masked_fill", "clamp", "F_leaky_relu",
                               "stride", "size", "item", "tolist", "float", "long", "bool", "double"]))
    dim = lambda: int_arg(draw, -nd - 1, nd)  # noqa: E731
    args = [a]
    if op in ("reshape", "view"):
        n = 1
        for s in shape:
            n *= s
        new = draw(st.sampled_from([[n], [-1], [n, 1], [1, -1], [-1, -1], [n + 1], [2**62, 0], [2**31, 2**31]]))
        args += [{"U": new}]
    elif op == "transpose":
        args += [dim(), dim()]
    elif op == "permute":
        args += draw(st.permutations(list(range(nd)))) if draw(st.integers(0, 4)) else [dim() for _ in range(nd)]
    elif op == "expand":
        args += [draw(st.sampled_from([s, -1, s * 2, 2**62])) if draw(st.integers(0, 3)) else s for s in shape]
        args[1:1] = [draw(st.sampled_from([2, 0, 2**40]))] if draw(st.integers(0, 3)) == 0 else []
    elif op in ("squeeze", "unsqueeze", "size", "stride"):
        if op == "unsqueeze" or draw(st.booleans()):
            args += [int_arg(draw, -nd - 2, nd + 1)]
    elif op == "flatten":
        args += [dim(), dim()]
    elif op == "narrow":
        args += [dim(), int_arg(draw, -3, 5), int_arg(draw, 0, 5)]
    elif op == "select":
        args += [dim(), int_arg(draw, -5, 5)]
    elif op == "index_select":
        args += [dim(), {"I": [draw(st.integers(0, 4))], "lo": 0, "hi": draw(st.integers(0, 6))}]
    elif op == "getitem":
        items = []
        for _ in range(draw(st.integers(0, nd + 1))):
            items.append(draw(st.one_of(
                st.integers(-4, 4), st.just(None), st.just("..."),
                st.builds(lambda a, b, c: {"S": [a, b, c]}, st.sampled_from([None, 0, 1, -2, 2**62]),
                          st.sampled_from([None, 2, -1, 2**63 - 1]), st.sampled_from([None, 1, 2, 3])),
                st.builds(lambda n, hi: {"I": [n], "lo": 0, "hi": hi}, st.integers(0, 3), st.integers(1, 4)))))
        args += [{"K": items}]
    elif op in ("to", "type_as", "expand_as", "reshape_as"):
        args += [{"D": draw(DTYPE)} if op == "to" else draw(tensor(grad=False))]
    elif op == "masked_fill":
        args += [draw(tensor(shape=broadcast_partner(draw, shape), dtype="b", grad=False)),
                 draw(st.sampled_from([0.0, -1.5, float("nan"), float("-inf"), 2**62]))]
    elif op == "clamp":
        args += [draw(st.sampled_from([None, -1.0, 0, float("nan")])), draw(st.sampled_from([None, 1.0, -2, float("inf")]))]
    elif op == "F_leaky_relu":
        args += [draw(st.sampled_from([0.01, -1.0, 0.0, float("nan")]))]
    return case(op, args, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def combine(draw):
    op = draw(st.sampled_from(["cat", "stack"]))
    shape = draw(SHAPE)
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 7)) == 0:
            parts.append(draw(JUNK))
        else:
            s = list(shape)
            if op == "cat" and s and draw(st.booleans()):
                s[0] = draw(SIZE)
            parts.append(draw(tensor(shape=s if draw(st.integers(0, 6)) else draw(SHAPE))))
    nd = len(shape)
    kw = {"dim": int_arg(draw, -nd - 1, nd)} if draw(st.booleans()) else {}
    return case(op, [{"L": parts}], kw, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def matmul(draw):
    op = draw(st.sampled_from(["matmul", "bmm", "o_matmul"]))
    k = draw(SIZE)
    lead = draw(st.lists(SIZE, max_size=2))
    a = lead + [draw(SIZE), k] if draw(st.integers(0, 3)) else [k]
    b = lead[draw(st.integers(0, len(lead))):] + [k, draw(SIZE)] if draw(st.integers(0, 3)) else [k]
    if draw(st.integers(0, 9)) == 0:
        b = draw(SHAPE)
    dtypes = draw(st.sampled_from([("f32", "f32"), ("f64", "f64"), ("f32", "f64"), ("i64", "i64"), ("i64", "f32"), ("b", "b")]))
    other = draw(tensor(shape=b, dtype=dtypes[1])) if draw(st.integers(0, 9)) else draw(JUNK)
    return case(op, [draw(tensor(shape=a, dtype=dtypes[0])), other], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


def geometry(draw, nd, name):
    """Per-dimension ints for conv/pool arguments: small valid values, or one hostile value."""
    lo = 0 if name == "padding" else 1
    if draw(st.integers(0, 5)) == 0:
        return draw(st.one_of(HOSTILE_INT, st.sampled_from([0, -2])))
    v = [draw(st.integers(lo, 3)) for _ in range(nd)]
    return v[0] if draw(st.booleans()) else v


@st.composite
def conv(draw):
    nd = draw(st.integers(1, 3))
    n, cin, cout = draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 1, cin, 2, 0, -1, 2**62]))
    k = [draw(st.integers(1, 3)) for _ in range(nd)]
    spatial = [draw(st.integers(0, 6)) for _ in range(nd)]
    wdt, xdt = draw(st.sampled_from([("f32", "f32"), ("f64", "f64"), ("f32", "f64"), ("i64", "i64")]))
    cin_w = cin // groups if isinstance(groups, int) and 0 < groups <= cin and cin % groups == 0 else cin
    x = draw(tensor(shape=[n, cin] + spatial, dtype=xdt))
    w = draw(tensor(shape=[cout * (groups if groups in (2, cin) else 1), cin_w] + k, dtype=wdt))
    if draw(st.integers(0, 9)) == 0:
        w = draw(JUNK)
    bias = draw(st.sampled_from([None, "tensor", "junk"]))
    bias = draw(tensor(shape=[cout], dtype=wdt)) if bias == "tensor" else (None if bias is None else draw(JUNK))
    kw = {"stride": geometry(draw, nd, "stride"), "padding": geometry(draw, nd, "padding"),
          "dilation": geometry(draw, nd, "dilation"), "groups": groups}
    if draw(st.integers(0, 5)) == 0:
        kw["padding"] = draw(st.sampled_from(["same", "valid", "bogus"]))
    return case(f"F_conv{nd}d", [x, w, bias], kw, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def pool(draw):
    op = draw(st.sampled_from(["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d"]))
    nd = 1 if op.endswith("1d") else 2
    shape = [draw(st.integers(0, 2)), draw(st.integers(1, 3))] + [draw(st.integers(0, 7)) for _ in range(nd)]
    if draw(st.integers(0, 5)) == 0:
        shape = shape[1:]  # unbatched
    x = draw(tensor(shape=shape, dtype=draw(st.sampled_from(["f32", "f32", "f64", "i64"]))))
    if op == "adaptive_avg_pool2d":
        out = draw(st.one_of(st.integers(1, 4), HOSTILE_INT,
                             st.lists(st.one_of(st.integers(0, 4), st.none()), min_size=2, max_size=2)))
        return case("F_" + op, [x, {"U": out} if isinstance(out, list) else out], grad=True, s=draw(seed()))
    kw = {"kernel_size": geometry(draw, nd, "kernel_size")}
    if draw(st.booleans()):
        kw["stride"] = geometry(draw, nd, "stride")
    if draw(st.booleans()):
        kw["padding"] = geometry(draw, nd, "padding")
    if draw(st.booleans()):
        kw["ceil_mode"] = True
    if op.startswith("avg") and draw(st.booleans()):
        kw["count_include_pad"] = False
    return case("F_" + op, [x], kw, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def linear_bn(draw):
    op = draw(st.sampled_from(["F_linear", "F_batch_norm", "F_dropout", "F_softplus", "F_softmax", "F_log_softmax"]))
    dt = draw(st.sampled_from([("f32", "f32"), ("f64", "f64"), ("f32", "f64"), ("f64", "f32")]))
    if op == "F_linear":
        fin, fout = draw(SIZE), draw(SIZE)
        x = draw(tensor(shape=draw(st.lists(SIZE, max_size=2)) + [fin], dtype=dt[0]))
        w = draw(tensor(shape=[fout, fin] if draw(st.integers(0, 7)) else draw(SHAPE), dtype=dt[1]))
        b = draw(st.one_of(st.none(), tensor(shape=[fout], dtype=dt[1]), JUNK))
        return case(op, [x, w if draw(st.integers(0, 9)) else draw(JUNK), b], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))
    if op == "F_batch_norm":
        c = draw(st.integers(1, 3))
        x = draw(tensor(shape=[draw(st.integers(1, 3)), c] + draw(st.lists(SIZE, max_size=2)), dtype=dt[0]))
        stat = lambda: draw(st.one_of(st.none(), tensor(shape=[c], dtype=dt[1], grad=False, layout="contig")))  # noqa: E731
        affine = lambda: draw(st.one_of(st.none(), tensor(shape=[c], dtype=dt[1])))  # noqa: E731
        training = draw(st.booleans())
        rm, rv = stat(), stat()
        if not training and (rm is None or rv is None):
            rm = rv = None
            training = True
        return case(op, [x, rm, rv, affine(), affine(), training, draw(st.sampled_from([0.1, 0.0, 1.0])),
                         draw(st.sampled_from([1e-5, 0.0, 1.0]))], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))
    x = draw(tensor(dtype=dt[0]))
    if op == "F_dropout":
        return case(op, [x, draw(st.sampled_from([0.0, 0.5, 1.0, -0.5, 1.5, float("nan")])), draw(st.booleans())], s=draw(seed()))
    if op in ("F_softmax", "F_log_softmax"):
        nd = len(x["T"])
        return case(op, [x, int_arg(draw, -nd - 1, nd)], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))
    return case(op, [x], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def loss(draw):
    op = draw(st.sampled_from(["F_mse_loss", "F_l1_loss", "F_binary_cross_entropy", "F_binary_cross_entropy_with_logits",
                               "F_cross_entropy", "F_nll_loss"]))
    dt = draw(st.sampled_from([("f32", "f32"), ("f64", "f64"), ("f32", "f64"), ("f64", "f32")]))
    red = draw(st.sampled_from(["mean", "mean", "sum", "none", "bogus"]))
    if op in ("F_cross_entropy", "F_nll_loss"):
        n, c = draw(st.integers(0, 3)), draw(st.integers(1, 4))
        extra = draw(st.lists(st.integers(1, 2), max_size=1))
        x = draw(tensor(shape=[n, c] + extra, dtype=dt[0]))
        hi = c + (1 if draw(st.integers(0, 5)) == 0 else 0)
        target = {"I": [n] + extra, "lo": draw(st.sampled_from([0, 0, 0, -1])), "hi": hi}
        if draw(st.integers(0, 7)) == 0:
            target = draw(st.one_of(JUNK, tensor(shape=[n] + extra, dtype=dt[1])))
        kw = {"reduction": red}
        if draw(st.booleans()):
            kw["weight"] = draw(st.one_of(st.none(), tensor(shape=[c], dtype=dt[1], grad=False), JUNK))
        if draw(st.booleans()):
            kw["ignore_index"] = draw(st.sampled_from([-100, 0, 1, 2**62]))
        if op == "F_cross_entropy" and draw(st.booleans()):
            kw["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 1.0, -0.1, 1.5]))
        return case(op, [x, target], kw, grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))
    shape = draw(SHAPE)
    x = draw(tensor(shape=shape, dtype=dt[0]))
    y = draw(tensor(shape=shape if draw(st.integers(0, 7)) else draw(SHAPE), dtype=dt[1]))
    if op == "F_binary_cross_entropy":
        x["sp"] = "unit"  # probabilities
    return case(op, [x, y if draw(st.integers(0, 9)) else draw(JUNK)], {"reduction": red}, grad=True,
                ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def creation(draw):
    op = draw(st.sampled_from(CREATION + ["tensor"]))
    dt = {"D": draw(DTYPE)}
    size = draw(st.one_of(st.lists(st.one_of(SIZE, HOSTILE_INT), max_size=3), st.lists(SIZE, max_size=3)))
    if op.endswith("_like"):
        args = [draw(tensor(grad=False))] + ([draw(st.sampled_from([0, 2.5, float("nan"), 2**62]))] if op == "full_like" else [])
        return case(op, args, {"dtype": dt} if draw(st.booleans()) else {}, s=draw(seed()))
    if op in ("zeros", "ones", "empty", "rand", "randn"):
        if op in ("rand", "randn"):
            dt = {"D": draw(FLOAT_DTYPE)}
        return case(op, [{"U": size}], {"dtype": dt}, s=draw(seed()))
    if op == "full":
        return case(op, [{"U": size}, draw(st.sampled_from([0, 1.5, float("inf"), 2**62, True]))], {"dtype": dt}, s=draw(seed()))
    if op == "arange":
        ends = st.sampled_from([0, 1, 5, -3, 2.5, 2**62, float("inf"), float("nan")])
        args = [draw(ends)] if draw(st.booleans()) else [draw(ends), draw(ends), draw(st.sampled_from([1, 2, -1, 0.5, 0, 2**62]))]
        return case(op, args, s=draw(seed()))
    if op == "linspace":
        return case(op, [draw(st.sampled_from([0.0, -1.0, float("nan")])), draw(st.sampled_from([1.0, 5.0, float("inf")])),
                         draw(st.sampled_from([0, 1, 2, 7, -1, 2**62]))], s=draw(seed()))
    if op == "eye":
        return case(op, [draw(st.one_of(SIZE, HOSTILE_INT))] + ([draw(st.one_of(SIZE, HOSTILE_INT))] if draw(st.booleans()) else []),
                    s=draw(seed()))
    if op == "randint":
        return case(op, [draw(st.sampled_from([0, -5, 2**62])), draw(st.sampled_from([1, 5, 0, 2**63 - 1])), {"U": size}], s=draw(seed()))
    nested = draw(st.recursive(st.sampled_from([0, 1.5, True, 2**62, float("nan"), 2**63 - 1]),
                               lambda c: st.lists(c, max_size=3), max_leaves=8))
    return case("tensor", [nested], {"dtype": dt} if draw(st.booleans()) else {}, s=draw(seed()))


@st.composite
def from_numpy(draw):
    arr = {"np": draw(SHAPE), "dt": draw(DTYPE), "kind": draw(st.sampled_from(["plain", "readonly", "stride0", "fortran"])),
           "write": draw(st.booleans())}
    return case("from_numpy", [arr], s=draw(seed()))


@st.composite
def setters(draw):
    op = draw(st.sampled_from(["setitem", "set_grad", "set_data", "backward_with"]))
    a = draw(tensor(grad=op != "setitem", layout="contig" if op != "setitem" else None))
    if op == "setitem":
        nd = len(a["T"])
        key = {"K": [draw(st.one_of(st.integers(-3, 3), st.just("..."),
                                    st.builds(lambda b, c: {"S": [None, b, c]}, st.sampled_from([None, 1, 2**62]), st.sampled_from([None, 2]))))
                     for _ in range(draw(st.integers(0, max(nd, 1))))]}
        v = draw(st.one_of(st.sampled_from([0, 1.5, float("nan"), 2**62, None]), tensor(grad=False)))
        return case(op, [a, key, v], s=draw(seed()))
    other = draw(st.one_of(tensor(shape=a["T"] if draw(st.integers(0, 3)) else draw(SHAPE), grad=False, layout="contig"),
                           st.none(), JUNK))
    return case(op, [a, other], s=draw(seed()))


@st.composite
def custom_function(draw):
    x = draw(tensor(shape=[2], dtype=draw(FLOAT_DTYPE), grad=True, layout="contig"))
    x["sp"] = "none"
    return case("custom_fn", [x, draw(st.sampled_from(["ok", "none", "shape", "dtype", "count"]))], grad=True,
                ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def module(draw):
    cls = draw(st.sampled_from(["Linear", "Conv1d", "Conv2d", "BatchNorm1d", "MaxPool2d", "AvgPool2d", "Flatten",
                                "LeakyReLU", "Softmax"]))
    # The input is float32 like the parameters (mixed dtypes are fuzzed through nn.functional), and
    # in_channels >= 1 unless hostile (torch's zero-channel convolutions drop the bias: no oracle).
    small = lambda: int_arg(draw, 0, 3)  # noqa: E731
    fdt = "f32"
    if cls == "Linear":
        fin = small()
        args = [fin, small()]
        x = draw(tensor(shape=[draw(SIZE), fin if isinstance(fin, int) and 0 <= fin < 8 else 2], dtype=fdt))
    elif cls in ("Conv1d", "Conv2d"):
        nd = 1 if cls == "Conv1d" else 2
        cin = int_arg(draw, 1, 3)
        args = [cin, small(), small()]
        cin_x = cin if isinstance(cin, int) and 0 <= cin < 8 else 2
        x = draw(tensor(shape=[draw(st.integers(1, 2)), cin_x] + [draw(st.integers(0, 6)) for _ in range(nd)],
                        dtype=fdt))
    elif cls == "BatchNorm1d":
        c = small()
        args = [c]
        x = draw(tensor(shape=[2, c if isinstance(c, int) and 0 <= c < 8 else 2], dtype=fdt))
    elif cls in ("MaxPool2d", "AvgPool2d"):
        args = [small()]
        x = draw(tensor(shape=[1, 2, draw(st.integers(0, 5)), draw(st.integers(0, 5))], dtype=fdt))
    elif cls == "Softmax":
        args = [int_arg(draw, -2, 1)]
        x = draw(tensor(shape=[2, 3], dtype=fdt))
    else:
        args = [draw(st.sampled_from([0, 0.2, -1.0]))] if cls == "LeakyReLU" else []
        x = draw(tensor(dtype=fdt))
    return case("module", [x, cls, args, {}], grad=True, ct=draw(FLOAT_DTYPE), s=draw(seed()))


@st.composite
def optimizer(draw):
    cls = draw(st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]))
    hp = {"lr": draw(st.sampled_from([0.1, 0.01, 0.0, float("nan"), -1.0, 1e30]))}
    if cls == "SGD":
        hp.update(momentum=draw(st.sampled_from([0.0, 0.9])), weight_decay=draw(st.sampled_from([0.0, 0.1])),
                  nesterov=draw(st.booleans()))
        if hp["nesterov"] and hp["momentum"] == 0:
            hp["momentum"] = 0.9
    elif cls in ("Adam", "AdamW"):
        hp.update(betas={"U": draw(st.sampled_from([[0.9, 0.999], [0.0, 0.0], [1.0, 0.5], [0.5, 2.0]]))},
                  amsgrad=draw(st.booleans()), weight_decay=draw(st.sampled_from([0.0, 0.1])))
        hp["betas"] = hp["betas"]["U"]
    elif cls == "RMSprop":
        hp.update(momentum=draw(st.sampled_from([0.0, 0.5])), centered=draw(st.booleans()), alpha=draw(st.sampled_from([0.99, 0.0])))
        if hp["centered"] and hp["alpha"] == 0.0:
            # The first centered step then divides by sqrt(g*g - g*g): whether rounding gives 0 or a tiny
            # negative (NaN) depends on FMA contraction, in torch too. Keep the draw, move off the cliff.
            hp["alpha"] = 0.5
    else:
        hp.update(lr_decay=draw(st.sampled_from([0.0, 0.1])), initial_accumulator_value=draw(st.sampled_from([0.0, 0.5])))
    pdt = draw(FLOAT_DTYPE)
    gdt = pdt if draw(st.integers(0, 3)) else draw(FLOAT_DTYPE)
    p = draw(tensor(shape=draw(SHAPE), dtype=pdt, grad=True, layout="contig"))
    p["sp"] = "none"
    return case("optim", [p, cls, hp, gdt, draw(st.integers(1, 3))], s=draw(seed()))


FAMILIES = {
    "unary": unary, "binary": binary, "inplace": inplace, "reduction": reduction, "view": view_op, "combine": combine,
    "matmul": matmul, "conv": conv, "pool": pool, "linear_bn": linear_bn, "loss": loss, "creation": creation,
    "from_numpy": from_numpy, "setters": setters, "custom_function": custom_function, "module": module,
    "optimizer": optimizer,
}
# Relative share of each family in a run (the op-rich families get more).
WEIGHTS = {"unary": 3, "binary": 5, "inplace": 2, "reduction": 4, "view": 5, "combine": 2, "matmul": 3, "conv": 4,
           "pool": 3, "linear_bn": 3, "loss": 4, "creation": 3, "from_numpy": 1, "setters": 2, "custom_function": 1,
           "module": 2, "optimizer": 2}


def any_case():
    return st.one_of(*[FAMILIES[name]() for name, w in WEIGHTS.items() for _ in range(w)])
