"""Voilà's pool of ready kernels, with one change: a visitor never waits for a delayed refill.

Voilà keeps ``--pool`` kernels that have already run the notebook. When a visitor takes one, Voilà puts a
replacement in the pool at once, as a task that sleeps ``fill_delay`` seconds before it starts its kernel
(``rnnviz-classroom --refill-delay``, 300 s by default, so that thirty replacements do not compete with a
class that is still arriving). A visitor who comes after the pool's kernels are all taken is handed that
sleeping task, and waits out the rest of its delay: measured with a pool of 4 and a delay of 300 s, the fifth
and later visitors' pages did not start within 240 s.

:func:`install` changes that: a visitor who is handed a sleeping replacement wakes it, so its kernel starts now
(a fork of the zygote, then the notebook's run: a few seconds), and the other replacements keep their delay.

It patches two names in Voilà 0.5 (``voila.voila_kernel_manager.wait_before`` and
``voila.app.voila_kernel_manager_factory``); :func:`install` checks they are there and says so if not.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable

#: The wake-up of each replacement task: set when a visitor asks for it (before or during its delay).
_wakes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def wait_before(delay: float, aw: Awaitable):
    """Voilà's ``wait_before``: sleep ``delay`` seconds, then await ``aw``; but stop sleeping when hurried."""
    wake = _wakes.setdefault(asyncio.current_task(), asyncio.Event())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(wake.wait(), delay)
    return await aw


def hurry(task: asyncio.Task) -> None:
    """Start the replacement ``task`` now if it is still sleeping out its delay (or has not started yet)."""
    _wakes.setdefault(task, asyncio.Event()).set()


def hurrying(manager_class: type) -> type:
    """A subclass of Voilà's kernel manager ``manager_class`` whose visitors hurry the pool item they are handed."""

    class HurryingKernelManager(manager_class):
        async def get_rendered_notebook(self, notebook_name: str, *args, **kwargs):
            pool = self._pools.get(notebook_name) or []
            if pool and isinstance(pool[0], asyncio.Task):
                hurry(pool[0])
            return await super().get_rendered_notebook(notebook_name, *args, **kwargs)

    HurryingKernelManager.__name__ = HurryingKernelManager.__qualname__ = f"Hurrying{manager_class.__name__}"
    return HurryingKernelManager


def install() -> None:
    """Make the Voilà in this process hand a visitor beyond the pool a kernel started at once. Call before Voilà
    starts; raises ``RuntimeError`` naming what is missing in a Voilà whose internals differ."""
    from voila import app, voila_kernel_manager

    for module, name in ((voila_kernel_manager, "wait_before"), (app, "voila_kernel_manager_factory")):
        if not callable(getattr(module, name, None)):
            raise RuntimeError(f"rnnviz-classroom: this Voila has no {module.__name__}.{name}; it was written for "
                               "Voila 0.5 (pip install 'voila>=0.5.8,<0.6')")
    if getattr(app.voila_kernel_manager_factory, "hurrying", False):
        return
    factory = app.voila_kernel_manager_factory

    def hurrying_factory(*args, **kwargs):
        made = factory(*args, **kwargs)
        return hurrying(made) if "get_rendered_notebook" in vars(made) else made  # only a preheating manager has one

    hurrying_factory.hurrying = True
    voila_kernel_manager.wait_before = wait_before
    app.voila_kernel_manager_factory = hurrying_factory
