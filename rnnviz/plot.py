"""Draw h (and c) at every timestep, with what Keras returns for a pair of flags marked.

A :class:`StatesView` draws a trace once: one panel per state (h, and c for an
LSTM; both directions for a ``Bidirectional``; one row of panels per cell for an
``RNN`` over stacked cells, the top cell at the top), a line per unit (a heatmap
when there are many units). :meth:`StatesView.update` then only moves the marks,
labels and muted overlays for new ``return_sequences`` / ``return_state``
values, so flipping a flag is a re-selection, not a recomputation. The
explorer widget reuses the same view; :func:`plot_states` is the one-call
static picture.

How the marks read (none of them by colour alone):

* returned values: a black frame with light hatching, and above the panel the
  Keras name and shape, e.g. ``output (1, 3, 1)``, ``state_c (1, 1)``, or for
  stacked cells the nested name ``cell_0 state_h (1, 5)``;
* the whole sequence (``return_sequences=True``): the frame spans every step;
  the last step only: a thick frame around that step (for the backward half of
  a ``Bidirectional`` layer, its last step is timestep 0);
* values Keras does not return: faded behind a white veil, with the words
  "not returned by Keras".
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.textpath import TextToPath
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from . import _checks
from ._blit import background_without, paste_and_draw
from .trace import BidirectionalTrace, StackedTrace, Trace

__all__ = ["StatesFigure", "StatesView", "plot_states"]

#: Okabe & Ito's colour-blind-safe palette (black kept for the marks, yellow last: weak on white).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: Up to this many units, one line per unit; above it, a heatmap (units x timesteps).
MAX_LINES = len(OKABE_ITO)
#: Text sizes, in points, chosen to stay legible on a projector.
FONT = {"title": 18, "label": 16, "tick": 13, "mark": 15, "note": 13}

MARK_EDGE = "#000000"
STEP_COLOUR = "#D55E00"  # Okabe & Ito's vermillion: the step t picked in the explorer, in every view
HATCH_COLOUR = "#a6a6a6"
MUTE_ALPHA = 0.78

# Figure geometry in inches: fixed so that figure sizes (and notebook outputs) are deterministic.
_WIDTH, _LEFT, _RIGHT = 12.0, 2.3, 2.0
_TOP, _BOTTOM, _PANEL, _GAP = 2.0, 0.75, 1.6, 1.25
_HEAD_X = 0.3
_COLUMN_GAP = 0.9  # between the forward and backward columns of a Bidirectional layer drawn side by side
# Stacked cells: an arrow up the left edge (_STACK_FLOW wide) left of the cells' names (their width sets the left
# margin, with room for tick labels), in the grid (side_by_side) a "c" label left of the c column; rows a bit closer.
_STACK_FLOW, _TICK_ROOM, _STACK_COLUMN_GAP, _STACK_GAP = 0.7, 0.85, 1.2, 0.95
_NAME_PAD = 8  # points between a panel's name ("h / hidden state") and its y tick labels
_Y_STEPS = [1, 2, 3, 5, 10]  # y tick steps of a line panel (times a power of ten): never 2.5, see _draw_lines
_HEADER_CHARS = 95  # header lines wrap (between returned values) beyond this many characters

_STATE_WORDS = {"h": "hidden state", "c": "cell state"}


class StatesFigure(Figure):
    """A Figure that shows itself as a PNG in Jupyter even when pyplot was never imported.

    (IPython's inline backend only registers its PNG display for figures once pyplot is set up.)
    """

    def __repr__(self) -> str:  # "<Figure size 1200x720 with 2 Axes>", as for any Figure
        return super().__repr__().replace(type(self).__name__, "Figure", 1)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The PNG with its text alternative, when the figure has one (``alt_text``).

        ``text/plain`` is the alt text (what a text-only viewer shows, and what nbval compares in the stored
        lessons) and the PNG's metadata carries it as ``alt`` (nbconvert's HTML puts it on the ``<img>``).
        ``text/html`` is the same PNG in an ``<img alt=...>``: JupyterLab and Voila render it before the bare
        PNG, whose renderer drops the metadata's ``alt``, so a screen reader there reads the alt text too
        (nbval compares it with the PNG's bytes left out: tests/nbval_sanitize.cfg).
        """
        alt = getattr(self, "alt_text", "")
        png = base64.b64encode(self._repr_png_()).decode("ascii")
        data = {"image/png": png}
        if not alt:
            return data
        data["text/plain"] = alt
        data["text/html"] = f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt, quote=True)}">'
        return data, {"image/png": {"alt": alt}}


