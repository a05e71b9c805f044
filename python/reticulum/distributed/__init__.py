"""Collective communication between processes, with torch.distributed's names and semantics, on MPI.

Start N processes with an MPI launcher and make the group in each::

    mpirun -np 2 python train.py          # as root: mpirun --allow-run-as-root ...

    import reticulum.distributed as dist
    dist.init_process_group(backend="mpi")
    dist.all_reduce(t)                     # in place: every rank now holds the sum

The engine is MPI through mpi4py (``pip install "reticulum[mpi]"`` brings mpi4py and the Open MPI
runtime with ``mpirun``). Tensors are communicated in place through NumPy views of their memory
(zero-copy): they must be contiguous CPU tensors of float32, float64 or int64. mpi4py releases the GIL
inside every MPI call.

Failure: nothing here waits forever. A collective first meets the other ranks in a non-blocking barrier
waited for by polling MPI_Test, so it raises RuntimeError once `timeout` (init_process_group; 30 minutes
by default, as PyTorch's) has passed without the other ranks taking part; only then does it move the data,
with MPI's blocking call (see _gated). With async_op=True the collective itself is non-blocking and
Work.wait() polls it the same way. And an exception that no one catches on
any rank aborts the whole job (MPI_Abort) after printing its traceback, instead of leaving the other
ranks waiting in a collective for a rank that is gone; a rank that dies is reported by mpirun, which
then ends the others.
"""
import datetime
import sys
import time
import traceback

import numpy as np

from .._C import Tensor, dtype as _dtype

__all__ = ["ReduceOp", "Work", "init_process_group", "destroy_process_group", "is_available", "is_initialized",
           "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce", "broadcast", "all_gather",
           "reduce_scatter"]

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
_MPI_HINT = 'the MPI backend needs mpi4py and an MPI runtime: pip install "reticulum[mpi]"'


class ReduceOp:
    """How all_reduce and reduce_scatter combine the ranks' values (torch.distributed.ReduceOp)."""
    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"  # the sum divided by the world size, for floating-point tensors


class _Group:
    def __init__(self, mpi, comm, timeout):
        self.mpi, self.comm, self.timeout = mpi, comm, timeout
        self.rank, self.size = comm.Get_rank(), comm.Get_size()


_group = None
_previous_excepthook = None


def is_available():
    """Whether the MPI backend can be used here (mpi4py imports)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized():
    """Whether init_process_group has been called (and destroy_process_group not since)."""
    return _group is not None


def _require_group(op):
    if _group is None:
        raise RuntimeError(f"{op}: the default process group has not been initialized; call "
                           f"reticulum.distributed.init_process_group(backend='mpi') first")
    return _group


def _abort_on_uncaught(exc_type, exc, tb):
    """sys.excepthook while the group is up: the traceback, then MPI_Abort, which makes mpirun end every
    rank; without it the others would wait in their next collective for this one."""
    group = _group
    if group is None or group.size == 1 or issubclass(exc_type, KeyboardInterrupt):
        (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
        return
    traceback.print_exception(exc_type, exc, tb)
    print(f"reticulum.distributed: rank {group.rank} of {group.size} raised {exc_type.__name__}; aborting the MPI job",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    group.comm.Abort(1)


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1):
    """Joins this process to the default group of all the processes the MPI launcher started.

    backend: "mpi" (the only one). Rank and world size come from MPI; `world_size` and `rank`, when given,
    must agree with them. timeout: a datetime.timedelta (default 30 minutes) after which a collective that
    the other ranks do not join raises RuntimeError. init_method is accepted for torch compatibility and
    must be None: MPI's launcher already connected the processes.
    """
    global _group, _previous_excepthook
    if _group is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group twice!")
    if backend is None or str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available; reticulum's backend is 'mpi'")
    if init_method is not None:
        raise ValueError("init_process_group: init_method must be None with the MPI backend (mpirun connects the ranks)")
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if not isinstance(timeout, datetime.timedelta) or timeout.total_seconds() <= 0:
        raise ValueError(f"init_process_group: timeout must be a positive datetime.timedelta, got {timeout!r}")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(f"init_process_group: {_MPI_HINT} ({e})") from None
    comm = MPI.COMM_WORLD
    for name, given, actual in (("world_size", world_size, comm.Get_size()), ("rank", rank, comm.Get_rank())):
        if given not in (-1, None) and int(given) != actual:
            raise ValueError(f"init_process_group: {name}={given} disagrees with the MPI launcher's {name} {actual}")
    _group = _Group(MPI, comm, timeout.total_seconds())
    _previous_excepthook = sys.excepthook
    sys.excepthook = _abort_on_uncaught


def destroy_process_group():
    """Leaves the default group (MPI itself is finalized when the process exits)."""
    global _group
    _require_group("destroy_process_group")
    _group = None
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = _previous_excepthook


def get_rank():
    """This process's rank in the default group, 0 to world size - 1."""
    return _require_group("get_rank").rank


