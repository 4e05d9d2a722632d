from __future__ import annotations

from collections.abc import Sequence

import strawberry


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    # A resolver, not a dataclass field: every implementing type computes its id from its row,
    # so `id` is no constructor argument.
    @strawberry.field(description="Global id; pass it to `node(id:)`.")
    def id(self) -> strawberry.ID:
        raise NotImplementedError


@strawberry.type(description="Relay pagination state of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item; pass it as `after` for the next page."
    )


def page_info(cursors: Sequence[str], has_next: bool, has_previous: bool) -> PageInfo:
    """The page info of a page whose edges carry ``cursors``, in order."""
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


def after_page_info(edges: Sequence, has_next: bool, after: str | None) -> PageInfo:
    """The page info of a newest-first list paged only forward, by ``after``: a page
    follows another exactly when ``after`` was given."""
    return page_info([e.cursor for e in edges], has_next, after is not None)
