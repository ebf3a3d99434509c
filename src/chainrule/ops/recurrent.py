"""Fused recurrent layers: one graph node for a whole sequence, with BPTT written out.

The generic path (``rnn_step`` and friends below, applied step by step) records
about ten nodes per time step. These nodes compute the same values
with numpy in one loop and backpropagate through time in one loop:

    forward:  XP = X W_ih^T + b_ih            (all steps in one matrix product)
              h_t = f(XP_t + h_{t-1} W_hh^T + b_hh)
    backward: dh = dL/dh_T;  for t = T..1:
                  dh += dL/dout_t;  dZ_t = dh * f'(.);  dh = dZ_t W_hh
              dW_hh = sum_t dZ_t^T h_{t-1},  dW_ih = sum_t dZ_t^T x_t,
              db = sum_t dZ_t,  dX_t = dZ_t W_ih   (three matrix products after the loop)

so a step costs one small matrix product each way. That loop is the nodes'
``backward_arrays``, which the engine runs when it records no graph; ``backward``, the
definition, differentiates the generic unrolled graph, so higher derivatives still work
with ``create_graph=True``; tests assert the two paths agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from chainrule import backend
from chainrule.autograd.engine import grad
from chainrule.autograd.function import Function
from chainrule.autograd.mode import enable_grad, mode
from chainrule.autograd.tensor import Tensor
from chainrule.ops.activations import relu, sigmoid, tanh
from chainrule.ops.kernels import sigmoid_into
from chainrule.ops.linalg import linear
from chainrule.ops.shape import split, stack

# -- one step, with ordinary differentiable ops: the oracle of the fused nodes ------------------


def rnn_step(xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, use_relu: bool) -> Tensor:
    """h' = f(xp + h W_hh^T + b_hh), where xp = x W_ih^T + b_ih is precomputed."""
    z = xp + linear(h, w_hh, b_hh)
    return relu(z) if use_relu else tanh(z)


