"""A partner integration of Roster through the generated client (roster_client).

It lists the account's staff page by page, invites someone, and reads the invitation's
status back. Configuration comes from the environment:

    ROSTER_URL    the server's base URL, e.g. https://roster.example.com
    ROSTER_TOKEN  an API token (apiTokenCreate) or a session token (login)
    ROSTER_REALM  the slug of the account to work in

    python sync.py new.person@example.com --first-name Ada --last-name Lovelace
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator

from roster_client import (
    GraphQLClientError,
    InvitationCreateInput,
    ReadInvitationNodeInvitation,
    Role,
    RosterClient,
    StaffPageStaffEdgesNode,
)


def client_from_env() -> RosterClient:
    """A client for the server, account and token named by the environment."""
    try:
        url, token, realm = (os.environ[k] for k in ("ROSTER_URL", "ROSTER_TOKEN", "ROSTER_REALM"))
    except KeyError as missing:
        raise SystemExit(f"set {missing.args[0]} (see the module's docstring)") from None
    return RosterClient(
        url=url.rstrip("/") + "/graphql",
        headers={"Authorization": f"Bearer {token}", "X-Auth-Realm": realm},
    )


async def all_staff(
    client: RosterClient, page_size: int, pages: list[int]
) -> AsyncIterator[StaffPageStaffEdgesNode]:
    """Every staff record of the account, one page after another.

    ``pages`` gets each page's totalCount (the records across all pages, as counted then).
    """
    after: str | None = None
    while True:
        page = (await client.staff_page(first=page_size, after=after)).staff
        pages.append(page.total_count)
        for edge in page.edges:
            yield edge.node
        if not page.page_info.has_next_page:
            return
        after = page.page_info.end_cursor


async def sync(client: RosterClient, args: argparse.Namespace) -> int:
    pages: list[int] = []
    people = [person async for person in all_staff(client, args.page_size, pages)]
    print(
        f"staff: {len(people)} of {pages[0]} listed in {len(pages)} page(s) "
        f"of up to {args.page_size}"
    )
    for person in people:
        role = person.role.value if person.role else "-"
        print(f"  #{person.sid} {person.full_name or '(no name)'} [{role}]")

    created = (
        await client.invite_staff(
            InvitationCreateInput(
                email=args.email,
                role=Role(args.role),
                first_name=args.first_name,
                last_name=args.last_name,
            )
        )
    ).invitation_create
    if created.user_errors or created.invitation is None:
        for error in created.user_errors:
            print(f"not invited: {error.code.value} {error.message}", file=sys.stderr)
        return 1
    invitation_id = created.invitation.id
    print(f"invited {args.email} as {args.role}: invitation {invitation_id}")

    node = (await client.read_invitation(id=invitation_id)).node
    if not isinstance(node, ReadInvitationNodeInvitation):
        print(f"invitation {invitation_id} not found", file=sys.stderr)
        return 1
    print(
        f"invitation {node.id}: {node.status.value}, sent {node.sent_count} time(s), "
        f"expires {node.expires_at.isoformat()}"
    )
    return 0


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("email", help="whom to invite")
    parser.add_argument("--first-name")
    parser.add_argument("--last-name")
    parser.add_argument("--role", default=Role.VIEWER.value, choices=[r.value for r in Role])
    parser.add_argument("--page-size", type=int, default=50, help="1 to 100")
    args = parser.parse_args(argv)
    async with client_from_env() as client:
        try:
            return await sync(client, args)
        except GraphQLClientError as error:
            print(f"request failed: {error}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
