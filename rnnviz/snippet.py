"""The Keras code that recreates a trace's numbers in a new notebook, and the seeded layer it names.

:func:`keras_snippet` writes a complete, paste-able snippet: imports, the seed, ``x``,
the layer with its flags and every argument that differs from Keras's defaults, the
call, and one comment per returned tensor with its shape. The variables are named as
Keras (and the figure) name the tensors: ``output``, ``state_h``, ``forward_c`` ..., and
nested as Keras nests them for stacked cells: ``output, [cell_0_h, cell_0_c], [cell_1_h] = layer(x)``.

Why a seed is enough for the explorer's own layers: Keras 3 gives each random
initialiser its seed when the layer is *constructed*, drawn from Python's ``random``,
which ``keras.utils.set_random_seed`` seeds; the weights are then drawn from those
seeds when the layer is built. So :func:`make_layer` and the snippet, both calling
``set_random_seed(seed)`` right before constructing the same layer, get the same
weights (``tests/test_snippet.py`` checks this in a fresh process). A learner's own
layer has weights no seed can remake: the snippet writes them out as numbers.
"""

from __future__ import annotations

import contextlib
import json
import random
import textwrap
from dataclasses import dataclass

import numpy as np

from . import _checks
from ._quiet import import_keras
from .conv_trace import ConvTrace
from .trace import SUPPORTED_KINDS, BidirectionalTrace, StackedTrace, Trace, require_plain_layer
from .trace import trace as run_trace

__all__ = ["keras_snippet", "make_layer"]

#: The kinds :func:`make_layer` builds: Keras's vector-state layers, and a small ConvLSTM2D.
KINDS = (*SUPPORTED_KINDS, "ConvLSTM2D")
#: A ConvLSTM2D from :func:`make_layer` reads frames of this size ``(rows, cols)``, with a 3x3 kernel and
#: ``padding="same"`` (so h and c are images of the same size).
CONV_FRAME = (6, 6)
CONV_KERNEL = 3

#: The longest line the snippet aims for (the explorer shows it in a box about 600 px wide).
WIDTH = 72
#: Up to this many weights (or numbers of x) are written out; above it, the snippet says what to copy.
MAX_WEIGHTS = 300
MAX_X = 2000
SEEDS = (0, 2**32 - 1)  # what keras.utils.set_random_seed accepts (NumPy's limit)
#: Config keys that are not constructor choices (or that the snippet sets from its own arguments).
_NOT_ARGUMENTS = {"name", "trainable", "units", "return_sequences", "return_state"}
_ACTIVATIONS = ("activation", "recurrent_activation")


def make_layer(cell: str, bidirectional: bool, units: int, features: int, seed: int, cells: int = 1):
    """A built Keras layer with the weights ``keras_snippet(..., seed=seed)`` recreates.

    Calls ``keras.utils.set_random_seed(seed)`` (which also seeds Python's and NumPy's
    global generators), then builds, with default arguments otherwise:

    * ``cells=1``: ``keras.layers.<cell>(units)``, wrapped in ``Bidirectional`` when asked,
      for input ``(batch, timesteps, features)``;
    * ``cells=2``: ``keras.layers.RNN([<cell>Cell(units), <cell>Cell(units)])``, two stacked
      cells (not with ``bidirectional``), for the same input;
    * ``cell="ConvLSTM2D"``: ``ConvLSTM2D(units, 3, padding="same")`` (``units`` filters) for frames
      ``(batch, timesteps, 6, 6, features)``: :data:`CONV_FRAME`, ``features`` channels.
    """
    cell = _checks.choice(cell, "cell", KINDS)
    bidirectional = _checks.flag(bidirectional, "bidirectional")
    units = _checks.integer(units, "units", 1)
    features = _checks.integer(features, "features", 1)
    seed = _checks.integer(seed, "seed", *SEEDS)
    cells = _checks.integer(cells, "cells", 1, 2)
    if cell == "ConvLSTM2D" and (bidirectional or cells > 1):
        raise ValueError(f"cell: a ConvLSTM2D is made as one layer, one direction; got bidirectional={bidirectional}, "
                         f"cells={cells}. Pass bidirectional=False, cells=1.")
    if cells > 1 and bidirectional:
        raise ValueError("bidirectional: rnnviz does not trace a Bidirectional around stacked cells; got "
                         "bidirectional=True with cells=2. Pass bidirectional=False, or cells=1.")
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    if cell == "ConvLSTM2D":
        layer = keras.layers.ConvLSTM2D(units, CONV_KERNEL, padding="same")
        layer.build((None, None, *CONV_FRAME, features))
        return layer
    if cells > 1:
        cell_class = getattr(keras.layers, f"{cell}Cell")
        layer = keras.layers.RNN([cell_class(units) for _ in range(cells)])
    else:
        layer = getattr(keras.layers, cell)(units)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    layer.build((None, None, features))
    return layer


