"""Autograd utilities: custom differentiable functions and finite-difference gradient checks."""
from .function import Function, FunctionCtx
from .gradcheck import gradcheck, GradcheckError
from .anomaly_mode import detect_anomaly, set_detect_anomaly, is_anomaly_enabled
from .._grad_mode import no_grad, enable_grad, set_grad_enabled

__all__ = ["Function", "FunctionCtx", "gradcheck", "GradcheckError", "no_grad", "enable_grad", "set_grad_enabled",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]
