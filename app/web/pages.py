"""Small server-rendered pages behind the links in Roster's emails.

They are adapters like the GraphQL layer: each form post calls one domain service in
one transaction. A frontend can take these flows over by passing ``redirectUrl``.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.audit import changes
from app.audit import service as audit
from app.email.links import origin_of
from app.errors import DomainError, ErrorCode, RateLimited, ValidationFailed
from app.identity import credentials, recovery, signup
from app.identity.credentials import TokenGate
from app.invitations import join_links, open_signup
from app.invitations import service as invitations
from app.invitations.models import InvitationStatus
from app.staff import email_change
from app.web.security import csrf_ok, csrf_token, security_headers, set_csrf_cookie

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 16 * 1024


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _messages(exc: DomainError) -> list[str]:
    return [e.message for e in exc.errors] if isinstance(exc, ValidationFailed) else [exc.message]


class Pages:
    def __init__(self, services):
        self.services = services
        self.settings = services.settings
        self.origin = origin_of(self.settings.public_url)

    def render(self, request: Request, template: str, status: int = 200, **context):
        token = csrf_token(request)
        html = (
            _env()
            .get_template(template)
            .render(
                {
                    "csrf": token,
                    "errors": [],
                    "form": {},
                    "sign_in_url": self.settings.sign_in_url,
                    **context,
                }
            )
        )
        response = HTMLResponse(html, status_code=status)
        set_csrf_cookie(response, token, secure=self.settings.public_url.startswith("https"))
        return security_headers(response)

    def message(
        self,
        request: Request,
        title: str,
        message: str,
        *,
        ok: bool,
        hint=None,
        status: int = 200,
        sign_in: bool = False,
    ):
        return self.render(
            request,
            "message.html",
            status=status,
            title=title,
            message=message,
            kind="success" if ok else "error",
            hint=hint,
            sign_in=sign_in,
        )

    async def unusable_link(self, request: Request, check, token: str, title: str):
        """The page saying why an emailed link cannot be used, or None when it can: ``check``
        is the domain's look at the token that leaves it unused (what the form post would
        answer, no more), counted like the post's (``TokenGate``)."""
        try:
            await self.run(lambda s: check(s, self.tokens(request), token))
        except RateLimited as exc:
            return self.too_many(request, exc)
        except DomainError as exc:
            unknown = exc.code == ErrorCode.INVALID_TOKEN  # else used, expired or turned off
            return self.message(
                request, title, " ".join(_messages(exc)), ok=False, status=404 if unknown else 410
            )
        return None

    async def form(self, request: Request) -> dict | None:
        """The posted form, or None when it fails the CSRF check or is too large."""
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            return None
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        if not csrf_ok(request, data.get("csrf"), self.origin):
            return None
        return data

    def forbidden(self, request: Request):
        return self.message(
            request,
            "Please try again",
            "This form expired or was not sent from this page. Reload and retry.",
            ok=False,
            status=403,
        )

    def address(self, request: Request) -> str | None:
        return request.client.host if request.client else None

    def gate(self, request: Request):
        return self.services.password_gate(self.address(request))

    def tokens(self, request: Request):
        return self.services.token_gate(self.address(request))

    async def run(self, action, before=None):
        """One transaction per form post, like a mutation's ``attempt``: what ``before``
        counts (rate limits) stays counted; the action commits on success and is rolled
        back on any error, except the password attempts it counted. What it changed is
        audited like the GraphQL twin of the form (same action name), in the account whose
        rows changed (app.audit.service.record)."""
        async with self.services.db.session(write=True) as session:
            if before is not None:
                try:
                    await before(session)
                except RateLimited:
                    await session.commit()
                    raise
            mark = credentials.counted_since(session)
            try:
                async with session.begin_nested():
                    result = await action(session)
                await _audit(session)
            except (DomainError, RateLimited):
                await credentials.recount(session, mark)
                await session.commit()
                raise
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return result

    def too_many(self, request: Request, exc: RateLimited):
        response = self.message(request, "Please wait", exc.message, ok=False, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    # --- invitation ---------------------------------------------------------------------

    async def accept(self, request: Request):
        token = request.query_params.get("token", "")
        if request.method == "POST":
            data = await self.form(request)
            if data is None:
                return self.forbidden(request)
            token = data.get("token", "")
            try:
                result = await self.run(
                    lambda s: invitations.accept(
                        s,
                        self.services.passwords,
                        self.settings,
                        token=token,
                        password=data.get("password") or None,
                        first_name=data.get("first_name"),
                        last_name=data.get("last_name"),
                        principal=None,
                        gate=self.gate(request),
                        tokens=self.tokens(request),
                    )
                )
            except RateLimited as exc:
                return self.too_many(request, exc)
            except DomainError as exc:
                # shown again with the post's errors: the same look at the token, counted once
                return await self._accept_form(
                    request, token, _messages(exc), data, self.tokens(request).again()
                )
            return self.message(
                request,
                "Welcome aboard",
                f"You joined {result.account.name}. Sign in with {result.user.email}.",
                ok=True,
                sign_in=True,
            )
        return await self._accept_form(request, token, [], None, self.tokens(request))

    async def _accept_form(
        self, request, token: str, errors: list[str], form: dict | None, tokens: TokenGate
    ):
        try:
            preview = await self.run(
                lambda s: invitations.preview(s, tokens, token)
            )
        except RateLimited as exc:
            return self.too_many(request, exc)
        if preview is None:
            return self.message(
                request,
                "Invitation not found",
                "This invitation link is not valid.",
                ok=False,
                status=404,
            )
        if preview.status != InvitationStatus.PENDING:
            text = {
                InvitationStatus.ACCEPTED: "This invitation was already accepted.",
                InvitationStatus.REVOKED: "This invitation was withdrawn.",
                InvitationStatus.EXPIRED: "This invitation has expired; ask for a new one.",
            }[preview.status]
            return self.message(request, "Invitation unavailable", text, ok=False, status=410)
        return self.render(
            request,
            "accept.html",
            title="Join " + preview.account_name,
            token=token,
            preview=preview,
            errors=errors,
            # first shown with the names the inviter gave; after a failed post, as posted
            form=form
            if form is not None
            else {"first_name": preview.first_name, "last_name": preview.last_name},
            role_name=invitations.role_name(preview.role),
        )

    # --- password reset / first password --------------------------------------------------

    async def reset(self, request: Request):
        if request.method == "GET":
            token = request.query_params.get("token", "")
            return await self.unusable_link(
                request, recovery.check_reset_link, token, "Link not usable"
            ) or self.render(request, "reset.html", title="Choose a password", token=token)
        data = await self.form(request)
        if data is None:
            return self.forbidden(request)
        token = data.get("token", "")
        if data.get("password") != data.get("confirm"):
            return self.render(
                request,
                "reset.html",
                title="Choose a password",
                token=token,
                errors=["The two passwords differ."],
            )
        try:
            _, user = await self.run(
                lambda s: recovery.reset_password(
                    s,
                    self.services.passwords,
                    self.settings,
                    token,
                    data.get("password", ""),
                    tokens=self.tokens(request),
                ),
            )
        except RateLimited as exc:
            return self.too_many(request, exc)
        except DomainError as exc:
            return self.render(
                request, "reset.html", title="Choose a password", token=token, errors=_messages(exc)
            )
        return self.message(
            request,
            "Password set",
            f"Your password is set. Sign in with {user.email}.",
            ok=True,
            sign_in=True,
        )

    async def forgot(self, request: Request):
        if request.method == "GET":
            return self.render(request, "forgot.html", title="Forgot your password?")
        data = await self.form(request)
        if data is None:
            return self.forbidden(request)
        try:
            await self.run(
                lambda s: recovery.request_reset(
                    s,
                    self.services.passwords,
                    self.settings,
                    data.get("email", ""),
                    db=self.services.db,
                    # audited like passwordResetRequest once the look-up is done
                    audit_as=(
                        getattr(request.state, "request_id", None),
                        self.address(request),
                    ),
                ),
                before=lambda s: recovery.count_reset_request(
                    s, self.services.limiter, self.address(request)
                ),
            )
        except RateLimited as exc:  # per address, as passwordResetRequest: tells nothing
            return self.too_many(request, exc)
        except DomainError:
            pass  # the same answer, whatever happened
        return self.message(
            request,
            "Check your email",
            "If that address has a Roster login, a reset link is on its way.",
            ok=True,
        )

    # --- email verification ---------------------------------------------------------------

    async def verify(self, request: Request):
        """GET only shows a button (or why the link is no good): link scanners that prefetch
        must not use the token."""
        if request.method == "GET":
            token = request.query_params.get("token", "")
            return await self.unusable_link(
                request, signup.check_verification_link, token, "Could not confirm"
            ) or self.render(request, "verify.html", title="Confirm your email", token=token)
        data = await self.form(request)
        if data is None:
            return self.forbidden(request)
        try:
            _, user = await self.run(
                lambda s: signup.verify_email(
                    s,
                    self.settings,
                    data.get("token", ""),
                    password=data.get("password") or None,
                    tokens=self.tokens(request),
                    gate=self.gate(request),
                )
            )
        except RateLimited as exc:
            return self.too_many(request, exc)
        except DomainError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:  # the link is good: try again
                return self.render(
                    request,
                    "verify.html",
                    status=400,
                    title="Confirm your email",
                    token=data.get("token", ""),
                    errors=_messages(exc),
                )
            return self.message(
                request, "Could not confirm", " ".join(_messages(exc)), ok=False, status=400
            )
        return self.message(
            request,
            "Email confirmed",
            f"{user.email} is confirmed. You can sign in now.",
            ok=True,
            sign_in=True,
        )

    # --- new email of one's own record -----------------------------------------------------

    async def email_change(self, request: Request):
        """Like verify: GET shows a button (or why the link is no good), POST uses the token."""
        if request.method == "GET":
            token = request.query_params.get("token", "")
            return await self.unusable_link(
                request, email_change.check_link, token, "Could not confirm"
            ) or self.render(
                request, "email_change.html", title="Confirm your new email", token=token
            )
        data = await self.form(request)
        if data is None:
            return self.forbidden(request)

        async def confirm(session):
            return await email_change.confirm_change(
                session, self.tokens(request), data.get("token", "")
            )

        try:
            staff = await self.run(confirm)
        except RateLimited as exc:
            return self.too_many(request, exc)
        except DomainError as exc:
            return self.message(
                request, "Could not confirm", " ".join(_messages(exc)), ok=False, status=400
            )
        return self.message(
            request, "Email changed", f"Your profile's email is now {staff.email}.", ok=True
        )

    # --- join link ------------------------------------------------------------------------

    async def join(self, request: Request):
        token = request.path_params["token"]
        if request.method == "GET":
            return await self.unusable_link(
                request, join_links.check_link, token, "Link not usable"
            ) or self.render(request, "join.html", title="Join on Roster", token=token)
        return await self._join_post(
            request,
            "join.html",
            {"title": "Join on Roster", "token": token},
            lambda s, passwords, settings, **fields: join_links.join(
                s, passwords, settings, token=token, tokens=self.tokens(request), **fields
            ),
            join_links.count_join,
            lambda result: (
                f"Your request to join {result.account.name} waits for an administrator."
                if result.outcome == join_links.JoinOutcome.PENDING_APPROVAL
                else f"You joined {result.account.name}."
            ),
        )

    async def _join_post(self, request: Request, template: str, page: dict, attempt, count, thanks):
        """The post of a joining form (a join link's, an account's sign-up page):
        ``attempt`` joins with the form's fields, after ``count`` counted it against its
        per-address limit; the form comes back with the problems, or ``thanks(result)``."""
        data = await self.form(request)
        if data is None:
            return self.forbidden(request)
        fields = {
            "email": data.get("email", ""),
            "password": data.get("password") or None,
            "first_name": data.get("first_name", ""),
            "last_name": data.get("last_name", ""),
            "principal": None,
            "gate": self.gate(request),
        }
        try:
            result = await self.run(
                lambda s: attempt(s, self.services.passwords, self.settings, **fields),
                before=lambda s: count(s, self.services.limiter, self.address(request)),
            )
        except RateLimited as exc:
            return self.too_many(request, exc)
        except DomainError as exc:
            return self.render(request, template, **page, errors=_messages(exc), form=data)
        hint = (
            "Confirm your email with the link we sent before signing in."
            if result.email_verification_required
            else None
        )
        return self.message(request, "Thanks", thanks(result), ok=True, hint=hint, sign_in=True)

    # --- self sign-up into an account -----------------------------------------------------

    async def signup(self, request: Request):
        realm = request.path_params["account"]
        title = "Sign up on Roster"
        if request.method == "GET":
            try:
                account = await self.run(lambda s: open_signup.open_account(s, realm))
            except DomainError as exc:
                return self.message(
                    request, "Not open", " ".join(_messages(exc)), ok=False, status=404
                )
            return self.render(
                request, "signup.html", title=f"Sign up to {account.name}", realm=realm
            )
        return await self._join_post(
            request,
            "signup.html",
            {"title": title, "realm": realm},
            lambda s, passwords, settings, **fields: open_signup.sign_up(
                s, passwords, settings, realm=realm, **fields
            ),
            open_signup.count_signup,
            lambda result: f"You signed up to {result.account.name}.",
        )


# The form post being served, and the GraphQL mutation it is the twin of (for the audit).
_posting: ContextVar[tuple[Request, str] | None] = ContextVar("roster_page_post", default=None)


async def _audit(session) -> None:
    collected = changes.take(session)
    posting = _posting.get()
    if not collected or posting is None:
        return
    request, action = posting
    user_id = next(
        (
            c["fields"].get("user_id", [None, None])[1]
            for c in collected
            if c["table"] == "auth_tokens" and c["op"] == "insert"
        ),
        None,
    )
    await audit.record(
        session,
        action=action,
        who=audit.Who(user_id=user_id, staff_id=None, account_id=None),
        changes=collected,
        request_id=getattr(request.state, "request_id", None),
        client_address=request.client.host if request.client else None,
    )


def _as(action: str, endpoint):
    async def serve(request: Request):
        posting = _posting.set((request, action))
        try:
            return await endpoint(request)
        finally:
            _posting.reset(posting)

    return serve


def routes(services) -> list[Route]:
    pages = Pages(services)
    both = ["GET", "POST"]
    return [
        Route("/invitations/accept", _as("invitationAccept", pages.accept), methods=both),
        Route("/password/reset", _as("passwordReset", pages.reset), methods=both),
        Route("/password/forgot", _as("passwordResetRequest", pages.forgot), methods=both),
        Route("/email/verify", _as("emailVerify", pages.verify), methods=both),
        Route("/email/change", _as("staffEmailConfirm", pages.email_change), methods=both),
        Route("/join/{token}", _as("joinLinkJoin", pages.join), methods=both),
        Route("/signup/{account}", _as("accountSignup", pages.signup), methods=both),
    ]
