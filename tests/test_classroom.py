"""``rnnviz-classroom``: its command line, its forked kernels, and its pages in a real browser.

The unit tests check the command's arguments and errors, the zygote's request check, and real kernels
forked by the zygote through jupyter_client (the same provisioner Voila uses). On the default NumPy backend a
kernel runs lesson 7 as the dashboard does, with rnnviz's numbers equal to Keras's and without ever importing
TensorFlow. On the TensorFlow backend a kernel starts with TensorFlow already imported, trains and predicts
(graphs need TensorFlow's thread pools, which must start in the fork), restarts, and is gone after shutdown.

The browser tests (``-m browser``) serve notebooks with ``rnnviz-classroom`` and open them in headless
Chromium, in separate browser contexts (separate visitors):

* offline: lesson 7 and lesson 5 (the one with equations) in the dashboard, and lesson 5 in JupyterLab,
  ask nothing of any host but 127.0.0.1 (every other request is refused and makes the test fail), and
  their equations (MathJax) and icons (Font Awesome) are drawn;
* links in the lesson text are underlined (axe's link-in-text-block rule: not told apart by colour alone);
* isolation: two visitors at once, each changing a flag or a slider, change only their own page.

The load figures (30 visitors) are measured by ``benchmarks/bench_classroom.py``, not here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))
import browser_harness as bh  # noqa: E402
from rnnviz_classroom import cli, pool, provisioner, zygote  # noqa: E402

PLAYGROUND = "07_playground.ipynb"
#: The backend rnnviz-classroom picks for lesson 7 here: NumPy, or TensorFlow where jax cannot be installed (.ci/run's
#: environment with TensorFlow 2.16). The kernel tests run on it; the NumPy-only tests need jax.
BACKEND = cli.choose_backend(None, bh.REPO / "notebooks" / PLAYGROUND)[0]
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="Keras's NumPy backend needs jax (rnnviz's classroom extra), not installed here")
EQUATIONS = "05_inside_the_cell.ipynb"
LINKS = "01_return_sequences.ipynb"  # nine links in its text


# --- the command line ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--port", "0"], "--port: expected 1 to 65535; got 0"),
        (["--pool", "0"], "--pool: expected at least 1"),
        (["--refill-delay", "-1"], "--refill-delay: expected 0 seconds or more"),
        (["no_such_lesson.ipynb"], "'no_such_lesson.ipynb' is not a file"),
        (["--backend", "torch"], "--backend: invalid choice: 'torch'"),
        ([str(bh.REPO / "README.md")], "README.md' is not a Jupyter notebook"),
        ([str(bh.REPO / "notebooks" / "06_using_states.ipynb"), "--backend", "numpy"],
         "06_using_states.ipynb trains a model (code cell 11 calls .fit), which Keras's NumPy backend cannot do. "
         "Serve it on TensorFlow: rnnviz-classroom "),
    ],
)
def test_bad_arguments_are_refused_with_what_to_do(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parse(argv)
    assert stop.value.code == 2
    assert says in capsys.readouterr().err


def test_without_jax_it_serves_on_tensorflow_and_says_how_to_get_the_numpy_backend(monkeypatch, capsys):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name, *rest: None if name == "jax" else real(name, *rest))
    options = cli.parse([])
    assert options.backend == "tensorflow" and 'jax is not installed' in options.backend_note
    assert 'pip install -e ".[classroom]"' in options.backend_note
    with pytest.raises(SystemExit):
        cli.parse(["--backend", "numpy"])  # asked for by name: refused, with what to do
    said = capsys.readouterr().err
    assert "--backend numpy: Keras's NumPy backend needs jax" in said and 'pip install -e ".[classroom]"' in said


@needs_jax
def test_with_jax_it_serves_on_numpy_unless_the_notebook_trains():
    assert cli.choose_backend(None, bh.REPO / "notebooks" / PLAYGROUND) == ("numpy", None)
    backend, why = cli.choose_backend(None, bh.REPO / "notebooks" / "06_using_states.ipynb")
    assert backend == "tensorflow" and why.startswith("06_using_states.ipynb trains a model (code cell 11 calls .fit)")
    assert cli.choose_backend("tensorflow", bh.REPO / "notebooks" / PLAYGROUND) == ("tensorflow", None)


def test_without_a_notebook_it_serves_lesson_7_or_says_where_to_run(tmp_path, monkeypatch, capsys):
    assert cli.parse([]).notebook == str(bh.REPO / "notebooks" / PLAYGROUND)  # from the checkout
    monkeypatch.chdir(tmp_path)
    assert cli.default_notebook() == bh.REPO / "notebooks" / PLAYGROUND  # beside the package's source, from elsewhere
    monkeypatch.setattr(cli, "default_notebook", lambda: None)
    with pytest.raises(SystemExit):
        cli.parse([])
    assert "run from the repository's folder, or name the notebook" in capsys.readouterr().err


def test_voila_is_asked_for_a_pool_of_forked_kernels_and_the_offline_template():
    options = cli.parse(["--pool", "7", "--port", "9999", "--refill-delay", "3"])
    arguments = cli.voila_arguments(options)
    assert arguments[0] == str(Path(options.notebook).resolve())
    for expected in ("--port=9999", "--Voila.ip=127.0.0.1", "--preheat_kernel=True", "--pool_size=7",
                     "--template=rnnviz", "--VoilaKernelManager.fill_delay=3.0",
                     "--kernel_spec_manager_class=rnnviz_classroom.provisioner.ForkingKernelSpecManager"):
        assert expected in arguments
    assert (cli.DATA / "voila" / "templates" / "rnnviz" / "index.html.j2").is_file()


def test_the_zygote_only_runs_ipykernel():
    assert zygote.kernel_arguments([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) == ["-f", "c.json"]
    with pytest.raises(ValueError, match=r"argv: expected a kernel command \[python, -m, ipykernel_launcher"):
        zygote.kernel_arguments([sys.executable, "-c", "print('hello')"])


def test_the_python3_kernel_is_provisioned_by_the_fork_provisioner():
    from jupyter_client.provisioning import KernelProvisionerFactory

    spec = provisioner.ForkingKernelSpecManager().get_kernel_spec("python3")
    assert spec.metadata["kernel_provisioner"]["provisioner_name"] == provisioner.NAME
    assert KernelProvisionerFactory.instance().is_provisioner_available(spec), "entry point registered (pip install -e .)"


# --- a real forked kernel -----------------------------------------------------------------------

@contextlib.contextmanager
def _zygote(folder: str, backend: str):
    process, path = cli.start_zygote(folder, backend)
    try:
        yield path, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def zygote_socket(tmp_path_factory):
    """A running zygote, started as rnnviz-classroom starts it for lesson 7 (Keras on NumPy where jax is installed);
    yields its socket path and pid."""
    with _zygote(str(tmp_path_factory.mktemp("zygote")), BACKEND) as running:
        yield running


@pytest.fixture(scope="module")
def tensorflow_zygote(tmp_path_factory):
    """A running zygote as ``rnnviz-classroom --backend tensorflow`` starts it; yields its socket path and pid."""
    with _zygote(str(tmp_path_factory.mktemp("zygote")), "tensorflow") as running:
        yield running


@contextlib.contextmanager
def forked_kernel(path: str, monkeypatch, env: dict | None = None):
    """A kernel forked by the zygote at ``path``, started through jupyter_client with the provisioner Voila uses;
    yields ``(manager, client)`` and shuts the kernel down afterwards."""
    from jupyter_client import KernelManager

    monkeypatch.setenv(provisioner.SOCKET_VARIABLE, path)
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=provisioner.ForkingKernelSpecManager())
    manager.start_kernel(env=env or {**os.environ, **cli.kernel_env(BACKEND)})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _run(client, code: str) -> str:
    """Run ``code`` in the kernel; its standard output."""
    out = []
    reply = client.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", "")))
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


LESSONS = sorted(path.name for path in (bh.REPO / "notebooks").glob("0*.ipynb"))
ON_NUMPY = [name for name in LESSONS if cli.training_cell(bh.REPO / "notebooks" / name) is None]


def test_every_lesson_but_the_one_that_trains_can_be_served_on_the_numpy_backend():
    assert len(LESSONS) == 8 and [name for name in LESSONS if name not in ON_NUMPY] == ["06_using_states.ipynb"]


@needs_jax
@pytest.mark.parametrize("lesson", ON_NUMPY)
def test_a_forked_numpy_kernel_runs_the_lesson_and_never_imports_tensorflow(zygote_socket, monkeypatch, lesson):
    """What a dashboard's kernel does: every code cell of the lesson, in order, as Voila runs them. Each lesson checks
    its own claims against Keras with executed assertions, so they hold on the NumPy backend too (lesson 7 also prints
    its check per tensor). TensorFlow is never imported, though every lesson seeds Keras (keras.utils.set_random_seed
    imports TensorFlow whenever it can, unless the zygote stopped it)."""
    path, _ = zygote_socket
    with forked_kernel(path, monkeypatch) as (_, client):
        said = "".join(_run(client, source) for source in cli.code_cells(bh.REPO / "notebooks" / lesson))
        if lesson == PLAYGROUND:
            assert said.count("same numbers in rnnviz.trace: True") == 3, said  # output, forward_h, backward_h
            assert "False" not in said, said
        said = _run(client, "import sys, keras\nprint(keras.backend.backend(), 'tensorflow' in sys.modules)")
        assert said.split() == ["numpy", "False"]


def test_a_forked_tensorflow_kernel_starts_with_tensorflow_loaded_runs_restarts_and_ends(tensorflow_zygote, monkeypatch):
    path, zygote_pid = tensorflow_zygote
    env = {**os.environ, **cli.kernel_env("tensorflow"), "RNNVIZ_TEST_MARK": "from the request"}
    with forked_kernel(path, monkeypatch, env=env) as (manager, client):
        assert isinstance(manager.provisioner, provisioner.ForkProvisioner)
        said = _run(client, "import os, sys\nprint(os.getppid(), 'tensorflow' in sys.modules, os.environ['RNNVIZ_TEST_MARK'])")
        assert said.split() == [str(zygote_pid), "True", "from", "the", "request"]
        # TensorFlow's thread pools start in the fork, not in the zygote: a graph runs (it hung when they did not)
        said = _run(client, "import keras, numpy as np\nmodel = keras.Sequential([keras.Input((3, 1)), keras.layers.LSTM(2)])\n"
                            "model.compile('adam', 'mse')\nmodel.fit(np.ones((4, 3, 1)), np.ones((4, 2)), epochs=1, verbose=0)\n"
                            "print(model.predict(np.ones((1, 3, 1)), verbose=0).shape)")
        assert said.strip() == "(1, 2)"
        first = manager.provisioner.pid
        manager.restart_kernel(now=True)
        client.wait_for_ready(timeout=60)
        assert manager.provisioner.pid != first and manager.provisioner.process.poll() is None
        assert _run(client, "print(1 + 1)").strip() == "2"
        pid = manager.provisioner.pid
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the kernel process is gone after shutdown"


def test_a_forked_kernel_answers_a_request_for_every_widgets_state_at_once(zygote_socket, monkeypatch):
    """What a dashboard page asks first: every widget's state, in one answer (ipywidgets' control comm). ipywidgets
    was imported in the zygote before any kernel existed, so each forked kernel must register its comm targets
    itself; without them the page is refused and asks widget by widget (hundreds of round trips per visitor)."""
    path, _ = zygote_socket
    with forked_kernel(path, monkeypatch) as (_, client):
        model_id = _run(client, "import ipywidgets\nslider = ipywidgets.IntSlider(value=7)\nprint(slider.model_id)").strip()
        session, comm_id = client.session, "control-" + model_id
        client.shell_channel.send(session.msg("comm_open", {"comm_id": comm_id, "target_name": "jupyter.widget.control",
                                                            "data": {}}, metadata={"version": "1.0.0"}))
        client.shell_channel.send(session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "request_states"}}))
        answer, closed, deadline = None, False, time.monotonic() + 20
        while answer is None and not closed and time.monotonic() < deadline:
            try:
                message = client.get_iopub_msg(timeout=1)
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
                continue
            if message["content"].get("comm_id") != comm_id:
                continue
            closed = message["msg_type"] == "comm_close"
            if message["msg_type"] == "comm_msg":
                answer = message["content"]["data"]
    assert not closed, "the kernel refused the page's request for every widget's state (no comm target)"
    assert answer is not None and answer["method"] == "update_states", answer
    assert answer["states"][model_id]["state"]["value"] == 7


def test_forked_kernels_end_when_the_zygote_ends(tmp_path, monkeypatch):
    """A server killed before it could shut its kernels down (kill -9, a closed terminal) leaves no kernels behind:
    the zygote ends with the server, and each forked kernel ends with the zygote."""
    process, path = cli.start_zygote(str(tmp_path), BACKEND)
    try:
        with forked_kernel(path, monkeypatch) as (manager, client):
            assert _run(client, "import os\nprint(os.environ['JPY_PARENT_PID'] == str(os.getppid()))").strip() == "True"
            kernel = manager.provisioner.pid
            process.kill()
            process.wait(timeout=10)
            deadline = time.monotonic() + 15
            while Path(f"/proc/{kernel}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not Path(f"/proc/{kernel}").exists(), "the kernel outlived its zygote"
    finally:
        process.kill()
        process.wait(timeout=10)


def test_without_a_zygote_the_provisioner_says_how_to_start_one(monkeypatch):
    import asyncio

    monkeypatch.delenv(provisioner.SOCKET_VARIABLE, raising=False)
    with pytest.raises(RuntimeError, match="Start the server with the rnnviz-classroom command"):
        asyncio.run(provisioner.ForkProvisioner().launch_kernel(["python", "-m", "ipykernel_launcher"]))


# --- in the browser -----------------------------------------------------------------------------

LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:", "about:")
ICONS_DRAWN_JS = """async () => {
  await document.fonts.ready;
  const icon = document.querySelector('.rnnviz-explorer i.fa');
  if (!icon) return 'no icon';
  const family = getComputedStyle(icon, '::before').fontFamily;
  return document.fonts.check('16px ' + family) && icon.getBoundingClientRect().width > 0 ? 'drawn' : 'not drawn: ' + family;
}"""
MATHS_JS = "() => document.querySelectorAll('mjx-container').length"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's), for tests that need several browser contexts (several visitors)."""
    if bh.chromium_path() is None:
        pytest.skip(bh.HOW_TO_ENABLE)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser tests")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=bh.chromium_path(), headless=True, args=bh.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def offline_page(browser):
    """A new visitor whose requests to any host but 127.0.0.1 are refused and listed in ``page.outside``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.outside = []

    def guard(route):
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("websocket", lambda ws: None if ws.url.startswith(LOCAL) else page.outside.append(ws.url))
    return page


@pytest.mark.browser
def test_the_dashboard_asks_nothing_outside_this_machine_and_draws_its_icons(browser):
    with bh.classroom(PLAYGROUND) as server:
        page = offline_page(browser)
        bh.open_in_voila(page, server.url("/"))
        assert page.evaluate(ICONS_DRAWN_JS) == "drawn"  # Reset, Play, Stop carry Font Awesome icons
        page.wait_for_timeout(1000)
        assert page.outside == []
        page.context.close()


@pytest.mark.browser
def test_the_loading_page_runs_no_animation(browser):
    """While the page loads, nothing on it animates: Voila's own template spins its logo at the frame rate, which
    cost each of ten visitors' browsers about 0.7 s of CPU (benchmarks/bench_classroom.py)."""
    with bh.classroom(PLAYGROUND, pool=1) as server:
        page = offline_page(browser)
        # without its scripts the page stays on its loading indicator, as it does while a class arrives
        page.route("**/*.js*", lambda route: route.abort())
        page.goto(server.url("/"), wait_until="load")
        assert page.locator("#loading .spinner").is_visible(), "the loading indicator is on the page"
        assert page.locator("#loading_text").inner_text() == "Loading the dashboard\u2019s controls\u2026"
        running = page.evaluate("() => document.getAnimations().map(a => a.animationName || String(a))")
        assert running == [], f"animations running on the loading page: {running}"
        page.context.close()


