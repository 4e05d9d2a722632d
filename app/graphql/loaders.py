"""Per-request DataLoaders: one statement per batch, whatever the page size."""

from __future__ import annotations

import asyncio
from typing import cast

from strawberry.dataloader import DataLoader

from app.custom_fields import service as custom_fields
from app.graphql.context import Context
from app.graphql.extensions import TurnLoop
from app.staff import service as staff_service
from app.webhooks import service as webhooks_service


class _Loader(DataLoader):
    """Dispatches its batches once no field of the request waits for its turn (TurnLoop,
    see TakeTurns), so fields resolved over several turns still load in one batch."""

    def prime_many(self, data, force: bool = False) -> None:
        # Primed values are futures of the running loop itself (asyncio checks).
        turn_loop, self._loop = self._loop, asyncio.get_running_loop()
        try:
            super().prime_many(data, force)
        finally:
            self._loop = turn_loop


def _loader(ctx: Context, name: str, batch):
    loader = ctx.loaders.get(name)
    if loader is None:
        # TurnLoop stands in for the event loop (it passes on all but call_soon).
        loop = cast(asyncio.AbstractEventLoop, TurnLoop(ctx))
        loader = ctx.loaders[name] = _Loader(load_fn=batch, loop=loop)
    return loader


def staff_by_id(ctx: Context, actor) -> DataLoader:
    """Records by id, as ``actor`` sees them (one they do not see loads as None)."""

    async def batch(ids):
        async with ctx.db() as session:
            found = await staff_service.get_many(session, actor, list(ids))
        return [found.get(i) for i in ids]

    return _loader(ctx, "staff_by_id", batch)


def reporting_chains(ctx: Context, actor) -> DataLoader:
    async def batch(ids):
        async with ctx.db() as session:
            found = await staff_service.reporting_chains(session, actor, list(ids))
        return [found.get(i, []) for i in ids]

    return _loader(ctx, "reporting_chains", batch)


def custom_values(ctx: Context, account_id: int) -> DataLoader:
    async def batch(ids):
        async with ctx.db() as session:
            found = await custom_fields.values_for_staff(session, account_id, list(ids))
        return [found.get(i, []) for i in ids]

    return _loader(ctx, "custom_values", batch)


def granted_permits(ctx: Context) -> DataLoader:
    async def batch(ids):
        async with ctx.db() as session:
            found = await staff_service.granted_permits(session, list(ids))
        return [found.get(i, set()) for i in ids]

    return _loader(ctx, "granted_permits", batch)


def shared_with(ctx: Context, actor) -> DataLoader:
    async def batch(ids):
        async with ctx.db() as session:
            found = await staff_service.shared_with(session, actor, list(ids))
        return [found.get(i, []) for i in ids]

    return _loader(ctx, "shared_with", batch)


async def statuses(ctx: Context, account_id: int) -> dict:
    """All of the account's statuses, loaded once per request."""
    if "statuses" not in ctx.loaders:
        async with ctx.db() as session:
            # Sibling resolvers queue on the lock; only the first one loads.
            if "statuses" not in ctx.loaders:
                ctx.loaders["statuses"] = await staff_service.statuses_by_id(session, account_id)
    return ctx.loaders["statuses"]


def project_members(ctx: Context, account_id: int) -> DataLoader:
    from app.projects import service as projects

    async def batch(ids):
        async with ctx.db() as session:
            found = await projects.members_of(session, account_id, list(ids))
        return [found.get(i, []) for i in ids]

    return _loader(ctx, "project_members", batch)


def staff_projects(ctx: Context, account_id: int) -> DataLoader:
    from app.projects import service as projects

    async def batch(ids):
        async with ctx.db() as session:
            found = await projects.projects_of(session, account_id, list(ids))
        return [found.get(i, []) for i in ids]

    return _loader(ctx, "staff_projects", batch)


async def team_roles(ctx: Context, account_id: int) -> dict:
    """All of the account's project team roles, loaded once per request."""
    from app.projects import service as projects

    if "team_roles" not in ctx.loaders:
        async with ctx.db() as session:
            if "team_roles" not in ctx.loaders:
                rows = await projects.team_roles(session, account_id)
                ctx.loaders["team_roles"] = {r.id: r for r in rows}
    return ctx.loaders["team_roles"]


def latest_invitation(ctx: Context, actor) -> DataLoader:
    """Each staff record's latest invitation, where the actor may see it (else None)."""
    from app.invitations import service as invitations

    async def batch(ids):
        async with ctx.db() as session:
            found = await invitations.latest_for_staff(session, actor, list(ids))
        return [found.get(i) for i in ids]

    return _loader(ctx, "latest_invitation", batch)


def endpoint_standing(ctx: Context) -> DataLoader:
    """Whether webhook endpoints (keyed by the rows) are vouched for, and told personal
    data (``webhooks.service.standing``): both from one read, whichever fields ask."""

    async def batch(endpoints):
        async with ctx.db() as session:
            found = await webhooks_service.standing(session, list(endpoints))
        return [(e.id in found.vouched, e.id in found.personal) for e in endpoints]

    return _loader(ctx, "endpoint_standing", batch)
