"""Draw a ConvLSTM's h and c as small images, one per timestep, with what Keras returns framed.

:func:`plot_conv_states` takes a :class:`~rnnviz.conv_trace.ConvTrace` (channels-last arrays) and
draws one row for h and one for c, one column per timestep in input order. It is one call over a
:class:`ConvStatesView`, which draws into a given figure (of a fixed size, for the explorer) and
re-marks itself for new flags (:meth:`ConvStatesView.update`) without drawing the images again. Each image is one
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
from .plot import MARK_EDGE, STEP_COLOUR, prepare_figure

__all__ = ["ConvStatesView", "plot_conv_states"]

_TEXT = {"title": 15, "label": 13, "col": 11, "mark": 12, "note": 9}
# In a figure of a fixed size (the explorer's, at a low dpi): larger text, rows closer, images up to this side.
_TEXT_FIXED = {"title": 18, "label": 16, "col": 14, "mark": 15, "note": 12}
_GAP_FIXED, _BOTTOM_FIXED, _MAX_CELL, _LEFT_FIXED = 0.8, 0.6, 1.9, 2.1
_NOTE_CELL = 0.75  # inches: below this image side the words "not returned" do not fit (the faded, dashed frame says it)
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
    view = ConvStatesView(trace, sample, filter)
    view.update(return_sequences, return_state)
    return view.figure


class ConvStatesView:
    """A figure of a ConvLSTM's h and c as images, one column per timestep, that re-marks itself for new flags.

    * ``trace``: a :class:`~rnnviz.conv_trace.ConvTrace` (``h``, ``c`` ``(batch, timesteps, *out_spatial,
      filters)``); only filter ``filter`` of sample ``sample`` is drawn.
    * ``figure``: a Figure to draw into (cleared, and resized only if its size differs), or ``None`` for a new one.
    * ``header``: whether to write the flags and what Keras returns under the title.
    * ``size``: ``(width, height)`` in inches to fit the images into, or ``None`` to size the figure by them.

    Arguments are trusted (check them at the public entry point, as :func:`plot_conv_states` does). After
    construction, :meth:`update` marks what Keras returns, :meth:`set_t` outlines a timestep and :meth:`render`
    brings the canvas's pixels up to date; :attr:`marks` (returned name -> ``(state, [timesteps])``) and
    :attr:`labels` (``"h"``, ``"c"`` -> the text under that row) say what is marked.
    """

    def __init__(self, trace: ConvTrace, sample: int = 0, filter: int = 0,  # noqa: A002
                 figure: Figure | None = None, header: bool = True, dpi: float = 100,
                 size: tuple[float, float] | None = None):
        self.trace, self.sample, self.filter = trace, sample, filter
        self.return_sequences: bool | None = None
        self.return_state: bool | None = None
        self.t: int | None = None
        self.marks: dict[str, tuple[str, list[int]]] = {}
        self._header = header
        self._text = _TEXT if size is None else _TEXT_FIXED
        gap, low = (_GAP, _BOTTOM) if size is None else (_GAP_FIXED, _BOTTOM_FIXED)
        steps, rank = trace.timesteps, trace.rank
        order = trace.input_steps.argsort()  # input timestep -> processed step
        self._last = 0 if trace.go_backwards else steps - 1  # input timestep of the final state
        self.images = {s: [_image(getattr(trace, s)[sample, order[t], ..., filter]) for t in range(steps)]
                       for s in ("h", "c")}
        top = float(max(np.abs(np.stack(self.images["h"] + self.images["c"])).max(), 1e-6))
        self.norm = Normalize(-top, top)
        rows, cols = self.images["h"][0].shape

        # The layout in inches: room for the title, the caption (its longest form, for any flags), two rows of
        # images with the words under each row, and the colour bar on the right.
        natural = float(np.clip(11.0 / steps, 0.55, 1.3))
        width = (_LEFT + steps * natural + (steps - 1) * _SPACE + _RIGHT) if size is None else size[0]
        self._width = width
        self._title = self._title_lines(width)
        self._caption_lines = max(len(self._caption(rs, rst)) for rs in (False, True) for rst in (False, True))
        head = (_TOP + 0.3 * (len(self._title) - 1) + 0.28 * (self._caption_lines - 1)) if header else \
            0.5 + 0.3 * len(self._title)
        if size is None:
            cell = natural
            high = cell if rank > 1 else max(0.35, cell * rows / cols)
            height = head + 2 * high + gap + low
        else:
            height = size[1]
            fits_wide = (width - _LEFT_FIXED - _RIGHT - (steps - 1) * _SPACE) / steps
            if fits_wide < _NOTE_CELL:  # room under the h row for a third line, "(faded, dashed frame: ...)"
                gap += 0.25
            fits_high = (height - head - gap - low) / 2
            cell = min(fits_wide, _MAX_CELL if rank > 1 else fits_wide)
            high = min(cell, fits_high) if rank > 1 else min(max(0.35, cell * rows / cols), fits_high)
            cell = high if rank > 1 else cell
        self._cell, self._high, self._head, self._height, self._gap = cell, high, head, height, gap
        self._drop = max(0.0, height - head - 2 * high - gap - low) / 2  # rows centred in a taller fixed figure
        self._span = steps * cell + (steps - 1) * _SPACE  # the width of a row of images
        # A fixed size: the images centred left of the colour bar, which stays at the right edge.
        self._left = _LEFT if size is None else _LEFT_FIXED + max(0.0, (width - _LEFT_FIXED - self._span - _RIGHT) / 2)
        self._notes_fit = size is None or cell >= _NOTE_CELL
        # Column titles "t=k" on every step, or on every n-th (and the step t) when the columns are narrow.
        self._title_every = 1 if size is None else int(np.ceil(0.55 / (cell + _SPACE)))
        figure = prepare_figure(figure, width, height, dpi)
        self.figure = figure
        self._frames: dict = {}
        self._draw_static()

    # -- drawing once -------------------------------------------------------------------------
    def _title_lines(self, width: float) -> list[str]:
        tr = self.trace
        rows, cols = self.images["h"][0].shape
        spatial = {1: f"length {cols}", 2: f"{rows}\u00d7{cols}",
                   3: f"middle depth slice {tr.out_spatial[0] // 2} of {tr.out_spatial[0]}, {rows}\u00d7{cols}"}[tr.rank]
        moved = " (channels-last here)" if tr.data_format == "channels_first" else ""
        return textwrap.wrap(f"{self._layer} on x {tuple(tr.x.shape)}{moved}: filter {self.filter} of sample "
                             f"{self.sample}, {spatial}" + (", read backwards" if tr.go_backwards else ""),
                             width=int((width - 0.4) * 7.2))

    @property
    def _layer(self) -> str:
        return f"{self.trace.kind}({self.trace.filters} filters)"

    def _caption(self, return_sequences: bool, return_state: bool) -> list[str]:
        shapes = {name: tuple(a.shape) for name, a in self.trace.returns(return_sequences, return_state)}
        listed = ", ".join(f"{n} {s}".replace(", ", ",\u00a0") for n, s in shapes.items())  # no break in a shape
        caption = textwrap.wrap(f"return_sequences={return_sequences}, return_state={return_state} \u2192 Keras "
                                f"returns {listed}: framed; faded = not returned", width=int(self._width * 9.5))
        if self.trace.mask is not None:
            caption.append("(masked steps: output repeats the last real step, see trace.outputs)")
        return caption

    def _draw_static(self) -> None:
        fig, tr = self.figure, self.trace
        steps, rank = tr.timesteps, tr.rank
        width, height, cell, high, head = self._width, self._height, self._cell, self._high, self._head
        fig.text(0.2 / width, 1 - 0.2 / height, "\n".join(self._title), fontsize=self._text["title"], fontweight="bold",
                 va="top")
        self._caption_text = fig.text(0.2 / width, 1 - (0.6 + 0.3 * (len(self._title) - 1)) / height, "",
                                      fontsize=self._text["label"], va="top", linespacing=1.4, visible=self._header)
        fig.state_axes = {}
        self._notes: dict[str, list] = {}
        self._col_titles = []
        self._rows = {}
        self._returns_text = {}
        for r, state in enumerate(("h", "c")):
            bottom = height - head - self._drop - (r + 1) * high - r * self._gap
            self._rows[state] = bottom
            axes, notes = [], []
            for t in range(steps):
                left = self._left + t * (cell + _SPACE)
                ax = fig.add_axes((left / width, bottom / height, cell / width, high / height))
                ax.imshow(self.images[state][t], cmap="PuOr_r", norm=self.norm, interpolation="nearest",
                          aspect="equal" if rank > 1 else "auto")
                ax.set_xticks([])
                ax.set_yticks([])
                notes.append(ax.text(0.5, 0.5, "not\nreturned" if rank > 1 else "not returned", transform=ax.transAxes,
                                     ha="center", va="center", fontsize=self._text["note"], style="italic",
                                     color="#333333", linespacing=1.0, visible=False,
                                     bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.85,
                                               edgecolor="none")))
                if r == 0:
                    self._col_titles.append(ax.set_title(f"t={t}", fontsize=self._text["col"], pad=10))
                axes.append(ax)
            fig.state_axes[state] = axes
            self._notes[state] = notes
            fig.text((self._left - 0.25) / width, (bottom + high / 2) / height, f"{state}\n{_WORDS[state]}", ha="right",
                     va="center", fontsize=self._text["label"])
            self._returns_text[state] = fig.text(self._left / width, (bottom - 0.15) / height, "", va="top",
                                                 fontsize=self._text["mark"], gid=f"returns:{state}", linespacing=1.2)
        span = self._span
        self._sequence = fig.add_artist(Rectangle(
            ((self._left - 0.07) / width, (self._rows["h"] - 0.07) / height), (span + 0.14) / width,
            (high + 0.14) / height, transform=fig.transFigure, fill=False, edgecolor=MARK_EDGE, lw=2, visible=False))
        # Step t (the explorer's timestep control): a dashed vermillion outline around each image of that column.
        self._t_bands = [fig.add_artist(Rectangle(
            ((self._left - 0.1) / width, (self._rows[state] - 0.1) / height), (cell + 0.2) / width,
            (high + 0.2) / height, transform=fig.transFigure, fill=False, edgecolor=STEP_COLOUR, lw=2.5,
            linestyle="--", visible=False)) for state in ("h", "c")]
        cax = fig.add_axes(((width - _RIGHT + 0.35) / width, self._rows["c"] / height, 0.18 / width,
                            (2 * high + self._gap) / height))
        bar = fig.colorbar(ScalarMappable(norm=self.norm, cmap="PuOr_r"), cax=cax)
        bar.ax.tick_params(labelsize=self._text["col"])
        bar.set_label(f"value of h and c (filter {self.filter})", fontsize=self._text["col"])
        self.set_t(None)

    @property
    def labels(self) -> dict[str, str]:
        """``"h"``, ``"c"`` -> the text now written under that row (what Keras returns from it)."""
        return {state: text.get_text() for state, text in self._returns_text.items()}

    # -- re-marking -----------------------------------------------------------------------------
    def set_t(self, t: int | None) -> None:
        """Outline timestep ``t`` (input order) in both rows, or nothing for ``None``; draw with :meth:`render`."""
        self.t = t
        steps = len(self._col_titles)
        for k, title in enumerate(self._col_titles):
            title.set(color=STEP_COLOUR if k == t else "#000000", fontweight="bold" if k == t else "normal",
                      visible=k == t or k % self._title_every == 0 and (t is None or abs(k - t) >= self._title_every))
        if steps and t is None and self._title_every > 1:
            self._col_titles[-1].set_visible(True)
        for band in self._t_bands:
            band.set_visible(t is not None)
            if t is not None:
                band.set_x((self._left - 0.1 + t * (self._cell + _SPACE)) / self._width)

    def update(self, return_sequences: bool = False, return_state: bool = False) -> None:
        """Mark what Keras returns for these flags: frames, fading and the words under each row; nothing is
        recomputed. Draw the canvas afterwards (:meth:`render`, or ``figure.canvas.draw()``)."""
        self.return_sequences, self.return_state = return_sequences, return_state
        tr, steps, last, fig = self.trace, self.trace.timesteps, self._last, self.figure
        shapes = {name: tuple(a.shape) for name, a in tr.returns(return_sequences, return_state)}
        marks = {"output": ("h", list(range(steps)) if return_sequences else [last])}
        if return_state:
            marks.update({"state_h": ("h", [last]), "state_c": ("c", [last])})
        self.marks = marks
        self._caption_text.set_text("\n".join(self._caption(return_sequences, return_state)))
        for state in ("h", "c"):
            framed = {t for name, (s, ts) in marks.items() if s == state for t in ts}
            for t, ax in enumerate(fig.state_axes[state]):
                ax.images[0].set_alpha(1.0 if t in framed else _FADE)
                for spine in ax.spines.values():
                    spine.set(linewidth=4 if t in framed else 0.8, color=MARK_EDGE if t in framed else "#999999",
                              linestyle="-" if t in framed else "--")
                self._notes[state][t].set_visible(t not in framed and self._notes_fit)
            lines = []
            for n in (n for n, (s, _) in marks.items() if s == state):
                ts = marks[n][1]
                where = f"every step t=0..{steps - 1}" if len(ts) > 1 else f"t={ts[0]} only"
                where += ", the last step read" if tr.go_backwards and len(ts) == 1 else ""
                lines.append(f"{n} {shapes[n]}  ({where})")
            text = "Keras returns " + "\n+ ".join(lines) if lines else \
                f"Keras does not return {state} (return_state=True adds the last one)"
            if not self._notes_fit and len(framed) < steps:
                text += "\n(faded, dashed frame: not returned)"
            forward_end = bool(lines) and not (return_sequences and state == "h") and last == steps - 1
            x = self._left + steps * self._cell + (steps - 1) * _SPACE if forward_end else self._left
            self._returns_text[state].set(text=text, x=x / self._width, ha="right" if forward_end else "left",
                                          fontweight="bold" if lines else "normal",
                                          color="#000000" if lines else "#444444")
        self._sequence.set_visible(return_sequences)
        fig.marks = marks
        fig.alt_text = self.alt_text()

    def alt_text(self) -> str:
        """One sentence: what is drawn, and what Keras returns for the current flags."""
        tr, steps, marks = self.trace, self.trace.timesteps, self.marks
        shapes = {name: tuple(a.shape) for name, a in tr.returns(self.return_sequences, self.return_state)}
        return (f"h and c of {self._layer} over {steps} timesteps, filter {self.filter} of sample {self.sample}"
                f"{' (middle depth slice)' if tr.rank == 3 else ''}; with return_sequences={self.return_sequences}, "
                f"return_state={self.return_state} Keras returns " + ", ".join(
                    f"{n} {shapes[n]} = {marks[n][0]} at "
                    + (f"every step t=0..{steps - 1}" if len(marks[n][1]) > 1 else f"t={marks[n][1][0]}")
                    for n in shapes) + ": framed; the rest is faded.")

    def render(self) -> None:
        """Bring the canvas's pixels up to date after :meth:`update` or :meth:`set_t`.

        Drawn with Agg's own ``draw`` (a live ipympl canvas sends nothing until asked); the pixels of each
        flags-and-step combination are kept, so coming back to one is a paste.
        """
        canvas = self.figure.canvas
        key = (self.return_sequences, self.return_state, self.t, canvas.get_width_height())
        if key in self._frames:
            canvas.restore_region(self._frames[key])
            return
        FigureCanvasAgg.draw(canvas)
        self._frames[key] = canvas.copy_from_bbox(self.figure.bbox)
