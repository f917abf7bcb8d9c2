"""``rnnviz-classroom``: serve the playground dashboard to a class from one machine.

    rnnviz-classroom [--port P] [--ip 127.0.0.1] [--pool N] [NOTEBOOK]

Voilà serves ``NOTEBOOK`` (lesson 7, the playground, by default) as a dashboard. Unlike plain ``voila``:

* every visitor's kernel is a fork of one process that has already imported Keras, rnnviz and matplotlib
  (:mod:`rnnviz_classroom.zygote`), so a kernel starts in milliseconds and shares that memory instead of
  loading its own copy;
* Keras runs on its NumPy backend when it can (``--backend numpy``): the dashboard only calls small layers
  forwards, which needs no TensorFlow, and a kernel without TensorFlow holds about a third less memory (the
  weights come from another random generator, so the numbers differ from a TensorFlow run; ``--backend
  tensorflow`` shows the lessons' own numbers). Without ``--backend`` it picks NumPy unless the notebook
  trains a model or jax is not installed (:func:`choose_backend`);
* Voilà's pool keeps ``--pool`` kernels that have already run the notebook, so a visitor gets a
  finished page; each taken kernel is replaced ``--refill-delay`` seconds later, and a visitor who comes
  after the pool is used up gets a kernel started at once (:mod:`rnnviz_classroom.pool`).

Each visitor still has a kernel of their own: what one learner clicks never reaches another's page.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from . import pool
from .provisioner import SOCKET_VARIABLE

#: Lesson 7 in a checkout of the repository (the notebooks are not inside the installed package).
DEFAULT_NOTEBOOK = Path("notebooks") / "07_playground.ipynb"
#: Kernels kept ready, each with the notebook already run: a class of thirty arriving together each gets one.
#: Each costs about 0.1 GiB beyond the shared imports (benchmarks/bench_classroom.py).
DEFAULT_POOL = 30
#: Seconds before a taken kernel is replaced (refilling costs about 1 s of CPU and 0.1 GiB per kernel): after a
#: class has arrived and started, not while it arrives. With 60 s, thirty visitors arriving together on 2 cores
#: (their browsers on the same machine) had all thirty replacements start during their arrival: peak memory
#: 6.8 GiB instead of 4.0 GiB, and twice the server CPU per visitor (benchmarks/bench_classroom.py). A visitor
#: beyond the pool does not wait for this delay: rnnviz_classroom.pool starts their kernel at once.
DEFAULT_REFILL_DELAY = 300.0
#: Jupyter data shipped with this package: the Voila template ``rnnviz``.
DATA = Path(__file__).resolve().parent / "jupyter"
#: The Keras backends a class can be served on. NumPy is the lightest that runs every layer the dashboard makes
#: (forward passes only; Keras's NumPy backend borrows its convolutions from jax.lax, so it needs jax installed).
#: Measured per forked kernel after lesson 7 (benchmarks/bench_classroom.py --backend): see README's table.
BACKENDS = ("numpy", "tensorflow")
DEFAULT_BACKEND = "numpy"


def kernel_env(backend: str = DEFAULT_BACKEND) -> dict[str, str]:
    """The environment the zygote (and so every kernel) gets: Keras's ``backend``, and TensorFlow quiet and
    deterministic in case a notebook imports it."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}; got {backend!r}")
    return {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


#: A call that trains a Keras model: the NumPy backend only runs layers forwards.
TRAINING = re.compile(r"\.(fit|train_on_batch)\(")


def code_cells(notebook: str | Path) -> list[str]:
    """The source of each code cell in ``notebook`` (a .ipynb file), in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    sources = [cell.get("source", "") for cell in cells if cell.get("cell_type") == "code"]
    return [source if isinstance(source, str) else "".join(source) for source in sources]


def training_cell(notebook: str | Path) -> int | None:
    """The number (from 1) of the first code cell in ``notebook`` that trains a model (``.fit(``), or ``None``."""
    return next((number for number, source in enumerate(code_cells(notebook), start=1) if TRAINING.search(source)),
                None)


def choose_backend(asked: str | None, notebook: str | Path) -> tuple[str, str | None]:
    """The Keras backend to serve ``notebook`` on, and why when it is not the one ``asked`` for (or the default).

    ``asked`` is ``--backend`` (``None`` when not given). Raises ``ValueError`` saying what to do when NumPy is
    asked for and cannot run the notebook: it trains a model, or jax is not installed.
    """
    number, name = training_cell(notebook), Path(notebook).name
    has_jax = importlib.util.find_spec("jax") is not None
    if asked == "numpy" and number is not None:
        raise ValueError(f"--backend numpy: {name} trains a model (code cell {number} calls .fit), which Keras's NumPy "
                         f"backend cannot do. Serve it on TensorFlow: rnnviz-classroom {notebook} --backend tensorflow")
    if asked == "numpy" and not has_jax:
        raise ValueError("--backend numpy: Keras's NumPy backend needs jax (it borrows jax.lax's convolutions), which "
                         "is not installed. Install it with pip install -e \".[classroom]\" (or pip install jax), or "
                         "serve on TensorFlow: --backend tensorflow")
    if asked is not None:
        return asked, None
    if number is not None:
        return "tensorflow", (f"{name} trains a model (code cell {number} calls .fit), which Keras's NumPy backend "
                              "cannot do: its kernels run Keras on TensorFlow")
    if not has_jax:
        return "tensorflow", ("jax is not installed, so the kernels run Keras on TensorFlow, which needs about half as "
                              "much memory again per learner as Keras's NumPy backend. For that one: pip install -e "
                              "\".[classroom]\"")
    return DEFAULT_BACKEND, None


def default_notebook() -> Path | None:
    """Lesson 7 under the current folder, else beside the package's source checkout; ``None`` if neither."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / DEFAULT_NOTEBOOK).is_file():
            return root / DEFAULT_NOTEBOOK
    return None


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rnnviz-classroom",
        description="Serve rnnviz's playground dashboard to a class: one kernel per visitor, forked from one "
        "process that has TensorFlow loaded, with kernels ready before visitors arrive.",
    )
    parser.add_argument("notebook", nargs="?", help=f"the notebook to serve (default: {DEFAULT_NOTEBOOK})")
    parser.add_argument("--port", type=int, default=8866, help="port to serve on (default: 8866)")
    parser.add_argument("--ip", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for a room's network)")
    parser.add_argument("--pool", type=int, default=DEFAULT_POOL,
                        help=f"kernels kept ready with the notebook already run (default: {DEFAULT_POOL})")
    parser.add_argument("--refill-delay", type=float, default=DEFAULT_REFILL_DELAY,
                        help="seconds before a taken kernel is replaced in the pool, so that refilling does not "
                        f"slow down a class that is still arriving (default: {DEFAULT_REFILL_DELAY:g})")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="Keras backend of the learners' kernels: numpy needs about a third less memory per "
                        "learner; tensorflow shows the same numbers as the lessons run in JupyterLab, and can train "
                        "(default: numpy, unless the notebook trains a model or jax is not installed)")
    parser.add_argument("--token", default="", help="require this token in the URL (default: none)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    options = parser.parse_args(argv)
    if options.notebook is None:
        found = default_notebook()
        if found is None:
            parser.error(f"notebook: no {DEFAULT_NOTEBOOK} in {Path.cwd()}; run from the repository's folder, "
                         "or name the notebook: rnnviz-classroom path/to/07_playground.ipynb")
        options.notebook = str(found)
    elif not Path(options.notebook).is_file():
        parser.error(f"notebook: {options.notebook!r} is not a file; expected a .ipynb path, "
                     f"e.g. {DEFAULT_NOTEBOOK}")
    if not 1 <= options.port <= 65535:
        parser.error(f"--port: expected 1 to 65535; got {options.port}")
    if options.refill_delay < 0:
        parser.error(f"--refill-delay: expected 0 seconds or more; got {options.refill_delay}")
    try:  # reads the notebook once: whether it trains a model decides the backend
        options.backend, options.backend_note = choose_backend(options.backend, options.notebook)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        parser.error(f"notebook: {options.notebook!r} is not a Jupyter notebook ({error}); expected a .ipynb file, "
                     f"e.g. {DEFAULT_NOTEBOOK}")
    except ValueError as error:
        parser.error(str(error))
    if options.pool < 1:
        parser.error(f"--pool: expected at least 1 kernel kept ready; got {options.pool}")
    return options


def start_zygote(folder: str, backend: str = DEFAULT_BACKEND) -> tuple[subprocess.Popen, str]:
    """Start the zygote on a socket in ``folder``, with Keras on ``backend``; return it once its imports are done."""
    path = os.path.join(folder, "zygote.sock")
    zygote = subprocess.Popen([sys.executable, "-m", "rnnviz_classroom.zygote", path],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, **kernel_env(backend)})
    line = zygote.stdout.readline()
    if not line.startswith("ready"):
        zygote.kill()
        raise SystemExit(f"rnnviz-classroom: the zygote did not start (it said {line!r}); see the messages above.")
    print(f"rnnviz-classroom: zygote {line.strip()}", file=sys.stderr, flush=True)
    return zygote, path


def voila_arguments(options: argparse.Namespace) -> list[str]:
    """Voilà's command line for these options."""
    arguments = [
        str(Path(options.notebook).resolve()),
        f"--port={options.port}",
        "--Voila.port_retries=0",
        f"--Voila.ip={options.ip}",
        f"--token={options.token}",
        "--preheat_kernel=True",
        f"--pool_size={options.pool}",
        "--kernel_spec_manager_class=rnnviz_classroom.provisioner.ForkingKernelSpecManager",
        # kernels talk to the server over Unix sockets, not TCP ports: with thirty kernels starting together, a
        # port picked as free could be taken before its kernel bound it, and that kernel never started
        "--KernelManager.transport=ipc",
        # a taken kernel is replaced this long after: not while the class is still arriving
        f"--VoilaKernelManager.fill_delay={options.refill_delay}",
        # rnnviz's page template (rnnviz_classroom/jupyter/voila/templates/rnnviz): Voila's, offline
        "--template=rnnviz",
    ]
    if options.no_browser:
        arguments.append("--no-browser")
    return arguments


def main(argv: list[str] | None = None) -> None:
    options = parse(argv)
    if options.backend_note:
        print(f"rnnviz-classroom: {options.backend_note}.", file=sys.stderr, flush=True)
    os.environ.update(kernel_env(options.backend))
    # Voila finds templates in Jupyter's data folders: put this package's own first
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(DATA), os.environ.get("JUPYTER_PATH")]))
    with tempfile.TemporaryDirectory(prefix="rnnviz-classroom-") as folder:
        zygote, path = start_zygote(folder, options.backend)
        os.environ[SOCKET_VARIABLE] = path
        try:
            from voila.app import Voila

            pool.install()  # a visitor beyond the pool gets a kernel started at once, not after --refill-delay
            Voila.launch_instance(argv=voila_arguments(options))
        finally:
            zygote.terminate()
            zygote.wait(timeout=10)


if __name__ == "__main__":
    main()
