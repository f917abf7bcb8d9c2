"""draw_cell: every number on the diagram is the trace's, the marks follow trace.returns, bad calls say how to fix them."""

from __future__ import annotations

import functools
import itertools
import re

import keras
import numpy as np
import pytest

import rnnviz
from rnnviz.cell_diagram import draw_cell
from rnnviz.plot import StatesFigure

KINDS = ["LSTM", "GRU", "SimpleRNN"]
FLAGS = list(itertools.product([False, True], repeat=2))
GATES = {"LSTM": {"input", "forget", "candidate", "output"}, "GRU": {"update", "reset", "candidate"}, "SimpleRNN": set()}


@functools.cache
def _trace(kind="LSTM", units=2, batch=2, timesteps=3, bidirectional=False, merge_mode="concat"):
    keras.utils.set_random_seed(0)
    layer = getattr(keras.layers, kind)(units)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode)
    x = np.random.default_rng(1).normal(size=(batch, timesteps, 2)).astype("float32")
    return rnnviz.trace(layer, x)


def _texts(fig, prefix: str) -> dict[str, str]:
    """gid -> text of the diagram's texts whose gid starts with ``prefix``."""
    return {t.get_gid(): t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith(prefix)}


def _numbers(text: str) -> list[str]:
    return [token.replace("\u2212", "-") for token in text.split() if token != "\u2026"]


def _fmt(v) -> str:
    text = f"{float(v):.2f}"
    return "0.00" if text == "-0.00" else text


def _expected(tr, layer, key: str, t: int, sample: int) -> np.ndarray:
    zeros = np.zeros(layer.units)
    if key.startswith("value:gate:"):
        return layer.gates[key.removeprefix("value:gate:")][sample, t]
    return {
        "value:state:h": layer.h[sample, t],
        "value:state:c": None if layer.c is None else layer.c[sample, t],
        "value:state:h_prev": layer.h[sample, t - 1] if t else zeros,
        "value:state:c_prev": None if layer.c is None else (layer.c[sample, t - 1] if t else zeros),
        "value:x": layer.x[sample, layer.input_steps[t]],
    }[key]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("units", [2, 6])
@pytest.mark.parametrize("t", [0, 2])
def test_every_number_written_is_the_trace_value_at_t(kind, units, t):
    tr = _trace(kind, units)
    fig = draw_cell(tr, t, sample=1)
    values = _texts(fig, "value:")
    states = {"value:state:h", "value:state:h_prev", "value:x"}
    if kind == "LSTM":
        states |= {"value:state:c", "value:state:c_prev"}
    assert set(values) == states | {f"value:gate:{g}" for g in GATES[kind]}
    for key, text in values.items():
        expected = _expected(tr, tr, key, t, 1)
        shown = _numbers(text)
        assert len(shown) == min(len(expected), 4), key
        assert shown == [_fmt(v) for v in expected[: len(shown)]], key
        assert ("\u2026" in text) == (len(expected) > 4), key
        if key != "value:x":  # one square per unit for every vector but the input
            squares = [p for p in fig.axes[0].patches if (p.get_gid() or "").startswith(f"square:{key[6:]}:")]
            assert len(squares) == units, key
    # no other text on the diagram carries a value (the colour keys' tick labels are a scale, not values)
    others = [t_.get_text() for t_ in fig.axes[0].texts if not (t_.get_gid() or "").startswith(("value:", "key:"))]
    assert not [o for o in others if re.search(r"\d\.\d\d", o)]


@pytest.mark.parametrize("kind", KINDS)
def test_the_gates_drawn_are_exactly_the_kinds_gates(kind):
    tr = _trace(kind)
    assert set(tr.gates) == GATES[kind]
    drawn = {k.removeprefix("title:gate:") for k in _texts(draw_cell(tr, 1), "title:gate:")}
    assert drawn == GATES[kind]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("rs", "rst"), FLAGS)
