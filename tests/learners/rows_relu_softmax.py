"""A correct 2-layer classifier, examples as rows and Z = X W + b (W is (in, out)), as in
many rows-layout courses: ReLU hidden layer, softmax output, cross-entropy. backward returns
its gradients under the parameters' own names, and the output error dscores, which (as
such courses do) already holds the 1/N."""
import numpy as np

rng = np.random.default_rng(1)
N, D, H, C = 6, 4, 5, 3
X = rng.normal(size=(N, D))
y = rng.integers(0, C, size=N)
Y = np.eye(C)[y]                                # one-hot rows
params = {"W1": 0.5 * rng.normal(size=(D, H)), "b1": 0.1 * rng.normal(size=H),
          "W2": 0.5 * rng.normal(size=(H, C)), "b2": 0.1 * rng.normal(size=C)}


def softmax(scores):
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, X):
    hidden = np.maximum(0, X @ params["W1"] + params["b1"])
    probs = softmax(hidden @ params["W2"] + params["b2"])
    return probs, (hidden, probs)


def loss(probs, Y):
    return -np.sum(Y * np.log(probs)) / len(Y)


def backward(params, cache, X, Y):
    hidden, probs = cache
    dscores = (probs - Y) / len(X)
    grads = {"W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
    dhidden = dscores @ params["W2"].T
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T @ dhidden
    grads["b1"] = dhidden.sum(axis=0)
    grads["dZ2"] = dscores
    return grads
