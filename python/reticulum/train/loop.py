"""fit() and evaluate(): the training loop, checkpoint state and exact resumption.

Reproducibility and resuming: reticulum's global generator has no get/set-state API, so fit()
re-seeds it at the start of every epoch with a seed derived from (seed, epoch), and sets the train
loader's epoch (``DataLoader.set_epoch``). Everything random inside an epoch (shuffling, dropout,
augmentation) is then a function of (seed, epoch), and a run resumed from a checkpoint of epoch k
draws exactly what the uninterrupted run drew from epoch k+1 on. `seed` defaults to a value drawn
from the global generator when fit starts (so ``rt.manual_seed`` decides it) and is stored in every
checkpoint; NumPy's and Python's global generator states are checkpointed and restored as well.
Bit-identical results additionally need a deterministic kernel schedule: ``rt.set_num_threads(1)``.

Data-parallel runs (``mpirun -np N``, with reticulum.distributed initialized and the model wrapped in
DistributedDataParallel): every rank runs fit on its share of the data (DistributedSampler); the losses and
metrics are summed over ranks before they are logged, so every rank's History holds the whole job's; only
rank 0 shows progress and writes checkpoints; a callback that stops training on any rank stops every rank
at the same batch. Checkpoints hold the wrapped model's state (no ``module.`` prefix), so a run can be
resumed with another number of processes, or evaluated by a single one.
"""
import hashlib
import os
import random
import time

import numpy as np

from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad
from ..nn import BCELoss
from ..nn.utils import clip_grad_norm_
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..serialization import load, save
from .callbacks import Callback
from .history import History
from .metrics import get_metric
from .progress import ProgressBar

