"""Long CPU work off the event loop: a request that renders a large file (the staff CSV)
hands each batch to ``Offload.run`` and awaits it, so the other requests of the process
keep being served meanwhile.

By default the work runs in a small pool of worker processes: a thread would still share
the interpreter lock with the event loop, and a page served while an export of 100,000
staff renders would take about twice as long. The pool is started on first use with the
``spawn`` method (a fresh interpreter: the server's threads, sockets and database
connections are not copied into it) and receives the encryption keyring once, as its
initial argument, through the pipe that connects it to this process; the keyring is
never put in the environment, a file or a command line. ``workers=0`` runs the work in a
thread of this process instead, and so does a server whose worker processes cannot start
or die (logged once). A program that serves the app from a script of its own must start it
under ``if __name__ == "__main__":``, as ``spawn`` imports the main module again.

A worker process runs at the lowest scheduling priority (``WORKER_NICENESS`` added to its
nice value): an export is background work, and when the machine's CPUs are all busy the
operating system then gives them to the event loop (and the database) serving interactive
requests first, so pages keep their latency while an export renders; an idle machine
still renders at full speed. Nice 19 rather than 10: at 10 the worker still weighs about a
tenth of a request-serving process in the kernel's share of a busy CPU, at 19 about one
seventieth, and the worker's rendering is most of an export's CPU (0.45 s of 20,000 staff,
against about 0.3 s left in the server). An export takes longer on a saturated machine;
pages do not.

Between batches a job calls ``pause``: it lets the interactive requests of the moment be
served first (``app.foreground``).

A function given to ``run`` must be importable by name (module level) and is called as
``fn(keyring, *args)``; its arguments and result travel by pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from app.foreground import Foreground

T = TypeVar("T")
log = logging.getLogger("roster.offload")

_keyring: Any = None  # in a worker process: the keyring it was started with

# Added to a worker process's nice value: the lowest priority (the range is 0-19; a
# value past 19 stays at 19).
WORKER_NICENESS = 19


def _start_worker(keyring) -> None:
    global _keyring
    _keyring = keyring
    with contextlib.suppress(OSError):  # a system that refuses keeps the worker as it is
        os.nice(WORKER_NICENESS)


def _call(fn: Callable[..., T], *args) -> T:
    return fn(_keyring, *args)


class Offload:
    def __init__(self, keyring, workers: int = 1, foreground: Foreground | None = None):
        self.keyring = keyring
        self.workers = workers
        self.foreground = foreground or Foreground()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def in_processes(self) -> bool:
        return self.workers > 0

    def _processes(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.keyring,),
            )
        return self._pool

    def requests_begun(self) -> int:
        """How many interactive requests have begun so far: a job that sees this move
        between two batches knows it is sharing the loop, and makes its batches smaller."""
        return self.foreground.begun

    async def pause(self) -> None:
        """Before a job's next batch: the interactive requests in flight go first."""
        await self.foreground.quiet()

    async def run(self, fn: Callable[..., T], *args) -> T:
        if not self.in_processes:
            return await asyncio.to_thread(fn, self.keyring, *args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._processes(), _call, fn, *args)
        except BrokenProcessPool:
            # a worker could not start or died: serve on, in a thread, and say so once
            log.exception("export worker processes failed; rendering in a thread from now on")
            self.shutdown()
            self.workers = 0
            return await asyncio.to_thread(fn, self.keyring, *args)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
