"""The explorer widget: flip return_sequences / return_state and watch h and c, with shapes.

:func:`explore` returns an :class:`Explorer`: controls (ipywidgets) beside the Keras code
for the current settings, with the shape of every returned tensor, and the figure of
:mod:`rnnviz.plot` below. Its kinds: an LSTM, GRU or SimpleRNN layer (optionally
Bidirectional), two of their cells stacked in one ``RNN`` (``cells=2``, one row of panels per
cell), and a small ConvLSTM2D (6x6 frames, its h and c drawn as images by
:mod:`rnnviz.conv_plot`). Stacked cells and the ConvLSTM2D have the "over time" view only, and
no Bidirectional: those controls are greyed out, and the notice under them says why.

Flipping a flag never runs a model: the trace is computed
once and the existing figure is only re-marked. Changing a size, the cell kind or the
seed traces again, from a layer kept in a cache keyed by its configuration, so going
back to an earlier setting is instant too.

The figure is a live ipympl canvas inside a Jupyter kernel, and a PNG in an
``ipywidgets.Image`` elsewhere (or with ``canvas="image"``). The live canvas has ONE
size for every setting and is sent as whole frames only: ipympl's page side keeps a
single image and drops a frame when the next arrives before it has decoded; a dropped
whole frame is harmless, but a dropped frame under a *difference* frame, or a
difference frame painted onto a canvas just cleared by a resize, left a garbled figure
(axes without their ticks and titles) until the next full redraw. See :class:`_LiveCanvas`.
"""

from __future__ import annotations

import contextlib
import functools
import html
import io
import threading
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import _a11y, _checks
from ._quiet import import_keras
from .cell_diagram import CellPictures
from .conv_plot import ConvStatesView
from .conv_trace import ConvTrace
from .plot import StatesView
from .snippet import CONV_FRAME, CONV_KERNEL, KINDS, keras_snippet, make_layer
from .trace import BidirectionalTrace, StackedTrace, Trace, require_plain_layer, trace
from .unrolled import StepPictures, _shown_steps

__all__ = ["Explorer", "explore"]

#: Slider ranges for the sizes (a learner's own layer or input may go beyond them).
LIMITS = {"units": (1, 32), "timesteps": (1, 24), "features": (1, 8), "batch": (1, 8), "seed": (0, 1_000_000)}
DEFAULTS = {"units": 2, "timesteps": 3, "features": 1, "batch": 1}
#: The cell kind that is a ConvLSTM2D (its x: frames ``(batch, timesteps, 6, 6, features)``, ``units`` filters).
CONV = "ConvLSTM2D"
#: How many cells the layer stacks: 1 (``LSTM(units)``) or 2 (``RNN([LSTMCell(units), LSTMCell(units)])``).
CELLS = (1, 2)
CANVASES = ("auto", "ipympl", "image")
#: The figure's one size (inches) and resolution, for every cell, size and flag: 898 x 363 px, which
#: fits JupyterLab's output area beside the file browser at 1366 x 768, under the controls.
FIGURE_SIZE = (13.6, 5.5)
FIGURE_DPI = 66
#: The cell diagram, and a Bidirectional layer unrolled (two rows), are taller: their own canvas size (898 x 528 px).
CELL_FIGURE_SIZE = (13.6, 8.0)
#: What the figure shows: h and c over time, the layer unrolled, or the cell at step t.
VIEWS = ("time", "unrolled", "cell")
_CACHE_SIZE = 32


