"""Draw what a recurrent cell computes inside, step by step: its gates, candidate and states.

Keras never returns the gates. :func:`rnnviz.trace` keeps them, and :func:`plot_gates`
draws them: one small panel per array, timesteps along x, one line per unit.

* LSTM: input ``x``, input gate ``i``, forget gate ``f``, output gate ``o``, candidate
  ``c~``, cell state ``c``, hidden state ``h``;
* GRU: input ``x``, update gate ``z``, reset gate ``r``, candidate ``h~``, hidden state ``h``;
* SimpleRNN: input ``x`` and hidden state ``h`` (it has no gates, and the figure says so).

Units are told apart by colour, marker *and* line style, so the picture also reads in
grey or for colour-blind eyes. Gates come out of the recurrent activation (a sigmoid by
default), so their panels share the range [0, 1].
"""

from __future__ import annotations

import numbers

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import _checks
from .plot import MARKERS, OKABE_ITO, StatesFigure
from .trace import BidirectionalTrace, Trace

__all__ = ["PANELS", "plot_gates"]

#: The panels drawn for each kind, in order: (array name, panel title). ``"x"``, ``"c"`` and ``"h"``
#: are the trace's own arrays; every other name is a key of ``trace.gates``.
PANELS = {
    "LSTM": (("x", "input x"), ("input", "input gate i"), ("forget", "forget gate f"), ("output", "output gate o"),
             ("candidate", "candidate c~"), ("c", "cell state c"), ("h", "hidden state h")),
    "GRU": (("x", "input x"), ("update", "update gate z"), ("reset", "reset gate r"),
            ("candidate", "candidate h~"), ("h", "hidden state h")),
    "SimpleRNN": (("x", "input x"), ("h", "hidden state h")),
}
#: One line style per unit, to go with OKABE_ITO's colours and MARKERS.
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))
#: The gates' names: their panels span [0, 1].
GATES = ("input", "forget", "output", "update", "reset")

_COLUMN, _ROW = 3.1, 2.5  # inches per panel, fixed so that figure sizes (and notebook outputs) are deterministic
_TEXT = {"title": 16, "panel": 14, "tick": 11, "legend": 13}


def plot_gates(trace: Trace | BidirectionalTrace, sample: int = 0, units=None, direction: str | None = None) -> Figure:
    """Draw the input, every gate, the candidate and the states of one sample over time.

    * ``trace``: from :func:`rnnviz.trace`. Its ``x`` is ``(batch, timesteps, features)``;
      ``h``, ``c`` and each of ``trace.gates`` are ``(batch, timesteps, units)``.
    * ``sample``: which sample of the batch to draw (``0`` to ``batch - 1``; ``-1`` is the last).
    * ``units``: ``None`` for every unit (up to 7), or a unit index or a list of them, e.g. ``[0, 2]``.
    * ``direction``: for a :class:`~rnnviz.BidirectionalTrace`, ``"forward"`` (the default) or
      ``"backward"``; leave it ``None`` for a plain :class:`~rnnviz.Trace`.

    Returns a :class:`matplotlib.figure.Figure` with one axes per panel, titled as in
    :data:`PANELS` (7 for an LSTM, 5 for a GRU, 2 for a SimpleRNN). Each axes holds one line
    per unit, ``(timesteps,)`` values in input order (timestep 0 on the left, also for a layer
    that reads backwards); the input panel holds one grey line per feature. ``figure.alt_text``
    describes the picture in one sentence.
    """
    trace = _checks.traced(trace, "trace")
    if isinstance(trace, BidirectionalTrace):
        direction = _checks.choice("forward" if direction is None else direction, "direction", ("forward", "backward"))
        one, inside = getattr(trace, direction), direction
    else:
        if direction is not None:
            raise ValueError(
                f"direction: only a Bidirectional layer's trace has two directions, got direction={direction!r} "
                f"for a plain {trace.kind} trace. Leave direction out (or pass direction=None)."
            )
        one, inside = trace, None
    sample = _checks.sample(sample, one.batch)
    shown = _units(units, one.units)
    return _draw(one, sample, shown, inside)


def _units(value, count: int, name: str = "units") -> list[int]:
    """Return the unit indices to draw, in the order given, or raise."""
    if value is None:
        if count > len(OKABE_ITO):
            raise ValueError(
                f"{name}: this layer has {count} units, too many lines to tell apart in one small panel "
                f"(at most {len(OKABE_ITO)}). Pick some, e.g. {name}=[0, 1, 2]."
            )
        return list(range(count))
    single = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    items = [value] if single else value
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{name}: expected None, a unit index or a list of them, got {value!r} ({type(value).__name__}). "
                        f"Pass e.g. {name}=[0, 1].")
    items = list(items)
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
            raise TypeError(f"{name}: expected whole numbers (unit indices), got {item!r} ({type(item).__name__}) "
                            f"in {value!r}. Pass e.g. {name}=[0, 1].")
    if not items:
        raise ValueError(f"{name}: expected at least one unit, got an empty list. Pass e.g. {name}=[0], or None for all.")
    bad = [int(i) for i in items if not 0 <= int(i) < count]
    if bad:
        raise ValueError(f"{name}: this layer has {count} unit{'s' if count != 1 else ''} (0 to {count - 1}), "
                         f"got {bad[0]}. Pick units from 0 to {count - 1}.")
    if len(set(map(int, items))) != len(items):
        raise ValueError(f"{name}: expected each unit once, got {value!r}. Drop the repeats.")
    if len(items) > len(OKABE_ITO):
        raise ValueError(f"{name}: expected at most {len(OKABE_ITO)} units (lines one can tell apart), got {len(items)}. "
                         "Pick fewer.")
    return [int(i) for i in items]


