"""rnnviz.conv_plot.plot_conv_states draws the trace's own arrays and frames exactly what Keras returns."""

import keras
import numpy as np
import pytest

import rnnviz
from rnnviz.conv_plot import ConvStatesView, plot_conv_states

FLAGS = [(False, False), (True, False), (False, True), (True, True)]
LAYERS = {1: keras.layers.ConvLSTM1D, 2: keras.layers.ConvLSTM2D, 3: keras.layers.ConvLSTM3D}
SHAPES = {1: (2, 4, 6, 2), 2: (2, 4, 6, 6, 2), 3: (2, 3, 4, 5, 5, 2)}


def _trace(rank, **kwargs):
    keras.utils.set_random_seed(rank)
    x = np.random.default_rng(rank).normal(size=SHAPES[rank]).astype("float32")
    return rnnviz.trace(LAYERS[rank](3, 2, padding="same", **kwargs), x)


@pytest.fixture(scope="module")
def traces():
    return {rank: _trace(rank) for rank in LAYERS}


def _expected_image(trace, state, t, sample, filter):
    step = getattr(trace, state)[sample, trace.input_steps.argsort()[t], ..., filter]
    if trace.rank == 1:
        return step[None, :]
    return step[step.shape[0] // 2] if trace.rank == 3 else step


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_images_are_the_trace_arrays(traces, rank):
    trace = traces[rank]
    fig = plot_conv_states(trace, sample=1, filter=2)
    for state in ("h", "c"):
        axes = fig.state_axes[state]
        assert len(axes) == trace.timesteps
        for t, ax in enumerate(axes):
            np.testing.assert_array_equal(ax.images[0].get_array(), _expected_image(trace, state, t, 1, 2))
    if rank == 3:
        assert "middle depth slice" in fig.texts[0].get_text() and "middle depth slice" in fig.alt_text
    # One colour scale, symmetric around 0, shared by every image.
    norms = {id(ax.images[0].norm) for s in ("h", "c") for ax in fig.state_axes[s]}
    assert len(norms) == 1
    norm = fig.state_axes["h"][0].images[0].norm
    assert norm.vmin == -norm.vmax > -np.inf


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(("seq", "state"), FLAGS)
def test_labels_and_frames_follow_keras_returns(traces, rank, seq, state):
    trace = traces[rank]
    fig = plot_conv_states(trace, seq, state)
    returned = trace.returns(seq, state)
    T = trace.timesteps
    assert list(fig.marks) == [name for name, _ in returned]
    expected = {"output": ("h", list(range(T)) if seq else [T - 1]),
                "state_h": ("h", [T - 1]), "state_c": ("c", [T - 1])}
    for name, arr in returned:
        assert fig.marks[name] == expected[name]
        label = fig.findobj(lambda a, s=expected[name][0]: getattr(a, "get_gid", lambda: None)() == f"returns:{s}")
        assert f"{name} {tuple(arr.shape)}" in label[0].get_text()
        assert f"{name} {tuple(arr.shape)}" in fig.alt_text
        assert f"{name} {tuple(arr.shape)}".replace(", ", ",\u00a0") in fig.texts[1].get_text().replace("\n", " ")
    for s in ("h", "c"):
        framed = {t for n, (st, ts) in fig.marks.items() if st == s for t in ts}
        for t, ax in enumerate(fig.state_axes[s]):
            thick = ax.spines["left"].get_linewidth() >= 3
            assert thick == (t in framed), (s, t)
            words = [txt.get_text() for txt in ax.texts if txt.get_visible()]
            assert any("not" in w and "returned" in w for w in words) == (t not in framed)
            assert ax.images[0].get_alpha() == (1.0 if t in framed else pytest.approx(0.3))
    assert fig._repr_mimebundle_()[1]["image/png"]["alt"] == fig.alt_text


def test_go_backwards_frames_timestep_zero():
    trace = _trace(1, go_backwards=True)
    fig = plot_conv_states(trace, False, True)
    assert fig.marks == {"output": ("h", [0]), "state_h": ("h", [0]), "state_c": ("c", [0])}
    np.testing.assert_array_equal(fig.state_axes["h"][0].images[0].get_array()[0], trace.h[0, -1, :, 0])


def test_alt_text_is_one_sentence(traces):
    fig = plot_conv_states(traces[2], True, True)
    assert fig.alt_text.startswith("h and c of ConvLSTM2D(3 filters) over 4 timesteps, filter 0 of sample 0")
    assert "output (2, 4, 6, 6, 3) = h at every step t=0..3" in fig.alt_text
    assert "state_c (2, 6, 6, 3) = c at t=3" in fig.alt_text


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"trace": np.zeros((2, 4, 6, 6, 2))}, TypeError, "rnnviz.trace"),
    ({"trace": "layer"}, TypeError, "ConvTrace"),
    ({"sample": 2}, ValueError, "sample"),
    ({"sample": 0.5}, TypeError, "sample"),
    ({"filter": 3}, ValueError, "filter: expected an index into the layer's 3 filters (0 to 2), got 3"),
    ({"filter": "0"}, TypeError, "filter"),
    ({"return_sequences": 1}, TypeError, "return_sequences"),
    ({"return_state": None}, TypeError, "return_state"),
])
def test_bad_arguments_raise_clear_errors(traces, kwargs, error, words):
    kwargs = {"trace": traces[2], **kwargs}
    with pytest.raises(error) as info:
        plot_conv_states(**kwargs)
    assert words in str(info.value)


def test_vector_trace_points_to_plot_states():
    keras.utils.set_random_seed(0)
    trace = rnnviz.trace(keras.layers.LSTM(2), np.ones((1, 3, 1), "float32"))
    with pytest.raises(TypeError, match="plot_states"):
        plot_conv_states(trace)


def _rgb(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def test_view_remarks_in_place_as_a_fresh_drawing():
    """The explorer's view: a figure of a fixed size; flipping flags and moving t re-marks the same axes, and
    the pixels equal those of a view drawn with those flags from the start."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    trace = _trace(2)
    fig = Figure(figsize=(13.6, 5.5), dpi=66)
    FigureCanvasAgg(fig)
    view = ConvStatesView(trace, 1, 2, figure=fig, header=False, dpi=66, size=(13.6, 5.5))
    axes = list(fig.axes)
    for rs, rst, t in [(False, False, 3), (True, True, 0), (False, True, 2), (True, False, None)]:
        view.set_t(t)
        view.update(rs, rst)
        view.render()
        assert fig.axes == axes and tuple(fig.get_size_inches()) == (13.6, 5.5)
        assert view.marks == plot_conv_states(trace, rs, rst, sample=1, filter=2).marks
        assert view.labels["h"].startswith("Keras returns output")
        fresh = ConvStatesView(trace, 1, 2, header=False, dpi=66, size=(13.6, 5.5))
        fresh.set_t(t)
        fresh.update(rs, rst)
        np.testing.assert_array_equal(np.asarray(fig.canvas.buffer_rgba())[..., :3], _rgb(fresh.figure))
    inked = np.flatnonzero((_rgb(fig) < 250).any(axis=(0, 2)))
    assert inked[0] < 0.35 * 898 and inked[-1] > 0.9 * 898  # the images sit in the middle, the colour bar right
