from .optimizer import Optimizer, _Kind


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay,
    in PyTorch's form (v <- mu v + (1 - dampening) g; p <- p - lr v). Batch GD, SGD and
    mini-batch GD are this optimizer fed different batch sizes; classical momentum is
    momentum > 0."""
    _kind = _Kind.SGD
    _state_names = ("momentum_buffer", None, None)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))
