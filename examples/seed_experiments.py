"""Runs the seed-chapter experiments of reticulum.experiments and prints their key numbers.

    python examples/seed_experiments.py                 # lists the experiments
    python examples/seed_experiments.py xor             # one experiment (dashes or underscores)
    python examples/seed_experiments.py all --quick     # every experiment, reduced versions
    python examples/seed_experiments.py bias-variance --out results/

Each writes NAME.json (all numbers) and NAME.png (needs matplotlib: pip install matplotlib) into
--out (default ./reticulum-experiments/NAME). Same as the CLI: reticulum experiment NAME [--quick].
"""
import argparse
import os

from reticulum import experiments

SUMMARY = {
    "xor": lambda r: (f"2-2-1 MLP: train {r['mlp']['train_accuracy']:.0%}, test {r['mlp']['test_accuracy']:.1%} "
                      f"({r['mlp']['starts_needed']} start(s)); logistic regression: train "
                      f"{r['linear']['train_accuracy']:.0%}"),
    "bias_variance": lambda r: (f"degree 1 -> 12: bias^2 {r['bias2'][0]:.3g} -> {r['bias2'][-1]:.3g}, variance "
                                f"{r['variance'][0]:.3g} -> {r['variance'][-1]:.3g}; best degree {r['best_degree']}"),
    "learning_curves": lambda r: (f"gap at n={r['sizes'][0]}: linear {r['low']['gap'][0]:+.1%}, MLP "
                                  f"{r['high']['gap'][0]:+.1%}; at n={r['sizes'][-1]}: linear "
                                  f"{r['low']['gap'][-1]:+.1%}, MLP {r['high']['gap'][-1]:+.1%}"),
    "gd_variants": lambda r: "excess loss after the same updates: " + ", ".join(
        f"{k} {v['late_excess_loss']:.2g}" for k, v in r["methods"].items()),
    "vanishing_gradients": lambda r: "first/last layer gradient norm at init: " + ", ".join(
        f"{k} {v['init_first_over_last']:.1e}" for k, v in r["configs"].items()),
    "regularization": lambda r: "train-test accuracy gap: " + ", ".join(
        f"{k} {v['accuracy_gap']:.1%}" for k, v in r["variants"].items()),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", help="experiment name, or 'all'")
    p.add_argument("--quick", action="store_true", help="reduced version (seconds)")
    p.add_argument("--out", default="reticulum-experiments", help="output folder (one subfolder per experiment)")
    args = p.parse_args(argv)
    if args.name is None:
        for name, what in experiments.EXPERIMENTS.items():
            print(f"  {name.replace('_', '-'):20s} {what}")
        return
    names = list(experiments.EXPERIMENTS) if args.name == "all" else [args.name.replace("-", "_")]
    for name in names:
        res = experiments.run(name, os.path.join(args.out, name), quick=args.quick)
        print(f"{name}: {SUMMARY[name](res)}  [{res['wall_time_s']:.1f}s, {res['json']}"
              + (f", {res['png']}]" if res["png"] else f"]\n  {res['plot_note']}"))


if __name__ == "__main__":
    main()
