"""LR schedulers: the lr sequence of every scheduler over 30+ epochs equals torch.optim.lr_scheduler's
(to 1e-12 relative) and a closed form written here; ReduceLROnPlateau against torch over a grid of modes,
thresholds, patience, cooldown and min_lr; get_last_lr; state dict round trips (also through rt.save)."""
import itertools
import math
import warnings

import numpy as np
import pytest

import reticulum as rt
from reticulum.optim import lr_scheduler as S

EPOCHS = 35
BASE_LRS = [0.1, 0.025]


def rt_opt(lrs=BASE_LRS):
    ps = [rt.tensor(np.ones(2), dtype=rt.float64, requires_grad=True) for _ in lrs]
    return rt.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], lr=lrs[0])


def torch_opt(torch, lrs=BASE_LRS):
    ps = [torch.ones(2, dtype=torch.float64, requires_grad=True) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], lr=lrs[0])


def rt_sequence(name, kwargs, epochs=EPOCHS, lrs=BASE_LRS):
    """[lrs at epoch 0, ..., lrs at epoch `epochs`], read from the optimizer's param groups and from get_last_lr."""
    opt = rt_opt(lrs)
    sched = getattr(S, name)(opt, **kwargs)
    seq = []
    for e in range(epochs + 1):
        if e:
            opt.step()
            sched.step()
        group_lrs = [g["lr"] for g in opt.param_groups]
        assert sched.get_last_lr() == group_lrs, f"{name}: get_last_lr() disagrees with the param groups at epoch {e}"
        seq.append(group_lrs)
    return np.array(seq)


def torch_sequence(torch, name, kwargs, epochs=EPOCHS, lrs=BASE_LRS):
    opt = torch_opt(torch, lrs)
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **kwargs)
    seq = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in range(epochs + 1):
            if e:
                opt.step()
                sched.step()
            seq.append([float(g["lr"]) for g in opt.param_groups])
    return np.array(seq)


def _closed_step(b, e, step_size, gamma):
    return b * gamma ** (e // step_size)


def _closed_multistep(b, e, milestones, gamma):
    return b * gamma ** sum(1 for m in milestones if m <= e)


def _closed_exp(b, e, gamma):
    return b * gamma ** e


def _closed_cos(b, e, T_max, eta_min=0.0):
    return eta_min + (b - eta_min) * (1 + math.cos(math.pi * e / T_max)) / 2


def _closed_linear(b, e, start_factor=1 / 3, end_factor=1.0, total_iters=5):
    return b * (start_factor + (end_factor - start_factor) * min(e, total_iters) / total_iters)


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5), lambda b, e: _closed_step(b, e, 3, 0.5)),
    ("StepLR", dict(step_size=7), lambda b, e: _closed_step(b, e, 7, 0.1)),
    ("MultiStepLR", dict(milestones=[20, 5, 12], gamma=0.3), lambda b, e: _closed_multistep(b, e, [5, 12, 20], 0.3)),
    ("MultiStepLR", dict(milestones=[4, 9, 9, 30]), lambda b, e: _closed_multistep(b, e, [4, 9, 9, 30], 0.1)),
    ("ExponentialLR", dict(gamma=0.9), lambda b, e: _closed_exp(b, e, 0.9)),
    ("ExponentialLR", dict(gamma=1.05), lambda b, e: _closed_exp(b, e, 1.05)),
    ("CosineAnnealingLR", dict(T_max=10), lambda b, e: _closed_cos(b, e, 10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.005), lambda b, e: _closed_cos(b, e, 7, 0.005)),
    ("CosineAnnealingLR", dict(T_max=50, eta_min=0.001), lambda b, e: _closed_cos(b, e, 50, 0.001)),
    ("LinearLR", dict(), lambda b, e: _closed_linear(b, e)),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.8, total_iters=12), lambda b, e: _closed_linear(b, e, 0.1, 0.8, 12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=20), lambda b, e: _closed_linear(b, e, 1.0, 0.0, 20)),
]
IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(SCHEDULES)]


def assert_lrs(actual, expected, what):
    assert actual.shape == expected.shape, what
    for e, (a, x) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, x, rtol=1e-12, atol=1e-15, err_msg=f"{what}: epoch {e}")


