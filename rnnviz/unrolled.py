"""Draw a recurrent layer unrolled over its timesteps, every arrow carrying its numbers.

:func:`draw_unrolled` draws one cell box per timestep: ``x_t`` enters from below,
``h`` (and ``c`` for an LSTM) passes from step to step, and the output ``h_t``
rises above each step. Each arrow carries its values as a strip of squares, one
per unit (or per feature for ``x``), all coloured on one diverging scale around 0.

The marks are those of :func:`rnnviz.plot_states`: what Keras returns for the flags
gets a thick black frame with light hatching and its Keras name and shape, e.g.
``output (1, 3, 2)``; everything else is faded behind a white veil. A masked step
is a grey dashed box the state passes through unchanged; an ``initial_state``
enters at the left (at the right for a layer that reads backwards).
"""

from __future__ import annotations


import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, SymLogNorm
from matplotlib.patches import FancyBboxPatch, Rectangle

from . import _checks
from ._blit import background_without, fit_dpi, paste_and_draw
from ._colour_key import colour_key
from .plot import FONT, HATCH_COLOUR, MARK_EDGE, OKABE_ITO, StatesFigure
from .trace import BidirectionalTrace, Trace

__all__ = ["UnrolledFigure", "draw_unrolled"]

#: More timesteps than this and the middle ones are elided (``t = 0, 1, …, T-2, T-1``).
MAX_STEPS = 6
#: Up to this many squares a strip has full-size squares; more are squeezed into ``_STRIP_MAX``.
MAX_SQUARES = 8
CMAP = "PuOr_r"
#: The white veil over values Keras does not return: lighter than plot_states' (MUTE_ALPHA), as the strips are small.
VEIL_ALPHA = 0.65
HIGHLIGHT = OKABE_ITO[1]  # vermillion: the step picked with t=

# Geometry, in inches (the one axes spans the figure with 1 data unit = 1 inch).
_SQUARE, _STRIP_MAX = 0.2, 1.6
_CELL_W, _ELLIPSIS_W = 1.3, 0.6
_LINE_INSET = 0.3  # the h line sits this far above a cell's bottom, the c line this far below its top
_ROW_GAP = 0.9  # between the two rows of a Bidirectional layer
_HEAD = 1.55  # title and the "Keras returns" lines
_KEY = 1.0  # the key and colour bar at the bottom
_CHAR = 0.125  # rough width of one bold character at FONT["mark"], to size the margins
_INK = "#333333"
_MASKED = "#d9d9d9"


class UnrolledFigure(StatesFigure):
    """The Figure :func:`draw_unrolled` returns, with what it drew attached.

    * ``alt_text``: a short text alternative (also the figure's ``get_label()``).
    * ``strips``: ``(quantity, direction, t)`` -> the squares (``Rectangle``) of one strip, where
      quantity is ``"x"``, ``"h"``, ``"c"`` (the state *after* reading timestep ``t``),
      ``"output"`` (``t`` a timestep, or ``None`` for a separately drawn returned output),
      ``"initial_h"``, ``"initial_c"``; direction is ``None``, ``"forward"`` or ``"backward"``.
    * ``columns``: the timesteps drawn, left to right, ``None`` for an elided stretch.
    * ``marked``: the ``name shape`` labels of the framed (returned) tensors, in Keras's order.
    * ``norm``, ``cmap``: the colour scale every strip shares.
    """

    alt_text: str = ""
    strips: dict
    columns: list
    marked: list
    norm: Normalize
    cmap: object


def _starts(trace, initial_state, sample: int) -> dict:
    """The state each direction starts from: ``{direction: {"h": (units,), "c": (units,) or None}}``.

    A trace does not keep its initial state, so it comes from ``initial_state`` (zeros when
    ``None``, as in Keras). Where the trace pins it down (a GRU's h and an LSTM's c follow
    from the first step's gates; a masked first step keeps the state) it is checked against
    the trace, so the picture never shows a start the layer did not use.
    """
    rows = _rows(trace)
    per = 2 if trace.kind == "LSTM" else 1
    states = _checks.states(initial_state, per * len(rows), trace.batch, trace.units, trace.kind)
    out = {}
    for i, (direction, tr) in enumerate(rows):
        given = None if states is None else states[i * per:(i + 1) * per]
        h0 = np.zeros(tr.units, np.float32) if given is None else given[0][sample]
        c0 = None if tr.c is None else (np.zeros(tr.units, np.float32) if given is None else given[1][sample])
        for state, start, found in _implied_starts(tr, sample):
            shown = h0 if state == "h" else c0
            if not np.allclose(shown, start, atol=1e-3, rtol=1e-3):
                fix = ("Pass draw_unrolled(..., initial_state=...) the same list you passed to rnnviz.trace."
                       if given is None else "Pass the same initial_state you passed to rnnviz.trace.")
                where = f"the {direction} layer's " if direction else ""
                raise ValueError(
                    f"initial_state: {where}initial {state} does not match the trace ({found} gives "
                    f"{np.round(start, 3).tolist()} for sample {sample}, the drawing would show "
                    f"{np.round(shown, 3).tolist()}{', zeros' if given is None else ''}). {fix}"
                )
        out[direction] = {"h": h0, "c": c0, "given": given is not None}
    return out


