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

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _checks, reference
from ._quiet import import_keras

__all__ = ["BidirectionalTrace", "StackedTrace", "Trace", "trace"]

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
        return input_steps(self.timesteps, self.go_backwards)

    @property
    def outputs(self) -> np.ndarray:
        """``(batch, timesteps, units)``: the sequence Keras returns with ``return_sequences=True``.

        It equals ``h``, except at masked steps: there Keras repeats the previous output
        (zeros before a sample's first real step), or outputs zeros when
        ``zero_output_for_mask`` is set.
        """
        return self._outputs(self.zero_output_for_mask)

    def _outputs(self, zero_output_for_mask: bool) -> np.ndarray:
        return masked_outputs(self.h, self.mask, self.input_steps, zero_output_for_mask)

    def final_states(self) -> list[np.ndarray]:
        """The last h (and c for an LSTM), each ``(batch, units)``: what ``return_state`` adds."""
        return [self.h[:, -1]] if self.c is None else [self.h[:, -1], self.c[:, -1]]

    def returns(self, return_sequences: bool = False, return_state: bool = False) -> list[tuple[str, np.ndarray]]:
        """The ``(name, array)`` pairs Keras returns for these flags, in Keras's order.

        ``output`` is ``(batch, timesteps, units)`` with ``return_sequences`` and
        ``(batch, units)`` without; ``state_h`` (and ``state_c`` for an LSTM) are
        ``(batch, units)`` and come only with ``return_state``.
        """
        return keras_pairs(self, return_sequences, return_state)

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


def input_steps(timesteps: int, go_backwards: bool) -> np.ndarray:
    """``(timesteps,)``: for each processed step k, the index of the timestep of ``x`` it read."""
    steps = np.arange(timesteps)
    return steps[::-1] if go_backwards else steps


def masked_outputs(h: np.ndarray, mask, input_steps: np.ndarray, zero_output_for_mask: bool = False) -> np.ndarray:
    """What Keras returns as the sequence, from ``h`` ``(batch, timesteps, ...)``: ``h``, except at masked steps,
    where it repeats the previous output (zeros before a sample's first real step), or outputs zeros when
    ``zero_output_for_mask``. ``input_steps``: the timestep of ``x`` each processed step read."""
    if mask is None:
        return h
    real = mask[:, input_steps]
    shown = real if zero_output_for_mask else np.logical_or.accumulate(real, axis=1)
    return np.where(shown.reshape(shown.shape + (1,) * (h.ndim - 2)), h, np.float32(0))


def keras_pairs(tr, return_sequences, return_state) -> list[tuple[str, np.ndarray]]:
    """The flags checked, then ``("output", ...)`` and, with ``return_state``, ``tr``'s named final states."""
    return_sequences = _checks.flag(return_sequences, "return_sequences")
    return_state = _checks.flag(return_state, "return_state")
    outputs = tr.outputs
    pairs = [("output", outputs if return_sequences else outputs[:, -1])]
    if return_state:
        pairs += list(zip(tr.state_names, tr.final_states(), strict=True))
    return pairs


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
        """The names of the states ``return_state=True`` adds, in Keras's order (each direction's own)."""
        return (tuple(f"forward_{n.removeprefix('state_')}" for n in STATE_NAMES[self.forward.kind])
                + tuple(f"backward_{n.removeprefix('state_')}" for n in STATE_NAMES[self.backward.kind]))

    @property
    def same_directions(self) -> bool:
        """Whether both directions are the same kind and size (Keras's default backward layer), as pictures need."""
        return (self.forward.kind, self.forward.units) == (self.backward.kind, self.backward.units)

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
        what = f"{self.kind}(units={self.units})"
        if not self.same_directions:
            what = f"forward {what}, backward {self.backward.kind}(units={self.backward.units})"
        return (
            f"BidirectionalTrace of {what}, merge_mode={self.merge_mode!r}, "
            f"over x {self.x.shape} (batch, timesteps, features)\n"
            f"  forward.h {self.forward.h.shape}   backward.h {self.backward.h.shape}"
            " (backward step k read timestep timesteps-1-k)\n"
            f"  Keras returns with both flags: {_shapes(self.returns(True, True))}"
        )


def _shapes(pairs) -> str:
    return ", ".join(f"{name} [{_shapes(arr)}]" if isinstance(arr, list) else f"{name} {tuple(arr.shape)}"
                     for name, arr in pairs)