def prepare_figure(figure: Figure | None, width: float, height: float, dpi: float) -> Figure:
    """A new :class:`StatesFigure` of ``width`` x ``height`` inches, or ``figure`` cleared and set to that size.

    Only a real change of size or dpi reaches the canvas: a live canvas answers a resize with a full redraw.
    """
    if figure is None:
        figure = StatesFigure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(figure)
        return figure
    figure.clear()
    if figure.get_dpi() != dpi:
        figure.set_dpi(dpi)
    if tuple(figure.get_size_inches()) != (width, height):
        figure.set_size_inches(width, height, forward=True)
    return figure


@dataclass
class _Panel:
    """One axes: one state (h or c) of one direction or cell, ``values`` ``(timesteps, units)`` in input order."""

    state: str  # "h" or "c"
    direction: str | None  # None, "forward" or "backward"
    values: np.ndarray
    backwards: bool = False  # the layer read the input last step first (go_backwards)
    ax: object = None
    artists: dict = field(default_factory=dict)
    cell: str | None = None  # stacked cells: the Keras name of this cell's state list, e.g. "cell_0"
    layer: str = ""  # stacked cells: what the cell is, e.g. "GRUCell(4)"
    top: bool = False  # stacked cells: the top cell, whose h is the layer's output

    @property
    def key(self) -> str:
        if self.cell is not None:
            return f"{self.cell} {self.state}"
        return self.state if self.direction is None else f"{self.direction} {self.state}"

    @property
    def last(self) -> int:
        """The input timestep of the layer's final state: 0 for a layer that reads backwards."""
        return 0 if self.backwards else self.values.shape[0] - 1


