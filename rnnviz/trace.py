"""Trace a Keras recurrent layer step by step: h, c and the gates at every timestep.

Keras hands back the hidden state at every step only with
``return_sequences=True``, and an LSTM's cell state only at the last step.
:func:`trace` reads the layer's weights once and runs the NumPy cells of
:mod:`rnnviz.reference` over the input, so every intermediate value is there to
look at. :meth:`Trace.returns` then picks out exactly the tensors Keras would
return for a given pair of flags, in Keras's order and shapes: the whole
trace is computed once, and flipping a flag only selects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _checks, reference
from ._quiet import import_keras

__all__ = ["BidirectionalTrace", "Trace", "trace"]

#: The recurrent layers rnnviz can trace (each may also sit inside ``Bidirectional``).
SUPPORTED_KINDS = ("LSTM", "GRU", "SimpleRNN")
#: The states each kind returns with ``return_state=True``, in Keras's order.
STATE_NAMES = {"LSTM": ("state_h", "state_c"), "GRU": ("state_h",), "SimpleRNN": ("state_h",)}
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@dataclass(frozen=True, repr=False, eq=False)
class Trace:
    """Everything one recurrent layer computed, as NumPy arrays.

    * ``kind``   ``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``
    * ``x``      ``(batch, timesteps, features)``: the input, in the order given
    * ``h``      ``(batch, timesteps, units)``: the hidden state after each step
    * ``c``      ``(batch, timesteps, units)`` for an LSTM (its cell state), else ``None``
    * ``gates``  name -> ``(batch, timesteps, units)``: ``input``, ``forget``, ``output``
      (LSTM) or ``update``, ``reset`` (GRU), plus each cell's ``candidate``; empty for SimpleRNN
    * ``mask``   ``(batch, timesteps)`` booleans in the order given, or ``None``
    * ``go_backwards``: whether the layer read the input last step first
    * ``zero_output_for_mask``: whether masked steps output zeros (Keras sets this on the
      layers inside a ``Bidirectional`` that returns sequences) instead of repeating

    Step ``k`` of ``h``, ``c`` and the gates is the k-th step the layer *processed*.
    That is timestep ``k`` of ``x`` normally, and timestep ``timesteps - 1 - k`` when
    ``go_backwards`` is true; it is also the order in which Keras returns the sequence.
    """

    kind: str
    x: np.ndarray
    h: np.ndarray
    c: np.ndarray | None
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None
    go_backwards: bool = False
    zero_output_for_mask: bool = False

    @property
    def batch(self) -> int:
        return self.h.shape[0]

    @property
    def timesteps(self) -> int:
        return self.h.shape[1]

    @property
    def units(self) -> int:
        return self.h.shape[2]

    @property
    def features(self) -> int:
        return self.x.shape[2]

    @property
    def state_names(self) -> tuple[str, ...]:
        """The names of the states ``return_state=True`` adds, in Keras's order."""
        return STATE_NAMES[self.kind]

    @property
    def input_steps(self) -> np.ndarray:
        """``(timesteps,)``: for each processed step k, the index of the timestep of ``x`` it read."""
        steps = np.arange(self.timesteps)
        return steps[::-1] if self.go_backwards else steps

    @property
    def outputs(self) -> np.ndarray:
        """``(batch, timesteps, units)``: the sequence Keras returns with ``return_sequences=True``.

        It equals ``h``, except at masked steps: there Keras repeats the previous output
        (zeros before a sample's first real step), or outputs zeros when
        ``zero_output_for_mask`` is set.
        """
        return self._outputs(self.zero_output_for_mask)

    def _outputs(self, zero_output_for_mask: bool) -> np.ndarray:
        if self.mask is None:
            return self.h
        real = self.mask[:, self.input_steps]
        shown = real if zero_output_for_mask else np.logical_or.accumulate(real, axis=1)
        return np.where(shown[:, :, None], self.h, np.float32(0))

    def final_states(self) -> list[np.ndarray]:
        """The last h (and c for an LSTM), each ``(batch, units)``: what ``return_state`` adds."""
        return [self.h[:, -1]] if self.c is None else [self.h[:, -1], self.c[:, -1]]

    def returns(self, return_sequences: bool = False, return_state: bool = False) -> list[tuple[str, np.ndarray]]:
        """The ``(name, array)`` pairs Keras returns for these flags, in Keras's order.

        ``output`` is ``(batch, timesteps, units)`` with ``return_sequences`` and
        ``(batch, units)`` without; ``state_h`` (and ``state_c`` for an LSTM) are
        ``(batch, units)`` and come only with ``return_state``.
        """
        return_sequences = _checks.flag(return_sequences, "return_sequences")
        return_state = _checks.flag(return_state, "return_state")
        outputs = self.outputs
        pairs = [("output", outputs if return_sequences else outputs[:, -1])]
        if return_state:
            pairs += list(zip(self.state_names, self.final_states(), strict=True))
        return pairs

    def __repr__(self) -> str:
        lines = [
            f"Trace of {self.kind}(units={self.units}{', go_backwards=True' if self.go_backwards else ''}) "
            f"over x {self.x.shape} (batch, timesteps, features)",
            f"  h {self.h.shape}" + ("" if self.c is None else f"   c {self.c.shape}") + "   (batch, timesteps, units)",
            f"  gates: {', '.join(self.gates) or 'none (a SimpleRNN has no gates)'}",
            f"  Keras returns with both flags: {_shapes(self.returns(True, True))}",
        ]
        if self.mask is not None:
            lines.insert(3, f"  mask: {int(self.mask.sum())} of {self.mask.size} steps are real")
        return "\n".join(lines)


