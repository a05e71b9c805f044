"""The experiments (reticulum.experiments), each run once in quick mode: the JSON (and, with matplotlib,
the PNG) is written, every claim carries a measured verdict, the scientific claims that a quick run can
decide hold, and the error bars are the statistics of the stored repeats."""
import importlib
import importlib.util
import json
import math
import os

import numpy as np
import pytest

import reticulum as rt
from reticulum import experiments
from reticulum.experiments import _common, xor

HAS_MPL = importlib.util.find_spec("matplotlib") is not None
NAMES = ["xor", "bias_variance", "learning_curves", "gd_variants", "vanishing_gradients", "regularization"]
VERDICTS = {"supported", "contradicted", "inconclusive"}


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


def verdicts(res):
    """{claim text: verdict} of a run() result."""
    return {c["claim"]: c["verdict"] for c in res["claims"]}


def verdict_of(res, start):
    """The verdict of the one claim whose text starts with `start`."""
    found = [v for text, v in verdicts(res).items() if text.startswith(start)]
    assert len(found) == 1, (start, list(verdicts(res)))
    return found[0]


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
    assert saved["claims"] == res["claims"]
    png = os.path.join(out, name + ".png")
    if HAS_MPL:
        assert res["png"] == png and os.path.getsize(png) > 10_000
    else:
        assert res["png"] is None and not os.path.exists(png) and "matplotlib" in res["plot_note"]


@pytest.mark.parametrize("name", NAMES)
def test_summary_and_claims_first(results, name):
    res = results(name)[1]
    assert list(res)[:3] == ["experiment", "summary", "claims"]
    assert len(json.dumps(res["summary"])) < 1000
    assert res["claims"] and all(set(c) == {"claim", "verdict", "evidence"} and c["verdict"] in VERDICTS
                                 for c in res["claims"])
    # a quick run says when it is too small to decide a claim
    assert ("quick_note" in res) == any(c["verdict"] == "inconclusive" for c in res["claims"])


# ---------------------------------------------------------------- the statistics


def test_t975_is_the_student_t_quantile():
    # the central 95% of Student's t density lies within +-t975(df): integrate the density numerically
    for df in [*range(1, 31), 31, 45, 60, 120, 1000]:  # the table (3 decimals), then the expansion
        t = _common.t975(df)
        x = np.linspace(-t, t, 400_001)
        log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
        pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(x ** 2 / df))
        area = float(((pdf[1:] + pdf[:-1]) / 2 * np.diff(x)).sum())  # trapezoid rule
        assert area == pytest.approx(0.95, abs=5e-5), df
    with pytest.raises(ValueError, match="df >= 1"):
        _common.t975(0)


def test_mean_ci_and_difference_numbers():
    a = [0.81, 0.84, 0.80, 0.86, 0.83]
    s = _common.mean_ci(a)
    sd = float(np.std(a, ddof=1))
    assert s["n"] == 5 and s["mean"] == pytest.approx(np.mean(a)) and s["std"] == pytest.approx(sd)
    assert s["se"] == pytest.approx(sd / math.sqrt(5))
    assert s["ci95"] == pytest.approx([np.mean(a) - 2.776 * sd / math.sqrt(5), np.mean(a) + 2.776 * sd / math.sqrt(5)])
    one = _common.mean_ci([0.5])
    assert math.isnan(one["se"]) and _common.verdict(one["ci95"]) == "inconclusive"  # no error bar from one run
    b = [0.80, 0.82, 0.79, 0.85, 0.80]
    paired = _common.difference(a, b, paired=True)
    assert paired == _common.mean_ci(np.subtract(a, b))
    welch = _common.difference(a, b, paired=False)  # independent samples: wider than the paired interval here
    assert welch["mean"] == pytest.approx(paired["mean"])
    assert welch["ci95"][1] - welch["ci95"][0] > paired["ci95"][1] - paired["ci95"][0]
    assert _common.verdict([0.1, 0.3]) == "supported" and _common.verdict([-0.3, -0.1]) == "contradicted"
    assert _common.verdict([-0.1, 0.3]) == "inconclusive" and _common.verdict([0.1, 0.3], 0.2) == "inconclusive"
    assert _common.within([0.2, 0.4], 0, 1) == "supported" and _common.within([1.2, 1.4], 0, 1) == "contradicted"
    assert _common.all_of("supported", "inconclusive") == "inconclusive"
    assert _common.all_of("supported", "contradicted", "inconclusive") == "contradicted"


