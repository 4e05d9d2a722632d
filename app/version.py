"""The installed Roster's version (``roster --version``, the ``/`` page)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=1)
def roster_version() -> str:
    try:
        return version("roster")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"
