"""Fuzz cases as plain JSON data, and how to turn one into real arguments.

A case is a dict {"op": ..., "args": [...], "kw": {...}, "grad": bool, "ct": dtype, "seed": int}.
Keeping it data (not closures) lets the supervisor log it before it runs, print it when the
child dies, and store it verbatim in the regression corpus.

Argument encodings (everything else is passed through as a Python value):
  {"T": shape, "dt": "f32|f64|i64|b", "lay": "contig|T|step|expand", "sp": "none|nan|inf|big", "rg": bool}
      a tensor; `lay` is how it is laid out in memory (transposed, every other element of a
      bigger buffer, or broadcast with stride 0), `sp` which special values are sprinkled in
      (or "unit": values in [0, 1)),
      `rg` whether its leaf requires grad;
  {"V": nested list, "dt": ..., "rg": bool}  a contiguous tensor with exactly these values;
  {"I": shape, "lo": int, "hi": int}   an int64 index tensor with values in [lo, hi);
  {"L": [args]} / {"U": [args]}        a list / tuple of arguments;
  {"D": "f32"}                        a dtype object;
  {"K": [items]}                      an indexing key: ints, None, "...", {"S": [start, stop, step]}, index tensors;
  {"np": shape, "dt": ..., "kind": ..., "write": bool}   a NumPy array for from_numpy (see oracle.Lib.from_numpy);
  any other dict                      a dict of (built) arguments, e.g. optimizer hyperparameters.
"""
import numpy as np

DTYPES = ("f32", "f64", "i64", "b")
NP = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "b": np.bool_}


def values(rng, shape, dt, special):
    """Random values of a dtype, with NaN/inf/huge values sprinkled in when asked."""
    shape = tuple(shape)
    if dt in ("f32", "f64"):
        if special == "unit":
            return rng.random(shape).astype(NP[dt])
        a = rng.standard_normal(shape) * 2
        if special != "none" and a.size:
            hit = rng.random(shape) < 0.3
            fill = {"nan": np.nan, "inf": np.inf, "big": 3e38}[special]
            a[hit] = fill * rng.choice([-1.0, 1.0], size=shape)[hit]
        return a.astype(NP[dt])
    if dt == "i64":
        a = rng.integers(-5, 6, size=shape)
        if special == "big" and a.size:
            a[rng.random(shape) < 0.3] = 2**62
        return a.astype(np.int64)
    return rng.random(shape) < 0.5


def storage_for(rng, spec):
    """The array that backs a tensor argument, and the view (as numpy slicing) that gives it its shape."""
    shape, lay = list(spec["T"]), spec.get("lay", "contig")
    if lay == "T":
        return values(rng, shape[::-1], spec["dt"], spec.get("sp", "none")), ("T", None)
    if lay == "step":
        big = values(rng, [2 * s + 1 for s in shape], spec["dt"], spec.get("sp", "none"))
        return big, ("step", None)
    if lay == "expand":
        base = [1 if (s != 1 and rng.random() < 0.6) else s for s in shape]
        return values(rng, base, spec["dt"], spec.get("sp", "none")), ("expand", shape)
    return values(rng, shape, spec["dt"], spec.get("sp", "none")), ("contig", None)


class Builder:
    """Builds the same arguments for one library (reticulum or torch) from one case.

    `lib` supplies: tensor(ndarray, dtype_name) -> leaf, dtype(name), requires_grad(leaf),
    and the view operations permute/slice/expand through ordinary tensor methods."""

    def __init__(self, lib, seed):
        self.lib = lib
        self.rng = np.random.default_rng(seed)
        self.leaves = []  # (leaf tensor) in creation order, for gradient comparison

    def build(self, a):
        if isinstance(a, list):
            return [self.build(x) for x in a]
        if not isinstance(a, dict):
            return a
        if "T" in a:
            return self._tensor(a)
        if "V" in a:
            return self._leaf(np.array(a["V"], dtype=NP[a["dt"]]), a)
        if "I" in a:
            arr = self.rng.integers(a["lo"], a["hi"], size=tuple(a["I"])) if a["hi"] > a["lo"] else np.zeros(a["I"], np.int64)
            return self.lib.tensor(np.asarray(arr, np.int64), "i64")
        if "L" in a:
            return [self.build(x) for x in a["L"]]
        if "U" in a:
            return tuple(self.build(x) for x in a["U"])
        if "D" in a:
            return self.lib.dtype(a["D"])
        if "K" in a:
            return tuple(self._key_item(k) for k in a["K"])
        if "np" in a:
            return a  # a NumPy array description, built by the from_numpy op itself
        return {k: self.build(v) for k, v in a.items()}  # keyword arguments (optimizer hyperparameters, ...)

    def _key_item(self, k):
        if k == "...":
            return Ellipsis
        if isinstance(k, dict) and "S" in k:
            return slice(*k["S"])
        return self.build(k)

    def _leaf(self, arr, spec):
        leaf = self.lib.tensor(arr, spec["dt"])
        if spec.get("rg") and spec["dt"] in ("f32", "f64"):
            leaf = self.lib.requires_grad(leaf)
            self.leaves.append(leaf)
        return leaf

    def _tensor(self, spec):
        arr, (lay, target) = storage_for(self.rng, spec)
        leaf = self._leaf(arr, spec)
        view = self._view(leaf, lay, target)
        if getattr(self.lib, "promote", None):
            view = view.to(self.lib.dtype(self.lib.promote))
        return view

    @staticmethod
    def _view(leaf, lay, target):
        if lay == "T":
            return leaf.permute(*range(leaf.ndim - 1, -1, -1)) if leaf.ndim else leaf
        if lay == "step":
            return leaf[tuple(slice(1, None, 2) for _ in range(leaf.ndim))]
        if lay == "expand":
            return leaf.expand(*target) if target else leaf
        return leaf
