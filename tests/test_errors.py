"""Bad input to rnnviz.trace gets a clear error from rnnviz, before TensorFlow sees it.

Each message must name the argument, what was expected, what was given, and a fix.
"""

import keras
import numpy as np
import pytest

import rnnviz

X = np.zeros((2, 3, 1), "float32")


class _MyCell(keras.layers.Layer):
    """A learner's own cell: a Keras RNN accepts it, rnnviz does not know its maths."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size = units, units

    def call(self, inputs, states):
        return inputs[..., :1] * 0 + states[0], [states[0]]


def _built(layer, features=1):
    layer.build((None, 3, features))
    return layer


@pytest.mark.parametrize(
    "layer, pattern",
    [
        (keras.layers.Dense(3), r"layer: expected a Keras LSTM, GRU or SimpleRNN.*got a layer of class Dense"),
        (keras.layers.LSTM, r"got the class LSTM itself\. Create the layer first"),
        (keras.layers.LSTMCell(2), r"an RNN around an LSTMCell.*got a layer of class LSTMCell"),
        ("LSTM", r"got a str"),
        (keras.Sequential([keras.layers.LSTM(2)]), r"got a layer of class Sequential.*model\.layers\[0\]"),
        (keras.layers.RNN([keras.layers.LSTMCell(2), _MyCell(2)]),
         r"an RNN over stacked cells whose cell 1 is a _MyCell, a cell rnnviz does not know.*RNN\(\[LSTMCell\(4\)"),
        (keras.layers.Bidirectional(keras.layers.RNN([keras.layers.LSTMCell(2), keras.layers.GRUCell(2)])),
         r"a Bidirectional around an RNN over stacked cells, which rnnviz does not trace yet"),
        (keras.layers.RNN(_MyCell(2)), r"an RNN around _MyCell, a cell rnnviz does not know.*RNN\(LSTMCell\(n\)\)"),
        (keras.layers.Bidirectional(keras.layers.ConvLSTM1D(2, 3)),
         r"a Bidirectional around a ConvLSTM1D, which rnnviz does not trace inside a Bidirectional yet"),
        (keras.layers.Bidirectional(keras.layers.LSTM(2), backward_layer=keras.layers.RNN(_MyCell(2), go_backwards=True)),
         r"a Bidirectional whose backward_layer is an RNN around _MyCell"),
    ],
)
def test_unsupported_layer_says_which_are_supported(layer, pattern):
    with pytest.raises(TypeError, match=pattern):
        rnnviz.trace(layer, X)


def test_two_d_input_suggests_adding_the_batch_axis():
    with pytest.raises(ValueError, match=r"x: expected a 3-D array .* got 2-D with shape \(3, 1\).*x\[None\]"):
        rnnviz.trace(keras.layers.LSTM(2), np.zeros((3, 1)))


def test_one_d_input_suggests_a_reshape():
    with pytest.raises(ValueError, match=r"got 1-D with shape \(3,\).*x\.reshape\(1, 3, 1\)"):
        rnnviz.trace(keras.layers.LSTM(2), [0.1, 0.2, 0.3])


def test_feature_count_must_match_a_built_layer():
    with pytest.raises(ValueError, match=r"x: the layer was built for 4 features, got 1 .*last axis of 4"):
        rnnviz.trace(_built(keras.layers.GRU(2), features=4), X)


def test_feature_count_is_checked_for_bidirectional_too():
    layer = keras.layers.Bidirectional(keras.layers.LSTM(2))
    layer.build((None, 3, 5))
    with pytest.raises(ValueError, match=r"built for 5 features, got 1"):
        rnnviz.trace(layer, X)


@pytest.mark.parametrize("shape, axis", [((0, 3, 1), "batch"), ((2, 0, 1), "timesteps"), ((2, 3, 0), "features")])
def test_empty_axes(shape, axis):
    with pytest.raises(ValueError, match=rf"x: expected at least one {axis} entry, got shape"):
        rnnviz.trace(keras.layers.LSTM(2), np.zeros(shape))


@pytest.mark.parametrize("x", [np.array([[["a"], ["b"], ["c"]]]), [[[0.1], [None], [0.3]]]])
def test_non_numeric_data(x):
    with pytest.raises(TypeError, match=r"x: expected numbers, got an array of dtype .*np\.asarray\(data, dtype="):
        rnnviz.trace(keras.layers.LSTM(2), x)


def test_ragged_data():
    with pytest.raises(TypeError, match=r"x: expected an array-like .*pad shorter sequences"):
        rnnviz.trace(keras.layers.LSTM(2), [[[0.1], [0.2]], [[0.3]]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity(bad):
    x = X.copy()
    x[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"x: expected finite numbers, got .* at index \(1, 2, 0\).*nan_to_num"):
        rnnviz.trace(keras.layers.LSTM(2), x)


def test_symbolic_keras_tensor():
    with pytest.raises(TypeError, match=r"x: expected concrete numbers, got a symbolic KerasTensor"):
        rnnviz.trace(keras.layers.LSTM(2), keras.Input((3, 1)))


def test_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"mask: expected shape \(batch, timesteps\) = \(2, 3\) to match x, got \(2, 3, 1\)"):
        rnnviz.trace(keras.layers.LSTM(2), X, mask=np.ones((2, 3, 1), bool))


def test_mask_of_the_wrong_kind():
    with pytest.raises(TypeError, match=r"mask: expected booleans .* got dtype float"):
        rnnviz.trace(keras.layers.LSTM(2), X, mask=np.ones((2, 3)) * 0.5)


@pytest.mark.parametrize(
    "layer, states, pattern",
    [
        (keras.layers.LSTM(2), [np.zeros((2, 2))], r"initial_state: expected 2 arrays \[h0, c0\] .* got 1\. An LSTM carries two"),
        (keras.layers.GRU(2), [np.zeros((2, 2))] * 2, r"expected 1 array \[h0\] for this GRU layer, got 2\. A GRU carries one"),
        (keras.layers.Bidirectional(keras.layers.LSTM(2)), [np.zeros((2, 2))] * 2,
         r"expected 4 arrays \[forward_h0, forward_c0, backward_h0, backward_c0\]"),
        (keras.layers.LSTM(2), np.zeros((2, 2)), r"initial_state: expected a list of 2 arrays"),
        (keras.layers.LSTM(2), [np.zeros((2, 3))] * 2,
         r"initial_state\[0\]: expected shape \(batch, units\) = \(2, 2\), got \(2, 3\)"),
    ],
)
def test_initial_state_count_and_shape(layer, states, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        rnnviz.trace(layer, X, initial_state=states)


def test_a_single_array_is_fine_for_one_state_cells():
    tr = rnnviz.trace(keras.layers.GRU(2), X, initial_state=np.zeros((2, 2)))
    assert tr.h.shape == (2, 3, 2)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_flags_must_be_booleans(value):
    tr = rnnviz.trace(keras.layers.SimpleRNN(2), X)
    with pytest.raises(TypeError, match=r"return_state: expected True or False"):
        tr.returns(True, value)


def _mixed_bidirectional():
    return keras.layers.Bidirectional(keras.layers.LSTM(3), backward_layer=keras.layers.GRU(2, go_backwards=True))


@pytest.mark.parametrize("draw", [rnnviz.plot_states, rnnviz.draw_unrolled, lambda tr: rnnviz.draw_cell(tr, 0),
                                  rnnviz.plot_gates])
def test_a_mixed_bidirectional_trace_is_drawn_one_direction_at_a_time(draw):
    tr = rnnviz.trace(_mixed_bidirectional(), np.zeros((1, 3, 1), "float32"))
    with pytest.raises(ValueError, match=r"backward layer of another kind or size \(GRU\(2\) behind LSTM\(3\)\).*"
                                         r"pass trace\.forward or trace\.backward"):
        draw(tr)
    draw(tr.backward)  # each direction is an ordinary trace


@pytest.mark.parametrize(("layer", "pattern"), [
    (keras.layers.RNN(keras.layers.GRUCell(2)), r"got an RNN around GRUCell\. RNN\(GRUCell\(2\)\) computes what "
                                                r"GRU\(2\) computes: pass keras\.layers\.GRU\(2\) instead"),
    (_mixed_bidirectional(), r"this one has GRU\(2\) behind LSTM\(3\)"),
])
def test_the_explorer_takes_layers_it_can_rebuild(layer, pattern):
    with pytest.raises(ValueError, match=pattern):
        rnnviz.explore(layer)
