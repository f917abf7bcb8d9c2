"""The summary table: cell type x flags -> what Keras returns, with shapes.

Nothing here is typed by hand: every row comes from tracing a real Keras layer
with :func:`rnnviz.trace` and reading :meth:`Trace.returns` for each pair of flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from ._quiet import import_keras
from .trace import SUPPORTED_KINDS, trace

__all__ = ["ReturnsTable", "returns_table"]

CELLS = SUPPORTED_KINDS
FLAGS = ((False, False), (True, False), (False, True), (True, True))


@dataclass(frozen=True)
class ReturnsTable:
    """One row per (layer, return_sequences, return_state).

    * ``sizes``: ``{"batch", "timesteps", "features", "units"}`` used for the input and layer.
    * ``rows``: tuples ``(layer, return_sequences, return_state, [(name, shape), ...])``,
      the names and shapes in the order Keras returns them.
    """

    sizes: dict
    rows: tuple

    def lookup(self, layer: str, return_sequences: bool, return_state: bool) -> list[tuple[str, tuple[int, ...]]]:
        """The ``(name, shape)`` pairs of one row, e.g. ``lookup("LSTM", False, True)``."""
        for name, seq, state, pairs in self.rows:
            if (name, seq, state) == (layer, return_sequences, return_state):
                return list(pairs)
        known = sorted({r[0] for r in self.rows})
        raise ValueError(
            f"layer: expected one of {known} with two bool flags, got {layer!r}, {return_sequences!r}, "
            f"{return_state!r}."
        )

    def _caption(self) -> str:
        s = self.sizes
        return (
            f"What Keras returns for x of shape ({s['batch']}, {s['timesteps']}, {s['features']}) "
            f"(batch, timesteps, features) and units={s['units']}"
        )

    def __repr__(self) -> str:
        head = ("layer", "return_sequences", "return_state", "tensors", "what comes back")
        body = [
            (name, str(seq), str(state), str(len(pairs)), ", ".join(f"{n} {s}" for n, s in pairs))
            for name, seq, state, pairs in self.rows
        ]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [self._caption(), fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r).rstrip() for r in body]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            "<tr>"
            f"<td style='text-align:left'><code>{name}</code></td><td>{seq}</td><td>{state}</td><td>{len(pairs)}</td>"
            "<td style='text-align:left'>" + ", ".join(f"<code>{n}</code> {s}" for n, s in pairs) + "</td></tr>"
            for name, seq, state, pairs in self.rows
        )
        return (
            f"<table><caption>{self._caption()}</caption>"
            "<tr><th>layer</th><th>return_sequences</th><th>return_state</th><th>tensors</th>"
            f"<th style='text-align:left'>what comes back (shape)</th></tr>{cells}</table>"
        )


def returns_table(
    units: int = 2,
    timesteps: int = 3,
    features: int = 1,
    batch: int = 1,
    cells=CELLS,
    bidirectional: bool = False,
) -> ReturnsTable:
    """Trace one small layer of each kind and tabulate what each pair of flags returns.

    ``units``, ``timesteps``, ``features``, ``batch``: whole numbers from 1 to 64; the input is
    ``(batch, timesteps, features)``. ``cells``: any of ``"LSTM"``, ``"GRU"``, ``"SimpleRNN"``.
    ``bidirectional=True`` adds a ``Bidirectional(...)`` row group after each cell.
    Returns a :class:`ReturnsTable` that prints as text and shows as HTML in Jupyter.
    """
    sizes = {
        "batch": _checks.integer(batch, "batch", 1, 64),
        "timesteps": _checks.integer(timesteps, "timesteps", 1, 64),
        "features": _checks.integer(features, "features", 1, 64),
        "units": _checks.integer(units, "units", 1, 64),
    }
    if isinstance(cells, str):
        cells = (cells,)
    cells = [_checks.choice(c, "cells", CELLS) for c in cells]
    bidirectional = _checks.flag(bidirectional, "bidirectional")
    keras = import_keras()
    x = np.zeros((sizes["batch"], sizes["timesteps"], sizes["features"]), np.float32)
    rows = []
    for kind in cells:
        variants = [(kind, getattr(keras.layers, kind)(sizes["units"]))]
        if bidirectional:
            variants.append(
                (f"Bidirectional({kind})", keras.layers.Bidirectional(getattr(keras.layers, kind)(sizes["units"])))
            )
        for label, layer in variants:
            tr = trace(layer, x)
            for seq, state in FLAGS:
                pairs = tuple((n, tuple(int(d) for d in a.shape)) for n, a in tr.returns(seq, state))
                rows.append((label, seq, state, pairs))
    return ReturnsTable(sizes, tuple(rows))
