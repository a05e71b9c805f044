"""Defect classes that the fuzzer finds and that are known: being fixed on other branches
(KNOWN) or found by the fuzzer and not fixed yet (FOUND).

A failing case that belongs to one of these classes does not fail the random fuzz run, and
its regression examples in corpus.json are strict xfails. When a fix lands, delete the class
here: its corpus examples then must pass, and the random run stops excusing the class."""
# class name -> (predicate on (case, problem), what is wrong). Empty: every class found while
# the fuzzer was written (mixed-dtype gradients, custom Function gradients, None arguments, the
# .grad/.data setters, geometry overflow, 0-d stride, from_numpy flags, inf/NaN in losses and
# softmax) has been fixed; their corpus examples are now plain regression tests.
KNOWN = {}

FOUND = {}  # every class the fuzzer found has been fixed; new ones go here until they are


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
