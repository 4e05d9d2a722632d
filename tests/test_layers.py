"""The adapters hold no rules: nothing in app/graphql, app/web or app/rest reads the database itself
or decides a permission. They call the domain's services and queries (which filter by the
actor's account and decide who may do what), so the next adapter calls the same functions.

Read from the source (ast), module by module:

- no statement builders or session reads/writes: nothing imported from ``sqlalchemy`` but
  ``AsyncSession`` (a type), and no ``session.get/scalar/scalars/execute/add/delete/...``;
  committing, rolling back and closing stay (the adapter is the one commit point);
- no model class opened: a mapped class imported from ``app.<domain>.models`` appears only
  in annotations (``_row: strawberry.Private[Account]``), never in code;
- no permission decided: no ``ROLE_PERMITS``, ``ROLE_RANK`` or ``GRANTABLE_PERMITS``, no
  ``actor.can(...)``, ``.outranks(...)``, ``.may_assign(...)``, no ``... in actor.permits``,
  and ``Permit`` only to mirror the enum in the schema (``strawberry.enum(Permit, ...)``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from app.db.base import Base

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("app/graphql", "app/web", "app/rest", "app/scim")

# Modules that still break the rules, being moved into the domain elsewhere. ONLY
# mutation modules belong here; empty it as they move (a listed module that is clean fails).
ALLOWED: dict[str, set[str]] = {}

SESSION_CALLS = {"get", "scalar", "scalars", "execute", "stream", "add", "add_all"}
SESSION_CALLS |= {"delete", "flush", "merge", "refresh", "get_one", "stream_scalars"}
RULE_TABLES = {"ROLE_PERMITS", "ROLE_RANK", "GRANTABLE_PERMITS"}
DECIDING_CALLS = {"can", "outranks", "may_assign"}
SQLALCHEMY_TYPES = {"AsyncSession"}


def _modules() -> list[Path]:
    return sorted(p for d in ADAPTERS for p in (ROOT / d).rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _is_session(node: ast.AST) -> bool:
    """``session``, ``self.session``, ``ctx.session()``, ``services.db.session()``..."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return "session" in node.id
    if isinstance(node, ast.Attribute):
        return "session" in node.attr
    return False


def _mapped(module: str, name: str) -> bool:
    value = getattr(importlib.import_module(module), name, None)
    return isinstance(value, type) and issubclass(value, Base)


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation or an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            inside.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.arg):
            mark(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                mark(child)
    return inside


def violations(source: str) -> list[tuple[str, int, str]]:
    """(kind, line, what) for each place ``source`` reads the database or decides a
    permission; kind is "query", "model" or "permission"."""
    tree = ast.parse(source)
    found: list[tuple[str, int, str]] = []
    models: dict[str, str] = {}  # local name -> "module.Class" of mapped classes
    permit_names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        for alias in node.names:
            local = alias.asname or alias.name
            if node.module.split(".")[0] == "sqlalchemy" and alias.name not in SQLALCHEMY_TYPES:
                found.append(("query", node.lineno, f"imports {alias.name} from sqlalchemy"))
            if node.module.startswith("app.") and node.module.endswith(".models"):
                if _mapped(node.module, alias.name):
                    models[local] = f"{node.module}.{alias.name}"
            if node.module in ("app.access", "app.access.roles"):
                if alias.name in RULE_TABLES:
                    found.append(("permission", node.lineno, f"imports {alias.name}"))
                elif alias.name == "Permit":
                    permit_names.add(local)
    annotations = _annotation_nodes(tree)
    enum_mirrors: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "strawberry.enum"
            and node.args
            and isinstance(node.args[0], ast.Name)
        ):
            enum_mirrors.add(id(node.args[0]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in SESSION_CALLS and _is_session(node.func.value):
                found.append(("query", node.lineno, f"session.{attr}(...)"))
            if attr in DECIDING_CALLS:
                found.append(("permission", node.lineno, f".{attr}(...)"))
        elif isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if (
                    isinstance(op, ast.In | ast.NotIn)
                    and isinstance(right, ast.Attribute)
                    and right.attr == "permits"
                ):
                    found.append(("permission", node.lineno, "... in actor.permits"))
        elif isinstance(node, ast.Name) and id(node) not in annotations:
            if node.id in models:
                found.append(("model", node.lineno, f"uses {models[node.id]}"))
            elif node.id in permit_names and id(node) not in enum_mirrors:
                found.append(("permission", node.lineno, f"uses {node.id}"))
            elif node.id in RULE_TABLES:
                found.append(("permission", node.lineno, f"uses {node.id}"))
    return sorted(set(found), key=lambda v: (v[1], v[0], v[2]))


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_adapter_module_holds_no_rule(path):
    name = _name(path)
    allowed = ALLOWED.get(name, set())
    found = [v for v in violations(path.read_text()) if v[0] not in allowed]
    assert not found, (
        f"{name} reads the database or decides a permission itself; call the domain "
        f"(app/<domain>/service.py, queries.py, access.py) instead: {found}"
    )
    if allowed:
        kinds = {v[0] for v in violations(path.read_text())}
        assert allowed <= kinds, (
            f"{name} no longer does {sorted(allowed - kinds)}: take it off ALLOWED"
        )


def test_only_mutation_modules_are_allowed_exceptions():
    assert all(n.startswith("app/graphql/mutations/") for n in ALLOWED), ALLOWED
    assert all((ROOT / n).exists() for n in ALLOWED), ALLOWED


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import select\nstmt = select(1)\n",
        "async def f(session, pk):\n    return await session.get(object, pk)\n",
        "async def f(ctx):\n    await ctx.session().execute(None)\n",
        "from app.staff.models import Staff\nx = Staff.id\n",
        "from app.access import ROLE_PERMITS\n",
        "from app.access import Permit\ndef f(actor):\n    return actor.can(Permit.MANAGE_STAFF)\n",
        "def f(actor, p):\n    return p in actor.permits\n",
        "def f(actor, role):\n    return actor.outranks(role)\n",
    ],
)
def test_the_check_sees_each_kind_of_rule(source):
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy.ext.asyncio import AsyncSession\ndef f(s: AsyncSession): ...\n",
        "from app.staff.models import Staff\nclass T:\n    _row: Staff\n",
        "from app.staff.models import StaffKind\nx = StaffKind.EMPLOYEE\n",
        "import strawberry\nfrom app.access import Permit\nP = strawberry.enum(Permit)\n",
        "async def f(ctx):\n    await ctx.session().commit()\n    ctx.loaders.get('x')\n",
    ],
)
def test_the_check_lets_adapters_name_types(source):
    assert violations(source) == []


# The staff input cleaning still names a few fields the API's way; it is being rewritten
# into the staff field table.
CAMEL_FIELDS_LEFT: set[tuple[str, str]] = set()


def _field_names(tree: ast.AST):
    """(function, name) for every string naming a field: ``field=[...]``/``field="..."``."""
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.keyword) and node.arg == "field":
                values = node.value.elts if isinstance(node.value, ast.List) else [node.value]
                for value in values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        yield func.name, value.value
                    elif isinstance(value, ast.JoinedStr):
                        yield func.name, ast.unparse(value)


def test_domain_errors_name_fields_in_snake_case():
    """The GraphQL adapter renders a domain error's field path in camelCase
    (app.graphql.errors.field_path); the domain names fields as its records do."""
    camel = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        name = _name(path)
        if name.startswith(ADAPTERS):
            continue
        for func, field in _field_names(ast.parse(path.read_text())):
            if field != field.lower() and (name, func) not in CAMEL_FIELDS_LEFT:
                camel.append((name, func, field))
    assert camel == []
