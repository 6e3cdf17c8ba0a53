"""Validate a store connection and, when it fails, say why: ``await validate(credentials, need_write=True)``.

A healthy store takes three requests:

1. ``GET /wp-json/`` without credentials — proves WordPress answers JSON (pretty permalinks, REST not blocked),
   picks the namespace (wc/v3, or wc/v2 for WooCommerce 3.0–3.4) and reads the store timezone;
2. ``GET /wp-json/wc/v3/system_status?_fields=…`` with the key — proves the key, its read permission and its owner's
   Shop Manager/Administrator rights, and returns versions, currency, decimals, HPOS and active plugins;
3. ``POST /wp-json/wc/v3/products/batch`` with ``{}`` — a write probe that changes nothing: 200 ``[]`` for a
   Read/Write key, 401 "does not have write permissions" for a Read-only key.

Failures take a few more requests to tell causes apart that look the same from outside: an anonymous-looking 401
is retried once with query-string credentials (Authorization header stripped?) and then probed with OAuth 1.0a
signed for ``http://`` (key unknown, or WordPress not seeing HTTPS behind a proxy?).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from woobridge.flows import FLOW_PERMISSIONS
from woobridge.woo.auth import Credentials, fingerprint
from woobridge.woo.client import NO_RETRY, Timeouts, WooClient, choose_namespace
from woobridge.woo.codes import Diagnosis
from woobridge.woo.errors import (
    ConnectionRefused,
    ConnectionReset,
    DNSFailure,
    HTTPError,
    InsecureURL,
    InvalidResponse,
    RedirectRefused,
    Timeout,
    TLSFailure,
    TransportError,
    WooError,
)
from woobridge.woo.urls import HTTPS_REQUIRED, origin_of, store_url_from

SYSTEM_STATUS_FIELDS = ",".join(
    (
        "environment.version",
        "environment.wp_version",
        "settings.currency",
        "settings.number_of_decimals",
        "settings.HPOS_enabled",
        "active_plugins",
    )
)

# Plugins that change what the integration must do, by plugin directory (the part of "plugin" before "/").
INTEGRATION_PLUGINS: dict[str, str] = {
    "woocommerce-shipment-tracking": "shipment-tracking",
    "woo-advanced-shipment-tracking": "shipment-tracking",
    "woocommerce-sequential-order-numbers": "sequential-order-numbers",
    "woocommerce-sequential-order-numbers-pro": "sequential-order-numbers",
    "wt-woocommerce-sequential-order-numbers": "sequential-order-numbers",
    "custom-order-numbers-for-woocommerce": "sequential-order-numbers",
    "woocommerce-subscriptions": "subscriptions",
}

_TLS_CODES = {
    "self-signed": "WB204",
    "expired": "WB205",
    "not-yet-valid": "WB205",
    "hostname-mismatch": "WB206",
    "unknown-ca": "WB207",
}
_TLS_WORDS = {
    "self-signed": "is self-signed (not issued by a certificate authority)",
    "expired": "has expired",
    "not-yet-valid": "is not valid yet",
    "hostname-mismatch": "was issued for a different host name",
    "unknown-ca": "is signed by an authority woobridge does not trust (or the chain is incomplete)",
}
_NOT_TLS = "does not speak TLS on this port: it answers in plain HTTP (HTTPS is not set up there)"


@dataclass
class StoreInfo:
    """What the store told about itself on a successful validation."""

    wc_version: str | None
    wp_version: str | None
    currency: str | None
    decimals: int | None
    timezone: str | None
    hpos: bool | None
    plugins: list[str]
    namespace: str
    active_plugins: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wc_version": self.wc_version,
            "wp_version": self.wp_version,
            "currency": self.currency,
            "decimals": self.decimals,
            "timezone": self.timezone,
            "hpos": self.hpos,
            "plugins": list(self.plugins),
            "namespace": self.namespace,
        }


@dataclass
class Validation:
    """The outcome of ``validate``: ``ok`` or a ``diagnosis``, plus everything learned on the way."""

    ok: bool
    diagnosis: Diagnosis | None = None
    store: StoreInfo | None = None
    permission: str = "unknown"  # read | write | read_write | unknown
    key_fingerprint: str = ""
    flows: dict[str, bool] = field(default_factory=dict)
    requests: int = 0
    notes: list[str] = field(default_factory=list)
    auth: str = "basic"  # the authentication mode that worked (or was tried)
    elapsed: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
            "store": self.store.to_dict() if self.store else None,
            "permission": self.permission,
            "key_fingerprint": self.key_fingerprint,
            "flows": dict(self.flows),
            "requests": self.requests,
            "notes": list(self.notes),
            "auth": self.auth,
            "elapsed": round(self.elapsed, 3),
        }


def flows_for(permission: str) -> dict[str, bool]:
    """Which flows a key with this permission can run."""
    can_read = permission in ("read", "read_write")
    can_write = permission == "read_write"
    return {flow: (can_write if needed == "read_write" else can_read) for flow, needed in FLOW_PERMISSIONS.items()}


# -- mapping failures to diagnoses ------------------------------------------------------------------------------


def diagnose_error(error: WooError, store_url: str) -> Diagnosis:
    """The diagnosis for a failure that means the same whatever request hit it."""
    evidence = error.evidence()
    host = urlsplit(store_url).netloc
    if isinstance(error, InsecureURL):
        return Diagnosis("WB101", f"{HTTPS_REQUIRED}; the request was not sent.", evidence)
    if isinstance(error, DNSFailure):
        return Diagnosis("WB201", f"The host name {urlsplit(store_url).hostname} does not resolve.", evidence)
    if isinstance(error, ConnectionRefused):
        return Diagnosis(
            "WB202",
            f"Connection refused: nothing accepts HTTPS connections at {host} — the web server is down, the port is "
            "wrong, or the store only serves plain HTTP.",
            evidence,
            retryable=True,
        )
    if isinstance(error, Timeout):
        return Diagnosis(
            "WB203", f"{host} did not answer within the time limit ({error.phase}).", evidence, retryable=True
        )
    if isinstance(error, TLSFailure):
        code = _TLS_CODES.get(error.reason, "WB208")
        if error.reason == "not-tls":
            return Diagnosis(code, f"The server at {host} {_NOT_TLS}.", evidence)
        words = _TLS_WORDS.get(error.reason, "was rejected during the TLS handshake")
        return Diagnosis(code, f"The TLS certificate of {host} {words}.", evidence)
    if isinstance(error, ConnectionReset):
        return Diagnosis("WB209", f"{host} closed the connection before answering.", evidence, retryable=True)
    if isinstance(error, RedirectRefused):
        return _diagnose_redirect(error, store_url)
    if isinstance(error, InvalidResponse):
        return _diagnose_non_json(error, error.headers, store_url)
    if isinstance(error, HTTPError):
        return _diagnose_http(error, store_url)
    if isinstance(error, TransportError):
        return Diagnosis("WB209", f"The connection to {host} failed: {error.message}.", evidence, retryable=True)
    return Diagnosis("WB599", error.message, evidence)


def _diagnose_redirect(error: RedirectRefused, store_url: str) -> Diagnosis:
    evidence = error.evidence()
    target = error.location
    if urlsplit(target).scheme == "http":
        return Diagnosis(
            "WB211",
            f"{store_url} answers {error.status} redirecting to plain HTTP ({target}); keys are never sent there.",
            evidence,
        )
    use = store_url_from(target)
    if origin_of(target) == origin_of(store_url):
        return Diagnosis(
            "WB599", f"The store redirected a request to {target}, which woobridge does not follow.", evidence
        )
    return Diagnosis(
        "WB210",
        f"{origin_of(store_url)} redirects ({error.status}) to {origin_of(target)}.",
        evidence,
        fix=f"Use {use} as the Store URL (woobridge never sends keys across a redirect).",
        use_url=use,
    )


def _discovery_link(headers: dict[str, str] | httpx.Headers) -> str:
    for name, value in headers.items():
        if name.lower() == "link" and "api.w.org" in value:
            return value
    return ""


def _diagnose_non_json(error: WooError, headers: dict[str, str] | httpx.Headers, store_url: str) -> Diagnosis:
    evidence = error.evidence()
    link = _discovery_link(headers)
    if link:
        evidence["discovery_link"] = link
    if "rest_route=" in link:
        return Diagnosis(
            "WB401",
            "WordPress answered an HTML page instead of JSON at /wp-json/, and its API discovery link points at "
            "?rest_route= — permalinks are set to Plain.",
            evidence,
        )
    if error.status == 403:
        return Diagnosis(
            "WB405", "A firewall or security plugin answered 403 with an HTML page instead of the REST API.", evidence
        )
    return Diagnosis(
        "WB406",
        f"{store_url}/wp-json/ answered {error.status} with a non-JSON page"
        + (" (it does look like WordPress: something intercepts /wp-json/)." if link else "."),
        evidence,
    )


def _diagnose_http(error: HTTPError, store_url: str) -> Diagnosis:
    evidence = error.evidence()
    status = error.status or 0
    if error.code is None and status not in (429, 503) and status < 500:
        return _diagnose_non_json(error, error.headers, store_url)
    if status == 429:
        when = _when(error.retry_after)
        return Diagnosis(
            "WB501",
            f"The host answered 429 Too Many Requests; try again {when}.",
            evidence,
            retryable=True,
            retry_after=error.retry_after,
        )
    if status == 503:
        when = _when(error.retry_after)
        return Diagnosis(
            "WB502",
            f"The store answered 503 (maintenance mode or overloaded); try again {when}.",
            evidence,
            retryable=True,
            retry_after=error.retry_after,
        )
    if error.code == "rest_cannot_access" or (status == 403 and error.code is None):
        return Diagnosis(
            "WB405",
            f"The REST API refused every request ({status} {error.code or 'HTML page'}): a security plugin or "
            "firewall blocks it.",
            evidence,
        )
    if error.code == "rest_no_route":
        return Diagnosis(
            "WB402",
            f"404 rest_no_route for {error.route}: the WooCommerce REST API is not there (plugin inactive?).",
            evidence,
        )
    if status >= 500:
        return Diagnosis(
            "WB503", f"The store answered {status} {error.code or ''}".rstrip() + ".", evidence, retryable=status != 500
        )
    return Diagnosis("WB599", f"The store answered {status} {error.code}: {error.message}", evidence)


def _when(retry_after: float | None) -> str:
    if retry_after is None:
        return "in a few minutes"
    if retry_after < 90:
        return f"in {round(retry_after)} seconds"
    return f"in about {round(retry_after / 60)} minutes"


# -- the validation -----------------------------------------------------------------------------------------------


class _Failed(Exception):
    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.code)
        self.diagnosis = diagnosis


async def validate(
    credentials: Credentials,
    *,
    need_write: bool = True,
    timeout: float = 30,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Validation:
    """Check a store connection end to end and say what works, or what is wrong and how to fix it.

    ``need_write``: write flows are enabled, so a Read-only key is a failure (``WB305``) rather than a note.
    ``transport`` replaces the network (tests). Never raises for a store-side problem: see ``.diagnosis``.
    """
    started = time.monotonic()
    result = Validation(ok=False, key_fingerprint=fingerprint(credentials.consumer_key), auth=credentials.auth)
    if not credentials.store_url.lower().startswith("https://"):
        result.diagnosis = Diagnosis(
            "WB101",
            f"The Store URL {credentials.store_url} is not HTTPS; nothing was sent.",
            {"url": credentials.store_url},
        )
        return result
    client = WooClient(
        credentials,
        timeouts=Timeouts(connect=min(10.0, timeout), read=timeout, write=timeout),
        retry=NO_RETRY,
        transport=transport,
    )
    try:
        async with client:
            await _run(client, credentials, need_write, result)
    except _Failed as failed:
        result.diagnosis = failed.diagnosis
    except WooError as error:
        result.diagnosis = diagnose_error(error, credentials.store_url)
    finally:
        result.requests = client.requests_sent
        result.elapsed = time.monotonic() - started
    result.ok = result.diagnosis is None
    return result


async def _run(client: WooClient, credentials: Credentials, need_write: bool, result: Validation) -> None:
    store_url = credentials.store_url
    index = await client.index()
    namespace = choose_namespace(index.get("namespaces") or [])
    if namespace is None:
        await _no_woocommerce(client, index)
    assert namespace is not None
    client.namespace = namespace
    if namespace == "wc/v2":
        result.notes.append(
            "WB404: WooCommerce 3.0–3.4 answers on wc/v2 only; woobridge will use wc/v2. "
            "Updating WooCommerce to 3.5 or later enables wc/v3."
        )
    home = index.get("home") or index.get("url")
    if isinstance(home, str) and home and store_url_from(home).lower() != store_url.lower():
        result.notes.append(f"WordPress calls its home {home}; the Store URL given is {store_url}.")

    status = await _system_status(client, credentials, result)
    result.store = _store_info(status, index, namespace)

    permission = await _probe_write(client, result)
    result.permission = permission
    result.flows = flows_for(permission)
    if permission == "read" and need_write and result.diagnosis is not None:
        result.notes.append("The key has Read permission only; the enabled flows need Read/Write.")
    elif permission == "read" and need_write:
        raise _Failed(
            Diagnosis(
                "WB305",
                f"The key …{result.key_fingerprint} has Read permission only; the enabled flows write to the store.",
                {
                    "status": 401,
                    "code": "woocommerce_rest_authentication_error",
                    "message": "The API key provided does not have write permissions.",
                },
            )
        )
    if permission == "read_write" and not need_write:
        result.notes.append("The key has Read/Write permission; Read is enough for reporting-only use.")


async def _no_woocommerce(client: WooClient, index: dict[str, Any]) -> None:
    """No wc/v3 or wc/v2 namespace: WooCommerce is inactive, or so old only the legacy /wc-api/ answers."""
    evidence: dict[str, Any] = {"namespaces": [n for n in index.get("namespaces") or [] if isinstance(n, str)]}
    try:
        await client.request("GET", "/wc/v3/system_status", params={"_fields": "environment.version"})
    except HTTPError as error:
        evidence.update(error.evidence())
    except WooError:
        pass
    try:
        legacy = await client.request(
            "GET", "/wc-api/v3", auth="none", url=f"{client.credentials.store_url}/wc-api/v3/"
        )
    except WooError:
        legacy = None
    if legacy is not None and isinstance(legacy.data, dict) and isinstance(legacy.data.get("store"), dict):
        version = legacy.data["store"].get("wc_version")
        raise _Failed(
            Diagnosis(
                "WB403",
                f"Only the legacy /wc-api/ answers (WooCommerce {version or 'older than 3.0'}); "
                "woobridge needs the REST API of WooCommerce 3.0 or later.",
                {**evidence, "wc_version": version},
            )
        )
    raise _Failed(
        Diagnosis(
            "WB402",
            "404 rest_no_route: the store's REST API has no WooCommerce namespace (wc/v3 or wc/v2) — WooCommerce is "
            "not active on this site.",
            evidence,
        )
    )


async def _system_status(client: WooClient, credentials: Credentials, result: Validation) -> dict[str, Any]:
    """The authenticated read; tells the key's problems apart."""
    params = {"_fields": SYSTEM_STATUS_FIELDS}
    try:
        response = await client.request("GET", "system_status", params=params)
    except HTTPError as error:
        status = await _after_read_refused(client, credentials, result, error)
    else:
        status = response.data
    if not isinstance(status, dict):
        raise _Failed(Diagnosis("WB599", "system_status did not answer a JSON object.", {}))
    return status


