"""Draw one recurrent cell at one timestep, the familiar diagram, with the live values of a trace.

:func:`draw_cell` draws an LSTM, GRU or SimpleRNN cell with matplotlib patches and
arrows: the σ gate boxes, the tanh boxes, the ⊙ and + nodes, and the wires between
them, in the symbols of :mod:`rnnviz.reference`. Next to every gate, the candidate,
the incoming state (``h_prev``, ``c_prev``) and the new state (``h``, ``c``), it writes
the numbers of that step for one sample (two decimals) and a strip of coloured squares,
one per unit. What Keras hands back from this step is framed in black and named with
the names and shapes of :meth:`rnnviz.Trace.returns`.

How a vector reads:

* numbers: units 0, 1, 2, ... in order; with more than four units, the first four and "…";
* squares: every unit, unit 0 on the left. Gates (values in [0, 1]) use a sequential
  blue scale, everything else one diverging scale symmetric about 0; each has a colour bar.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path

from . import _checks
from ._blit import background_without, fit_dpi, paste_and_draw
from ._colour_key import colour_key
from .plot import FONT, StatesFigure
from .trace import BidirectionalTrace, Trace

__all__ = ["draw_cell"]

#: Numbers written per vector before "…" (the squares always show every unit).
MAX_NUMBERS = 4
NUMBERS_PER_LINE = 2
_STEPS_KEPT = 4  # CellPictures keeps this many steps' pixels (about 2 MB each in the explorer)
DIVERGING = "PuOr_r"  # the same diverging map as rnnviz.plot's heatmaps
GATE_MAP = "Blues"
SIGMA_FILL, TANH_FILL, POINTWISE_FILL = "#fbe0b0", "#cfe4f4", "#ececec"
WIRE = "#333333"
CELL_FILL, CELL_EDGE = "#f6f6f6", "#9a9a9a"

# Geometry in inches (the axes spans the figure and its data units are inches).
_H = 9.6
_BOX_W, _BOX_H = 0.66, 0.5
_NODE_R = 0.2
_STRIP = 1.45  # widest strip of squares
_LINE = 0.25  # one line of card text
_OUT_X = 12.8  # left edge of the cards of the new state, right of the cell


@dataclass
class _Vector:
    """One vector drawn on the diagram: ``values`` ``(units,)`` (or ``(features,)`` for x)."""

    key: str  # "gate:forget", "state:h", "state:c_prev", "x", ...
    title: str
    values: np.ndarray
    scale: str | None  # "gate", "value" or None (numbers only)


def draw_cell(
    trace: Trace | BidirectionalTrace,
    t: int,
    sample: int = 0,
    *,
    direction: str = "forward",
    return_sequences: bool | None = None,
    return_state: bool | None = None,
    initial_state=None,
) -> Figure:
    """Draw the cell of ``trace`` at step ``t`` for one sample, with every gate's and state's values.

    * ``trace``: from :func:`rnnviz.trace`. Its ``h``, ``c`` and ``gates[name]`` are
      ``(batch, timesteps, units)`` and ``x`` is ``(batch, timesteps, features)``.
      A :class:`~rnnviz.BidirectionalTrace` draws one direction's cell (``direction``).
    * ``t``: the step, ``0`` to ``timesteps - 1`` (``-1`` is the last). It indexes the
      trace's step axis, the order the layer read the input in: ``trace.h[:, t]``. The
      input it read is ``x[:, trace.input_steps[t]]`` (``timesteps - 1 - t`` for a layer
      that reads backwards).
    * ``sample``: which sample of the batch (``0`` to ``batch - 1``; ``-1`` is the last).
    * ``direction``: ``"forward"`` or ``"backward"``, for a Bidirectional trace.
    * ``return_sequences``, ``return_state``: ``None`` (the default) frames nothing and the
      caption lists what each flag would return from this step; ``True`` / ``False`` for
      both frames exactly what Keras returns for those flags (``False, False`` frames h at
      the last step: it is ``output``). Names and shapes come from ``trace.returns(...)``.
    * ``initial_state``: only matters at ``t=0``, where ``h_prev`` (and ``c_prev``) is the
      initial state, which a trace does not store: pass the same list you passed to
      :func:`rnnviz.trace` (``[h0, c0]`` or ``[h0]``, each ``(batch, units)``; forward
      states first for a Bidirectional layer). ``None`` means zeros, Keras's default.

    Returns a Figure (PNG in Jupyter) with ``fig.alt_text``, a short text alternative
    that gives h (and c) at step ``t``.
    """
    trace = _checks.traced(trace, "trace")
    sample = _checks.sample(sample, trace.batch)
    t = _checks.timestep(t, trace.timesteps, negative=True)
    direction = _checks.choice(direction, "direction", ("forward", "backward"))
    if isinstance(trace, BidirectionalTrace):
        layer = trace.forward if direction == "forward" else trace.backward
    elif direction == "backward":
        raise ValueError(
            "direction: 'backward' needs a Bidirectional trace, got a trace of a plain "
            f"{trace.kind} layer, which has one direction. Leave direction='forward' (the default), "
            f"or trace keras.layers.Bidirectional({trace.kind}(...))."
        )
    else:
        layer = trace
    flags = None
    if return_sequences is not None or return_state is not None:
        flags = (_checks.flag(bool(return_sequences) if return_sequences is None else return_sequences,
                              "return_sequences"),
                 _checks.flag(bool(return_state) if return_state is None else return_state, "return_state"))
    prev = _previous_states(trace, layer, direction, t, sample, initial_state)
    return _Diagram(trace, layer, direction, t, sample, flags, prev).figure


class CellPictures:
    """The cell of one trace, for one sample, drawn at any step t with any flags without drawing it all again.

    The explorer's cell view. The wires, boxes and fixed words are drawn once, as large as fits in
    ``fit`` = ``(width, height)`` pixels; :meth:`pixels` refills what depends on the step and the flags
    (every card's numbers and squares, the titles, the caption, the marks, the value key's numbers) and
    draws only those over the saved pixels. A Bidirectional trace shows its forward layer, as
    :func:`draw_cell` does by default. Arguments are trusted (the explorer checked them).
    """

    def __init__(self, trace, sample: int, t: int, flags: tuple[bool, bool], fit: tuple[int, int]):
        self._trace, self._sample, self._fit = trace, sample, fit
        self._layer = trace.forward if isinstance(trace, BidirectionalTrace) else trace
        self._diagram = self._build(t, flags)

    def _previous(self, t: int) -> dict[str, np.ndarray]:
        return _previous_states(self._trace, self._layer, "forward", t, self._sample, None)

    def _build(self, t: int, flags) -> _Diagram:
        diagram = _Diagram(self._trace, self._layer, "forward", t, self._sample, flags, self._previous(t))
        fit_dpi(diagram.fig, self._fit)
        self._background = background_without(diagram.fig, diagram.dynamic())
        self._steps: dict = {}  # step -> the background with that step's numbers drawn (the last few steps)
        return diagram

    def pixels(self, t: int, flags: tuple[bool, bool]) -> np.ndarray:
        """The cell at step ``t`` marked for ``flags`` = ``(return_sequences, return_state)``: RGBA
        ``(height, width, 4)`` uint8, the pixels :func:`draw_cell` gives at the same resolution.

        The numbers of the last few steps drawn are kept, so a flag flip draws only the caption and the marks."""
        diagram = self._diagram
        if (t, flags) != (diagram.t, diagram.flags) and not diagram.refill(t, flags, self._previous(t)):
            diagram = self._diagram = self._build(t, flags)  # another gate colour scale: another layout
        fig = diagram.fig
        if t not in self._steps:
            paste_and_draw(fig, self._background, diagram.with_step())
            self._steps[t] = fig.canvas.copy_from_bbox(fig.bbox)
            while len(self._steps) > _STEPS_KEPT:
                self._steps.pop(next(iter(self._steps)))
        paste_and_draw(fig, self._steps[t], diagram.with_flags())
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    @property
    def alt_text(self) -> str:
        """The text alternative of the step and flags drawn last."""
        return self._diagram.fig.alt_text


def _previous_states(trace, layer: Trace, direction: str, t: int, sample: int, initial_state) -> dict[str, np.ndarray]:
    """h_prev (and c_prev) of ``sample`` at step ``t``, each ``(units,)``."""
    names = ("h", "c") if layer.c is not None else ("h",)
    if t > 0:
        prev = {"h": layer.h[sample, t - 1]}
        if layer.c is not None:
            prev["c"] = layer.c[sample, t - 1]
        return prev
    bidirectional = isinstance(trace, BidirectionalTrace)
    count = len(names) * (2 if bidirectional else 1)
    states = _checks.states(initial_state, count, trace.batch, trace.units, trace.kind)
    if states is None:
        prev = {n: np.zeros(layer.units, np.float32) for n in names}
        _check_zero_start(layer, sample, prev)
        return prev
    if bidirectional:
        states = states[: len(names)] if direction == "forward" else states[len(names):]
    return {n: s[sample] for n, s in zip(names, states, strict=True)}


def _check_zero_start(layer: Trace, sample: int, prev: dict[str, np.ndarray]) -> None:
    """Where step 0's numbers show the layer did not start from zeros, say so (LSTM and GRU can tell)."""
    g = {k: v[sample, 0] for k, v in layer.gates.items()}
    masked = layer.mask is not None and not layer.mask[sample, layer.input_steps[0]]
    if masked:
        expected = {"h": prev["h"], **({"c": prev["c"]} if "c" in prev else {})}
    elif layer.kind == "LSTM":
        expected = {"c": g["forget"] * prev["c"] + g["input"] * g["candidate"]}
    elif layer.kind == "GRU":
        expected = {"h": g["update"] * prev["h"] + (1 - g["update"]) * g["candidate"]}
    else:
        return  # a SimpleRNN's first step cannot tell its initial state apart
    got = {"h": layer.h[sample, 0], "c": None if layer.c is None else layer.c[sample, 0]}
    for name, value in expected.items():
        if not np.allclose(got[name], value, atol=1e-4):
            raise ValueError(
                f"initial_state: at t=0 the trace's {name} does not follow from a zero initial state, so this layer "
                "started from other states. Pass the same initial_state you gave rnnviz.trace, "
                "e.g. draw_cell(tr, 0, initial_state=[h0, c0])."
            )


