"""Elementwise ops: arithmetic, powers, exp/log, comparisons-as-selection, casting.

Each class is one node kind: ``forward`` computes the value with numpy and
``backward`` multiplies the upstream gradient ``gy`` by the local derivative, as
its docstring states. Binary ops broadcast like numpy; the gradient flowing into
a broadcast operand is summed back to that operand's shape (``sum_to``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.shape import sum_to

# -- turning Python numbers and arrays into operands ------------------------------


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; constants adopt ``like``'s floating dtype.

    Constants (Python numbers, lists, numpy arrays) are "weak", as Python scalars
    are in numpy 2: multiplying a float32 tensor by 0.5 or by a float64 array
    stays float32, which keeps every later matrix product in fast float32.
    """
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if like is not None and like.data.dtype.kind == "f":
        if array.dtype != like.data.dtype and array.dtype.kind in "biuf":
            array = array.astype(like.data.dtype)
    elif array.dtype == np.float64 and not isinstance(value, np.ndarray):
        array = array.astype(np.float32)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected a number, an array or a Tensor, got {type(value).__name__}")
    return Tensor.constant(array)


def operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as Tensors. An integer or bool tensor meeting a
    floating one is cast to the floating dtype (as PyTorch does; numpy would make
    int64 + float32 into float64)."""
    if not isinstance(a, Tensor):
        b = as_tensor(b)
        return as_tensor(a, b), b
    if not isinstance(b, Tensor):
        return a, as_tensor(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da != db:
        if da.kind == "f" and db.kind != "f":
            b = Tensor.constant(b.data.astype(da))
        elif db.kind == "f" and da.kind != "f":
            a = Tensor.constant(a.data.astype(db))
    return a, b


def _binary_shapes_error(name: str, a: np.ndarray, b: np.ndarray) -> ValueError:
    return ValueError(f"{name}: cannot broadcast shapes {a.shape} and {b.shape} together "
                      f"(numpy broadcasting: trailing axes must be equal or 1)")


class _Binary(Function):
    """A broadcasting binary op: turns numpy's broadcast error into a readable one."""

    __slots__ = ()
    ufunc: np.ufunc

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            return self.ufunc(a, b)
        except ValueError:
            raise _binary_shapes_error(self.name.lower(), a, b) from None


# -- arithmetic --------------------------------------------------------------------


class Add(_Binary):
    """y = a + b;  dy/da = 1, dy/db = 1 (an add node passes its gradient through)."""

    __slots__ = ()
    ufunc = np.add
    needs_inputs = False

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor]:
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(_Binary):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    __slots__ = ()
    ufunc = np.subtract
    needs_inputs = False

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor | None]:
        a, b = self.inputs
        return sum_to(gy, a.shape), (sum_to(-gy, b.shape) if b.requires_grad else None)


class Mul(_Binary):
    """y = a * b;  dy/da = b, dy/db = a (a multiply node sends each input the other's value)."""

    __slots__ = ()
    ufunc = np.multiply

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if a.requires_grad else None
        gb = sum_to(gy * a, b.shape) if b.requires_grad else None
        return ga, gb


class Div(_Binary):
    """y = a / b;  dy/da = 1 / b, dy/db = -a / b**2."""

    __slots__ = ()
    ufunc = np.true_divide

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if a.requires_grad else None
        gb = sum_to(-gy * a / (b * b), b.shape) if b.requires_grad else None
        return ga, gb


class Neg(Function):
    """y = -x;  dy/dx = -1."""

    __slots__ = ()
    needs_inputs = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.negative(x)

    def backward(self, gy: Tensor) -> Tensor:
        return -gy


class PowScalar(Function):
    """y = x ** c for a constant c;  dy/dx = c * x ** (c - 1).

    For c = 0, y = 1 everywhere and dy/dx = 0, also at x = 0 where the formula reads
    0 * 0 ** -1 = NaN (PyTorch's convention too); other exponents at 0 keep the formula's
    value (0 for c > 1, 1 for c = 1, +-inf for c < 1), as PyTorch's.
    """

    __slots__ = ("c",)

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.power(x, np.asarray(self.c, x.dtype) if x.dtype.kind == "f" else self.c)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        c = self.c
        if c == 0:
            return Tensor.constant(np.zeros(gy.shape, gy.dtype))
        if c == 2:
            return gy * (x * 2.0)
        if c == 1:
            return gy
        return gy * (c * x ** (c - 1))


