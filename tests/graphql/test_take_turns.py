"""TakeTurns (app/graphql/extensions.py): a request resolved over many turns of the event
loop still loads each relation in one batch, always moves on, and never waits on a field
graphql-core abandoned.

A schema of its own keeps the turns in view: ``SLICE_SECONDS`` is made tiny, so every
field of a request waits for a turn, as on a loaded machine."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
import strawberry
from strawberry.dataloader import DataLoader

from app.graphql import extensions
from app.graphql.extensions import TakeTurns, TurnLoop

ITEMS = 30


class Ctx:
    """What TakeTurns and TurnLoop need of a request's context: a place for ``turns``."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.loader: DataLoader | None = None

    def values(self) -> DataLoader:
        if self.loader is None:

            async def batch(keys):
                self.batches.append(list(keys))
                await asyncio.sleep(0)  # a database round trip
                return [k * 10 for k in keys]

            loop = cast(asyncio.AbstractEventLoop, TurnLoop(self))
            self.loader = DataLoader(load_fn=batch, loop=loop)
        return self.loader


@strawberry.type
class Item:
    id: int

    @strawberry.field
    def name(self) -> str:
        return f"item {self.id}"

    @strawberry.field
    async def value(self, info: strawberry.Info) -> int:
        return await info.context.values().load(self.id)

    @strawberry.field
    def checked(self) -> str:  # non-null: an error here abandons the item's other fields
        if self.id == 0:
            raise ValueError("item 0 fails")
        return "ok"


@strawberry.type
class Group:
    id: int

    @strawberry.field
    def items(self) -> list[Item | None]:
        return [Item(id=self.id * 100 + i) for i in range(ITEMS)]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return [Item(id=i) for i in range(ITEMS)]

    @strawberry.field
    async def groups(self) -> list[Group]:
        await asyncio.sleep(0)
        return [Group(id=i) for i in range(1, 4)]


SCHEMA = strawberry.Schema(query=Query, extensions=[TakeTurns])


@pytest.fixture
def tiny_slices(monkeypatch):
    monkeypatch.setattr(extensions, "SLICE_SECONDS", 1e-7)


async def run(query: str) -> tuple[dict | None, list, Ctx]:
    ctx = Ctx()
    async with asyncio.timeout(10):
        result = await SCHEMA.execute(query, context_value=ctx)
    return result.data, result.errors or [], ctx


@pytest.mark.parametrize("sliced", [False, True], ids=["one slice", "a turn per field"])
async def test_fields_resolved_over_many_turns_load_in_one_batch(request, sliced):
    if sliced:
        request.getfixturevalue("tiny_slices")
    data, errors, ctx = await run("{ items { name value } groups { items { value } } }")
    assert errors == []
    assert [i["value"] for i in data["items"]] == [i * 10 for i in range(ITEMS)]
    assert [i["value"] for i in data["groups"][2]["items"]] == [
        (300 + i) * 10 for i in range(ITEMS)
    ]
    # The groups' items are reached turns after the top list's (the groups wait on their
    # own), and still load in the same batch.
    assert [len(b) for b in ctx.batches] == [4 * ITEMS]


async def test_concurrent_requests_sliced_finely_each_move_on(tiny_slices):
    """Another request's work between a turn and the fields it woke does not use up their
    slice: each turn moves each request on, so none waits on the other for ever."""
    results = await asyncio.gather(*(run("{ items { name value } }") for _ in range(4)))
    for data, errors, _ctx in results:
        assert errors == []
        assert [i["value"] for i in data["items"]] == [i * 10 for i in range(ITEMS)]


@pytest.mark.parametrize("sliced", [False, True], ids=["one slice", "a turn per field"])
async def test_an_item_whose_field_fails_leaves_the_others_loaded_in_one_batch(request, sliced):
    if sliced:
        request.getfixturevalue("tiny_slices")
    data, errors, ctx = await run("{ items { value checked } }")
    assert [e.message for e in errors] == ["item 0 fails"]
    assert data["items"][0] is None
    assert [i["value"] for i in data["items"][1:]] == [i * 10 for i in range(1, ITEMS)]
    assert len(ctx.batches) == 1


