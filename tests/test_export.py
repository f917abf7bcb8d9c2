"""The HTML export of the lessons works offline: explorers show their picture, quizzes their question, maths is typeset.

Builds every stored lesson with ``scripts/export_html.py`` into a temporary folder, then opens each page
from disk in headless Chromium (Debian's) with every request that leaves ``file://`` and 127.0.0.1
blocked and recorded. A page fails on any such request, on a local file that does not load, on an
explorer without its picture (an ``img`` that loaded, with alt text) or its Keras line, on a quiz whose
question or choices are not on the page, and on maths left as LaTeX or typeset with errors.

What a cell must show is read from the notebook itself: the cell ids tie each page's cells to the
notebook's, and the quiz's question and choices are the literals in the cell's code.

Two quick checks need no browser: every stored lesson keeps its explorers and quizzes as static
copies (no widget view, no widget state), and ``keep_static_copies`` drops a widget's view only
where a static copy stands beside it.

Deselect the browser part with ``-m "not browser"``. Without Chromium it skips, saying how to get it.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))
import browser_harness as bh  # noqa: E402

LESSONS = sorted((bh.REPO / "notebooks").glob("*.ipynb"))
EXPLORER = re.compile(r"\brnnviz\.explore\(")
QUIZ = re.compile(r"\brnnviz\.quiz\.(MultipleChoice|ShapeQuiz)\(")
#: Inline and display maths as the lessons write it (what MathJax's tex2jax looks for).
MATHS = re.compile(r"\$\$.+?\$\$|(?<!\\)\$[^$\n]+?(?<!\\)\$", flags=re.S)
#: ShapeQuiz's sizes when a cell does not give them.
SHAPE_QUIZ_DEFAULTS = {"units": 2, "timesteps": 3, "features": 1, "batch": 1}
PAGE_TIMEOUT_MS = 30_000

#: Everything a page shows, read in one go once its scripts ran and MathJax finished typesetting.
READ_PAGE_JS = """
async ([timeoutMs]) => {
  const typeset = window.MathJax && MathJax.Hub
    ? await Promise.race([
        new Promise((resolve) => MathJax.Hub.Queue(() => resolve(true))),
        new Promise((resolve) => setTimeout(() => resolve(false), timeoutMs)),
      ])
    : false;
  const cells = {};
  for (const cell of document.querySelectorAll('.jp-Cell[id^="cell-id="]')) {
    const out = cell.querySelector('.jp-Cell-outputWrapper, .jp-OutputArea');
    cells[cell.id.slice('cell-id='.length)] = {
      text: out ? out.innerText : '',
      images: out ? [...out.querySelectorAll('img')].map((img) => ({
        loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth, alt: img.getAttribute('alt') || '',
      })) : [],
    };
  }
  return {
    mathjax: !!(window.MathJax && MathJax.isReady),
    typeset,
    mathScripts: document.querySelectorAll('script[type^="math/tex"]').length,
    mathErrors: document.querySelectorAll('.MathJax_Error, merror').length,
    markdownText: [...document.querySelectorAll('.jp-MarkdownCell')].map((c) => c.innerText).join('\\n'),
    // MathJax's own probe font (src "about:blank") always fails by design; a real font that fails does not
    brokenFonts: [...document.fonts].filter((f) => f.status === 'error' && f.family !== 'MathJax_Blank')
                                    .map((f) => f.family),
    cells,
  };
}
"""


def load_script(name: str):
    """``scripts/<name>.py`` as a module (the scripts folder is no package)."""
    spec = importlib.util.spec_from_file_location(name, bh.REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Every lesson exported into a temporary folder (built once for the module)."""
    pytest.importorskip(
        "jupyter_server_mathjax", reason="the export takes MathJax from jupyter-server-mathjax: pip install -e .[test]"
    )
    out = tmp_path_factory.mktemp("html")
    load_script("export_html").export(LESSONS, out)
    return out


