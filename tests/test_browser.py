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

import contextlib
import io
import re
import sys
import tempfile
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
def browser():
    """One headless Chromium for the module (its context: each server gets its own page)."""
    if bh.chromium_path() is None:
        pytest.skip(bh.HOW_TO_ENABLE)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser tests")
    with sync_api.sync_playwright() as playwright, bh.chromium(playwright) as first_page:
        first_page.context.set_default_timeout(30_000)
        yield first_page.context


@pytest.fixture(scope="module")
def lab(browser):
    """The playground open in JupyterLab, every cell run: ``(page, server)``."""
    page = browser.new_page()
    with bh.jupyterlab([PLAYGROUND]) as server:
        with diagnosed(page, server, "jupyterlab"):
            bh.open_in_lab(page, server, PLAYGROUND)
        yield page, server
    page.close()


@pytest.fixture(scope="module")
def voila(browser):
    """The playground as a Voilà dashboard, as in class: ``(page, server)``."""
    page = browser.new_page()
    page.set_viewport_size(PICTURE_VIEWPORT)
    with bh.voila(PLAYGROUND) as server:
        with diagnosed(page, server, "voila"):
            bh.open_in_voila(page, server.url("/"))
        yield page, server
    page.close()


@contextlib.contextmanager
def diagnosed(page, server, name: str):
    """On any failure, add a full-page screenshot path, the page's text and the server's log to the error."""
    try:
        yield
    except Exception as error:
        with contextlib.suppress(Exception):
            bh.explorer(page).scroll_into_view_if_needed(timeout=2000)
        shot, text = bh.failure_screenshot(page, name), ""
        with contextlib.suppress(Exception):
            text = page.locator("body").inner_text()[-2000:]
        raise AssertionError(
            f"{error}\n--- page screenshot: {shot}\n--- end of the page's text:\n{text}\n"
            f"--- server log:\n{server.log_tail()}"
        ) from error


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
    with diagnosed(page, server, "jupyterlab"):
        total, ran = page.evaluate(COUNT_RUN_CELLS_JS)
        assert total > 0 and ran == total, f"only {ran} of the {total} code cells ran"
        errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
        assert not [e for e in errors if "Traceback" in e or "Error" in e], f"a cell failed:\n{errors}"
        assert page.get_by_text("Error displaying widget").count() == 0, "a widget did not render"


def test_jupyterlab_figure_and_keras_line_follow_the_flags(lab):
    page, server = lab
    with diagnosed(page, server, "jupyterlab"):
        drive_flags(page)


def test_jupyterlab_explorer_fits_beside_the_file_browser(lab):
    """JupyterLab opens with its file browser: the notebook gets about 850 px of a 1280 px window."""
    page, server = lab
    with diagnosed(page, server, "jupyterlab"):
        problems = bh.layout_problems(page)
        assert not problems, "the explorer's layout breaks in JupyterLab:\n" + "\n".join(problems)


def test_voila_dashboard_shows_no_code_and_every_widget(voila):
    page, server = voila
    with diagnosed(page, server, "voila"):
        assert page.locator(".jp-InputArea-editor, .cm-editor").count() == 0, "the dashboard shows code cells"
        assert "Traceback" not in page.locator("body").inner_text(), "a cell failed while Voilà ran the notebook"
        assert page.get_by_text("Error displaying widget").count() == 0, "a widget did not render"


def test_voila_figure_and_keras_line_follow_the_flags_and_picture_for_the_readme(voila):
    page, server = voila
    with diagnosed(page, server, "voila"):
        save_picture(drive_flags(page))


def test_voila_explorer_fits_a_projector(voila):
    """A classroom projector shows 1280 x 720."""
    page, server = voila
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        with diagnosed(page, server, "voila"):
            problems = bh.layout_problems(page)
            assert not problems, "the explorer's layout breaks on a projector:\n" + "\n".join(problems)
    finally:
        page.set_viewport_size(PICTURE_VIEWPORT)
