"""Output sizes of convolution and pooling computed with Python's unbounded integers: the
oracle for geometry that torch itself refuses (it keeps sizes, strides and dilations in int32)."""


def _per_dim(v, nd):
    return [v] * nd if isinstance(v, int) else list(v) * (nd if len(v) == 1 else 1)


def conv_out(spec):
    """Spatial output sizes of F_conv{1,2,3}d, "invalid" when no valid output exists, None when undecided."""
    x, w = spec["args"][0], spec["args"][1]
    if not (isinstance(x, dict) and isinstance(w, dict) and "T" in x and "T" in w):
        return None
    nd = int(spec["op"][len("F_conv")])
    kw = spec.get("kw", {})
    if isinstance(kw.get("padding", 0), str):
        return None
    s, p, d = (_per_dim(kw.get(k, dflt), nd) for k, dflt in (("stride", 1), ("padding", 0), ("dilation", 1)))
    if any(v <= 0 for v in s + d) or any(v < 0 for v in p):
        return "invalid"
    out = [(n + 2 * pi - di * (k - 1) - 1) // si + 1 for n, k, si, pi, di in zip(x["T"][2:], w["T"][2:], s, p, d)]
    return "invalid" if any(o < 1 for o in out) else out


def pool_out(spec):
    """Spatial output sizes of F_{max,avg}_pool{1,2}d, like conv_out; PyTorch's rule, in which
    a ceil_mode window may hang over the right edge but must start inside the input or padding."""
    x, kw = spec["args"][0], spec.get("kw", {})
    nd = 1 if spec["op"].endswith("1d") else 2
    k = _per_dim(kw["kernel_size"], nd)
    s = _per_dim(kw["stride"], nd) if "stride" in kw else k
    p = _per_dim(kw.get("padding", 0), nd)
    if any(v <= 0 for v in k + s) or any(v < 0 or 2 * v > kv for v, kv in zip(p, k)):
        return "invalid"
    out = []
    for n, kk, ss, pp in zip(x["T"][-nd:], k, s, p):
        ceil = ss - 1 if kw.get("ceil_mode") else 0
        o = (n + 2 * pp - kk + ceil) // ss + 1  # floor division, as PyTorch's div_rtn
        if kw.get("ceil_mode") and (o - 1) * ss >= n + pp:
            o -= 1
        if o < 1:
            return "invalid"
        out.append(o)
    return out


def expected_spatial(spec):
    if spec["op"] in ("F_conv1d", "F_conv2d", "F_conv3d"):
        return conv_out(spec)
    if spec["op"] in ("F_max_pool1d", "F_max_pool2d", "F_avg_pool1d", "F_avg_pool2d"):
        return pool_out(spec)
    return None