def lstm_step(xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None
              ) -> tuple[Tensor, Tensor]:
    """gates = xp + h W_hh^T + b_hh, split into i, f, g, o;
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')."""
    gates = xp + linear(h, w_hh, b_hh)
    i, f, g, o = split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def gru_step(xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """With xp = x W_ih^T + b_ih and hp = h W_hh^T + b_hh, each split into r, z, n parts:
    r = sigmoid(xp_r + hp_r), z = sigmoid(xp_z + hp_z), n = tanh(xp_n + r * hp_n),
    h' = (1 - z) * n + z * h."""
    hp = linear(h, w_hh, b_hh)
    xr, xz, xn = split(xp, 3, axis=-1)
    hr, hz, hn = split(hp, 3, axis=-1)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    return (1.0 - z) * n + z * h


def projected_steps(inputs: Tensor, w_ih: Tensor, b_ih: Tensor | None) -> list[Tensor]:
    """x_t W_ih^T + b_ih for every t at once (one big matrix product), cut into steps."""
    xp = linear(inputs, w_ih, b_ih)  # (batch, time, gates)
    steps = split(xp, xp.shape[1], axis=1) if xp.shape[1] > 1 else (xp,)
    return [s.squeeze(1) for s in steps]


# -- the per-step products on one BLAS thread ----------------------------------------------------

# One step's recurrent product (batch x hidden x gates) below this many multiply-adds runs
# faster on one OpenBLAS thread than on two: measured on the 2-core AMD EPYC, quiet,
# 32x128x512 took 56 us on one thread and 70 us on two (32x512x128: 66 vs 80 us), while
# the character model's 32x256x1024 took 292 vs 168 us; with the other core busy, two
# threads took 10 to 16 times longer than one (docs/performance.md).
ONE_THREAD_BELOW = 4_000_000


def _step_products(batch: int, hidden: int, gates: int) -> contextlib.AbstractContextManager:
    """Run the BPTT loop's per-step products (batch, hidden) x (hidden, gates) on one BLAS
    thread when they are small (ONE_THREAD_BELOW); bigger ones keep the thread count set
    (``chainrule.set_num_threads`` keeps its meaning for everything else)."""
    if batch * hidden * gates < ONE_THREAD_BELOW:
        return backend.one_thread()
    return contextlib.nullcontext()


class _FusedRecurrent(Function):
    """Shared plumbing: inputs (x, h0, [c0,] W_ih, W_hh, [b_ih, b_hh]); outputs
    (out (B, T, H), h_n, [c_n]). ``truncate`` cuts the backward flow every k steps."""

    __slots__ = ("truncate", "has_bias")

    def __init__(self, truncate: int | None, has_bias: bool) -> None:
        self.truncate, self.has_bias = truncate, has_bias

    def _cut(self, t: int) -> bool:
        """True when the state carried into step t was detached (truncated BPTT)."""
        return self.truncate is not None and t > 0 and t % self.truncate == 0

    def generic(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        """The same computation unrolled with ordinary ops (for double backward)."""
        raise NotImplementedError

    def backward_arrays(self, *gys: np.ndarray | None) -> tuple[np.ndarray | None, ...]:
        """BPTT in one numpy loop (``fused_backward``): the usual, graph-free backward."""
        grads = self.fused_backward(list(gys))
        return tuple(None if g is None or not x.requires_grad else g
                     for g, x in zip(grads, self.inputs, strict=True))

    def backward(self, *gys: Tensor | None) -> tuple[Tensor | None, ...]:
        """The definition: differentiate the generic unrolled graph (recorded when the
        engine records, with create_graph, so higher derivatives work)."""
        create_graph = mode.grad_enabled
        with enable_grad():
            outs = self.generic(*self.inputs)
        pairs = [(o, g) for o, g in zip(outs, gys, strict=True) if g is not None]
        wanted = [i for i, x in enumerate(self.inputs) if x.requires_grad]
        found = grad([o for o, _ in pairs], [self.inputs[i] for i in wanted],
                     [g for _, g in pairs], create_graph=create_graph, allow_unused=True)
        result: list[Tensor | None] = [None] * len(self.inputs)
        for i, g in zip(wanted, found, strict=True):
            result[i] = g
        return tuple(result)

    def fused_backward(self, gys: list[np.ndarray | None]) -> list[np.ndarray | None]:
        raise NotImplementedError

    def _project(self, x: np.ndarray, w_ih: np.ndarray, bias: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """XP = X W_ih^T (+ bias) for all steps in one product, stored time-major (T, B, G)
        so that each step's slice is contiguous; also returns X time-major, flattened to
        (T*B, I), with a column of ones appended when there is a bias.

        The ones column puts the bias inside the product, [X 1] [W_ih b]^T, and in
        backward gives [dW_ih db] = dZ^T [X 1] in one product too: a separate pass over
        the (T, B, G) block each way costs more than the product's extra column."""
        b, steps, n_in = x.shape
        width = n_in if bias is None else n_in + 1
        x_tm = np.empty((steps * b, width), x.dtype)
        x_tm.reshape(steps, b, width)[:, :, :n_in] = x.transpose(1, 0, 2)
        if bias is not None:
            x_tm[:, n_in] = 1
            w_ih = np.concatenate([w_ih, bias[:, None]], axis=1)
        return backend.matmul(x_tm, w_ih.T).reshape(steps, b, w_ih.shape[0]), x_tm

    def _finish(self, dz_x: np.ndarray, dz_h: np.ndarray, h_prev: np.ndarray,
                x_tm: np.ndarray, w_ih: np.ndarray, dstates: list[np.ndarray]
                ) -> list[np.ndarray | None]:
        """Gradients of x, the initial states, the weights and biases from the per-step
        pre-activation gradients dz_x (toward x W_ih^T + b_ih) and dz_h (toward
        h W_hh^T + b_hh), all time-major (T, B, .); ``x_tm`` is ``_project``'s."""
        steps, b = dz_x.shape[:2]
        gx_flat = dz_x.reshape(steps * b, dz_x.shape[2])
        gh_flat = dz_h.reshape(steps * b, dz_h.shape[2])
        x, w_ih_param, w_hh_param = self.inputs[0], self.inputs[-4 if self.has_bias else -2], \
            self.inputs[-3 if self.has_bias else -1]
        n_in = w_ih.shape[1]
        # the three big products run only for inputs that need a gradient (usually the
        # data x does not, which saves a quarter of the backward's arithmetic)
        dx = backend.matmul(gx_flat, w_ih).reshape(steps, b, w_ih.shape[1]).transpose(1, 0, 2) \
            if x.requires_grad else None
        dw_ih = gb_ih = None
        if self.has_bias:
            w_and_b = backend.matmul(gx_flat.T, x_tm)  # [dW_ih db_ih]: x_tm ends with a ones column
            dw_ih = np.ascontiguousarray(w_and_b[:, :n_in])
            gb_ih = w_and_b[:, n_in].copy()
        elif w_ih_param.requires_grad:
            dw_ih = backend.matmul(gx_flat.T, x_tm)
        # explicit shapes, not -1: a batch of 0 has size 0 and -1 cannot be inferred
        dw_hh = backend.matmul(gh_flat.T, h_prev.reshape(steps * b, h_prev.shape[2])) \
            if w_hh_param.requires_grad else None
        grads: list[np.ndarray | None] = [dx, *dstates, dw_ih, dw_hh]
        if self.has_bias:
            # RNN and LSTM send one pre-activation gradient both ways: the same sum
            grads += [gb_ih, gb_ih.copy() if dz_h is dz_x else backend.sum_leading(gh_flat)]
        return grads


def _zero_or(g: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.zeros(shape, dtype) if g is None else g


def _time_major(g: np.ndarray | None) -> np.ndarray | None:
    """The output gradient (B, T, H) seen as (T, B, H) (a view); None when the loss did
    not use the outputs (e.g. only the last state), so the loop adds nothing per step."""
    return None if g is None else g.transpose(1, 0, 2)


def _lstm_gate_affine(hid: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (scale, shift) over the gate blocks i, f, g, o: 1/2 and 1/2 for the
    sigmoid gates, 1 and 0 for g, so sigmoid(z) = scale * tanh(scale * z) + shift."""
    scale = np.full(4 * hid, 0.5, dtype)
    scale[2 * hid:3 * hid] = 1.0
    shift = np.full(4 * hid, 0.5, dtype)
    shift[2 * hid:3 * hid] = 0.0
    return scale, shift


def _batch_major(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(1, 0, 2))


def _previous(h0: np.ndarray, out: np.ndarray) -> np.ndarray:
    """h_{t-1} for every step, time-major: h0 then out[:-1]."""
    return np.concatenate([h0[None], out[:-1]], axis=0)


def _outputs_after(h0: np.ndarray, steps: int, dtype: np.dtype
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A time-major buffer hs (T+1, B, H) with hs[0] = h0, and its view out = hs[1:]
    for h_1..h_T: backward then reads every h_{t-1} as the view hs[:-1], no copy."""
    hs = np.empty((steps + 1, *h0.shape), dtype)
    hs[0] = h0
    return hs[1:], hs


class FusedRNN(_FusedRecurrent):
    """Elman RNN over a whole sequence: h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh);
    f = tanh (f' = 1 - h^2) or relu (f' = [h > 0])."""

    __slots__ = ("relu",)

    def __init__(self, truncate: int | None, has_bias: bool, relu: bool) -> None:
        super().__init__(truncate, has_bias)
        self.relu = relu

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        xp, x_tm = self._project(x, w_ih, None if b_ih is None else b_ih + b_hh)
        out = xp  # each step's pre-activation is replaced by h_t in place
        h = h0
        w_hh_t = np.ascontiguousarray(w_hh.T)  # a contiguous copy multiplies ~30% faster
        with _step_products(*h0.shape, w_hh.shape[0]):
            for t in range(xp.shape[0]):
                z = xp[t]
                z += backend.matmul(h, w_hh_t)
                h = np.maximum(z, 0, out=z) if self.relu else np.tanh(z, out=z)
        self.saved = (out, x_tm)
        return _batch_major(out), out[-1].copy()

    def fused_backward(self, gys: list[np.ndarray | None]) -> list[np.ndarray | None]:
        h0, w_ih, w_hh = self.inputs[1].data, self.inputs[2].data, self.inputs[3].data
        out, x_tm = self.saved
        g_out = _time_major(gys[0])
        dh = _zero_or(gys[1], h0.shape, out.dtype).copy()
        dz = np.empty_like(out)
        with _step_products(*h0.shape, w_hh.shape[0]):
            for t in range(out.shape[0] - 1, -1, -1):
                if g_out is not None:
                    dh += g_out[t]
                h = out[t]
                if self.relu:
                    np.multiply(dh, h > 0, out=dz[t])
                else:
                    np.multiply(dh, 1.0 - h * h, out=dz[t])
                dh = backend.matmul(dz[t], w_hh)
                if self._cut(t):
                    dh[...] = 0
        return self._finish(dz, dz, _previous(h0, out), x_tm, w_ih, [dh])

    def generic(self, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor,
                b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, ...]:
        return _unroll(x, (h0,), w_ih, b_ih, self._cut,
                       lambda xp, s: (rnn_step(xp, s[0], w_hh, b_hh, self.relu),))


class FusedLSTM(_FusedRecurrent):
    """LSTM over a whole sequence, gates i, f, g, o:
    c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t), with i, f, o sigmoids, g a tanh.
    BPTT per step: dc += dh * o * (1 - tanh(c)^2); the pre-activation gradients are
    di = dc g i (1 - i), df = dc c_{t-1} f (1 - f), dg = dc i (1 - g^2),
    do = dh tanh(c) o (1 - o); then dh = dZ W_hh and dc = dc * f."""

    __slots__ = ()

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray,
                w_hh: np.ndarray, b_ih: np.ndarray | None = None,
                b_hh: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # sigmoid(z) = (1 + tanh(z / 2)) / 2, so with the i, f, o rows of the weights and
        # biases halved, ONE tanh over all four gate blocks activates every gate, and a
        # per-column multiply-add finishes i, f, o (three ufunc passes instead of six,
        # and no copy of the g block). Backward uses the true weights: it needs only the
        # activated gates.
        hid = h0.shape[1]
        scale, shift = _lstm_gate_affine(hid, x.dtype)
        bias = None if b_ih is None else (b_ih + b_hh) * scale
        xp, x_tm = self._project(x, w_ih * scale[:, None], bias)
        steps, b, _ = xp.shape
        gates = xp  # each step's pre-activations are replaced by the activated gates
        cells = np.empty((steps, b, hid), xp.dtype)
        tanh_c = np.empty((steps, b, hid), xp.dtype)
        out, hs = _outputs_after(h0, steps, xp.dtype)
        recurrent = np.empty((b, 4 * hid), xp.dtype)
        i_times_g = np.empty((b, hid), xp.dtype)
        h, c = h0, c0
        w_hh_t = np.ascontiguousarray(w_hh.T * scale)  # contiguous: multiplies ~30% faster
        with _step_products(*h0.shape, w_hh.shape[0]):
            for t in range(steps):
                a = gates[t]
                a += backend.matmul(h, w_hh_t, recurrent)
                np.tanh(a, out=a)
                a *= scale
                a += shift  # now i, f, o are sigmoids and g is a tanh
                c = np.multiply(a[:, hid:2 * hid], c, out=cells[t])
                c += np.multiply(a[:, :hid], a[:, 2 * hid:3 * hid], out=i_times_g)
                h = np.multiply(a[:, 3 * hid:], np.tanh(c, out=tanh_c[t]), out=out[t])
        self.saved = (gates, cells, tanh_c, hs, x_tm)
        return _batch_major(out), out[-1].copy(), cells[-1].copy()

    def fused_backward(self, gys: list[np.ndarray | None]) -> list[np.ndarray | None]:
        h0, c0 = self.inputs[1].data, self.inputs[2].data
        w_ih, w_hh = self.inputs[3].data, self.inputs[4].data
        gates, cells, tanh_c, hs, x_tm = self.saved
        out = hs[1:]
        hid = h0.shape[1]
        # Local derivatives of every gate at every step, in two vectorized passes:
        # s' = s (1 - s) for i, f, o and 1 - g^2 for g; and dh_t/dc_t = o (1 - tanh(c)^2).
        deriv = gates * (1.0 - gates)
        g_all = gates[:, :, 2 * hid:3 * hid]
        deriv[:, :, 2 * hid:3 * hid] = 1.0 - g_all * g_all
        dh_dc = gates[:, :, 3 * hid:] * (1.0 - tanh_c * tanh_c)
        g_out = _time_major(gys[0])
        dh = _zero_or(gys[1], h0.shape, out.dtype).copy()
        dc = _zero_or(gys[2], c0.shape, out.dtype).copy()
        dz = np.empty_like(gates)
        with _step_products(*h0.shape, w_hh.shape[0]):
            for t in range(out.shape[0] - 1, -1, -1):
                if g_out is not None:
                    dh += g_out[t]
                a = gates[t]
                dc += dh * dh_dc[t]
                d = dz[t]
                np.multiply(dc, a[:, 2 * hid:3 * hid], out=d[:, :hid])  # to i: dc * g
                np.multiply(dc, cells[t - 1] if t > 0 else c0, out=d[:, hid:2 * hid])  # f: c_prev
                np.multiply(dc, a[:, :hid], out=d[:, 2 * hid:3 * hid])  # to g: dc * i
                np.multiply(dh, tanh_c[t], out=d[:, 3 * hid:])  # to o: dh * tanh(c)
                d *= deriv[t]
                dh = backend.matmul(d, w_hh)
                dc *= a[:, hid:2 * hid]
                if self._cut(t):
                    dh[...] = 0
                    dc[...] = 0
        return self._finish(dz, dz, hs[:-1], x_tm, w_ih, [dh, dc])

    def generic(self, x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor,
                b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, ...]:
        return _unroll(x, (h0, c0), w_ih, b_ih, self._cut,
                       lambda xp, s: lstm_step(xp, s[0], s[1], w_hh, b_hh))


class FusedGRU(_FusedRecurrent):
    """GRU over a whole sequence, gates r, z, n:
    r = s(xr + hr), z = s(xz + hz), n = tanh(xn + r * hn), h' = (1 - z) n + z h,
    with [xr, xz, xn] = x W_ih^T + b_ih and [hr, hz, hn] = h W_hh^T + b_hh.
    BPTT per step: dn = dh (1 - z), dz = dh (h - n), dh_prev = dh z + dHP W_hh where
    dHP = [dr_pre, dz_pre, dn_pre * r] and the input side gets [dr_pre, dz_pre, dn_pre]."""

    __slots__ = ()

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        xp, x_tm = self._project(x, w_ih, b_ih)
        steps, b, _ = xp.shape
        hid = h0.shape[1]
        gates = np.empty(xp.shape, xp.dtype)  # r, z, n activated
        hn_all = np.empty((steps, b, hid), xp.dtype)  # h W_hn^T + b_hn, needed for dr
        out, hs = _outputs_after(h0, steps, xp.dtype)
        h = h0
        w_hh_t = np.ascontiguousarray(w_hh.T)  # a contiguous copy multiplies ~30% faster
        with _step_products(*h0.shape, w_hh.shape[0]):
            for t in range(steps):
                hp = backend.matmul(h, w_hh_t)
                if b_hh is not None:
                    hp += b_hh
                a = gates[t]
                rz = a[:, :2 * hid]
                np.add(xp[t, :, :2 * hid], hp[:, :2 * hid], out=rz)
                sigmoid_into(rz, rz)
                r, z = a[:, :hid], a[:, hid:2 * hid]
                hn_all[t] = hp[:, 2 * hid:]
                n = np.tanh(xp[t, :, 2 * hid:] + r * hp[:, 2 * hid:], out=a[:, 2 * hid:])
                h = np.add((1.0 - z) * n, z * h, out=out[t])
        self.saved = (gates, hn_all, hs, x_tm)
        return _batch_major(out), out[-1].copy()

    def fused_backward(self, gys: list[np.ndarray | None]) -> list[np.ndarray | None]:
        h0, w_ih, w_hh = self.inputs[1].data, self.inputs[2].data, self.inputs[3].data
        gates, hn_all, hs, x_tm = self.saved
        out = hs[1:]
        hid = h0.shape[1]
        g_out = _time_major(gys[0])
        dh = _zero_or(gys[1], h0.shape, out.dtype).copy()
        dzx = np.empty_like(gates)
        dzh = np.empty_like(gates)
        with _step_products(*h0.shape, w_hh.shape[0]):
            for t in range(out.shape[0] - 1, -1, -1):
                if g_out is not None:
                    dh += g_out[t]
                a = gates[t]
                r, z, n = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:]
                h_prev = hs[t]
                dx, dhp = dzx[t], dzh[t]
                dn_pre = np.multiply(dh * (1.0 - z), 1.0 - n * n, out=dx[:, 2 * hid:])
                np.multiply(dh * (h_prev - n), z * (1.0 - z), out=dx[:, hid:2 * hid])
                np.multiply(dn_pre * hn_all[t], r * (1.0 - r), out=dx[:, :hid])
                dhp[:, :2 * hid] = dx[:, :2 * hid]
                np.multiply(dn_pre, r, out=dhp[:, 2 * hid:])
                dh = dh * z
                dh += backend.matmul(dhp, w_hh)
                if self._cut(t):
                    dh[...] = 0
        return self._finish(dzx, dzh, hs[:-1], x_tm, w_ih, [dh])

    def generic(self, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor,
                b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, ...]:
        return _unroll(x, (h0,), w_ih, b_ih, self._cut,
                       lambda xp, s: (gru_step(xp, s[0], w_hh, b_hh),))


def _unroll(x: Tensor, states: tuple[Tensor, ...], w_ih: Tensor, b_ih: Tensor | None,
            cut: Callable[[int], bool], step: Callable) -> tuple[Tensor, ...]:
    """Run ``step`` over the sequence with ordinary differentiable ops; returns
    (outputs (B, T, H), *final states), as the fused forward does."""

    outputs = []
    for t, xp in enumerate(projected_steps(x, w_ih, b_ih)):
        if cut(t):
            states = tuple(s.detach() for s in states)
        states = step(xp, states)
        outputs.append(states[0])
    return (stack(outputs, axis=1), *states)
