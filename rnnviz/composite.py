"""Pictures of several recurrent calls wired together: stacked layers, an encoder-decoder handover, a decoding loop.

Each picture is drawn from traces (:func:`rnnviz.trace`) in the look of
:func:`rnnviz.draw_unrolled`: one cell box per timestep, every arrow carrying its
values as a strip of squares (one per unit) on one diverging colour scale, and
what a call returns framed and labelled with its Keras name and shape.

* :func:`draw_stacked`: layer below layer; the lower layer's output at every step
  is the upper layer's input at that step.
* :func:`draw_handover`: an encoder's final ``[state_h, state_c]`` become a
  decoder's ``initial_state``.
* :func:`draw_decoding_loop`: inference one step at a time; each call's output and
  states are the next call's input and ``initial_state``.

The wiring between traces is checked, not assumed: a picture that claims a state
was handed over is only drawn when the traces agree that it was.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import SymLogNorm
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path
from matplotlib.patheffects import withStroke

from . import _checks
from .plot import FONT, OKABE_ITO
from .trace import BidirectionalTrace, Trace
from .unrolled import (
    _CELL_W, _CHAR, _ELLIPSIS_W, _HEAD, _INK, _KEY, _LINE_INSET, _SQUARE, CMAP, MAX_STEPS, UnrolledFigure,
    _Drawing, _implied_starts, _shown_steps, _strip_length,
)

__all__ = ["CompositeFigure", "draw_decoding_loop", "draw_handover", "draw_stacked"]

#: The colour of what one call hands to another (states, fed-back outputs); always labelled too.
HANDOVER = OKABE_ITO[0]
_TOL = dict(atol=1e-4, rtol=1e-4)  # float32 traces of the same numbers agree to far better than this
_LABEL_CHAR = 0.13  # rough width of one character at FONT["label"]


class CompositeFigure(UnrolledFigure):
    """The Figure the composite pictures return, with what they drew attached.

    * ``alt_text``: a short text alternative (also the figure's ``get_label()``).
    * ``strips``: ``(quantity, which, t)`` -> the squares (``Rectangle``) of one strip. ``which``
      names the call: the layer index for :func:`draw_stacked` (0 at the bottom), ``"encoder"``
      or ``"decoder"`` for :func:`draw_handover`, the call index for :func:`draw_decoding_loop`.
      Quantities are those of :class:`~rnnviz.unrolled.UnrolledFigure`: ``"x"``, ``"h"``, ``"c"``
      (after reading step ``t``), ``"output"``, ``"initial_h"``, ``"initial_c"``, ``"final_h"``, ``"final_c"``.
    * ``marked``: the ``name shape`` labels of the framed tensors, bottom to top, left to right.
    * ``norm``, ``cmap``: the colour scale every strip shares.
    """


# -- argument checks (once, at each entry) -------------------------------------------------------

def _plain_trace(value, name: str, picture: str) -> Trace:
    """``value`` if it is a one-direction, unmasked, forward-reading Trace, or a clear error."""
    value = _checks.traced(value, name)
    if isinstance(value, BidirectionalTrace):
        raise TypeError(f"{name}: expected the Trace of one LSTM, GRU or SimpleRNN, got a BidirectionalTrace. "
                        f"{picture} draws one direction per layer; draw a Bidirectional layer with rnnviz.draw_unrolled.")
    if value.mask is not None or value.go_backwards:
        what = "a mask" if value.mask is not None else "go_backwards=True"
        raise ValueError(f"{name}: expected a trace without masking or go_backwards, got one traced with {what}. "
                         f"{picture} draws plain left-to-right layers; draw this one with rnnviz.draw_unrolled.")
    return value


def _trace_list(value, name: str, picture: str, least: int) -> list[Trace]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name}: expected a list of traces (each from rnnviz.trace), got {type(value).__name__}. "
                        f"Pass e.g. {name}=[trace_1, trace_2].")
    if len(value) < least:
        raise ValueError(f"{name}: expected at least {least} traces, got {len(value)}. {picture} needs "
                         f"{'a layer on top of another' if least > 1 else 'one call'}.")
    traces = [_plain_trace(tr, f"{name}[{i}]", picture) for i, tr in enumerate(value)]
    for i, tr in enumerate(traces[1:], 1):
        if tr.batch != traces[0].batch:
            raise ValueError(f"{name}[{i}]: expected the same batch as {name}[0] ({traces[0].batch}), got {tr.batch}. "
                             "Trace every call on the same samples.")
    return traces


def _check_start(tr: Trace, start: list[np.ndarray], name: str, source: str, fix: str) -> None:
    """Raise unless the states ``tr`` implies it started from agree with ``start`` (each ``(batch, units)``)."""
    for s in range(tr.batch):
        for state, implied, how in _implied_starts(tr, s):
            expected = start[0 if state == "h" else 1][s]
            if not np.allclose(implied, expected, atol=1e-3, rtol=1e-3):
                raise ValueError(
                    f"{name}: it did not start from {source} (for sample {s}, {how} gives initial {state} "
                    f"{np.round(implied, 3).tolist()}, {source} is {np.round(expected, 3).tolist()}). {fix}"
                )


def _zeros(tr: Trace) -> list[np.ndarray]:
    return [np.zeros((tr.batch, tr.units), np.float32) for _ in tr.state_names]


def _flags(value, count: int) -> list[bool]:
    """``return_sequences`` for draw_stacked: every lower layer True, the top one free."""
    if value is None:
        return [True] * (count - 1) + [False]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"return_sequences: expected a list of {count} booleans (one per layer, bottom first) or None, "
                        f"got {type(value).__name__}. Pass e.g. return_sequences={[True] * (count - 1) + [False]}.")
    if len(value) != count:
        raise ValueError(f"return_sequences: expected {count} flags, one per trace, got {len(value)}. "
                         f"Pass e.g. return_sequences={[True] * (count - 1) + [False]}.")
    flags = [_checks.flag(v, f"return_sequences[{i}]") for i, v in enumerate(value)]
    for i, f in enumerate(flags[:-1]):
        if not f:
            raise ValueError(f"return_sequences[{i}]: expected True, got False. A layer with a recurrent layer above it "
                             "must return_sequences=True, so that the layer above gets one input per timestep.")
    return flags


# -- drawing --------------------------------------------------------------------------------------

class _Canvas(_Drawing):
    """The drawing primitives of :mod:`rnnviz.unrolled` (strips, frames, veils, arrows, key), laid out freely.

    Subclasses set ``self.rows``, ``self.sample``, compute the size, then call :meth:`_open`.
    """

    t = None  # no highlighted step

    def _open(self, width: float, height: float, values: list[np.ndarray]) -> None:
        self.strips, self.veils, self.marked = {}, {}, []
        top = max(float(np.abs(v).max()) for v in values) or 1.0
        self.norm = SymLogNorm(linthresh=top / 30, linscale=0.6, vmin=-top, vmax=top, base=10)
        self.cmap = colormaps[CMAP]
        self.W, self.H = width, height
        self.fig = CompositeFigure(figsize=(width, height), dpi=100)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.set_axis_off()

    def _finish(self, alt_text: str) -> CompositeFigure:
        self._key()
        self.fig.marked = [label for _, label in sorted(self.marked, key=lambda m: m[0])]
        self.fig.strips, self.fig.norm, self.fig.cmap = self.strips, self.norm, self.cmap
        self.fig.alt_text = alt_text
        self.fig.set_label(alt_text)
        return self.fig

    def _header(self, title: str, lines: str) -> None:
        top = self.H - 0.25
        self._label(0.3, top, title, va="top", size="title", fontweight="bold")
        self._label(0.3, top - 0.5, lines, va="top", size="label", linespacing=1.4)

    def _frame(self, boxes, label: str, where: str = "above", order: int = 0, lw: float = 2.5) -> None:
        """As draw_unrolled's frame, plus ``where="below"``."""
        if where != "below":
            return super()._frame(boxes, label, where, order, lw)
        super()._frame(boxes, "", "above", order, lw)
        self.ax.texts[-1].remove()
        self.marked[-1] = (order, label.split(":")[0])
        x0, y0 = min(b[0] for b in boxes) - 0.09, min(b[1] for b in boxes) - 0.09
        self.ax.text(x0, y0 - 0.06, label, ha="left", va="top", fontsize=FONT["mark"], fontweight="bold", zorder=7)

    def _curve(self, points, colour=HANDOVER, lw=3.0, radius=0.25) -> None:
        """A bold arrow along ``points`` with rounded corners, drawn over what it crosses (white halo)."""
        verts, codes = [points[0]], [Path.MOVETO]
        for prev, corner, nxt in zip(points, points[1:], points[2:], strict=False):
            a, b = np.subtract(prev, corner), np.subtract(nxt, corner)
            ra = min(radius, np.hypot(*a) / 2) / (np.hypot(*a) or 1)
            rb = min(radius, np.hypot(*b) / 2) / (np.hypot(*b) or 1)
            verts += [tuple(np.add(corner, a * ra)), corner, tuple(np.add(corner, b * rb))]
            codes += [Path.LINETO, Path.CURVE3, Path.CURVE3]
        verts.append(points[-1])
        codes.append(Path.LINETO)
        arrow = FancyArrowPatch(path=Path(verts, codes), arrowstyle="-|>", mutation_scale=20, color=colour, lw=lw,
                                zorder=3.5, shrinkA=0, shrinkB=0, capstyle="round", joinstyle="round")
        arrow.set_path_effects([withStroke(linewidth=lw + 4, foreground="white")])
        self.ax.add_patch(arrow)

    @staticmethod
    def _place(columns, left: float, gap: float) -> tuple[dict, list, float]:
        """Centres of the drawn columns from ``left``: ``({step: x}, [ellipsis x], right edge)``."""
        cx, ellipses, x = {}, [], left
        for i, step in enumerate(columns):
            width = _CELL_W if step is not None else _ELLIPSIS_W
            (ellipses.append(x + width / 2) if step is None else cx.__setitem__(step, x + width / 2))
            x += width + (gap if i < len(columns) - 1 else 0)
        return cx, ellipses, x

    def _cells(self, tr: Trace, which, y0: float, columns, cx: dict, ellipses: list, text=None) -> dict:
        """One row of cells with the states passing between them (faded); returns ``{state: line y}``."""
        s, cell_h = self.sample, _cell_h(tr)
        lines = {"h": y0 + _LINE_INSET}
        if tr.c is not None:
            lines["c"] = y0 + cell_h - _LINE_INSET
        for step, x in cx.items():
            box = FancyBboxPatch((x - _CELL_W / 2, y0), _CELL_W, cell_h, boxstyle="round,pad=0,rounding_size=0.12",
                                 facecolor="#f7f7f7", edgecolor=_INK, lw=1.8, zorder=2.5, gid=f"cell {which} t={step}")
            self.ax.add_patch(box)
            self._label(x, y0 + cell_h / 2, text(step) if text else f"{tr.kind}\nt={step}", ha="center", size="note",
                        fontweight="bold", linespacing=1.2)
        for e in ellipses:
            self.ax.add_patch(FancyBboxPatch((e - _ELLIPSIS_W / 2, y0), _ELLIPSIS_W, cell_h, zorder=2.5,
                                             boxstyle="round,pad=0,rounding_size=0.1", facecolor="white",
                                             edgecolor="#999999", lw=1.2, ls=":"))
            self._label(e, y0 + cell_h / 2, "\u2026", ha="center", size="title", color="#555555")
        centres = [cx[c] if c is not None else next(iter_e) for iter_e in [iter(ellipses)] for c in columns]
        for i in range(len(columns) - 1):
            a, b = columns[i], columns[i + 1]
            after = b - 1 if b is not None else a
            half_a = (_CELL_W if a is not None else _ELLIPSIS_W) / 2
            half_b = (_CELL_W if b is not None else _ELLIPSIS_W) / 2
            start, end = centres[i] + half_a, centres[i + 1] - half_b
            for state, y in lines.items():
                self._arrow((start, y), (end, y))
                key = (state, which, after)
                self._veil(key, self._strip(key, getattr(tr, state)[s, after], (start + end) / 2, y + 0.07))
        return lines

    def _enter(self, tr: Trace, which, lines: dict, edge: float, start: list[np.ndarray] | None) -> None:
        """The initial state entering a row's first cell at ``edge``, labelled (``= 0`` when ``start`` is None)."""
        L = _strip_length(tr.units)
        for i, (state, y) in enumerate(lines.items()):
            value = np.zeros(tr.units) if start is None else start[i][self.sample]
            self._arrow((edge - L - 0.65, y), (edge, y))
            box = self._strip((f"initial_{state}", which, None), value, edge - 0.3 - L / 2, y + 0.07)
            self._label(box[0] - 0.12, y + 0.17, f"initial {state}" + (" = 0" if start is None else ""),
                        ha="right", size="mark")

    def _leave(self, tr: Trace, which, lines: dict, edge: float, names: dict | None, order: int = 0,
               arrow: bool = True) -> dict:
        """The final states leaving a row's last cell at ``edge``: framed with ``names`` (state -> label), else faded.

        Returns ``{state: strip box}``. The c label goes above its frame, the h label beside or below it.
        """
        L = _strip_length(tr.units)
        boxes = {}
        for state, y in lines.items():
            if arrow:
                self._arrow((edge, y), (edge + L + 0.65, y))
            else:
                self.ax.plot([edge, edge + 0.3 + L], [y, y], color=_INK, lw=1.8, zorder=2)
            key = (f"final_{state}", which, None)
            box = boxes[state] = self._strip(key, getattr(tr, state)[self.sample, -1], edge + 0.3 + L / 2, y + 0.07)
            if names is None:
                self._veil(key, box)
                self._label(box[2] + 0.12, y + 0.17, f"final {state}", size="mark", color="#555555")
            elif arrow:
                self._frame([box], names[state], where="right", order=order + (state == "c"))
            else:
                self._frame([box], names[state], where="above" if state == "c" else "below", order=order + (state == "c"))
        return boxes

    def _outputs(self, tr: Trace, which, y_out: float, top_row: float, cx: dict, ellipses: list,
                 returned: list, order: int = 0, note: str = "") -> None:
        """The output strips above a row: the sequence framed, or only the last step's."""
        s = self.sample
        boxes = {}
        for step, x in cx.items():
            self._arrow((x, top_row), (x, y_out - 0.1))
            boxes[step] = self._strip(("output", which, step), tr.outputs[s, step], x, y_out)
        for e in ellipses:
            self._label(e, y_out + _SQUARE / 2, "\u2026", ha="center", size="label")
        name, arr = returned[0]
        label = f"{name} {tuple(arr.shape)}"
        if arr.ndim == 3:
            self._frame(list(boxes.values()), label + note, order=order)
        else:
            last = tr.timesteps - 1
            if len(cx) == 1:  # a one-step call: its only h is its output
                self._frame([boxes[last]], label, order=order)
            else:
                self._frame([boxes[last]], f"{label}: h at t={last}", where="above-right", order=order)
            for step, box in boxes.items():
                if step != last:
                    self._veil(("output", which, step), box)

    def _x_band(self, tr: Trace, which, y: float, cx: dict, ellipses: list, y_cells: float, label="x_t\ninput"):
        if label:
            self._label(0.3, y + _SQUARE / 2, label, size="label", linespacing=1.1)
        for step, x in cx.items():
            self._strip(("x", which, step), tr.x[self.sample, step], x, y)
            self._arrow((x, y + _SQUARE + 0.04), (x, y_cells))
        for e in ellipses:
            self._label(e, y + _SQUARE / 2, "\u2026", ha="center", size="label")


def _cell_h(tr: Trace) -> float:
    return 1.2 if tr.c is not None else 0.9


def _what(tr: Trace) -> str:
    return f"{tr.kind}({tr.units})"


def _listed(pairs) -> str:
    return ", ".join(f"{name} {tuple(arr.shape)}" for name, arr in pairs)


def _label_width(text: str) -> float:
    return _CHAR * len(text)


# -- draw_stacked ---------------------------------------------------------------------------------

class _Stacked(_Canvas):
    def __init__(self, traces: list[Trace], flags: list[bool], return_state: bool, sample: int):
        self.traces, self.flags, self.rst, self.sample = traces, flags, return_state, sample
        self.rows = [(i, tr) for i, tr in enumerate(traces)]
        n, top = len(traces), traces[-1]
        self.top_returns = top.returns(flags[-1], return_state)
        self.columns = _shown_steps(top.timesteps, None)
        # labels of the sequences between layers, from each lower layer's own returns
        self.links = []
        for i, tr in enumerate(traces[:-1]):
            name, arr = tr.returns(True, False)[0]
            who = "lower" if n == 2 else f"layer {i + 1}"
            self.links.append(f"{who} {name} {tuple(arr.shape)}:\nevery step feeds the layer above")
        L = max(_strip_length(u) for tr in traces for u in (tr.units, tr.features))
        L_state = max(_strip_length(tr.units) for tr in traces)
        self.gap = max(L_state + 0.7, 1.0)
        self.row_names = [f"layer {i + 1}\n{_what(tr)}" for i, tr in enumerate(traces)]
        row_w = _LABEL_CHAR * max(len(part) for name in self.row_names for part in name.split("\n"))
        left = 0.3 + row_w + 0.3 + _label_width("initial c = 0") + 0.12 + 0.3 + L_state
        self.cx, self.ellipses, right = self._place(self.columns, left, self.gap)
        finals = [f"{name} {tuple(arr.shape)}" for name, arr in self.top_returns[1:]] + ["final c"]
        margin_r = max(L_state + 0.3 + 0.2 + max(map(_label_width, finals)),
                       L / 2 + 0.2 + _label_width("every step feeds the layer above")) + 0.4
        self.title = (f"{n} stacked layers, {' under '.join(map(_what, traces))}, over {top.timesteps} "
                      f"timestep{'s' if top.timesteps > 1 else ''}: sample {sample} of {top.batch}")
        self.lines_text = self._header_lines()
        width = max(right + margin_r, 0.155 * len(self.title) + 0.6,
                    0.3 + _LABEL_CHAR * max(map(len, self.lines_text.split("\n"))) + 0.3, 10.0)
        shift = (width - right - margin_r) / 2
        self.cx = {k: v + shift for k, v in self.cx.items()}
        self.ellipses = [e + shift for e in self.ellipses]
        self.left, self.right = left + shift, right + shift
        # rows bottom to top: x, layer 1, its output, layer 2, ...
        self.y_x = _KEY + 0.35
        y = self.y_x + _SQUARE + 0.45
        self.y_rows, self.y_links = [], []
        for i, tr in enumerate(traces):
            self.y_rows.append(y)
            y += _cell_h(tr)
            if i < n - 1:
                self.y_links.append(y + 0.5)
                y += 0.5 + _SQUARE + 0.5
        self.y_out = y + 0.55
        height = self.y_out + _SQUARE + 0.55 + _HEAD
        values = [tr.x[sample] for tr in traces] + [tr.h[sample] for tr in traces]
        values += [tr.c[sample] for tr in traces if tr.c is not None]
        self._open(width, height, values)
        self._draw()

    def _header_lines(self) -> str:
        below = ", ".join(f"layer {i + 1}" for i in range(len(self.traces) - 1))
        n = len(self.top_returns)
        return (f"{below}: return_sequences=True;  top layer: return_sequences={self.flags[-1]}, "
                f"return_state={self.rst}\n\u2192 the stack returns the top layer's {n} tensor{'s' * (n > 1)}: "
                f"{_listed(self.top_returns)}")

    def _draw(self) -> None:
        self._header(self.title, self.lines_text)
        first = self.traces[0]
        self._x_band(first, 0, self.y_x, self.cx, self.ellipses, self.y_rows[0])
        n = len(self.traces)
        for i, (tr, y0) in enumerate(zip(self.traces, self.y_rows, strict=True)):
            lines = self._cells(tr, i, y0, self.columns, self.cx, self.ellipses)
            self._label(0.3, y0 + _cell_h(tr) / 2, self.row_names[i], size="label", linespacing=1.1)
            self._enter(tr, i, lines, self.left, None)
            top = i == n - 1
            names = None
            if top and self.rst:
                names = {state.split("_")[1]: f"{name} {tuple(arr.shape)}"
                         for state, (name, arr) in zip(tr.state_names, self.top_returns[1:], strict=True)}
            self._leave(tr, i, lines, self.right, names, order=2 * n + 1)
            row_top = y0 + _cell_h(tr)
            if top:
                self._label(0.3, self.y_out + _SQUARE / 2, "h_t\noutput", size="label", linespacing=1.1)
                self._outputs(tr, i, self.y_out, row_top, self.cx, self.ellipses, self.top_returns, order=2 * n)
            else:
                self._link(i, tr, row_top)

    def _link(self, i: int, tr: Trace, row_top: float) -> None:
        """Layer i's output at every step, rising into layer i+1 at the same step."""
        y = self.y_links[i]
        boxes = []
        for step, x in self.cx.items():
            self._arrow((x, row_top), (x, y - 0.1))
            boxes.append(self._strip(("output", i, step), tr.outputs[self.sample, step], x, y))
            self._arrow((x, y + _SQUARE + 0.1), (x, self.y_rows[i + 1]))
        for e in self.ellipses:
            self._label(e, y + _SQUARE / 2, "\u2026", ha="center", size="label")
        self._frame(boxes, self.links[i], where="right", order=2 * i)

    def alt_text(self) -> str:
        top = self.traces[-1]
        parts = [f"{len(self.traces)} stacked recurrent layers ({' under '.join(map(_what, self.traces))}) unrolled "
                 f"over {top.timesteps} timesteps"]
        for i, label in enumerate(self.links):
            parts.append(f"layer {i + 1} returns its output sequence {label.split(':')[0].split(' ', 2)[-1]} and "
                         f"its h at every step is the input of layer {i + 2} at that step")
        parts.append(f"the top layer (return_sequences={self.flags[-1]}, return_state={self.rst}) returns "
                     f"{_listed(self.top_returns)}")
        if len(self.columns) < top.timesteps:
            parts.append(f"timesteps {', '.join('…' if c is None else str(c) for c in self.columns)} are drawn")
        return "; ".join(parts) + "."


def draw_stacked(
    traces: list[Trace],
    return_sequences: list[bool] | None = None,
    return_state: bool = False,
    sample: int = 0,
) -> CompositeFigure:
    """Draw recurrent layers stacked: each lower layer's output at every step is the next layer's input.

    * ``traces``: a list of :class:`~rnnviz.Trace`, bottom layer first, at least two. Trace the
      bottom layer on ``x`` ``(batch, timesteps, features)`` and each layer above on the output
      sequence of the one below, ``(batch, timesteps, units_below)``::

          low = rnnviz.trace(lstm_1, x)
          high = rnnviz.trace(lstm_2, low.outputs)   # what lstm_1(x) returns with return_sequences=True

      Each layer starts from zeros (as in a Sequential model); masks and ``go_backwards`` are not drawn.
    * ``return_sequences``: one flag per layer, bottom first, or ``None`` for ``[True, …, True, False]``.
      Every layer below another must be ``True``; the top one's flag chooses its ``output``:
      ``(batch, timesteps, units)`` or ``(batch, units)``.
    * ``return_state``: whether the top layer also returns ``state_h`` (and ``state_c``), ``(batch, units)``.
    * ``sample``: which sample of the batch to draw.

    Each lower layer's output sequence is framed as ``lower output (batch, timesteps, units)``, the
    top layer's returned tensors as ``trace.returns(...)`` names them. Returns a
    :class:`CompositeFigure` (shows as a PNG in Jupyter) with ``alt_text``.
    """
    traces = _trace_list(traces, "traces", "draw_stacked", 2)
    flags = _flags(return_sequences, len(traces))
    return_state = _checks.flag(return_state, "return_state")
    sample = _checks.sample(sample, traces[0].batch)
    for i, (low, high) in enumerate(zip(traces, traces[1:], strict=False)):
        if high.x.shape != low.outputs.shape or not np.allclose(high.x, low.outputs, **_TOL):
            got = f"shape {high.x.shape}" if high.x.shape != low.outputs.shape else "different numbers"
            raise ValueError(
                f"traces[{i + 1}]: its x must be the output sequence of traces[{i}] (shape {low.outputs.shape}), "
                f"got {got}. Trace the upper layer on the lower layer's output sequence, return_sequences=True: "
                f"rnnviz.trace(upper_layer, traces[{i}].outputs)."
            )
    for i, tr in enumerate(traces):
        _check_start(tr, _zeros(tr), f"traces[{i}]", "zeros",
                     "draw_stacked draws every layer starting from zeros; trace it without initial_state.")
    drawing = _Stacked(traces, flags, return_state, sample)
    return drawing._finish(drawing.alt_text())


# -- draw_handover --------------------------------------------------------------------------------

class _Handover(_Canvas):
    def __init__(self, enc: Trace, dec: Trace, rs: bool, rst: bool, sample: int):
        self.enc, self.dec, self.rs, self.rst, self.sample = enc, dec, rs, rst, sample
        self.rows = [("encoder", enc), ("decoder", dec)]
        self.handed = enc.returns(False, True)[1:]  # [state_h, state_c]
        self.dec_returns = dec.returns(rs, rst)
        self.arrow_label = f"initial_state=[{', '.join(name for name, _ in self.handed)}]"
        L_state = _strip_length(enc.units)
        self.gap = max(L_state + 0.7, 1.0)
        self.row_names = {"encoder": f"encoder\n{_what(enc)}", "decoder": f"decoder\n{_what(dec)}"}
        row_w = _LABEL_CHAR * max(len(p) for name in self.row_names.values() for p in name.split("\n"))
        self.x_up = 0.3 + row_w + 0.25  # the handover arrow rises here, left of the decoder row
        left = max(0.3 + row_w + 0.3 + _label_width("initial c = 0") + 0.12 + 0.3 + L_state,
                   self.x_up + 0.45 + 0.2 + _label_width("initial c") + 0.12 + 0.3 + L_state)
        self.cols = {"encoder": _shown_steps(enc.timesteps, None), "decoder": _shown_steps(dec.timesteps, None)}
        self.cx, self.ell, ends = {}, {}, {}
        for who, cols in self.cols.items():
            self.cx[who], self.ell[who], ends[who] = self._place(cols, left, self.gap)
        self.left = left
        self.ends = ends
        state_labels = [f"{name} {tuple(arr.shape)}" for name, arr in self.handed]
        self.frame_x0 = ends["encoder"] + 0.3 - 0.09
        self.x_right = self.frame_x0 + max(map(_label_width, state_labels)) + 0.3
        dec_finals = [f"{name} {tuple(arr.shape)}" for name, arr in self.dec_returns[1:]] + ["final c"]
        right = max(self.x_right + 0.4, ends["decoder"] + L_state + 0.65 + 0.3 + max(map(_label_width, dec_finals)))
        self.title = (f"Encoder {_what(enc)} hands its final states to decoder {_what(dec)}: "
                      f"sample {sample} of {enc.batch}")
        self.lines_text = (f"encoder: return_state=True \u2192 output, {', '.join(n for n, _ in self.handed)}; "
                           f"its {self.arrow_label.split('=')[1]} become the decoder's initial_state\n"
                           f"decoder: return_sequences={rs}, return_state={rst} \u2192 returns {_listed(self.dec_returns)}")
        width = max(right + 0.3, 0.155 * len(self.title) + 0.6,
                    0.3 + _LABEL_CHAR * max(map(len, self.lines_text.split("\n"))) + 0.3, 10.0)
        # bottom to top: encoder x, encoder row, the handover channel, decoder x, decoder row, decoder output
        self.y_xe = _KEY + 0.35
        self.y_enc = self.y_xe + _SQUARE + 0.45
        self.y_chan = self.y_enc + _cell_h(enc) + 0.85
        self.y_xd = self.y_chan + 0.45
        self.y_dec = self.y_xd + _SQUARE + 0.45
        self.y_out = self.y_dec + _cell_h(dec) + 0.55
        height = self.y_out + _SQUARE + 0.55 + _HEAD
        values = [enc.x[sample], enc.h[sample], dec.x[sample], dec.h[sample]]
        values += [tr.c[sample] for tr in (enc, dec) if tr.c is not None]
        self._open(width, height, values)
        self._draw()

    def _draw(self) -> None:
        enc, dec = self.enc, self.dec
        self._header(self.title, self.lines_text)
        # encoder
        cx, ell = self.cx["encoder"], self.ell["encoder"]
        self._x_band(enc, "encoder", self.y_xe, cx, ell, self.y_enc)
        lines_e = self._cells(enc, "encoder", self.y_enc, self.cols["encoder"], cx, ell)
        self._label(0.3, self.y_enc + _cell_h(enc) / 2, self.row_names["encoder"], size="label", linespacing=1.1)
        self._enter(enc, "encoder", lines_e, self.left, None)
        names = {name.split("_")[1]: f"{name} {tuple(arr.shape)}" for name, arr in self.handed}
        boxes = self._leave(enc, "encoder", lines_e, self.ends["encoder"], names, arrow=False, order=0)
        # decoder
        cx, ell = self.cx["decoder"], self.ell["decoder"]
        self._x_band(dec, "decoder", self.y_xd, cx, ell, self.y_dec)
        lines_d = self._cells(dec, "decoder", self.y_dec, self.cols["decoder"], cx, ell)
        self._label(0.3, self.y_dec + _cell_h(dec) / 2, self.row_names["decoder"], size="label", linespacing=1.1)
        start = [arr for _, arr in self.handed]
        L = _strip_length(dec.units)
        x_bar = self.x_up + 0.45
        for i, (state, y) in enumerate(lines_d.items()):
            self._arrow((x_bar, y), (self.left, y))
            box = self._strip((f"initial_{state}", "decoder", None), start[i][self.sample], self.left - 0.3 - L / 2,
                              y + 0.07)
            self._label(box[0] - 0.12, y + 0.17, f"initial {state}", ha="right", size="mark", color=HANDOVER)
        self._outputs(dec, "decoder", self.y_out, self.y_dec + _cell_h(dec), cx, ell, self.dec_returns, order=2)
        dec_names = None
        if self.rst:
            dec_names = {name.split("_")[1]: f"{name} {tuple(arr.shape)}" for name, arr in self.dec_returns[1:]}
        self._leave(dec, "decoder", lines_d, self.ends["decoder"], dec_names, order=3)
        # the handover: a bar joining the encoder's final states, up and over into the decoder's first cell
        self._handover_arrow(boxes, lines_e, lines_d, x_bar)

    def _handover_arrow(self, boxes: dict, lines_e: dict, lines_d: dict, x_bar: float) -> None:
        bar_e = max(b[2] for b in boxes.values()) + 0.09 + 0.2
        ys_e, ys_d = list(lines_e.values()), list(lines_d.values())
        bold = dict(color=HANDOVER, lw=3.0, zorder=3.4, solid_capstyle="round")
        for box, y in zip(boxes.values(), ys_e, strict=True):
            self.ax.plot([box[2] + 0.09, bar_e], [y, y], **bold)
        self.ax.plot([bar_e, bar_e], [min(ys_e), max(ys_e)], **bold)
        mid_e, mid_d = float(np.mean(ys_e)), float(np.mean(ys_d))
        self._curve([(bar_e, mid_e), (self.x_right, mid_e), (self.x_right, self.y_chan), (self.x_up, self.y_chan),
                     (self.x_up, mid_d), (x_bar, mid_d)])
        if len(ys_d) > 1:
            self.ax.plot([x_bar, x_bar], [min(ys_d), max(ys_d)], **bold)
        self._label(self.x_up + 0.35, self.y_chan - 0.1, self.arrow_label, va="top", size="mark", color=HANDOVER,
                    fontweight="bold")

    def alt_text(self) -> str:
        enc, dec = self.enc, self.dec
        handed = _listed(self.handed)
        return (f"An encoder {_what(enc)} unrolled over {enc.timesteps} timesteps returns (return_state=True) "
                f"output {tuple(enc.returns()[0][1].shape)} and its final states {handed}; "
                f"{self.arrow_label} hands them to a decoder {_what(dec)}, which starts from them and is unrolled over "
                f"{dec.timesteps} timesteps; with return_sequences={self.rs}, return_state={self.rst} the decoder "
                f"returns {_listed(self.dec_returns)}.")


def draw_handover(
    encoder_trace: Trace,
    decoder_trace: Trace,
    decoder_initial_state=None,
    sample: int = 0,
    *,
    return_sequences: bool = True,
    return_state: bool = False,
) -> CompositeFigure:
    """Draw an encoder handing its final ``[state_h, state_c]`` to a decoder as ``initial_state``.

    * ``encoder_trace``: :func:`rnnviz.trace` of the encoder on its input ``(batch, timesteps, features)``,
      starting from zeros. Its final states, ``encoder_trace.returns(False, True)[1:]``, are framed
      as ``state_h`` / ``state_c`` ``(batch, units)``.
    * ``decoder_trace``: the decoder (same kind and units) traced on its own input
      ``(batch, decoder_timesteps, decoder_features)`` with
      ``initial_state=encoder_trace.final_states()``.
    * ``decoder_initial_state``: the list you passed to ``rnnviz.trace`` for the decoder, each
      ``(batch, units)``, checked to equal the encoder's final states. A trace does not keep its
      initial state; without this argument only what the decoder trace implies is checked (an
      LSTM's c from its first forget gate, a GRU's h from its first update gate; nothing for a
      SimpleRNN), so pass it to be sure.
    * ``sample``: which sample of the batch to draw.
    * ``return_sequences``, ``return_state``: the decoder's flags; its returned tensors are framed.

    Returns a :class:`CompositeFigure` (shows as a PNG in Jupyter) with ``alt_text``.
    """
    enc = _plain_trace(encoder_trace, "encoder_trace", "draw_handover")
    dec = _plain_trace(decoder_trace, "decoder_trace", "draw_handover")
    return_sequences = _checks.flag(return_sequences, "return_sequences")
    return_state = _checks.flag(return_state, "return_state")
    if (dec.kind, dec.units) != (enc.kind, enc.units):
        raise ValueError(f"decoder_trace: expected a {_what(enc)} like the encoder (its states must fit), got "
                         f"{_what(dec)}. Give the decoder the encoder's kind and units.")
    if dec.batch != enc.batch:
        raise ValueError(f"decoder_trace: expected the encoder's batch of {enc.batch}, got {dec.batch}. "
                         "Trace encoder and decoder on the same samples.")
    sample = _checks.sample(sample, enc.batch)
    finals = enc.final_states()
    fix = "Trace the decoder with initial_state=encoder_trace.final_states()."
    if decoder_initial_state is not None:
        given = _checks.states(decoder_initial_state, len(finals), dec.batch, dec.units, dec.kind,
                               "decoder_initial_state")
        for i, (g, f) in enumerate(zip(given, finals, strict=True)):
            if not np.allclose(g, f, **_TOL):
                raise ValueError(f"decoder_initial_state[{i}]: expected the encoder's final {enc.state_names[i]}, "
                                 f"{np.round(f[sample], 3).tolist()} for sample {sample}, got "
                                 f"{np.round(g[sample], 3).tolist()}. {fix}")
    _check_start(dec, finals, "decoder_trace", "the encoder's final states", fix)
    _check_start(enc, _zeros(enc), "encoder_trace", "zeros", "Trace the encoder without initial_state.")
    drawing = _Handover(enc, dec, return_sequences, return_state, sample)
    return drawing._finish(drawing.alt_text())


# -- draw_decoding_loop ---------------------------------------------------------------------------

class _Loop(_Canvas):
    def __init__(self, steps: list[Trace], initial_state, feed_output: bool, rs: bool, sample: int):
        self.steps, self.start, self.feed, self.rs, self.sample = steps, initial_state, feed_output, rs, sample
        self.rows = [(k, tr) for k, tr in enumerate(steps)]
        first = steps[0]
        self.returns = [tr.returns(rs, True) for tr in steps]
        L_state = _strip_length(first.units)
        labels = [f"{name} {tuple(arr.shape)}" for name, arr in self.returns[0][1:]]
        self.label_w = max(*map(_label_width, labels), 2.3)  # 2.3: "-> next initial_state" below them
        # the gap between calls: final-state frames, their labels, then the fed-back output going down
        self.gap = max(0.21 + self.label_w + 0.25 + 0.5, L_state + 1.4)
        row_w = _LABEL_CHAR * len("output")
        left = 0.3 + row_w + 0.3 + _label_width("initial c = 0") + 0.12 + 0.3 + L_state
        self.cx, _, right = self._place(list(range(len(steps))), left, self.gap)
        self.left, self.right = left, right
        out_label = f"{self.returns[0][0][0]} {tuple(self.returns[0][0][1].shape)}"
        margin_r = max(0.21 + self.label_w, _label_width(out_label) - _CELL_W / 2) + 0.5
        call = "output, " + ", ".join(first.state_names) + " = decoder(x, initial_state=[" + \
            ", ".join(first.state_names) + "])"
        fed = "its output is the next call's x, " if feed_output else "the next x comes from elsewhere, "
        self.title = (f"Decoding one step at a time: {len(steps)} calls of {_what(first)}: "
                      f"sample {sample} of {first.batch}")
        self.lines_text = (f"each call reads one step: {call}\n{fed}[{', '.join(first.state_names)}] "
                           "its next initial_state")
        width = max(right + margin_r, 0.155 * len(self.title) + 0.6,
                    0.3 + _LABEL_CHAR * max(map(len, self.lines_text.split("\n"))) + 0.3, 10.0)
        shift = (width - right - margin_r) / 2
        self.cx = {k: v + shift for k, v in self.cx.items()}
        self.left, self.right = left + shift, right + shift
        # bottom to top: the fed-back outputs' run and its note, x, the calls, outputs
        self.y_run = _KEY + 0.35 + (0.55 if feed_output and len(steps) > 1 else 0)
        self.y_x = self.y_run + (0.35 if feed_output and len(steps) > 1 else 0)
        self.y_row = self.y_x + _SQUARE + 0.45
        self.y_out = self.y_row + _cell_h(first) + 0.6
        height = self.y_out + _SQUARE + 0.55 + _HEAD
        values = [tr.x[sample] for tr in steps] + [tr.h[sample] for tr in steps]
        values += [tr.c[sample] for tr in steps if tr.c is not None]
        values += [s[sample] for s in initial_state or []]
        self._open(width, height, values)
        self._draw()

    def _draw(self) -> None:
        self._header(self.title, self.lines_text)
        self._label(0.3, self.y_x + _SQUARE / 2, "x\ninput", size="label", linespacing=1.1)
        self._label(0.3, self.y_out + _SQUARE / 2, "output", size="label")
        cell_h = _cell_h(self.steps[0])
        L = _strip_length(self.steps[0].units)
        n = len(self.steps)
        for k, tr in enumerate(self.steps):
            x = self.cx[k]
            self._x_band(tr, k, self.y_x, {0: x}, [], self.y_row, label=None)
            lines = self._cells(tr, k, self.y_row, [0], {0: x}, [], text=lambda _, k=k, kind=tr.kind: f"{kind}\ncall {k + 1}")
            if k == 0:
                self._enter(tr, k, lines, x - _CELL_W / 2, self.start)
            names = {name.split("_")[1]: f"{name} {tuple(arr.shape)}" for name, arr in self.returns[k][1:]}
            boxes = self._leave(tr, k, lines, x + _CELL_W / 2, names, order=3 * k + 1, arrow=False)
            self._outputs(tr, k, self.y_out, self.y_row + cell_h, {0: x}, [], self.returns[k], order=3 * k)
            if k == n - 1:
                continue
            nxt = self.cx[k + 1] - _CELL_W / 2
            for state, y in lines.items():  # the returned states become the next call's initial_state
                self._curve([(boxes[state][2] + 0.16, y), (nxt, y)], lw=2.4)
            self._label(boxes["h"][0] - 0.09, boxes["h"][1] - 0.45, "\u2192 next initial_state", va="top",
                        size="note", color=HANDOVER, fontweight="bold")
            if self.feed:  # the returned output comes round to be the next call's x
                x_down = boxes["h"][0] - 0.09 + self.label_w + 0.25
                out_right = x + L / 2 + 0.09 + 0.05
                nx = self.cx[k + 1]
                self._curve([(out_right, self.y_out + _SQUARE / 2), (x_down, self.y_out + _SQUARE / 2),
                             (x_down, self.y_run), (nx, self.y_run), (nx, self.y_x - 0.1)], radius=0.3)
                self._label((x_down + nx) / 2, self.y_run - 0.1, "output \u2192 next x", ha="center", va="top",
                            size="note", color=HANDOVER, fontweight="bold")

    def alt_text(self) -> str:
        first = self.steps[0]
        names = ", ".join(first.state_names)
        start = "the given initial state" if self.start is not None else "zeros"
        fed = ("each call's output is fed back as the next call's x and " if self.feed else
               "each next x comes from outside the loop; ")
        return (f"{len(self.steps)} calls of {_what(first)}, one timestep each, starting from {start}; each call "
                f"returns {_listed(self.returns[0])}; {fed}its [{names}] are the next call's initial_state.")


def draw_decoding_loop(
    step_traces: list[Trace],
    sample: int = 0,
    *,
    initial_state=None,
    feed_output: bool = True,
    return_sequences: bool = False,
) -> CompositeFigure:
    """Draw inference one step at a time: each call's output and states feed the next call.

    * ``step_traces``: one :class:`~rnnviz.Trace` per call, in order, each of one timestep::

          states, x, steps = encoder_trace.final_states(), start_x, []   # x (batch, 1, features)
          for _ in range(4):
              tr = rnnviz.trace(decoder_lstm, x, initial_state=states)
              steps.append(tr)
              x, states = tr.outputs, tr.final_states()          # fed back

      Each ``tr.x`` is ``(batch, 1, features)``, ``tr.h`` (and ``tr.c``) ``(batch, 1, units)``.
      At most 6 calls are drawn.
    * ``sample``: which sample of the batch to draw.
    * ``initial_state``: what the first call started from, ``[h0, c0]`` or ``[h0]`` each
      ``(batch, units)``, or ``None`` for zeros. Checked against the first trace where it can be.
    * ``feed_output``: ``True`` (the default) checks that each call's ``x`` is the previous call's
      output (so ``features == units``) and draws the feedback; pass ``False`` when the next input
      comes from elsewhere (a Dense layer and an embedding in between, teacher forcing).
    * ``return_sequences``: the decoder's flag: each call's ``output`` is ``(batch, 1, units)``
      with it, ``(batch, units)`` without. Every call returns its states (``return_state=True``).

    Each call's ``[state_h, state_c]`` must be the next call's ``initial_state``; a trace does not keep
    its initial state, so this is checked where the trace implies it (an LSTM's c through its forget
    gate, a GRU's h through its update gate). Returns a :class:`CompositeFigure` with ``alt_text``.
    """
    steps = _trace_list(step_traces, "step_traces", "draw_decoding_loop", 1)
    feed_output = _checks.flag(feed_output, "feed_output")
    return_sequences = _checks.flag(return_sequences, "return_sequences")
    first = steps[0]
    sample = _checks.sample(sample, first.batch)
    if len(steps) > MAX_STEPS:
        raise ValueError(f"step_traces: expected at most {MAX_STEPS} calls to draw, got {len(steps)}. "
                         f"Pass the first few, e.g. step_traces[:{MAX_STEPS}].")
    for k, tr in enumerate(steps):
        if tr.timesteps != 1:
            raise ValueError(f"step_traces[{k}]: expected a trace of one timestep (x of shape (batch, 1, features)), "
                             f"got {tr.timesteps} timesteps. Trace each call on one step, e.g. x[:, t:t + 1].")
        if (tr.kind, tr.units, tr.features) != (first.kind, first.units, first.features):
            raise ValueError(f"step_traces[{k}]: expected the same layer as step_traces[0] ({_what(first)} reading "
                             f"{first.features} features), got {_what(tr)} reading {tr.features}. "
                             "Trace every call with the same decoder layer.")
    states = _checks.states(initial_state, len(first.state_names), first.batch, first.units, first.kind)
    _check_start(first, states or _zeros(first), "step_traces[0]",
                 "initial_state" if states is not None else "zeros (initial_state=None)",
                 "Pass draw_decoding_loop(..., initial_state=...) the list you passed to rnnviz.trace for the first call.")
    for k, (prev, tr) in enumerate(zip(steps, steps[1:], strict=False), 1):
        _check_start(tr, prev.final_states(), f"step_traces[{k}]", f"the final states of step_traces[{k - 1}]",
                     f"Trace call {k + 1} with initial_state=step_traces[{k - 1}].final_states().")
        if feed_output:
            out = prev.outputs[:, -1:]
            if tr.x.shape != out.shape or not np.allclose(tr.x, out, **_TOL):
                got = f"shape {tr.x.shape}" if tr.x.shape != out.shape else "different numbers"
                raise ValueError(
                    f"step_traces[{k}]: with feed_output=True its x must be the output of step_traces[{k - 1}] "
                    f"(shape {out.shape}), got {got}. Trace it on step_traces[{k - 1}].outputs, or pass "
                    "feed_output=False if the next input comes from elsewhere."
                )
    drawing = _Loop(steps, states, feed_output, return_sequences, sample)
    return drawing._finish(drawing.alt_text())
