"""Runtime CPU dispatch: the level API (reticulum.backends.cpu), RETICULUM_CPU_CAPABILITY, the
build info, allocation poisoning, and the 2x2 max-pool kernels at every level the host runs."""
import os
import subprocess
import sys

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
from reticulum import _C
from conftest import LEVELS, level_skip_reason

PYTHON_DIR = os.path.dirname(os.path.dirname(rt.__file__))


def run_python(code, **env):
    """Runs `code` in a fresh interpreter with extra environment variables; returns the result."""
    full_env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120)


def test_capability_names_and_build_info():
    info = rt.backends.cpu.build_info()
    cap = os.environ.get("RETICULUM_CPU_CAPABILITY", "").upper()
    expected = _C._resolve_cpu_capability(cap, info["host"])[0] if cap else info["host"]  # no cap: the host's best
    assert rt.backends.cpu.get_cpu_capability() == info["active"] == expected
    assert list(info["compiled"]) == [lv for lv in LEVELS if lv in info["compiled"]] and "DEFAULT" in info["compiled"]
    assert info["compiled"]["DEFAULT"] == ""  # the baseline gets no extra target flags
    for level, flag in (("AVX2", "-mfma"), ("AVX512", "-mavx512f")):
        assert level not in info["compiled"] or flag in info["compiled"][level]
    assert info["compiler"] and "-O3" in info["cxx_flags"]
    assert info["native"] in ("ON", "OFF")


@pytest.mark.parametrize("level", LEVELS)
def test_environment_variable_caps_the_level(level):
    if level_skip_reason(level):
        pytest.skip(level_skip_reason(level))
    r = run_python("import reticulum as rt; print(rt.backends.cpu.get_cpu_capability())", RETICULUM_CPU_CAPABILITY=level.lower())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == level


def test_environment_variable_unknown_name_is_a_value_error():
    r = run_python("import reticulum", RETICULUM_CPU_CAPABILITY="sse9")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "RETICULUM_CPU_CAPABILITY" in r.stderr and "sse9" in r.stderr and "avx512" in r.stderr


@pytest.mark.parametrize("host", LEVELS)
@pytest.mark.parametrize("requested", LEVELS)
def test_request_above_the_host_is_lowered_with_a_warning(requested, host):
    level, warning = _C._resolve_cpu_capability(requested, host)
    if LEVELS.index(requested) <= LEVELS.index(host):
        assert (level, warning) == (requested, "")
    else:
        assert level == host
        assert requested in warning and f"using {host}" in warning


def test_request_above_the_host_warns_at_import():
    host = rt.backends.cpu.build_info()["host"]
    if host == LEVELS[-1]:
        pytest.skip(f"this CPU supports {host}, the highest level: no request can be above it")
    r = run_python("import reticulum as rt; print(rt.backends.cpu.get_cpu_capability())", RETICULUM_CPU_CAPABILITY="avx512")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == host and "RuntimeWarning" in r.stderr and "AVX512" in r.stderr


def test_set_cpu_capability_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown CPU capability 'neon'"):
        _C._set_cpu_capability("neon")


def test_poisoned_allocations_without_the_block_cache():
    code = ("import numpy as np, reticulum as rt; from reticulum import _C; _C._set_poison_allocations(True); "
            "x = rt.empty((5, 3)); y = rt.empty((7,), dtype=rt.float64); "
            "print(bool(np.isnan(x.numpy()).all() and np.isnan(y.numpy()).all()), rt.cached_bytes())")
    r = run_python(code, RETICULUM_NO_CACHE="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "0"]


# ----------------------------------------------------------------------------- 2x2 max pooling

def max_pool_2x2_ref(x):
    """Values and flat in-plane indices of the first maximum in scan order; a NaN wins (PyTorch's rule)."""
    n, c, h, w = x.shape
    oh, ow = h // 2, w // 2
    out, idx = np.empty((n, c, oh, ow), x.dtype), np.empty((n, c, oh, ow), np.int64)
    for i in np.ndindex(n, c, oh, ow):
        best, at = -np.inf, -1
        for dh in range(2):
            for dw in range(2):
                r, q = 2 * i[2] + dh, 2 * i[3] + dw
                v = x[i[0], i[1], r, q]
                if at < 0 or v > best or np.isnan(v):
                    best, at = v, r * w + q
        out[i], idx[i] = best, at
    return out, idx


@pytest.mark.parametrize("hw", [(2, 2), (4, 34), (5, 33), (6, 17), (3, 65), (8, 48)], ids=str)
def test_max_pool_2x2_ties_and_nans(hw, cpu_level, poisoned_allocations):
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    x = rng.integers(0, 3, size=(2, 3) + hw).astype(np.float32)  # many ties
    x[rng.random(x.shape) < 0.1] = np.nan
    xt = rt.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, 2)
    ref, idx = max_pool_2x2_ref(x)
    np.testing.assert_array_equal(y.detach().numpy(), ref)  # NaNs in the same places
    # The indices, through the gradient: each window's gradient lands on the element it picked.
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    y.backward(rt.tensor(gy))
    expected = np.zeros(x.shape, np.float32)
    for i in np.ndindex(ref.shape):
        expected[i[0], i[1], idx[i] // hw[1], idx[i] % hw[1]] += gy[i]
    np.testing.assert_array_equal(xt.grad.numpy(), expected)
