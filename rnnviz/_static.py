"""Static copies of the live widgets, for notebook viewers that have no kernel.

An explorer or a quiz is displayed as an ipywidget (``application/vnd.jupyter.widget-view+json``),
which only a running kernel can draw. :func:`bundle` puts a static copy of what it shows beside the
widget's view, in the same output:

* ``text/html``: an explorer's figure (a PNG with alt text) and its Keras code; a quiz's question
  and its choices;
* ``image/png``: the explorer's figure alone;
* ``text/plain``: the same words as plain text.

A live kernel shows the widget. The stored lessons keep only the static copy (see
``keep_static_copies`` in ``scripts/execute_notebooks.py``), so GitHub, nbviewer,
``jupyter nbconvert --to html`` and JupyterLab before the notebook runs show the picture and the
question; running the cell brings the live widget back.
"""

from __future__ import annotations

import base64
import html

#: The mime type of a live widget's view.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_RUN_EXPLORER = "A picture of the explorer: run this cell in Jupyter to flip the flags and change the sizes."
_RUN_QUIZ = "A quiz: run this cell in Jupyter to answer it and check your answer."


def bundle(widget_bundle: dict | None, text: str, html_body: str, png: bytes | None = None) -> dict | None:
    """``widget_bundle`` (a widget's ``_repr_mimebundle_``) with the static copy added.

    ``text`` becomes ``text/plain``, ``html_body`` ``text/html``, and ``png`` (PNG bytes) ``image/png``.
    Returns ``None`` when the widget has no bundle (it cannot be displayed).
    """
    if widget_bundle is None:
        return None
    out = dict(widget_bundle)
    out["text/plain"] = text
    out["text/html"] = html_body
    if png is not None:
        out["image/png"] = base64.b64encode(png).decode("ascii")
    return out


def explorer_html(code: str, png: bytes, alt: str) -> str:
    """The explorer as a page shows it without a kernel: the figure ``png`` (PNG bytes) with its ``alt``
    text, then the Keras code ``code`` (in a box that scrolls when it is long, as in the widget)."""
    return (
        '<div class="rnnviz-static rnnviz-static-explorer">\n'
        f"<p><i>{html.escape(_RUN_EXPLORER)}</i></p>\n"
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="{html.escape(alt)}" style="max-width:100%; height:auto">\n'
        # a box that scrolls takes keyboard focus, so that it can be scrolled without a mouse
        f'<pre tabindex="0" style="max-height:380px; overflow:auto"><code>{html.escape(code)}</code></pre>\n'
        "</div>"
    )


def quiz_html(question: str, choices: list[str], code: str | None = None) -> str:
    """A quiz as a page shows it without a kernel: ``question`` in bold, its ``choices`` as a list,
    and (for a shape quiz) the Keras line ``code`` it starts from."""
    items = "".join(f"<li>{html.escape(c)}</li>" for c in choices)
    start = f"<pre><code>{html.escape(code)}</code></pre>\n" if code else ""
    return (
        '<div class="rnnviz-static rnnviz-static-quiz">\n'
        f"<p><b>{html.escape(question)}</b></p>\n"
        f"<ul>{items}</ul>\n"
        f"{start}"
        f"<p><i>{html.escape(_RUN_QUIZ)}</i></p>\n"
        "</div>"
    )


def quiz_text(question: str, choices: list[str], code: str | None = None) -> str:
    """The plain-text form of :func:`quiz_html`: the question, then one choice a line."""
    lines = [question] + [f"  ({i}) {c}" for i, c in enumerate(choices)]
    if code:
        lines.append(code)
    return "\n".join(lines)
