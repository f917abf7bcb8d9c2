"""rnnviz.trace agrees with Keras itself: every flag combination, every step, many configurations."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnviz

LAYERS = {"LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU, "SimpleRNN": keras.layers.SimpleRNN}
FLAGS = [(False, False), (True, False), (False, True), (True, True)]
TOL = 1e-5
#: On JAX, Keras's scan loop (unroll=False) outputs the initial h, not zeros, at masked steps before a sample's first
#: real step; TensorFlow and Keras's unrolled loop on JAX output zeros, as rnnviz does (tests/test_backends.py pins it).
JAX_SCAN_MASKS_WITH_H0 = keras.backend.backend() == "jax"
#: Fewer random examples on JAX: there each new Keras layer traces and compiles its loop afresh (far slower than on
#: TensorFlow), so the JAX pass checks a sample of configurations; the TensorFlow pass explores the full count.
JAX = keras.backend.backend() == "jax"


def _data(batch, timesteps, features, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, timesteps, features)).astype("float32")


def _unbuilt_config(rnn, flags):
    """``rnn.get_config()`` with ``flags``, its cell's ``build_config`` left out: a built cell would be rebuilt at
    ``from_config``, and Keras before 3.3.3 then counts its weights twice inside a Bidirectional (9 weights, not 6)."""
    config = {**rnn.get_config(), **flags}
    if isinstance(config.get("cell"), dict):
        config["cell"] = {k: v for k, v in config["cell"].items() if k != "build_config"}
    return config


def _keras_returns(layer, x, return_sequences, return_state, **call_kwargs):
    """What Keras itself returns for these flags: a twin layer with the same weights, called on x."""
    flags = {"return_sequences": return_sequences, "return_state": return_state}
    if (JAX_SCAN_MASKS_WITH_H0 and call_kwargs.get("mask") is not None and call_kwargs.get("initial_state") is not None
            and not (isinstance(layer, keras.layers.Bidirectional) and return_sequences)):
        # Keras's own step-by-step loop on JAX: its scan loop outputs h0 there. Not for a Bidirectional returning
        # sequences: its layers output zeros at masked steps (zero_output_for_mask), which the scan loop gets right
        # and the unrolled loop on JAX ignores (both pinned in tests/test_backends.py).
        flags["unroll"] = True
    if isinstance(layer, keras.layers.Bidirectional):
        inner, back = layer.forward_layer, layer.backward_layer
        twin = keras.layers.Bidirectional(type(inner).from_config(_unbuilt_config(inner, flags)),
                                          backward_layer=type(back).from_config(_unbuilt_config(back, flags)),
                                          merge_mode=layer.merge_mode)
    else:
        twin = type(layer).from_config({**layer.get_config(), **flags})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    out = twin(x, **call_kwargs)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _assert_matches_keras(layer, x, **call_kwargs):
    kwargs = {k: v for k, v in call_kwargs.items() if v is not None}
    tr = rnnviz.trace(layer, x, **call_kwargs)
    for return_sequences, return_state in FLAGS:
        expected = _keras_returns(layer, x, return_sequences, return_state, **kwargs)
        got = tr.returns(return_sequences, return_state)
        assert len(got) == len(expected), (return_sequences, return_state)
        for (name, arr), ref in zip(got, expected, strict=True):
            assert arr.shape == ref.shape, (name, return_sequences, return_state)
            np.testing.assert_allclose(arr, ref, atol=TOL, rtol=0, err_msg=f"{name} rs={return_sequences} rst={return_state}")
    return tr


@pytest.mark.parametrize("kind", LAYERS)
def test_every_flag_combination_matches_keras(kind):
    keras.utils.set_random_seed(1)
    layer = LAYERS[kind](5)
    tr = _assert_matches_keras(layer, _data(2, 10, 3))
    assert (tr.batch, tr.timesteps, tr.features, tr.units) == (2, 10, 3, 5)
    assert [name for name, _ in tr.returns(True, True)] == ["output", *tr.state_names]


@pytest.mark.parametrize("kind", LAYERS)
def test_every_step_matches_stepping_the_keras_cell_by_hand(kind):
    """h and c at every step, including the cell state that Keras never returns per step."""
    keras.utils.set_random_seed(2)
    layer = LAYERS[kind](4)
    x = _data(3, 7, 2, seed=2)
    tr = rnnviz.trace(layer, x)
    states = [np.zeros((3, 4), "float32") for _ in tr.state_names]
    for t in range(x.shape[1]):
        _, states = layer.cell(x[:, t], states)
        states = [np.asarray(s) for s in (states if isinstance(states, (list, tuple)) else [states])]
        np.testing.assert_allclose(tr.h[:, t], states[0], atol=TOL, rtol=0)
        if kind == "LSTM":
            np.testing.assert_allclose(tr.c[:, t], states[1], atol=TOL, rtol=0)
    assert (tr.c is None) == (kind != "LSTM")


def test_gru_reset_after_both_ways_and_no_bias():
    keras.utils.set_random_seed(3)
    x = _data(2, 6, 3, seed=3)
    for reset_after in (True, False):
        for use_bias in (True, False):
            _assert_matches_keras(keras.layers.GRU(3, reset_after=reset_after, use_bias=use_bias), x)


def test_initial_state_and_go_backwards():
    keras.utils.set_random_seed(4)
    x = _data(2, 5, 3, seed=4)
    rng = np.random.default_rng(4)
    h0, c0 = rng.normal(size=(2, 2, 4)).astype("float32") * 0.5
    _assert_matches_keras(keras.layers.LSTM(4, go_backwards=True), x, initial_state=[h0, c0])
    _assert_matches_keras(keras.layers.GRU(4, go_backwards=True), x, initial_state=[h0])
    tr = rnnviz.trace(keras.layers.SimpleRNN(4, go_backwards=True), x)
    assert tr.input_steps.tolist() == [4, 3, 2, 1, 0]


def test_mask_holds_the_state_through_padding():
    """With padded steps masked, the returned last state is the state at the last real step."""
    keras.utils.set_random_seed(5)
    x = _data(2, 6, 2, seed=5)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 0, 1, 1, 1]], bool)
    for kind in LAYERS:
        tr = _assert_matches_keras(LAYERS[kind](3), x, mask=mask)
        np.testing.assert_array_equal(tr.final_states()[0][0], tr.h[0, 3])
    # A mask on the first steps: Keras outputs zeros there, and the state starts at step 2.
    early = np.array([[0, 0, 1, 1, 1, 1]] * 2, bool)
    _assert_matches_keras(keras.layers.LSTM(3), x, mask=early)
    _assert_matches_keras(keras.layers.GRU(3, go_backwards=True), x, mask=early)
    # A layer may ask for zeros at masked steps instead of repeats (Bidirectional asks for it).
    _assert_matches_keras(keras.layers.SimpleRNN(3, zero_output_for_mask=True), x, mask=mask)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_order_and_merge_modes(merge_mode):
    keras.utils.set_random_seed(6)
    x = _data(2, 4, 3, seed=6)
    layer = keras.layers.Bidirectional(keras.layers.LSTM(3), merge_mode=merge_mode)
    tr = _assert_matches_keras(layer, x)
    names = [n for n, _ in tr.returns(True, True)]
    outputs = ["output"] if merge_mode else ["forward_output", "backward_output"]
    assert names == outputs + ["forward_h", "forward_c", "backward_h", "backward_c"]
    # The backward layer's final state is the one it reached after reading timestep 0.
    assert tr.backward.input_steps[-1] == 0


def test_bidirectional_gru_initial_state():
    keras.utils.set_random_seed(7)
    x = _data(1, 5, 2, seed=7)
    states = [np.full((1, 2), 0.3, "float32"), np.full((1, 2), -0.2, "float32")]
    layer = keras.layers.Bidirectional(keras.layers.GRU(2))
    tr = _assert_matches_keras(layer, x, initial_state=states)
    assert len(tr.returns(True, True)) == 3


def test_stateful_layer_continues_from_its_stored_states():
    keras.utils.set_random_seed(8)
    x = _data(2, 4, 3, seed=8)
    layer = keras.layers.LSTM(3, stateful=True, return_sequences=True)
    layer(x)  # the first call leaves its final states in layer.states
    tr = rnnviz.trace(layer, x)  # the trace starts where Keras's next call will start
    np.testing.assert_allclose(tr.h, np.asarray(layer(x)), atol=TOL, rtol=0)


def test_a_custom_activation_keeps_its_own_maths_even_under_a_keras_name():
    def hard_sigmoid(a):  # Keras 2's line under Keras 3's name: it must not be swapped for Keras 3's
        return keras.ops.clip(0.2 * a + 0.5, 0.0, 1.0)

    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(2, recurrent_activation=hard_sigmoid, return_sequences=True)
    x = _data(1, 3, 1)
    # Called directly: a config round trip would turn the function back into Keras's by its name.
    np.testing.assert_allclose(rnnviz.trace(layer, x).h, np.asarray(layer(x)), atol=TOL, rtol=0)


def test_unbuilt_layer_is_built_for_x():
    keras.utils.set_random_seed(9)
    layer = keras.layers.GRU(2)
    assert not layer.built
    tr = rnnviz.trace(layer, _data(1, 3, 4))
    assert layer.built and layer.cell.kernel.shape == (4, 6)
    assert tr.h.shape == (1, 3, 2)


ACTIVATIONS = st.sampled_from(["tanh", "relu", "sigmoid", "softsign", "linear"])


@settings(max_examples=12 if JAX else 40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(LAYERS)),
    units=st.integers(1, 16),
    timesteps=st.integers(1, 30),
    features=st.integers(1, 8),
    batch=st.integers(1, 4),
    use_bias=st.booleans(),
    reset_after=st.booleans(),
    activation=ACTIVATIONS,
    recurrent_activation=st.sampled_from(["sigmoid", "hard_sigmoid"]),
    go_backwards=st.booleans(),
    masked=st.booleans(),
    bidirectional=st.sampled_from([None, "concat", "sum", "mul", "ave", "none"]),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_keras(
    kind, units, timesteps, features, batch, use_bias, reset_after, activation, recurrent_activation,
    go_backwards, masked, bidirectional, seed,
):
    keras.utils.set_random_seed(seed)
    # Keras 3 cannot wrap a go_backwards layer in Bidirectional (it rejects its own backward twin).
    go_backwards = go_backwards and not bidirectional
    kwargs = {"use_bias": use_bias, "activation": activation, "go_backwards": go_backwards}
    if kind != "SimpleRNN":
        kwargs["recurrent_activation"] = recurrent_activation
    if kind == "GRU":
        kwargs["reset_after"] = reset_after
    layer = LAYERS[kind](units, **kwargs)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer, merge_mode=None if bidirectional == "none" else bidirectional)
    # Inputs of moderate size keep unbounded activations (relu, linear) within float32's comfort.
    x = (_data(batch, timesteps, features, seed) * 0.5).astype("float32")
    mask = np.random.default_rng(seed).random((batch, timesteps)) > 0.3 if masked else None
    _assert_matches_keras(layer, x, mask=mask)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(list(LAYERS)), units=st.integers(1, 8), timesteps=st.integers(1, 12),
       scale=st.floats(0.1, 20), seed=st.integers(0, 2**16))
def test_gates_lie_in_0_1_and_tanh_states_in_minus1_1(kind, units, timesteps, scale, seed):
    keras.utils.set_random_seed(seed)
    x = _data(2, timesteps, 3, seed) * scale
    tr = rnnviz.trace(LAYERS[kind](units), x)
    for name, gate in tr.gates.items():
        if name != "candidate":
            assert ((gate >= 0) & (gate <= 1)).all(), name
    assert (np.abs(tr.gates.get("candidate", tr.h)) <= 1).all()
    assert (np.abs(tr.h) <= 1).all()  # tanh bounds h for all three cells (the GRU mixes two such values)


def test_repr_is_short_and_names_the_shapes():
    keras.utils.set_random_seed(0)
    x = np.array([0.1, 0.2, 0.3], "float32").reshape(1, 3, 1)
    text = repr(rnnviz.trace(keras.layers.LSTM(1), x))
    assert "LSTM(units=1)" in text and "output (1, 3, 1), state_h (1, 1), state_c (1, 1)" in text
    assert len(text.splitlines()) <= 5
    bi = repr(rnnviz.trace(keras.layers.Bidirectional(keras.layers.GRU(2)), x))
    assert "forward_h (1, 2), backward_h (1, 2)" in bi


CELLS = {"LSTM": keras.layers.LSTMCell, "GRU": keras.layers.GRUCell, "SimpleRNN": keras.layers.SimpleRNNCell}


def _recurrent(kind, units, as_cell, **kwargs):
    """LSTM(units, ...) or the same maths as RNN(LSTMCell(units), ...)."""
    if not as_cell:
        return LAYERS[kind](units, **kwargs)
    layer_args = {k: kwargs.pop(k) for k in ("go_backwards",) if k in kwargs}
    return keras.layers.RNN(CELLS[kind](units, **kwargs), **layer_args)


@settings(max_examples=12 if JAX else 40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(LAYERS)),
    back_kind=st.sampled_from(list(LAYERS)),
    units=st.integers(1, 6),
    back_units=st.integers(1, 6),
    timesteps=st.integers(1, 10),
    features=st.integers(1, 4),
    batch=st.integers(1, 3),
    as_cell=st.booleans(),
    back_as_cell=st.booleans(),
    go_backwards=st.booleans(),
    masked=st.booleans(),
    initial=st.booleans(),
    bidirectional=st.sampled_from([None, "concat", "sum", "none"]),
    seed=st.integers(0, 2**16),
)
def test_rnn_around_a_cell_and_any_backward_layer_match_keras(
    kind, back_kind, units, back_units, timesteps, features, batch, as_cell, back_as_cell, go_backwards, masked,
    initial, bidirectional, seed,
):
    """RNN(LSTMCell(n)) gives LSTM(n)'s numbers; a Bidirectional's backward layer may be another kind and size."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    if bidirectional is None:
        layer = _recurrent(kind, units, as_cell, go_backwards=go_backwards)
        sizes = [(kind, units)]
    else:
        if bidirectional == "sum":
            back_units = units  # summing needs both outputs of one width
        layer = keras.layers.Bidirectional(
            _recurrent(kind, units, as_cell),
            backward_layer=_recurrent(back_kind, back_units, back_as_cell, go_backwards=True),
            merge_mode=None if bidirectional == "none" else bidirectional)
        sizes = [(kind, units), (back_kind, back_units)]
    x = _data(batch, timesteps, features, seed)
    mask = rng.random((batch, timesteps)) > 0.3 if masked else None
    states = None
    if initial:
        states = [rng.normal(size=(batch, n)).astype("float32") for k, n in sizes
                  for _ in range(2 if k == "LSTM" else 1)]
    counts = [2 if k == "LSTM" else 1 for k, _ in sizes]
    if initial and len(counts) == 2 and sum(counts) // 2 != counts[0]:
        # Keras splits initial_state in half between the directions: an LSTM forward (2 states) with a GRU
        # backward (1) gets only h0, and fails inside the cell. rnnviz says so instead of computing something.
        with pytest.raises(Exception):  # noqa: B017 (Keras's own error, an IndexError today)
            layer(x, initial_state=states)
        with pytest.raises(ValueError, match=r"initial_state: this Bidirectional has \d state\(s\) forward.*splits "
                                             r"initial_state in half"):
            rnnviz.trace(layer, x, initial_state=states, mask=mask)
        return
    tr = _assert_matches_keras(layer, x, mask=mask, initial_state=states)
    if bidirectional is not None:
        assert (tr.backward.kind, tr.backward.units) == (back_kind, back_units)


def test_dropout_is_named_as_not_applied():
    layer = keras.layers.LSTM(2, dropout=0.5, recurrent_dropout=0.25)
    with pytest.warns(UserWarning, match=r"dropout=0\.5, recurrent_dropout=0\.25, and rnnviz\.trace does not "
                                         r"apply dropout.*inference.*training=True"):
        tr = rnnviz.trace(layer, _data(1, 3, 1))
    np.testing.assert_allclose(tr.returns()[0][1], np.asarray(layer(_data(1, 3, 1))), atol=TOL)  # inference
