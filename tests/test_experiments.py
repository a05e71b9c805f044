"""The seed experiments (reticulum.experiments), each run once in quick mode: the claimed effect
holds and the JSON (and, with matplotlib, the PNG) is written."""
import importlib
import importlib.util
import json
import os

import pytest

import reticulum as rt
from reticulum import experiments

HAS_MPL = importlib.util.find_spec("matplotlib") is not None
NAMES = ["xor", "bias_variance", "learning_curves", "gd_variants", "vanishing_gradients", "regularization"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            threads = rt.get_num_threads()
            cache[name] = (out, experiments.run(name, out, quick=True))
            assert rt.get_num_threads() == threads  # run() restores the thread count
        return cache[name]
    return get


def test_registry_lists_every_module():
    assert sorted(experiments.EXPERIMENTS) == sorted(NAMES)
    for name in NAMES:
        mod = experiments.get(name.replace("_", "-"))
        assert callable(mod.run) and mod.NAME == name
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.get("nope")


def test_cli_discovers_the_experiments():
    cli = importlib.import_module("reticulum.cli")
    assert {n.replace("_", "-") for n in NAMES} <= set(cli.available_experiments())  # CLI names use dashes


@pytest.mark.parametrize("name", NAMES)
def test_outputs_written(results, name):
    out, res = results(name)
    path = os.path.join(out, name + ".json")
    assert res["json"] == path and os.path.isfile(path)
    with open(path) as f:
        saved = json.load(f)
    assert saved["experiment"] == name and saved["quick"] is True
    assert saved["wall_time_s"] == res["wall_time_s"] > 0
    png = os.path.join(out, name + ".png")
    if HAS_MPL:
        assert res["png"] == png and os.path.getsize(png) > 10_000
    else:
        assert res["png"] is None and not os.path.exists(png) and "matplotlib" in res["plot_note"]


def test_xor_mlp_solves_it_and_linear_cannot(results):
    res = results("xor")[1]
    assert res["mlp"]["train_accuracy"] == 1.0 and res["mlp"]["corner_accuracy"] == 1.0
    assert res["mlp"]["test_accuracy"] >= 0.98
    assert res["mlp"]["hidden_space_margin"] > 0  # linearly separable in the learned space
    assert res["linear"]["corner_accuracy"] <= 0.75 and res["linear"]["train_accuracy"] < 0.8


def test_bias_variance_tradeoff(results):
    res = results("bias_variance")[1]
    bias2, var = res["bias2"], res["variance"]
    assert var[-1] > 10 * var[0] and all(b >= a for a, b in zip(var, var[1:]))  # variance rises with degree
    assert bias2[-1] < 0.05 * bias2[0] and max(bias2[-3:]) < min(bias2[:3])     # bias^2 falls
    # theorem 1: bias^2 + variance + noise matches the measured expected squared error
    for pred, meas in zip(res["expected_error"], res["measured_test_error"]):
        assert pred == pytest.approx(meas, rel=0.02)
    assert 1 < res["best_degree"] < 12  # a sweet spot strictly inside the range
    assert max(res["cg_check_rel_diff"]) < 1e-6  # the rt least-squares solver is exact


def test_learning_curves_gap(results):
    res = results("learning_curves")[1]
    low, high = res["low"]["gap"], res["high"]["gap"]
    assert high[0] > low[0]                      # high capacity overfits more on the smallest set
    assert high[-1] < high[0] and low[-1] < low[0]  # both gaps shrink with more data
    assert res["high"]["test_accuracy"][-1] > res["low"]["test_accuracy"][-1]


def test_gd_variants(results):
    m = results("gd_variants")[1]["methods"]
    for fast in ("Momentum", "Adam"):
        for slow in ("BGD", "MBGD", "SGD"):
            assert m[fast]["late_excess_loss"] < m[slow]["late_excess_loss"], (fast, slow)
    assert m["BGD"]["smoothness"] > 0.99
    assert m["BGD"]["smoothness"] > m["MBGD"]["smoothness"] > m["SGD"]["smoothness"]


def test_vanishing_gradients(results):
    c = results("vanishing_gradients")[1]["configs"]
    assert c["sigmoid"]["init_first_over_last"] < 1e-3
    assert c["sigmoid"]["trained_first_over_last"] < 1e-3
    for cured in ("relu_he", "sigmoid_bn"):
        assert 1e-2 < c[cured]["init_first_over_last"] < 1e2
        assert c[cured]["init_min_over_max"] > 1e-2
        assert c[cured]["train_loss"][-1] < c["sigmoid"]["train_loss"][-1] - 0.5
    assert any("vanishing" in w for w in c["sigmoid"]["gradient_monitor_warnings"])


def test_regularization_reduces_gap(results):
    res = results("regularization")[1]
    v = res["variants"]
    assert v["none"]["train_accuracy"] == 1.0  # the unregularized net memorizes its 100 images
    assert max(res["gap_reduction_vs_none"].values()) > 0.02
    assert min(v[k]["loss_gap"] for k in ("dropout", "l2", "augmentation", "all")) < v["none"]["loss_gap"]


@pytest.mark.parametrize("name", NAMES)
def test_summary_first_and_small(results, name):
    res = results(name)[1]
    assert list(res)[:2] == ["experiment", "summary"]
    assert len(json.dumps(res["summary"])) < 1000