def explore(
    layer=None,
    x=None,
    *,
    cell: str = "LSTM",
    cells: int = 1,
    units: int | None = None,
    timesteps: int | None = None,
    features: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    return_sequences: bool | None = None,
    return_state: bool | None = None,
    bidirectional: bool = False,
    sample: int = 0,
    view: str = "time",
    t: int | None = None,
    canvas: str = "auto",
) -> Explorer:
    """Open the explorer: controls for the flags and sizes, the Keras line, and h / c over time.

    * ``layer``: your own Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` (or a ``Bidirectional``
      around one), or ``None`` to build one from ``cell``, ``units`` and ``seed``. Its kind,
      units and flags become the starting settings.
    * ``x``: your own input ``(batch, timesteps, features)``, or ``None`` for seeded normal
      numbers of the chosen sizes. Your ``x`` is used whenever the sizes match it.
    * ``cell``: ``"LSTM"``, ``"GRU"``, ``"SimpleRNN"`` or ``"ConvLSTM2D"``; ``bidirectional`` wraps it.
    * ``cells``: ``1``, or ``2`` for two cells of that kind stacked in one layer,
      ``RNN([LSTMCell(units), LSTMCell(units)])`` (not with ``bidirectional``).
    * ``units``, ``timesteps``, ``features``, ``batch``: sizes (defaults 2, 3, 1, 1, or those
      of ``layer`` and ``x``); ``seed`` seeds the generated weights and input. A ``"ConvLSTM2D"``
      has ``units`` filters (kernel 3x3, ``padding="same"``) and reads seeded frames
      ``(batch, timesteps, 6, 6, features)``; it is one layer in one direction, drawn over time only.
    * ``return_sequences``, ``return_state``: the starting flags (default: the layer's, else False).
    * ``sample``: which sample of the batch to draw.
    * ``view``: ``"time"`` (h and c over time), ``"unrolled"`` (the layer drawn once per timestep, see
      :func:`rnnviz.draw_unrolled`) or ``"cell"`` (the cell at step ``t``, see :func:`rnnviz.draw_cell`);
      ``"time"`` only for stacked cells and the ConvLSTM2D.
    * ``t``: the step outlined in every view (``0`` to ``timesteps - 1``; default the last). The Play button
      beside its slider steps through them.
    * ``canvas``: ``"auto"`` (live ipympl canvas in a Jupyter kernel, else a PNG image),
      ``"ipympl"`` or ``"image"``.

    Returns an :class:`Explorer`; ``ex.controls`` holds its widgets, ``ex.figure`` the live
    figure, ``ex.code`` the Keras line shown. Display it with ``display(ex)`` or as a cell's
    last value.
    """
    settings = {"seed": _checks.integer(seed, "seed", *LIMITS["seed"])}
    own_layer = own_x = None
    if layer is not None:
        _refuse_stacked_or_conv(layer)
        kind, is_bi = require_plain_layer(layer, "the explorer")
        inner = layer.forward_layer if is_bi else layer
        given = {"units": int(inner.units)}
        if inner.built and getattr(inner.cell, "kernel", None) is not None:
            given["features"] = int(inner.cell.kernel.shape[0])
        _agree("units", units, given["units"], "the layer")
        _agree("features", features, given.get("features"), "the layer")
        settings.update(cell=kind, cells=1, bidirectional=is_bi, **given)
        own_layer = layer
        if return_sequences is None:
            return_sequences = bool(inner.return_sequences)
        if return_state is None:
            return_state = bool(inner.return_state)
    else:
        settings["cell"] = _checks.choice(cell, "cell", KINDS)
        settings["cells"] = _checks.integer(cells, "cells", *CELLS)
        settings["bidirectional"] = _checks.flag(bidirectional, "bidirectional")
        _refuse_combination(settings)
    if x is not None:
        if settings["cell"] == CONV:
            raise ValueError(f"x: the explorer makes the {CONV}'s input itself, seeded frames (batch, timesteps, "
                             f"{CONV_FRAME[0]}, {CONV_FRAME[1]}, features); got your own x {np.shape(x)}. Leave x out, "
                             "or draw your own: rnnviz.plot_conv_states(rnnviz.trace(layer, x)).")
        own_x = _checks.sequence(x, "x", features=settings.get("features"))
        asked = {"batch": batch, "timesteps": timesteps, "features": features}
        for name, size in zip(("batch", "timesteps", "features"), own_x.shape, strict=True):
            _agree(name, asked[name], size, "x")
            settings[name] = int(size)
    for name, value in (("units", units), ("timesteps", timesteps), ("features", features), ("batch", batch)):
        if name not in settings:
            settings[name] = DEFAULTS[name] if value is None else _checks.integer(value, name, *LIMITS[name])
    settings["return_sequences"] = _checks.flag(False if return_sequences is None else return_sequences,
                                                "return_sequences")
    settings["return_state"] = _checks.flag(False if return_state is None else return_state, "return_state")
    settings["sample"] = _checks.sample(sample, settings["batch"])
    settings["view"] = _checks.choice(view, "view", VIEWS)
    if settings["view"] != "time" and _only_over_time(settings):
        raise ValueError(f"view: {_what(settings)} is drawn over time only, got view={view!r}: the unrolled and cell "
                         "views draw one cell of an LSTM, GRU or SimpleRNN layer. Leave view out, or pass "
                         "view='time'.")
    last = settings["timesteps"] - 1
    settings["t"] = last if t is None else _checks.integer(t, "t", 0, last)
    canvas = _checks.choice(canvas, "canvas", CANVASES)
    if canvas == "auto":
        canvas = "ipympl" if _in_kernel() and _has_ipympl() else "image"
    return Explorer(settings, own_layer, own_x, canvas)


def _refuse_stacked_or_conv(layer) -> None:
    """The explorer makes its own stacked cells and ConvLSTM2D (seeded): a learner's own gets a pointer."""
    keras = import_keras()
    name = type(layer).__name__
    if name.startswith("ConvLSTM"):
        raise ValueError(
            f"layer: the explorer makes its own small ConvLSTM2D, so it takes LSTM, GRU or SimpleRNN layers; got a "
            f"{name}. Open it with explore(cell='ConvLSTM2D', units=filters), or draw your layer: "
            "rnnviz.plot_conv_states(rnnviz.trace(layer, x), return_sequences, return_state)."
        )
    if isinstance(layer, keras.layers.RNN) and isinstance(layer.cell, keras.layers.StackedRNNCells):
        cells = layer.cell.cells
        kinds = {type(c).__name__.removesuffix("Cell") for c in cells}
        hint = (f"explore(cell={kinds.pop()!r}, cells={len(cells)}, units={int(cells[0].units)})"
                if len(kinds) == 1 and len(cells) in CELLS and len({int(c.units) for c in cells}) == 1
                else "explore(cell='LSTM', cells=2)")
        raise ValueError(
            "layer: the explorer stacks its own seeded cells, so it takes LSTM, GRU or SimpleRNN layers; got an RNN "
            f"over {len(cells)} stacked cells. Open a stack like it with {hint}, or draw your layer: "
            "rnnviz.plot_states(rnnviz.trace(layer, x))."
        )