class Pow(_Binary):
    """y = a ** b, both tensors;  dy/da = b * a ** (b - 1),  dy/db = a ** b * log(a).

    At a = 0 the derivative with respect to the exponent is taken as 0 (its limit
    for b > 0), so a zero base does not poison the exponent's gradient with NaN; where
    b = 0 the derivative with respect to a is 0 (a ** 0 = 1 is constant), not
    0 * 0 ** -1 = NaN, as in PyTorch.
    """

    __slots__ = ()
    ufunc = np.power

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = None
        if a.requires_grad:
            local = b * a ** (b - 1.0)
            flat = b.data == 0
            if flat.any():
                local = where(flat, np.zeros((), local.dtype), local)
            ga = sum_to(gy * local, a.shape)
        gb = None
        if b.requires_grad:
            zero = a.data == 0
            safe_a = where(zero, 1.0, a) if zero.any() else a
            gb = sum_to(gy * (a ** b) * log(safe_a), b.shape)
        return ga, gb


# -- exp, log, roots, absolute value ---------------------------------------------


class Exp(Function):
    """y = exp(x);  dy/dx = exp(x) = y."""

    __slots__ = ()
    needs_inputs = False
    needs_outputs = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * self.output()


class Log(Function):
    """y = log(x) (natural);  dy/dx = 1 / x."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / self.inputs[0]


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2 y)."""

    __slots__ = ()
    needs_inputs = False
    needs_outputs = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.output() * 2.0)


class Abs(Function):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0, the subgradient PyTorch also uses)."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * np.sign(self.inputs[0].data)


# -- selection: maximum, minimum, where, clip ---------------------------------------


class _Select(_Binary):
    """maximum/minimum: the gradient goes to the input that was selected; on a tie it is
    split equally between the two (PyTorch's convention)."""

    __slots__ = ()

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        pick_a = self.ufunc(a.data, b.data) == a.data
        tie = a.data == b.data
        weight_a = np.where(tie, 0.5, pick_a).astype(gy.dtype)
        ga = sum_to(gy * weight_a, a.shape) if a.requires_grad else None
        gb = sum_to(gy * (1 - weight_a), b.shape) if b.requires_grad else None
        return ga, gb


class Maximum(_Select):
    """y = max(a, b) elementwise;  dy/da = [a > b], dy/db = [b > a], ties 1/2 each."""

    __slots__ = ()
    ufunc = np.maximum


class Minimum(_Select):
    """y = min(a, b) elementwise;  dy/da = [a < b], dy/db = [b < a], ties 1/2 each."""

    __slots__ = ()
    ufunc = np.minimum


