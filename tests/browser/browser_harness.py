"""Start JupyterLab or Voilà on loopback, drive them in headless Chromium, read the explorer off the page.

Shared by ``tests/test_browser.py`` and ``benchmarks/bench_browser.py``. Every server runs in its
own process group on 127.0.0.1 with a random token, in a temporary root directory holding COPIES
of the notebooks, and is killed (the whole group) when its ``with`` block ends. Every wait has a
bound; on a timeout the caller gets the server's log and a page screenshot path in the message.

The page is read through CSS classes the explorer's widgets carry (``SELECTORS``); the baseline
notebook (``baseline.ipynb``, next to this file) carries the same ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN = Path(sys.executable).parent
BASELINE = HERE / "baseline.ipynb"

#: Chromium's flags for this closed network: without the background-networking ones its connections are refused.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Where the explorer's parts are on the page (CSS classes set with ``widget.add_class``).
SELECTORS = {
    "explorer": ".rnnviz-explorer",
    "return_sequences": ".rnnviz-return-sequences",
    "return_state": ".rnnviz-return-state",
    "figure": ".rnnviz-figure",
    "code": ".rnnviz-code",
}

HOW_TO_ENABLE = (
    "the browser tests need Debian's Chromium at /usr/bin/chromium: install it with "
    "`apt-get install chromium` (and `pip install playwright`; never `playwright install`)"
)


def chromium_path() -> str | None:
    """The Chromium executable to drive, or None when there is none."""
    for candidate in (os.environ.get("RNNVIZ_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_notebooks(root: Path, names: list[str]) -> None:
    """Copy ``notebooks/<name>`` (or this folder's baseline) into ``root``: the servers never see the repo."""
    for name in names:
        source = HERE / name if (HERE / name).exists() else REPO / "notebooks" / name
        shutil.copy(source, root / name)


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when the thread that started it ends


def _ends_with_its_parent() -> None:
    """In a new server process (Linux): be sent SIGTERM when the thread that started it ends (for the tests and
    benchmarks, their main thread: when they die). A server runs in its own session, so without this a killed pytest
    (a CI timeout, SIGKILL) left it serving, with its kernels holding gigabytes."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Server:
    """A Jupyter-family server in its own process group; ``url(path)`` adds the token. It is sent SIGTERM if the
    process that started it dies without stopping it."""

    def __init__(
        self, argv: list[str], port: int, token: str, workdir: Path, env: dict[str, str], ready_path: str | None
    ):
        self.port, self.token, self.workdir = port, token, workdir
        self.log_path = workdir / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_ends_with_its_parent if sys.platform == "linux" else None,
        )
        self.ready_path = ready_path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{sep}token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.ready_path is None:  # the port answering is enough (a GET could start a notebook)
                    socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                    return
                with urllib.request.urlopen(self.url(self.ready_path), timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server not answering on port {self.port} after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # the kernels share the group, but a kernel that made its own session would survive: end it too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


def _base_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(workdir / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    # the kernels must pick matplotlib's notebook backend themselves, as on a learner's machine
    for name in ("MPLBACKEND", "JPY_SESSION_NAME"):
        env.pop(name, None)
    return env


def _lab_settings(settings: Path) -> None:
    """No news toast, no update check, every cell rendered (no windowing): a quiet, complete page."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for rel, content in files.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


@contextlib.contextmanager
def _running(server: Server, timeout: float):
    """Wait (bounded) for ``server`` to answer, and stop it afterwards whatever happens."""
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def _workspace(prefix: str, notebooks: list[str]):
    """A temporary folder with the ``notebooks`` copied into its ``root``, a free port and a token for a server:
    yields ``(workdir, root, port, token)``."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(tmp)
        root = workdir / "root"
        root.mkdir()
        copy_notebooks(root, notebooks)
        yield workdir, root, free_port(), secrets.token_hex(16)


@contextlib.contextmanager
def jupyterlab(notebooks: list[str], timeout: float = 60):
    """JupyterLab serving a temp copy of ``notebooks``; yields the running :class:`Server`."""
    with _workspace("rnnviz-lab-", notebooks) as (workdir, root, port, token):
        _lab_settings(workdir / "settings")
        argv = [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses that unless told
            argv.append("--allow-root")
        with _running(Server(argv, port, token, workdir, _base_env(workdir), "/api/status"), timeout) as server:
            yield server


@contextlib.contextmanager
def voila(target: str, extra_notebooks: list[str] = (), timeout: float = 60):
    """Voilà on a temp copy: ``target`` a notebook name (single-notebook mode, as in class) or "" (a folder).

    Yields the running :class:`Server`; the page to open is ``server.url("/")`` for a notebook and
    ``server.url("/voila/render/<name>")`` in folder mode.
    """
    with _workspace("rnnviz-voila-", ([target] if target else []) + list(extra_notebooks)) as (workdir, root, port, token):
        argv = [
            str(BIN / "voila"),
            str(root / target) if target else str(root),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            f"--token={token}",
            "--show_tracebacks=True",
        ]
        with _running(Server(argv, port, token, workdir, _base_env(workdir), None), timeout) as server:
            yield server


@contextlib.contextmanager
def classroom(target: str, pool: int = 2, timeout: float = 120, extra: list[str] = ()):
    """``rnnviz-classroom`` serving a temp copy of notebook ``target`` (with ``extra`` arguments); yields the
    running :class:`Server` (the page is ``server.url("/")``). Ready once Voila logs that its pool of ``pool``
    kernels is started."""
    with _workspace("rnnviz-classroom-", [target]) as (workdir, root, port, token):
        argv = [str(BIN / "rnnviz-classroom"), str(root / target), f"--port={port}", f"--token={token}",
                f"--pool={pool}", "--no-browser", *extra]
        with _running(Server(argv, port, token, workdir, _base_env(workdir), None), timeout) as server:
            deadline = time.monotonic() + timeout
            while "is filled with" not in server.log_path.read_text(errors="replace"):
                if time.monotonic() > deadline or server.proc.poll() is not None:
                    raise RuntimeError(f"rnnviz-classroom did not fill its pool:\n{server.log_tail()}")
                time.sleep(0.2)
            yield server


@contextlib.contextmanager
def chromium(playwright, width: int = 1280, height: int = 1000, scale: float = 1):
    """A headless Chromium (Debian's) with a fresh profile; yields a new page."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError(HOW_TO_ENABLE)
    with tempfile.TemporaryDirectory(prefix="rnnviz-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            device_scale_factor=scale,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


@contextlib.contextmanager
def diagnosed(page, server: Server, name: str):
    """On any failure, add a full-page screenshot path, the page's text and the server's log to the error."""
    try:
        yield
    except Exception as error:
        with contextlib.suppress(Exception):
            explorer(page).scroll_into_view_if_needed(timeout=2000)
        shot, text = failure_screenshot(page, name), ""
        with contextlib.suppress(Exception):
            text = page.locator("body").inner_text()[-2000:]
        raise AssertionError(
            f"{error}\n--- page screenshot: {shot}\n--- end of the page's text:\n{text}\n"
            f"--- server log:\n{server.log_tail()}"
        ) from error


@contextlib.contextmanager
def opened_in_lab(context, notebook: str, name: str = "jupyterlab"):
    """``notebook`` open in JupyterLab in a new page of ``context``, every cell run: yields ``(page, server)``."""
    page = context.new_page()
    with jupyterlab([notebook]) as server:
        with diagnosed(page, server, name):
            open_in_lab(page, server, notebook)
        yield page, server
    page.close()


@contextlib.contextmanager
def opened_in_voila(context, notebook: str, name: str = "voila", viewport: dict | None = None):
    """``notebook`` as a Voila dashboard in a new page of ``context`` (at ``viewport``): yields ``(page, server)``."""
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    with voila(notebook) as server:
        with diagnosed(page, server, name):
            open_in_voila(page, server.url("/"))
        yield page, server
    page.close()


# --- on the page -------------------------------------------------------------------------------

def open_in_lab(page, server: Server, notebook: str, timeout: float = 90) -> None:
    """Open ``notebook`` in JupyterLab, wait for its kernel, run every cell, wait for the explorer."""
    page.goto(server.url(f"/lab/tree/{notebook}?reset"), timeout=timeout * 1000)  # reset: no tabs restored
    page.wait_for_function(
        "() => window.jupyterapp && jupyterapp.shell.currentWidget"
        " && jupyterapp.shell.currentWidget.sessionContext"
        " && jupyterapp.shell.currentWidget.sessionContext.session"
        " && jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=timeout * 1000,
        polling=200,
    )
    # the command resolves when the last cell has run; until then the page may show outputs restored
    # from the notebook file, which are not the live explorer
    finished = page.evaluate(
        """(ms) => Promise.race([
            jupyterapp.commands.execute('notebook:run-all-cells').then(() => true),
            new Promise((resolve) => setTimeout(() => resolve(false), ms)),
        ])""",
        timeout * 1000,
    )
    if not finished:
        raise TimeoutError(f"the notebook's cells did not all run within {timeout:.0f} s")
    wait_for_explorer(page, timeout)


def open_in_voila(page, url: str, timeout: float = 90) -> None:
    """Open a Voilà page (it runs the notebook while loading) and wait for the explorer."""
    page.goto(url, timeout=timeout * 1000, wait_until="commit")
    wait_for_explorer(page, timeout)


def explorer(page):
    """The first explorer on the page (a lesson may show several; the tests drive the first)."""
    return page.locator(SELECTORS["explorer"]).first


#: The explorer names its parts with CSS classes (rnnviz-explorer, rnnviz-figure, ...): it is ready
#: once its figure has a canvas (ipympl) or an image (static fallback) in it.
EXPLORER_READY_JS = """
() => {
  const box = document.querySelector('.rnnviz-explorer');
  return !!(box && box.querySelector('.rnnviz-figure :is(canvas, img)'));
}
"""


def wait_for_explorer(page, timeout: float) -> None:
    """Wait (bounded) until an explorer with its figure drawn is on the page; scroll to it."""
    page.wait_for_function(EXPLORER_READY_JS, timeout=timeout * 1000, polling=250)
    explorer(page).scroll_into_view_if_needed()
    wait_for_figure_settled(page, timeout)


def wait_for_figure_settled(page, timeout: float, quiet: float = 1.0) -> str:
    """Wait until the figure has shown the same pixels for ``quiet`` seconds (a live canvas may draw twice
    as it starts: once at its first size, again when the page has laid it out)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = figure_signature(page)
        if now != last:
            last, since = now, time.monotonic()
        elif now and time.monotonic() - since >= quiet:
            return now
        time.sleep(0.1)
    raise TimeoutError(f"the figure did not settle within {timeout:.0f} s")


def _control(page, name: str):
    return explorer(page).locator(SELECTORS[name]).first


#: The element a click flips: a checkbox's box, the ToggleButtons' unselected button, or the ToggleButton.
CLICKABLE_JS = "(c) => c.querySelector('input[type=checkbox]') || c.querySelector('button:not(.mod-active)') || c"


def flag(page, name: str):
    """The element to click to flip flag ``name`` (``"return_sequences"`` or ``"return_state"``)."""
    control = _control(page, name)
    for inner in ("input[type=checkbox]", "button:not(.mod-active)"):
        if control.locator(inner).count():
            return control.locator(inner).first
    return control


def flag_is_on(page, name: str) -> bool:
    """Whether flag ``name`` shows True on the page."""
    control = _control(page, name)
    if control.locator("input[type=checkbox]").count():
        return control.locator("input[type=checkbox]").is_checked()
    active = control.locator("button.mod-active")
    if active.count() and not control.evaluate("(c) => c.classList.contains('mod-active')"):
        return active.first.inner_text().strip() == "True"
    return "mod-active" in (control.get_attribute("class") or "")


def code_text(page) -> str:
    """The text the explorer shows beside the figure: the Keras line and the returned shapes."""
    return "\n".join(explorer(page).locator(SELECTORS["code"]).all_inner_texts())


def figure(page):
    return explorer(page).locator(SELECTORS["figure"]).first


#: A signature of what the figure shows: a hash of every canvas's pixels and every loaded image's source.
#: (Hashing the pixels read back with getImageData takes a few ms; encoding them with toDataURL, ten times more.)
FIGURE_SIGNATURE_JS = """
(figure) => {
  const parts = [];
  for (const c of figure.querySelectorAll('canvas')) {
    if (c.width === 0 || c.height === 0) continue;
    const context = c.getContext('2d');
    if (!context) { parts.push(c.toDataURL()); continue; }
    const words = new Uint32Array(context.getImageData(0, 0, c.width, c.height).data.buffer);
    let hash = 2166136261;
    for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i], 16777619);
    parts.push(`${c.width}x${c.height}:${hash >>> 0}`);
  }
  for (const i of figure.querySelectorAll('img')) {
    if (!i.complete || i.naturalWidth === 0) return '';
    parts.push(i.src);
  }
  return parts.join('|');
}
"""


def figure_signature(page) -> str:
    return figure(page).evaluate(FIGURE_SIGNATURE_JS)


def figure_pixels(page) -> bytes:
    """A PNG of the figure as it is on screen."""
    return figure(page).screenshot(animations="disabled")


def changed_fraction(png_a: bytes, png_b: bytes, threshold: float = 16 / 255) -> float:
    """The fraction of pixels that differ by more than ``threshold`` in some channel (1.0 if the sizes differ).

    The threshold ignores antialiasing noise: re-marking a figure and marking it back can move a
    pixel by a step or two of 255.
    """
    import matplotlib.image
    import numpy as np

    a = matplotlib.image.imread(io.BytesIO(png_a), format="png")
    b = matplotlib.image.imread(io.BytesIO(png_b), format="png")
    if a.shape != b.shape:
        return 1.0
    return float(np.mean(np.abs(a - b).max(axis=-1) > threshold))


def wait_for_figure_change(page, before: str, timeout: float = 30, settle: float = 0.3) -> str:
    """Wait until the figure shows something other than ``before``, then until it stops changing."""
    deadline = time.monotonic() + timeout
    current = before
    while time.monotonic() < deadline:
        current = figure_signature(page)
        if current and current != before:
            break
        time.sleep(0.05)
    else:
        raise TimeoutError(f"the figure did not change within {timeout:.0f} s")
    while time.monotonic() < deadline:
        time.sleep(settle)
        later = figure_signature(page)
        if later == current:
            return current
        current = later or current
    raise TimeoutError(f"the figure kept changing for {timeout:.0f} s")


#: Click a flag in the page and time, with requestAnimationFrame, until the figure's pixels change.
CLICK_TO_PIXELS_JS = (
    """
async ([explorerSel, figureSel, controlSel, timeoutMs]) => {
  const signature = """
    + FIGURE_SIGNATURE_JS
    + """;
  const root = document.querySelector(explorerSel);
  const control = root.querySelector(controlSel);
  const clickable = (""" + CLICKABLE_JS + """)(control);
  const before = signature(root.querySelector(figureSel));
  const t0 = performance.now();
  clickable.click();
  return await new Promise((resolve) => {
    const poll = () => {
      const now = signature(root.querySelector(figureSel));
      const dt = performance.now() - t0;
      if (now && now !== before) resolve(dt);
      else if (dt > timeoutMs) resolve(-1);
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
}
"""
)


def click_to_pixels_ms(page, name: str, timeout: float = 20) -> float:
    """Milliseconds from a click on flag ``name`` to the figure showing new pixels (in the page's clock)."""
    args = [SELECTORS["explorer"], SELECTORS["figure"], SELECTORS[name], timeout * 1000]
    ms = page.evaluate(CLICK_TO_PIXELS_JS, args)
    if ms < 0:
        raise TimeoutError(f"the figure did not change within {timeout:.0f} s of a click on {name}")
    return ms


#: What a learner would see as broken: a control squeezed to nothing, or a figure cut off by its cell.
LAYOUT_PROBLEMS_JS = """
(root) => {
  const problems = new Set();
  const box = (el) => el.getBoundingClientRect();
  const area = box(root.closest('.jp-OutputArea-output, .jp-Cell-outputArea') || root.parentElement);
  for (const slider of root.querySelectorAll('.widget-slider, .widget-hslider')) {
    const track = slider.querySelector('.slider-container, .slider');
    const name = (slider.querySelector('.widget-label') || {}).textContent;
    if (track && box(track).width < 60) problems.add(`the ${name} slider is ${Math.round(box(track).width)} px wide`);
  }
  for (const el of root.querySelectorAll('.rnnviz-figure canvas, .rnnviz-figure img, .widget-toggle-buttons')) {
    const b = box(el);
    if (b.width > 0 && b.right > area.right + 1) {
      const what = el.matches('.widget-toggle-buttons') ? 'a row of buttons' : 'the figure';
      problems.add(`${what} ends at x=${Math.round(b.right)}, past its output area (x=${Math.round(area.right)})`);
    }
  }
  return [...problems];
}
"""


def layout_problems(page) -> list[str]:
    """What looks broken in the explorer's layout at the current window size (empty: nothing)."""
    return explorer(page).evaluate(LAYOUT_PROBLEMS_JS)


def explorer_picture(page, pad: int = 16) -> bytes:
    """A PNG of the whole explorer with a white margin of ``pad`` pixels (it must fit in the viewport)."""
    explorer(page).scroll_into_view_if_needed()
    box = explorer(page).bounding_box()
    view = page.viewport_size
    x, y = max(box["x"] - pad, 0), max(box["y"] - pad, 0)
    clip = {
        "x": x,
        "y": y,
        "width": min(box["x"] + box["width"] + pad, view["width"]) - x,
        "height": min(box["y"] + box["height"] + pad, view["height"]) - y,
    }
    return page.screenshot(clip=clip, animations="disabled")


def failure_screenshot(page, name: str) -> str:
    path = Path(tempfile.gettempdir()) / f"rnnviz-browser-{name}.png"
    with contextlib.suppress(Exception):
        page.screenshot(path=str(path), full_page=True)
    return str(path)


# --- the live canvas's own pixels --------------------------------------------------------------

def canvas_png(page) -> bytes:
    """A PNG of exactly what the figure's live canvas holds (its pixels, not a screenshot of the page)."""
    import base64

    url = figure(page).evaluate("(f) => f.querySelector('canvas').toDataURL('image/png')")
    return base64.b64decode(url.split(",", 1)[1])


def png_rgb(png: bytes):
    """PNG bytes as an RGB array ``(height, width, 3)`` of uint8."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def same_pixels(png: bytes, expected, tolerance: float = 0.001, threshold: int = 16) -> bool:
    """Whether ``png`` shows ``expected`` (RGB array): same size, at most ``tolerance`` of pixels off by > threshold."""
    import numpy as np

    shown = png_rgb(png)
    if shown.shape != expected.shape:
        return False
    off = np.abs(shown.astype(int) - expected.astype(int)).max(axis=-1) > threshold
    return float(off.mean()) <= tolerance
