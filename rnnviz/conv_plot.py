"""Draw a ConvLSTM's h and c as small images, one per timestep, with what Keras returns framed.

:func:`plot_conv_states` takes a :class:`~rnnviz.conv_trace.ConvTrace` (channels-last arrays) and
draws one row for h and one for c, one column per timestep in input order. Each image is one
filter of one sample: ``(rows, cols)`` for a ConvLSTM2D, a 1-row strip ``(1, steps)`` for a
ConvLSTM1D, and the middle depth slice ``(rows, cols)`` for a ConvLSTM3D. All images share one
colour scale, symmetric around 0.

How the marks read (none of them by colour alone): returned images get a thick black frame and,
under their row, the Keras name and shape from :meth:`ConvTrace.returns`; the other images are
faded and carry the words "not returned".
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import _checks
from .conv_trace import ConvTrace
from .plot import MARK_EDGE, StatesFigure

__all__ = ["plot_conv_states"]

_TEXT = {"title": 15, "label": 13, "col": 11, "mark": 12, "note": 9}
_LEFT, _RIGHT, _TOP, _GAP, _BOTTOM, _SPACE = 1.5, 1.5, 1.45, 1.0, 0.9, 0.14  # inches
_FADE = 0.3
_WORDS = {"h": "hidden state", "c": "cell state"}


def _conv_trace(value) -> ConvTrace:
    if isinstance(value, ConvTrace):
        return value
    given = type(value).__name__
    if given in ("Trace", "BidirectionalTrace", "StackedTrace"):
        hint = "That is the trace of a vector-state layer: draw it with rnnviz.plot_states(trace) instead."
    elif hasattr(value, "cell"):
        hint = "That is a Keras layer; trace it first: trace = rnnviz.trace(layer, x), then pass trace."
    else:
        hint = "Make one with trace = rnnviz.trace(layer, x) for a ConvLSTM1D/2D/3D layer."
    raise TypeError(f"trace: expected the ConvTrace that rnnviz.trace(layer, x) gives for a ConvLSTM layer, "
                    f"got {given}. {hint}")


def _filter(value, filters: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"filter: expected a whole number (which filter, i.e. channel of h and c, to show), got "
                        f"{value!r} ({type(value).__name__}). Pass e.g. filter=0.")
    if not -filters <= int(value) < filters:
        raise ValueError(f"filter: expected an index into the layer's {filters} filter{'s' * (filters != 1)} "
                         f"(0 to {filters - 1}), got {int(value)}. Pick one of 0 to {filters - 1}.")
    return int(value) % filters


def _image(state: np.ndarray) -> np.ndarray:
    """One step of one filter, ``(*out_spatial,)``, as a 2-D image: a 1-row strip, or the middle depth slice."""
    if state.ndim == 1:
        return state[None, :]
    return state[state.shape[0] // 2] if state.ndim == 3 else state


def plot_conv_states(trace: ConvTrace, return_sequences: bool = False, return_state: bool = False,
                     sample: int = 0, filter: int = 0) -> Figure:  # noqa: A002  (Keras's word for a channel)
    """Draw h and c of one ConvLSTM filter at every timestep as images, framing what Keras returns.

    * ``trace``: a :class:`~rnnviz.conv_trace.ConvTrace` from :func:`rnnviz.trace`; ``h`` and ``c`` are
      ``(batch, timesteps, *out_spatial, filters)`` (channels-last whatever the layer's data_format).
    * ``return_sequences``, ``return_state``: the flags to mark.
    * ``sample``: which sample to draw (``-1`` is the last); ``filter``: which filter (channel) of h and c.

    Returns a Figure (``StatesFigure``: a PNG with alt text in Jupyter) of two rows (h, c) by ``timesteps``
    columns; ``figure.state_axes[state][t]`` is the axes of input timestep ``t``, ``figure.marks`` maps each
    returned name to ``(state, [timesteps])`` and ``figure.alt_text`` is one sentence saying what is drawn.
    """
    trace = _conv_trace(trace)
    return_sequences = _checks.flag(return_sequences, "return_sequences")
    return_state = _checks.flag(return_state, "return_state")
    sample = _checks.sample(sample, trace.batch)
    filter = _filter(filter, trace.filters)  # noqa: A001
    steps, rank = trace.timesteps, trace.rank
    order = trace.input_steps.argsort()  # input timestep -> processed step
    last = 0 if trace.go_backwards else steps - 1  # input timestep of the final state
    images = {s: [_image(getattr(trace, s)[sample, order[t], ..., filter]) for t in range(steps)] for s in ("h", "c")}
    top = float(max(np.abs(np.stack(images["h"] + images["c"])).max(), 1e-6))
    norm = Normalize(-top, top)

    returned = trace.returns(return_sequences, return_state)
    shapes = {name: tuple(a.shape) for name, a in returned}
    marks = {"output": ("h", list(range(steps)) if return_sequences else [last])}
    if return_state:
        marks.update({"state_h": ("h", [last]), "state_c": ("c", [last])})

    rows, cols = images["h"][0].shape
    cell = float(np.clip(11.0 / steps, 0.55, 1.3))
    high = cell if rank > 1 else max(0.35, cell * rows / cols)
    width = _LEFT + steps * cell + (steps - 1) * _SPACE + _RIGHT
    listed = ", ".join(f"{n} {s}".replace(", ", ",\u00a0") for n, s in shapes.items())  # no line break in a shape
    caption = textwrap.wrap(f"return_sequences={return_sequences}, return_state={return_state} \u2192 Keras returns "
                            f"{listed}: framed; faded = not returned", width=int(width * 9.5))
    if trace.mask is not None:
        caption.append("(masked steps: output repeats the last real step, see trace.outputs)")
    spatial = {1: f"length {cols}", 2: f"{rows}\u00d7{cols}",
               3: f"middle depth slice {trace.out_spatial[0] // 2} of {trace.out_spatial[0]}, {rows}\u00d7{cols}"}[rank]
    layer = f"{trace.kind}({trace.filters} filters)"
    moved = " (channels-last here)" if trace.data_format == "channels_first" else ""
    title = textwrap.wrap(f"{layer} on x {tuple(trace.x.shape)}{moved}: filter {filter} of sample {sample}, {spatial}"
                          + (", read backwards" if trace.go_backwards else ""), width=int((width - 0.4) * 7.2))
    head = _TOP + 0.28 * (len(caption) - 1) + 0.3 * (len(title) - 1)
    height = head + 2 * high + _GAP + _BOTTOM
    fig = StatesFigure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.2 / width, 1 - 0.2 / height, "\n".join(title), fontsize=_TEXT["title"], fontweight="bold", va="top")
    fig.text(0.2 / width, 1 - (0.6 + 0.3 * (len(title) - 1)) / height, "\n".join(caption), fontsize=_TEXT["label"],
             va="top", linespacing=1.4)

    fig.state_axes = {}
    for r, state in enumerate(("h", "c")):
        bottom = height - head - (r + 1) * high - r * _GAP
        framed = {t for name, (s, ts) in marks.items() if s == state for t in ts}
        axes = []
        for t in range(steps):
            left = _LEFT + t * (cell + _SPACE)
            ax = fig.add_axes((left / width, bottom / height, cell / width, high / height))
            ax.imshow(images[state][t], cmap="PuOr_r", norm=norm, interpolation="nearest",
                      aspect="equal" if rank > 1 else "auto", alpha=1.0 if t in framed else _FADE)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set(linewidth=4 if t in framed else 0.8, color=MARK_EDGE if t in framed else "#999999",
                          linestyle="-" if t in framed else "--")
            if t not in framed:
                ax.text(0.5, 0.5, "not\nreturned" if rank > 1 else "not returned", transform=ax.transAxes,
                        ha="center", va="center", fontsize=_TEXT["note"], style="italic", color="#333333",
                        linespacing=1.0, bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.85,
                                                   edgecolor="none"))
            if r == 0:
                ax.set_title(f"t={t}", fontsize=_TEXT["col"], pad=10)
            axes.append(ax)
        fig.state_axes[state] = axes
        fig.text((_LEFT - 0.25) / width, (bottom + high / 2) / height, f"{state}\n{_WORDS[state]}", ha="right",
                 va="center", fontsize=_TEXT["label"])
        # Under the row: the Keras name and shape of each returned tensor drawn from it.
        names = [n for n, (s, _) in marks.items() if s == state]
        if return_sequences and state == "h":
            fig.add_artist(Rectangle(((_LEFT - 0.07) / width, (bottom - 0.07) / height,),
                                     (steps * cell + (steps - 1) * _SPACE + 0.14) / width, (high + 0.14) / height,
                                     transform=fig.transFigure, fill=False, edgecolor=MARK_EDGE, lw=2))
        lines = []
        for n in names:
            ts = marks[n][1]
            where = f"every step t=0..{steps - 1}" if len(ts) > 1 else f"t={ts[0]} only"
            where += ", the last step read" if trace.go_backwards and len(ts) == 1 else ""
            lines.append(f"{n} {shapes[n]}  ({where})")
        text = "Keras returns " + "\n+ ".join(lines) if lines else \
            f"Keras does not return {state} (return_state=True adds the last one)"
        forward_end = bool(lines) and not (return_sequences and state == "h") and last == steps - 1
        x = _LEFT + steps * cell + (steps - 1) * _SPACE if forward_end else _LEFT
        fig.text(x / width, (bottom - 0.15) / height, text, ha="right" if forward_end else "left", va="top",
                 fontsize=_TEXT["mark"], fontweight="bold" if lines else "normal",
                 color="#000000" if lines else "#444444", gid=f"returns:{state}", linespacing=1.2)
    cax = fig.add_axes(((width - _RIGHT + 0.35) / width, _BOTTOM / height, 0.18 / width,
                        (2 * high + _GAP) / height))
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap="PuOr_r"), cax=cax)
    bar.ax.tick_params(labelsize=_TEXT["col"])
    bar.set_label(f"value of h and c (filter {filter})", fontsize=_TEXT["col"])
    fig.marks = marks
    fig.alt_text = (f"h and c of {layer} over {steps} timesteps, filter {filter} of sample {sample}"
                    f"{' (middle depth slice)' if rank == 3 else ''}; with return_sequences={return_sequences}, "
                    f"return_state={return_state} Keras returns " + ", ".join(
                        f"{n} {shapes[n]} = {marks[n][0]} at "
                        + (f"every step t=0..{steps - 1}" if len(marks[n][1]) > 1 else f"t={marks[n][1][0]}")
                        for n in shapes) + ": framed; the rest is faded.")
    return fig
