"""Accessibility in a real browser: axe-core on the Voilà dashboard and on a lesson in JupyterLab, and the
explorer and a quiz driven by the keyboard alone.

axe-core (bundled by the ``axe-playwright-python`` package) runs every rule it has, colour contrast included,
on the whole page once the cells have run and the quizzes show a verdict. A critical or serious violation
fails the test unless :data:`ALLOWED` lists it: markup that JupyterLab or Voilà draw themselves, each entry
scoped by the element's selector (never by rule alone) and never matching inside an rnnviz widget
(``[class*=rnnviz-]``).

The keyboard test reaches ``return_state`` with Tab from the top of the dashboard, flips it with Space and
sees the Keras code and the figure change; then tabs on to a multiple-choice quiz, picks answers with Space,
checks them with Enter and reads the verdicts. Every control it lands on must show a focus ring.

The servers and pages come from ``tests/browser/browser_harness.py``, one of each per module.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))
import browser_harness as bh  # noqa: E402

pytestmark = pytest.mark.browser

PLAYGROUND = "07_playground.ipynb"
LESSON = "03_both_flags.ipynb"  # an explorer, a multiple-choice quiz and a shape quiz, in JupyterLab
FAILING_IMPACTS = ("critical", "serious")
RIGHT, NOT_YET = "\u2713 Right!", "\u2717 Not yet:"


@dataclass(frozen=True)
class Allowed:
    """A violation of ``rule`` on an element matching ``selector`` is JupyterLab's or Voilà's, for ``reason``."""

    rule: str
    selector: str
    reason: str


ALLOWED = [
    Allowed("aria-allowed-attr", "jp-button.jp-ToolbarButtonComponent",
            "JupyterLab's toolbar buttons (file browser, notebook toolbar: Voilà preview, debugger) set aria-pressed "
            "on jp-button, a custom element axe does not take for a button"),
    Allowed("aria-input-field-name", ".jp-InputArea-editor .cm-content",
            "JupyterLab's code-cell editors: CodeMirror's contenteditable (role=textbox) has no accessible name"),
    Allowed("aria-required-children", ".jp-WindowedPanel-viewport[role=feed]",
            "JupyterLab's notebook viewport is role=feed, and its cells are not role=article"),
    Allowed("scrollable-region-focusable", ".jp-InputArea-editor .cm-scroller",
            "CodeMirror's scroller in JupyterLab's code cells (tabindex=-1); the editor inside it takes the focus"),
]
# No image-alt entry: rnnviz's figures also carry an <img alt=...> as text/html, which JupyterLab and Voilà render
# before the bare PNG (whose renderer drops the metadata's alt), so every figure must pass axe's image-alt rule.

#: For each flagged element: the rnnviz class it sits in (if any) and the lesson cell it belongs to.
WHERE_JS = """(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const mine = el.closest('[class*="rnnviz-"]');
  const cell = el.closest('.jp-Cell');
  let index = null;
  if (cell && cell.dataset.windowedListIndex !== undefined) index = Number(cell.dataset.windowedListIndex);
  else if (cell) index = [...document.querySelectorAll('.jp-Cell')].indexOf(cell);
  return {mine: mine ? [...mine.classList].filter((c) => c.startsWith('rnnviz-')).join(' ') : '',
          cellId: cell && cell.id ? cell.id.replace(/^cell-id=/, '') : null, cellIndex: index};
}"""


def audit(page, notebook: str) -> tuple[list[str], list[str]]:
    """Run axe-core on the whole page: ``(failures, allowed)``, one readable line per element."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright",
                              reason="pip install axe-playwright-python to run the accessibility audit")
    results = axe.Axe().run(page, options={"resultTypes": ["violations"]}).response
    checked = {r["id"] for kind in ("violations", "passes", "incomplete", "inapplicable") for r in results[kind]}
    assert "color-contrast" in checked, "axe did not run its color-contrast rule"
    failures, allowed = [], []
    for violation in results["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        for node in violation["nodes"]:
            target = node["target"][-1] if isinstance(node["target"][-1], str) else node["target"][-1][-1]
            where = page.evaluate(WHERE_JS, target) or {"mine": "", "cellId": None, "cellIndex": None}
            line = (f"{violation['id']} ({violation['impact']}) on {shorten(target)}"
                    f"{' in ' + where['mine'] if where['mine'] else ''}: {violation['help']} "
                    f"[{violation['helpUrl']}]\n    {node['html'][:200]}")
            reason = None if where["mine"] else allowed_reason(page, violation["id"], target, notebook, where)
            (allowed if reason else failures).append(f"{line}\n    allowed: {reason}" if reason else line)
    return failures, allowed


def shorten(selector: str, keep: int = 110) -> str:
    """The end of a long CSS selector: the element itself, not the page's whole nesting."""
    return selector if len(selector) <= keep else "\u2026" + selector[-keep:]


def allowed_reason(page, rule: str, target: str, notebook: str, where: dict) -> str | None:
    for entry in ALLOWED:
        if entry.rule != rule or not page.evaluate(
                "([t, s]) => { const e = document.querySelector(t); return !!e && e.matches(s); }",
                [target, entry.selector]):
            continue
        return entry.reason
    return None


def check_audit(page, notebook: str) -> None:
    failures, allowed = audit(page, notebook)
    print(f"{len(allowed)} violations allowed (JupyterLab's or Voilà's own markup):\n" + "\n".join(allowed))
    assert not failures, (f"{len(failures)} critical or serious accessibility violations outside JupyterLab's "
                          "and Voilà's own markup:\n" + "\n".join(failures))


def show_verdicts(page) -> None:
    """Give every quiz on the page a verdict (right, not yet, or the answer) so that axe checks their colours."""
    for i, quiz in enumerate(page.locator(".rnnviz-multiple-choice").all()):
        quiz.locator("input[type=radio]").nth(i % 2).check()
        quiz.locator("button.rnnviz-check").click()
    for quiz in page.locator(".rnnviz-shape-quiz").all():
        quiz.get_by_role("button", name="Show answer").click()
    page.wait_for_function("() => [...document.querySelectorAll('.rnnviz-verdict')].every((v) => v.innerText.trim())",
                           timeout=10_000)


# --- servers, pages -----------------------------------------------------------------------------

def diagnosed(page, server, name: str):
    """On a failure, add a screenshot path, the page's text and the server's log to the message."""
    return bh.diagnosed(page, server, f"a11y-{name}")


@pytest.fixture(scope="module")
def voila(chromium_context):
    """The playground as a Voilà dashboard: ``(page, server)``."""
    with bh.opened_in_voila(chromium_context, PLAYGROUND, name="a11y-voila") as opened:
        yield opened


def test_voila_dashboard_has_no_serious_violation(voila):
    page, server = voila
    with diagnosed(page, server, "voila"):
        show_verdicts(page)
        check_audit(page, PLAYGROUND)


@pytest.fixture(scope="module")
def lab(chromium_context):
    """Lesson 3 open in JupyterLab, every cell run: ``(page, server)``."""
    with bh.opened_in_lab(chromium_context, LESSON, name="a11y-jupyterlab") as opened:
        yield opened


def test_jupyterlab_lesson_with_explorer_and_quizzes_has_no_serious_violation(lab):
    page, server = lab
    with diagnosed(page, server, "jupyterlab"):
        show_verdicts(page)
        check_audit(page, LESSON)


# --- the keyboard alone -------------------------------------------------------------------------

#: The focused element: where it is (the rnnviz part it sits in), its text, and whether a focus ring shows.
FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
  const part = e.closest('[class*="rnnviz-"]');
  return {part: part ? [...part.classList].filter((c) => c.startsWith('rnnviz-')).join(' ') : '',
          quiz: !!e.closest('.rnnviz-quiz'), text: (e.innerText || e.value || '').trim(),
          label: (e.closest('label') || {}).innerText || '', tag: e.tagName, ring,
          outline: `${s.outlineStyle} ${s.outlineWidth}`, shadow: s.boxShadow};
}"""


def tab_to(page, wanted, what: str, key: str = "Tab", limit: int = 120) -> dict:
    """Press ``key`` until the focused element satisfies ``wanted``; every stop on the way must show its focus."""
    path = []
    for _ in range(limit):
        page.keyboard.press(key)
        focused = page.evaluate(FOCUSED_JS)
        if focused is None:
            continue
        path.append(f"{focused['tag']} {focused['part']} {focused['text'][:20]!r}")
        if focused["part"]:
            assert focused["ring"], (f"no visible focus on {path[-1]} (outline {focused['outline']}, "
                                     f"box-shadow {focused['shadow']})")
        if wanted(focused):
            return focused
    raise AssertionError(f"{key} did not reach {what} in {limit} presses; focus went:\n" + "\n".join(path[-25:]))


def flag_on(page, name: str) -> bool:
    return bh.flag_is_on(page, name)


#: The live canvas's text alternative (role="img" with an aria-label), or the static image's alt.
FIGURE_ALT_JS = """(figure) => {
  const picture = figure.querySelector('.jupyter-matplotlib-canvas-container[role=img], img');
  return picture ? (picture.getAttribute('aria-label') || picture.getAttribute('alt') || '') : '';
}"""


def figure_alt(page) -> str:
    return bh.figure(page).evaluate(FIGURE_ALT_JS)


def wait_for_new_alt(page, before: str, timeout: float = 10) -> str:
    """Wait (bounded) until the figure's text alternative is there and differs from ``before``; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alt = figure_alt(page)
        if alt and alt != before:
            return alt
        time.sleep(0.05)
    raise AssertionError(f"the figure's text alternative did not change from {before!r}")