def _is_anonymous(error: HTTPError) -> bool:
    return error.status == 401 and (error.code or "").startswith("woocommerce_rest_cannot_")


async def _after_read_refused(client: WooClient, credentials: Credentials, result: Validation, error: HTTPError) -> Any:
    evidence = error.evidence()
    message = error.message.lower()
    if error.code == "woocommerce_rest_authentication_error" and "secret is invalid" in message:
        raise _Failed(
            Diagnosis(
                "WB301",
                f'401 woocommerce_rest_authentication_error "{error.message}": the key …{result.key_fingerprint} '
                "exists but the secret does not match it.",
                evidence,
            )
        )
    if error.code == "woocommerce_rest_authentication_error" and "read permissions" in message:
        permission = await _probe_write(client, result)
        result.permission = "write" if permission in ("read_write", "write") else permission
        result.flows = flows_for(result.permission)
        raise _Failed(
            Diagnosis(
                "WB306",
                f'401 "{error.message}": the key …{result.key_fingerprint} is Write-only; woobridge needs to read.',
                evidence,
            )
        )
    if error.status == 403 and error.code == "woocommerce_rest_cannot_view":
        raise _Failed(_role_diagnosis(error, result))
    if _is_anonymous(error):
        return await _anonymous(client, credentials, result, error)
    raise error


