"""Roster's few imports of strawberry's non-public modules hold on the installed release."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re

from graphql import parse, specified_rules

from app.graphql import strawberry_internals
from app.graphql.schema import build_schema

APP = pathlib.Path(strawberry_internals.__file__).parents[1]
# strawberry's documented modules: the package itself and these.
PUBLIC = {
    "strawberry",
    "strawberry.asgi",
    "strawberry.dataloader",
    "strawberry.exceptions",
    "strawberry.extensions",
    "strawberry.file_uploads",  # `Upload`, as strawberry's file-upload docs import it
    "strawberry.scalars",
    "strawberry.subscriptions",
    "strawberry.tools",
    "strawberry.types",
    "strawberry.types.graphql",
    "strawberry.utils.str_converters",
}


def test_the_installed_strawberry_is_a_release_the_internals_were_checked_against():
    installed = importlib.metadata.version("strawberry-graphql")
    release = tuple(int(p) for p in re.findall(r"\d+", installed)[:3])
    low, high = strawberry_internals.TESTED_STRAWBERRY
    assert low <= release < high, (
        f"strawberry-graphql {installed} is not a release app/graphql/strawberry_internals.py "
        f"was checked against ({low} to before {high}): check validate_document and "
        "InvalidOperationTypeError there, then widen TESTED_STRAWBERRY"
    )


def test_validate_document_validates_as_strawberry_does():
    schema = build_schema()._schema
    rules = tuple(specified_rules)
    assert strawberry_internals.validate_document(schema, parse("{ __typename }"), rules) == []
    errors = strawberry_internals.validate_document(schema, parse("{ nope }"), rules)
    assert [e.message.startswith("Cannot query field 'nope'") for e in errors] == [True]


def test_no_other_module_imports_strawberry_internals():
    imports = re.compile(r"^\s*(?:from|import) (strawberry[\w.]*)", re.MULTILINE)
    found = {
        (path.relative_to(APP.parent).as_posix(), module)
        for path in APP.rglob("*.py")
        if path.name != "strawberry_internals.py"
        for module in imports.findall(path.read_text())
        if module not in PUBLIC
    }
    assert found == set(), found
