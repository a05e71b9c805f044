"""reticulum.vision.utils: make_grid against an independent NumPy tiling, save_image read back
by matplotlib's PNG reader."""
import io

import numpy as np
import pytest

import reticulum as rt
from reticulum.vision.utils import make_grid, save_image


def reference_grid(a, nrow, padding, pad_value):
    """Tiles [N, C, H, W] row by row with numpy.pad and concatenation."""
    n, c, h, w = a.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    tiles = list(a) + [np.full((c, h, w), pad_value)] * (rows * cols - n)
    padded = [np.pad(t, ((0, 0), (padding, 0), (padding, 0)), constant_values=pad_value) for t in tiles]
    grid = np.concatenate([np.concatenate(padded[r * cols:(r + 1) * cols], axis=2) for r in range(rows)], axis=1)
    return np.pad(grid, ((0, 0), (0, padding), (0, padding)), constant_values=pad_value)


@pytest.mark.parametrize("n, nrow, padding", [(5, 2, 2), (8, 8, 0), (7, 3, 1), (2, 8, 3)])
def test_make_grid_matches_reference(n, nrow, padding):
    a = np.random.default_rng(n).random((n, 3, 4, 5))
    got = make_grid(rt.tensor(a, dtype=rt.float32), nrow=nrow, padding=padding, pad_value=0.25).numpy()
    np.testing.assert_allclose(got, reference_grid(a, nrow, padding, 0.25), rtol=1e-6)


def test_make_grid_grayscale_becomes_rgb_and_normalize():
    a = np.random.default_rng(0).normal(size=(3, 1, 4, 4))
    got = make_grid(rt.tensor(a), nrow=3, padding=0, normalize=True).numpy()
    scaled = (a - a.min()) / (a.max() - a.min())
    want = reference_grid(np.repeat(scaled, 3, axis=1), 3, 0, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    each = make_grid(rt.tensor(a), nrow=3, padding=0, normalize=True, scale_each=True).numpy()
    assert np.allclose(each[0, :, :4].min(), 0) and np.allclose(each[0, :, 4:8].max(), 1)


def test_save_image_writes_a_png_torchvision_would(tmp_path):
    mpl_image = pytest.importorskip("matplotlib.image")
    a = np.random.default_rng(1).random((4, 1, 6, 6)).astype(np.float32)
    path = tmp_path / "grid.png"
    save_image(rt.tensor(a), path, nrow=2, padding=1)
    back = mpl_image.imread(str(path))  # float [H, W, 3] in [0, 1]
    want = np.clip(reference_grid(np.repeat(a, 3, axis=1), 2, 1, 0.0) * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.round(back * 255).astype(np.uint8), want.transpose(1, 2, 0))
    buf = io.BytesIO()
    save_image(rt.tensor(a[0]), buf)
    assert buf.getvalue().startswith(b"\x89PNG")


def test_save_image_errors(tmp_path):
    with pytest.raises(ValueError, match="only PNG"):
        save_image(rt.zeros(1, 4, 4), tmp_path / "x.jpg")
    with pytest.raises(TypeError, match="make_grid: expected a Tensor"):
        make_grid(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="nrow must be >= 1"):
        make_grid(rt.zeros(2, 1, 4, 4), nrow=0)
