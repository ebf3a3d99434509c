"""Reading a learner's backprop file for ``chainrule check``: run it, find its functions and
data, and call its functions by the NAMES of their parameters.

The protocol (docs/check.md has two complete files):

    forward(params, X)              -> A_L, or (A_L, cache), or a cache dict holding "A<L>"
    backward(params, cache, X, Y)   -> a dict of gradients {"dW1": ..., "db1": ..., ...}
                                       (optionally "dZ<l>", "dA<l>"), or the tuple
                                       (dW1, db1, ..., dW_L, db_L)
    cost(AL, Y)                     -> the cost J (a number); optional when LOSS is declared
    params, X, Y                    module variables (params a dict W1, b1, ..., W_L, b_L, or
                                    the arrays W1, b1, ... themselves), or a function
                                    data() returning them (a dict, or a tuple)
    LAMBDA (or lambd)               optional L2 strength; ACTIVATIONS, LOSS, LAYOUT optional
                                    declarations of what would otherwise be inferred

Functions may be named as courses name them (forward_propagation, L_model_backward,
compute_cost, ...) and take their parameters in any order: each parameter is matched by
its name against the aliases below (params/parameters, X/x, Y/y, cache/caches,
lambd/lambda_, W1, b1, ..., and for the cost AL/A2/Yhat/...). The file runs in a fresh
namespace whose ``__name__`` is not "__main__", with its prints swallowed and a time limit.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import re
import signal
import threading
import traceback
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FUNCTION_NAMES: dict[str, tuple[str, ...]] = {
    "forward": ("forward", "forward_propagation", "forward_prop", "forward_pass",
                "L_model_forward", "model_forward", "feedforward", "feed_forward"),
    "backward": ("backward", "backward_propagation", "backward_prop", "backward_pass",
                 "backprop", "L_model_backward", "model_backward",
                 "backward_propagation_with_regularization"),
    "cost": ("cost", "compute_cost", "cost_function", "loss", "compute_loss", "loss_function",
             "compute_cost_with_regularization"),
    "data": ("data", "get_data", "setup", "example", "load_example"),
}
# a learner function's parameter name -> what check passes to it
ARGUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "params": ("params", "parameters", "weights", "theta", "model", "net", "network"),
    "X": ("X", "x", "X_train", "x_train", "inputs", "A0", "a0"),
    "Y": ("Y", "y", "Y_train", "y_train", "labels", "targets", "T", "t"),
    "cache": ("cache", "caches", "cache_list", "forward_cache", "store", "memory"),
    "lambd": ("lambd", "lambda_", "lam", "lmbda", "l2", "reg", "reg_lambda", "LAMBDA"),
    "AL": ("AL", "A_L", "Yhat", "Y_hat", "y_hat", "yhat", "output", "out", "y_pred", "Y_pred",
           "pred", "preds", "prediction", "predictions", "probs", "scores", "A"),
}
LAMBDA_NAMES = ("LAMBDA", "LAMBD", "lambd", "lambda_", "lam", "L2")
_PARAM_KEY = re.compile(r"^([Wb])(\d+)$", re.IGNORECASE)


class CheckFileError(ValueError):
    """A learner file that ``chainrule check`` cannot use, with the one line saying why."""


class _Timeout(BaseException):  # not an Exception: a learner's `except Exception` cannot eat it
    pass


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Stop the learner's code after ``seconds`` (SIGALRM: on the main thread of a Unix
    process; elsewhere no limit can be set from inside Python, and none is)."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Timeout:
        raise CheckFileError(f"{what} did not finish within {seconds:g} s (an endless loop, "
                             f"or an example too big to check?)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def learner_code(what: str, filename: str) -> Iterator[None]:
    """Run the learner's code quietly (its prints and numpy warnings swallowed); an
    exception it raises becomes a CheckFileError naming the line of the file."""
    try:
        with (contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(),
              np.errstate(all="ignore")):
            warnings.simplefilter("ignore")
            yield
    except CheckFileError:
        raise
    except Exception as e:  # the learner's code may raise anything; say what and where
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
                 if f.filename == filename]
        where = f" (line {lines[-1]} of {Path(filename).name})" if lines else ""
        raise CheckFileError(f"{what} raised {type(e).__name__}: {e}{where}") from None


@dataclass
class Learner:
    """What the learner's file provides, ready to call."""

    name: str  # the file name, for messages
    filename: str  # as in tracebacks
    forward: Callable
    backward: Callable
    cost: Callable | None
    params: dict[str, np.ndarray]  # float64 copies, under the learner's own keys
    keys: list[tuple[str, str]]  # (W key, b key) of layers 1..L
    X: np.ndarray
    Y: np.ndarray
    lambd: float
    declared: dict[str, Any] = field(default_factory=dict)  # ACTIVATIONS, LOSS, LAYOUT
    from_dict: bool = True  # params given as a dict (else as module variables W1, b1, ...)

    def W(self, l: int) -> np.ndarray:
        return self.params[self.keys[l - 1][0]]

    def b(self, l: int) -> np.ndarray:
        return self.params[self.keys[l - 1][1]]

    @property
    def layers(self) -> int:
        return len(self.keys)

    def run(self, what: str) -> Any:
        return learner_code(what, self.filename)


