"""How fast does the explorer answer a flag toggle? Prints medians and the ratio to a naive baseline.

Run: /tmp/venv/bin/python benchmarks/bench_explorer.py [repeats]

* explorer: set ``controls["return_sequences"]`` / ``controls["return_state"]`` ``.value`` and wait
  until the explorer has re-marked the figure and redrawn its pixels (StatesView.render, which
  pastes a cached background and draws the marks, lines and labels), and, in the static-image mode
  used here (no Jupyter kernel), encoded the PNG the Image widget shows. Timed separately: the
  first visit of a flag combination on a fresh view (all of that work) and revisits (the view
  keeps each combination's finished pixels and PNG, so flipping back is a paste).
* explorer, full draw: the same re-mark followed by a complete ``figure.canvas.draw()``, for reference.
* naive baseline: what a notebook without rnnviz does for each toggle: build a Keras model with the
  new flags, ``predict``, and draw a new figure of what came back (here: rnnviz's own picture,
  traced afresh, drawn with ``figure.canvas.draw()``).
Goal: explorer median <= 30 ms and >= 5x faster than the baseline.
"""

from __future__ import annotations

import statistics
import sys
import time

# isort: off
import rnnviz  # first: keeps TensorFlow's start-up log quiet
import keras
import numpy as np
# isort: on

tf_logger = __import__("tensorflow").get_logger()
tf_logger.setLevel("ERROR")  # the naive baseline re-traces predict on purpose: keep its warning out

FLAG_SEQUENCE = [(True, False), (True, True), (False, True), (False, False)]


def _ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def time_explorer(repeats: int) -> dict[str, list[float]]:
    """Toggle times: on a fresh view (each combination drawn for the first time) and on revisits."""
    ex = rnnviz.explore(cell="LSTM", units=4, timesteps=8, features=2, batch=2, canvas="image")
    rs, rst = ex.controls["return_sequences"], ex.controls["return_state"]
    times: dict[str, list[float]] = {"first": [], "revisit": [], "full": []}
    for block in range(2 * ((repeats + 3) // 4)):
        if block % 2 == 0:
            ex._redraw()  # a fresh view, as after a size change (not timed): nothing drawn is kept
        for want_rs, want_rst in FLAG_SEQUENCE:
            seen = block % 2 == 1 or (want_rs, want_rst) == (False, False)
            start = time.perf_counter()
            if rs.value != want_rs:
                rs.value = want_rs  # one control per toggle: a learner flips one flag at a time
            else:
                rst.value = want_rst
            times["revisit" if seen else "first"].append(time.perf_counter() - start)
    for want_rs, want_rst in FLAG_SEQUENCE * ((repeats + 3) // 4):
        start = time.perf_counter()
        ex.view.update(want_rs, want_rst)
        ex.figure.canvas.draw()
        times["full"].append(time.perf_counter() - start)
    return times


def time_live_canvas(repeats: int) -> list[float]:
    """Toggle times on the live ipympl canvas (no page attached): re-mark, render, encode and send one whole frame."""
    ex = rnnviz.explore(cell="LSTM", units=4, timesteps=8, features=2, batch=2, canvas="ipympl")
    sent = []
    ex.figure.canvas.send = lambda content, buffers=None: sent.append(buffers)
    rs, rst = ex.controls["return_sequences"], ex.controls["return_state"]
    times = []
    for i in range(repeats):
        want_rs, want_rst = FLAG_SEQUENCE[i % 4]
        start = time.perf_counter()
        if rs.value != want_rs:
            rs.value = want_rs
        else:
            rst.value = want_rst
        times.append(time.perf_counter() - start)
    assert len(sent) == repeats, "one whole frame per toggle"
    return times


def time_views(rounds: int = 2) -> dict[str, dict[str, list[float]]]:
    """Moving t (and flipping a flag) in each view: first visits draw a picture, revisits reuse it."""
    out = {}
    for view in ("time", "unrolled", "cell"):
        ex = rnnviz.explore(cell="LSTM", units=4, timesteps=8, features=2, batch=2, view=view, canvas="image")
        times = {"first": [], "revisit": []}
        for r in range(rounds):
            for flag in (False, True):
                ex.controls["return_state"].value = flag
                for t in range(8):
                    start = time.perf_counter()
                    ex.controls["t"].value = t
                    times["first" if r == 0 else "revisit"].append(time.perf_counter() - start)
        out[view] = times
    return out


def time_baseline(repeats: int) -> list[float]:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 8, 2)).astype("float32")
    times = []
    for i in range(repeats):
        want_rs, want_rst = FLAG_SEQUENCE[i % 4]
        start = time.perf_counter()
        inputs = keras.Input((8, 2))
        layer = keras.layers.LSTM(4, return_sequences=want_rs, return_state=want_rst)
        model = keras.Model(inputs, layer(inputs))
        model.predict(x, verbose=0)
        fig = rnnviz.plot_states(rnnviz.trace(layer, x), want_rs, want_rst)
        fig.canvas.draw()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    time_explorer(4)  # warm up: first draws build font caches
    times = time_explorer(repeats)
    time_live_canvas(4)
    live = time_live_canvas(repeats)
    baseline = time_baseline(max(repeats // 4, 8))
    first, revisit, full, base = (_ms(times["first"]), _ms(times["revisit"]), _ms(times["full"]), _ms(baseline))
    print(f"explorer toggle -> redrawn, first visit of a flag combination: median {first:7.1f} ms "
          f"({len(times['first'])} toggles)")
    print(f"explorer toggle -> redrawn, revisit (cached pixels):          median {revisit:7.1f} ms "
          f"({len(times['revisit'])} toggles)")
    print(f"explorer toggle -> whole frame sent, live ipympl canvas:        median {_ms(live):7.1f} ms "
          f"({len(live)} toggles)")
    print(f"  for reference, re-mark + full figure.canvas.draw():           median {full:7.1f} ms")
    print(f"naive baseline (build model, predict, new figure + draw):       median {base:7.1f} ms "
          f"({len(baseline)} runs)")
    for view, t_times in time_views().items():
        print(f"move t, {view:8} view: first visit median {_ms(t_times['first']):6.1f} ms, revisit "
              f"{_ms(t_times['revisit']):5.1f} ms ({len(t_times['first'])} moves each); "
              f"baseline / first visit {base / _ms(t_times['first']):4.1f}x")
    print(f"ratio baseline / explorer: first visit {base / first:5.1f}x, revisit {base / revisit:6.1f}x, "
          f"live canvas {base / _ms(live):5.1f}x"
          "   (goal: <= 30 ms and >= 5x)")


if __name__ == "__main__":
    main()
