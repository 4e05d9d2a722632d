"""Live subscribers of one process: committed events, read once, handed to the followers of
their account.

The hub (``app.events.bus``) announces ids; ``Live`` reads each announced event once (one
statement per batch, whatever the number of subscribers) and hands it to the followers of
that event's account only. What a follower may see of it is its own business (it reads the
records with its own access checks, ``app.events.visibility``): a ``Note`` carries ids, a
type and field names, nothing personal.

Each account has a cap on the followers it may have in one process
(``subscriptions_per_account``), and each member of it a smaller one
(``subscriptions_per_member``), so that one member's sockets cannot take every follower
the account may have; the account's guests (people from outside the organisation) hold at
most half of its followers together, so that they cannot take them all either. Following
past any of these raises ``LimitReached``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from app.access import Role
from app.db.engine import Database
from app.errors import DomainError, ErrorCode
from app.events import queries
from app.events.bus import HUB, QUEUE_LIMIT, Hub

log = logging.getLogger("roster.events")


READ_BATCH = 1000  # announced ids read in one statement


class LimitReached(DomainError):
    code = ErrorCode.LIMIT_REACHED


@dataclass(frozen=True, slots=True)
class Note:
    """A committed event as followers receive it."""

    id: int
    uid: str
    account_id: int
    type: str
    subject_type: str
    subject_id: int
    fields: tuple[str, ...]
    occurred_at: datetime


# Put in a waiting follower's queue to wake it: no change, only a turn to look at ``lost``.
WAKE = Note(0, "", 0, "", "", 0, (), datetime.min)


class Follower:
    """One subscriber's queue of notes, at most ``backlog`` long.

    A subscriber that falls further behind takes no more notes from then on (``lost``): it
    is sent the ones it holds, in order, and then told that changes followed which it will
    never be sent, so that it reads what it follows afresh rather than going on with a gap
    it cannot see. One commit may announce thousands of changes at once (a staff import).
    How many it lost is not told: the notes are counted before the subscriber's access
    decides what it would have been sent, so their number would tell of changes it may not
    see."""

    def __init__(self, account_id: int, subjects: frozenset[str], backlog: int = QUEUE_LIMIT):
        self.account_id = account_id
        self.subjects = subjects
        self.queue: asyncio.Queue[Note] = asyncio.Queue(backlog)
        self.lost = False

    @property
    def backlog(self) -> int:
        return self.queue.maxsize

    def offer(self, note: Note) -> None:
        if note.subject_type not in self.subjects or self.lost:
            return
        if self.queue.full():
            self.lost = True
            return
        self.queue.put_nowait(note)

    def lose(self) -> None:
        """Changes it should have been offered are lost (their read failed): it takes no
        more, and a subscriber waiting on an empty queue is woken to be told (``WAKE``)."""
        self.lost = True
        if self.queue.empty():
            self.queue.put_nowait(WAKE)


class Live:
    """The process's fan-out from the hub to its followers, by account."""

    def __init__(
        self,
        db: Database,
        hub: Hub = HUB,
        *,
        per_account: int = 200,
        per_member: int = 50,
        backlog: int = QUEUE_LIMIT,
    ):
        self.db = db
        self.hub = hub
        self.per_account = per_account
        self.per_member = per_member
        self.backlog = backlog
        self._followers: dict[int, set[Follower]] = defaultdict(set)
        self._members: dict[tuple[int, int], int] = defaultdict(int)  # followers by member
        self._guests: dict[int, int] = defaultdict(int)  # guests' followers by account
        self._task: asyncio.Task | None = None
        self._queue: asyncio.Queue[int] | None = None

    def count(self, account_id: int) -> int:
        return len(self._followers.get(account_id, ()))

    @contextlib.asynccontextmanager
    async def follow(
        self, account_id: int, subjects: frozenset[str], *, user_id: int, role: Role
    ) -> AsyncIterator[Follower]:
        """A follower of the account's events about ``subjects`` for the ``with`` block, for
        the account's member with login ``user_id`` and ``role``."""
        guest = role is Role.GUEST
        followers = self._followers.get(account_id, set())
        if len(followers) >= self.per_account:
            raise LimitReached(
                "This account has as many live subscriptions as it may have; "
                "end one before starting another."
            )
        member = (account_id, user_id)
        if self._members.get(member, 0) >= self.per_member:
            raise LimitReached(
                "You have as many live subscriptions in this account as one member may; "
                "end one before starting another."
            )
        if guest and self._guests.get(account_id, 0) >= max(1, self.per_account // 2):
            raise LimitReached(
                "This account's guests have as many live subscriptions as they may have "
                "together; end one before starting another."
            )
        self._start()
        follower = Follower(account_id, subjects, self.backlog)
        followers = self._followers.setdefault(account_id, followers)
        followers.add(follower)
        self._members[member] += 1
        if guest:
            self._guests[account_id] += 1
        try:
            yield follower
        finally:
            followers.discard(follower)
            if not followers:
                self._followers.pop(account_id, None)
            self._members[member] -= 1
            if not self._members[member]:
                del self._members[member]
            if guest:
                self._guests[account_id] -= 1
                if not self._guests[account_id]:
                    del self._guests[account_id]

    def _start(self) -> None:
        if self._task is None or self._task.done():
            # Without a limit: this is the process's one reader of every account's ids, and
            # one commit may announce thousands at once (a staff import); a bounded queue
            # lost the oldest, other accounts' events among them. It holds ids only, and is
            # read in batches as fast as the database answers.
            self._queue = self.hub.listen(limit=0)
            self._task = asyncio.create_task(self._run(self._queue))

    async def _run(self, queue: asyncio.Queue[int]) -> None:
        try:
            while True:
                ids = [await queue.get()]
                while not queue.empty() and len(ids) < READ_BATCH:
                    ids.append(queue.get_nowait())
                if not self._followers:
                    continue
                try:
                    await self._deliver(ids)
                except Exception:
                    # whose they were is unknown: every follower may have lost one, and
                    # is told so rather than going on with a gap
                    log.exception("reading announced events failed; %d not delivered", len(ids))
                    for followers in self._followers.values():
                        for follower in followers:
                            follower.lose()
        finally:
            self.hub.forget(queue)

    async def _deliver(self, ids: list[int]) -> None:
        async with self.db.session() as session:
            rows = await queries.announced(session, ids, list(self._followers))
        for row in rows:
            note = Note(
                id=row.id,
                uid=row.uid,
                account_id=row.account_id,
                type=row.type,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                fields=tuple((row.data or {}).get("fields", ())),
                occurred_at=row.occurred_at,
            )
            for follower in list(self._followers.get(row.account_id, ())):
                follower.offer(note)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
