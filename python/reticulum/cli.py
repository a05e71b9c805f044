"""The ``reticulum`` command line: train, evaluate and experiment.

    reticulum train                       # CNN on the built-in 8x8 digits, ~99% test accuracy in seconds
    reticulum train --dataset mnist --data-root ~/data/mnist --download --model lenet --epochs 5
    reticulum evaluate reticulum-run/checkpoint.rtc
    reticulum experiment                  # lists the experiments; reticulum experiment NAME runs one
    mpirun -np 2 reticulum train          # data-parallel over 2 processes (needs reticulum[mpi])
"""
import argparse
import importlib
import json
import math
import os
import sys
import time
import warnings

__all__ = ["main", "build_parser", "available_experiments"]

DATASETS = ("digits", "mnist", "fashion-mnist")
MODEL_NAMES = ("mlp", "lenet", "cnn-bn")
OPTIMIZERS = ("sgd", "adam", "adamw")
DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3}
CHECKPOINT_NAME = "checkpoint.rtc"


class CLIError(Exception):
    """A user-facing error: printed as 'reticulum: error: ...' with exit status 2."""


class TrainingDiverged(Exception):
    """The loss or a gradient went non-finite: printed as an error, exit status 1."""


# ---------------------------------------------------------------- data

DEFAULT_DATA_ROOT = "data"


def _data_root(dataset, root):
    """The absolute data folder for `dataset` (None for the built-in digits)."""
    if dataset == "digits":
        if root is not None:
            raise CLIError("--data-root is only read for mnist and fashion-mnist; the digits are built in")
        return None
    return os.path.abspath(os.path.expanduser(root if root is not None else DEFAULT_DATA_ROOT))


def _load_dataset(name, root, train, download=False):
    from .vision import datasets
    if name == "digits":
        return datasets.Digits(train=train)
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        return cls(root, train=train, download=download)
    except FileNotFoundError as e:
        raise CLIError(f"{e} With the command line: --download.") from None


# What makes two runs the same run: --resume continues only with these unchanged.
RUN_ARGS = ("dataset", "data_root", "model", "epochs", "batch_size", "lr", "optimizer", "augment", "seed", "val_fraction")


def _check_run_folder(args, run):
    """Refuses to overwrite a previous run unless asked; returns the checkpoint to resume from, or None."""
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out} is a file; give a folder for the checkpoint, history and plot")
    ckpt_path = os.path.join(args.out, CHECKPOINT_NAME)
    if not os.path.exists(ckpt_path):
        if args.resume:
            raise CLIError(f"--resume: {args.out} holds no checkpoint ({CHECKPOINT_NAME}) to continue from")
        return None
    if args.force:
        return None
    from .train import load_checkpoint
    try:
        ckpt = load_checkpoint(ckpt_path)
    except (ValueError, OSError) as e:
        raise CLIError(f"{ckpt_path} exists but cannot be read ({e}); start over with --force or choose another --out")
    if not args.resume:
        raise CLIError(f"{args.out} already holds a run (checkpoint after epoch {ckpt.get('epoch')}). Continue it with "
                       f"--resume, start over with --force, or choose another --out")
    saved = (ckpt.get("extra") or {}).get("run")
    if not isinstance(saved, dict):
        raise CLIError(f"{ckpt_path} does not record its run's arguments (written by an older reticulum); "
                       "start over with --force")
    saved.setdefault("processes", 1)  # runs saved before data-parallel training had one process
    changed = [f"--{k.replace('_', '-')} {saved.get(k)!r} -> {run[k]!r}" for k in RUN_ARGS + ("processes",)
               if saved.get(k) != run[k]]
    if changed:
        raise CLIError("--resume continues a run with the same arguments; these differ from the saved run: "
                       + ", ".join(changed))
    return ckpt_path


def _augmentation(image_size):
    from .vision import transforms
    if image_size <= 12:  # 8x8 digits: small rotations/scales and 1-pixel shifts
        return transforms.RandomAffine(degrees=10, translate=(0.125, 0.125), scale=(0.9, 1.1))
    return transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))


def _launcher_world_size():
    """How many processes the MPI launcher (mpirun/mpiexec) started this one among; 1 without one."""
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):  # Open MPI; MPICH and Intel MPI
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def _shard(dataset, rank, world):
    """Rank `rank`'s share of an evaluation set: every world-th sample from `rank`, no padding, so that the
    summed results count each sample once."""
    from .utils.data import Subset
    return dataset if world == 1 else Subset(dataset, range(rank, len(dataset), world))


