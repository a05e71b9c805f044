"""Finite-difference gradient check: central
differences in float64 against the Jacobian that backward computes."""
from .._C import Tensor
from .._grad_mode import no_grad
from .._numpy import load_numpy as _np


class GradcheckError(RuntimeError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Checks d fn(*inputs) / d inputs for every input with requires_grad=True.

    Differentiable inputs must be float64 leaf tensors. Every analytic Jacobian entry J
    must satisfy |J - N| <= atol + rtol * |N| against the numerical N. On failure raises
    GradcheckError naming the worst element (or returns False if raise_exception=False).
    """
    np = _np()
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: at least one input tensor must have requires_grad=True")
    for i in diff:
        t = inputs[i]
        if t.dtype.name != "float64":
            raise ValueError(f"gradcheck: input {i} is {t.dtype}; finite differences need float64 inputs")
        if not t.is_leaf:
            raise ValueError(f"gradcheck: input {i} must be a leaf tensor")

    with no_grad():
        outs = _outputs(fn, inputs)
    sizes = [o.numel() for o in outs]
    n_out = sum(sizes)

    # Numerical Jacobian, one column per perturbed input element.
    numerical = {}
    for i in diff:
        x = inputs[i]
        view = x.detach().numpy()  # shares x's memory
        flat_cols = np.zeros((n_out, x.numel()))
        for j, idx in enumerate(np.ndindex(*view.shape)):
            orig = view[idx]
            view[idx] = orig + eps
            with no_grad():
                plus = np.concatenate([o.detach().numpy().reshape(-1).astype(np.float64) for o in _outputs(fn, inputs)]) if n_out else np.zeros(0)
            view[idx] = orig - eps
            with no_grad():
                minus = np.concatenate([o.detach().numpy().reshape(-1).astype(np.float64) for o in _outputs(fn, inputs)]) if n_out else np.zeros(0)
            view[idx] = orig
            flat_cols[:, j] = (plus - minus) / (2 * eps)
        numerical[i] = flat_cols

    # Analytical Jacobian, one row per output element (backward of a one-hot gradient).
    saved_grads = {i: inputs[i].grad for i in diff}
    analytical = {i: np.zeros((n_out, inputs[i].numel())) for i in diff}
    try:
        row = 0
        for k, size in enumerate(sizes):
            for e in range(size):
                for i in diff:
                    inputs[i].grad = None
                out = _outputs(fn, inputs)[k]
                if not out.requires_grad:
                    row += 1
                    continue
                seed = np.zeros(size)
                seed[e] = 1.0
                from .._creation import tensor
                out.backward(tensor(seed.reshape(tuple(out.shape)), dtype=out.dtype))
                for i in diff:
                    g = inputs[i].grad
                    if g is not None:
                        analytical[i][row] = g.numpy().reshape(-1)
                row += 1
    finally:
        for i in diff:
            inputs[i].grad = saved_grads[i]

    worst = None
    for i in diff:
        a, n = analytical[i], numerical[i]
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and excess.max() > 0:
            r, c = np.unravel_index(int(np.argmax(excess)), excess.shape)
            if worst is None or excess[r, c] > worst[0]:
                worst = (excess[r, c], i, r, c, a[r, c], n[r, c])
    if worst is None:
        return True
    _, i, r, c, av, nv = worst
    msg = (f"gradcheck: Jacobian mismatch for input {i}: d output[{r}] / d input[{c}] (flat indices) is "
           f"{av:.8g} analytically but {nv:.8g} numerically (atol={atol}, rtol={rtol})")
    if raise_exception:
        raise GradcheckError(msg)
    return False
