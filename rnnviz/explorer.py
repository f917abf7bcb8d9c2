"""The explorer widget: flip return_sequences / return_state and watch h and c, with shapes.

:func:`explore` returns an :class:`Explorer`: controls (ipywidgets) above, the Keras
line for the current settings with the shape of every returned tensor, and the
figure of :mod:`rnnviz.plot` below. Flipping a flag never runs a model: the trace
is computed once and the existing figure is only re-marked. Changing a size, the
cell kind or the seed traces again, from a layer kept in a cache keyed by its
configuration, so going back to an earlier setting is instant too.

The figure is a live ipympl canvas inside a Jupyter kernel, and a PNG in an
``ipywidgets.Image`` elsewhere (or with ``canvas="image"``), so static HTML
exports still show a picture.
"""

from __future__ import annotations

import html
import io
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import _checks
from .plot import StatesView
from .trace import SUPPORTED_KINDS, BidirectionalTrace, Trace, layer_kind, trace

__all__ = ["Explorer", "explore"]

#: Slider ranges for the sizes (a learner's own layer or input may go beyond them).
LIMITS = {"units": (1, 32), "timesteps": (1, 24), "features": (1, 8), "batch": (1, 8), "seed": (0, 1_000_000)}
DEFAULTS = {"units": 2, "timesteps": 3, "features": 1, "batch": 1}
CANVASES = ("auto", "ipympl", "image")
_CACHE_SIZE = 32


def explore(
    layer=None,
    x=None,
    *,
    cell: str = "LSTM",
    units: int | None = None,
    timesteps: int | None = None,
    features: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    return_sequences: bool | None = None,
    return_state: bool | None = None,
    bidirectional: bool = False,
    sample: int = 0,
    canvas: str = "auto",
) -> Explorer:
    """Open the explorer: controls for the flags and sizes, the Keras line, and h / c over time.

    * ``layer``: your own Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` (or a ``Bidirectional``
      around one), or ``None`` to build one from ``cell``, ``units`` and ``seed``. Its kind,
      units and flags become the starting settings.
    * ``x``: your own input ``(batch, timesteps, features)``, or ``None`` for seeded normal
      numbers of the chosen sizes. Your ``x`` is used whenever the sizes match it.
    * ``cell``: ``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``; ``bidirectional`` wraps it.
    * ``units``, ``timesteps``, ``features``, ``batch``: sizes (defaults 2, 3, 1, 1, or those
      of ``layer`` and ``x``); ``seed`` seeds the generated weights and input.
    * ``return_sequences``, ``return_state``: the starting flags (default: the layer's, else False).
    * ``sample``: which sample of the batch to draw.
    * ``canvas``: ``"auto"`` (live ipympl canvas in a Jupyter kernel, else a PNG image),
      ``"ipympl"`` or ``"image"``.

    Returns an :class:`Explorer`; ``ex.controls`` holds its widgets, ``ex.figure`` the live
    figure, ``ex.code`` the Keras line shown. Display it with ``display(ex)`` or as a cell's
    last value.
    """
    settings = {"seed": _checks.integer(seed, "seed", *LIMITS["seed"])}
    own_layer = own_x = None
    if layer is not None:
        kind, is_bi = layer_kind(layer)
        inner = layer.forward_layer if is_bi else layer
        given = {"units": int(inner.units)}
        if inner.built and getattr(inner.cell, "kernel", None) is not None:
            given["features"] = int(inner.cell.kernel.shape[0])
        _agree("units", units, given["units"], "the layer")
        _agree("features", features, given.get("features"), "the layer")
        settings.update(cell=kind, bidirectional=is_bi, **given)
        own_layer = layer
        if return_sequences is None:
            return_sequences = bool(inner.return_sequences)
        if return_state is None:
            return_state = bool(inner.return_state)
    else:
        settings["cell"] = _checks.choice(cell, "cell", SUPPORTED_KINDS)
        settings["bidirectional"] = _checks.flag(bidirectional, "bidirectional")
    if x is not None:
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
    canvas = _checks.choice(canvas, "canvas", CANVASES)
    if canvas == "auto":
        canvas = "ipympl" if _in_kernel() and _has_ipympl() else "image"
    return Explorer(settings, own_layer, own_x, canvas)


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


