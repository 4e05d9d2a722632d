"""``/``: what this server is (HTML for a browser, JSON for a client that asks for it),
and ``/signin``: how to sign in, where the pages behind emailed links send people."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from app.version import roster_version
from app.web.pages import _env
from app.web.security import security_headers

DESCRIPTION = "A multi-tenant GraphQL API for an organisation's people."


def _wants_json(request: Request) -> bool:
    """JSON when the client names it before (or instead of) HTML."""
    accept = request.headers.get("accept", "").lower()
    json_at, html_at = accept.find("application/json"), accept.find("text/html")
    return json_at >= 0 and (html_at < 0 or json_at < html_at)


def routes(settings) -> list[Route]:
    graphiql = not settings.is_production

    async def home(request: Request) -> Response:
        about = {
            "name": "Roster",
            "description": DESCRIPTION,
            "version": roster_version(),
            "graphql": "/graphql",
            "graphiql": graphiql,
            "signIn": settings.sign_in_url,
            "health": "/healthz",
            "ready": "/readyz",
        }
        if _wants_json(request):
            response: Response = JSONResponse(about)
        else:
            html = _env().get_template("home.html").render(title="Roster", about=about)
            response = HTMLResponse(html)
        response.headers["Vary"] = "Accept"
        return security_headers(response)

    async def sign_in(request: Request) -> Response:
        html = _env().get_template("signin.html").render(title="Signing in", graphiql=graphiql)
        return security_headers(HTMLResponse(html))

    return [Route("/", home), Route("/signin", sign_in)]
