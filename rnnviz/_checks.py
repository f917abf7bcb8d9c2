"""Argument checks shared by every public entry point.

Each check names the argument, says what was expected and what was given, and
how to fix the call, so a learner never has to read a TensorFlow stack trace.
Public functions call these once, before any Keras code runs.
"""

from __future__ import annotations

import numbers

import numpy as np


def sequence(x, name: str = "x", features: int | None = None) -> np.ndarray:
    """Return ``x`` as a float32 array ``(batch, timesteps, features)``, or raise."""
    if type(x).__name__ == "KerasTensor":
        raise TypeError(
            f"{name}: expected concrete numbers, got a symbolic KerasTensor {getattr(x, 'shape', '')}. "
            "rnnviz needs real data: pass a NumPy array such as np.random.rand(1, 3, 1)."
        )
    try:
        arr = np.asarray(x)
    except Exception as err:  # ragged nested lists and the like
        raise TypeError(
            f"{name}: expected an array-like of numbers with shape (batch, timesteps, features), "
            f"got {type(x).__name__} that NumPy cannot turn into one array ({err}). "
            "Make every sample the same length, e.g. pad shorter sequences with zeros."
        ) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(
            f"{name}: expected numbers, got an array of dtype {arr.dtype} from {type(x).__name__}. "
            "Convert the data to numbers first, e.g. np.asarray(data, dtype='float32')."
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"{name}: expected real numbers, got complex dtype {arr.dtype}. Pass the real part, e.g. x.real.")
    if arr.ndim != 3:
        if arr.ndim == 1:
            hint = f"A 1-D array of {arr.shape[0]} numbers is one sequence of one feature: use x.reshape(1, {arr.shape[0]}, 1)."
        elif arr.ndim == 2:
            hint = (
                f"A 2-D array {arr.shape} reads as (timesteps, features) for one sample: add the batch axis "
                f"with x[None] (or x.reshape(1, {arr.shape[0]}, {arr.shape[1]}))."
            )
        elif arr.ndim == 0:
            hint = "Wrap the number as a sequence: np.reshape(x, (1, 1, 1))."
        else:
            hint = "Reshape it to (batch, timesteps, features)."
        raise ValueError(
            f"{name}: expected a 3-D array (batch, timesteps, features), got {arr.ndim}-D with shape {arr.shape}. {hint}"
        )
    batch, timesteps, feats = arr.shape
    for size, axis in ((batch, "batch"), (timesteps, "timesteps"), (feats, "features")):
        if size == 0:
            raise ValueError(
                f"{name}: expected at least one {axis} entry, got shape {arr.shape} with {axis} = 0. "
                "A recurrent layer needs one sample, one timestep and one feature at the least."
            )
    if features is not None and feats != features:
        raise ValueError(
            f"{name}: the layer was built for {features} features, got {feats} (x has shape {arr.shape}). "
            f"Give x a last axis of {features}, or trace a new layer that has not been built yet."
        )
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name}: expected finite numbers, got {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}. "
            "Replace NaN or infinity first, e.g. np.nan_to_num(x), or mask padded steps with mask=... instead."
        )
    return arr


def mask(value, batch: int, timesteps: int, name: str = "mask") -> np.ndarray | None:
    """Return ``value`` as a bool array ``(batch, timesteps)``, ``None`` for no mask, or raise."""
    if value is None:
        return None
    try:
        arr = np.asarray(value)
    except Exception:
        arr = np.asarray(None, dtype=object)
    if arr.dtype == object or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            f"{name}: expected booleans (True = a real step, False = padding) with shape ({batch}, {timesteps}), "
            f"got dtype {arr.dtype}. Build it with e.g. np.asarray(x).any(axis=-1) or lengths[:, None] > np.arange(T)."
        )
    if arr.shape != (batch, timesteps):
        raise ValueError(
            f"{name}: expected shape (batch, timesteps) = ({batch}, {timesteps}) to match x, got {arr.shape}. "
            "One entry per sample and timestep; drop any features axis."
        )
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name}: expected only 0/1 or True/False, got values {np.unique(arr)[:5]}.")
    return arr.astype(bool)


def states(value, count: int, batch: int, units, kind: str, name: str = "initial_state",
           names: str | None = None) -> list[np.ndarray] | None:
    """Return ``value`` as a list of ``count`` float32 arrays ``(batch, units)``, or raise.

    ``units``: one number for every state, or a list of ``count`` (a Bidirectional layer whose backward layer
    has another size); ``names``: how to write the expected list, e.g. ``"[forward_h0, backward_h0]"``.
    """
    if value is None:
        return None
    sizes = [int(units)] * count if np.isscalar(units) else [int(u) for u in units]
    if names is None:
        names = {"LSTM": "[h0, c0]", "GRU": "[h0]", "SimpleRNN": "[h0]"}.get(kind, "")
        if count == 4:
            names = "[forward_h0, forward_c0, backward_h0, backward_c0]"
        elif count == 2 and kind != "LSTM":
            names = "[forward_h0, backward_h0]"
    if not isinstance(value, (list, tuple)):
        if count == 1:
            value = [value]
        else:
            raise TypeError(
                f"{name}: expected a list of {count} arrays {names} for this {kind} layer, got one "
                f"{type(value).__name__}. Pass a list, e.g. {names}."
            )
    if len(value) != count:
        raise ValueError(
            f"{name}: expected {count} array{'s' if count > 1 else ''} {names} for this {kind} layer, "
            f"got {len(value)}. " + _state_count_hint(kind, count)
        )
    out = []
    for i, s in enumerate(value):
        try:
            arr = np.asarray(s, dtype=np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{i}]: expected an array of numbers (batch, units), got {type(s).__name__}.") from None
        if arr.shape != (batch, sizes[i]):
            raise ValueError(
                f"{name}[{i}]: expected shape (batch, units) = ({batch}, {sizes[i]}), got {arr.shape}. "
                "Each state holds one row of `units` numbers per sample of x."
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}[{i}]: expected finite numbers, got NaN or infinity. Replace them first.")
        out.append(arr)
    return out


