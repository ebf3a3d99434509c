"""A correct 3-layer network with L2 regularization in the course's style: examples as
columns, ReLU, ReLU, sigmoid, cross-entropy plus lambd / (2 m) sum ||W||^2, the cache a
tuple, the backward pass without the parameters (it reads W from the cache)."""
import numpy as np

rng = np.random.default_rng(3)
X = rng.normal(size=(3, 6))
Y = (rng.random((1, 6)) > 0.5).astype(float)
parameters = {"W1": rng.normal(size=(4, 3)), "b1": 0.1 * rng.normal(size=(4, 1)),
              "W2": rng.normal(size=(3, 4)), "b2": 0.1 * rng.normal(size=(3, 1)),
              "W3": rng.normal(size=(1, 3)), "b3": 0.1 * rng.normal(size=(1, 1))}
lambd = 0.7


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward_propagation(X, parameters):
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = W1 @ X + b1
    A1 = np.maximum(0, Z1)
    Z2 = W2 @ A1 + b2
    A2 = np.maximum(0, Z2)
    Z3 = W3 @ A2 + b3
    A3 = sigmoid(Z3)
    return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def compute_cost_with_regularization(A3, Y, parameters, lambd):
    m = Y.shape[1]
    cross_entropy = -np.sum(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)) / m
    l2 = lambd / (2 * m) * sum(np.sum(parameters[k] ** 2) for k in ("W1", "W2", "W3"))
    return cross_entropy + l2


def backward_propagation_with_regularization(X, Y, cache, lambd):
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1. / m * dZ3 @ A2.T + lambd / m * W3
    db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = W3.T @ dZ3
    dZ2 = dA2 * (A2 > 0)
    dW2 = 1. / m * dZ2 @ A1.T + lambd / m * W2
    db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * (A1 > 0)
    dW1 = 1. / m * dZ1 @ X.T + lambd / m * W1
    db1 = 1. / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
