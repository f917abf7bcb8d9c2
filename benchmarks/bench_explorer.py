"""How fast does the explorer answer a flag toggle or a move of t? Prints medians and ratios to a naive baseline.

Run: .venv/bin/python benchmarks/bench_explorer.py [repeats]   (about 90 s on 2 cores)

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
* views (:func:`time_views`): moving t and flipping a flag in each of the three views, on x with 5 and
  with 8 timesteps (8: the unrolled view elides the middle steps), timed to the frame sent.
Goal: explorer median <= 30 ms and >= 5x faster than the baseline.
"""

from __future__ import annotations

import functools
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
    ex, sent = _live_explorer("time", 8, 0)
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


def _live_explorer(view: str, timesteps: int, seed: int):
    """A fresh explorer on a live canvas whose ``send`` records when each frame leaves, and that record."""
    ex = rnnviz.explore(cell="LSTM", units=4, timesteps=timesteps, features=2, batch=2, view=view, seed=seed,
                        canvas="ipympl")
    sent: list[float] = []
    ex.figure.canvas.send = lambda content, buffers=None: sent.append(time.perf_counter())
    return ex, sent


def _timed_change(times: dict, ex, sent: list, name: str, value, kind: str) -> None:
    """Set one control; record the time to the frame sent under ``kind`` and the handler's whole time as busy."""
    sent.clear()
    start = time.perf_counter()
    ex.controls[name].value = value
    busy = time.perf_counter() - start
    assert len(sent) == 1, "one whole frame per change"
    times[kind].append(sent[0] - start)
    times["busy " + kind].append(busy)


def time_views(timesteps: int, rounds: int = 3) -> dict[str, dict[str, list[float]]]:
    """Moving t and flipping a flag in each view, timed from the control's change to the whole frame being sent.

    On the live canvas (no page attached; ``send`` records the moment the frame leaves). The unrolled and
    cell views draw the next step ahead once a frame has gone (``Explorer._look_ahead``); the handler's
    whole time, look-ahead included, is recorded too ("busy step": what a step costs the kernel).
    * step: t -> t + 1 through every step, as Play and the arrow keys do, each flag setting on a fresh trace;
    * jump: t to a random step whose picture is not drawn yet (seeded), on a fresh trace;
    * revisit: the steps again, every picture already drawn;
    * flag: return_state flipped at a random t, on a fresh trace; flag again: then return_sequences (the
      unrolled view drew both flags' neighbours ahead after the first flip).
    """
    rng = np.random.default_rng(0)
    out = {}
    for view in ("time", "unrolled", "cell"):
        times: dict[str, list[float]] = {k: [] for kind in ("step", "jump", "revisit", "flag", "flag again")
                                         for k in (kind, "busy " + kind)}
        fresh = functools.partial(_live_explorer, view, timesteps)
        timed = functools.partial(_timed_change, times)

        for r in range(rounds):
            for flag in (False, True):
                ex, sent = fresh(10 * r + flag)
                ex.controls["return_state"].value = flag
                ex.controls["t"].value = 0
                for t in range(1, timesteps):
                    timed(ex, sent, "t", t, "step")
                for t in range(timesteps):
                    timed(ex, sent, "t", t, "revisit")
            ex, sent = fresh(100 + r)
            visited = {timesteps - 1}
            while True:  # to a random step whose picture is not drawn yet (the time view keeps none: each once)
                s = ex.settings
                new = [t for t in range(timesteps) if t != s["t"] and (
                    (s["view"], t, s["return_sequences"], s["return_state"]) not in ex._pngs if view != "time"
                    else t not in visited)]
                if not new:
                    break
                t = int(rng.choice(new))
                visited.add(t)
                timed(ex, sent, "t", t, "jump")
            for _ in range(4):
                ex, sent = fresh(int(rng.integers(1000)))
                ex.controls["t"].value = int(rng.integers(timesteps))
                timed(ex, sent, "return_state", True, "flag")
                timed(ex, sent, "return_sequences", True, "flag again")
        out[view] = times
    return out


def time_new_drawings(repeats: int = 8) -> dict[str, list[float]]:
    """What a picture not drawn ahead costs: a new unrolled drawing (StepPictures) or cell drawing (CellPictures),
    built and giving its first pixels at the explorer's resolution, on x (2, 5, 2)."""
    from rnnviz.cell_diagram import CellPictures
    from rnnviz.explorer import CELL_FIGURE_SIZE, FIGURE_SIZE, _pixels
    from rnnviz.unrolled import StepPictures

    tr = rnnviz.explore(cell="LSTM", units=4, timesteps=5, features=2, batch=2, canvas="image").trace
    out: dict[str, list[float]] = {"unrolled": [], "cell": []}
    for i in range(repeats):
        flags = FLAG_SEQUENCE[i % 4]
        start = time.perf_counter()
        StepPictures(tr, *flags, 0, 2, fit=_pixels(FIGURE_SIZE)).pixels(2)
        out["unrolled"].append(time.perf_counter() - start)
        start = time.perf_counter()
        CellPictures(tr, 0, 2, flags, fit=_pixels(CELL_FIGURE_SIZE)).pixels(2, flags)
        out["cell"].append(time.perf_counter() - start)
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
    for timesteps in (5, 8):
        print(f"on x (2, {timesteps}, 2): change -> whole frame sent (median ms; handler busy incl. look-ahead)"
              + ("  [8 steps: the middle ones are elided, so moving t there changes the layout]" if timesteps > 6
                 else ""))
        for view, t_times in time_views(timesteps).items():
            cells = "  ".join(f"{kind} {_ms(t_times[kind]):6.1f}"
                              for kind in ("step", "jump", "revisit", "flag", "flag again"))
            print(f"  {view:8} view: {cells}   busy step {_ms(t_times['busy step']):6.1f}   "
                  f"baseline / step {base / _ms(t_times['step']):5.1f}x, / jump {base / _ms(t_times['jump']):4.1f}x, "
                  f"/ flag {base / _ms(t_times['flag']):4.1f}x")
    new = time_new_drawings()
    print(f"a drawing not made ahead (what a change costs when the look-ahead has not drawn it): unrolled "
          f"{_ms(new['unrolled']):6.1f} ms, cell {_ms(new['cell']):6.1f} ms (median of {len(new['cell'])})")
    print(f"ratio baseline / explorer: first visit {base / first:5.1f}x, revisit {base / revisit:6.1f}x, "
          f"live canvas {base / _ms(live):5.1f}x"
          "   (goal: <= 30 ms and >= 5x)")


if __name__ == "__main__":
    main()
