"""Draws a reproducible list of fuzz cases with Hypothesis (generation only: the cases are
executed later, in child processes, by the supervisor).

`python -m fuzzing.generate N SEED OUT` writes N cases as JSON lines; generate_parallel runs
several of these at once (drawing is CPU-bound and takes about as long as running the cases)."""
import json
import subprocess
import sys
import tempfile

from hypothesis import HealthCheck, Phase, given, seed, settings

from .strategies import any_case


def generate(n, seed_value=0):
    """`n` cases drawn from a fixed seed: the same list on every machine for the same (n, seed)."""
    cases = []

    @seed(seed_value)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(any_case())
    def collect(case):
        cases.append(case)

    if n > 0:
        collect()
    return cases


def generate_parallel(n, seed_value, jobs, env):
    """`n` cases from `jobs` processes, part j drawn from seed (seed_value, j): reproducible too."""
    sizes = [n // jobs + (1 if j < n % jobs else 0) for j in range(jobs)]
    with tempfile.TemporaryDirectory(prefix="rt-fuzz-gen-") as d:
        outs = [f"{d}/part{j}.jsonl" for j in range(jobs)]
        procs = [subprocess.Popen([sys.executable, "-m", "fuzzing.generate", str(size), str(seed_value * 1000 + j), out], env=env)
                 for j, (size, out) in enumerate(zip(sizes, outs))]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(f"fuzz case generation failed (exit status {p.returncode})")
        cases = []
        for out in outs:
            with open(out) as f:
                cases.extend(json.loads(line) for line in f)
        return cases


if __name__ == "__main__":
    with open(sys.argv[3], "w") as f:
        for c in generate(int(sys.argv[1]), int(sys.argv[2])):
            f.write(json.dumps(c) + "\n")