def _role_diagnosis(error: HTTPError, result: Validation) -> Diagnosis:
    return Diagnosis(
        "WB304",
        f'403 woocommerce_rest_cannot_view "{error.message}": the key …{result.key_fingerprint} works, but its '
        "owner lacks the Shop Manager or Administrator role.",
        error.evidence(),
    )


async def _anonymous(client: WooClient, credentials: Credentials, result: Validation, first: HTTPError) -> Any:
    """401 woocommerce_rest_cannot_view: the store treated the request as anonymous. Find out why."""
    evidence: dict[str, Any] = first.evidence()
    params = {"_fields": SYSTEM_STATUS_FIELDS}
    if credentials.auth == "basic":
        try:
            response = await client.request("GET", "system_status", params=params, auth="query")
        except HTTPError as error:
            evidence["query_string_retry"] = error.evidence()
            if error.status == 403 and error.code == "woocommerce_rest_cannot_view":
                diagnosis = _role_diagnosis(error, result)
                diagnosis.cause += " (Also: the server drops the Authorization header; query-string auth works.)"
                diagnosis.suggest_query_auth = True
                raise _Failed(diagnosis) from None
            if not _is_anonymous(error):
                raise _Failed(diagnose_error(error, credentials.store_url)) from None
        else:
            # Query-string credentials work where the header did not: finish the checks that way.
            result.auth = "query"
            client.credentials = credentials.with_auth("query")
            result.notes.append("Basic authentication was ignored but query-string credentials work.")
            pending = Diagnosis(
                "WB303",
                "401 woocommerce_rest_cannot_view with the Authorization header, 200 with the same key in the query "
                "string: the web server strips the Authorization header.",
                evidence,
                suggest_query_auth=True,
            )
            result.diagnosis = pending
            return response.data
    # Still anonymous. Is the key unknown, or is WordPress ignoring it because it does not see HTTPS?
    # OAuth 1.0a is checked on any scheme and names an unknown key; signed for http:// it succeeds (or fails on the
    # signature, proving the key exists) only when WordPress thinks the request came over plain HTTP.
    try:
        await client.request("GET", "system_status", params={"_fields": "environment.version"}, auth="oauth-http")
    except HTTPError as error:
        evidence["oauth_probe"] = error.evidence()
        if error.code == "woocommerce_rest_authentication_error" and "consumer key is invalid" in error.message.lower():
            raise _Failed(_unknown_key(result, evidence)) from None
        if "signature" in error.message.lower() or (error.status == 403 and error.code):
            raise _Failed(_https_hidden(result, evidence)) from None
        raise _Failed(_unknown_key(result, evidence)) from None
    raise _Failed(_https_hidden(result, evidence))


