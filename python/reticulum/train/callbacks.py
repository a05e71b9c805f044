"""Callbacks for fit(): hooks called around epochs and batches, able to stop training.

Every callback sees the running fit through ``self.trainer`` (model, optimizer, scheduler, history,
epoch, ...), set before ``on_train_begin``. Setting ``self.stop_training = True`` (with an optional
``self.stop_reason``) ends training after the current batch (when set in a batch hook) or epoch.
"""
import math
import os
import warnings

import numpy as np

from .._C import Tensor
from .._grad_mode import no_grad
from .history import _resolve_mode

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "GradientMonitor"]


class Callback:
    """Base class: override any of the hooks. ``order`` sorts callbacks (lower runs first; checkpoints last)."""

    order = 0
    trainer = None
    stop_training = False
    stop_reason = None

    def set_trainer(self, trainer):
        self.trainer = trainer
        self.stop_training = False
        self.stop_reason = None

    @property
    def model(self):
        return self.trainer.model if self.trainer is not None else None

    def on_train_begin(self, logs=None):
        """Before the first epoch (after a resumed run's state is restored)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Before epoch `epoch` (counted from 1)."""

    def on_after_backward(self, batch, logs=None):
        """After loss.backward(), before optimizer.step(); logs has loss, inputs, targets, outputs.
        Setting stop_training here skips this batch's optimizer step."""

    def on_batch_end(self, batch, logs=None):
        """After the optimizer step of batch `batch` (counted from 0); logs has loss and batch_size."""

    def on_epoch_end(self, epoch, logs=None):
        """After an epoch: logs holds loss, metrics, val_* results, lr and epoch_time."""

    def on_train_end(self, logs=None):
        """After the last epoch (also after an early stop)."""

    def state_dict(self):
        """State to checkpoint so that a resumed fit continues exactly (plain values and tensors)."""
        return {}

    def load_state_dict(self, state):
        """Restores state_dict()'s output."""


def _improved(value, best, mode, min_delta):
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _monitored(callback, logs, monitor):
    if monitor not in logs:
        raise KeyError(f"{type(callback).__name__}: monitored quantity '{monitor}' is not in the epoch logs "
                       f"(available: {', '.join(sorted(logs))})")
    return float(logs[monitor])


def _check_monitor_available(callback, monitor):
    if monitor is not None and monitor.startswith("val_") and not callback.trainer.has_validation:
        raise ValueError(f"{type(callback).__name__} monitors '{monitor}', but fit() got no val_loader; pass one or "
                         f"monitor '{monitor[4:]}'")


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    mode: 'min', 'max' or 'auto' (max for accuracies, min otherwise). restore_best_weights: at the end
    of training, load the weights of the best epoch back into the model (when it was not the last one).
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto", restore_best_weights=False):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.mode = _resolve_mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self):
        self.best, self.best_epoch, self.wait, self.stopped_epoch = None, None, 0, None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        _check_monitor_available(self, self.monitor)
        if not self.trainer.resumed:
            self._reset()

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(self, logs, self.monitor)
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.stop_training = True
            best = "none finite" if self.best is None else f"best {self.best:.6g} at epoch {self.best_epoch}"
            self.stop_reason = (f"early stopping at epoch {epoch}: '{self.monitor}' did not improve by more than "
                                f"{self.min_delta:g} for {self.patience} epoch(s) ({best})")

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None and self.best_epoch != self.trainer.epoch:
            self.model.load_state_dict(self.best_weights)
            self.trainer.log(f"EarlyStopping: restored the weights of epoch {self.best_epoch} "
                             f"({self.monitor} {self.best:.6g})")

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]


