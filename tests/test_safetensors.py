"""State dicts through safetensors files: round trips in reticulum, and weights moved from
PyTorch to reticulum and back giving the same outputs."""
import numpy as np
import pytest

import reticulum as rt
import reticulum.safetensors as rst

pytest.importorskip("safetensors")


def _net(nn):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_round_trip_keeps_names_dtypes_and_values(tmp_path):
    rt.manual_seed(0)
    state = _net(rt.nn).state_dict()
    path = tmp_path / "m.safetensors"
    rst.save_file(state, path, metadata={"format": "pt"})
    back = rst.load_file(path)
    assert back.keys() == state.keys()
    for k in state:
        assert back[k].dtype == state[k].dtype
        np.testing.assert_array_equal(back[k].numpy(), state[k].numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_widens_dtypes_reticulum_lacks(tmp_path):
    from safetensors.numpy import save_file
    save_file({"h": np.array([1.5, -2.0], np.float16), "i": np.array([3, -4], np.int32), "u": np.array([255], np.uint8)},
              str(tmp_path / "x.safetensors"))
    got = rst.load_file(tmp_path / "x.safetensors")
    assert got["h"].dtype == rt.float32 and got["h"].tolist() == [1.5, -2.0]
    assert got["i"].dtype == got["u"].dtype == rt.int64 and got["i"].tolist() == [3, -4] and got["u"].tolist() == [255]


def test_errors(tmp_path):
    with pytest.raises(TypeError, match="'w' is a list, not a Tensor"):
        rst.save_file({"w": [1, 2]}, tmp_path / "a.safetensors")
    with pytest.raises(FileNotFoundError, match="no such file"):
        rst.load_file(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        rst.load_file(tmp_path / "bad.safetensors")


def test_weights_move_between_pytorch_and_reticulum(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file, save_file as torch_save_file
    torch.manual_seed(0)
    theirs = _net(torch.nn)
    theirs.train()
    theirs(torch.randn(8, 1, 6, 6))  # moves the batch-norm running statistics away from their defaults
    theirs.eval()
    torch_save_file(theirs.state_dict(), str(tmp_path / "from_torch.safetensors"))

    ours = _net(rt.nn)
    rst.load_model(ours, tmp_path / "from_torch.safetensors")
    ours.eval()
    x = np.random.default_rng(0).standard_normal((5, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.tensor(x)).numpy()
    with rt.no_grad():
        np.testing.assert_allclose(ours(rt.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)

    with rt.no_grad():  # and back: change our weights, send them to torch
        for p in ours.parameters():
            p.mul_(0.5)
    rst.save_model(ours, tmp_path / "from_rt.safetensors")
    theirs.load_state_dict(torch_load_file(str(tmp_path / "from_rt.safetensors")))
    with torch.no_grad(), rt.no_grad():
        np.testing.assert_allclose(theirs(torch.tensor(x)).numpy(), ours(rt.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