def _implied_starts(tr: Trace, sample: int):
    """``(state, start, how)`` for each initial state the trace determines on its own."""
    if tr.mask is not None and not tr.mask[sample, tr.input_steps[0]]:  # a masked first step keeps the start
        yield "h", tr.h[sample, 0], "the masked first step"
        if tr.c is not None:
            yield "c", tr.c[sample, 0], "the masked first step"
    elif tr.kind == "GRU":  # h1 = z * h0 + (1 - z) * candidate
        z, cand = tr.gates["update"][sample, 0], tr.gates["candidate"][sample, 0]
        keep = z > 1e-2
        h0 = np.where(keep, (tr.h[sample, 0] - (1 - z) * cand) / np.where(keep, z, 1), 0)
        yield "h", np.where(keep, h0, 0), "the first step's update gate"
    elif tr.kind == "LSTM":  # c1 = f * c0 + i * candidate
        f, i, cand = (tr.gates[g][sample, 0] for g in ("forget", "input", "candidate"))
        keep = f > 1e-2
        yield "c", np.where(keep, (tr.c[sample, 0] - i * cand) / np.where(keep, f, 1), 0), "the first step's forget gate"


def _rows(trace) -> list[tuple[str | None, Trace]]:
    if isinstance(trace, BidirectionalTrace):
        return [("forward", trace.forward), ("backward", trace.backward)]
    return [(None, trace)]


def _shown_steps(timesteps: int, t: int | None) -> list[int | None]:
    """The timesteps drawn, with ``None`` where a stretch is elided: ``0, 1, None, T-2, T-1`` (plus ``t``)."""
    if timesteps <= MAX_STEPS:
        return list(range(timesteps))
    keep = sorted({0, 1, timesteps - 2, timesteps - 1} | ({t} if t is not None else set()))
    out: list[int | None] = []
    for step in keep:
        if out and step - out[-1] > 1:
            out.append(None)
        out.append(step)
    return out


def _strip_length(count: int) -> float:
    return count * _SQUARE if count <= MAX_SQUARES else _STRIP_MAX