def _unknown_key(result: Validation, evidence: dict[str, Any]) -> Diagnosis:
    return Diagnosis(
        "WB302",
        f"401 woocommerce_rest_cannot_view, the same answer as without credentials: the store does not know the "
        f"key …{result.key_fingerprint} (revoked, deleted, or mistyped).",
        evidence,
    )


def _https_hidden(result: Validation, evidence: dict[str, Any]) -> Diagnosis:
    return Diagnosis(
        "WB307",
        f"The key …{result.key_fingerprint} exists, but WordPress ignores Basic and query-string credentials "
        "because it does not see the connection as HTTPS (a TLS-terminating proxy does not tell it).",
        evidence,
    )


async def _probe_write(client: WooClient, result: Validation) -> str:
    """POST products/batch with ``{}``: changes nothing, and says whether the key may write."""
    try:
        await client.request("POST", "products/batch", json={})
    except HTTPError as error:
        message = error.message.lower()
        if error.code == "woocommerce_rest_authentication_error" and "write permissions" in message:
            return "read"
        if error.status == 403:
            raise _Failed(
                Diagnosis(
                    "WB308",
                    f'403 {error.code} "{error.message}": the key\'s owner may not change products.',
                    error.evidence(),
                )
            ) from None
        raise
    return "read_write"


