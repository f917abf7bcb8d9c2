"""The zygote: imports what the dashboard needs once, then forks one kernel per request.

Run as ``python -m rnnviz_classroom.zygote SOCKET``. It listens on the Unix socket ``SOCKET``; each
request is one JSON line ``{"argv": [...], "env": {...}, "cwd": "..."}`` with a kernel's command line
(``python -m ipykernel_launcher -f CONNECTION_FILE``), and the answer is one JSON line ``{"pid": N}``
(or ``{"error": "..."}``). The child becomes that kernel: a new session, the request's environment and
folder, then ``ipykernel``'s own launcher with the same arguments.

It prints ``ready`` on standard output once the imports are done, and exits when its parent does.

Under a Keras backend other than TensorFlow (``rnnviz-classroom`` serves on NumPy by default), it keeps Keras from
importing TensorFlow anyway: ``keras.utils.set_random_seed`` imports it to seed it too whenever it is installed, which
would cost each kernel about 3 s and a few hundred MB on its first seed (:func:`keep_keras_off_tensorflow`).

Why it runs no TensorFlow op before forking (under the TensorFlow backend): TensorFlow starts its thread pools at
the first op, and a forked child has none of its parent's threads; a child that inherited started pools hangs as
soon as it runs a graph (``model.predict``, ``model.fit``). rnnviz normally runs that first op while it imports (to keep
its log lines out of the notebook); the zygote asks it not to, and each child runs it, quietly, first thing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

#: What lesson 7's kernel imports (Keras with its backend: TensorFlow, or NumPy and jax); loaded once here, so a
#: forked kernel imports (almost) nothing.
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "IPython",
    "matplotlib_inline.backend_inline",
    "rnnviz",
    "rnnviz.explorer",
    "rnnviz.quiz",
    "keras",
    "numpy",
    "matplotlib.pyplot",
    "ipympl.backend_nbagg",
    "ipywidgets",
)
#: Set while the zygote imports (its value is rnnviz._quiet.DEFER_FIRST_OP, not imported here: importing rnnviz
#: is what must happen with it set).
DEFER_FIRST_OP = "RNNVIZ_DEFER_FIRST_OP"
#: ipykernel's variable naming the process whose end ends the kernel (jupyter_client sets it when it starts one).
PARENT_VARIABLE = "JPY_PARENT_PID"
#: Loaded as an IPython extension by each forked kernel: it registers ipywidgets' comm targets in that kernel.
WIDGETS_EXTENSION = "ipywidgets"
#: The kernel command lines the zygote accepts: ``python -m ipykernel_launcher ...``.
LAUNCHER = ("-m", "ipykernel_launcher")


def keep_keras_off_tensorflow() -> bool:
    """Under a Keras backend other than TensorFlow, stop Keras importing TensorFlow to seed it; ``True`` if done.

    ``keras.utils.set_random_seed`` (which every lesson calls) seeds TensorFlow as well whenever TensorFlow can
    be imported, and imports it to do so: in a NumPy-backend kernel that is 3 s of CPU and about 300 MB that the
    kernel never uses. Keras asks a lazy module in ``keras.src.utils.module_utils`` whether TensorFlow is
    available; this marks it unavailable. An explicit ``import tensorflow`` in a notebook still works. Nothing
    is changed (``False``) under the TensorFlow backend, when TensorFlow is already imported, or in a Keras
    without that lazy module.
    """
    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        return False
    try:
        from keras.src.utils import module_utils
    except ImportError:
        return False
    lazy = getattr(module_utils, "tensorflow", None)
    if lazy is None or not hasattr(lazy, "_available"):
        return False
    lazy._available = False
    return True


def preload(names=PRELOAD) -> float:
    """Import ``names``, then freeze the garbage collector's view of them; returns the CPU seconds so far.

    ``gc.freeze()`` moves every object made so far out of the collector's generations: a child's
    collections then never walk (and so never write to, and copy) the pages of the shared imports.
    """
    import gc
    import importlib

    os.environ[DEFER_FIRST_OP] = "1"  # no TensorFlow op here: see rnnviz._quiet.DEFER_FIRST_OP
    for name in names:
        importlib.import_module(name)
    del os.environ[DEFER_FIRST_OP]
    keep_keras_off_tensorflow()
    gc.collect()
    gc.freeze()
    return time.process_time()


def kernel_arguments(argv: list[str]) -> list[str]:
    """The arguments for ipykernel's launcher in a kernel command line ``[python, -m, ipykernel_launcher, ...]``."""
    if len(argv) < 3 or tuple(argv[1:3]) != LAUNCHER:
        raise ValueError(f"argv: expected a kernel command [python, -m, ipykernel_launcher, ...]; got {argv!r}")
    return list(argv[3:])


def become_kernel(request: dict) -> None:
    """In the forked child: turn into the kernel ``request`` asks for. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[PARENT_VARIABLE] = str(os.getppid())  # as jupyter_client sets it for the kernels it starts
        os.chdir(request["cwd"])
        # ipywidgets registers its comm targets when it is imported inside a kernel; here it was imported before
        # there was one, so the kernel loads it as an extension, which registers them. Without them the page's
        # request for every widget's state at once is refused, and it asks widget by widget instead: hundreds
        # of round trips per visitor.
        # And ipykernel ends the kernel when its parent changes: when the zygote ends (it ends with the server),
        # its kernels end too, even when the server was killed before it could shut them down. (ipykernel reads
        # JPY_PARENT_PID for this when it is imported: here, in the zygote, before it was set.)
        arguments = [*kernel_arguments(request["argv"]), f"--IPKernelApp.extensions={WIDGETS_EXTENSION}",
                     f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.argv = [request["argv"][0], *arguments]
        from ipykernel import kernelapp
        from rnnviz import _quiet

        _quiet.first_op()  # this kernel's own TensorFlow thread pools, started quietly

        kernelapp.launch_new_instance(argv=arguments)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0
    except BaseException as error:  # noqa: BLE001 - the child must never return into the zygote's loop
        print(f"rnnviz-classroom: a kernel failed to start: {error!r}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def serve(path: str) -> None:
    """Listen on ``path`` and fork a kernel for each request, until the parent goes away."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished children: no zombies
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    seconds = preload()
    print(f"ready (imports took {seconds:.1f} s of CPU)", flush=True)
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        with connection:
            connection.settimeout(10)
            request = json.loads(connection.makefile("r").readline())
            try:
                kernel_arguments(request["argv"])
            except (KeyError, ValueError) as error:
                connection.sendall((json.dumps({"error": str(error)}) + "\n").encode())
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.close()
                become_kernel(request)
            connection.sendall((json.dumps({"pid": pid}) + "\n").encode())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m rnnviz_classroom.zygote SOCKET")
    serve(sys.argv[1])
