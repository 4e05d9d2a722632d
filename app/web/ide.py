"""GraphiQL at /graphql (development only), served entirely by Roster: no CDN.

The browser files come from npm, pinned in ``graphiql/package.json`` and its lock and
installed with ``npm ci --prefix app/web/graphiql`` (into ``graphiql/node_modules``, not
committed): GraphiQL's UMD build with React 18's. Roster serves them at
``/graphiql/assets/<digest>/<name>``; the digest of the file's content makes each URL
immutable, so browsers keep them for a year. When the files are not installed, the page
says how to install them instead of loading a broken IDE.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from app.web.security import security_headers

HERE = Path(__file__).parent
GRAPHIQL = HERE / "graphiql"
MODULES = GRAPHIQL / "node_modules"
ASSETS_PATH = "/graphiql/assets"
INSTALL = "npm ci --prefix app/web/graphiql"

# name served -> (npm package or None for Roster's own file, path of the file)
FILES: dict[str, tuple[str | None, Path]] = {
    "react.production.min.js": ("react", MODULES / "react/umd/react.production.min.js"),
    "react-dom.production.min.js": (
        "react-dom",
        MODULES / "react-dom/umd/react-dom.production.min.js",
    ),
    "graphiql.min.css": ("graphiql", MODULES / "graphiql/graphiql.min.css"),
    "graphiql.min.js": ("graphiql", MODULES / "graphiql/graphiql.min.js"),
    "roster-graphiql.css": (None, GRAPHIQL / "roster-graphiql.css"),
    "roster-graphiql.js": (None, GRAPHIQL / "roster-graphiql.js"),
}
SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")
STYLES = ("graphiql.min.css", "roster-graphiql.css")
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"

# GraphiQL's own scripts and styles only; its fonts and icons are data: URLs in its CSS.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src data:; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    digest: str
    content_type: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


class MissingAssets(Exception):
    """The npm packages are not installed, or not in the versions package.json pins."""


def pinned_versions() -> dict[str, str]:
    """The npm packages and versions that GraphiQL's page is built from."""
    return json.loads((GRAPHIQL / "package.json").read_text())["dependencies"]


def _load() -> dict[str, Asset]:
    pinned = pinned_versions()
    for package in {p for p, _ in FILES.values() if p}:
        manifest = MODULES / package / "package.json"
        if not manifest.is_file():
            raise MissingAssets(f"{package} is not installed")
        installed = json.loads(manifest.read_text()).get("version")
        if installed != pinned[package]:
            raise MissingAssets(f"{package} {installed} is installed, not {pinned[package]}")
    assets = {}
    for name, (_, path) in FILES.items():
        if not path.is_file():
            raise MissingAssets(f"{path.name} is missing")
        body = path.read_bytes()
        assets[name] = Asset(
            body, hashlib.sha256(body).hexdigest()[:20], CONTENT_TYPES[path.suffix]
        )
    return assets


class GraphiQLAssets:
    """The files of the page, read once (about 1.5 MB) and kept in memory."""

    def __init__(self) -> None:
        self._assets: dict[str, Asset] | None = None

    def get(self) -> dict[str, Asset]:
        """The assets, or MissingAssets (looked for again on the next call: an install
        while the server runs is seen without a restart)."""
        if self._assets is None:
            self._assets = _load()
        return self._assets

    def url(self, name: str) -> str:
        return f"{ASSETS_PATH}/{self.get()[name].digest}/{name}"

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            asset = self.get().get(name)
        except MissingAssets:
            asset = None
        if asset is None or request.path_params["digest"] != asset.digest:
            return Response("Not Found", 404, media_type="text/plain")
        headers = {
            "Cache-Control": IMMUTABLE,
            "ETag": asset.etag,
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        response = Response(asset.body, headers=headers)
        response.headers["Content-Type"] = asset.content_type
        return response

    def routes(self) -> list[Route]:
        return [Route(ASSETS_PATH + "/{digest}/{name}", self.serve, methods=["GET", "HEAD"])]

    def page(self, request: Request) -> Response:
        """The GraphiQL page for the endpoint at the request's path."""
        try:
            html = _env().get_template("graphiql.html").render(
                endpoint=request.url.path,
                scripts=[self.url(n) for n in SCRIPTS],
                styles=[self.url(n) for n in STYLES],
                bootstrap=self.url("roster-graphiql.js"),
            )
            status = 200
        except MissingAssets as exc:
            html = _env().get_template("graphiql_missing.html").render(
                reason=str(exc), install=INSTALL
            )
            status = 503
        response = security_headers(HTMLResponse(html, status_code=status))
        response.headers["Content-Security-Policy"] = CSP
        return response


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