@dataclass(frozen=True, repr=False, eq=False)
class StackedTrace:
    """The traces of an ``RNN`` over stacked cells, e.g. ``RNN([LSTMCell(4), GRUCell(2)])``, one per cell.

    * ``cells``: a :class:`Trace` per cell, bottom first. ``cells[0].x`` is the layer's input;
      ``cells[k].x`` is ``cells[k - 1].h`` in input order, ``(batch, timesteps, units of cell k-1)``:
      at every timestep each cell reads the state the cell below has just computed.

    The layer's output is the top cell's h. With ``return_state`` Keras hands back one state
    *list per cell* after the output: ``output, [h1, c1], [h2]``, not ``output, h, c``.
    """

    cells: tuple[Trace, ...]

    kind = property(lambda self: "RNN[" + ", ".join(f"{c.kind}Cell({c.units})" for c in self.cells) + "]")
    x = property(lambda self: self.cells[0].x)
    batch = property(lambda self: self.cells[0].batch)
    timesteps = property(lambda self: self.cells[0].timesteps)
    features = property(lambda self: self.cells[0].features)
    units = property(lambda self: self.cells[-1].units)
    mask = property(lambda self: self.cells[0].mask)
    go_backwards = property(lambda self: self.cells[0].go_backwards)

    @property
    def state_names(self) -> tuple[str, ...]:
        """One name per cell for the state list ``return_state=True`` adds: ``cell_0``, ``cell_1``, ..."""
        return tuple(f"cell_{k}" for k in range(len(self.cells)))

    @property
    def outputs(self) -> np.ndarray:
        """``(batch, timesteps, units of the top cell)``: the sequence Keras returns with ``return_sequences=True``."""
        return self.cells[-1].outputs

    def final_states(self) -> list[list[np.ndarray]]:
        """Per cell, its last h (and c for an LSTM cell), each ``(batch, units of that cell)``."""
        return [cell.final_states() for cell in self.cells]

    def returns(self, return_sequences: bool = False, return_state: bool = False) -> list:
        """The pairs Keras returns for these flags, in Keras's order and nesting.

        ``("output", array)`` first: ``(batch, timesteps, units)`` with ``return_sequences``,
        ``(batch, units)`` without (the top cell's units). ``return_state`` adds one pair per cell,
        ``("cell_k", [("state_h", array), ("state_c", array)])`` (just ``state_h`` for a GRU or
        SimpleRNN cell), as Keras adds one list per cell.
        """
        return_sequences = _checks.flag(return_sequences, "return_sequences")
        return_state = _checks.flag(return_state, "return_state")
        outputs = self.outputs
        pairs: list = [("output", outputs if return_sequences else outputs[:, -1])]
        if return_state:
            pairs += [(name, list(zip(cell.state_names, cell.final_states(), strict=True)))
                      for name, cell in zip(self.state_names, self.cells, strict=True)]
        return pairs

    def __repr__(self) -> str:
        lines = [f"StackedTrace of {self.kind}{' (go_backwards)' if self.go_backwards else ''} "
                 f"over x {self.x.shape} (batch, timesteps, features)"]
        lines += [f"  cells[{k}]: {cell.kind} h {cell.h.shape}" + ("" if cell.c is None else f"  c {cell.c.shape}")
                  for k, cell in enumerate(self.cells)]
        lines.append(f"  Keras returns with both flags: {_shapes(self.returns(True, True))}")
        return "\n".join(lines)



#: Keras's cells that a plain ``keras.layers.RNN`` may wrap, and the layer each one makes.
CELL_KINDS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
#: The kind :func:`inner_kind` gives an ``RNN`` over stacked cells (``RNN([cell, cell])`` or ``StackedRNNCells``).
STACKED = "stacked cells"
_SUPPORTED = ("a Keras LSTM, GRU or SimpleRNN layer, an RNN around an LSTMCell, GRUCell or SimpleRNNCell "
              "or a list of them, a Bidirectional around one, or a ConvLSTM1D/2D/3D")


def layer_kind(layer) -> tuple[str, bool]:
    """``(kind, is_bidirectional)`` of a Keras layer (the forward layer's kind), or a ``TypeError`` that says what
    is supported. A Bidirectional's backward layer is checked too; it may be another supported kind."""
    keras = import_keras()
    if isinstance(layer, type):
        raise TypeError(f"layer: expected {_SUPPORTED}, got the class {layer.__name__} itself. Create the layer "
                        f"first, e.g. {layer.__name__}(4), then pass that.")
    bidirectional = isinstance(layer, keras.layers.Bidirectional)
    if bidirectional:
        kind = inner_kind(layer.forward_layer, "a Bidirectional around ")
        inner_kind(layer.backward_layer, "a Bidirectional whose backward_layer is ")
        return kind, True
    return inner_kind(layer), False


