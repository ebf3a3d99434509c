"""The example network and data of ``chainrule explain``, from its options.

Which data and which network, from the options given:

    nothing             the fixed 2-2-3 default example (fixed weights and data);
                        --activation and --loss apply to it
    --layers only       random weights; the default example's data if the sizes fit
                        (2 inputs, 3 outputs), otherwise 2 random examples
    --x/--y or --csv    those examples; random weights; the sizes inputs-2-outputs
                        unless --layers gives them

The output activation follows the loss (softmax for cross-entropy, sigmoid for bce, the
hidden activation for mse) unless --activation names one activation per layer. Bad
options are ValueErrors whose message names the option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.explainer.derivation import explainable

# the activations of the one registry (nn/activation.py) that the explainer derives
ACTIVATION_NAMES = tuple(cls.name for cls in explainable())
OUTPUT_FOR_LOSS = {"cross-entropy": "softmax", "bce": "sigmoid"}
DEFAULT_SIZES = (2, 3)  # the default example's inputs and outputs


@dataclass
class ExampleSpec:
    """What the network and examples of a derivation are made from (the options of
    ``chainrule explain`` of the same names)."""

    layers: str | None = None  # "2,2,3"
    activation: str = "sigmoid"  # one name, or one per layer
    loss: str = "cross-entropy"
    x: str | None = None  # "0.05,0.1;0.2,0.3"
    y: str | None = None
    csv: str | None = None
    label_column: str = "label"
    weights_seed: int = 0


def parse_layers(text: str) -> list[int]:
    """--layers "2,2,3" -> [2, 2, 3]: inputs, hidden sizes, outputs."""
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"explain: --layers must be whole numbers separated by commas, e.g. "
                         f"2,2,3; got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"explain: --layers needs at least 2 positive sizes (inputs, ..., "
                         f"outputs), e.g. 2,2,3; got {text!r}")
    return sizes


def activation_names(text: str) -> list[str]:
    """--activation split into known names (leaky-relu is leaky_relu)."""
    names = [name.strip().replace("-", "_").lower() for name in text.split(",")]
    for name in names:
        if name not in ACTIVATION_NAMES:
            from chainrule._suggest import did_you_mean

            raise ValueError(f"explain: unknown activation {name!r} in --activation; choose "
                             f"from {', '.join(ACTIVATION_NAMES)}"
                             f"{did_you_mean(name, ACTIVATION_NAMES)}")
    return names


def per_layer(names: list[str], n: int, loss: str) -> list[str]:
    """One activation per layer: one name is the hidden layers' and the output follows the
    loss (softmax for cross-entropy, sigmoid for bce, the same name for mse)."""
    if len(names) == 1:
        if names[0] == "softmax":
            raise ValueError("explain: softmax can only be the output layer's activation: "
                             "give one name per layer, e.g. --activation sigmoid,softmax")
        names = [names[0]] * (n - 1) + [OUTPUT_FOR_LOSS.get(loss, names[0])]
    if len(names) != n:
        raise ValueError(f"explain: --activation needs 1 name or {n} (one per layer), got "
                         f"{len(names)}: {','.join(names)}")
    if "softmax" in names[:-1]:
        raise ValueError("explain: softmax can only be the output layer's activation: put it "
                         "last in --activation")
    _check_output(names[-1], loss)
    return names


def _check_output(output: str, loss: str) -> None:
    """The loss and the output activation must pair up (see derivation._check_loss)."""
    needed = OUTPUT_FOR_LOSS.get(loss)
    if needed and output != needed:
        raise ValueError(f"explain: --loss {loss} needs a {needed} output layer, but "
                         f"--activation makes it {output}: end --activation with {needed} "
                         f"or give a single name")
    if loss == "mse" and output == "softmax":
        raise ValueError("explain: --loss mse needs an elementwise output activation, not "
                         "softmax: end --activation with e.g. sigmoid or identity, or use "
                         "--loss cross-entropy")


def parse_matrix(text: str, what: str) -> np.ndarray:
    """"0.05,0.1;0.2,0.3" -> a matrix with one row per example."""
    try:
        rows = [[float(v) for v in row.split(",")] for row in text.split(";") if row.strip()]
    except ValueError:
        raise ValueError(f"explain: --{what} must be numbers, rows separated by ';' and "
                         f"values by ',' (e.g. \"0.05,0.1;0.2,0.3\"); got {text!r}") from None
    if not rows:
        raise ValueError(f"explain: --{what} is empty; give at least one row")
    if len({len(row) for row in rows}) > 1:
        raise ValueError(f"explain: --{what} rows must all have the same length, got "
                         f"lengths {[len(row) for row in rows]}")
    return np.array(rows, dtype=np.float64)


def _is_indices(y: np.ndarray) -> bool:
    return y.shape[1] == 1 and bool(np.all((y >= 0) & (y == np.round(y))))


def _outputs(y: np.ndarray, loss: str, classes: int | None, source: str) -> int:
    """The output layer's size when --layers does not give it.

    Several columns: one output each. One column: bce takes values in [0, 1] as one
    output; mse takes --y values as one output; otherwise the column holds class indices
    and there is one output per class."""
    if y.shape[1] > 1:
        return y.shape[1]
    if loss == "bce" and y.min() >= 0 and y.max() <= 1:
        return 1
    if loss == "mse" and classes is None:
        return 1
    if classes is None:
        if not _is_indices(y):
            raise ValueError(f"explain: --loss {loss} needs class indices 0, 1, 2, ... or "
                             f"one-hot rows in {source}, got {y[:, 0].tolist()}")
        classes = int(y.max()) + 1
    return classes


def _targets(y: np.ndarray, n_out: int, source: str) -> np.ndarray:
    """Targets with one column per output: a single column of class indices becomes one-hot
    rows when there are several outputs."""
    if y.shape[1] == n_out:
        return y
    if y.shape[1] != 1:
        raise ValueError(f"explain: the network has {n_out} outputs but {source} has "
                         f"{y.shape[1]} columns")
    bad = (y < 0) | (y >= n_out) | (y != np.round(y))
    if bad.any():
        raise ValueError(f"explain: {source} must hold class indices 0..{n_out - 1} for a "
                         f"network with {n_out} outputs (one per class), got {y[bad][0]:g}")
    return np.eye(n_out)[y[:, 0].astype(int)]


def _random_examples(sizes: list[int], loss: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2 examples: inputs ~ N(0, 1) and targets that suit the loss (one-hot classes for
    cross-entropy, 0/1 for bce, values in [0, 1] for mse), to 2 decimals for reading."""
    rng = np.random.default_rng([seed, 1])  # a stream apart from the weights'
    m, n_in, n_out = 2, sizes[0], sizes[-1]
    x = rng.normal(0, 1, (m, n_in)).round(2)
    if loss == "cross-entropy":
        y = np.eye(n_out)[rng.integers(0, n_out, m)]
    elif loss == "bce":
        y = rng.integers(0, 2, (m, n_out)).astype(np.float64)
    else:
        y = rng.uniform(0, 1, (m, n_out)).round(2)
    return x, y


