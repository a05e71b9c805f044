"""reticulum.train: fit/evaluate, History, metrics, callbacks, exact resume, progress output."""
import io
import json
import math
import os
import sys

import numpy as np
import pytest

import reticulum as rt
from reticulum import nn
from reticulum.train import (Accuracy, Callback, EarlyStopping, GradientMonitor, History, ModelCheckpoint,
                             ProgressBar, TopKAccuracy, evaluate, fit, load_checkpoint)
from reticulum.utils.data import DataLoader, TensorDataset
from reticulum.vision.synthetic import blobs, xor


@pytest.fixture
def one_thread():
    old, np_state = rt.get_num_threads(), np.random.get_state()
    rt.set_num_threads(1)
    yield
    rt.set_num_threads(old)
    np.random.set_state(np_state)


def xor_data(n=200, seed=0):
    X, y = xor(n=n, noise=0.1, seed=seed)
    return TensorDataset(X, y)


def xor_model(hidden=16):
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))


def snapshot(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- fit / evaluate / History

def test_fit_xor_reaches_full_accuracy_and_fills_history():
    rt.manual_seed(0)
    ds = xor_data()
    model = xor_model()
    opt = rt.optim.Adam(model.parameters(), lr=0.05)
    sched = rt.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    epochs = 25
    h = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(ds, batch_size=32, shuffle=True), epochs,
            val_loader=DataLoader(ds, batch_size=100), scheduler=sched, metrics=("accuracy", "top2"), verbose=False)
    assert isinstance(h, History) and len(h) == epochs and h.epoch == list(range(1, epochs + 1))
    assert set(h.keys()) == {"loss", "accuracy", "top2_accuracy", "val_loss", "val_accuracy", "val_top2_accuracy",
                             "lr", "epoch_time"}
    assert all(len(v) == epochs for v in h.history.values())
    assert h["lr"][:10] == [0.05] * 10 and h["lr"][10:20] == [0.025] * 10 and h["lr"][20] == 0.0125
    assert all(t > 0 for t in h["epoch_time"])
    assert h["top2_accuracy"] == [1.0] * epochs  # two classes: the target is always in the top 2
    assert h["loss"][-1] < h["loss"][0] / 5
    assert h.last("val_accuracy") == 1.0
    assert h.stop_reason is None
    result = evaluate(model, DataLoader(ds, batch_size=64), ("accuracy",), nn.CrossEntropyLoss())
    assert result["accuracy"] == 1.0
    assert result["loss"] == pytest.approx(h.last("val_loss"), rel=1e-5)


def test_fit_binary_single_logit_accuracy():
    rt.manual_seed(1)
    X, y = xor(n=200, noise=0.1, seed=3)
    ds = TensorDataset(X, y.float().unsqueeze(1))
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = rt.optim.Adam(model.parameters(), lr=0.05)
    h = fit(model, nn.BCEWithLogitsLoss(), opt, DataLoader(ds, batch_size=32, shuffle=True), 30, verbose=False)
    assert h.last("accuracy") == 1.0
    # the metric thresholds sigmoid(logit) at 0.5, i.e. the logit at 0
    with rt.no_grad():
        logits = model(X).numpy()[:, 0]
    assert np.array_equal(logits > 0, y.numpy() == 1)


def test_evaluate_matches_manual_computation_and_restores_mode():
    rt.manual_seed(2)
    X, y = blobs(n=90, centers=3, std=3.0, seed=1)
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5))
    model.train()
    res = evaluate(model, DataLoader(TensorDataset(X, y), batch_size=32), ("accuracy", "top2"), nn.CrossEntropyLoss())
    assert model.training
    model.eval()
    with rt.no_grad():
        out = model(X)
        loss = nn.CrossEntropyLoss()(out, y).item()
    o, t = out.numpy(), y.numpy()
    assert res["accuracy"] == pytest.approx(np.mean(o.argmax(1) == t))
    top2 = np.argsort(-o, axis=1)[:, :2]
    assert res["top2_accuracy"] == pytest.approx(np.mean((top2 == t[:, None]).any(1)))
    assert res["loss"] == pytest.approx(loss, rel=1e-5)
    assert evaluate(model, DataLoader(TensorDataset(X, y), batch_size=32), ()) == {}