def get_world_size():
    """The number of processes in the default group."""
    return _require_group("get_world_size").size


def get_backend():
    """The default group's backend: "mpi"."""
    _require_group("get_backend")
    return "mpi"


def _abort(code=1):
    """Ends every rank of the job at once (MPI_Abort): for a rank that stops on an error it handled itself,
    so that the others do not wait for it in a collective."""
    group = _require_group("abort")
    sys.stdout.flush()
    sys.stderr.flush()
    group.comm.Abort(int(code))


# ---------------------------------------------------------------- waiting

def _wait(requests, op, group):
    """Waits for MPI requests, raising RuntimeError when the group's timeout passes first. It spins on MPI_Test,
    as MPI_Wait spins inside: polling is what advances a non-blocking collective. Yielding the core between
    polls made a 4-byte all-reduce take 3.7 ms on a loaded machine, and sleeping between them stalls large ones."""
    mpi = group.mpi
    start = time.monotonic()
    while not mpi.Request.Testall(requests):
        if time.monotonic() - start > group.timeout:
            raise RuntimeError(f"{op}: timed out after {group.timeout:g} s waiting for the other ranks (this is rank "
                               f"{group.rank} of {group.size}); a rank has failed, stopped early or is running "
                               f"different collectives")


# Open MPI's non-blocking collectives (libnbc) move large messages several times slower than its blocking
# ones (2 ranks on a quiet 2-core Zen 4: 4 MB all-reduce 1.4 ms against 0.5 ms, 16 MB 10.5 ms against 3.4 ms),
# and blocking all-reduces of 1 MiB pieces are faster still past 4 MB (16 MB: 2.0 ms): the pieces stay in cache.
_PIECE_BYTES = 1 << 20


def _gated(group, op):
    """Waits, with the group's timeout, until every rank has reached this collective. The blocking MPI call
    that follows then finds every rank in it (a rank that dies inside it is reported by mpirun, which ends
    the job), so a synchronous collective gets MPI's fast blocking path and still cannot hang."""
    _wait([group.comm.Ibarrier()], op, group)