def _examples(spec: ExampleSpec, sizes: list[int] | None
              ) -> tuple[np.ndarray, np.ndarray, int | None, str, str]:
    """(x, y, classes, where x came from, where y came from) from --csv, --x/--y, or, with
    --layers alone, the default example's data or random examples."""
    if spec.csv:
        from chainrule.data import load_csv

        try:
            table = load_csv(spec.csv, spec.label_column)
        except ValueError as e:
            hint = ("; name the label column with --label-column"
                    if f"no column {spec.label_column!r}" in str(e) else "")
            raise ValueError(f"explain: --csv: {e}{hint}") from None
        return (table.X.astype(np.float64), table.y.reshape(-1, 1).astype(np.float64),
                len(table.classes), f"the features of {spec.csv}",
                f"the labels of {spec.csv} (column {spec.label_column!r})")
    if spec.x:
        x, y = parse_matrix(spec.x, "x"), parse_matrix(spec.y, "y")
        if len(x) != len(y):
            raise ValueError(f"explain: --x has {len(x)} examples but --y has {len(y)}")
        return x, y, None, "--x", "--y"
    if (sizes[0], sizes[-1]) == DEFAULT_SIZES:
        from chainrule.explainer import default_example

        _, x, y = default_example()
        return x, y, None, "the default example", "the default example"
    x, y = _random_examples(sizes, spec.loss, spec.weights_seed)
    return x, y, None, "the random examples", "the random examples"