def test_metrics_binary_probabilities_and_topk():
    acc = Accuracy(from_logits=False)  # outputs are probabilities (BCELoss)
    acc.update(rt.tensor([[0.9], [0.4], [0.6]]), rt.tensor([[1.0], [1.0], [0.0]]))
    assert acc.compute() == pytest.approx(1 / 3)
    logit_acc = Accuracy()
    logit_acc.update(rt.tensor([2.0, -1.0, 0.5]), rt.tensor([1.0, 0.0, 0.0]))
    assert logit_acc.compute() == pytest.approx(2 / 3)
    top = TopKAccuracy(2)
    top.update(rt.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]]), rt.tensor([2, 2]))
    assert top.compute() == 0.5
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        fit(xor_model(), nn.CrossEntropyLoss(), rt.optim.SGD(xor_model().parameters(), lr=0.1),
            DataLoader(xor_data(8), 4), 1, metrics=("f1",), verbose=False)


def test_history_json_roundtrip_and_plot(tmp_path, monkeypatch):
    h = History()
    h.log(1, {"loss": 1.0, "accuracy": 0.5, "lr": 0.1, "epoch_time": 0.2})
    h.log(2, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "lr": 0.1, "epoch_time": 0.2})
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.6
    assert h.best("loss") == (2, 0.5) and h.best("accuracy") == (2, 0.75)
    again = History.from_dict(h.to_dict())
    assert again.epoch == [1, 2] and again["accuracy"] == [0.5, 0.75]
    text = h.to_json(tmp_path / "h.json")
    data = json.loads((tmp_path / "h.json").read_text())
    assert data == json.loads(text) and data["history"]["val_loss"] == [None, 0.6]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r'pip install "reticulum\[plot\]"'):
            h.plot(tmp_path / "curves.png")
    else:
        h.plot(tmp_path / "curves.png")
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
        with pytest.raises(ImportError, match=r'pip install "reticulum\[plot\]"'):
            h.plot(tmp_path / "curves2.png")


def test_fit_steps_plateau_scheduler_and_clips_gradients():
    model = xor_model()
    opt = rt.optim.SGD(model.parameters(), lr=1e-12)  # the loss stays flat: a plateau
    sched = rt.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    h = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(64), 64), 4, scheduler=sched, verbose=False)
    assert h["lr"] == pytest.approx([1e-12, 1e-12, 5e-13, 2.5e-13])
    before = np.concatenate([p.detach().numpy().ravel().copy() for p in model.parameters()])
    opt = rt.optim.SGD(model.parameters(), lr=1.0)
    fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(64), 64), 1, clip_grad_norm=1e-3, verbose=False)
    after = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    assert 0 < np.linalg.norm(after - before) <= 1e-3 * (1 + 1e-4)


def test_fit_rejects_bad_batches_and_empty_loader():
    model = xor_model()
    opt = rt.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"\(inputs, targets\) pair"):
        fit(model, nn.CrossEntropyLoss(), opt, [rt.randn(4, 2)], 1, verbose=False)
    with pytest.raises(ValueError, match="yielded no batches"):
        fit(model, nn.CrossEntropyLoss(), opt, [], 1, verbose=False)
    with pytest.raises(ValueError, match="scalar"):
        fit(model, nn.CrossEntropyLoss(reduction="none"), opt, DataLoader(xor_data(8), 4), 1, verbose=False)


# ---------------------------------------------------------------- EarlyStopping

class Snapshots(Callback):
    def on_train_begin(self, logs=None):
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = snapshot(self.model)


def test_early_stopping_stops_and_restores_best_weights():
    rt.manual_seed(3)
    X, y = xor(n=200, noise=0.1, seed=5)
    train = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(X, 1 - y), batch_size=200)  # flipped labels: val_loss rises as training succeeds
    model = xor_model()
    es = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    snaps = Snapshots()
    h = fit(model, nn.CrossEntropyLoss(), rt.optim.Adam(model.parameters(), lr=0.05), train, 50, val_loader=val,
            callbacks=[es, snaps], verbose=False)
    assert len(h) < 50 and len(h) == es.best_epoch + 3 == es.stopped_epoch
    assert es.best == min(h["val_loss"]) == h["val_loss"][es.best_epoch - 1]
    assert "early stopping" in h.stop_reason and "val_loss" in h.stop_reason
    restored = snapshot(model)
    assert all(np.array_equal(restored[k], snaps.weights[es.best_epoch][k]) for k in restored)
    assert not np.array_equal(restored["0.weight"], snaps.weights[len(h)]["0.weight"])
    assert evaluate(model, val, (), nn.CrossEntropyLoss())["loss"] == pytest.approx(es.best, rel=1e-5)


def test_early_stopping_on_train_metric_and_missing_validation():
    model = xor_model()
    opt = rt.optim.SGD(model.parameters(), lr=0.0)  # nothing changes: no improvement after epoch 1
    h = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(64), 16), 20,
            callbacks=[EarlyStopping(monitor="loss", patience=2)], verbose=False)
    assert len(h) == 3
    with pytest.raises(ValueError, match="no val_loader"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(64), 16), 2, callbacks=[EarlyStopping()],
            verbose=False)


