"""plot_states: labels and marks follow trace.returns(...); bad arguments get clear errors."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import rnnviz
from rnnviz.plot import StatesView

FLAGS = list(itertools.product([False, True], repeat=2))


def _trace(kind="LSTM", units=2, shape=(2, 4, 3), bidirectional=False, merge_mode="concat"):
    keras.utils.set_random_seed(0)
    layer = getattr(keras.layers, kind)(units)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    return rnnviz.trace(layer, x)


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible()))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_every_returned_tensor_is_labelled_with_its_keras_shape(kind, rs, rst):
    tr = _trace(kind)
    fig = rnnviz.plot_states(tr, return_sequences=rs, return_state=rst)
    text = _texts(fig)
    for name, arr in tr.returns(rs, rst):
        assert f"{name} {tuple(arr.shape)}" in text
    # states Keras does not return for these flags are not named anywhere
    for name in tr.state_names:
        assert (name in text) == rst
    assert isinstance(fig, Figure)


def test_lstm_has_an_h_and_a_c_panel_gru_only_h():
    assert len(rnnviz.plot_states(_trace("LSTM")).axes) == 2
    assert len(rnnviz.plot_states(_trace("GRU")).axes) == 1


@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_marks_cover_what_keras_returns(rs, rst):
    tr = _trace("LSTM", shape=(1, 5, 1))
    view = StatesView(tr)
    view.update(rs, rst)
    last = tr.timesteps - 1
    h_spans = set(view.marks["h"].values())
    assert ((0, last) in h_spans) == rs  # the whole sequence only with return_sequences
    assert ((last, last) in h_spans) == (not rs or rst)  # output's last step, or state_h
    assert set(view.marks["c"].values()) == ({(last, last)} if rst else set())  # c: last step, only with return_state


def test_muted_overlay_covers_exactly_the_steps_not_returned():
    tr = _trace("LSTM", shape=(1, 5, 1))
    view = StatesView(tr)
    view.update(False, False)
    h, c = view.panels
    # h: steps 0..3 muted (x from -0.5 to 3.5), step 4 returned; c: all five steps muted
    assert (h.artists["mute_left"].get_x(), h.artists["mute_left"].get_width()) == (-0.5, 4)
    assert h.artists["mute_right"].get_width() == 0
    assert c.artists["mute_left"].get_width() + c.artists["mute_right"].get_width() == 5
    assert h.artists["note"].get_visible() and c.artists["note"].get_visible()
    assert "not returned by Keras" in h.artists["note"].get_text()
    view.update(True, True)
    assert h.artists["mute_left"].get_width() == 0 and not h.artists["note"].get_visible()
    assert c.artists["mute_left"].get_width() == 4  # the cell state before the last step stays muted


def test_drawn_lines_are_the_traced_h_and_c_of_the_sample():
    tr = _trace("LSTM", units=3, shape=(2, 4, 3))
    fig = rnnviz.plot_states(tr, sample=1)
    h_ax, c_ax = fig.axes[:2]
    for ax, values in ((h_ax, tr.h[1]), (c_ax, tr.c[1])):
        lines = [line for line in ax.get_lines() if line.get_label().startswith("unit")]
        assert len(lines) == 3
        for u, line in enumerate(lines):
            np.testing.assert_array_equal(line.get_ydata(), values[:, u])


def test_same_picture_as_a_figure_drawn_directly():
    """The lines of plot_states equal a plain matplotlib plot of trace.h, point for point."""
    tr = _trace("GRU", units=2, shape=(1, 6, 1))
    fig = rnnviz.plot_states(tr)
    direct = Figure()
    ax = direct.add_subplot()
    expected = [ax.plot(np.arange(6), tr.h[0, :, u])[0] for u in range(2)]
    got = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("unit")]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a.get_xydata(), b.get_xydata())


def test_many_units_become_a_heatmap_of_h():
    tr = _trace("GRU", units=12, shape=(1, 4, 2))
    fig = rnnviz.plot_states(tr)
    images = fig.axes[0].get_images()
    assert len(images) == 1
    np.testing.assert_array_equal(np.asarray(images[0].get_array()), tr.h[0].T)


@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_bidirectional_backward_final_state_is_marked_at_timestep_0(rs, rst):
    tr = _trace("LSTM", shape=(1, 4, 2), bidirectional=True)
    view = StatesView(tr)
    view.update(rs, rst)
    assert [p.key for p in view.panels] == ["forward h", "forward c", "backward h", "backward c"]
    text = _texts(view.figure)
    for name, arr in tr.returns(rs, rst):
        assert f"{name} {tuple(arr.shape)}" in text
    if rst:
        assert list(view.marks["backward c"].values()) == [(0, 0)]
        assert list(view.marks["forward c"].values()) == [(3, 3)]
    if not rs:  # the backward half of the last output is the backward layer's state at timestep 0
        assert (0, 0) in view.marks["backward h"].values()


def test_bidirectional_backward_panel_is_in_input_order():
    """Keras flips the backward sequence back to input order; so does the picture."""
    tr = _trace("GRU", units=1, shape=(1, 5, 1), bidirectional=True)
    keras_seq = tr.returns(True)[0][1]  # (1, 5, 2): [..., 1] is the backward half, in input order
    fig = rnnviz.plot_states(tr, True)
    backward = [line for line in fig.axes[1].get_lines() if line.get_label() == "unit 0"][0]
    np.testing.assert_allclose(backward.get_ydata(), keras_seq[0, :, 1])


def test_merge_mode_none_names_both_outputs():
    tr = _trace("GRU", shape=(1, 3, 1), bidirectional=True, merge_mode=None)
    text = _texts(rnnviz.plot_states(tr, True, False))
    for name, arr in tr.returns(True, False):
        assert f"{name} {tuple(arr.shape)}" in text


def test_figures_have_deterministic_sizes_and_do_not_pile_up():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    a = rnnviz.plot_states(_trace("LSTM"))
    b = rnnviz.plot_states(_trace("LSTM"))
    assert tuple(a.get_size_inches()) == tuple(b.get_size_inches())
    assert plt.get_fignums() == before  # no pyplot global state


def test_render_matches_a_full_draw():
    tr = _trace("LSTM", shape=(1, 4, 1))
    view = StatesView(tr)
    for rs, rst in FLAGS + FLAGS[:1]:
        view.update(rs, rst)
        view.render()
        fast = np.asarray(view.figure.canvas.buffer_rgba()).copy()
        view.figure.canvas.draw()
        full = np.asarray(view.figure.canvas.buffer_rgba())
        assert (fast != full).any(axis=-1).mean() < 0.001  # a few anti-aliased edge pixels at most


def test_not_a_trace_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"trace: expected the result of rnnviz.trace.*Keras layer"):
        rnnviz.plot_states(keras.layers.LSTM(2))
    with pytest.raises(TypeError, match=r"trace: .*got ndarray.*trace a layer over it first"):
        rnnviz.plot_states(np.zeros((1, 3, 1)))


def test_sample_out_of_range_is_a_clear_error():
    tr = _trace("LSTM", shape=(2, 3, 1))
    with pytest.raises(ValueError, match=r"sample: expected an index into the batch of 2 samples \(0 to 1\), got 2"):
        rnnviz.plot_states(tr, sample=2)
    with pytest.raises(TypeError, match="sample: expected a whole number"):
        rnnviz.plot_states(tr, sample=0.5)
    assert "sample 1 of 2" in _texts(rnnviz.plot_states(tr, sample=-1))


def test_bad_flags_are_clear_errors():
    tr = _trace("GRU")
    with pytest.raises(TypeError, match="return_sequences: expected True or False, got 'yes'"):
        rnnviz.plot_states(tr, return_sequences="yes")
    with pytest.raises(TypeError, match="return_state: expected True or False, got 1"):
        rnnviz.plot_states(tr, return_state=1)


def test_a_go_backwards_layer_marks_its_final_state_at_timestep_0():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(1, 5, 2)).astype("float32")
    tr = rnnviz.trace(keras.layers.LSTM(2, go_backwards=True), x)
    view = StatesView(tr)
    view.update(return_sequences=True, return_state=True)
    assert view.marks["h"]["state_h (1, 2)  (last step read: t=0)"] == (0, 0)
    assert view.marks["c"]["state_c (1, 2)"] == (0, 0)
    # The final state is the state after reading x[:, 0]: the last row Keras lists.
    np.testing.assert_array_equal(tr.final_states()[0], tr.h[:, -1])
    assert tr.input_steps[-1] == 0


@pytest.mark.parametrize("low", [-0.0547, -0.02, -0.012, -0.0061, -0.3, -0.55, -0.9, -4.0])
def test_panel_names_stay_inside_the_figure_for_small_and_large_states(low):
    """The name left of each panel ("h / hidden state") sits left of the y tick labels. Wide tick labels pushed it
    past the figure's edge: -0.050 in steps of 0.025, for h from -0.0547 to 0.0142 (an LSTM(2) with seed 0 on Keras's
    NumPy backend, the classroom dashboard's first picture)."""
    import dataclasses

    traced = _trace()
    ramp = np.linspace(low, -low / 4, traced.h.size, dtype="float32").reshape(traced.h.shape)
    traced = dataclasses.replace(traced, h=ramp, c=2 * ramp)
    fig = rnnviz.plot_states(traced, return_sequences=False, return_state=True)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        if ax.get_ylabel():
            assert ax.yaxis.label.get_window_extent(renderer).x0 >= 0, (low, ax.get_ylabel(), ax.get_yticks())