def _check_bce_targets(y: np.ndarray, classes: int | None, source: str) -> None:
    """bce compares each output with a target in [0, 1]."""
    if y.min() >= 0 and y.max() <= 1:
        return
    hint = (f"; for {classes} classes end --layers with {classes} (one sigmoid output per "
            f"class)" if classes else "")
    raise ValueError(f"explain: --loss bce needs targets between 0 and 1, but the targets "
                     f"from {source} range from {y.min():g} to {y.max():g}{hint}")


def _random_model(sizes: list[int], acts: list[str], seed: int) -> Any:
    """Linear layers with weights ~ N(0, 0.5^2) and biases ~ N(0, 0.1^2), in float64."""
    from chainrule.autograd.mode import no_grad
    from chainrule.nn import Linear, Sequential
    from chainrule.nn.builders import activation

    rng = np.random.default_rng(seed)
    layers: list[Any] = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts, strict=True):
        lin = Linear(n_in, n_out, dtype=np.float64)
        with no_grad():
            lin.weight.copy_(rng.normal(0, 0.5, (n_out, n_in)))
            lin.bias.copy_(rng.normal(0, 0.1, n_out))
        layers += [lin, activation(act)]
    return Sequential(*layers)


def build(spec: ExampleSpec) -> tuple[Any, np.ndarray, np.ndarray]:
    """The model and the examples ``spec`` describes (see the module docstring)."""
    from chainrule.explainer import default_example

    names = activation_names(spec.activation)
    if not (spec.layers or spec.x or spec.csv):
        return default_example(*per_layer(names, 2, spec.loss))
    sizes = parse_layers(spec.layers) if spec.layers else None
    x, y, classes, x_source, y_source = _examples(spec, sizes)
    if sizes is None:
        sizes = [x.shape[1], 2, _outputs(y, spec.loss, classes, y_source)]
    if sizes[0] != x.shape[1]:
        raise ValueError(f"explain: --layers starts with {sizes[0]} inputs but {x_source} "
                         f"has {x.shape[1]} features")
    if spec.loss == "cross-entropy" and sizes[-1] < 2:
        raise ValueError("explain: --loss cross-entropy needs one output per class, 2 or more "
                         "(a softmax over 1 output is always 1): end --layers with the number "
                         "of classes, or use --loss bce or mse")
    _check_size(sizes, len(x), x_source)
    y = _targets(y, sizes[-1], y_source)
    if spec.loss == "bce":
        _check_bce_targets(y, classes, y_source)
    acts = per_layer(names, len(sizes) - 1, spec.loss)
    return _random_model(sizes, acts, spec.weights_seed), x, y


# explain prints every matrix and checks every gradient entry by central differences
# (two forward passes per entry), so its cost grows like weights x examples x weights:
# --layers 100,100,10 took 1 s, 300,300,10 took 21 s. Past these sizes the printout is
# unreadable anyway.
MAX_WEIGHTS, MAX_EXAMPLES = 20_000, 500


def _check_size(sizes: list[int], examples: int, source: str) -> None:
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if weights > MAX_WEIGHTS:
        raise ValueError(f"explain: --layers {','.join(map(str, sizes))} has {weights:,} "
                         f"weights; explain prints and numerically checks every one, so it "
                         f"takes networks of at most {MAX_WEIGHTS:,} (train bigger ones with "
                         f"chainrule train)")
    if examples > MAX_EXAMPLES:
        raise ValueError(f"explain: {source} has {examples:,} examples; explain prints every "
                         f"one, so give at most {MAX_EXAMPLES} (a few rows show the derivation "
                         f"as well as many)")
