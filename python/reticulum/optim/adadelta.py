from .optimizer import Optimizer, _Kind


class Adadelta(Optimizer):
    """Adadelta as PyTorch: v <- rho v + (1-rho) g^2; delta = sqrt(u + eps) / sqrt(v + eps) g;
    u <- rho u + (1-rho) delta^2; p <- p - lr delta (v: square_avg, u: acc_delta)."""
    _kind = _Kind.Adadelta
    _state_names = ("square_avg", "acc_delta", None)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))
