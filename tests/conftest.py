"""Shared fixtures: the CPU kernel levels (runtime ISA dispatch) and allocation poisoning."""
import pytest

import reticulum as rt
from reticulum import _C

LEVELS = ["DEFAULT", "AVX2", "AVX512"]  # lowest first, PyTorch's names


def level_skip_reason(level):
    """Why this host cannot run the `level` kernels (None when it can)."""
    info = rt.backends.cpu.build_info()
    if level not in info["compiled"]:
        return f"{level} kernels are not compiled into this build (compiled: {', '.join(info['compiled'])})"
    if LEVELS.index(level) > LEVELS.index(info["host"]):
        return f"this CPU does not support {level} (its best level is {info['host']})"
    return None


def pytest_report_header(config):
    info = rt.backends.cpu.build_info()
    skipped = [f"{lv}: {level_skip_reason(lv)}" for lv in LEVELS if level_skip_reason(lv)]
    return [f"reticulum CPU kernels: active {info['active']}, host best {info['host']}, compiled {' '.join(info['compiled'])}; "
            f"{info['compiler']}, flags '{info['cxx_flags'].strip()}', native={info['native']}",
            "kernel tests run at: " + ", ".join(lv for lv in LEVELS if not level_skip_reason(lv))
            + ("; skipped: " + "; ".join(skipped) if skipped else "")]


@pytest.fixture(params=LEVELS)
def cpu_level(request):
    """Runs the test once per kernel level, with that level active; levels the host cannot run are
    skipped with the reason."""
    reason = level_skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    before = rt.backends.cpu.get_cpu_capability()
    _C._set_cpu_capability(request.param)
    try:
        yield request.param
    finally:
        _C._set_cpu_capability(before)


@pytest.fixture
def poisoned_allocations():
    """Every tensor allocated during the test starts as NaN (with or without the block cache), so
    output elements a kernel never writes show up."""
    _C._set_poison_allocations(True)
    try:
        yield
    finally:
        _C._set_poison_allocations(False)


# The devices op, NN, optimizer and training tests run on, each compared with the CPU: the CPU
# itself, the test-only device (a second backend on host memory that poisons its memory, refuses
# host reads and mixed devices: see cpp/src/testdev), and CUDA where this build and machine have it.
_C._enable_test_device()
DEVICES = ["cpu", "testdev", "cuda"]


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda" and not rt.cuda.is_available():
        pytest.skip("CUDA is not available (a CPU build, or no GPU on this machine)")
    return request.param
