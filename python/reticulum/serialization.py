"""rt.save / rt.load: a documented, non-executable checkpoint format (no pickle).

Layout (little-endian):
    8 bytes   magic b"RETICULM"
    4 bytes   format version (uint32, currently 1)
    8 bytes   header length H (uint64)
    H bytes   header: UTF-8 JSON {"tree": ..., "tensors": [...], "data_len": D}
    padding   zeros up to a multiple of 64 bytes
    D bytes   tensor data, each tensor C-contiguous at its "offset" (64-byte aligned)
    32 bytes  SHA-256 of everything before it

The tree encodes the saved object: JSON null/bool/number/string for None/bool/int/float/str,
and one-key objects {"list": [...]}, {"tuple": [...]}, {"dict": [[key, value], ...]},
{"tensor": index} for containers and tensors. Each tensor entry is
{"dtype", "shape", "offset", "nbytes", "requires_grad"}. Loading only ever builds these
types, so an untrusted file cannot run code; any truncation or corruption is detected by
the size checks and the checksum and raises CheckpointError.

Loading allocates at most about the file's size: tensor entries may not overlap or reach past the
data section, bool bytes must be 0 or 1, and only regular files are read (a FIFO would block
forever, a device such as /dev/zero never ends).

Writes are atomic: the file is written to a temporary name in the same folder, fsynced
and renamed over the target, so a crash mid-save leaves the previous checkpoint intact. A symlink
is written through (its target is replaced, as open() would write into it). The temporary name
".<name>.<pid>-<random>.tmp" carries the writer's pid, and the writer holds an exclusive flock on
it until the rename; a later save of the same name removes the temporary files of writers that
were killed (pid not running and lock free), so SIGKILLs do not pile up orphans.
"""
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
import stat
import struct

from . import _C
from ._C import Tensor
from ._numpy import DTYPE_NAMES, load_numpy as _np, numpy_dtype

MAGIC = b"RETICULM"
VERSION = 1
_ALIGN = 64


class CheckpointError(ValueError):
    """The file is not a (valid, complete) reticulum checkpoint."""


