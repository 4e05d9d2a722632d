"""The suite's documents (``bench.suite``): what clients send, not only the benchmark page.

Each entry is a name, the document, its variables (some filled in from the seeded data:
a cursor to walk on, a record's global id) and the roles that send it. The README's tour
queries are copied verbatim (``TOUR_*``); a test (tests/bench) checks they still are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.queries import PAGE_QUERY

ADMIN, VIEWER = "administrator", "viewer"

PAGE_COUNT_QUERY = PAGE_QUERY.replace("query Page(", "query PageCount(").replace(
    "staff(first: $first) {", "staff(first: $first) {\n    totalCount"
)

TWO_FIELDS_QUERY = """query Names($first: Int!) {
  staff(first: $first) { edges { node { id fullName } } }
}"""

# The benchmark page as a frontend writes it: fragments, a variable for the page size and
# one for the cursor, an @include. Same fields and order as PAGE_QUERY: the same JSON.
FRAGMENTS_QUERY = """query DirectoryPage($first: Int!, $after: String, $withCustom: Boolean!) {
  staff(first: $first, after: $after) {
    edges { cursor node { ...StaffRow } }
    pageInfo { ...More }
  }
}

fragment StaffName on Staff { firstName lastName fullName }

fragment StaffRow on Staff {
  id sid ...StaffName title company notes isInactive restricted
  role kind accountStatus hasLogin createdAt modifiedAt email phoneCell phoneWork
  startDate capacity rate1 homeTimezone viewerCanSeePersonalData viewerCanEdit
  manager { fullName }
  customFields @include(if: $withCustom) { field { name } value }
}

fragment More on PageInfo { hasNextPage endCursor }"""

AFTER_QUERY = """query PageAfter($first: Int!, $after: String) {
  staff(first: $first, after: $after) {
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

SEARCH_QUERY = """query Search($search: String!) {
  staff(first: 20, search: $search) {
    edges { node { id sid fullName title company email } }
    pageInfo { hasNextPage endCursor }
  }
}"""

NODE_QUERY = """query Node($id: ID!) {
  node(id: $id) {
    id
    ... on Staff { sid fullName title email manager { fullName } }
  }
}"""

VIEWER_QUERY = """query Me {
  viewer { role permits user { email } account { name slug } }
}"""

INVITATIONS_QUERY = """query Invitations($first: Int!) {
  invitations(first: $first) {
    edges { cursor node { id email role status sentCount expiresAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""

AUDIT_QUERY = """query Audit($first: Int!) {
  auditLog(first: $first) {
    edges { cursor node { id action targetType actorStaffId createdAt diff } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# --- the README's tour, verbatim ----------------------------------------------------

TOUR_VIEWER = """{
  viewer {
    user { email }
    role
    permits
    account { name slug seats { limit used available } }
  }
}"""

TOUR_DIRECTORY = """{
  staff(first: 5, search: "engineer", sort: {key: LAST_NAME, direction: ASC},
        filter: {kinds: [EMPLOYEE], includeInactive: false}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id sid fullName title role accountStatus
        manager { fullName }
        email phoneCell viewerCanSeePersonalData viewerCanSeeDetails viewerCanEdit
        status { name }
        customFields { field { name } value }
      }
    }
  }
}"""

TOUR_CHART = """{
  staffBySid(sid: 2) {
    fullName effectiveTimezone
    reportingChain { fullName }
    directReports(first: 3) { totalCount nodes { sid fullName } }
    invitation { status }
  }
  staff(first: 5, sort: {key: ROLE}, filter: {sids: [1, 2, 3]}) { nodes { sid role } }
}"""

TOUR_CUSTOM_FIELDS = """{
  customFields { id name type options personal }
  customFieldValues(names: ["T-shirt size"]) { staff { fullName } value }
}"""

TOUR_PICKLISTS = """{
  picklists {
    roles { value description permits }
    staffStatuses { id name archived }
    staffKinds
  }
}"""

TOUR_INVITATIONS = """{
  account { seats { limit used reserved available } }
  invitations(first: 10, status: PENDING) { edges { node { email role status sentCount } } }
}"""

TOUR_AUDIT = """{
  auditLog(first: 5) {
    edges { node { action targetType actorStaffId requestId createdAt diff } }
  }
}"""

TOUR = (
    TOUR_VIEWER,
    TOUR_DIRECTORY,
    TOUR_CHART,
    TOUR_CUSTOM_FIELDS,
    TOUR_PICKLISTS,
    TOUR_INVITATIONS,
    TOUR_AUDIT,
)


@dataclass(frozen=True)
class Document:
    name: str
    query: str
    variables: dict = field(default_factory=dict)
    roles: tuple[str, ...] = (ADMIN, VIEWER)
    # variables taken from the seeded data: name -> key of ``Context``
    filled: dict = field(default_factory=dict)

    def body(self, context: dict) -> dict:
        variables = {**self.variables, **{k: context[v] for k, v in self.filled.items()}}
        body: dict = {"query": self.query}
        if variables:
            body["variables"] = variables
        return body


SUITE: list[Document] = [
    Document("page", PAGE_QUERY, {"first": 50}),
    Document("page + totalCount", PAGE_COUNT_QUERY, {"first": 50}),
    Document("two fields", TWO_FIELDS_QUERY, {"first": 50}),
    Document("fragments + variables", FRAGMENTS_QUERY, {"first": 50, "withCustom": True}),
    Document("page 3 (after)", AFTER_QUERY, {"first": 50}, filled={"after": "cursor_2"}),
    Document("search", SEARCH_QUERY, {"search": "grace"}),
    Document("node", NODE_QUERY, filled={"id": "node_id"}),
    Document("viewer", VIEWER_QUERY),
    Document("invitations", INVITATIONS_QUERY, {"first": 20}, roles=(ADMIN,)),
    Document("audit log", AUDIT_QUERY, {"first": 20}, roles=(ADMIN,)),
    Document("tour: viewer", TOUR_VIEWER),
    Document("tour: directory", TOUR_DIRECTORY),
    Document("tour: chart", TOUR_CHART),
    Document("tour: custom fields", TOUR_CUSTOM_FIELDS, roles=(ADMIN,)),
    Document("tour: picklists", TOUR_PICKLISTS),
    Document("tour: invitations", TOUR_INVITATIONS, roles=(ADMIN,)),
    Document("tour: audit log", TOUR_AUDIT, roles=(ADMIN,)),
]