class StatesView:
    """A figure of h (and c) at every timestep that re-marks itself for new flags.

    * ``trace``: a :class:`~rnnviz.Trace` (``h``, ``c`` ``(batch, timesteps, units)``), a
      :class:`~rnnviz.BidirectionalTrace` or a :class:`~rnnviz.StackedTrace` (each cell's ``h``, ``c``
      ``(batch, timesteps, units of that cell)``); only sample ``sample`` of the batch is drawn.
    * ``figure``: a Figure to draw into (cleared and resized first), or ``None`` for a new one.
    * ``header``: whether to write the flags and what Keras returns above the panels.
    * ``size``: ``(width, height)`` in inches to fit the panels into, or ``None`` to size the figure by them.
    * ``side_by_side``: a Bidirectional trace in two columns (forward, backward) instead of one; stacked
      cells as a grid, one row per cell and one column per state (h, c), instead of one panel per row.

    Arguments are trusted (check them at the public entry point). After construction,
    :meth:`update` re-marks the view; :attr:`marks` and :attr:`labels` say what is marked.
    """

    def __init__(self, trace: Trace | BidirectionalTrace | StackedTrace, sample: int = 0,
                 figure: Figure | None = None, header: bool = True, dpi: float = 100,
                 size: tuple[float, float] | None = None, side_by_side: bool = False):
        self.trace = trace
        self._stacked = isinstance(trace, StackedTrace)
        self._show_header = header
        # The header's second line lists what Keras returns; stacked cells' nested states may need more lines.
        extra = len(_wrapped(trace.returns(True, True))) - 1 if header and self._stacked else 0
        self._top = (_TOP + 0.35 * extra) if header else _TOP - 0.8
        self.sample = sample
        self.panels = _panels(trace, sample)
        # Side by side: a Bidirectional trace's forward panels on the left, backward on the right; stacked
        # cells as a grid, h on the left and c (LSTM cells) on the right. Else one column.
        self._slots, self._columns = _slots(trace, self.panels, side_by_side)
        rows = 1 + max(row for row, _ in self._slots)
        self._gap = _STACK_GAP if self._stacked else _GAP
        self._left = _LEFT
        if self._stacked:  # wide enough for the longest line beside a panel, e.g. "SimpleRNNCell(12)"
            reads = f"reads t={trace.timesteps - 1}\u2192{0}" if trace.go_backwards else ""
            widest = max(_text_width(line, FONT["label"]) for p in self.panels
                         for line in self._cell_label(p, 0, reads, p.values.shape[1] > MAX_LINES).splitlines())
            self._left = max(_LEFT, _STACK_FLOW + widest + _TICK_ROOM)
        if size is None:  # the panels set the height
            width = _WIDTH
            height = self._top + _BOTTOM + rows * _PANEL + (rows - 1) * self._gap
            self._panel = _PANEL
        else:  # a fixed size (the explorer's canvas never changes size): the panels share the height
            width, height = size
            self._panel = (height - self._top - _BOTTOM - (rows - 1) * self._gap) / rows
        self._width = width
        figure = prepare_figure(figure, width, height, dpi)
        self.figure = figure
        self.return_sequences: bool | None = None
        self.return_state: bool | None = None
        self.marks: dict[str, dict[str, tuple[int, int]]] = {}
        self.t: int | None = None
        self._background = None
        self._frames: dict = {}
        self._draw_static(height)
        # What update() changes, in drawing order; the rest is a background rendered once (see render()).
        self._dynamic = [a for p in self.panels for a in sorted(
            [*p.artists.get("lines", []), *(v for k, v in p.artists.items() if k != "lines")],
            key=lambda a: a.get_zorder())] + [self._header] * header

    @property
    def labels(self) -> dict[str, str]:
        """Panel key (``"h"``, ``"forward c"``, ``"cell_0 h"``, ...) -> the text now written above that panel."""
        return {p.key: p.artists["label"].get_text() for p in self.panels}

    # -- drawing once -------------------------------------------------------------------------
    def _draw_static(self, height: float) -> None:
        fig, tr = self.figure, self.trace
        steps = tr.timesteps
        W = self._width
        columns = self._columns
        rows = 1 + max(row for row, _ in self._slots)
        many = any(p.values.shape[1] > MAX_LINES for p in self.panels)  # a heatmap: room for a colour bar
        gap = (_STACK_COLUMN_GAP if self._stacked else _COLUMN_GAP) + 0.9 * many  # between columns
        column_width = (W - self._left - _RIGHT - (columns - 1) * gap) / columns
        if self._stacked:
            head = f"{tr.kind} on x {tr.x.shape}: sample {self.sample} of {tr.batch}"
        else:
            units = tr.units
            what = (f"Bidirectional({tr.kind}({units}))" if isinstance(tr, BidirectionalTrace)
                    else f"{tr.kind}({units})")
            head = f"{what} on x {tr.x.shape}: sample {self.sample} of {tr.batch}, every timestep"
        fig.text(_HEAD_X / W, 1 - 0.25 / height, head, fontsize=FONT["title"], fontweight="bold", va="top", ha="left")
        self._header = fig.text(_HEAD_X / W, 1 - 0.7 / height, "", fontsize=FONT["label"], va="top", ha="left",
                                linespacing=1.5, visible=self._show_header)
        lowest = {column: max(r for r, c in self._slots if c == column) for column in range(columns)}
        for panel, (row, column) in zip(self.panels, self._slots, strict=True):
            bottom = height - self._top - (row + 1) * self._panel - row * self._gap
            left = self._left + column * (column_width + gap)
            ax = fig.add_axes((left / W, bottom / height, column_width / W, self._panel / height))
            panel.ax = ax
            heatmap = panel.values.shape[1] > MAX_LINES
            if not heatmap:
                self._draw_lines(panel, legend=row == 0 and column == columns - 1 and not self._stacked)
            else:
                self._draw_heatmap(panel, bottom, height, left + column_width)
            ax.set_xlim(-0.5, steps - 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(steps, 12 // columns)))
            ax.tick_params(labelsize=FONT["tick"])
            words = _STATE_WORDS[panel.state]
            reads = f"reads t={steps - 1}\u2192{0}" if panel.backwards else ""
            if self._stacked:
                self._label_cell(panel, column, reads, heatmap, xlabel=row == lowest[column])
                self._add_marks(panel)
                continue
            if columns == 1:
                prefix = "" if panel.direction is None else f"{panel.direction} "
                detail = ("\n" + reads if reads else "") + ("\n(y: unit)" if heatmap else "")
                ax.set_ylabel(f"{prefix}{panel.state}\n{words}{detail}", fontsize=FONT["label"], rotation=0,
                              ha="right", va="center", labelpad=_NAME_PAD)
            elif column == 0:  # side by side: the state on the left, the direction under each column
                detail = "\n(y: unit)" if heatmap else ""
                ax.set_ylabel(f"{panel.state}\n{words}{detail}", fontsize=FONT["label"], rotation=0,
                              ha="right", va="center", labelpad=_NAME_PAD)
            if row == rows - 1:
                if columns == 1:
                    ax.set_xlabel("timestep t", fontsize=FONT["label"])
                else:
                    ax.set_xlabel(f"timestep t: {panel.direction} layer" + (f", {reads}" if reads else ""),
                                  fontsize=FONT["label"])
            self._add_marks(panel)
        if self._stacked:
            self._draw_stack_key(height, column_width, gap)

    def _cell_label(self, panel: _Panel, column: int, reads: str, heatmap: bool) -> str:
        """Stacked cells: the text beside a panel: the cell (``cell_1`` / ``GRUCell(4)``) and its state."""
        if self._columns == 1:
            detail = ("\n" + reads if reads else "") + ("\n(y: unit)" if heatmap else "")
            return f"{panel.cell}\n{panel.layer}\n{panel.state} {_STATE_WORDS[panel.state]}{detail}"
        if column == 0:  # the grid: the cell on the left of its row; h or c beside each panel
            return f"{panel.cell}\n{panel.layer}\n{panel.state}" + ("\n(y: unit)" if heatmap else "")
        return panel.state

    def _label_cell(self, panel: _Panel, column: int, reads: str, heatmap: bool, xlabel: bool) -> None:
        """Stacked cells: name the cell and the state beside a panel, and the time axis under a column."""
        ax, words = panel.ax, _STATE_WORDS[panel.state]
        ax.set_ylabel(self._cell_label(panel, column, reads, heatmap), fontsize=FONT["label"], rotation=0,
                      ha="right", va="center", labelpad=_NAME_PAD)
        if xlabel:
            if self._columns == 1:
                ax.set_xlabel("timestep t", fontsize=FONT["label"])
            else:
                ax.set_xlabel(f"timestep t: {panel.state}, {words}" + (f", {reads}" if reads else ""),
                              fontsize=FONT["label"])

    def _draw_stack_key(self, height: float, column_width: float, gap: float) -> None:
        """Stacked cells: how the rows connect, the units' legend, and what stands in for a missing c."""
        fig, tr, W = self.figure, self.trace, self._width
        top = height - self._top
        bottom = top - (1 + max(row for row, _ in self._slots)) * (self._panel + self._gap) + self._gap
        # Up the left edge, as in a diagram of stacked layers: x enters the bottom cell, the top cell's h is output.
        flow = " \u2192 ".join(["x", *tr.state_names, "output"])
        fig.text(0.12 / W, (top + bottom) / 2 / height, flow, rotation=90, fontsize=FONT["note"], color="#333333",
                 ha="left", va="center")
        fig.add_artist(FancyArrowPatch(((0.5 / W), (bottom + 0.1) / height), ((0.5 / W), (top - 0.1) / height),
                                       transform=fig.transFigure, arrowstyle="-|>", mutation_scale=18, lw=1.5,
                                       color="#333333"))
        # One legend for every cell (unit u has the same colour in each), beside the first row free of a colour bar.
        lined = [p for p in self.panels if "lines" in p.artists]
        if lined:
            widest = max(lined, key=lambda p: len(p.artists["lines"]))
            right_column = self._columns - 1
            row = min((r for r in range(1 + max(r for r, _ in self._slots))
                       if not any(s == (r, right_column) and p.values.shape[1] > MAX_LINES
                                  for p, s in zip(self.panels, self._slots, strict=True))), default=0)
            y = top - row * (self._panel + self._gap)
            fig.legend(handles=widest.artists["lines"], loc="upper left", bbox_to_anchor=(
                (W - _RIGHT + 0.02 * column_width) / W, y / height), fontsize=FONT["note"], frameon=False,
                handlelength=2.5, borderaxespad=0)
        if self._columns == 2:  # the grid: a cell without c leaves its c slot to say so
            left = self._left + column_width + gap
            for k, (name, cell) in enumerate(zip(tr.state_names, tr.cells, strict=True)):
                if cell.c is not None:
                    continue
                row = len(tr.cells) - 1 - k
                y = top - row * (self._panel + self._gap) - self._panel / 2
                fig.text((left + column_width / 2) / W, y / height,
                         f"no c: a {cell.kind}Cell keeps only h\n(return_state gives {name} "
                         f"[{', '.join(cell.state_names)}])", fontsize=FONT["note"], style="italic",
                         color="#333333", ha="center", va="center", linespacing=1.4)

    def _draw_lines(self, panel: _Panel, legend: bool) -> None:
        ax, values = panel.ax, panel.values
        steps = np.arange(values.shape[0])
        ax.axhline(0, color="#bbbbbb", lw=1, zorder=1)
        panel.artists["lines"] = [
            ax.plot(steps, values[:, u], color=OKABE_ITO[u], marker=MARKERS[u], markersize=9, lw=2.5,
                    label=f"unit {u}", zorder=3)[0]
            for u in range(values.shape[1])
        ]
        lo, hi = min(values.min(), 0.0), max(values.max(), 0.0)
        pad = 0.15 * (hi - lo) if hi > lo else 0.1
        ax.set_ylim(lo - pad, hi + pad)
        # No steps of 2.5: they need one more decimal (0.025, -0.050), and a tick label that much wider pushed the
        # panel's name ("h hidden state") past the figure's left edge, e.g. for small Keras NumPy-backend weights
        # (with _NAME_PAD, names stay inside for states down to about 0.005: tests/test_plot.py).
        ax.yaxis.set_major_locator(MaxNLocator(nbins=2 if self._stacked and self._panel < 1.0 else 4, steps=_Y_STEPS))
        if legend:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=FONT["note"], frameon=False,
                      handlelength=2.5, borderaxespad=0)

    def _draw_heatmap(self, panel: _Panel, bottom: float, height: float, right: float) -> None:
        ax, values = panel.ax, panel.values
        steps, units = values.shape
        top = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values.T, aspect="auto", origin="lower", cmap="PuOr_r", vmin=-top, vmax=top,
                          extent=(-0.5, steps - 0.5, -0.5, units - 0.5), interpolation="nearest")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        W = self._width
        cax = self.figure.add_axes(((right + 0.25) / W, bottom / height, 0.18 / W, self._panel / height))
        bar = self.figure.colorbar(image, cax=cax)
        bar.ax.tick_params(labelsize=FONT["tick"])
        bar.set_label(f"value of {panel.state}", fontsize=FONT["note"])

    def _add_marks(self, panel: _Panel) -> None:
        ax = panel.ax
        steps = panel.values.shape[0]
        y0, y1 = ax.get_ylim()
        span = dict(y=y0, height=y1 - y0)
        above = blended_transform_factory(ax.transData, ax.transAxes)
        art = panel.artists
        art["mute_left"] = ax.add_patch(Rectangle((-0.5, span["y"]), 0, span["height"], facecolor="white",
                                                  alpha=MUTE_ALPHA, edgecolor="none", zorder=5))
        art["mute_right"] = ax.add_patch(Rectangle((-0.5, span["y"]), 0, span["height"], facecolor="white",
                                                   alpha=MUTE_ALPHA, edgecolor="none", zorder=5))
        art["sequence"] = ax.add_patch(Rectangle((-0.5, span["y"]), steps, span["height"], facecolor="none",
                                                 edgecolor=MARK_EDGE, hatchcolor=HATCH_COLOUR, hatch="//",
                                                 lw=2.5, zorder=2, clip_on=False))
        art["step"] = ax.add_patch(Rectangle((panel.last - 0.5, span["y"]), 1, span["height"], facecolor="none",
                                             edgecolor=MARK_EDGE, hatchcolor=HATCH_COLOUR, hatch="\\\\",
                                             lw=5, zorder=2.5, clip_on=False))
        size = FONT["mark"] if self._columns == 1 else FONT["mark"] - 2
        art["label"] = ax.text(-0.5, 1.04, "", transform=above, fontsize=size, fontweight="bold", linespacing=1.1,
                               va="bottom", ha="left", clip_on=False)
        # Step t (the explorer's timestep control): a dashed vermillion outline and "t=k" inside its top.
        art["t_band"] = ax.add_patch(Rectangle((-0.5, span["y"]), 1, span["height"], facecolor="none",
                                               edgecolor=STEP_COLOUR, lw=2.5, linestyle="--", zorder=7,
                                               visible=False))
        art["t_label"] = ax.text(0, 0.97, "", transform=above, fontsize=FONT["note"], color=STEP_COLOUR,
                                 fontweight="bold", ha="center", va="top", zorder=9, visible=False,
                                 bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none"))
        art["note"] = ax.text(0, 0.5, "not returned by Keras", transform=above, fontsize=FONT["note"],
                              style="italic", color="#333333", ha="center", va="center", zorder=8,
                              bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="#666666",
                                        linestyle="--"))

    # -- fast redraw ---------------------------------------------------------------------------
    def render(self) -> None:
        """Bring the canvas's pixels up to date after :meth:`update`, fast.

        The first call draws the figure once without the marks, lines and labels and keeps
        that background; later calls paste it back and draw only those artists on top: the
        same picture a full ``figure.canvas.draw()`` gives, in a fraction of the time. The
        finished pixels of each flag combination are kept too, so flipping back is a paste.
        """
        canvas = self.figure.canvas
        size = canvas.get_width_height()
        if self._background is None or self._background[0] != size:
            self._background = (size, background_without(self.figure, self._dynamic))
            self._frames = {}
        key = (self.return_sequences, self.return_state, self.t)
        if key in self._frames:
            canvas.restore_region(self._frames[key])
            return
        paste_and_draw(self.figure, self._background[1], self._dynamic)
        self._frames[key] = canvas.copy_from_bbox(self.figure.bbox)

    # -- re-marking for new flags -------------------------------------------------------------
    def set_t(self, t: int | None) -> None:
        """Outline timestep ``t`` (input order) in every panel, or nothing for ``None``; draw with :meth:`render`."""
        self.t = t
        for panel in self.panels:
            band, label = panel.artists["t_band"], panel.artists["t_label"]
            band.set_visible(t is not None)
            label.set_visible(t is not None)
            if t is not None:
                band.set_x(t - 0.5)
                label.set_x(t)
                label.set_text(f"t={t}")

    def update(self, return_sequences: bool = False, return_state: bool = False) -> None:
        """Mark what Keras returns for these flags; nothing is recomputed or redrawn from scratch.

        Only artists change; draw the canvas afterwards (:meth:`render`, or ``figure.canvas.draw()``).
        """
        self.return_sequences, self.return_state = return_sequences, return_state
        returned = self.trace.returns(return_sequences, return_state)
        shapes = _flat_shapes(returned)
        self.marks = {}
        for panel in self.panels:
            items = _panel_returns(self.trace, panel, return_sequences, return_state, shapes)
            self.marks[panel.key] = {text: span for text, span in items}
            self._mark(panel, items)
        self.figure.alt_text = self.alt_text()
        if self._stacked and return_state:  # Keras nests the states: one list per cell after the output
            lists = len(returned) - 1
            what = f"the output and {lists} state list{'s' if lists > 1 else ''}, one per cell"
        else:
            what = f"{len(shapes)} tensor{'s' if len(shapes) > 1 else ''}"
        listed = "\n".join(_wrapped(returned)) if self._stacked else _listing(returned)
        self._header.set_text(
            f"return_sequences={return_sequences}, return_state={return_state}   \u2192   "
            f"Keras returns {what}:\n{listed}"
        )

    def alt_text(self) -> str:
        """A short text alternative for the figure: what it draws and what Keras returns for the current flags."""
        tr = self.trace
        flags = f"return_sequences={self.return_sequences}, return_state={self.return_state}"
        returned = _listing(tr.returns(self.return_sequences, self.return_state))
        if self._stacked:
            cells = "; ".join(f"{name} {cell.kind}Cell({cell.units}) {'h and c' if cell.c is not None else 'h'}"
                              for name, cell in reversed(list(zip(tr.state_names, tr.cells, strict=True))))
            below = "Each cell reads the h of the cell below; the " if len(tr.cells) > 1 else "The "
            return (f"States of {tr.kind} at every timestep of x {tuple(tr.x.shape)}, sample {self.sample}, one row "
                    f"per cell, the top cell at the top: {cells}. {below}output is the top cell's h. "
                    f"With {flags} Keras returns {returned}: framed; the rest is faded.")
        layer, states = f"{tr.kind}({tr.units})", "h and c" if tr.kind == "LSTM" else "h"
        if isinstance(tr, BidirectionalTrace):
            layer, states = f"Bidirectional({layer})", f"forward and backward {states}"
        return (f"{states} of {layer} at every timestep of x {tuple(tr.x.shape)}, sample {self.sample}. "
                f"With {flags} Keras returns {returned}: framed; the rest is faded.")

    def _mark(self, panel: _Panel, items: list[tuple[str, tuple[int, int]]]) -> None:
        art, steps = panel.artists, panel.values.shape[0]
        whole = any(span == (0, steps - 1) and steps > 1 for _, span in items)
        step = any(span == (panel.last, panel.last) for _, span in items)
        art["sequence"].set_visible(whole)
        art["step"].set_visible(step)
        if whole:
            first, final = 0, steps - 1
        elif step:
            first = final = panel.last
        else:
            first, final = steps, steps - 1  # nothing returned: all muted
        left_end = min(first, steps)
        art["mute_left"].set_width(left_end)
        art["mute_right"].set_x(final + 0.5)
        art["mute_right"].set_width(max(steps - 1 - final, 0))
        label, note = art["label"], art["note"]
        if items:
            text = "Keras returns " + "\n+ ".join(name for name, _ in items)
            if self._columns == 2:  # half the width: names and shapes only (the frames show which steps)
                text = "\n".join(line.split("  (")[0] for line in text.splitlines())
            label.set_text(text)
            forward_end = not panel.backwards and step and not whole
            label.set_horizontalalignment("right" if forward_end else "left")
            label.set_x(steps - 0.5 if forward_end else -0.5)
            label.set_color("#000000")
        else:
            what = panel.state if panel.cell is None else f"{panel.cell} {panel.state}"
            label.set_text(f"Keras does not return {what} here" + ("\n" if self._columns == 2 or self._stacked else " ")
                           + "(return_state=True adds the last one)")
            label.set_horizontalalignment("left")
            label.set_x(-0.5)
            label.set_color("#444444")
        # The note sits in the middle of the larger muted stretch, or is hidden when nothing is muted.
        stretches = [(-0.5, left_end), (final + 0.5, max(steps - 1 - final, 0))]
        x, w = max(stretches, key=lambda s: s[1])
        note.set_visible(w > 0)
        note.set_x(x + w / 2)
        note.set_text("not returned by Keras" if w >= 1.5 or steps <= 2 else "not\nreturned")