class ModelCheckpoint(Callback):
    """Saves the full training state after epochs, atomically (rt.save writes a temp file and renames it).

    The file holds model, optimizer and scheduler state dicts, the completed epoch count, the history,
    the callbacks' state and the RNG seed, so ``fit(..., resume_from=path)`` continues the run exactly.
    `path` may contain ``{epoch}`` and log keys, e.g. ``"ckpt-{epoch:03d}-{val_loss:.3f}.rtc"``.
    The file is written every `every` epochs and after the last one, or, with ``save_best_only``, only
    when `monitor` improves. `extra` (plain values)
    is stored under "extra", e.g. the model configuration needed to rebuild the model.
    """

    order = 100  # after the other callbacks, so their state for this epoch is final

    def __init__(self, path, monitor=None, save_best_only=False, mode="auto", every=1, extra=None, verbose=False):
        if save_best_only and monitor is None:
            raise ValueError("ModelCheckpoint: save_best_only=True needs a monitor (e.g. monitor='val_loss')")
        if every < 1:
            raise ValueError(f"ModelCheckpoint: every must be >= 1, got {every}")
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode = _resolve_mode(monitor, mode) if monitor is not None else None
        self.every, self.extra, self.verbose = int(every), extra, verbose
        self.best, self.best_epoch, self.last_path = None, None, None

    def on_train_begin(self, logs=None):
        _check_monitor_available(self, self.monitor)
        if not self.trainer.resumed:
            self.best, self.best_epoch = None, None

    def _format(self, epoch, logs):
        if "{" not in self.path:
            return self.path
        try:
            return self.path.format(epoch=epoch, **{k: v for k, v in logs.items() if k != "epoch"})
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot format path '{self.path}' ({e}); available keys: epoch, "
                             f"{', '.join(logs)}") from None

    def on_epoch_end(self, epoch, logs=None):
        improved = False
        if self.monitor is not None:
            value = _monitored(self, logs, self.monitor)
            improved = _improved(value, self.best, self.mode, 0.0)
            if improved:
                self.best, self.best_epoch = value, epoch
        if self.save_best_only:
            if not improved:
                return
        elif epoch % self.every and epoch != self.trainer.epochs and not self.trainer.stopping():
            return
        path = self._format(epoch, logs)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self.trainer.save_checkpoint(path, extra=self.extra)
        self.last_path = path
        if self.verbose:
            self.trainer.log(f"ModelCheckpoint: saved {path}")

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]


def _layer_name(name):
    return name if name else "(model)"


def _all_finite(t):
    return bool(np.isfinite(t.detach().cpu().numpy()).all())


def _squared_norm(grad):
    """The sum of squares of a gradient's values; NaN when one of them is NaN or Inf. A BLAS dot product is the
    cheapest full pass (4x faster than np.isfinite(...).all()): a NaN or Inf element makes it non-finite, and only
    then is each value checked, to tell NaN/Inf from finite values whose squares overflow."""
    a = grad.cpu().numpy().reshape(-1)
    sq = float(np.dot(a, a))
    if math.isfinite(sq):
        return sq
    if not np.isfinite(a).all():
        return math.nan
    a = a.astype(np.float64)
    return float(np.dot(a, a))


