"""rt.save / rt.load: bit-exact round trips of tensors and nested Python objects, optimizer state dicts,
and robustness: any corrupted, truncated, foreign or crafted file raises rt.CheckpointError (a ValueError)
with a clear message - never another exception, never a crash, never pickle. Unsupported objects raise
TypeError and leave nothing behind; a save killed mid-write leaves the previous checkpoint intact."""
import hashlib
import json
import math
import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import reticulum as rt
from helpers import hang_guard

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__)))  # wherever reticulum was imported from
NP = {rt.float32: np.float32, rt.float64: np.float64, rt.int64: np.int64, rt.bool: np.bool_}


def bits(t):
    """The raw bytes of a tensor's values (C order): bit-exact comparison, NaN payloads and -0.0 included."""
    return np.ascontiguousarray(t.detach().numpy()).tobytes()


def assert_same_tensor(a, b):
    assert isinstance(a, rt.Tensor) and isinstance(b, rt.Tensor)
    assert a.dtype == b.dtype
    assert tuple(a.shape) == tuple(b.shape)
    assert a.requires_grad == b.requires_grad
    assert bits(a) == bits(b)


def roundtrip(obj, tmp_path, name="ckpt.rtc"):
    path = tmp_path / name
    rt.save(obj, path)
    return rt.load(path)


def no_temp_files(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


# ----------------------------------------------------------------------------------------- tensors
def _special_floats(dt):
    a = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-310 if dt == np.float64 else 1e-40,
                  np.finfo(dt).max, np.finfo(dt).tiny, np.pi], dtype=dt)
    if dt == np.float32:
        a = np.append(a, np.array([0x7FC12345], dtype=np.uint32).view(np.float32))  # NaN with a payload
    else:
        a = np.append(a, np.array([0x7FF8000000ABCDEF], dtype=np.uint64).view(np.float64))
    return a


TENSOR_CASES = {
    "float32": lambda: rt.tensor(np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)),
    "float64": lambda: rt.tensor(np.random.default_rng(1).normal(size=(2, 3, 4))),
    "float32-special": lambda: rt.tensor(_special_floats(np.float32)),
    "float64-special": lambda: rt.tensor(_special_floats(np.float64)),
    "int64": lambda: rt.tensor(np.array([0, -1, 2**62, -2**63, 2**63 - 1, 7], dtype=np.int64)),
    "bool": lambda: rt.tensor(np.array([[True, False, True], [False, False, True]])),
    "0d-float32": lambda: rt.tensor(np.array(3.25, dtype=np.float32)),
    "0d-float64": lambda: rt.tensor(np.array(-1e300)),
    "0d-int64": lambda: rt.tensor(np.array(-42, dtype=np.int64)),
    "0d-bool": lambda: rt.tensor(np.array(True)),
    "empty-float32": lambda: rt.tensor(np.zeros((0,), dtype=np.float32)),
    "empty-2d-float64": lambda: rt.tensor(np.zeros((3, 0))),
    "empty-int64": lambda: rt.tensor(np.zeros((0, 2, 5), dtype=np.int64)),
    "empty-bool": lambda: rt.tensor(np.zeros((0,), dtype=np.bool_)),
    "odd-size": lambda: rt.tensor(np.arange(7, dtype=np.float32)),  # 28 bytes: exercises alignment padding
    "large": lambda: rt.tensor(np.random.default_rng(2).normal(size=(256, 129)).astype(np.float32)),
}


@pytest.mark.parametrize("case", list(TENSOR_CASES))
def test_tensor_round_trip_bit_exact(case, tmp_path):
    t = TENSOR_CASES[case]()
    out = roundtrip(t, tmp_path)
    assert_same_tensor(out, t)
    assert out.is_contiguous()


def test_all_dtypes_are_covered():
    assert {TENSOR_CASES[c]().dtype for c in TENSOR_CASES} == {rt.float32, rt.float64, rt.int64, rt.bool}


def test_loaded_tensor_is_independent_and_writable(tmp_path):
    t = rt.tensor(np.arange(4.0))
    out = roundtrip(t, tmp_path)
    out[0] = 100.0
    assert t[0].item() == 0.0
    assert rt.load(tmp_path / "ckpt.rtc")[0].item() == 0.0


@pytest.mark.parametrize("dtype", [rt.float32, rt.float64, rt.int64, rt.bool])
def test_non_contiguous_tensors_save_their_values(dtype, tmp_path):
    base = np.arange(60).reshape(3, 4, 5) % 7
    base = (base > 3) if dtype == rt.bool else base.astype(NP[dtype])
    t = rt.tensor(base, dtype=dtype)
    views = {
        "transpose": (t.transpose(0, 2), base.transpose(2, 1, 0)),
        "permute": (t.permute(1, 2, 0), base.transpose(1, 2, 0)),
        "slice-step": (t[:, 1::2, ::3], base[:, 1::2, ::3]),
        "column": (t[1, :, 2], base[1, :, 2]),
        "expand": (t[0:1, 0:1, 0:1].expand(2, 3, 4), np.broadcast_to(base[0:1, 0:1, 0:1], (2, 3, 4))),
    }
    out = roundtrip({k: v for k, (v, _) in views.items()}, tmp_path)
    for k, (_, expected) in views.items():
        assert out[k].dtype == dtype, k
        assert tuple(out[k].shape) == expected.shape, k
        np.testing.assert_array_equal(out[k].numpy(), expected, err_msg=k)


