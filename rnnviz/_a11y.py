"""What ipywidgets and ipympl leave out for keyboard and screen-reader users, added in the page.

ipywidgets 8 gives a slider's handle (``role="slider"``) no accessible name and draws Play's buttons as
icons without text; ipympl's canvas takes keyboard focus and then swallows every key, Tab included (a
keyboard trap), and has no text alternative; a slider's handle and a text box show no focus ring. None of
that can be set from Python, so an explorer or a quiz carries one small :func:`page_fixes` HTML widget
that, in the page, names the handles and buttons after their labels, takes the canvas out of the Tab
order and gives it the figure's alt text (``role="img"``), and styles the focus of every control.

The script runs from an ``<img>`` whose ``onerror`` fires at once (ipywidgets' HTML widget sets its
``innerHTML``, where a ``<script>`` would not run), in JupyterLab and in Voilà alike, and keeps the
names right with a ``MutationObserver`` as the widgets redraw.
"""

from __future__ import annotations

import html

#: A visible focus ring on every control of an explorer or a quiz (2 px; #0b57d0 is 6.4:1 on white). The text
#: boxes' selector outweighs ipywidgets' own ``.widget-text input[type=number] {outline: none !important}``.
FOCUS_CSS = (
    ".rnnviz-explorer :focus-visible, .rnnviz-quiz :focus-visible, .rnnviz-explorer .noUi-handle:focus,"
    " .rnnviz-explorer .widget-text input:focus, .rnnviz-quiz .widget-text input:focus"
    " { outline: 2px solid #0b57d0 !important; outline-offset: 1px; }"
)

#: Run once per explorer or quiz (its root element), then again after each redraw of its parts.
_SCRIPT = """(function (img) {
  var root = img.closest('.rnnviz-explorer, .rnnviz-quiz');
  if (!root) return;
  var set = function (el, name, value) { if (el.getAttribute(name) !== value) el.setAttribute(name, value); };
  var fix = function () {
    root.querySelectorAll('.widget-slider').forEach(function (slider) {
      var label = slider.querySelector('.widget-label'), handle = slider.querySelector('.noUi-handle');
      if (label && handle) set(handle, 'aria-label', label.textContent.trim());
    });
    root.querySelectorAll('.widget-play').forEach(function (play) {
      play.querySelectorAll(':scope > button').forEach(function (button, i) {
        var name = ['Play', 'Stop', 'Repeat'][i] || 'Play control';
        if (i === 0 && button.querySelector('.fa-pause')) name = 'Pause';
        set(button, 'aria-label', name);
      });
    });
    root.querySelectorAll('.rnnviz-figure [tabindex]').forEach(function (el) { set(el, 'tabindex', '-1'); });
    var alt = root.querySelector('.rnnviz-alt');
    root.querySelectorAll('.rnnviz-figure .jupyter-matplotlib-canvas-container, .rnnviz-figure img').forEach(
      function (picture) {
        if (picture.tagName !== 'IMG') set(picture, 'role', 'img');
        if (alt) set(picture, picture.tagName === 'IMG' ? 'alt' : 'aria-label', alt.textContent);
      });
  };
  fix();
  if (!root.rnnvizA11y) {
    root.rnnvizA11y = new MutationObserver(fix);
    root.rnnvizA11y.observe(root, {subtree: true, childList: true, characterData: true, attributes: true,
                                   attributeFilter: ['class', 'tabindex']});
  }
})(this)"""


def page_fixes(alt: str = "") -> str:
    """The HTML for a widget inside an explorer or a quiz: the focus style, the script, and ``alt``, the text
    alternative of the figure it shows (an explorer; ``""`` for a quiz). Nothing in it is visible."""
    return (
        f"<style>{FOCUS_CSS}</style>"
        f'<span class="rnnviz-alt" hidden>{html.escape(alt)}</span>'
        f'<img alt="" hidden src="data:," onerror="{html.escape(_SCRIPT)}">'
    )
