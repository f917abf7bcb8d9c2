"""A Jupyter kernel provisioner whose kernels are forks of the zygote (:mod:`rnnviz_classroom.zygote`).

It is jupyter_client's :class:`~jupyter_client.provisioning.LocalProvisioner` (connection files, ports,
process groups, interrupts, restarts) with one change: the kernel process comes from the zygote on the
Unix socket named by the environment variable :data:`SOCKET_VARIABLE`, not from ``Popen``. Kernel specs
select it with ``"metadata": {"kernel_provisioner": {"provisioner_name": "rnnviz-fork"}}``; the
``rnnviz-classroom`` command does that for the ``python3`` kernel (:class:`ForkingKernelSpecManager`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.provisioning import LocalProvisioner

#: The environment variable holding the zygote's socket path.
SOCKET_VARIABLE = "RNNVIZ_ZYGOTE"
#: The provisioner's entry-point name (pyproject.toml, group ``jupyter_client.kernel_provisioners``).
NAME = "rnnviz-fork"


class ForkedProcess:
    """The little of :class:`subprocess.Popen` that LocalProvisioner uses, for a process we did not start.

    The zygote is its parent and reaps it; here, a process that is gone has exited (its code is unknown: 0).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                with open(f"/proc/{self.pid}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
                if state in ("Z", "X"):
                    self.returncode = 0
            except FileNotFoundError:
                self.returncode = 0
            except OSError:  # no /proc: ask the kernel directly
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"kernel {self.pid} still running after {timeout} s")
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def ask_zygote(path: str, argv: list[str], env: dict, cwd: str) -> int:
    """Ask the zygote at ``path`` to fork a kernel; returns its pid."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(30)
        connection.connect(path)
        connection.sendall((json.dumps({"argv": argv, "env": env, "cwd": cwd}) + "\n").encode())
        answer = json.loads(connection.makefile("r").readline())
    if "pid" not in answer:
        raise RuntimeError(f"rnnviz-classroom: the zygote refused to start a kernel: {answer.get('error')}")
    return int(answer["pid"])


class ForkProvisioner(LocalProvisioner):
    """LocalProvisioner, with kernels forked by the zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        path = os.environ.get(SOCKET_VARIABLE)
        if not path:
            raise RuntimeError(f"{NAME}: no zygote; the environment variable {SOCKET_VARIABLE} is not set. "
                               "Start the server with the rnnviz-classroom command.")
        env = dict(kwargs.get("env") or os.environ)
        cwd = kwargs.get("cwd") or os.getcwd()
        pid = await asyncio.get_running_loop().run_in_executor(None, ask_zygote, path, list(cmd), env, cwd)
        self.process = ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the child called setsid(): it leads its own process group
        self.ip = self.parent.ip if self.parent is not None else None
        return self.connection_info


class ForkingKernelSpecManager(KernelSpecManager):
    """Kernel specs as usual, but the ``python3`` kernel is provisioned by :class:`ForkProvisioner`."""

    def get_kernel_spec(self, kernel_name: str, *args, **kwargs):
        spec = super().get_kernel_spec(kernel_name, *args, **kwargs)
        if kernel_name == "python3":
            spec.metadata = {**spec.metadata, "kernel_provisioner": {"provisioner_name": NAME, "config": {}}}
        return spec
