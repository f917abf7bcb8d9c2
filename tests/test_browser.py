"""The explorer in a real browser: JupyterLab and the Voilà classroom dashboard, in headless Chromium.

Each server starts on 127.0.0.1 (random port and token) over a temporary COPY of the playground
notebook, once per module; Debian's Chromium opens it and runs it. The tests then check that every
cell ran and every widget rendered, flip ``return_state`` and ``return_sequences`` by clicking and
read the page (the shapes shown must follow Keras's rules; the figure's pixels must change with each
flip and come back when the flags do), and check the explorer's layout at the widths it meets: beside
JupyterLab's file browser, and on a 1280 px projector. The Voilà flags test also saves the README's
picture, ``docs/explorer.png`` (rewritten only when its pixels change).

Deselect with ``-m "not browser"``. Without Chromium they skip, saying how to get it.
"""

from __future__ import annotations

import io
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))
import browser_harness as bh  # noqa: E402

pytestmark = pytest.mark.browser

PLAYGROUND = "07_playground.ipynb"
PICTURE = bh.REPO / "docs" / "explorer.png"
PICTURE_VIEWPORT = {"width": 1400, "height": 1000}  # wide enough for the Keras line, tall enough for it all
STATE_NAMES = ("state_h", "state_c")
COUNT_RUN_CELLS_JS = """() => {
  const cells = jupyterapp.shell.currentWidget.content.model.cells;
  let total = 0, ran = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === 'code') { total++; if (cell.executionCount) ran++; }
  }
  return [total, ran];
}"""


@pytest.fixture(scope="module")
def lab(chromium_context):
    """The playground open in JupyterLab, every cell run: ``(page, server)``."""
    with bh.opened_in_lab(chromium_context, PLAYGROUND) as opened:
        yield opened


@pytest.fixture(scope="module")
def voila(chromium_context):
    """The playground as a Voilà dashboard, as in class: ``(page, server)``."""
    with bh.opened_in_voila(chromium_context, PLAYGROUND, viewport=PICTURE_VIEWPORT) as opened:
        yield opened


def shown_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """The shapes the explorer's text gives, by Keras name: ``"# seq  (1, 3, 2)"`` -> ``{"output": (1, 3, 2)}``.

    The explorer calls the output ``seq`` when it is a sequence; a name is read where a shape follows it.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for name, dims in re.findall(r"\b(output|seq|state_h|state_c)\b[ :]*\(([\d, ]+)\)", text):
        shapes.setdefault("output" if name == "seq" else name, tuple(int(n) for n in dims.split(",") if n.strip()))
    return shapes


def check_text_follows_flags(text: str, return_sequences: bool, return_state: bool) -> None:
    """Keras's rules, read off the page: one output, plus h and c; a sequence has one more axis."""
    for name, value in (("return_sequences", return_sequences), ("return_state", return_state)):
        assert (f"{name}=True" in text) == value, f"with {name}={value} the Keras line shown is:\n{text}"
    shapes = shown_shapes(text)
    assert "output" in shapes, f"no output shape in the explorer's text:\n{text}"
    output = shapes["output"]
    assert len(output) == (3 if return_sequences else 2), (
        f"with return_sequences={return_sequences} the output shape shown should be "
        f"{'(batch, timesteps, units)' if return_sequences else '(batch, units)'}, got {output}:\n{text}"
    )
    states = [name for name in STATE_NAMES if name in shapes]
    expected = list(STATE_NAMES) if return_state else []  # the explorer opens on an LSTM: h and c
    assert states == expected, f"with return_state={return_state} the states shown should be {expected}:\n{text}"
    for name in states:
        assert shapes[name] == (output[0], output[-1]), f"{name} should be (batch, units), got:\n{text}"


def flip(page, name: str) -> None:
    """Click flag ``name`` and wait until the figure has changed and settled."""
    before = bh.figure_signature(page)
    bh.flag(page, name).click()
    bh.wait_for_figure_change(page, before)


#: A flip re-marks a good part of the figure; flipping back must restore it (up to antialiasing specks).
FLIP_CHANGES_AT_LEAST = 0.005
BACK_CHANGES_AT_MOST = 0.0005


def turn_on(page, name: str, flags: tuple[bool, bool], before: bytes) -> bytes:
    """Switch flag ``name`` on; the text must follow ``flags`` and the figure must change. Returns its pixels."""
    flip(page, name)
    assert bh.flag_is_on(page, name)
    check_text_follows_flags(bh.code_text(page), *flags)
    after = bh.figure_pixels(page)
    changed = bh.changed_fraction(before, after)
    assert changed > FLIP_CHANGES_AT_LEAST, f"{name} on changed only {changed:.2%} of the figure's pixels"
    return after