class _Drawing:
    """Lays out and draws one unrolled picture (arguments already checked)."""

    def __init__(self, trace, return_sequences: bool, return_state: bool, sample: int, t: int | None, starts: dict,
                 keep_veils: bool = False):
        self.trace, self.rs, self.rst, self.sample, self.t = trace, return_sequences, return_state, sample, t
        self.starts = starts
        self.keep_veils = keep_veils  # StepPictures: step t's veils stay (it uncovers the step itself)
        self.outline = self.readout_text = self.key_t_label = None
        self.bi = isinstance(trace, BidirectionalTrace)
        self.rows = _rows(trace)
        self.lstm = trace.kind == "LSTM"
        self.returned = trace.returns(return_sequences, return_state)
        self.shapes = {name: tuple(arr.shape) for name, arr in self.returned}
        self.columns = _shown_steps(trace.timesteps, t)
        self.strips: dict = {}
        self.veils: dict = {}
        self.marked: list[tuple[int, str]] = []
        self._scale()
        self._layout()
        self.fig = UnrolledFigure(figsize=(self.W, self.H), dpi=100)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, self.W)
        self.ax.set_ylim(0, self.H)
        self.ax.set_axis_off()
        self._draw()

    # -- values and colour ----------------------------------------------------------------------
    def _processed(self, tr: Trace, step: int) -> int:
        """The processed-step index at which ``tr`` read input timestep ``step``."""
        return int(np.flatnonzero(tr.input_steps == step)[0])

    def _series(self) -> list[tuple[str, np.ndarray]]:
        """``(name, (timesteps, width))``: the output sequence(s) in input-timestep order, for the top band."""
        s = self.sample
        if not self.bi:
            tr = self.trace
            return [("output", tr.outputs[s][tr.input_steps.argsort()])]
        n = 1 if self.trace.merge_mode is not None else 2
        return [(name, arr[s]) for name, arr in self.trace.returns(True, False)[:n]]

    def _scale(self) -> None:
        s = self.sample
        values = [self.trace.x[s]] + [arr[s] for _, arr in self.returned]
        for _, tr in self.rows:
            values += [tr.h[s]] + ([tr.c[s]] if tr.c is not None else [])
        values += [v for start in self.starts.values() for v in (start["h"], start["c"]) if v is not None]
        values += [arr for _, arr in self._series()]
        top = max(float(np.abs(v).max()) for v in values) or 1.0
        # Symmetric-log: x often dwarfs h and c (|h| < 1, often ~0.05), and on a linear scale small states would
        # all look white. Linear near 0 (within top/30), logarithmic beyond, one scale for every strip.
        self.norm = SymLogNorm(linthresh=top / 30, linscale=0.6, vmin=-top, vmax=top, base=10)
        self.cmap = colormaps[CMAP]

    # -- layout ---------------------------------------------------------------------------------
    def _layout(self) -> None:
        tr = self.trace
        self.L_state = _strip_length(tr.units)
        self.L_out = max(_strip_length(arr.shape[-1]) for _, arr in self._series())
        self.L_x = _strip_length(tr.features)
        self.gap = max(self.L_state + 0.7, 1.0)
        left_labels, right_labels = self._margin_labels()
        self.margin_l = 0.75 + self.L_state + 0.15 + _CHAR * max(map(len, left_labels))
        self.margin_r = 0.5 + max(self.L_state + 0.15 + _CHAR * max(map(len, right_labels)),
                                  0.3 + _CHAR * 0.85 * 36 if self.bi and not self.rs else 0,
                                  _CHAR * max(len(f"output {self.shapes.get('output', '')}") + 2, 0) if self.bi else 0)
        self.cx: dict[int | None, float] = {}
        self.ellipses: list[float] = []
        x = self.margin_l
        for i, step in enumerate(self.columns):
            width = _CELL_W if step is not None else _ELLIPSIS_W
            if step is None:
                self.ellipses.append(x + width / 2)
            else:
                self.cx[step] = x + width / 2
            x += width + (self.gap if i < len(self.columns) - 1 else 0)
        title = len(self._title()) * 0.155 + 0.6  # the bold title must fit
        self.W = max(x + self.margin_r, 10.0, title)
        shift = (self.W - x - self.margin_r) / 2  # centre a narrow picture
        self.cx = {k: v + shift for k, v in self.cx.items()}
        self.ellipses = [e + shift for e in self.ellipses]
        self.x_left = self.margin_l + shift
        self.x_right = x + shift
        self.cell_h = 1.2 if self.lstm else 0.9
        self.y_x = _KEY + 0.35 + (0.6 if self._readout() else 0)  # bottom of the x strips
        self.y_rows = []
        y = self.y_x + _SQUARE + (0.75 if self.bi else 0.45)
        for _ in self.rows:
            self.y_rows.append(y)
            y += self.cell_h + _ROW_GAP
        y -= _ROW_GAP
        if self.bi:  # backward row below the forward one: the forward row's x branch passes beside it
            self.y_rows = self.y_rows[::-1]
        n_series = len(self._series())
        self.y_out = [y + 0.55 + i * 0.75 for i in range(n_series)]
        self.H = self.y_out[-1] + _SQUARE + 0.5 + _HEAD

    def _margin_labels(self) -> tuple[list[str], list[str]]:
        left, right = ["x_t", "h_t"], [""]
        for direction, tr in self.rows:
            start_side, end_side = (right, left) if tr.go_backwards else (left, right)
            for state in ("h", "c") if tr.c is not None else ("h",):
                start_side.append(f"initial {state}" + ("" if self.starts[direction]["given"] else " = 0"))
                end_side.append(self._final_label(direction, state))
        return left, right

    def _final_label(self, direction: str | None, state: str) -> str:
        name = f"state_{state}" if direction is None else f"{direction}_{state}"
        if self.rst:
            return f"{name} {self.shapes[name]}"
        return f"final {state}" if direction is None else f"{direction} final {state}"

    # -- primitives -----------------------------------------------------------------------------
    def _strip(self, key, values: np.ndarray, centre: float, bottom: float, split: int | None = None):
        """Squares for ``values`` centred at ``centre``; returns the strip's box ``(x0, y0, x1, y1)``."""
        values = np.asarray(values, dtype=float)
        n = values.size
        length = _strip_length(n)
        side = length / n
        x0 = centre - length / 2
        edge = dict(edgecolor="#555555", lw=0.6) if n <= MAX_SQUARES else dict(edgecolor="none", lw=0)
        colours = self.cmap(self.norm(values))  # one call per strip, not one per square
        rects = []
        for u, colour in enumerate(colours):
            rect = Rectangle((x0 + u * side, bottom), side, _SQUARE, facecolor=colour, zorder=4,
                             gid=f"{key[0]} {key[1] or ''} t={key[2]} unit={u}", **edge)
            rects.append(self.ax.add_artist(rect))  # the limits are fixed: no autoscale bookkeeping per square
        if n > MAX_SQUARES:  # a thin outline keeps a squeezed strip readable as one thing
            self.ax.add_artist(Rectangle((x0, bottom), length, _SQUARE, fill=False, edgecolor="#555555", lw=0.6, zorder=4.1))
        if split is not None:  # concat: a white gap between the forward and backward halves
            xs = x0 + split * side
            self.ax.plot([xs, xs], [bottom - 0.04, bottom + _SQUARE + 0.04], color="white", lw=3, zorder=4.2)
        self.strips[key] = rects
        return (x0, bottom, x0 + length, bottom + _SQUARE)

    def _veil(self, key, box) -> None:
        x0, y0, x1, y1 = box
        self.veils[key] = self.ax.add_artist(Rectangle((x0 - 0.02, y0 - 0.02), x1 - x0 + 0.04, y1 - y0 + 0.04,
                                                      facecolor="white", alpha=VEIL_ALPHA, edgecolor="none", zorder=5))

    def _frame(self, boxes, label: str, where: str = "above", order: int = 0, lw: float = 2.5) -> None:
        pad = 0.09
        x0, y0 = min(b[0] for b in boxes) - pad, min(b[1] for b in boxes) - pad
        x1, y1 = max(b[2] for b in boxes) + pad, max(b[3] for b in boxes) + pad
        self.ax.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="white", edgecolor=MARK_EDGE, lw=lw,
                                    hatch="//", hatchcolor=HATCH_COLOUR, zorder=3))
        kw = dict(fontsize=FONT["mark"], fontweight="bold", zorder=7, color="black")
        if where == "above":
            self.ax.text(x0, y1 + 0.06, label, ha="left", va="bottom", **kw)
        elif where == "above-right":
            self.ax.text(x1, y1 + 0.06, label, ha="right", va="bottom", **kw)
        elif where == "right":
            self.ax.text(x1 + 0.1, (y0 + y1) / 2, label, ha="left", va="center", **kw)
        else:  # left
            self.ax.text(x0 - 0.1, (y0 + y1) / 2, label, ha="right", va="center", **kw)
        self.marked.append((order, label.split(":")[0]))

    def _arrow(self, start, end, colour=_INK, lw=1.8, style="-|>", ls="-") -> None:
        self.ax.annotate("", xy=end, xytext=start, zorder=2,
                         arrowprops=dict(arrowstyle=style, color=colour, lw=lw, ls=ls, shrinkA=0, shrinkB=0,
                                         mutation_scale=16))

    def _path(self, points, colour=_INK) -> None:
        xs, ys = zip(*points[:-1], strict=True)
        self.ax.plot(xs, ys, color=colour, lw=1.6, zorder=2, solid_joinstyle="round")
        self._arrow(points[-2], points[-1], colour, lw=1.6)

    def _label(self, x, y, text, ha="left", va="center", size="note", **kw):
        return self.ax.text(x, y, text, ha=ha, va=va, fontsize=FONT[size], zorder=7, **kw)

    # -- the picture ----------------------------------------------------------------------------
    def _draw(self) -> None:
        self._header()
        self._x_band()
        for (direction, tr), y in zip(self.rows, self.y_rows, strict=True):
            self._row(direction, tr, y)
        self._outputs()
        if self.t is not None:
            self._highlight()
        self._key()
        self.fig.marked = [label for _, label in sorted(self.marked, key=lambda m: m[0])]
        self.fig.strips, self.fig.columns = self.strips, self.columns
        self.fig.norm, self.fig.cmap = self.norm, self.cmap
        self.fig.alt_text = self._alt_text()
        self.fig.set_label(self.fig.alt_text)

    def _what(self) -> str:
        tr = self.trace
        if self.bi:
            return f"Bidirectional({tr.kind}({tr.units}))"
        return f"{tr.kind}({tr.units}" + (", go_backwards=True)" if tr.go_backwards else ")")

    def _title(self) -> str:
        tr = self.trace
        steps = f"{tr.timesteps} timestep{'s' if tr.timesteps > 1 else ''}"
        return f"{self._what()} unrolled over {steps}: sample {self.sample} of {tr.batch}"

    def _header(self) -> None:
        top = self.H - 0.25
        self._label(0.3, top, self._title(), va="top", size="title", fontweight="bold")
        listed = ", ".join(f"{name} {shape}" for name, shape in self.shapes.items())
        n = len(self.shapes)
        self._label(0.3, top - 0.5, f"return_sequences={self.rs}, return_state={self.rst}   \u2192   Keras returns "
                    f"{n} tensor{'s' if n > 1 else ''}:\n{listed}", va="top", size="label", linespacing=1.4)

    def _x_band(self) -> None:
        x = self.trace.x[self.sample]
        self._label(0.3, self.y_x + _SQUARE / 2, "x_t\ninput", size="label", linespacing=1.1)
        for step, cx in self.cx.items():
            self._strip(("x", None, step), x[step], cx, self.y_x)
            top = self.y_x + _SQUARE
            self._arrow((cx, top + 0.04), (cx, min(self.y_rows)))
            if self.bi:  # a branch beside the backward cell carries x_t up to the forward cell too
                side = cx - _CELL_W / 2 - 0.18
                y_f = max(self.y_rows)
                self._path([(cx, top + 0.2), (side, top + 0.2), (side, y_f - 0.3), (cx - 0.3, y_f - 0.3), (cx - 0.3, y_f)])
        for e in self.ellipses:
            self._label(e, self.y_x + _SQUARE / 2, "\u2026", ha="center", size="label")

    def _row(self, direction, tr: Trace, y0: float) -> None:
        s = self.sample
        kind = tr.kind
        backwards = tr.go_backwards
        lines = {"h": y0 + _LINE_INSET}
        if tr.c is not None:
            lines["c"] = y0 + self.cell_h - _LINE_INSET
        real = np.ones(tr.timesteps, bool) if tr.mask is None else tr.mask[s]
        # cells
        for step, cx in self.cx.items():
            masked = not real[step]
            box = FancyBboxPatch((cx - _CELL_W / 2, y0), _CELL_W, self.cell_h, boxstyle="round,pad=0,rounding_size=0.12",
                                 facecolor=_MASKED if masked else "#f7f7f7", edgecolor="#777777" if masked else _INK,
                                 lw=1.8, ls="--" if masked else "-", zorder=2.5, gid=f"cell {direction or ''} t={step}")
            self.ax.add_artist(box)
            arrow = "\u2190 " if backwards else ""
            name = "masked" if masked else kind
            self._label(cx, y0 + self.cell_h / 2, f"{arrow}{name}\nt={step}", ha="center", size="note",
                        color="#555555" if masked else "black", fontweight="bold", linespacing=1.2,
                        style="italic" if masked else "normal")
            if masked:  # the state passes straight through: a dashed line across the box
                for y in lines.values():
                    self.ax.plot([cx - _CELL_W / 2, cx + _CELL_W / 2], [y, y], color="#777777", lw=1.6, ls="--", zorder=2.6)
        for e in self.ellipses:
            box = FancyBboxPatch((e - _ELLIPSIS_W / 2, y0), _ELLIPSIS_W, self.cell_h, boxstyle="round,pad=0,rounding_size=0.1",
                                 facecolor="white", edgecolor="#999999", lw=1.2, ls=":", zorder=2.5)
            self.ax.add_artist(box)
            self._label(e, y0 + self.cell_h / 2, "\u2026", ha="center", size="title", color="#555555")
        # states passing between the drawn columns: each carries the state after the column it leaves
        edges = [(c - _CELL_W / 2, c + _CELL_W / 2) if c in self.cx.values() else (c - _ELLIPSIS_W / 2, c + _ELLIPSIS_W / 2)
                 for c in self._centres()]
        for i in range(len(self.columns) - 1):
            a, b = self.columns[i], self.columns[i + 1]
            if not backwards:
                after = b - 1 if b is not None else a
                start, end = edges[i][1], edges[i + 1][0]
            else:
                after = a + 1 if a is not None else b
                start, end = edges[i + 1][0], edges[i][1]
            mid = (edges[i][1] + edges[i + 1][0]) / 2
            for state, y in lines.items():
                self._arrow((start, y), (end, y))
                values = getattr(tr, state)[s, self._processed(tr, after)]
                box = self._strip((state, direction, after), values, mid, y + 0.07)
                self._veil((state, direction, after), box)
        # the initial state enters on the side the layer starts; the final state leaves on the other
        first_edge, last_edge = edges[0][0], edges[-1][1]
        start_x, end_x = (last_edge, first_edge) if backwards else (first_edge, last_edge)
        out = 1 if not backwards else -1
        order = {"h": 1, "c": 2}
        offset = 2 if direction == "backward" else 0
        for state, y in lines.items():
            value = self.starts[direction][state]
            tip = start_x
            tail = start_x - out * (self.L_state + 0.65)
            self._arrow((tail, y), (tip, y))
            centre = tip - out * (0.3 + self.L_state / 2)
            box = self._strip((f"initial_{state}", direction, None), value, centre, y + 0.07)
            label = f"initial {state}" + ("" if self.starts[direction]["given"] else " = 0")
            x_text = box[0] - 0.12 if out == 1 else box[2] + 0.12
            self._label(x_text, y + 0.17, label, ha="right" if out == 1 else "left", size="mark")
            # final
            tail, tip = end_x, end_x + out * (self.L_state + 0.65)
            self._arrow((tail, y), (tip, y))
            centre = tail + out * (0.3 + self.L_state / 2)
            key = (f"final_{state}", direction, None)
            box = self._strip(key, getattr(tr, state)[self.sample, -1], centre, y + 0.07)
            label = self._final_label(direction, state)
            if self.rst:
                self._frame([box], label, where="right" if out == 1 else "left", order=order[state] + offset)
            else:
                self._veil(key, box)
                x_text = box[2] + 0.12 if out == 1 else box[0] - 0.12
                self._label(x_text, y + 0.17, label, ha="left" if out == 1 else "right", size="mark", color="#555555")
        if self.bi or backwards:
            reads = f"reads t={tr.timesteps - 1}\u2192{0}" if backwards else f"reads t=0\u2192{tr.timesteps - 1}"
            self._label(0.3, y0 + self.cell_h + 0.08, f"{direction}: {reads}" if direction else reads, va="bottom",
                        size="note", style="italic", color="#444444")

    def _centres(self) -> list[float]:
        out, ellipses = [], iter(self.ellipses)
        for step in self.columns:
            out.append(self.cx[step] if step is not None else next(ellipses))
        return out

    def _outputs(self) -> None:
        series = self._series()
        top_row = max(self.y_rows) + self.cell_h
        self._label(0.3, self.y_out[0] + _SQUARE / 2, "h_t\noutput", size="label", linespacing=1.1)
        for i, ((name, values), y) in enumerate(zip(series, self.y_out, strict=True)):
            boxes = {}
            split = self.trace.units if self.bi and self.trace.merge_mode == "concat" else None
            for step, cx in self.cx.items():
                boxes[step] = self._strip(("output", name if self.bi else None, step), values[step], cx, y, split)
                if i == 0:
                    if self.bi:
                        o = min(0.3, self.L_out / 4)  # concat: each arrow meets its own half of the strip
                        self._arrow((cx - o, top_row), (cx - o, y - 0.1))
                        y_b = min(self.y_rows) + self.cell_h
                        side = cx + _CELL_W / 2 + 0.18
                        y_in = self.y_out[-1]  # merge_mode=None: backward h feeds its own backward_output strip
                        self._path([(cx + 0.3, y_b), (cx + 0.3, y_b + 0.3), (side, y_b + 0.3), (side, y_in - 0.3),
                                    (cx + o, y_in - 0.3), (cx + o, y_in - 0.1)])
                    else:
                        self._arrow((cx, top_row), (cx, y - 0.1))
            for e in self.ellipses:
                self._label(e, y + _SQUARE / 2, "\u2026", ha="center", size="label")
            if not self.bi:
                last = int(self.trace.input_steps[-1])
                if self.rs:
                    first = int(self.trace.input_steps[0])
                    note = f": every step, listed t={first} first" if self.trace.go_backwards else ""
                    self._frame(list(boxes.values()), f"output {self.shapes['output']}{note}", order=0)
                else:
                    where = "above" if last == self.columns[0] else "above-right"
                    self._frame([boxes[last]], f"output {self.shapes['output']}: h at t={last}", where=where, order=0)
                    for step, box in boxes.items():
                        if step != last:
                            self._veil(("output", None, step), box)
            elif self.rs:
                how = {None: "", "concat": ": concat, forward | backward"}.get(self.trace.merge_mode,
                                                                                 f": {self.trace.merge_mode} of both")
                self._frame(list(boxes.values()), f"{name} {self.shapes[name]}{how}", order=i)
            else:
                for step, box in boxes.items():
                    self._veil(("output", name, step), box)
        if self.bi and not self.rs:
            self._bidirectional_last(series)

    def _bidirectional_last(self, series) -> None:
        """Without return_sequences a Bidirectional layer returns forward h at t=T-1 with backward h at t=0."""
        last = self.trace.timesteps - 1
        x0 = self.x_right + 0.6
        for i, (name, _) in enumerate(series):
            arr = dict(self.returned)[name][self.sample]
            y = self.y_out[i]
            split = self.trace.units if self.trace.merge_mode == "concat" else None
            box = self._strip(("output", name, None), arr, x0 + self.L_out / 2, y, split)
            merge = self.trace.merge_mode
            how = {"concat": "concat: forward t={a} | backward t=0", None: "", "sum": "sum of forward t={a}, backward t=0",
                   "mul": "product of forward t={a}, backward t=0", "ave": "mean of forward t={a}, backward t=0"}[merge]
            if merge is None:
                how = f"{name.split('_')[0]} h at t={last if name.startswith('forward') else 0}"
            self._frame([box], f"{name} {self.shapes[name]}", where="above", order=i)
            self._label(box[0] - 0.09, box[1] - 0.15, how.format(a=last), va="top", size="note", color="#444444")

    def _highlight(self) -> None:
        t = self.t
        cx = self.cx[t]
        text = self._readout()
        y0 = self.y_x - 0.12
        y1 = self.y_out[-1] + _SQUARE + 0.12
        half = max(_CELL_W, self.L_x, self.L_out) / 2 + 0.15
        self.outline = self.ax.add_artist(Rectangle((cx - half, y0), 2 * half, y1 - y0, fill=False, edgecolor=HIGHLIGHT,
                                                    lw=3, zorder=6))
        if not self.keep_veils:
            for key in [k for k in self.veils if k[2] == t]:  # the step's own values, unveiled
                self.veils.pop(key).remove()
        if text:
            self.readout_text = self._label(cx, y0 - 0.06, text, ha="center", va="top", size="tick", color=HIGHLIGHT,
                                            fontweight="bold", linespacing=1.15)

    def _readout(self, t: int | None = None) -> str:
        """Step t's x and h as numbers (default: the highlighted step; empty without t, or when there are too many)."""
        t, s, tr = self.t if t is None else t, self.sample, self.rows[0][1]
        if t is None or max(self.trace.features, self.trace.units) > 4:
            return ""
        h = tr.h[s, self._processed(tr, t)]
        return (f"x = [{' '.join(f'{v:.2f}' for v in self.trace.x[s, t])}]\n{'forward ' if self.bi else ''}"
                f"h = [{' '.join(f'{v:.2f}' for v in h)}]")

    def _key(self) -> None:
        y = 0.45
        x = 0.3
        self.ax.add_artist(Rectangle((x, y - 0.12), 0.45, 0.24, facecolor="white", edgecolor=MARK_EDGE, lw=2.5,
                                    hatch="//", hatchcolor=HATCH_COLOUR))
        self._label(x + 0.6, y, "returned by Keras", size="note")
        x += 0.6 + 17 * 0.1
        self.ax.add_artist(Rectangle((x, y - 0.12), 0.45, 0.24, facecolor=self.cmap(0.15), edgecolor="#555555", lw=0.6))
        self.ax.add_artist(Rectangle((x - 0.02, y - 0.14), 0.49, 0.28, facecolor="white", alpha=VEIL_ALPHA, edgecolor="none"))
        x += 0.6
        self._label(x, y, "faded: computed, not returned", size="note")
        x += 29 * 0.1
        trace_mask = any(tr.mask is not None and not tr.mask[self.sample].all() for _, tr in self.rows)
        if trace_mask:
            self.ax.add_artist(Rectangle((x, y - 0.12), 0.45, 0.24, facecolor=_MASKED, edgecolor="#777777", lw=1.5, ls="--"))
            self._label(x + 0.6, y, "masked: state unchanged", size="note")
            x += 0.6 + 23 * 0.1
        if self.t is not None:
            self.ax.add_artist(Rectangle((x, y - 0.12), 0.45, 0.24, fill=False, edgecolor=HIGHLIGHT, lw=3))
            self.key_t_label = self._label(x + 0.6, y, f"t={self.t}", size="note", color=HIGHLIGHT, fontweight="bold")
            x += 0.6 + 0.6
        width = 2.6
        left = max(self.W - width - 0.4, x + 0.3)
        vmin, vmax = self.norm.vmin, self.norm.vmax
        colour_key(self.ax, (left, y - 0.05, width, 0.14), self.cmap, self.norm, [vmin, 0, vmax],
                   [f"{vmin:.2f}", "0", f"{vmax:.2f}"], "value (one scale for all)", FONT["tick"] - 2)

    def _alt_text(self) -> str:
        tr = self.trace
        parts = []
        for name, shape in self.shapes.items():
            text = f"{name} {shape}"
            if name == "output" and not self.bi:
                last = int(tr.input_steps[-1])
                text += " = h at every step" if self.rs else f" = h at t={last}"
            elif name == "output":
                text += (" = both directions' h at every step" if self.rs else
                         f" = forward h at t={tr.timesteps - 1} with backward h at t=0") + f", merged by {tr.merge_mode}"
            parts.append(text)
        extras = []
        if any(tr_.mask is not None and not tr_.mask[self.sample].all() for _, tr_ in self.rows):
            masked = np.flatnonzero(~self.rows[0][1].mask[self.sample]).tolist()
            extras.append(f"masked timesteps {masked} leave the state unchanged")
        if any(start["given"] for start in self.starts.values()):
            extras.append("it starts from the given initial state")
        if len(self.columns) < tr.timesteps:
            extras.append(f"timesteps {', '.join('…' if c is None else str(c) for c in self.columns)} are drawn")
        tail = ("; " + "; ".join(extras)) if extras else ""
        what = self._what()[:-1] + f", merge_mode={tr.merge_mode!r})" if self.bi else self._what()
        return f"{what} unrolled over {tr.timesteps} timesteps; Keras returns {', '.join(parts)}{tail}."


