from .optimizer import Optimizer, _Kind


class RMSprop(Optimizer):
    """RMSprop as PyTorch: square_avg <- a s + (1-a) g^2; p <- p - lr g / (sqrt(s) + eps),
    optionally centered and with momentum."""
    _kind = _Kind.RMSprop
    _state_names = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *, maximize=False):
        if alpha < 0 or eps < 0 or momentum < 0:
            raise ValueError(f"Invalid RMSprop hyperparameters: alpha={alpha}, eps={eps}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))
