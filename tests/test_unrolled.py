"""draw_unrolled: labels follow trace.returns(...), strip colours are the trace's numbers, bad arguments fail clearly."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import rnnviz
from rnnviz.unrolled import draw_unrolled

FLAGS = list(itertools.product([False, True], repeat=2))


def _trace(kind="LSTM", units=2, shape=(1, 3, 2), bidirectional=False, go_backwards=False, **kw):
    keras.utils.set_random_seed(0)
    layer = getattr(keras.layers, kind)(units, go_backwards=go_backwards)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    return rnnviz.trace(layer, x, **kw)


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible())]


def _colours(fig, key) -> np.ndarray:
    return np.array([r.get_facecolor() for r in fig.strips[key]])


def _expected(fig, values) -> np.ndarray:
    return np.array([to_rgba(fig.cmap(fig.norm(v))) for v in values])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_every_returned_tensor_is_framed_and_labelled_with_its_keras_shape(kind, rs, rst):
    tr = _trace(kind)
    fig = draw_unrolled(tr, rs, rst)
    text = "\n".join(_texts(fig))
    labels = [f"{name} {tuple(arr.shape)}" for name, arr in tr.returns(rs, rst)]
    for label in labels:
        assert label in text
        assert label in fig.alt_text
    assert fig.marked == labels  # the frames, in Keras's order
    for name in tr.state_names:  # states Keras does not return are named nowhere
        assert (name in text) == rst
        assert (name in fig.alt_text) == rst
    assert fig.get_label() == fig.alt_text
    assert f"{kind}(2) unrolled over 3 timesteps: sample 0 of 1" in text
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_h_and_c_strips_are_coloured_by_the_traces_numbers():
    tr = _trace("LSTM", shape=(2, 4, 3))
    fig = draw_unrolled(tr, sample=1)
    for step in range(tr.timesteps):
        np.testing.assert_allclose(_colours(fig, ("x", None, step)), _expected(fig, tr.x[1, step]))
    for step in range(tr.timesteps - 1):  # the state leaving step `step`, on its way to the next cell
        np.testing.assert_allclose(_colours(fig, ("h", None, step)), _expected(fig, tr.h[1, step]))
        np.testing.assert_allclose(_colours(fig, ("c", None, step)), _expected(fig, tr.c[1, step]))
    np.testing.assert_allclose(_colours(fig, ("final_h", None, None)), _expected(fig, tr.h[1, -1]))
    np.testing.assert_allclose(_colours(fig, ("output", None, 3)), _expected(fig, tr.outputs[1, 3]))
    # one scale, symmetric around 0, wide enough for every value drawn
    assert fig.norm.vmin == -fig.norm.vmax >= -max(np.abs(tr.x[1]).max(), np.abs(tr.h[1]).max())
    assert fig.norm.vmax >= np.abs(tr.x[1]).max()


def test_bidirectional_has_two_rows_and_the_backward_final_state_at_t0():
    tr = _trace("GRU", bidirectional=True)
    fig = draw_unrolled(tr, True, True)
    cells = [p.get_gid() for p in fig.findobj(lambda a: (a.get_gid() or "").startswith("cell "))]
    assert sorted(cells) == sorted(f"cell {d} t={t}" for d in ("forward", "backward") for t in range(3))
    text = "\n".join(_texts(fig))
    assert "backward_h (1, 2)" in text and "forward_h (1, 2)" in text and "output (1, 3, 4)" in text
    assert "concat" in text
    # the backward final state leaves on the left, beside t=0; the forward one on the right
    backward = fig.strips[("final_h", "backward", None)][0].get_x()
    forward = fig.strips[("final_h", "forward", None)][0].get_x()
    t0 = fig.strips[("x", None, 0)][0].get_x()
    assert backward < t0 < forward
    np.testing.assert_allclose(_colours(fig, ("final_h", "backward", None)), _expected(fig, tr.backward.h[0, -1]))
    # the backward state between t=1 and t=0 is the one after reading t=1
    np.testing.assert_allclose(_colours(fig, ("h", "backward", 1)), _expected(fig, tr.backward.h[0, 1]))


def test_a_masked_step_is_marked_and_the_state_passes_unchanged():
    tr = _trace("LSTM", shape=(1, 4, 2), mask=np.array([[True, False, True, True]]))
    fig = draw_unrolled(tr, True, False)
    masked = [t for t in fig.findobj(lambda a: hasattr(a, "get_text")) if "masked" in t.get_text() and "t=1" in t.get_text()]
    assert masked
    box = next(p for p in fig.findobj(lambda a: a.get_gid() == "cell  t=1"))
    assert box.get_linestyle() in ("--", "dashed")
    np.testing.assert_allclose(_colours(fig, ("h", None, 1)), _colours(fig, ("h", None, 0)))  # unchanged across t=1
    np.testing.assert_allclose(_colours(fig, ("c", None, 1)), _colours(fig, ("c", None, 0)))
    assert "masked" in fig.alt_text


def test_initial_state_enters_at_the_left_and_must_match_the_trace():
    h0 = [np.full((1, 2), 0.5, "float32"), np.full((1, 2), -0.5, "float32")]
    tr = _trace("LSTM", initial_state=h0)
    fig = draw_unrolled(tr, False, True, initial_state=h0)
    text = "\n".join(_texts(fig))
    assert "initial h" in text and "initial c" in text and "= 0" not in text
    np.testing.assert_allclose(_colours(fig, ("initial_c", None, None)), _expected(fig, h0[1][0]))
    assert fig.strips[("initial_h", None, None)][0].get_x() < fig.strips[("x", None, 0)][0].get_x()
    with pytest.raises(ValueError, match=r"initial_state: initial c does not match the trace.*same list you passed"):
        draw_unrolled(tr)  # drawn with zeros, it would misstate the start


def test_go_backwards_reads_right_to_left():
    tr = _trace("GRU", go_backwards=True)
    fig = draw_unrolled(tr, True, True)
    text = "\n".join(_texts(fig))
    assert "reads t=2\u21920" in text and "listed t=2 first" in text
    x = {k: fig.strips[("x", None, k)][0].get_x() for k in range(3)}
    assert x[0] < x[1] < x[2]  # columns stay in input order
    # the initial state enters on the right, the final state (after reading t=0) leaves on the left
    assert fig.strips[("initial_h", None, None)][0].get_x() > x[2]
    assert fig.strips[("final_h", None, None)][0].get_x() < x[0]
    # the arrow between t=1 and t=0 carries the state after reading t=1
    np.testing.assert_allclose(_colours(fig, ("h", None, 1)), _expected(fig, tr.h[0, 1]))


def test_long_sequences_elide_the_middle_but_keep_t_and_the_last_step():
    tr = _trace("SimpleRNN", shape=(1, 20, 1))
    fig = draw_unrolled(tr, True, False, t=10)
    assert fig.columns == [0, 1, None, 10, None, 18, 19]
    fig = draw_unrolled(tr)
    assert fig.columns == [0, 1, None, 18, 19]
    assert "output (1, 20, 2)" not in "\n".join(_texts(fig)) and fig.marked == ["output (1, 2)"]
    # across the gap, the arrow into t=18 carries the state after the elided t=17
    np.testing.assert_allclose(_colours(fig, ("h", None, 17)), _expected(fig, tr.h[0, 17]))
    assert draw_unrolled(_trace("GRU", shape=(1, 6, 1))).columns == list(range(6))


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (dict(t=3), ValueError, r"t: expected a timestep from 0 to 2 .*got 3\. Pick one of 0 to 2"),
        (dict(t=-1), ValueError, r"t: expected a timestep from 0 to 2"),
        (dict(t=1.0), TypeError, r"t: expected a whole number"),
        (dict(sample=5), ValueError, r"sample: expected an index into the batch of 1 sample"),
        (dict(return_sequences="yes"), TypeError, r"return_sequences: expected True or False"),
        (dict(return_state=1), TypeError, r"return_state: expected True or False"),
        (dict(initial_state=[np.zeros((1, 2))]), ValueError, r"initial_state: expected 2 arrays \[h0, c0\]"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        draw_unrolled(_trace("LSTM"), **kwargs)


def test_a_layer_instead_of_a_trace_is_refused_with_a_fix():
    with pytest.raises(TypeError, match=r"trace: expected the result of rnnviz.trace.*trace it first"):
        draw_unrolled(keras.layers.LSTM(2))


@pytest.mark.parametrize(("bidirectional", "timesteps", "rs", "rst"),
                         [(False, 4, False, False), (False, 4, True, True), (True, 5, True, False), (False, 8, False, True)])
def test_step_pictures_equal_a_fresh_drawing_at_every_step(bidirectional, timesteps, rs, rst):
    """The explorer's unrolled view re-outlines one drawing for each t: the pixels are those of draw_unrolled(t=t)."""
    from rnnviz.unrolled import StepPictures

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, timesteps, 2)).astype("float32")
    layer = keras.layers.LSTM(3)
    tr = rnnviz.trace(keras.layers.Bidirectional(layer) if bidirectional else layer, x)
    pictures = StepPictures(tr, rs, rst, 0, timesteps - 1, fit=(900, 400))
    steps = [c for c in pictures.columns if c is not None]
    assert steps == ([0, 1, timesteps - 2, timesteps - 1] if timesteps > 6 else list(range(timesteps)))
    for t in steps:
        fresh = rnnviz.draw_unrolled(tr, rs, rst, t=t)
        fresh.set_dpi(pictures.figure.get_dpi())
        fresh.canvas.draw()
        expected = np.asarray(fresh.canvas.buffer_rgba()).astype(int)
        got = pictures.pixels(t).astype(int)
        assert got.shape == expected.shape
        differ = (np.abs(got - expected).max(axis=2) > 40).mean()
        assert differ < 0.001, f"t={t}: {differ:.2%} of the pixels differ"
        assert pictures.alt_text == fresh.alt_text