class GradientMonitor(Callback):
    """Records per-layer gradient norms and watches for vanishing/exploding gradients and NaN/Inf.

    Every `every` batches the L2 norm of each layer's gradients (its own parameters, not its children's)
    is measured; their per-epoch mean goes into ``history.grad_norms[layer]``. At the end of each epoch
    a RuntimeWarning names layers whose mean norm is below `vanishing` or above `exploding`. When the
    loss or a gradient is NaN/Inf, training stops before the optimizer step, with a message (warning and
    ``history.stop_reason``) naming the layer responsible: the first one whose parameters are non-finite
    or whose output is non-finite from finite inputs (found by re-running that batch's forward pass).
    The NaN/Inf check runs on every batch, whatever `every` is, so a non-finite gradient never reaches
    the optimizer; it costs one BLAS dot product per parameter (1-3% of a small MLP's training step).
    """

    def __init__(self, every=1, vanishing=1e-7, exploding=1e3, stop_on_nonfinite=True):
        if every < 1:
            raise ValueError(f"GradientMonitor: every must be >= 1, got {every}")
        self.every, self.vanishing, self.exploding = int(every), float(vanishing), float(exploding)
        self.stop_on_nonfinite = stop_on_nonfinite
        self.layers = []

    def on_train_begin(self, logs=None):
        self.layers = []
        for name, module in self.model.named_modules():
            params = [p for p in module.parameters(recurse=False) if p.requires_grad]
            if params:
                self.layers.append((_layer_name(name), module, params))
        self._warned = set()
        if not self.layers:
            raise ValueError("GradientMonitor: the model has no trainable parameters")

    def on_epoch_begin(self, epoch, logs=None):
        self._sums = {name: 0.0 for name, _, _ in self.layers}
        self._counts = {name: 0 for name, _, _ in self.layers}

    def on_after_backward(self, batch, logs=None):
        loss = logs["loss"]
        if not math.isfinite(loss):
            if self.stop_on_nonfinite:
                where = _locate_nonfinite(self.model, logs.get("inputs"))
                self._stop(f"loss is {loss} at epoch {self.trainer.epoch}, batch {batch}: {where}")
            return
        log = batch % self.every == 0
        if not (log or self.stop_on_nonfinite):
            return
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite sums are what this looks for
            squares = [sum(_squared_norm(p.grad) for p in params if p.grad is not None) for _, _, params in self.layers]
        for (name, module, _), sq in zip(self.layers, squares):
            if math.isnan(sq):
                if self.stop_on_nonfinite:
                    self._stop(f"gradient of layer '{name}' ({type(module).__name__}) is NaN/Inf at epoch "
                               f"{self.trainer.epoch}, batch {batch} (loss {loss:.6g})")
                    return
                continue
            if log:
                self._sums[name] += math.sqrt(sq)
                self._counts[name] += 1

    def _stop(self, message):
        self.stop_training = True
        self.stop_reason = "GradientMonitor stopped training: " + message
        warnings.warn(self.stop_reason, RuntimeWarning, stacklevel=4)

    def on_epoch_end(self, epoch, logs=None):
        norms = {name: self._sums[name] / self._counts[name] for name in self._sums if self._counts[name]}
        if not norms:
            return
        self.trainer.history.log_grad_norms(norms)
        types = {name: type(module).__name__ for name, module, _ in self.layers}
        for kind, bad, limit in (("vanishing", lambda v: v < self.vanishing, f"< {self.vanishing:g}"),
                                 ("exploding", lambda v: v > self.exploding, f"> {self.exploding:g}")):
            new = [name for name, v in norms.items() if bad(v) and (kind, name) not in self._warned]
            if new:  # once per layer and kind in a run
                self._warned.update((kind, name) for name in new)
                layers = ", ".join(f"layer '{name}' ({types[name]}): {norms[name]:.3g}" for name in new)
                warnings.warn(f"GradientMonitor: {kind} gradients in epoch {epoch} (mean gradient norm {limit}) in "
                              f"{layers}", RuntimeWarning, stacklevel=3)


def _locate_nonfinite(model, inputs):
    """Describes where a non-finite loss comes from (runs the forward pass again, restoring buffers)."""
    if isinstance(inputs, Tensor) and inputs.is_floating_point() and not _all_finite(inputs):
        return "the input batch contains NaN/Inf"
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if not _all_finite(p):
                return f"parameter '{pname}' of layer '{_layer_name(name)}' ({type(module).__name__}) contains NaN/Inf"
    if not isinstance(inputs, Tensor):
        return "could not locate the layer (the inputs are not a single tensor)"
    found = []

    def hook_for(name):
        def hook(module, args, output):
            if found or not isinstance(output, Tensor) or not output.is_floating_point():
                return
            ins_ok = all(_all_finite(a) for a in args if isinstance(a, Tensor) and a.is_floating_point())
            if ins_ok and not _all_finite(output):
                found.append(f"layer '{_layer_name(name)}' ({type(module).__name__}) produced NaN/Inf from finite inputs")
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules()
               if not any(True for _ in m.children())]
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        with no_grad():
            out = model(inputs)
    finally:
        for h in handles:
            h.remove()
        with no_grad():
            for b, copy in saved:
                b.copy_(copy)
    if found:
        return found[0]
    if isinstance(out, Tensor) and out.is_floating_point() and _all_finite(out):
        return "the model outputs are finite: the loss function produced the NaN/Inf (check its inputs and targets)"
    return f"the output of the model ({type(model).__name__}) is NaN/Inf"
