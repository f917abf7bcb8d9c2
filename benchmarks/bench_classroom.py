"""A class arriving at once: N visitors open the playground dashboard together, in headless Chromium.

Run: .venv/bin/python benchmarks/bench_classroom.py [--visitors 1 10 30] [--plain 1 10] [--tensorflow 30]
     [--protocol 1 10 30] [--pool 8] [--rounds 5] [--refill-delay S] [--browser-nice 19]

For each server and each N it starts a fresh server on 127.0.0.1 over a temporary copy of
notebooks/07_playground.ipynb, waits until it is ready (for ``rnnviz-classroom``: its pool of kernels is
full), then opens N browser contexts (one per visitor, like N laptops) and sends them all to the page at
the same moment. For each visitor it measures the time from the request until the explorer works: its
figure is drawn and a click on ``return_state`` changes the shapes text beside it. A visitor who has no
working explorer after ``--timeout`` seconds is a failure.

While the visitors arrive it samples, every 0.5 s, the memory of the server and every process under it
(the zygote and the kernels; Voilà's kernels for plain Voilà) as the sum of their proportional set sizes
(PSS: a page shared by k processes counts 1/k to each, so shared memory is counted once), and reports the
peak, and the peak divided by N as the memory per visitor.

Servers: ``rnnviz-classroom --pool P`` (Keras on NumPy, its default) and plain ``voila
notebooks/07_playground.ipynb`` (the README's command 3 before rnnviz-classroom existed), for the same N (the
plain one only up to the N given by ``--plain``: at 30 it would need about 19 GiB here); and
``rnnviz-classroom --backend tensorflow`` for the N given by ``--tensorflow``, to show what the NumPy backend saves.
The same is then measured with visitors that have no browser (``--protocol``, :mod:`protocol_visitor`): each
sends the server what the page sends and waits for the same answers, at a few milliseconds of CPU. On this machine
the visitors' Chromiums need most of the two cores themselves (the table ends with the least time N browsers need
here, from one browser's CPU), while in a classroom each runs on its own laptop: these rows are the server's own time.
N=1 is measured ``--rounds`` times, one visitor at a time once the server is quiet again (``rnnviz-classroom``
still has kernels ready in its pool), and the table gives p50/p95 over those visits.

Goals on a 2-core, 24 GiB machine: 30 visitors all served; p95 <= 15 s for 30; p50 <= 1.5 s for one
visitor once warm; memory per visitor at most a third of plain Voilà's.

A failed visitor is reported with why: the step it was at, a screenshot, the page's last console errors, and
a copy of the server's log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
import browser_harness as bh  # noqa: E402
import protocol_visitor  # noqa: E402

NOTEBOOK = "07_playground.ipynb"
GIB = 1024**3


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def pss_bytes(pids: list[int]) -> int:
    """The sum of the processes' proportional set sizes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class MemorySampler:
    """Samples the PSS of a process tree every ``every`` seconds in a thread; ``peak`` is the largest."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, pss_bytes(descendants(self.pid)))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, pss_bytes(descendants(self.pid)))


#: The servers compared, in the table's order, and their names there.
KINDS = {"classroom": "rnnviz-classroom", "classroom-tensorflow": "rnnviz-classroom --backend tensorflow",
         "plain": "plain voila"}


def serving(kind: str, pool: int, refill_delay: float | None):
    """A fresh server over a temporary copy of lesson 7: ``rnnviz-classroom`` (ready once its pool is started)
    or plain ``voila``; yields the running server."""
    if kind != "plain":
        extra = [] if refill_delay is None else [f"--refill-delay={refill_delay}"]
        if kind == "classroom-tensorflow":
            extra.append("--backend=tensorflow")
        return bh.classroom(NOTEBOOK, pool=pool, timeout=300, extra=extra)
    return bh.voila(NOTEBOOK, timeout=300)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def wait_quiet(pid: int, timeout: float, window: float = 2.0, busy: float = 0.3) -> None:
    """Wait until the process tree under ``pid`` uses less than ``busy`` of a core over ``window`` seconds
    (the pool's kernels have finished running the notebook)."""
    deadline, used = time.monotonic() + timeout, float("nan")
    while time.monotonic() < deadline:
        before = cpu_seconds(descendants(pid))
        time.sleep(window)
        used = (cpu_seconds(descendants(pid)) - before) / window
        if used < busy:
            return
    raise TimeoutError(f"the server was still busy after {timeout:.0f} s ({used:.2f} cores)")


FLAG_BUTTON = ".rnnviz-explorer .rnnviz-return-state :is(input[type=checkbox], button:not(.mod-active))"
CODE_CHANGED_JS = "(before) => { const c = document.querySelector('.rnnviz-explorer .rnnviz-code'); " \
                  "return c && c.innerText !== before; }"


async def visit(browser, url: str, start: asyncio.Event, timeout: float, contexts: list) -> float | str:
    """One visitor: seconds from the request until a click on return_state changes the shapes text.
    (Its context stays open, in ``contexts``, until the browser's CPU time has been read.)"""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    contexts.append(context)
    page = await context.new_page()
    said = []  # what the page logged: on a failure, the last of it says why
    page.on("console", lambda message: said.append(f"{message.type}: {message.text[:160]}"))
    page.on("pageerror", lambda error: said.append(f"page error: {str(error)[:160]}"))
    page.on("websocket", lambda socket: socket.on("close", lambda _: said.append("websocket closed")))
    await start.wait()
    t0, stage = time.perf_counter(), "opening the page"
    try:
        await page.goto(url, wait_until="commit", timeout=timeout * 1000)
        stage = "waiting for the explorer's figure"
        await page.wait_for_function(bh.EXPLORER_READY_JS, timeout=timeout * 1000, polling=100)
        before = await page.locator(".rnnviz-explorer .rnnviz-code").first.inner_text()
        stage = "clicking return_state"
        await page.locator(FLAG_BUTTON).first.click(timeout=timeout * 1000)
        stage = "waiting for the shapes text to change"
        await page.wait_for_function(CODE_CHANGED_JS, arg=before, timeout=timeout * 1000, polling=50)
    except Exception as error:  # noqa: BLE001 - a failed visitor is counted, with why and a screenshot
        picture = Path(tempfile.gettempdir()) / f"bench-classroom-failure-{secrets.token_hex(3)}.png"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(picture), full_page=True)
        said = [line for line in said if "Unsatisfied version" not in line and "No satisfying version" not in line]
        errors = [line for line in said if line.startswith(("error", "page error", "websocket"))]
        last = errors[-6:] or said[-6:]
        return (f"{stage}: {type(error).__name__}: {str(error).splitlines()[0][:100]} (screenshot {picture})"
                + "".join(f"\n        page said: {line}" for line in last))
    return time.perf_counter() - t0