@pytest.mark.browser
def test_lesson_maths_render_offline_in_the_dashboard(browser):
    with bh.classroom(EQUATIONS, pool=1, timeout=240) as server:
        page = offline_page(browser)
        page.goto(server.url("/"), timeout=240_000)
        page.wait_for_function(MATHS_JS, timeout=240_000)
        assert page.evaluate(MATHS_JS) >= 20  # lesson 5 writes the LSTM's equations in LaTeX
        assert page.outside == []
        page.context.close()


@pytest.mark.browser
def test_lesson_maths_render_offline_in_jupyterlab(browser):
    with bh.jupyterlab([EQUATIONS]) as server:
        page = offline_page(browser)
        page.goto(server.url(f"/lab/tree/{EQUATIONS}?reset"))
        page.wait_for_function(MATHS_JS, timeout=120_000)
        assert page.evaluate(MATHS_JS) >= 20
        page.wait_for_timeout(1000)
        assert page.outside == []
        page.context.close()


@pytest.mark.browser
def test_links_in_a_lesson_are_told_apart_by_more_than_colour(browser):
    """axe's link-in-text-block rule (WCAG 1.4.1) on lesson 1 in the dashboard: Voila's own template colours
    links without underlining them; rnnviz's template underlines them."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright",
                              reason="pip install axe-playwright-python to run the accessibility audit")
    with bh.classroom(LINKS, pool=1, timeout=240) as server:
        page = offline_page(browser)
        page.goto(server.url("/"), timeout=240_000)
        page.wait_for_function("() => document.querySelectorAll('.jp-RenderedMarkdown a[href]').length >= 5",
                               timeout=240_000)
        bh.wait_for_explorer(page, 240)  # the page has finished loading: its widgets are drawn
        results = axe.Axe().run(page, options={"runOnly": ["link-in-text-block"]}).response
        undecided = [(n["html"][:80], [c["message"] for c in n["any"] + n["all"]]) for r in results["incomplete"]
                     for n in r["nodes"]]
        assert [r["id"] for r in results["passes"]] == ["link-in-text-block"], f"no link checked; undecided: {undecided}"
        assert results["violations"] == [], [n["html"] for v in results["violations"] for n in v["nodes"]]
        page.context.close()


def _code(page) -> str:
    return page.locator(".rnnviz-explorer .rnnviz-code").first.inner_text()


@pytest.mark.browser
def test_two_visitors_at_once_each_change_only_their_own_page(browser):
    with bh.classroom(PLAYGROUND) as server:
        pages = [offline_page(browser) for _ in range(2)]
        for page in pages:
            page.goto(server.url("/"), wait_until="commit")
        for page in pages:
            bh.wait_for_explorer(page, 120)
        ann, ben = pages
        before = [_code(page) for page in pages]
        pixels = [bh.figure_signature(page) for page in pages]
        assert before[0] == before[1] and "layer = LSTM(2)" in before[0]

        # Ann turns return_state on: her page says state_h; Ben's stays as it was
        bh.flag(ann, "return_state").click()
        ann.wait_for_function("() => document.querySelector('.rnnviz-explorer .rnnviz-code').innerText.includes('state_h')")
        bh.wait_for_figure_settled(ann, 30)
        ben.wait_for_timeout(1500)
        assert _code(ben) == before[1] and bh.figure_signature(ben) == pixels[1]
        assert not bh.flag_is_on(ben, "return_state")

        # Ben moves the units slider with the keyboard: his page says LSTM(3); Ann's keeps LSTM(2) and state_h
        slider = ben.locator(".rnnviz-explorer .rnnviz-units [role=slider]").first
        slider.focus()
        ben.keyboard.press("ArrowRight")
        ben.wait_for_function("() => document.querySelector('.rnnviz-explorer .rnnviz-code').innerText.includes('LSTM(3)')")
        ann_now = _code(ann)
        ann.wait_for_timeout(1500)
        assert _code(ann) == ann_now and "layer = LSTM(2, return_state=True)" in ann_now
        assert "state_h" not in _code(ben)
        for page in pages:
            page.context.close()


def test_visitors_beyond_the_pool_get_a_kernel_at_once_not_after_the_refill_delay():
    """Voila refills its pool with tasks that sleep --refill-delay before starting a kernel, and hands the next visitor
    such a task: without rnnviz_classroom.pool, every visitor after the pool's kernels waited out that delay (here 600 s)."""
    import urllib.request

    with bh.classroom(PLAYGROUND, pool=1, timeout=300, extra=["--refill-delay=600"]) as server:
        for visitor in range(3):  # the pool's one kernel, then two started for the late visitors
            with urllib.request.urlopen(server.url("/"), timeout=60) as answer:
                page = answer.read().decode()
            assert answer.status == 200 and page.count("application/vnd.jupyter.widget-view+json") >= 2, visitor