class Where(Function):
    """y = x where cond else z;  dy/dx = [cond], dy/dz = [not cond]."""

    __slots__ = ("cond",)
    needs_inputs = False

    def __init__(self, cond: np.ndarray) -> None:
        self.cond = cond

    def forward(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        try:
            return np.where(self.cond, x, z)
        except ValueError:
            raise ValueError(f"where: cannot broadcast condition {self.cond.shape}, x {x.shape} "
                             f"and y {z.shape} together") from None

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, z = self.inputs
        zero = np.zeros((), gy.dtype)
        gx = sum_to(where(self.cond, gy, zero), x.shape) if x.requires_grad else None
        gz = sum_to(where(self.cond, zero, gy), z.shape) if z.requires_grad else None
        return gx, gz


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.lo, self.hi)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0].data
        inside = np.ones(x.shape, bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * inside.astype(gy.dtype)


class Cast(Function):
    """y = x converted to another dtype;  dy/dx = 1 (the gradient is cast back)."""

    __slots__ = ("dtype",)
    needs_inputs = False

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.astype(self.dtype)

    def backward(self, gy: Tensor) -> Tensor:
        return cast(gy, self.inputs[0].dtype)


# -- the functional API of this module -----------------------------------------------


def add(a: Any, b: Any) -> Tensor:
    """a + b, broadcasting."""
    return Add()(*operands(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """a - b, broadcasting."""
    return Sub()(*operands(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """a * b elementwise, broadcasting."""
    return Mul()(*operands(a, b))


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise, broadcasting (true division)."""
    return Div()(*operands(a, b))


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg()(x)


def pow(base: Any, exponent: Any) -> Tensor:
    """base ** exponent; a constant exponent uses the cheaper ``c * x**(c-1)`` rule."""
    if isinstance(base, Tensor) and not isinstance(exponent, Tensor) and np.ndim(exponent) == 0:
        return PowScalar(float(exponent) if not isinstance(exponent, int) else exponent)(base)
    return Pow()(*operands(base, exponent))


def exp(x: Any) -> Tensor:
    """e ** x elementwise."""
    return Exp()(as_tensor(x))


def log(x: Any) -> Tensor:
    """Natural logarithm elementwise."""
    return Log()(as_tensor(x))


def sqrt(x: Any) -> Tensor:
    """Square root elementwise."""
    return Sqrt()(as_tensor(x))


def abs(x: Any) -> Tensor:
    """|x| elementwise."""
    return Abs()(as_tensor(x))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum of a and b, broadcasting."""
    return Maximum()(*operands(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum of a and b, broadcasting."""
    return Minimum()(*operands(a, b))


def where(cond: Any, x: Any, y: Any) -> Tensor:
    """Elementwise ``x if cond else y`` (numpy.where); differentiable in x and y."""
    cond = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    return Where(cond)(*operands(x, y))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Limit x to [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min ({min}) is greater than max ({max})")
    return Clip(min, max)(as_tensor(x))


def cast(x: Tensor, dtype: Any) -> Tensor:
    """x converted to ``dtype``; the gradient flows back only between floating dtypes."""
    dtype = np.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    if dtype.kind != "f":
        return Tensor.constant(x.data.astype(dtype))
    return Cast(dtype)(x)


# -- trigonometric and hyperbolic functions ------------------------------------------------


class _Unary(Function):
    """An elementwise op y = f(x) computed by one numpy ufunc."""

    __slots__ = ()
    ufunc: np.ufunc

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.ufunc(x)


class Sin(_Unary):
    """y = sin(x);  dy/dx = cos(x)."""

    __slots__ = ()
    ufunc = np.sin

    def backward(self, gy: Tensor) -> Tensor:
        return gy * cos(self.inputs[0])


class Cos(_Unary):
    """y = cos(x);  dy/dx = -sin(x)."""

    __slots__ = ()
    ufunc = np.cos

    def backward(self, gy: Tensor) -> Tensor:
        return gy * -sin(self.inputs[0])


class Tan(_Unary):
    """y = tan(x);  dy/dx = 1 + tan(x)**2 = 1 + y**2."""

    __slots__ = ()
    ufunc = np.tan
    needs_inputs = False
    needs_outputs = True

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy * (1.0 + y * y)


class Arcsin(_Unary):
    """y = arcsin(x) for |x| <= 1;  dy/dx = 1 / sqrt(1 - x**2)."""

    __slots__ = ()
    ufunc = np.arcsin

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return gy / sqrt(1.0 - x * x)


class Arccos(_Unary):
    """y = arccos(x) for |x| <= 1;  dy/dx = -1 / sqrt(1 - x**2)."""

    __slots__ = ()
    ufunc = np.arccos

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return -gy / sqrt(1.0 - x * x)


class Arctan(_Unary):
    """y = arctan(x);  dy/dx = 1 / (1 + x**2)."""

    __slots__ = ()
    ufunc = np.arctan

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return gy / (1.0 + x * x)


class Sinh(_Unary):
    """y = sinh(x);  dy/dx = cosh(x)."""

    __slots__ = ()
    ufunc = np.sinh

    def backward(self, gy: Tensor) -> Tensor:
        return gy * cosh(self.inputs[0])


class Cosh(_Unary):
    """y = cosh(x);  dy/dx = sinh(x)."""

    __slots__ = ()
    ufunc = np.cosh

    def backward(self, gy: Tensor) -> Tensor:
        return gy * sinh(self.inputs[0])


# -- logarithms and exponentials accurate near zero, other bases --------------------------


class Log1p(_Unary):
    """y = log(1 + x), accurate for tiny x;  dy/dx = 1 / (1 + x)."""

    __slots__ = ()
    ufunc = np.log1p

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.inputs[0] + 1.0)


class Expm1(_Unary):
    """y = e**x - 1, accurate for tiny x;  dy/dx = e**x = y + 1."""

    __slots__ = ()
    ufunc = np.expm1
    needs_inputs = False
    needs_outputs = True

    def backward(self, gy: Tensor) -> Tensor:
        return gy * (self.output() + 1.0)


class Log2(_Unary):
    """y = log2(x);  dy/dx = 1 / (x ln 2)."""

    __slots__ = ()
    ufunc = np.log2

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.inputs[0] * float(np.log(2.0)))


class Log10(_Unary):
    """y = log10(x);  dy/dx = 1 / (x ln 10)."""

    __slots__ = ()
    ufunc = np.log10

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.inputs[0] * float(np.log(10.0)))


class LogAddExp(_Binary):
    """y = log(e**a + e**b), computed without overflow;  dy/da = e**(a - y) (= sigmoid(a - b)),
    dy/db = e**(b - y)."""

    __slots__ = ()
    ufunc = np.logaddexp
    needs_outputs = True

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        y = self.output()
        ga = sum_to(gy * exp(a - y), a.shape) if a.requires_grad else None
        gb = sum_to(gy * exp(b - y), b.shape) if b.requires_grad else None
        return ga, gb


# -- piecewise constant functions: zero gradient ------------------------------------------


class _Step(_Unary):
    """A piecewise constant y = f(x) (sign, floor, ceil, round);  dy/dx = 0 wherever it is
    defined, and 0 is also what PyTorch returns at the jumps. The node is recorded, so the
    gradient that flows back is zeros rather than nothing."""

    __slots__ = ()
    needs_inputs = False

    def backward(self, gy: Tensor) -> Tensor:
        return Tensor.constant(np.zeros(gy.shape, gy.dtype))


class Sign(_Step):
    """y = sign(x) in {-1, 0, 1};  dy/dx = 0."""

    __slots__ = ()
    ufunc = np.sign


class Floor(_Step):
    """y = floor(x), the largest integer <= x;  dy/dx = 0."""

    __slots__ = ()
    ufunc = np.floor


class Ceil(_Step):
    """y = ceil(x), the smallest integer >= x;  dy/dx = 0."""

    __slots__ = ()
    ufunc = np.ceil


class Round(_Step):
    """y = x rounded to ``decimals`` places, halves to even (numpy and PyTorch);  dy/dx = 0."""

    __slots__ = ("decimals",)

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.round(x, self.decimals)


class Remainder(_Binary):
    """y = a - floor(a / b) b, with the sign of b (Python's %, numpy.remainder, torch.remainder);
    dy/da = 1, dy/db = -floor(a / b)."""

    __slots__ = ()
    ufunc = np.remainder

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(gy, a.shape) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            gb = sum_to(gy * -np.floor_divide(a.data, b.data).astype(gy.dtype), b.shape)
        return ga, gb


def sin(x: Any) -> Tensor:
    """Sine elementwise (radians)."""
    return Sin()(as_tensor(x))


def cos(x: Any) -> Tensor:
    """Cosine elementwise (radians)."""
    return Cos()(as_tensor(x))


def tan(x: Any) -> Tensor:
    """Tangent elementwise (radians)."""
    return Tan()(as_tensor(x))


def arcsin(x: Any) -> Tensor:
    """Inverse sine elementwise (torch.asin); NaN outside [-1, 1]."""
    return Arcsin()(as_tensor(x))


def arccos(x: Any) -> Tensor:
    """Inverse cosine elementwise (torch.acos); NaN outside [-1, 1]."""
    return Arccos()(as_tensor(x))


def arctan(x: Any) -> Tensor:
    """Inverse tangent elementwise (torch.atan)."""
    return Arctan()(as_tensor(x))


def sinh(x: Any) -> Tensor:
    """Hyperbolic sine elementwise."""
    return Sinh()(as_tensor(x))


def cosh(x: Any) -> Tensor:
    """Hyperbolic cosine elementwise."""
    return Cosh()(as_tensor(x))


def log1p(x: Any) -> Tensor:
    """log(1 + x) elementwise, accurate for small x."""
    return Log1p()(as_tensor(x))


def expm1(x: Any) -> Tensor:
    """e**x - 1 elementwise, accurate for small x."""
    return Expm1()(as_tensor(x))


def log2(x: Any) -> Tensor:
    """Base-2 logarithm elementwise."""
    return Log2()(as_tensor(x))


def log10(x: Any) -> Tensor:
    """Base-10 logarithm elementwise."""
    return Log10()(as_tensor(x))


def logaddexp(a: Any, b: Any) -> Tensor:
    """log(e**a + e**b) elementwise, broadcasting, without overflow."""
    return LogAddExp()(*operands(a, b))


def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of x; zero gradient."""
    return Sign()(as_tensor(x))


def floor(x: Any) -> Tensor:
    """Round down to an integer (kept in x's dtype); zero gradient."""
    return Floor()(as_tensor(x))


def ceil(x: Any) -> Tensor:
    """Round up to an integer (kept in x's dtype); zero gradient."""
    return Ceil()(as_tensor(x))


def round(x: Any, decimals: int = 0) -> Tensor:
    """Round to ``decimals`` places, halves to even; zero gradient."""
    return Round(int(decimals))(as_tensor(x))


def remainder(a: Any, b: Any) -> Tensor:
    """a mod b with the sign of b (Python's ``%``), broadcasting."""
    return Remainder()(*operands(a, b))


asin, acos, atan = arcsin, arccos, arctan  # PyTorch's names