def _panels(trace: Trace | BidirectionalTrace | StackedTrace, sample: int) -> list[_Panel]:
    if isinstance(trace, StackedTrace):  # the top cell first, as it is drawn
        out = []
        for name, tr in reversed(list(zip(trace.state_names, trace.cells, strict=True))):
            order = tr.input_steps.argsort()
            about = dict(cell=name, layer=f"{tr.kind}Cell({tr.units})", top=tr is trace.cells[-1])
            out.append(_Panel("h", None, tr.h[sample][order], tr.go_backwards, **about))
            if tr.c is not None:
                out.append(_Panel("c", None, tr.c[sample][order], tr.go_backwards, **about))
        return out
    if isinstance(trace, BidirectionalTrace):
        out = []
        for direction, tr in (("forward", trace.forward), ("backward", trace.backward)):
            order = tr.input_steps.argsort()  # processed step -> input timestep order
            out.append(_Panel("h", direction, tr.h[sample][order], tr.go_backwards))
            if tr.c is not None:
                out.append(_Panel("c", direction, tr.c[sample][order], tr.go_backwards))
        return out
    order = trace.input_steps.argsort()
    panels = [_Panel("h", None, trace.h[sample][order], trace.go_backwards)]
    if trace.c is not None:
        panels.append(_Panel("c", None, trace.c[sample][order], trace.go_backwards))
    return panels


