"""rnnviz.trace of an RNN over stacked cells agrees with Keras: nested states, masks, initial states, go_backwards."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnviz

CELLS = {"LSTM": keras.layers.LSTMCell, "GRU": keras.layers.GRUCell, "SimpleRNN": keras.layers.SimpleRNNCell}
FLAGS = [(False, False), (True, False), (False, True), (True, True)]
TOL = 1e-5
#: On JAX, Keras's scan loop (unroll=False) outputs the initial h, not zeros, at masked steps before a sample's first
#: real step; TensorFlow and Keras's unrolled loop on JAX output zeros, as rnnviz does (tests/test_backends.py pins it).
JAX_SCAN_MASKS_WITH_H0 = keras.backend.backend() == "jax"
#: Fewer random examples on JAX: there each new Keras layer traces and compiles its loop afresh (far slower than on
#: TensorFlow), so the JAX pass checks a sample of configurations; the TensorFlow pass explores the full count.
JAX = keras.backend.backend() == "jax"


def _keras_returns(layer, x, return_sequences, return_state, **call_kwargs):
    """What Keras itself returns for these flags: a twin RNN with the same weights, as nested NumPy lists."""
    config = {**layer.get_config(), "return_sequences": return_sequences, "return_state": return_state}
    if JAX_SCAN_MASKS_WITH_H0 and call_kwargs.get("mask") is not None and call_kwargs.get("initial_state") is not None:
        config["unroll"] = True  # Keras's own step-by-step loop on JAX: its scan loop outputs h0 there (test_backends)
    twin = keras.layers.RNN.from_config(config)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    out = twin(x, **call_kwargs)

    def numpy(o):
        return [numpy(i) for i in o] if isinstance(o, (list, tuple)) else np.asarray(o)
    return numpy(out) if isinstance(out, (list, tuple)) else [np.asarray(out)]


def _assert_nested_equal(got, expected, where):
    """``got``: rnnviz's (name, array or list of pairs) pairs; ``expected``: Keras's (nested) arrays."""
    assert len(got) == len(expected), where
    for (name, value), ref in zip(got, expected, strict=True):
        if isinstance(ref, list):
            assert isinstance(value, list), (name, where)
            _assert_nested_equal(value, ref, f"{where} {name}")
        else:
            assert value.shape == ref.shape, (name, where)
            np.testing.assert_allclose(value, ref, atol=TOL, rtol=0, err_msg=f"{name} {where}")


@settings(max_examples=10 if JAX else 30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(list(CELLS)), min_size=1, max_size=3),
    units=st.lists(st.integers(1, 5), min_size=3, max_size=3),
    timesteps=st.integers(1, 6), features=st.integers(1, 3), batch=st.integers(1, 3),
    go_backwards=st.booleans(), masked=st.booleans(), initial=st.booleans(), seed=st.integers(0, 1000),
)
def test_stacked_cells_match_keras_on_every_flag_pair(kinds, units, timesteps, features, batch, go_backwards, masked,
                                                      initial, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    layer = keras.layers.RNN([CELLS[k](n) for k, n in zip(kinds, units, strict=False)], go_backwards=go_backwards)
    x = rng.normal(size=(batch, timesteps, features)).astype("float32")
    mask = rng.random((batch, timesteps)) > 0.3 if masked else None
    states = None
    if initial:
        states = [[rng.normal(size=(batch, n)).astype("float32") for _ in range(2 if k == "LSTM" else 1)]
                  for k, n in zip(kinds, units, strict=False)]
    if len(kinds) == 1 and masked:
        # Keras 3 fails on a one-cell stack with a mask (a state-nesting error); rnnviz says so instead of guessing.
        with pytest.raises(ValueError):
            layer(x, mask=mask)
        with pytest.raises(ValueError, match=r"mask: Keras itself fails on an RNN over a one-cell stack"):
            rnnviz.trace(layer, x, initial_state=states, mask=mask)
        return
    if len(kinds) == 1 and keras.backend.backend() == "jax":
        # On JAX, Keras fails on a one-cell stack even without a mask (tests/test_backends.py pins it); rnnviz says so.
        with pytest.raises(TypeError, match="pytree structure"):
            layer(x, **({} if states is None else {"initial_state": states}))
        with pytest.raises(ValueError, match=r"layer: on the JAX backend Keras itself fails on every call of an RNN "
                                             r"over a one-cell stack"):
            rnnviz.trace(layer, x, initial_state=states)
        return
    tr = rnnviz.trace(layer, x, initial_state=states, mask=mask)
    assert isinstance(tr, rnnviz.StackedTrace)
    assert [(c.kind, c.units) for c in tr.cells] == list(zip(kinds, units, strict=False))
    kwargs = {k: v for k, v in {"mask": mask, "initial_state": states}.items() if v is not None}
    for rs, rst in FLAGS:
        _assert_nested_equal(tr.returns(rs, rst), _keras_returns(layer, x, rs, rst, **kwargs), f"rs={rs} rst={rst}")


def test_each_cell_reads_the_h_of_the_cell_below_and_its_states_nest_per_cell():
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float32")
    layer = keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.LSTMCell(4), keras.layers.GRUCell(2)]))
    tr = rnnviz.trace(layer, x)
    np.testing.assert_array_equal(tr.cells[1].x, tr.cells[0].h)
    names = [(name, [n for n, _ in value] if isinstance(value, list) else value.shape)
             for name, value in tr.returns(False, True)]
    assert names == [("output", (2, 2)), ("cell_0", ["state_h", "state_c"]), ("cell_1", ["state_h"])]
    assert "cell_0 [state_h (2, 4), state_c (2, 4)], cell_1 [state_h (2, 2)]" in repr(tr)
    # one step of the top cell by hand, from the lower cell's h: Keras's own GRUCell
    h1, _ = layer.cell.cells[1](tr.cells[0].h[:, 0], [np.zeros((2, 2), "float32")])
    np.testing.assert_allclose(tr.cells[1].h[:, 0], np.asarray(h1), atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "initial_state, error, pattern",
    [
        ([np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 3))], ValueError,
         r"initial_state: an RNN over 2 stacked cells takes one list of states per cell, \[\[h0, c0\], \[h0\]\].*"
         r"got a list of 3: \[an array \(1, 2\), an array \(1, 2\), an array \(1, 3\)\]. Nest the states per cell"),
        ([[np.zeros((1, 2)), np.zeros((1, 2))], [np.zeros((1, 2))]], ValueError,
         r"initial_state\[1\]\[0\]: expected shape \(batch, units\) = \(1, 3\), got \(1, 2\)"),
        ([[np.zeros((1, 2))], [np.zeros((1, 3))]], ValueError, r"initial_state\[0\]: expected 2 arrays \[h0, c0\]"),
    ],
)
def test_bad_nested_initial_state_says_how_to_nest_it(initial_state, error, pattern):
    layer = keras.layers.RNN([keras.layers.LSTMCell(2), keras.layers.GRUCell(3)])
    with pytest.raises(error, match=pattern):
        rnnviz.trace(layer, np.zeros((1, 4, 2), "float32"), initial_state=initial_state)


def test_pictures_of_one_cell_point_to_one_cell_or_to_plot_states():
    layer = keras.layers.RNN([keras.layers.LSTMCell(2), keras.layers.GRUCell(3)])
    tr = rnnviz.trace(layer, np.zeros((1, 4, 2), "float32"))
    one_cell = r"trace: .*an RNN over stacked cells.*pass trace\.cells\[0\].*rnnviz\.plot_states\(trace"
    for draw in (rnnviz.draw_unrolled, lambda trace: rnnviz.draw_cell(trace, 0), rnnviz.plot_gates):  # not plot_states
        with pytest.raises(TypeError, match=one_cell):
            draw(tr)


def test_explorer_points_a_learners_stack_to_plot_states():
    layer = keras.layers.RNN([keras.layers.LSTMCell(2), keras.layers.GRUCell(3)])
    with pytest.raises(ValueError, match=r"layer: the explorer .*stacked cells.*rnnviz\.plot_states\(rnnviz\.trace\("):
        rnnviz.explore(layer=layer)
