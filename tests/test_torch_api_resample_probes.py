"""F.interpolate / nn.Upsample against torch (values and gradients, float64 and float32, every mode and both
ways of giving the size), finite-difference gradchecks, and the device/backend probes programs run first."""
import zlib

import numpy as np
import pytest

import reticulum as rt
from helpers import LAYOUTS, make

torch = pytest.importorskip("torch")


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# name -> (input shape, interpolate keyword arguments)
CASES = {
    "nearest_x2": ((1, 2, 3, 4), dict(scale_factor=2)),
    "nearest_size": ((2, 1, 5, 3), dict(size=(7, 8))),
    "nearest_down": ((1, 2, 7, 6), dict(size=(3, 4))),
    "nearest_scale_1.7": ((1, 1, 5, 4), dict(scale_factor=1.7)),
    "nearest_scale_0.6": ((1, 1, 9, 7), dict(scale_factor=(0.6, 0.5))),
    "nearest_1d": ((2, 3, 5), dict(scale_factor=3)),
    "nearest_3d": ((1, 1, 2, 3, 2), dict(size=(3, 5, 4))),
    "nearest_exact": ((1, 2, 5, 4), dict(size=(8, 7), mode="nearest-exact")),
    "nearest_exact_scale": ((1, 1, 6, 5), dict(scale_factor=0.7, mode="nearest-exact")),
    "bilinear": ((1, 2, 3, 4), dict(scale_factor=2, mode="bilinear")),
    "bilinear_align": ((2, 1, 3, 4), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    "bilinear_size": ((1, 2, 5, 3), dict(size=(4, 7), mode="bilinear")),
    "bilinear_down": ((1, 1, 8, 9), dict(size=(3, 4), mode="bilinear")),
    "bilinear_down_align": ((1, 1, 8, 9), dict(size=(3, 4), mode="bilinear", align_corners=True)),
    "bilinear_scale_1.5": ((1, 1, 4, 5), dict(scale_factor=1.5, mode="bilinear")),
    "bilinear_recompute": ((1, 1, 4, 5), dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True)),
    "bilinear_same_h": ((1, 1, 4, 3), dict(size=(4, 6), mode="bilinear")),
    "bilinear_to_1": ((1, 1, 4, 3), dict(size=(1, 2), mode="bilinear", align_corners=True)),
    "linear": ((2, 2, 5), dict(size=9, mode="linear")),
    "linear_align": ((1, 3, 4), dict(scale_factor=2.5, mode="linear", align_corners=True)),
    "trilinear": ((1, 1, 2, 3, 3), dict(scale_factor=2, mode="trilinear")),
    "area": ((1, 2, 6, 6), dict(size=(3, 2), mode="area")),
}


def _run(lib, x, kwargs, layout):
    if lib is rt:
        t = make(x, layout, dtype=rt.float64 if x.dtype == np.float64 else rt.float32, requires_grad=True)
    else:
        t = torch.tensor(x, requires_grad=True)
    out = lib.nn.functional.interpolate(t, **kwargs)
    w = _rng("w", tuple(out.shape)).uniform(-1, 1, tuple(out.shape)).astype(x.dtype)
    (out * (rt.tensor(w) if lib is rt else torch.tensor(w))).sum().backward()
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(CASES))
def test_interpolate_matches_torch(name, layout):
    shape, kwargs = CASES[name]
    x = _rng(name).uniform(-2, 2, shape)
    out, grad = _run(rt, x, kwargs, layout)
    ref, ref_grad = _run(torch, x, kwargs, "contig")
    assert out.shape == ref.shape, f"{name}: {out.shape} != torch {ref.shape}"
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", list(CASES))
def test_interpolate_float32_matches_torch(name):
    shape, kwargs = CASES[name]
    x = _rng(name, 32).uniform(-2, 2, shape).astype(np.float32)
    out, grad = _run(rt, x, kwargs, "contig")
    ref, ref_grad = _run(torch, x, kwargs, "contig")
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", [n for n in CASES if "linear" in n or "exact" in n or n == "area"])
def test_interpolate_gradcheck(name):
    shape, kwargs = CASES[name]
    x = make(_rng(name, "gc").uniform(-2, 2, shape), "noncontig", dtype=rt.float64, requires_grad=True)
    assert rt.autograd.gradcheck(lambda t: rt.nn.functional.interpolate(t, **kwargs), [x])


