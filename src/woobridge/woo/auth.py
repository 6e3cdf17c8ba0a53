"""Credentials, the masked ``Secret`` type, and the ways a request carries them.

WooCommerce reads API keys three ways: HTTP Basic (over HTTPS), ``consumer_key``/``consumer_secret`` in the query
string (over HTTPS; for hosts that strip the Authorization header) and OAuth 1.0a one-legged (any scheme).
woobridge uses Basic by default, query-string auth when a connection is stored with ``auth="query"``, and
OAuth 1.0a only as a diagnostic probe (it tells a revoked key from a proxy that hides HTTPS from WordPress).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

AuthMode = Literal["basic", "query"]
MASK = "**********"


class Secret:
    """A string that never shows itself: ``repr``/``str``/f-strings print a mask; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        """The secret itself — only for putting it on the wire or into encrypted storage."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).hexdigest()))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled; store it encrypted")


def fingerprint(consumer_key: str) -> str:
    """The key as WooCommerce's key list shows it: the last 7 characters of the consumer key."""
    return consumer_key[-7:]


@dataclass(frozen=True)
class Credentials:
    """What woobridge needs to talk to one store. ``store_url`` is the normalized home URL (see ``check_inputs``).

    ``auth`` is ``"basic"`` (Authorization header) or ``"query"`` (credentials in the query string, for hosts that
    drop the Authorization header). ``ca_file`` is a PEM bundle to trust instead of the system's CAs.
    """

    store_url: str
    consumer_key: str
    consumer_secret: Secret | str = field(repr=False)
    auth: AuthMode = "basic"
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.consumer_secret, Secret):
            object.__setattr__(self, "consumer_secret", Secret(self.consumer_secret))

    @property
    def secret(self) -> Secret:
        value = self.consumer_secret
        return value if isinstance(value, Secret) else Secret(value)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.consumer_key)

    def __repr__(self) -> str:
        return (
            f"Credentials(store_url={self.store_url!r}, key='…{self.fingerprint}', "
            f"consumer_secret={MASK!r}, auth={self.auth!r}, ca_file={self.ca_file!r})"
        )

    def with_auth(self, auth: AuthMode) -> Credentials:
        return Credentials(self.store_url, self.consumer_key, self.secret, auth, self.ca_file)

    def basic_header(self) -> str:
        raw = f"{self.consumer_key}:{self.secret.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def query_params(self) -> dict[str, str]:
        return {"consumer_key": self.consumer_key, "consumer_secret": self.secret.reveal()}


# Query parameters whose values are never shown; consumer_key is shortened to its fingerprint.
_HIDDEN_PARAMS = {"consumer_secret", "oauth_signature"}
_SECRET_SHAPE = re.compile(r"cs_[0-9a-fA-F]{40}")


def redact_url(url: str) -> str:
    """The URL safe for errors and logs: secret-bearing query values masked, the consumer key shortened."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _SECRET_SHAPE.sub("cs_" + MASK, url)
    if not parts.query:
        return url
    pairs = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _HIDDEN_PARAMS:
            value = MASK
        elif name in ("consumer_key", "oauth_consumer_key"):
            value = "…" + fingerprint(value)
        pairs.append((name, value))
    query = urlencode(pairs, safe="/,…*")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def redact_text(text: str, *secrets_: Secret | str) -> str:
    """Remove any secret (and anything shaped like a consumer secret) from free text before showing it."""
    for secret in secrets_:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, MASK)
    return _SECRET_SHAPE.sub("cs_" + MASK, text)


# -- OAuth 1.0a one-legged (diagnostic probe only) ----------------------------------------------------------------


def _rfc3986(value: str) -> str:
    return quote(value, safe="~")


def oauth_params(
    credentials: Credentials,
    method: str,
    base_url: str,
    query: dict[str, str],
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The oauth_* parameters (HMAC-SHA256) WooCommerce checks, signed over ``base_url`` and the query.

    WooCommerce signs against its home URL with the scheme ``is_ssl()`` reports, not the URL the client used —
    which is what makes this a probe for a proxy that hides HTTPS from WordPress.
    """
    params = {
        "oauth_consumer_key": credentials.consumer_key,
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA256",
    }
    signed = {**query, **params}
    pairs = [_rfc3986(f"{_rfc3986(name)}={_rfc3986(str(signed[name]))}") for name in sorted(signed)]
    base = f"{method.upper()}&{_rfc3986(base_url)}&{'%26'.join(pairs)}"
    key = (credentials.secret.reveal() + "&").encode()
    params["oauth_signature"] = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    return params