@pytest.fixture(scope="module")
def browser(chromium_context):
    """Headless Chromium whose requests are recorded; those that leave the machine's disk and loopback are blocked."""
    context = chromium_context
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.outside, context.broken = [], []  # what left the machine; local files that failed to load

    def route(route):  # block
        if is_local(route.request.url):
            route.continue_()
        else:
            route.abort()

    def on_request(request):  # record: every request the page makes, whether the router was asked or not
        if not is_local(request.url):
            context.outside.append(request.url)

    def on_failed(request):
        if is_local(request.url) and request.url != "about:blank":  # about:blank: MathJax's probe font
            context.broken.append(f"{request.url} ({request.failure})")

    context.route("**/*", route)
    context.on("request", on_request)
    context.on("requestfailed", on_failed)
    context.on("page", lambda page: page.on("websocket", lambda ws: context.outside.append(ws.url)))
    yield context


def is_local(url: str) -> bool:
    """On this machine's disk or loopback: file://, data:, blob:, about:, or 127.0.0.1."""
    return url.startswith(("file://", "data:", "blob:", "about:")) or re.match(r"^[a-z]+://127\.0\.0\.1[:/]", url) is not None


def squash(text: str) -> str:
    return " ".join(text.split())


def quiz_words(source: str) -> list[str]:
    """What a quiz cell must show without a kernel: question and choices, or the shape quiz's sizes."""
    words = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr == "MultipleChoice" and len(node.args) >= 2:
            question, options = ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1])
            words += [question, *options]
        elif node.func.attr == "ShapeQuiz":
            sizes = dict(SHAPE_QUIZ_DEFAULTS)
            sizes.update({k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in sizes})
            words += [str((sizes["batch"], sizes["timesteps"], sizes["features"])), f"units={sizes['units']}"]
    return [squash(w) for w in words]


def open_page(context, path: Path) -> dict:
    page = context.new_page()
    try:
        page.goto(path.as_uri(), wait_until="load")
        return page.evaluate(READ_PAGE_JS, [PAGE_TIMEOUT_MS])
    finally:
        page.close()


def widget_outputs(nb):
    """``(cell, output)`` for every output of an explorer or quiz cell."""
    for cell in nb.cells:
        if cell.cell_type == "code" and (EXPLORER.search(cell.source) or QUIZ.search(cell.source)):
            for out in cell.outputs:
                if out.get("output_type") in ("execute_result", "display_data"):
                    yield cell, out


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_stored_lesson_keeps_static_copies_not_live_widgets(lesson):
    """A viewer without a kernel shows a stored widget view as nothing: the lessons store the static copy."""
    nb = nbformat.read(lesson, as_version=4)
    outputs = list(widget_outputs(nb))
    assert len(outputs) == len([c for c in nb.cells if c.cell_type == "code"
                                and (EXPLORER.search(c.source) or QUIZ.search(c.source))]), "a widget cell has no output"
    for cell, out in outputs:
        kinds = set(out.get("data", {}))
        assert "application/vnd.jupyter.widget-view+json" not in kinds and "text/html" in kinds, (
            f"{lesson.name}, cell {cell.id}: stored as {sorted(kinds)}; re-run it with scripts/execute_notebooks.py"
        )
    assert "widgets" not in nb.metadata, f"{lesson.name} stores widget state; re-run it with scripts/execute_notebooks.py"


def test_keep_static_copies_drops_a_widget_view_only_beside_a_static_copy():
    execute_notebooks = load_script("execute_notebooks")
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("execute_result", {**view, "text/html": "<b>q</b>", "text/plain": "q"}, execution_count=1),
    ])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert execute_notebooks.keep_static_copies(nb) == 1
    assert set(nb.cells[0].outputs[0].data) == {"text/html", "text/plain"} and "widgets" not in nb.metadata
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("execute_result", {**view, "text/plain": "VBox()"}, execution_count=1),
    ])])
    plain.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert execute_notebooks.keep_static_copies(plain) == 0  # a widget with no static copy keeps its view and state
    assert "widgets" in plain.metadata