def _loaders(args, normalize, train_set, seed, rank=0, world=1):
    from .utils.data import DataLoader, DistributedSampler, random_split
    from .vision import transforms
    full = train_set.as_tensor_dataset()
    val = None
    if args.val_fraction > 0:
        n_val = int(round(len(full) * args.val_fraction))
        if n_val < 1 or n_val >= len(full):
            raise CLIError(f"--val-fraction {args.val_fraction} leaves no training or validation samples")
        train_part, val_part = random_split(full, [len(full) - n_val, n_val], seed=seed)
        val = DataLoader(_shard(val_part, rank, world), batch_size=512, transform=normalize)
    else:
        train_part = full
    t = normalize
    if args.augment:
        t = transforms.Compose([_augmentation(full.tensors[0].shape[-1]), normalize])
    if world == 1:
        train = DataLoader(train_part, batch_size=args.batch_size, shuffle=True, seed=seed, transform=t)
    else:
        sampler = DistributedSampler(train_part, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        train = DataLoader(train_part, batch_size=args.batch_size, sampler=sampler, seed=seed, transform=t)
    return train, val


# ---------------------------------------------------------------- commands

def _make_optimizer(name, params, lr):
    from . import optim
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if name == "adam":
        return optim.Adam(params, lr=lr)
    return optim.AdamW(params, lr=lr, weight_decay=1e-2)


def cmd_train(args):
    import reticulum as rt
    from . import models, nn, optim
    from .train import GradientMonitor, ModelCheckpoint, evaluate, fit
    from .vision import transforms

    t_start = time.perf_counter()
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be >= 1, got {args.threads}")
        rt.set_num_threads(args.threads)
    if args.epochs < 1 or args.batch_size < 1:
        raise CLIError("--epochs and --batch-size must be >= 1")
    if not 0 <= args.val_fraction < 1:
        raise CLIError(f"--val-fraction must lie in [0, 1), got {args.val_fraction}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise CLIError(f"--lr must be a positive finite number, got {args.lr}")
    if args.resume and args.force:
        raise CLIError("--resume and --force contradict each other: continue the run, or start it over")
    try:
        device = rt.device(args.device)
    except (ValueError, RuntimeError) as e:  # not a device name / a device this build does not have
        raise CLIError(f"--device {args.device}: {e}") from None
    if device.type == "cuda" and not rt.cuda.is_available():
        raise CLIError(f"--device {args.device}: " + ("no CUDA device was found" if rt.cuda.is_built() else rt.cuda.NOT_BUILT))
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    data_root = _data_root(args.dataset, args.data_root)
    world, rank = _launcher_world_size(), 0
    if world > 1:  # data-parallel: one rank of an mpirun job
        from . import distributed as dist
        try:
            dist.init_process_group(backend="mpi")
        except RuntimeError as e:
            raise CLIError(f"started by an MPI launcher with {world} processes, but {e}") from None
        rank = dist.get_rank()
    say = (lambda *a: None) if args.quiet or rank != 0 else print
    run = {k: getattr(args, k) for k in RUN_ARGS}
    run.update(data_root=data_root, lr=lr, processes=world)

    rt.manual_seed(args.seed)
    if args.download and args.dataset == "digits":
        raise CLIError("--download is for mnist and fashion-mnist; the digits are built in")
    train_set = _load_dataset(args.dataset, data_root, True, args.download)
    test_set = _load_dataset(args.dataset, data_root, False)
    resume_from = _check_run_folder(args, run)
    images = train_set.as_tensor_dataset().tensors[0]  # float32 [N, C, H, W] in [0, 1]
    pixels = images.numpy()
    mean, std = float(pixels.mean()), float(pixels.std())
    normalize = transforms.Normalize((mean,), (std,))
    train_loader, val_loader = _loaders(args, normalize, train_set, args.seed, rank, world)

    _, c, h, w = images.shape
    config = {"model": args.model, "in_channels": int(c), "image_size": [int(h), int(w)],
              "num_classes": len(train_set.classes), "dataset": args.dataset, "data_root": data_root,
              "mean": mean, "std": std, "run": run}
    model = models.get_model(args.model, in_channels=config["in_channels"], image_size=(h, w),
                             num_classes=config["num_classes"])
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = _make_optimizer(args.optimizer, model.parameters(), lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()

    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, CHECKPOINT_NAME)
    n_params = sum(p.numel() for p in model.parameters())
    n_val = len(val_loader.dataset) * world if val_loader else 0  # about: each rank holds its share
    procs = f" per process x {world} processes" if world > 1 else ""
    say(f"Training {args.model} ({n_params:,} parameters) on {args.dataset}: {len(train_loader.dataset)} train / "
        f"{n_val} validation / {len(test_set)} test images, "
        f"{args.epochs} epochs, {args.optimizer} lr {lr:g}, batch size {args.batch_size}{procs}, "
        f"{rt.get_num_threads()} thread(s)" + ("" if device.type == "cpu" else f", on {device}"))
    # Checks every batch's gradients before the optimizer step (1-3% of a step), so a diverging run stops
    # with the layer named instead of training on NaN.
    monitor = GradientMonitor(every=50)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="GradientMonitor stopped training")  # reported below, as an error
        history = fit(model, loss_fn, optimizer, train_loader, args.epochs, val_loader=val_loader, scheduler=scheduler,
                      callbacks=[monitor, ModelCheckpoint(ckpt_path, extra=config)], verbose=not args.quiet,
                      seed=args.seed, resume_from=resume_from, device=device)
    if monitor.stop_training:
        raise TrainingDiverged(f"{monitor.stop_reason}. The parameters before that step are in {ckpt_path}; "
                               f"try a smaller --lr (this run used {lr:g})")
    train_time = sum(history["epoch_time"])

    from .utils.data import DataLoader
    test_loader = DataLoader(_shard(test_set.as_tensor_dataset(), rank, world), batch_size=512, transform=normalize)
    result = evaluate(model, test_loader, ("accuracy",), loss_fn, device, distributed=world > 1)
    if rank != 0:
        return 0
    history.to_json(os.path.join(args.out, "history.json"))
    print(f"Test accuracy: {100 * result['accuracy']:.2f}% (loss {result['loss']:.4f}, {len(test_set)} images)")
    plot_path = os.path.join(args.out, "learning_curves.png")
    try:
        history.plot(plot_path, title=f"{args.model} on {args.dataset}")
        plotted = plot_path
    except ImportError as e:
        plotted = None
        say(f"Learning curves not plotted: {e}")
    say(f"Checkpoint: {ckpt_path}   history: {os.path.join(args.out, 'history.json')}"
        + (f"   learning curves: {plotted}" if plotted else ""))
    say(f"Training time {train_time:.1f}s, total {time.perf_counter() - t_start:.1f}s")
    return 0


def cmd_evaluate(args):
    import reticulum as rt
    from . import models, nn
    from .train import evaluate, load_checkpoint
    from .utils.data import DataLoader
    from .vision import transforms

    if args.threads is not None:
        rt.set_num_threads(args.threads)
    if not os.path.isfile(args.checkpoint):
        raise CLIError(f"no such checkpoint file: {args.checkpoint}")
    ckpt = load_checkpoint(args.checkpoint)
    config = ckpt.get("extra")
    if not isinstance(config, dict) or "model" not in config:
        raise CLIError(f"{args.checkpoint} has no model configuration (it was not written by `reticulum train`)")
    dataset = args.dataset or config["dataset"]
    data_root = args.data_root
    if data_root is None and dataset == config["dataset"]:
        data_root = config.get("data_root")  # where the model was trained from
    model = models.get_model(config["model"], in_channels=config["in_channels"],
                             image_size=tuple(config["image_size"]), num_classes=config["num_classes"])
    model.load_state_dict(ckpt["model"])
    test_set = _load_dataset(dataset, _data_root(dataset, data_root), False)
    test_data = test_set.as_tensor_dataset()
    if tuple(test_data.tensors[0].shape[1:]) != (config["in_channels"], *config["image_size"]):
        raise CLIError(f"the checkpoint's model takes {config['in_channels']}x{config['image_size'][0]}x"
                       f"{config['image_size'][1]} images, --dataset {dataset} has {tuple(test_data.tensors[0].shape[1:])}")
    normalize = transforms.Normalize((config["mean"],), (config["std"],))
    loader = DataLoader(test_data, batch_size=args.batch_size, transform=normalize)
    result = evaluate(model, loader, ("accuracy",), nn.CrossEntropyLoss())
    print(f"{config['model']} after epoch {ckpt['epoch']} on the {dataset} test set ({len(test_set)} images): "
          f"loss {result['loss']:.4f}, accuracy {100 * result['accuracy']:.2f}%")
    return 0


def _experiments():
    return importlib.import_module(".experiments", __package__)


def available_experiments():
    """The experiments of reticulum.experiments.EXPERIMENTS, by their command-line names (dashes)."""
    return [name.replace("_", "-") for name in _experiments().EXPERIMENTS]


def cmd_experiment(args):
    experiments = _experiments()
    names = available_experiments()
    if args.name is None or args.list:
        print("Available experiments:\n" + "\n".join(f"  {n.replace('_', '-'):20s} {what}" for n, what in experiments.EXPERIMENTS.items()))
        return 0
    key = args.name.replace("_", "-")
    if key not in names:
        raise CLIError(f"unknown experiment '{args.name}' (available: {', '.join(names)})")
    out = args.out or os.path.join("reticulum-experiments", key)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    result = experiments.run(key.replace("-", "_"), out, quick=args.quick)
    if isinstance(result, dict):  # the headline numbers and the claims' verdicts; all numbers are in the JSON file
        print(json.dumps(result.get("summary", result), indent=2, default=str))
        for c in result.get("claims", ()):
            print(f"[{c['verdict']}] {c['claim']}: {c['evidence']}")
        if "quick_note" in result:
            print(result["quick_note"])
    elif result is not None:
        print(result)
    print(f"Experiment {key} finished in {time.perf_counter() - t0:.1f}s; outputs in {out}")
    return 0


# ---------------------------------------------------------------- parser

def build_parser():
    from . import __version__
    p = argparse.ArgumentParser(prog="reticulum", description="reticulum: train and evaluate models, run experiments.")
    p.add_argument("--version", action="version", version=f"reticulum {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: a CNN on the built-in 8x8 digits)",
                       description="Train an image classifier, print its test accuracy and write a checkpoint, the "
                                   "history (JSON) and learning curves (PNG, needs reticulum[plot]) into --out.")
    t.add_argument("--dataset", choices=DATASETS, default="digits", help="data set (default: digits, built in)")
    t.add_argument("--data-root", default=None,
                   help=f"folder with the IDX files for mnist / fashion-mnist (default: ./{DEFAULT_DATA_ROOT})")
    t.add_argument("--download", action="store_true",
                   help="download mnist / fashion-mnist into --data-root if the files are missing (checked by md5)")
    t.add_argument("--model", choices=MODEL_NAMES, default="cnn-bn", help="architecture (default: cnn-bn)")
    t.add_argument("--epochs", type=int, default=10, help="number of epochs (default: 10)")
    t.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    t.add_argument("--lr", type=float, default=None,
                   help="peak learning rate, cosine-annealed to 0 (default: 0.05 for sgd, 3e-3 for adam/adamw)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer (default: adam)")
    t.add_argument("--augment", action="store_true", help="random affine augmentation (rotation, shift, scale)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: the library default)")
    t.add_argument("--device", default="cpu", help="where to train: cpu, cuda or cuda:N (a CUDA build; default: cpu)")
    t.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of the training set held out for validation (default: 0.1; 0 disables)")
    t.add_argument("--out", default="reticulum-run", help="output folder (default: ./reticulum-run)")
    t.add_argument("--quiet", action="store_true", help="no progress output, only the test accuracy")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint (same arguments), exactly as if never stopped")
    t.add_argument("--force", action="store_true", help="start over, overwriting the run already in --out")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a checkpoint written by `reticulum train` on a test set")
    e.add_argument("checkpoint", help="checkpoint file (e.g. reticulum-run/checkpoint.rtc)")
    e.add_argument("--dataset", choices=DATASETS, default=None, help="test set (default: the one trained on)")
    e.add_argument("--data-root", default=None, help="folder with the IDX files for mnist / fashion-mnist")
    e.add_argument("--batch-size", type=int, default=512, help="batch size (default: 512)")
    e.add_argument("--threads", type=int, default=None, help="CPU threads (default: the library default)")
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("experiment", help="run an experiment from reticulum.experiments (no name: list them)")
    x.add_argument("name", nargs="?", default=None, help="experiment name")
    x.add_argument("--list", action="store_true", help="list the available experiments")
    x.add_argument("--out", default=None, help="output folder (default: ./reticulum-experiments/NAME)")
    x.add_argument("--quick", action="store_true", help="a fast, reduced version of the experiment")
    x.set_defaults(func=cmd_experiment)
    return p


def main(argv=None):
    """Entry point of the `reticulum` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except CLIError as e:
        print(f"reticulum {args.command}: error: {e}", file=sys.stderr)
        return _stop_job(2)
    except (FileNotFoundError, ValueError, TrainingDiverged) as e:
        print(f"reticulum {args.command}: error: {e}", file=sys.stderr)
        return _stop_job(1)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _stop_job(status):
    """The exit status of a failed command; in a data-parallel job the whole job is aborted instead, since the
    other ranks would wait for this one in their next collective."""
    from . import distributed as dist
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist._abort(status)
    return status