@dataclass(frozen=True, repr=False, eq=False)
class BidirectionalTrace:
    """The two traces of a ``Bidirectional`` layer and how Keras merges them.

    * ``forward``, ``backward``: a :class:`Trace` each. ``backward.h[:, k]`` is the
      state after the backward layer read timestep ``timesteps - 1 - k``, so its final
      state (``k = timesteps - 1``) belongs to timestep 0 of the input.
    * ``merge_mode``: ``"concat"`` (Keras's default), ``"sum"``, ``"mul"``, ``"ave"`` or ``None``.
    """

    forward: Trace
    backward: Trace
    merge_mode: str | None = "concat"

    kind = property(lambda self: self.forward.kind)
    x = property(lambda self: self.forward.x)
    batch = property(lambda self: self.forward.batch)
    timesteps = property(lambda self: self.forward.timesteps)
    features = property(lambda self: self.forward.features)
    units = property(lambda self: self.forward.units)

    @property
    def state_names(self) -> tuple[str, ...]:
        """The names of the states ``return_state=True`` adds, in Keras's order."""
        own = [n.replace("state_", "") for n in STATE_NAMES[self.kind]]
        return tuple(f"forward_{n}" for n in own) + tuple(f"backward_{n}" for n in own)

    def returns(self, return_sequences: bool = False, return_state: bool = False) -> list[tuple[str, np.ndarray]]:
        """The ``(name, array)`` pairs Keras's ``Bidirectional`` returns for these flags, in its order.

        With ``merge_mode="concat"`` the output is ``(batch, timesteps, 2*units)`` with
        ``return_sequences`` and ``(batch, 2*units)`` without (``units`` wide for sum, mul
        and ave). With ``merge_mode=None`` the two directions come back separately as
        ``forward_output`` and ``backward_output``. ``return_state`` then adds
        ``forward_h``, [``forward_c``,] ``backward_h``, [``backward_c``], each ``(batch, units)``.
        """
        return_sequences = _checks.flag(return_sequences, "return_sequences")
        return_state = _checks.flag(return_state, "return_state")
        # Keras makes both inner layers output zeros at masked steps when they return sequences.
        y, y_rev = self.forward._outputs(return_sequences), self.backward._outputs(return_sequences)
        if return_sequences:
            y_rev = y_rev[:, ::-1]  # Keras lines the backward sequence up with the input's time axis
        else:
            y, y_rev = y[:, -1], y_rev[:, -1]
        if self.merge_mode is None:
            pairs = [("forward_output", y), ("backward_output", y_rev)]
        else:
            merged = {
                "concat": lambda: np.concatenate([y, y_rev], axis=-1),
                "sum": lambda: y + y_rev,
                "mul": lambda: y * y_rev,
                "ave": lambda: (y + y_rev) / 2,
            }[self.merge_mode]()
            pairs = [("output", merged)]
        if return_state:
            states = self.forward.final_states() + self.backward.final_states()
            pairs += list(zip(self.state_names, states, strict=True))
        return pairs

    def __repr__(self) -> str:
        return (
            f"BidirectionalTrace of {self.kind}(units={self.units}), merge_mode={self.merge_mode!r}, "
            f"over x {self.x.shape} (batch, timesteps, features)\n"
            f"  forward.h {self.forward.h.shape}   backward.h {self.backward.h.shape}"
            " (backward step k read timestep timesteps-1-k)\n"
            f"  Keras returns with both flags: {_shapes(self.returns(True, True))}"
        )


def _shapes(pairs) -> str:
    return ", ".join(f"{name} {tuple(arr.shape)}" for name, arr in pairs)


def layer_kind(layer) -> tuple[str, bool]:
    """``(kind, is_bidirectional)`` of a Keras layer, or a ``TypeError`` that says what is supported."""
    keras = import_keras()
    classes = {k: getattr(keras.layers, k) for k in SUPPORTED_KINDS}
    inner, bidirectional = layer, isinstance(layer, keras.layers.Bidirectional)
    if bidirectional:
        inner = layer.forward_layer
    for kind, cls in classes.items():
        if type(inner) is cls:
            return kind, bidirectional
    what = f"a {type(layer).__name__}" + (f" around a {type(inner).__name__}" if bidirectional else "")
    if isinstance(layer, type):
        what = f"the class {layer.__name__} itself"
    hint = " Create the layer first, e.g. LSTM(4), then pass that." if isinstance(layer, type) else ""
    raise TypeError(
        "layer: expected a Keras LSTM, GRU or SimpleRNN layer, or a Bidirectional around one, "
        f"got {what}.{hint} For a model, pass the recurrent layer inside it, e.g. model.layers[0]."
    )