def _refuse_combination(s: dict) -> None:
    if s["cell"] == CONV and (s["bidirectional"] or s["cells"] > 1):
        raise ValueError(f"cell: the explorer's {CONV} is one layer in one direction; got cells={s['cells']}, "
                         f"bidirectional={s['bidirectional']}. Leave cells and bidirectional out for a {CONV}.")
    if s["cells"] > 1 and s["bidirectional"]:
        raise ValueError("bidirectional: rnnviz does not trace a Bidirectional around stacked cells; got "
                         f"bidirectional=True with cells={s['cells']}. Pass one of them: cells=1, or "
                         "bidirectional=False.")


def _only_over_time(s: dict) -> bool:
    """Whether settings ``s`` make a layer the unrolled and cell views cannot draw (stacked cells, a ConvLSTM2D)."""
    return s["cell"] == CONV or s["cells"] > 1


def _what(s: dict) -> str:
    """The layer of settings ``s`` in Keras's words, e.g. ``RNN([GRUCell(2), GRUCell(2)])``."""
    if s["cell"] == CONV:
        return f"{CONV}(filters={s['units']}, kernel_size={CONV_KERNEL}, padding=\"same\")"
    if s["cells"] > 1:
        cell = f"{s['cell']}Cell({s['units']})"
        return f"RNN([{', '.join([cell] * s['cells'])}])"
    inner = f"{s['cell']}({s['units']})"
    return f"Bidirectional({inner})" if s["bidirectional"] else inner


def _agree(name: str, given, actual, source: str) -> None:
    if given is not None and actual is not None and given != actual:
        raise ValueError(
            f"{name}: you passed {name}={given!r}, but {source} has {name} = {actual}. "
            f"Leave {name} out (it is taken from {source}), or pass a matching {source.split()[-1]}."
        )


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _has_ipympl() -> bool:
    try:
        import ipympl.backend_nbagg  # noqa: F401
    except ImportError:
        return False
    return True


def _reaction(method):
    """An observer of a control: one reaction at a time (see ``Explorer._lock``), none while the explorer sets
    controls itself (``Explorer._quietly``)."""

    @functools.wraps(method)
    def react(self, change=None) -> None:
        with self._lock:
            if not self._quiet:
                method(self)

    return react