class StepPictures:
    """One unrolled picture outlined at any step t of its layout, without drawing the picture again.

    The explorer's unrolled view: moving t changes only the outline, the readout of x and h under it,
    the key's "t=" and which step's strips are uncovered. The picture is drawn once, with every veil
    and no outline, as large as fits in ``fit`` = ``(width, height)`` pixels; :meth:`pixels` pastes
    those pixels, draws step t's strips over their veils, then the outline and the words. Arguments
    are trusted (the explorer checked them).

    * ``columns``: the timesteps laid out (as :func:`draw_unrolled` with ``t``); :meth:`pixels` takes
      any ``t`` among them.
    * ``alt_text``: the picture's text alternative (the same for every t).
    """

    def __init__(self, trace, return_sequences: bool, return_state: bool, sample: int, t: int, fit: tuple[int, int]):
        self._drawing = _Drawing(trace, return_sequences, return_state, sample, t, _starts(trace, None, sample),
                                 keep_veils=True)
        fig = self._drawing.fig
        self.columns, self.alt_text, self.figure = fig.columns, fig.alt_text, fig
        fit_dpi(fig, fit)
        self._moving = [a for a in (self._drawing.outline, self._drawing.readout_text, self._drawing.key_t_label)
                        if a is not None]
        self._veiled = background_without(fig, self._moving)

    def pixels(self, t: int) -> np.ndarray:
        """The picture outlined at step ``t`` (one of :attr:`columns`): RGBA ``(height, width, 4)`` uint8."""
        d = self._drawing
        d.outline.set_x(d.cx[t] - d.outline.get_width() / 2)
        if d.readout_text is not None:
            d.readout_text.set_x(d.cx[t])
            d.readout_text.set_text(d._readout(t))
        if d.key_t_label is not None:
            d.key_t_label.set_text(f"t={t}")
        uncovered = [square for key in d.veils if key[2] == t for square in d.strips[key]]  # the step's own values
        paste_and_draw(d.fig, self._veiled, uncovered + self._moving)
        return np.asarray(d.fig.canvas.buffer_rgba()).copy()


