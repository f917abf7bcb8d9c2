"""Build the lessons as static HTML pages that work offline: pictures, questions and maths, no CDN.

    python scripts/export_html.py                           # every lesson -> build/html/
    python scripts/export_html.py notebooks/05_*.ipynb --out /tmp/lessons

Each page is nbconvert's JupyterLab-style page with three changes, because its defaults load
scripts from CDNs, which an offline page (or a classroom without internet) cannot reach:

* MathJax comes from a folder beside the pages, ``mathjax/``, copied from the PyPI package
  ``jupyter-server-mathjax`` (MathJax 2.7 with its STIX-Web fonts);
* no require.js, no Jupyter widgets manager, no mermaid: a stored lesson has no live widget
  (each explorer and quiz is stored as its static copy: a picture, a question), and no diagram;
* links between lessons point to the exported pages (``01_return_sequences.html``), not the notebooks.

An ``index.html`` lists the lessons. The pages show the outputs stored in the notebooks, so
re-run the lessons (``scripts/execute_notebooks.py``) first when they are stale.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import keep_static_copies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "html"
MATHJAX_DIR = "mathjax"  # beside the pages
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"

#: nbconvert's "lab" page without the CDN scripts, and with MathJax set up for the fonts the package ships.
TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  displayAlign: "center",
  messageStyle: "none",
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               linebreaks: {automatic: true}}
});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
{#- A figure's text alternative (its output's "alt" metadata, see rnnviz.plot.StatesFigure) on its <img>: the lab
    template leaves it out, and nbconvert then writes "No description has been provided for this image". -#}
{%- block data_png scoped -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
{%- set alt = output | get_metadata('alt', 'image/png') %}
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
{%- if alt %} alt="{{ alt | escape_html }}"{% endif %}>
</div>
{%- endblock data_png -%}
"""


def mathjax_source() -> Path:
    """The MathJax folder that the PyPI package ``jupyter-server-mathjax`` installs."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise SystemExit(
            "export_html: MathJax is missing. Install it with `pip install jupyter-server-mathjax` "
            "(it is in rnnviz's test extra: `pip install -e .[test]`)."
        ) from None
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def make_exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"rnnviz_offline.html.j2": TEMPLATE})],
        template_file="rnnviz_offline.html.j2",
        mathjax_url=MATHJAX_URL,
    )


def link_pages(page: str) -> str:
    """Point relative links to lessons (``02_return_state.ipynb#Sources``) at their pages (``.html``)."""
    return re.sub(r'href="(?![a-zA-Z][a-zA-Z0-9+.-]*:)([^"#?]+)\.ipynb(#[^"]*)?"',
                  lambda m: f'href="{m[1]}.html{m[2] or ""}"', page)


def title(nb) -> str:
    """The lesson's first heading, or an empty string."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, flags=re.M)
            if match:
                return match[1].strip()
    return ""


def export(notebooks: list[Path], out: Path = OUT) -> list[Path]:
    """Write one page per notebook into ``out`` (created), with ``mathjax/`` and ``index.html``; returns the pages."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(mathjax_source(), out / MATHJAX_DIR, dirs_exist_ok=True)
    exporter = make_exporter()
    pages, entries = [], []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        keep_static_copies(nb)  # a notebook saved with live widgets still exports its pictures
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}})
        page = out / f"{path.stem}.html"
        page.write_text(link_pages(body), encoding="utf-8")
        pages.append(page)
        entries.append(f'<li><a href="{page.name}">{html.escape(title(nb) or path.stem)}</a></li>')
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rnnviz lessons</title></head>\n"
        f"<body><h1>rnnviz lessons</h1>\n<ol>\n{chr(10).join(entries)}\n</ol></body></html>\n",
        encoding="utf-8",
    )
    return pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="lessons to export (default: every notebooks/*.ipynb)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the pages (default: {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for page in export(notebooks, args.out.resolve()):
        print(f"wrote {page}")


if __name__ == "__main__":
    main()
