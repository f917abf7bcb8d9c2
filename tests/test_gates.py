"""plot_gates: one panel per array, lines that hold the trace's own values, gates on [0, 1], clear errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import rnnviz
from rnnviz.gates import PANELS, plot_gates
from rnnviz.plot import MARKERS, OKABE_ITO

TITLES = {
    "LSTM": ["input x", "input gate i", "forget gate f", "output gate o", "candidate c~", "cell state c", "hidden state h"],
    "GRU": ["input x", "update gate z", "reset gate r", "candidate h~", "hidden state h"],
    "SimpleRNN": ["input x", "hidden state h"],
}


def _trace(kind="LSTM", units=3, shape=(2, 6, 1), bidirectional=False, **options):
    keras.utils.set_random_seed(0)
    layer = getattr(keras.layers, kind)(units, **options)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    return rnnviz.trace(layer, x)


def _values(tr, name, sample):
    """(timesteps, units) of one panel's array, in input order."""
    array = {"h": tr.h, "c": tr.c}.get(name, tr.gates.get(name))
    return array[sample][tr.input_steps.argsort()]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_one_panel_per_array_named_for_its_kind(kind):
    fig = plot_gates(_trace(kind))
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == TITLES[kind]
    assert [title for _, title in PANELS[kind]] == TITLES[kind]
    assert fig.get_suptitle().splitlines()[0] == f"Inside {'an' if kind == 'LSTM' else 'a'} {kind}(3): sample 0 of 2"
    assert ("has no gates" in fig.get_suptitle()) == (kind == "SimpleRNN")
    assert fig.alt_text.startswith(f"{len(TITLES[kind])} small line plots of ") and fig.alt_text.endswith(".")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("sample", [0, 1, -1])
def test_lines_hold_the_traces_values_one_per_unit(kind, sample):
    tr = _trace(kind)
    fig = plot_gates(tr, sample=sample)
    for ax, (name, _) in zip(fig.axes, PANELS[kind], strict=True):
        lines = [line for line in ax.get_lines() if line.get_label().startswith(("unit", "feature"))]
        if name == "x":
            assert len(lines) == 1
            np.testing.assert_array_equal(lines[0].get_ydata(), tr.x[sample, :, 0])
            continue
        expected = _values(tr, name, sample)
        assert [line.get_label() for line in lines] == ["unit 0", "unit 1", "unit 2"]
        for u, line in enumerate(lines):
            np.testing.assert_array_equal(line.get_xdata(), np.arange(tr.timesteps))
            np.testing.assert_array_equal(line.get_ydata(), expected[:, u])


def test_units_differ_by_colour_marker_and_line_style():
    fig = plot_gates(_trace("GRU", units=4))
    lines = [line for line in fig.axes[1].get_lines() if line.get_label().startswith("unit")]
    assert [line.get_color() for line in lines] == list(OKABE_ITO[:4])
    assert [line.get_marker() for line in lines] == list(MARKERS[:4])
    styles = [line.get_linestyle() for line in lines]
    assert len(set(styles)) == 4
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["unit 0", "unit 1", "unit 2", "unit 3"]


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_gate_panels_span_zero_to_one(kind):
    fig = plot_gates(_trace(kind))
    for ax, (_, title) in zip(fig.axes, PANELS[kind], strict=True):
        if "gate" in title:
            assert ax.get_ylim() == (0.0, 1.0), title
        else:
            assert ax.get_ylim() != (0.0, 1.0), title


def test_units_picks_lines_and_keeps_each_units_style():
    tr = _trace("LSTM", units=4)
    fig = plot_gates(tr, units=[3, 1])
    forget = fig.axes[PANELS["LSTM"].index(("forget", "forget gate f"))]
    lines = [line for line in forget.get_lines() if line.get_label().startswith("unit")]
    assert [line.get_label() for line in lines] == ["unit 3", "unit 1"]
    assert [line.get_color() for line in lines] == [OKABE_ITO[3], OKABE_ITO[1]]
    np.testing.assert_array_equal(lines[0].get_ydata(), tr.gates["forget"][0, :, 3])
    assert len(plot_gates(tr, units=2).axes[1].get_lines()) == 1 + 1  # the zero line and unit 2


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_bidirectional_draws_the_chosen_direction_in_input_order(direction):
    tr = _trace("LSTM", units=2, bidirectional=True)
    fig = plot_gates(tr, direction=direction)
    one = getattr(tr, direction)
    assert fig.get_suptitle().startswith(f"Inside the {direction} LSTM(2) of a Bidirectional")
    assert ("input order" in fig.get_suptitle()) == (direction == "backward")
    h = [line for line in fig.axes[-1].get_lines() if line.get_label() == "unit 1"][0]
    expected = one.h[0, :, 1][::-1] if direction == "backward" else one.h[0, :, 1]
    np.testing.assert_array_equal(h.get_ydata(), expected)
    # the backward layer's final state belongs to timestep 0: the left end of its line
    final = one.final_states()[0][0, 1]
    assert h.get_ydata()[0 if direction == "backward" else -1] == final
    default = plot_gates(tr)
    assert default.get_suptitle().startswith("Inside the forward")


def test_shows_as_png_in_a_notebook():
    png = plot_gates(_trace("GRU", units=2))._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(sample=2), ValueError, "sample: expected an index into the batch of 2 samples"),
        (dict(sample=0.5), TypeError, "sample: expected a whole number"),
        (dict(units=[0, 3]), ValueError, "units: this layer has 3 units (0 to 2), got 3"),
        (dict(units=[0, 0]), ValueError, "units: expected each unit once"),
        (dict(units=[]), ValueError, "units: expected at least one unit"),
        (dict(units="0"), TypeError, "units: expected None, a unit index or a list of them"),
        (dict(units=[0.0]), TypeError, "units: expected whole numbers"),
        (dict(direction="forward"), ValueError, "direction: only a Bidirectional layer's trace has two directions"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, error, words):
    with pytest.raises(error) as info:
        plot_gates(_trace("LSTM"), **kwargs)
    assert words in str(info.value)


def test_bad_trace_and_direction_and_too_many_units():
    with pytest.raises(TypeError, match=r"trace: expected the result of rnnviz.trace.*trace it first"):
        plot_gates(keras.layers.LSTM(2))
    with pytest.raises(ValueError, match=r"direction: expected one of 'forward', 'backward', got 'left'"):
        plot_gates(_trace("GRU", units=2, bidirectional=True), direction="left")
    with pytest.raises(ValueError, match=r"units: this layer has 8 units, too many lines.*units=\[0, 1, 2\]"):
        plot_gates(_trace("SimpleRNN", units=8))
    picked = plot_gates(_trace("SimpleRNN", units=8), units=[0, 7]).axes[1].get_lines()[1:]
    assert [line.get_color() for line in picked] == list(OKABE_ITO[:2])  # past the palette: styles in turn
