from .optimizer import Optimizer, _Kind


class Adagrad(Optimizer):
    """Adagrad as PyTorch: sum <- sum + g^2; p <- p - clr g / (sqrt(sum) + eps), clr = lr / (1 + (t-1) lr_decay)."""
    _kind = _Kind.Adagrad
    _state_names = ("sum", None, None)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *, maximize=False):
        if lr_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("Invalid Adagrad hyperparameters")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize))