def _panel_returns(trace, panel: _Panel, return_sequences: bool, return_state: bool,
                   shapes: dict[str, tuple[int, ...]]) -> list[tuple[str, tuple[int, int]]]:
    """``(label, (first, last) input timestep)`` for each returned tensor drawn from this panel.

    ``shapes``: each returned tensor's name -> shape; a stacked cell's states are named ``"cell_0 state_h"``.
    """
    steps = panel.values.shape[0]
    final = (panel.last, panel.last)
    items = []
    if panel.state == "h" and (panel.cell is None or panel.top):  # of stacked cells, only the top one outputs
        span = (0, steps - 1) if return_sequences else final
        if panel.direction is None:
            items.append((f"output {shapes['output']}", span))
        elif "output" in shapes:
            items.append((_merged_label(trace, panel.direction, shapes["output"]), span))
        else:
            name = f"{panel.direction}_output"
            items.append((f"{name} {shapes[name]}", span))
    if return_state:
        if panel.cell is not None:
            name = f"{panel.cell} state_{panel.state}"
        elif panel.direction is None:
            name = f"state_{panel.state}"
        else:
            name = f"{panel.direction}_{panel.state}"
        items.append((f"{name} {shapes[name]}", final))
    if len(items) == 2 and items[0][1] == items[1][1]:
        items[1] = (f"{items[1][0]}  (the same numbers)", items[1][1])
    elif len({span for _, span in items}) > 1:  # a sequence and a last step: say which is which
        if panel.direction == "backward":
            whole = "every step, in input order"  # Bidirectional flips the backward sequence back
        elif panel.backwards:
            whole = "every step, listed t=T-1 first"  # a go_backwards layer keeps its reading order
        else:
            whole = "every step"
        last = "last step read: t=0" if panel.backwards else "last step"
        items = [(f"{text}  ({whole if span[0] != span[1] else last})", span) for text, span in items]
    return items


