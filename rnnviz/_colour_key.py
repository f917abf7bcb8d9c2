"""A horizontal colour key drawn inside a diagram's own axes (no second axes, no Colorbar machinery).

The diagrams of :mod:`rnnviz.unrolled` and :mod:`rnnviz.cell_diagram` use one axes whose data
units are inches. A matplotlib colour bar adds an axes per key, and building and drawing an axes
costs more than the rest of a small diagram; the explorer redraws these diagrams as a learner
moves ``t``. This key is a gradient image, three tick marks, their labels and a title, placed in
the diagram's inches.
"""

from __future__ import annotations

import numpy as np

_STEPS = 256  # colours across the gradient


def colour_key(ax, box: tuple[float, float, float, float], cmap, norm, ticks, labels, title: str, fontsize: float,
               zorder: float = 8) -> list:
    """Draw a key for ``cmap`` over ``norm`` in ``box`` = ``(left, bottom, width, height)`` of ``ax``'s data units.

    The texts have the gids ``"key:tick"`` and ``"key:title"``.
    ``ticks``: values (in the norm's units) marked below the gradient, with ``labels`` (same length).
    The gradient runs evenly over ``norm``'s 0..1 range, as a colour bar does, so a value sits at
    ``norm(value)`` along it: a symmetric-log norm keeps its linear middle visible.
    Returns the tick labels' Text artists, in the order of ``ticks``.
    """
    left, bottom, width, height = box
    colours = cmap(np.linspace(0.0, 1.0, _STEPS))[None, :, :]  # (1, steps, 4)
    limits = ax.get_xlim(), ax.get_ylim()
    ax.imshow(colours, extent=(left, left + width, bottom, bottom + height), aspect="auto", interpolation="nearest",
              zorder=zorder)
    ax.set_xlim(*limits[0])  # imshow widens the limits to its extent: the diagram's inches stay as they were
    ax.set_ylim(*limits[1])
    ax.plot([left, left + width, left + width, left, left], [bottom, bottom, bottom + height, bottom + height, bottom],
            color="#555555", lw=0.6, zorder=zorder + 0.1)
    tick, texts = 0.06, []
    for value, label in zip(ticks, labels, strict=True):
        x = left + width * float(np.clip(norm(value), 0.0, 1.0))
        ax.plot([x, x], [bottom, bottom - tick], color="#333333", lw=0.8, zorder=zorder + 0.1)
        texts.append(ax.text(x, bottom - tick - 0.02, label, ha="center", va="top", fontsize=fontsize,
                             zorder=zorder + 0.1, gid="key:tick"))
    ax.text(left + width / 2, bottom + height + 0.05, title, ha="center", va="bottom", fontsize=fontsize,
            zorder=zorder + 0.1, gid="key:title")
    return texts