async def test_a_field_that_never_starts_does_not_hold_the_loaders_back():
    """A field handed to graphql-core that never starts (its task cancelled first, say)
    holds a dispatch back for a few turns only."""
    turns = TakeTurns()
    ctx = Ctx()
    info = SimpleNamespace(context=ctx)

    done = asyncio.get_running_loop().create_future()
    done.set_result(1)
    never_started = turns.resolve(lambda *_a, **_k: done, None, info)
    assert turns.unstarted == 1
    async with asyncio.timeout(5):
        assert await ctx.values().load(7) == 70
    never_started.close()
    assert ctx.batches == [[7]]
    assert turns.unstarted == 0  # given up on: later dispatches do not wait for it


# --- a long list is completed over turns, not in one go ----------------------------------

LONG = extensions._LONG_LIST * 3


class CountedTurns(TakeTurns):
    """TakeTurns counting the fields graphql-core hands it (``resolve``: each item of a
    list being completed hands its fields over at once, whether they run or wait)."""

    handed = 0

    def resolve(self, _next, root, info, *args, **kwargs):
        CountedTurns.handed += 1
        return super().resolve(_next, root, info, *args, **kwargs)


@strawberry.type
class LongQuery:
    @strawberry.field
    def many(self) -> list[Item]:
        return [Item(id=i) for i in range(LONG)]

    @strawberry.field
    async def many_later(self) -> list[Item]:
        await asyncio.sleep(0)
        return [Item(id=i) for i in range(LONG)]

    @strawberry.field
    def names(self) -> list[str]:
        return [f"name {i}" for i in range(LONG)]


LONG_SCHEMA = strawberry.Schema(query=LongQuery, extensions=[CountedTurns])


@pytest.mark.parametrize("root", ["many", "manyLater"])
async def test_a_long_list_is_completed_over_turns(tiny_slices, root):
    """graphql-core completes a list's items in one loop; a list longer than _LONG_LIST is
    handed over item by item, waiting for a turn past its slice, so a task beside it moves
    on while the list is completed (1,200 items held the loop 0.1 s in one go)."""
    most = 0
    done = False

    async def tick():
        nonlocal most
        while not done:
            most = max(most, CountedTurns.handed)
            CountedTurns.handed = 0
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        async with asyncio.timeout(10):
            result = await LONG_SCHEMA.execute(f"{{ {root} {{ id name }} }}", context_value=Ctx())
    finally:
        done = True
        await ticker
    assert result.errors is None
    assert [i["name"] for i in result.data[root]] == [f"item {i}" for i in range(LONG)]
    # two fields an item, handed over at most a look's worth of items at a time
    assert most <= 2 * extensions._ITEMS_PER_LOOK + 1, most


async def test_a_long_list_of_scalars_is_answered_whole(tiny_slices):
    """Scalars cost little to complete: such a list is handed over as it is."""
    result = await LONG_SCHEMA.execute("{ names many { id } }", context_value=Ctx())
    assert result.errors is None
    assert result.data["names"] == [f"name {i}" for i in range(LONG)]
    assert [i["id"] for i in result.data["many"]] == list(range(LONG))


async def test_a_field_that_waits_after_the_request_stopped_never_runs():
    """Past its time limit a request stops; graphql-core may still go on with fields it
    had abandoned (settled in the background): one that would wait for a turn is
    cancelled instead of running its resolver (which could open a session nobody
    closes)."""
    turns = TakeTurns()
    ctx = Ctx()
    info = SimpleNamespace(context=ctx)
    ran = []
    turns.resolve(lambda *_a, **_k: ran.append("first"), None, info)  # within its slice
    turns.since -= 1.0  # its slices used up: the next field waits for a turn
    turns.stop()
    later = turns.resolve(lambda *_a, **_k: ran.append("after the stop"), None, info)
    with pytest.raises(asyncio.CancelledError):
        await later
    assert ran == ["first"]
