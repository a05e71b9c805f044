"""torch.einsum lowered onto differentiable ops: each operand's repeated subscripts become a masked sum
(the diagonal), subscripts no other term needs are summed early, and operands are contracted left to
right, each pair as one bmm over [batch, kept, summed] layouts."""
import string

from . import _C
from ._C import Tensor

_LETTERS = set(string.ascii_letters)


def _fail(msg):
    raise RuntimeError(f"einsum(): {msg}")


def _parse(equation, operands):
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        _fail(f"{len(terms)} operand subscript(s) in {equation!r} but {len(operands)} operand(s) were given")
    # '...' stands for the broadcast dims; they get the placeholder letters 0, 1, ... (right-aligned).
    ell_rank = 0
    for term, op in zip(terms, operands):
        if "..." in term:
            ell_rank = max(ell_rank, op.ndim - (len(term) - 3))
    placeholders = [str(i) for i in range(ell_rank)]
    parsed = []
    for i, (term, op) in enumerate(zip(terms, operands)):
        if term.count("...") > 1 or term.replace("...", "").count(".") or not set(term.replace("...", "")) <= _LETTERS:
            _fail(f"invalid subscripts {term!r} for operand {i}: only letters and one '...' are allowed")
        named = len(term.replace("...", ""))
        if "..." in term:
            if op.ndim < named:
                _fail(f"the subscripts {term!r} for operand {i} name more dimensions than its shape {tuple(op.shape)} has")
            head, _, tail = term.partition("...")
            k = op.ndim - named
            letters = list(head) + placeholders[ell_rank - k:] + list(tail)
        else:
            if op.ndim != named:
                _fail(f"the subscripts {term!r} for operand {i} do not match its number of dimensions "
                      f"(shape {tuple(op.shape)})")
            letters = list(term)
        parsed.append(letters)
    if arrow:
        if rhs.count("...") > 1 or not set(rhs.replace("...", "")) <= _LETTERS:
            _fail(f"invalid output subscripts {rhs!r}")
        head, dots, tail = rhs.partition("...")
        out = list(head) + (placeholders if dots else []) + list(tail)
        if len(set(out)) != len(out):
            _fail(f"output subscripts {rhs!r} repeat a letter")
        seen = {c for letters in parsed for c in letters}
        for c in out:
            if c not in seen:
                _fail(f"output subscript {c!r} does not appear in the input subscripts")
    else:  # implicit output: '...' then the letters that appear once, in alphabetical order
        counts = {}
        for letters in parsed:
            for c in letters:
                counts[c] = counts.get(c, 0) + 1
        out = placeholders + sorted(c for c, n in counts.items() if n == 1 and c in _LETTERS)
    return parsed, out


def _diagonal(x, letters):
    """Folds repeated letters in one operand's subscripts into one dim (x[i, i] -> d[i])."""
    while len(set(letters)) != len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        p = letters.index(c)
        q = letters.index(c, p + 1)
        n = x.shape[p]
        if x.shape[q] != n:
            _fail(f"subscript {c!r} is repeated for dimensions of different sizes {n} and {x.shape[q]}")
        shape = [1] * x.ndim
        shape[p], shape[q] = n, n
        x = (x * _C.eye(n, n, x.dtype).reshape(*shape)).sum(q)
        letters = letters[:q] + letters[q + 1:]
    return x, letters


def _sum_out(x, letters, keep):
    dims = [i for i, c in enumerate(letters) if c not in keep]
    if not dims:
        return x, letters
    return x.sum(tuple(dims)), [c for c in letters if c in keep]


def _contract(a, la, b, lb, needed):
    """a (subscripts la) times b (lb), summing the shared letters not in `needed`."""
    sizes = {}
    for x, letters in ((a, la), (b, lb)):
        for c, n in zip(letters, x.shape):
            if sizes.get(c, 1) != 1 and n != 1 and sizes[c] != n:
                _fail(f"operands do not broadcast: subscript {c!r} has sizes {sizes[c]} and {n}")
            sizes[c] = max(sizes.get(c, 1), n)
    batch = [c for c in la if c in lb and c in needed]
    summed = [c for c in la if c in lb and c not in needed]
    a_only = [c for c in la if c not in lb]
    b_only = [c for c in lb if c not in la]

    def arrange(x, letters, groups):
        order = [letters.index(c) for g in groups for c in g]
        x = x.permute(*order).expand(*[sizes[c] for g in groups for c in g])
        return x.reshape(*[_prod(sizes[c] for c in g) for g in groups])

    a3 = arrange(a, la, (batch, a_only, summed))
    b3 = arrange(b, lb, (batch, summed, b_only))
    out = _C.bmm(a3, b3)
    letters = batch + a_only + b_only
    return out.reshape(*[sizes[c] for c in letters]), letters


def _prod(values):
    p = 1
    for v in values:
        p *= v
    return p


def einsum(equation, *operands):
    """Einstein summation, as torch.einsum: einsum('ij,jk->ik', a, b) (or the operands as one list), with
    '...' for broadcast dims, repeated subscripts for diagonals, and an implicit output when '->' is absent."""
    if not isinstance(equation, str):
        raise TypeError("einsum(): the first argument must be the equation string (the sublist form is not supported)")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, op in enumerate(operands):
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, got {type(op).__name__}")
    if not operands:
        _fail("at least one operand is required")
    if len({op.dtype for op in operands}) > 1:
        _fail(f"expected all operands to have the same dtype, got {[op.dtype for op in operands]}")
    parsed, out = _parse(equation, operands)
    terms = []
    for x, letters in zip(operands, parsed):
        terms.append(_diagonal(x, letters))
    # Sum early the letters that no other term and not the output use.
    for i, (x, letters) in enumerate(terms):
        others = {c for j, (_, lj) in enumerate(terms) if j != i for c in lj}
        terms[i] = _sum_out(x, letters, others | set(out))
    x, letters = terms[0]
    for i in range(1, len(terms)):
        later = {c for _, lj in terms[i + 1:] for c in lj} | set(out)
        x, letters = _contract(x, letters, *terms[i], later)
    x, letters = _sum_out(x, letters, set(out))
    return x.permute(*[letters.index(c) for c in out]) if letters != out else x
