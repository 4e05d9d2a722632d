"""GraphQL documents that several tests send (and the benchmark too: bench/queries.py)."""

from __future__ import annotations

# The staff page: the hot document (app/graphql/hot.py), with personal fields, the manager
# and the custom fields.
PAGE_QUERY = """query Page($first: Int!) {
  staff(first: $first) {
    edges {
      cursor
      node {
        id sid firstName lastName fullName title company notes isInactive restricted
        role kind accountStatus hasLogin createdAt modifiedAt email phoneCell phoneWork
        startDate capacity rate1 homeTimezone viewerCanSeePersonalData viewerCanEdit
        manager { fullName }
        customFields { field { name } value }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
