"""The explorer, driven headless: set control values, check the figure, the marks and the code."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import rnnviz
from rnnviz.explorer import Explorer

CONTROLS = {"cell", "cells", "return_sequences", "return_state", "units", "timesteps", "features", "batch", "seed",
            "bidirectional", "sample"}


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible()))


def _shapes_shown(ex: Explorer) -> None:
    """Every tensor Keras returns for the current flags appears, with its shape, in figure and code."""
    s = ex.settings
    text = _texts(ex.figure)
    for name, arr in ex.trace.returns(s["return_sequences"], s["return_state"]):
        assert f"{name} {tuple(arr.shape)}" in text
        assert str(tuple(arr.shape)) in ex.code


def test_controls_and_first_picture():
    ex = rnnviz.explore(canvas="image")
    assert CONTROLS <= set(ex.controls)
    assert ex.controls["cell"].value == "LSTM" and ex.trace.h.shape == (1, 3, 2)
    assert "layer = LSTM(2)\n" in ex.code and _call_line(ex.code) == "output = layer(x)"
    assert ex._picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    _shapes_shown(ex)


def test_flag_toggle_remarks_without_retracing_or_new_figure():
    ex = rnnviz.explore(units=3, timesteps=4, canvas="image")
    figure, trace_before, axes_before = ex.figure, ex.trace, list(ex.figure.axes)
    png_before = ex._picture.value
    ex.controls["return_sequences"].value = True
    assert ex.figure is figure and ex.trace is trace_before and ex.figure.axes == axes_before
    assert ex._picture.value != png_before
    assert set(ex.view.marks["h"].values()) == {(0, 3)}
    assert "layer = LSTM(3, return_sequences=True)\n" in ex.code and _call_line(ex.code) == "output = layer(x)"
    ex.controls["return_state"].value = True
    assert "layer = LSTM(3, return_sequences=True, return_state=True)\n" in ex.code
    assert _call_line(ex.code) == "output, state_h, state_c = layer(x)"
    assert list(ex.view.marks["c"].values()) == [(3, 3)]
    _shapes_shown(ex)
    ex.controls["return_sequences"].value = False
    assert "layer = LSTM(3, return_state=True)\n" in ex.code
    assert _call_line(ex.code) == "output, state_h, state_c = layer(x)"
    _shapes_shown(ex)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_code_recreates_the_drawn_numbers(bidirectional):
    """The snippet alone (its own imports, seed and x) gives the very numbers drawn, named as in the figure.

    (tests/test_snippet.py pastes snippets into a fresh Python process; this runs the explorer's own.)"""
    ex = rnnviz.explore(cell="GRU", units=3, timesteps=5, features=2, batch=2, seed=4, bidirectional=bidirectional,
                        canvas="image")
    for rs, rst in [(False, False), (True, False), (False, True), (True, True)]:
        ex.controls["return_sequences"].value, ex.controls["return_state"].value = rs, rst
        namespace = {}
        exec(ex.code, namespace)  # noqa: S102  (our own generated snippet)
        returned = ex.trace.returns(rs, rst)
        assert _unpacked(ex.code) == [name for name, _ in returned]  # the figure's names
        for name, arr in returned:
            np.testing.assert_allclose(np.asarray(namespace[name]), arr, atol=1e-5, err_msg=name)
            assert f"{name} {tuple(arr.shape)}" in _texts(ex.figure)


def _call_line(code: str) -> str:
    return next(line for line in code.splitlines() if line.endswith(" = layer(x)"))


def _unpacked(code: str) -> list[str]:
    return [v.strip() for v in _call_line(code).split("=")[0].split(",")]


def test_size_change_retraces_from_a_cached_layer():
    ex = rnnviz.explore(units=2, canvas="image")
    first_layer = ex.layer
    ex.controls["units"].value = 4
    assert ex.trace.h.shape == (1, 3, 4) and ex.layer is not first_layer
    ex.controls["units"].value = 2
    assert ex.layer is first_layer  # back to the first settings: the same layer, not a new one
    ex.controls["timesteps"].value = 6  # timesteps do not change the weights: same layer
    assert ex.layer is first_layer and ex.trace.h.shape == (1, 6, 2)
    ex.controls["cell"].value = "SimpleRNN"
    assert ex.trace.kind == "SimpleRNN" and len(ex.figure.axes) == 1
    assert "state_c" not in _texts(ex.figure)
    _shapes_shown(ex)


def test_trace_equals_keras_for_the_generated_layer():
    ex = rnnviz.explore(cell="LSTM", units=2, timesteps=4, features=3, batch=2, canvas="image")
    ex.controls["return_sequences"].value = True
    keras_seq = np.asarray(ex.layer(ex.trace.x))  # the layer's own flags are False: last h only
    np.testing.assert_allclose(keras_seq, ex.trace.h[:, -1], atol=1e-5)


def test_bidirectional_toggle_and_code():
    ex = rnnviz.explore(canvas="image")
    ex.controls["bidirectional"].value = True
    ex.controls["return_state"].value = True
    assert [p.key for p in ex.view.panels] == ["forward h", "forward c", "backward h", "backward c"]
    assert _unpacked(ex.code) == ["output", "forward_h", "forward_c", "backward_h", "backward_c"]
    assert "layer = Bidirectional(LSTM(2, return_state=True))" in ex.code
    assert list(ex.view.marks["backward h"].values()) == [(0, 0), (0, 0)]  # output half and backward_h at t=0
    _shapes_shown(ex)


def test_batch_and_sample_controls():
    ex = rnnviz.explore(batch=1, canvas="image")
    assert ex.controls["sample"].disabled
    ex.controls["batch"].value = 3
    assert ex.controls["sample"].max == 2 and not ex.controls["sample"].disabled
    ex.controls["sample"].value = 2
    assert ex.view.sample == 2 and "sample 2 of 3" in _texts(ex.figure)
    ex.controls["batch"].value = 2  # the slider clamps the sample into range
    assert ex.controls["sample"].value == 1 and ex.view.sample == 1


def test_starts_from_the_learners_layer_and_x():
    keras.utils.set_random_seed(0)
    layer = keras.layers.GRU(3, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    ex = rnnviz.explore(layer=layer, x=x, canvas="image")
    s = ex.settings
    assert (s["cell"], s["units"], s["batch"], s["timesteps"], s["features"]) == ("GRU", 3, 2, 5, 4)
    assert s["return_sequences"] is True and s["return_state"] is False  # taken from the layer
    assert ex.layer is layer
    np.testing.assert_allclose(np.asarray(layer(x)), ex.trace.h, atol=1e-5)  # the learner's own numbers
    assert np.array_equal(ex.trace.x, x) and "np.array(" in ex.code and ex.notice == ""  # the snippet writes out your x
    ex.controls["timesteps"].value = 3  # other sizes: generated x, the same layer, and a visible notice
    assert ex.layer is layer and ex.trace.x.shape == (2, 3, 4)
    assert "do not fit your x (2, 5, 4)" in ex.notice and "Reset" in ex.notice
    assert "do not fit your x" in ex._notice_box.value
    ex.controls["units"].value = 4  # not the learner's layer any more: said too
    assert ex.layer is not layer and "not your layer" in ex.notice
    ex.controls["return_state"].value = True
    ex.controls["reset"].click()  # everything back as it started
    assert ex.settings == s and ex.layer is layer and np.array_equal(ex.trace.x, x) and ex.notice == ""
    assert ex._notice_box.value == ""


def test_display_bundle_has_the_widget_and_a_png_fallback():
    ex = rnnviz.explore(canvas="image")
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "image/png" in bundle and bundle["text/plain"].startswith("Explorer of LSTM(2)")


def test_ipympl_canvas_mode_headless():
    pytest.importorskip("ipympl")
    ex = rnnviz.explore(canvas="ipympl")
    ex.controls["return_state"].value = True
    assert type(ex.figure.canvas).__name__ == "_LiveCanvas"
    assert ex.figure.canvas._data_url.startswith("data:image/png;base64,")  # what static exports show
    _shapes_shown(ex)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cell": "LSTMs"}, ValueError, "cell: expected one of 'LSTM', 'GRU', 'SimpleRNN', 'ConvLSTM2D', got 'LSTMs'"),
        ({"cells": 3}, ValueError, "cells: expected a whole number from 1 to 2, got 3"),
        ({"cells": 2, "bidirectional": True}, ValueError, "bidirectional: rnnviz does not trace a Bidirectional around"),
        ({"cell": "ConvLSTM2D", "cells": 2}, ValueError, "cell: the explorer's ConvLSTM2D is one layer in one direction"),
        ({"cell": "ConvLSTM2D", "bidirectional": True}, ValueError, "cell: the explorer's ConvLSTM2D is one layer"),
        ({"cells": 2, "view": "unrolled"}, ValueError, r"view: RNN\(\[LSTMCell\(2\), LSTMCell\(2\)\]\) is drawn over time"),
        ({"cell": "ConvLSTM2D", "view": "cell"}, ValueError, "view: ConvLSTM2D.* is drawn over time only"),
        ({"cell": "ConvLSTM2D", "x": np.zeros((1, 3, 1))}, ValueError, "x: the explorer makes the ConvLSTM2D's input"),
        ({"units": 0}, ValueError, "units: expected a whole number from 1 to 32, got 0"),
        ({"timesteps": 2.5}, TypeError, "timesteps: expected a whole number"),
        ({"batch": 100}, ValueError, "batch: expected a whole number from 1 to 8"),
        ({"return_state": "True"}, TypeError, "return_state: expected True or False"),
        ({"sample": 1}, ValueError, r"sample: expected an index into the batch of 1 sample \(0 to 0\), got 1"),
        ({"seed": -1}, ValueError, "seed: expected a whole number from 0"),
        ({"canvas": "svg"}, ValueError, "canvas: expected one of 'auto', 'ipympl', 'image'"),
        ({"layer": "LSTM"}, TypeError, "layer: expected a Keras LSTM, GRU or SimpleRNN"),
        ({"x": np.zeros((3, 1))}, ValueError, r"x: expected a 3-D array"),
        ({"x": np.zeros((1, 3, 2)), "timesteps": 4}, ValueError, "timesteps: you passed timesteps=4, but x has"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        rnnviz.explore(**kwargs)


def test_layer_and_units_that_disagree():
    with pytest.raises(ValueError, match="units: you passed units=5, but the layer has units = 2"):
        rnnviz.explore(layer=keras.layers.LSTM(2), units=5)


def test_one_figure_size_for_every_setting():
    """A live canvas that changes size garbles in JupyterLab (see rnnviz.explorer): the figure never does."""
    ex = rnnviz.explore(canvas="image")
    sizes = {tuple(ex.figure.get_size_inches())}
    for name, value in [("cell", "GRU"), ("bidirectional", True), ("units", 9), ("cell", "LSTM"), ("timesteps", 20),
                        ("batch", 3), ("bidirectional", False), ("units", 1)]:
        ex.controls[name].value = value
        sizes.add(tuple(ex.figure.get_size_inches()))
        assert ex._picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert sizes == {rnnviz.explorer.FIGURE_SIZE}


def _pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_live_canvas_sends_whole_frames_equal_to_a_fresh_explorer():
    """Every frame the live canvas sends is complete: the same pixels as an explorer built with the final settings."""
    pytest.importorskip("ipympl")
    ex = rnnviz.explore(canvas="ipympl")
    canvas = ex.figure.canvas
    sent = []
    canvas.send = lambda content, buffers=None: sent.extend(buffers or [])  # what would travel to the page
    changes = [("cell", "GRU"), ("bidirectional", True), ("units", 3), ("return_state", True), ("seed", 5),
               ("return_sequences", True), ("batch", 2), ("sample", 1), ("timesteps", 4), ("cell", "LSTM"),
               ("t", 1), ("view", "unrolled"), ("t", 2), ("view", "cell"), ("return_state", False), ("view", "time")]
    for name, value in changes:
        before = len(sent)
        ex.controls[name].value = value
        assert len(sent) == before + 1, f"{name}: one change, one frame"
        s = ex.settings
        direct = rnnviz.explore(canvas="image", **s)
        np.testing.assert_array_equal(_pixels(bytes(sent[-1])), _pixels(direct._png()), err_msg=name)
    canvas.draw()  # a full redraw, as the page asks for after a refresh: the same whole picture
    np.testing.assert_array_equal(_pixels(bytes(sent[-1])), _pixels(direct._png()))
    ex.controls["view"].value = "cell"
    canvas.draw()  # in the other views too
    np.testing.assert_array_equal(_pixels(bytes(sent[-1])), _pixels(rnnviz.explore(canvas="image", **ex.settings)._png()))


def test_live_canvas_keeps_its_size_when_the_page_asks_for_another():
    """ipympl's page has a resize handle (it turns it on itself): the explorer's figure keeps its one size."""
    pytest.importorskip("ipympl")
    ex = rnnviz.explore(canvas="ipympl")
    canvas = ex.figure.canvas
    messages = []
    canvas.send = lambda content, buffers=None: messages.append(content)
    canvas.handle_event({"type": "resize", "width": 400, "height": 900})
    assert tuple(ex.figure.get_size_inches()) == rnnviz.explorer.FIGURE_SIZE
    assert any('"resize"' in m.get("data", "") for m in messages)  # the page is told the size it keeps


@pytest.mark.parametrize("view", ["time", "unrolled", "cell"])
def test_views_and_the_step_t(view):
    """Three views of the same trace; t outlines a step in each; a flag flip never traces again."""
    ex = rnnviz.explore(units=2, timesteps=4, view=view, canvas="image")
    assert ex.controls["t"].value == 3 and ex.controls["t"].max == 3 and ex.controls["play"].max == 3
    trace, pictures = ex.trace, {ex._picture.value}
    for name, value in [("t", 1), ("return_state", True), ("t", 0), ("return_sequences", True)]:
        ex.controls[name].value = value
        assert ex.trace is trace  # no recomputation
        pictures.add(ex._picture.value)
    assert len(pictures) == 5  # every change drew something new
    width, height = rnnviz.explorer._pixels(rnnviz.explorer.CELL_FIGURE_SIZE if view == "cell"
                                            else rnnviz.explorer.FIGURE_SIZE)
    assert _pixels(ex._picture.value).shape == (height, width, 3)
    if view == "time":
        assert ex.view.t == 0 and "t=0" in _texts(ex.figure)


def test_the_step_follows_the_last_timestep_and_stays_in_range():
    ex = rnnviz.explore(timesteps=5, canvas="image")
    ex.controls["timesteps"].value = 8  # t was the last step: it stays the last
    assert ex.controls["t"].value == 7 and ex.controls["play"].max == 7
    ex.controls["t"].value = 2
    ex.controls["timesteps"].value = 6  # t elsewhere: it stays put
    assert ex.controls["t"].value == 2
    ex.controls["timesteps"].value = 2  # and is clamped into range
    assert ex.controls["t"].value == 1


def test_bad_view_and_t():
    with pytest.raises(ValueError, match="view: expected one of 'time', 'unrolled', 'cell'"):
        rnnviz.explore(view="gates")
    with pytest.raises(ValueError, match="t: expected a whole number from 0 to 2"):
        rnnviz.explore(t=3)


@pytest.mark.parametrize("view", ["unrolled", "cell"])
def test_the_next_step_is_drawn_ahead_and_equals_a_fresh_drawing(view):
    """After a move of t, step t + 1 (what Play and the arrow keys ask for next) is already drawn, and is the very
    picture the explorer draws for it from nothing."""
    ex = rnnviz.explore(units=2, timesteps=4, view=view, canvas="image")
    ex.controls["t"].value = 0
    flags = (ex.controls["return_sequences"].value, ex.controls["return_state"].value)
    assert (view, 1, *flags) in ex._pngs and (view, 2, *flags) not in ex._pngs
    ahead = ex._pngs[(view, 1, *flags)]
    ex.controls["t"].value = 1
    fresh = rnnviz.explore(units=2, timesteps=4, view=view, t=1, canvas="image")
    assert ex._picture.value == ahead[0] == fresh._picture.value
    ex.controls["t"].value = 3  # Play wraps from the last step to the first
    assert (view, 0, *flags) in ex._pngs


@pytest.mark.parametrize("view", ["time", "unrolled", "cell"])
def test_static_copy_describes_the_view_shown(view):
    ex = rnnviz.explore(units=2, timesteps=3, view=view, return_state=True, canvas="image")
    bundle = ex._repr_mimebundle_()
    alt = ex._alt()
    assert f'alt="{alt}"' in bundle["text/html"].replace("&#x27;", "'")
    for name, arr in ex.trace.returns(False, True):
        assert f"{name} {tuple(arr.shape)}" in alt
    assert {"time": "at every timestep of x (1, 3, 1)", "unrolled": "unrolled over 3 timesteps",
            "cell": "cell at t=2"}[view] in alt


def test_a_bidirectional_layer_unrolled_gets_the_tall_canvas():
    """Two rows of cells are taller than wide: on the wide canvas they would shrink to fit its height."""
    ex = rnnviz.explore(units=2, timesteps=8, bidirectional=True, view="unrolled", canvas="image")
    tall = rnnviz.explorer._pixels(rnnviz.explorer.CELL_FIGURE_SIZE)
    assert _pixels(ex._picture.value).shape == (tall[1], tall[0], 3)
    inked = np.flatnonzero((_pixels(ex._picture.value) < 250).any(axis=(0, 2)))  # columns with anything drawn
    assert inked[-1] - inked[0] > 0.9 * tall[0]  # the picture spans the canvas's width
    ex.controls["bidirectional"].value = False
    wide = rnnviz.explorer._pixels(rnnviz.explorer.FIGURE_SIZE)
    assert _pixels(ex._picture.value).shape == (wide[1], wide[0], 3)


# -- stacked cells and the ConvLSTM2D ---------------------------------------------------------------

def _returned(trace, rs, rst) -> list[tuple[str, tuple]]:
    """What the figure names for each returned tensor: ``output``, ``state_h``, or ``cell_0 state_h`` for a stack."""
    out = []
    for name, value in trace.returns(rs, rst):
        if isinstance(value, list):
            out += [(f"{name} {state}", tuple(arr.shape)) for state, arr in value]
        else:
            out.append((name, tuple(value.shape)))
    return out


def _code_matches_the_trace(ex: Explorer) -> None:
    """The explorer's snippet, run on its own, gives every returned tensor, named and nested as Keras returns them."""
    from rnnviz.snippet import flat_returns, unpack_targets

    s = ex.settings
    returned = ex.trace.returns(s["return_sequences"], s["return_state"])
    assert _call_line(ex.code) == f"{', '.join(unpack_targets(returned))} = layer(x)"
    namespace = {}
    exec(ex.code, namespace)  # noqa: S102  (our own generated snippet)
    for name, arr in flat_returns(returned):
        np.testing.assert_allclose(np.asarray(namespace[name]), arr, atol=1e-5, err_msg=f"{name}\n{ex.code}")
        assert str(tuple(arr.shape)) in ex.code


def test_two_stacked_cells_and_back():
    ex = rnnviz.explore(units=3, timesteps=4, canvas="image")
    figure = ex.figure
    ex.controls["cells"].value = 2
    assert isinstance(ex.trace, rnnviz.StackedTrace) and [c.kind for c in ex.trace.cells] == ["LSTM", "LSTM"]
    assert ex.trace.cells[1].h.shape == (1, 4, 3) and ex.figure is figure
    assert repr(ex) == ("Explorer of RNN([LSTMCell(3), LSTMCell(3)]) on x (1, 4, 1), return_sequences=False, "
                        "return_state=False")
    assert type(ex.layer) is keras.layers.RNN
    np.testing.assert_allclose(np.asarray(ex.layer(ex.trace.x)), ex.trace.cells[1].h[:, -1], atol=1e-5)
    # Bidirectional and the unrolled and cell views are greyed out, and the notice says why and what to do instead.
    assert ex.controls["bidirectional"].disabled and ex.controls["view"].disabled
    assert ex.controls["bidirectional"].value is False and ex.controls["view"].value == "time"
    assert "does not trace a Bidirectional" in ex.controls["bidirectional"].tooltip
    assert "2 cells" in ex.notice and "trace(layer, x).cells[1]" in ex.notice and "Greyed out" in ex._notice_box.value
    trace = ex.trace
    for rs, rst in [(False, True), (True, True), (True, False), (False, False)]:
        ex.controls["return_sequences"].value, ex.controls["return_state"].value = rs, rst
        assert ex.trace is trace and ex.figure is figure  # flags re-mark, never trace again
        labels = "\n".join(ex.view.labels.values())
        for name, shape in _returned(trace, rs, rst):
            assert f"{name} {shape}" in labels and f"{name} {shape}" in _texts(ex.figure)
            assert f"{name.split()[-1]} {shape}" in ex._alt()  # e.g. "cell_0 [state_h (1, 3), ...]"
        _code_matches_the_trace(ex)
    ex.controls["return_state"].value = True
    assert _call_line(ex.code) == "output, [cell_0_h, cell_0_c], [cell_1_h, cell_1_c] = layer(x)"
    ex.controls["cell"].value = "GRU"
    assert [c.kind for c in ex.trace.cells] == ["GRU", "GRU"]
    assert _call_line(ex.code) == "output, [cell_0_h], [cell_1_h] = layer(x)"
    _code_matches_the_trace(ex)
    assert tuple(ex.figure.get_size_inches()) == rnnviz.explorer.FIGURE_SIZE
    ex.controls["cells"].value = 1  # back to one layer: everything is free again
    assert isinstance(ex.trace, rnnviz.Trace) and ex.trace.kind == "GRU" and ex.notice == ""
    assert not ex.controls["bidirectional"].disabled and not ex.controls["view"].disabled
    assert ex._notice_box.value == "" and _call_line(ex.code) == "output, state_h = layer(x)"


def test_greyed_out_controls_get_their_values_back():
    """Two cells switch Bidirectional off and show the time view; one cell gives back what the learner had."""
    ex = rnnviz.explore(bidirectional=True, view="unrolled", canvas="image")
    ex.controls["cells"].value = 2
    assert (ex.settings["bidirectional"], ex.settings["view"]) == (False, "time")
    assert _pixels(ex._picture.value).shape[:2] == rnnviz.explorer._pixels(rnnviz.explorer.FIGURE_SIZE)[::-1]
    ex.controls["cell"].value = "ConvLSTM2D"  # the ConvLSTM2D is one cell: the stack is greyed out too
    assert ex.controls["cells"].disabled and ex.settings["cells"] == 1
    ex.controls["cell"].value = "GRU"
    assert ex.settings["cells"] == 2 and ex.controls["bidirectional"].disabled
    ex.controls["cells"].value = 1
    s = ex.settings
    assert (s["cell"], s["cells"], s["bidirectional"], s["view"]) == ("GRU", 1, True, "unrolled")
    assert isinstance(ex.trace, rnnviz.BidirectionalTrace)


def test_reset_from_a_stack():
    ex = rnnviz.explore(cells=2, cell="SimpleRNN", canvas="image")
    assert isinstance(ex.trace, rnnviz.StackedTrace) and ex.controls["view"].disabled
    start = ex.settings
    ex.controls["cells"].value = 1
    ex.controls["bidirectional"].value = True
    ex.controls["reset"].click()
    assert ex.settings == start and isinstance(ex.trace, rnnviz.StackedTrace)
    assert ex.controls["bidirectional"].disabled and ex.controls["view"].disabled
    ex.controls["view"].value = "unrolled"  # set from code while greyed out: the explorer keeps "over time"
    assert ex.settings["view"] == "time" and ex._alt() == ex.view.alt_text()
    ex.controls["cells"].value = 1  # nothing from before the reset comes back
    assert ex.settings["bidirectional"] is False


def test_conv_lstm2d_and_back():
    ex = rnnviz.explore(units=3, canvas="image")
    figure = ex.figure
    ex.controls["features"].value = 2
    ex.controls["cell"].value = "ConvLSTM2D"
    assert isinstance(ex.trace, rnnviz.ConvTrace) and ex.trace.x.shape == (1, 3, 6, 6, 2)
    assert ex.trace.h.shape == (1, 3, 6, 6, 3) and ex.figure is figure
    assert type(ex.layer) is keras.layers.ConvLSTM2D
    np.testing.assert_allclose(np.asarray(ex.layer(ex.trace.x)), ex.trace.h[:, -1], atol=1e-5)
    assert repr(ex) == ('Explorer of ConvLSTM2D(filters=3, kernel_size=3, padding="same") on x (1, 3, 6, 6, 2), '
                        "return_sequences=False, return_state=False")
    assert (ex.controls["units"].description, ex.controls["features"].description) == ("filters", "channels")
    assert all(ex.controls[name].disabled for name in ("cells", "bidirectional", "view"))
    assert "ConvLSTM2D" in ex.notice and "images" in ex.notice
    assert isinstance(ex.view, rnnviz.conv_plot.ConvStatesView)
    trace, axes = ex.trace, list(ex.figure.axes)
    pictures = {ex._picture.value}
    for rs, rst in [(False, True), (True, True), (True, False), (False, False)]:
        ex.controls["return_sequences"].value, ex.controls["return_state"].value = rs, rst
        assert ex.trace is trace and ex.figure.axes == axes  # re-marked, not traced or drawn again
        pictures.add(ex._picture.value)
        returned = trace.returns(rs, rst)
        assert list(ex.view.marks) == [name for name, _ in returned]
        labels = "\n".join(ex.view.labels.values())
        for name, arr in returned:
            assert f"{name} {tuple(arr.shape)}" in labels and f"{name} {tuple(arr.shape)}" in ex._alt()
        assert ex.view.labels["c"].startswith("Keras returns state_c" if rst else "Keras does not return c")
        framed = ex.figure.state_axes["h"][-1].spines["left"].get_linewidth()
        assert framed >= 3  # h at the last step is always returned (output)
        _code_matches_the_trace(ex)
    assert len(pictures) == 4
    ex.controls["t"].value = 0
    assert ex.view.t == 0 and ex.view._t_bands[0].get_visible()
    assert _pixels(ex._picture.value).shape[:2] == rnnviz.explorer._pixels(rnnviz.explorer.FIGURE_SIZE)[::-1]
    ex.controls["cell"].value = "LSTM"  # back: a vector layer, every control free again
    assert isinstance(ex.trace, rnnviz.Trace) and ex.trace.x.shape == (1, 3, 2) and ex.notice == ""
    assert ex.controls["units"].description == "units" and not ex.controls["view"].disabled


def test_opening_on_a_stack_or_a_conv_lstm2d():
    ex = rnnviz.explore(cell="GRU", cells=2, units=4, return_state=True, canvas="image")
    assert [c.units for c in ex.trace.cells] == [4, 4] and ex.controls["bidirectional"].disabled
    assert "layer = RNN([GRUCell(4), GRUCell(4)], return_state=True)" in ex.code
    ex = rnnviz.explore(cell="ConvLSTM2D", timesteps=5, batch=2, sample=1, canvas="image")
    assert ex.trace.x.shape == (2, 5, 6, 6, 1) and ex.view.sample == 1
    assert "filter 0 of sample 1" in ex._alt()


def test_a_learners_stack_or_conv_lstm_gets_a_pointer():
    stack = keras.layers.RNN([keras.layers.GRUCell(3), keras.layers.GRUCell(3)])
    with pytest.raises(ValueError, match=r"explore\(cell='GRU', cells=2, units=3\)"):
        rnnviz.explore(layer=stack)
    with pytest.raises(ValueError, match="layer: the explorer makes its own small ConvLSTM2D"):
        rnnviz.explore(layer=keras.layers.ConvLSTM2D(2, 3))


def test_live_canvas_sends_whole_frames_for_stacks_and_conv_lstm2d():
    pytest.importorskip("ipympl")
    ex = rnnviz.explore(canvas="ipympl")
    sent = []
    ex.figure.canvas.send = lambda content, buffers=None: sent.extend(buffers or [])
    for name, value in [("cells", 2), ("return_state", True), ("cell", "GRU"), ("t", 1), ("cell", "ConvLSTM2D"),
                        ("return_sequences", True), ("t", 2), ("units", 3), ("cell", "LSTM"), ("cells", 1)]:
        before = len(sent)
        ex.controls[name].value = value
        assert len(sent) == before + 1, f"{name}: one change, one frame"
        direct = rnnviz.explore(canvas="image", **ex.settings)
        np.testing.assert_array_equal(_pixels(bytes(sent[-1])), _pixels(direct._png()), err_msg=f"{name}={value}")
