"""From a click on a flag to new pixels on screen, in headless Chromium: the explorer against a naive cell.

Run: .venv/bin/python benchmarks/bench_browser.py [--clicks 24] [--server voila|lab]

Starts Voilà (the classroom dashboard; or JupyterLab) on 127.0.0.1 over temporary copies of two pages
in tests/browser/, each the same LSTM(2) on x of shape (1, 3, 1):

* explorer.ipynb: ``rnnviz.explore(...)``, its figure a live ipympl canvas;
* baseline.ipynb: the naive way, ``ipywidgets.interactive`` over a function that builds a Keras model
  with the new flags, runs ``model.predict``, and draws a new matplotlib figure (inline PNG).

On the explorer page it also presses Play in each view (h and c over time, unrolled, the cell at t) and
counts how many new pictures the page shows per second, in a first pass and a later one.

For each page it clicks return_state and return_sequences in turn and measures, inside the page, the
time from the click to the first animation frame where the figure's pixels differ (a hash of every
canvas's pixels; an image's new source once it has loaded). Between clicks it waits until the figure
has stopped changing, so each click starts from a quiet kernel. Two warm-up clicks are not counted.
Goal: explorer median <= 100 ms, and faster than the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
import browser_harness as bh  # noqa: E402

PAGES = {"explorer": "explorer.ipynb", "baseline": "baseline.ipynb"}
FLAGS = ("return_state", "return_sequences")  # alternating: (F,T) (T,T) (T,F) (F,F) and round again
WARM_UP = 2


def time_clicks(page, clicks: int) -> list[float]:
    """Milliseconds from each click to new pixels, after ``WARM_UP`` uncounted clicks."""
    times = []
    for i in range(WARM_UP + clicks):
        ms = bh.click_to_pixels_ms(page, FLAGS[i % 2])
        bh.wait_for_figure_settled(page, timeout=30, quiet=0.4)
        if i >= WARM_UP:
            times.append(ms)
    return times


def signature_cost_ms(page, repeats: int = 20) -> float:
    """How long one look at the figure takes in the page: the resolution of the timing."""
    js = "(f) => { const t0 = performance.now(); for (let i = 0; i < %d; i++) (%s)(f); return performance.now() - t0; }"
    return bh.figure(page).evaluate(js % (repeats, bh.FIGURE_SIGNATURE_JS.strip())) / repeats


#: Count how often the figure's pixels change in ``ms`` milliseconds (checked at every animation frame).
COUNT_CHANGES_JS = (
    """
async ([figureSel, ms]) => {
  const signature = """
    + bh.FIGURE_SIGNATURE_JS
    + """;
  const figure = () => document.querySelector(figureSel);
  let last = signature(figure()), changes = 0;
  const t0 = performance.now();
  return await new Promise((resolve) => {
    const poll = () => {
      const now = signature(figure());
      if (now && now !== last) { changes++; last = now; }
      if (performance.now() - t0 > ms) resolve(changes); else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
}
"""
)
VIEW_BUTTONS = {"time": "over time", "unrolled": "unrolled", "cell": "cell at t"}


def play_rates(page, seconds: float = 5.0) -> dict[str, tuple[float, float]]:
    """Steps per second the Play button shows in each view: first pass (pictures drawn anew) and a later pass."""
    root = bh.explorer(page)
    rates = {}
    for view, label in VIEW_BUTTONS.items():
        before = bh.figure_signature(page)
        root.locator(".rnnviz-view button", has_text=label).first.click()
        if view != "time":
            bh.wait_for_figure_change(page, before)
        root.locator(".rnnviz-play button").first.click()  # play (it loops over the timesteps)
        first = page.evaluate(COUNT_CHANGES_JS, [bh.SELECTORS["figure"], seconds * 1000]) / seconds
        later = page.evaluate(COUNT_CHANGES_JS, [bh.SELECTORS["figure"], seconds * 1000]) / seconds
        root.locator(".rnnviz-play button").nth(1).click()  # pause
        bh.wait_for_figure_settled(page, timeout=30, quiet=0.5)
        rates[view] = (first, later)
    root.locator(".rnnviz-view button", has_text="over time").first.click()
    return rates


def measure(server_kind: str, clicks: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as playwright, bh.chromium(playwright) as page:
        if server_kind == "voila":
            server_cm = bh.voila("", extra_notebooks=list(PAGES.values()))
        else:
            server_cm = bh.jupyterlab(list(PAGES.values()))
        with server_cm as server:
            for name, notebook in PAGES.items():
                t0 = time.monotonic()
                try:
                    if server_kind == "voila":
                        bh.open_in_voila(page, server.url(f"/voila/render/{notebook}"))
                    else:
                        bh.open_in_lab(page, server, notebook)
                    opened = time.monotonic() - t0
                    cost = signature_cost_ms(page)
                    results[name] = time_clicks(page, clicks)
                    if name == "explorer":
                        results["play"] = play_rates(page)
                except Exception:
                    print(f"{name}: failed; page screenshot {bh.failure_screenshot(page, 'bench-' + name)}")
                    print(server.log_tail())
                    raise
                print(
                    f"{name:9} page ready in {opened:5.1f} s; one look at the figure costs {cost:5.1f} ms; "
                    f"{clicks} clicks timed"
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=24, help="timed clicks per page (at least 20)")
    parser.add_argument("--server", choices=("voila", "lab"), default="voila")
    args = parser.parse_args()
    if bh.chromium_path() is None:
        sys.exit(bh.HOW_TO_ENABLE)
    if args.clicks < 20:
        parser.error(f"--clicks: expected at least 20 for a steady median, got {args.clicks}")

    results = measure(args.server, args.clicks)
    play = results.pop("play")
    print(f"\nPlay in Chromium ({args.server}), pictures shown per second over 5 s (Play steps every 80 ms: 12.5/s at most):")
    for view, (first, later) in play.items():
        print(f"  {view:9} first pass {first:5.1f}/s   later pass {later:5.1f}/s")
    print(f"\nclick -> new pixels in Chromium ({args.server}), {args.clicks} clicks each, ms:")
    medians = {}
    for name, times in results.items():
        medians[name] = statistics.median(times)
        q = statistics.quantiles(times, n=10)
        print(f"  {name:9} median {medians[name]:7.1f}   p10 {q[0]:7.1f}   p90 {q[-1]:7.1f}   max {max(times):7.1f}")
    ratio = medians["baseline"] / medians["explorer"]
    print(f"  baseline / explorer = {ratio:.1f}x")
    goal = medians["explorer"] <= 100 and ratio > 1
    print(f"goal (explorer median <= 100 ms and faster than the baseline): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
