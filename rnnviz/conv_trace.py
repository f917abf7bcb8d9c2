"""Trace a Keras ConvLSTM1D / ConvLSTM2D / ConvLSTM3D layer step by step: h, c and the gates as images.

A ConvLSTM is an LSTM whose weight products are convolutions, so its states are
images ``(*out_spatial, filters)`` rather than vectors. :func:`run_conv` reads the
layer's weights once and runs :func:`rnnviz.reference.conv_lstm` over the input;
:meth:`ConvTrace.returns` then picks out exactly what Keras returns for a pair of
flags, in Keras's order and layout (channels-first again for a channels-first layer).

Inside a :class:`ConvTrace` every array is channels-last (channels on the last
axis), whatever the layer's ``data_format``: one layout to read and to draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _checks, reference
from ._quiet import import_keras
from .trace import _numpy_activation, _shapes, input_steps, keras_pairs, masked_outputs, warn_dropout

__all__ = ["CONV_KINDS", "ConvTrace", "run_conv"]

#: The ConvLSTM layers :func:`run_conv` traces, and the number of spatial axes of each.
CONV_KINDS = {"ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}
_SPATIAL = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}


def _to_last(a: np.ndarray, lead: int) -> np.ndarray:
    """Move the channels axis (just after the ``lead`` leading axes) to the end."""
    return np.moveaxis(a, lead, -1)


def _to_first(a: np.ndarray, lead: int) -> np.ndarray:
    """Move the last (channels) axis back to just after the ``lead`` leading axes."""
    return np.moveaxis(a, -1, lead)


@dataclass(frozen=True, repr=False, eq=False)
class ConvTrace:
    """Everything one ConvLSTM layer computed, as channels-last NumPy arrays.

    * ``kind``   ``"ConvLSTM1D"``, ``"ConvLSTM2D"`` or ``"ConvLSTM3D"``
    * ``x``      ``(batch, timesteps, *spatial, channels)``: the input, in the order given
      (moved to channels-last if the layer is channels-first)
    * ``h``      ``(batch, timesteps, *out_spatial, filters)``: the hidden state after each step
    * ``c``      ``(batch, timesteps, *out_spatial, filters)``: the cell state after each step
    * ``gates``  ``input``, ``forget``, ``candidate``, ``output`` -> arrays shaped like ``h``
    * ``mask``   ``(batch, timesteps)`` booleans in the order given, or ``None``
    * ``go_backwards``: whether the layer read the input last step first
    * ``data_format``: the layer's, ``"channels_last"`` or ``"channels_first"``; only
      :meth:`returns` uses it, to hand back arrays in the layout Keras does

    Step ``k`` of ``h``, ``c`` and the gates is the k-th step the layer *processed*: timestep
    ``k`` of ``x``, or ``timesteps - 1 - k`` when ``go_backwards`` is true (Keras's order too).
    """

    kind: str
    x: np.ndarray
    h: np.ndarray
    c: np.ndarray
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None
    go_backwards: bool = False
    data_format: str = "channels_last"

    state_names = ("state_h", "state_c")

    @property
    def batch(self) -> int:
        return self.h.shape[0]

    @property
    def timesteps(self) -> int:
        return self.h.shape[1]

    @property
    def filters(self) -> int:
        return self.h.shape[-1]

    @property
    def rank(self) -> int:
        """The number of spatial axes: 1, 2 or 3."""
        return self.h.ndim - 3

    @property
    def out_spatial(self) -> tuple[int, ...]:
        """The spatial size of every state image, after the input convolution."""
        return tuple(self.h.shape[2:-1])

    @property
    def input_steps(self) -> np.ndarray:
        """``(timesteps,)``: for each processed step k, the index of the timestep of ``x`` it read."""
        return input_steps(self.timesteps, self.go_backwards)

    @property
    def outputs(self) -> np.ndarray:
        """``(batch, timesteps, *out_spatial, filters)``: the sequence ``return_sequences=True`` gives.

        It equals ``h``, except at masked steps: there Keras repeats the previous output
        (zeros before a sample's first real step). Channels-last, as every array here.
        """
        return masked_outputs(self.h, self.mask, self.input_steps)

    def final_states(self) -> list[np.ndarray]:
        """The last h and c, each ``(batch, *out_spatial, filters)`` (channels-last)."""
        return [self.h[:, -1], self.c[:, -1]]

    def returns(self, return_sequences: bool = False, return_state: bool = False) -> list[tuple[str, np.ndarray]]:
        """The ``(name, array)`` pairs Keras returns for these flags, in Keras's order and layout.

        ``output`` is ``(batch, timesteps, *out_spatial, filters)`` with ``return_sequences`` and
        ``(batch, *out_spatial, filters)`` without; ``return_state`` adds ``state_h`` and
        ``state_c``, each ``(batch, *out_spatial, filters)``. For a channels-first layer the
        filters axis comes first instead, as Keras returns it: ``(batch, [timesteps,] filters, *out_spatial)``.
        """
        pairs = keras_pairs(self, return_sequences, return_state)
        if self.data_format == "channels_first":
            pairs = [(name, _to_first(a, a.ndim - self.rank - 1)) for name, a in pairs]
        return pairs

    def __repr__(self) -> str:
        spatial = _SPATIAL[self.rank]
        lines = [
            f"ConvTrace of {self.kind}(filters={self.filters}"
            f"{', go_backwards=True' if self.go_backwards else ''}"
            f"{', data_format=' + repr(self.data_format) if self.data_format != 'channels_last' else ''}) "
            f"over x {self.x.shape} (batch, timesteps, {spatial}, channels)",
            f"  h {self.h.shape}   c {self.c.shape}   (batch, timesteps, {spatial}, filters)",
            f"  gates: {', '.join(self.gates) or 'none'} (each shaped like h)",
            f"  Keras returns with both flags: {_shapes(self.returns(True, True))}",
        ]
        if self.mask is not None:
            lines.insert(3, f"  mask: {int(self.mask.sum())} of {self.mask.size} steps are real")
        return "\n".join(lines)


def conv_kind(layer) -> str:
    """``"ConvLSTM1D"``, ``"ConvLSTM2D"`` or ``"ConvLSTM3D"``, or a ``TypeError`` that says what is supported."""
    keras = import_keras()
    supported = "a Keras ConvLSTM1D, ConvLSTM2D or ConvLSTM3D layer"
    if isinstance(layer, type):
        raise TypeError(f"layer: expected {supported}, got the class {layer.__name__} itself. Create the layer "
                        f"first, e.g. {layer.__name__}(filters=4, kernel_size=3), then pass that.")
    for kind in CONV_KINDS:
        if isinstance(layer, getattr(keras.layers, kind)):
            return kind
    name = type(layer).__name__
    if name in ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional"):
        hint = "For that layer use rnnviz.trace(layer, x)."
    else:
        hint = "For a model, pass the ConvLSTM layer inside it, e.g. model.layers[0]."
    what = f"a layer of class {name}" if isinstance(layer, keras.layers.Layer) else f"a {name}"
    raise TypeError(f"layer: expected {supported}, got {what}. {hint}")


def _input(x, kind: str, data_format: str, built_shape) -> np.ndarray:
    """``x`` as float32 in the layer's own layout, with the rank, sizes and values checked."""
    rank = CONV_KINDS[kind]
    spatial = _SPATIAL[rank]
    layout = (f"(batch, timesteps, {spatial}, channels)" if data_format == "channels_last"
              else f"(batch, timesteps, channels, {spatial})")
    if type(x).__name__ == "KerasTensor":
        raise TypeError(f"x: expected concrete numbers, got a symbolic KerasTensor {getattr(x, 'shape', '')}. "
                        f"rnnviz needs real data: pass a NumPy array {layout}.")
    try:
        arr = np.asarray(x)
    except Exception as err:  # ragged nested lists and the like
        raise TypeError(f"x: expected an array-like of numbers {layout}, got {type(x).__name__} that NumPy cannot "
                        f"turn into one array ({err}). Make every sample and frame the same size.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise TypeError(f"x: expected real numbers, got an array of dtype {arr.dtype} from {type(x).__name__}. "
                        "Convert the data first, e.g. np.asarray(data, dtype='float32').")
    if arr.ndim != rank + 3:
        hint = ""
        if arr.ndim == rank + 2:
            hint = " It looks like one sample: add the batch axis with x[None]."
        raise ValueError(f"x: a {kind} expects a {rank + 3}-D array {layout}, got {arr.ndim}-D with shape "
                         f"{arr.shape}.{hint} Reshape it to {layout}.")
    if 0 in arr.shape:
        raise ValueError(f"x: expected every axis of {layout} to hold at least one entry, got shape {arr.shape}.")
    if built_shape is not None and tuple(arr.shape[2:]) != tuple(built_shape):
        raise ValueError(f"x: the layer was built for frames of shape {tuple(built_shape)} (the axes after "
                         f"timesteps of {layout}), got {tuple(arr.shape[2:])} (x has shape {arr.shape}). A ConvLSTM "
                         "fixes its frame size when it is built: give x that size, or trace a new, unbuilt layer.")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"x: expected finite numbers, got {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}. "
                         "Replace NaN or infinity first, e.g. np.nan_to_num(x), or mask padded steps with mask=...")
    return arr


def _conv_states(value, state_shape: tuple[int, ...], layout: str) -> list[np.ndarray] | None:
    """``initial_state`` as ``[h0, c0]``, each float32 ``state_shape`` (the layer's layout), or raise."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"initial_state: expected a list of 2 arrays [h0, c0] for this ConvLSTM layer, got one "
                        f"{type(value).__name__}. Pass a list [h0, c0], each of shape {state_shape} {layout}.")
    if len(value) != 2:
        raise ValueError(f"initial_state: expected 2 arrays [h0, c0] for this ConvLSTM layer, got {len(value)}. "
                         "A ConvLSTM carries two states, h and c, as an LSTM does.")
    out = []
    for i, s in enumerate(value):
        try:
            arr = np.asarray(s, dtype=np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"initial_state[{i}]: expected an array of numbers {state_shape}, "
                            f"got {type(s).__name__}.") from None
        if arr.shape != state_shape:
            raise ValueError(f"initial_state[{i}]: expected shape {layout} = {state_shape}, got {arr.shape}. "
                             "Each state has the size the input convolution gives each frame, with one channel per "
                             "filter, in the layer's data_format.")
        if not np.isfinite(arr).all():
            raise ValueError(f"initial_state[{i}]: expected finite numbers, got NaN or infinity. Replace them first.")
        out.append(arr)
    return out


def _out_spatial(kind, spatial, cell) -> tuple[int, ...]:
    out = []
    for axis, size in enumerate(spatial):
        o, _, _ = reference._window(size, cell.kernel_size[axis], cell.strides[axis], cell.padding,
                                    cell.dilation_rate[axis])
        if o < 1:
            span = (cell.kernel_size[axis] - 1) * cell.dilation_rate[axis] + 1
            raise ValueError(
                f"x: spatial axis {axis} of each frame has size {size}, smaller than the {span} the kernel covers "
                f"(kernel_size={cell.kernel_size}, dilation_rate={cell.dilation_rate}), so padding='valid' leaves "
                f"nothing. Use larger frames, a smaller kernel, or {kind}(..., padding='same')."
            )
        out.append(o)
    return tuple(out)


def run_conv(layer, x, initial_state=None, mask=None) -> ConvTrace:
    """Run a Keras ConvLSTM1D/2D/3D layer over ``x`` step by step and keep every state and gate.

    Arguments:

    * ``layer``: a Keras ``ConvLSTM1D``, ``ConvLSTM2D`` or ``ConvLSTM3D``, built or not (an unbuilt
      layer is built for ``x``, its weights drawn from its initialisers: seed first for repeatable
      numbers). Its ``return_sequences`` and ``return_state`` do not matter: :meth:`ConvTrace.returns`
      selects. A stateful layer carries on from its stored states when ``initial_state`` is left out.
    * ``x``: array-like in the layer's ``data_format``: ``(batch, timesteps, *spatial, channels)``
      (channels-last, Keras's default) or ``(batch, timesteps, channels, *spatial)``.
    * ``initial_state``: ``None`` for zeros, or ``[h0, c0]``, each ``(batch, *out_spatial, filters)``
      (``(batch, filters, *out_spatial)`` for a channels-first layer), as Keras takes them.
    * ``mask``: ``None``, or booleans ``(batch, timesteps)``, ``False`` marking padding; a masked
      step leaves h and c unchanged, as in Keras.

    Returns a :class:`ConvTrace`, its arrays channels-last. Dropout is not applied: the trace is
    what the layer computes at inference, as ``layer(x)`` without ``training=True``.
    """
    kind = conv_kind(layer)
    cell = layer.cell
    rank = CONV_KINDS[kind]
    data_format = _checks.choice(cell.data_format, "layer.data_format", ("channels_last", "channels_first"))
    padding = _checks.choice(cell.padding, "layer.padding", ("valid", "same"))
    built = layer.built and getattr(cell, "kernel", None) is not None
    built_shape = None
    if built:
        spatial_dims = tuple(int(s) for s in cell.spatial_dims)
        channels = int(cell.kernel.shape[rank])
        built_shape = (channels, *spatial_dims) if data_format == "channels_first" else (*spatial_dims, channels)
    arr = _input(x, kind, data_format, built_shape)
    batch, timesteps = arr.shape[:2]
    mask = _checks.mask(mask, batch, timesteps)
    frames = _to_last(arr, 2) if data_format == "channels_first" else arr
    out = _out_spatial(kind, frames.shape[2:-1], cell)
    filters = int(cell.filters)
    if data_format == "channels_first":
        state_shape, layout = (batch, filters, *out), f"(batch, filters, {_SPATIAL[rank]})"
    else:
        state_shape, layout = (batch, *out, filters), f"(batch, {_SPATIAL[rank]}, filters)"
    states = _conv_states(initial_state, state_shape, layout)
    if not built:
        layer.build(arr.shape)
    warn_dropout(kind, cell, stacklevel=3)
    if states is None and layer.stateful and getattr(layer, "states", None) is not None:
        stored = [np.asarray(s, dtype=np.float32) for s in layer.states]
        if all(s.shape == state_shape for s in stored):
            states = stored  # a stateful layer carries on from its stored states
    if states is not None and data_format == "channels_first":
        states = [_to_last(s, 1) for s in states]
    steps_x = frames[:, ::-1] if layer.go_backwards else frames
    steps_mask = None if mask is None else (mask[:, ::-1] if layer.go_backwards else mask)
    run = reference.conv_lstm(
        steps_x, np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel),
        np.asarray(cell.bias) if cell.use_bias else None,
        strides=tuple(cell.strides), padding=padding, dilation_rate=tuple(cell.dilation_rate),
        h0=None if states is None else states[0], c0=None if states is None else states[1],
        activation=_numpy_activation(cell.activation),
        recurrent_activation=_numpy_activation(cell.recurrent_activation), mask=steps_mask,
    )
    return ConvTrace(kind, frames, run.h, run.c, run.gates, mask, bool(layer.go_backwards), data_format)