__all__ = ["fit", "evaluate", "Trainer", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "reticulum.train.checkpoint/1"


def _epoch_seed(seed, epoch):
    digest = hashlib.sha256(f"reticulum.fit:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _draw_seed():
    return int(_C.randint(0, 2 ** 62, (1,), _C.dtype.int64).item())


def _unpack(batch, where, device=None):
    """(inputs, targets) of a batch, moved to `device` when one is given."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        if device is None:
            return batch[0], batch[1]
        return tuple(v.to(device) if isinstance(v, Tensor) else v for v in batch)
    kind = f"a {type(batch).__name__} of length {len(batch)}" if isinstance(batch, (tuple, list)) else \
        f"a {type(batch).__name__}"
    raise TypeError(f"{where}: each batch must be an (inputs, targets) pair, got {kind}")


def _batch_size(x):
    return x.shape[0] if isinstance(x, Tensor) and x.ndim else 1


def _loss_value(loss, where):
    if not isinstance(loss, Tensor):
        raise TypeError(f"{where}: loss_fn must return a Tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"{where}: loss_fn must return a scalar, got shape {tuple(loss.shape)} "
                         "(use reduction='mean')")
    return loss.item()


def _job():
    """The default process group's module when this process is one rank of several, else None."""
    from .. import distributed as dist
    return dist if dist.is_initialized() and dist.get_world_size() > 1 else None


def _sum_over_ranks(job, values):
    """The floats `values`, each summed over all ranks (one all-reduce)."""
    t = _C.from_numpy(np.asarray(values, dtype=np.float64))
    job.all_reduce(t)
    return t.numpy().tolist()


def _reduce_metrics(job, sums, metric_objs):
    """Sums `sums` (loss sum, sample count, ...) and every metric's total and count over the ranks."""
    flat = list(sums) + [v for m in metric_objs for v in (m.total, m.count)]
    flat = _sum_over_ranks(job, flat)
    for j, m in enumerate(metric_objs):
        m.total, m.count = flat[len(sums) + 2 * j], int(flat[len(sums) + 2 * j + 1])
    return flat[:len(sums)]


def _unwrapped(model):
    """The model itself, or the one a DistributedDataParallel wraps."""
    from ..nn.parallel import DistributedDataParallel
    return model.module if isinstance(model, DistributedDataParallel) else model


def _from_logits(loss_fn):
    return not isinstance(loss_fn, BCELoss)


def _metric_objects(metrics, loss_fn):
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    objs = [get_metric(m, from_logits=_from_logits(loss_fn)) for m in (metrics or ())]
    names = [m.name for m in objs]
    dup = {n for n in names if names.count(n) > 1 or n in ("loss", "lr", "epoch_time")}
    if dup:
        raise ValueError(f"metric names must be unique and not 'loss', 'lr' or 'epoch_time'; got {names}")
    return objs


def evaluate(model, loader, metrics=("accuracy",), loss_fn=None, device=None, distributed=False):
    """Runs `model` in eval mode without gradients over `loader` ((inputs, targets) batches), each moved to
    `device` when one is given (the model must be there already).

    Returns {"loss": mean loss (when loss_fn is given, a mean-reduced loss), <metric name>: value, ...},
    averaged over samples. The model's train/eval mode is restored afterwards.
    distributed: each rank evaluates its own part of the data and the results are averaged over all of
    them (every rank of the default process group must call evaluate; a metric is combined through its
    total and count).
    """
    objs = _metric_objects(metrics, loss_fn)
    was_training = model.training
    model.eval()
    loss_sum, n = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                x, y = _unpack(batch, "evaluate", device)
                out = model(x)
                bs = _batch_size(x)
                if loss_fn is not None:
                    loss_sum += _loss_value(loss_fn(out, y), "evaluate") * bs
                for m in objs:
                    m.update(out, y)
                n += bs
    finally:
        model.train(was_training)
    job = _job() if distributed else None
    if job is not None:
        loss_sum, n = _reduce_metrics(job, (loss_sum, n), objs)
    if n == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    results = {}
    if loss_fn is not None:
        results["loss"] = loss_sum / n
    for m in objs:
        results[m.name] = m.compute()
    return results


class Trainer:
    """The state of a running fit(), as seen by callbacks (``callback.trainer``).

    Attributes: model, loss_fn, optimizer, scheduler, history, epochs (target), epoch (current,
    from 1), seed, has_validation, resumed (whether this run continues a checkpoint).
    """

    def __init__(self, model, loss_fn, optimizer, scheduler, epochs, seed, has_validation, callbacks, progress):
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.epochs, self.seed, self.has_validation = epochs, seed, has_validation
        self.callbacks, self.progress = callbacks, progress
        self.history = History()
        self.epoch = 0
        self.resumed = False

    def stopping(self):
        """Whether a callback has asked to stop training."""
        return any(cb.stop_training for cb in self.callbacks)

    def log(self, text):
        """Prints a message through the progress display (nothing when fit is quiet)."""
        self.progress.message(text)

    def _callback_keys(self):
        return [f"{i}:{type(cb).__name__}" for i, cb in enumerate(self.callbacks)]

    def state_dict(self, extra=None):
        """The checkpoint dict: everything fit(resume_from=...) needs to continue this run."""
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "model": _unwrapped(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "history": self.history.to_dict(),
            "callbacks": {k: cb.state_dict() for k, cb in zip(self._callback_keys(), self.callbacks)},
            "rng": {"seed": self.seed, "numpy": _numpy_rng_state(), "python": _python_rng_state()},
            "extra": extra,
        }

    def save_checkpoint(self, path, extra=None):
        """Writes state_dict() to `path` atomically with rt.save (in a data-parallel job, rank 0 alone)."""
        job = _job()
        if job is None or job.get_rank() == 0:
            save(self.state_dict(extra), path)

    def load_state_dict(self, ckpt, path="checkpoint"):
        """Restores a checkpoint dict into the model, optimizer, scheduler, history and callbacks."""
        _unwrapped(self.model).load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None:
            if ckpt["scheduler"] is None:
                raise ValueError(f"fit: resume_from={path} was saved without a scheduler, but fit() got one")
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.history = History.from_dict(ckpt["history"])
        saved = ckpt.get("callbacks") or {}
        for key, cb in zip(self._callback_keys(), self.callbacks):
            if key in saved:
                cb.load_state_dict(saved[key])
        rng = ckpt["rng"]
        self.seed = int(rng["seed"])
        _set_numpy_rng_state(rng.get("numpy"))
        _set_python_rng_state(rng.get("python"))
        self.epoch = int(ckpt["epoch"])
        self.resumed = True


def _numpy_rng_state():
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_numpy_rng_state(s):
    if s:
        np.random.set_state((s[0], np.asarray(s[1], dtype=np.uint32), s[2], s[3], s[4]))


def _python_rng_state():
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_python_rng_state(s):
    if s:
        random.setstate((s[0], tuple(s[1]), s[2]))


def load_checkpoint(path):
    """Loads a checkpoint written by ModelCheckpoint (or Trainer.save_checkpoint) and checks its format."""
    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} is not a training checkpoint of format '{CHECKPOINT_FORMAT}' (found {found!r}); "
                         "fit(resume_from=...) needs a file written by ModelCheckpoint")
    return ckpt


class _StoppedOnAnotherRank:
    stop_reason = "a callback on another rank stopped training"


def _agreed_stop(job, callbacks):
    """The callback that asks to stop training, or None. In a data-parallel job a callback asking on any
    rank stops every rank at the same batch, so that none is left waiting in a collective."""
    stop = next((cb for cb in callbacks if cb.stop_training), None)
    if job is None or not callbacks:
        return stop
    if _sum_over_ranks(job, [stop is not None])[0] == 0:
        return None
    return stop or _StoppedOnAnotherRank()