def draw_unrolled(
    trace: Trace | BidirectionalTrace,
    return_sequences: bool = False,
    return_state: bool = False,
    sample: int = 0,
    t: int | None = None,
    *,
    initial_state=None,
) -> UnrolledFigure:
    """Draw the layer unrolled over its timesteps, each arrow carrying its values, what Keras returns framed.

    * ``trace``: from :func:`rnnviz.trace`. Drawn from its arrays: ``x`` ``(batch, timesteps,
      features)``; ``h`` and, for an LSTM, ``c`` ``(batch, timesteps, units)``; ``mask``
      ``(batch, timesteps)`` or ``None``. A :class:`~rnnviz.BidirectionalTrace` draws two rows,
      forward on top and backward (reading right to left) below, under the merged output.
    * ``return_sequences``, ``return_state``: the flags whose returns are framed and named,
      from ``trace.returns(...)``: ``output`` ``(batch, timesteps, units)`` or ``(batch, units)``,
      ``state_h`` / ``state_c`` ``(batch, units)`` (``forward_h``, … for a Bidirectional layer).
    * ``sample``: which sample of the batch to draw (``0`` to ``batch - 1``; ``-1`` is the last).
    * ``t``: a timestep of ``x`` (``0`` to ``timesteps - 1``) to highlight, or ``None``. With more
      than 6 timesteps the middle ones are elided; ``t`` and the last step always stay.
    * ``initial_state``: the list you passed to :func:`rnnviz.trace`, ``[h0, c0]`` or ``[h0]``,
      each ``(batch, units)`` (forward then backward for a Bidirectional layer), or ``None``
      for zeros. A trace does not keep it; where the trace implies it, it is checked.

    Every strip is ``(units,)`` (``(features,)`` for x), one square per unit, coloured on one
    ``PuOr_r`` scale symmetric around 0 (the colour bar). Returns an :class:`UnrolledFigure`
    (a matplotlib Figure that shows as a PNG in Jupyter) with ``alt_text``, also its ``get_label()``.
    """
    trace = _checks.traced(trace, "trace")
    return_sequences = _checks.flag(return_sequences, "return_sequences")
    return_state = _checks.flag(return_state, "return_state")
    sample = _checks.sample(sample, trace.batch)
    t = _checks.timestep(t, trace.timesteps, optional=True)
    starts = _starts(trace, initial_state, sample)
    return _Drawing(trace, return_sequences, return_state, sample, t, starts).fig