class Explorer:
    """Widgets over one :class:`~rnnviz.plot.StatesView`; build it with :func:`explore`.

    * ``controls``: ``{"cell", "cells", "bidirectional", "return_sequences", "return_state", "units",
      "timesteps", "features", "batch", "sample", "seed", "view", "t", "play", "reset"}`` -> ipywidgets;
      set ``.value`` to drive it (``controls["reset"].click()`` brings back the starting settings;
      ``controls["play"]`` steps ``t`` in the page).
    * ``figure``: the one Figure it draws into (the same object, and the same size, for its whole life).
    * ``code``: a complete Keras snippet for the current settings (imports, seed, ``x``, the layer, the
      call) that recreates the drawn numbers when pasted into a new notebook, with each returned
      tensor's shape; ``notice``: what the explorer warns about now ("" when all is as asked).
    * ``trace``: the current :class:`~rnnviz.Trace` / :class:`~rnnviz.BidirectionalTrace`
      (``h``, ``c`` ``(batch, timesteps, units)``), :class:`~rnnviz.StackedTrace` (``cells=2``: a Trace per
      cell) or :class:`~rnnviz.ConvTrace` (``h``, ``c`` ``(batch, timesteps, 6, 6, filters)``); ``layer``: the
      Keras layer it came from. ``view``: the time view drawn (a :class:`~rnnviz.plot.StatesView`, or a
      :class:`~rnnviz.conv_plot.ConvStatesView` for the ConvLSTM2D).
    * ``widget``: the whole ipywidgets box that is displayed.

    Stacked cells and the ConvLSTM2D are drawn over time only, and neither is Bidirectional (a ConvLSTM2D
    is not stacked either): while one is chosen, the controls it cannot use are greyed out at the value it
    uses, the notice says why, and choosing another kind gives back the values they had.
    """

    def __init__(self, settings: dict, own_layer=None, own_x: np.ndarray | None = None, canvas: str = "image"):
        self._own_x = own_x
        self._own_layer = own_layer
        self._start = dict(settings)
        self._layers: OrderedDict = OrderedDict()
        self._traces: OrderedDict = OrderedDict()
        if own_layer is not None:
            self._layers[self._layer_key(settings)] = own_layer
        self._canvas_kind = canvas
        # ipykernel 7 handles comm messages on more than one thread: one lock keeps a control's change and the
        # live canvas's own redraws (its page asks for them) from drawing into the same pixels at once.
        self._lock = threading.RLock()
        self.figure = Figure(figsize=FIGURE_SIZE, dpi=FIGURE_DPI)
        self.controls = _make_controls(settings)
        self.code = ""
        self.notice = ""
        self._code_box = widgets.HTML(layout=widgets.Layout(min_width="0", flex="1 1 320px", margin="0 0 0 12px"))
        self._notice_box = widgets.HTML(layout=widgets.Layout(min_width="0"))
        # invisible: names the sliders and Play's buttons, gives the canvas the figure's alt text, styles the focus
        self._a11y_box = widgets.HTML(layout=widgets.Layout(display="contents"))
        self._picture = self._make_picture()
        self.trace: Trace | BidirectionalTrace | StackedTrace | ConvTrace | None = None
        self.layer = None
        self.view: StatesView | ConvStatesView | None = None
        self._quiet = False
        self._wanted: dict = {}  # a greyed-out control's value from before, given back when it is free again
        self._pngs: dict = {}  # each view's (PNG, alt text) of the current trace and sample, by (view, t, flags)
        self._step_pictures: dict = {}  # the unrolled view's drawings of the current trace and sample
        self._cell_pictures = None  # the cell view's drawing of the current trace and sample
        self._retrace()
        self._look_ahead(flags=True)  # for an explorer that opens on the unrolled or cell view
        for name in ("return_sequences", "return_state"):
            self.controls[name].observe(self._on_flag, names="value")
        for name in ("cell", "cells", "bidirectional", "units", "timesteps", "features", "batch", "seed"):
            self.controls[name].observe(self._on_size, names="value")
        self.controls["sample"].observe(self._on_sample, names="value")
        self.controls["t"].observe(self._on_t, names="value")
        self.controls["view"].observe(self._on_view, names="value")
        self.controls["reset"].on_click(self._on_reset)
        # Play steps t in the page itself (a link between two widgets there), and each step reaches the kernel.
        widgets.jslink((self.controls["play"], "value"), (self.controls["t"], "value"))
        c = self.controls
        # Rows of two controls (about 520 px) beside the code; where there is less room the code wraps below.
        def labelled(name):  # ToggleButtons put their description above them: a label beside them instead
            if name not in ("cell", "cells", "return_sequences", "return_state", "view"):
                return c[name]
            width = {"cell": "36px", "view": "36px", "cells": "36px"}.get(name, "118px")
            label = widgets.Label("stack" if name == "cells" else name,
                                  layout=widgets.Layout(width=width, flex="0 0 auto"))
            return widgets.HBox([label, c[name]], layout=widgets.Layout(flex="0 0 auto"))

        rows = [widgets.HBox([labelled("cell")]), widgets.HBox([labelled("cells"), c["bidirectional"]])]
        rows += [widgets.HBox([labelled(a), labelled(b)])
                 for a, b in (("return_sequences", "return_state"), ("units", "timesteps"), ("features", "batch"))]
        rows.append(widgets.HBox([c["sample"], c["seed"], c["reset"]]))
        rows.append(widgets.HBox([labelled("view"), widgets.HBox([c["t"], c["play"]])]))
        # The notice (empty most of the time, so it takes no room) spans the panel under the controls.
        panel = widgets.VBox([*rows, self._notice_box], layout=widgets.Layout(flex="0 0 auto", width="585px"))
        self.widget = widgets.VBox([
            widgets.HBox([panel, self._code_box], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
            self._picture,
            self._a11y_box,
        ])
        # Stable names for styling and for the browser tests to find the parts by.
        self.widget.add_class("rnnviz-explorer")
        for name, widget in c.items():
            widget.add_class(f"rnnviz-{name.replace('_', '-')}")
        self._picture.add_class("rnnviz-figure")
        self._code_box.add_class("rnnviz-code")
        self._notice_box.add_class("rnnviz-notice")

    # -- settings ------------------------------------------------------------------------------
    @property
    def settings(self) -> dict:
        """The current value of every setting, by name."""
        return {name: widget.value for name, widget in self.controls.items() if name not in ("reset", "play")}

    @staticmethod
    def _layer_key(s: dict) -> tuple:
        """make_layer's arguments for settings ``s``, in its order."""
        return (s["cell"], bool(s["bidirectional"]), s["units"], s["features"], s["seed"], s["cells"])

    def _get_layer(self, s: dict):
        key = self._layer_key(s)
        if key not in self._layers:
            self._layers[key] = make_layer(*key)
            while len(self._layers) > _CACHE_SIZE:
                self._layers.popitem(last=False)
        self._layers.move_to_end(key)
        return self._layers[key]

    def _own_x_fits(self, s: dict) -> bool:
        return self._own_x is not None and self._own_x.shape == _x_shape(s)

    def _get_trace(self, s: dict):
        key = (*self._layer_key(s), s["batch"], s["timesteps"])
        if key not in self._traces:
            shape = _x_shape(s)
            own = self._own_x_fits(s)
            x = self._own_x if own else np.random.default_rng(s["seed"]).normal(size=shape).astype(np.float32)
            self._traces[key] = (trace(self._get_layer(s), x), own)
            while len(self._traces) > _CACHE_SIZE:
                self._traces.popitem(last=False)
        self._traces.move_to_end(key)
        self.layer = self._layers.get(self._layer_key(s))
        return self._traces[key]

    # -- reacting to the controls --------------------------------------------------------------
    @contextlib.contextmanager
    def _quietly(self):
        """Set controls without their observers reacting (one retrace afterwards instead of one per control)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    @_reaction
    def _on_flag(self) -> None:
        s = self.settings
        self.view.update(s["return_sequences"], s["return_state"])
        self._write_code()
        self._show()
        self._look_ahead(flags=True)

    @_reaction
    def _on_size(self) -> None:
        self._retrace()
        self._look_ahead(flags=True)

    @_reaction
    def _on_sample(self) -> None:
        self._redraw()
        self._look_ahead(flags=True)

    @_reaction
    def _on_t(self) -> None:
        self.view.set_t(self.controls["t"].value)
        self._show()
        self._look_ahead()

    @_reaction
    def _on_view(self) -> None:
        self._fit_controls()  # a greyed-out view set from code goes back to "over time"
        self._show()
        self._look_ahead(flags=True)

    def _look_ahead(self, flags: bool = False) -> None:
        """After the frame has gone, draw what the learner is likely to ask for next in the unrolled or cell view.

        A new step costs the cell view ~45 ms (its numbers and words are redrawn, see
        :class:`~rnnviz.cell_diagram.CellPictures`) and the unrolled view ~6 ms; new flags cost the unrolled view
        a whole drawing (~100 ms, :class:`~rnnviz.unrolled.StepPictures`), against a few ms to re-mark the time view.
        * Play, the slider's arrow keys and dragging ask for step t + 1 next (Play wraps to 0): its picture.
        * ``flags`` (on opening, and after a flag flip, a new size, sample or view): in the unrolled view, the
          drawings for flipping either flag from here; one drawing serves every t of its layout.
        """
        s = self.settings
        if s["view"] == "time":
            return
        if s["timesteps"] > 1:
            ahead = {**s, "t": (s["t"] + 1) % s["timesteps"]}
            key = (ahead["view"], ahead["t"], ahead["return_sequences"], ahead["return_state"])
            if key not in self._pngs:
                self._pngs[key] = self._draw_other(ahead)
        if flags and s["view"] == "unrolled":
            rs, rst = s["return_sequences"], s["return_state"]
            for other in ({**s, "return_sequences": not rs}, {**s, "return_state": not rst}):
                self._step_pictures_for(other)

    def _step_pictures_for(self, s: dict):
        """The unrolled view's drawing for the flags and layout of settings ``s`` (drawn the first time it is asked)."""
        rs, rst = s["return_sequences"], s["return_state"]
        key = (rs, rst, tuple(_shown_steps(self.trace.timesteps, s["t"])))
        if key not in self._step_pictures:
            self._step_pictures[key] = StepPictures(self.trace, rs, rst, s["sample"], s["t"],
                                                    fit=_pixels(self._canvas_size(s)))
        return self._step_pictures[key]

    def _on_reset(self, button=None) -> None:
        """Every control back to its starting value, then one retrace (not one per control)."""
        with self._lock:
            self._wanted = {}
            with self._quietly():
                start = self._start
                self.controls["sample"].max = max(start["batch"] - 1, 0)  # first the ranges, then the values
                self.controls["t"].max = self.controls["play"].max = start["timesteps"] - 1
                for name, value in start.items():
                    self.controls[name].value = value
            self._retrace()

    def _fit_controls(self) -> None:
        """Grey out, at the value the layer uses, what the chosen kind cannot have; free it again otherwise.

        Stacked cells: no Bidirectional, the "over time" view only. A ConvLSTM2D: also one cell. A control that
        is freed again gets back the value it had before it was greyed out. Its tooltip says why it is grey.
        """
        c = self.controls
        conv = c["cell"].value == CONV
        why = _why_grey(c["cell"].value)
        with self._quietly():
            for name in ("cells", "bidirectional", "view"):  # in this order: the stack decides the other two
                widget = c[name]
                if name == "cells":
                    forced = 1 if conv else None
                else:
                    forced = (False if name == "bidirectional" else "time") if conv or c["cells"].value > 1 else None
                if forced is not None:
                    if not widget.disabled:
                        self._wanted[name] = widget.value
                    widget.value, widget.disabled = forced, True
                elif widget.disabled:
                    widget.disabled = False
                    widget.value = self._wanted.pop(name, widget.value)
            c["bidirectional"].tooltip = why["bidirectional"] if c["bidirectional"].disabled else \
                "Wrap the layer in Bidirectional: a forward and a backward copy"
            c["cells"].tooltips = [why["cells"]] * 2 if c["cells"].disabled else list(_CELLS_TIPS)
            c["view"].tooltips = [why["view"]] * 3 if c["view"].disabled else list(_VIEW_TIPS)
            c["units"].description = "filters" if conv else "units"
            c["features"].description = "channels" if conv else "features"

    def _retrace(self) -> None:
        self._fit_controls()
        s = self.settings
        self.trace, self._x_is_own = self._get_trace(s)
        sample, t, play = self.controls["sample"], self.controls["t"], self.controls["play"]
        with self._quietly():
            sample.max = s["batch"] - 1
            sample.disabled = s["batch"] == 1
            at_end = t.value == t.max  # the last step stays the last step when timesteps change
            t.max = play.max = s["timesteps"] - 1
            if at_end:
                t.value = t.max
        self._write_notice()
        self._write_code()  # the code depends on the trace and the flags, not on the sample drawn
        self._redraw()

    def _redraw(self) -> None:
        s = self.settings
        # No header in the figure (the code beside it lists the flags and shapes); one size for every setting.
        if isinstance(self.trace, ConvTrace):  # filter 0 of the ConvLSTM2D's h and c, as images
            self.view = ConvStatesView(self.trace, s["sample"], 0, figure=self.figure, header=False, dpi=FIGURE_DPI,
                                       size=FIGURE_SIZE)
        else:
            self.view = StatesView(self.trace, s["sample"], figure=self.figure, header=False, dpi=FIGURE_DPI,
                                   size=FIGURE_SIZE, side_by_side=True)
        self._pngs = {}
        self._step_pictures = {}
        self._cell_pictures = None
        self.view.set_t(s["t"])
        self.view.update(s["return_sequences"], s["return_state"])
        self._show()

    def _write_notice(self) -> None:
        """Say, visibly, why controls are greyed out, and when the figure no longer shows the learner's own x or
        layer (and how to get them back)."""
        s, lines = self.settings, []
        if self._own_x is not None and not self._own_x_fits(s):
            if s["cell"] == CONV:
                lines.append(f"A {CONV} reads frames, not your x {self._own_x.shape}: the figure uses random frames "
                             f"from seed {s['seed']}.")
            else:
                lines.append(f"These sizes do not fit your x {self._own_x.shape} (batch, timesteps, features): the "
                             f"figure uses random numbers from seed {s['seed']} instead.")
        if self._own_layer is not None and self.layer is not self._own_layer:
            lines.append("These settings are not your layer's: the figure uses a new layer seeded with "
                         f"seed {s['seed']}.")
        warning = " ".join(lines) + (" Reset brings yours back." if lines else "")
        info = _why_only_over_time(s)
        self.notice = " ".join(part for part in (info, warning) if part)
        box = ("<div role='status' style='border-left:4px solid {edge}; background:{fill}; color:#000; padding:4px 8px; "
               "margin:4px 0; font-size:13px; line-height:1.35'><b>{head}</b> {text}</div>")
        self._notice_box.value = "".join([
            box.format(edge="#0072B2", fill="#eaf3fb", head="\u2139 Greyed out:", text=html.escape(info)) if info else "",
            box.format(edge="#b35900", fill="#fff4e5", head="\u26a0 Note:", text=html.escape(warning)) if warning else "",
        ])

    def _write_code(self) -> None:
        s = self.settings
        own_layer = self.layer if (self._own_layer is not None and self.layer is self._own_layer) else None
        self.code = keras_snippet(self.trace, s["return_sequences"], s["return_state"], seed=s["seed"],
                                  layer=own_layer, own_x=self._x_is_own)
        # pre-wrap: a long line wraps inside the box, never cut off; a very long snippet scrolls down.
        self._code_box.value = (
            "<div style='font-size:14px; font-weight:bold'>Keras code for this figure</div>"
            # tabindex: a box that scrolls must take the keyboard's focus to be scrolled without a mouse
            "<pre tabindex='0' role='region' aria-label='Keras code for this figure' "
            "style='font-family:monospace; white-space:pre-wrap; word-break:normal; overflow-wrap:break-word; "
            "font-size:13px; line-height:1.35; margin:4px 0; max-height:250px; overflow-y:auto; background:#f6f6f6; "
            f"padding:4px 6px'>{html.escape(self.code)}</pre>"
        )

    # -- the picture ---------------------------------------------------------------------------
    def _make_picture(self):
        if self._canvas_kind == "ipympl":
            canvas = _live_canvas_class()(self.figure)
            canvas.lock = self._lock
            from ipympl.backend_nbagg import FigureManager

            FigureManager(canvas, 0)
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.toolbar_visible = False
            canvas.resizable = False
            return canvas
        FigureCanvasAgg(self.figure)
        return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))

    def _picture_now(self) -> tuple[bytes, str]:
        """The current view as ``(PNG bytes, alt text)``; each picture of the current trace and sample is made once."""
        s = self.settings
        key = (s["view"], s["t"], s["return_sequences"], s["return_state"])
        if key not in self._pngs:
            self._pngs[key] = self._draw_time() if s["view"] == "time" else self._draw_other(s)
        return self._pngs[key]

    def _png(self) -> bytes:
        return self._picture_now()[0]

    def _alt(self) -> str:
        """The text alternative of the picture shown now: what it draws and what Keras returns."""
        return self._picture_now()[1]

    def _draw_time(self) -> tuple[bytes, str]:
        """h and c over time, re-marked for the current flags and t."""
        self.view.render()
        return _encode_png(np.asarray(self.figure.canvas.buffer_rgba())), self.view.alt_text()

    def _canvas_size(self, s: dict) -> tuple[float, float]:
        """The canvas size (inches) of a view: the taller one for the cell, and for a Bidirectional layer unrolled
        (two rows of cells: on the wide canvas it would be scaled down to fit the height)."""
        tall = s["view"] == "cell" or (s["view"] == "unrolled" and isinstance(self.trace, BidirectionalTrace))
        return CELL_FIGURE_SIZE if tall else FIGURE_SIZE

    def _draw_other(self, s: dict) -> tuple[bytes, str]:
        """The unrolled layer or the cell at t, drawn at the resolution that fits the view's canvas, centred on white."""
        width, height = _pixels(self._canvas_size(s))
        if s["view"] == "unrolled":  # one drawing per flags and layout, re-outlined for each step t (a few ms)
            pictures = self._step_pictures_for(s)
            drawn, alt = pictures.pixels(s["t"]), pictures.alt_text
        else:  # one cell drawing for the trace, refilled for each step and flags (CellPictures)
            flags = (s["return_sequences"], s["return_state"])
            if self._cell_pictures is None:
                self._cell_pictures = CellPictures(self.trace, s["sample"], s["t"], flags, fit=(width, height))
            drawn = self._cell_pictures.pixels(s["t"], flags)
            alt = self._cell_pictures.alt_text
        drawn = drawn[:height, :width, :3]
        frame = np.full((height, width, 3), 255, dtype=np.uint8)
        top, left = (height - drawn.shape[0]) // 2, (width - drawn.shape[1]) // 2
        frame[top:top + drawn.shape[0], left:left + drawn.shape[1]] = drawn
        return _encode_png(frame), alt

    def _show(self) -> None:
        """Push the current view to the screen: one whole frame on the live canvas, or a new PNG; then its alt text."""
        self._show_picture()
        s = self.settings
        # the view over time is drawn on the canvas itself: its alt text, without making the PNG too
        alt = self.view.alt_text() if s["view"] == "time" and self._canvas_kind == "ipympl" else self._alt()
        self._a11y_box.value = _a11y.page_fixes(alt)

    def _show_picture(self) -> None:
        """One whole frame on the live canvas, or a new PNG."""
        if self._canvas_kind != "ipympl":
            self._picture.value = self._png()
            return
        s, canvas = self.settings, self.figure.canvas
        size = self._canvas_size(s)
        if tuple(self.figure.get_size_inches()) != size:  # only the cell and two-row views have another size
            self.figure.set_size_inches(*size, forward=True)
        if s["view"] == "time":
            canvas.frame = None
            self.view.render()
        else:
            canvas.frame = self._png()
        canvas.blit(self.figure.bbox)  # one whole frame (see _LiveCanvas)

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a static copy (Keras line and figure) for viewers without a kernel."""
        from . import _static

        png = self._png()
        return _static.bundle(self.widget._repr_mimebundle_(**kwargs), f"{self!r}\n{self.code}",
                              _static.explorer_html(self.code, png, self._alt()), png)

    def __repr__(self) -> str:
        s = self.settings
        return (f"Explorer of {_what(s)} on x {_x_shape(s)}, "
                f"return_sequences={s['return_sequences']}, return_state={s['return_state']}")


def _x_shape(s: dict) -> tuple[int, ...]:
    """The input of settings ``s``: ``(batch, timesteps, features)``, or frames ``(batch, timesteps, 6, 6,
    features)`` for the ConvLSTM2D."""
    if s["cell"] == CONV:
        return (s["batch"], s["timesteps"], *CONV_FRAME, s["features"])
    return (s["batch"], s["timesteps"], s["features"])


_CELLS_TIPS = ("One layer, e.g. LSTM(units)", "Two cells stacked in one layer, e.g. RNN([LSTMCell(units), "
               "LSTMCell(units)]): cell 1 reads cell 0's h at every step")
_VIEW_TIPS = ("h and c over time", "the layer unrolled over time", "the cell at step t")


def _why_grey(cell: str) -> dict[str, str]:
    """Each greyed-out control's tooltip, for a stack of ``cell`` cells or the ConvLSTM2D."""
    if cell == CONV:
        return {"cells": f"A {CONV} is one layer here: Keras has no public ConvLSTM cell to stack",
                "bidirectional": f"rnnviz does not trace a Bidirectional {CONV}",
                "view": f"A {CONV}'s states are images: drawn over time only"}
    return {"cells": "", "bidirectional": "rnnviz does not trace a Bidirectional around stacked cells; "
                                          "choose 1 cell for Bidirectional",
            "view": "The unrolled and cell views draw one cell: choose 1 cell, or draw one cell of the stack, "
                    "rnnviz.draw_unrolled(rnnviz.trace(layer, x).cells[1])"}


