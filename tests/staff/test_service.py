"""Rules of the staff service checked on records in memory (``in_manager_cycles``: the
staff import's and the backup restore's manager cycle check)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.staff.service import in_manager_cycles


def _circles(managers: dict[int, int | None], start: int) -> bool:
    """The rule walked plainly: up from ``start`` until the chain ends or repeats."""
    at, passed = managers.get(start), {start}
    while at is not None:
        if at in passed:
            return True
        passed.add(at)
        at = managers.get(at)
    return False


@given(st.dictionaries(st.integers(0, 12), st.none() | st.integers(0, 14), max_size=13))
def test_in_manager_cycles_finds_exactly_the_records_whose_chain_circles(managers):
    ids = list(managers)
    assert in_manager_cycles(managers, ids) == {i for i in ids if _circles(managers, i)}


def test_a_long_chain_is_walked_once():
    chain = {i: i + 1 for i in range(200_000)}  # walked again per record: 2e10 steps
    assert in_manager_cycles(chain, list(chain)) == set()
    chain[199_999] = 0
    assert len(in_manager_cycles(chain, list(chain))) == 200_000
