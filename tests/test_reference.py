"""The NumPy cells of rnnviz.reference: activations, the maths by hand, and old Keras's numbers."""

import keras
import numpy as np
import pytest

from rnnviz import reference

POINTS = np.linspace(-8, 8, 33).astype("float32")


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softsign"])
def test_activations_match_keras_3(name):
    ours = reference.activation(name)(POINTS)
    theirs = np.asarray(keras.activations.get(name)(POINTS))
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_keras_2_hard_sigmoid_is_the_steeper_line():
    # Keras 2: clip(0.2 x + 0.5, 0, 1), flat beyond |x| = 2.5; Keras 3's slope is 1/6, flat beyond 3.
    old, new = reference.activation("hard_sigmoid_keras2"), reference.activation("hard_sigmoid")
    x = np.array([-3.0, -2.5, 0.0, 1.0, 2.5, 3.0], "float32")
    np.testing.assert_allclose(old(x), [0, 0, 0.5, 0.7, 1, 1], atol=1e-7)
    np.testing.assert_allclose(new(x), [0, 1 / 12, 0.5, 0.5 + 1 / 6, 11 / 12, 1], atol=1e-7)


def test_sigmoid_does_not_overflow():
    with np.errstate(all="raise"):
        out = reference.activation("sigmoid")(np.array([-1e4, 0.0, 1e4], "float32"))
    np.testing.assert_allclose(out, [0, 0.5, 1])


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match=r"activation: expected one of .*'tanh'.* got 'swishy'"):
        reference.activation("swishy")


def _old_tutorial_weights(units=1, features=2):
    """Curriculum example B: every kernel weight 0.1, bias 0, plus the forget-gate bias of 1
    that Keras adds with unit_forget_bias=True (its default then and now)."""
    kernel = np.full((features, 4 * units), 0.1, "float32")
    recurrent = np.full((units, 4 * units), 0.1, "float32")
    bias = np.zeros(4 * units, "float32")
    bias[units : 2 * units] = 1.0
    return kernel, recurrent, bias


def test_first_step_by_hand():
    """One LSTM step worked out on paper, with Keras 2's hard sigmoid (h0 = c0 = 0)."""
    kernel, recurrent, bias = _old_tutorial_weights()
    x = np.array([[[0.1, 0.2]]], "float32")
    run = reference.lstm(x, kernel, recurrent, bias, recurrent_activation="hard_sigmoid_keras2")
    a = 0.1 * 0.1 + 0.1 * 0.2           # every gate's pre-activation (the forget gate's is a + 1)
    i = o = 0.2 * a + 0.5               # Keras 2 hard sigmoid
    c = i * np.tanh(a)                  # f * c0 vanishes because c0 = 0
    h = o * np.tanh(c)
    np.testing.assert_allclose(run.c[0, 0, 0], c, rtol=1e-6)
    np.testing.assert_allclose(run.h[0, 0, 0], h, rtol=1e-6)
    np.testing.assert_allclose(run.gates["forget"][0, 0, 0], 0.2 * (a + 1) + 0.5, rtol=1e-6)


def test_reproduces_the_2018_printed_numbers():
    """Curriculum example B printed these with Keras 2.x (hard sigmoid, forget bias 1)."""
    kernel, recurrent, bias = _old_tutorial_weights()
    x = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.3], "float32").reshape(1, 3, 2)
    run = reference.lstm(x, kernel, recurrent, bias, recurrent_activation="hard_sigmoid_keras2")
    np.testing.assert_allclose(run.h[0, :, 0], [0.00767819, 0.01597687, 0.02480672], atol=5e-9)
    np.testing.assert_allclose(run.c[0, -1, 0], 0.04864851, atol=5e-9)


def test_todays_defaults_match_a_keras_3_layer_with_constant_weights():
    init = keras.initializers.Constant(0.1)
    layer = keras.layers.LSTM(1, kernel_initializer=init, recurrent_initializer=init,
                              bias_initializer=keras.initializers.Constant(0.0), return_sequences=True)
    x = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.3], "float32").reshape(1, 3, 2)
    keras_h = np.asarray(layer(x))
    run = reference.lstm(x, *_old_tutorial_weights())  # Keras 3 defaults: sigmoid
    np.testing.assert_allclose(run.h, keras_h, atol=1e-7)
    old = reference.lstm(x, *_old_tutorial_weights(), recurrent_activation="hard_sigmoid_keras2")
    assert not np.allclose(old.h, keras_h, atol=1e-4)  # the two eras really do print different numbers


def test_gru_update_keeps_the_old_state_share_z():
    """Keras's GRU: h = z * h_prev + (1 - z) * h~. With z forced to 1 the state never moves."""
    units, features = 2, 1
    kernel = np.zeros((features, 3 * units), "float32")
    recurrent = np.zeros((units, 3 * units), "float32")
    bias = np.zeros(3 * units, "float32")
    bias[:units] = 50.0                                  # z = sigmoid(50) = 1
    h0 = np.array([[0.3, -0.4]], "float32")
    run = reference.gru(np.ones((1, 4, 1), "float32"), kernel, recurrent, bias, h0=h0, reset_after=False)
    np.testing.assert_allclose(run.h[0], np.repeat(h0, 4, axis=0), atol=1e-6)


def test_cellrun_repr():
    run = reference.simple_rnn(np.zeros((1, 2, 1)), np.zeros((1, 3)), np.zeros((3, 3)))
    assert repr(run) == "CellRun(h=(1, 2, 3), c=None, gates: none)"