def test_voila_explorer_and_quiz_by_keyboard_alone(voila):
    page, server = voila
    with diagnosed(page, server, "voila-keyboard"):
        page.mouse.move(0, 0)
        page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
        was_on = flag_on(page, "return_state")
        target = "False" if was_on else "True"
        tab_to(page, lambda f: "rnnviz-return-state" in f["part"] and f["text"] == target,
               f"return_state's {target} button")
        code, figure, alt = bh.code_text(page), bh.figure_signature(page), figure_alt(page)
        page.keyboard.press("Space")
        bh.wait_for_figure_change(page, figure)
        new_alt = wait_for_new_alt(page, alt)
        assert ("state_h" in new_alt) == (not was_on), f"the figure's alt text does not follow return_state: {new_alt!r}"
        assert flag_on(page, "return_state") != was_on, "Space on return_state's button did not flip it"
        new_code = bh.code_text(page)
        assert new_code != code, f"the Keras code did not change with return_state:\n{new_code}"
        assert ("return_state=True" in new_code) == (not was_on) and ("state_h" in new_code) == (not was_on), (
            f"with return_state={not was_on} the code box shows:\n{new_code}")

        quiz = page.locator(".rnnviz-multiple-choice").first
        options = [text.strip() for text in quiz.locator(".widget-radio-box label").all_inner_texts()]
        right = "output and state_h"
        assert right in options, f"the first quiz of {PLAYGROUND} changed: {options}"
        wrong = next(o for o in options if o != right)
        verdicts = {}
        for answer in (wrong, right):
            key = "Tab" if not verdicts else "Shift+Tab"
            tab_to(page, lambda f, a=answer: f["quiz"] and f["tag"] == "INPUT" and f["label"].strip() == a,
                   f"the quiz's answer {answer!r}", key=key)
            verdict = quiz.locator(".rnnviz-verdict")
            before = verdict.inner_text().strip()
            page.keyboard.press("Space")
            tab_to(page, lambda f: f["quiz"] and f["text"] == "Check", "the quiz's Check button")
            page.keyboard.press("Enter")
            deadline = time.monotonic() + 10
            while verdict.inner_text().strip() in ("", before) and time.monotonic() < deadline:
                time.sleep(0.05)
            verdicts[answer] = verdict.inner_text().strip()
        assert verdicts[wrong].startswith(NOT_YET), f"a wrong answer should say {NOT_YET!r}: {verdicts[wrong]!r}"
        assert verdicts[right].startswith(RIGHT), f"the right answer should say {RIGHT!r}: {verdicts[right]!r}"
