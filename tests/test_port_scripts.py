"""Real-style PyTorch programs (tests/port_scripts/), written once in torch idiom, run with only their imports
renamed (`import torch` -> `import reticulum as torch`, `torch.x` -> `reticulum.x` in import lines): under
reticulum, and under torch when it is importable, with the same results from the same weights and data."""
import re
import types
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).parent / "port_scripts"
NAMES = ["mnist_classic", "micrograd_check", "tutorial_cnn", "char_model"]


def renamed(source):
    """The source with its torch imports pointed at reticulum; no other line changes."""
    lines = []
    for line in source.splitlines():
        if line.startswith(("import torch", "from torch")):
            line = re.sub(r"\btorch\b", "reticulum", line)
            if line == "import reticulum":
                line = "import reticulum as torch"
        lines.append(line)
    return "\n".join(lines) + "\n"


def load(name, lib):
    path = SCRIPTS / f"{name}.py"
    source = path.read_text()
    if lib == "reticulum":
        source = renamed(source)
    else:
        pytest.importorskip("torch")
    module = types.ModuleType(f"port_{name}_{lib}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_only_import_lines_are_renamed(name):
    source = (SCRIPTS / f"{name}.py").read_text()
    changed = [(a, b) for a, b in zip(source.splitlines(), renamed(source).splitlines()) if a != b]
    assert changed, f"{name} imports nothing from torch"
    for before, after in changed:
        assert before.startswith(("import ", "from ")) and "reticulum" in after, (before, after)
    assert "reticulum" not in source


def _close(a, b, what, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol,
                               err_msg=what)


def test_mnist_classic_matches_torch():
    kwargs = dict(dropout=(0.0, 0.0), shuffle=False)  # dropout masks and shuffles come from different generators
    got = load("mnist_classic", "reticulum").main(**kwargs)
    ref = load("mnist_classic", "torch").main(**kwargs)
    _close(got["losses"], ref["losses"], "training losses")
    assert len(got["losses"]) == 6 and got["losses"][-1] != got["losses"][0]
    for (loss, correct), (ref_loss, ref_correct) in zip(got["tests"], ref["tests"]):
        _close(loss, ref_loss, "test loss")
        assert correct == ref_correct
    assert got["lr"] == ref["lr"] == pytest.approx(0.49)
    _close(got["fc2"], ref["fc2"], "fc2 weights after training", atol=1e-4)


def test_mnist_classic_trains_with_its_dropout_and_shuffling():
    result = load("mnist_classic", "reticulum").main()
    assert len(result["losses"]) == 6 and np.all(np.isfinite(result["losses"]))
    assert len(result["tests"]) == 2 and all(0 <= c <= 32 for _, c in result["tests"])


def test_micrograd_check_passes_and_matches_torch():
    got = load("micrograd_check", "reticulum").main()  # the script asserts against its own scalar engine
    assert got["sanity"] == (-20.0, 46.0)
    ref = load("micrograd_check", "torch").main()
    for key in got:
        _close(got[key], ref[key], key, rtol=1e-13, atol=1e-13)


def test_tutorial_cnn_matches_torch():
    got = load("tutorial_cnn", "reticulum").main()
    ref = load("tutorial_cnn", "torch").main()
    _close(got["losses"], ref["losses"], "classifier losses")
    _close(got["outputs"], ref["outputs"], "reloaded classifier outputs")
    assert got["correct"] == ref["correct"]
    _close(got["segmenter"], ref["segmenter"], "segmenter losses")
    assert got["segmenter"][-1] < got["segmenter"][0]


def test_char_model_matches_torch():
    got = load("char_model", "reticulum").main()
    ref = load("char_model", "torch").main()
    _close(got["losses"], ref["losses"], "training losses")
    assert got["losses"][-1] < got["losses"][0]
    _close(got["token_logp"], ref["token_logp"], "per-character log-probabilities")
    assert got["top_k"] == ref["top_k"] and got["top_p"] == ref["top_p"]
    assert got["best_next"] == ref["best_next"]