def inner_kind(inner, where: str = "") -> str:
    """The kind (``"LSTM"``, ``"GRU"``, ``"SimpleRNN"``) of one recurrent layer, or a ``TypeError`` naming it."""
    keras = import_keras()
    for kind in SUPPORTED_KINDS:
        if type(inner) is getattr(keras.layers, kind):
            return kind
    name = type(inner).__name__
    if type(inner) is keras.layers.RNN:
        cell = inner.cell
        cell_name = type(cell).__name__
        if cell_name in CELL_KINDS and type(cell) is getattr(keras.layers, cell_name):
            return CELL_KINDS[cell_name]
        if isinstance(cell, keras.layers.StackedRNNCells):
            for k, inside in enumerate(cell.cells):
                inside_name = type(inside).__name__
                if not (inside_name in CELL_KINDS and type(inside) is getattr(keras.layers, inside_name)):
                    raise TypeError(
                        f"layer: {where}an RNN over stacked cells whose cell {k} is a {inside_name}, a cell rnnviz does "
                        "not know. rnnviz traces stacks of Keras's LSTMCell, GRUCell and SimpleRNNCell, e.g. "
                        "RNN([LSTMCell(4), LSTMCell(2)])."
                    )
            if where:
                raise TypeError(
                    f"layer: {where}an RNN over stacked cells, which rnnviz does not trace yet. Trace the RNN over "
                    "stacked cells on its own (rnnviz.trace(RNN([...]), x)), or a Bidirectional around one cell."
                )
            return STACKED
        raise TypeError(
            f"layer: {where}an RNN around {cell_name}, a cell rnnviz does not know. rnnviz traces RNN around "
            "Keras's LSTMCell, GRUCell or SimpleRNNCell, and the LSTM, GRU and SimpleRNN layers; use the nearest "
            "of those, e.g. RNN(LSTMCell(n)) or LSTM(n)."
        )
    if name.startswith("ConvLSTM"):
        raise TypeError(
            f"layer: {where}a {name}, which rnnviz does not trace inside a Bidirectional yet. Trace the {name} "
            "on its own, rnnviz.trace(layer.forward_layer, x), for each direction's states as images."
        )
    raise TypeError(
        f"layer: expected {_SUPPORTED}, got {where}"
        + (f"a layer of class {name}" if isinstance(inner, keras.layers.Layer) else f"a {name}")
        + ". For a model, pass the recurrent layer inside it, e.g. model.layers[0]."
    )


def require_plain_layer(layer, who: str) -> tuple[str, bool]:
    """:func:`layer_kind` of ``layer``, or a ``ValueError`` unless it is an LSTM, GRU or SimpleRNN layer, or a
    Bidirectional around one whose backward layer has the same kind and size: what ``who`` (the explorer, the Keras
    snippet) can rebuild. An RNN around a cell, or a mixed Bidirectional, traces and draws; only ``who`` refuses it."""
    kind, bidirectional = layer_kind(layer)
    keras = import_keras()
    inners = [layer.forward_layer, layer.backward_layer] if bidirectional else [layer]
    if kind == STACKED:
        raise ValueError(
            f"layer: {who} builds new LSTM, GRU or SimpleRNN layers, so it takes those; got an RNN over stacked cells. "
            "Draw one cell's trace at a time, e.g. rnnviz.plot_states(rnnviz.trace(layer, x).cells[0])."
        )
    for inner in inners:
        if type(inner) is keras.layers.RNN:
            n = layer_units(inner)
            raise ValueError(
                f"layer: {who} builds new LSTM, GRU or SimpleRNN layers, so it takes those; got an RNN around "
                f"{type(inner.cell).__name__}. RNN({type(inner.cell).__name__}({n})) computes what {kind}({n}) "
                f"computes: pass keras.layers.{kind}({n}) instead, or draw your layer's trace, e.g. "
                "rnnviz.draw_unrolled(rnnviz.trace(layer, x))."
            )
    if bidirectional and (inner_kind(inners[1]), layer_units(inners[1])) != (kind, layer_units(inners[0])):
        raise ValueError(
            f"layer: {who} takes a Bidirectional whose backward layer has the same kind and size as the forward "
            f"one; this one has {inner_kind(inners[1])}({layer_units(inners[1])}) behind "
            f"{kind}({layer_units(inners[0])}). Trace it and draw each direction, e.g. "
            "rnnviz.plot_states(rnnviz.trace(layer, x).backward)."
        )
    return kind, bidirectional


def layer_units(inner) -> int:
    """The units of one recurrent layer (an ``RNN`` keeps them on its cell)."""
    return int(inner.cell.units)


