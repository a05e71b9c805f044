"""Runs fuzz cases in child processes so that a segfault, abort or hang costs one case, not
the run: the child logs each case before running it, and when the child dies (or a case
overruns its time limit) the supervisor records that case as the culprit and starts a new
child at the next case."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env():
    import reticulum
    pydir = os.path.dirname(os.path.dirname(os.path.abspath(reticulum.__file__)))  # wherever reticulum was imported from
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([TESTS_DIR, pydir] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("OMP_NUM_THREADS", "1")  # one child per core; no oversubscription
    env["RETICULUM_NO_PIN"] = "1"
    return env


class Shard:
    """One child process working through its slice of the cases."""

    def __init__(self, cases, workdir, name, env):
        self.cases, self.env = cases, env
        self.cases_path = os.path.join(workdir, f"{name}.jsonl")
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.err_path = os.path.join(workdir, f"{name}.err")
        with open(self.cases_path, "w") as f:
            for c in cases:
                f.write(json.dumps(c) + "\n")
        open(self.log_path, "w").close()
        self.results = {}      # index -> problem string or None
        self.running = None    # index of the case in progress
        self.since = 0.0       # when it started
        self.read_pos = 0
        self.proc = None
        self.next = 0
        if cases:
            self._spawn()

    def _spawn(self):
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "fuzzing.child", self.cases_path, self.log_path, str(self.next)],
                                     env=self.env, stdout=self.err, stderr=subprocess.STDOUT, start_new_session=True)
        self.since = time.monotonic()  # startup counts against the first case's time limit
        self.started_any = False

    @property
    def done(self):
        return self.proc is None

    def _read_log(self):
        with open(self.log_path) as f:
            f.seek(self.read_pos)
            chunk = f.read()
        complete = chunk[:chunk.rfind("\n") + 1]
        self.read_pos += len(complete)
        for line in complete.splitlines():
            tag, idx, *rest = line.split(" ", 2)
            idx = int(idx)
            if tag == "S":
                self.running, self.since = idx, time.monotonic()
                self.started_any = True
            else:
                self.results[idx] = json.loads(rest[0])
                self.running = None
                self.next = idx + 1

    def poll(self, case_timeout):
        self._read_log()
        rc = self.proc.poll()
        if rc is None:
            if time.monotonic() - self.since > case_timeout:
                self._kill()
                self._blame(f"hang: still running after {case_timeout:.0f} s")
            return
        self._read_log()
        self.err.close()
        if rc == 0 and self.next >= len(self.cases):
            self.proc = None
            return
        how = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
        with open(self.err_path) as f:
            tail = " | ".join(f.read().strip().splitlines()[-3:])[-300:]
        if not self.started_any:  # died while importing: no case is to blame, and every restart would die too
            raise RuntimeError(f"fuzz child process failed before running a case ({how}): {tail}")
        self._blame(f"crash: child died with {how}" + (f" ({tail})" if tail else ""))

    def _blame(self, why):
        """The case in progress (or, if the child died before starting one, the next one) is the culprit."""
        culprit = self.running if self.running is not None else self.next
        self.results[culprit] = why
        self.running = None
        self.next = culprit + 1
        self.proc = None
        if self.next < len(self.cases):
            self._spawn()

    def _kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.err.close()

    def stop(self):
        if self.proc is not None:
            self._kill()
            self.proc = None


def run_cases(cases, jobs=2, time_budget=None, case_timeout=60.0):
    """Runs every case (round-robin over `jobs` children). Returns {index: None for a pass, or a
    one-line problem}; cases not reached when the time budget ran out are absent."""
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="rt-fuzz-") as workdir:
        slices = [list(range(j, len(cases), jobs)) for j in range(jobs)]
        shards = [Shard([cases[i] for i in sl], workdir, f"shard{j}", env) for j, sl in enumerate(slices)]
        deadline = None if time_budget is None else time.monotonic() + time_budget
        try:
            while not all(s.done for s in shards):
                if deadline is not None and time.monotonic() > deadline:
                    break
                for s in shards:
                    if not s.done:
                        s.poll(case_timeout)
                time.sleep(0.02)
        finally:
            for s in shards:
                s.stop()
        results = {}
        for sl, s in zip(slices, shards):
            for local, problem in s.results.items():
                results[sl[local]] = problem
        return results
