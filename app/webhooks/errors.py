from app.errors import DomainError, ErrorCode


class UnsafeUrl(DomainError):
    """The URL is not one Roster may call (scheme, credentials, or a refused address)."""

    code = ErrorCode.INVALID

    def __init__(self, message: str, field: list[str] | None = None):
        super().__init__(message, field=field or ["url"])


class LookupTimedOut(UnsafeUrl):
    """The URL's host name was not resolved within the time a look-up may take
    (``app.webhooks.urls.LOOKUP_SECONDS``): refused like any URL Roster may not call."""

    def __init__(self, host: str, seconds: float):
        super().__init__(
            f"The host {host!r} did not resolve within {seconds:g} s (its DNS server did not "
            "answer in time); give a URL whose host name resolves promptly."
        )


class LookupsBusy(UnsafeUrl):
    """No look-up thread came free within the time a look-up may take
    (``app.webhooks.urls.LOOKUP_THREADS``): other hosts' look-ups held them all."""

    def __init__(self, seconds: float):
        super().__init__(
            f"Roster's DNS look-ups were all busy for {seconds:g} s (other hosts' name "
            "servers were slow to answer); try again shortly."
        )


class UnknownEventType(DomainError):
    code = ErrorCode.INVALID

    def __init__(self, name: str, index: int):
        super().__init__(f"{name!r} is not an event type.", field=["event_types", str(index)])


class DeliveryInFlight(DomainError):
    code = ErrorCode.INVALID_STATE

    def __init__(self):
        super().__init__("This delivery is being sent; replay it once it has finished.")


class EndpointUnvouched(DomainError):
    code = ErrorCode.INVALID_STATE

    def __init__(self):
        super().__init__(
            "Whoever set this endpoint up can no longer manage webhooks here (or the API "
            "key they used was revoked or has expired); change it (webhookEndpointUpdate) "
            "to vouch for it yourself, then send this again.",
            field=["id"],
        )


class EndpointDisabled(DomainError):
    code = ErrorCode.INVALID_STATE

    def __init__(self):
        super().__init__("This endpoint is disabled; enable it first.", field=["id"])


class NothingToTell(DomainError):
    """Every field the delivery names is personal, and its endpoint no longer includes
    personal data (``told_payload``): it is not sent."""

    code = ErrorCode.INVALID_STATE

    def __init__(self):
        super().__init__(
            "This delivery names only personal fields, which its endpoint is no longer told."
        )