@pytest.mark.parametrize("t", [1, 2])
def test_marks_name_what_trace_returns(kind, rs, rst, t):
    tr = _trace(kind)
    fig = draw_cell(tr, t, return_sequences=rs, return_state=rst)
    marks = _texts(fig, "returned:")
    frames = {p.get_gid() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("frame:")}
    shapes = {name: tuple(arr.shape) for name, arr in tr.returns(rs, rst)}
    last = t == tr.timesteps - 1
    h_returned = rs or last
    assert ("frame:h" in frames) == h_returned
    assert ("frame:c" in frames) == (kind == "LSTM" and rst and last)
    if h_returned:
        assert f"output {shapes['output']}" in marks["returned:h"]
        assert (f"output[:, {t}]" in marks["returned:h"]) == rs
        assert (f"state_h {shapes.get('state_h')}" in marks["returned:h"]) == (rst and last)
    if "frame:c" in frames:
        assert f"state_c {shapes['state_c']}" in marks["returned:c"]
    names = set(re.findall(r"\b(output|state_[hc])\b", " ".join(marks.values())))
    assert names <= set(shapes)  # only names Keras returns for these flags


def test_default_frames_nothing_and_the_caption_says_what_each_flag_returns():
    tr = _trace("LSTM")
    fig = draw_cell(tr, 2)
    assert not _texts(fig, "returned:")
    caption = _texts(fig, "caption")["caption"].replace("\n", " ")
    for rs, rst in FLAGS:
        for name, arr in tr.returns(rs, rst):
            assert f"{name} {tuple(arr.shape)}" in caption
    assert "output[:, 2]" in caption
    early = _texts(draw_cell(tr, 0), "caption")["caption"].replace("\n", " ")
    assert "only with return_sequences=True" in early and "state_c" in early


def test_title_and_alt_text():
    tr = _trace("LSTM")
    fig = draw_cell(tr, 1, sample=0)
    assert isinstance(fig, StatesFigure) and fig._repr_png_().startswith(b"\x89PNG")
    titles = [t.get_text() for t in fig.axes[0].texts]
    assert "LSTM(2) cell at t=1 (sample 0 of 2)" in titles
    assert "h at t=1: [" + ", ".join(_fmt(v) for v in tr.h[0, 1]).replace("-", "\u2212") + "]" in fig.alt_text
    assert "c at t=1: [" in fig.alt_text
    assert "c at t=" not in draw_cell(_trace("GRU"), 1).alt_text


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_bidirectional_draws_the_chosen_direction(direction):
    tr = _trace("GRU", bidirectional=True)
    layer = getattr(tr, direction)
    fig = draw_cell(tr, 2, direction=direction, return_sequences=True, return_state=True)
    assert any(f"{direction} layer" in t.get_text() for t in fig.axes[0].texts)
    for key, text in _texts(fig, "value:").items():
        assert _numbers(text) == [_fmt(v) for v in _expected(tr, layer, key, 2, 0)[:4]], key
    shapes = {name: tuple(arr.shape) for name, arr in tr.returns(True, True)}
    mark = _texts(fig, "returned:")["returned:h"]
    assert f"{direction}_h {shapes[f'{direction}_h']}" in mark
    row = 2 if direction == "forward" else 0  # Keras lines the backward sequence up with the input
    assert f"output[:, {row}, " in mark and f"{shapes['output']}" in mark
    if direction == "backward":
        assert any("reads timestep 0 of x" in t.get_text() for t in fig.axes[0].texts)


def test_initial_state_shows_at_t0_and_a_missing_one_is_caught():
    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(2)
    x = np.random.default_rng(1).normal(size=(1, 2, 2)).astype("float32")
    h0, c0 = np.full((1, 2), 0.5, "float32"), np.full((1, 2), -0.25, "float32")
    tr = rnnviz.trace(layer, x, initial_state=[h0, c0])
    values = _texts(draw_cell(tr, 0, initial_state=[h0, c0]), "value:")
    assert _numbers(values["value:state:h_prev"]) == ["0.50", "0.50"]
    assert _numbers(values["value:state:c_prev"]) == ["-0.25", "-0.25"]
    with pytest.raises(ValueError, match="initial_state"):
        draw_cell(tr, 0)
    draw_cell(tr, 1)  # later steps read h_prev and c_prev from the trace


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"t": 3}, ValueError, ["t:", "0 to 2", "got 3", "t=-1"]),
        ({"t": -4}, ValueError, ["t:", "0 to 2", "got -4"]),
        ({"t": 1.0}, TypeError, ["t:", "whole number"]),
        ({"t": 0, "sample": 5}, ValueError, ["sample:", "0 to 1"]),
        ({"t": 0, "direction": "left"}, ValueError, ["direction:", "'forward'"]),
        ({"t": 0, "direction": "backward"}, ValueError, ["direction:", "Bidirectional"]),
        ({"t": 0, "return_state": "yes"}, TypeError, ["return_state:", "True or False"]),
        ({"t": 0, "initial_state": [np.zeros((2, 2))]}, ValueError, ["initial_state:", "[h0, c0]"]),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, words):
    with pytest.raises(error) as info:
        draw_cell(_trace("LSTM"), **kwargs)
    for word in words:
        assert word in str(info.value)