class Explorer:
    """Widgets over one :class:`~rnnviz.plot.StatesView`; build it with :func:`explore`.

    * ``controls``: ``{"cell", "bidirectional", "return_sequences", "return_state", "units",
      "timesteps", "features", "batch", "sample", "seed"}`` -> ipywidgets; set ``.value`` to drive it.
    * ``figure``: the one Figure it draws into (the same object for its whole life).
    * ``code``: the Keras line for the current settings, with each returned tensor's shape.
    * ``trace``: the current :class:`~rnnviz.Trace` / :class:`~rnnviz.BidirectionalTrace`
      (``h``, ``c`` ``(batch, timesteps, units)``); ``layer``: the Keras layer it came from.
    * ``widget``: the whole ipywidgets box that is displayed.
    """

    def __init__(self, settings: dict, own_layer=None, own_x: np.ndarray | None = None, canvas: str = "image"):
        self._own_x = own_x
        self._layers: OrderedDict = OrderedDict()
        self._traces: OrderedDict = OrderedDict()
        if own_layer is not None:
            self._layers[self._layer_key(settings)] = own_layer
        self._canvas_kind = canvas
        self.figure = Figure(dpi=100)
        self.controls = _make_controls(settings)
        self.code = ""
        # The code box takes the room beside the controls, and wraps below them where there is none.
        self._code_box = widgets.HTML(layout=widgets.Layout(min_width="0", flex="1 1 420px"))
        self._picture = self._make_picture()
        self.trace: Trace | BidirectionalTrace | None = None
        self.layer = None
        self.view: StatesView | None = None
        self._quiet = False
        self._pngs: dict = {}
        self._retrace()
        for name in ("return_sequences", "return_state"):
            self.controls[name].observe(self._on_flag, names="value")
        for name in ("cell", "bidirectional", "units", "timesteps", "features", "batch", "seed"):
            self.controls[name].observe(self._on_size, names="value")
        self.controls["sample"].observe(self._on_sample, names="value")
        c = self.controls
        panel = widgets.VBox([
            widgets.HBox([c["cell"], c["bidirectional"]]),
            c["return_sequences"], c["return_state"],
            widgets.HBox([c["units"], c["timesteps"]]),
            widgets.HBox([c["features"], c["batch"]]),
            widgets.HBox([c["sample"], c["seed"]]),
        ], layout=widgets.Layout(flex="0 0 auto"))
        self.widget = widgets.VBox([
            widgets.HBox([panel, self._code_box], layout=widgets.Layout(flex_flow="row wrap")),
            self._picture,
        ])
        # Stable names for styling and for the browser tests to find the parts by.
        self.widget.add_class("rnnviz-explorer")
        c["return_sequences"].add_class("rnnviz-return-sequences")
        c["return_state"].add_class("rnnviz-return-state")
        self._picture.add_class("rnnviz-figure")
        self._code_box.add_class("rnnviz-code")

    # -- settings ------------------------------------------------------------------------------
    @property
    def settings(self) -> dict:
        """The current value of every control, by name."""
        return {name: widget.value for name, widget in self.controls.items()}

    @staticmethod
    def _layer_key(s: dict) -> tuple:
        return (s["cell"], bool(s["bidirectional"]), s["units"], s["features"], s["seed"])

    def _get_layer(self, s: dict):
        key = self._layer_key(s)
        if key not in self._layers:
            self._layers[key] = _make_layer(*key)
            while len(self._layers) > _CACHE_SIZE:
                self._layers.popitem(last=False)
        self._layers.move_to_end(key)
        return self._layers[key]

    def _get_trace(self, s: dict):
        key = (*self._layer_key(s), s["batch"], s["timesteps"])
        if key not in self._traces:
            shape = (s["batch"], s["timesteps"], s["features"])
            own = self._own_x is not None and self._own_x.shape == shape
            x = self._own_x if own else np.random.default_rng(s["seed"]).normal(size=shape).astype(np.float32)
            self._traces[key] = (trace(self._get_layer(s), x), own)
            while len(self._traces) > _CACHE_SIZE:
                self._traces.popitem(last=False)
        self._traces.move_to_end(key)
        self.layer = self._layers.get(self._layer_key(s))
        return self._traces[key]

    # -- reacting to the controls --------------------------------------------------------------
    def _on_flag(self, change) -> None:
        s = self.settings
        self.view.update(s["return_sequences"], s["return_state"])
        self._write_code()
        self._show()

    def _on_size(self, change) -> None:
        if not self._quiet:
            self._retrace()

    def _on_sample(self, change) -> None:
        if not self._quiet:
            self._redraw()

    def _retrace(self) -> None:
        s = self.settings
        self.trace, self._x_is_own = self._get_trace(s)
        sample = self.controls["sample"]
        self._quiet = True
        try:
            sample.max = s["batch"] - 1
            sample.disabled = s["batch"] == 1
        finally:
            self._quiet = False
        self._redraw()

    def _redraw(self) -> None:
        s = self.settings
        # No header in the figure: the code beside it lists the flags and shapes. 66 dpi makes it
        # 792 px wide, so it fits JupyterLab's output area beside the file browser in a 1280 px window.
        self.view = StatesView(self.trace, s["sample"], figure=self.figure, header=False, dpi=66)
        self._pngs = {}
        self.view.update(s["return_sequences"], s["return_state"])
        self._write_code()
        self._show()

    def _write_code(self) -> None:
        s = self.settings
        self.code = keras_line(self.trace, s["return_sequences"], s["return_state"], s["seed"], self._x_is_own)
        self._code_box.value = (
            "<div style='font-size:15px'><b>The Keras line for these settings</b></div>"
            "<pre style='font-family:monospace; white-space:pre; overflow-x:auto; font-size:15px; "
            f"line-height:1.4; margin:4px 0'>{html.escape(self.code)}</pre>"
        )

    # -- the picture ---------------------------------------------------------------------------
    def _make_picture(self):
        if self._canvas_kind == "ipympl":
            from ipympl.backend_nbagg import Canvas, FigureManager

            canvas = Canvas(self.figure)
            FigureManager(canvas, 0)
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.toolbar_visible = False
            canvas.resizable = False
            return canvas
        FigureCanvasAgg(self.figure)
        return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))

    def _png(self) -> bytes:
        """The figure as PNG bytes; each flag combination of the current view is encoded once."""
        from PIL import Image

        key = (self.view.return_sequences, self.view.return_state)
        if key in self._pngs:
            return self._pngs[key]
        self.view.render()
        buffer = io.BytesIO()
        pixels = np.asarray(self.figure.canvas.buffer_rgba())[..., :3]
        Image.fromarray(pixels).save(buffer, format="png", compress_level=1)
        self._pngs[key] = buffer.getvalue()
        return self._pngs[key]

    def _show(self) -> None:
        """Push the re-marked figure to the screen: a redraw of the live canvas, or a new PNG."""
        if self._canvas_kind == "ipympl":
            canvas = self.figure.canvas
            self.view.render()
            canvas.blit(self.figure.bbox)  # sends the changed pixels to the browser, no full redraw
            if getattr(canvas, "syncing_data_url", False):  # no browser yet (nbconvert, HTML export):
                canvas._data_url = "data:image/png;base64," + _b64(self._png())  # keep the static copy fresh
        else:
            self._picture.value = self._png()

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle = dict(bundle)
            bundle["image/png"] = _b64(self._png())  # what static viewers without widgets show
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        s = self.settings
        inner = f"{s['cell']}({s['units']})"
        what = f"Bidirectional({inner})" if s["bidirectional"] else inner
        return (f"Explorer of {what} on x ({s['batch']}, {s['timesteps']}, {s['features']}), "
                f"return_sequences={s['return_sequences']}, return_state={s['return_state']}")


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _make_controls(s: dict) -> dict:
    """The explorer's widgets, keyed by setting name, starting at the settings ``s``."""
    wide = {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="330px")}

    def slider(name):
        low, high = LIMITS[name]
        return widgets.IntSlider(value=s[name], min=low, max=max(high, s[name]), description=name,
                                 continuous_update=False, **wide)

    def flag(name):
        return widgets.ToggleButtons(options=[("False", False), ("True", True)], value=s[name],
                                     description=name, style={"description_width": "150px", "button_width": "80px"})

    return {
        "cell": widgets.ToggleButtons(options=list(SUPPORTED_KINDS), value=s["cell"], description="cell",
                                      style={"description_width": "40px", "button_width": "95px"}),
        "bidirectional": widgets.Checkbox(value=s["bidirectional"], description="Bidirectional", indent=False),
        "return_sequences": flag("return_sequences"),
        "return_state": flag("return_state"),
        "units": slider("units"),
        "timesteps": slider("timesteps"),
        "features": slider("features"),
        "batch": slider("batch"),
        "sample": widgets.IntSlider(value=s["sample"], min=0, max=max(s["batch"] - 1, 0), description="sample",
                                    disabled=s["batch"] == 1, continuous_update=False, **wide),
        "seed": widgets.BoundedIntText(value=s["seed"], min=LIMITS["seed"][0], max=LIMITS["seed"][1],
                                       description="seed", **wide),
    }


