"""Draw where an attention decoder looked: one row per output step, one column per source step.

``keras.layers.Attention`` (and ``AdditiveAttention``) called with
``return_attention_scores=True`` hands back, beside the context, the *weights* it gave every
source step: a softmax over the encoder's timesteps, so each output step's weights add up to 1.
:func:`plot_attention` draws them as a grid. The largest weight of each row is framed, and its
value is written in its square, so the picture does not rely on colour alone.

The encoder whose sequence attention reads is the point of the lesson: it needs
``return_sequences=True`` (the sequence attention reads, one column per timestep) and
``return_state=True`` (the states that start the decoder) at once.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import _checks
from .plot import StatesFigure

__all__ = ["plot_attention"]

_CELL = 0.62  # inches per square of the grid
_TEXT = {"title": 14, "label": 12, "tick": 11, "value": 10}
_CMAP = "Purples"


def plot_attention(weights, source=None, written=None, sample: int = 0) -> Figure:
    """Draw attention weights as a grid: rows are output steps, columns are source steps.

    * ``weights``: ``(batch, output steps, source steps)``, the weights an attention layer returns with
      ``return_attention_scores=True`` (for a decoder run one step at a time, stack each step's
      ``(batch, 1, source steps)`` along axis 1), or ``(output steps, source steps)`` for one sample.
      Every row must add up to 1.
    * ``source``: the symbols (or any labels) of the source steps, ``(batch, source steps)`` or
      ``(source steps,)``, written under the columns; ``None`` for step numbers only.
    * ``written``: what each output step wrote, ``(batch, output steps)`` or ``(output steps,)``, written
      beside the rows; ``None`` for step numbers only.
    * ``sample``: which sample of the batch to draw (``0`` to ``batch - 1``; ``-1`` is the last).

    Returns a :class:`matplotlib.figure.Figure` with one axes holding the grid as an image
    ``(output steps, source steps)``, a colour bar from 0 to 1, and ``figure.alt_text``, which
    says for every output step which source step it weighs most.
    """
    grid, batch = _weights(weights)
    sample = _checks.sample(sample, batch)
    outputs, sources = grid.shape[1:]
    source_labels = _labels(source, "source", batch, sources, "source steps", "the encoder's input")
    written_labels = _labels(written, "written", batch, outputs, "output steps", "what the decoder wrote")
    return _draw(grid[sample], sample, batch,
                 None if source_labels is None else source_labels[sample],
                 None if written_labels is None else written_labels[sample])


def _weights(value) -> tuple[np.ndarray, int]:
    """``(batch, output steps, source steps)`` float array of weights whose rows add up to 1, and the batch size."""
    if type(value).__name__ == "KerasTensor":
        raise TypeError("weights: expected concrete numbers, got a symbolic KerasTensor. Call the attention layer "
                        "on real data with return_attention_scores=True and pass what it returns.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"weights: expected an array of numbers (batch, output steps, source steps), got "
                        f"{type(value).__name__} that NumPy cannot read as one ({err}).") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(
            f"weights: expected a 3-D array (batch, output steps, source steps) or a 2-D one for one sample, got shape "
            f"{arr.shape}. A decoder run one step at a time returns (batch, 1, source steps) per step: stack them with "
            "np.concatenate(steps, axis=1)."
        )
    if not np.isfinite(arr).all():
        raise ValueError("weights: expected finite numbers, got NaN or infinity. Pass the weights the layer returned.")
    sums = arr.sum(axis=-1)
    if (arr < -1e-6).any() or not np.allclose(sums, 1, atol=1e-3):
        b, i = np.unravel_index(np.abs(sums - 1).argmax(), sums.shape)
        raise ValueError(
            f"weights: expected attention weights, each row >= 0 and adding up to 1 (a softmax over the source steps), "
            f"got a row (sample {b}, output step {i}) adding up to {sums[b, i]:.3g}. Pass the weights "
            "return_attention_scores=True gives, not the context or raw scores."
        )
    return arr, arr.shape[0]


def _labels(value, name: str, batch: int, steps: int, what: str, meaning: str) -> np.ndarray | None:
    """``(batch, steps)`` labels from ``value`` (``(batch, steps)`` or ``(steps,)``), ``None``, or raise."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (batch, *arr.shape))
    if arr.shape != (batch, steps):
        raise ValueError(f"{name}: expected {meaning}, one label per step: shape ({batch}, {steps}) "
                         f"(batch, {what}) or ({steps},), got shape {np.shape(value)}. Pass None to number the steps only.")
    return arr


def _text(label) -> str:
    value = label.item() if hasattr(label, "item") else label
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _draw(grid: np.ndarray, sample: int, batch: int, source, written) -> Figure:
    outputs, sources = grid.shape
    width = max(sources * _CELL + 3.2, 6.0)
    height = outputs * _CELL + 2.3
    fig = StatesFigure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap=_CMAP, vmin=0, vmax=1, aspect="equal")
    strongest = grid.argmax(axis=1)
    for i, j in enumerate(strongest):  # the largest weight of each row: framed, and its value written in
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#D55E00", lw=2.5))
        ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=_TEXT["value"],
                color="white" if grid[i, j] > 0.55 else "black")
    ax.set_xticks(range(sources), [f"{j}" if source is None else f"{j}\n{_text(source[j])}" for j in range(sources)],
                  fontsize=_TEXT["tick"])
    ax.set_yticks(range(outputs), [f"{i}" if written is None else f"{i}: {_text(written[i])}" for i in range(outputs)],
                  fontsize=_TEXT["tick"])
    ax.set_xlabel("source step" + ("" if source is None else " (top) and the symbol read there (below)"),
                  fontsize=_TEXT["label"])
    ax.set_ylabel("output step" + ("" if written is None else ": symbol written"), fontsize=_TEXT["label"])
    ax.set_title(f"Attention weights, sample {sample} of {batch}: each row adds up to 1; the largest is framed",
                 fontsize=_TEXT["title"], loc="left")
    bar = fig.colorbar(image, ax=ax, shrink=0.8, ticks=[0, 0.5, 1])
    bar.set_label("weight", fontsize=_TEXT["label"])
    fig.alt_text = _alt_text(strongest, sample, sources)
    return fig


def _alt_text(strongest: np.ndarray, sample: int, sources: int) -> str:
    looks = ", ".join(f"{i} at {j}" for i, j in enumerate(strongest))
    return (f"A grid of attention weights for sample {sample}: {len(strongest)} output steps (rows) by {sources} source "
            f"steps (columns), each row adding up to 1. The source step each output step weighs most: {looks}.")
