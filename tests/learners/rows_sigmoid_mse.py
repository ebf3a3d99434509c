"""A correct 3-layer regression network, examples as rows and Z = A W^T + b (W is (out, in),
as in PyTorch): sigmoid, tanh, identity output, squared error sum((A - Y)^2) / (2m). The
weights are module variables W1, b1, ... and the functions take them by name."""
import numpy as np

rng = np.random.default_rng(2)
X = rng.normal(size=(4, 3))
Y = rng.normal(size=(4, 2))
W1, b1 = rng.normal(size=(4, 3)), rng.normal(size=(1, 4))
W2, b2 = rng.normal(size=(3, 4)), rng.normal(size=(1, 3))
W3, b3 = rng.normal(size=(2, 3)), rng.normal(size=(1, 2))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(X, W1, b1, W2, b2, W3, b3):
    A1 = sigmoid(X @ W1.T + b1)
    A2 = np.tanh(A1 @ W2.T + b2)
    A3 = A2 @ W3.T + b3
    return A3, (A1, A2, A3)


def cost(A3, Y):
    return np.sum((A3 - Y) ** 2) / (2 * len(Y))


def backward(X, Y, cache, W1, W2, W3):
    A1, A2, A3 = cache
    m = len(X)
    dZ3 = A3 - Y
    dW3 = dZ3.T @ A2 / m
    db3 = dZ3.sum(axis=0, keepdims=True) / m
    dA2 = dZ3 @ W3
    dZ2 = dA2 * (1 - A2 ** 2)
    dW2 = dZ2.T @ A1 / m
    db2 = dZ2.sum(axis=0, keepdims=True) / m
    dA1 = dZ2 @ W2
    dZ1 = dA1 * A1 * (1 - A1)
    dW1 = dZ1.T @ X / m
    db1 = dZ1.sum(axis=0, keepdims=True) / m
    return dW1, db1, dW2, db2, dW3, db3