@pytest.mark.parametrize("name,kwargs,closed", SCHEDULES, ids=IDS)
def test_schedule_matches_closed_form(name, kwargs, closed):
    actual = rt_sequence(name, kwargs)
    expected = np.array([[closed(b, e) for b in BASE_LRS] for e in range(EPOCHS + 1)])
    assert_lrs(actual, expected, f"{name}{kwargs} vs closed form")


@pytest.mark.parametrize("name,kwargs,closed", SCHEDULES, ids=IDS)
def test_schedule_matches_torch(name, kwargs, closed):
    torch = pytest.importorskip("torch")
    actual = rt_sequence(name, kwargs)
    expected = torch_sequence(torch, name, kwargs)
    assert_lrs(actual, expected, f"{name}{kwargs} vs torch")


def test_hand_computed_values():
    np.testing.assert_allclose(rt_sequence("StepLR", dict(step_size=2, gamma=0.5), epochs=6, lrs=[1.0])[:, 0],
                               [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125], rtol=1e-15)
    np.testing.assert_allclose(rt_sequence("MultiStepLR", dict(milestones=[2, 4], gamma=0.1), epochs=5, lrs=[1.0])[:, 0],
                               [1, 1, 0.1, 0.1, 0.01, 0.01], rtol=1e-14)
    np.testing.assert_allclose(rt_sequence("CosineAnnealingLR", dict(T_max=4), epochs=8, lrs=[2.0])[:, 0],
                               [2, 1 + math.sqrt(0.5), 1, 1 - math.sqrt(0.5), 0, 1 - math.sqrt(0.5), 1,
                                1 + math.sqrt(0.5), 2], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(rt_sequence("LinearLR", dict(start_factor=0.25, total_iters=3), epochs=5, lrs=[1.0])[:, 0],
                               [0.25, 0.5, 0.75, 1, 1, 1], rtol=1e-15)


def test_construction_applies_epoch_zero():
    opt = rt_opt([0.4])
    sched = S.LinearLR(opt, start_factor=0.5, total_iters=4)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2, rel=1e-15)
    assert opt.param_groups[0]["initial_lr"] == 0.4
    assert sched.last_epoch == 0
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_scheduled_lr_is_used_by_the_optimizer():
    p = rt.tensor([0.0], dtype=rt.float64, requires_grad=True)
    opt = rt.optim.SGD([p], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    expected = 0.0
    for e in range(6):
        p.grad = rt.tensor([1.0], dtype=rt.float64)
        opt.step()
        expected -= 0.5 ** e
        sched.step()
        assert p.item() == pytest.approx(expected, abs=1e-15)


def test_get_last_lr_returns_a_copy():
    opt = rt_opt()
    sched = S.ExponentialLR(opt, gamma=0.5)
    lrs = sched.get_last_lr()
    lrs[0] = 123.0
    assert sched.get_last_lr() == BASE_LRS
    sched.step()
    assert sched.get_last_lr() == [b * 0.5 for b in BASE_LRS]


def test_two_schedulers_do_not_share_state():
    a, b = rt_opt(), rt_opt([1.0, 2.0])
    sa, sb = S.StepLR(a, step_size=1, gamma=0.5), S.StepLR(b, step_size=1, gamma=0.1)
    sa.step()
    assert sa.get_last_lr() == [0.05, 0.0125]
    assert sb.get_last_lr() == [1.0, 2.0]


@pytest.mark.parametrize("make", [
    lambda o: S.StepLR(o, step_size=0),
    lambda o: S.CosineAnnealingLR(o, T_max=0),
    lambda o: S.LinearLR(o, start_factor=0.0),
    lambda o: S.LinearLR(o, start_factor=1.5),
    lambda o: S.LinearLR(o, end_factor=1.5),
    lambda o: S.LinearLR(o, end_factor=-0.1),
    lambda o: S.ReduceLROnPlateau(o, factor=1.0),
    lambda o: S.ReduceLROnPlateau(o, factor=2.0),
    lambda o: S.ReduceLROnPlateau(o, mode="maximum"),
    lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"),
])
def test_invalid_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make(rt_opt())


def test_reduce_on_plateau_min_lr_list_must_match_group_count():
    # torch: "expected 2 min_lrs, got 1" (ValueError). Silently zipping would never reduce group 2.
    with pytest.raises(ValueError):
        S.ReduceLROnPlateau(rt_opt(), min_lr=[0.001])
    with pytest.raises(ValueError):
        S.ReduceLROnPlateau(rt_opt(), min_lr=[0.001, 0.001, 0.001])


def test_resume_without_initial_lr_raises_key_error():
    with pytest.raises(KeyError):
        S.StepLR(rt_opt(), step_size=2, last_epoch=5)


# ------------------------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("via_file", [False, True], ids=["dict", "rt.save"])
@pytest.mark.parametrize("name,kwargs,closed", SCHEDULES, ids=IDS)
def test_scheduler_state_dict_round_trip(name, kwargs, closed, via_file, tmp_path):
    full = rt_sequence(name, kwargs)
    opt = rt_opt()
    sched = getattr(S, name)(opt, **kwargs)
    seq = [[g["lr"] for g in opt.param_groups]]
    for _ in range(11):
        opt.step()
        sched.step()
        seq.append([g["lr"] for g in opt.param_groups])
    sd, osd = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in sd
    if via_file:
        rt.save({"sched": sd, "opt": osd}, tmp_path / "s.rtc")
        loaded = rt.load(tmp_path / "s.rtc")
        sd, osd = loaded["sched"], loaded["opt"]
    opt2 = rt_opt([7.0, 9.0])  # different lrs: everything must come from the state dicts
    sched2 = getattr(S, name)(opt2, **kwargs)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(sd)
    assert sched2.last_epoch == 11
    assert sched2.get_last_lr() == seq[-1]
    assert sched2.base_lrs == BASE_LRS
    for _ in range(EPOCHS - 11):
        opt2.step()
        sched2.step()
        seq.append([g["lr"] for g in opt2.param_groups])
    np.testing.assert_array_equal(np.array(seq), full)


# ------------------------------------------------------------------------------ ReduceLROnPlateau
def _metrics():
    """60 values with improvements, plateaus, tiny (sub-threshold) improvements and regressions."""
    rng = np.random.default_rng(3)
    out, v = [], 10.0
    for t in range(60):
        phase = (t // 6) % 4
        if phase == 0:
            v -= 0.5 + rng.uniform(0, 0.2)      # clear improvement
        elif phase == 1:
            v *= 1 - 1e-5                         # improves by less than a relative 1e-4 threshold
        elif phase == 2:
            v += rng.uniform(0, 0.05)             # gets worse
        else:
            v -= 0.05                             # improves by an abs 0.05 (the abs-threshold edge)
        out.append(v)
    return out


PLATEAU_GRID = [dict(zip(("mode", "threshold_mode", "threshold", "patience", "cooldown", "min_lr", "factor"), v))
                for v in itertools.product(["min", "max"], ["rel", "abs"], [1e-4, 0.05], [0, 2], [0, 3],
                                           [0.0, 2e-3, [1e-3, 1e-4]], [0.5])]
PLATEAU_GRID += [dict(mode="min", factor=0.1, patience=1, min_lr=[0.01 - 5e-9, 0.0025 - 5e-9], eps=1e-8),  # eps: tiny cut skipped
                 dict(mode="min", factor=0.9, patience=0, cooldown=1, min_lr=1e-3),
                 dict(mode="max", factor=0.0, patience=3)]


def _plateau_pids(h):
    return "-".join(f"{k}={v}" for k, v in h.items())


def _plateau_series(h):
    m = _metrics()
    return [-x for x in m] if h.get("mode") == "max" else m


def rt_plateau(h, metrics, lrs=BASE_LRS):
    opt = rt_opt(lrs)
    sched = S.ReduceLROnPlateau(opt, **h)
    seq = []
    for x in metrics:
        opt.step()
        sched.step(x)
        group_lrs = [g["lr"] for g in opt.param_groups]
        assert sched.get_last_lr() == group_lrs
        seq.append(group_lrs)
    return np.array(seq), sched, opt


@pytest.mark.parametrize("h", PLATEAU_GRID, ids=[_plateau_pids(h) for h in PLATEAU_GRID])
def test_reduce_on_plateau_matches_torch(h):
    torch = pytest.importorskip("torch")
    metrics = _plateau_series(h)
    actual, _, _ = rt_plateau(h, metrics)
    topt = torch_opt(torch)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **h)
    expected = []
    for x in metrics:
        topt.step()
        tsched.step(x)
        expected.append([float(g["lr"]) for g in topt.param_groups])
    expected = np.array(expected)
    assert_lrs(actual, expected, f"ReduceLROnPlateau{h} vs torch")


def test_reduce_on_plateau_grid_exercises_reductions():
    # The metric series really triggers reductions (and not always the same number of them).
    counts = set()
    for h in PLATEAU_GRID:
        seq, _, _ = rt_plateau(h, _plateau_series(h))
        counts.add(int(np.sum(np.diff(seq[:, 0]) != 0)))
    assert len(counts) >= 4 and max(counts) >= 5


def test_reduce_on_plateau_skips_reductions_below_eps():
    opt = rt_opt([0.01])
    sched = S.ReduceLROnPlateau(opt, factor=0.1, patience=0, min_lr=0.01 - 5e-9, eps=1e-8)
    sched.step(1.0)
    sched.step(2.0)
    assert opt.param_groups[0]["lr"] == 0.01


def test_reduce_on_plateau_by_hand():
    opt = rt_opt([1.0])
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, cooldown=1, threshold=0.0, min_lr=0.2)
    lrs = []
    for x in [5, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3]:
        sched.step(x)
        lrs.append(opt.param_groups[0]["lr"])
    # bad epochs: 0,0,1,2->reduce(0.5)+cooldown, cooldown, 1, 2->reduce(0.25), cooldown, 1, improve, 1, 2->reduce(min 0.2)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2]


