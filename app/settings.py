"""Configuration, read from the environment with the ``ROSTER_`` prefix."""

from __future__ import annotations

import base64
import hashlib
import os
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
# A development-only key set: "key id:base64 key". Production refuses it.
DEV_ENCRYPTION_KEYS = (
    "dev:"
    + base64.urlsafe_b64encode(
        hashlib.sha256(b"roster-development-encryption-key").digest()
    ).decode()
)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity, where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class InsecureSettingsError(RuntimeError):
    """Raised when production is asked to start with missing or development secrets, or
    with settings it refuses (``Settings.check_production_ready``)."""


# Database URL schemes Roster runs on, and the usual spellings it turns into them.
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_SCHEME_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}
DATABASE_URL_EXAMPLES = (
    "sqlite+aiosqlite:///./roster.db or postgresql://user:password@host/database"
)


def normalize_database_url(value: str) -> str:
    """``postgres://`` and ``postgresql://`` (as hosting platforms give them) mean asyncpg,
    ``sqlite://`` means aiosqlite; any other driver is refused in one sentence."""
    scheme, sep, rest = value.strip().partition("://")
    scheme = _SCHEME_ALIASES.get(scheme.lower(), scheme.lower())
    if not sep or scheme not in DRIVERS:
        raise ValueError(f"not a database URL Roster can use; for example {DATABASE_URL_EXAMPLES}")
    return f"{scheme}://{rest}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROSTER_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./roster.db"
    database_echo: bool = False
    # Ask PostgreSQL whether a pooled connection is alive before each use (three round
    # trips) instead of checking locally whether it closed (app.db.engine).
    database_pre_ping: bool = False
    secret_key: str = DEV_SECRET_KEY
    encryption_keys: str = Field(
        DEV_ENCRYPTION_KEYS,
        description="Comma-separated kid:base64key pairs (32-byte AES keys); the first encrypts.",
    )
    public_url: str = "http://127.0.0.1:8000"
    # Where the "Sign in" links of the pages behind emailed links go (a frontend's sign-in
    # page); by default Roster's own /signin page, which says how to sign in.
    sign_in_url: str = "/signin"
    cors_origins: list[str] = []

    session_ttl_hours: int = 24 * 14
    api_token_max_days: int = 365
    api_token_default_days: int = 90

    # argon2id parameters (RFC 9106 second recommendation by default)
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 64 * 1024
    argon2_parallelism: int = 1
    # Threads hashing passwords; by default one CPU is always left to serving requests.
    password_hash_workers: int = Field(default_factory=lambda: max(1, usable_cpus() - 1))
    # Share of each hashing thread's time that back-to-back hashes may use (a login flood
    # is spaced out; a login after a quiet spell starts at once). See app.security.passwords.Pacer.
    password_hash_duty: float = Field(0.5, gt=0, le=1)
    # Worker processes that render export files (staff.csv) beside the event loop; 0 renders
    # them in a thread of the server instead (app.offload).
    export_workers: int = Field(1, ge=0)
    # Downloads (staff.csv, account.json) streaming at once in each worker process, one per
    # account, and how long one may stream before it is ended (app.security.export_slots).
    exports_at_once: int = Field(4, ge=1)
    export_seconds: float = Field(900.0, gt=0)
    # Once started, keep the objects alive then (schema, mappers, compiled statements) out
    # of the cyclic garbage collector's walks (app.main's lifespan). Its full collection at
    # startup walks the whole process: where many apps start in one process (a test suite,
    # an app embedded in another) that walk is paid at every start.
    freeze_startup_objects: bool = True

    email_backend: Literal["console", "file", "smtp", "memory"] = "console"
    # Production sends email by SMTP: console prints messages (their live sign-in and reset
    # links) to the log, file writes them to disk, memory loses them. Another backend in
    # production only with this set (``check_production_ready``).
    email_allow_non_smtp_in_production: bool = False
    email_from: str = "Roster <no-reply@roster.localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    # STARTTLS: None (the default) upgrades whenever the server offers it; true requires
    # it (sends nothing otherwise); false never upgrades. ``smtp_tls``: implicit TLS from
    # the first byte (port 465), instead. ``smtp_ca_file``: the CAs a private relay's
    # certificate is checked against (PEM); the system's otherwise.
    smtp_starttls: bool | None = None
    smtp_tls: bool = False
    smtp_ca_file: str | None = None
    smtp_timeout_seconds: float = 30
    email_file_dir: str = "./outbox"
    email_max_attempts: int = 6
    email_backoff_seconds: float = 30
    email_relay_enabled: bool = True
    email_relay_poll_seconds: float = 2.0
    # How long a relay's claim on a message lasts unless renewed; it is renewed every third
    # of it while the mail server answers, and lapses this long after a relay died.
    email_lease_seconds: float = Field(120, gt=0)
    # How often lapsed invitations are recorded as expired, by one worker of all of them.
    invitation_sweep_seconds: float = Field(60, gt=0)
    # How long events (what webhooks and subscriptions are told), finished webhook
    # deliveries, with their attempts, sent or failed email (its envelope: recipients,
    # template, last error) and join requests approved or rejected (counted from the
    # decision) are kept; 0 keeps them for ever. Pruned about once per
    # retention_sweep_seconds, by one worker of all of them (app.background), as are the
    # rate-limit buckets that count for nothing any more.
    events_retention_days: float = Field(30, ge=0, le=36500)
    webhook_deliveries_retention_days: float = Field(30, ge=0, le=36500)
    email_outbox_retention_days: float = Field(30, ge=0, le=36500)
    join_requests_retention_days: float = Field(90, ge=0, le=36500)
    retention_sweep_seconds: float = Field(3600, gt=0)
    # Webhooks (app.webhooks): loopback and private addresses are refused unless allowed
    # (tests, development); link-local and metadata addresses always are.
    webhooks_allow_private: bool = False
    webhooks_enabled: bool = True  # the server's delivery loop
    webhooks_poll_seconds: float = 1.0
    webhooks_timeout_seconds: float = 10
    webhooks_retry_hours: float = 24  # retried this long, then the endpoint is disabled
    webhooks_backoff_seconds: float = 5  # first retry; doubles, with jitter
    webhooks_max_backoff_seconds: float = 3600
    webhooks_secret_overlap_hours: float = 24  # a rotated secret keeps signing this long
    redirect_origins: list[str] = []
    """Origins a frontend may name in ``redirectUrl`` (links in emails then point there)."""

    request_timeout_seconds: float = 30
    max_body_bytes: int = 256 * 1024
    max_import_bytes: int = 16 * 1024 * 1024
    """The largest staff CSV an import reads (staffImport's csv string or uploaded file,
    ``roster staff import``); a multipart request may be this much larger than
    max_body_bytes."""
    max_query_depth: int = 12
    max_query_aliases: int = 30
    max_query_cost: int = 25_000
    max_query_tokens: int = 3000
    # Subscriptions over the websocket at /graphql (app.graphql.subscriptions): at most so
    # many per connection, per account and per member of an account (so one member cannot
    # take all of the account's) in each worker process; a connection must send
    # connection_init within the timeout; access is checked again at every event and at
    # least every recheck period (a disabled member's socket is closed).
    subscriptions_per_connection: int = Field(20, ge=1)
    subscriptions_per_account: int = Field(500, ge=1)
    subscriptions_per_member: int = Field(50, ge=1)
    # Changes one subscription may fall behind by (sent neither yet nor being built): past
    # it the subscription ends with an error saying how many it was not sent
    # (app.events.live.Follower), rather than going on without them.
    subscription_backlog: int = Field(1000, ge=1, le=100_000)
    subscription_init_timeout_seconds: float = Field(10, gt=0)
    # Websockets one client address (an IPv6 client's /64) may hold open at once in each
    # worker process; a handshake past it is refused (app.security.socket_limit).
    websockets_per_client: int = Field(50, ge=1)
    subscription_recheck_seconds: float = Field(30, gt=0)
    # Answer the staff list's hot documents with compiled plans (app.graphql.hot); off,
    # graphql-core answers everything. Responses are the same either way.
    hot_paths: bool = True
    # The memory the compiled plans' cache may hold, by its estimate (app.graphql.hot):
    # least recently used documents and plans are forgotten beyond it.
    hot_paths_cache_bytes: int = Field(32 * 2**20, ge=0)
    log_format: Literal["text", "json"] = "text"
    # One line per HTTP request on the "roster.access" logger (app.ops.observe).
    access_log: bool = True
    # GET /metrics (app.ops.metrics): with a token, only as "Authorization: Bearer <token>";
    # with networks (JSON list of addresses or CIDR), only from a client address in them.
    # In production /metrics answers 404 unless one of the two is set.
    metrics_token: str | None = None
    metrics_allow_from: list[str] = []

    invitation_resend_cooldown_seconds: int = 60
    # A request refused for its rate limit is answered after this delay, once its
    # transaction has ended: a client flooding one operation then waits instead of taking
    # the CPU that other requests need.
    rate_limited_delay_seconds: float = 1.0
    # Raise (or lower) a rate limit's ceiling by name, e.g. {"login_address": 500} for many
    # users behind one address; windows and back-off stay (app.security.rate_limits).
    rate_limits: dict[str, int] = {}
    password_reset_cooldown_seconds: int = 60
    password_reset_ttl_minutes: int = 60
    email_verification_ttl_hours: int = 48
    welcome_link_ttl_hours: int = 72

    @field_validator("rate_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, int]) -> dict[str, int]:
        from app.security.rate_limits import LIMITS

        unknown = sorted(set(value) - set(LIMITS))
        if unknown:
            raise ValueError(f"unknown rate limits {unknown}; known: {sorted(LIMITS)}")
        if any(ceiling < 1 for ceiling in value.values()):
            raise ValueError("a rate limit's ceiling must be at least 1")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _retention_outlasts_its_readers(self) -> Settings:
        """Events are read again by subscribers catching up after a lost connection (a
        minute back), and a failing endpoint's attempts of the retry window decide
        whether it is disabled: a retention (other than 0, for ever) keeps them longer."""
        if 0 < self.events_retention_days < 1:
            raise ValueError("events_retention_days must be 0 (for ever) or at least 1")
        least = self.webhooks_retry_hours / 24 + 1
        if 0 < self.webhook_deliveries_retention_days < least:
            raise ValueError(
                "webhook_deliveries_retention_days must be 0 (for ever) or at least "
                f"{least:g}: a day more than webhooks_retry_hours"
            )
        return self

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for a server listening on ``host:port``: in development, links in
        emails point there unless ROSTER_PUBLIC_URL is set; production always has it set
        (``check_production_ready``)."""
        if self.is_production or "public_url" in self.model_fields_set:
            return self
        if host in ("", "0.0.0.0", "::"):  # every interface: this machine is one of them
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return self.model_copy(update={"public_url": f"http://{host}:{port}"})

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def keyring(self):
        from app.security.crypto import Keyring

        return Keyring.parse(self.encryption_keys)

    def check_production_ready(self) -> None:
        """Refuse to run in production with development or weak secrets, without the
        public URL, or with an email backend that sends nothing (unless allowed)."""
        if not self.is_production:
            return
        problems = []
        if not self.secret_key or self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("ROSTER_SECRET_KEY must be set to a random value of 32+ characters")
        if not self.encryption_keys or self.encryption_keys == DEV_ENCRYPTION_KEYS:
            problems.append("ROSTER_ENCRYPTION_KEYS must be set (kid:base64 32-byte key)")
        elif any(
            kid == "dev" or key in type(self.keyring).parse(DEV_ENCRYPTION_KEYS).keys.values()
            for kid, key in self.keyring.keys.items()
        ):  # by id or by its bytes: it is public, so what it encrypts or signs is not safe
            problems.append("ROSTER_ENCRYPTION_KEYS must not contain the development key")
        if self.metrics_token is not None and len(self.metrics_token) < 32:
            problems.append("ROSTER_METRICS_TOKEN must be a random value of 32+ characters")
        if "public_url" not in self.model_fields_set:
            problems.append("ROSTER_PUBLIC_URL must be set (the address links in emails point to)")
        if self.email_backend != "smtp" and not self.email_allow_non_smtp_in_production:
            problems.append(
                f"ROSTER_EMAIL_BACKEND must be smtp, not {self.email_backend} (which keeps the "
                "live links of emails in logs, files or memory and sends nothing), unless "
                "ROSTER_EMAIL_ALLOW_NON_SMTP_IN_PRODUCTION=true"
            )
        if self.email_backend == "smtp" and self.smtp_username and not self.smtp_encrypted:
            problems.append(
                "ROSTER_SMTP_USERNAME is sent to the mail server in clear unless it is "
                "encrypted: set ROSTER_SMTP_STARTTLS=true or ROSTER_SMTP_TLS=true (a server "
                "on this machine's loopback excepted)"
            )
        if problems:
            raise InsecureSettingsError("; ".join(problems))

    @property
    def smtp_encrypted(self) -> bool:
        """Whether mail (its links) and the SMTP login never cross a network in clear:
        TLS required, or a server on loopback. Offered STARTTLS (the default) is taken, but
        a man in the middle can strip the offer."""
        import ipaddress

        if self.smtp_tls or self.smtp_starttls is True:
            return True
        try:
            return ipaddress.ip_address(self.smtp_host).is_loopback
        except ValueError:
            return self.smtp_host == "localhost"

    # Reverse proxies whose X-Forwarded-For is believed (JSON list of addresses or CIDR
    # networks); none by default: the connection's peer is the client (app.security.
    # client_address). Rate limits and the audit log use the address decided there.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies", "metrics_allow_from")
    @classmethod
    def _proxy_networks(cls, value: list[str], info) -> list[str]:
        from app.security.client_address import parse_networks

        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"{info.field_name}: {exc}") from None
        return value