def _state_count_hint(kind: str, count: int) -> str:
    if kind == "LSTM":
        return "An LSTM carries two states, h and c; a Bidirectional LSTM carries four (two per direction)."
    return f"A {kind} carries one state, h; a Bidirectional {kind} carries two (one per direction)."


def flag(value, name: str) -> bool:
    """Return ``value`` if it is a bool (NumPy bools too), or raise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {value!r} ({type(value).__name__}). Pass {name}=True or {name}=False.")


def integer(value, name: str, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``, or raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a whole number, got {value!r} ({type(value).__name__}). Pass e.g. {name}={low}.")
    value = int(value)
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueError(f"{name}: expected a whole number {span}, got {value}. Pick one in that range.")
    return value


def choice(value, name: str, options) -> str:
    """Return ``value`` if it is one of ``options``, or raise."""
    if value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, options))}, got {value!r}.")
    return value


def traced(value, name: str = "trace", doing: str = "draw as one picture", stacked: bool = False):
    """Return ``value`` if it is a :class:`~rnnviz.Trace` or :class:`~rnnviz.BidirectionalTrace`, or raise.

    A Bidirectional trace needs both directions of one kind and size: ``doing`` says what the caller does with it.
    ``stacked``: a :class:`~rnnviz.StackedTrace` is accepted too (the caller draws every cell).
    """
    from .trace import BidirectionalTrace, StackedTrace, Trace  # late: trace.py imports this module

    if isinstance(value, Trace) or (isinstance(value, BidirectionalTrace) and value.same_directions):
        return value
    if stacked and isinstance(value, StackedTrace):
        return value
    if type(value).__name__ == "ConvTrace":
        raise TypeError(
            f"{name}: it is the trace of a {value.kind}, whose states are images, which this picture cannot "
            f"{doing}. Draw it with rnnviz.plot_conv_states({name}, return_sequences, return_state), or read its "
            f"arrays: {name}.h and {name}.c are (batch, timesteps, *spatial, filters), and "
            f"{name}.returns(return_sequences, return_state) gives what Keras hands back."
        )
    if isinstance(value, StackedTrace):
        raise TypeError(
            f"{name}: it is the trace of an RNN over stacked cells ({value.kind}), which rnnviz cannot {doing} "
            f"yet. Take one cell at a time: pass {name}.cells[0] (the bottom cell) up to "
            f"{name}.cells[{len(value.cells) - 1}] (the top one, whose h is the layer's output). "
            f"rnnviz.plot_states({name}, return_sequences, return_state) draws every cell in one figure."
        )
    if isinstance(value, BidirectionalTrace):
        f, b = value.forward, value.backward
        raise ValueError(
            f"{name}: its Bidirectional layer has a backward layer of another kind or size ({b.kind}({b.units}) "
            f"behind {f.kind}({f.units})), which rnnviz cannot {doing} yet. Take one direction at a time: "
            f"pass {name}.forward or {name}.backward."
        )
    given = type(value).__name__
    if hasattr(value, "cell") or hasattr(value, "forward_layer"):
        hint = f"That is a Keras layer; trace it first: {name} = rnnviz.trace(layer, x), then pass {name}."
    elif isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "shape"):
        hint = f"That looks like data; trace a layer over it first: {name} = rnnviz.trace(layer, x)."
    else:
        hint = f"Make one with {name} = rnnviz.trace(layer, x)."
    kinds = "a Trace, BidirectionalTrace or StackedTrace" if stacked else "a Trace or BidirectionalTrace"
    raise TypeError(f"{name}: expected the result of rnnviz.trace(layer, x) ({kinds}), got {given}. {hint}")


def sample(value, batch: int, name: str = "sample") -> int:
    """Return ``value`` as a sample index in ``[0, batch - 1]``, or raise (negative indices count from the end)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a whole number (which sample of the batch to show), got {value!r} "
                        f"({type(value).__name__}). Pass e.g. {name}=0.")
    index = int(value)
    if not -batch <= index < batch:
        raise ValueError(
            f"{name}: expected an index into the batch of {batch} sample{'s' if batch != 1 else ''} "
            f"(0 to {batch - 1}), got {index}. Pick one of 0 to {batch - 1}, or trace a larger batch."
        )
    return index % batch


def timestep(value, timesteps: int, name: str = "t", *, negative: bool = False, optional: bool = False) -> int | None:
    """Return ``value`` as a timestep in ``[0, timesteps - 1]``, or raise.

    ``negative``: -1 is the last step (as in NumPy); ``optional``: ``None`` is allowed and returned as is.
    """
    if optional and value is None:
        return None
    leave_out = ", or leave it out" if optional else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a whole number (a timestep){' or None' if optional else ''}, got {value!r} "
                        f"({type(value).__name__}). Pass e.g. {name}=0{leave_out}.")
    index = int(value)
    low = -timesteps if negative else 0
    if not low <= index < timesteps:
        hint = f"; {name}=-1 is the last step" if negative else (f", or pass {name}=None" if optional else "")
        raise ValueError(
            f"{name}: expected a timestep from 0 to {timesteps - 1} (x has {timesteps} timestep"
            f"{'s' if timesteps != 1 else ''}), got {index}. Pick one of 0 to {timesteps - 1}{hint}."
        )
    return index % timesteps