def test_reduce_on_plateau_max_mode_by_hand():
    opt = rt_opt([1.0])
    sched = S.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.1, threshold_mode="abs")
    lrs = []
    for x in [1.0, 1.2, 1.25, 1.4, 1.3]:  # 1.25 is not > 1.2 + 0.1; 1.3 is not > 1.4 + 0.1
        sched.step(x)
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-15)


def test_reduce_on_plateau_accepts_tensor_metric():
    opt = rt_opt([1.0])
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(rt.tensor(3.0))
    sched.step(rt.tensor(np.float64(3.5)))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


@pytest.mark.parametrize("via_file", [False, True], ids=["dict", "rt.save"])
def test_reduce_on_plateau_state_dict_round_trip(via_file, tmp_path):
    h = dict(mode="min", factor=0.5, patience=2, cooldown=1, threshold=1e-4, min_lr=[1e-3, 1e-4])
    metrics = _metrics()
    full, _, _ = rt_plateau(h, metrics)
    opt = rt_opt()
    sched = S.ReduceLROnPlateau(opt, **h)
    seq = []
    for x in metrics[:20]:
        sched.step(x)
        seq.append([g["lr"] for g in opt.param_groups])
    sd, osd = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in sd
    if via_file:
        rt.save([sd, osd], tmp_path / "p.rtc")
        sd, osd = rt.load(tmp_path / "p.rtc")
    opt2 = rt_opt([5.0, 5.0])
    sched2 = S.ReduceLROnPlateau(opt2)  # default settings: all must come from the state dict
    opt2.load_state_dict(osd)
    sched2.load_state_dict(sd)
    assert sched2.get_last_lr() == seq[-1]
    for x in metrics[20:]:
        sched2.step(x)
        seq.append([g["lr"] for g in opt2.param_groups])
    np.testing.assert_array_equal(np.array(seq), full)


def test_reduce_on_plateau_initial_state_dict_is_serializable(tmp_path):
    # best = +inf before the first step: the checkpoint format must carry it
    sched = S.ReduceLROnPlateau(rt_opt())
    rt.save(sched.state_dict(), tmp_path / "p.rtc")
    sd = rt.load(tmp_path / "p.rtc")
    assert sd["best"] == math.inf and sd["min_lrs"] == [0, 0]
