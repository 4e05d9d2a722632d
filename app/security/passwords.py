"""argon2id hashing, run in bounded thread pools so it never blocks the event loop.

The pools are bounded so that a flood of logins queues for CPU instead of starving every
other request of threads; the argon2 C code releases the GIL while it works. Their threads
also run at a lower CPU priority than the event loop's: when logins flood in, they get
the CPU that requests leave, not the CPU that requests need.

Two lanes, by what the caller holds while it waits. ``login`` commits its attempt counts
and holds no transaction while argon2 runs (``held=False``): its lane is paced and may
queue behind a flood. Every other check or hash runs inside its request's write
transaction (joining, accepting an invitation, signing up, a reset, a password change, an
ownership transfer): on SQLite that is the one writer lock of the whole server, on
PostgreSQL the account's row lock. Queued behind a flood of logins, or paced, such a hash
held those locks for as long as the flood lasted, and every write waited. So hashes that
hold locks (``held=True``) have a lane of their own: on SQLite one thread (the writer
lock lets one such hash run at a time anyway), on PostgreSQL as many as the login lane
(each waiting request holds a connection: one thread for every account's joins would let
a few fill the pool), never paced, and at the event loop's own priority, since a lock
holder starved of CPU makes every writer wait longer (a nicer thread got a tenth of a CPU
under load). A document may hold one root field that checks or sets a password
(``app.graphql.slow_fields.SlowFieldsPerOperation``), so one
request holds its transaction through one such hash, not thirty aliased ones. Callers say
which lane they need: ``held`` has no default.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
HASHING_NICENESS = 10  # added to the process's niceness, for the hashing threads only


def _yield_to_requests() -> None:
    """Lower the calling thread's scheduling priority (Linux sets niceness per thread)."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + HASHING_NICENESS))


class Pacer:
    """Spaces one thread's back-to-back hashes so that hashing keeps to a share (``duty``)
    of that thread's time: after a hash of t seconds, the next one may start only
    t × (1/duty − 1) later. A hash after a quiet spell starts at once; only a flood waits.

    Lower CPU priority alone does not keep a flood from slowing requests: a request's
    round trips through the server, the database and the client leave the CPU idle for
    moments, the hashing thread fills every one of them, and each hop then waits for it."""

    def __init__(self, duty: float, clock=time.monotonic, sleep=time.sleep):
        if not 0 < duty <= 1:
            raise ValueError("duty must be in (0, 1]")
        self.rest_per_second = 1 / duty - 1
        self.clock, self.sleep = clock, sleep
        self._local = threading.local()

    def run(self, fn, *args):
        wait = getattr(self._local, "not_before", 0.0) - self.clock()
        if wait > 0:
            self.sleep(wait)
        started = self.clock()
        try:
            return fn(*args)
        finally:
            ended = self.clock()
            self._local.not_before = ended + (ended - started) * self.rest_per_second


class PasswordService:
    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        workers: int,
        duty: float = 1.0,
        held_workers: int = 1,
    ):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_yield_to_requests
        )
        self._held_pool = ThreadPoolExecutor(
            max_workers=held_workers, thread_name_prefix="argon2-held"
        )
        self._pacer = Pacer(duty)
        # A real hash of a random string: unknown emails are verified against it so a
        # login takes the same time whether or not the account exists.
        self._dummy_hash = self._hasher.hash("roster-timing-equaliser-" + str(id(self)))

    @classmethod
    def from_settings(cls, settings) -> PasswordService:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
            workers=settings.password_hash_workers,
            duty=settings.password_hash_duty,
            held_workers=1 if settings.is_sqlite else settings.password_hash_workers,
        )

    async def _run(self, held: bool, fn, *args):
        loop = asyncio.get_running_loop()
        if held:  # never paced: nobody sleeps while holding a lock
            return await loop.run_in_executor(self._held_pool, fn, *args)
        return await loop.run_in_executor(self._pool, self._pacer.run, fn, *args)

    async def hash(self, password: str, *, held: bool) -> str:
        """``held``: the caller holds a transaction (and its locks) while it waits."""
        return await self._run(held, self._hasher.hash, password)

    def _verify_sync(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy_hash, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str, *, held: bool) -> bool:
        """Check a password; with no stored hash it still spends the same time and fails.
        ``held``: the caller holds a transaction (and its locks) while it waits."""
        return await self._run(held, self._verify_sync, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._held_pool.shutdown(wait=False, cancel_futures=True)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Return why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    if email and password.strip().casefold() == email.strip().casefold():
        return "Password must not be the email address."
    return None