def keras_snippet(trace, return_sequences: bool, return_state: bool, *, seed: int, layer=None,
                  own_x: bool = False) -> str:
    """Keras code that recreates exactly the numbers of ``trace`` for these flags, in a new notebook.

    * ``trace``: from :func:`rnnviz.trace`, over ``x`` ``(batch, timesteps, features)``.
    * ``seed``: the seed of the explorer's layer (:func:`make_layer`) and of its ``x``.
    * ``layer``: ``None`` when the trace came from ``make_layer(..., seed)``; otherwise the
      learner's own layer that was traced: its non-default arguments and its weights are
      written out.
    * ``own_x``: ``False`` when ``x`` is ``np.random.default_rng(seed).normal(size=...)``
      as float32; ``True`` to write the values of ``trace.x`` into the snippet.

    Returns the code as one string. The returned tensors get Keras's names, e.g.
    ``output, state_h, state_c = layer(x)``, each followed by a comment with its shape
    (``(batch, timesteps, units)`` or ``(batch, units)``) and what it holds.
    Anything that keeps the snippet from reproducing the trace is said in a note at its top.

    A :class:`~rnnviz.StackedTrace` (``RNN([LSTMCell(2), LSTMCell(2)])``) or a
    :class:`~rnnviz.ConvTrace` (``ConvLSTM2D(filters, 3, padding="same")``, ``x``
    ``(batch, timesteps, rows, cols, channels)``) is written from the seed only (``layer=None``):
    Keras returns a stacked layer's states as one list per cell, unpacked as
    ``output, [cell_0_h, cell_0_c], [cell_1_h, cell_1_c] = layer(x)``.
    """
    if not isinstance(trace, (StackedTrace, ConvTrace)):
        trace = _checks.traced(trace, doing="write as one Keras layer")
    flags = {"return_sequences": _checks.flag(return_sequences, "return_sequences"),
             "return_state": _checks.flag(return_state, "return_state")}
    seed = _checks.integer(seed, "seed", *SEEDS)
    own_x = _checks.flag(own_x, "own_x")
    if layer is None:
        _check_seeded_trace(trace)
    elif isinstance(trace, (StackedTrace, ConvTrace)):
        kind = "an RNN over stacked cells" if isinstance(trace, StackedTrace) else f"a {trace.kind}"
        raise ValueError(
            f"layer: keras_snippet writes out a learner's own LSTM, GRU or SimpleRNN layer (or a Bidirectional "
            f"around one); for {kind} it remakes the seeded layer of make_layer only. Pass layer=None if the trace "
            "came from make_layer(..., seed), or copy your layer's code and weights yourself."
        )
    else:
        _check_own_layer(layer, trace)
    if not own_x:
        _check_seeded_x(trace, seed)

    notes: list[str] = []
    with _random_state_kept():  # default instances, built to compare with, draw from Python's random
        call, classes = _layer_call(trace, layer, flags, notes)
    code = [f"keras.utils.set_random_seed({seed})", *_x_lines(trace, seed, own_x, notes)]
    mask = _mask(trace)
    if mask is not None:
        code += _array_lines("mask", mask, "bool")
    code.append(f"layer = {call.render(len('layer = '))}")
    if layer is not None:
        code += _weight_lines(layer, trace, notes)
    pairs = trace.returns(flags["return_sequences"], flags["return_state"])
    code.append(_unpack(unpack_targets(pairs), "layer(x)" if mask is None else "layer(x, mask=mask)"))
    code += _comments(flat_returns(pairs), trace, flags["return_sequences"])

    names = sorted(classes, key=lambda n: (not n.isupper(), n))  # isort's order: LSTM, GRU before Bidirectional
    head = ["import keras", "import numpy as np", f"from keras.layers import {', '.join(names)}", ""]
    for note in dict.fromkeys(notes):  # each note once, in order
        head += textwrap.wrap(note, WIDTH, initial_indent="# Note: ", subsequent_indent="#   ")
    return "\n".join(head + code)


