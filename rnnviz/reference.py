"""Recurrent cells written from scratch in NumPy, in the symbols of their equations.

Every function here takes weights in Keras's own layout, so the arrays of a
trained or freshly built Keras layer can be passed straight in:

* ``kernel``            ``(features, k * units)``  input weights
* ``recurrent_kernel``  ``(units, k * units)``     weights applied to the previous h
* ``bias``              ``(k * units,)``, or ``(2, 3 * units)`` for a GRU with
  ``reset_after=True`` (row 0 is the input bias, row 1 the recurrent bias)

where ``k`` is 4 for an LSTM (gate order i, f, c~, o), 3 for a GRU (z, r, h~)
and 1 for a SimpleRNN.

All arrays are in Keras order: ``x`` is ``(batch, timesteps, features)``, every
returned per-step array is ``(batch, timesteps, units)``. The loop over time is
the only Python loop; the input projections of all timesteps are computed in
one matrix product before it.

:func:`conv_lstm` (Keras's ConvLSTM1D/2D/3D) is the LSTM with every weight product
turned into a convolution: its ``x`` is ``(batch, timesteps, *spatial, channels)``, its
kernels ``(*kernel_size, channels or filters, 4 * filters)``, and its states images
``(batch, timesteps, *out_spatial, filters)``, all channels-last.

The functions trust their arguments (shapes and dtypes are checked once, by
:func:`rnnviz.trace`); call them directly when you want to see the maths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "CellRun",
    "activation",
    "conv_lstm",
    "gru",
    "lstm",
    "simple_rnn",
]


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-a)), written through tanh: the same function, but exp() can never
    # overflow for large |a|, and it costs one pass over the array instead of three.
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _hard_sigmoid(a: np.ndarray) -> np.ndarray:
    # Keras 3: relu6(a + 3) / 6, i.e. a straight line of slope 1/6 through (0, 0.5).
    return np.clip(a / 6.0 + 0.5, 0.0, 1.0).astype(a.dtype, copy=False)


def _hard_sigmoid_keras2(a: np.ndarray) -> np.ndarray:
    # Keras 2 (and the 2018 tutorials): slope 0.2 through (0, 0.5).
    return np.clip(0.2 * a + 0.5, 0.0, 1.0).astype(a.dtype, copy=False)


def _softsign(a: np.ndarray) -> np.ndarray:
    return a / (1.0 + np.abs(a))


def _linear(a: np.ndarray) -> np.ndarray:
    return a


def _relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0)


#: The activations the NumPy cells know by name. ``"hard_sigmoid"`` is Keras 3's
#: (``clip(x / 6 + 0.5, 0, 1)``); ``"hard_sigmoid_keras2"`` is the one Keras 2
#: used as the LSTM/GRU default (``clip(0.2 * x + 0.5, 0, 1)``).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "hard_sigmoid_keras2": _hard_sigmoid_keras2,
    "relu": _relu,
    "linear": _linear,
    "softsign": _softsign,
}


def activation(name_or_fn: str | Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Return the NumPy activation for a name in :data:`ACTIVATIONS`, or the callable itself."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected one of {sorted(ACTIVATIONS)} or a callable, got {name_or_fn!r}. "
            "Pass one of those names, or a function that maps a NumPy array to one of the same shape."
        )
    return ACTIVATIONS[name_or_fn]


@dataclass(repr=False)
class CellRun:
    """What a cell computed at every timestep.

    * ``h``      ``(batch, timesteps, units)``: the hidden state after each step
    * ``c``      ``(batch, timesteps, units)`` for an LSTM, else ``None``: the cell state
    * ``gates``  name -> ``(batch, timesteps, units)``: gate values and the candidate

    For :func:`conv_lstm` every one of these is ``(batch, timesteps, *out_spatial, filters)``.
    """

    h: np.ndarray
    c: np.ndarray | None
    gates: dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        gates = ", ".join(self.gates) or "none"
        c = "None" if self.c is None else str(self.c.shape)
        return f"CellRun(h={self.h.shape}, c={c}, gates: {gates})"


def _prepare(x, kernel, recurrent_kernel, h0, mask):
    x = np.asarray(x, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    recurrent_kernel = np.asarray(recurrent_kernel, dtype=np.float32)
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units), np.float32) if h0 is None else np.asarray(h0, np.float32)
    keep = None if mask is None else np.asarray(mask, dtype=bool)[:, :, None]
    # Input projections of every timestep at once: (batch, timesteps, k * units).
    xw = x @ kernel
    return xw, recurrent_kernel, h, keep, batch, timesteps, units


def _hold(keep, t, new, old):
    """Keras's masking rule: where step t is masked, the state stays as it was."""
    return new if keep is None else np.where(keep[:, t], new, old)


