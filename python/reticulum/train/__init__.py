"""Training loop with a Keras-like convenience layer over reticulum's PyTorch-style API.

``fit(model, loss_fn, optimizer, train_loader, epochs, ...) -> History`` and
``evaluate(model, loader, metrics, loss_fn=None) -> dict``; callbacks EarlyStopping, ModelCheckpoint
(exactly resumable checkpoints) and GradientMonitor; metrics accuracy and top-k accuracy; a progress
bar on terminals; History with JSON export and learning-curve plots (``pip install "reticulum[plot]"``).
"""
from .callbacks import Callback, EarlyStopping, GradientMonitor, ModelCheckpoint
from .history import History
from .loop import CHECKPOINT_FORMAT, Trainer, evaluate, fit, load_checkpoint
from .metrics import Accuracy, FunctionMetric, Metric, TopKAccuracy, get_metric
from .progress import ProgressBar

__all__ = ["fit", "evaluate", "History", "Trainer", "load_checkpoint", "CHECKPOINT_FORMAT", "Callback",
           "EarlyStopping", "ModelCheckpoint", "GradientMonitor", "Metric", "Accuracy", "TopKAccuracy",
           "FunctionMetric", "get_metric", "ProgressBar"]