def _store_info(status: dict[str, Any], index: dict[str, Any], namespace: str) -> StoreInfo:
    environment = status.get("environment") or {}
    settings = status.get("settings") or {}
    active = [p.get("plugin", "") for p in status.get("active_plugins") or [] if isinstance(p, dict)]
    found: list[str] = []
    for plugin in active:
        kind = INTEGRATION_PLUGINS.get(plugin.split("/")[0])
        if kind and kind not in found:
            found.append(kind)
    if "wc-shipment-tracking/v3" in (index.get("namespaces") or []) and "shipment-tracking" not in found:
        found.append("shipment-tracking")
    decimals = settings.get("number_of_decimals")
    hpos = settings.get("HPOS_enabled")
    return StoreInfo(
        wc_version=environment.get("version"),
        wp_version=environment.get("wp_version"),
        currency=settings.get("currency"),
        decimals=int(decimals) if isinstance(decimals, int | str) and str(decimals).isdigit() else None,
        timezone=_timezone(index),
        hpos=hpos if isinstance(hpos, bool) else None,
        plugins=found,
        namespace=namespace,
        active_plugins=active,
    )


def _timezone(index: dict[str, Any]) -> str | None:
    name = index.get("timezone_string")
    if isinstance(name, str) and name:
        return name
    offset = index.get("gmt_offset")
    try:
        hours = float(offset)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    sign = "+" if hours >= 0 else "-"
    whole, minutes = divmod(round(abs(hours) * 60), 60)
    return f"UTC{sign}{whole:02d}:{minutes:02d}"
