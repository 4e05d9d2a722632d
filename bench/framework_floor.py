"""What the frameworks cost a request before Roster does anything: the fixed part of
``bench.request_cpu``'s figures, which no change inside Roster's own code can remove.

    python -m bench.framework_floor [--requests 3000] [--rounds 5]

Each is called as an ASGI application in this process, as ``bench.request_cpu`` calls
Roster and the floor, with a one-field document, no database, and prints the best of
``--rounds`` batches' CPU microseconds per request:

- a bare Starlette route that reads the body and answers fixed JSON (what
  ``bench.floor`` pays for HTTP);
- the same route behind Roster's middleware stack (``app.main.create_app``'s, in order);
- strawberry's ASGI view with parsing and validation cached at the start of the operation
  (Roster's ``DocumentCache``) and the result supplied by an extension before execution
  (as ``CompiledExecution`` does), with Roster's extension hooks (on_operation, two
  on_execute): what a request the compiled executor answers pays strawberry;
- the same view letting graphql-core execute the one field (a resolver returning
  constants), for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import orjson
import strawberry
from graphql import ExecutionResult
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension

from app.graphql.extensions import DocumentCache
from bench.request_cpu import call

DOCUMENT = b'{"query": "{ viewer { role account { name slug } } }"}'
ANSWER = {"viewer": {"role": "ADMINISTRATOR", "account": {"name": "Bench", "slug": "bench"}}}


@strawberry.type
class Account:
    name: str
    slug: str


@strawberry.type
class Viewer:
    role: str
    account: Account


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self) -> Viewer:
        return Viewer(role="ADMINISTRATOR", account=Account(name="Bench", slug="bench"))


DOCUMENTS = DocumentCache(max_tokens=15_000)


class Operation(SchemaExtension):
    async def on_operation(self):
        DOCUMENTS.prepare(self.execution_context)
        yield


class Checked(SchemaExtension):
    async def on_execute(self):
        yield


class Supplied(SchemaExtension):
    async def on_execute(self):
        self.execution_context.result = ExecutionResult(data=ANSWER, errors=None)
        yield


def _view(extensions: list) -> Starlette:
    schema = strawberry.Schema(Query, extensions=extensions)
    view = GraphQL(schema, graphql_ide=None)
    return Starlette(routes=[Route("/graphql", view, methods=["POST"])])


async def _fixed(request: Request) -> Response:
    await request.body()
    return Response(orjson.dumps({"data": ANSWER}), media_type="application/json")


def _route(middleware: list[Middleware]) -> Starlette:
    return Starlette(routes=[Route("/graphql", _fixed, methods=["POST"])], middleware=middleware)


def roster_middleware(settings) -> list[Middleware]:
    from app.main import create_app

    return list(create_app(settings).user_middleware)


async def same_answers(apps: dict) -> bytes:
    """The one answer every app gives the document (the comparison is of equals)."""
    answers = {await call(app, DOCUMENT, {}) for app in apps.values()}
    assert len(answers) == 1, f"the apps answer differently: {answers}"
    return answers.pop()


async def measure(apps: dict, requests: int, rounds: int) -> dict[str, float]:
    await same_answers(apps)
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for name, app in apps.items():
            for _ in range(100):
                await call(app, DOCUMENT, {})
            started = time.process_time()
            for _ in range(requests):
                await call(app, DOCUMENT, {})
            best[name] = min(best[name], (time.process_time() - started) / requests * 1e6)
    return best


def apps_to_compare(settings) -> dict[str, Starlette]:
    """The apps timed side by side; ``settings``: Roster's, for its middleware."""
    return {
        "starlette route": _route([]),
        "starlette route + Roster's middleware": _route(roster_middleware(settings)),
        "strawberry view, result supplied": _view([Operation, Checked, Supplied]),
        "strawberry view, graphql-core executes": _view([Operation, Checked]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roster-framework-") as work:
        from app.settings import Settings

        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(work) / 'unused.db'}")
        best = asyncio.run(measure(apps_to_compare(settings), args.requests, args.rounds))
    for name, micros in best.items():
        print(f"{name:42} {micros:7.1f} us of CPU per request")


if __name__ == "__main__":
    main()
