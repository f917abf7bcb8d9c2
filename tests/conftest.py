"""Shared test set-up: quiet, deterministic TensorFlow before anything imports it."""

import os

# The nbval kernels inherit these, so the notebooks run quietly and deterministically too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import rnnviz  # noqa: E402,F401  (imports Keras with TensorFlow's start-up lines suppressed)
