"""Every picture carries a text alternative that names what Keras returns, in the output a notebook stores."""

from __future__ import annotations

import base64
import html

import keras
import numpy as np
import pytest

import rnnviz

FLAGS = [(False, False), (True, False), (False, True), (True, True)]


def _trace(bidirectional=False):
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(3).normal(size=(2, 3, 2)).astype("float32")
    layer = keras.layers.LSTM(2)
    return rnnviz.trace(keras.layers.Bidirectional(layer) if bidirectional else layer, x)


def _pictures(tr, rs, rst):
    return {
        "plot_states": rnnviz.plot_states(tr, rs, rst),
        "draw_unrolled": rnnviz.draw_unrolled(tr, rs, rst, t=1),
        "draw_cell": rnnviz.draw_cell(tr, 2, return_sequences=rs, return_state=rst),
    }


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("rs", "rst"), FLAGS)
def test_alt_text_names_every_returned_tensor_and_is_the_stored_text(bidirectional, rs, rst):
    tr = _trace(bidirectional)
    for name, fig in _pictures(tr, rs, rst).items():
        alt = fig.alt_text
        if name != "draw_cell":  # the cell names what this one step gives back, checked in test_cell_diagram
            for tensor, arr in tr.returns(rs, rst):
                assert f"{tensor} {tuple(arr.shape)}" in alt, name
        data, metadata = fig._repr_mimebundle_()
        assert data["text/plain"] == alt and metadata["image/png"]["alt"] == alt, name
        assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n", name
        # JupyterLab and Voila render the html (their PNG renderer drops the metadata's alt): the same PNG, the same alt
        assert data["text/html"] == f'<img src="data:image/png;base64,{data["image/png"]}" alt="{html.escape(alt)}">', name


def test_a_plain_figure_keeps_matplotlibs_text():
    fig = rnnviz.plot_states(_trace())
    del fig.alt_text
    assert set(fig._repr_mimebundle_()) == {"image/png"}  # text/plain falls back to the figure's repr