# -- what Keras returns ------------------------------------------------------------------------
def _returned(trace, layer: Trace, direction: str, t: int, sample: int, rs: bool, rst: bool) -> dict[str, list[str]]:
    """For these flags, how Keras returns this step's h and c: ``{"h": [labels], "c": [labels]}``.

    Every label is built from the names and shapes of ``trace.returns(rs, rst)``. At a masked
    step the returned sequence may hold zeros instead of h: then that row is not listed.
    """
    shapes = {name: tuple(arr.shape) for name, arr in trace.returns(rs, rst)}
    last = t == layer.timesteps - 1
    # With return_sequences, the row of a masked step may hold zeros rather than this h: then h is not returned.
    h_out = (not _masked_row_differs(trace, layer, t, sample)) if rs else last
    out = {"h": [], "c": []}
    if isinstance(trace, BidirectionalTrace):
        units, row = trace.units, (t if direction == "forward" else trace.timesteps - 1 - t)
        name = "output" if "output" in shapes else f"{direction}_output"
        cols = ""
        if name == "output" and trace.merge_mode == "concat":
            cols = f", :{units}" if direction == "forward" else f", {units}:"
        if h_out:
            index = f"[:, {row}{cols}]" if rs else (f"[:{cols}]" if cols else "")
            merged = {"sum": "summed with", "mul": "multiplied by", "ave": "averaged with"}.get(trace.merge_mode)
            other = "backward" if direction == "forward" else "forward"
            text = f"{name}{index} of {name} {shapes[name]}" if index else f"{name} {shapes[name]}"
            if name == "output" and merged:
                text = f"{name}{index} {shapes[name]}, {merged} the {other} h" if rs else \
                    f"{name} {shapes[name]}, {merged} the {other} h"
            out["h"].append(text)
        if rst and last:
            for state in ("h", "c"):
                key = f"{direction}_{state}"
                if key in shapes:
                    out[state].append(f"{key} {shapes[key]}")
        return out
    if rs and h_out:
        out["h"].append(f"output[:, {t}] of output {shapes['output']}")
    elif h_out:
        out["h"].append(f"output {shapes['output']}")
    if rst and last:
        for state in ("h", "c"):
            if f"state_{state}" in shapes:
                out[state].append(f"state_{state} {shapes[f'state_{state}']}")
    return out