def assert_stats_of(stats, samples):
    """`stats` (a mean_ci dict from a result) is the mean and 95% CI of `samples`. The result's numbers are
    rounded to 6 significant digits (values of order 1 here, so differences of them are off by up to ~1e-6)."""
    ref = _common.mean_ci(samples)
    assert stats["n"] == len(samples) >= 2
    assert stats["mean"] == pytest.approx(ref["mean"], rel=1e-5, abs=2e-6)
    assert stats["ci95"] == pytest.approx(ref["ci95"], rel=1e-5, abs=2e-6)


# ---------------------------------------------------------------- the scientific claims


def test_perceptron_rule():
    w0 = rt.zeros(3, dtype=rt.float64)
    correct, mistakes, weights = xor.perceptron(xor.TARGETS["AND"], w0, [0, 1, 2, 3], epochs=20)
    assert correct[-1] == 4 and not mistakes[-8:].any()  # converged: no more mistakes, no more updates
    assert xor.find_cycle(weights, mistakes)["mistakes_per_period"] == 0  # a fixed point
    w1, w2, b = weights[-1]
    for (x1, x2), t in zip(xor.CORNERS, xor.TARGETS["AND"]):
        assert (w1 * x1 + w2 * x2 + b >= 0) == bool(t)
    correct, mistakes, weights = xor.perceptron(xor.TARGETS["XOR"], w0, [0, 1, 2, 3], epochs=20)
    assert correct.max() <= 3
    cycle = xor.find_cycle(weights, mistakes)
    assert cycle is not None and cycle["mistakes_per_period"] > 0


def test_xor_perceptron_fails_and_mlp_solves_it(results):
    res = results("xor")[1]
    p = res["perceptron"]
    assert p["XOR"]["best_correct"] <= 3 and max(p["XOR"]["best_correct_per_run"]) <= 3  # never 4 of 4
    assert p["XOR"]["runs_cycling"] == p["runs"] >= 10
    assert p["AND"]["runs_solved"] == p["runs"] and min(p["AND"]["final_correct_per_run"]) == 4
    m = res["mlp"]
    assert m["train_accuracy"] == 1.0 and m["corner_accuracy"] == 1.0 and m["test_accuracy"] >= 0.98
    assert m["hidden_space_margin"] > 0  # linearly separable in the learned space
    assert set(verdicts(res).values()) == {"supported"}


def test_bias_variance_tradeoff(results):
    res = results("bias_variance")[1]
    bias2, var = res["bias2"], res["variance"]
    assert var[-1] > 10 * var[0] and all(b >= a for a, b in zip(var, var[1:]))  # variance rises with degree
    assert bias2[-1] < 0.05 * bias2[0] and max(bias2[-3:]) < min(bias2[:3])     # bias^2 falls
    # bias^2 + variance + noise matches the measured expected squared error
    for pred, meas in zip(res["expected_error"], res["measured_test_error"]):
        assert pred == pytest.approx(meas, rel=0.02)
    assert 1 < res["best_degree"] < 12  # a sweet spot strictly inside the range
    assert max(res["cg_check_rel_diff"]) < 1e-6  # the rt least-squares solver is exact
    assert set(verdicts(res).values()) == {"supported"}


