"""Image datasets read from local files (no download code): MNIST and FashionMNIST from the
standard IDX files, the built-in UCI 8x8 Digits, and (re-exported) the synthetic toy sets.

Layout differs from torchvision for speed: `.data` is a float32 tensor [N, 1, H, W] already
scaled to [0, 1] (torchvision: uint8 [N, H, W]); `.targets` is int64 [N]. `ds[i]` returns
(image [1, H, W] tensor, int label); `as_tensor_dataset()` returns a TensorDataset over
(data, targets), which a DataLoader batches with one gather per tensor."""
import functools
import gzip
import zlib
from pathlib import Path

import numpy as np

from .. import _C
from ..utils.data import Dataset, TensorDataset, _check_seed, _normalize_index
from .synthetic import blobs, polynomial, two_moons, xor  # noqa: F401  (re-exported)

__all__ = ["read_idx", "MNIST", "FashionMNIST", "Digits", "xor", "polynomial", "two_moons", "blobs"]

_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """Reads an IDX file (gzip-compressed or not, detected from its content) into a NumPy
    array of native byte order. Raises FileNotFoundError if absent and ValueError naming the
    file when the magic number, dtype code, dimensions or data length are wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"read_idx: {path}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path}: file too short ({len(raw)} bytes) to hold an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"read_idx: {path}: bad magic number 0x{raw[:4].hex()} (an IDX file starts with two zero bytes, "
                         f"a dtype code and the number of dimensions)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {path}: unknown IDX dtype code 0x{code:02x} (expected one of "
                         + ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES) + ")")
    if ndim == 0:
        raise ValueError(f"read_idx: {path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dt = _IDX_DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    expected, found = count * dt.itemsize, len(raw) - header
    if found < expected:
        raise ValueError(f"read_idx: {path}: truncated data: shape {dims} of {dt.name} needs {expected} bytes after the "
                         f"header, found {found}")
    if found > expected:
        raise ValueError(f"read_idx: {path}: {found - expected} unexpected trailing bytes after data of shape {dims}")
    arr = np.frombuffer(raw, dtype=dt, count=count, offset=header).reshape(dims)
    return arr.astype(dt.newbyteorder("="), copy=True)


class _IDXImages(Dataset):
    """Shared loader for MNIST-format data sets (four IDX files in one folder)."""

    files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    classes = []
    source = ""

    def __init__(self, root, train=True, transform=None, target_transform=None):
        name = type(self).__name__
        self.root, self.train = Path(root), bool(train)
        self.transform, self.target_transform = transform, target_transform
        img_path, lbl_path = (self._locate(f) for f in self.files[self.train])
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(f"{name}: {img_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(f"{name}: {lbl_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{name}: {img_path.name} holds {images.shape[0]} images but {lbl_path.name} holds "
                             f"{labels.shape[0]} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{name}: {lbl_path}: label {int(labels.max())} out of range for {len(self.classes)} classes")
        self.data = _C.from_numpy(np.divide(images[:, None], np.float32(255), dtype=np.float32))
        self._labels = labels.astype(np.int64)
        self.targets = _C.from_numpy(self._labels)

    def _expected(self):
        return ", ".join(f"{f}.gz" for pair in self.files.values() for f in pair)

    def _locate(self, base):
        name = type(self).__name__
        folders = [self.root, self.root / name / "raw"]
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name}: data folder {self.root} does not exist. Create it and put the IDX files "
                                    f"{self._expected()} (gzipped or not) in it{self.source}; nothing is downloaded.")
        for folder in folders:
            for fname in (base, base + ".gz"):
                if (folder / fname).is_file():
                    return folder / fname
        raise FileNotFoundError(f"{name}: missing {base}.gz (or uncompressed {base}) in {self.root}. Put the IDX files "
                                f"{self._expected()} (gzipped or not) in {self.root}{self.source}; nothing is downloaded.")

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        i = _normalize_index(index, len(self), type(self).__name__)
        img, target = self.data.select(0, i), int(self._labels[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def as_tensor_dataset(self):
        """TensorDataset(data, targets) for the DataLoader fast path (batch transforms go in
        DataLoader(transform=...)); refused when per-sample transforms are set."""
        if self.transform is not None or self.target_transform is not None:
            raise ValueError(f"{type(self).__name__}.as_tensor_dataset: the per-sample transform/target_transform would "
                             f"be skipped; create the dataset without them and pass a batch transform to DataLoader")
        return TensorDataset(self.data, self.targets)

    def __repr__(self):
        return f"{type(self).__name__}(root={str(self.root)!r}, train={self.train}, n={len(self)})"


class MNIST(_IDXImages):
    """MNIST handwritten digits from the four IDX files in `root` (or root/MNIST/raw):
    60,000 train / 10,000 test images 28x28. data: float32 [N, 1, 28, 28] in [0, 1]."""
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    source = " (the standard files of http://yann.lecun.com/exdb/mnist or a mirror)"


class FashionMNIST(_IDXImages):
    """Fashion-MNIST from the four IDX files in `root` (or root/FashionMNIST/raw): 60,000
    train / 10,000 test 28x28 images in 10 clothing classes. data: float32 [N, 1, 28, 28]."""
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    source = " (from https://github.com/zalandoresearch/fashion-mnist)"


_DIGITS_FILE = Path(__file__).resolve().parent / "data" / "digits.csv.gz"


@functools.lru_cache(maxsize=1)
def _load_digits():
    try:
        with gzip.open(_DIGITS_FILE, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    except FileNotFoundError:
        raise FileNotFoundError(f"Digits: the built-in data file {_DIGITS_FILE} is missing from the installation") from None
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(f"Digits: {_DIGITS_FILE} is corrupt ({e})") from None
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"Digits: {_DIGITS_FILE}: expected rows of 64 pixels and a label, got shape {table.shape}")
    images = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    labels = table[:, 64].astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


class Digits(Dataset):
    """The UCI 8x8 handwritten digits shipped with reticulum (1,797 images, 10 classes,
    pixel levels 0..16 scaled to [0, 1]; data float32 [N, 1, 8, 8], targets int64).
    train=True/False gives a stratified split: in every class, a `seed`-determined
    round(test_fraction * count) images go to the test set; train=None gives all images.
    `indices` holds the selected rows of the full table."""
    classes = list(range(10))

    def __init__(self, train=True, seed=0, test_fraction=0.2, transform=None, target_transform=None):
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must lie in (0, 1), got {test_fraction}")
        if _check_seed(seed, "Digits") is None:
            raise ValueError("Digits: seed must be a non-negative int (the split is always deterministic), got None")
        images, labels = _load_digits()
        if train is None:
            idx = np.arange(labels.shape[0])
        else:
            rng = np.random.default_rng(int(seed))
            perm = rng.permutation(labels.shape[0])
            grouped = perm[np.argsort(labels[perm], kind="stable")]  # class by class, random order within
            lab = labels[grouped]
            first = np.searchsorted(lab, lab, side="left")
            counts = np.bincount(lab, minlength=10)
            rank = np.arange(lab.shape[0]) - first
            is_test = rank < np.round(counts * test_fraction).astype(np.int64)[lab]
            idx = np.sort(grouped[is_test if not train else ~is_test])
        self.train, self.seed, self.test_fraction = train, seed, test_fraction
        self.indices = idx  # rows of the full 1,797-image table, ascending
        self.transform, self.target_transform = transform, target_transform
        self._labels = np.ascontiguousarray(labels[idx])
        self.data = _C.from_numpy(np.ascontiguousarray(images[idx]))
        self.targets = _C.from_numpy(self._labels)

    def __len__(self):
        return self.data.shape[0]

    __getitem__ = _IDXImages.__getitem__
    as_tensor_dataset = _IDXImages.as_tensor_dataset

    def __repr__(self):
        return f"Digits(train={self.train}, seed={self.seed}, n={len(self)})"
