"""Safe expressions for ``chainrule graph``: parsed with ``ast``, never ``eval``.

Only numbers, names, + - * / ** @, unary minus and calls to a fixed list of
chainrule functions are accepted; anything else (attribute access, subscripts,
lambdas, comprehensions, keywords, huge constants) is refused with a message
naming the offending piece, before anything is computed.

A resource budget bounds what a valid expression may cost. Before evaluating, ``evaluate``
walks the tree once on shapes alone (``estimate``: broadcasting and matrix-product rules,
no array is made) and refuses, naming the piece and the limit, an expression that would
make any intermediate array of more than MAX_ELEMENTS elements, keep more than
MAX_TOTAL_ELEMENTS in its graph (backward needs every intermediate), or do more than
MAX_WORK multiply-adds in its forward pass (a matrix product counts m k n, any other op
one per output element).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.nn.activation import ACTIVATIONS
from chainrule.ops import elementwise as ew
from chainrule.ops import reductions as red

# the callable functions: elementwise math, every activation by its name, two reductions
FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt, "abs": ew.abs, "maximum": ew.maximum,
    "minimum": ew.minimum, **{name: cls.function for name, cls in ACTIVATIONS.items()},
    "sum": red.sum, "mean": red.mean,
}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.Pow: lambda a, b: a ** b, ast.MatMult: lambda a, b: a @ b}
MAX_LENGTH = 2000
MAX_NODES = 400
MAX_CONSTANT = 1e6
MAX_EXPONENT = 100
MAX_ELEMENTS = 10**7  # of any one intermediate result (80 MB of float64)
MAX_TOTAL_ELEMENTS = 5 * 10**7  # of all of them together: the graph keeps each for backward
MAX_WORK = 10**9  # multiply-adds of the forward pass (backward costs about twice as much)


class ExpressionError(ValueError):
    """The expression or the values are not acceptable; the message says which piece."""


def _piece(node: ast.AST, source: str) -> str:
    return ast.get_source_segment(source, node) or type(node).__name__


def parse(source: str) -> ast.Expression:
    """Parse and vet an expression; raise ExpressionError for anything not whitelisted."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"graph: the expression is {len(source)} characters long; the "
                              f"limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"graph: not a valid expression: {e.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"graph: the expression has {len(nodes)} parts; the limit is "
                              f"{MAX_NODES}")
    vetter = _Vetter(source.strip())
    for node in nodes:  # breadth first: the outermost offending piece is named
        vetter.visit(node)
    return tree


# the whitelist: the structural nodes, which need no check of their own ...
STRUCTURE = (ast.Expression, ast.Load, ast.UAdd, ast.USub, *_BINARY)
# ... and the nodes _Vetter checks one by one, each in its visit_ method: BinOp, UnaryOp,
# Constant, Name and Call. What a refusal calls some of the other kinds:
REFUSED = {ast.Attribute: "attribute access", ast.Subscript: "indexing",
           ast.Lambda: "lambdas", ast.ListComp: "comprehensions",
           ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons",
           ast.BoolOp: "boolean operators", ast.IfExp: "conditional expressions"}
PLURAL_KINDS = ("lambdas", "comprehensions", "comparisons", "boolean operators",
                "conditional expressions")