# ---------------------------------------------------------------- ModelCheckpoint and resume

def test_model_checkpoint_writes_loadable_files(tmp_path):
    rt.manual_seed(4)
    model = xor_model()
    opt = rt.optim.Adam(model.parameters(), lr=0.05)
    path = tmp_path / "ckpt" / "epoch{epoch:02d}.rtc"
    best = tmp_path / "best.rtc"
    h = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(), 32, shuffle=True), 4,
            val_loader=DataLoader(xor_data(), 100),
            callbacks=[ModelCheckpoint(str(path), extra={"note": "hi"}),
                       ModelCheckpoint(best, monitor="val_loss", save_best_only=True)], verbose=False)
    files = sorted(os.listdir(tmp_path / "ckpt"))
    assert files == [f"epoch{e:02d}.rtc" for e in range(1, 5)]  # no temporary files left behind
    ck = load_checkpoint(tmp_path / "ckpt" / "epoch04.rtc")
    assert ck["epoch"] == 4 and ck["extra"] == {"note": "hi"}
    assert ck["history"]["history"]["loss"] == h["loss"]
    fresh = xor_model()
    fresh.load_state_dict(ck["model"])
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(fresh).values(), snapshot(model).values()))
    ck3 = load_checkpoint(tmp_path / "ckpt" / "epoch03.rtc")
    assert ck3["epoch"] == 3 and len(ck3["history"]["epoch"]) == 3
    best_epoch = int(np.argmin(h["val_loss"])) + 1
    assert load_checkpoint(best)["epoch"] == best_epoch
    with pytest.raises(ValueError, match="not a training checkpoint"):
        rt.save({"x": rt.zeros(2)}, tmp_path / "other.rtc")
        load_checkpoint(tmp_path / "other.rtc")


def test_model_checkpoint_every_and_last_epoch(tmp_path):
    model = xor_model()
    opt = rt.optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(32), 16), 5,
        callbacks=[ModelCheckpoint(tmp_path / "e{epoch}.rtc", every=2)], verbose=False)
    assert sorted(os.listdir(tmp_path)) == ["e2.rtc", "e4.rtc", "e5.rtc"]
    with pytest.raises(ValueError, match="needs a monitor"):
        ModelCheckpoint(tmp_path / "x.rtc", save_best_only=True)


def test_model_checkpoint_is_atomic(tmp_path, monkeypatch):
    rt.manual_seed(5)
    model = xor_model()
    opt = rt.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "last.rtc"
    fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(64), 16), 1, callbacks=[ModelCheckpoint(path)],
        verbose=False)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(xor_data(64), 16), 2, callbacks=[ModelCheckpoint(path)],
            verbose=False)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert os.listdir(tmp_path) == ["last.rtc"]  # and the temporary file was removed
    assert load_checkpoint(path)["epoch"] == 1


def _resumable_run(epochs, ds, callbacks=(), resume_from=None, loader_seed=None):
    rt.manual_seed(123)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    opt = rt.optim.Adam(model.parameters(), lr=0.02)
    sched = rt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    loader = DataLoader(ds, batch_size=16, shuffle=True, seed=loader_seed)
    h = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs, scheduler=sched, callbacks=callbacks,
            resume_from=resume_from, verbose=False)
    return model, opt, h


@pytest.mark.parametrize("loader_seed", [None, 7])
def test_resume_gives_the_same_final_weights(tmp_path, one_thread, loader_seed):
    ds = xor_data(96, seed=2)
    full_model, full_opt, full_h = _resumable_run(6, ds, loader_seed=loader_seed)
    ckpt = tmp_path / "run.rtc"
    _, _, part_h = _resumable_run(3, ds, callbacks=[ModelCheckpoint(ckpt)], loader_seed=loader_seed)
    assert len(part_h) == 3
    np.random.seed(999)  # resuming restores NumPy's global generator too
    model, opt, h = _resumable_run(6, ds, resume_from=ckpt, loader_seed=loader_seed)
    assert h.epoch == list(range(1, 7)) and h["loss"] == full_h["loss"] and h["lr"] == full_h["lr"]
    for k, v in snapshot(full_model).items():
        assert np.array_equal(snapshot(model)[k], v), k
    s1, s2 = full_opt.state_dict()["state"], opt.state_dict()["state"]
    for i in s1:
        assert np.array_equal(s1[i]["exp_avg"].numpy(), s2[i]["exp_avg"].numpy())


