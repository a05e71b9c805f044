"""Metrics accumulated over batches: accuracy (argmax / binary threshold) and top-k accuracy.

A metric is an object with ``reset()``, ``update(output, target)`` (one call per batch, vectorised)
and ``compute() -> float``. ``get_metric`` turns the names accepted by ``fit``/``evaluate``
("accuracy", "acc", "top5", "top3_accuracy", ...) or a plain function ``f(output, target) -> float``
(a batch mean, averaged weighted by batch size) into such an object.
"""
import copy
import re

import numpy as np

from .._C import Tensor

__all__ = ["Metric", "Accuracy", "TopKAccuracy", "FunctionMetric", "get_metric"]


def _to_numpy(x, what):
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"metric: {what} must be a Tensor, got {type(x).__name__}")


class Metric:
    """Base class: accumulate with update(), read with compute(), start over with reset()."""

    name = "metric"

    def __init__(self):
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, output, target):
        raise NotImplementedError(f"{type(self).__name__} must implement update(output, target)")

    def compute(self):
        return self.total / self.count if self.count else float("nan")


class Accuracy(Metric):
    """Fraction of correct predictions.

    Multi-class outputs ``(N, C)`` with ``C > 1`` are classified by argmax (targets are class indices,
    or one-hot/probability rows). Single-logit outputs ``(N,)`` or ``(N, 1)`` are binary: positive when
    ``sigmoid(output) > 0.5`` (``from_logits=True``) or ``output > 0.5`` (probabilities, as fed to BCELoss).
    """

    name = "accuracy"

    def __init__(self, from_logits=True):
        self.from_logits = from_logits
        super().__init__()

    def update(self, output, target):
        out, tgt = _to_numpy(output, "output"), _to_numpy(target, "target")
        n = out.shape[0] if out.ndim else 1
        if out.ndim >= 2 and out.shape[1] > 1:
            pred = out.argmax(axis=1)
            if tgt.ndim == out.ndim and tgt.shape == out.shape:  # one-hot / soft targets
                tgt = tgt.argmax(axis=1)
            if pred.shape != tgt.shape:
                raise ValueError(f"accuracy: output of shape {out.shape} (multi-class) needs targets of shape "
                                 f"{pred.shape} (class indices) or {out.shape} (one-hot), got {tgt.shape}")
            correct = pred == tgt
        else:
            flat = out.reshape(n, -1) if out.ndim else out.reshape(1, 1)
            if flat.shape[1] != 1 or tgt.size != n:
                raise ValueError(f"accuracy: binary output of shape {out.shape} needs {n} targets, got shape {tgt.shape}")
            pred = flat[:, 0] > (0.0 if self.from_logits else 0.5)
            correct = pred == (tgt.reshape(n) > 0.5)
        self.total += float(np.count_nonzero(correct))
        self.count += int(correct.size)


class TopKAccuracy(Metric):
    """Fraction of samples whose target class is among the k highest outputs (multi-class only)."""

    def __init__(self, k=5):
        if int(k) < 1:
            raise ValueError(f"TopKAccuracy: k must be >= 1, got {k}")
        self.k = int(k)
        self.name = f"top{self.k}_accuracy"
        super().__init__()

    def update(self, output, target):
        out, tgt = _to_numpy(output, "output"), _to_numpy(target, "target")
        if out.ndim != 2:
            raise ValueError(f"{self.name}: expected outputs of shape (N, C), got {out.shape}")
        if tgt.shape == out.shape:
            tgt = tgt.argmax(axis=1)
        if tgt.shape != (out.shape[0],):
            raise ValueError(f"{self.name}: expected {out.shape[0]} class-index targets, got shape {tgt.shape}")
        k = min(self.k, out.shape[1])
        # The target is in the top k when fewer than k classes score strictly higher than it.
        target_score = np.take_along_axis(out, tgt.astype(np.int64).reshape(-1, 1), axis=1)
        correct = (out > target_score).sum(axis=1) < k
        self.total += float(np.count_nonzero(correct))
        self.count += int(correct.size)


class FunctionMetric(Metric):
    """Wraps ``fn(output, target) -> float`` (a batch mean); the result is the sample-weighted mean."""

    def __init__(self, fn, name=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        super().__init__()

    def update(self, output, target):
        n = output.shape[0] if len(output.shape) else 1
        value = self.fn(output, target)
        self.total += float(value.item() if isinstance(value, Tensor) else value) * n
        self.count += n


_TOPK = re.compile(r"^top[_-]?(\d+)(?:[_-]?acc(?:uracy)?)?$")


def get_metric(spec, from_logits=True):
    """A fresh Metric for a name ("accuracy"/"acc", "top5", "top3_accuracy"), a Metric, or a function."""
    if isinstance(spec, Metric):
        m = copy.deepcopy(spec)
        m.reset()
        return m
    if isinstance(spec, str):
        key = spec.lower()
        if key in ("accuracy", "acc"):
            return Accuracy(from_logits=from_logits)
        m = _TOPK.match(key)
        if m:
            return TopKAccuracy(int(m.group(1)))
        raise ValueError(f"unknown metric '{spec}': use 'accuracy', 'topK' (e.g. 'top5'), a Metric or a function "
                         "f(output, target) -> float")
    if callable(spec):
        return FunctionMetric(spec)
    raise TypeError(f"a metric must be a name, a Metric or a function, got {type(spec).__name__}")
