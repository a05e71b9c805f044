"""Vanishing and exploding gradients in a deep MLP, and two cures.

Backpropagation computes the error signal of layer l from the one above it,
delta_l = phi'(z_l) * (W_{l+1}^T delta_{l+1}), so the signal reaching the first layers is a product
of one factor W^T diag(phi'(z)) per layer above. When these factors shrink vectors the gradient
decays geometrically towards the input (vanishing); when they stretch them it grows geometrically
(exploding). The weight gradient of layer l is delta_l times that layer's input.

Four 16-layer MLPs (15 hidden layers of width 64 + the output layer) on the 8x8 digits, zero biases:
  sigmoid      sigmoid units, weights N(0, 1/n_in): variance-preserving for a linear unit, but the
               sigmoid's slope is at most 1/4, so every layer shrinks the backward signal: vanishing;
  tanh_large   tanh units, too-large weights N(0, 16/n_in): the units saturate on the forward pass
               (activations stay bounded) but the backward factor W^T diag(tanh') still stretches
               vectors (by ~1.5 per layer here): exploding;
  relu_he      ReLU units, He init N(0, 2/n_in): the factor 2 makes up for ReLU zeroing half of its
               inputs, so the backward signal keeps its size on average;
  sigmoid_bn   the sigmoid net with the same init and BatchNorm1d before every sigmoid, which keeps
               the pre-activations in the sigmoid's steep middle part.
Measured: the L2 norm of each Linear layer's weight gradient (cross-entropy, 4 batches of 256) at
initialisation over INIT_SEEDS random initialisations (geometric mean and 95% interval of log10
norm), its per-epoch mean in the last training epoch as recorded by rt.train.GradientMonitor, and
the training loss and test accuracy under the same plain SGD (lr 0.01, momentum 0.9) over several
training seeds.
"""
import math
import time
import warnings

import numpy as np

from .. import manual_seed, nn, optim
from ..train import GradientMonitor, evaluate, fit
from ..utils.data import DataLoader, TensorDataset
from ..vision.datasets import Digits
from ._common import claim, figure, finish, fmt_ci, mean_ci, prepare, threads, verdict, within

NAME = "vanishing_gradients"
DEPTH, WIDTH = 16, 64  # Linear layers in total, hidden width
LR = 0.01
INIT_SEEDS = 10
CONFIGS = {  # name: (label, activation, std of the initial weights times sqrt(n_in), batch norm)
    "sigmoid": ("sigmoid, init N(0, 1/n): vanishing", nn.Sigmoid, 1.0, False),
    "tanh_large": ("tanh, too large init N(0, 16/n): exploding", nn.Tanh, 4.0, False),
    "relu_he": ("ReLU, He init N(0, 2/n)", nn.ReLU, math.sqrt(2.0), False),
    "sigmoid_bn": ("sigmoid, init N(0, 1/n) + batch norm", nn.Sigmoid, 1.0, True),
}
SHORT = {"sigmoid": "sigmoid\nN(0, 1/n)", "tanh_large": "tanh\nN(0, 16/n)", "relu_he": "ReLU\nHe N(0, 2/n)",
         "sigmoid_bn": "sigmoid N(0, 1/n)\n+ batch norm"}
COLORS = {"sigmoid": "tab:red", "tanh_large": "tab:purple", "relu_he": "tab:blue", "sigmoid_bn": "tab:green"}


def build(config):
    """The 16-layer MLP of `config` (see module doc); returns (model, names of its Linear layers)."""
    _, activation, gain, batch_norm = CONFIGS[config]
    layers, linear_names, fan_in = [], [], 64
    for i in range(DEPTH):
        out = 10 if i == DEPTH - 1 else WIDTH
        lin = nn.Linear(fan_in, out)
        nn.init.normal_(lin.weight, 0.0, gain / math.sqrt(fan_in))
        nn.init.zeros_(lin.bias)
        linear_names.append(str(len(layers)))
        layers.append(lin)
        if i < DEPTH - 1:
            if batch_norm:
                layers.append(nn.BatchNorm1d(out))
            layers.append(activation())
        fan_in = out
    return nn.Sequential(*layers), linear_names


def _weight_grad_norms(model, x, y, batches=4):
    """Mean over `batches` batches of 256 of each Linear layer's weight-gradient L2 norm."""
    loss_fn = nn.CrossEntropyLoss()
    lins = [m for m in model if isinstance(m, nn.Linear)]
    sums = np.zeros(len(lins))
    for b in range(batches):
        model.zero_grad()
        xb, yb = x[b * 256:(b + 1) * 256], y[b * 256:(b + 1) * 256]
        loss_fn(model(xb), yb).backward()
        sums += [math.sqrt(float((m.weight.grad.numpy().astype(np.float64) ** 2).sum())) for m in lins]
    model.zero_grad()
    return sums / batches