def _all_reduce_blocking(group, buf, mpi_op):
    """In-place blocking all-reduce of a 1-d NumPy buffer, in _PIECE_BYTES pieces (every op is elementwise)."""
    step = max(1, _PIECE_BYTES // buf.itemsize)
    for i in range(0, buf.size, step):
        group.comm.Allreduce(group.mpi.IN_PLACE, buf[i:i + step], op=mpi_op)


class Work:
    """A collective started with async_op=True; wait() blocks until it completed on this rank."""

    def __init__(self, requests, op, group, finish=None):
        self._requests, self._op, self._group, self._finish = list(requests), op, group, finish
        self._done = False

    def is_completed(self):
        """Whether the collective has finished (without waiting)."""
        if not self._done and self._group.mpi.Request.Testall(self._requests):
            self._complete()
        return self._done

    def wait(self):
        """Waits until the collective completed on this rank (RuntimeError after the group's timeout)."""
        if not self._done:
            _wait(self._requests, self._op, self._group)
            self._complete()
        return True

    def _complete(self):
        if self._finish is not None:
            self._finish()
        self._done = True


def _finish(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


# ---------------------------------------------------------------- tensors as MPI buffers

_SUPPORTED = (_dtype.float32, _dtype.float64, _dtype.int64)


def _buffer(t, op, what="tensor"):
    """A NumPy view of the tensor's memory (zero-copy), after checking MPI may use it in place."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(t).__name__}")
    if t.dtype not in _SUPPORTED:
        raise TypeError(f"{op}: {what} has dtype {t.dtype}; the MPI backend communicates float32, float64 and int64")
    if not t.is_contiguous():
        raise ValueError(f"{op}: {what} of shape {tuple(t.shape)} must be contiguous (call .contiguous())")
    return t.detach().numpy().reshape(-1)


def _mpi_op(group, op, where):
    mpi = group.mpi
    table = {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD, ReduceOp.MIN: mpi.MIN,
             ReduceOp.MAX: mpi.MAX}
    if op not in table:
        raise ValueError(f"{where}: op must be a ReduceOp (SUM, PRODUCT, MIN, MAX, AVG), got {op!r}")
    return table[op]


def _averager(buf, op, group, where, t):
    if op != ReduceOp.AVG:
        return None
    if t.dtype == _dtype.int64:
        raise TypeError(f"{where}: ReduceOp.AVG needs a floating-point tensor, got int64")
    return lambda: np.multiply(buf, 1.0 / group.size, out=buf)


def _src_rank(src, group, op):
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < group.size:
        raise ValueError(f"{op}: src must be a rank in [0, {group.size - 1}], got {src!r}")
    return int(src)


# ---------------------------------------------------------------- collectives

def barrier(async_op=False):
    """Waits until every rank has reached the barrier."""
    group = _require_group("barrier")
    return _finish(Work([group.comm.Ibarrier()], "barrier", group), async_op)


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Combines `tensor` over all ranks in place: afterwards every rank holds the result of `op`."""
    group = _require_group("all_reduce")
    buf = _buffer(tensor, "all_reduce")
    mpi_op = _mpi_op(group, op, "all_reduce")
    finish = _averager(buf, op, group, "all_reduce", tensor)
    if async_op:
        return Work([group.comm.Iallreduce(group.mpi.IN_PLACE, buf, op=mpi_op)], "all_reduce", group, finish)
    _gated(group, "all_reduce")
    _all_reduce_blocking(group, buf, mpi_op)
    if finish is not None:
        finish()
    return None


def broadcast(tensor, src, async_op=False):
    """Copies rank `src`'s `tensor` into `tensor` on every other rank (same shape and dtype everywhere)."""
    group = _require_group("broadcast")
    buf = _buffer(tensor, "broadcast")
    request = group.comm.Ibcast(buf, root=_src_rank(src, group, "broadcast"))
    return _finish(Work([request], "broadcast", group), async_op)


def _same_like(tensors, tensor, op, what):
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: {what} must be a list of Tensors, got {type(tensors).__name__}")
    group = _require_group(op)
    if len(tensors) != group.size:
        raise ValueError(f"{op}: {what} must hold world size ({group.size}) tensors, got {len(tensors)}")
    for i, t in enumerate(tensors):
        _buffer(t, op, f"{what}[{i}]")
        if tuple(t.shape) != tuple(tensor.shape) or t.dtype != tensor.dtype:
            raise ValueError(f"{op}: {what}[{i}] has shape {tuple(t.shape)} and dtype {t.dtype}, expected shape "
                             f"{tuple(tensor.shape)} and dtype {tensor.dtype} like the other argument")
    return group


def all_gather(tensor_list, tensor, async_op=False):
    """Fills tensor_list[r] with rank r's `tensor`, on every rank."""
    buf = _buffer(tensor, "all_gather")
    group = _same_like(tensor_list, tensor, "all_gather", "tensor_list")
    gathered = np.empty((group.size, buf.size), dtype=buf.dtype)
    request = group.comm.Iallgather(buf, gathered)

    def scatter_back():
        for r, t in enumerate(tensor_list):
            t.detach().numpy().reshape(-1)[:] = gathered[r]

    return _finish(Work([request], "all_gather", group, scatter_back), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, async_op=False):
    """Combines input_list[r] over all ranks with `op` and leaves the result for rank r in its `output`."""
    out = _buffer(output, "reduce_scatter", "output")
    group = _same_like(input_list, output, "reduce_scatter", "input_list")
    mpi_op = _mpi_op(group, op, "reduce_scatter")
    send = np.concatenate([t.detach().numpy().reshape(-1) for t in input_list])
    finish = _averager(out, op, group, "reduce_scatter", output)
    request = group.comm.Ireduce_scatter_block(send, out, op=mpi_op)
    return _finish(Work([request], "reduce_scatter", group, finish), async_op)
