"""reticulum.vision.transforms against NumPy references: flips, right-angle rotations, shifts,
padded crops, Normalize, ColorJitter's formulas; batch vs per-image consistency; seeding."""
import numpy as np
import pytest

import reticulum as rt
from reticulum.vision import transforms as T


def batch(n=5, c=2, h=9, w=9, seed=0):
    a = np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)
    return a, rt.from_numpy(a)


def shift_ref(img, dx, dy, fill=0.0):
    """out[..., i, j] = img[..., i - dy, j - dx], `fill` where that is outside."""
    h, w = img.shape[-2:]
    out = np.full_like(img, fill)
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def params_at(params, i):
    return {k: np.asarray(v)[i:i + 1] for k, v in params.items()}


# ---------------------------------------------------------------- flips and rotations

def test_flips_match_numpy():
    a, x = batch(h=6, w=7)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x).numpy(), a[..., ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x).numpy(), a[..., ::-1, :])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x).numpy(), a)
    np.testing.assert_array_equal(T.hflip(x[1]).numpy(), a[1][..., ::-1])
    np.testing.assert_array_equal(T.vflip(x[1]).numpy(), a[1][..., ::-1, :])


@pytest.mark.parametrize("cls, axis", [(T.RandomHorizontalFlip, -1), (T.RandomVerticalFlip, -2)])
def test_random_flip_per_image_mask(cls, axis):
    a, x = batch(n=64, c=1, h=4, w=5)
    t = cls(p=0.5)
    rt.manual_seed(3)
    params = t.sample_params(64, a.shape)
    out = t.apply(x, params).numpy()
    mask = params["flip"]
    assert 10 < mask.sum() < 54  # both outcomes occur
    np.testing.assert_array_equal(out[mask], np.flip(a[mask], axis))
    np.testing.assert_array_equal(out[~mask], a[~mask])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotation_by_right_angles_matches_rot90(k):
    a, x = batch(n=4, c=3, h=8, w=8)
    out = T.RandomRotation((90 * k, 90 * k))(x).numpy()
    np.testing.assert_array_equal(out, np.rot90(a, k, axes=(2, 3)))  # exact: the warp hits pixel centres
    np.testing.assert_array_equal(T.rotate(x[2], -90 * k).numpy(), np.rot90(a[2], -k, axes=(1, 2)))
    if k == 2:  # 180 degrees also on a non-square image
        b, y = batch(n=2, c=1, h=5, w=8)
        np.testing.assert_array_equal(T.rotate(y, 180).numpy(), b[..., ::-1, ::-1])


def test_affine_conventions_single_pixel():
    """Forward map about the centre (5, 5) of an 11x11 image: rotate 90 degrees counter-clockwise, scale 2,
    translate (dx, dy) = (1, 1). A dot at (row 4, col 5), i.e. (x, y) = (0, -1) from the centre, goes to
    (-2, 0) after rotation+scale and then to (x, y) = (-1, 1): row 6, col 4."""
    img = np.zeros((1, 11, 11), np.float32)
    img[0, 4, 5] = 1.0
    out = T.affine(rt.from_numpy(img), angle=90, translate=(1, 1), scale=2.0).numpy()[0]
    assert out[6, 4] == 1.0
    assert np.unravel_index(out.argmax(), out.shape) == (6, 4)
    np.testing.assert_allclose(out[6, 3:6], [0.5, 1.0, 0.5])  # magnified 2x: neighbours sample half-way
    np.testing.assert_allclose(out[5:8, 4], [0.5, 1.0, 0.5])


def test_identity_affine_is_exact():
    a, x = batch()
    t = T.RandomAffine(0, translate=(0, 0), scale=(1, 1), shear=0)
    np.testing.assert_array_equal(t(x).numpy(), a)