def _run(layer, kind: str, x: np.ndarray, states, mask) -> Trace:
    """Run one (non-bidirectional) built layer's weights through the NumPy cell."""
    cell = layer.cell
    kernel, recurrent_kernel = np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel)
    bias = np.asarray(cell.bias) if cell.use_bias else None
    act = _numpy_activation(cell.activation)
    if states is None and layer.stateful and getattr(layer, "states", None) is not None:
        states = [np.asarray(s) for s in layer.states]  # a stateful layer carries on from its stored states
    h0 = None if states is None else states[0]
    steps_x = x[:, ::-1] if layer.go_backwards else x
    steps_mask = None if mask is None else (mask[:, ::-1] if layer.go_backwards else mask)
    if kind == "LSTM":
        run = reference.lstm(
            steps_x, kernel, recurrent_kernel, bias, h0=h0, c0=None if states is None else states[1],
            activation=act, recurrent_activation=_numpy_activation(cell.recurrent_activation), mask=steps_mask,
        )
    elif kind == "GRU":
        run = reference.gru(
            steps_x, kernel, recurrent_kernel, bias, h0=h0, activation=act,
            recurrent_activation=_numpy_activation(cell.recurrent_activation),
            reset_after=cell.reset_after, mask=steps_mask,
        )
    else:
        run = reference.simple_rnn(steps_x, kernel, recurrent_kernel, bias, h0=h0, activation=act, mask=steps_mask)
    zero = bool(getattr(layer, "zero_output_for_mask", False))
    return Trace(kind, x, run.h, run.c, run.gates, mask, bool(layer.go_backwards), zero)


def _numpy_activation(fn):
    """The NumPy twin of a Keras activation function; any other function is wrapped and called as is.

    Only Keras's own functions are swapped for their twins: a learner's function that merely
    shares a name (say a ``hard_sigmoid`` of their own) keeps its own maths.
    """
    keras = import_keras()
    name = getattr(fn, "__name__", None)
    if name in reference.ACTIVATIONS and getattr(keras.activations, name, None) is fn:
        return reference.ACTIVATIONS[name]
    return lambda a: keras.ops.convert_to_numpy(fn(a)).astype(np.float32)


def trace(layer, x, initial_state=None, mask=None) -> Trace | BidirectionalTrace:
    """Run a Keras recurrent layer over ``x`` step by step and keep every state and gate.

    Arguments:

    * ``layer``: a Keras ``LSTM``, ``GRU`` or ``SimpleRNN``, or a ``Bidirectional`` around
      one. Built or not: an unbuilt layer is built for ``x`` (its weights drawn from its
      initialisers, so seed first for repeatable numbers). Its ``return_sequences`` and
      ``return_state`` do not matter: everything is kept, and :meth:`Trace.returns` selects.
    * ``x``: array-like ``(batch, timesteps, features)``.
    * ``initial_state``: ``None`` for zeros, or a list of ``(batch, units)`` arrays: ``[h0, c0]``
      for an LSTM, ``[h0]`` for a GRU or SimpleRNN; a Bidirectional layer takes the forward
      states followed by the backward ones, as Keras does.
    * ``mask``: ``None``, or booleans ``(batch, timesteps)``, ``False`` marking padding; a
      masked step leaves the state unchanged, as in Keras.

    Returns a :class:`Trace` (``h``, ``c`` and ``gates`` as ``(batch, timesteps, units)``
    arrays), or a :class:`BidirectionalTrace` holding one for each direction.
    Dropout is not applied: the trace is what the layer computes at inference.
    """
    kind, bidirectional = layer_kind(layer)
    inner = layer.forward_layer if bidirectional else layer
    built = inner.built and getattr(inner.cell, "kernel", None) is not None
    arr = _checks.sequence(x, "x", features=int(inner.cell.kernel.shape[0]) if built else None)
    batch, timesteps, _ = arr.shape
    mask = _checks.mask(mask, batch, timesteps)
    n_states = len(STATE_NAMES[kind]) * (2 if bidirectional else 1)
    states = _checks.states(initial_state, n_states, batch, int(inner.units), kind)
    if not layer.built:
        layer.build(arr.shape)
    if not bidirectional:
        return _run(layer, kind, arr, states, mask)
    merge_mode = _checks.choice(layer.merge_mode, "layer.merge_mode", MERGE_MODES)
    half = n_states // 2
    forward = _run(layer.forward_layer, kind, arr, None if states is None else states[:half], mask)
    backward = _run(layer.backward_layer, kind, arr, None if states is None else states[half:], mask)
    return BidirectionalTrace(forward, backward, merge_mode)
