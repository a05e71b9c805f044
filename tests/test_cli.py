"""The `reticulum` command line (python -m reticulum): train, evaluate, experiment."""
import os
import re
import subprocess
import sys
import types
from pathlib import Path

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
    pkg_dir = tmp_path / "fake_experiments"
    pkg_dir.mkdir()
    (pkg_dir / "hello_world.py").write_text(
        "def run(out_dir, quick=False):\n"
        "    open(out_dir + '/result.txt', 'w').write(f'quick={quick}')\n"
        "    return {'answer': 42}\n")
    (pkg_dir / "_private.py").write_text("")
    pkg = types.ModuleType("reticulum.experiments")
    pkg.__path__ = [str(pkg_dir)]
    monkeypatch.setitem(sys.modules, "reticulum.experiments", pkg)
    try:
        assert cli.available_experiments() == ["hello-world"]  # CLI names use dashes
        assert cli.main(["experiment"]) == 0
        assert "hello-world" in capsys.readouterr().out
        out = tmp_path / "out"
        assert cli.main(["experiment", "hello-world", "--quick", "--out", str(out)]) == 0
        assert (out / "result.txt").read_text() == "quick=True"
        assert '"answer": 42' in capsys.readouterr().out
        assert cli.main(["experiment", "nope"]) == 2
        assert "unknown experiment 'nope' (available: hello-world)" in capsys.readouterr().err
    finally:
        sys.modules.pop("reticulum.experiments.hello_world", None)


def test_cli_errors(tmp_path, capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().out
    assert cli.main(["train", "--dataset", "mnist", "--data-root", str(tmp_path / "missing"), "--quiet"]) == 1
    assert "nothing is downloaded" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "none.rtc")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "resnet"])
