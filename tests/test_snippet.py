"""rnnviz.snippet: the Keras snippet, pasted into a fresh Python, gives exactly the traced numbers."""

import json
import os
import random
import subprocess
import sys

import keras
import numpy as np
import pytest

import rnnviz
from rnnviz import snippet
from rnnviz.snippet import flat_returns, keras_snippet, make_layer

TOL = 1e-5  # as in test_trace.py
FLAGS = [(False, False), (True, False), (False, True), (True, True)]

# Runs each snippet as a new notebook would: its own namespace, nothing from rnnviz or the tests.
RUNNER = """
import json, sys
import numpy as np
jobs = json.loads(open(sys.argv[1]).read())
out = {}
for i, job in enumerate(jobs):
    space = {}
    exec(compile(job["code"], f"<snippet {job['id']}>", "exec"), space)
    for name in job["names"]:
        out[f"{i}/{name}"] = np.asarray(space[name])
    for j, w in enumerate(space["layer"].get_weights()):
        out[f"{i}/weight{j}"] = w
assert "rnnviz" not in sys.modules, "a snippet must not need rnnviz"
np.savez(sys.argv[2], **out)
"""


def _x(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _seeded(cell, bidirectional, units, shape, seed, flags, mask=None, cells=1):
    """A case from make_layer: the snippet must remake the layer from the seed alone."""
    layer = make_layer(cell, bidirectional, units, shape[-1], seed, cells=cells)
    tr = rnnviz.trace(layer, _x(shape, seed), mask=mask)
    return [(tr, rs, rst, {"seed": seed}, layer.get_weights()) for rs, rst in flags]


def _own(layer, x, flags, own_x=True, seed=0):
    """A case from a learner's own layer: its arguments and weights are written out."""
    tr = rnnviz.trace(layer, x)
    return [(tr, rs, rst, {"seed": seed, "layer": layer, "own_x": own_x}, layer.get_weights()) for rs, rst in flags]


def _cases():
    odd_x = np.array([[[0.0], [1.0], [-2.5e-6], [123.456], [1 / 3]]], dtype="float32")
    cases = {}
    for i, case in enumerate(_seeded("LSTM", False, 2, (2, 3, 2), 0, FLAGS)):
        cases[f"lstm-{FLAGS[i]}"] = case
    cases["gru"] = _seeded("GRU", False, 3, (1, 4, 1), 1, [(True, True)])[0]
    cases["simplernn"] = _seeded("SimpleRNN", False, 2, (2, 3, 1), 2, [(False, True)])[0]
    cases["bi-lstm-both"], cases["bi-lstm-none"] = _seeded("LSTM", True, 2, (1, 3, 2), 3, [(True, True), (False, False)])
    cases["bi-gru"] = _seeded("GRU", True, 2, (1, 3, 1), 4, [(False, True)])[0]
    cases["masked"] = _seeded("GRU", False, 2, (2, 4, 1), 7, [(True, True)],
                              mask=np.array([[True, True, False, False], [True, True, True, True]]))[0]
    for kind in ("LSTM", "GRU", "SimpleRNN"):  # two stacked cells: Keras nests the states, one list per cell
        cases[f"stacked-{kind}"] = _seeded(kind, False, 2, (2, 3, 2), 10, [(True, True)], cells=2)[0]
    cases["stacked-lstm-none"] = _seeded("LSTM", False, 3, (1, 4, 1), 11, [(False, False)], cells=2)[0]
    cases["stacked-gru-masked"] = _seeded("GRU", False, 2, (2, 4, 1), 12, [(False, True)], cells=2,
                                          mask=np.array([[True, True, True, False], [True, True, True, True]]))[0]
    cases["conv2d-both"], cases["conv2d-none"] = _seeded("ConvLSTM2D", False, 2, (2, 3, 6, 6, 2), 13,
                                                         [(True, True), (False, False)])
    layer = make_layer("LSTM", False, 2, 1, 5)  # the seeded layer over a learner's own x
    cases["own-x"] = (rnnviz.trace(layer, odd_x), True, True, {"seed": 5, "own_x": True}, layer.get_weights())

    keras.utils.set_random_seed(6)
    gru = keras.layers.GRU(3, go_backwards=True, activation="relu", reset_after=False)
    cases["own-gru-backwards-relu"] = _own(gru, _x((2, 4, 2), 6), [(True, True), (False, False)])[0]
    summed = keras.layers.Bidirectional(keras.layers.SimpleRNN(2, activation="relu"), merge_mode="sum")
    cases["own-bi-sum"] = _own(summed, _x((1, 3, 1), 8), [(True, False)], own_x=False, seed=8)[0]
    separate = keras.layers.Bidirectional(
        keras.layers.LSTM(2), merge_mode=None,
        backward_layer=keras.layers.LSTM(2, go_backwards=True, activation="relu", unit_forget_bias=False))
    cases["own-bi-none-backward"] = _own(separate, _x((1, 3, 2), 9), [(True, True)])[0]
    return cases


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    """Every case's snippet, run in one fresh Python process: ``{id: (case, code, {name: array})}``."""
    cases = _cases()
    jobs, codes = [], {}
    for key, (tr, rs, rst, kwargs, _) in cases.items():
        codes[key] = keras_snippet(tr, rs, rst, **kwargs)
        jobs.append({"id": key, "code": codes[key], "names": [name for name, _ in flat_returns(tr.returns(rs, rst))]})
    folder = tmp_path_factory.mktemp("paste")
    (folder / "jobs.json").write_text(json.dumps(jobs))
    (folder / "runner.py").write_text(RUNNER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "runner.py", "jobs.json", "out.npz"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(folder / "out.npz") as out:
        results = {key: {} for key in cases}
        for name in out.files:
            i, what = name.split("/")
            results[jobs[int(i)]["id"]][what] = out[name]
    return {key: (cases[key], codes[key], results[key]) for key in cases}


CASE_IDS = [f"lstm-{f}" for f in FLAGS] + [
    "gru", "simplernn", "bi-lstm-both", "bi-lstm-none", "bi-gru", "masked", "own-x",
    "stacked-LSTM", "stacked-GRU", "stacked-SimpleRNN", "stacked-lstm-none", "stacked-gru-masked",
    "conv2d-both", "conv2d-none",
    "own-gru-backwards-relu", "own-bi-sum", "own-bi-none-backward",
]


@pytest.mark.parametrize("key", CASE_IDS)
def test_the_pasted_snippet_gives_every_returned_tensor(pasted, key):
    (tr, rs, rst, _, _), code, got = pasted[key]
    for name, expected in flat_returns(tr.returns(rs, rst)):
        assert got[name].shape == expected.shape, (name, code)
        np.testing.assert_allclose(got[name], expected, atol=TOL, rtol=0, err_msg=f"{name}\n{code}")


@pytest.mark.parametrize("key", CASE_IDS)
def test_the_pasted_snippet_has_exactly_the_same_weights(pasted, key):
    """From the seed alone (make_layer's cases) or written out (a learner's own layer): bit for bit."""
    (*_, weights), code, got = pasted[key]
    assert len([k for k in got if k.startswith("weight")]) == len(weights), code
    for j, w in enumerate(weights):
        np.testing.assert_array_equal(got[f"weight{j}"], w, err_msg=f"weight {j}\n{code}")


def test_snippet_reads_as_the_figure_names_it(pasted):
    _, code, _ = pasted["lstm-(True, True)"]
    assert code.splitlines()[:5] == ["import keras", "import numpy as np", "from keras.layers import LSTM", "",
                                     "keras.utils.set_random_seed(0)"]
    assert 'x = np.random.default_rng(0).normal(size=(2, 3, 2)).astype("float32")' in code
    assert "layer = LSTM(2, return_sequences=True, return_state=True)\noutput, state_h, state_c = layer(x)" in code
    assert "# state_h  (2, 2)     h at t=2, equal to output[:, -1]" in code
    _, code, _ = pasted["lstm-(False, False)"]
    assert "layer = LSTM(2)\noutput = layer(x)\n# output  (2, 2)  h at the last timestep, t=2" in code
    _, code, _ = pasted["own-gru-backwards-relu"]
    assert 'GRU(\n    3,\n    return_sequences=True,\n    return_state=True,\n    go_backwards=True,\n' \
           '    activation="relu",\n    reset_after=False,\n)' in code
    assert "layer.set_weights([kernel, recurrent_kernel, bias])" in code
    _, code, _ = pasted["own-x"]
    assert "x = np.array([\n    0, 1, -2.5e-06, 123.456, 0.33333334,\n], dtype=\"float32\").reshape(1, 5, 1)" in code
    assert "set_weights" not in code
    _, code, _ = pasted["own-bi-none-backward"]
    assert "merge_mode=None" in code and "backward_layer=LSTM(" in code and 'activation="relu"' in code
    assert "unit_forget_bias=False" in code and "Note" not in code
    for _, code, _ in pasted.values():
        assert max(len(line) for line in code.splitlines()) <= 88, code


def test_stacked_and_conv_snippets_read_as_keras_returns_them(pasted):
    """Keras returns a stacked layer's states as one list per cell: the snippet unpacks them the same way."""
    _, code, _ = pasted["stacked-LSTM"]
    assert "from keras.layers import RNN, LSTMCell\n" in code
    assert "layer = RNN(\n    [LSTMCell(2), LSTMCell(2)],\n    return_sequences=True,\n    return_state=True,\n)\n" \
           "output, [cell_0_h, cell_0_c], [cell_1_h, cell_1_c] = layer(x)\n" in code
    assert "# cell_1_h  (2, 2)     cell 1's h at t=2, equal to output[:, -1]" in code
    _, code, _ = pasted["stacked-GRU"]
    assert "output, [cell_0_h], [cell_1_h] = layer(x)" in code
    _, code, _ = pasted["stacked-lstm-none"]
    assert "layer = RNN([LSTMCell(3), LSTMCell(3)])\noutput = layer(x)\n" in code
    _, code, _ = pasted["conv2d-both"]
    assert 'x = np.random.default_rng(13).normal(size=(2, 3, 6, 6, 2)).astype("float32")' in code
    assert 'layer = ConvLSTM2D(\n    filters=2,\n    kernel_size=3,\n    padding="same",\n    return_sequences=True,' in code
    assert "output, state_h, state_c = layer(x)" in code and "# output   (2, 3, 6, 6, 2)" in code


def test_stacked_and_conv_snippets_refuse_what_they_cannot_remake():
    stacked = rnnviz.trace(make_layer("LSTM", False, 2, 1, 0, cells=2), _x((1, 3, 1), 0))
    with pytest.raises(ValueError, match="for an RNN over stacked cells it remakes the seeded layer"):
        keras_snippet(stacked, False, False, seed=0, layer=make_layer("LSTM", False, 2, 1, 0, cells=2))
    keras.utils.set_random_seed(0)
    valid = rnnviz.trace(keras.layers.ConvLSTM2D(2, 3), _x((1, 2, 6, 6, 1), 0))
    with pytest.raises(ValueError, match="h \\(4, 4\\) per frame \\(6, 6\\)"):
        keras_snippet(valid, False, False, seed=0)
    with pytest.raises(ValueError, match="bidirectional: rnnviz does not trace a Bidirectional around stacked"):
        make_layer("GRU", True, 2, 1, 0, cells=2)
    with pytest.raises(ValueError, match="cell: a ConvLSTM2D is made as one layer"):
        make_layer("ConvLSTM2D", False, 2, 1, 0, cells=2)


def test_make_layer_is_seeded_and_builds_the_default_layer():
    a, b, c = make_layer("GRU", True, 3, 2, 11), make_layer("GRU", True, 3, 2, 11), make_layer("GRU", True, 3, 2, 12)
    assert isinstance(a, keras.layers.Bidirectional) and type(a.forward_layer) is keras.layers.GRU
    assert a.forward_layer.units == 3 and a.forward_layer.cell.kernel.shape == (2, 9)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_numbers_are_written_shortest_and_read_back_exactly():
    rng = np.random.default_rng(0)
    values = (rng.standard_normal(3000) * 10.0 ** rng.uniform(-40, 38, 3000)).astype("float32")
    special = np.array([0, 1, -1, 0.1, 1e-4, 1e16, np.finfo("float32").max, np.finfo("float32").tiny, 1e-45],
                       dtype="float32")
    for v in np.concatenate([values, special]):
        text = snippet._number(v)
        assert np.array([eval(text)], dtype="float32")[0] == v, (v, text)
    assert [snippet._number(v) for v in (1.0, 0.5, -2.5e-6, 0.0)] == ["1", "0.5", "-2.5e-06", "0"]


def test_notes_say_when_the_snippet_cannot_reproduce_alone():
    keras.utils.set_random_seed(0)
    x = _x((1, 3, 1), 0)
    big = keras.layers.LSTM(16)
    code = keras_snippet(rnnviz.trace(big, x), False, False, seed=0, layer=big)
    assert "has 1152 weights, too many to write out" in code
    assert "# layer.set_weights(my_layer.get_weights())" in code
    compile(code, "<snippet>", "exec")

    def squash(a):
        return keras.ops.tanh(a)

    own = keras.layers.GRU(2, activation=squash)
    code = keras_snippet(rnnviz.trace(own, x), False, False, seed=0, layer=own)
    assert "activation=squash" in code and "squash is your own activation function" in code

    no_source = eval("lambda a: keras.ops.tanh(a)", {"keras": keras})  # Keras cannot serialise it
    own = keras.layers.SimpleRNN(2, activation=no_source)
    tr = rnnviz.trace(own, x)
    code = keras_snippet(tr, False, False, seed=0, layer=own)
    assert "activation=my_activation" in code and "activation is a lambda: define it as my_activation" in code
    assert own.cell.activation is no_source  # put back after reading the config

    own.set_weights([w + 1 for w in own.get_weights()])
    assert "gives other numbers now than in the trace" in keras_snippet(tr, False, False, seed=0, layer=own)


def test_writing_a_snippet_leaves_pythons_random_state_alone():
    snippet._DEFAULTS.clear()  # the default layers it compares with are built (and draw seeds) on first use
    own = keras.layers.GRU(2, activation="relu")
    tr = rnnviz.trace(own, _x((1, 2, 1), 0))
    state = random.getstate()
    keras_snippet(tr, True, False, seed=0, layer=own)
    assert random.getstate() == state


@pytest.fixture(scope="module")
def lstm_trace():
    return rnnviz.trace(make_layer("LSTM", False, 2, 1, 0), _x((1, 3, 1), 0))


@pytest.mark.parametrize("call, error, words", [
    (lambda tr: keras_snippet("trace", False, False, seed=0), TypeError, "trace: expected the result of rnnviz.trace"),
    (lambda tr: keras_snippet(tr, "yes", False, seed=0), TypeError, "return_sequences: expected True or False"),
    (lambda tr: keras_snippet(tr, False, False, seed=-1), ValueError, "seed: expected a whole number from 0"),
    (lambda tr: keras_snippet(tr, False, False, seed=0, own_x=1), TypeError, "own_x: expected True or False"),
    (lambda tr: keras_snippet(tr, False, False, seed=1), ValueError, "own_x: expected the trace's x to be the seeded"),
    (lambda tr: keras_snippet(tr, False, False, seed=0, layer=keras.layers.Dense(2)), TypeError,
     "layer: expected a Keras LSTM, GRU or SimpleRNN"),
    (lambda tr: keras_snippet(tr, False, False, seed=0, layer=keras.layers.GRU(2)), ValueError,
     "layer: expected the layer this trace came from, LSTM(2), got GRU(2)"),
    (lambda tr: keras_snippet(tr, False, False, seed=0, layer=keras.layers.LSTM(2)), ValueError,
     "has not been built"),
    (lambda tr: make_layer("lstm", False, 2, 1, 0), ValueError, "cell: expected one of 'LSTM'"),
    (lambda tr: make_layer("LSTM", "no", 2, 1, 0), TypeError, "bidirectional: expected True or False"),
    (lambda tr: make_layer("LSTM", False, 0, 1, 0), ValueError, "units: expected a whole number of at least 1"),
])
def test_errors_name_the_argument_and_the_fix(lstm_trace, call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(lstm_trace)


def test_a_layer_it_cannot_remake_from_the_seed_must_be_passed():
    backwards = keras.layers.LSTM(2, go_backwards=True)
    tr = rnnviz.trace(backwards, _x((1, 3, 1), 0))
    with pytest.raises(ValueError, match="layer: this trace comes from a layer with go_backwards=True"):
        keras_snippet(tr, False, False, seed=0)
    assert "go_backwards=True" in keras_snippet(tr, False, False, seed=0, layer=backwards)