def _why_only_over_time(s: dict) -> str:
    """Why controls are greyed out for settings ``s``, and what to do instead ("" when none is)."""
    if s["cell"] == CONV:
        return (f"{CONV}: h and c are {CONV_FRAME[0]}\u00d7{CONV_FRAME[1]} images (filter 0 drawn), shown over time "
                "only; one cell, one direction. Choose LSTM, GRU or SimpleRNN for the other views, 2 cells or "
                "Bidirectional.")
    if s["cells"] > 1:
        return ("2 cells: the unrolled and cell views draw one cell, and rnnviz traces no Bidirectional stack: choose "
                "1 cell for those. To draw one cell of this stack: rnnviz.draw_unrolled(rnnviz.trace(layer, x).cells[1]).")
    return ""


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _make_controls(s: dict) -> dict:
    """The explorer's widgets, keyed by setting name, starting at the settings ``s``; two fit in a 520 px row."""

    def slider(name):
        low, high = LIMITS[name]
        return widgets.IntSlider(value=s[name], min=low, max=max(high, s[name]), description=name,
                                 continuous_update=False, style={"description_width": "72px"},
                                 layout=widgets.Layout(width="250px"))

    def flag(name):
        return widgets.ToggleButtons(options=[("False", False), ("True", True)], value=s[name],
                                     tooltips=[f"{name}=False", f"{name}=True"], style={"button_width": "54px"},
                                     layout=widgets.Layout(width="auto", margin="2px 12px 2px 0"))

    return {
        "cell": widgets.ToggleButtons(options=list(KINDS), value=s["cell"], style={"button_width": "114px"},
                                      tooltips=["LSTM: h and c", "GRU: h only", "SimpleRNN: h only",
                                                f"ConvLSTM2D: h and c are images ({CONV_FRAME[0]}\u00d7{CONV_FRAME[1]} "
                                                "frames, 3\u00d73 kernel)"],
                                      layout=widgets.Layout(width="auto", margin="2px 16px 2px 0")),
        "cells": widgets.ToggleButtons(options=[("1 cell", 1), ("2 cells", 2)], value=s["cells"],
                                       tooltips=list(_CELLS_TIPS), style={"button_width": "70px"},
                                       layout=widgets.Layout(width="auto", margin="2px 16px 2px 0")),
        "bidirectional": widgets.Checkbox(value=s["bidirectional"], description="Bidirectional", indent=False,
                                          layout=widgets.Layout(width="150px")),
        "return_sequences": flag("return_sequences"),
        "return_state": flag("return_state"),
        "units": slider("units"),
        "timesteps": slider("timesteps"),
        "features": slider("features"),
        "batch": slider("batch"),
        "sample": widgets.IntSlider(value=s["sample"], min=0, max=max(s["batch"] - 1, 0), description="sample",
                                    disabled=s["batch"] == 1, continuous_update=False,
                                    style={"description_width": "72px"}, layout=widgets.Layout(width="250px")),
        "seed": widgets.BoundedIntText(value=s["seed"], min=LIMITS["seed"][0], max=LIMITS["seed"][1],
                                       description="seed", style={"description_width": "40px"},
                                       layout=widgets.Layout(width="170px")),
        "view": widgets.ToggleButtons(options=[("over time", "time"), ("unrolled", "unrolled"), ("cell at t", "cell")],
                                      value=s["view"], tooltips=list(_VIEW_TIPS),
                                      style={"button_width": "86px"}, layout=widgets.Layout(width="auto",
                                                                                            margin="2px 6px 2px 0")),
        "t": widgets.IntSlider(value=s["t"], min=0, max=s["timesteps"] - 1, description="t", continuous_update=False,
                               style={"description_width": "14px"}, layout=widgets.Layout(width="170px")),
        "play": widgets.Play(value=s["t"], min=0, max=s["timesteps"] - 1, step=1, interval=80, repeat=True, show_repeat=False,
                             description="Play through the timesteps", layout=widgets.Layout(width="auto")),
        "reset": widgets.Button(description="Reset", icon="undo", tooltip="Back to the starting settings",
                                layout=widgets.Layout(width="100px", flex="0 0 auto", margin="2px 8px 2px 4px")),
    }