def test_interpolate_returns_a_new_tensor_for_the_same_size():
    x = rt.ones(1, 1, 2, 2)
    y = rt.nn.functional.interpolate(x, size=(2, 2))
    y.fill_(5.0)
    assert x.sum().item() == 4.0


def test_upsample_module_matches_torch():
    for kwargs in (dict(scale_factor=2), dict(size=(5, 6), mode="bilinear", align_corners=False),
                   dict(scale_factor=(2, 3), mode="nearest")):
        rm, tm = rt.nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
        assert repr(rm) == repr(tm)
        x = _rng("up", repr(kwargs)).uniform(-1, 1, (1, 2, 3, 4)).astype(np.float32)
        np.testing.assert_allclose(rm(rt.tensor(x)).numpy(), tm(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2)), ValueError, ["interpolate", "size or scale_factor"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), size=3, scale_factor=2), ValueError, ["interpolate", "not both"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(4), size=3), ValueError, ["interpolate", "(4,)"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), size=(3, 3, 3)), ValueError, ["interpolate", "2 spatial"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), size=3, mode="linear"), ValueError, ["'linear'", "3-D"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), size=3, mode="bicubic"), NotImplementedError, ["bicubic"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), size=3, align_corners=True), ValueError, ["align_corners"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), scale_factor=0.1), ValueError, ["interpolate", "positive"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2, dtype=rt.int64), size=3, mode="bilinear"), RuntimeError,
     ["bilinear", "int64"]),
    (lambda: rt.nn.functional.interpolate(rt.ones(1, 1, 2, 2), size=3, antialias=True), NotImplementedError, ["antialias"]),
])
def test_interpolate_bad_input_names_the_op(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


# ---------------------------------------------------------------- device and backend probes

def test_probes_answer_like_torch_on_a_cpu_only_machine():
    """What a CPU-only torch answers (its build here may differ in what was compiled in, so only the
    availability answers, which hold on any machine without a GPU, are compared)."""
    assert rt.cuda.is_available() is False and rt.cuda.device_count() == 0
    assert rt.backends.mps.is_available() is False and rt.backends.mps.is_built() is False
    assert rt.backends.cuda.is_built() is False
    assert rt.backends.cudnn.is_available() is False and rt.backends.cudnn.version() is None
    assert rt.backends.mkldnn.is_available() is False and rt.backends.openmp.is_available() is True
    assert rt.accelerator.is_available() is False and rt.accelerator.current_accelerator() is None
    assert rt.accelerator.device_count() == 0
    assert torch.backends.mps.is_available() is rt.backends.mps.is_available()
    assert torch.accelerator.is_available() is rt.accelerator.is_available()


def test_the_usual_device_selection_idiom_picks_the_cpu():
    device = ("cuda" if rt.cuda.is_available() else "mps" if rt.backends.mps.is_available() else "cpu")
    rt.set_default_device(device)
    rt.set_default_device(rt.device("cpu"))
    rt.set_default_device(None)
    assert rt.get_default_device() == rt.device("cpu") and rt.ones(1).device == rt.get_default_device()
    rt.cuda.manual_seed_all(0)  # ignored without a GPU, as in torch
    rt.backends.cudnn.benchmark = True
    rt.backends.cudnn.deterministic = True
    rt.backends.cuda.matmul.allow_tf32 = True
    assert rt.backends.cudnn.benchmark is True


@pytest.mark.parametrize("dev", ["cuda", "cuda:0", "mps"])
def test_set_default_device_refuses_devices_this_build_lacks(dev):
    with pytest.raises((RuntimeError, ValueError)) as info:
        rt.set_default_device(dev)
    assert dev.split(":")[0] in str(info.value)
