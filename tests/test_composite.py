"""Composite pictures: labels follow trace.returns, strips are the traces' numbers, the wiring between traces is checked."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from matplotlib.colors import to_rgba

import rnnviz
from rnnviz.composite import draw_decoding_loop, draw_handover, draw_stacked


def _x(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _layer(kind, units):
    keras.utils.set_random_seed(0)
    return getattr(keras.layers, kind)(units)


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible()))


def _colours(fig, key) -> np.ndarray:
    return np.array([r.get_facecolor() for r in fig.strips[key]])


def _expected(fig, values) -> np.ndarray:
    return np.array([to_rgba(fig.cmap(fig.norm(v))) for v in values])


def _stack(kind="LSTM", shape=(2, 4, 2)):
    low = rnnviz.trace(_layer(kind, 3), _x(shape))
    return low, rnnviz.trace(_layer(kind, 2), low.outputs)


def _handover(kind="LSTM"):
    enc = rnnviz.trace(_layer(kind, 3), _x((2, 4, 2)))
    dec = rnnviz.trace(_layer(kind, 3), _x((2, 3, 2), seed=2), initial_state=enc.final_states())
    return enc, dec


def _loop(kind="LSTM", calls=3, start=None):
    layer, x, states, steps = _layer(kind, 2), _x((1, 1, 2)), start, []
    for _ in range(calls):
        tr = rnnviz.trace(layer, x, initial_state=states)
        steps.append(tr)
        x, states = tr.outputs, tr.final_states()
    return steps


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize(("rs", "rst"), [(False, False), (False, True), (True, True)])
def test_stacked_labels_come_from_each_traces_returns(kind, rs, rst):
    low, high = _stack(kind)
    fig = draw_stacked([low, high], [True, rs], rst, sample=1)
    text = _texts(fig)
    name, arr = low.returns(True, False)[0]
    link = f"lower {name} {tuple(arr.shape)}"
    assert f"{link}:\nevery step feeds the layer above" in text
    top = [f"{n} {tuple(a.shape)}" for n, a in high.returns(rs, rst)]
    assert fig.marked == [link, *top]
    for label in top:
        assert label in text and label in fig.alt_text
    for state in high.state_names:
        assert (state in text) == rst
    assert fig.get_label() == fig.alt_text
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_stacked_strips_are_the_traces_numbers_on_the_figures_scale():
    low, high = _stack("LSTM")
    fig = draw_stacked([low, high], sample=1)
    for t in range(low.timesteps):
        np.testing.assert_allclose(_colours(fig, ("x", 0, t)), _expected(fig, low.x[1, t]))
        np.testing.assert_allclose(_colours(fig, ("output", 0, t)), _expected(fig, low.h[1, t]))  # feeds layer 2
        np.testing.assert_allclose(_colours(fig, ("output", 1, t)), _expected(fig, high.h[1, t]))
    np.testing.assert_allclose(_colours(fig, ("c", 1, 0)), _expected(fig, high.c[1, 0]))
    np.testing.assert_allclose(_colours(fig, ("final_h", 0, None)), _expected(fig, low.h[1, -1]))
    assert fig.norm.vmax == -fig.norm.vmin >= np.abs(low.x[1]).max()


def test_three_layers_and_long_sequences():
    low = rnnviz.trace(_layer("GRU", 3), _x((1, 9, 2)))
    mid = rnnviz.trace(_layer("GRU", 4), low.outputs)
    top = rnnviz.trace(_layer("GRU", 2), mid.outputs)
    fig = draw_stacked([low, mid, top], return_state=True)
    assert fig.marked == ["layer 1 output (1, 9, 3)", "layer 2 output (1, 9, 4)", "output (1, 2)", "state_h (1, 2)"]
    assert "timesteps 0, 1, …, 7, 8 are drawn" in fig.alt_text


def test_stacking_a_layer_not_traced_on_the_lower_output_is_refused():
    low, high = _stack("LSTM")
    wrong = rnnviz.trace(_layer("LSTM", 2), low.outputs + 1)
    with pytest.raises(ValueError, match=r"traces\[1\]: its x must be the output sequence of traces\[0\].*"
                                         r"return_sequences=True"):
        draw_stacked([low, wrong])
    with pytest.raises(ValueError, match="got shape"):
        draw_stacked([low, rnnviz.trace(_layer("LSTM", 2), _x((2, 4, 2)))])
    with pytest.raises(ValueError, match=r"return_sequences\[0\]: expected True"):
        draw_stacked([low, high], [False, False])


def test_handover_frames_the_encoders_final_states_and_the_decoder_starts_from_them():
    enc, dec = _handover("LSTM")
    fig = draw_handover(enc, dec, enc.final_states(), sample=1)
    text = _texts(fig)
    for name, arr in enc.returns(False, True)[1:]:
        assert f"{name} {tuple(arr.shape)}" in fig.marked
    assert "initial_state=[state_h, state_c]" in text and "initial_state=[state_h, state_c]" in fig.alt_text
    for state, arr in zip(("h", "c"), enc.final_states(), strict=True):
        handed = _colours(fig, (f"initial_{state}", "decoder", None))
        np.testing.assert_allclose(_colours(fig, (f"final_{state}", "encoder", None)), handed)
        np.testing.assert_allclose(handed, _expected(fig, arr[1]))
    assert f"output {(2, 3, 3)}" in fig.marked  # the decoder's returns, return_sequences=True
    gru_enc, gru_dec = _handover("GRU")
    assert "initial_state=[state_h]" in _texts(draw_handover(gru_enc, gru_dec))


def test_handover_refuses_a_decoder_that_did_not_start_from_the_encoder():
    enc, _ = _handover("LSTM")
    from_zeros = rnnviz.trace(_layer("LSTM", 3), _x((2, 3, 2), seed=2))
    with pytest.raises(ValueError, match=r"decoder_trace: it did not start from the encoder's final states.*"
                                         r"initial_state=encoder_trace.final_states\(\)"):
        draw_handover(enc, from_zeros)
    _, dec = _handover("LSTM")
    with pytest.raises(ValueError, match=r"decoder_initial_state\[1\]: expected the encoder's final state_c"):
        draw_handover(enc, dec, [enc.final_states()[0], np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match=r"decoder_trace: expected a LSTM\(3\) like the encoder"):
        draw_handover(enc, rnnviz.trace(_layer("LSTM", 2), _x((2, 3, 2))))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_decoding_loop_feeds_each_calls_output_and_states_into_the_next(kind):
    start = [np.full((1, 2), 0.3, "float32")] * (2 if kind == "LSTM" else 1)
    steps = _loop(kind, start=start)
    fig = draw_decoding_loop(steps, initial_state=start)
    for prev, nxt in zip(steps, steps[1:], strict=False):  # the chain the picture claims
        np.testing.assert_allclose(nxt.x[:, 0], prev.outputs[:, -1])
    for k, tr in enumerate(steps):
        np.testing.assert_allclose(_colours(fig, ("x", k, 0)), _expected(fig, tr.x[0, 0]))
        np.testing.assert_allclose(_colours(fig, ("final_h", k, None)), _expected(fig, tr.h[0, -1]))
        if k:  # the next call reads what the last one returned
            np.testing.assert_allclose(_colours(fig, ("x", k, 0)), _colours(fig, ("output", k - 1, 0)))
    labels = [f"{n} {tuple(a.shape)}" for tr in steps for n, a in tr.returns(False, True)]
    assert fig.marked == labels
    text = _texts(fig)
    assert text.count("output \u2192 next x") == 2 and text.count("\u2192 next initial_state") == 2
    np.testing.assert_allclose(_colours(fig, ("initial_h", 0, None)), _expected(fig, start[0][0]))
    assert "initial_state" in fig.alt_text


def test_decoding_loop_refuses_a_broken_chain():
    steps = _loop("LSTM")
    restarted = rnnviz.trace(_layer("LSTM", 2), steps[0].outputs)  # forgot initial_state: starts from zeros
    with pytest.raises(ValueError, match=r"step_traces\[1\]: it did not start from the final states of step_traces\[0\]"):
        draw_decoding_loop([steps[0], restarted])
    other_x = rnnviz.trace(_layer("LSTM", 2), _x((1, 1, 2), seed=5), initial_state=steps[0].final_states())
    with pytest.raises(ValueError, match=r"its x must be the output of step_traces\[0\].*feed_output=False"):
        draw_decoding_loop([steps[0], other_x])
    fig = draw_decoding_loop([steps[0], other_x], feed_output=False)
    assert "output \u2192 next x" not in _texts(fig) and "from outside the loop" in fig.alt_text
    with pytest.raises(ValueError, match=r"step_traces\[0\]: it did not start from zeros.*initial_state=\.\.\."):
        draw_decoding_loop(_loop("LSTM", start=[np.ones((1, 2), "float32")] * 2), initial_state=None)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: draw_stacked("not a list"), TypeError, r"traces: expected a list of traces"),
        (lambda: draw_stacked([_stack()[0]]), ValueError, r"traces: expected at least 2 traces"),
        (lambda: draw_stacked([_stack()[0], keras.layers.LSTM(2)]), TypeError, r"traces\[1\]: .*trace it first"),
        (lambda: draw_stacked(list(_stack()), return_state="yes"), TypeError, r"return_state: expected True or False"),
        (lambda: draw_stacked(list(_stack()), [True]), ValueError, r"return_sequences: expected 2 flags"),
        (lambda: draw_stacked(list(_stack()), sample=5), ValueError, r"sample: expected an index into the batch of 2"),
        (lambda: draw_stacked([rnnviz.trace(keras.layers.Bidirectional(keras.layers.GRU(2)), _x((1, 3, 2)))] * 2),
         TypeError, r"traces\[0\]: expected the Trace of one .* got a BidirectionalTrace"),
        (lambda: draw_handover(_handover()[0], _handover()[1], [np.zeros((2, 3))]), ValueError,
         r"decoder_initial_state: expected 2 arrays"),
        (lambda: draw_decoding_loop(_stack()[:1]), ValueError, r"step_traces\[0\]: expected a trace of one timestep"),
        (lambda: draw_decoding_loop(_loop(calls=7)), ValueError, r"step_traces: expected at most 6 calls"),
        (lambda: draw_decoding_loop(_loop(), feed_output=1), TypeError, r"feed_output: expected True or False"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