def lstm(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    activation: str | Callable = "tanh",
    recurrent_activation: str | Callable = "sigmoid",
    mask: np.ndarray | None = None,
) -> CellRun:
    """Run an LSTM over ``x`` and return h, c and the gates at every step.

    Equations, with σ the recurrent activation and tanh the activation::

        i  = σ(x W_i + h_prev U_i + b_i)          input gate
        f  = σ(x W_f + h_prev U_f + b_f)          forget gate
        c~ = tanh(x W_c + h_prev U_c + b_c)       candidate cell state
        o  = σ(x W_o + h_prev U_o + b_o)          output gate
        c  = f * c_prev + i * c~
        h  = o * tanh(c)

    Shapes: ``x`` ``(batch, timesteps, features)``; ``kernel`` ``(features, 4*units)``;
    ``recurrent_kernel`` ``(units, 4*units)``; ``bias`` ``(4*units,)`` or ``None``;
    ``h0``, ``c0`` ``(batch, units)`` or ``None`` for zeros; ``mask`` ``(batch, timesteps)``
    booleans (``False`` = skip that step) or ``None``.
    Returns a :class:`CellRun` with ``h``, ``c`` and gates ``input``, ``forget``,
    ``candidate``, ``output``, each ``(batch, timesteps, units)``.
    """
    xw, U, h, keep, batch, T, n = _prepare(x, kernel, recurrent_kernel, h0, mask)
    if bias is not None:
        xw = xw + np.asarray(bias, np.float32)
    c = np.zeros((batch, n), np.float32) if c0 is None else np.asarray(c0, np.float32)
    sigma, tanh = _resolve(recurrent_activation), _resolve(activation)
    H, C = np.empty((2, batch, T, n), np.float32)
    Z = np.empty((batch, T, 4 * n), np.float32)
    for t in range(T):
        z = xw[:, t] + h @ U
        Z[:, t] = z
        h_new, c_new = _lstm_step(z, c, n, sigma, tanh)
        c, h = _hold(keep, t, c_new, c), _hold(keep, t, h_new, h)
        H[:, t], C[:, t] = h, c
    return CellRun(H, C, _lstm_gates(Z, n, sigma, tanh))


def _lstm_step(z, c, n, sigma, tanh):
    """One LSTM step from the pre-activations ``z`` ``(..., 4n)`` (blocks i, f, c~, o) and ``c``: new h and c."""
    s = sigma(z)  # one call for all four blocks is cheaper than three; the c~ block is unused
    i, f, o = s[..., :n], s[..., n : 2 * n], s[..., 3 * n :]
    c_tilde = tanh(z[..., 2 * n : 3 * n])
    c_new = f * c + i * c_tilde
    return o * tanh(c_new), c_new


def _lstm_gates(Z, n, sigma, tanh) -> dict[str, np.ndarray]:
    """The gates at every step, recomputed from the stored pre-activations ``Z``: cheap, and it keeps the loop
    short (one store per step instead of four)."""
    S = sigma(Z)
    return {
        "input": S[..., :n],
        "forget": S[..., n : 2 * n],
        "candidate": tanh(Z[..., 2 * n : 3 * n]),
        "output": S[..., 3 * n :],
    }


