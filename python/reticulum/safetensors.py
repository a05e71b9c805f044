"""State dicts in the safetensors format, the common currency for moving weights between
frameworks, with the names of `safetensors.torch`: save_file, load_file, save_model, load_model.
Needs the `safetensors` package (`pip install "reticulum[safetensors]"`), whose NumPy API reads
and writes the files; reticulum's own `.rtc` container (rt.save) stays the format for full
training state (optimizer state, history). Files are written atomically.

Dtypes reticulum lacks are widened on load: float16 and bfloat16 to float32, smaller integers
to int64, as PyTorch would after `.float()` / `.long()`."""
import os

from ._atomic import write_bytes_atomically

__all__ = ["save_file", "load_file", "save_model", "load_model"]

_WIDEN = {"f": "float32", "i": "int64", "u": "int64"}  # NumPy is imported on first use: `import reticulum` stays fast


def _numpy_api():
    try:
        from safetensors import numpy as st_numpy
    except ImportError:
        raise ImportError("reticulum.safetensors needs the safetensors package: pip install 'reticulum[safetensors]' "
                          "(or pip install safetensors)") from None
    return st_numpy


def save_file(tensors, filename, metadata=None):
    """Writes a dict of name -> Tensor (e.g. model.state_dict()) to `filename`."""
    import numpy as np

    from ._C import Tensor
    st = _numpy_api()
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file: expected a dict of name -> Tensor, got {type(tensors).__name__}")
    arrays = {}
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be strings, got {name!r}")
        if not isinstance(t, Tensor):
            raise TypeError(f"save_file: '{name}' is a {type(t).__name__}, not a Tensor")
        arrays[name] = np.ascontiguousarray(t.detach().cpu().numpy())
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                                         for k, v in metadata.items())):
        raise TypeError("save_file: metadata must be a dict of str -> str")
    payload = st.save(arrays, metadata=metadata)
    write_bytes_atomically(filename, payload)


def load_file(filename, device="cpu"):
    """Reads `filename` into a dict of name -> Tensor (each owning its memory)."""
    import numpy as np

    from ._C import from_numpy
    st = _numpy_api()
    if str(device) != "cpu":
        raise ValueError(f"load_file: only device='cpu' is supported, got {device!r}")
    path = os.fspath(filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_file: no such file: {path}")
    try:
        arrays = st.load_file(path)
    except Exception as e:  # noqa: BLE001  (the Rust parser raises its own error types for malformed files)
        raise ValueError(f"load_file: {path} is not a valid safetensors file ({type(e).__name__}: {e})") from None
    out = {}
    for name, a in arrays.items():
        if a.dtype.kind in _WIDEN and a.dtype not in (np.float32, np.float64, np.int64):
            a = a.astype(_WIDEN[a.dtype.kind])
        out[name] = from_numpy(np.array(a, copy=True, order="C"))
    return out


def save_model(model, filename, metadata=None):
    """save_file(model.state_dict(), filename)."""
    save_file(model.state_dict(), filename, metadata)


def load_model(model, filename, strict=True):
    """model.load_state_dict(load_file(filename), strict); returns its (missing, unexpected) keys."""
    return model.load_state_dict(load_file(filename), strict=strict)