def drive_flags(page) -> bytes:
    """Flip the flags as a learner would and check the page after each flip; return a PNG of the explorer."""
    assert not bh.flag_is_on(page, "return_sequences") and not bh.flag_is_on(page, "return_state"), (
        "the explorer should open with both flags off, as Keras's defaults"
    )
    check_text_follows_flags(bh.code_text(page), False, False)
    start = bh.figure_pixels(page)

    with_state = turn_on(page, "return_state", (False, True), start)
    turn_on(page, "return_sequences", (True, True), with_state)
    page.mouse.move(0, 0)  # no hover or focus ring in the picture
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    picture = bh.explorer_picture(page)

    flip(page, "return_state")
    check_text_follows_flags(bh.code_text(page), True, False)
    flip(page, "return_sequences")
    check_text_follows_flags(bh.code_text(page), False, False)
    end = bh.figure_pixels(page)
    changed = bh.changed_fraction(start, end)
    if changed >= BACK_CHANGES_AT_MOST:
        for name, png in (("start", start), ("end", end)):
            Path(tempfile.gettempdir(), f"rnnviz-browser-figure-{name}.png").write_bytes(png)
    assert changed < BACK_CHANGES_AT_MOST, (
        f"with both flags off again {changed:.2%} of the pixels differ from the start "
        f"(both figures saved as {tempfile.gettempdir()}/rnnviz-browser-figure-{{start,end}}.png)"
    )
    return picture


def save_picture(png: bytes) -> None:
    """Write the README's picture when what it shows has changed (same pixels: leave the file alone)."""
    import matplotlib.image

    new = matplotlib.image.imread(io.BytesIO(png), format="png")
    if PICTURE.exists():
        old = matplotlib.image.imread(PICTURE)
        if old.shape == new.shape and np.array_equal(old, new):
            return
    PICTURE.parent.mkdir(exist_ok=True)
    PICTURE.write_bytes(png)


def test_jupyterlab_runs_every_cell_of_the_playground(lab):
    page, server = lab
    with bh.diagnosed(page, server, "jupyterlab"):
        total, ran = page.evaluate(COUNT_RUN_CELLS_JS)
        assert total > 0 and ran == total, f"only {ran} of the {total} code cells ran"
        errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
        assert not [e for e in errors if "Traceback" in e or "Error" in e], f"a cell failed:\n{errors}"
        assert page.get_by_text("Error displaying widget").count() == 0, "a widget did not render"


def test_jupyterlab_figure_and_keras_line_follow_the_flags(lab):
    page, server = lab
    with bh.diagnosed(page, server, "jupyterlab"):
        drive_flags(page)


def test_jupyterlab_explorer_fits_a_laptop_beside_the_file_browser(lab):
    """1366 x 768 with the file browser open: controls, Keras code and the h and c panels are all on screen at once,
    for an LSTM and for a Bidirectional LSTM (the explorer keeps one size: the directions sit side by side)."""
    page, server = lab
    page.set_viewport_size(LAPTOP)
    try:
        with bh.diagnosed(page, server, "jupyterlab"):
            assert page.locator("#filebrowser").is_visible(), "JupyterLab's file browser should be open"
            problems = bh.layout_problems(page)
            assert not problems, "the explorer's layout breaks in JupyterLab:\n" + "\n".join(problems)
            lstm = check_all_in_view(page, NOTEBOOK_AREA_JS)
            flip_bidirectional(page)
            try:
                both = check_all_in_view(page, NOTEBOOK_AREA_JS)
            finally:
                flip_bidirectional(page)
            assert both["figure"] == lstm["figure"], f"the figure changed size with Bidirectional: {lstm} -> {both}"
            print(f"explorer height at 1366 x 768: LSTM {lstm['explorer']:.0f} px, Bidirectional {both['explorer']:.0f} px")
    finally:
        page.set_viewport_size(DEFAULT_VIEWPORT)


def test_voila_dashboard_shows_no_code_and_every_widget(voila):
    page, server = voila
    with bh.diagnosed(page, server, "voila"):
        assert page.locator(".jp-InputArea-editor, .cm-editor").count() == 0, "the dashboard shows code cells"
        assert "Traceback" not in page.locator("body").inner_text(), "a cell failed while Voilà ran the notebook"
        assert page.get_by_text("Error displaying widget").count() == 0, "a widget did not render"