def log_slope(norms):
    """Least-squares slope of log10(norm) against the layer index (1 = next to the input): the
    decades the gradient norm changes per layer towards the output (< 0: larger near the input)."""
    layers = np.arange(1, len(norms) + 1)
    return float(np.polyfit(layers, np.log10(norms), 1)[0])


def summary(r):
    """Headline numbers of a run() result."""
    c = r["configs"]
    return {"init_log10_first_over_last": {k: v["init_log10_first_over_last"]["mean"] for k, v in c.items()},
            "init_log10_slope_per_layer": {k: v["init_log10_slope"]["mean"] for k, v in c.items()},
            "test_accuracy": {k: v["test_accuracy"]["mean"] for k, v in c.items()},
            "init_seeds": r["setup"]["init_seeds"], "train_seeds": r["setup"]["train_seeds"]}


@threads(1)
def run(out_dir, quick=False):
    """Per-layer gradient norms of deep sigmoid / large-init tanh / ReLU+He / sigmoid+BN MLPs; writes
    vanishing_gradients.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    epochs, train_seeds = (5, 3) if quick else (20, 5)
    train, test = Digits(train=True), Digits(train=False)
    x = train.data.reshape(len(train), 64)
    mean, std = x.mean(dim=0), x.std(dim=0) + 0.1
    x, x_test = (x - mean) / std, (test.data.reshape(len(test), 64) - mean) / std
    y, y_test = train.targets, test.targets
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=512)

    res = {"experiment": NAME, "quick": quick,
           "setup": {"data": "8x8 digits, standardized pixels", "depth": DEPTH, "width": WIDTH,
                     "init_measure": "weight-gradient norm, mean over 4 batches of 256, at initialisation",
                     "init_seeds": INIT_SEEDS, "train_seeds": train_seeds,
                     "training": f"SGD lr {LR} momentum 0.9, batch 64, {epochs} epochs, cross-entropy"},
           "configs": {}}
    for config, (label, *_) in CONFIGS.items():
        init = []
        for seed in range(INIT_SEEDS):
            manual_seed(seed)
            init.append(_weight_grad_norms(build(config)[0], x, y))
        init = np.stack(init)
        log_init = np.log10(init)
        trained, losses, test_acc, caught_all = [], [], [], set()
        for seed in range(train_seeds):
            manual_seed(seed)
            model, names = build(config)
            loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=seed)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                hist = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=LR, momentum=0.9),
                           loader, epochs, callbacks=[GradientMonitor()], verbose=False, seed=seed)
            caught_all |= {str(w.message).split(" in epoch")[0] for w in caught}
            trained.append([hist.grad_norms[n][-1] for n in names])
            losses.append(hist["loss"])
            test_acc.append(evaluate(model, test_loader)["accuracy"])
        trained, losses = np.asarray(trained), np.asarray(losses)
        band = [mean_ci(log_init[:, i]) for i in range(DEPTH)]
        res["configs"][config] = {
            "label": label,
            "init_grad_norms": 10 ** log_init.mean(0),  # geometric mean over the initialisations
            "init_grad_norms_ci95": [[10 ** b["ci95"][0], 10 ** b["ci95"][1]] for b in band],
            "init_log10_first_over_last": mean_ci(log_init[:, 0] - log_init[:, -1]),
            "init_log10_slope": mean_ci([log_slope(n) for n in init]),
            "trained_grad_norms": 10 ** np.log10(trained).mean(0),
            "trained_log10_first_over_last": mean_ci(np.log10(trained[:, 0] / trained[:, -1])),
            "train_loss": losses.mean(0), "train_loss_min": losses.min(0), "train_loss_max": losses.max(0),
            "final_train_loss_per_seed": losses[:, -1],
            "test_accuracy": mean_ci(test_acc), "test_accuracy_per_seed": test_acc,
            "gradient_monitor_warnings": sorted(caught_all),
        }
    claims = _claims(res)
    return finish(out_dir, NAME, res, _plot, t0, summary, claims)


def _claims(r):
    c = r["configs"]
    n_init = r["setup"]["init_seeds"]
    sig, tanh = c["sigmoid"], c["tanh_large"]
    neg = sig["init_log10_first_over_last"]
    out = [claim(f"vanishing: in the sigmoid net the first layer's gradient is more than 1000 times smaller than "
                 f"the last layer's at initialisation (log10 first/last < -3, {n_init} initialisations)",
                 verdict([-neg["ci95"][1], -neg["ci95"][0]], 3.0),
                 f"log10(first/last) {fmt_ci(neg)}"),
           claim("exploding: with too-large initial weights (tanh, N(0, 16/n)) the gradient norm grows towards "
                 "the input, by more than a factor 1.25 per layer (slope of log10 norm vs layer < -0.1)",
                 verdict([-tanh["init_log10_slope"]["ci95"][1], -tanh["init_log10_slope"]["ci95"][0]], 0.1),
                 f"slope {fmt_ci(tanh['init_log10_slope'], digits=3)} decades per layer; log10(first/last) "
                 f"{fmt_ci(tanh['init_log10_first_over_last'])}")]
    for cured in ("relu_he", "sigmoid_bn"):
        d = c[cured]
        out.append(claim(f"{d['label']}: first and last layer gradients stay within a factor 10 at initialisation",
                         within(d["init_log10_first_over_last"]["ci95"], -1.0, 1.0),
                         f"log10(first/last) {fmt_ci(d['init_log10_first_over_last'])}"))
        diff = mean_ci(np.asarray(sig["final_train_loss_per_seed"]) - np.asarray(d["final_train_loss_per_seed"]))
        out.append(claim(f"{d['label']} trains: its final training loss is below the vanishing sigmoid net's "
                         f"by more than 0.5 (same SGD, {r['setup']['train_seeds']} seeds)",
                         verdict(diff["ci95"], 0.5), f"sigmoid minus {cured}: {fmt_ci(diff)}"))
    diff = mean_ci(np.asarray(tanh["final_train_loss_per_seed"]) - np.asarray(c["relu_he"]["final_train_loss_per_seed"]))
    out.append(claim("the exploding net trains worse: its final training loss is above the He-init ReLU net's by "
                     "more than 0.5", verdict(diff["ci95"], 0.5), f"tanh_large minus relu_he: {fmt_ci(diff)}"))
    return out


def _plot(r):
    fig = figure(15, 9.5)
    if fig is None:
        return None
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    layers = np.arange(1, DEPTH + 1)
    c = r["configs"]
    for key, d in c.items():
        ci = np.asarray(d["init_grad_norms_ci95"])
        ax1.fill_between(layers, ci[:, 0], ci[:, 1], color=COLORS[key], alpha=0.25, lw=0)
        ax1.plot(layers, d["init_grad_norms"], "o-", ms=4, color=COLORS[key],
                 label=f"{d['label']}: slope {d['init_log10_slope']['mean']:+.2f} decades/layer")
        ax2.plot(layers, d["trained_grad_norms"], "o-", ms=4, color=COLORS[key], label=d["label"])
    for ax, when in ((ax1, f"at initialisation \n(geometric mean, band: 95% CI over "
                           f"{r['setup']['init_seeds']} initialisations)"),
                     (ax2, f"in the last training epoch\n(GradientMonitor; geometric mean over "
                           f"{r['setup']['train_seeds']} seeds)")):
        ax.set_yscale("log")
        ax.set_xlabel("layer (1 = next to the input, 16 = output layer)")
        ax.set_ylabel("||dL/dW|| (L2 norm, log scale)")
        ax.set_xticks(layers)
        ax.set_title(f"Weight-gradient norm per layer {when}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
    ax1.legend(fontsize=7.5, loc="lower right")
    epochs = np.arange(1, len(c["sigmoid"]["train_loss"]) + 1)
    for key, d in c.items():
        ax3.fill_between(epochs, d["train_loss_min"], d["train_loss_max"], color=COLORS[key], alpha=0.2, lw=0)
        ax3.plot(epochs, d["train_loss"], "o-", ms=3, color=COLORS[key], label=d["label"])
    ax3.axhline(math.log(10), color="0.5", ls="--", lw=1, label="chance level (ln 10)")
    ax3.xaxis.get_major_locator().set_params(integer=True)
    ax3.set_yscale("log")
    ax3.set_xlabel("epoch")
    ax3.set_ylabel("training loss (cross-entropy, log scale)")
    ax3.set_title(f"Training with the same SGD (mean, band: min-max over {r['setup']['train_seeds']} seeds)",
                  fontsize=9)
    ax3.grid(alpha=0.3, which="both")
    ax3.legend(fontsize=7.5, loc="lower left")
    keys = list(c)
    acc = [100 * c[k]["test_accuracy"]["mean"] for k in keys]
    half = [100 * (c[k]["test_accuracy"]["ci95"][1] - c[k]["test_accuracy"]["ci95"][0]) / 2
            if c[k]["test_accuracy"]["ci95"][0] is not None else 0.0 for k in keys]
    ax4.bar(np.arange(len(keys)), acc, yerr=half, capsize=4, color=[COLORS[k] for k in keys])
    for i, (a, h) in enumerate(zip(acc, half)):
        ax4.text(i, a + h + 1.5, f"{a:.1f} +- {h:.1f}", ha="center", fontsize=8)
    ax4.axhline(10, color="0.5", ls="--", lw=1, label="chance (10%)")
    ax4.legend(fontsize=8, loc="upper left")
    ax4.set_xticks(np.arange(len(keys)), [SHORT[k] for k in keys], fontsize=8)
    ax4.set_ylim(0, 110)
    ax4.set_ylabel("test accuracy (%)")
    ax4.set_title(f"Test accuracy after training (mean +- 95% CI over {r['setup']['train_seeds']} seeds)", fontsize=9)
    ax4.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Vanishing and exploding gradients in a {DEPTH}-layer MLP on 8x8 digits, and two cures")
    return fig