def gru(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    h0: np.ndarray | None = None,
    activation: str | Callable = "tanh",
    recurrent_activation: str | Callable = "sigmoid",
    reset_after: bool = True,
    mask: np.ndarray | None = None,
) -> CellRun:
    """Run a GRU over ``x`` and return h and the gates at every step (a GRU has no c).

    Equations as Keras computes them, with σ the recurrent activation::

        z  = σ(x W_z + h_prev U_z + b_z)                     update gate
        r  = σ(x W_r + h_prev U_r + b_r)                     reset gate
        h~ = tanh(x W_h + r * (h_prev U_h + b_rh) + b_h)     reset_after=True (Keras 3 default)
        h~ = tanh(x W_h + (r * h_prev) U_h + b_h)            reset_after=False (Keras 2 default, the 2014 paper)
        h  = z * h_prev + (1 - z) * h~

    Many diagrams write the last line as ``h = (1 - z) * h_prev + z * h~``: the same
    cell with z's meaning flipped. Keras's z is the share of the *old* state kept.

    Shapes: ``x`` ``(batch, timesteps, features)``; ``kernel`` ``(features, 3*units)``;
    ``recurrent_kernel`` ``(units, 3*units)``; ``bias`` ``(2, 3*units)`` when
    ``reset_after`` else ``(3*units,)``, or ``None``; ``h0`` ``(batch, units)`` or
    ``None``; ``mask`` ``(batch, timesteps)`` or ``None``.
    Returns a :class:`CellRun` with ``h``, ``c=None`` and gates ``update``, ``reset``,
    ``candidate``, each ``(batch, timesteps, units)``.
    """
    xw, U, h, keep, batch, T, n = _prepare(x, kernel, recurrent_kernel, h0, mask)
    b_in = b_rec = None
    if bias is not None:
        bias = np.asarray(bias, np.float32)
        if reset_after:
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in = bias
    if b_in is not None:
        xw = xw + b_in
    sigma, tanh = _resolve(recurrent_activation), _resolve(activation)
    H, Zs, Rs, Hs = np.empty((4, batch, T, n), np.float32)
    for t in range(T):
        xh = xw[:, t, 2 * n :]
        if reset_after:
            hu = h @ U
            if b_rec is not None:
                hu = hu + b_rec
            zr = sigma(xw[:, t, : 2 * n] + hu[:, : 2 * n])  # both gates in one call
            z, r = zr[:, :n], zr[:, n:]
            h_tilde = tanh(xh + r * hu[:, 2 * n :])
        else:
            zr = sigma(xw[:, t, : 2 * n] + h @ U[:, : 2 * n])
            z, r = zr[:, :n], zr[:, n:]
            h_tilde = tanh(xh + (r * h) @ U[:, 2 * n :])
        h = _hold(keep, t, z * h + (1.0 - z) * h_tilde, h)
        H[:, t], Zs[:, t], Rs[:, t], Hs[:, t] = h, z, r, h_tilde
    return CellRun(H, None, {"update": Zs, "reset": Rs, "candidate": Hs})


def simple_rnn(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    h0: np.ndarray | None = None,
    activation: str | Callable = "tanh",
    mask: np.ndarray | None = None,
) -> CellRun:
    """Run a SimpleRNN over ``x``: ``h = tanh(x W + h_prev U + b)``, no gates, no c.

    Shapes: ``x`` ``(batch, timesteps, features)``; ``kernel`` ``(features, units)``;
    ``recurrent_kernel`` ``(units, units)``; ``bias`` ``(units,)`` or ``None``;
    ``h0`` ``(batch, units)`` or ``None``; ``mask`` ``(batch, timesteps)`` or ``None``.
    Returns a :class:`CellRun` with ``h`` ``(batch, timesteps, units)``, ``c=None``, no gates.
    """
    xw, U, h, keep, batch, T, n = _prepare(x, kernel, recurrent_kernel, h0, mask)
    if bias is not None:
        xw = xw + np.asarray(bias, np.float32)
    act = _resolve(activation)
    H = np.empty((batch, T, n), np.float32)
    for t in range(T):
        h = _hold(keep, t, act(xw[:, t] + h @ U), h)
        H[:, t] = h
    return CellRun(H, None, {})


def _window(size: int, kernel: int, stride: int, padding: str, dilation: int) -> tuple[int, int, int]:
    """``(out, pad_before, pad_after)`` of one spatial axis, as TensorFlow and Keras pad it.

    ``"valid"`` pads nothing; ``"same"`` pads ``(kernel - 1) * dilation + 1 - stride`` in all (at
    least enough for ``ceil(size / stride)`` outputs), the odd one at the end.
    """
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        return out, total // 2, total - total // 2
    return (size - span) // stride + 1, 0, 0


def _patches(xp: np.ndarray, out, kernel_size, strides, dilation_rate) -> np.ndarray:
    """Every window of the (already padded) ``xp`` ``(n, *spatial, channels)`` laid side by side.

    Returns ``(n, *out, prod(kernel_size) * channels)``, the last axis in the order of a Keras kernel
    ``(*kernel_size, channels, filters)`` flattened, so ``_patches(...) @ kernel.reshape(-1, filters)``
    is the convolution.
    """
    pieces = []
    for offset in np.ndindex(*kernel_size):
        index = (slice(None),) + tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, o, s in zip(offset, dilation_rate, out, strides, strict=True)
        )
        pieces.append(xp[index])
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=-1)