def test_learning_curves(results):
    res = results("learning_curves")[1]
    low, high, bayes = res["low"], res["high"], res["bayes"]["accuracy"]
    assert 0.93 < bayes < 0.96 and res["bayes"]["points"] >= 10_000
    for i, n in enumerate(res["sizes"]):  # error bars from the repeats
        for learner in (low, high):
            assert_stats_of(learner["train"][i], learner["train_per_repeat"][i])
            assert_stats_of(learner["test"][i], learner["test_per_repeat"][i])
        # trained to convergence: the high-capacity learner fits its training set at least as well as the
        # best possible classifier does fresh data, at every size
        assert high["train"][i]["ci95"][0] > bayes, n
    assert low["train"][-1]["ci95"][1] < bayes  # the linear learner cannot: high bias
    assert high["test"][-1]["ci95"][0] > low["test"][-1]["ci95"][1]
    assert high["gap"][-1]["mean"] < high["gap"][0]["mean"]
    v = verdicts(res)
    assert verdict_of(res, "the high-capacity learner's training accuracy stays high") == "supported"
    assert verdict_of(res, "with enough data the high-capacity learner generalises better") == "supported"
    assert "contradicted" not in v.values()


def test_gd_variants(results):
    res = results("gd_variants")[1]
    f, z = res["noise_floor"], res["zigzag"]
    assert f["BGD"]["final_distance"] < 1e-3  # full-batch GD converges to the optimum ...
    for name in ("MBGD", "SGD"):              # ... the noisy ones stay at a floor well above it
        s = f[name]
        assert s["floor"]["ci95"][0] > 1e-2 and 0.5 < s["third_over_last_quarter"] < 2, name
        assert_stats_of(s["floor"], s["floor_per_repeat"])
        assert s["floor"]["n"] == res["setup"]["repeats"]
    assert f["SGD"]["floor"]["ci95"][0] > f["MBGD"]["floor"]["ci95"][1]  # the smaller batch, the higher the floor
    assert z["GD"]["smoothness"] < 0.5 < z["Momentum"]["smoothness"]    # momentum cancels the zig-zag
    assert z["Momentum"]["updates_to_converge"] < z["GD"]["updates_to_converge"]
    assert set(verdicts(res).values()) == {"supported"}


def test_vanishing_and_exploding_gradients(results):
    res = results("vanishing_gradients")[1]
    c = res["configs"]
    assert c["sigmoid"]["init_log10_first_over_last"]["ci95"][1] < -3  # vanishing towards the input
    explode = np.asarray(c["tanh_large"]["init_grad_norms"])
    assert np.all(np.diff(explode[:13]) < 0)  # grows at every layer from layer 13 back to the input
    assert c["tanh_large"]["init_log10_slope"]["ci95"][1] < -0.1 and explode[0] > 100 * explode[-1]
    for cured in ("relu_he", "sigmoid_bn"):
        assert -1 < c[cured]["init_log10_first_over_last"]["ci95"][0] < c[cured]["init_log10_first_over_last"]["ci95"][1] < 1
        assert max(c[cured]["final_train_loss_per_seed"]) < min(c["sigmoid"]["final_train_loss_per_seed"]) - 0.5
        assert_stats_of(c[cured]["test_accuracy"], c[cured]["test_accuracy_per_seed"])
    assert any("vanishing" in w for w in c["sigmoid"]["gradient_monitor_warnings"])
    assert c["sigmoid"]["init_log10_first_over_last"]["n"] == res["setup"]["init_seeds"] >= 10
    assert set(verdicts(res).values()) == {"supported"}


def test_regularization(results):
    res = results("regularization")[1]
    v = res["variants"]
    assert min(v["none"]["train_accuracy_per_repeat"]) == 1.0  # the unregularized net memorizes its 100 images
    for key in ("dropout", "l2", "augmentation", "all"):  # the effects are paired differences over the repeats
        d = v[key]
        assert_stats_of(d["test_accuracy_change"],
                        np.subtract(d["test_accuracy_per_repeat"], v["none"]["test_accuracy_per_repeat"]))
        assert_stats_of(d["test_accuracy"], d["test_accuracy_per_repeat"])
    assert v["augmentation"]["loss_gap_change"]["ci95"][1] < 0  # augmentation shrinks the loss gap
    assert verdict_of(res, "without regularization the net memorizes") == "supported"
    assert verdict_of(res, "data augmentation shrinks the generalization gap in loss") == "supported"
    assert "contradicted" not in verdicts(res).values()