def test_affine_matches_torch_grid_sample():
    torch = pytest.importorskip("torch")
    a, x = batch(n=6, c=2, h=10, w=13, seed=4)
    t = T.RandomAffine(40, translate=(0.2, 0.1), scale=(0.7, 1.3), shear=(-10, 10, -5, 5))
    rt.manual_seed(0)
    p = t.sample_params(6, a.shape)
    out = t.apply(x, p).numpy()
    # independent construction of the same map in torch's normalised coordinates (align_corners=True)
    h, w = 10, 13
    ang, sx, sy = np.deg2rad(p["angle"]), np.deg2rad(p["shear_x"]), np.deg2rad(p["shear_y"])
    thetas = []
    for i in range(6):  # per-image 2x3 metadata only
        rot = np.array([[np.cos(ang[i]), np.sin(ang[i])], [-np.sin(ang[i]), np.cos(ang[i])]])
        fwd = p["scale"][i] * rot @ np.array([[1, np.tan(sx[i])], [np.tan(sy[i]), 1]])
        inv = np.linalg.inv(fwd)
        d = np.diag([(w - 1) / 2, (h - 1) / 2])  # pixel = d @ (normalised + 1)
        m = np.linalg.inv(d) @ inv @ d
        # src_pix = c + inv (out_pix - c - t), c = d @ 1  ->  src_n = m out_n - inv_d inv t
        off = -np.linalg.inv(d) @ inv @ np.array([p["tx"][i], p["ty"][i]])
        thetas.append(np.concatenate([m, off[:, None]], 1))
    grid = torch.nn.functional.affine_grid(torch.tensor(np.array(thetas)), (6, 2, h, w), align_corners=True)
    ref = torch.nn.functional.grid_sample(torch.tensor(a, dtype=torch.float64), grid, mode="bilinear",
                                          padding_mode="zeros", align_corners=True).numpy()
    np.testing.assert_allclose(out, ref, atol=2e-6)


def test_random_shift_matches_numpy_shift():
    a, x = batch(n=8, c=1, h=7, w=6)
    t = T.RandomShift((2, 3), fill=0.5)
    rt.manual_seed(5)
    p = t.sample_params(8, a.shape)
    out = t.apply(x, p).numpy()
    assert set(np.abs(p["tx"]).tolist()) <= {0, 1, 2} and set(np.abs(p["ty"]).tolist()) <= {0, 1, 2, 3}
    for i in range(8):
        np.testing.assert_array_equal(out[i], shift_ref(a[i], int(p["tx"][i]), int(p["ty"][i]), fill=0.5))
    np.testing.assert_array_equal(T.affine(x, translate=(2, -1)).numpy(), shift_ref(a, 2, -1))


# ---------------------------------------------------------------- crops

@pytest.mark.parametrize("size, padding, fill", [(9, 3, 0.0), ((5, 7), (1, 2), 0.0), ((4, 4), None, 0.0),
                                                 (9, (0, 1, 2, 3), -1.0)])
def test_random_crop_matches_pad_and_slice(size, padding, fill):
    a, x = batch(n=6, c=2, h=9, w=9)
    t = T.RandomCrop(size, padding=padding, fill=fill)
    rt.manual_seed(2)
    p = t.sample_params(6, a.shape)
    out = t.apply(x, p).numpy()
    left, top, right, bottom = t.padding
    padded = np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    th, tw = t.size
    assert out.shape == (6, 2, th, tw)
    for i in range(6):
        r, c = p["top"][i], p["left"][i]
        np.testing.assert_array_equal(out[i], padded[i, :, r:r + th, c:c + tw])


def test_random_crop_offsets_cover_range_and_errors():
    t = T.RandomCrop(9, padding=2)
    rt.manual_seed(0)
    p = t.sample_params(2000, (1, 9, 9))
    assert set(p["top"].tolist()) == set(range(5)) and set(p["left"].tolist()) == set(range(5))
    a, x = batch(n=2, c=1, h=3, w=3)
    out = T.RandomCrop(5, pad_if_needed=True)(x)
    assert tuple(out.shape) == (2, 1, 5, 5)
    with pytest.raises(ValueError, match=r"RandomCrop: crop size \(10, 10\) is larger"):
        T.RandomCrop(10)(rt.zeros(1, 9, 9))


# ---------------------------------------------------------------- Normalize, ColorJitter, ToTensor

