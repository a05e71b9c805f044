"""Image datasets: MNIST and FashionMNIST from the standard IDX files (downloaded on request,
as torchvision does), the built-in UCI 8x8 Digits, and (re-exported) the synthetic toy sets.

MNIST and FashionMNIST follow torchvision: `.data` holds the pixel values 0..255 as [N, H, W],
`.targets` int64 [N], `ds[i]` is (image, int label) with `transform`/`target_transform` applied,
so `MNIST(root, download=True, transform=ToTensor())` and `data.view(-1, 784).float() / 255`
work as in torchvision. Two differences: `.data` is int64 (torchvision: uint8; reticulum has no
uint8 dtype), and each image comes as a uint8 NumPy array [H, W] (torchvision: a PIL image of
the same pixels), which ToTensor, PIL.Image.fromarray and imshow all take.
`as_tensor_dataset()` returns a TensorDataset of float32 images [N, 1, H, W] scaled to
[0, 1] and the targets, which a DataLoader batches with one gather per tensor: the fast path."""
import functools
import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .. import _C
from .._atomic import write_bytes_atomically
from ..utils.data import Dataset, TensorDataset, _check_seed, _normalize_index
from .synthetic import blobs, polynomial, two_moons, xor  # re-exported

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


def _transformed(ds, img, target):
    if ds.transform is not None:
        img = ds.transform(img)
    if ds.target_transform is not None:
        target = ds.target_transform(target)
    return img, target


def _check_no_item_transforms(ds):
    if ds.transform is not None or ds.target_transform is not None:
        raise ValueError(f"{type(ds).__name__}.as_tensor_dataset: the per-sample transform/target_transform would "
                         f"be skipped; create the dataset without them and pass a batch transform to DataLoader")


class _IDXImages(Dataset):
    """Shared loader for MNIST-format data sets (four IDX files, in `root` or in torchvision's
    layout root/<ClassName>/raw)."""

    files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    classes = []
    mirrors = []
    resources = {}  # gzipped file name -> md5, as published with the data set

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        name = type(self).__name__
        self.root, self.train = Path(os.path.expanduser(root)), bool(train)
        self.transform, self.target_transform = transform, target_transform
        if download and not self._files_present():
            self.download()
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
        self._images = images
        self._labels = labels.astype(np.int64)
        self.targets = _C.from_numpy(self._labels)
        self._data = self._scaled = None

    @property
    def data(self):
        """The images as integers 0..255, [N, H, W]: torchvision's layout and values, in int64 because
        reticulum has no uint8 dtype. Built on first use (the DataLoader fast path never needs it)."""
        if self._data is None:
            self._data = _C.from_numpy(self._images.astype(np.int64))
        return self._data

    # torchvision's older names for the same tensors
    train_data = test_data = property(lambda self: self.data)
    train_labels = test_labels = property(lambda self: self.targets)

    @property
    def raw_folder(self):
        return self.root / type(self).__name__ / "raw"

    def _expected(self):
        return ", ".join(f"{f}.gz" for pair in self.files.values() for f in pair)

    def _find(self, base):
        for folder in (self.root, self.raw_folder):
            for fname in (base, base + ".gz"):
                if (folder / fname).is_file():
                    return folder / fname
        return None

    def _files_present(self):
        return all(self._find(f) for f in self.files[self.train])

    def _locate(self, base):
        name = type(self).__name__
        hint = f"; or pass download=True to fetch them (from {', '.join(self.mirrors)})"
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name}: data folder {self.root} does not exist. Create it and put the IDX files "
                                    f"{self._expected()} (gzipped or not) in it{hint}.")
        found = self._find(base)
        if found is None:
            raise FileNotFoundError(f"{name}: missing {base}.gz (or uncompressed {base}) in {self.root}. Put the IDX files "
                                    f"{self._expected()} (gzipped or not) in {self.root}{hint}.")
        return found

    def download(self):
        """Fetches the gzipped IDX files missing from root/<ClassName>/raw, trying each mirror in
        turn and checking each file's md5; files are written atomically and read gzipped (no unpacking needed)."""
        name = type(self).__name__
        self.raw_folder.mkdir(parents=True, exist_ok=True)
        for pair in self.files.values():
            for base in pair:
                if self._find(base) is not None:
                    continue
                fname = base + ".gz"
                failures = []
                for mirror in self.mirrors:
                    url = mirror + fname
                    try:
                        with urllib.request.urlopen(url, timeout=60) as r:
                            payload = r.read()
                    except (urllib.error.URLError, OSError, ValueError) as e:
                        failures.append(f"{url}: {getattr(e, 'reason', e)}")
                        continue
                    digest = hashlib.md5(payload).hexdigest()
                    if digest != self.resources[fname]:
                        failures.append(f"{url}: md5 {digest} does not match the published {self.resources[fname]}")
                        continue
                    write_bytes_atomically(self.raw_folder / fname, payload)
                    break
                else:
                    raise RuntimeError(f"{name}: could not download {fname}; no mirror answered with the right file:\n  "
                                       + "\n  ".join(failures) + f"\nPut the files in {self.raw_folder} by hand instead.")

    def __len__(self):
        return self._images.shape[0]

    def __getitem__(self, index):
        i = _normalize_index(index, len(self), type(self).__name__)
        return _transformed(self, self._images[i].copy(), int(self._labels[i]))

    def as_tensor_dataset(self):
        """TensorDataset(float32 images [N, 1, H, W] in [0, 1], targets) for the DataLoader fast path
        (batch transforms go in DataLoader(transform=...)); refused when per-sample transforms are set."""
        _check_no_item_transforms(self)
        if self._scaled is None:
            self._scaled = _C.from_numpy(np.divide(self._images[:, None], np.float32(255), dtype=np.float32))
        return TensorDataset(self._scaled, self.targets)

    def __repr__(self):
        return f"{type(self).__name__}(root={str(self.root)!r}, train={self.train}, n={len(self)})"


class MNIST(_IDXImages):
    """MNIST handwritten digits from the four IDX files in `root` (or root/MNIST/raw):
    60,000 train / 10,000 test images 28x28. data: pixel values 0..255, int64 [N, 28, 28]."""
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                 "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                 "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                 "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}


class FashionMNIST(_IDXImages):
    """Fashion-MNIST from the four IDX files in `root` (or root/FashionMNIST/raw): 60,000
    train / 10,000 test 28x28 images in 10 clothing classes. data: 0..255, int64 [N, 28, 28]."""
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                 "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                 "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                 "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}


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

    def __getitem__(self, index):
        i = _normalize_index(index, len(self), "Digits")
        return _transformed(self, self.data.select(0, i), int(self._labels[i]))

    def as_tensor_dataset(self):
        """TensorDataset(data, targets) for the DataLoader fast path (batch transforms go in
        DataLoader(transform=...)); refused when per-sample transforms are set."""
        _check_no_item_transforms(self)
        return TensorDataset(self.data, self.targets)

    def __repr__(self):
        return f"Digits(train={self.train}, seed={self.seed}, n={len(self)})"
