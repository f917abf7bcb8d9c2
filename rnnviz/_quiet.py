"""Import Keras without TensorFlow's start-up chatter.

TensorFlow's C++ runtime writes lines such as "Could not find cuda drivers" and
"failed call to cuInit" straight to file descriptor 2 while it loads and while it
first looks for devices. ``TF_CPP_MIN_LOG_LEVEL`` does not silence all of them
(they are written before its logging is set up), and a Jupyter kernel copies
that descriptor into the notebook. This module sets the usual variables and, for
the few seconds of the import, points descriptor 2 at the null device. Under another Keras backend
(``KERAS_BACKEND=jax``) TensorFlow is not imported at all.
Python exceptions are unaffected: they are raised as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@contextlib.contextmanager
def _silenced_fd2():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor (some embedded shells)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras():
    """Import and return ``keras`` with TensorFlow's start-up log lines suppressed.

    TensorFlow is imported only when it is Keras's backend: under ``KERAS_BACKEND=jax`` (or ``torch``) rnnviz
    runs on that backend alone.
    """
    keras = sys.modules.get("keras")
    if keras is not None and (keras.backend.backend() != "tensorflow" or "tensorflow" in sys.modules):
        return keras
    with _silenced_fd2():
        import keras

    if os.environ.get(DEFER_FIRST_OP) != "1":
        first_op()
    return keras


#: Set to "1" to import without running TensorFlow's first op: for a process that will ``fork()`` kernels
#: (rnnviz-classroom's zygote). The first op starts TensorFlow's thread pools, and a forked child has none of its
#: parent's threads, so a child would wait forever for them (``model.predict`` hangs). Each child then calls
#: :func:`first_op` itself.
DEFER_FIRST_OP = "RNNVIZ_DEFER_FIRST_OP"


def first_op() -> None:
    """Run TensorFlow's first op (when TensorFlow is Keras's backend) with descriptor 2 silenced: it probes for
    devices, and that is what prints "cuInit"."""
    keras = sys.modules.get("keras")
    if keras is None or keras.backend.backend() != "tensorflow":
        return
    with _silenced_fd2():
        import tensorflow as tf

        tf.zeros(1).numpy()