class _Vetter(ast.NodeVisitor):
    """``visit(node)`` vets one node against the whitelist (``parse`` walks them all);
    anything outside it raises an ExpressionError naming the offending piece."""

    def __init__(self, source: str) -> None:
        self.source = source

    def refuse(self, message: str) -> ExpressionError:
        return ExpressionError(f"graph: {message}")

    def piece(self, node: ast.AST) -> str:
        return _piece(node, self.source)

    def generic_visit(self, node: ast.AST) -> None:
        """The nodes without a check of their own: structure passes, the rest is refused."""
        if isinstance(node, STRUCTURE):
            return
        if isinstance(node, ast.operator):
            raise self.refuse(f"the operator {type(node).__name__} is not allowed")
        what = next((v for k, v in REFUSED.items() if isinstance(node, k)),
                    type(node).__name__)
        verb = "are" if what in PLURAL_KINDS else "is"  # "lambdas are", "indexing is"
        raise self.refuse(f"{what} {verb} not allowed: {self.piece(node)}")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        """Powers are bounded: no exponent above MAX_EXPONENT, no power of a power."""
        if not isinstance(node.op, ast.Pow):
            return
        right = node.right
        if isinstance(right, ast.Constant) and isinstance(right.value, int | float) and \
                abs(right.value) > MAX_EXPONENT:
            raise self.refuse(f"the exponent in {self.piece(node)} is too large (at most "
                              f"{MAX_EXPONENT})")
        if isinstance(right, ast.BinOp) and isinstance(right.op, ast.Pow):
            raise self.refuse(f"nested powers like {self.piece(node)} are not allowed")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise self.refuse(f"the operator in {self.piece(node)} is not allowed")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise self.refuse(f"only numbers are allowed as constants, not {self.piece(node)}")
        if abs(node.value) > MAX_CONSTANT:
            raise self.refuse(f"the constant {self.piece(node)} is too large (at most "
                              f"{MAX_CONSTANT:g})")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            raise self.refuse(f"names starting with '_' are not allowed: {node.id}")

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise self.refuse(f"only these functions can be called: {', '.join(FUNCTIONS)}; "
                              f"not {self.piece(node.func)}")
        if node.keywords:
            raise self.refuse(f"keyword arguments are not allowed: {self.piece(node)}")


