"""Walking a connection's pages and counting the statements a document sends: what the
tests of every connection's ``totalCount`` share."""

from __future__ import annotations

from app.db.statements import StatementCounter


async def walk(api, member, document, root, **variables) -> tuple[list[str], int]:
    """Every node of the ``root`` connection in pages of two, and the totalCount every page
    gave (the same on each: first/after are not counted)."""
    seen, totals, after = [], set(), None
    while True:
        data = await api.data(document, {"first": 2, "after": after, **variables}, as_=member)
        page = data[root]
        totals.add(page["totalCount"])
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(totals) == 1, totals
    assert len(set(seen)) == len(seen)
    return seen, totals.pop()


async def statements_of(services, api, member, document) -> list[str]:
    """The statements ``document`` sends as ``member``."""
    with StatementCounter(services.db.engine) as counter:
        body = await api(document, as_=member)
    assert "errors" not in body, body
    return counter.statements
