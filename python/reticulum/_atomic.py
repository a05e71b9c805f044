"""One way to write a file whole or not at all: a temp file beside the target, fsync, rename.
(rt.save has its own writer, which also cleans up after killed writers.)"""
import os
import tempfile


def write_bytes_atomically(path, payload):
    """Writes `payload` to `path` so that readers see the old file or the new one, never a part."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