def browser_cpu_seconds() -> float:
    """CPU seconds used so far by every Chromium process (the browser and its pages' renderers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().startswith(("chromium", "chrome")):
                        pids.append(int(entry))
            except OSError:
                continue
    return cpu_seconds(pids)


def niced_chromium(folder: str, niceness: int) -> str:
    """A script in ``folder`` that runs Chromium at ``niceness`` (every page's renderer inherits it)."""
    path = Path(folder) / "chromium"
    path.write_text(f'#!/bin/sh\nexec nice -n {niceness} "{bh.chromium_path()}" "$@"\n')
    path.chmod(0o755)
    return str(path)


async def wave(url: str, visitors: int, timeout: float, nice: int = 0) -> tuple[list[float | str], float]:
    """N visitors at once; their results, and the CPU seconds their browser used. With ``nice`` > 0 the browser
    runs at that lower CPU priority: when both compete for the cores, the server goes first."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p, contextlib.AsyncExitStack() as stack:
        executable = bh.chromium_path()
        if nice:
            executable = niced_chromium(stack.enter_context(tempfile.TemporaryDirectory()), nice)
        browser = await p.chromium.launch(executable_path=executable, headless=True, args=bh.CHROMIUM_ARGS)
        try:
            start, contexts = asyncio.Event(), []
            tasks = [asyncio.create_task(visit(browser, url, start, timeout, contexts)) for _ in range(visitors)]
            await asyncio.sleep(1.0)  # every context open and waiting
            before = browser_cpu_seconds()
            start.set()
            results = await asyncio.gather(*tasks)
            used = browser_cpu_seconds() - before
            for context in contexts:
                await context.close()
            return results, used
        finally:
            await browser.close()


def page_assets(kind: str) -> tuple[str, ...]:
    """The paths (with queries) of the files a browser loads from the server with the dashboard: its scripts,
    styles and fonts, not the page itself nor the kernel's API. From one visit in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with serving(kind, 1, None) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=bh.chromium_path(), headless=True, args=bh.CHROMIUM_ARGS)
        page = browser.new_page()
        seen = []
        page.on("requestfinished", lambda request: seen.append(request.url))
        page.goto(server.url("/"), wait_until="commit")
        page.wait_for_function(bh.EXPLORER_READY_JS, timeout=120_000, polling=100)
        page.wait_for_load_state("networkidle")
        browser.close()
    origin = f"http://127.0.0.1:{server.port}"
    paths = [url.removeprefix(origin) for url in seen if url.startswith(origin)]
    return tuple(path for path in paths if not path.startswith(("/?", "/api/")))


async def protocol_wave(url: str, visitors: int, timeout: float,
                        assets: tuple[str, ...]) -> tuple[list[float | str], float]:
    """N visitors at once without browsers (:mod:`protocol_visitor`): their results, and the CPU seconds these
    clients used (this process's)."""
    async def one():
        try:
            return await protocol_visitor.visit(url, timeout, assets)
        except Exception as error:  # noqa: BLE001 - a failed visitor is counted, with why
            return f"protocol visitor: {type(error).__name__}: {error}"[:300]

    before = time.process_time()
    results = await asyncio.gather(*(one() for _ in range(visitors)))
    return list(results), time.process_time() - before


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def run(kind: str, visitors: int, pool: int, rounds: int, timeout: float, refill_delay: float | None,
        nice: int = 0, clients: str = "browser", assets: tuple[str, ...] = ()) -> dict:
    with serving(kind, pool, refill_delay) as server:
        wait_quiet(server.proc.pid, 300)  # rnnviz-classroom: the pool's kernels have run the notebook
        idle = pss_bytes(descendants(server.proc.pid))
        results, peak, browser_cpu, server_cpu = [], 0, 0.0, 0.0
        for _ in range(rounds if visitors == 1 else 1):
            cpu_before = cpu_seconds(descendants(server.proc.pid))
            with MemorySampler(server.proc.pid) as memory:
                if clients == "browser":
                    got, used = asyncio.run(wave(server.url("/"), visitors, timeout, nice))
                else:
                    got, used = asyncio.run(protocol_wave(server.url("/"), visitors, timeout, assets))
            results += got
            browser_cpu += used
            # the tree's CPU (kernels that ended meanwhile are not counted: none do during a wave)
            server_cpu += cpu_seconds(descendants(server.proc.pid)) - cpu_before
            peak = max(peak, memory.peak)
            if visitors == 1 and rounds > 1:  # the next visitor finds the server quiet again
                wait_quiet(server.proc.pid, 300)
        if any(not isinstance(r, float) for r in results):  # keep the server's log for the failures
            kept = Path(tempfile.gettempdir()) / f"bench-classroom-server-{secrets.token_hex(3)}.log"
            kept.write_bytes(server.log_path.read_bytes())
            results = [r if isinstance(r, float) else f"{r}\n        server log: {kept}" for r in results]
    times = [r for r in results if isinstance(r, float)]
    failures = [r for r in results if not isinstance(r, float)]
    return {
        "kind": kind, "clients": clients, "visitors": visitors, "visits": len(results), "failures": failures,
        "p50": statistics.median(times) if times else float("nan"),
        "p95": percentile(times, 95) if times else float("nan"),
        "each": " ".join(f"{t:.1f}" for t in sorted(times)),
        "idle": idle, "peak": peak, "per_visitor": peak / visitors,
        "browser_cpu": browser_cpu / len(results), "server_cpu": server_cpu / len(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, nargs="*", default=[1, 10, 30], help="N for visitors in headless Chromium")
    parser.add_argument("--plain", type=int, nargs="*", default=[1, 10], help="N for plain voila")
    parser.add_argument("--tensorflow", type=int, nargs="*", default=[30],
                        help="N for rnnviz-classroom --backend tensorflow")
    parser.add_argument("--protocol", type=int, nargs="*", default=[1, 10, 30],
                        help="N for visitors without a browser (benchmarks/protocol_visitor.py): the server's own time, "
                        "as when each visitor's browser runs on their own laptop (plain voila only for N in --plain)")
    parser.add_argument("--pool", type=int, default=None, help="rnnviz-classroom --pool (default: its own)")
    parser.add_argument("--refill-delay", type=float, default=None, help="rnnviz-classroom --refill-delay")
    parser.add_argument("--rounds", type=int, default=5, help="visits one at a time for N=1")
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--browser-nice", type=int, default=0, metavar="N",
                        help="run the visitors' browser at this niceness (e.g. 19): in a classroom the browsers run "
                        "on the learners' own machines, never in the server's way (default: 0, same priority)")
    options = parser.parse_args()
    # Stopped with SIGTERM (`timeout`, `kill`): unwind like Ctrl+C, so the server running in its own session is shut
    # down with its zygote and kernels (without this one was left serving, holding about 4 GiB).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if bh.chromium_path() is None:
        sys.exit(bh.HOW_TO_ENABLE)
    from rnnviz_classroom.cli import DEFAULT_POOL

    pool = options.pool or DEFAULT_POOL
    rows, assets = [], {}
    for clients, counts in (("browser", options.visitors), ("protocol", options.protocol)):
        for visitors in counts:
            for kind in KINDS:
                if (kind == "plain" and visitors not in options.plain) or (
                        kind == "classroom-tensorflow" and (clients == "protocol" or visitors not in options.tensorflow)):
                    continue
                if clients == "protocol" and kind not in assets:
                    assets[kind] = page_assets(kind)
                    print(f"  {kind}: a browser's visit loads {len(assets[kind])} files besides the page", flush=True)
                row = run(kind, visitors, pool, options.rounds, options.timeout, options.refill_delay,
                          options.browser_nice, clients, assets.get(kind, ()))
                rows.append(row)
                print(f"  {kind:20} {clients:8} N={visitors:<3} p50 {row['p50']:6.2f} s  p95 {row['p95']:6.2f} s  "
                      f"failures {len(row['failures'])}  peak {row['peak'] / GIB:5.2f} GiB  (each: {row['each']})",
                      flush=True)
                for failure in row["failures"][:3]:
                    print(f"      {failure}")
    niced = f", browsers at nice {options.browser_nice}" if options.browser_nice else ""
    print(f"\nrnnviz-classroom --pool {pool} vs plain voila, {os.cpu_count()} cores{niced}; N=1: {options.rounds} "
          "visits, one at a time, warm server\n")
    print("| server | visitors | p50 | p95 | failures | idle server | peak, server + kernels | per visitor "
          "| CPU per visitor: server + kernels, browser (or protocol client) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    plain = {row["visitors"]: row for row in rows if row["kind"] == "plain" and row["clients"] == "browser"}
    for row in rows:
        name = KINDS[row["kind"]]
        who = f"{row['visitors']}" + (" without browsers" if row["clients"] == "protocol" else "")
        ratio = ""
        if row["kind"] != "plain" and plain and row["clients"] == "browser":
            n = row["visitors"] if row["visitors"] in plain else max(plain)  # plain Voila is not run at 30
            ratio = f" ({row['per_visitor'] / plain[n]['per_visitor']:.2f}x plain at N={n})"
        print(f"| {name} | {who} | {row['p50']:.2f} s | {row['p95']:.2f} s | "
              f"{len(row['failures'])}/{row['visits']} | {row['idle'] / GIB:.2f} GiB | {row['peak'] / GIB:.2f} GiB | "
              f"{row['per_visitor'] / 2**20:.0f} MiB{ratio} | {row['server_cpu']:.1f} s, {row['browser_cpu']:.2f} s |")
    browser_rows = [row for row in rows if row["clients"] == "browser" and row["visitors"] == 1]
    for row in browser_rows:  # the least time N browsers on this machine need, whatever the server does
        print(f"\n{KINDS[row['kind']]}: one visitor's browser used {row['browser_cpu']:.2f} s of CPU, so "
              f"{max(options.visitors)} browsers on these {os.cpu_count()} cores need at least "
              f"{row['browser_cpu'] * max(options.visitors) / os.cpu_count():.1f} s before the last page works, "
              "even with a server that costs nothing")


if __name__ == "__main__":
    main()