def _masked_row_differs(trace, layer: Trace, t: int, sample: int) -> bool:
    """Whether the returned sequence's row for step t differs from h there (masked steps output zeros)."""
    zero = True if isinstance(trace, BidirectionalTrace) else layer.zero_output_for_mask
    return not np.array_equal(layer._outputs(zero)[sample, t], layer.h[sample, t])


def _caption(trace, layer: Trace, direction: str, t: int, sample: int, flags) -> str:
    last = t == layer.timesteps - 1
    where = f"At t={t} (the last step read)" if last else f"At t={t}"
    has_c = layer.c is not None
    if flags is not None:
        got = _returned(trace, layer, direction, t, sample, *flags)
        said = f"With return_sequences={flags[0]}, return_state={flags[1]}: "
        parts = []
        if got["h"]:
            parts.append("this h as " + " and ".join(got["h"]))
        if got["c"]:
            parts.append("this c as " + " and ".join(got["c"]))
        if parts:
            text = said + f"{where.lower()[0]}{where[1:]}, Keras returns " + "; ".join(parts) + " (framed)."
        else:
            text = said + f"Keras returns nothing computed at t={t}"
            text += "; it returns the last step's values." if not flags[0] else "."
    else:
        rows = _returned(trace, layer, direction, t, sample, True, False)["h"]
        end = _returned(trace, layer, direction, t, sample, False, True) if last else {"h": [], "c": []}
        ways = [f"as {end['h'][0]} (return_sequences=False)"] if last else []
        if rows:
            ways.append(f"as {rows[0]} (return_sequences=True)")
        if last:
            ways.append(f"as {end['h'][1]} (return_state=True)")
        if not ways:
            text = f"{where}, Keras does not return this h (its output row at this masked step holds zeros)"
        elif last:
            text = f"{where}, Keras returns this h " + ", ".join(ways[:-1]) + " and " + ways[-1]
        else:
            text = f"{where}, Keras returns this h only with return_sequences=True, " + ways[0]
        if has_c and last:
            text += f"; this c only as {end['c'][0]} (return_state=True)"
        elif has_c:
            name = "state_c" if isinstance(trace, Trace) else f"{direction}_c"
            shape = dict((n, tuple(v.shape)) for n, v in trace.returns(False, True))[name]
            text += f"; it never returns this c (return_state=True gives only the last step's c, as {name} {shape})"
        text += ". Pass return_sequences=..., return_state=... to frame them." if last else "."
    if layer.mask is not None and not layer.mask[sample, layer.input_steps[t]]:
        text += f" This step is masked for sample {sample}: the state is carried over unchanged."
    return text


