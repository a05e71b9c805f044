"""The child process that executes fuzz cases: `python -m fuzzing.child CASES LOG START`.

Before each case it appends "S <index>" to LOG and after it "R <index> <json problem-or-null>",
each written with one unbuffered write, so when the process dies the supervisor knows exactly
which case killed it."""
import json
import os
import resource
import sys


def limit_memory():
    """Caps the address space at what is mapped now + 4 GiB, so a case that asks for a
    terabyte gets MemoryError instead of swapping the machine. Skipped under ASan, whose
    shadow memory needs a huge address space."""
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        return
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * resource.getpagesize()
    cap = mapped + (4 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))


def main(cases_path, log_path, start):
    import reticulum as rt
    torch = None
    if os.environ.get("RETICULUM_FUZZ_ORACLE", "torch") == "torch":
        try:
            import torch
            torch.set_num_threads(1)
        except ImportError:
            torch = None
    from fuzzing.oracle import run_case

    with open(cases_path) as f:
        cases = [json.loads(line) for line in f]
    limit_memory()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for i in range(start, len(cases)):
        os.write(fd, f"S {i}\n".encode())
        problem = run_case(cases[i], rt, torch)
        os.write(fd, f"R {i} {json.dumps(problem)}\n".encode())
    os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