def _draw(tr: Trace, sample: int, units: list[int], direction: str | None) -> Figure:
    panels = PANELS[tr.kind]
    order = tr.input_steps.argsort()  # processed step k -> input order
    arrays = {"x": tr.x[sample], "h": tr.h[sample][order]}
    if tr.c is not None:
        arrays["c"] = tr.c[sample][order]
    arrays.update({name: values[sample][order] for name, values in tr.gates.items()})

    rows = 1 if len(panels) <= 3 else 2
    columns = -(-len(panels) // rows)
    notes = _notes(tr, direction)
    head = 0.55 + 0.35 * len(notes)
    width = max(columns * _COLUMN + 0.4, 8.0)
    fig = StatesFigure(figsize=(width, rows * _ROW + head + 0.7), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    steps = np.arange(tr.timesteps)
    # Unit u keeps style u (the same as in plot_states); units past the palette take the styles in turn.
    style = {u: u if max(units) < len(OKABE_ITO) else k for k, u in enumerate(units)}
    handles = []
    for k, (name, title) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, k + 1)
        values = arrays[name]
        ax.axhline(0, color="#bbbbbb", lw=1, zorder=1)
        if name == "x":
            for feature in range(values.shape[1]):
                ax.plot(steps, values[:, feature], color="#555555", marker=".", lw=1.5,
                        linestyle=LINESTYLES[feature % len(LINESTYLES)], label=f"feature {feature}")
            if values.shape[1] > 1:  # several features: grey lines told apart by style, named in the panel
                title += f" ({values.shape[1]} features)"
                ax.legend(fontsize=_TEXT["tick"] - 2, handlelength=2.5, framealpha=0.8)
        else:
            lines = [ax.plot(steps, values[:, u], color=OKABE_ITO[style[u]], marker=MARKERS[style[u]],
                             linestyle=LINESTYLES[style[u]], markersize=5, lw=1.8, label=f"unit {u}",
                             clip_on=name not in GATES, zorder=3)[0]
                     for u in units]
            handles = handles or lines
        if name in GATES:  # a sigmoid's range; widened only if a custom activation leaves it
            ax.set_ylim(min(0.0, float(values[:, units].min())), max(1.0, float(values[:, units].max())))
            ax.set_yticks([0, 0.5, 1])
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_title(title, fontsize=_TEXT["panel"])
        ax.set_xlim(-0.5, tr.timesteps - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.tick_params(labelsize=_TEXT["tick"])
        ax.grid(alpha=0.3)
        if k >= len(panels) - columns:  # the bottom panel of each column
            ax.set_xlabel("timestep t", fontsize=_TEXT["tick"])
    fig.suptitle("\n".join([_title(tr, sample, direction), *notes]), fontsize=_TEXT["title"], x=0.01,
                 ha="left", linespacing=1.4)
    fig.legend(handles=handles, loc="outside lower center", ncols=len(units), fontsize=_TEXT["legend"],
               handlelength=4, frameon=False)
    fig.alt_text = _alt_text(tr, sample, units, panels, direction)
    return fig


def _what(tr: Trace, direction: str | None) -> str:
    """``an LSTM(3)``, or ``the backward GRU(2) of a Bidirectional``."""
    layer = f"{tr.kind}({tr.units})"
    if direction is not None:
        return f"the {direction} {layer} of a Bidirectional"
    return f"{'an' if tr.kind == 'LSTM' else 'a'} {layer}"


def _title(tr: Trace, sample: int, direction: str | None) -> str:
    return f"Inside {_what(tr, direction)}: sample {sample} of {tr.batch}"


def _notes(tr: Trace, direction: str | None) -> list[str]:
    notes = []
    if tr.kind == "SimpleRNN":
        notes += ["A SimpleRNN has no gates: all it computes is", "h = tanh(x W + h_prev U + b)."]
    if tr.go_backwards:
        notes.append(f"It reads t = {tr.timesteps - 1} \u2192 0; every panel is drawn in input order.")
    return notes


def _alt_text(tr: Trace, sample: int, units: list[int], panels, direction: str | None) -> str:
    names = [title for name, title in panels if name != "x"]
    listed = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
    shown = "unit " + str(units[0]) if len(units) == 1 else "units " + ", ".join(map(str, units))
    gates = " (gates on a 0 to 1 scale)" if tr.kind != "SimpleRNN" else " (a SimpleRNN has no gates)"
    return (f"{len(panels)} small line plots of {_what(tr, direction)} over {tr.timesteps} timesteps of sample "
            f"{sample}: the input x, then {listed} for {shown}{gates}, one line per unit.")
