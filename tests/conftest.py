"""Shared test set-up: quiet, deterministic TensorFlow before anything imports it, and the Keras backend named in
the run's header (the unit tests also run with KERAS_BACKEND=jax)."""

import os
import sys
from pathlib import Path

import pytest

# The nbval kernels inherit these, so the notebooks run quietly and deterministically too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import rnnviz  # noqa: E402,F401  (imports Keras with TensorFlow's start-up lines suppressed)


def pytest_report_header(config):
    """Which Keras backend this run tests (KERAS_BACKEND=jax for the JAX pass; tests/test_backends.py checks it)."""
    keras = sys.modules["keras"]
    return f"keras {keras.__version__}, backend: {keras.backend.backend()}"


sys.path.insert(0, str(Path(__file__).parent / "browser"))
import browser_harness as bh  # noqa: E402


@pytest.fixture(scope="module")
def chromium_context():
    """One headless Chromium (Debian's) for a test module: its browser context, 30 s default timeout.

    Skips, saying how to get them, without Chromium or Playwright.
    """
    if bh.chromium_path() is None:
        pytest.skip(bh.HOW_TO_ENABLE)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser tests")
    with sync_api.sync_playwright() as playwright, bh.chromium(playwright) as first_page:
        first_page.context.set_default_timeout(30_000)
        yield first_page.context