def test_voila_figure_and_keras_line_follow_the_flags_and_picture_for_the_readme(voila):
    page, server = voila
    with bh.diagnosed(page, server, "voila"):
        save_picture(drive_flags(page))


def test_voila_explorer_fits_a_projector(voila):
    """A classroom projector shows 1280 x 720: controls, Keras code and the h and c panels at once, Bidirectional too."""
    page, server = voila
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        with bh.diagnosed(page, server, "voila"):
            problems = bh.layout_problems(page)
            assert not problems, "the explorer's layout breaks on a projector:\n" + "\n".join(problems)
            check_all_in_view(page, VIEWPORT_AREA_JS)
            flip_bidirectional(page)
            try:
                check_all_in_view(page, VIEWPORT_AREA_JS)
            finally:
                flip_bidirectional(page)
    finally:
        page.set_viewport_size(PICTURE_VIEWPORT)


# --- garbled frames -----------------------------------------------------------------------------

#: Each kind of change, three times over (the settings after each step are what the page must then show).
CHANGES = [
    ("cell", "GRU"), ("cell", "SimpleRNN"), ("cell", "LSTM"),
    ("bidirectional", True), ("bidirectional", False), ("bidirectional", True),
    ("units", 3), ("units", 4), ("units", 2),
    ("timesteps", 4), ("timesteps", 5), ("timesteps", 3),
    ("batch", 2), ("batch", 3), ("batch", 2),
    ("sample", 1), ("sample", 0), ("sample", 1),
    ("seed", 7), ("seed", 11), ("seed", 3),
    ("return_state", True), ("return_sequences", True), ("return_state", False),
    ("view", "unrolled"), ("t", 1), ("view", "cell"), ("t", 0), ("view", "time"), ("t", 2),
    ("view", "cell"), ("return_sequences", False), ("view", "unrolled"),
]
#: The explorer's settings as the playground opens it: ``rnnviz.explore()``.
START = {"cell": "LSTM", "bidirectional": False, "units": 2, "timesteps": 3, "features": 1, "batch": 1, "sample": 0,
         "seed": 0, "return_sequences": False, "return_state": False, "view": "time", "t": 2}
VIEW_BUTTONS = {"time": "over time", "unrolled": "unrolled", "cell": "cell at t"}


def test_jupyterlab_every_change_draws_a_whole_correct_frame(lab):
    """After every change the canvas shows exactly what an explorer created with those settings draws."""
    page, server = lab
    with bh.diagnosed(page, server, "jupyterlab"):
        check_every_change(page)


def test_voila_every_change_draws_a_whole_correct_frame(voila):
    """The same in the classroom dashboard."""
    page, server = voila
    with bh.diagnosed(page, server, "voila"):
        check_every_change(page)


def check_every_change(page) -> None:
    """Make every change of ``CHANGES`` in turn; after each, the canvas must match a freshly created explorer."""
    bh.explorer(page).scroll_into_view_if_needed()
    settings, garbled = dict(START), []
    for step, (name, value) in enumerate(CHANGES):
        current = settings[name]
        settings[name] = value
        if name == "timesteps":  # the explorer keeps t on the last step when it was there, else in range
            settings["t"] = value - 1 if settings["t"] == current - 1 else min(settings["t"], value - 1)
        change(page, name, value, current)
        expected = expected_pixels(settings)
        shown = wait_for_pixels(page, expected)
        if shown is not None:
            Path(tempfile.gettempdir(), f"rnnviz-garbled-{step}.png").write_bytes(shown)
            garbled.append(f"step {step}: {name}={value!r} with {settings}")
    assert not garbled, (f"{len(garbled)} of {len(CHANGES)} frames differ from a fresh explorer "
                         f"(saved as {tempfile.gettempdir()}/rnnviz-garbled-<step>.png):\n" + "\n".join(garbled))


def change(page, name: str, value, current=None) -> None:
    """Change one control (see :func:`set_control`) and wait until the figure has changed and settled."""
    before = bh.figure_signature(page)
    set_control(page, name, value, current)
    bh.wait_for_figure_change(page, before)


def set_control(page, name: str, value, current) -> None:
    """Change one control as a learner does: a click, arrow keys on a slider's handle, or typing a seed."""
    root = bh.explorer(page).locator(f".rnnviz-{name.replace('_', '-')}").first
    if name == "cell":
        root.locator("button", has_text=value).first.click()
    elif name == "view":
        root.locator("button", has_text=VIEW_BUTTONS[value]).first.click()
    elif name == "bidirectional":
        root.locator("input[type=checkbox]").click()
    elif name in ("return_sequences", "return_state"):
        root.locator("button", has_text=str(value)).first.click()
    elif name == "seed":
        root.locator("input").fill(str(value))
        root.locator("input").press("Enter")
    else:  # a slider: one arrow key per step, as a keyboard user would
        handle = root.locator(".noUi-handle")
        handle.focus()
        for _ in range(abs(value - current)):
            handle.press("ArrowRight" if value > current else "ArrowLeft")


