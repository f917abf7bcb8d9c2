"""rnnviz: see what Keras recurrent layers return under return_sequences and return_state.

Importing rnnviz imports Keras quietly (TensorFlow's start-up log lines are
suppressed); import it before Keras in a notebook to keep the outputs clean.
"""

from ._quiet import import_keras as _import_keras

_import_keras()

from . import attention, cell_diagram, composite, conv_trace, gates, quiz, reference, snippet, unrolled  # noqa: E402
from .attention import plot_attention  # noqa: E402
from .cell_diagram import draw_cell  # noqa: E402
from .composite import draw_decoding_loop, draw_handover, draw_stacked  # noqa: E402
from .conv_plot import plot_conv_states  # noqa: E402
from .conv_trace import ConvTrace  # noqa: E402
from .explorer import Explorer, explore  # noqa: E402
from .gates import plot_gates  # noqa: E402
from .plot import plot_states  # noqa: E402
from .table import ReturnsTable, returns_table  # noqa: E402
from .trace import BidirectionalTrace, StackedTrace, Trace, trace  # noqa: E402
from .unrolled import draw_unrolled  # noqa: E402

__all__ = [
    "BidirectionalTrace", "ConvTrace", "Explorer", "ReturnsTable", "StackedTrace", "Trace",
    "attention", "cell_diagram", "composite", "conv_trace", "draw_cell", "draw_decoding_loop", "draw_handover", "draw_stacked",
    "draw_unrolled",
    "explore", "gates", "plot_attention", "plot_conv_states", "plot_gates", "plot_states", "quiz",
    "reference", "returns_table", "snippet", "trace", "unrolled",
]
__version__ = "0.1.0"