def _numeric(value: object) -> bool:
    """A number (int or float, not bool) or a list (or tuple) of them, nested."""
    if isinstance(value, list | tuple):
        return all(_numeric(v) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_values(text: str) -> dict[str, np.ndarray]:
    """'x=-2,y=5,w=[1,2,3]' -> float64 arrays by name (numbers or lists of numbers only)."""
    values: dict[str, np.ndarray] = {}
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in (p.strip() for p in parts):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ExpressionError(f"graph: --values expects name=number pairs like x=-2,y=5 "
                                  f"(or w=[1,2,3]); could not read {part!r}")
        try:
            value = ast.literal_eval(raw.strip())
            if not _numeric(value):  # np.asarray('1e5', float) would parse a string
                raise TypeError
            array = np.asarray(value, dtype=np.float64)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            shown = raw.strip() if len(raw.strip()) <= 40 else raw.strip()[:37] + "..."
            raise ExpressionError(f"graph: the value of {name} is not a number or a list of "
                                  f"numbers: {shown!r}") from None
        if array.size > 10_000:
            raise ExpressionError(f"graph: the value of {name} has {array.size} elements; keep "
                                  f"graphs small (at most 10,000)")
        values[name] = array
    return values


def _no_value(name: str) -> ExpressionError:
    return ExpressionError(f"graph: no value for {name}; give it with --values {name}=...")


def _short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


class _Estimate:
    """Shapes and costs of an expression's nodes, from the values' shapes only."""

    def __init__(self, values: dict[str, np.ndarray]) -> None:
        self.values = values
        self.total = 0
        self.work = 0

    def shape(self, node: ast.AST) -> tuple[int, ...]:
        if isinstance(node, ast.Expression):
            return self.shape(node.body)
        if isinstance(node, ast.Constant):
            return ()
        if isinstance(node, ast.Name):
            if node.id not in self.values:
                raise _no_value(node.id)
            return self.values[node.id].shape
        if isinstance(node, ast.UnaryOp):
            return self.charge(node, self.shape(node.operand))
        if isinstance(node, ast.BinOp):
            left, right = self.shape(node.left), self.shape(node.right)
            if isinstance(node.op, ast.MatMult):
                out, work = _matmul_shape(node, left, right)
                return self.charge(node, out, work)
            return self.charge(node, _broadcast(node, left, right))
        if isinstance(node, ast.Call):
            return self.charge(node, self.call_shape(node))
        raise ExpressionError(f"graph: cannot evaluate {type(node).__name__}")

    def call_shape(self, node: ast.Call) -> tuple[int, ...]:
        args = [self.shape(a) for a in node.args]
        if not args:
            return ()  # the call itself reports the missing argument
        if node.func.id in ("sum", "mean"):
            return () if len(args) == 1 else args[0]  # with an axis, at most the input's
        if node.func.id in ("maximum", "minimum") and len(args) == 2:
            return _broadcast(node, *args)
        return args[0]  # every other function is elementwise

    def charge(self, node: ast.AST, shape: tuple[int, ...], work: int | None = None
               ) -> tuple[int, ...]:
        """Count the node's result and work against the budget; refuse past it."""
        n = math.prod(shape)
        if n > MAX_ELEMENTS:
            raise ExpressionError(
                f"graph: {_short(node)} would make an array of shape {shape} ({n:,} elements); "
                f"the budget is MAX_ELEMENTS = {MAX_ELEMENTS:,} elements per intermediate")
        self.total += n
        self.work += n if work is None else work
        if self.work > MAX_WORK:
            raise ExpressionError(
                f"graph: the expression needs over {self.work:,} multiply-adds by "
                f"{_short(node)}; the budget is MAX_WORK = {MAX_WORK:,}")
        if self.total > MAX_TOTAL_ELEMENTS:
            raise ExpressionError(
                f"graph: the graph would hold over {self.total:,} elements by {_short(node)}; "
                f"the budget is MAX_TOTAL_ELEMENTS = {MAX_TOTAL_ELEMENTS:,}")
        return shape


def _broadcast(node: ast.AST, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ExpressionError(f"graph: the shapes {' and '.join(map(str, shapes))} in "
                              f"{_short(node)} do not broadcast together") from None


def _matmul_shape(node: ast.AST, a: tuple[int, ...], b: tuple[int, ...]
                  ) -> tuple[tuple[int, ...], int]:
    """numpy's matmul rules on shapes: (result shape, multiply-adds)."""
    if not a or not b:
        raise ExpressionError(f"graph: @ needs operands with at least one axis, not shapes "
                              f"{a} and {b}: {_short(node)}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ExpressionError(f"graph: @ of shapes {a} and {b} does not fit (inner sizes "
                              f"{a2[-1]} and {b2[-2]}): {_short(node)}")
    batch = _broadcast(node, a2[:-2], b2[:-2])
    out = (*batch, *a2[-2:-1][:len(a) - 1], *b2[-1:][:len(b) - 1])
    return out, math.prod(batch) * a2[-2] * a2[-1] * b2[-1]


def estimate(tree: ast.Expression, values: dict[str, np.ndarray]) -> tuple[int, int]:
    """(elements the graph holds, multiply-adds of the forward), from the shapes alone;
    raise ExpressionError past the budget (MAX_ELEMENTS, MAX_TOTAL_ELEMENTS, MAX_WORK)."""
    budget = _Estimate(values)
    budget.shape(tree)
    return budget.total, budget.work


def evaluate(tree: ast.Expression, values: dict[str, np.ndarray]
             ) -> tuple[Tensor, dict[str, Tensor]]:
    """Build the graph: every name becomes a float64 leaf that requires grad. The
    expression's cost is estimated first and refused past the budget (``estimate``)."""
    estimate(tree, values)
    leaves: dict[str, Tensor] = {}

    def ev(node: ast.AST) -> Tensor | float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise _no_value(node.id)
            if node.id not in leaves:
                leaves[node.id] = Tensor(values[node.id].copy(), requires_grad=True)
            return leaves[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = ev(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if not isinstance(left, Tensor) and not isinstance(right, Tensor):
                left = Tensor(np.asarray(left, np.float64))
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            args = [ev(a) for a in node.args]
            args = [a if isinstance(a, Tensor) else Tensor(np.asarray(a, np.float64))
                    for a in args]
            try:
                return FUNCTIONS[node.func.id](*args)
            except TypeError as e:
                raise ExpressionError(f"graph: {node.func.id}() {e}") from None
        raise ExpressionError(f"graph: cannot evaluate {type(node).__name__}")

    with np.errstate(all="ignore"):
        out = ev(tree)
    if not isinstance(out, Tensor) or out.grad_fn is None:
        raise ExpressionError("graph: the expression must use at least one named value")
    return out, leaves
