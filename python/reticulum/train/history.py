"""History: what fit() records per epoch, with JSON export and learning-curve plots."""
import json
import math

__all__ = ["History"]

_PLOT_HINT = 'History.plot needs matplotlib: install it with  pip install "reticulum[plot]"  (or pip install matplotlib)'


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class History:
    """Per-epoch record of a training run, as returned by ``fit``.

    ``history`` maps each key to one value per epoch: ``loss`` and the train metrics (e.g. ``accuracy``),
    ``val_loss``/``val_<metric>`` when there is validation data, ``lr`` (the learning rate used in the epoch,
    of the first param group) and ``epoch_time`` (seconds). ``epoch`` holds the epoch numbers (from 1),
    ``grad_norms`` the per-layer gradient norms recorded by ``GradientMonitor`` (layer -> one mean norm per
    epoch) and ``stop_reason`` why training ended early (None when it ran all epochs).
    """

    def __init__(self):
        self.epoch = []
        self.history = {}
        self.grad_norms = {}
        self.stop_reason = None

    # ---- recording
    def log(self, epoch, logs):
        """Appends one epoch; keys new in this epoch are padded with NaN for the earlier ones."""
        n = len(self.epoch)
        self.epoch.append(int(epoch))
        for key, value in logs.items():
            if not _is_number(value):
                continue
            self.history.setdefault(key, [math.nan] * n).append(float(value))
        for key, values in self.history.items():
            if len(values) == n:
                values.append(math.nan)

    def log_grad_norms(self, norms):
        """Appends one epoch of per-layer gradient norms {layer: norm}."""
        n = max((len(v) for v in self.grad_norms.values()), default=0)
        for layer, value in norms.items():
            self.grad_norms.setdefault(layer, [math.nan] * n).append(float(value))
        for values in self.grad_norms.values():
            if len(values) == n:
                values.append(math.nan)

    # ---- access
    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epoch)

    def keys(self):
        return self.history.keys()

    def last(self, key):
        """The value of `key` in the last recorded epoch."""
        if key not in self.history or not self.history[key]:
            raise KeyError(f"History has no '{key}' (recorded: {', '.join(self.history) or 'nothing yet'})")
        return self.history[key][-1]

    def best(self, monitor="val_loss", mode="auto"):
        """(epoch, value) of the best value of `monitor`; mode 'min', 'max' or 'auto' (max for accuracies)."""
        values = self.history.get(monitor)
        if not values:
            raise KeyError(f"History has no '{monitor}' (recorded: {', '.join(self.history) or 'nothing yet'})")
        mode = _resolve_mode(monitor, mode)
        finite = [(v, e) for e, v in zip(self.epoch, values) if math.isfinite(v)]
        if not finite:
            raise ValueError(f"History: '{monitor}' has no finite value")
        v, e = (min if mode == "min" else max)(finite, key=lambda p: p[0])
        return e, v

    def __repr__(self):
        keys = ", ".join(self.history)
        return f"History(epochs={len(self.epoch)}, keys=[{keys}])"

    # ---- export
    def to_dict(self):
        """A plain dict (lists of floats), suitable for JSON and rt.save."""
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()},
                "grad_norms": {k: list(v) for k, v in self.grad_norms.items()}, "stop_reason": self.stop_reason}

    @classmethod
    def from_dict(cls, d):
        """Rebuilds a History from ``to_dict()``'s output."""
        h = cls()
        try:
            h.epoch = [int(e) for e in d["epoch"]]
            h.history = {str(k): [float(x) for x in v] for k, v in d["history"].items()}
            h.grad_norms = {str(k): [float(x) for x in v] for k, v in d.get("grad_norms", {}).items()}
            h.stop_reason = d.get("stop_reason")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"History.from_dict: not a History dict ({e})") from None
        return h

    def to_json(self, path=None, indent=2):
        """The history as JSON text (NaN written as null); also written to `path` when given."""
        def clean(x):
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x
        text = json.dumps(clean(self.to_dict()), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def plot(self, path, keys=None, title=None):
        """Writes the learning curves as a PNG to `path`: one panel per quantity (loss, each metric, lr),
        train and validation curves together. Needs matplotlib (``pip install "reticulum[plot]"``)."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError(_PLOT_HINT) from e
        if not self.epoch:
            raise ValueError("History.plot: nothing to plot (no epoch recorded)")
        if keys is None:
            keys = [k for k in self.history if not k.startswith("val_") and k != "epoch_time"]
        keys = list(keys)
        missing = [k for k in keys if k not in self.history]
        if missing:
            raise KeyError(f"History.plot: no such keys {missing} (recorded: {', '.join(self.history)})")
        fig = Figure(figsize=(4.2 * len(keys), 3.4), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(keys), squeeze=False)[0]
        for ax, key in zip(axes, keys):
            ax.plot(self.epoch, self.history[key], marker="o", markersize=3, label="train" if key != "lr" else key)
            if "val_" + key in self.history:
                ax.plot(self.epoch, self.history["val_" + key], marker="o", markersize=3, label="validation")
            ax.set_xlabel("epoch")
            ax.set_title(key)
            ax.grid(alpha=0.3)
            if key == "lr":
                vals = [v for v in self.history[key] if v > 0]
                if vals and max(vals) / min(vals) > 20:
                    ax.set_yscale("log")
            else:
                ax.legend()
        if title:
            fig.suptitle(title)
        fig.savefig(path, dpi=110)
        return path


def _resolve_mode(monitor, mode):
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got '{mode}'")
    return mode
