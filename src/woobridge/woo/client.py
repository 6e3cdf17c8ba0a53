"""The WooCommerce REST client every woobridge flow uses.

* One pooled ``httpx.AsyncClient`` per connection, at most ``max_concurrency`` requests in flight.
* Per-operation timeouts: a page of 100 orders on shared hosting can take tens of seconds, so reads get 60 s and
  writes 120 s by default, never httpx's 5 s.
* Credentials only over HTTPS (refused before sending otherwise); Basic by default, query string per connection.
* Redirects are never followed by httpx: same-origin redirects of reads are followed here, anything else
  (another origin, a scheme change, a redirected write) raises ``RedirectRefused`` with the target.
* Retries (stamina: exponential backoff, jitter, cap) for connection failures, 429 (honouring Retry-After) and
  502/503/504. A write whose outcome is unknown is never repeated blindly: with ``verify=`` the client asks the
  caller's lookup whether it happened; without it, ``WriteOutcomeUnknown`` is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import orjson
import stamina

from woobridge.woo.auth import MASK, Credentials, oauth_params, redact_text, redact_url
from woobridge.woo.errors import (
    ConnectionRefused,
    ConnectionReset,
    DNSFailure,
    HTTPError,
    InsecureURL,
    InvalidResponse,
    RedirectRefused,
    ServerError,
    Timeout,
    TLSFailure,
    TransportError,
    WooError,
    WriteOutcomeUnknown,
    http_error_class,
)
from woobridge.woo.urls import origin_of

log = logging.getLogger("woobridge.woo")


class _RedactHttpxURLs(logging.Filter):
    """httpx logs every request URL at INFO; with query-string auth that URL holds the secret. Redact it at the
    source, so it is safe whatever handlers the application (or a test's caplog) attaches."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "consumer_secret" in message or "oauth_signature" in message or "consumer_key" in message:
            record.msg = _QUERY_CREDENTIAL.sub(_mask_credential, message)
            record.args = None
        return True


_QUERY_CREDENTIAL = re.compile(r"(consumer_secret|oauth_signature|consumer_key|oauth_consumer_key)=([^&\s\"']*)")


def _mask_credential(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    return f"{name}=…{value[-7:]}" if name.endswith("consumer_key") else f"{name}={MASK}"


logging.getLogger("httpx").addFilter(_RedactHttpxURLs())

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
USER_AGENT = "woobridge (+https://github.com/woobridge/woobridge)"

AuthChoice = Literal["connection", "none", "basic", "query", "oauth-http", "oauth-https"]
Verify = Callable[[], Awaitable[Any]]
RequestObserver = Callable[[str, str, int | None, float, int], None]
"""``on_request(method, route, status, seconds, attempt)``: told after every HTTP exchange with the store. ``route``
is the REST route (``/wc/v3/orders``, no query string: never a credential); ``status`` is ``None`` when no answer
came (timeout, reset, TLS…); ``attempt`` is 1 for the first try of an operation and 2, 3… for its retries (the
client's own, and a caller's inside :func:`retrying`)."""

_CALLER_ATTEMPT: ContextVar[int] = ContextVar("woobridge_caller_attempt", default=1)


@contextlib.contextmanager
def retrying(attempt: int) -> Iterator[None]:
    """Mark the requests sent inside the block as try ``attempt`` of an operation the caller retries itself (e.g.
    ``AdaptiveConcurrency.call`` around a ``retry=NO_RETRY`` request), so the ``on_request`` observer counts them
    as retries too. Task-local (a context variable): concurrent operations do not see each other's."""
    token = _CALLER_ATTEMPT.set(attempt)
    try:
        yield
    finally:
        _CALLER_ATTEMPT.reset(token)


@dataclass(frozen=True)
class Timeouts:
    """Seconds per operation. ``read`` for GETs, ``write`` for POST/PUT/DELETE and batches."""

    connect: float = 10.0
    read: float = 60.0
    write: float = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try again on retryable failures. ``attempts=1`` turns retries off."""

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    budget: float = 300.0  # total seconds spent retrying one operation
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: the error is raised (retryable)


NO_RETRY = RetryPolicy(attempts=1)


@dataclass
class WooResponse:
    """A successful answer: status, headers, the parsed JSON ``data``, and the URL asked (redacted)."""

    status: int
    headers: httpx.Headers
    data: Any
    url: str
    method: str = "GET"

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))


@dataclass
class Page:
    """One page of a list, with WordPress' totals (``None`` when the store did not send them)."""

    items: list[Any]
    page: int
    per_page: int
    total: int | None
    total_pages: int | None


@dataclass
class BatchItem:
    """The result of one item of a batch: ``ok`` with the resource in ``data``, or ``error``."""

    action: Literal["create", "update", "delete"]
    index: int  # position in the caller's create/update/delete list
    ok: bool
    id: int | None
    data: dict[str, Any] | None = None
    error: HTTPError | None = None


@dataclass
class BatchResult:
    items: list[BatchItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failed(self) -> list[BatchItem]:
        return [item for item in self.items if not item.ok]

    def of(self, action: str) -> list[BatchItem]:
        return [item for item in self.items if item.action == action]


def choose_namespace(namespaces: Iterable[str]) -> str | None:
    """wc/v3 (WooCommerce 3.5+), else wc/v2 (3.0–3.4), else None."""
    available = set(namespaces)
    for candidate in ("wc/v3", "wc/v2"):
        if candidate in available:
            return candidate
    return None


def _ssl_context(ca_file: str | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=ca_file)


def parse_json(body: bytes) -> Any:
    """A response body as JSON, as ``json.loads`` reads it; ``ValueError`` when it is not JSON (truncated…).

    orjson parses a page of 100 orders about twice as fast as ``json.loads``, on the event loop's thread. What it
    refuses and ``json.loads`` takes (NaN and Infinity, a UTF-8 byte order mark, a lone surrogate escape, another
    encoding than UTF-8) goes to ``json.loads`` as before, so a body reads the same and a bad one fails the same.
    One difference stays, on purpose: an integer beyond 64 bits becomes a float where ``json.loads`` keeps it
    exact. PHP's ``json_encode`` never writes one (PHP's integers are 64-bit; larger numbers are floats, written
    with an exponent or a fraction), and finding them first would cost as much as parsing.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _chain(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_TLS_REASONS = {
    18: "self-signed",  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19: "self-signed",  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    10: "expired",  # X509_V_ERR_CERT_HAS_EXPIRED
    9: "not-yet-valid",  # X509_V_ERR_CERT_NOT_YET_VALID
    62: "hostname-mismatch",  # X509_V_ERR_HOSTNAME_MISMATCH
    64: "hostname-mismatch",  # X509_V_ERR_IP_ADDRESS_MISMATCH
    20: "unknown-ca",  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "unknown-ca",  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    2: "unknown-ca",  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
}


def tls_reason(error: BaseException) -> str | None:
    """self-signed | expired | not-yet-valid | hostname-mismatch | unknown-ca | not-tls | other; None: not TLS."""
    for link in _chain(error):
        if isinstance(link, ssl.SSLCertVerificationError):
            reason = _TLS_REASONS.get(link.verify_code or 0)
            if reason:
                return reason
            text = (link.verify_message or str(link)).lower()
            if "self-signed" in text or "self signed" in text:
                return "self-signed"
            if "expired" in text:
                return "expired"
            if "hostname" in text or "ip address mismatch" in text:
                return "hostname-mismatch"
            return "unknown-ca" if "issuer" in text else "other"
        if isinstance(link, ssl.SSLError):
            text = str(link).upper()
            if "WRONG_VERSION_NUMBER" in text or "RECORD_LAYER_FAILURE" in text or "PACKET_LENGTH_TOO_LONG" in text:
                return "not-tls"  # the port answers, but in plain HTTP
            return "other"
    return None


def classify_transport(error: Exception, *, method: str, url: str, route: str | None) -> TransportError:
    """Turn an httpx/OS exception into the matching ``TransportError``."""
    common: dict[str, Any] = {"method": method, "url": url, "route": route}
    host = urlsplit(url).hostname or "?"
    if isinstance(error, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        phases: dict[type[BaseException], str] = {
            httpx.ConnectTimeout: "connect",
            httpx.ReadTimeout: "read",
            httpx.WriteTimeout: "write",
            httpx.PoolTimeout: "pool",
        }
        phase = phases.get(type(error), "total")
        return Timeout(f"no answer from {host} in time ({phase})", phase=phase, **common)
    reason = tls_reason(error)
    if reason is not None:
        detail = next((str(link) for link in _chain(error) if isinstance(link, ssl.SSLError)), str(error))
        return TLSFailure(f"TLS certificate rejected ({reason}): {detail}", reason=reason, **common)
    for link in _chain(error):
        if isinstance(link, socket.gaierror):
            return DNSFailure(f"the host name {host} does not resolve: {link}", **common)
        if isinstance(link, ConnectionRefusedError):
            return ConnectionRefused(f"connection refused by {host}", **common)
        if isinstance(link, ConnectionResetError | BrokenPipeError):
            return ConnectionReset(f"connection reset by {host}", **common)
    text = str(error)
    lowered = text.lower()
    if isinstance(error, httpx.ConnectError):
        if "refused" in lowered or "errno 111" in lowered:
            return ConnectionRefused(f"connection refused by {host}", **common)
        if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
            return DNSFailure(f"the host name {host} does not resolve", **common)
        return TransportError(f"could not connect to {host}: {text}", **common)
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return ConnectionReset(f"the connection to {host} was closed early: {text or type(error).__name__}", **common)
    return TransportError(f"{type(error).__name__}: {text}", **common)


def _outcome_unknown(error: WooError) -> bool:
    """Could a write that failed this way have been applied by the store?"""
    if isinstance(error, Timeout):
        return error.phase not in ("connect", "pool")
    if isinstance(error, ConnectionReset | InvalidResponse):
        return True
    # An HTML 5xx from a proxy or PHP's fatal-error page may come after the store did the work; a WordPress error
    # ({"code": …}) means WordPress answered, so the outcome is known. 429 is refused before the store sees it.
    return isinstance(error, ServerError) and error.status in (500, 502, 503, 504) and error.code is None


class _VerifiedAbsent(Exception):
    """Internal: the caller's verify() said the write did not happen, so it is safe to send it again."""

    def __init__(self, error: WooError) -> None:
        super().__init__(str(error))
        self.error = error


class WooClient:
    """An async client for one store's REST API. Use as ``async with WooClient(credentials) as woo: ...``.

    ``transport`` replaces the network (tests pass ``httpx.ASGITransport(app=sandbox.app)``). ``on_request`` (a
    :data:`RequestObserver`) is told of every exchange — latency, status, retries — e.g. to feed metrics; what it
    raises is logged and ignored, never the request's problem.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        namespace: str = "wc/v3",
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = USER_AGENT,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.credentials = credentials
        self.on_request = on_request
        self.namespace = namespace
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        self.requests_sent = 0
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._origin = origin_of(credentials.store_url)
        self._http = httpx.AsyncClient(
            verify=_ssl_context(credentials.ca_file),
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeouts.read, connect=self.timeouts.connect),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            transport=transport,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"WooClient({self.credentials!r}, namespace={self.namespace!r})"

    async def __aenter__(self) -> WooClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- addressing ----------------------------------------------------------------------------------------------

    def url_for(self, route: str) -> str:
        """``"orders/5"`` → the namespace's route; ``"/wc/v3/orders"`` or ``"/"`` → relative to the REST root."""
        return f"{self.credentials.store_url}/wp-json{self.route_of(route)}"

    def route_of(self, route: str) -> str:
        return route if route.startswith("/") else f"/{self.namespace}/{route}".rstrip("/")

    # -- requests ------------------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
        verify: Verify | None = None,
        retry: RetryPolicy | None = None,
        auth: AuthChoice = "connection",
        url: str | None = None,
    ) -> WooResponse:
        """Send one operation (with retries where safe) and return the parsed answer, or raise a ``WooError``.

        ``verify`` (writes only): an async callable that looks up whether the write happened and returns the
        resource, or None. Given it, a write whose answer was lost is checked and then returned or resent;
        without it, such a write raises ``WriteOutcomeUnknown``.
        """
        method = method.upper()
        is_write = method not in READ_METHODS
        target = url or self.url_for(route)
        rest_route = self.route_of(route)
        policy = retry or self.retry
        earlier_tries = _CALLER_ATTEMPT.get() - 1  # a caller retrying the whole operation
        op_timeout = timeout if timeout is not None else (self.timeouts.write if is_write else self.timeouts.read)

        def backoff(error: BaseException) -> bool | float:
            if isinstance(error, _VerifiedAbsent):
                return True
            if not isinstance(error, WooError) or not error.retryable:
                return False
            if error.retry_after is not None:
                return False if error.retry_after > policy.max_retry_after else error.retry_after
            return True

        last: WooError | None = None
        try:
            async for attempt in stamina.retry_context(
                on=backoff,
                attempts=max(1, policy.attempts),
                timeout=policy.budget,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    try:
                        return await self._send(
                            method, target, rest_route, params, json, op_timeout, auth, earlier_tries + attempt.num
                        )
                    except WooError as error:
                        last = error
                        if not is_write or not _outcome_unknown(error):
                            raise
                        if verify is None:
                            raise WriteOutcomeUnknown(
                                f"{method} {rest_route} was sent but its answer was lost ({error.message}); "
                                "it may or may not have been applied",
                                cause=error,
                                method=method,
                                url=error.url,
                                route=rest_route,
                                status=error.status,
                            ) from error
                        existing = await verify()
                        if existing is not None:
                            return WooResponse(200, httpx.Headers(), existing, error.url or "", method)
                        raise _VerifiedAbsent(error) from error
        except _VerifiedAbsent as absent:
            raise absent.error from None
        raise AssertionError("unreachable") from last  # pragma: no cover

    async def _send(
        self,
        method: str,
        url: str,
        route: str,
        params: Mapping[str, Any] | None,
        body: Any,
        timeout: float,
        auth: AuthChoice,
        attempt: int = 1,
    ) -> WooResponse:
        """One exchange, following same-origin redirects of reads by hand."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._exchange(method, url, query, body, timeout, auth, route, attempt)
            if response.status_code not in REDIRECT_STATUSES:
                return self._parse(response, method, url, query, route)
            location = response.headers.get("location", "")
            target = urljoin(url, location)
            shown = redact_url(_strip_credentials(target))
            if origin_of(target) != self._origin or method not in READ_METHODS:
                why = "to another origin" if origin_of(target) != self._origin else "of a write"
                raise RedirectRefused(
                    f"the store answered {response.status_code} redirecting {why}: {shown}",
                    location=shown,
                    status=response.status_code,
                    method=method,
                    url=redact_url(self._full(url, query)),
                    route=route,
                )
            # Same origin: follow. The Location usually repeats the query string; take it from there.
            url, query = _split_query(_strip_credentials(target))
        raise RedirectRefused(
            f"more than {MAX_REDIRECTS} redirects",
            location=redact_url(url),
            method=method,
            url=redact_url(url),
            route=route,
        )

    def _full(self, url: str, query: Mapping[str, str]) -> str:
        return url + ("?" + urlencode(query) if query else "")

    async def _exchange(
        self,
        method: str,
        url: str,
        query: dict[str, str],
        body: Any,
        timeout: float,
        auth: AuthChoice,
        route: str,
        attempt: int = 1,
    ) -> httpx.Response:
        if not url.startswith("https://"):
            raise InsecureURL(
                "refusing to send WooCommerce credentials over plain HTTP; woobridge requires HTTPS",
                method=method,
                url=redact_url(url),
                route=route,
            )
        mode = self.credentials.auth if auth == "connection" else auth
        headers: dict[str, str] = {}
        send_query = dict(query)
        if mode == "basic":
            headers["Authorization"] = self.credentials.basic_header()
        elif mode == "query":
            send_query.update(self.credentials.query_params())
        elif mode in ("oauth-http", "oauth-https"):
            parts = urlsplit(url)
            scheme = "http" if mode == "oauth-http" else "https"
            base = urlunsplit((scheme, parts.netloc, parts.path, "", ""))
            send_query.update(oauth_params(self.credentials, method, base, send_query))
        shown = redact_url(self._full(url, send_query))
        http_timeout = httpx.Timeout(timeout, connect=min(self.timeouts.connect, timeout))
        started = time.monotonic()
        async with self._semaphore:
            self.requests_sent += 1
            sent = time.monotonic()  # the store's latency, without the wait for a free slot
            try:
                async with asyncio.timeout(timeout + 0.5):  # backstop where httpx timeouts do not apply
                    response = await self._http.request(
                        method,
                        url,
                        params=send_query or None,
                        json=body,
                        headers=headers,
                        timeout=http_timeout,
                    )
            except (httpx.HTTPError, OSError, TimeoutError) as error:
                failure = classify_transport(error, method=method, url=shown, route=route)
                log.debug("%s %s failed after %.0f ms: %s", method, shown, _ms(started), failure.message)
                self._observe(method, route, None, sent, attempt)
                raise failure from None
        log.debug("%s %s -> %s in %.0f ms", method, shown, response.status_code, _ms(started))
        self._observe(method, route, response.status_code, sent, attempt)
        response.extensions["woobridge_url"] = shown
        return response

    def _observe(self, method: str, route: str, status: int | None, started: float, attempt: int) -> None:
        if self.on_request is None:
            return
        try:
            self.on_request(method, route, status, time.monotonic() - started, attempt)
        except Exception:  # an observer's bug must not fail a sync
            log.exception("the on_request observer failed for %s %s", method, route)

    def _parse(
        self, response: httpx.Response, method: str, url: str, query: Mapping[str, str], route: str
    ) -> WooResponse:
        shown = response.extensions.get("woobridge_url") or redact_url(self._full(url, query))
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        data: Any = None
        parsed = False
        if response.content and method != "HEAD":
            try:
                data = parse_json(response.content)
                parsed = True
            except ValueError:
                parsed = False
        common: dict[str, Any] = {"method": method, "url": shown, "route": route}
        if 200 <= status < 300:
            if method == "HEAD" or status == 204 or (not response.content and method != "GET"):
                return WooResponse(status, response.headers, None, shown, method)
            if parsed:
                return WooResponse(status, response.headers, data, shown, method)
        # The body as text, secrets masked: only an error shows it (decoding and scanning a page of 100 orders
        # for secrets was a tenth of the cost of reading it).
        text = redact_text(response.text, self.credentials.secret) if response.content else ""
        if 200 <= status < 300:  # a success whose body is not the JSON expected
            looks_json = "json" in content_type
            what = "truncated or invalid JSON" if looks_json else f"a {content_type or 'non-JSON'} page"
            raise InvalidResponse(
                f"expected JSON from {route}, got {what}",
                status=status,
                content_type=content_type,
                snippet=text[:300],
                headers=response.headers,
                retryable=looks_json,
                **common,
            )
        retry_after = _retry_after(response.headers)
        cls = http_error_class(status)
        retryable = status in (429, 502, 503, 504)
        if parsed and isinstance(data, dict) and isinstance(data.get("errors"), dict | list):
            # The legacy /wc-api/ shape: {"errors": {"code", "message"}} (or a list of them).
            first = data["errors"][0] if isinstance(data["errors"], list) and data["errors"] else data["errors"]
            if isinstance(first, dict):
                data = {"code": first.get("code"), "message": first.get("message"), "data": {"status": status}}
        if parsed and isinstance(data, dict) and "code" in data:
            raise cls(
                str(data.get("message") or ""),
                status=status,
                code=str(data["code"]),
                data=data.get("data"),
                headers=response.headers,
                body=data,
                retryable=retryable,
                retry_after=retry_after,
                **common,
            )
        title = _html_title(text)
        described = f"an HTML page{f' ({title!r})' if title else ''}" if "html" in content_type else "a non-JSON body"
        raise cls(
            f"HTTP {status} with {described}" if not parsed else f"HTTP {status}",
            status=status,
            headers=response.headers,
            body=text[:500] if not parsed else data,
            retryable=retryable,
            retry_after=retry_after,
            **common,
        )

    # -- conveniences -------------------------------------------------------------------------------------------

    async def get(self, route: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return (await self.request("GET", route, params=params, **kw)).data

    async def post(self, route: str, json: Any = None, **kw: Any) -> Any:
        return (await self.request("POST", route, json=json, **kw)).data

    async def put(self, route: str, json: Any = None, **kw: Any) -> Any:
        return (await self.request("PUT", route, json=json, **kw)).data

    async def delete(self, route: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return (await self.request("DELETE", route, params=params, **kw)).data

    # -- discovery -----------------------------------------------------------------------------------------------

    async def index(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The WordPress REST index (``GET /wp-json/``), asked without credentials: namespaces, timezone."""
        response = await self.request(
            "GET",
            "/",
            params={"_fields": "name,url,home,gmt_offset,timezone_string,namespaces"},
            auth="none",
            timeout=timeout,
            url=f"{self.credentials.store_url}/wp-json/",
        )
        if not isinstance(response.data, dict):
            raise InvalidResponse("the REST index is not a JSON object", url=response.url, route="/")
        return response.data

    async def detect_namespace(self) -> str:
        """Pick wc/v3, or wc/v2 on WooCommerce 3.0–3.4, from the REST index, and use it from now on."""
        found = choose_namespace((await self.index()).get("namespaces") or [])
        if found is None:
            raise WooError("the store's REST index lists neither wc/v3 nor wc/v2: is WooCommerce active?", route="/")
        self.namespace = found
        return found

    # -- pagination ----------------------------------------------------------------------------------------------

    async def get_page(
        self, route: str, params: Mapping[str, Any] | None = None, *, page: int = 1, per_page: int = 100, **kw: Any
    ) -> Page:
        """One page of a list with the X-WP-Total / X-WP-TotalPages totals."""
        query = {**(params or {}), "page": page, "per_page": per_page}
        response = await self.request("GET", route, params=query, **kw)
        items = response.data if isinstance(response.data, list) else []
        return Page(
            items,
            page,
            per_page,
            _int_header(response.headers, "x-wp-total"),
            _int_header(response.headers, "x-wp-totalpages"),
        )

    async def iter_pages(
        self,
        route: str,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
        concurrency: int | None = None,
        **kw: Any,
    ) -> AsyncIterator[Page]:
        """Every page in order. Pages after the first are fetched ``concurrency`` at a time (default: the
        connection's limit) once X-WP-TotalPages is known; without it, one by one until a short page."""
        first = await self.get_page(route, params, page=1, per_page=per_page, **kw)
        yield first
        if first.total_pages is None:
            page = first
            while len(page.items) >= per_page:
                page = await self.get_page(route, params, page=page.page + 1, per_page=per_page, **kw)
                yield page
            return
        window = max(1, concurrency or self.max_concurrency)
        pending: deque[asyncio.Task[Page]] = deque()
        next_page = 2
        try:
            while next_page <= first.total_pages or pending:
                while next_page <= first.total_pages and len(pending) < window:
                    pending.append(
                        asyncio.create_task(self.get_page(route, params, page=next_page, per_page=per_page, **kw))
                    )
                    next_page += 1
                yield await pending.popleft()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def iter_items(self, route: str, params: Mapping[str, Any] | None = None, **kw: Any) -> AsyncIterator[Any]:
        async for page in self.iter_pages(route, params, **kw):
            for item in page.items:
                yield item

    async def get_all(self, route: str, params: Mapping[str, Any] | None = None, **kw: Any) -> list[Any]:
        return [item async for item in self.iter_items(route, params, **kw)]

    # -- batches -------------------------------------------------------------------------------------------------

    async def batch(
        self,
        route: str,
        *,
        create: Iterable[Mapping[str, Any]] = (),
        update: Iterable[Mapping[str, Any]] = (),
        delete: Iterable[int] = (),
        chunk_size: int = 100,
        timeout: float | None = None,
    ) -> BatchResult:
        """Create/update/delete through ``<route>/batch`` in chunks of at most ``chunk_size`` (≤ 100) items.

        Each item gets its own result; an item WooCommerce refused is a failed ``BatchItem``, not an exception.
        Batches are not transactional and not idempotent: if a chunk's answer is lost, ``WriteOutcomeUnknown``
        is raised with ``partial`` holding the results of the chunks before it.
        """
        size = max(1, min(chunk_size, 100))
        work: list[tuple[Literal["create", "update", "delete"], int, Any]] = [
            *(("create", i, dict(item)) for i, item in enumerate(create)),
            *(("update", i, dict(item)) for i, item in enumerate(update)),
            *(("delete", i, int(item)) for i, item in enumerate(delete)),
        ]
        result = BatchResult()
        batch_route = route.rstrip("/") + "/batch"
        for start in range(0, len(work), size):
            chunk = work[start : start + size]
            body: dict[str, list[Any]] = {}
            for action, _, payload in chunk:
                body.setdefault(action, []).append(payload)
            try:
                response = await self.request("POST", batch_route, json=body, timeout=timeout)
            except WriteOutcomeUnknown as error:
                error.partial = result
                raise
            answer = response.data if isinstance(response.data, dict) else {}
            positions: dict[str, int] = {}
            for action, index, payload in chunk:
                at = positions.get(action, 0)
                positions[action] = at + 1
                answers = answer.get(action) or []
                result.items.append(_batch_item(action, index, payload, answers[at] if at < len(answers) else None))
        return result


def _batch_item(action: Literal["create", "update", "delete"], index: int, payload: Any, answer: Any) -> BatchItem:
    if not isinstance(answer, dict):
        error = HTTPError("the store returned no result for this item", code="woobridge_missing_batch_result")
        return BatchItem(action, index, False, None, None, error)
    item_id = answer.get("id") if isinstance(answer.get("id"), int) else None
    failure = answer.get("error")
    if isinstance(failure, dict):
        data = failure.get("data")
        status = data.get("status") if isinstance(data, dict) else data if isinstance(data, int) else None
        error_cls = http_error_class(status) if isinstance(status, int) and status >= 400 else HTTPError
        error = error_cls(
            str(failure.get("message") or ""),
            status=status if isinstance(status, int) else None,
            code=str(failure.get("code") or ""),
            data=data,
            body=failure,
        )
        return BatchItem(action, index, False, item_id or None, None, error)
    return BatchItem(action, index, True, item_id, answer)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("consumer_key", "consumer_secret") and not k.startswith("oauth_")
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


def _split_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), dict(
        parse_qsl(parts.query, keep_blank_values=True)
    )


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    return int(value) if value is not None and value.strip().isdigit() else None


def _html_title(text: str) -> str:
    lowered = text.lower()
    start = lowered.find("<title>")
    end = lowered.find("</title>", start)
    if start < 0 or end < 0:
        return ""
    return " ".join(text[start + 7 : end].split())[:120]


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