def test_the_benchmarks_visitor_without_a_browser_gets_a_working_explorer_only_by_clicking(monkeypatch):
    """benchmarks/protocol_visitor.py, which measures the server's own time for benchmarks/bench_classroom.py, speaks
    the page's messages: it gets every widget's state and the explorer's picture, and its click on return_state
    changes the shapes text. A visitor that leaves out the click's update waits until its timeout: the visitor
    really waits for the kernel's answer to the click."""
    import asyncio
    import concurrent.futures

    monkeypatch.syspath_prepend(str(bh.REPO / "benchmarks"))
    import protocol_visitor

    class NoClick(protocol_visitor.Visitor):
        async def comm_msg(self, comm_id, data):
            if data.get("method") != "update":
                await super().comm_msg(comm_id, data)

    with bh.classroom(PLAYGROUND, pool=2, timeout=300) as server, concurrent.futures.ThreadPoolExecutor(1) as thread:
        seconds = thread.submit(asyncio.run, protocol_visitor.visit(server.url("/"), 60)).result(timeout=90)
        assert 0 < seconds < 60
        monkeypatch.setattr(protocol_visitor, "Visitor", NoClick)
        with pytest.raises(TimeoutError):
            thread.submit(asyncio.run, protocol_visitor.visit(server.url("/"), 10)).result(timeout=60)