def conv_lstm(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    strides: int | tuple[int, ...] = 1,
    padding: str = "valid",
    dilation_rate: int | tuple[int, ...] = 1,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    activation: str | Callable = "tanh",
    recurrent_activation: str | Callable = "sigmoid",
    mask: np.ndarray | None = None,
) -> CellRun:
    """Run a convolutional LSTM (Keras's ConvLSTM1D/2D/3D) over ``x``: h, c and the gates at every step.

    The LSTM's equations with every product by a weight matrix turned into a convolution
    (``*`` below), so each state is an image with ``filters`` channels::

        i  = σ(W_i * x + U_i * h_prev + b_i)          input gate
        f  = σ(W_f * x + U_f * h_prev + b_f)          forget gate
        c~ = tanh(W_c * x + U_c * h_prev + b_c)       candidate cell state
        o  = σ(W_o * x + U_o * h_prev + b_o)          output gate
        c  = f ⊙ c_prev + i ⊙ c~                      (⊙: element by element)
        h  = o ⊙ tanh(c)

    As in Keras's ``ConvLSTMCell``, the input convolution ``W * x`` uses the layer's
    ``strides``, ``padding`` and ``dilation_rate``; the recurrent one ``U * h_prev`` always
    uses stride 1, ``"same"`` padding and no dilation, so h keeps its size from step to step.

    Shapes, all channels-last: ``x`` ``(batch, timesteps, *spatial, channels)`` with 1, 2 or 3
    spatial axes; ``kernel`` ``(*kernel_size, channels, 4*filters)``; ``recurrent_kernel``
    ``(*kernel_size, filters, 4*filters)``; ``bias`` ``(4*filters,)`` or ``None``; ``h0``, ``c0``
    ``(batch, *out_spatial, filters)`` or ``None`` for zeros; ``mask`` ``(batch, timesteps)``
    booleans (``False`` = skip that step: h and c stay as they were) or ``None``.
    ``strides`` and ``dilation_rate``: one number or one per spatial axis; ``padding``:
    ``"valid"`` or ``"same"``. ``out_spatial`` is what the input convolution gives.
    Returns a :class:`CellRun` with ``h``, ``c`` and gates ``input``, ``forget``,
    ``candidate``, ``output``, each ``(batch, timesteps, *out_spatial, filters)``.
    """
    x = np.asarray(x, dtype=np.float32)
    W = np.asarray(kernel, dtype=np.float32)
    U = np.asarray(recurrent_kernel, dtype=np.float32)
    batch, T, *spatial, channels = x.shape
    rank = len(spatial)
    kernel_size = W.shape[:rank]
    n = U.shape[-1] // 4
    strides = (strides,) * rank if np.isscalar(strides) else tuple(strides)
    dilation_rate = (dilation_rate,) * rank if np.isscalar(dilation_rate) else tuple(dilation_rate)
    padding = padding.lower()

    # Input convolution of every timestep at once: timesteps folded into the batch.
    windows = [_window(*a, padding, d) for a, d in zip(zip(spatial, kernel_size, strides, strict=True),
                                                        dilation_rate, strict=True)]
    out = tuple(w[0] for w in windows)
    frames = x.reshape(batch * T, *spatial, channels)
    if padding == "same":
        frames = np.pad(frames, [(0, 0), *((b, a) for _, b, a in windows), (0, 0)])
    xw = _patches(frames, out, kernel_size, strides, dilation_rate) @ W.reshape(-1, 4 * n)
    xw = xw.reshape(batch, T, *out, 4 * n)
    if bias is not None:
        xw += np.asarray(bias, np.float32)

    # The recurrent convolution: stride 1, "same" padding, so h is padded into a fixed frame each step.
    ones = (1,) * rank
    rec = [_window(o, k, 1, "same", 1) for o, k in zip(out, kernel_size, strict=True)]
    hp = np.zeros((batch, *(o + b + a for o, (_, b, a) in zip(out, rec, strict=True)), n), np.float32)
    inner = (slice(None),) + tuple(slice(b, b + o) for o, (_, b, _a) in zip(out, rec, strict=True))
    U2 = U.reshape(-1, 4 * n)
    h = np.zeros((batch, *out, n), np.float32) if h0 is None else np.asarray(h0, np.float32)
    c = np.zeros((batch, *out, n), np.float32) if c0 is None else np.asarray(c0, np.float32)
    keep = None if mask is None else np.asarray(mask, dtype=bool).reshape(batch, T, *ones, 1)
    sigma, tanh = _resolve(recurrent_activation), _resolve(activation)
    H, C = np.empty((2, batch, T, *out, n), np.float32)
    Z = np.empty((batch, T, *out, 4 * n), np.float32)
    for t in range(T):
        hp[inner] = h
        z = xw[:, t] + _patches(hp, out, kernel_size, ones, ones) @ U2
        Z[:, t] = z
        h_new, c_new = _lstm_step(z, c, n, sigma, tanh)
        c, h = _hold(keep, t, c_new, c), _hold(keep, t, h_new, h)
        H[:, t], C[:, t] = h, c
    return CellRun(H, C, _lstm_gates(Z, n, sigma, tanh))


_resolve = activation
