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

Writes are atomic: the file is written to a temporary name in the same folder, fsynced
and renamed over the target, so a crash mid-save leaves the previous checkpoint intact.
"""
import hashlib
import json
import math
import os
import struct
import tempfile

from . import _C
from ._C import Tensor

MAGIC = b"RETICULM"
VERSION = 1
_ALIGN = 64
_NP_DTYPES = {"float32": "<f4", "float64": "<f8", "int64": "<i8", "bool": "|b1"}


class CheckpointError(ValueError):
    """The file is not a (valid, complete) reticulum checkpoint."""


def _np():
    import numpy
    return numpy


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
        a = np.ascontiguousarray(t.detach().numpy()).astype(_NP_DTYPES[t.dtype.name], copy=False)
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

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a checkpoint gets the usual file mode
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for b in blobs:
                f.write(b)
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
        if kind == "dtype" and v in _NP_DTYPES:
            return getattr(_C.dtype, v)
    raise CheckpointError(f"load: {path} has a malformed object tree")


def _hashable(k, path):
    try:
        hash(k)
    except TypeError:
        raise CheckpointError(f"load: {path} has an unhashable dict key") from None
    return k


def load(path, map_location=None, weights_only=True):
    """Reads a checkpoint written by save(). Never executes code from the file."""
    np = _np()
    with open(path, "rb") as f:
        blob = f.read()
    fixed = len(MAGIC) + 12
    if len(blob) < fixed + 32 or blob[:len(MAGIC)] != MAGIC:
        raise CheckpointError(f"load: {path} is not a reticulum checkpoint (missing magic bytes)")
    version, hlen = struct.unpack("<IQ", blob[len(MAGIC):fixed])
    if version != VERSION:
        raise CheckpointError(f"load: {path} has format version {version}; this reticulum reads version {VERSION}")
    if fixed + hlen + 32 > len(blob):
        raise CheckpointError(f"load: {path} is truncated (header of {hlen} bytes does not fit in {len(blob)} bytes)")
    body, digest = blob[:-32], blob[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"load: {path} is corrupted or truncated (checksum mismatch)")
    try:
        header = json.loads(blob[fixed:fixed + hlen].decode("utf-8"))
        entries, data_len, tree = header["tensors"], int(header["data_len"]), header["tree"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("'tensors' must be a list of objects")
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise CheckpointError(f"load: {path} has an unreadable header ({type(e).__name__}: {e})") from None
    start = fixed + hlen + ((-(fixed + hlen)) % _ALIGN)
    if start + data_len != len(body):
        raise CheckpointError(f"load: {path} has {len(body) - start} bytes of tensor data, the header says {data_len}")
    tensors = []
    for i, e in enumerate(entries):
        try:
            dt, shape, off, nbytes = e["dtype"], [int(s) for s in e["shape"]], int(e["offset"]), int(e["nbytes"])
            np_dt = np.dtype(_NP_DTYPES[dt])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"load: {path} has a malformed entry for tensor {i}") from None
        count = math.prod(shape)
        if any(s < 0 for s in shape) or count * np_dt.itemsize != nbytes or off < 0 or off + nbytes > data_len:
            raise CheckpointError(f"load: {path}: tensor {i} (shape {shape}, {dt}) does not fit the data section")
        arr = np.frombuffer(blob, dtype=np_dt, count=count, offset=start + off).reshape(shape).astype(np_dt.newbyteorder("="))
        t = _C._from_numpy_copy(np.ascontiguousarray(arr) if arr.ndim else arr)
        if e.get("requires_grad"):
            if dt not in ("float32", "float64"):
                raise CheckpointError(f"load: {path}: tensor {i} of dtype {dt} is marked requires_grad")
            t.requires_grad_(True)
        tensors.append(t)
    try:
        return _decode(tree, tensors, path)
    except RecursionError:
        raise CheckpointError(f"load: {path} has an object tree nested too deeply") from None