def test_normalize_matches_numpy():
    a, x = batch(n=3, c=3, h=4, w=5)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    ref = (a - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(x).numpy(), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(T.Normalize(mean, std)(x[0]).numpy(), ref[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.5, 2.0)(x).numpy(), (a - 0.5) / 2.0, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"Normalize: mean has 2 values but the image has 3 channels \(shape \(3, 3, 4, 5\)\)"):
        T.Normalize((0.1, 0.2), (1.0, 1.0))(x)
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize(0.0, 0.0)


def gray_np(a):
    return a if a.shape[1] == 1 else (0.2989 * a[:, 0:1] + 0.587 * a[:, 1:2] + 0.114 * a[:, 2:3])


@pytest.mark.parametrize("c", [1, 3])
def test_color_jitter_formula(c):
    a, x = batch(n=7, c=c, h=5, w=6)
    t = T.ColorJitter(brightness=0.5, contrast=(0.2, 1.8), saturation=0.7)
    rt.manual_seed(1)
    p = t.sample_params(7, a.shape)
    assert np.all((p["brightness"] >= 0.5) & (p["brightness"] <= 1.5))
    assert np.all((p["contrast"] >= 0.2) & (p["contrast"] <= 1.8))
    out = t.apply(x, p).numpy()
    b, k, s = (p[key][:, None, None, None] for key in ("brightness", "contrast", "saturation"))
    ref = np.clip(a * b, 0, 1)
    ref = np.clip(k * ref + (1 - k) * gray_np(ref).mean(axis=(1, 2, 3), keepdims=True), 0, 1)
    if c == 3:
        ref = np.clip(s * ref + (1 - s) * gray_np(ref), 0, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_to_tensor():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (4, 5), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    t = T.ToTensor()
    g, c = t(gray), t(rgb)
    assert tuple(g.shape) == (1, 4, 5) and g.dtype == rt.float32
    np.testing.assert_allclose(g.numpy()[0], gray / 255.0, rtol=1e-6)
    assert tuple(c.shape) == (3, 4, 5)
    np.testing.assert_allclose(c.numpy(), rgb.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    f = np.full((2, 2), 3.5, np.float32)
    np.testing.assert_array_equal(t(f).numpy()[0], f)  # floats are not rescaled
    with pytest.raises(TypeError, match="ToTensor"):
        t(rt.zeros(1, 2, 2))


# ---------------------------------------------------------------- batch semantics, seeding, errors

ALL = [T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(30),
       T.RandomAffine(20, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=10), T.RandomShift(2),
       T.RandomCrop(9, padding=2), T.RandomCrop((5, 6)), T.ColorJitter(0.4, 0.4, 0.4)]


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_batch_equals_per_image_with_same_params(t):
    a, x = batch(n=6, c=3, h=9, w=9, seed=1)
    rt.manual_seed(7)
    p = t.sample_params(6, a.shape)
    out = t.apply(x, p).numpy()
    for i in range(6):
        single = t.apply(x[i], params_at(p, i)).numpy()
        np.testing.assert_allclose(out[i], single, rtol=1e-6, atol=1e-7)
    # per-image parameters really differ within a batch (flips aside, which are Bernoulli)
    if not isinstance(t, (T.RandomHorizontalFlip, T.RandomVerticalFlip)):
        assert any(len(np.unique(v)) > 1 for v in p.values())


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_deterministic_under_manual_seed(t):
    a, x = batch(n=8, c=3, h=9, w=9, seed=2)
    rt.manual_seed(11)
    o1 = t(x).numpy()
    rt.manual_seed(11)
    o2 = t(x).numpy()
    np.testing.assert_array_equal(o1, o2)
    rt.manual_seed(12)
    assert not np.array_equal(t(x).numpy(), o1)
    rt.manual_seed(11)
    single = t(x[0]).numpy()  # a single image draws like a batch of one
    rt.manual_seed(11)
    np.testing.assert_array_equal(single, t(x[:1]).numpy()[0])


def test_compose_applies_in_order_and_labels_untouched():
    a, x = batch(n=2, c=1, h=4, w=4)
    t = T.Compose([T.RandomHorizontalFlip(p=1.0), T.Normalize(0.5, 0.5)])
    np.testing.assert_allclose(t(x).numpy(), (a[..., ::-1] - 0.5) / 0.5, rtol=1e-6, atol=1e-6)
    from reticulum.utils.data import DataLoader, TensorDataset
    y = rt.tensor([3, 8])
    (xb, yb), = list(DataLoader(TensorDataset(x, y), batch_size=2, transform=t))
    assert yb.tolist() == [3, 8]


def test_errors_name_transform_and_shape():
    with pytest.raises(ValueError,
                       match=r"RandomRotation: expected an image \[C, H, W\] or a batch \[N, C, H, W\], got shape \(4, 4\)"):
        T.RandomRotation(10)(rt.zeros(4, 4))
    with pytest.raises(TypeError, match="RandomCrop: expected a reticulum Tensor.*ndarray.*ToTensor"):
        T.RandomCrop(2)(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(TypeError, match="hflip: expected a floating-point image, got reticulum.int64"):
        T.hflip(rt.zeros(1, 2, 2, dtype=rt.int64))
    with pytest.raises(ValueError, match="p must be a probability"):
        T.RandomHorizontalFlip(p=1.5)
    with pytest.raises(ValueError, match=r"RandomAffine.apply: params\['angle'\] must have shape \(3,\)"):
        t = T.RandomAffine(10)
        t.apply(rt.zeros(3, 1, 4, 4), t.sample_params(2, (1, 4, 4)))
    with pytest.raises(ValueError, match="ColorJitter: expected 1 or 3 channels"):
        T.ColorJitter(0.1)(rt.zeros(2, 4, 4))