def _text_width(text: str, size: float) -> float:
    """The width in inches of one line of ``text`` at ``size`` points (the same on every canvas)."""
    return TextToPath().get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0] / 72


def _slots(trace, panels: list[_Panel], side_by_side: bool) -> tuple[list[tuple[int, int]], int]:
    """``(row, column)`` of each panel, row 0 at the top, and the number of columns."""
    if side_by_side and isinstance(trace, BidirectionalTrace):  # forward on the left, backward on the right
        rows = len(panels) // 2
        return [divmod(i, rows)[::-1] for i in range(len(panels))], 2
    if side_by_side and isinstance(trace, StackedTrace):  # a row per cell (top cell first); h left, c right
        cells = list(dict.fromkeys(p.cell for p in panels))
        columns = 2 if any(p.state == "c" for p in panels) else 1
        return [(cells.index(p.cell), 0 if p.state == "h" else 1) for p in panels], columns
    return [(i, 0) for i in range(len(panels))], 1


def _flat_shapes(pairs) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every returned tensor; a nested state is named after its list too: ``"cell_0 state_h"``."""
    shapes = {}
    for name, value in pairs:
        if isinstance(value, list):
            shapes.update({f"{name} {inner}": tuple(arr.shape) for inner, arr in value})
        else:
            shapes[name] = tuple(value.shape)
    return shapes


def _items(pairs) -> list[str]:
    """What Keras returns, in its order and nesting: ``["output (1, 4)", "cell_0 [state_h (1, 5), state_c (1, 5)]"]``."""
    return [f"{name} [{', '.join(_items(value))}]" if isinstance(value, list) else f"{name} {tuple(value.shape)}"
            for name, value in pairs]


def _listing(pairs) -> str:
    return ", ".join(_items(pairs))


def _wrapped(pairs, chars: int = _HEADER_CHARS) -> list[str]:
    """:func:`_listing` in lines of at most about ``chars`` characters, broken only between returned values."""
    lines = [""]
    for item in _items(pairs):
        if lines[-1] and len(lines[-1]) + len(item) + 2 > chars:
            lines[-1] += ","
            lines.append("")
        lines[-1] += (", " if lines[-1] else "") + item
    return lines


def _merged_label(trace: BidirectionalTrace, direction: str, shape: tuple[int, ...]) -> str:
    """How one direction's h enters a Bidirectional layer's merged ``output``."""
    if trace.merge_mode == "concat":
        return f"{'first' if direction == 'forward' else 'second'} half of output {shape}"
    how = {"sum": "forward + backward", "mul": "forward \u00d7 backward", "ave": "mean of both directions"}
    return f"output {shape} = {how[trace.merge_mode]}"


def plot_states(
    trace: Trace | BidirectionalTrace | StackedTrace,
    return_sequences: bool = False,
    return_state: bool = False,
    sample: int = 0,
) -> Figure:
    """Draw h (and c for an LSTM) at every timestep, marking what Keras returns for these flags.

    * ``trace``: from :func:`rnnviz.trace`; ``h`` and ``c`` are ``(batch, timesteps, units)``.
      A :class:`~rnnviz.BidirectionalTrace` shows both directions, in input order. A
      :class:`~rnnviz.StackedTrace` (an ``RNN`` over stacked cells) shows one row of panels per cell,
      the top cell at the top, each named as Keras names its state list (``cell_1: GRUCell(4)``);
      each cell's ``h``, ``c`` are ``(batch, timesteps, units of that cell)``.
    * ``return_sequences``, ``return_state``: the flags to mark.
    * ``sample``: which sample of the batch to draw (``0`` to ``batch - 1``; ``-1`` is the last).

    Returns a :class:`matplotlib.figure.Figure`, 12 inches wide, whose ``alt_text`` describes it. Each
    returned tensor is labelled with its Keras name and shape, e.g. ``output (1, 3, 1)``, ``state_h (1, 1)``,
    ``state_c (1, 1)``; for stacked cells ``output`` is the top cell's h and ``return_state`` adds each
    cell's final states, labelled with their nested names, e.g. ``cell_0 state_h (1, 5)``. The values
    Keras does not return stay visible but muted.
    """
    trace = _checks.traced(trace, "trace", stacked=True)
    return_sequences = _checks.flag(return_sequences, "return_sequences")
    return_state = _checks.flag(return_state, "return_state")
    sample = _checks.sample(sample, trace.batch)
    view = StatesView(trace, sample)
    view.update(return_sequences, return_state)
    return view.figure