def _run(layer, kind: str, x: np.ndarray, states, mask, cell=None) -> Trace:
    """Run one (non-bidirectional) built layer's weights through the NumPy cell (``cell``: one of its stacked cells)."""
    stacked = cell is not None
    cell = layer.cell if cell is None else cell
    warn_dropout(kind, cell, stacklevel=4)
    kernel, recurrent_kernel = np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel)
    bias = np.asarray(cell.bias) if cell.use_bias else None
    act = _numpy_activation(cell.activation)
    if not stacked and states is None and layer.stateful and getattr(layer, "states", None) is not None:
        states = [np.asarray(s) for s in layer.states]  # a stateful layer carries on from its stored states
    h0 = None if states is None else states[0]
    steps_x = x[:, ::-1] if layer.go_backwards else x  # (x is in input order, also for a stacked cell above)
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


def warn_dropout(kind: str, cell, stacklevel: int) -> None:
    """Say (a ``UserWarning``) that the trace leaves out the ``cell``'s dropout, if it has any."""
    rates = {name: float(getattr(cell, name, 0) or 0) for name in ("dropout", "recurrent_dropout")}
    if any(rates.values()):
        warnings.warn(
            f"layer: this {kind} has " + ", ".join(f"{k}={v:g}" for k, v in rates.items()) + ", and rnnviz.trace "
            "does not apply dropout: it gives what the layer computes at inference, as layer(x) does without "
            "training=True. Dropout is random and acts only in training.", UserWarning, stacklevel=stacklevel)


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


def trace(layer, x, initial_state=None, mask=None) -> Trace | BidirectionalTrace | StackedTrace:
    """Run a Keras recurrent layer over ``x`` step by step and keep every state and gate.

    Arguments:

    * ``layer``: a Keras ``LSTM``, ``GRU`` or ``SimpleRNN``, an ``RNN`` around their cells (one
      cell, or a list of them: stacked cells), a ``Bidirectional`` around one layer, or a
      ``ConvLSTM1D/2D/3D``. Built or not: an unbuilt layer is built for ``x`` (its weights drawn from its
      initialisers, so seed first for repeatable numbers). Its ``return_sequences`` and
      ``return_state`` do not matter: everything is kept, and :meth:`Trace.returns` selects.
    * ``x``: array-like ``(batch, timesteps, features)``.
    * ``initial_state``: ``None`` for zeros, or a list of ``(batch, units)`` arrays: ``[h0, c0]``
      for an LSTM, ``[h0]`` for a GRU or SimpleRNN; a Bidirectional layer takes the forward
      states followed by the backward ones, as Keras does; stacked cells take one list per
      cell, ``[[h0, c0], [h0]]``; a ConvLSTM ``[h0, c0]``, each shaped as one step of its output.
    * ``mask``: ``None``, or booleans ``(batch, timesteps)``, ``False`` marking padding; a
      masked step leaves the state unchanged, as in Keras.

    Returns a :class:`Trace` (``h``, ``c`` and ``gates`` as ``(batch, timesteps, units)``
    arrays), a :class:`BidirectionalTrace` holding one for each direction, a :class:`StackedTrace`
    holding one per cell, or a :class:`rnnviz.conv_trace.ConvTrace` (``h`` and ``c`` as
    ``(batch, timesteps, *spatial, filters)``, channels last).
    Dropout is not applied: the trace is what the layer computes at inference.
    """
    keras = import_keras()
    if isinstance(layer, keras.layers.Layer) and type(layer).__name__ in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
        from .conv_trace import run_conv  # late: conv_trace.py imports this module

        return run_conv(layer, x, initial_state=initial_state, mask=mask)
    kind, bidirectional = layer_kind(layer)
    inner = layer.forward_layer if bidirectional else layer
    first_cell = inner.cell.cells[0] if kind == STACKED else inner.cell
    built = inner.built and getattr(first_cell, "kernel", None) is not None
    arr = _checks.sequence(x, "x", features=int(first_cell.kernel.shape[0]) if built else None)
    batch, timesteps, _ = arr.shape
    mask = _checks.mask(mask, batch, timesteps)
    if kind == STACKED:
        return _run_stacked(layer, arr, initial_state, mask)
    if not bidirectional:
        states = _checks.states(initial_state, len(STATE_NAMES[kind]), batch, layer_units(layer), kind)
        if not layer.built:
            layer.build(arr.shape)
        return _run(layer, kind, arr, states, mask)
    back_kind = inner_kind(layer.backward_layer)
    units = [layer_units(layer.forward_layer)] * len(STATE_NAMES[kind])
    units += [layer_units(layer.backward_layer)] * len(STATE_NAMES[back_kind])
    names = None
    if (back_kind, units[-1]) != (kind, units[0]):  # a backward layer of another kind or size
        names = "[" + ", ".join(f"{d}_{n.removeprefix('state_')}0" for d, k in (("forward", kind), ("backward", back_kind))
                                for n in STATE_NAMES[k]) + "]"
    n_forward, n_backward = len(STATE_NAMES[kind]), len(STATE_NAMES[back_kind])
    if initial_state is not None and (n_forward + n_backward) // 2 != n_forward:
        raise ValueError(
            f"initial_state: this Bidirectional has {n_forward} state(s) forward ({kind}) and {n_backward} backward "
            f"({back_kind}); Keras splits initial_state in half between the directions (the forward layer gets the "
            f"first {(n_forward + n_backward) // 2}), so it cannot start this layer from given states (Keras itself "
            "fails inside the cell). Leave initial_state out, or use the same kind in both directions."
        )
    states = _checks.states(initial_state, len(units), batch, units, kind, names=names)
    if not layer.built:
        layer.build(arr.shape)
    merge_mode = _checks.choice(layer.merge_mode, "layer.merge_mode", MERGE_MODES)
    half = len(STATE_NAMES[kind])
    forward = _run(layer.forward_layer, kind, arr, None if states is None else states[:half], mask)
    backward = _run(layer.backward_layer, back_kind, arr, None if states is None else states[half:], mask)
    return BidirectionalTrace(forward, backward, merge_mode)


