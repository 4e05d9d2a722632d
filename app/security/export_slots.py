"""Downloads of an account's data running at once, in each worker process.

An export or a backup holds a database connection (and on PostgreSQL a snapshot, which
holds back vacuum; on SQLite a read transaction, which holds back the log's checkpoint) for
as long as it streams. A client that stops reading is cut off (``app.web.exports``), but
one that reads a little now and then keeps it open for hours, and a few such downloads of
large accounts (anyone may sign up and own one) would hold the connection pool every
request needs. So each account may stream ``per_account`` downloads at once, every
account together ``at_once``, and none streams longer than ``seconds``, nor, past its
first ``GRACE_SECONDS``, slower than ``MIN_BYTES_PER_SECOND`` on average (a few slow
readers would otherwise hold every slot for ``seconds``); a download past either cap is
refused (429, to try again later), one past its time or too slow is ended.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

GRACE_SECONDS = 30.0
MIN_BYTES_PER_SECOND = 16 * 1024  # a slow mobile connection takes ten times as much


class ExportsBusy(Exception):
    """No download slot is free now."""


class ExportSlots:
    def __init__(self, *, per_account: int = 1, at_once: int = 4, seconds: float = 900.0):
        self.per_account = per_account
        self.at_once = at_once
        self.seconds = seconds
        self.running: Counter[int] = Counter()

    def over(self, elapsed: float, sent: int) -> str | None:
        """Why a download that has sent ``sent`` bytes in ``elapsed`` seconds is ended now,
        if it is: it has streamed its time, or too slowly."""
        if elapsed > self.seconds:
            return f"it streamed for more than {self.seconds:g} s"
        if elapsed > GRACE_SECONDS and sent < MIN_BYTES_PER_SECOND * elapsed:
            return f"its client took less than {MIN_BYTES_PER_SECOND} bytes a second"
        return None

    @contextlib.contextmanager
    def slot(self, account_id: int) -> Iterator[None]:
        """A slot for one download of ``account_id`` while the block runs; ExportsBusy
        when the account, or the process, streams as many as it may already."""
        if self.running[account_id] >= self.per_account:
            raise ExportsBusy("This account's data is being downloaded already; try again later.")
        if sum(self.running.values()) >= self.at_once:
            raise ExportsBusy("Too many downloads are running; try again in a minute.")
        self.running[account_id] += 1
        try:
            yield
        finally:
            self.running[account_id] -= 1
            if not self.running[account_id]:
                del self.running[account_id]