def _encode(obj, tensors):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return {"tensor": len(tensors) - 1}
    if isinstance(obj, list):
        return {"list": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, dict):
        return {"dict": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    np = _np()
    if isinstance(obj, np.generic):
        return _encode(obj.item(), tensors)
    if isinstance(obj, (_C.dtype,)):
        return {"dtype": obj.name}
    raise TypeError(f"save: cannot serialize an object of type {type(obj).__name__} (supported: tensors, dict, list, tuple, "
                    "str, int, float, bool, None)")


def save(obj, path):
    """Writes obj (tensors and nested dict/list/tuple of tensors and plain scalars/strings) to path, atomically."""
    np = _np()
    tensors = []
    tree = _encode(obj, tensors)
    entries, blobs, offset = [], [], 0
    for t in tensors:
        a = np.ascontiguousarray(t.detach().cpu().numpy()).astype(numpy_dtype(t.dtype), copy=False)  # a device tensor is saved from the host
        raw = a.tobytes()
        entries.append({"dtype": t.dtype.name, "shape": list(t.shape), "offset": offset, "nbytes": len(raw),
                        "requires_grad": bool(t.requires_grad)})
        pad = (-len(raw)) % _ALIGN
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    header = json.dumps({"tree": tree, "tensors": entries, "data_len": offset}, separators=(",", ":")).encode("utf-8")
    head = MAGIC + struct.pack("<IQ", VERSION, len(header)) + header
    head += b"\0" * ((-len(head)) % _ALIGN)
    digest = hashlib.sha256(head)
    for b in blobs:
        digest.update(b)

    target = _resolve_target(path)
    folder, base = os.path.split(target)
    _remove_stale_temp_files(folder, base)  # first: an orphan may hold the disk space this save needs
    tmp = os.path.join(folder, f".{base}.{os.getpid()}-{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask: the usual file mode
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # held until after the rename: marks the temp file as in use
            f.write(head)
            for b in blobs:
                f.write(b)
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _resolve_target(path):
    """The file that save() replaces: `path` with every symlink resolved, so that a link is written through
    to its target (as open() would) instead of being replaced by a regular file."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath stops at a symlink loop; open() would fail with ELOOP
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    return target


def _pid_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    except OverflowError:  # beyond the range of pids: not a process
        return False
    return True


def _remove_stale_temp_files(folder, base):
    """Removes the temp files of earlier saves to `base` whose writer was killed mid-write. A temp file is stale
    when the pid in its name is not running and its flock is free. The lock alone is not enough: a live writer
    creates its file an instant before locking it. The pid alone is not enough either: a writer in another pid
    namespace (a container sharing the folder) can have a pid that is not running here."""
    pattern = re.compile(re.escape(f".{base}.") + r"(\d+)-[0-9a-f]{16}\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or _pid_running(int(m.group(1))):
            continue
        stale = os.path.join(folder, name)
        try:
            fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError while a writer holds it
                os.unlink(stale)
        except OSError:
            pass
        finally:
            os.close(fd)


def _decode(node, tensors, path):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        (kind, v), = node.items()
        if kind == "tensor" and isinstance(v, int) and 0 <= v < len(tensors):
            return tensors[v]
        if kind == "list" and isinstance(v, list):
            return [_decode(x, tensors, path) for x in v]
        if kind == "tuple" and isinstance(v, list):
            return tuple(_decode(x, tensors, path) for x in v)
        if kind == "dict" and isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 for p in v):
            return {_hashable(_decode(k, tensors, path), path): _decode(x, tensors, path) for k, x in v}
        if kind == "float" and v in ("inf", "-inf", "nan"):
            return float(v)
        if kind == "dtype" and isinstance(v, str) and v in DTYPE_NAMES:
            return getattr(_C.dtype, v)
    raise CheckpointError(f"load: {path} has a malformed object tree")


def _hashable(k, path):
    try:
        hash(k)
    except TypeError:
        raise CheckpointError(f"load: {path} has an unhashable dict key") from None
    return k


_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_regular(mode, path):
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise CheckpointError(f"load: {path} is {kind}; checkpoints are read from regular files only")


def _read_regular_file(path):
    """The bytes of `path`, which must be a regular file: reading a FIFO blocks until a writer comes, and a device
    such as /dev/zero never ends, so neither is read. Reads the size that fstat reports, never more."""
    _check_regular(os.stat(path).st_mode, path)  # before opening: opening some devices has side effects
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO swapped in after the stat must not block the open
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        _check_regular(st.st_mode, path)
        return f.read(st.st_size)


def _json_int(v):
    if type(v) is not int:
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def _tensor_layouts(entries, data_len, path):
    """Validates the tensor entries: [(dtype name, NumPy dtype, shape, offset, nbytes, requires_grad)].
    The entries' byte ranges lie inside the data section and do not overlap, so the tensors together take no
    more memory than the file: aliasing entries could otherwise turn a small file into gigabytes."""
    layouts = []
    for i, e in enumerate(entries):
        try:
            dt = e["dtype"]
            np_dt = numpy_dtype(dt)
            shape = [_json_int(s) for s in e["shape"]]
            off, nbytes = _json_int(e["offset"]), _json_int(e["nbytes"])
            requires_grad = e.get("requires_grad", False)
            if type(requires_grad) is not bool:
                raise TypeError("requires_grad must be a bool")
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"load: {path} has a malformed entry for tensor {i}") from None
        extent = math.prod(max(s, 1) for s in shape) * np_dt.itemsize  # what strides span, even when empty
        if (any(s < 0 for s in shape) or len(shape) > 64 or extent >= 2 ** 62
                or math.prod(shape) * np_dt.itemsize != nbytes or off < 0 or off + nbytes > data_len):
            raise CheckpointError(f"load: {path}: tensor {i} (shape {shape}, {dt}) does not fit the data section")
        if requires_grad and dt not in ("float32", "float64"):
            raise CheckpointError(f"load: {path}: tensor {i} of dtype {dt} is marked requires_grad")
        layouts.append((dt, np_dt, shape, off, nbytes, requires_grad))
    by_offset = sorted((off, off + nbytes, i) for i, (_, _, _, off, nbytes, _) in enumerate(layouts) if nbytes)
    for (start_i, end_i, i), (start_j, end_j, j) in zip(by_offset, by_offset[1:]):
        if start_j < end_i:
            raise CheckpointError(f"load: {path}: tensor {j} (data bytes {start_j} to {end_j}) overlaps tensor {i} "
                                  f"(bytes {start_i} to {end_i}); entries must not share data")
    return layouts


def _build_tensor(blob, start, layout, i, path):
    np = _np()
    dt, np_dt, shape, off, nbytes, requires_grad = layout
    raw = np.frombuffer(blob, dtype=np.uint8, count=nbytes, offset=start + off)
    if dt == "bool" and nbytes and raw.max() > 1:
        k = int(np.argmax(raw > 1))
        raise CheckpointError(f"load: {path}: bool tensor {i} holds byte {raw[k]} at element {k}; bool bytes must "
                              "be 0 or 1")
    arr = raw.view(np_dt).reshape(shape).astype(np_dt.newbyteorder("="), copy=False)
    t = _C._from_numpy_copy(np.ascontiguousarray(arr) if arr.ndim else arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def load(path, map_location=None, weights_only=True):
    """Reads a checkpoint written by save(). Never executes code from the file."""
    blob = _read_regular_file(path)
    fixed = len(MAGIC) + 12
    if len(blob) < fixed + 32 or blob[:len(MAGIC)] != MAGIC:
        raise CheckpointError(f"load: {path} is not a reticulum checkpoint (missing magic bytes)")
    version, hlen = struct.unpack("<IQ", blob[len(MAGIC):fixed])
    if version != VERSION:
        raise CheckpointError(f"load: {path} has format version {version}; this reticulum reads version {VERSION}")
    if fixed + hlen + 32 > len(blob):
        raise CheckpointError(f"load: {path} is truncated (header of {hlen} bytes does not fit in {len(blob)} bytes)")
    body, digest = memoryview(blob)[:-32], blob[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"load: {path} is corrupted or truncated (checksum mismatch)")
    try:
        header = json.loads(blob[fixed:fixed + hlen].decode("utf-8"))
        entries, data_len, tree = header["tensors"], _json_int(header["data_len"]), header["tree"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("'tensors' must be a list of objects")
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise CheckpointError(f"load: {path} has an unreadable header ({type(e).__name__}: {e})") from None
    start = fixed + hlen + ((-(fixed + hlen)) % _ALIGN)
    if start + data_len != len(body):
        raise CheckpointError(f"load: {path} has {len(body) - start} bytes of tensor data, the header says {data_len}")
    layouts = _tensor_layouts(entries, data_len, path)
    tensors = [_build_tensor(blob, start, layout, i, path) for i, layout in enumerate(layouts)]
    try:
        return _decode(tree, tensors, path)
    except RecursionError:
        raise CheckpointError(f"load: {path} has an object tree nested too deeply") from None