def _run_stacked(layer, x: np.ndarray, initial_state, mask) -> StackedTrace:
    """Run an RNN over stacked cells one cell at a time: cell k reads cell k-1's h at every step.

    Running the cells one after the other over the whole sequence gives the numbers Keras gets by running
    them together step by step: a step's input to cell k is cell k-1's new h either way, and a masked step
    keeps every cell's states.
    """
    cells = list(layer.cell.cells)
    kinds = [CELL_KINDS[type(cell).__name__] for cell in cells]
    batch, timesteps, _ = x.shape
    if layer.stateful:
        raise ValueError(
            "layer: rnnviz does not trace a stateful RNN over stacked cells yet. Build it with stateful=False and "
            "pass the states it should start from as initial_state=[[h0, c0], [h0], ...], one list per cell."
        )
    if len(cells) == 1 and mask is not None:
        raise ValueError(
            f"mask: Keras itself fails on an RNN over a one-cell stack ([{type(cells[0]).__name__}]) with a mask (it "
            "nests that cell's states one level too deep), so there is nothing to agree with. Wrap the cell without "
            f"the list, RNN({type(cells[0]).__name__}(...)), or stack two cells."
        )
    if len(cells) == 1 and import_keras().backend.backend() == "jax":
        raise ValueError(
            f"layer: on the JAX backend Keras itself fails on every call of an RNN over a one-cell stack "
            f"([{type(cells[0]).__name__}]): its scan loop gets the cell's states back nested one level differently "
            "(a TypeError inside Keras), so there is nothing to agree with. Wrap the cell without the list, "
            f"RNN({type(cells[0]).__name__}(...)), or stack two cells."
        )
    per_cell = [None] * len(cells)
    if initial_state is not None:
        lists = "[" + ", ".join("[h0, c0]" if k == "LSTM" else "[h0]" for k in kinds) + "]"
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(cells) or not all(
                isinstance(s, (list, tuple)) for s in initial_state):
            raise ValueError(
                f"initial_state: an RNN over {len(cells)} stacked cells takes one list of states per cell, "
                f"{lists}, as Keras does; got {_describe(initial_state)}. Nest the states per cell."
            )
    if not layer.built:
        layer.build(x.shape)
    traces, below = [], x
    for k, (cell, kind) in enumerate(zip(cells, kinds, strict=True)):
        if initial_state is not None:
            per_cell[k] = _checks.states(list(initial_state[k]), len(STATE_NAMES[kind]), batch, int(cell.units), kind,
                                         name=f"initial_state[{k}]")
        traces.append(_run(layer, kind, below, per_cell[k], mask, cell=cell))
        h = traces[-1].h
        below = h[:, ::-1] if layer.go_backwards else h  # back into input order for the next cell
    return StackedTrace(tuple(traces))


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}: [" + ", ".join(
            f"a list of {len(v)}" if isinstance(v, (list, tuple)) else f"an array {np.shape(v)}" for v in value) + "]"
    return f"a {type(value).__name__}"
