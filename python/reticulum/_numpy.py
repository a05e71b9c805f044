"""NumPy for the Python layer, imported on first use (`import reticulum` does not load it, which keeps
the import fast), and the one correspondence between reticulum's dtypes and NumPy's."""
from ._C import dtype as _dtype

DTYPE_NAMES = ("float32", "float64", "int64", "bool")  # reticulum's dtypes: NumPy's of the same names


def load_numpy():
    import numpy
    return numpy


def numpy_dtype(dt):
    """The NumPy dtype of a reticulum dtype (or of its name), little-endian: the layout of tensor memory
    and of checkpoint files. KeyError for any other name."""
    name = dt.name if isinstance(dt, _dtype) else dt
    if not isinstance(name, str) or name not in DTYPE_NAMES:
        raise KeyError(f"not a reticulum dtype: {dt!r}")
    return load_numpy().dtype(name).newbyteorder("<")