def test_a_hurried_pool_task_skips_the_rest_of_its_delay_and_an_unhurried_one_keeps_it():
    import asyncio
    import concurrent.futures

    async def scenario():
        ready = asyncio.get_running_loop().create_future()  # stands in for a kernel's start and the notebook's run
        ready.set_result("kernel")
        waiting = asyncio.create_task(pool.wait_before(600, ready))
        sleeping = asyncio.create_task(pool.wait_before(600, ready))
        early = asyncio.create_task(pool.wait_before(600, ready))
        pool.hurry(early)  # asked for before it even started
        await asyncio.sleep(0.05)
        pool.hurry(waiting)
        done, _ = await asyncio.wait([waiting, sleeping, early], timeout=5)
        sleeping.cancel()
        return done == {waiting, early} and waiting.result() == early.result() == "kernel"

    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # its own event loop: a browser test's may be running here
        assert thread.submit(asyncio.run, scenario()).result(timeout=30)


def test_the_classroom_package_does_not_import_tensorflow_in_the_server():
    """Voila's process imports the provisioner; it must not pay for TensorFlow (only the zygote does)."""
    code = ("import sys, rnnviz_classroom.cli, rnnviz_classroom.provisioner\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_the_command_is_installed():
    assert shutil.which("rnnviz-classroom", path=str(bh.BIN)), "pip install -e . installs the rnnviz-classroom command"


@pytest.mark.browser
def test_the_dashboard_gets_every_widget_in_one_answer(browser):
    """The page asks the kernel for every widget's state at once and gets one answer; it never falls back to
    asking widget by widget (which it did, ~290 round trips per visitor, while the forked kernels lacked
    ipywidgets' comm targets)."""
    import re

    with bh.classroom(PLAYGROUND) as server:
        page = offline_page(browser)
        kinds = {"from the kernel": [], "from the page": []}

        def route(socket):
            kernel = socket.connect_to_server()

            def relay(message, said, onward):
                text = message if isinstance(message, str) else message.decode("latin-1")
                said.extend(re.findall(r'"method": ?"(\w+)"', text)[:1])
                onward(message)

            kernel.on_message(lambda message: relay(message, kinds["from the kernel"], socket.send))
            socket.on_message(lambda message: relay(message, kinds["from the page"], kernel.send))

        page.route_web_socket("**/api/kernels/**", route)
        page.goto(server.url("/"), wait_until="commit")
        bh.wait_for_explorer(page, 120)
        page.context.close()
    assert kinds["from the page"].count("request_states") == 1
    assert kinds["from the kernel"].count("update_states") == 1
    assert kinds["from the page"].count("request_state") == 0, "the page asked widget by widget"