def fit(model, loss_fn, optimizer, train_loader, epochs, val_loader=None, scheduler=None, metrics=("accuracy",),  # noqa: C901
        callbacks=(), resume_from=None, verbose=True, seed=None, clip_grad_norm=None, device=None):
    """Trains `model` for `epochs` epochs and returns a History.

    Each batch of `train_loader` is an (inputs, targets) pair: zero_grad, forward, loss_fn(outputs,
    targets), backward, optional gradient clipping (`clip_grad_norm`, a max L2 norm), optimizer step.
    After each epoch the model is evaluated on `val_loader` (val_loss, val_<metric>) and `scheduler` is
    stepped (ReduceLROnPlateau with val_loss, or the train loss without validation data).
    metrics: names ("accuracy", "top5"), Metric objects or functions f(outputs, targets) -> float.
    callbacks: Callback objects (EarlyStopping, ModelCheckpoint, GradientMonitor, ...).
    resume_from: a ModelCheckpoint file; training continues after its epoch up to `epochs` in total.
    verbose: progress bar on a terminal, one line per epoch otherwise; False prints nothing.
    seed: base of the per-epoch re-seeding that makes runs reproducible and resumable (see module doc);
    None draws one from rt's global generator. A resumed run uses the checkpoint's seed.
    device: moves the model there first (model.to(device), which the optimizer follows) and each batch's
    inputs and targets as they come; None leaves both where they are.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be Callback instances, got {type(cb).__name__}")
    callbacks.sort(key=lambda cb: cb.order)
    metric_objs = _metric_objects(metrics, loss_fn)
    if device is not None:
        model.to(device)

    job = _job()
    progress = ProgressBar(epochs, verbose=verbose and (job is None or job.get_rank() == 0))
    trainer = Trainer(model, loss_fn, optimizer, scheduler, epochs, seed, val_loader is not None, callbacks, progress)
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        trainer.load_state_dict(ckpt, resume_from)
        progress.message(f"Resuming from {os.fspath(resume_from)} after epoch {trainer.epoch}")
    elif trainer.seed is None:
        trainer.seed = _draw_seed()
    trainer.history.stop_reason = None

    for cb in callbacks:
        cb.set_trainer(trainer)
    for cb in callbacks:
        cb.on_train_begin({})

    try:
        start = trainer.epoch
        for epoch in range(start + 1, epochs + 1):
            trainer.epoch = epoch
            _C.manual_seed(_epoch_seed(trainer.seed, epoch))
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch - 1)
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            lr = optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            try:
                total = len(train_loader)
            except TypeError:
                total = None
            progress.start_epoch(epoch, total)
            for m in metric_objs:
                m.reset()
            model.train()
            loss_sum, n_seen, n_batches, stop = 0.0, 0, 0, None
            for b, batch in enumerate(train_loader):
                x, y = _unpack(batch, "fit", device)
                optimizer.zero_grad()
                out = model(x)
                loss = loss_fn(out, y)
                loss_v = _loss_value(loss, "fit")
                loss.backward()
                bs = _batch_size(x)
                logs = {"loss": loss_v, "batch_size": bs, "inputs": x, "targets": y, "outputs": out}
                for cb in callbacks:
                    cb.on_after_backward(b, logs)
                stop = _agreed_stop(job, callbacks)
                if stop is None:
                    if clip_grad_norm is not None:
                        clip_grad_norm_(model.parameters(), clip_grad_norm)
                    optimizer.step()
                loss_sum += loss_v * bs
                n_seen += bs
                n_batches += 1
                for m in metric_objs:
                    m.update(out, y)
                progress.update(bs, loss_v)
                if stop is None:
                    logs = {"loss": loss_v, "batch_size": bs}
                    for cb in callbacks:
                        cb.on_batch_end(b, logs)
                    stop = _agreed_stop(job, callbacks)
                if stop is not None:
                    break
            if job is not None:
                loss_sum, n_seen, n_batches = _reduce_metrics(job, (loss_sum, n_seen, n_batches), metric_objs)
            if n_batches == 0:
                raise ValueError("fit: train_loader yielded no batches")

            logs = {"loss": loss_sum / n_seen}
            for m in metric_objs:
                logs[m.name] = m.compute()
            if val_loader is not None:
                for k, v in evaluate(model, val_loader, metric_objs, loss_fn, device, distributed=job is not None).items():
                    logs["val_" + k] = v
            logs["lr"] = lr
            logs["epoch_time"] = time.perf_counter() - t0
            trainer.history.log(epoch, logs)
            if scheduler is not None:
                if isinstance(scheduler, ReduceLROnPlateau):
                    scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    scheduler.step()
            progress.end_epoch(logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, dict(logs))
            stop = stop or next((cb for cb in callbacks if cb.stop_training), None)
            if stop is not None:
                reason = stop.stop_reason or f"{type(stop).__name__} stopped training at epoch {epoch}"
                trainer.history.stop_reason = reason
                progress.message(reason)
                break
    finally:
        progress.close()
    for cb in callbacks:
        cb.on_train_end({})
    return trainer.history
