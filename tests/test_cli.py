"""The `reticulum` command line (python -m reticulum): train, evaluate, experiment."""
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from reticulum import cli
from reticulum.train import load_checkpoint

PYTHON_DIR = Path(cli.__file__).resolve().parents[1]  # wherever reticulum was imported from


def run_cli(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYTHON_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "reticulum", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_train_then_evaluate(tmp_path):
    r = run_cli("train", "--epochs", "1", "--quiet", "--out", "tmp", "--threads", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = re.search(r"Test accuracy: (\d+\.\d+)%", r.stdout)
    assert m, r.stdout
    accuracy = float(m.group(1))
    assert accuracy > 80.0  # one epoch of the default CNN on the built-in digits
    assert "Epoch" not in r.stdout  # --quiet: no progress lines
    ckpt = tmp_path / "tmp" / "checkpoint.rtc"
    assert ckpt.is_file() and (tmp_path / "tmp" / "history.json").is_file()
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 1 and state["extra"]["model"] == "cnn-bn" and state["extra"]["dataset"] == "digits"

    r = run_cli("evaluate", str(ckpt), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = re.search(r"accuracy (\d+\.\d+)%", r.stdout)
    assert m and float(m.group(1)) == accuracy, r.stdout


def test_unknown_experiment_is_a_clear_error(tmp_path):
    r = run_cli("experiment", "no-such-experiment", cwd=tmp_path)
    assert r.returncode == 2
    assert "unknown experiment 'no-such-experiment'" in r.stderr and "available:" in r.stderr


def test_experiment_dispatch_and_listing(tmp_path, monkeypatch, capsys):
    """The CLI lists and runs what reticulum.experiments registers in EXPERIMENTS (one registry)."""
    calls = []

    def run(name, out_dir, quick=False):
        calls.append(name)
        open(out_dir + "/result.txt", "w").write(f"quick={quick}")
        return {"answer": 42}

    pkg = types.ModuleType("reticulum.experiments")
    pkg.EXPERIMENTS = {"hello_world": "says hello"}
    pkg.run = run
    monkeypatch.setitem(sys.modules, "reticulum.experiments", pkg)
    assert cli.available_experiments() == ["hello-world"]  # CLI names use dashes
    assert cli.main(["experiment"]) == 0
    listing = capsys.readouterr().out
    assert "hello-world" in listing and "says hello" in listing
    out = tmp_path / "out"
    assert cli.main(["experiment", "hello-world", "--quick", "--out", str(out)]) == 0
    assert calls == ["hello_world"] and (out / "result.txt").read_text() == "quick=True"
    assert '"answer": 42' in capsys.readouterr().out
    assert cli.main(["experiment", "nope"]) == 2
    assert "unknown experiment 'nope' (available: hello-world)" in capsys.readouterr().err


def test_cli_errors(tmp_path, capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().out
    assert cli.main(["train", "--dataset", "mnist", "--data-root", str(tmp_path / "missing"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "data folder" in err and "does not exist" in err and "--download" in err
    assert cli.main(["evaluate", str(tmp_path / "none.rtc")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "resnet"])


def _same_state(a, b):
    """Exact equality of two checkpoint trees (tensors compared bit for bit)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if hasattr(a, "numpy"):
        return a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())
    return a == b


def test_resume_after_interrupt_is_bit_exact(tmp_path, monkeypatch, capsys):
    from reticulum.train import ModelCheckpoint
    base = ["train", "--epochs", "3", "--quiet", "--val-fraction", "0.2"]
    assert cli.main(base + ["--out", str(tmp_path / "whole")]) == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.rtc")

    save = ModelCheckpoint.on_epoch_end

    def save_then_interrupt(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt  # Ctrl-C right after the first epoch's checkpoint
    monkeypatch.setattr(ModelCheckpoint, "on_epoch_end", save_then_interrupt)
    assert cli.main(base + ["--out", str(tmp_path / "cut")]) == 130
    monkeypatch.undo()
    cut = load_checkpoint(tmp_path / "cut" / "checkpoint.rtc")
    assert cut["epoch"] == 1

    assert cli.main(base + ["--out", str(tmp_path / "cut")]) == 2  # a plain rerun refuses to overwrite it
    assert "--resume" in capsys.readouterr().err
    assert cli.main(base + ["--out", str(tmp_path / "cut"), "--resume"]) == 0
    resumed = load_checkpoint(tmp_path / "cut" / "checkpoint.rtc")
    assert resumed["epoch"] == 3
    for key in ("model", "optimizer", "scheduler"):
        assert _same_state(resumed[key], whole[key]), key
    got, want = resumed["history"], whole["history"]
    assert got["epoch"] == want["epoch"] == [1, 2, 3]
    for key in want["history"]:
        if key != "epoch_time":
            assert got["history"][key] == want["history"][key], key
    assert got["grad_norms"] == want["grad_norms"]
    # epoch 1 was not trained again: its measured time is the interrupted run's
    assert got["history"]["epoch_time"][0] == cut["history"]["history"]["epoch_time"][0]


def test_resume_refuses_changed_arguments_and_force_starts_over(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli.main(["train", "--epochs", "1", "--quiet", "--out", out]) == 0
    assert cli.main(["train", "--epochs", "1", "--quiet", "--out", out, "--resume", "--model", "mlp"]) == 2
    assert "--model 'cnn-bn' -> 'mlp'" in capsys.readouterr().err
    assert cli.main(["train", "--epochs", "1", "--quiet", "--out", out, "--model", "mlp", "--force"]) == 0
    assert load_checkpoint(os.path.join(out, "checkpoint.rtc"))["extra"]["model"] == "mlp"
    assert cli.main(["train", "--quiet", "--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--out", "{file}"], "is a file; give a folder"),
    (["--lr", "nan"], "--lr must be a positive finite number"),
    (["--lr", "-1"], "--lr must be a positive finite number"),
    (["--data-root", "somewhere"], "--data-root is only read for mnist and fashion-mnist"),
    (["--resume", "--force"], "contradict"),
])
def test_train_argument_errors(tmp_path, capsys, args, message):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    args = [a.format(file=a_file) for a in args]
    assert cli.main(["train", "--quiet", "--out", str(tmp_path / "o")] + [a for a in args if a]) == 2
    assert message in capsys.readouterr().err


def test_diverging_run_stops_naming_the_layer(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli.main(["train", "--epochs", "1", "--quiet", "--optimizer", "sgd", "--lr", "1e6", "--out", out]) == 1
    err = capsys.readouterr().err
    assert re.search(r"error: GradientMonitor stopped training: (gradient of layer '\w+' \(\w+\) is NaN/Inf|loss is)", err), err
    assert "try a smaller --lr" in err


def test_evaluate_finds_the_data_root_it_was_trained_with(tmp_path, monkeypatch, capsys):
    from test_datasets import idx_bytes
    import gzip
    root = tmp_path / "mnist"
    root.mkdir()
    r = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        labels = r.integers(0, 10, n).astype(np.uint8)
        images = (r.random((n, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)
        (root / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (root / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "mnist", "--data-root", str(root), "--model", "mlp", "--epochs", "1",
                     "--quiet", "--out", str(out)]) == 0
    monkeypatch.chdir(tmp_path / "run")  # elsewhere: the relative default ./data would not be found
    assert cli.main(["evaluate", str(out / "checkpoint.rtc")]) == 0
    assert "on the mnist test set (20 images)" in capsys.readouterr().out
