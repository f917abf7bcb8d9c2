"""plot_states of an RNN over stacked cells: one row per cell, names and shapes from trace.returns(...)."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import rnnviz
from rnnviz.plot import StatesView

FLAGS = list(itertools.product([False, True], repeat=2))
STACKS = {
    "LSTM+GRU": [("LSTMCell", 3), ("GRUCell", 2)],
    "3 cells": [("LSTMCell", 2), ("SimpleRNNCell", 3), ("GRUCell", 2)],
}
EXPLORER = dict(size=(13.6, 5.5), dpi=66, header=False, side_by_side=True)


def _trace(cells=STACKS["LSTM+GRU"], shape=(2, 4, 3), mask=None, go_backwards=False):
    keras.utils.set_random_seed(0)
    layer = keras.layers.RNN([getattr(keras.layers, kind)(units) for kind, units in cells], go_backwards=go_backwards)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    return rnnviz.trace(layer, x, mask=mask)


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible()))


def _returned(tr, rs, rst) -> dict[str, tuple[int, ...]]:
    """``name shape`` of every tensor Keras returns, a nested state named after its list: ``cell_0 state_h``."""
    out = {}
    for name, value in tr.returns(rs, rst):
        pairs = value if isinstance(value, list) else [(None, value)]
        for inner, arr in pairs:
            out[name if inner is None else f"{name} {inner}"] = tuple(arr.shape)
    return out


def _cell(tr, panel):
    return tr.cells[tr.state_names.index(panel.cell)]


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_marks_name_exactly_what_keras_returns(stack, rs, rst):
    tr = _trace(STACKS[stack])
    view = StatesView(tr)
    view.update(rs, rst)
    returned = _returned(tr, rs, rst)
    marked = [text.split("  (")[0] for marks in view.marks.values() for text in marks]
    assert sorted(marked) == sorted(f"{name} {shape}" for name, shape in returned.items())
    last = tr.timesteps - 1
    top = tr.state_names[-1]
    # output: the top cell's h, every step with return_sequences, the last one without
    output = [span for text, span in view.marks[f"{top} h"].items() if text.startswith("output ")]
    assert output == [(0, last) if rs else (last, last)]
    for name, cell in zip(tr.state_names, tr.cells, strict=True):
        for state in ("h", "c")[:1 + (cell.c is not None)]:
            states = {text: span for text, span in view.marks[f"{name} {state}"].items() if " state_" in text}
            assert list(states.values()) == ([(last, last)] if rst else [])
            if rst:
                assert list(states)[0].startswith(f"{name} state_{state} {returned[f'{name} state_{state}']}")
            assert all(text in view.labels[f"{name} {state}"] for text in view.marks[f"{name} {state}"])


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_figure_labels_every_returned_tensor_and_no_state_it_does_not_return(stack, rs, rst):
    tr = _trace(STACKS[stack])
    fig = rnnviz.plot_states(tr, rs, rst)
    text = _texts(fig)
    for name, shape in _returned(tr, rs, rst).items():
        assert f"{name} {shape}" in text
    assert ("state_h" in text) == rst and ("state_c" in text) == rst
    for name, cell in zip(tr.state_names, tr.cells, strict=True):
        assert f"{name}\n{cell.kind}Cell({cell.units})\nh hidden state" in text  # each row names its cell
    assert tr.kind in text and "x \u2192 cell_0 \u2192 cell_1" in text


def test_one_row_per_cell_top_cell_first():
    tr = _trace(STACKS["3 cells"])
    view = StatesView(tr)
    assert [p.key for p in view.panels] == ["cell_2 h", "cell_1 h", "cell_0 h", "cell_0 c"]
    tops = [p.ax.get_position().y0 for p in view.panels]
    assert tops == sorted(tops, reverse=True)
    grid = StatesView(tr, **EXPLORER)
    assert [(p.key, p.ax.get_position().y0 > 0.5) for p in grid.panels][:1] == [("cell_2 h", True)]
    h0, c0 = grid.panels[2:]
    assert h0.ax.get_position().y0 == pytest.approx(c0.ax.get_position().y0)  # a cell's h and c: one row
    assert h0.ax.get_position().x0 < c0.ax.get_position().x0
    # the GRU and SimpleRNN cells have no c: their c slots say so, with their state lists' names
    text = _texts(grid.figure)
    assert "(return_state gives cell_2 [state_h])" in text and "(return_state gives cell_1 [state_h])" in text


@pytest.mark.parametrize("sample", [0, 1, -1])
def test_drawn_lines_are_each_cells_h_and_c_of_the_sample(sample):
    tr = _trace(STACKS["3 cells"], shape=(2, 5, 3))
    view = StatesView(tr, sample % tr.batch)
    fig = rnnviz.plot_states(tr, sample=sample)
    assert f"sample {sample % tr.batch} of 2" in _texts(fig)
    for panel, ax in zip(view.panels, fig.axes, strict=True):
        values = getattr(_cell(tr, panel), panel.state)[sample]
        lines = [line for line in ax.get_lines() if line.get_label().startswith("unit")]
        assert len(lines) == values.shape[1]
        for u, line in enumerate(lines):
            np.testing.assert_array_equal(line.get_xydata(), np.c_[np.arange(5), values[:, u]])


def test_many_units_become_a_heatmap_in_that_cells_row_only():
    tr = _trace([("GRUCell", 12), ("LSTMCell", 2)], shape=(1, 3, 2))
    fig = rnnviz.plot_states(tr, True, True)
    top_h, top_c, bottom_h = fig.axes[:3]  # (then bottom_h's colour bar)
    assert not [line for line in bottom_h.get_lines() if line.get_label().startswith("unit")]
    np.testing.assert_array_equal(np.asarray(bottom_h.get_images()[0].get_array()), tr.cells[0].h[0].T)
    assert len([x for x in top_h.get_lines() if x.get_label().startswith("unit")]) == 2


@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_alt_text_says_what_is_drawn_and_what_keras_returns(rs, rst):
    tr = _trace()
    fig = rnnviz.plot_states(tr, rs, rst)
    alt = fig.alt_text
    assert alt.startswith(f"States of {tr.kind} at every timestep of x {tr.x.shape}, sample 0, one row per cell, "
                          "the top cell at the top: cell_1 GRUCell(2) h; cell_0 LSTMCell(3) h and c.")
    assert f"With return_sequences={rs}, return_state={rst} Keras returns " in alt
    for name, value in tr.returns(rs, rst):
        if isinstance(value, list):  # Keras's nesting, as the header lists it
            inner = ", ".join(f"{n} {a.shape}" for n, a in value)
            assert f"{name} [{inner}]" in alt and f"{name} [{inner}]" in _texts(fig)
        else:
            assert f"{name} {value.shape}" in alt
    assert ("state_h" in alt) == rst
    data, metadata = fig._repr_mimebundle_()
    assert data["text/plain"] == alt and metadata["image/png"]["alt"] == alt


def _spans(view, key):
    return sorted(view.marks[key].values())


@pytest.mark.parametrize(("rs", "rst"), FLAGS)
@pytest.mark.parametrize(("masked", "go_backwards"), [(True, False), (False, True), (True, True)])
def test_masks_and_go_backwards_mark_as_for_each_cell_on_its_own(rs, rst, masked, go_backwards):
    mask = np.array([[True, True, True, False, False], [True, True, True, True, True]]) if masked else None
    tr = _trace(shape=(2, 5, 3), mask=mask, go_backwards=go_backwards)
    stacked = StatesView(tr, sample=0)
    stacked.update(rs, rst)
    for name, cell in zip(tr.state_names, tr.cells, strict=True):
        alone = StatesView(cell, sample=0)  # the plain picture of this one cell
        alone.update(rs, rst)
        for p, q in zip([p for p in stacked.panels if p.cell == name], alone.panels, strict=True):
            np.testing.assert_array_equal(p.values, q.values)  # h (and c) in input order, as drawn
            if cell is not tr.cells[-1]:  # a lower cell: only its final states, with return_state
                assert _spans(stacked, p.key) == ([(q.last, q.last)] if rst else [])
                assert p.artists["step"].get_visible() == rst and not p.artists["sequence"].get_visible()
                continue
            # the top cell is marked as the same cell alone (an RNN over that one cell) is, under nested names
            assert _spans(stacked, p.key) == _spans(alone, q.state)
            assert [t.removeprefix(f"{name} ") for t in stacked.marks[p.key]] == list(alone.marks[q.state])
            for part in ("mute_left", "mute_right", "sequence", "step"):
                a, b = p.artists[part], q.artists[part]
                assert (a.get_x(), a.get_width(), a.get_visible()) == (b.get_x(), b.get_width(), b.get_visible())
            assert p.artists["note"].get_position() == q.artists["note"].get_position()
    if go_backwards and rst:
        assert stacked.marks["cell_0 c"] == {f"cell_0 state_c {tr.cells[0].c[:, -1].shape}": (0, 0)}


def test_explorer_canvas_keeps_its_size_renders_fast_and_cuts_nothing_off():
    tr = _trace([("LSTMCell", 5), ("GRUCell", 4)], shape=(1, 6, 2))
    fig = Figure()
    view = StatesView(tr, 0, figure=fig, **EXPLORER)
    assert tuple(fig.get_size_inches()) == EXPLORER["size"] and fig.get_dpi() == 66
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    for rs, rst in FLAGS:
        view.set_t(2)
        view.update(rs, rst)
        view.render()
        fast = np.asarray(fig.canvas.buffer_rgba()).copy()
        fig.canvas.draw()
        full = np.asarray(fig.canvas.buffer_rgba())
        assert (fast != full).any(axis=-1).mean() < 0.001
    assert all(p.artists["t_band"].get_visible() and p.artists["t_label"].get_text() == "t=2" for p in view.panels)
    _assert_nothing_cut_off_or_overlapping(fig)


@pytest.mark.parametrize("cells", [[("SimpleRNNCell", 12), ("LSTMCell", 3)], STACKS["3 cells"]])
@pytest.mark.parametrize("explorer", [False, True])
def test_long_cell_names_fit_beside_the_panels(cells, explorer):
    tr = _trace(cells, go_backwards=True)
    view = StatesView(tr, 0, **(EXPLORER if explorer else {}))
    view.update(True, True)
    view.figure.canvas.draw()
    _assert_nothing_cut_off_or_overlapping(view.figure)


def _assert_nothing_cut_off_or_overlapping(fig):
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible() and a.get_text())]
    extents = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for text, e in extents:
        assert box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1 and box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, text
    # the cells' names beside the panels clear the arrow text up the left edge
    flow = next(e for text, e in extents if text.startswith("x \u2192"))
    for ax in fig.axes:
        label = ax.yaxis.label
        if label.get_text():
            assert label.get_window_extent(renderer).x0 > flow.x1, label.get_text()


def test_bad_arguments_are_clear_errors():
    tr = _trace()
    with pytest.raises(TypeError, match="return_sequences: expected True or False, got 'yes'"):
        rnnviz.plot_states(tr, return_sequences="yes")
    with pytest.raises(TypeError, match="return_state: expected True or False, got 1"):
        rnnviz.plot_states(tr, return_state=1)
    with pytest.raises(ValueError, match=r"sample: expected an index into the batch of 2 samples \(0 to 1\), got 2"):
        rnnviz.plot_states(tr, sample=2)
    with pytest.raises(TypeError, match="sample: expected a whole number"):
        rnnviz.plot_states(tr, sample=0.5)
    with pytest.raises(TypeError, match=r"trace: expected the result of rnnviz.trace.*StackedTrace\), got list"):
        rnnviz.plot_states(list(tr.cells))
