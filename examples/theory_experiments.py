"""Runs the theory chapter's experiments (reticulum.experiments) and prints their headline numbers.

    python examples/theory_experiments.py                 # lists the experiments
    python examples/theory_experiments.py xor             # one experiment (dashes or underscores)
    python examples/theory_experiments.py all --quick     # every experiment, reduced versions
    python examples/theory_experiments.py bias-variance --out results/

Each writes NAME.json (all numbers) and NAME.png (needs matplotlib: pip install matplotlib) into
--out/NAME (default ./reticulum-experiments/NAME). Same as the CLI: reticulum experiment NAME [--quick].
"""
import argparse
import json
import os

from reticulum import experiments


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
    names = list(experiments.EXPERIMENTS) if args.name == "all" else [experiments.get(args.name).NAME]
    for name in names:
        res = experiments.run(name, os.path.join(args.out, name), quick=args.quick)
        print(f"== {name} ({res['wall_time_s']:.1f}s): {res['json']}" + (f", {res['png']}" if res["png"] else ""))
        print(json.dumps(res["summary"], indent=2))
        if not res["png"]:
            print(res["plot_note"])


if __name__ == "__main__":
    main()
