"""Linear and polynomial regression by plain full-batch gradient descent on the mean squared error,
then lasso (an L1 penalty on the weights) on an over-complete polynomial basis.

Run: python examples/linear_regression.py
"""
import reticulum as rt


def fit(features, y, lr, steps, l1=0.0):
    """Batch gradient descent on mean squared error (+ l1 * ||w||_1, bias not penalised)."""
    w = rt.zeros(features.shape[1], 1, requires_grad=True)
    b = rt.zeros(1, requires_grad=True)
    for _ in range(steps):
        pred = features @ w + b
        loss = ((pred - y) ** 2).mean()
        if l1:
            loss = loss + l1 * w.abs().sum()
        loss.backward()
        with rt.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
    return w.detach(), b.detach(), loss.item()


def main():
    rt.manual_seed(0)
    n = 200
    x = rt.rand(n, 1) * 4 - 2

    # 1) a line: y = 3x - 1 + noise
    y = 3 * x - 1 + 0.1 * rt.randn(n, 1)
    w, b, loss = fit(x, y, lr=0.1, steps=300)
    print(f"line:       true w=3.000 b=-1.000   fitted w={w.item():.3f} b={b.item():.3f}   mse={loss:.4f}")

    # 2) a cubic, fitted with degree-6 features: y = 0.5x^3 - x + 2 + noise
    y = 0.5 * x ** 3 - x + 2 + 0.1 * rt.randn(n, 1)
    feats = rt.cat([x ** k for k in range(1, 7)], dim=1)
    scale = feats.abs().max(dim=0).values  # unit-range columns keep GD stable; undone below
    true = [-1.0, 0.0, 0.5, 0.0, 0.0, 0.0]
    for name, l1 in [("plain GD", 0.0), ("lasso l1=0.002", 0.002)]:
        w, b, loss = fit(feats / scale, y, lr=0.3, steps=20000, l1=l1)
        w = w.reshape(-1) / scale
        coefs = " ".join(f"{c:+.3f}" for c in w.tolist())
        print(f"{name:14s} fitted b={b.item():+.3f} w=[{coefs}]   mse={loss:.4f}")
    print(f"{'true':14s}        b=+2.000 w=[{' '.join(f'{c:+.3f}' for c in true)}]")


if __name__ == "__main__":
    main()
