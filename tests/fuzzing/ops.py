"""The operations the fuzzer calls, by name, each as fn(L, *args, **kw) where L is the library
namespace (reticulum or torch, see oracle.py). Names and signatures are PyTorch's, so one
callable serves both libraries."""
import operator


def fn(name):
    return lambda L, *a, **k: getattr(L.mod, name)(*a, **k)


def meth(name):
    return lambda L, x, *a, **k: getattr(x, name)(*a, **k)


def func(name):
    return lambda L, *a, **k: getattr(L.F, name)(*a, **k)


def opr(f):
    return lambda L, *a, **k: f(*a, **k)


UNARY = ["neg", "abs", "exp", "log", "sqrt", "sign", "relu", "sigmoid", "tanh", "square"]
BINARY_OPERATORS = {"o_add": operator.add, "o_sub": operator.sub, "o_mul": operator.mul, "o_div": operator.truediv,
                    "o_pow": operator.pow, "o_eq": operator.eq, "o_lt": operator.lt, "o_ge": operator.ge,
                    "o_ne": operator.ne, "o_matmul": operator.matmul}
BINARY_METHODS = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "eq", "gt", "le"]
INPLACE = ["add_", "sub_", "mul_", "div_", "copy_", "fill_", "zero_"]
REDUCTIONS = ["sum", "mean", "var", "std", "max", "min", "argmax", "argmin", "softmax", "log_softmax"]
VIEWS = ["reshape", "view", "transpose", "permute", "expand", "squeeze", "unsqueeze", "flatten", "narrow", "select",
         "index_select", "t", "contiguous", "clone", "detach", "float", "double", "long", "bool", "to", "type_as",
         "expand_as", "reshape_as", "masked_fill", "clamp", "stride", "size", "numel", "dim", "item",
         "tolist", "is_contiguous"]
FUNCTIONAL = ["linear", "conv1d", "conv2d", "conv3d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
              "adaptive_avg_pool2d", "batch_norm", "dropout", "softplus", "softmax", "log_softmax", "relu", "leaky_relu",
              "sigmoid", "tanh", "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
              "cross_entropy", "nll_loss"]
CREATION = ["zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn", "randint", "zeros_like",
            "ones_like", "full_like", "empty_like", "rand_like", "randn_like"]
# Ops whose values are random (or uninitialised) by design: only shape and dtype are compared.
RANDOM_VALUES = {"empty", "rand", "randn", "randint", "empty_like", "rand_like", "randn_like", "F_dropout"}

OPS = {}
OPS.update({u: meth(u) for u in UNARY})
OPS.update({"f_" + u: fn(u) for u in UNARY})
OPS.update({k: opr(v) for k, v in BINARY_OPERATORS.items()})
OPS.update({b: meth(b) for b in BINARY_METHODS})
OPS.update({b: meth(b) for b in INPLACE})
OPS.update({r: meth(r) for r in REDUCTIONS})
OPS.update({v: meth(v) for v in VIEWS})
OPS.update({"F_" + f: func(f) for f in FUNCTIONAL})
OPS.update({c: fn(c) for c in CREATION})
OPS.update({
    "getitem": opr(operator.getitem),
    "T": lambda L, x: x.T,
    "mT": lambda L, x: x.mT,
    "matmul": fn("matmul"), "bmm": fn("bmm"), "cat": fn("cat"), "stack": fn("stack"),
    "maximum_f": fn("maximum"), "tensor": lambda L, data, dtype=None: L.mod.tensor(data, dtype=dtype),
    "from_numpy": lambda L, arr_spec: L.from_numpy(arr_spec),
    "setitem": lambda L, x, key, v: L.setitem(x, key, v),
    "set_grad": lambda L, x, g: L.set_attr(x, "grad", g),
    "set_data": lambda L, x, d: L.set_attr(x, "data", d),
    "backward_with": lambda L, x, g: L.backward_with(x, g),
    "custom_fn": lambda L, x, how: L.custom_fn(x, how),
    "module": lambda L, x, cls, args, kw: L.module(x, cls, args, kw),
    "optim": lambda L, p, cls, hp, gdt, steps: L.optim_steps(p, cls, hp, gdt, steps),
})
