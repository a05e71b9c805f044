"""Stateless neural-network functions with torch.nn.functional's names and signatures."""
from .. import _C


def relu(input, inplace=False):  # noqa: A002
    return input.relu()


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    return _C.leaky_relu(input, negative_slope)


def sigmoid(input):  # noqa: A002
    return input.sigmoid()


def tanh(input):  # noqa: A002
    return input.tanh()


def heaviside(input, values):  # noqa: A002
    return _C.heaviside(input, values)


def softmax(input, dim):  # noqa: A002
    return input.softmax(dim)


def log_softmax(input, dim):  # noqa: A002
    return input.log_softmax(dim)
