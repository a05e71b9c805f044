"""Training utilities: gradient clipping (one C++ call over all parameters) and the lasso penalty."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .regularization import l1_penalty

__all__ = ["clip_grad_norm_", "clip_grad_value_", "l1_penalty"]