def test_resume_restores_early_stopping_state(tmp_path, one_thread):
    ds = xor_data(96, seed=2)
    val = DataLoader(ds, batch_size=96)

    def run(epochs, callbacks, resume_from=None):
        rt.manual_seed(9)
        model = xor_model()
        opt = rt.optim.Adam(model.parameters(), lr=0.05)
        return fit(model, nn.CrossEntropyLoss(), opt, DataLoader(ds, 16, shuffle=True), epochs, val_loader=val,
                   callbacks=callbacks, resume_from=resume_from, verbose=False)
    es_full = EarlyStopping(monitor="val_accuracy", patience=2)
    full = run(40, [es_full])
    assert es_full.stopped_epoch is not None
    k = es_full.stopped_epoch - 1  # checkpoint one epoch before the stop, mid-patience
    ckpt = tmp_path / "es.rtc"
    run(k, [EarlyStopping(monitor="val_accuracy", patience=2), ModelCheckpoint(ckpt)])
    es = EarlyStopping(monitor="val_accuracy", patience=2)
    resumed = run(40, [es], resume_from=ckpt)
    assert es.stopped_epoch == es_full.stopped_epoch and resumed["loss"] == full["loss"]


# ---------------------------------------------------------------- GradientMonitor

def test_gradient_monitor_records_per_layer_norms():
    rt.manual_seed(6)
    model = xor_model()
    h = fit(model, nn.CrossEntropyLoss(), rt.optim.Adam(model.parameters(), lr=0.01), DataLoader(xor_data(), 32), 3,
            callbacks=[GradientMonitor(every=2)], verbose=False)
    assert set(h.grad_norms) == {"0", "2"}
    assert all(len(v) == 3 and all(0 < x < 100 for x in v) for v in h.grad_norms.values())
    assert h.to_dict()["grad_norms"] == h.grad_norms


def test_gradient_monitor_warns_on_vanishing_gradients():
    rt.manual_seed(7)
    layers = [nn.Linear(2, 8), nn.Sigmoid()]
    for _ in range(12):
        layers += [nn.Linear(8, 8), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(8, 2))
    with pytest.warns(RuntimeWarning, match=r"vanishing gradients .* in layer '0' \(Linear\): ") as record:
        h = fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.01), DataLoader(xor_data(), 50), 2,
                callbacks=[GradientMonitor()], verbose=False)
    last = str(len(layers))  # the output layer still gets healthy gradients
    assert h.grad_norms["0"][0] < 1e-7 < h.grad_norms[last][0]
    assert len(record) == 1 and f"layer '{last}'" not in str(record[0].message)  # once per layer, not per epoch


class Log(nn.Module):
    def forward(self, x):
        return x.log()


def test_gradient_monitor_stops_on_nan_loss_naming_the_layer():
    rt.manual_seed(8)
    model = nn.Sequential(nn.Linear(2, 8), Log(), nn.Linear(8, 2))  # log of negative values -> NaN
    before = snapshot(model)
    with pytest.warns(RuntimeWarning, match=r"layer '1' \(Log\) produced NaN/Inf"):
        h = fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.1), DataLoader(xor_data(), 20), 5,
                callbacks=[GradientMonitor()], verbose=False)
    assert len(h) == 1 and math.isnan(h["loss"][0])
    assert "loss is nan at epoch 1, batch 0" in h.stop_reason and "layer '1' (Log)" in h.stop_reason
    after = snapshot(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the NaN step was not applied


def test_gradient_monitor_names_layer_with_nonfinite_weights():
    model = xor_model()
    with rt.no_grad():
        model[2].weight.fill_(float("inf"))
    with pytest.warns(RuntimeWarning, match=r"parameter 'weight' of layer '2' \(Linear\)"):
        h = fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.1), DataLoader(xor_data(), 20), 2,
                callbacks=[GradientMonitor()], verbose=False)
    assert len(h) == 1


class PoisonGradient(Callback):
    """Puts `value` into one gradient element of layer `layer` after the backward pass of batch `at` (the loss stays
    finite), before GradientMonitor (order 0) looks; records the parameters before every batch."""

    order = -1

    def __init__(self, at, value, layer="2"):
        self.at, self.value, self.layer, self.before = at, value, layer, []

    def on_after_backward(self, batch, logs=None):
        self.before.append(snapshot(self.model))
        if batch == self.at:
            grad = dict(self.model.named_parameters())[self.layer + ".weight"].grad
            grad[0, 1] = self.value


