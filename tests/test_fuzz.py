"""Fuzzing the public API (issue 10: no crash, no corruption, no silently wrong answer).

Every fuzz case must end in a clean Python exception or in a result (and gradients) that match
torch 2.13, the oracle, when it is importable (without torch only crashes, hangs and wrong
exception types are caught). Cases run in child processes (tests/fuzzing/supervisor.py), so a
segfault or abort is reported as that case and the run goes on with the next one.

Environment: RETICULUM_FUZZ_EXAMPLES (default 10000 cases), RETICULUM_FUZZ_SEED (default 0;
the same seed draws the same cases everywhere), RETICULUM_FUZZ_SECONDS (time budget for
running them, default 900; cases not reached are reported as a warning), RETICULUM_FUZZ_JOBS
(child processes, default 2), RETICULUM_FUZZ_FAILURES (a file to which failing cases are
written as JSON lines, ready to paste into the corpus), RETICULUM_FUZZ_ORACLE=none (run
without torch), RETICULUM_FUZZ_SKIP_KNOWN=1 (skip, rather than xfail, the corpus examples of
known defects: the sanitizer run uses it, since those crash by design until fixed)."""
import collections
import json
import os
import warnings

import pytest

from fuzzing.generate import generate_parallel
from fuzzing.known import FOUND, KNOWN, known_class, reason
from fuzzing.supervisor import child_env, run_cases

N_CASES = int(os.environ.get("RETICULUM_FUZZ_EXAMPLES", "10000"))
SEED = int(os.environ.get("RETICULUM_FUZZ_SEED", "0"))
BUDGET_S = float(os.environ.get("RETICULUM_FUZZ_SECONDS", "900"))
JOBS = int(os.environ.get("RETICULUM_FUZZ_JOBS", "2"))
SKIP_KNOWN = os.environ.get("RETICULUM_FUZZ_SKIP_KNOWN") == "1"
CORPUS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzzing", "corpus.json")
with open(CORPUS_PATH) as f:
    CORPUS = json.load(f)


def test_fuzz_public_api():
    if N_CASES == 0:
        pytest.skip("RETICULUM_FUZZ_EXAMPLES=0")
    cases = generate_parallel(N_CASES, SEED, JOBS, child_env())
    results = run_cases(cases, jobs=JOBS, time_budget=BUDGET_S)
    if len(results) < len(cases):
        warnings.warn(f"fuzz: time budget of {BUDGET_S:.0f} s ran out after {len(results)} of {len(cases)} cases")
    new, excused = [], collections.Counter()
    for i, problem in sorted(results.items()):
        if problem is None:
            continue
        cls = known_class(cases[i], problem)
        if cls:
            excused[cls] += 1
        else:
            new.append((cases[i], problem))
    out = os.environ.get("RETICULUM_FUZZ_FAILURES")
    if out:
        with open(out, "w") as f:
            for case, problem in new:
                f.write(json.dumps({"problem": problem, "case": case}) + "\n")
    unique = len({json.dumps(c, sort_keys=True) for c in cases})
    print(f"fuzz: {len(results)} cases ({unique} distinct), {len(new)} new failures; known classes hit: {dict(excused)}")
    assert not new, f"{len(new)} of {len(results)} fuzz cases crashed or gave wrong answers:\n" + "\n".join(
        f"  {problem}\n    case: {json.dumps(case)}" for case, problem in new[:50])


def corpus_param(i, entry):
    cls = entry.get("class")
    if cls not in KNOWN and cls not in FOUND:
        return pytest.param(i, id=entry["name"])
    mark = pytest.mark.skip if SKIP_KNOWN else pytest.mark.xfail(strict=True)
    return pytest.param(i, id=entry["name"], marks=[mark(reason=reason(cls))])


@pytest.fixture(scope="module")
def corpus_results():
    run = [i for i, e in enumerate(CORPUS) if not (SKIP_KNOWN and (e.get("class") in KNOWN or e.get("class") in FOUND))]
    results = run_cases([CORPUS[i]["case"] for i in run], jobs=JOBS)
    return {i: results.get(j, "not run") for j, i in enumerate(run)}


@pytest.mark.parametrize("index", [corpus_param(i, e) for i, e in enumerate(CORPUS)])
def test_fuzz_corpus(index, corpus_results):
    """The failing cases the fuzzer found, and edge cases worth running on every build (under the
    sanitizers too), kept as explicit regression examples."""
    problem = corpus_results.get(index, "not run")
    assert problem is None, f"{CORPUS[index]['name']}: {problem}\n  case: {json.dumps(CORPUS[index]['case'])}"

