"""rnnviz on each Keras backend: what it imports, which backend a test run uses, and the Keras-on-JAX bugs the tests
work around, pinned so that each test here fails (and says what to remove) once Keras fixes its bug.

CI runs the unit tests twice, on TensorFlow and with KERAS_BACKEND=jax (see the README's test command).
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import rnnviz

JAX = keras.backend.backend() == "jax"
jax_only = pytest.mark.skipif(not JAX, reason="pins a bug of Keras on the JAX backend; runs in the KERAS_BACKEND=jax pass")
FIXED = "Keras fixed this: remove the workaround named in this test's docstring, and this test"


def test_the_run_uses_the_backend_it_was_asked_for():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def test_import_rnnviz_under_jax_imports_no_tensorflow():
    pytest.importorskip("jax", reason="JAX is not installed (the lowest-versions venv has none: TF 2.16 and jax 0.10 "
                                      "need different ml-dtypes)")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    code = "import sys, rnnviz, keras; assert keras.backend.backend() == 'jax'; print(sorted(m for m in sys.modules " \
           "if m == 'tensorflow' or m.startswith('tensorflow.')))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"import rnnviz imported TensorFlow under JAX: {done.stdout}"


def _lstm_pair():
    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(2, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 3, 1)).astype("float32")
    layer.build(x.shape)
    twin = keras.layers.LSTM.from_config({**layer.get_config(), "unroll": True})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    return layer, twin, x


@jax_only
def test_jax_scan_outputs_the_initial_h_at_masked_steps_before_the_first_real_one():
    """Keras on JAX, ``unroll=False`` (its ``lax.scan`` loop, keras/src/backend/jax/rnn.py) outputs the initial state h0
    at a masked step before a sample's first real step, "assuming the first state is the previous output". TensorFlow,
    and Keras's own unrolled loop on JAX, output zeros there, and so does rnnviz. (The same assumption was a TensorFlow
    bug once: tensorflow/tensorflow#23632, fixed for Keras 2 in keras-team/keras#11499.)

    Workaround: tests/test_trace.py and tests/test_stacked.py check masked calls with an initial state against the
    twin layer with ``unroll=True`` on JAX (``JAX_SCAN_MASKS_WITH_H0``).
    """
    layer, twin, x = _lstm_pair()
    h0, c0 = np.full((2, 2), 0.5, "float32"), np.full((2, 2), -0.5, "float32")
    mask = np.array([[False, True, True], [True, True, True]])
    scan = np.asarray(layer(x, initial_state=[h0, c0], mask=mask))
    unrolled = np.asarray(twin(x, initial_state=[h0, c0], mask=mask))
    ours = rnnviz.trace(layer, x, initial_state=[h0, c0], mask=mask).returns(True)[0][1]
    np.testing.assert_allclose(ours, unrolled, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(unrolled[0, 0], 0)  # zeros before sample 0's first real step
    assert np.array_equal(scan[0, 0], h0[0]), FIXED  # the bug: h0 there
    np.testing.assert_allclose(scan[:, 1:], unrolled[:, 1:], atol=1e-5, rtol=0)  # and only there
    np.testing.assert_allclose(scan[1], unrolled[1], atol=1e-5, rtol=0)


@jax_only
def test_jax_scan_masks_a_conv_lstm_with_the_wrong_shape():
    """Keras on JAX, ``unroll=False``, keeps the mask ``(batch, 1)`` while a ConvLSTM's states are
    ``(batch, *spatial, filters)``: ``jnp.where`` then fails to broadcast, or broadcasts the batch's mask along a
    spatial axis and gives wrong numbers without a word. Keras's unrolled loop expands the mask properly and agrees with
    TensorFlow and rnnviz.

    Workaround: tests/test_conv_trace.py checks masked calls against the twin layer with ``unroll=True`` on JAX
    (``JAX_SCAN_MISMASKS_CONV``).
    """
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 1)).astype("float32")
    mask = np.array([[True, False, True], [True, True, False]])
    layer = keras.layers.ConvLSTM1D(1, 1, return_sequences=True)
    layer.build(x.shape)
    twin = keras.layers.ConvLSTM1D.from_config({**layer.get_config(), "unroll": True})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    np.testing.assert_allclose(rnnviz.trace(layer, x, mask=mask).returns(True)[0][1], np.asarray(twin(x, mask=mask)),
                               atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        layer(x, mask=mask)  # (2, 1) against (2, 4, 1)
    # When the batch equals the spatial size the shapes broadcast, the wrong way: wrong numbers, no error.
    x2, mask2 = x[:, :2, :2], np.array([[True, False], [False, True]])
    layer2 = keras.layers.ConvLSTM1D(1, 1, return_sequences=True, use_bias=False)
    layer2.build(x2.shape)
    twin2 = keras.layers.ConvLSTM1D.from_config({**layer2.get_config(), "unroll": True})
    twin2.build(x2.shape)
    twin2.set_weights(layer2.get_weights())
    wrong, right = np.asarray(layer2(x2, mask=mask2)), np.asarray(twin2(x2, mask=mask2))
    np.testing.assert_allclose(rnnviz.trace(layer2, x2, mask=mask2).returns(True)[0][1], right, atol=1e-5, rtol=0)
    assert np.abs(wrong - right).max() > 1e-3, FIXED


@jax_only
def test_jax_fails_on_every_call_of_an_rnn_over_a_one_cell_stack():
    """Keras on JAX fails on ``RNN([LSTMCell(n)])`` even without a mask: the scan loop's carry is the states nested
    per cell, and the step hands them back flat (a ``TypeError`` from ``lax.scan``). On TensorFlow it fails only with
    a mask.

    Workaround: rnnviz.trace refuses a one-cell stack on JAX, saying so (rnnviz/trace.py, ``_run_stacked``), and
    tests/test_stacked.py expects that refusal on JAX.
    """
    x = np.ones((1, 2, 1), "float32")
    for cell in (keras.layers.LSTMCell(1), keras.layers.GRUCell(1)):
        layer = keras.layers.RNN([cell])
        with pytest.raises(TypeError, match="pytree structure"):
            layer(x)
        with pytest.raises(ValueError, match="on the JAX backend Keras itself fails on every call"):
            rnnviz.trace(layer, x)


@jax_only
def test_jax_unrolled_loop_ignores_zero_output_for_mask():
    """Keras on JAX, ``unroll=True``, repeats the previous output at masked steps even with ``zero_output_for_mask=True``
    (which ``Bidirectional`` sets on its layers when they return sequences); its scan loop, TensorFlow and rnnviz output
    zeros there.

    Workaround: tests/test_trace.py does not use the unrolled twin for a Bidirectional returning sequences (there the
    scan loop is right: zero_output_for_mask never outputs h0).
    """
    keras.utils.set_random_seed(0)
    x, mask = np.ones((1, 2, 1), "float32"), np.array([[True, False]])
    layer = keras.layers.LSTM(1, return_sequences=True, zero_output_for_mask=True)
    layer.build(x.shape)
    twin = keras.layers.LSTM.from_config({**layer.get_config(), "unroll": True})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    scan, unrolled = np.asarray(layer(x, mask=mask)), np.asarray(twin(x, mask=mask))
    np.testing.assert_allclose(rnnviz.trace(layer, x, mask=mask).outputs, scan, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(scan[0, 1], 0)
    assert np.array_equal(unrolled[0, 1], unrolled[0, 0]) and unrolled[0, 0, 0] != 0, FIXED  # the bug: a repeat
