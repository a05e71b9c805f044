"""F.one_hot, nn.LayerNorm, nn.Embedding, nn.SmoothL1Loss / HuberLoss and optim.lr_scheduler.OneCycleLR against
torch 2.13 (the same weights and data), and their errors on bad input. The functional forms' values and
gradients are compared in test_torch_api_ops.py."""
import numpy as np
import pytest

import reticulum as rt
from reticulum.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def test_one_hot_matches_torch():
    for idx, n in [([0, 2, 1], -1), ([[1, 0], [3, 3]], -1), ([0, 2], 5), ([[]], 3), (4, 6)]:
        got = F.one_hot(rt.tensor(idx, dtype=rt.int64), n)
        ref = TF.one_hot(torch.tensor(idx, dtype=torch.int64), n)
        assert got.dtype == rt.int64 and tuple(got.shape) == tuple(ref.shape), (idx, n)
        assert got.tolist() == ref.tolist(), (idx, n)


def _copy_params(ours, theirs):
    with torch.no_grad():
        for name, p in ours.named_parameters():
            dict(theirs.named_parameters())[name].copy_(torch.tensor(p.detach().numpy()))


@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-2}])
def test_layer_norm_module_matches_torch(kwargs):
    rt.manual_seed(0)
    ours, theirs = rt.nn.LayerNorm((3, 4), **kwargs), torch.nn.LayerNorm((3, 4), **kwargs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for name, p in ours.named_parameters():  # torch's initialisation: weight 1, bias 0
        np.testing.assert_array_equal(p.detach().numpy(), dict(theirs.named_parameters())[name].detach().numpy())
        p.data.uniform_(-1, 1)  # then non-trivial values, so that the affine part is checked
    _copy_params(ours, theirs)
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    xo, xt = rt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    (yo * yo).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), dict(theirs.named_parameters())[name].grad.numpy(), rtol=1e-4, atol=1e-4)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())


def test_embedding_module_matches_torch_and_padding_row_gets_no_gradient():
    rt.manual_seed(0)
    ours = rt.nn.Embedding(6, 3, padding_idx=-2)
    theirs = torch.nn.Embedding(6, 3, padding_idx=-2)
    assert ours.padding_idx == theirs.padding_idx == 4
    assert ours.weight[4].tolist() == [0.0, 0.0, 0.0]  # torch's initialisation zeroes the padding row
    with rt.no_grad():
        ours.weight[4] = 2.0  # a nonzero padding row: its value is still looked up, but not trained
    _copy_params(ours, theirs)
    idx = [[4, 1, 4], [0, 5, 1]]
    yo, yt = ours(rt.tensor(idx)), theirs(torch.tensor(idx))
    assert tuple(yo.shape) == (2, 3, 3)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy())
    (yo * yo).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-6)
    assert ours.weight.grad[4].tolist() == [0.0, 0.0, 0.0]
    frozen = rt.nn.Embedding.from_pretrained(rt.ones(3, 2))
    assert not frozen.weight.requires_grad and frozen(rt.tensor([2])).tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("make", [lambda m: m.SmoothL1Loss(beta=0.5), lambda m: m.SmoothL1Loss(reduction="sum"),
                                  lambda m: m.HuberLoss(delta=0.3), lambda m: m.HuberLoss(reduction="none")])
def test_robust_loss_modules_match_torch(make):
    r = np.random.default_rng(2)
    a, b = r.uniform(-2, 2, (4, 5)), r.uniform(-2, 2, (4, 5))
    got = make(rt.nn)(rt.tensor(a), rt.tensor(b))
    ref = make(torch.nn)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: F.one_hot(rt.tensor([0.0, 1.0])), RuntimeError, ["one_hot", "int64"]),
    (lambda: F.one_hot(rt.tensor([0, -1])), RuntimeError, ["one_hot", "non-negative"]),
    (lambda: F.one_hot(rt.tensor([0, 3]), 3), RuntimeError, ["one_hot", "smaller than num_classes"]),
    (lambda: F.one_hot(rt.tensor([], dtype=rt.int64)), RuntimeError, ["one_hot", "empty"]),
    (lambda: F.pad(rt.ones(2, 3), (1,)), ValueError, ["pad", "divisible by 2"]),
    (lambda: F.pad(rt.ones(3), (1, 1, 1, 1)), ValueError, ["pad", "too large"]),
    (lambda: F.pad(rt.ones(3), (-2, -2)), RuntimeError, ["pad", "negative output size"]),
    (lambda: F.pad(rt.ones(2), (-3, 2)), RuntimeError, ["pad", "negative output size"]),  # crop beyond the input
    (lambda: F.pad(rt.ones(3), (1, 1), mode="reflect"), NotImplementedError, ["pad", "reflect"]),
    (lambda: F.layer_norm(rt.ones(2, 3), (4,)), RuntimeError, ["layer_norm", "[*, 4]", "[2, 3]"]),
    (lambda: F.layer_norm(rt.ones(2, 3), (3,), rt.ones(2)), RuntimeError, ["layer_norm", "weight"]),
    (lambda: F.smooth_l1_loss(rt.ones(2), rt.ones(3)), ValueError, ["smooth_l1_loss", "(2,)", "(3,)"]),
    (lambda: F.smooth_l1_loss(rt.ones(2), rt.ones(2), beta=-1.0), RuntimeError, ["smooth_l1_loss", "beta"]),
    (lambda: F.huber_loss(rt.ones(2), rt.ones(2), delta=0.0), RuntimeError, ["huber_loss", "delta"]),
    (lambda: F.huber_loss(rt.ones(2), rt.ones(2), reduction="avg"), ValueError, ["huber_loss", "reduction"]),
    (lambda: F.embedding(rt.tensor([0, 3]), rt.ones(3, 2)), IndexError, ["embedding", "out of range"]),
    (lambda: F.embedding(rt.tensor([0.0]), rt.ones(3, 2)), RuntimeError, ["embedding", "int64"]),
    (lambda: F.embedding(rt.tensor([0]), rt.ones(3)), RuntimeError, ["embedding", "2-D"]),
    (lambda: rt.nn.Embedding(4, 2, max_norm=1.0), NotImplementedError, ["Embedding", "max_norm"]),
    (lambda: rt.nn.Embedding(4, 2, padding_idx=4), ValueError, ["Embedding", "padding_idx"]),
])
def test_bad_input_names_the_op(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def _schedule(lib, opt_name, steps, **kwargs):
    """The lrs (and momenta / beta1) over `steps` steps of OneCycleLR, two param groups."""
    params = [lib.nn.Parameter(lib.zeros(2)), lib.nn.Parameter(lib.zeros(2))]
    groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5}]
    opt = lib.optim.SGD(groups, lr=0.1, momentum=0.9) if opt_name == "SGD" else lib.optim.Adam(groups, lr=0.1)
    sched = lib.optim.lr_scheduler.OneCycleLR(opt, **kwargs)
    seen = []
    for _ in range(steps):
        seen.append([(g["lr"], g["momentum"] if opt_name == "SGD" else g["betas"]) for g in opt.param_groups])
        opt.step()
        sched.step()
    return seen, sched.get_last_lr()