def namespace_of(source: Any, timeout: float) -> tuple[dict[str, Any], str, str]:
    """(namespace, display name, filename) of a path, a module or a mapping."""
    if isinstance(source, types.ModuleType):
        filename = getattr(source, "__file__", None) or source.__name__
        return vars(source), Path(filename).name, filename
    if isinstance(source, Mapping):
        return dict(source), "<namespace>", "<namespace>"
    path = Path(os.fspath(source))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CheckFileError(f"cannot read {path}: {e}") from None
    try:
        code = compile(text, str(path), "exec")
    except SyntaxError as e:
        raise CheckFileError(f"{path.name} has a syntax error on line {e.lineno}: "
                             f"{e.msg}") from None
    namespace: dict[str, Any] = {"__name__": "__chainrule_check__", "__file__": str(path)}
    with time_limit(timeout, f"running {path.name}"), learner_code(f"running {path.name}",
                                                                   str(path)):
        exec(code, namespace)  # the learner's own file, which the user asked to check
    return namespace, path.name, str(path)


def _function(ns: dict[str, Any], role: str, name: str, required: bool) -> Callable | None:
    for candidate in FUNCTION_NAMES[role]:
        if callable(ns.get(candidate)):
            return ns[candidate]
    if required:
        raise CheckFileError(f"{name} defines no {role} function: name it one of "
                             f"{', '.join(FUNCTION_NAMES[role][:4])}, ...")
    return None


def role_of(name: str) -> str | None:
    """What a parameter called ``name`` receives: a role of ARGUMENT_NAMES, or a params key
    (W1, b1, ...), or None."""
    for role, names in ARGUMENT_NAMES.items():
        if name in names:
            return role
    if _PARAM_KEY.match(name):
        return name
    if re.fullmatch(r"A\d+", name):  # the output: A2 in compute_cost(A2, Y)
        return "AL"
    return None