def _pixels(size: tuple[float, float]) -> tuple[int, int]:
    """A figure size in inches as the canvas's ``(width, height)`` in pixels (Agg truncates)."""
    return int(size[0] * FIGURE_DPI), int(size[1] * FIGURE_DPI)


def _encode_png(pixels: np.ndarray) -> bytes:
    """RGBA pixels ``(height, width, 4)`` as PNG bytes, fast (light compression), without the alpha channel."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels[..., :3])).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


@functools.cache
def _live_canvas_class():
    """ipympl's canvas widget, made to send whole frames only.

    ipympl sends a frame as a whole PNG, or as a *difference* PNG (changed pixels only, the rest
    transparent) to be painted over the previous frame. Its page side keeps one ``Image``: a frame that
    arrives while the previous one is still decoding replaces it, so that one is never painted; and a
    resize clears the canvas. A difference frame painted over a lost frame or a cleared canvas leaves
    a garbled figure (only the marks and labels that changed, no axes, titles or ticks), and later
    difference frames keep the damage. A whole frame does not depend on the one before, so losing one
    is harmless: the next one is complete. (The explorer's figure also never changes size.)
    """
    from ipympl.backend_nbagg import Canvas

    class _LiveCanvas(Canvas):
        lock = threading.RLock()  # the explorer gives each canvas its own
        frame = None  # PNG bytes to send instead of the figure's pixels (the explorer's other views)

        def draw(self):  # the page asks for a full redraw (after a refresh): wait for any redraw under way
            with self.lock:
                if self.frame is None and (self.figure.stale or not self._holds_frame()):
                    super().draw()
                else:  # another view's frame, or Agg's buffer already holds this one: send it again
                    self._png_is_old = True
                    self.manager.refresh_all()

        def _holds_frame(self) -> bool:
            """Whether Agg's buffer holds the figure as it is now, at its size: nothing changed since it was drawn
            (a change makes the figure stale). A page opening asks for a full frame twice (refresh, then its size):
            the second costs no drawing, which matters when a class opens the dashboard at once."""
            key = (*self.figure.bbox.size, self.figure.dpi)
            return getattr(self, "_lastKey", None) == key and getattr(self, "renderer", None) is not None

        def handle_resize(self, event):  # the page's resize handle: answer with the one size the explorer keeps
            with self.lock:
                self._png_is_old = True
                self.manager.resize(*self.figure.bbox.size, forward=False)
                self.draw_idle()

        def get_diff_image(self):
            with self.lock:
                if not self._png_is_old:
                    return None
                self._png_is_old = False
                self._force_full = False
                if self.frame is not None:
                    return self.frame
                return _encode_png(np.asarray(self.get_renderer().buffer_rgba()))

        def send_binary(self, data):
            if self.syncing_data_url:  # no page has opened the canvas yet: keep its still picture current
                self._data_url = "data:image/png;base64," + _b64(data)
            self.send({"data": '{"type": "binary"}'}, buffers=[data])

    return _LiveCanvas