def test_requires_grad_is_preserved(tmp_path):
    a = rt.tensor(np.ones(3), requires_grad=True)
    b = rt.tensor(np.ones(3))
    p = rt.nn.Parameter(rt.tensor(np.arange(3.0)))
    c = (a * 2)  # a non-leaf: saved detached, requires_grad recorded
    out = roundtrip({"a": a, "b": b, "p": p, "c": c}, tmp_path)
    assert out["a"].requires_grad and out["a"].is_leaf and out["a"].grad_fn is None
    assert not out["b"].requires_grad
    assert out["p"].requires_grad
    np.testing.assert_array_equal(out["p"].detach().numpy(), [0, 1, 2])
    assert out["c"].requires_grad and out["c"].is_leaf
    np.testing.assert_array_equal(out["c"].detach().numpy(), [2, 2, 2])
    (out["a"] * 3).sum().backward()  # the loaded leaf is usable for autograd
    np.testing.assert_array_equal(out["a"].grad.numpy(), [3, 3, 3])


# --------------------------------------------------------------------------------- nested objects
def _eq(a, b):
    """Deep equality with exact types; NaN equals NaN; tensors bit-exact."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, rt.Tensor):
        assert_same_tensor(a, b)
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), (a, b)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), (a.keys(), b.keys())
        for k in a:
            _eq(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _eq(x, y)
    else:
        assert a == b, (a, b)


def test_nested_objects_round_trip(tmp_path):
    obj = {
        "str": "héllo \u2603 \"quoted\" \\ \n",
        "empty": "",
        "int": -12345678901234567890123,  # bigger than int64
        "zero": 0,
        "float": 0.1,
        "neg_zero": -0.0,
        "tiny": 5e-324,
        "inf": math.inf,
        "-inf": -math.inf,
        "nan": math.nan,
        "true": True,
        "false": False,
        "none": None,
        3: "int key",
        -7: [1, 2],
        2.5: "float key",
        True: "bool key",
        None: "none key",
        (1, "a"): "tuple key",
        "list": [1, [2, [3, []]], (), {}],
        "tuple": (1, (2.0, "x"), [None], (rt.tensor(np.array([1.0, 2.0])),)),
        "nested": {"a": {"b": {"c": [rt.tensor(np.array([True]))]}}},
        "tensors": [rt.tensor(np.arange(3, dtype=np.int64)), rt.tensor(np.zeros((0,)))],
        "floats": [math.nan, math.inf, -math.inf, 1e308, -1e-308],
        "lookalike": {"float": "nan", "tensor": 0, "list": [1], "dict": []},  # user dicts shaped like the encoding
        "np_scalars": [np.float64(0.5), np.int64(3), np.bool_(True)],
        "dtypes": [rt.float32, rt.int64],
    }
    out = roundtrip(obj, tmp_path)
    expected = dict(obj)
    expected["np_scalars"] = [0.5, 3, True]  # NumPy scalars come back as Python scalars
    assert out["dtypes"] == [rt.float32, rt.int64]
    expected.pop("dtypes")
    out.pop("dtypes")
    _eq(out, expected)
    assert type(out["np_scalars"][0]) is float and type(out["np_scalars"][2]) is bool


@pytest.mark.parametrize("obj", [None, 0, -1, 3.5, math.nan, True, "", "x", [], (), {}, [[]], {"": ()}, {0: {1: {2: 3}}}],
                         ids=repr)
def test_top_level_plain_objects(obj, tmp_path):
    _eq(roundtrip(obj, tmp_path), obj)


def test_same_tensor_twice(tmp_path):
    t = rt.tensor(np.arange(4.0))
    out = roundtrip([t, t, {"again": t}], tmp_path)
    for x in (out[0], out[1], out[2]["again"]):
        assert_same_tensor(x, t)


def test_module_state_dict_round_trip(tmp_path):
    rt.manual_seed(0)
    m = rt.nn.Sequential(rt.nn.Linear(3, 4), rt.nn.ReLU(), rt.nn.Linear(4, 2))
    sd = m.state_dict()
    out = roundtrip(sd, tmp_path)
    assert list(out) == list(sd)
    for k in sd:
        assert bits(out[k]) == bits(sd[k]) and out[k].dtype == sd[k].dtype
    rt.manual_seed(1)
    m2 = rt.nn.Sequential(rt.nn.Linear(3, 4), rt.nn.ReLU(), rt.nn.Linear(4, 2))
    m2.load_state_dict(out)
    x = rt.randn(5, 3)
    assert bits(m(x)) == bits(m2(x))


@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizer_state_dict_round_trip(kind, tmp_path):
    hyper = {"SGD": dict(lr=0.1, momentum=0.9, nesterov=True), "Adam": dict(lr=0.01, betas=(0.8, 0.9), amsgrad=True),
             "AdamW": dict(lr=0.01), "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
             "Adagrad": dict(lr=0.1, lr_decay=0.01)}[kind]
    rng = np.random.default_rng(0)

    def make(values):
        ps = [rt.tensor(v, requires_grad=True) for v in values]
        return ps, getattr(rt.optim, kind)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003}], **hyper)

    values = [rng.normal(size=(2, 3)), rng.normal(size=4)]
    ps, opt = make(values)
    grads = [[rng.normal(size=v.shape) for v in values] for _ in range(6)]
    for gs in grads[:3]:
        for p, g in zip(ps, gs):
            p.grad = rt.tensor(g)
        opt.step()
    sd = opt.state_dict()
    out = roundtrip(sd, tmp_path)
    _eq(out, sd)
    snapshot = [p.detach().numpy().copy() for p in ps]
    ps2, opt2 = make(snapshot)
    opt2.load_state_dict(out)
    for gs in grads[3:]:
        for p, q, g in zip(ps, ps2, gs):
            p.grad = rt.tensor(g)
            q.grad = rt.tensor(g)
        opt.step()
        opt2.step()
    for p, q in zip(ps, ps2):
        assert bits(p) == bits(q)


def test_save_accepts_str_and_pathlike_and_overwrites(tmp_path):
    rt.save([1], str(tmp_path / "a.rtc"))
    rt.save([2], tmp_path / "a.rtc")
    assert rt.load(str(tmp_path / "a.rtc")) == [2]
    assert no_temp_files(tmp_path) == []


def test_file_format_is_documented_layout(tmp_path):
    t = rt.tensor(np.arange(5, dtype=np.float32))
    rt.save({"w": t}, tmp_path / "f.rtc")
    blob = (tmp_path / "f.rtc").read_bytes()
    assert blob[:8] == b"RETICULM"
    version, hlen = struct.unpack("<IQ", blob[8:20])
    assert version == 1
    header = json.loads(blob[20:20 + hlen])
    assert header["tensors"][0]["dtype"] == "float32" and header["tensors"][0]["shape"] == [5]
    start = 20 + hlen + (-(20 + hlen)) % 64
    assert start % 64 == 0
    assert blob[start:start + 20] == np.arange(5, dtype="<f4").tobytes()
    assert hashlib.sha256(blob[:-32]).digest() == blob[-32:]
    assert len(blob) == start + header["data_len"] + 32


# ------------------------------------------------------------------------------------ never pickle
def test_files_are_not_pickles(tmp_path):
    rt.save({"a": rt.tensor(np.ones(3)), "b": [1, "x"]}, tmp_path / "f.rtc")
    blob = (tmp_path / "f.rtc").read_bytes()
    assert not blob.startswith(b"\x80")  # pickle protocol >= 2 opcode
    with pytest.raises(Exception):
        pickle.loads(blob)


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_files_are_rejected_without_unpickling(protocol, tmp_path, monkeypatch):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"x": _Boom()}, protocol=protocol))

    def forbidden(*a, **k):
        raise AssertionError("rt.load called pickle")

    class ForbiddenUnpickler:
        def __init__(self, *a, **k):
            raise AssertionError("rt.load built an Unpickler")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", ForbiddenUnpickler)
    with pytest.raises(rt.CheckpointError, match="not a reticulum checkpoint"):
        rt.load(path)
    # and a valid checkpoint loads without pickle, too
    rt.save({"t": rt.tensor(np.ones(2))}, tmp_path / "ok.rtc")
    assert rt.load(tmp_path / "ok.rtc")["t"].numpy().tolist() == [1.0, 1.0]


def test_torch_checkpoint_is_rejected(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(3)}, tmp_path / "t.pt")
    with pytest.raises(rt.CheckpointError):
        rt.load(tmp_path / "t.pt")


# --------------------------------------------------------------------------------- damaged files
def _good_file(tmp_path):
    obj = {"w": rt.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)), "b": rt.tensor(np.array([1, 2], dtype=np.int64)),
           "meta": {"epoch": 3, "name": "x", "lrs": [0.1, math.inf]}, "flag": rt.tensor(np.array([True, False]))}
    path = tmp_path / "good.rtc"
    rt.save(obj, path)
    return path, path.read_bytes()


def _expect_checkpoint_error(path):
    """Loading must raise CheckpointError (a ValueError) with a message naming the file - nothing else."""
    try:
        rt.load(path)
    except rt.CheckpointError as e:
        assert isinstance(e, ValueError)
        msg = str(e)
        assert msg.startswith("load:") and str(path) in msg and len(msg) < 500, msg
        return msg
    except BaseException as e:  # noqa: BLE001
        pytest.fail(f"rt.load raised {type(e).__name__}: {e} (expected CheckpointError)")
    pytest.fail("rt.load accepted a damaged file")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(rt.CheckpointError, ValueError)


def test_flip_a_byte_in_the_middle(tmp_path):
    path, blob = _good_file(tmp_path)
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x40
    (tmp_path / "bad.rtc").write_bytes(bytes(bad))
    msg = _expect_checkpoint_error(tmp_path / "bad.rtc")
    assert "corrupt" in msg or "checksum" in msg


def test_flip_every_byte(tmp_path):
    path, blob = _good_file(tmp_path)
    bad_path = tmp_path / "bad.rtc"
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= (0x01, 0x80, 0x5A)[i % 3]  # low bit, high bit, several bits
        bad_path.write_bytes(bytes(bad))
        _expect_checkpoint_error(bad_path)


def test_truncated_at_every_cut_point(tmp_path):
    path, blob = _good_file(tmp_path)
    bad_path = tmp_path / "cut.rtc"
    for n in range(len(blob)):
        bad_path.write_bytes(blob[:n])
        _expect_checkpoint_error(bad_path)


def test_trailing_garbage(tmp_path):
    path, blob = _good_file(tmp_path)
    for extra in (b"\0", b"x" * 31, b"y" * 32, b"z" * 1000):
        (tmp_path / "x.rtc").write_bytes(blob + extra)
        _expect_checkpoint_error(tmp_path / "x.rtc")


def test_empty_file(tmp_path):
    (tmp_path / "empty.rtc").write_bytes(b"")
    assert "magic" in _expect_checkpoint_error(tmp_path / "empty.rtc")


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(seed, tmp_path):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    data = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
    if seed % 2:  # half of them start with the magic (and a plausible version)
        data = b"RETICULM" + struct.pack("<I", 1) + data
    (tmp_path / "r.rtc").write_bytes(data)
    _expect_checkpoint_error(tmp_path / "r.rtc")


@pytest.mark.parametrize("hlen", [2**20, 2**40, 2**63, 2**64 - 1])
def test_huge_header_length(hlen, tmp_path):
    path, blob = _good_file(tmp_path)
    bad = blob[:8] + struct.pack("<IQ", 1, hlen) + blob[20:]
    (tmp_path / "h.rtc").write_bytes(bad)
    _expect_checkpoint_error(tmp_path / "h.rtc")


def test_huge_header_length_small_file(tmp_path):
    (tmp_path / "h.rtc").write_bytes(b"RETICULM" + struct.pack("<IQ", 1, 2**62) + b"\0" * 40)
    assert "truncated" in _expect_checkpoint_error(tmp_path / "h.rtc")


@pytest.mark.parametrize("version", [0, 2, 2**32 - 1])
def test_wrong_version(version, tmp_path):
    path, blob = _good_file(tmp_path)
    (tmp_path / "v.rtc").write_bytes(blob[:8] + struct.pack("<I", version) + blob[12:])
    assert "version" in _expect_checkpoint_error(tmp_path / "v.rtc")


def _craft(header_bytes, data=b""):
    """A file that follows the documented layout (valid magic, version, length, padding and checksum)
    around an arbitrary header and data section: only the loader's validation of the content stands between
    it and the caller."""
    head = b"RETICULM" + struct.pack("<IQ", 1, len(header_bytes)) + header_bytes
    head += b"\0" * ((-len(head)) % 64)
    body = head + data
    return body + hashlib.sha256(body).digest()


def _hdr(tree, tensors=(), data_len=0):
    return json.dumps({"tree": tree, "tensors": list(tensors) if isinstance(tensors, tuple) else tensors,
                       "data_len": data_len}).encode()


def test_craft_helper_makes_loadable_files(tmp_path):
    (tmp_path / "c.rtc").write_bytes(_craft(_hdr({"list": [1, {"float": "nan"}, {"tensor": 0}]},
                                                 [{"dtype": "float64", "shape": [2], "offset": 0, "nbytes": 16}], 64),
                                            np.array([1.0, 2.0]).tobytes() + b"\0" * 48))
    out = rt.load(tmp_path / "c.rtc")
    assert out[0] == 1 and math.isnan(out[1]) and out[2].numpy().tolist() == [1.0, 2.0]


_T = {"dtype": "float32", "shape": [2], "offset": 0, "nbytes": 8}
GARBAGE_HEADERS = {
    "binary": b"\xff\xfe\x00garbage\x81",
    "not-json": b"this is not json {",
    "empty": b"",
    "json-number": b"5",
    "json-null": b"null",
    "json-string": b'"tree"',
    "json-list": b"[1, 2, 3]",
    "missing-tree": json.dumps({"tensors": [], "data_len": 0}).encode(),
    "missing-tensors": json.dumps({"tree": None, "data_len": 0}).encode(),
    "data-len-string": json.dumps({"tree": None, "tensors": [], "data_len": "abc"}).encode(),
    "data-len-null": json.dumps({"tree": None, "tensors": [], "data_len": None}).encode(),
    "data-len-wrong": (_hdr(None, [], 128), 64),  # (header, bytes of data actually written)
    "tensors-not-list": _hdr(None, 5),
    "tensors-dict": json.dumps({"tree": None, "tensors": {"a": 1}, "data_len": 0}).encode(),
    "tensors-null": json.dumps({"tree": None, "tensors": None, "data_len": 0}).encode(),
    "tensor-entry-int": _hdr(None, [7], 64),
    "tensor-entry-null": _hdr(None, [None], 64),
    "tensor-bad-dtype": _hdr({"tensor": 0}, [{**_T, "dtype": "object"}], 64),
    "tensor-dtype-list": _hdr({"tensor": 0}, [{**_T, "dtype": ["float32"]}], 64),
    "tensor-shape-int": _hdr({"tensor": 0}, [{**_T, "shape": 2}], 64),
    "tensor-shape-negative": _hdr({"tensor": 0}, [{**_T, "shape": [-2], "nbytes": -8}], 64),
    "tensor-shape-neg-pair": _hdr({"tensor": 0}, [{**_T, "shape": [-1, -2]}], 64),
    "tensor-shape-huge": _hdr({"tensor": 0}, [{**_T, "shape": [2**40, 2**40], "nbytes": 2**82}], 64),
    "tensor-shape-float": _hdr({"tensor": 0}, [{**_T, "shape": [1.5]}], 64),
    "tensor-shape-str": _hdr({"tensor": 0}, [{**_T, "shape": ["x"]}], 64),
    "tensor-nbytes-wrong": _hdr({"tensor": 0}, [{**_T, "nbytes": 4}], 64),
    "tensor-offset-negative": _hdr({"tensor": 0}, [{**_T, "offset": -8}], 64),
    "tensor-offset-past-end": _hdr({"tensor": 0}, [{**_T, "offset": 60}], 64),
    "tensor-missing-key": _hdr({"tensor": 0}, [{"dtype": "float32", "shape": [2]}], 64),
    "int-tensor-requires-grad": _hdr({"tensor": 0}, [{**_T, "dtype": "int64", "nbytes": 16, "requires_grad": True}], 64),
    "bool-tensor-requires-grad": _hdr({"tensor": 0}, [{**_T, "dtype": "bool", "nbytes": 2, "requires_grad": True}], 64),
    "tree-tensor-index-out-of-range": _hdr({"tensor": 3}, [_T], 64),
    "tree-tensor-index-negative": _hdr({"tensor": -1}, [_T], 64),
    "tree-tensor-index-str": _hdr({"tensor": "0"}, [_T], 64),
    "tree-unknown-kind": _hdr({"set": [1, 2]}),
    "tree-two-keys": _hdr({"list": [], "tuple": []}),
    "tree-list-not-list": _hdr({"list": 5}),
    "tree-dict-bad-pairs": _hdr({"dict": [[1, 2, 3]]}),
    "tree-dict-not-pairs": _hdr({"dict": [1, 2]}),
    "tree-dict-unhashable-key": _hdr({"dict": [[{"list": []}, 1]]}),
    "tree-dict-unhashable-key-nested": _hdr({"dict": [[{"tuple": [{"dict": []}]}, 1]]}),
    "tree-float-bad": _hdr({"float": "1e999999"}),
    "tree-float-code": _hdr({"float": "__import__('os')"}),
    "tree-dtype-bad": _hdr({"dtype": "object"}),
    "tree-raw-list": _hdr([1, 2, 3]),
    "tree-empty-object": _hdr({}),
    "tree-deeply-nested-lists": b'{"tree":' + b'{"list":[' * 50000 + b']}' * 50000 + b',"tensors":[],"data_len":0}',
    "deeply-nested-json": b"[" * 200000 + b"]" * 200000,
}


def _data_len(header):
    """The data section a crafted header announces (so that the size check passes and the content is tested)."""
    try:
        n = json.loads(header)["data_len"]
    except Exception:  # noqa: BLE001
        return 0
    return n if isinstance(n, int) else 0


@pytest.mark.parametrize("name", list(GARBAGE_HEADERS))
def test_valid_magic_garbage_header(name, tmp_path):
    header = GARBAGE_HEADERS[name]
    header, n = header if isinstance(header, tuple) else (header, _data_len(header))
    (tmp_path / "g.rtc").write_bytes(_craft(header, b"\0" * n))
    _expect_checkpoint_error(tmp_path / "g.rtc")


def test_garbage_header_without_valid_checksum(tmp_path):
    head = b"RETICULM" + struct.pack("<IQ", 1, 9) + b"not json!"
    (tmp_path / "g.rtc").write_bytes(head + b"\0" * 64)
    _expect_checkpoint_error(tmp_path / "g.rtc")


# ------------------------------------------------------------------------------ unsupported objects
UNSUPPORTED = {
    "lambda": lambda: (lambda x: x),
    "set": lambda: {1, 2},
    "frozenset": lambda: frozenset([1]),
    "object": lambda: object(),
    "bytes": lambda: b"abc",
    "complex": lambda: 1 + 2j,
    "nested-set": lambda: {"a": [1, {"b": (2, {3})}]},
    "tensor-then-lambda": lambda: [rt.tensor(np.ones(1000)), print],
    "module": lambda: rt.nn.Linear(2, 2),
    "numpy-array": lambda: np.ones(3),
    "class-value": lambda: {1: type},
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_objects_raise_type_error_and_leave_nothing(name, tmp_path):
    path = tmp_path / "u.rtc"
    with pytest.raises(TypeError, match="save"):
        rt.save(UNSUPPORTED[name](), path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["lambda", "set", "tensor-then-lambda"])
def test_failed_save_keeps_the_previous_file(name, tmp_path):
    path = tmp_path / "u.rtc"
    rt.save({"v": 1, "t": rt.tensor(np.arange(3.0))}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        rt.save(UNSUPPORTED[name](), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["u.rtc"]
    assert rt.load(path)["v"] == 1


def test_failed_write_removes_temp_file(tmp_path, monkeypatch):
    # An error while writing (here: fsync fails, e.g. disk full) removes the temp file, keeps the old one.
    path = tmp_path / "w.rtc"
    rt.save([1], path)

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        rt.save([2], path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["w.rtc"]
    assert rt.load(path) == [1]


def test_save_into_missing_folder_raises_and_creates_nothing(tmp_path):
    with pytest.raises(OSError):
        rt.save([1], tmp_path / "missing" / "x.rtc")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------- killed mid-write
_WRITER = r"""
import sys, numpy as np, reticulum as rt
path = sys.argv[1]
big = np.arange(2_000_000, dtype=np.float64)
i = 0
while True:
    i += 1
    rt.save({"i": i, "data": rt.tensor(big + i), "tail": [i] * 100}, path)
    print(i, flush=True)
