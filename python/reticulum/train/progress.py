"""Epoch progress display: a live bar on a terminal (tqdm when installed, else a built-in one),
one summary line per epoch when the output is not a terminal (logs, pipes, CI)."""
import math
import shutil
import sys
import time

__all__ = ["ProgressBar", "format_logs"]


def _fmt_value(key, v):
    if key == "lr":
        return f"{v:.3g}"
    if key == "epoch_time":
        return f"{v:.1f}s"
    return f"{v:.4f}"


def format_logs(logs, skip=("epoch_time",)):
    """'loss 0.1234 - accuracy 0.9812 - ...' for the numeric entries of a logs dict."""
    return " - ".join(f"{k} {_fmt_value(k, v)}" for k, v in logs.items()
                      if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool))


def _fmt_time(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _isatty(f):
    try:
        return bool(f.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """Reports training progress to `file` (default: sys.stdout at construction).

    With ``verbose=False`` it prints nothing. Otherwise, on a TTY it redraws a bar with the running loss,
    samples/s and ETA after each batch (throttled to 10 redraws/s); when `file` is not a TTY it stays
    quiet during the epoch and prints one summary line at its end.
    """

    def __init__(self, epochs, verbose=True, file=None, use_tqdm=None):
        self.epochs = epochs
        self.file = sys.stdout if file is None else file
        self.verbose = bool(verbose)
        self.live = self.verbose and _isatty(self.file)
        self._tqdm = None
        if self.live and use_tqdm is not False:
            try:
                from tqdm import tqdm
                self._tqdm_cls = tqdm
            except ImportError:
                self._tqdm_cls = None
        else:
            self._tqdm_cls = None
        self._last_width = 0

    def start_epoch(self, epoch, total_batches=None):
        """Begins epoch `epoch` (counted from 1); total_batches may be None when unknown."""
        self.epoch, self.total = epoch, total_batches
        self.batches, self.samples, self.loss_sum = 0, 0, 0.0
        self.t0 = self._last_draw = time.perf_counter()
        if self.live and self._tqdm_cls is not None:
            self._tqdm = self._tqdm_cls(total=total_batches, desc=self._prefix(), unit="batch", file=self.file,
                                        leave=True, dynamic_ncols=True)

    def _prefix(self):
        return f"Epoch {self.epoch}/{self.epochs}"

    def update(self, batch_size, loss):
        """Records one finished batch of `batch_size` samples with mean loss `loss`."""
        self.batches += 1
        self.samples += batch_size
        self.loss_sum += loss * batch_size
        if not self.live:
            return
        now = time.perf_counter()
        elapsed = now - self.t0
        rate = self.samples / elapsed if elapsed > 0 else 0.0
        running = self.loss_sum / self.samples if self.samples else math.nan
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(f"loss {running:.4f}, {rate:.0f} samples/s", refresh=False)
            self._tqdm.update(1)
            return
        if now - self._last_draw < 0.1 and self.batches != self.total:
            return
        self._last_draw = now
        if self.total:
            frac = min(self.batches / self.total, 1.0)
            width = 24
            filled = int(frac * width)
            bar = "=" * filled + (">" if filled < width else "") + "." * (width - filled - 1)
            eta = elapsed / self.batches * (self.total - self.batches)
            head = f"{self._prefix()} [{bar}] {self.batches}/{self.total}"
        else:
            eta = math.nan
            head = f"{self._prefix()} {self.batches} batches"
        self._draw(f"{head} loss {running:.4f} | {rate:.0f} samples/s | ETA {_fmt_time(eta)}")

    def _draw(self, text):
        cols = shutil.get_terminal_size((100, 20)).columns
        text = text[:max(cols - 1, 20)]
        pad = max(self._last_width - len(text), 0)
        self.file.write("\r" + text + " " * pad)
        self.file.flush()
        self._last_width = len(text)

    def end_epoch(self, logs):
        """Ends the epoch with a summary line of `logs` (loss, metrics, validation results, lr, time)."""
        if not self.verbose:
            return
        elapsed = logs.get("epoch_time", time.perf_counter() - self.t0)
        rate = self.samples / elapsed if elapsed > 0 else 0.0
        summary = f"{self._prefix()} - {elapsed:.1f}s - {rate:.0f} samples/s - {format_logs(logs)}"
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(format_logs(logs), refresh=True)
            self._tqdm.close()
            self._tqdm = None
            return
        if self.live:  # the summary replaces the bar and may wrap; it is not cut to the terminal width
            self.file.write("\r" + summary + " " * max(self._last_width - len(summary), 0) + "\n")
        else:
            self.file.write(summary + "\n")
        self.file.flush()
        self._last_width = 0

    def message(self, text):
        """Prints a line of text (on its own line even while a bar is drawn)."""
        if not self.verbose:
            return
        if self._tqdm is not None:
            self._tqdm.write(text, file=self.file)
            return
        if self.live and self._last_width:
            self.file.write("\n")
            self._last_width = 0
        self.file.write(text + "\n")
        self.file.flush()

    def close(self):
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