# -- checks: is the snippet about to tell the truth? ----------------------------------------------

def _what(kind: str, bidirectional: bool, units: int) -> str:
    return f"Bidirectional({kind}({units}))" if bidirectional else f"{kind}({units})"


def _check_seeded_trace(trace) -> None:
    """With ``layer=None`` the trace must be one a default layer can make."""
    if isinstance(trace, ConvTrace):
        _check_seeded_conv(trace)
        return
    if isinstance(trace, StackedTrace):
        if trace.go_backwards:
            raise ValueError(
                "layer: this trace comes from an RNN over stacked cells with go_backwards=True, not from the default "
                "stack make_layer builds from a seed, so keras_snippet cannot write it. Trace "
                "make_layer(cell, False, units, features, seed, cells=2) instead."
            )
        return
    inner = trace.forward if isinstance(trace, BidirectionalTrace) else trace
    if inner.go_backwards or (isinstance(trace, Trace) and trace.zero_output_for_mask):
        setting = "go_backwards=True" if inner.go_backwards else "zero_output_for_mask=True"
        raise ValueError(
            f"layer: this trace comes from a layer with {setting}, not from the default layer make_layer "
            "builds from a seed, so the snippet cannot remake it from the seed alone. Pass the layer you "
            "traced: keras_snippet(trace, ..., layer=layer)."
        )


def _check_seeded_conv(trace: ConvTrace) -> None:
    """A ConvTrace the snippet can write: channels-last, read forwards, h the size of each frame (``padding="same"``)."""
    frame = tuple(trace.x.shape[2:-1])
    if trace.go_backwards or trace.data_format != "channels_last" or trace.out_spatial != frame:
        raise ValueError(
            f"layer: keras_snippet writes the {trace.kind} make_layer builds ({trace.kind}(filters, {CONV_KERNEL}, "
            f"padding=\"same\"), channels-last, read forwards); this trace's layer differs (h {trace.out_spatial} "
            f"per frame {frame}, data_format={trace.data_format!r}, go_backwards={trace.go_backwards}). Trace "
            "make_layer('ConvLSTM2D', False, filters, channels, seed) over frames of the size you want."
        )


def _check_own_layer(layer, trace) -> None:
    kind, bidirectional = require_plain_layer(layer, "keras_snippet")  # a TypeError that lists what is supported
    inner = layer.forward_layer if bidirectional else layer
    traced_bi = isinstance(trace, BidirectionalTrace)
    given, expected = _what(kind, bidirectional, int(inner.units)), _what(trace.kind, traced_bi, trace.units)
    if given != expected:
        raise ValueError(
            f"layer: expected the layer this trace came from, {expected}, got {given}. Pass the layer "
            "you traced, or layer=None if the trace came from make_layer(..., seed)."
        )
    kernel = getattr(inner.cell, "kernel", None) if inner.built else None
    if kernel is None:
        raise ValueError(
            f"layer: this {given} has not been built, so it has no weights and cannot be the layer the trace "
            "came from (tracing builds it). Trace it first, trace = rnnviz.trace(layer, x), then pass both."
        )
    if int(kernel.shape[0]) != trace.features:
        raise ValueError(
            f"layer: this {given} was built for {int(kernel.shape[0])} features, but the trace's x has "
            f"{trace.features} (x {trace.x.shape}). Pass the layer you traced."
        )
    if traced_bi and layer.merge_mode != trace.merge_mode:
        raise ValueError(
            f"layer: this Bidirectional has merge_mode={layer.merge_mode!r}, but the trace was made with "
            f"merge_mode={trace.merge_mode!r}. Pass the layer you traced."
        )


def _check_seeded_x(trace, seed: int) -> None:
    if not np.array_equal(trace.x, _seeded_x(seed, trace.x.shape)):
        raise ValueError(
            f"own_x: expected the trace's x to be the seeded input the snippet writes, "
            f"np.random.default_rng({seed}).normal(size={trace.x.shape}).astype('float32'), but it holds other "
            "numbers. Pass own_x=True to write its values into the snippet, or the seed that made it."
        )