"""


def _check_consistent(path, last_reported):
    out = rt.load(path)
    i = out["i"]
    assert last_reported <= i <= last_reported + 1, (i, last_reported)
    data = out["data"].numpy()
    assert data.shape == (2_000_000,)
    assert data[0] == i and data[-1] == 1_999_999 + i
    np.testing.assert_array_equal(data, np.arange(2_000_000, dtype=np.float64) + i)
    assert out["tail"] == [i] * 100
    return i


@pytest.mark.parametrize("seed", range(3))
def test_save_killed_mid_write_leaves_previous_checkpoint(seed, tmp_path):
    path = tmp_path / "ckpt.rtc"
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        first = proc.stdout.readline()
        assert first.strip() == "1", f"writer failed: {first!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(random.Random(seed).uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    reported = [int(x) for x in [first] + proc.stdout.read().split()]
    _check_consistent(path, reported[-1])
    # the only other thing there may be one orphaned temp file (SIGKILL cannot clean up)
    others = [f for f in os.listdir(tmp_path) if f != "ckpt.rtc"]
    assert len(others) <= 1 and all(f.startswith(".ckpt.rtc.") and f.endswith(".tmp") for f in others), others
    # a later save over it works and removes the orphan: its writer is dead
    rt.save({"i": -1}, path)
    assert rt.load(path) == {"i": -1}
    assert os.listdir(tmp_path) == ["ckpt.rtc"]



# ----------------------------------------------------------------------------- stale temp files
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp_file(folder, target, pid):
    path = folder / f".{target}.{pid}-{os.urandom(8).hex()}.tmp"
    path.write_bytes(b"partial checkpoint")
    return path


def test_save_removes_temp_files_of_dead_writers_only(tmp_path):
    dead = _dead_pid()
    orphans = [_temp_file(tmp_path, "c.rtc", dead) for _ in range(3)]
    live = _temp_file(tmp_path, "c.rtc", os.getpid())  # a concurrent save in this process
    other_target = _temp_file(tmp_path, "other.rtc", dead)  # stale, but another target's: its own save cleans it
    foreign = [tmp_path / f".c.rtc.{dead}.tmp", tmp_path / f".c.rtc.{dead}-xyz.tmp", tmp_path / "c.rtc.tmp"]
    for f in foreign:  # not names save() writes: somebody else's files
        f.write_bytes(b"keep")
    rt.save([1], tmp_path / "c.rtc")
    assert not any(f.exists() for f in orphans)
    assert live.exists() and other_target.exists() and all(f.exists() for f in foreign)
    assert rt.load(tmp_path / "c.rtc") == [1]


def test_save_keeps_a_locked_temp_file_whose_pid_is_not_running_here(tmp_path):
    # A writer in another pid namespace (a container sharing the folder) has a pid that is not running here;
    # its flock on the temp file still marks the file as in use.
    locked = _temp_file(tmp_path, "c.rtc", _dead_pid())
    import fcntl
    with open(locked, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        rt.save([1], tmp_path / "c.rtc")
        assert locked.exists()
    rt.save([2], tmp_path / "c.rtc")  # its lock is free now: stale
    assert not locked.exists()


def test_save_does_not_follow_symlinks_to_remove_stale_files(tmp_path):
    # save() never writes a symlink as its temp file, so a link with a temp file's name is somebody else's
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / f".c.rtc.{_dead_pid()}-{os.urandom(8).hex()}.tmp"
    link.symlink_to(victim)
    rt.save([1], tmp_path / "c.rtc")
    assert link.is_symlink() and victim.read_bytes() == b"precious"


def test_concurrent_saves_in_one_process_do_not_remove_each_others_temp_files(tmp_path):
    errors = []

    def writer(k):
        try:
            for i in range(30):
                rt.save({"writer": k, "i": i, "t": rt.tensor(np.full(20000, float(i)))}, tmp_path / "c.rtc")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rt.load(tmp_path / "c.rtc")["i"] == 29
    assert os.listdir(tmp_path) == ["c.rtc"]


# ------------------------------------------------------------------------------------- symlinks
def test_save_writes_through_a_symlink(tmp_path):
    real_dir, link_dir = tmp_path / "real", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    rt.save([1], real_dir / "ckpt.rtc")
    link = link_dir / "latest.rtc"
    link.symlink_to(os.path.join("..", "real", "ckpt.rtc"))  # relative, into another folder
    rt.save([2], link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "real", "ckpt.rtc")
    assert rt.load(real_dir / "ckpt.rtc") == [2] and rt.load(link) == [2]
    assert os.listdir(link_dir) == ["latest.rtc"] and os.listdir(real_dir) == ["ckpt.rtc"]


def test_save_through_a_chain_of_symlinks_and_a_dangling_one(tmp_path):
    (tmp_path / "a.rtc").symlink_to("b.rtc")
    (tmp_path / "b.rtc").symlink_to("c.rtc")  # c.rtc does not exist yet: open() would create it
    rt.save([3], tmp_path / "a.rtc")
    assert (tmp_path / "a.rtc").is_symlink() and (tmp_path / "b.rtc").is_symlink()
    assert not (tmp_path / "c.rtc").is_symlink() and rt.load(tmp_path / "c.rtc") == [3]


def test_save_to_a_symlink_loop_raises(tmp_path):
    (tmp_path / "a.rtc").symlink_to("b.rtc")
    (tmp_path / "b.rtc").symlink_to("a.rtc")
    with pytest.raises(OSError, match="symbolic links"):
        rt.save([1], tmp_path / "a.rtc")
    assert sorted(os.listdir(tmp_path)) == ["a.rtc", "b.rtc"] and (tmp_path / "a.rtc").is_symlink()


# --------------------------------------------------------------------------- non-regular files
def test_load_of_a_fifo_raises_instead_of_blocking(tmp_path):
    fifo = tmp_path / "pipe.rtc"
    os.mkfifo(fifo)
    with hang_guard(10, "rt.load of a FIFO"):
        assert "is a FIFO" in _expect_checkpoint_error(fifo)


def test_load_of_a_directory_raises(tmp_path):
    assert "is a directory" in _expect_checkpoint_error(tmp_path)


def test_load_of_dev_zero_raises_without_reading_it():
    # Run in a child with a 3 GiB address-space limit: reading /dev/zero to the end must not take the test
    # machine down with it when this regresses.
    code = ("import resource, reticulum as rt\n"
            "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "try:\n    rt.load('/dev/zero')\n"
            "except BaseException as e:\n    print(type(e).__name__, e)\n")
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith("CheckpointError load: /dev/zero is a character device"), out.stdout + out.stderr


# ----------------------------------------------------------------- memory bound, aliasing, bools
def _entry(dtype, shape, offset):
    nbytes = math.prod(shape) * np.dtype(NP_DTYPE_NAMES[dtype]).itemsize
    return {"dtype": dtype, "shape": shape, "offset": offset, "nbytes": nbytes}


NP_DTYPE_NAMES = {"float32": "<f4", "float64": "<f8", "int64": "<i8", "bool": "|b1"}


def test_aliasing_entries_are_rejected(tmp_path):
    # 200 entries over the same 1 MiB: 200 MiB of tensors from a 1 MiB file, unless refused.
    n = 1 << 20
    header = _hdr({"list": [{"tensor": i} for i in range(200)]}, [_entry("float32", [n // 4], 0)] * 200, n)
    (tmp_path / "alias.rtc").write_bytes(_craft(header, b"\0" * n))
    msg = _expect_checkpoint_error(tmp_path / "alias.rtc")
    assert f"tensor 1 (data bytes 0 to {n}) overlaps tensor 0 (bytes 0 to {n})" in msg


def test_partially_overlapping_entries_are_rejected(tmp_path):
    entries = [_entry("float64", [8], 0), _entry("int64", [4], 128), _entry("float32", [16], 32)]  # [32, 96) vs [0, 64)
    (tmp_path / "o.rtc").write_bytes(_craft(_hdr({"tensor": 0}, entries, 192), b"\0" * 192))
    msg = _expect_checkpoint_error(tmp_path / "o.rtc")
    assert "tensor 2 (data bytes 32 to 96) overlaps tensor 0 (bytes 0 to 64)" in msg


def test_adjacent_and_empty_entries_load(tmp_path):
    entries = [_entry("float32", [4], 0), _entry("float32", [4], 16), _entry("bool", [0], 16),
               _entry("int64", [0, 5], 0)]
    data = np.arange(8, dtype="<f4").tobytes() + b"\0" * 32
    (tmp_path / "a.rtc").write_bytes(_craft(_hdr({"list": [{"tensor": i} for i in range(4)]}, entries, 64), data))
    out = rt.load(tmp_path / "a.rtc")
    assert out[0].numpy().tolist() == [0, 1, 2, 3] and out[1].numpy().tolist() == [4, 5, 6, 7]
    assert tuple(out[2].shape) == (0,) and tuple(out[3].shape) == (0, 5)


@pytest.mark.parametrize("shape", [[0, 2 ** 62], [0] + [2 ** 31] * 3, [1] * 65])
def test_empty_tensor_with_absurd_shape_is_rejected(shape, tmp_path):
    (tmp_path / "s.rtc").write_bytes(_craft(_hdr({"tensor": 0}, [_entry("float32", shape, 0)], 64), b"\0" * 64))
    assert "tensor 0" in _expect_checkpoint_error(tmp_path / "s.rtc")


@pytest.mark.parametrize("byte", [2, 0x80, 0xFF])
def test_bool_bytes_other_than_0_and_1_are_rejected(byte, tmp_path):
    data = bytes([1, 0, 1, byte, 0]) + b"\0" * 59
    (tmp_path / "b.rtc").write_bytes(_craft(_hdr({"tensor": 0}, [_entry("bool", [5], 0)], 64), data))
    msg = _expect_checkpoint_error(tmp_path / "b.rtc")
    assert f"bool tensor 0 holds byte {byte} at element 3" in msg


# ------------------------------------------------------------------------------------- fuzzing
_FUZZ_OBJ = {"w": rt.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)), "i": rt.tensor(np.array([7, -1])),
             "flag": rt.tensor(np.array([True, False, True])), "meta": {"epoch": 3, "lrs": [0.1, math.inf], "n": None},
             "pair": (rt.tensor(np.zeros((0, 4))), "x")}


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    rt.save(_FUZZ_OBJ, folder / "good.rtc")
    return folder, (folder / "good.rtc").read_bytes()


def _load_or_checkpoint_error(path, size):
    """Loading a mutated file either raises CheckpointError or gives objects whose tensors together take no more
    bytes than the file, with valid bool bytes. Any other exception, a crash or a hang fails the test."""
    try:
        out = rt.load(path)
    except rt.CheckpointError:
        return None
    tensors = {}

    def walk(x):
        if isinstance(x, rt.Tensor):
            tensors[id(x)] = x
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(out)
    assert sum(t.numel() * t.element_size() for t in tensors.values()) <= size
    for t in tensors.values():
        if t.dtype == rt.bool and t.numel():
            assert t.numpy().view(np.uint8).max() <= 1
    return out


_FUZZ = settings(max_examples=200, deadline=None)


@_FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10 ** 6)), extra=st.binary(max_size=40))
def test_fuzz_raw_corruption_is_always_detected(flips, cut, extra, fuzz_file):
    folder, blob = fuzz_file
    bad = bytearray(blob)
    for pos, mask in flips:
        bad[pos % len(bad)] ^= mask
    if cut is not None:
        bad = bad[:cut % len(bad)]
    bad = bytes(bad) + extra
    assume(bad != blob)
    (folder / "bad.rtc").write_bytes(bad)
    with hang_guard(30, "rt.load of a corrupted file"):
        _expect_checkpoint_error(folder / "bad.rtc")


def _rechecksum(body):
    return body + hashlib.sha256(body).digest()


@_FUZZ
@given(flips=st.lists(st.tuples(st.integers(20, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=6))
def test_fuzz_corruption_behind_a_valid_checksum(flips, fuzz_file):
    # The checksum is recomputed after the flips, so the header parser and the entry checks see the damage.
    folder, blob = fuzz_file
    body = bytearray(blob[:-32])
    for pos, mask in flips:
        body[20 + pos % (len(body) - 20)] ^= mask
    bad = _rechecksum(bytes(body))
    (folder / "bad.rtc").write_bytes(bad)
    with hang_guard(30, "rt.load of a corrupted file"):
        _load_or_checkpoint_error(folder / "bad.rtc", len(bad))


_json = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=8),
                     lambda inner: (st.lists(inner, max_size=4)
                                    | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=12)
_odd_int = st.integers(-2, 300) | st.sampled_from([2 ** 31, 2 ** 62, 2 ** 64 + 1, -2 ** 63])
_tree = st.recursive(_json | st.builds(lambda i: {"tensor": i}, st.integers(-1, 6)),
                     lambda inner: st.builds(lambda k, v: {k: v}, st.sampled_from(["list", "tuple", "dict", "float",
                                                                                   "dtype", "tensor"]),
                                             st.lists(inner, max_size=3) | inner), max_leaves=10)


@st.composite
def _crafted_files(draw):
    """(header, data): entries that are mostly plausible (sizes consistent, offsets inside the data, in-range
    tensor references), so that the checks behind the header parser get exercised, not just the parser."""
    def mostly(plausible, odd):  # the odd value one time in ten
        return draw(odd if draw(st.integers(0, 9)) == 0 else plausible)

    entries = []
    for _ in range(draw(st.integers(0, 5))):
        dtype = mostly(st.sampled_from(list(NP_DTYPE_NAMES)), st.sampled_from(["float16", "object"]))
        shape = [mostly(st.integers(0, 6), _odd_int) for _ in range(draw(st.integers(0, 3)))]
        size = math.prod(shape) * np.dtype(NP_DTYPE_NAMES.get(dtype, "<f2")).itemsize
        entry = {"dtype": dtype, "shape": shape, "offset": mostly(st.integers(0, 128), _odd_int),
                 "nbytes": mostly(st.just(size), _odd_int)}
        if draw(st.booleans()):
            entry["requires_grad"] = mostly(st.booleans(), _json)
        entries.append(mostly(st.just(entry), _json))
    end = max([e["offset"] + e["nbytes"] for e in entries if isinstance(e, dict) and "nbytes" in e] + [0])
    data = draw(st.binary(min_size=min(max(end, 0), 1024), max_size=min(max(end, 0), 1024) + 16))
    data_len = mostly(st.just(len(data)), _odd_int | _json)
    return _hdr(draw(_tree), entries, data_len), data


@_FUZZ
@given(crafted=_crafted_files())
def test_fuzz_crafted_headers(crafted, fuzz_file):
    folder, _ = fuzz_file
    header, data = crafted
    (folder / "c.rtc").write_bytes(_craft(header, data))
    with hang_guard(30, "rt.load of a crafted file"):
        _load_or_checkpoint_error(folder / "c.rtc", len(data))