def test_not_a_trace_is_refused():
    with pytest.raises(TypeError, match="rnnviz.trace"):
        draw_cell(keras.layers.LSTM(2), 0)
    assert draw_cell(_trace("LSTM"), -1).axes[0].texts[0].get_text().startswith("LSTM(2) cell at t=2")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("units", [2, 12])
def test_no_text_overlaps_or_leaves_the_figure(kind, units):
    tr = _trace(kind, units, bidirectional=kind == "LSTM")
    fig = draw_cell(tr, 2, direction="backward" if kind == "LSTM" else "forward", return_sequences=True, return_state=True)
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes for t in ax.texts if t.get_text()]
    boxes += [(label.get_text(), label.get_window_extent(renderer)) for ax in fig.axes[1:]
              for label in ax.get_xticklabels() if label.get_text()]
    boxes += [(ax.title.get_text(), ax.title.get_window_extent(renderer)) for ax in fig.axes[1:]]
    for text, box in boxes:
        assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1), text
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), (a, b)


def test_a_masked_step_whose_output_row_is_zeros_is_not_called_h():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(2, 3, 2)).astype("float32")
    mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    tr = rnnviz.trace(keras.layers.Bidirectional(keras.layers.LSTM(2)), x, mask=mask)
    output = dict(tr.returns(True, False))["output"]
    assert not np.array_equal(output[0, 2, :2], tr.forward.h[0, 2])  # Keras outputs zeros at the masked step
    fig = draw_cell(tr, 2, sample=0, return_sequences=True)
    assert "returned:h" not in _texts(fig, "returned:")
    assert "masked" in _texts(fig, "caption")["caption"]
    assert "output[:, 2, :2]" in _texts(draw_cell(tr, 2, sample=1, return_sequences=True), "returned:")["returned:h"]


@pytest.mark.parametrize(("kind", "bidirectional"), [("LSTM", False), ("GRU", False), ("SimpleRNN", False),
                                                      ("LSTM", True)])
def test_cell_pictures_equal_a_fresh_drawing_for_every_step_and_flags(kind, bidirectional):
    """The explorer's cell view refills one drawing for each step and flags: the pixels are draw_cell's."""
    from rnnviz.cell_diagram import CellPictures

    tr = _trace(kind, units=3, timesteps=4, bidirectional=bidirectional)
    pictures = CellPictures(tr, 1, 3, (False, False), fit=(898, 528))
    # steps out of order, flags flipped at the same step and at another one
    for t, rs, rst in [(0, False, False), (2, True, False), (2, True, True), (3, True, True), (1, False, True),
                       (3, False, False), (0, True, True)]:
        got = pictures.pixels(t, (rs, rst)).astype(int)
        fresh = draw_cell(tr, t, sample=1, return_sequences=rs, return_state=rst)
        fresh.set_dpi(pictures._diagram.fig.get_dpi())
        fresh.canvas.draw()
        expected = np.asarray(fresh.canvas.buffer_rgba()).astype(int)
        assert got.shape == expected.shape
        differ = (np.abs(got - expected).max(axis=2) > 40).mean()
        assert differ < 0.001, f"t={t}, flags {rs, rst}: {differ:.2%} of the pixels differ"
        for prefix in ("value:", "title:", "returned:", "caption"):  # and every word and number is the fresh one
            assert _texts(pictures._diagram.fig, prefix) == _texts(fresh, prefix), prefix
        assert pictures.alt_text == fresh.alt_text