def bind(fn: Callable, values: dict[str, Any], what: str, first: str | None = None
         ) -> tuple[list[Any], dict[str, Any]]:
    """The (args, kwargs) that call ``fn`` with ``values`` matched to its parameter names.
    A first parameter whose name means nothing to check gets ``values[first]``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise CheckFileError(f"cannot read the parameters of {what}") from None
    args, kwargs = [], {}
    for i, p in enumerate(parameters):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        role = role_of(p.name)
        if role is None and i == 0 and first is not None:
            role = first
        if role in values and values[role] is not None:
            value = values[role]
        elif p.default is not p.empty:
            continue
        else:
            known = ", ".join(names[0] for names in ARGUMENT_NAMES.values())
            detail = ("" if role is None else
                      f": {what} needs {role} but check has none to give")
            raise CheckFileError(f"{what}: cannot tell what its parameter {p.name!r} is"
                                 f"{detail or f' (check passes {known}, W1, b1, ...)'}")
        if p.kind is p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[p.name] = value
    return args, kwargs


def _array(value: Any, what: str) -> np.ndarray:
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFileError(f"{what} is not an array of numbers") from None
    if a.ndim != 2 and not what.startswith("b"):
        raise CheckFileError(f"{what} must be a 2-D array, got shape {a.shape}")
    return a


def _params(raw: Mapping[str, Any], name: str) -> tuple[dict[str, np.ndarray],
                                                         list[tuple[str, str]]]:
    """float64 copies of W1, b1, ..., W_L, b_L (keys as the learner wrote them)."""
    found: dict[tuple[str, int], str] = {}
    for key in raw:
        match = _PARAM_KEY.match(str(key))
        if match:
            found[(match[1].upper(), int(match[2]))] = key
    layers = sorted(n for kind, n in found if kind == "W")
    if not layers:
        raise CheckFileError(f"{name} has no weights: give params = {{'W1': ..., 'b1': ..., "
                             f"...}} (or a function data() returning params, X, Y)")
    if layers != list(range(1, len(layers) + 1)):
        raise CheckFileError(f"{name}: the weights must be W1 to W{len(layers)}, got "
                             f"{', '.join('W' + str(n) for n in layers)}")
    keys = []
    for n in layers:
        if ("B", n) not in found:
            raise CheckFileError(f"{name}: W{n} has no bias b{n} (check takes layers "
                                 f"Z = W A + b with a bias each)")
        keys.append((found[("W", n)], found[("B", n)]))
    params = {k: _array(raw[k], str(k)) for pair in keys for k in pair}
    return params, keys


def _from_data_function(ns: dict[str, Any], name: str, filename: str, timeout: float
                        ) -> dict[str, Any]:
    """data() may return a dict (params, X, Y, lambd under any alias) or a tuple whose dict
    is params, whose arrays are X then Y, and whose number is lambda."""
    fn = _function(ns, "data", name, required=False)
    if fn is None:
        return {}
    with time_limit(timeout, "data()"), learner_code("data()", filename):
        out = fn()
    if isinstance(out, Mapping):
        return {role_of(str(k)) or str(k): v for k, v in out.items()}
    if not isinstance(out, tuple | list):
        raise CheckFileError("data() must return a dict or a tuple (params, X, Y)")
    found: dict[str, Any] = {}
    arrays = iter(("X", "Y"))
    for v in out:
        if isinstance(v, Mapping):
            found["params"] = v
        elif isinstance(v, int | float):
            found["lambd"] = float(v)
        else:
            found[next(arrays, "extra")] = v
    return found


def _variable(ns: dict[str, Any], role: str) -> Any:
    for alias in ARGUMENT_NAMES[role]:
        if alias in ns and not callable(ns[alias]):
            return ns[alias]
    return None


def load(source: Any, timeout: float = 30.0, lambd: float | None = None) -> Learner:
    """Run the file (or read the module or mapping) and collect what the protocol names."""
    ns, name, filename = namespace_of(source, timeout)
    forward = _function(ns, "forward", name, required=True)
    backward = _function(ns, "backward", name, required=True)
    cost = _function(ns, "cost", name, required=False)
    given = _from_data_function(ns, name, filename, timeout)
    raw = given.get("params", _variable(ns, "params"))
    from_dict = isinstance(raw, Mapping)
    if not from_dict:  # W1, b1, ... as module variables (or returned by data())
        raw = {k: v for k, v in {**ns, **given}.items() if _PARAM_KEY.match(str(k))}
    params, keys = _params(raw, name)
    X, Y = given.get("X", _variable(ns, "X")), given.get("Y", _variable(ns, "Y"))
    for role, value in (("X", X), ("Y", Y)):
        if value is None:
            raise CheckFileError(f"{name} defines no {role}: give the examples as module "
                                 f"variables X and Y (or a function data() returning params, "
                                 f"X, Y)")
    if lambd is None:
        lambd = given.get("lambd")
    if lambd is None:
        lambd = next((ns[k] for k in LAMBDA_NAMES if isinstance(ns.get(k), int | float)), 0.0)
    declared = {k: ns[k] for k in ("ACTIVATIONS", "LOSS", "LAYOUT") if k in ns}
    return Learner(name, filename, forward, backward, cost, params, keys, _array(X, "X"),
                   _array(Y, "Y"), float(lambd), declared, from_dict)
