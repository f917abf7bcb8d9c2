"""rnnviz.conv_trace.run_conv agrees with Keras's own ConvLSTM1D/2D/3D: every flag pair, many configurations."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnviz
from rnnviz import reference
from rnnviz.conv_trace import ConvTrace, run_conv

LAYERS = {1: keras.layers.ConvLSTM1D, 2: keras.layers.ConvLSTM2D, 3: keras.layers.ConvLSTM3D}
FLAGS = [(False, False), (True, False), (False, True), (True, True)]
TOL = 1e-5
#: On JAX, Keras's scan loop (unroll=False) applies a mask to a ConvLSTM's states with the wrong shape, (batch, 1)
#: against (batch, *spatial, filters): an error, or silently wrong numbers. Its unrolled loop expands the mask
#: properly and agrees with TensorFlow, so masked calls are checked against that (tests/test_backends.py pins it).
JAX_SCAN_MISMASKS_CONV = keras.backend.backend() == "jax"
#: Fewer random examples on JAX: there each new Keras layer traces and compiles its loop afresh (far slower than on
#: TensorFlow), so the JAX pass checks a sample of configurations; the TensorFlow pass explores the full count.
JAX = keras.backend.backend() == "jax"


def _to_last(a, lead):
    return np.moveaxis(np.asarray(a), lead, -1)


def _to_first(a, lead):
    return np.moveaxis(np.asarray(a), -1, lead)


def _keras_returns(layer, x, return_sequences, return_state, initial_state=None, mask=None):
    """What Keras itself returns for these flags: a twin layer with the same weights, called on x.

    TensorFlow's CPU convolutions only take channels-last data, so a channels-first layer is
    checked through a channels-last twin (the weights' layout does not depend on data_format):
    x and the states are moved to channels-last for it, and its results moved back.
    """
    first = layer.data_format == "channels_first"
    config = {**layer.get_config(), "return_sequences": return_sequences, "return_state": return_state,
              "data_format": "channels_last"}
    if JAX_SCAN_MISMASKS_CONV and mask is not None:
        config["unroll"] = True  # Keras's own step-by-step loop on JAX: its scan loop mis-shapes the mask (test_backends)
    twin = type(layer).from_config(config)
    xl = _to_last(x, 2) if first else x
    twin.build(xl.shape)
    twin.set_weights(layer.get_weights())
    kwargs = {}
    if initial_state is not None:
        kwargs["initial_state"] = [_to_last(s, 1) for s in initial_state] if first else list(initial_state)
    if mask is not None:
        kwargs["mask"] = mask
    out = twin(xl, **kwargs)
    out = [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    rank = x.ndim - 3
    return [_to_first(o, o.ndim - rank - 1) for o in out] if first else out


def _assert_matches_keras(layer, x, initial_state=None, mask=None):
    tr = run_conv(layer, x, initial_state=initial_state, mask=mask)
    for rs, rst in FLAGS:
        expected = _keras_returns(layer, x, rs, rst, initial_state, mask)
        got = tr.returns(rs, rst)
        assert [n for n, _ in got] == ["output", "state_h", "state_c"][: 3 if rst else 1]
        assert len(got) == len(expected), (rs, rst)
        for (name, arr), ref in zip(got, expected, strict=True):
            assert arr.shape == ref.shape, (name, rs, rst, arr.shape, ref.shape)
            np.testing.assert_allclose(arr, ref, atol=TOL, rtol=0, err_msg=f"{name} rs={rs} rst={rst}")
    return tr


@st.composite
def configurations(draw):
    rank = draw(st.sampled_from([1, 2, 3]))
    kernel_size = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    if draw(st.booleans()):  # Keras forbids strides > 1 together with dilation > 1
        strides, dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank))), (1,) * rank
    else:
        strides, dilation = (1,) * rank, tuple(draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    padding = draw(st.sampled_from(["valid", "same"]))
    limit = {1: 9, 2: 7, 3: 5}[rank]
    spatial = tuple(draw(st.integers((k - 1) * d + 1, max((k - 1) * d + 1, limit)))
                    for k, d in zip(kernel_size, dilation, strict=True))
    return {
        "rank": rank, "kernel_size": kernel_size, "strides": strides, "dilation_rate": dilation,
        "padding": padding, "spatial": spatial,
        "batch": draw(st.integers(1, 2)), "timesteps": draw(st.integers(1, 4)),
        "channels": draw(st.integers(1, 3)), "filters": draw(st.integers(1, 3)),
        "data_format": draw(st.sampled_from(["channels_last", "channels_first"])),
        "go_backwards": draw(st.booleans()), "use_bias": draw(st.booleans()),
        "masked": draw(st.booleans()), "with_state": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=6 if JAX else 15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configurations())
def test_random_configurations_match_keras(cfg):
    keras.utils.set_random_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    rank, first = cfg["rank"], cfg["data_format"] == "channels_first"
    layer = LAYERS[rank](
        cfg["filters"], cfg["kernel_size"], strides=cfg["strides"], padding=cfg["padding"],
        dilation_rate=cfg["dilation_rate"], data_format=cfg["data_format"], go_backwards=cfg["go_backwards"],
        use_bias=cfg["use_bias"], bias_initializer="random_normal",
    )
    frame = (cfg["channels"], *cfg["spatial"]) if first else (*cfg["spatial"], cfg["channels"])
    x = rng.normal(size=(cfg["batch"], cfg["timesteps"], *frame)).astype("float32")
    mask = rng.random((cfg["batch"], cfg["timesteps"])) > 0.4 if cfg["masked"] else None
    states = None
    if cfg["with_state"]:
        out = [reference._window(s, k, st_, cfg["padding"], d)[0] for s, k, st_, d in
               zip(cfg["spatial"], cfg["kernel_size"], cfg["strides"], cfg["dilation_rate"], strict=True)]
        shape = (cfg["batch"], cfg["filters"], *out) if first else (cfg["batch"], *out, cfg["filters"])
        states = [rng.normal(size=shape).astype("float32") for _ in range(2)]
    tr = _assert_matches_keras(layer, x, initial_state=states, mask=mask)
    assert tr.h.shape[:2] == (cfg["batch"], cfg["timesteps"]) and tr.h.shape[-1] == cfg["filters"]
    assert tr.x.shape[-1] == cfg["channels"]  # kept channels-last inside the trace


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_every_step_matches_stepping_the_keras_cell_by_hand(rank):
    """h and c at every step, including the cell state Keras never returns per step."""
    keras.utils.set_random_seed(rank)
    layer = LAYERS[rank](3, 2, padding="same")
    x = np.random.default_rng(rank).normal(size=(2, 4, *(5,) * rank, 2)).astype("float32")
    tr = run_conv(layer, x)
    states = [np.zeros(tr.h.shape[:1] + tr.h.shape[2:], "float32")] * 2
    for t in range(x.shape[1]):
        _, states = layer.cell(x[:, t], states)
        states = [np.asarray(s) for s in states]
        np.testing.assert_allclose(tr.h[:, t], states[0], atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.c[:, t], states[1], atol=TOL, rtol=0)
    assert set(tr.gates) == {"input", "forget", "candidate", "output"}
    assert all(g.shape == tr.h.shape for g in tr.gates.values())


def test_unbuilt_layer_is_built_and_repr_shows_shapes():
    keras.utils.set_random_seed(0)
    layer = keras.layers.ConvLSTM2D(8, 3)
    x = np.random.default_rng(0).normal(size=(2, 10, 16, 16, 3)).astype("float32")
    tr = _assert_matches_keras(layer, x)
    assert layer.built and isinstance(tr, ConvTrace)
    assert tr.h.shape == (2, 10, 14, 14, 8) and tr.state_names == ("state_h", "state_c")
    text = repr(tr)
    assert "ConvLSTM2D(filters=8)" in text and "(2, 10, 14, 14, 8)" in text and "state_c (2, 14, 14, 8)" in text


def test_masked_steps_hold_state_and_repeat_output():
    keras.utils.set_random_seed(4)
    layer = keras.layers.ConvLSTM1D(2, 3, padding="same")
    x = np.random.default_rng(4).normal(size=(2, 5, 6, 2)).astype("float32")
    mask = np.array([[False, True, False, True, True], [True, True, True, False, False]])
    tr = _assert_matches_keras(layer, x, mask=mask)
    np.testing.assert_array_equal(tr.h[1, 3], tr.h[1, 2])
    np.testing.assert_array_equal(tr.c[1, 4], tr.c[1, 2])
    np.testing.assert_array_equal(tr.outputs[0, 0], 0)  # before the first real step


def test_custom_activations_and_dropout_warns():
    keras.utils.set_random_seed(5)
    layer = keras.layers.ConvLSTM2D(2, 2, activation="relu", recurrent_activation="hard_sigmoid", dropout=0.3)
    x = np.random.default_rng(5).normal(size=(1, 3, 4, 4, 2)).astype("float32")
    with pytest.warns(UserWarning, match="dropout=0.3"):
        _assert_matches_keras(layer, x)


def test_stateful_layer_carries_on():
    keras.utils.set_random_seed(6)
    layer = keras.layers.ConvLSTM1D(2, 2, stateful=True, return_state=True)
    x = np.random.default_rng(6).normal(size=(1, 3, 5, 1)).astype("float32")
    layer(x)  # stores its final states
    stored = [np.asarray(s) for s in layer.states]
    tr = run_conv(layer, x)
    twin = keras.layers.ConvLSTM1D.from_config({**layer.get_config(), "stateful": False})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    expected = run_conv(twin, x, initial_state=stored)
    np.testing.assert_allclose(tr.h, expected.h, atol=TOL, rtol=0)
    assert not np.allclose(tr.h, run_conv(twin, x).h)  # the stored states made a difference


def test_reference_conv_lstm_matches_keras_directly():
    keras.utils.set_random_seed(7)
    layer = keras.layers.ConvLSTM2D(3, (2, 3), strides=(2, 1), padding="same", return_sequences=True)
    x = np.random.default_rng(7).normal(size=(2, 4, 7, 6, 2)).astype("float32")
    y = np.asarray(layer(x))
    cell = layer.cell
    run = reference.conv_lstm(x, np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel), np.asarray(cell.bias),
                              strides=cell.strides, padding=cell.padding, dilation_rate=cell.dilation_rate)
    np.testing.assert_allclose(run.h, y, atol=TOL, rtol=0)
    assert "CellRun(h=(2, 4, 4, 6, 3)" in repr(run)


# ----------------------------------------------------------------------------------------------- clear errors


def _conv2d():
    keras.utils.set_random_seed(0)
    return keras.layers.ConvLSTM2D(2, 3)


X2 = np.zeros((1, 2, 5, 5, 1), "float32")


@pytest.mark.parametrize(("layer", "match"), [
    (keras.layers.ConvLSTM2D, r"layer: .*the class ConvLSTM2D itself.*Create the layer first"),
    (keras.layers.LSTM(3), r"layer: expected a Keras ConvLSTM1D.*class LSTM.*rnnviz.trace"),
    ("not a layer", r"layer: expected a Keras ConvLSTM1D.*got a str"),
])
def test_layer_errors(layer, match):
    with pytest.raises(TypeError, match=match):
        run_conv(layer, X2)


def test_x_rank_error_names_layout_and_fix():
    with pytest.raises(ValueError, match=r"x: a ConvLSTM2D expects a 5-D array \(batch, timesteps, rows, cols, "
                                         r"channels\), got 4-D .*x\[None\]"):
        run_conv(_conv2d(), X2[0])


def test_x_dtype_and_finite_errors():
    with pytest.raises(TypeError, match=r"x: expected real numbers, got an array of dtype <U1"):
        run_conv(_conv2d(), np.full((1, 2, 5, 5, 1), "a"))
    bad = X2.copy()
    bad[0, 1, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"x: expected finite numbers, got nan at index \(0, 1, 2, 2, 0\)"):
        run_conv(_conv2d(), bad)


def test_built_layer_wants_its_frame_size():
    layer = _conv2d()
    run_conv(layer, X2)
    with pytest.raises(ValueError, match=r"x: the layer was built for frames of shape \(5, 5, 1\).*got \(6, 5, 1\)"):
        run_conv(layer, np.zeros((1, 2, 6, 5, 1), "float32"))


def test_frame_too_small_for_valid_padding():
    with pytest.raises(ValueError, match=r"x: spatial axis 0 of each frame has size 2, smaller than the 3.*"
                                         r"padding='same'"):
        run_conv(_conv2d(), np.zeros((1, 2, 2, 5, 1), "float32"))


def test_initial_state_errors():
    with pytest.raises(TypeError, match=r"initial_state: expected a list of 2 arrays \[h0, c0\]"):
        run_conv(_conv2d(), X2, initial_state=np.zeros((1, 3, 3, 2)))
    with pytest.raises(ValueError, match=r"initial_state: expected 2 arrays \[h0, c0\].*got 1"):
        run_conv(_conv2d(), X2, initial_state=[np.zeros((1, 3, 3, 2))])
    with pytest.raises(ValueError, match=r"initial_state\[1\]: expected shape \(batch, rows, cols, filters\) = "
                                         r"\(1, 3, 3, 2\), got \(1, 5, 5, 2\)"):
        run_conv(_conv2d(), X2, initial_state=[np.zeros((1, 3, 3, 2)), np.zeros((1, 5, 5, 2))])
    first = keras.layers.ConvLSTM2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match=r"initial_state\[0\]: expected shape \(batch, filters, rows, cols\)"):
        run_conv(first, np.zeros((1, 2, 1, 5, 5)), initial_state=[np.zeros((1, 3, 3, 2))] * 2)


def test_mask_and_flag_errors():
    with pytest.raises(ValueError, match=r"mask: expected shape \(batch, timesteps\) = \(1, 2\)"):
        run_conv(_conv2d(), X2, mask=np.ones((1, 3), bool))
    tr = run_conv(_conv2d(), X2)
    with pytest.raises(TypeError, match=r"return_state: expected True or False, got 'yes'"):
        tr.returns(True, "yes")


def test_rnnviz_trace_takes_a_convlstm_and_pictures_point_to_its_arrays():
    keras.utils.set_random_seed(5)
    layer = keras.layers.ConvLSTM2D(3, 2, padding="same", return_sequences=True, return_state=True)
    x = np.random.default_rng(5).normal(size=(2, 4, 5, 5, 2)).astype("float32")
    tr = rnnviz.trace(layer, x)
    assert isinstance(tr, rnnviz.ConvTrace) and tr.kind == "ConvLSTM2D"
    for (name, arr), ref in zip(tr.returns(True, True), layer(x), strict=True):
        np.testing.assert_allclose(arr, np.asarray(ref), atol=1e-5, rtol=0, err_msg=name)
    with pytest.raises(TypeError, match=r"trace: it is the trace of a ConvLSTM2D, whose states are images.*"
                                         r"rnnviz\.plot_conv_states\(trace, return_sequences, return_state\)"):
        rnnviz.plot_states(tr)
