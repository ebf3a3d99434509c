"""A correct 1-hidden-layer network that declares what check would otherwise infer: no
cost function (LOSS says which), ACTIVATIONS and LAYOUT given, the data from a function,
leaky ReLU with slope 0.2, tanh output, squared error sum((A - Y)^2) / m (so dZ carries
a 2), L2 with LAMBDA and the course's lambda / (2m) term."""
import numpy as np

ACTIVATIONS = ["leaky_relu(0.2)", "tanh"]
LOSS = "mse"
LAYOUT = "rows"
LAMBDA = 0.3


def data():
    rng = np.random.default_rng(4)
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=3),
              "W2": rng.normal(size=(1, 3)), "b2": rng.normal(size=1)}
    return params, rng.normal(size=(5, 2)), rng.normal(size=(5, 1))


def forward(params, X):
    Z1 = X @ params["W1"].T + params["b1"]
    A1 = np.where(Z1 > 0, Z1, 0.2 * Z1)
    A2 = np.tanh(A1 @ params["W2"].T + params["b2"])
    return A2, {"Z1": Z1, "A1": A1, "A2": A2}


def backward(params, cache, X, Y, lambd):
    m = len(X)
    dZ2 = 2 * (cache["A2"] - Y) * (1 - cache["A2"] ** 2)
    dW2 = dZ2.T @ cache["A1"] / m + lambd / m * params["W2"]
    db2 = dZ2.sum(axis=0) / m
    dA1 = dZ2 @ params["W2"]
    dZ1 = dA1 * np.where(cache["Z1"] > 0, 1, 0.2)
    dW1 = dZ1.T @ X / m + lambd / m * params["W1"]
    db1 = dZ1.sum(axis=0) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dA1": dA1, "dZ1": dZ1,
            "dZ2": dZ2, "dA0": dZ1 @ params["W1"]}