def _make_layer(cell: str, bidirectional: bool, units: int, features: int, seed: int):
    """A fresh, seeded, built Keras layer (weights from Keras's default initialisers, seeded)."""
    from ._quiet import import_keras

    keras = import_keras()
    cls = getattr(keras.layers, cell)

    def one(offset: int, go_backwards: bool = False):
        return cls(
            units,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + offset),
            recurrent_initializer=keras.initializers.Orthogonal(seed=seed + offset + 1),
            go_backwards=go_backwards,
        )

    layer = keras.layers.Bidirectional(one(0), backward_layer=one(2, True)) if bidirectional else one(0)
    layer.build((None, None, features))
    return layer


def keras_line(trace, return_sequences: bool, return_state: bool, seed: int = 0, own_x: bool = False) -> str:
    """The Keras code for these flags and how to unpack what it returns, with every shape.

    For example ``seq, state_h, state_c = LSTM(5, return_sequences=True, return_state=True)(x)``
    followed by one comment line per returned tensor giving its shape and what it holds.
    """
    bidirectional = isinstance(trace, BidirectionalTrace)
    flags = "".join(f", {name}=True" for name, on in (("return_sequences", return_sequences),
                                                      ("return_state", return_state)) if on)
    layer = f"{trace.kind}({trace.units}{flags})"
    if bidirectional:
        layer = f"Bidirectional({layer})"
    returned = trace.returns(return_sequences, return_state)
    steps = trace.timesteps
    names, notes = [], []
    for name, arr in returned:
        var, note = _describe(name, return_sequences, bidirectional, steps, getattr(trace, "merge_mode", None))
        names.append(var)
        notes.append((var, tuple(arr.shape), note))
    imports = f"from keras.layers import {'Bidirectional, ' if bidirectional else ''}{trace.kind}"
    if own_x:
        data = f"# x: your input, shape {trace.x.shape} (batch, timesteps, features)"
    else:
        data = f"x = np.random.default_rng({seed}).normal(size={trace.x.shape}).astype('float32')"
    width = max(len(var) for var, _, _ in notes)
    shape_width = max(len(str(shape)) for _, shape, _ in notes)
    lines = [imports, data, f"{', '.join(names)} = {layer}(x)"]
    lines += [f"# {var:<{width}}  {shape!s:<{shape_width}}  {note}" for var, shape, note in notes]
    return "\n".join(lines)


def _describe(name: str, rs: bool, bidirectional: bool, steps: int, merge_mode) -> tuple[str, str]:
    """``(variable name, what it holds)`` for one returned tensor."""
    last = f"t={steps - 1}"
    if name == "output":
        var = "seq" if rs else "output"
        if not bidirectional:
            return var, "h at every timestep" if rs else f"h at the last timestep ({last})"
        how = "side by side" if merge_mode == "concat" else f"merged ({merge_mode})"
        if rs:
            return var, f"forward and backward h {how}, every timestep in input order"
        return var, f"forward h at {last} and backward h at t=0, {how}"
    if name in ("forward_output", "backward_output"):
        direction = name.split("_")[0]
        var = f"{direction}_seq" if rs else name
        return var, f"{direction} h at every timestep" if rs else f"{direction} h at its last step"
    if name == "state_h":
        same = "seq[:, -1]" if rs else "output"
        return name, f"h at the last timestep, the same numbers as {same}"
    if name == "state_c":
        return name, "c at the last timestep (Keras gives no earlier c)"
    direction, state = name.split("_")
    where = last if direction == "forward" else "t=0 (the backward layer ends there)"
    return name, f"{direction} {state} at {where}"
