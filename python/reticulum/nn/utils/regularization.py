def l1_penalty(parameters, weight=1.0):
    """weight * sum_i |theta_i| over the parameters (the lasso penalty), as a differentiable loss term."""
    total = None
    for p in parameters:
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l1_penalty: got no parameters")
    return total * weight