def _seeded_x(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """``shape`` ``(batch, timesteps, features)``: the explorer's input, written the snippet's way."""
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _mask(trace) -> np.ndarray | None:
    """``(batch, timesteps)`` booleans the trace was masked with, or ``None``."""
    return (trace.forward if isinstance(trace, BidirectionalTrace) else trace).mask


@contextlib.contextmanager
def _random_state_kept():
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


# -- the layer line ------------------------------------------------------------------------------

@dataclass
class _Call:
    """``func(arg, key=arg, ...)``: written on one line when it fits, one argument a line when not."""

    func: str
    args: list  # (keyword or None, code string or _Call)

    def flat(self) -> str:
        return f"{self.func}({', '.join(_arg(k, v, v.flat() if isinstance(v, _Call) else v) for k, v in self.args)})"

    def render(self, column: int = 0, indent: int = 0) -> str:
        """The code, starting at ``column`` of a line indented by ``indent``."""
        one = self.flat()
        if column + len(one) + 1 <= WIDTH:
            return one
        pad = " " * (indent + 4)
        lines = []
        for key, value in self.args:
            start = len(pad) + (len(key) + 1 if key else 0)
            text = value.render(start, indent + 4) if isinstance(value, _Call) else value
            lines.append(f"{pad}{_arg(key, value, text)},")
        return f"{self.func}(\n" + "\n".join(lines) + f"\n{' ' * indent})"


def _arg(key, value, text: str) -> str:
    return f"{key}={text}" if key else text


def _layer_call(trace, layer, flags: dict, notes: list[str]) -> tuple[_Call, set[str]]:
    """The layer's constructor call, and the ``keras.layers`` classes it names."""
    flag_args = [(name, "True") for name, on in flags.items() if on]
    if isinstance(trace, StackedTrace):
        cells = [f"{cell.kind}Cell({cell.units})" for cell in trace.cells]
        return _Call("RNN", [(None, f"[{', '.join(cells)}]"), *flag_args]), {"RNN", *(c.split("(")[0] for c in cells)}
    if isinstance(trace, ConvTrace):
        args = [("filters", str(trace.filters)), ("kernel_size", str(CONV_KERNEL)), ("padding", '"same"'), *flag_args]
        return _Call(trace.kind, args), {trace.kind}
    if layer is None:
        call = _Call(trace.kind, [(None, str(trace.units)), *flag_args])
        if not isinstance(trace, BidirectionalTrace):
            return call, {trace.kind}
        args = [(None, call)]
        if trace.merge_mode != "concat":
            args.append(("merge_mode", _py(trace.merge_mode)))
        return _Call("Bidirectional", args), {trace.kind, "Bidirectional"}
    if not isinstance(trace, BidirectionalTrace):
        return _recurrent_call(layer, flag_args, notes, inside=False), {trace.kind}
    args = [(None, _recurrent_call(layer.forward_layer, flag_args, notes, inside=True))]
    if layer.merge_mode != "concat":
        args.append(("merge_mode", _py(layer.merge_mode)))
    classes = {trace.kind, "Bidirectional"}
    if _own_backward_layer(layer):
        args.append(("backward_layer", _recurrent_call(layer.backward_layer, flag_args, notes, inside=True)))
        classes.add(type(layer.backward_layer).__name__)
    return _Call("Bidirectional", args), classes


def _recurrent_call(rnn, flag_args: list, notes: list[str], inside: bool) -> _Call:
    """``LSTM(units, <flags>, <every argument that differs from a default LSTM>)``."""
    config, default = _config(rnn), _default_config(type(rnn))
    args = [(None, str(int(rnn.units))), *flag_args]
    for key, value in config.items():
        # Bidirectional sets zero_output_for_mask on the layers inside it, from return_sequences.
        if key in _NOT_ARGUMENTS or (inside and key == "zero_output_for_mask"):
            continue
        if key == "dtype":
            if _policy(value) != _policy(default.get("dtype")):
                args.append(("dtype", _py(_policy(value))))
        elif key not in default or value != default[key]:
            args.append((key, _value(key, value, notes)))
    return _Call(type(rnn).__name__, args)


def _own_backward_layer(layer) -> bool:
    """Whether a Bidirectional's backward layer differs from the one Keras would make itself."""
    ignored = _NOT_ARGUMENTS | {"zero_output_for_mask"}
    made = {**_config(layer.forward_layer), "go_backwards": True}
    backward = _config(layer.backward_layer)
    if type(layer.backward_layer) is not type(layer.forward_layer) or layer.backward_layer.units != layer.forward_layer.units:
        return True
    return any(made.get(key) != value for key, value in backward.items() if key not in ignored)


@dataclass(frozen=True)
class _Function:
    """A learner's own activation function, written by name."""

    name: str


def _config(rnn) -> dict:
    """``rnn.get_config()``, with each activation as its Keras name or a :class:`_Function`.

    Keras cannot serialise every function (a lambda whose source it cannot read raises),
    so a learner's own activations are swapped for ``linear`` while the config is read.
    """
    keras = import_keras()
    cell = rnn.cell
    functions = {key: getattr(cell, key) for key in _ACTIVATIONS if hasattr(cell, key)}
    own = {key: fn for key, fn in functions.items() if _keras_name(fn) is None}
    try:
        for key in own:
            setattr(cell, key, keras.activations.linear)
        config = rnn.get_config()
    finally:
        for key, fn in own.items():
            setattr(cell, key, fn)
    for key, fn in functions.items():
        name = _keras_name(fn)
        config[key] = name if name is not None else _Function(getattr(fn, "__name__", "") or "")
    return config


def _keras_name(fn) -> str | None:
    keras = import_keras()
    name = getattr(fn, "__name__", None)
    return name if name and getattr(keras.activations, name, None) is fn else None


_DEFAULTS: dict[type, dict] = {}


def _default_config(cls) -> dict:
    """The config of ``cls(1)`` with every other argument left at its default (cached)."""
    if cls not in _DEFAULTS:
        _DEFAULTS[cls] = _config(cls(1))
    return _DEFAULTS[cls]


def _policy(value) -> str | None:
    """The dtype policy's name from a config entry (a serialised DTypePolicy or a string)."""
    if isinstance(value, dict):
        return (value.get("config") or {}).get("name")
    return value


def _value(key: str, value, notes: list[str]) -> str:
    """Python code for the config value of argument ``key``."""
    if isinstance(value, _Function):
        if value.name.isidentifier():
            notes.append(f"{value.name} is your own activation function: define it (or import it) before "
                         "running this.")
            return value.name
        notes.append(f"your layer's {key} is a lambda: define it as my_{key} = lambda ... before running this.")
        return f"my_{key}"
    if isinstance(value, dict) and "class_name" in value:
        return _object(value, notes)
    return _py(value)


def _object(serialised: dict, notes: list[str]) -> str:
    """Code for a serialised initializer, regularizer or constraint, e.g. ``keras.initializers.Ones()``."""
    keras = import_keras()
    module, name = serialised.get("module") or "", serialised["class_name"]
    config = serialised.get("config") or {}
    if not module.startswith("keras.") or not hasattr(getattr(keras, module.split(".")[1], None), name):
        notes.append(f"{name} is your own class: define it (or import it) before running this.")
        return f"{name}(**{_py(config)})"
    family = module.split(".")[1]
    try:
        default = getattr(getattr(keras, family), name)().get_config()
    except Exception:  # a class without a no-argument form: write every setting
        default = {}
    args = [(key, _py(value)) for key, value in config.items() if key not in default or default[key] != value]
    return _Call(f"keras.{family}.{name}", args).flat()


def _py(value) -> str:
    """Python source for a plain value (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):  # Keras takes a list wherever its config holds a tuple
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


# -- numbers written out -------------------------------------------------------------------------

def _number(value) -> str:
    """The shortest decimal that reads back as exactly this float32."""
    v = np.float32(value)
    if not np.isfinite(v):
        return f'float("{v}")'
    if v == 0:
        return "0"
    if 1e-4 <= abs(v) < 1e16:
        text = np.format_float_positional(v, unique=True, trim="-")
    else:
        text = np.format_float_scientific(v, unique=True, trim="-")
    # Python reads the text as float64 and NumPy then rounds it to float32: make sure that lands on v.
    return text if np.float32(float(text)) == v else repr(float(v))


def _array_lines(name: str, arr: np.ndarray, dtype: str) -> list[str]:
    """``name = np.array([...], dtype=...).reshape(shape)``, wrapped to :data:`WIDTH`."""
    if dtype == "bool":
        values, kind = ["True" if v else "False" for v in arr.ravel()], "bool"
    else:
        values, kind = [_number(v) for v in arr.ravel()], f'"{dtype}"'
    reshape = "" if arr.ndim == 1 else f".reshape({', '.join(map(str, arr.shape))})"
    tail = f"], dtype={kind}){reshape}"
    one = f"{name} = np.array([{', '.join(values)}{tail}"
    if len(one) <= WIDTH:
        return [one]
    body = textwrap.wrap(", ".join(values) + ",", WIDTH, initial_indent="    ", subsequent_indent="    ",
                         break_long_words=False, break_on_hyphens=False)
    return [f"{name} = np.array([", *body, tail]


def _x_lines(trace, seed: int, own_x: bool, notes: list[str]) -> list[str]:
    if isinstance(trace, ConvTrace) and own_x:
        raise ValueError("own_x: keras_snippet writes the seeded frames of make_layer's ConvLSTM2D only; got "
                         "own_x=True. Pass own_x=False with the seed that made x.")
    shape = trace.x.shape
    if not own_x:
        return [f'x = np.random.default_rng({seed}).normal(size={shape}).astype("float32")']
    if trace.x.size > MAX_X:
        notes.append(f"your x has {trace.x.size} numbers, too many to write out here: set x to your own "
                     f"input, shape {shape} (batch, timesteps, features), before running this.")
        return [f"# x = your own input, shape {shape}"]
    return ["# x: your own input, number for number", *_array_lines("x", trace.x, "float32")]


def _weight_lines(layer, trace, notes: list[str]) -> list[str]:
    """Build the layer, then set the learner's weights on it (or say how to)."""
    parts = [("", layer)] if not isinstance(trace, BidirectionalTrace) else [
        ("forward_", layer.forward_layer), ("backward_", layer.backward_layer)]
    named, seen = [], set()
    for prefix, part in parts:
        for variable, array in zip(part.weights, part.get_weights(), strict=True):
            name = prefix + variable.name.split("/")[-1]
            name = name if name.isidentifier() and name not in seen else f"{prefix}weight_{len(named)}"
            seen.add(name)
            named.append((name, array))
    _note_other_numbers(layer, trace, notes)
    total = sum(array.size for _, array in named)
    if total > MAX_WEIGHTS:
        notes.append(f"your layer has {total} weights, too many to write out here. Copy them from your own "
                     "layer (the commented line below); with fresh random weights the numbers will differ "
                     "from the figure.")
        return ["layer.build(x.shape)", "# layer.set_weights(my_layer.get_weights())  # my_layer: your layer"]
    lines = ["layer.build(x.shape)", "# Your layer's weights, exactly: no seed makes them"]
    for name, array in named:
        lines += _array_lines(name, array, "float32")
    one = f"layer.set_weights([{', '.join(n for n, _ in named)}])"
    if len(one) <= WIDTH:
        return [*lines, one]
    names = textwrap.wrap(", ".join(n for n, _ in named) + ",", WIDTH, initial_indent="    ",
                          subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)
    return [*lines, "layer.set_weights([", *names, "])"]


def _note_other_numbers(layer, trace, notes: list[str]) -> None:
    """Say so when this layer, as it is now and from zero states, would not give the trace's numbers."""
    again = run_trace(layer, trace.x, mask=_mask(trace))
    same = all(np.allclose(a, b, atol=1e-6, rtol=0)
               for (_, a), (_, b) in zip(again.returns(True, True), trace.returns(True, True), strict=True))
    if not same:
        notes.append("your layer gives other numbers now than in the trace (its weights changed since, or "
                     "the trace started from an initial_state): this snippet uses its weights as they are now "
                     "and zero initial states, so it will not match the figure.")
    inner = [layer.forward_layer, layer.backward_layer] if isinstance(trace, BidirectionalTrace) else [layer]
    if any(part.stateful and any(np.any(np.asarray(s)) for s in (part.states or [])) for part in inner):
        notes.append("your layer is stateful and started from its stored states; the layer here starts "
                     "from zeros, so its numbers will differ from the figure.")


# -- the call and what it returns ----------------------------------------------------------------

def unpack_targets(pairs) -> list[str]:
    """The names ``layer(x)`` is unpacked into, nested as Keras nests them: ``["output", "[cell_0_h, cell_0_c]"]``."""
    return [name if not isinstance(value, list) else "[" + ", ".join(n for n, _ in _cell_states(name, value)) + "]"
            for name, value in pairs]


def flat_returns(pairs) -> list[tuple[str, np.ndarray]]:
    """``returns()`` pairs as the snippet's variables, one array each: a stacked cell's ``("cell_0", [...])`` becomes
    ``("cell_0_h", h), ("cell_0_c", c)``."""
    flat = []
    for name, value in pairs:
        flat += _cell_states(name, value) if isinstance(value, list) else [(name, value)]
    return flat


def _cell_states(cell: str, states) -> list[tuple[str, np.ndarray]]:
    return [(f"{cell}_{state.removeprefix('state_')}", arr) for state, arr in states]


def _unpack(names: list[str], call: str) -> str:
    """``a, b = layer(x)``, the names wrapped in parentheses when the line is too long."""
    one = f"{', '.join(names)} = {call}"
    if len(one) <= WIDTH:
        return one
    pieces = [f"{name}," for name in names[:-1]] + [f"{names[-1]}) = {call}"]
    rows = ["(" + pieces[0]]
    for piece in pieces[1:]:
        if len(rows[-1]) + 1 + len(piece) > WIDTH:
            rows.append(" " + piece)
        else:
            rows[-1] += " " + piece
    return "\n".join(rows)


def _comments(pairs, trace, return_sequences: bool) -> list[str]:
    notes = [(name, str(tuple(arr.shape)), _describe(name, trace, return_sequences)) for name, arr in pairs]
    name_w = max(len(n) for n, _, _ in notes)
    shape_w = max(len(s) for _, s, _ in notes)
    return [f"# {n:<{name_w}}  {s:<{shape_w}}  {what}" for n, s, what in notes]


def _describe(name: str, trace, return_sequences: bool) -> str:
    """What one returned tensor holds, in words."""
    if isinstance(trace, StackedTrace):
        last = int(trace.cells[0].input_steps[-1])
        top = len(trace.cells) - 1
        if name == "output":
            return ("the top cell's h at every timestep" if return_sequences
                    else f"the top cell's h at t={last}")
        cell, state = name.rsplit("_", 1)
        k = int(cell.split("_")[1])
        same = ""
        if k == top and state == "h":
            same = ", equal to " + ("output[:, -1]" if return_sequences else "output")
        return f"cell {k}'s {state} at t={last}{same}"
    if isinstance(trace, ConvTrace):  # read forwards (see _check_seeded_conv)
        last = trace.timesteps - 1
        if name == "output":
            return ("h at every timestep, an image (rows, cols, filters) each" if return_sequences
                    else f"h at the last timestep, t={last}: (rows, cols, filters)")
        if name == "state_h":
            return f"h at t={last}, equal to {'output[:, -1]' if return_sequences else 'output'}"
        return f"c at t={last} (Keras gives no earlier c)"
    if isinstance(trace, Trace):
        last = int(trace.input_steps[-1])
        where = f"t={last}" if not trace.go_backwards else f"the last step read (t={last})"
        if name == "output":
            if not return_sequences:
                return f"h at the last timestep, t={last}" if not trace.go_backwards else (
                    f"h at the last step read (t={last}: go_backwards reads x backwards)")
            return "h at every timestep" if not trace.go_backwards else (
                f"h at every step, in the order read (t={trace.timesteps - 1} first)")
        same = "output[:, -1]" if return_sequences else "output"
        if name == "state_h":
            return f"h at {where}, equal to {same}"
        return f"c at {where} (Keras gives no earlier c)"
    ends = {"forward": int(trace.forward.input_steps[-1]), "backward": int(trace.backward.input_steps[-1])}
    order = "in x's order" if not trace.forward.go_backwards else "in reverse order"
    if name == "output":
        how = "side by side" if trace.merge_mode == "concat" else f"merged ({trace.merge_mode})"
        if return_sequences:
            return f"forward, backward h {how} at every t, {order}"
        return f"forward h at t={ends['forward']} and backward h at t={ends['backward']}, {how}"
    direction, state = name.split("_")
    if state == "output":
        return f"{direction} h at every timestep, {order}" if return_sequences else (
            f"{direction} h at its last step (t={ends[direction]})")
    end = " (the backward layer ends there)" if direction == "backward" and ends[direction] == 0 else ""
    return f"{direction} {state} at t={ends[direction]}{end}"
