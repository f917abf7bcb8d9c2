"""Blitting: draw a figure once without the artists that change, then paste those pixels and draw only them.

:class:`~rnnviz.plot.StatesView`, :class:`~rnnviz.unrolled.StepPictures` and
:class:`~rnnviz.cell_diagram.CellPictures` redraw a few artists many times over a picture that stays.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg


def background_without(figure, artists) -> object:
    """Draw ``figure`` with ``artists`` hidden and return its pixels (a canvas region for :func:`paste_and_draw`).

    The artists' visibility is put back afterwards. A live (ipympl) canvas is drawn with Agg's own ``draw``, so
    this half-finished picture is never sent to a page.
    """
    canvas = figure.canvas
    shown = [artist.get_visible() for artist in artists]
    for artist in artists:
        artist.set_visible(False)
    FigureCanvasAgg.draw(canvas) if isinstance(canvas, FigureCanvasAgg) else canvas.draw()
    for artist, visible in zip(artists, shown, strict=True):
        artist.set_visible(visible)
    return canvas.copy_from_bbox(figure.bbox)


def paste_and_draw(figure, region, artists) -> None:
    """Put ``region`` (from :func:`background_without` or ``copy_from_bbox``) back and draw ``artists`` over it."""
    figure.canvas.restore_region(region)
    for artist in artists:
        figure.draw_artist(artist)


def fit_dpi(figure, fit: tuple[int, int]) -> None:
    """Set ``figure``'s resolution so that it is as large as fits in ``fit`` = ``(width, height)`` pixels."""
    width, height = figure.get_size_inches()
    figure.set_dpi(min(fit[0] / width, fit[1] / height))