def test_export_writes_a_page_per_lesson_mathjax_and_an_index(site):
    pages = sorted(p.name for p in site.glob("*.html"))
    assert pages == sorted([p.stem + ".html" for p in LESSONS] + ["index.html"])
    assert (site / "mathjax" / "MathJax.js").is_file(), "MathJax was not copied beside the pages"
    index = (site / "index.html").read_text()
    assert all(f'href="{p.stem}.html"' in index for p in LESSONS), "index.html does not link every lesson"
    first = (site / LESSONS[1].with_suffix(".html").name).read_text()
    assert ".ipynb\"" not in first and ".ipynb#" not in first, "a link still points at a notebook, not its page"


@pytest.mark.browser
@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_page_works_offline(site, browser, lesson):
    nb = nbformat.read(lesson, as_version=4)
    before_outside, before_broken = len(browser.outside), len(browser.broken)
    shown = open_page(browser, site / f"{lesson.stem}.html")
    problems = []

    outside, broken = browser.outside[before_outside:], browser.broken[before_broken:]
    if outside:
        problems.append(f"requests that leave the machine (blocked): {outside}")
    if broken:
        problems.append(f"local files that did not load: {broken}")

    for cell in nb.cells:
        if cell.cell_type != "code" or not (EXPLORER.search(cell.source) or QUIZ.search(cell.source)):
            continue
        code = [line.strip() for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        where = f"cell {cell.id} ({code[0][:60] if code else ''})"
        out = shown["cells"].get(cell.id)
        if out is None:
            problems.append(f"{where}: not on the page")
            continue
        text = squash(out["text"])
        if EXPLORER.search(cell.source):
            pictures = [img for img in out["images"] if img["loaded"]]
            if not pictures:
                problems.append(f"{where}: no explorer picture that loaded; images: {out['images']}, text: {text[:200]!r}")
            elif not all(img["alt"] and not img["alt"].startswith("No description") for img in pictures):
                problems.append(f"{where}: the explorer picture has no alt text: {pictures}")
            if "keras" not in text.lower():
                problems.append(f"{where}: no Keras line beside the picture; text: {text[:200]!r}")
        else:
            missing = [w for w in quiz_words(cell.source) if w not in text]
            if not text or missing:
                problems.append(f"{where}: the quiz's question or choices are not on the page: missing {missing}; "
                                f"text: {text[:200]!r}")

    for cell in nb.cells:  # a figure's text alternative (its stored "alt") is on its picture
        alts = [o.metadata["image/png"]["alt"] for o in cell.get("outputs", [])
                if "alt" in o.get("metadata", {}).get("image/png", {})]
        if alts:
            shown_alts = [img["alt"] for img in shown["cells"].get(cell.id, {}).get("images", [])]
            if shown_alts != alts:
                problems.append(f"cell {cell.id}: the figures' alt texts on the page are {shown_alts}, stored {alts}")

    maths = [m for cell in nb.cells if cell.cell_type == "markdown" for m in MATHS.findall(cell.source)]
    if maths:
        raw = [m for m in maths if squash(m) in squash(shown["markdownText"])]
        if not shown["mathjax"] or not shown["typeset"]:
            problems.append(f"MathJax did not load or did not finish (loaded: {shown['mathjax']}, "
                            f"finished: {shown['typeset']})")
        if raw:
            problems.append(f"{len(raw)} of {len(maths)} formulas left as LaTeX, e.g. {raw[:3]}")
        if shown["mathScripts"] < len(maths):
            problems.append(f"MathJax typeset {shown['mathScripts']} formulas of {len(maths)}")
        if shown["mathErrors"]:
            problems.append(f"MathJax reported {shown['mathErrors']} errors")
        if shown["brokenFonts"]:
            problems.append(f"fonts that did not load: {shown['brokenFonts']}")

    assert not problems, f"{lesson.name} exported to HTML:\n- " + "\n- ".join(problems)
