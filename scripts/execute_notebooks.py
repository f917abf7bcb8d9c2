"""Re-run lessons top to bottom in fresh kernels and store them with their outputs.

    python scripts/execute_notebooks.py                     # every notebook in notebooks/
    python scripts/execute_notebooks.py notebooks/03_*.ipynb

Run it after changing a lesson or anything its outputs depend on, then check with
`pytest notebooks/` (twice: the second run must give the same outputs). Consecutive
stream outputs are merged, so the stored notebook does not depend on how the kernel
happened to flush its output, and no timestamps are stored. Cells tagged ``raises-exception`` may fail on purpose.
An explorer or quiz is stored as its static copy (picture, question), not as a live widget: see
``keep_static_copies``.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def merge_streams(outputs: list) -> list:
    merged = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if out.output_type == "stream" and prev is not None and prev.output_type == "stream" and prev.name == out.name:
            prev.text += out.text
        else:
            merged.append(out)
    return merged


#: A live widget's view: only a running kernel can draw it.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: What every notebook viewer can show without a kernel.
STATIC = ("text/html", "image/png")


def keep_static_copies(nb) -> int:
    """Store the static copy of each widget that has one (rnnviz's explorers and quizzes), not its live view.

    Each such output carries a widget view and a static copy (``text/html``, ``image/png``). Viewers
    without a kernel choose the view whenever it is there (nbconvert and nbviewer when its state is
    stored in ``metadata.widgets``, JupyterLab for a trusted notebook) and then show nothing, or a
    dead copy of the controls. Without the view they all show the picture and the question; running
    the cell displays the live widget again. The stored widget state goes too once no view needs it.
    Returns how many views were dropped.
    """
    dropped, views_left = 0, False
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and any(kind in data for kind in STATIC):
                del data[WIDGET_VIEW]
                dropped += 1
            views_left = views_left or WIDGET_VIEW in data
    if not views_left:
        nb.metadata.pop("widgets", None)
    return dropped


def execute(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps: they would change every run
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    keep_static_copies(nb)
    nbformat.write(nb, path)
    print(f"executed {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        execute(p)