@pytest.mark.parametrize("opt_name,kwargs", [
    ("SGD", dict(max_lr=1.0, total_steps=20)),
    ("SGD", dict(max_lr=[1.0, 0.3], epochs=3, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear")),
    ("Adam", dict(max_lr=0.01, total_steps=30, three_phase=True, div_factor=10.0, final_div_factor=100.0)),
    ("Adam", dict(max_lr=0.01, total_steps=12, cycle_momentum=False)),
    ("SGD", dict(max_lr=2.0, total_steps=15, base_momentum=[0.8, 0.7], max_momentum=0.99)),
])
def test_one_cycle_lr_matches_torch(opt_name, kwargs):
    steps = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    ours, last = _schedule(rt, opt_name, steps, **kwargs)
    ref, ref_last = _schedule(torch, opt_name, steps, **kwargs)
    for step, (a, b) in enumerate(zip(ours, ref)):
        for (lr, mom), (rlr, rmom) in zip(a, b):
            assert lr == pytest.approx(rlr, rel=1e-12, abs=1e-15), (step, lr, rlr)
            assert np.allclose(mom, rmom, rtol=1e-12, atol=0), (step, mom, rmom)
    assert last == pytest.approx(ref_last, rel=1e-12)


def test_one_cycle_lr_errors_and_overrun():
    opt = rt.optim.SGD([rt.nn.Parameter(rt.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="OneCycleLR.*total_steps OR"):
        rt.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="OneCycleLR.*pct_start"):
        rt.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=1.5)
    with pytest.raises(ValueError, match="OneCycleLR.*momentum or beta1"):
        rt.optim.lr_scheduler.OneCycleLR(rt.optim.Adagrad([rt.nn.Parameter(rt.zeros(1))]), max_lr=1.0, total_steps=5)
    sched = rt.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 4 times"):
        sched.step()


def _train_script(torch, weights):
    """A small PyTorch-style program (embedding bag, layer norm, padding, one-hot targets, 1cycle SGD) that only
    uses `torch.` names; it runs on torch and on reticulum. Returns the losses and the final weights."""
    nn, F = torch.nn, torch.nn.functional

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(7, 4, padding_idx=0)
            self.norm = nn.LayerNorm(4)
            self.head = nn.Linear(4, 3)

        def forward(self, tokens):
            h = self.norm(self.emb(tokens)).mean(1)
            return self.head(h)

    model = Model()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(weights[name]))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=8)
    tokens = F.pad(torch.LongTensor([[1, 2, 3], [4, 5, 6], [2, 2, 1], [6, 3, 5]]), (0, 2))  # right-padded with 0
    target = F.one_hot(torch.tensor([0, 2, 1, 2]), num_classes=3).type(torch.FloatTensor)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.huber_loss(model(tokens), target, delta=0.5) + 0.01 * model.head.weight.norm()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(f"{loss.item():.6f}")
    return losses, {k: v.detach().numpy() for k, v in model.state_dict().items()}


def test_ported_training_script_gives_torch_results():
    r = np.random.default_rng(5)
    weights = {"emb.weight": r.normal(size=(7, 4)), "norm.weight": r.uniform(0.5, 1.5, 4), "norm.bias": r.normal(size=4) * 0.1,
               "head.weight": r.normal(size=(3, 4)) * 0.5, "head.bias": np.zeros(3)}
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    weights["emb.weight"][0] = 0.0
    ours, ours_state = _train_script(rt, weights)
    ref, ref_state = _train_script(torch, weights)
    assert ours == ref
    for name in ref_state:
        np.testing.assert_allclose(ours_state[name], ref_state[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert np.all(ours_state["emb.weight"][0] == 0.0)  # the padding row was never updated
