"""One exception tree for everything that can go wrong talking to a WooCommerce store.

Every error carries what a person (or the diagnosis code) needs: the HTTP ``status`` if one came back, the
WooCommerce/WordPress error ``code``, the ``message``, the REST ``route`` asked for, the ``url`` with secrets
redacted, and ``retryable`` — whether trying the same request again later can help.

::

    WooError
    ├── InsecureURL            refused before sending: credentials would travel over plain HTTP
    ├── TransportError         no usable HTTP answer
    │   ├── DNSFailure
    │   ├── ConnectionRefused
    │   ├── TLSFailure         .reason: self-signed, expired, not-yet-valid, hostname-mismatch, unknown-ca, not-tls…
    │   ├── Timeout
    │   ├── ConnectionReset
    │   └── WriteOutcomeUnknown   a write was sent, then the answer was lost: it may or may not have happened
    ├── InvalidResponse        an answer that is not the JSON asked for (HTML page, truncated or broken JSON)
    ├── RedirectRefused        a redirect to another origin (credentials are never sent after it)
    └── HTTPError              a WordPress error answer {"code", "message", "data"}
        ├── AuthenticationError  401
        ├── PermissionDenied     403
        ├── NotFound             404
        ├── RequestTooLarge      413
        ├── RateLimited          429
        └── ServerError          5xx (ServiceUnavailable: 503)
"""

from __future__ import annotations

from typing import Any


class WooError(Exception):
    """Base of every woobridge ↔ WooCommerce failure."""

    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        route: str | None = None,
        url: str | None = None,
        method: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.route = route
        self.url = url
        self.method = method
        self.retryable = self.retryable_default if retryable is None else retryable
        self.retry_after = retry_after
        self.data = data

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        where = f" ({self.method or 'GET'} {self.url})" if self.url else ""
        return f"{prefix}: {self.message}{where}" if prefix else f"{self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"

    def evidence(self) -> dict[str, Any]:
        """The facts behind the error, safe to show and log (URLs are already redacted)."""
        found: dict[str, Any] = {}
        for name in ("status", "code", "message", "method", "url", "retry_after"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        return found


class InsecureURL(WooError):
    """The request would carry credentials over plain HTTP (or to a non-https URL): refused, nothing sent."""


class TransportError(WooError):
    """No usable HTTP answer: the network, DNS, TLS or the server connection failed."""

    retryable_default = True


class DNSFailure(TransportError):
    """The store's host name does not resolve."""

    retryable_default = False


class ConnectionRefused(TransportError):
    """Nothing accepts connections on the store's host and port."""


class TLSFailure(TransportError):
    """The TLS handshake failed; ``reason`` says why the certificate was rejected."""

    retryable_default = False

    def __init__(self, message: str, *, reason: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason

    def evidence(self) -> dict[str, Any]:
        return {**super().evidence(), "tls_reason": self.reason}


class Timeout(TransportError):
    """The store did not answer in time. ``phase`` is connect, read, write, pool or total."""

    def __init__(self, message: str, *, phase: str = "total", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.phase = phase


class ConnectionReset(TransportError):
    """The connection was closed or reset before the whole answer arrived."""


class WriteOutcomeUnknown(TransportError):
    """A write (POST/PUT/PATCH/DELETE) was sent but its answer was lost (timeout, reset, 502/504).

    It may or may not have been applied. woobridge never repeats such a write blindly: pass ``verify=`` to the
    client to look the resource up, or reconcile later. ``cause`` is the failure that hid the outcome;
    ``partial`` holds what earlier chunks of a batch returned.
    """

    retryable_default = False

    def __init__(self, message: str, *, cause: WooError | None = None, partial: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.cause = cause
        self.partial = partial


class InvalidResponse(WooError):
    """The answer was not the JSON asked for: an HTML page, an empty body, or truncated/invalid JSON."""

    def __init__(self, message: str, *, content_type: str = "", snippet: str = "", headers: Any = None, **kw: Any):
        super().__init__(message, **kw)
        self.content_type = content_type
        self.snippet = snippet
        self.headers: dict[str, str] = dict(headers or {})

    def evidence(self) -> dict[str, Any]:
        found = super().evidence()
        if self.content_type:
            found["content_type"] = self.content_type
        return found


class RedirectRefused(WooError):
    """The store redirected to another origin (or a write was redirected); ``location`` is where (redacted)."""

    def __init__(self, message: str, *, location: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location

    def evidence(self) -> dict[str, Any]:
        return {**super().evidence(), "location": self.location}


class HTTPError(WooError):
    """WordPress answered with an error. ``data`` is the error's ``data`` (a dict, or a bare int for refunds)."""

    def __init__(self, message: str, *, headers: Any = None, body: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body


class AuthenticationError(HTTPError):
    """401: no user could be authenticated, or the key lacks read/write permission."""


class PermissionDenied(HTTPError):
    """403: the key's owner lacks the capability (or a firewall said no)."""


class NotFound(HTTPError):
    """404: no such route (``rest_no_route``) or no such object."""


class RequestTooLarge(HTTPError):
    """413: e.g. more than 100 items in a batch."""


class RateLimited(HTTPError):
    """429: the host or a CDN throttles requests; ``retry_after`` says how long to wait if it told."""

    retryable_default = True


class ServerError(HTTPError):
    """5xx. 502/503/504 are retryable; 500 is WooCommerce's answer for many refund errors and is not."""


class ServiceUnavailable(ServerError):
    """503: maintenance mode or an overloaded host."""

    retryable_default = True


_BY_STATUS: dict[int, type[HTTPError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    413: RequestTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
}


def http_error_class(status: int) -> type[HTTPError]:
    """The exception class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return HTTPError


RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
