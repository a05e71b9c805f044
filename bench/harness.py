"""Interleaved same-process timing (see bench/README.md): warm both sides up, then
alternate short timed blocks, flip which side goes first, and report the median ratio
of adjacent pairs with its spread. Absolute times drift on a shared machine; ratios don't."""
import statistics
import time


def time_block(fn, seconds, sync=None):
    """Runs fn repeatedly for about `seconds`; returns seconds per call. sync (for a GPU): waits for the
    queued work, called before the clock starts and before it stops, so a block times the work its
    own calls queued and nothing else."""
    if sync:
        sync()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if time.perf_counter() - start >= seconds:
            if sync:
                sync()
            return (time.perf_counter() - start) / n


def compare(ours, theirs, pairs=12, block=0.4, warmup=0.5, sync=(None, None)):
    """Returns dict(ours=median s/call, theirs=..., ratio=median ours/theirs time, q1, q3).
    sync: the (ours, theirs) device waits for time_block, or None each for the CPU."""
    sync_ours, sync_theirs = sync
    time_block(ours, warmup, sync_ours)
    if theirs is not None:
        time_block(theirs, warmup, sync_theirs)
    a, b, ratios = [], [], []
    for i in range(pairs):
        if theirs is None:
            a.append(time_block(ours, block, sync_ours))
            continue
        if i % 2 == 0:
            ta, tb = time_block(ours, block, sync_ours), time_block(theirs, block, sync_theirs)
        else:
            tb, ta = time_block(theirs, block, sync_theirs), time_block(ours, block, sync_ours)
        a.append(ta)
        b.append(tb)
        ratios.append(ta / tb)
    out = {"ours": statistics.median(a)}
    if ratios:
        q = statistics.quantiles(ratios, n=4)
        out.update(theirs=statistics.median(b), ratio=statistics.median(ratios), q1=q[0], q3=q[2])
    return out


def machine_load():
    """Fraction of CPU time spent busy over 0.5 s (to say whether the machine was quiet)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = read()
    time.sleep(0.5)
    t1, i1 = read()
    return 1 - (i1 - i0) / max(1, t1 - t0)
