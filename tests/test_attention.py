"""plot_attention draws the weights Keras's attention layers return, and refuses what are not weights."""

import numpy as np
import pytest
from matplotlib.patches import Rectangle

import rnnviz  # noqa: F401  (imports Keras quietly)
import keras
from rnnviz.attention import plot_attention


def _keras_weights(batch=2, outputs=3, sources=5, seed=0):
    """Weights from a real keras.layers.Attention call: (batch, outputs, sources)."""
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, outputs, 4)).astype("float32")
    value = rng.normal(size=(batch, sources, 4)).astype("float32")
    _, weights = keras.layers.Attention()([query, value], return_attention_scores=True)
    return np.asarray(weights)


def _framed(fig):
    """(row, column) of every framed square, top row first."""
    ax = fig.axes[0]
    return sorted((int(round(p.get_y() + 0.5)), int(round(p.get_x() + 0.5))) for p in ax.patches if isinstance(p, Rectangle))


@pytest.mark.parametrize("sample", [0, 1, -1])
def test_grid_is_the_samples_weights_and_each_rows_largest_is_framed(sample):
    weights = _keras_weights()
    fig = plot_attention(weights, sample=sample)
    ax = fig.axes[0]
    drawn = np.asarray(ax.images[0].get_array())
    assert np.allclose(drawn, weights[sample])
    expected = [(i, int(j)) for i, j in enumerate(weights[sample].argmax(axis=1))]
    assert _framed(fig) == expected
    values = sorted(t.get_text() for t in ax.texts)
    assert values == sorted(f"{weights[sample][i, j]:.2f}" for i, j in expected)
    assert f"sample {sample % 2} of 2" in ax.get_title(loc="left")


def test_labels_come_from_source_and_written():
    weights = _keras_weights(batch=1, outputs=4, sources=4)
    source, written = np.array([[3, 1, 4, 2]]), np.array([2, 4, 1, 3])
    fig = plot_attention(weights, source=source, written=written)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0\n3", "1\n1", "2\n4", "3\n2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0: 2", "1: 4", "2: 1", "3: 3"]


def test_one_sample_without_batch_axis_and_alt_text():
    weights = _keras_weights(batch=1, outputs=3, sources=5)[0]
    fig = plot_attention(weights)
    looks = ", ".join(f"{i} at {j}" for i, j in enumerate(weights.argmax(axis=1)))
    assert fig.alt_text.endswith(f"weighs most: {looks}.")
    assert "3 output steps (rows) by 5 source steps" in fig.alt_text
    data, metadata = fig._repr_mimebundle_()
    assert data["text/plain"] == fig.alt_text and "image/png" in data
    assert metadata["image/png"]["alt"] == fig.alt_text


def test_stacked_decoder_steps_equal_one_call():
    """A decoder run step by step gives (batch, 1, sources) per step; stacked, they are the one-call weights."""
    rng = np.random.default_rng(1)
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    value = rng.normal(size=(2, 5, 4)).astype("float32")
    layer = keras.layers.Attention()
    _, whole = layer([query, value], return_attention_scores=True)
    steps = [np.asarray(layer([query[:, i:i + 1], value], return_attention_scores=True)[1]) for i in range(3)]
    stacked = np.concatenate(steps, axis=1)
    assert np.allclose(stacked, whole, atol=1e-6)
    assert np.allclose(plot_attention(stacked).axes[0].images[0].get_array(), np.asarray(whole)[0], atol=1e-6)


@pytest.mark.parametrize(("weights", "error", "words"), [
    (np.ones(4) / 4, ValueError, "expected a 3-D array"),
    (np.ones((1, 2, 3, 4)) / 4, ValueError, "np.concatenate(steps, axis=1)"),
    (np.ones((1, 2, 3)), ValueError, "adding up to 3"),
    (np.array([[[0.5, np.nan]]]), ValueError, "finite"),
    (np.array([[[1.5, -0.5]]]), ValueError, "each row >= 0"),
    ("abc", TypeError, "array of numbers"),
])
def test_bad_weights_are_refused_clearly(weights, error, words):
    with pytest.raises(error, match="weights: ") as info:
        plot_attention(weights)
    assert words in str(info.value)


def test_bad_labels_and_sample_are_refused_clearly():
    weights = _keras_weights(batch=2, outputs=3, sources=5)
    with pytest.raises(ValueError, match=r"source: expected the encoder's input.*shape \(2, 5\)"):
        plot_attention(weights, source=[1, 2, 3])
    with pytest.raises(ValueError, match=r"written: expected what the decoder wrote.*got shape \(2, 4\)"):
        plot_attention(weights, written=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="sample: expected an index into the batch of 2"):
        plot_attention(weights, sample=2)
