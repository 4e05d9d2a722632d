"""Roster: a multi-tenant GraphQL API for an organisation's people."""

__version__ = "0.1.0"
