"""The documents the benchmark sends."""

from __future__ import annotations

from tests.documents import PAGE_QUERY  # the staff page, as the tests send it too

# PostGraphile v4's equivalent of PAGE_QUERY's list: same rows (account, not disabled,
# active), same order, same columns, the manager's name and the custom field values with
# their field's name.
POSTGRAPHILE_QUERY = """query Page($first: Int!, $accountId: Int!) {
  allStaff(first: $first, orderBy: [LAST_NAME_KEY_ASC, ID_ASC],
           condition: {accountId: $accountId, isInactive: false}) {
    edges {
      cursor
      node {
        nodeId id sid firstName lastName title company notes isInactive restricted
        role kind accountStatus userId createdAt modifiedAt email phoneCell phoneWork
        startDate capacity rate1 homeTimezone
        manager { firstName lastName }
        customFieldValuesByStaffId(orderBy: FIELD_ID_ASC) {
          nodes { value customFieldByFieldId { name } }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

LOGIN_MUTATION = """mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token
    userErrors { code }
  }
}"""

__all__ = ["LOGIN_MUTATION", "PAGE_QUERY", "POSTGRAPHILE_QUERY"]