# -- drawing -----------------------------------------------------------------------------------
class _Diagram:
    """Builds the figure; ``self.figure`` is the result.

    :meth:`refill` redraws it for another step (and flags) in place: the wires, boxes and words that do not
    depend on the step stay; every card's numbers, squares and step-dependent title, the title lines, the
    caption, the marks and the colour key's numbers change. ``dynamic()`` lists the artists that change.
    """

    def __init__(self, trace, layer: Trace, direction: str, t: int, sample: int, flags, prev):
        self.trace, self.layer, self.sample = trace, layer, sample
        self.direction = direction
        self.kind, units = layer.kind, layer.units
        width = {"LSTM": 16.3, "GRU": 16.3, "SimpleRNN": 12.6}[self.kind]
        self.W = width
        fig = StatesFigure(figsize=(width, _H), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(0, _H)
        ax.axis("off")
        self.fig, self.ax = fig, ax
        self.frames: dict[str, Rectangle] = {}
        self.marks: list = []  # the frames and their "Keras returns it as" words
        self.cards: dict[str, dict] = {}  # key -> {"title": Text, "value": Text, "squares": [Rectangle], "scale": ...}
        self._refilling = False
        self.maps = {"value": colormaps[DIVERGING], "gate": colormaps[GATE_MAP]}
        g = self._step(t, flags, prev)
        self.built_gate_scale = self.gate_scale

        self.heading = ax.text(0.3, _H - 0.3, "", fontsize=FONT["title"], fontweight="bold", va="top", ha="left")
        self.subheading = ax.text(0.3, _H - 0.78, "", fontsize=FONT["note"], va="top", ha="left", color="#333333")
        self.caption = ax.text(0.3, 0.2, "", fontsize=FONT["note"], va="bottom", ha="left", linespacing=1.35,
                               gid="caption")
        self._draw_kind(g, prev)
        self.key_ticks = self._legend(units)
        self._words()
        self.figure = fig

    def _step(self, t: int, flags, prev) -> dict[str, np.ndarray]:
        """Set the step, flags, previous and new states and colour scales; return the gates' values at ``t``."""
        layer, sample = self.layer, self.sample
        self.t, self.flags, self.prev = t, flags, prev
        g = {name: values[sample, t] for name, values in layer.gates.items()}
        self.state_now = {"h": layer.h[sample, t]}
        if layer.c is not None:
            self.state_now["c"] = layer.c[sample, t]
        diverging = [*prev.values(), *self.state_now.values(), g.get("candidate", np.zeros(1))]
        top = max(1.0, float(np.max(np.abs(np.concatenate(diverging)))))
        self.norms = {"value": Normalize(-top, top), "gate": Normalize(0, 1)}
        gate_values = [v for k, v in g.items() if k != "candidate"]
        # Gates share a 0..1 scale when they are in [0, 1] (sigmoid and hard sigmoid); else the diverging one.
        in_unit = all(((v >= 0) & (v <= 1)).all() for v in gate_values)
        self.gate_scale = "gate" if in_unit else "value"
        return g

    def _draw_kind(self, g, prev) -> None:
        read = int(self.layer.input_steps[self.t])
        x_vec = _Vector("x", f"$x_t$ = x[{self.sample}, {read}]", self.layer.x[self.sample, read], None)
        {"LSTM": self._lstm, "GRU": self._gru, "SimpleRNN": self._simple}[self.kind](g, prev, x_vec)

    def _words(self) -> None:
        """The title lines, the caption, the marks and the alt text for the current step and flags."""
        trace, layer, t, sample = self.trace, self.layer, self.t, self.sample
        units, direction = layer.units, self.direction
        bidirectional = isinstance(trace, BidirectionalTrace)
        what = f"Bidirectional({self.kind}({units})), {direction} layer:" if bidirectional else f"{self.kind}({units})"
        self.heading.set_text(f"{what} cell at t={t} (sample {sample} of {trace.batch})")
        read = int(layer.input_steps[t])
        sub = f"step t={t} reads timestep {read} of x"
        if read != t:
            sub += " (this layer reads the input last timestep first)"
        self.subheading.set_text(sub)
        caption = _caption(trace, layer, direction, t, sample, self.flags)
        self.caption.set_text(_wrap_caption(caption, 112 if self.W > 13 else 86))
        for artist in self.marks:
            artist.remove()
        self.marks, self.frames = [], {}
        self._mark()
        self.fig.alt_text = self._alt_text(what, caption)

    def refill(self, t: int, flags, prev) -> bool:
        """Show step ``t`` with ``flags`` (``prev``: h_prev and c_prev at ``t``) on the same figure.

        Returns False, changing nothing, when step t needs another layout (its gates leave [0, 1], so the
        gate colour key would change): draw that step afresh.
        """
        saved = (self.t, self.flags, self.prev)
        g = self._step(t, flags, prev)
        if self.gate_scale != self.built_gate_scale:
            self._step(*saved)
            return False
        self._refilling = True
        try:
            self._draw_kind(g, prev)
        finally:
            self._refilling = False
        top = self.norms["value"].vmax
        for text, value in zip(self.key_ticks, [-top, 0, top], strict=True):
            text.set_text("0" if value == 0 else f"{value:.2f}")
        self._words()
        return True

    def dynamic(self) -> list:
        """The artists that change with the step or the flags, in drawing order."""
        return self.with_step() + self.with_flags()

    def with_step(self) -> list:
        """The artists that change with the step alone (numbers, squares, step titles), in drawing order."""
        artists = [self.heading, self.subheading, *self.key_ticks]
        for key, card in self.cards.items():
            steps_title = not key.startswith("gate:")  # "h_prev = h at t=2", "x_t = x[0, 3]", "(t=3)"
            artists += [*([card["title"]] if steps_title else []), card["value"], *card["squares"]]
        return sorted(artists, key=lambda a: a.get_zorder())

    def with_flags(self) -> list:
        """The artists that change with the flags (and the step): the caption and the marks, in drawing order."""
        return sorted([self.caption, *self.marks], key=lambda a: a.get_zorder())

    # -- primitives ----------------------------------------------------------------------------
    def _wire(self, points, arrow: bool = True, z: float = 1.0) -> None:
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
        patch = FancyArrowPatch(path=Path(points, codes), arrowstyle="-|>" if arrow else "-",
                                mutation_scale=16, lw=1.8, color=WIRE, zorder=z, joinstyle="miter")
        self.ax.add_artist(patch)

    def _box(self, x: float, y: float, label: str, fill: str, w: float = _BOX_W) -> None:
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        self.ax.add_artist(FancyBboxPatch((x - w / 2, y - _BOX_H / 2), w, _BOX_H, boxstyle="round,pad=0.02,rounding_size=0.08",
                                         facecolor=fill, edgecolor="#000000", lw=1.6, zorder=3))
        self.ax.text(x, y, label, fontsize=FONT["label"], ha="center", va="center", zorder=4)

    def _node(self, x: float, y: float, op: str) -> None:
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        self.ax.add_artist(Circle((x, y), _NODE_R, facecolor="white", edgecolor="#000000", lw=1.6, zorder=3))
        if op == "mul":  # ⊙, drawn rather than typed so that no font can drop it
            self.ax.add_artist(Circle((x, y), 0.045, facecolor="#000000", zorder=4))
        else:
            self.ax.text(x, y, {"add": "+", "one_minus": "1−"}[op], fontsize=FONT["tick"] if op == "one_minus" else 17,
                         fontweight="bold", ha="center", va="center_baseline", zorder=4)

    def _dot(self, x: float, y: float) -> None:
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        self.ax.add_artist(Circle((x, y), 0.055, facecolor=WIRE, edgecolor="none", zorder=2))

    def _card(self, vec: _Vector, x: float, y_top: float) -> None:
        """Title, numbers and squares of one vector, left-aligned at ``x`` below ``y_top`` (updated when refilling)."""
        ax, values = self.ax, np.asarray(vec.values, dtype=np.float64)
        shown = [_number(v) for v in values[:MAX_NUMBERS]]
        lines = ["  ".join(shown[i:i + NUMBERS_PER_LINE]) for i in range(0, len(shown), NUMBERS_PER_LINE)]
        if len(values) > MAX_NUMBERS:
            lines[-1] += "  …"
        scale = self.gate_scale if vec.key.startswith("gate:") and vec.key != "gate:candidate" else vec.scale
        colours = self.maps[scale](self.norms[scale](values)) if vec.scale is not None else []  # one call per card
        if self._refilling:
            card = self.cards[vec.key]
            card["title"].set_text(vec.title)
            card["value"].set_text("\n".join(lines))
            for square, colour in zip(card["squares"], colours, strict=True):
                square.set_facecolor(colour)
            return
        card = {"squares": []}
        card["title"] = ax.text(x, y_top, vec.title, fontsize=FONT["tick"], fontweight="bold", va="top", ha="left",
                                gid=f"title:{vec.key}")
        y = y_top - _LINE - 0.02
        card["value"] = ax.text(x, y, "\n".join(lines), fontsize=FONT["tick"] - 1, va="top", ha="left",
                                linespacing=1.2, family="DejaVu Sans Mono", gid=f"value:{vec.key}")
        self.cards[vec.key] = card
        y -= len(lines) * 0.235 + 0.06
        side = min(0.2, _STRIP / len(values))
        for u, colour in enumerate(colours):
            card["squares"].append(ax.add_artist(Rectangle((x + u * side, y - side), side, side, facecolor=colour,
                                                           edgecolor="#555555", lw=0.6, zorder=3,
                                                           gid=f"square:{vec.key}:{u}")))

    def _note(self, *args, **kwargs) -> None:
        """A fixed word on the diagram (``ax.text`` arguments), drawn once: refilling leaves it."""
        if not self._refilling:
            self.ax.text(*args, **kwargs)

    def _frame_box(self, key: str) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in inches around the texts and squares of one card."""
        renderer = self.fig.canvas.get_renderer()
        card = self.cards[key]
        boxes = [a.get_window_extent(renderer) for a in (card["title"], card["value"], *card["squares"])]
        dpi = self.fig.dpi
        x0, y0 = min(b.x0 for b in boxes) / dpi, min(b.y0 for b in boxes) / dpi
        x1, y1 = max(b.x1 for b in boxes) / dpi, max(b.y1 for b in boxes) / dpi
        return x0, y0, x1, y1

    def _vector(self, key: str, title: str, values, scale: str = "value") -> _Vector:
        return _Vector(key, title, values, scale)

    # -- the three cells -----------------------------------------------------------------------
    def _inputs_bottom(self, x0: float, bus: float, x_at: float, prev, x_vec) -> None:
        """h_prev from the left along the bus, x_t from below; their cards."""
        self._wire([(0.3, bus), (x_at, bus)], arrow=False)
        self._wire([(x_at, 1.55), (x_at, bus)], arrow=False)
        self._dot(x_at, bus)
        self._card(self._vector("state:h_prev", _prev_title("h", self.t), prev["h"]), 0.3, bus + 1.12)
        self._card(x_vec, x_at + 0.2, 2.12)

    def _lstm(self, g, prev, x_vec) -> None:
        cx0, cx1, cy0, cy1 = 2.35, 12.5, 2.3, 7.55
        top, bus, gy, my = 6.95, 2.85, 4.15, 5.5
        self._cell(cx0, cx1, cy0, cy1)
        cols = {"forget": 3.05, "input": 5.5, "candidate": 7.95, "output": 10.4}
        titles = {"forget": "f  forget gate", "input": "i  input gate", "candidate": r"$\tilde{c}$  candidate",
                  "output": "o  output gate"}
        self._inputs_bottom(cx0, bus, 2.75, prev, x_vec)
        self._wire([(2.75, bus), (cols["output"], bus)], arrow=False)
        for name, x in cols.items():
            self._wire([(x, bus), (x, gy - _BOX_H / 2)])
            self._box(x, gy, "tanh" if name == "candidate" else "σ", TANH_FILL if name == "candidate" else SIGMA_FILL)
            self._card(self._vector(f"gate:{name}", titles[name], g[name]), x + _BOX_W / 2 + 0.12, gy + 0.5)
        # the c line: c_prev ⊙ f, + i ⊙ c~, out as c
        mul_i, tanh_c, mul_o, split = 6.72, cols["output"], cols["output"], 12.0
        self._wire([(0.3, top), (cols["forget"] - _NODE_R, top)])
        self._wire([(cols["forget"] + _NODE_R, top), (mul_i - _NODE_R, top)])
        self._wire([(mul_i + _NODE_R, top), (self.W - 0.3, top)])
        self._node(cols["forget"], top, "mul")
        self._node(mul_i, top, "add")
        self._wire([(cols["forget"], gy + _BOX_H / 2), (cols["forget"], top - _NODE_R)])
        self._wire([(cols["input"], gy + _BOX_H / 2), (cols["input"], my), (mul_i - _NODE_R, my)])
        self._wire([(cols["candidate"], gy + _BOX_H / 2), (cols["candidate"], my), (mul_i + _NODE_R, my)])
        self._node(mul_i, my, "mul")
        self._wire([(mul_i, my + _NODE_R), (mul_i, top - _NODE_R)])
        # h = o ⊙ tanh(c), leaving right (to the next step) and up (the layer's output)
        self._dot(tanh_c, top)
        self._wire([(tanh_c, top), (tanh_c, 6.2 + _BOX_H / 2 - 0.04)])
        self._box(tanh_c, 6.2 - 0.04, "tanh", POINTWISE_FILL, w=0.8)
        self._wire([(tanh_c, 6.2 - _BOX_H / 2 - 0.04), (mul_o, my + _NODE_R)])
        self._wire([(cols["output"], gy + _BOX_H / 2), (mul_o, my - _NODE_R)])
        self._node(mul_o, my, "mul")
        self._wire([(mul_o + _NODE_R, my), (self.W - 0.3, my)])
        self._dot(split, my)
        self._wire([(split, my), (split, cy1 + 0.55)], z=1.5)
        self._gap(split, top)
        self._note(split, cy1 + 0.6, "h (output)", fontsize=FONT["note"], ha="center", va="bottom")
        self._card(self._vector("state:c_prev", _prev_title("c", self.t), prev["c"]), 0.3, top + 1.1)
        self._card(self._vector("state:c", f"c  new cell state (t={self.t})", self.state_now["c"]), _OUT_X, top + 1.1)
        self._card(self._vector("state:h", f"h  new hidden state (t={self.t})", self.state_now["h"]), _OUT_X, my - 0.2)
        self._next_step(my)
        self._next_step(top, below=True)

    def _gru(self, g, prev, x_vec) -> None:
        cx0, cx1, cy0, cy1 = 2.35, 12.2, 2.3, 7.55
        top, bus, gy, my, zy = 6.95, 2.85, 4.15, 5.35, 6.05
        self._cell(cx0, cx1, cy0, cy1)
        zx, rx, mul_r, hx = 3.5, 6.0, 8.55, 9.55
        # h_prev along the top line, and down into the bus with x_t
        self._wire([(0.3, top), (zx - _NODE_R, top)])
        self._dot(2.75, top)
        self._wire([(2.75, top), (2.75, bus), (mul_r, bus)], arrow=False)
        self._wire([(3.05, 1.55), (3.05, bus)], arrow=False)
        self._dot(3.05, bus)
        self._card(x_vec, 3.25, 2.12)
        self._card(self._vector("state:h_prev", _prev_title("h", self.t), prev["h"]), 0.3, top + 1.1)
        for x, label, fill in ((zx, "σ", SIGMA_FILL), (rx, "σ", SIGMA_FILL), (hx, "tanh", TANH_FILL)):
            self._wire([(x, bus), (x, gy - _BOX_H / 2)])
            self._box(x, gy, label, fill)
        titles = {"update": "z  update gate", "reset": "r  reset gate", "candidate": r"$\tilde{h}$  candidate"}
        for name, x in (("update", zx), ("reset", rx), ("candidate", hx)):
            self._card(self._vector(f"gate:{name}", titles[name], g[name]), x + _BOX_W / 2 + 0.12, gy + 0.5)
        # r ⊙ (h_prev U_h + b): Keras 3's reset_after=True form, into the candidate
        self._wire([(mul_r, bus), (mul_r, gy - _NODE_R)])
        self._dot(mul_r, bus)
        self._note(mul_r - 0.12, bus + 0.22, r"$h_{prev}U_h + b$", fontsize=FONT["tick"] - 1, ha="right", va="bottom")
        self._wire([(rx, gy + _BOX_H / 2), (rx, my), (mul_r, my), (mul_r, gy + _NODE_R)])
        self._node(mul_r, gy, "mul")
        self._wire([(mul_r + _NODE_R, gy), (hx - _BOX_W / 2, gy)])
        # h = z ⊙ h_prev + (1 − z) ⊙ h~
        self._node(zx, top, "mul")
        self._wire([(zx, gy + _BOX_H / 2), (zx, top - _NODE_R)])
        self._dot(zx, zy)
        one = 6.9
        self._wire([(zx, zy), (one - _NODE_R, zy)])
        self._node(one, zy, "one_minus")
        self._wire([(one + _NODE_R, zy), (hx - _NODE_R, zy)])
        self._node(hx, zy, "mul")
        self._wire([(hx, gy + _BOX_H / 2), (hx, zy - _NODE_R)])
        self._wire([(zx + _NODE_R, top), (hx - _NODE_R, top)])
        self._node(hx, top, "add")
        self._wire([(hx, zy + _NODE_R), (hx, top - _NODE_R)])
        split = 11.75
        self._wire([(hx + _NODE_R, top), (self.W - 0.3, top)])
        self._dot(split, top)
        self._wire([(split, top), (split, cy1 + 0.55)])
        self._note(split, cy1 + 0.6, "h (output)", fontsize=FONT["note"], ha="center", va="bottom")
        self._card(self._vector("state:h", f"h  new hidden state (t={self.t})", self.state_now["h"]), _OUT_X, top - 0.2)
        self._next_step(top)
        self._note(cx1 - 0.1, cy0 + 0.08, "reset_after=True (Keras 3's default): r scales $h_{prev}U_h + b$;\n"
                     "with reset_after=False, r scales $h_{prev}$ before $U_h$. Same z, r, $\\tilde{h}$, h either way.",
                     fontsize=FONT["tick"] - 2, ha="right", va="bottom", color="#444444", linespacing=1.3)

    def _simple(self, g, prev, x_vec) -> None:
        cx0, cx1, cy0, cy1 = 2.35, 8.6, 2.3, 7.55
        bus, gy = 2.85, 4.8
        self._cell(cx0, cx1, cy0, cy1)
        ax = 5.0
        self._inputs_bottom(cx0, bus, 2.75, prev, x_vec)
        self._wire([(2.75, bus), (ax, bus), (ax, gy - _BOX_H / 2)])
        self._box(ax, gy, "tanh", TANH_FILL, w=0.8)
        self._note(ax + 0.55, gy, r"$h = \tanh(x_t W + h_{prev} U + b)$", fontsize=FONT["tick"], ha="left", va="center")
        self._note(ax + 0.55, gy - 0.4, "(or the layer's activation)", fontsize=FONT["tick"] - 2, ha="left", va="center",
                     color="#444444")
        split, out = 8.1, 6.3
        self._wire([(ax, gy + _BOX_H / 2), (ax, out), (split, out)], arrow=False)
        self._dot(split, out)
        self._wire([(split, out), (split, cy1 + 0.55)])
        self._note(split, cy1 + 0.6, "h (output)", fontsize=FONT["note"], ha="center", va="bottom")
        self._wire([(split, out), (self.W - 0.3, out)])
        self._card(self._vector("state:h", f"h  new hidden state (t={self.t})", self.state_now["h"]), 9.05, out - 0.2)
        self._next_step(out)

    def _next_step(self, y: float, below: bool = False) -> None:
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        self.ax.text(self.W - 0.3, y - 0.1 if below else y + 0.08, "to step t+1", fontsize=FONT["tick"] - 2,
                     ha="right", va="top" if below else "bottom", color="#444444", style="italic")

    def _cell(self, x0: float, x1: float, y0: float, y1: float) -> None:
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        self.ax.add_artist(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.3",
                                         facecolor=CELL_FILL, edgecolor=CELL_EDGE, lw=1.5, zorder=0))

    def _gap(self, x: float, y: float) -> None:
        """A small gap in a vertical wire where it crosses a horizontal one (the c line stays on top)."""
        if self._refilling:  # drawn once; refill changes only what depends on the step
            return
        self.ax.add_artist(Rectangle((x - 0.06, y - 0.1), 0.12, 0.2, facecolor=CELL_FILL, edgecolor="none", zorder=1.7))
        self.ax.plot([x - 0.08, x + 0.08], [y, y], color=WIRE, lw=1.8, zorder=1.8, solid_capstyle="butt")

    # -- legend, marks, words ------------------------------------------------------------------
    def _legend(self, units: int) -> list:
        """The colour keys and the note on squares; returns the value key's three tick labels (they follow the step)."""
        W = self.W
        value_ticks = []
        bars = [("value", "h, c, candidate: value (0 = white)")]
        if self.layer.gates and self.gate_scale == "gate":
            bars.insert(0, ("gate", "gates (σ): 0 = shut, 1 = open"))
        width = 2.6
        for i, (scale, label) in enumerate(bars):
            left = W - 0.35 - width - i * (width + 0.5)
            top = self.norms[scale].vmax
            ticks = [0, 0.5, 1] if scale == "gate" else [-top, 0, top]
            texts = colour_key(self.ax, (left, 1.55, width, 0.16), self.maps[scale], self.norms[scale], ticks,
                               [f"{v:g}" if scale == "gate" or v == 0 else f"{v:.2f}" for v in ticks], label,
                               FONT["tick"] - 2)
            if scale == "value":
                value_ticks = texts
        note = f"Squares: one per unit, unit 0 on the left ({units} unit{'s' if units != 1 else ''})."
        if units > MAX_NUMBERS:
            note = (f"Numbers: units 0–{MAX_NUMBERS - 1} of {units}, then …; "
                    f"squares: all {units} units, unit 0 on the left.")
        self.ax.text(W - 0.35, 1.02, note, fontsize=FONT["tick"] - 2, ha="right", va="top", color="#333333")
        return value_ticks

    def _mark(self) -> None:
        if self.flags is None:
            return
        got = _returned(self.trace, self.layer, self.direction, self.t, self.sample, *self.flags)
        for state, labels in got.items():
            if not labels:
                continue
            x0, y0, x1, y1 = self._frame_box(f"state:{state}")
            pad = 0.1
            frame = Rectangle((x0 - pad, y0 - pad), x1 - x0 + 2 * pad, y1 - y0 + 2 * pad, facecolor="none",
                              edgecolor="#000000", lw=4, zorder=6, gid=f"frame:{state}")
            self.ax.add_artist(frame)
            self.frames[state] = frame
            self.marks.append(frame)
            text = "Keras returns it as\n" + "\n".join("• " + _wrap(label) for label in labels)
            # c's card sits above the c line: its label goes above the frame; h's cards sit below their line.
            below = state == "h"
            self.marks.append(self.ax.text(x0 - pad, y0 - pad - 0.08 if below else y1 + pad + 0.08, text,
                                           fontsize=FONT["tick"] - 1, ha="left", va="top" if below else "bottom",
                                           gid=f"returned:{state}", linespacing=1.25))

    def _alt_text(self, what: str, caption: str) -> str:
        gates = ", ".join(f"{name} gate" for name in self.layer.gates if name != "candidate")
        parts = [f"Diagram of the {what} cell at t={self.t} for sample {self.sample}: x_t and h_prev come in"
                 + (", c_prev runs along the top" if self.layer.c is not None else "")
                 + (f"; {gates} (σ boxes) and a tanh candidate" if gates else "; one tanh box")
                 + " produce the new state."]
        for state, values in self.state_now.items():
            parts.append(f"{state} at t={self.t}: [{', '.join(_number(v).strip() for v in values)}].")
        parts.append(caption)
        return " ".join(parts)


def _wrap(label: str, width: int = 32) -> str:
    """Break a long returned-tensor label before its " of ..." or its merge note."""
    if len(label) <= width:
        return label
    for sep in (" of ", "), "):
        if sep in label:
            head, tail = label.split(sep, 1)
            return f"{head}{sep.rstrip()}\n    {tail}" if sep == "), " else f"{head}\n    of {tail}"
    return label


def _wrap_caption(text: str, width: int) -> str:
    """Wrap at spaces, but never inside brackets or parentheses, e.g. ``output[:, 2]`` or ``(1, 3, 2)``."""
    depth, chars = 0, []
    for ch in text:
        depth += ch in "[("
        depth -= ch in "])"
        chars.append("\u00a0" if ch == " " and depth > 0 else ch)
    lines = textwrap.wrap("".join(chars), width, break_on_hyphens=False, break_long_words=False)
    return "\n".join(lines).replace("\u00a0", " ")


def _prev_title(state: str, t: int) -> str:
    if t == 0:
        return f"{state}$_{{prev}}$ = {state}0 (initial)"
    return f"{state}$_{{prev}}$ = {state} at t={t - 1}"


def _number(v: float) -> str:
    """Two decimals with a true minus sign (a space for a plus); ``-0.00`` reads as ``0.00``."""
    text = f"{float(v): .2f}"  # a space where the minus sign would be, so that columns line up
    return " 0.00" if text == "-0.00" else text.replace("-", "−")