@pytest.mark.parametrize("every", [1, 3, 4, 7])
@pytest.mark.parametrize("at,value", [(1, math.nan), (2, math.inf), (5, -math.inf)])
def test_gradient_monitor_stops_before_any_nonfinite_gradient_is_applied(every, at, value):
    rt.manual_seed(9)
    model = xor_model()
    poison = PoisonGradient(at, value)
    with pytest.warns(RuntimeWarning, match=rf"gradient of layer '2' \(Linear\) is NaN/Inf at epoch 1, batch {at} "):
        h = fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                DataLoader(xor_data(), 20), 3, callbacks=[poison, GradientMonitor(every=every)], verbose=False)
    assert len(poison.before) == at + 1 and len(h) == 1
    after = snapshot(model)
    assert all(np.array_equal(poison.before[at][k], after[k]) for k in after)  # the poisoned step was skipped
    assert all(np.isfinite(v).all() for v in after.values())
    assert f"batch {at}" in h.stop_reason


def test_gradient_monitor_every_still_governs_the_statistics(monkeypatch):
    measured = []
    real = GradientMonitor.on_after_backward

    def spy(self, batch, logs=None):
        counts = dict(self._counts)
        real(self, batch, logs)
        measured.append(self._counts != counts)

    monkeypatch.setattr(GradientMonitor, "on_after_backward", spy)
    model = xor_model()
    fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.1), DataLoader(xor_data(), 20), 1,
        callbacks=[GradientMonitor(every=3)], verbose=False)
    assert measured == [b % 3 == 0 for b in range(10)]


def test_gradient_monitor_tells_overflowing_squares_from_nonfinite_values():
    # float32 values of 1e30 are finite, their squares are not: the norm is exploding, not NaN/Inf
    model = xor_model()
    with pytest.warns(RuntimeWarning, match=r"exploding gradients .* layer '2' \(Linear\): 1e\+30"):
        h = fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.0), DataLoader(xor_data(), 200), 1,
                callbacks=[PoisonGradient(0, 1e30), GradientMonitor()], verbose=False)
    assert h.stop_reason is None and len(h) == 1


# ---------------------------------------------------------------- progress output

def test_progress_is_one_line_per_epoch_when_not_a_tty(capsys):
    model = xor_model()
    fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.1), DataLoader(xor_data(), 20), 3,
        val_loader=DataLoader(xor_data(), 200))
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"Epoch {i}/3 - ") for i, line in enumerate(lines, 1))
    assert "samples/s" in lines[0] and "val_accuracy" in lines[0]
    fit(model, nn.CrossEntropyLoss(), rt.optim.SGD(model.parameters(), lr=0.1), DataLoader(xor_data(), 20), 2,
        verbose=False)
    assert capsys.readouterr().out == ""


class FakeTqdm:
    instances = []

    def __init__(self, total=None, desc=None, unit="it", file=None, leave=True, dynamic_ncols=False):
        self.total, self.desc, self.n, self.postfix, self.closed = total, desc, 0, None, False
        FakeTqdm.instances.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, s="", refresh=True):
        self.postfix = s

    def close(self):
        self.closed = True

    @staticmethod
    def write(s, file=None):
        file.write(s + "\n")


def test_progress_uses_tqdm_when_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", type(sys)("tqdm"))
    sys.modules["tqdm"].tqdm = FakeTqdm
    FakeTqdm.instances.clear()
    f = FakeTTY()
    bar = ProgressBar(3, file=f)
    bar.start_epoch(2, 5)
    for _ in range(5):
        bar.update(8, 0.25)
    bar.message("hello")
    bar.end_epoch({"loss": 0.25, "val_loss": 0.3, "epoch_time": 0.1})
    (t,) = FakeTqdm.instances
    assert t.desc == "Epoch 2/3" and t.total == 5 and t.n == 5 and t.closed
    assert t.postfix == "loss 0.2500 - val_loss 0.3000"
    assert f.getvalue() == "hello\n"


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_tty_shows_loss_rate_and_eta():
    f = FakeTTY()
    bar = ProgressBar(2, file=f, use_tqdm=False)
    bar.start_epoch(1, 4)
    for _ in range(4):
        bar.update(10, 0.5)
    bar.end_epoch({"loss": 0.5, "accuracy": 0.9, "epoch_time": 0.01})
    out = f.getvalue()
    assert out.startswith("\rEpoch 1/2 [") and "4/4 loss 0.5000" in out and "samples/s" in out and "ETA" in out
    assert out.endswith("\n") and out.count("\n") == 1
    last = out.split("\r")[-1].rstrip()  # the summary overwrites the bar
    assert last.startswith("Epoch 1/2 - ") and last.endswith("loss 0.5000 - accuracy 0.9000")
