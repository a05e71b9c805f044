"""reticulum.vision.datasets: the IDX parser on generated files (plain and gzip, malformed ones),
MNIST/FashionMNIST on small generated folders and (when present) the real files, the built-in
Digits set, and the synthetic toy problems."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import reticulum as rt
from reticulum.utils.data import DataLoader, TensorDataset
from reticulum.vision import datasets as D
from reticulum.vision import transforms as T

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(arr, code=None):
    """An IDX file written independently of the parser: big-endian header and data."""
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    arr = np.asarray(arr)
    code = codes[arr.dtype.type] if code is None else code
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ---------------------------------------------------------------- IDX parser

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("arr", [np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
                                 np.array([-5, 0, 7], dtype=np.int8),
                                 np.array([[-300, 2], [5, 30000]], dtype=np.int16),
                                 np.array([[1, -2, 70000]], dtype=np.int32),
                                 np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
                                 np.array([np.pi, -1e300], dtype=np.float64)], ids=lambda a: f"{a.dtype}{a.shape}")
def test_read_idx_roundtrip(tmp_path, arr, gz):
    p = write(tmp_path / "f-idx", idx_bytes(arr), gz)
    out = D.read_idx(p)
    assert out.dtype == arr.dtype.newbyteorder("=") and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_read_idx_empty_array(tmp_path):
    out = D.read_idx(write(tmp_path / "e", idx_bytes(np.zeros((0, 28, 28), np.uint8))))
    assert out.shape == (0, 28, 28)


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize("data, gz, message", [
    (b"\x00\x00", False, "too short"),
    (b"\x01\x02" + GOOD[2:], False, "bad magic number 0x0102"),
    (GOOD[:2] + b"\x07" + GOOD[3:], False, "unknown IDX dtype code 0x07"),
    (GOOD[:3] + b"\x00", False, "0 dimensions"),
    (GOOD[:9], False, "truncated header"),
    (GOOD[:-1], False, r"truncated data: shape \(2, 3, 4\) of uint8 needs 24 bytes after the header, found 23"),
    (GOOD[:-5], True, "truncated data"),
    (GOOD + b"\x00\x00", False, "2 unexpected trailing bytes"),
    (gzip.compress(GOOD)[:-10], True, "corrupt or truncated gzip"),
])
def test_read_idx_malformed_raises_naming_file(tmp_path, data, gz, message):
    p = tmp_path / "broken-idx3-ubyte.gz"
    p.write_bytes(data if not gz or data[:2] == b"\x1f\x8b" else gzip.compress(data))
    with pytest.raises(ValueError, match=message) as e:
        D.read_idx(p)
    assert str(p) in str(e.value)


def test_read_idx_corrupted_gzip_crc(tmp_path):
    blob = bytearray(gzip.compress(GOOD))
    blob[-8] ^= 0xFF  # CRC32 of the trailer
    p = tmp_path / "crc.gz"
    p.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="crc.gz: corrupt or truncated gzip"):
        D.read_idx(p)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        D.read_idx(tmp_path / "nope")


# ---------------------------------------------------------------- MNIST / FashionMNIST on generated folders

def make_mnist(folder, n_train=6, n_test=4, gz=(True, True, False, False), h=28, w=28, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (n_train, h, w), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, h, w), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8)]
    for name, arr, z in zip(FILES, arrays, gz):
        write(folder / (name + (".gz" if z else "")), idx_bytes(arr), z)
    return arrays


@pytest.mark.parametrize("cls", [D.MNIST, D.FashionMNIST])
def test_mnist_format_loads_with_torchvision_layout(tmp_path, cls):
    imgs, labels, timgs, tlabels = make_mnist(tmp_path)
    ds = cls(tmp_path)
    assert len(ds) == 6 and len(ds.classes) == 10
    assert tuple(ds.data.shape) == (6, 28, 28) and ds.data.dtype == rt.int64  # torchvision: uint8, same values
    np.testing.assert_array_equal(ds.data.numpy(), imgs)
    assert ds.train_data is ds.data and ds.train_labels is ds.targets
    assert ds.targets.dtype == rt.int64 and ds.targets.tolist() == labels.tolist()
    img, target = ds[-1]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
    np.testing.assert_array_equal(img, imgs[-1])
    assert target == int(labels[-1]) and isinstance(target, int)
    test = cls(tmp_path, train=False)
    assert len(test) == 4 and test.targets.tolist() == tlabels.tolist()
    np.testing.assert_array_equal(test.test_data.numpy(), timgs)
    # fast path (float images in [0, 1]) and the per-sample torchvision path agree
    fast = list(DataLoader(ds.as_tensor_dataset(), batch_size=4))
    slow = list(DataLoader(cls(tmp_path, transform=T.ToTensor()), batch_size=4))
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert tuple(xf.shape) == tuple(xs.shape) and xf.dtype == xs.dtype == rt.float32
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
    np.testing.assert_allclose(fast[0][0].numpy()[:, 0], imgs[:4] / 255.0, rtol=1e-6)


def test_mnist_transforms_and_torchvision_layout(tmp_path):
    make_mnist(tmp_path / "MNIST" / "raw", gz=(False, False, True, True))
    ds = D.MNIST(tmp_path, transform=lambda x: x * 2.0, target_transform=lambda y: y + 100)
    img, target = ds[0]
    np.testing.assert_allclose(img, ds.data.numpy()[0] * 2.0)
    assert target == ds.targets.tolist()[0] + 100
    with pytest.raises(ValueError, match="as_tensor_dataset: the per-sample transform"):
        ds.as_tensor_dataset()
    assert isinstance(D.MNIST(tmp_path, train=False).as_tensor_dataset(), TensorDataset)


def test_torchvision_style_pipeline_scales_once(tmp_path):
    """The torchvision idiom data.view(-1, 784).float() / 255 must give inputs in [0, 1] (a float
    .data would silently give inputs 255x too small), and ToTensor + Normalize as torchvision."""
    imgs, *_ = make_mnist(tmp_path)
    ds = D.MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    x = ds.data.view(-1, 784).float() / 255.
    np.testing.assert_allclose(x.numpy(), imgs.reshape(-1, 784) / 255.0, rtol=1e-6)
    img, _ = ds[2]
    assert tuple(img.shape) == (1, 28, 28)
    np.testing.assert_allclose(img.numpy()[0], (imgs[2] / 255.0 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)


def test_missing_folder_and_files_say_what_to_put_where(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError) as e:
        D.MNIST(missing)
    msg = str(e.value)
    assert str(missing) in msg and all(f + ".gz" in msg for f in FILES)
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    D.MNIST(tmp_path)  # the training files are still there
    with pytest.raises(FileNotFoundError) as e:
        D.FashionMNIST(tmp_path, train=False)
    msg = str(e.value)
    assert msg.startswith("FashionMNIST: missing t10k-labels-idx1-ubyte.gz") and str(tmp_path) in msg
    assert all(f + ".gz" in msg for f in FILES)


def test_mnist_inconsistent_files(tmp_path):
    make_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(5, np.uint8)), gz=True)
    with pytest.raises(ValueError, match="holds 6 images but train-labels-idx1-ubyte.gz holds 5 labels"):
        D.MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.full(6, 12, np.uint8)), gz=True)
    with pytest.raises(ValueError, match="label 12 out of range for 10 classes"):
        D.MNIST(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((6, 784), np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: expected uint8 images of shape \(N, H, W\)"):
        D.MNIST(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.gz", GOOD[:-3], gz=True)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: truncated data"):
        D.MNIST(tmp_path)


# ---------------------------------------------------------------- real data (skipped when absent)

@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="real MNIST not present at ../shared/data/mnist")
def test_real_mnist():
    train, test = D.MNIST(SHARED / "mnist"), D.MNIST(SHARED / "mnist", train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert tuple(train.data.shape) == (60000, 28, 28)
    assert train.targets.tolist()[:10] == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(train.targets.numpy()).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    px = test.as_tensor_dataset().tensors[0].numpy()
    assert px.min() == 0.0 and px.max() == 1.0 and abs(float((train.data.float() / 255).mean()) - 0.1307) < 1e-3


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="real Fashion-MNIST not present")
def test_real_fashion_mnist():
    train, test = D.FashionMNIST(SHARED / "fashion-mnist"), D.FashionMNIST(SHARED / "fashion-mnist", train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert np.bincount(train.targets.numpy()).tolist() == [6000] * 10
    assert train.targets.tolist()[0] == 9 and train.classes[9] == "Ankle boot"


# ---------------------------------------------------------------- Digits

def test_digits_full_set():
    full = D.Digits(train=None)
    assert len(full) == 1797 and tuple(full.data.shape) == (1797, 1, 8, 8) and full.data.dtype == rt.float32
    assert sorted(set(full.targets.tolist())) == list(range(10))
    px = full.data.numpy()
    assert px.min() == 0.0 and px.max() == 1.0
    np.testing.assert_array_equal(np.unique(np.round(px * 16)), np.arange(17))  # 16 gray levels + 0
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]  # first row of the file, label 0
    np.testing.assert_allclose(px[0, 0, :2].ravel() * 16, first, atol=1e-5)
    assert full.targets.tolist()[0] == 0


def test_digits_stratified_split():
    full = D.Digits(train=None)
    tr, te = D.Digits(train=True), D.Digits(train=False)
    assert len(tr) + len(te) == 1797
    assert sorted(np.concatenate([tr.indices, te.indices]).tolist()) == list(range(1797))
    counts = np.bincount(full.targets.numpy())
    np.testing.assert_array_equal(np.bincount(te.targets.numpy(), minlength=10), np.round(counts * 0.2))
    np.testing.assert_array_equal(te.data.numpy(), full.data.numpy()[te.indices])
    np.testing.assert_array_equal(D.Digits(train=False).indices, te.indices)  # deterministic
    assert not np.array_equal(D.Digits(train=False, seed=1).indices, te.indices)
    x, y = tr[0]
    assert tuple(x.shape) == (1, 8, 8) and isinstance(y, int)
    with pytest.raises(ValueError, match="test_fraction"):
        D.Digits(test_fraction=1.5)


# ---------------------------------------------------------------- synthetic

def test_xor():
    x, y = D.xor(400, noise=0.0, seed=0)
    assert tuple(x.shape) == (400, 2) and x.dtype == rt.float32 and y.dtype == rt.int64
    xn, yn = x.numpy(), y.numpy()
    np.testing.assert_array_equal(yn, xn[:, 0].astype(int) ^ xn[:, 1].astype(int))
    assert 150 < yn.sum() < 250
    a, b = D.xor(50, seed=3), D.xor(50, seed=3)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    assert not np.array_equal(a[0].numpy(), D.xor(50, seed=4)[0].numpy())


def test_polynomial():
    x, y = D.polynomial(200, coeffs=[1.0, -2.0, 0.5], noise=0.0, x_range=(-3, 2), seed=1)
    assert tuple(x.shape) == (200, 1) and tuple(y.shape) == (200, 1) and y.dtype == rt.float32
    xn = x.numpy()[:, 0].astype(np.float64)
    assert xn.min() >= -3 and xn.max() <= 2
    np.testing.assert_allclose(y.numpy()[:, 0], 1 - 2 * xn + 0.5 * xn ** 2, rtol=1e-5, atol=1e-5)
    _, noisy = D.polynomial(2000, degree=2, noise=0.3, seed=2)
    _, clean = D.polynomial(2000, degree=2, noise=0.0, seed=2)
    assert abs(float((noisy.numpy() - clean.numpy()).std()) - 0.3) < 0.03
    with pytest.raises(ValueError, match="x_range"):
        D.polynomial(10, x_range=(1, 1))


def test_two_moons_and_blobs():
    x, y = D.two_moons(101, noise=0.0, seed=0)
    assert tuple(x.shape) == (101, 2) and np.bincount(y.numpy()).tolist() == [50, 51]
    xn, yn = x.numpy(), y.numpy()
    np.testing.assert_allclose(np.hypot(xn[yn == 0, 0], xn[yn == 0, 1]), 1.0, atol=1e-6)  # upper moon: unit circle
    np.testing.assert_allclose(np.hypot(xn[yn == 1, 0] - 1, xn[yn == 1, 1] - 0.5), 1.0, atol=1e-6)
    centers = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]])
    x, y = D.blobs(3001, centers=centers, std=0.5, seed=1)
    assert tuple(x.shape) == (3001, 2) and np.bincount(y.numpy()).tolist() == [1001, 1000, 1000]
    for k in range(3):
        np.testing.assert_allclose(x.numpy()[y.numpy() == k].mean(0), centers[k], atol=0.06)
    x, y = D.blobs(50, centers=4, dim=5, seed=0)
    assert tuple(x.shape) == (50, 5) and set(y.tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="blobs: std"):
        D.blobs(10, centers=3, std=[1.0, 2.0])


# ---------------------------------------------------------------- download=True (against a local server)

@pytest.fixture
def mirror(tmp_path):
    """Serves generated gzipped IDX files over HTTP on 127.0.0.1; yields (base URL, {name: md5}, arrays)."""
    import functools
    import hashlib
    import http.server
    import threading
    served = tmp_path / "served"
    served.mkdir()
    arrays = make_mnist(served, gz=(True, True, True, True))
    md5 = {f + ".gz": hashlib.md5((served / (f + ".gz")).read_bytes()).hexdigest() for f in FILES}

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", md5, arrays
    finally:
        server.shutdown()
        server.server_close()


CLOSED = "http://127.0.0.1:1/"  # nothing listens on port 1: connection refused at once


def test_download_fetches_checks_and_stores_in_torchvision_layout(tmp_path, mirror, monkeypatch):
    url, md5, (imgs, labels, timgs, _) = mirror
    monkeypatch.setattr(D.MNIST, "mirrors", [CLOSED, url])  # the first mirror is down: the next one is tried
    monkeypatch.setattr(D.MNIST, "resources", md5)
    root = tmp_path / "root"
    ds = D.MNIST(root, train=True, download=True, transform=T.ToTensor())
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(md5)
    np.testing.assert_array_equal(ds.data.numpy(), imgs)
    assert ds.targets.tolist() == labels.tolist()
    monkeypatch.setattr(D.MNIST, "mirrors", [CLOSED])  # present files are used, nothing is fetched again
    np.testing.assert_array_equal(D.MNIST(root, train=False, download=True).data.numpy(), timgs)


def test_download_rejects_a_corrupt_file(tmp_path, mirror, monkeypatch):
    url, md5, _ = mirror
    monkeypatch.setattr(D.MNIST, "mirrors", [url])
    monkeypatch.setattr(D.MNIST, "resources", {**md5, "train-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(RuntimeError, match=r"train-images-idx3-ubyte.gz: md5 [0-9a-f]{32} does not match the published 0{32}"):
        D.MNIST(tmp_path / "root", download=True)
    assert not (tmp_path / "root" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()


def test_download_with_no_mirror_answering_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(D.FashionMNIST, "mirrors", [CLOSED])
    with pytest.raises(RuntimeError, match=r"(?s)FashionMNIST: could not download train-images-idx3-ubyte.gz; no mirror "
                                           r"answered.*127\.0\.0\.1:1/train-images-idx3-ubyte.gz.*by hand"):
        D.FashionMNIST(tmp_path, download=True)
