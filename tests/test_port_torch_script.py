"""Porting a PyTorch script: the models below are written once, in plain torch style, against a
``torch``-like namespace; they run unchanged with ``torch`` and with ``reticulum`` (only the module name
is swapped) and must give the same outputs, gradients and SGD trajectory for the same weights."""
import numpy as np
import pytest

import reticulum

torch = pytest.importorskip("torch")


def build_models(torch):  # the parameter shadows the module on purpose: this is "the script"
    nn = torch.nn
    F = torch.nn.functional

    class MLP(nn.Module):
        def __init__(self, in_features=10, hidden=16, classes=4, p_drop=0.0):
            super().__init__()
            self.fc1 = nn.Linear(in_features, hidden)
            self.fc2 = nn.Linear(hidden, hidden)
            self.drop = nn.Dropout(p_drop)
            self.out = nn.Linear(hidden, classes)

        def forward(self, x):
            x = F.relu(self.fc1(x))
            x = self.drop(torch.tanh(self.fc2(x)))
            return self.out(x)

    class CNN(nn.Module):
        def __init__(self, classes=3, p_drop=0.0):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=3, padding=1),
                nn.BatchNorm2d(4),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(4, 8, kernel_size=3, stride=1, padding="same", bias=False),
                nn.BatchNorm2d(8),
                nn.LeakyReLU(0.1),
                nn.AvgPool2d(2),
            )
            self.dropout = nn.Dropout(p_drop)
            self.classifier = nn.Linear(8 * 2 * 2, classes)

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)
            x = self.dropout(x)
            return F.log_softmax(self.classifier(x), dim=1)

    return MLP, CNN


def train_steps(torch, model, x, y, loss_fn, steps=3, lr=0.1):
    """A hand-written SGD loop, as in a tutorial; returns the losses."""
    losses = []
    for _ in range(steps):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses


def _same_weights(rt_model, torch_model):
    rt_model.load_state_dict({k: reticulum.tensor(v.detach().numpy()) for k, v in torch_model.state_dict().items()})


def _check_close(rt_model, torch_model, rtol=1e-4, atol=1e-5):
    tsd = torch_model.state_dict()
    rsd = rt_model.state_dict()
    assert list(rsd) == list(tsd)
    for k, v in rsd.items():
        np.testing.assert_allclose(v.numpy(), tsd[k].numpy(), rtol=rtol, atol=atol, err_msg=k)


def _check_grads_close(rt_model, torch_model, atol):
    tgrads = {n: p.grad.numpy() for n, p in torch_model.named_parameters()}
    for n, p in rt_model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[n], rtol=1e-4, atol=atol, err_msg=n)


def _twins(which, seed):
    """Model `which` (0: MLP, 1: CNN) of the script in both frameworks, with the same weights."""
    torch_cls, rt_cls = build_models(torch)[which], build_models(reticulum)[which]
    torch.manual_seed(seed)
    tm, rm = torch_cls(), rt_cls()
    _same_weights(rm, tm)
    assert repr(rm) == repr(tm)
    return rm, tm


def _data(seed, shape, classes):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, size=shape[0])


def test_mlp_forward_backward_and_training_match_torch():
    rm, tm = _twins(0, seed=0)
    xv, yv = _data(0, (12, 10), 4)
    xr, xt = reticulum.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    yr, yt = reticulum.tensor(yv), torch.tensor(yv)

    out_r, out_t = rm(xr), tm(xt)
    np.testing.assert_allclose(out_r.detach().numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    loss_r = reticulum.nn.functional.cross_entropy(out_r, yr)
    loss_t = torch.nn.functional.cross_entropy(out_t, yt)
    assert loss_r.item() == pytest.approx(loss_t.item(), rel=1e-5)
    loss_r.backward()
    loss_t.backward()
    np.testing.assert_allclose(xr.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    _check_grads_close(rm, tm, atol=1e-6)

    lr_ = train_steps(reticulum, rm, xr.detach(), yr, reticulum.nn.CrossEntropyLoss())
    lt = train_steps(torch, tm, xt.detach(), yt, torch.nn.CrossEntropyLoss())
    np.testing.assert_allclose(lr_, lt, rtol=1e-4)
    _check_close(rm, tm)


def test_cnn_forward_backward_and_training_match_torch():
    rm, tm = _twins(1, seed=1)
    xv, yv = _data(1, (6, 1, 8, 8), 3)
    xr, xt = reticulum.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    yr, yt = reticulum.tensor(yv), torch.tensor(yv)

    out_r, out_t = rm(xr), tm(xt)  # training mode: batch statistics, running stats updated
    np.testing.assert_allclose(out_r.detach().numpy(), out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    loss_r = reticulum.nn.functional.nll_loss(out_r, yr)
    loss_t = torch.nn.functional.nll_loss(out_t, yt)
    loss_r.backward()
    loss_t.backward()
    np.testing.assert_allclose(xr.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    _check_grads_close(rm, tm, atol=1e-5)
    _check_close(rm, tm)  # includes running_mean / running_var / num_batches_tracked

    lr_ = train_steps(reticulum, rm, xr.detach(), yr, reticulum.nn.NLLLoss())
    lt = train_steps(torch, tm, xt.detach(), yt, torch.nn.NLLLoss())
    np.testing.assert_allclose(lr_, lt, rtol=1e-4)
    _check_close(rm, tm, rtol=1e-4, atol=1e-4)

    rm.eval()
    tm.eval()
    xv2, _ = _data(2, (3, 1, 8, 8), 3)
    with reticulum.no_grad():
        out_r = rm(reticulum.tensor(xv2))
    with torch.no_grad():
        out_t = tm(torch.tensor(xv2))
    np.testing.assert_allclose(out_r.numpy(), out_t.numpy(), rtol=1e-4, atol=1e-4)


def test_dropout_models_agree_in_eval_mode():
    RMLP, RCNN = build_models(reticulum)
    TMLP, TCNN = build_models(torch)
    torch.manual_seed(2)
    for rcls, tcls, shape in [(RMLP, TMLP, (5, 10)), (RCNN, TCNN, (2, 1, 8, 8))]:
        tm, rm = tcls(p_drop=0.5).eval(), rcls(p_drop=0.5).eval()
        _same_weights(rm, tm)
        xv = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(rm(reticulum.tensor(xv)).detach().numpy(), tm(torch.tensor(xv)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