def expected_pixels(settings: dict) -> np.ndarray:
    """The figure an explorer created directly with ``settings`` draws, as RGB pixels."""
    import rnnviz

    return bh.png_rgb(rnnviz.explore(canvas="image", **settings)._png())


def wait_for_pixels(page, expected: np.ndarray, timeout: float = 30) -> bytes | None:
    """Wait until the live canvas shows ``expected`` and still does a moment later: None, or the PNG it shows."""
    deadline, shown = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        shown = bh.canvas_png(page)
        if bh.same_pixels(shown, expected):
            time.sleep(0.5)  # a late frame must not spoil it
            shown = bh.canvas_png(page)
            if bh.same_pixels(shown, expected):
                return None
        time.sleep(0.2)
    return shown


# --- fitting the screen -------------------------------------------------------------------------

LAPTOP = {"width": 1366, "height": 768}
DEFAULT_VIEWPORT = {"width": 1280, "height": 1000}
NOTEBOOK_AREA_JS = "() => { const b = document.querySelector('.jp-NotebookPanel-notebook').getBoundingClientRect(); " \
                   "return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; }"
VIEWPORT_AREA_JS = "() => ({top: 0, bottom: innerHeight, left: 0, right: innerWidth})"
#: The parts a learner must see together, by the CSS classes the explorer gives them.
PARTS = {"explorer": ".rnnviz-explorer", "return_state": ".rnnviz-return-state", "code": ".rnnviz-code",
         "figure": ".rnnviz-figure"}


def check_all_in_view(page, area_js: str) -> dict[str, float]:
    """Scroll the explorer's top into view; every part must then lie inside the visible area. Returns the heights."""
    bh.explorer(page).evaluate("(e) => e.scrollIntoView({block: 'start'})")
    time.sleep(0.3)
    area = page.evaluate(area_js)
    heights, outside = {}, []
    for name, selector in PARTS.items():
        box = page.locator(selector).first.bounding_box()
        heights[name] = box["height"]
        if box["y"] < area["top"] - 1 or box["y"] + box["height"] > area["bottom"] + 1 or box["x"] + box["width"] > \
                area["right"] + 1:
            outside.append(f"{name}: y {box['y']:.0f}-{box['y'] + box['height']:.0f}, right edge "
                           f"{box['x'] + box['width']:.0f}; visible area y {area['top']:.0f}-{area['bottom']:.0f}, "
                           f"right edge {area['right']:.0f}")
    assert not outside, "not all of the explorer is in view at once:\n" + "\n".join(outside)
    clipped = page.locator(".rnnviz-code pre").first.evaluate("(p) => p.scrollWidth > p.clientWidth + 1")
    assert not clipped, "the Keras code is cut off at the side:\n" + bh.code_text(page)
    return heights


def flip_bidirectional(page) -> None:
    change(page, "bidirectional", None)  # a click on the checkbox flips it, whatever it shows


def test_jupyterlab_play_steps_through_the_timesteps(lab):
    """Play moves t in the page; each step reaches the kernel and the figure changes."""
    page, server = lab
    with bh.diagnosed(page, server, "jupyterlab"):
        check_play(page)


def test_voila_play_steps_through_the_timesteps(voila):
    """The same in the classroom dashboard, in the cell view."""
    page, server = voila
    with bh.diagnosed(page, server, "voila"):
        change(page, "view", "cell")
        check_play(page)


def check_play(page) -> None:
    """Press Play; the figure must show one new picture per timestep (3 here) within 20 s; then pause."""
    root = bh.explorer(page)
    seen = {bh.figure_signature(page)}
    root.locator(".rnnviz-play button").first.click()  # the first of Play's buttons: play
    deadline = time.monotonic() + 20
    while len(seen) < 3 and time.monotonic() < deadline:  # the playground's explorer has 3 timesteps
        seen.add(bh.figure_signature(page))
        time.sleep(0.05)
    root.locator(".rnnviz-play button").nth(1).click()  # pause
    assert len(seen) >= 3, f"Play showed only {len(seen)} different pictures in 20 s (one per timestep expected)"
